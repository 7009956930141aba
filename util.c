/* util.c: checked number parsing, checked allocation, clocks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pop3d.h"

int
parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	/* strtoul accepts leading space and a sign; a POP3 number has neither. */
	if (s[0] < '0' || s[0] > '9') {
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL) {
		fatal("calloc");
	}
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		fatalx("allocation of %zu * %zu overflows", n, size);
	}
	/* realloc(p, 0) may free p and return NULL: ask for one octet. */
	if ((p = realloc(p, n * size > 0 ? n * size : 1)) == NULL) {
		fatal("realloc");
	}
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL) {
		fatal("strdup");
	}
	return p;
}

uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
sleep_ms(unsigned long ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
		continue;
	}
}

/* GCC's and clang's generic vectors: SSE2 on x86-64, NEON on arm64,
 * plain words elsewhere. */
typedef unsigned char u8x16 __attribute__((vector_size(16)));

uint64_t
count_octet(const char *p, size_t n, char c)
{
	u8x16		 want, acc, v;
	uint64_t	 total = 0;
	size_t		 blocks, i;
	int		 k;

	memset(&want, c, sizeof(want));
	while (n >= sizeof(v)) {
		/* A lane counts to 255 at most before it is added up. */
		blocks = n / sizeof(v) > 255 ? 255 : n / sizeof(v);
		memset(&acc, 0, sizeof(acc));
		for (i = 0; i < blocks; i++) {
			memcpy(&v, p, sizeof(v));
			acc -= (u8x16)(v == want);
			p += sizeof(v);
		}
		for (k = 0; k < (int)sizeof(acc); k++) {
			total += acc[k];
		}
		n -= blocks * sizeof(v);
	}
	for (; n > 0; n--) {
		total += *p++ == c;
	}
	return total;
}

uint64_t
get_le64(const unsigned char *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

void
put_le64(unsigned char *p, uint64_t v)
{
	int	i;

	for (i = 0; i < 8; i++) {
		p[i] = (unsigned char)(v >> (8 * i));
	}
}

/* FNV-1a, 64 bits: for telling apart, never for guarding against anyone. */
uint64_t
fnv1a64(const void *p, size_t n)
{
	const unsigned char	*s = p;
	uint64_t		 h = 14695981039346656037ULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		h = (h ^ s[i]) * 1099511628211ULL;
	}
	return h;
}

/* path and suffix into out (of size octets); a path that does not fit is
 * fatal: the locations are bounded long before. */
void
path_with(char *out, size_t size, const char *path, const char *suffix)
{
	if ((size_t)snprintf(out, size, "%s%s", path, suffix) >= size) {
		fatalx("path too long: %s%s", path, suffix);
	}
}
