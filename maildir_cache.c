/* maildir_cache.c: the sizes a Maildir scan computed, kept in
 * DIR/.pop3d-cache so that the next login need not read every file.
 * Why a stale or damaged cache cannot misstate a size is in pop3d(8),
 * section "The Maildir cache". */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

#define MDCACHE_NAME	".pop3d-cache"
#define MDCACHE_TMP	".pop3d-cache.tmp"
#define MDCACHE_MAGIC	"POP3DM1\n"
#define MDCACHE_SUM	16
#define MDREC_FIXED	(2 * 8 + 1)	/* stamp, size, base name length */

struct mdhdr {
	char		magic[8];
	uint64_t	nrecs;
	uint64_t	bodylen;
	unsigned char	sum[MDCACHE_SUM];	/* BLAKE2b of header and body */
};

/* Records stream through a fixed buffer. */
struct mdstream {
	int			 fd;
	char			 buf[IO_CHUNK];
	size_t			 pos, end;
	uint64_t		 left;
	crypto_generichash_state h;
};

static size_t	base_len(const struct msg *);
static uint64_t	base_hash(const char *, size_t);
static uint32_t	*base_table(struct maildrop *, size_t *);
static size_t	base_find(const struct maildrop *, const uint32_t *, size_t,
		    const char *, size_t);
static int	ms_get(struct mdstream *, void *, size_t);
static int	ms_put(struct mdstream *, const void *, size_t);
static int	ms_flush(struct mdstream *);
static void	mdhdr_sum(const struct mdhdr *, unsigned char *,
		    crypto_generichash_state *);

uint64_t
maildir_stamp(const struct stat *st)
{
	uint64_t	v[4], h = 14695981039346656037ULL;
	size_t		i;
	int		k;

	v[0] = (uint64_t)st->st_ino;
	v[1] = (uint64_t)st->st_size;
	v[2] = (uint64_t)st->st_mtim.tv_sec;
	v[3] = (uint64_t)st->st_mtim.tv_nsec;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		for (k = 0; k < 64; k += 8) {
			h = (h ^ ((v[i] >> k) & 0xff)) * 1099511628211ULL;
		}
	}
	return h;
}

/* The base name ("new/" or "cur/" off, up to ':'): what names a message
 * whichever directory and flags it has. */
static size_t
base_len(const struct msg *m)
{
	return strcspn(m->name + 4, ":");
}

static uint64_t
base_hash(const char *p, size_t n)
{
	uint64_t	h = 14695981039346656037ULL;
	size_t		i;

	for (i = 0; i < n; i++) {
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	}
	return h;
}

/* An open-addressed table of message numbers + 1 by base name; *mask is
 * its size less one.  Two files of one base name: the first is kept, and
 * base_find tells the caller there are two (SIZE_MAX). */
static uint32_t *
base_table(struct maildrop *md, size_t *mask)
{
	uint32_t	*tab;
	size_t		 size = 64, i, h, n;

	while (size < md->nmsgs * 2) {
		size *= 2;
	}
	tab = xcalloc(size, sizeof(*tab));
	for (i = 0; i < md->nmsgs; i++) {
		n = base_len(&md->msgs[i]);
		h = (size_t)base_hash(md->msgs[i].name + 4, n) & (size - 1);
		while (tab[h] != 0) {
			h = (h + 1) & (size - 1);
		}
		tab[h] = (uint32_t)(i + 1);	/* MAILDROP_MSGS_MAX fits */
	}
	*mask = size - 1;
	return tab;
}

/* The message whose base name is p[0, n): its index, SIZE_MAX if none or
 * more than one. */
static size_t
base_find(const struct maildrop *md, const uint32_t *tab, size_t mask,
    const char *p, size_t n)
{
	size_t	h = (size_t)base_hash(p, n) & mask, found = SIZE_MAX;
	size_t	i;

	for (; tab[h] != 0; h = (h + 1) & mask) {
		i = tab[h] - 1;
		if (base_len(&md->msgs[i]) == n &&
		    memcmp(md->msgs[i].name + 4, p, n) == 0) {
			if (found != SIZE_MAX) {
				return SIZE_MAX;
			}
			found = i;
		}
	}
	return found;
}

static int
ms_get(struct mdstream *ms, void *p, size_t n)
{
	char	*out = p;
	size_t	 k;
	ssize_t	 r;

	if (n > ms->left) {
		return -1;
	}
	ms->left -= n;
	while (n > 0) {
		if (ms->pos == ms->end) {
			do {
				r = read(ms->fd, ms->buf, sizeof(ms->buf));
			} while (r == -1 && errno == EINTR);
			if (r <= 0) {
				return -1;
			}
			ms->pos = 0;
			ms->end = (size_t)r;
		}
		k = ms->end - ms->pos < n ? ms->end - ms->pos : n;
		memcpy(out, ms->buf + ms->pos, k);
		crypto_generichash_update(&ms->h,
		    (const unsigned char *)ms->buf + ms->pos, k);
		ms->pos += k;
		out += k;
		n -= k;
	}
	return 0;
}

