/* mbox_cache.c: what a scan of an mbox found, kept beside it in
 * PATH.pop3d-cache so that the next login need not read the whole file.
 * Why a stale or damaged cache can never serve a wrong message is in
 * pop3d(8), section CACHE. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pop3d.h"

#define CACHE_SUFFIX	".pop3d-cache"
#define CACHE_TMP	".pop3d-cache.tmp"
#define CACHE_MAGIC	"POP3DC1\n"
/* from, off, len, size, the From_ line's digest, the UIDL's length */
#define REC_FIXED	(5 * 8 + 1)

/* A file changed less than this before the scan may change again within
 * the same timestamp tick: its cache is "racy" and never used (the tests
 * set it to 0). */
long	mbox_cache_racy_secs = CACHE_RACY_SECS;
/* Octets the last mbox_scan read (for the tests). */
off_t	mbox_scan_octets;

struct chdr {
	char		magic[8];
	uint64_t	dev, ino, size;
	int64_t		mtime_s, mtime_ns, ctime_s, ctime_ns;
	uint64_t	nmsgs;
	uint64_t	racy;
	uint64_t	bodylen;	/* octets of records after the header */
	unsigned char	sum[CACHE_SUM];	/* BLAKE2b of header (sum 0) and body */
};


static int	rec_ok(const struct msg *, const struct msg *, off_t);
static int	from_read(int, const struct msg *, uint64_t *);
static int	froms_ok(int, const struct msg *, size_t);
static void	cache_write(const char *, const struct msg *, size_t,
		    const struct stat *);



/* A record must describe a message that the scan could have found: in
 * order after prev (NULL for the first), inside size octets. */
static int
rec_ok(const struct msg *m, const struct msg *prev, off_t size)
{
	size_t	i;

	if (m->from < 0 || m->off <= m->from || m->len < 0 ||
	    m->off + m->len > size || m->off + m->len < m->off ||
	    m->size < (uint64_t)m->len ||
	    m->size > 2 * (uint64_t)m->len + 2 ||
	    (prev == NULL ? m->from != 0 : m->from < prev->off + prev->len)) {
		return -1;
	}
	if (m->uidl[0] == '\0') {
		return -1;
	}
	for (i = 0; m->uidl[i] != '\0'; i++) {
		if (m->uidl[i] < 0x21 || m->uidl[i] > 0x7e) {
			return -1;
		}
	}
	return 0;
}

/* Check that m still starts with a From_ line after an empty line, as
 * the scan requires of a separator, and that the line's digest is the
 * one the scan took (mbox_from_digest). */
static int
from_read(int fd, const struct msg *m, uint64_t *digest)
{
	char		b[3 + MBOX_FROM_DIGEST];
	off_t		at = m->from < 3 ? 0 : m->from - 3;
	size_t		lead = (size_t)(m->from - at), n;

	n = lead + (m->off - m->from < MBOX_FROM_DIGEST ? (size_t)(m->off -
	    m->from) : MBOX_FROM_DIGEST);
	if (pread(fd, b, n, at) != (ssize_t)n ||
	    memcmp(b + lead, "From ", 5) != 0) {
		return -1;
	}
	/* "\n\nFrom " or "\n\r\nFrom ", or the file's start */
	if (m->from > 0 && !(b[lead - 1] == '\n' && ((lead >= 2 &&
	    b[lead - 2] == '\n') || (lead >= 3 && b[lead - 2] == '\r' &&
	    b[lead - 3] == '\n')))) {
		return -1;
	}
	*digest = mbox_from_digest(b + lead, n - lead);
	return 0;
}

static int
froms_ok(int fd, const struct msg *msgs, size_t n)
{
	uint64_t	d;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (from_read(fd, &msgs[i], &d) == -1 || d != msgs[i].stamp) {
			return -1;
		}
	}
	return 0;
}

/*
 * Fill md->msgs from the cache if it describes this file (st, fd locked)
 * exactly as it is: same inode, size, modification and change times, and
 * written when those were already CACHE_RACY_SECS old: 0, and nothing is
 * left to scan.  -1 when the cache is missing, damaged, racy or for a
 * file that has changed in any way, appends included: the caller scans
 * from 0.  (An append cannot be told from a
 * rewrite that kept the cached separators where they were and put new
 * ones between them without reading the file, and trusting such a cache
 * could join two messages into one: pop3d(8), "The mbox cache".)
 */
