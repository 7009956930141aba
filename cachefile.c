/* cachefile.c: what the two caches (mbox_cache.c, maildir_cache.c) share:
 * their records stream through a fixed buffer, never held whole, with a
 * BLAKE2b of every octet that passes, which their headers then check. */
#include <sys/types.h>

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

/* The largest cache header cs_sum takes. */
#define HDR_MAX		256

struct cstream {
	int			 fd;
	char			 buf[IO_CHUNK];
	size_t			 pos, end;
	uint64_t		 left;
	off_t			 at;		/* file offset of the next I/O */
	crypto_generichash_state h;
};

struct cstream *
cs_new(int fd, off_t at, uint64_t left)
{
	struct cstream	*cs = xcalloc(1, sizeof(*cs));

	cs->fd = fd;
	cs->at = at;
	cs->left = left;
	crypto_generichash_init(&cs->h, NULL, 0, CACHE_SUM);
	return cs;
}

void
cs_free(struct cstream *cs)
{
	free(cs);
}

uint64_t
cs_left(const struct cstream *cs)
{
	return cs->left;
}

void
cs_sum(struct cstream *cs, const void *hdr, size_t n, size_t sumoff,
    unsigned char *out)
{
	unsigned char	c[HDR_MAX];

	if (n > sizeof(c) || sumoff + CACHE_SUM > n) {
		fatalx("cache header of %zu octets", n);
	}
	memcpy(c, hdr, n);
	memset(c + sumoff, 0, CACHE_SUM);
	crypto_generichash_update(&cs->h, c, n);
	crypto_generichash_final(&cs->h, out, CACHE_SUM);
}

/* The next n octets of the stream, hashed; -1 at its end or on error. */
int
cs_get(struct cstream *cs, void *p, size_t n)
{
	char	*out = p;
	size_t	 k;
	ssize_t	 r;

	if (n > cs->left) {
		return -1;
	}
	cs->left -= n;
	while (n > 0) {
		if (cs->pos == cs->end) {
			r = pread(cs->fd, cs->buf, sizeof(cs->buf), cs->at);
			if (r == -1 && errno == EINTR) {
				continue;
			}
			if (r <= 0) {
				return -1;
			}
			cs->at += r;
			cs->pos = 0;
			cs->end = (size_t)r;
		}
		k = cs->end - cs->pos < n ? cs->end - cs->pos : n;
		memcpy(out, cs->buf + cs->pos, k);
		crypto_generichash_update(&cs->h,
		    (const unsigned char *)cs->buf + cs->pos, k);
		cs->pos += k;
		out += k;
		n -= k;
	}
	return 0;
}

int
cs_flush(struct cstream *cs)
{
	ssize_t	w;
	size_t	off = 0;

	while (off < cs->end) {
		w = pwrite(cs->fd, cs->buf + off, cs->end - off, cs->at);
		if (w == -1 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		off += (size_t)w;
		cs->at += w;
	}
	cs->end = 0;
	return 0;
}

int
cs_put(struct cstream *cs, const void *p, size_t n)
{
	const char	*s = p;
	size_t		 k;

	crypto_generichash_update(&cs->h, (const unsigned char *)p, n);
	cs->left += n;
	while (n > 0) {
		if (cs->end == sizeof(cs->buf) && cs_flush(cs) == -1) {
			return -1;
		}
		k = sizeof(cs->buf) - cs->end < n ? sizeof(cs->buf) - cs->end : n;
		memcpy(cs->buf + cs->end, s, k);
		cs->end += k;
		s += k;
		n -= k;
	}
	return 0;
}

