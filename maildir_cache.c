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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

#define MDCACHE_NAME	".pop3d-cache"
#define MDCACHE_TMP	".pop3d-cache.tmp"
#define MDCACHE_MAGIC	"POP3DM1\n"
#define MDREC_FIXED	(2 * 8 + 1)	/* stamp, size, base name length */

struct mdhdr {
	char		magic[8];
	uint64_t	nrecs;
	uint64_t	bodylen;
	unsigned char	sum[CACHE_SUM];	/* BLAKE2b of header and body */
};


static size_t	base_len(const struct msg *);
static uint32_t	*base_table(struct maildrop *, size_t *);
static size_t	base_find(const struct maildrop *, const uint32_t *, size_t,
		    const char *, size_t);

uint64_t
maildir_stamp(const struct stat *st)
{
	unsigned char	v[4 * 8];

	put_le64(v, (uint64_t)st->st_ino);
	put_le64(v + 8, (uint64_t)st->st_size);
	put_le64(v + 16, (uint64_t)st->st_mtim.tv_sec);
	put_le64(v + 24, (uint64_t)st->st_mtim.tv_nsec);
	return fnv1a64(v, sizeof(v));
}

/* The base name ("new/" or "cur/" off, up to ':'): what names a message
 * whichever directory and flags it has. */
static size_t
base_len(const struct msg *m)
{
	return strcspn(m->name + 4, ":");
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
		h = (size_t)fnv1a64(md->msgs[i].name + 4, n) & (size - 1);
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
	size_t	h = (size_t)fnv1a64(p, n) & mask, found = SIZE_MAX;
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

/*
 * Give each message whose base name and stamp (inode, size, mtime) the
 * cache holds the size it holds; the others keep MAILDIR_SIZE_UNKNOWN.
 * The cache is only believed whole: one that fails its checksum, its
 * order or its bounds gives nothing.  Returns the number of sizes given.
 */
size_t
maildir_cache_apply(struct maildrop *md, int root)
{
	struct cstream	*ms = NULL;
	struct mdhdr	 mh;
	struct stat	 st;
	struct msg	*m;
	unsigned char	 rec[MDREC_FIXED], sum[CACHE_SUM];
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
	tab = base_table(md, &mask);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    pread(fd, &mh, sizeof(mh), 0) != (ssize_t)sizeof(mh) ||
	    memcmp(mh.magic, MDCACHE_MAGIC, sizeof(mh.magic)) != 0 ||
	    mh.bodylen != (uint64_t)st.st_size - sizeof(mh) ||
	    mh.nrecs > MAILDROP_MSGS_MAX ||
	    mh.bodylen > mh.nrecs * (MDREC_FIXED + NAME_MAX_LEN)) {
		goto done;
	}
	ms = cs_new(fd, sizeof(mh), mh.bodylen);
	/* Sizes go straight into the messages (all unknown until now) and
	 * are taken back if the checksum fails at the end. */
	for (i = 0; i < mh.nrecs; i++) {
		if (cs_get(ms, rec, sizeof(rec)) == -1 || rec[16] == 0 ||
		    cs_get(ms, base, rec[16]) == -1) {
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
	cs_sum(ms, &mh, sizeof(mh), offsetof(struct mdhdr, sum), sum);
	if (cs_left(ms) != 0 || sodium_memcmp(sum, mh.sum, sizeof(sum)) != 0) {
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
	if (ms != NULL) {
		cs_free(ms);
	}
	return hits;
}

/* Write the cache for md's messages (all sizes known).  Best effort. */
void
maildir_cache_save(struct maildrop *md, int root)
{
	struct cstream	*ms;
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
	ms = cs_new(fd, sizeof(mh), 0);
	tab = base_table(md, &mask);
	memset(&mh, 0, sizeof(mh));
	memcpy(mh.magic, MDCACHE_MAGIC, sizeof(mh.magic));
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
		if ((r = cs_put(ms, rec, sizeof(rec))) == 0) {
			r = cs_put(ms, m->name + 4, n);
		}
		mh.nrecs++;
	}
	if (r == 0) {
		r = cs_flush(ms);
	}
	mh.bodylen = cs_left(ms);
	cs_sum(ms, &mh, sizeof(mh), offsetof(struct mdhdr, sum), mh.sum);
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
	cs_free(ms);
}
