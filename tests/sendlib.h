/* tests/sendlib.h: what the maildrop runners share: a message seen as
 * the client would see it (RETR or TOP through io_send_msg in a child),
 * models of what RETR must send and of its size, written independently of
 * io.c, and the checks every UIDL must pass. */
#ifndef SENDLIB_H
#define SENDLIB_H

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

struct buf {
	char	*p;
	size_t	 n;
};

/* The whole of the file at path (NUL-terminated, for convenience). */
static inline void
read_file(const char *path, struct buf *b)
{
	struct stat	st;
	ssize_t		r;
	int		fd;

	ck_assert_int_ne(fd = open(path, O_RDONLY), -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	b->n = (size_t)st.st_size;
	b->p = xcalloc(b->n + 1, 1);
	if (b->n > 0) {
		r = pread(fd, b->p, b->n, 0);
		ck_assert_int_eq(r, (ssize_t)b->n);
	}
	close(fd);
}

/* Octets as sent with CRLF line ends, before dot-stuffing. */
static inline uint64_t
ref_size(const char *p, size_t n)
{
	uint64_t	s = n;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
			s++;
		}
	}
	if (n > 0 && p[n - 1] != '\n') {
		s += p[n - 1] == '\r' ? 1 : 2;
	}
	return s;
}

/* RETR (lines -1) or TOP of message i, sent by a child into a pipe. */
static inline void
retr(struct maildrop *md, size_t i, long lines, struct buf *b)
{
	char	chunk[8192];
	size_t	cap = sizeof(chunk);
	off_t	off, len;
	ssize_t	r;
	pid_t	pid;
	int	fd, p[2], status;

	fd = md->be->open_msg(md, i, &off, &len);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		close(p[0]);
		io_init(-1, p[1]);
		_exit(io_send_msg(fd, off, len, lines) == 0 &&
		    io_flush() == 0 ? 0 : 1);
	}
	close(p[1]);
	b->p = xcalloc(1, cap);
	b->n = 0;
	while ((r = read(p[0], chunk, sizeof(chunk))) != 0) {
		if (r == -1 && errno == EINTR) {
			continue;
		}
		ck_assert_int_gt(r, 0);
		if (b->n + (size_t)r > cap) {
			cap = 2 * (b->n + (size_t)r);
			b->p = xreallocarray(b->p, cap, 1);
		}
		memcpy(b->p + b->n, chunk, (size_t)r);
		b->n += (size_t)r;
	}
	close(p[0]);
	md->be->close_msg(md, fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static inline void
expect_retr(struct maildrop *md, size_t i, long lines, const char *want,
    size_t n)
{
	struct buf	b;

	retr(md, i, lines, &b);
	ck_assert_msg(b.n == n && memcmp(b.p, want, n) == 0,
	    "message %zu: sent %zu octets \"%.*s\", want %zu \"%.*s\"", i + 1,
	    b.n, (int)b.n, b.p, n, (int)n, want);
	free(b.p);
}

/* What RETR must send for a message's octets: CRLF, dots, ".". */
static inline char *
model_retr(const char *p, size_t n, size_t *len)
{
	char	*o = xcalloc(2 * n + 8, 1);
	size_t	 i, k = 0;
	int	 bol = 1;

	for (i = 0; i < n; i++) {
		if (bol && p[i] == '.') {
			o[k++] = '.';
		}
		bol = 0;
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r') {
				o[k++] = '\r';
			}
			bol = 1;
		}
		o[k++] = p[i];
	}
	if (!bol) {
		if (p[n - 1] != '\r') {
			o[k++] = '\r';
		}
		o[k++] = '\n';
	}
	memcpy(o + k, ".\r\n", 3);
	*len = k + 3;
	return o;
}

/* A content UIDL: 32 lowercase hex digits. */
static inline int
is_hash_uidl(const char *u)
{
	return strlen(u) == UIDL_HASH_HEX &&
	    strspn(u, "0123456789abcdef") == UIDL_HASH_HEX;
}

/* Every UIDL 1 to 70 characters in 0x21-0x7E, and no two the same. */
static inline void
check_unique(const struct maildrop *md)
{
	size_t	i, j, n;

	for (i = 0; i < md->nmsgs; i++) {
		n = strlen(md->msgs[i].uidl);
		ck_assert(n >= 1 && n <= UIDL_MAX);
		for (j = 0; j < n; j++) {
			ck_assert(md->msgs[i].uidl[j] >= 0x21 &&
			    md->msgs[i].uidl[j] <= 0x7e);
		}
		for (j = 0; j < i; j++) {
			ck_assert_str_ne(md->msgs[i].uidl, md->msgs[j].uidl);
		}
	}
}

#endif