int
mbox_cache_load(struct maildrop *md, const struct stat *st)
{
	char			 path[LOCATION_MAX + PATH_EXTRA];
	struct cstream		*cs = NULL;
	struct chdr		 ch;
	struct stat		 cst;
	struct msg		*m;
	unsigned char		 rec[REC_FIXED], sum[CACHE_SUM];
	size_t			 cap = 0, i;
	int			 fd, r = -1;

	path_with(path, sizeof(path), md->path, CACHE_SUFFIX);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		return -1;
	}
	if (fstat(fd, &cst) == -1 || !S_ISREG(cst.st_mode) ||
	    cst.st_size < (off_t)sizeof(ch) ||
	    pread(fd, &ch, sizeof(ch), 0) != (ssize_t)sizeof(ch) ||
	    memcmp(ch.magic, CACHE_MAGIC, sizeof(ch.magic)) != 0 ||
	    ch.bodylen != (uint64_t)cst.st_size - sizeof(ch) ||
	    ch.nmsgs == 0 || ch.nmsgs > MAILDROP_MSGS_MAX ||
	    ch.bodylen < ch.nmsgs * (REC_FIXED + 1) ||
	    ch.bodylen > ch.nmsgs * (REC_FIXED + UIDL_MAX)) {
		goto done;
	}
	/* Another file, or this one written since: nothing in it holds. */
	if (ch.racy || ch.dev != (uint64_t)st->st_dev ||
	    ch.ino != (uint64_t)st->st_ino ||
	    ch.size != (uint64_t)st->st_size ||
	    ch.mtime_s != st->st_mtim.tv_sec ||
	    ch.mtime_ns != st->st_mtim.tv_nsec ||
	    ch.ctime_s != st->st_ctim.tv_sec ||
	    ch.ctime_ns != st->st_ctim.tv_nsec) {
		goto done;
	}
	cs = cs_new(fd, sizeof(ch), ch.bodylen);
	for (i = 0; i < ch.nmsgs; i++) {
		if ((m = maildrop_add(md, &cap)) == NULL ||
		    cs_get(cs, rec, sizeof(rec)) == -1 ||
		    rec[REC_FIXED - 1] == 0 || rec[REC_FIXED - 1] > UIDL_MAX ||
		    cs_get(cs, m->uidl, rec[REC_FIXED - 1]) == -1) {
			goto done;
		}
		m->from = (off_t)get_le64(rec);
		m->off = (off_t)get_le64(rec + 8);
		m->len = (off_t)get_le64(rec + 16);
		m->size = get_le64(rec + 24);
		m->stamp = get_le64(rec + 32);
		m->uidl[rec[REC_FIXED - 1]] = '\0';
		if (rec_ok(m, i > 0 ? m - 1 : NULL, (off_t)ch.size) == -1) {
			goto done;
		}
	}
	cs_sum(cs, &ch, sizeof(ch), offsetof(struct chdr, sum), sum);
	if (cs_left(cs) != 0 || sodium_memcmp(sum, ch.sum, sizeof(sum)) != 0) {
		log_warnx("%s: damaged, ignored", path);
		goto done;
	}
	/* A last look at the file itself: its first and last separators. */
	if (froms_ok(md->fd, md->msgs, 1) == -1 ||
	    froms_ok(md->fd, md->msgs + md->nmsgs - 1, 1) == -1) {
		goto done;
	}
	r = 0;
done:
	if (r == -1) {
		md->nmsgs = 0;
		free(md->msgs);
		md->msgs = NULL;
	}
	close(fd);
	if (cs != NULL) {
		cs_free(cs);
	}
	return r;
}

/* Write the cache for md's messages as scanned from the file st describes
 * (UIDLs before maildrop_fix_uidls).  Best effort: a cache that cannot be
 * written is only a slower next login. */
void
mbox_cache_save(struct maildrop *md, const struct stat *st)
{
	cache_write(md->path, md->msgs, md->nmsgs, st);
}

static void
cache_write(const char *mbox, const struct msg *msgs, size_t nmsgs,
    const struct stat *st)
{
	char			 path[LOCATION_MAX + PATH_EXTRA];
	char			 tmp[LOCATION_MAX + PATH_EXTRA];
	struct cstream		*cs;
	struct chdr		 ch;
	struct timespec		 now;
	unsigned char		 rec[REC_FIXED];
	const struct msg	*m;
	size_t			 i, n;
	int			 fd, r = 0;

	path_with(path, sizeof(path), mbox, CACHE_SUFFIX);
	path_with(tmp, sizeof(tmp), mbox, CACHE_TMP);
	if (nmsgs == 0) {
		(void)unlink(path);
		return;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		return;
	}
	memset(&ch, 0, sizeof(ch));
	memcpy(ch.magic, CACHE_MAGIC, sizeof(ch.magic));
	ch.dev = (uint64_t)st->st_dev;
	ch.ino = (uint64_t)st->st_ino;
	ch.size = (uint64_t)st->st_size;
	ch.mtime_s = st->st_mtim.tv_sec;
	ch.mtime_ns = st->st_mtim.tv_nsec;
	ch.ctime_s = st->st_ctim.tv_sec;
	ch.ctime_ns = st->st_ctim.tv_nsec;
	ch.nmsgs = nmsgs;
	(void)clock_gettime(CLOCK_REALTIME, &now);
	ch.racy = now.tv_sec - st->st_ctim.tv_sec < mbox_cache_racy_secs ||
	    now.tv_sec - st->st_mtim.tv_sec < mbox_cache_racy_secs;
	cs = cs_new(fd, sizeof(ch), 0);
	for (i = 0; i < nmsgs && r == 0; i++) {
		m = &msgs[i];
		n = strlen(m->uidl);
		put_le64(rec + 32, m->stamp);
		put_le64(rec, (uint64_t)m->from);
		put_le64(rec + 8, (uint64_t)m->off);
		put_le64(rec + 16, (uint64_t)m->len);
		put_le64(rec + 24, m->size);
		rec[REC_FIXED - 1] = (unsigned char)n;
		r = cs_put(cs, rec, sizeof(rec));
		if (r == 0) {
			r = cs_put(cs, m->uidl, n);
		}
	}
	if (r == 0) {
		r = cs_flush(cs);
	}
	ch.bodylen = cs_left(cs);
	cs_sum(cs, &ch, sizeof(ch), offsetof(struct chdr, sum), ch.sum);
	if (r == 0 && (pwrite(fd, &ch, sizeof(ch), 0) != (ssize_t)sizeof(ch) ||
	    rename(tmp, path) == -1)) {
		r = -1;
	}
	if (r == -1) {
		log_warn("write %s", tmp);
		(void)unlink(tmp);
	}
	close(fd);
	cs_free(cs);
}

/* Drop the cache (after the file was rewritten in a way it cannot follow). */
void
mbox_cache_drop(const char *mbox)
{
	char	path[LOCATION_MAX + PATH_EXTRA];

	path_with(path, sizeof(path), mbox, CACHE_SUFFIX);
	(void)unlink(path);
}