static int
ms_flush(struct mdstream *ms)
{
	size_t	off = 0;
	ssize_t	w;

	while (off < ms->end) {
		w = write(ms->fd, ms->buf + off, ms->end - off);
		if (w == -1 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		off += (size_t)w;
	}
	ms->end = 0;
	return 0;
}

static int
ms_put(struct mdstream *ms, const void *p, size_t n)
{
	const char	*s = p;
	size_t		 k;

	crypto_generichash_update(&ms->h, (const unsigned char *)p, n);
	ms->left += n;
	while (n > 0) {
		if (ms->end == sizeof(ms->buf) && ms_flush(ms) == -1) {
			return -1;
		}
		k = sizeof(ms->buf) - ms->end < n ? sizeof(ms->buf) - ms->end :
		    n;
		memcpy(ms->buf + ms->end, s, k);
		ms->end += k;
		s += k;
		n -= k;
	}
	return 0;
}

static void
mdhdr_sum(const struct mdhdr *mh, unsigned char *out,
    crypto_generichash_state *h)
{
	struct mdhdr	c = *mh;

	memset(c.sum, 0, sizeof(c.sum));
	crypto_generichash_update(h, (const unsigned char *)&c, sizeof(c));
	crypto_generichash_final(h, out, MDCACHE_SUM);
}

/*
 * Give each message whose base name and stamp (inode, size, mtime) the
 * cache holds the size it holds; the others keep MAILDIR_SIZE_UNKNOWN.
 * The cache is only believed whole: one that fails its checksum, its
 * order or its bounds gives nothing.  Returns the number of sizes given.
 */
size_t
maildir_cache_apply(struct maildrop *md, int root)
{
	struct mdstream	*ms;
	struct mdhdr	 mh;
	struct stat	 st;
	struct msg	*m;
	unsigned char	 rec[MDREC_FIXED], sum[MDCACHE_SUM];
	char		 base[NAME_MAX_LEN + 1] = "";
	uint64_t	 i, size;
	uint32_t	*tab;
	size_t		 mask, hits = 0, k;
	int		 fd, ok = 0;

	fd = openat(root, MDCACHE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || md->nmsgs == 0) {
		if (fd != -1) {
			close(fd);
		}
		return 0;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->fd = fd;
	tab = base_table(md, &mask);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    read(fd, &mh, sizeof(mh)) != (ssize_t)sizeof(mh) ||
	    memcmp(mh.magic, MDCACHE_MAGIC, sizeof(mh.magic)) != 0 ||
	    mh.bodylen != (uint64_t)st.st_size - sizeof(mh) ||
	    mh.nrecs > MAILDROP_MSGS_MAX ||
	    mh.bodylen > mh.nrecs * (MDREC_FIXED + NAME_MAX_LEN)) {
		goto done;
	}
	ms->left = mh.bodylen;
	crypto_generichash_init(&ms->h, NULL, 0, MDCACHE_SUM);
	/* Sizes go straight into the messages (all unknown until now) and
	 * are taken back if the checksum fails at the end. */
	for (i = 0; i < mh.nrecs; i++) {
		if (ms_get(ms, rec, sizeof(rec)) == -1 || rec[16] == 0 ||
		    ms_get(ms, base, rec[16]) == -1) {
			goto done;
		}
		k = base_find(md, tab, mask, base, rec[16]);
		if (k == SIZE_MAX) {
			continue;
		}
		m = &md->msgs[k];
		size = get_le64(rec + 8);
		/* A size must fit the file it is for. */
		if (m->stamp == get_le64(rec) && size >= (uint64_t)m->len &&
		    size <= 2 * (uint64_t)m->len + 2 &&
		    m->size == MAILDIR_SIZE_UNKNOWN) {
			m->size = size;
			hits++;
		}
	}
	mdhdr_sum(&mh, sum, &ms->h);
	if (ms->left != 0 || sodium_memcmp(sum, mh.sum, sizeof(sum)) != 0) {
		log_warnx("%s/%s: damaged, ignored", md->path, MDCACHE_NAME);
		goto done;
	}
	ok = 1;
done:
	if (!ok) {
		for (k = 0; k < md->nmsgs; k++) {
			md->msgs[k].size = MAILDIR_SIZE_UNKNOWN;
		}
		hits = 0;
	}
	free(tab);
	close(fd);
	free(ms);
	return hits;
}

/* Write the cache for md's messages (all sizes known).  Best effort. */
void
maildir_cache_save(struct maildrop *md, int root)
{
	struct mdstream	*ms;
	struct mdhdr	 mh;
	unsigned char	 rec[MDREC_FIXED];
	const struct msg *m;
	uint32_t	*tab;
	size_t		 mask, i, n;
	int		 fd, r = 0;

	fd = openat(root, MDCACHE_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		return;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->fd = fd;
	tab = base_table(md, &mask);
	memset(&mh, 0, sizeof(mh));
	memcpy(mh.magic, MDCACHE_MAGIC, sizeof(mh.magic));
	crypto_generichash_init(&ms->h, NULL, 0, MDCACHE_SUM);
	if (lseek(fd, sizeof(mh), SEEK_SET) == -1) {
		r = -1;
	}
	for (i = 0; i < md->nmsgs && r == 0; i++) {
		m = &md->msgs[i];
		n = base_len(m);
		/* Two files of one base name are left out: the cache keys on
		 * the base name. */
		if (n == 0 || n > NAME_MAX_LEN ||
		    base_find(md, tab, mask, m->name + 4, n) != i) {
			continue;
		}
		put_le64(rec, m->stamp);
		put_le64(rec + 8, m->size);
		rec[16] = (unsigned char)n;
		if ((r = ms_put(ms, rec, sizeof(rec))) == 0) {
			r = ms_put(ms, m->name + 4, n);
		}
		mh.nrecs++;
	}
	if (r == 0) {
		r = ms_flush(ms);
	}
	mh.bodylen = ms->left;
	mdhdr_sum(&mh, mh.sum, &ms->h);
	if (r == 0 && (pwrite(fd, &mh, sizeof(mh), 0) != (ssize_t)sizeof(mh) ||
	    renameat(root, MDCACHE_TMP, root, MDCACHE_NAME) == -1)) {
		r = -1;
	}
	if (r == -1) {
		log_warn("write %s/%s", md->path, MDCACHE_TMP);
		(void)unlinkat(root, MDCACHE_TMP, 0);
	}
	close(fd);
	free(tab);
	free(ms);
}
