/* tests/check_io.c: Check tests for io.c: the bounded line reader, the
 * message sender (CRLF, dot-stuffing, TOP) and the sizer that must agree
 * with it octet for octet. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "tests/sendlib.h"
#include "tests/testlib.h"

#define LINEBUF		(CMD_LINE_MAX + 1)
#define BIG_LINE	(1024 * 1024)
#define RANDOM_MSGS	300

struct out {
	char	*p;
	size_t	 n;
};

static int	 feed(const void *, size_t);
static void	 feed_str(const char *);
static void	 write_all_fd(int, const void *, size_t);
static int	 temp_file(const void *, size_t);
static void	 send_range(const void *, size_t, off_t, off_t, long,
		    struct out *);
static void	 send_range_as(const void *, size_t, off_t, off_t, long, int,
		    struct out *);
static void	 send_whole(const void *, size_t, long, struct out *);
static void	 expect_send(const char *, size_t, long, const char *,
		    size_t);
static char	*model_top(const char *, size_t, long, size_t *);
static void	 expect_model(const char *, size_t, long, const char *);
static char	*filled(size_t);
static size_t	 stuffed_dots(const struct out *);
static uint64_t	 size_oneshot(const char *, size_t);
static uint64_t	 size_bytewise(const char *, size_t);
static uint64_t	 size_splits(const char *, size_t, uint32_t *);
static uint32_t	 rnd(uint32_t *);
static void	 check_consistent(const char *, size_t, uint32_t *);
static Suite	*io_suite(void);

/* ---- helpers ---- */

static void
write_all_fd(int fd, const void *p, size_t n)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1 && errno == EINTR) {
			continue;
		}
		ck_assert_int_gt(w, 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Make n octets of p the client's input, written by a child so that a
 * long input cannot fill the socket and block us; then EOF. */
static int
feed(const void *p, size_t n)
{
	int	sv[2], null;
	pid_t	pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sv[0]);
		write_all_fd(sv[1], p, n);
		_exit(0);
	}
	close(sv[1]);
	ck_assert_int_ne(null = open("/dev/null", O_WRONLY), -1);
	io_init(sv[0], null);
	return sv[0];
}

static void
feed_str(const char *s)
{
	(void)feed(s, strlen(s));
}

static int
temp_file(const void *p, size_t n)
{
	char	path[] = "/tmp/check_io.XXXXXX";
	int	fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(unlink(path), 0);
	write_all_fd(fd, p, n);
	return fd;
}

/* io_send_msg of [off, off+len) of a file holding content, sent by a
 * child into a pipe; everything read back into *o.  Sent twice: to a
 * client waiting for the answer (early flushes, small first reads) and to
 * one with another command already in the input (pipelining); both must
 * give the same octets. */
static void
send_range(const void *content, size_t n, off_t off, off_t len, long lines,
    struct out *o)
{
	struct out	pipelined;

	send_range_as(content, n, off, len, lines, 0, o);
	send_range_as(content, n, off, len, lines, 1, &pipelined);
	ck_assert_uint_eq(pipelined.n, o->n);
	ck_assert_int_eq(memcmp(pipelined.p, o->p, o->n), 0);
	free(pipelined.p);
}

static void
send_range_as(const void *content, size_t n, off_t off, off_t len,
    long lines, int pending, struct out *o)
{
	char	buf[8192];
	size_t	cap = 8192;
	ssize_t	r;
	pid_t	pid;
	int	fd, p[2], status;

	fd = temp_file(content, n);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		io_init(-1, p[1]);
		if (pending) {
			io_give_input("NOOP\r\n", 6);
		}
		if (io_send_msg(fd, off, len, lines) == -1 ||
		    io_flush() == -1) {
			_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	close(fd);
	o->p = xcalloc(1, cap);
	o->n = 0;
	while ((r = read(p[0], buf, sizeof(buf))) != 0) {
		if (r == -1 && errno == EINTR) {
			continue;
		}
		ck_assert_int_gt(r, 0);
		if (o->n + (size_t)r > cap) {
			cap = 2 * (o->n + (size_t)r);
			o->p = xreallocarray(o->p, cap, 1);
		}
		memcpy(o->p + o->n, buf, (size_t)r);
		o->n += (size_t)r;
	}
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

static void
send_whole(const void *content, size_t n, long lines, struct out *o)
{
	send_range(content, n, 0, (off_t)n, lines, o);
}

/* Send content with lines (-1: RETR) and compare with want exactly. */
static void
expect_send(const char *content, size_t n, long lines, const char *want,
    size_t wn)
{
	struct out	o;

	send_whole(content, n, lines, &o);
	ck_assert_msg(o.n == wn && memcmp(o.p, want, wn) == 0,
	    "sent %zu octets \"%.*s\", want %zu \"%.*s\"", o.n, (int)o.n,
	    o.p, wn, (int)wn, want);
	free(o.p);
}

#define EXPECT(c, lines, w)	\
	expect_send((c), sizeof(c) - 1, (lines), (w), sizeof(w) - 1)

/* What TOP (lines >= 0) or RETR (lines -1) must send, worked out a line
 * at a time apart from io.c: the header, the empty line (none, or one
 * CR, before the LF), then at most lines body lines. */
static char *
model_top(const char *p, size_t n, long lines, size_t *len)
{
	char	*o = xcalloc(2 * n + 8, 1);
	size_t	 i = 0, start, k = 0;
	int	 inbody = 0;

	while (i < n) {
		if (inbody && lines >= 0 && lines-- == 0) {
			break;
		}
		start = i;
		while (i < n && p[i] != '\n') {
			i++;
		}
		if (p[start] == '.') {
			o[k++] = '.';
		}
		memcpy(o + k, p + start, i - start);
		k += i - start;
		if (i == start || p[i - 1] != '\r') {
			o[k++] = '\r';
		}
		o[k++] = '\n';
		if (i == start || (i - start == 1 && p[start] == '\r')) {
			inbody = 1;
		}
		i++;
	}
	memcpy(o + k, ".\r\n", 3);
	*len = k + 3;
	return o;
}

/* Send n octets of c with lines and compare with the model exactly;
 * what names the case when it fails. */
static void
expect_model(const char *c, size_t n, long lines, const char *what)
{
	struct out	 o;
	char		*want;
	size_t		 wn, i;

	send_whole(c, n, lines, &o);
	want = model_top(c, n, lines, &wn);
	for (i = 0; i < o.n && i < wn && o.p[i] == want[i]; i++) {
		continue;
	}
	ck_assert_msg(o.n == wn && i == wn, "%s, lines %ld: sent %zu octets, "
	    "want %zu; first difference at %zu: \"%.*s\" want \"%.*s\"", what,
	    lines, o.n, wn, i, (int)(o.n - i < 24 ? o.n - i : 24), o.p + i,
	    (int)(wn - i < 24 ? wn - i : 24), want + i);
	free(want);
	free(o.p);
}

/* n octets of 'a', to be shaped by the test. */
static char *
filled(size_t n)
{
	char	*c = xcalloc(n + 1, 1);

	memset(c, 'a', n);
	return c;
}

/* Dots added by stuffing: every sent line that starts with '.' except
 * the final ".". */
static size_t
stuffed_dots(const struct out *o)
{
	size_t	i, n = 0;

	ck_assert_uint_ge(o->n, 3);
	for (i = 0; i < o->n - 3; i++) {
		if ((i == 0 || o->p[i - 1] == '\n') && o->p[i] == '.') {
			n++;
		}
	}
	return n;
}

static uint64_t
size_oneshot(const char *p, size_t n)
{
	struct sizer	sz;

	sizer_init(&sz);
	sizer_feed(&sz, p, n);
	return sizer_end(&sz);
}

static uint64_t
size_bytewise(const char *p, size_t n)
{
	struct sizer	sz;
	size_t		i;

	sizer_init(&sz);
	for (i = 0; i < n; i++) {
		sizer_feed(&sz, p + i, 1);
	}
	return sizer_end(&sz);
}

static uint64_t
size_splits(const char *p, size_t n, uint32_t *seed)
{
	struct sizer	sz;
	size_t		i = 0, k;

	sizer_init(&sz);
	while (i < n) {
		k = rnd(seed) % 8 == 0 ? 0 : rnd(seed) % (n - i + 1);
		sizer_feed(&sz, p + i, k);	/* empty feeds too */
		i += k;
	}
	return sizer_end(&sz);
}

/* xorshift32: a fixed, repeatable sequence. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* RETR sends exactly what the model says, and the sizer, however fed,
 * counts what was sent less the stuffed dots and the final ".\r\n". */
static void
check_consistent(const char *c, size_t n, uint32_t *seed)
{
	struct out	 o;
	char		*want;
	size_t		 wn;
	uint64_t	 size;

	send_whole(c, n, -1, &o);
	want = model_retr(c, n, &wn);
	ck_assert_msg(o.n == wn && memcmp(o.p, want, wn) == 0,
	    "RETR of %zu octets differs from the model", n);
	size = o.n - stuffed_dots(&o) - 3;
	ck_assert_uint_eq(size_oneshot(c, n), size);
	ck_assert_uint_eq(size_bytewise(c, n), size);
	ck_assert_uint_eq(size_splits(c, n, seed), size);
	ck_assert_uint_eq(size_splits(c, n, seed), size);
	free(want);
	free(o.p);
}

/* ---- io_getline ---- */

START_TEST(test_lines_crlf_lf)
{
	char	buf[LINEBUF];

	feed_str("USER a\r\nPASS b\nNOOP\r\n\r\n\nA\rB\r\n");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 6);
	ck_assert_str_eq(buf, "USER a");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 6);
	ck_assert_str_eq(buf, "PASS b");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "NOOP");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 0);
	ck_assert_str_eq(buf, "");
	/* A CR inside a line is the line's, only the one before LF goes. */
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 3);
	ck_assert_str_eq(buf, "A\rB");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_line_max_crlf)
{
	char	in[2 * CMD_LINE_MAX + 32], buf[LINEBUF];
	size_t	n = 0;

	/* CMD_LINE_MAX octets with the CRLF: accepted. */
	memset(in, 'A', CMD_LINE_MAX - 2);
	n = CMD_LINE_MAX - 2;
	memcpy(in + n, "\r\n", 2);
	n += 2;
	/* One more: rejected, and the line after it is read whole. */
	memset(in + n, 'B', CMD_LINE_MAX - 1);
	n += CMD_LINE_MAX - 1;
	memcpy(in + n, "\r\nQUIT\r\n", 8);
	n += 8;
	(void)feed(in, n);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    CMD_LINE_MAX - 2);
	ck_assert_uint_eq(strlen(buf), CMD_LINE_MAX - 2);
	ck_assert_int_eq(buf[0], 'A');
	ck_assert_int_eq(buf[CMD_LINE_MAX - 3], 'A');
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_TOOLONG);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "QUIT");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_line_max_lf)
{
	char	in[2 * CMD_LINE_MAX + 32], buf[LINEBUF];
	size_t	n;

	memset(in, 'A', CMD_LINE_MAX - 1);
	n = CMD_LINE_MAX - 1;
	in[n++] = '\n';
	memset(in + n, 'B', CMD_LINE_MAX);
	n += CMD_LINE_MAX;
	memcpy(in + n, "\nSTAT\n", 6);
	n += 6;
	(void)feed(in, n);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    CMD_LINE_MAX - 1);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_TOOLONG);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "STAT");
}
END_TEST

/* Nothing of an overlong line may be obeyed: the next call returns the
 * next line, not the overlong line's tail. */
START_TEST(test_toolong_not_obeyed)
{
	char	in[1024], buf[LINEBUF];
	size_t	n;

	n = (size_t)snprintf(in, sizeof(in), "NOOP%300s", "");
	memcpy(in + n, "DELE 1\r\nSTAT\r\n", 14);
	n += 14;
	(void)feed(in, n);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_TOOLONG);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "STAT");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_huge_line)
{
	char	*in, buf[LINEBUF];
	size_t	 n = BIG_LINE;

	in = xcalloc(BIG_LINE + 64, 1);
	memset(in, 'X', BIG_LINE);
	memcpy(in + n, "\r\nNOOP\r\n", 8);
	n += 8;
	(void)feed(in, n);
	free(in);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_TOOLONG);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "NOOP");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_nul)
{
	static const char in[] = "NO\0OP\r\n\0\r\nSTAT\r\n";
	char	buf[LINEBUF];

	(void)feed(in, sizeof(in) - 1);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_NUL);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_NUL);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "STAT");
}
END_TEST

START_TEST(test_eof)
{
	char	buf[LINEBUF];

	feed_str("");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_eof_midline)
{
	char	buf[LINEBUF];

	/* A line cut short by EOF is never obeyed. */
	feed_str("NOOP\r\nQUIT");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "NOOP");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_timeout)
{
	char		buf[LINEBUF];
	int		sv[2], null;
	uint64_t	t0, t;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_ne(null = open("/dev/null", O_WRONLY), -1);
	io_init(sv[0], null);
	t0 = now_ms();
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 1),
	    IO_TIMEOUT);
	t = now_ms() - t0;
	ck_assert_uint_ge(t, 900);
	ck_assert_uint_lt(t, 3000);
	/* Half a line, then silence: still a timeout. */
	write_all_fd(sv[1], "NOO", 3);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 1),
	    IO_TIMEOUT);
	close(sv[1]);
}
END_TEST

START_TEST(test_pipelined)
{
	char	in[20000], buf[LINEBUF], want[32];
	size_t	n = 0;
	int	i;

	/* More than the reader's buffer, all in one write. */
	for (i = 1; i <= 1000; i++) {
		n += (size_t)snprintf(in + n, sizeof(in) - n, "LIST %d\r\n", i);
	}
	ck_assert_uint_gt(n, 8192);
	(void)feed(in, n);
	for (i = 1; i <= 1000; i++) {
		snprintf(want, sizeof(want), "LIST %d", i);
		ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
		    (int)strlen(want));
		ck_assert_str_eq(buf, want);
	}
	ck_assert_uint_eq(io_take_input(buf, sizeof(buf)), 0);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5),
	    IO_EOF);
}
END_TEST

START_TEST(test_pending)
{
	char	buf[LINEBUF];

	feed_str("STAT\r\nLIST\r\n");
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	/* What was read but not used is handed over whole (privsep), and
	 * what is given back is read first. */
	ck_assert_uint_eq(io_take_input(buf, sizeof(buf)), 6);
	ck_assert_mem_eq(buf, "LIST\r\n", 6);
	io_give_input("LIST\r\n", 6);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), CMD_LINE_MAX, 5), 4);
	ck_assert_str_eq(buf, "LIST");
	ck_assert_uint_eq(io_take_input(buf, sizeof(buf)), 0);
}
END_TEST

/* A long AUTH line: the caller's max, not CMD_LINE_MAX, is the limit. */
START_TEST(test_line_other_max)
{
	char	in[AUTH_LINE_MAX + 64], buf[AUTH_LINE_MAX + 1];
	size_t	n;

	memset(in, 'z', AUTH_LINE_MAX - 2);
	n = AUTH_LINE_MAX - 2;
	memcpy(in + n, "\r\n*\r\n", 5);
	n += 5;
	(void)feed(in, n);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), AUTH_LINE_MAX, 5),
	    AUTH_LINE_MAX - 2);
	ck_assert_int_eq(io_getline(buf, sizeof(buf), AUTH_LINE_MAX, 5), 1);
	ck_assert_str_eq(buf, "*");
}
END_TEST

/* ---- writer ---- */

START_TEST(test_write_counts)
{
	char	buf[64];
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	io_init(-1, p[1]);
	io_puts("+OK ");
	io_printf("%d %s\r\n", 2, "messages");
	io_write("x", 1);
	ck_assert_uint_eq(io_sent(), 17);
	ck_assert_int_eq(io_flush(), 0);
	ck_assert_uint_eq(io_sent(), 17);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 17);
	ck_assert_int_eq(memcmp(buf, "+OK 2 messages\r\nx", 17), 0);
}
END_TEST

START_TEST(test_write_broken)
{
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	io_init(-1, p[1]);
	io_puts("+OK\r\n");
	ck_assert_int_eq(io_flush(), -1);	/* EPIPE, SIGPIPE ignored */
	io_puts("+OK\r\n");
	ck_assert_int_eq(io_flush(), -1);	/* and it stays failed */
}
END_TEST

/* ---- io_send_msg: RETR ---- */

START_TEST(test_send_lf)
{
	EXPECT("A: b\n\nline1\nline2\n", -1,
	    "A: b\r\n\r\nline1\r\nline2\r\n.\r\n");
}
END_TEST

START_TEST(test_send_crlf)
{
	EXPECT("A: b\r\n\r\nline1\r\nline2\r\n", -1,
	    "A: b\r\n\r\nline1\r\nline2\r\n.\r\n");
}
END_TEST

START_TEST(test_send_mixed)
{
	EXPECT("A: b\r\n\nx\ny\r\n\r\n\nz\r\n", -1,
	    "A: b\r\n\r\nx\r\ny\r\n\r\n\r\nz\r\n.\r\n");
}
END_TEST

START_TEST(test_send_dots)
{
	EXPECT("A: b\n\n.\n..\n.x\nx.\n. \r\n.", -1,
	    "A: b\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n.. \r\n..\r\n.\r\n");
	EXPECT(".\n", -1, "..\r\n.\r\n");
	EXPECT(".\r\n", -1, "..\r\n.\r\n");
	EXPECT(".", -1, "..\r\n.\r\n");
}
END_TEST

START_TEST(test_send_no_final_newline)
{
	EXPECT("A: b\n\nlast", -1, "A: b\r\n\r\nlast\r\n.\r\n");
	EXPECT("A: b\n\nlast\r", -1, "A: b\r\n\r\nlast\r\n.\r\n");
	EXPECT("x", -1, "x\r\n.\r\n");
}
END_TEST

START_TEST(test_send_empty)
{
	EXPECT("", -1, ".\r\n");
	EXPECT("", 0, ".\r\n");
	EXPECT("\n", -1, "\r\n.\r\n");
}
END_TEST

START_TEST(test_send_nul_cr)
{
	EXPECT("A\0B\n\0\n\r\r\nc\rd\n", -1,
	    "A\0B\r\n\0\r\n\r\r\nc\rd\r\n.\r\n");
}
END_TEST

START_TEST(test_send_range)
{
	static const char f[] = "junk\n.\nFrom x\nA: b\n\n.hi\nend\ntrailer";
	struct out	o;
	static const char want[] = "A: b\r\n\r\n..hi\r\nend\r\n.\r\n";

	/* Octets 14..27: "A: b\n\n.hi\nend\n" */
	send_range(f, sizeof(f) - 1, 14, 14, -1, &o);
	ck_assert_uint_eq(o.n, sizeof(want) - 1);
	ck_assert_int_eq(memcmp(o.p, want, o.n), 0);
	free(o.p);
}
END_TEST

/* ---- io_send_msg: TOP ---- */

START_TEST(test_top)
{
	static const char m[] = "Subject: s\nFrom: f\n\nb1\n.b2\nb3\n";

	EXPECT(m, 0, "Subject: s\r\nFrom: f\r\n\r\n.\r\n");
	EXPECT(m, 1, "Subject: s\r\nFrom: f\r\n\r\nb1\r\n.\r\n");
	EXPECT(m, 2, "Subject: s\r\nFrom: f\r\n\r\nb1\r\n..b2\r\n.\r\n");
	EXPECT(m, 3,
	    "Subject: s\r\nFrom: f\r\n\r\nb1\r\n..b2\r\nb3\r\n.\r\n");
	EXPECT(m, 100,
	    "Subject: s\r\nFrom: f\r\n\r\nb1\r\n..b2\r\nb3\r\n.\r\n");
}
END_TEST

START_TEST(test_top_crlf)
{
	static const char m[] = "Subject: s\r\n\r\n\r\nb2\r\n";

	EXPECT(m, 0, "Subject: s\r\n\r\n.\r\n");
	/* An empty body line is a line. */
	EXPECT(m, 1, "Subject: s\r\n\r\n\r\n.\r\n");
	EXPECT(m, 2, "Subject: s\r\n\r\n\r\nb2\r\n.\r\n");
}
END_TEST

START_TEST(test_top_header_only)
{
	EXPECT("Subject: s\nX: y\n", 0, "Subject: s\r\nX: y\r\n.\r\n");
	EXPECT("Subject: s\nX: y\n", 5, "Subject: s\r\nX: y\r\n.\r\n");
	EXPECT("Subject: s", 0, "Subject: s\r\n.\r\n");
	EXPECT("Subject: s\n\n", 0, "Subject: s\r\n\r\n.\r\n");
}
END_TEST

START_TEST(test_top_edges)
{
	/* The body's last line without LF. */
	EXPECT("S: s\n\nb1", 1, "S: s\r\n\r\nb1\r\n.\r\n");
	EXPECT("S: s\n\nb1", 0, "S: s\r\n\r\n.\r\n");
	/* No header at all: the first line is the empty one. */
	EXPECT("\nb1\nb2\n", 0, "\r\n.\r\n");
	EXPECT("\nb1\nb2\n", 1, "\r\nb1\r\n.\r\n");
	/* A line of one CR is not the empty line; "\r\r\n" neither. */
	EXPECT("S: s\n\r\r\nT: t\n\nb1\n", 0,
	    "S: s\r\n\r\r\nT: t\r\n\r\n.\r\n");
}
END_TEST

/* ---- chunk boundaries inside io_send_msg ---- */

START_TEST(test_send_chunk_boundaries)
{
	char		*c, *want;
	size_t		 n = 3 * IO_CHUNK, wn;
	struct out	 o;
	uint32_t	 seed = 7;

	c = xcalloc(n, 1);
	memset(c, 'a', n);
	/* CR at the end of the first chunk, its LF at the next's start. */
	c[IO_CHUNK - 1] = '\r';
	c[IO_CHUNK] = '\n';
	/* LF at the end of the second chunk, a dot at the third's start. */
	c[2 * IO_CHUNK - 1] = '\n';
	c[2 * IO_CHUNK] = '.';
	c[n - 1] = '\n';
	send_whole(c, n, -1, &o);
	want = model_retr(c, n, &wn);
	ck_assert_uint_eq(o.n, wn);
	ck_assert_int_eq(memcmp(o.p, want, wn), 0);
	/* Two CRs added, one dot, ".\r\n"; the split CRLF stays one. */
	ck_assert_uint_eq(o.n, n + 2 + 1 + 3);
	free(o.p);
	free(want);
	check_consistent(c, n, &seed);
	free(c);
}
END_TEST

START_TEST(test_top_chunk_boundary)
{
	char		*c;
	size_t		 n, k = IO_CHUNK - 6;
	struct out	 o;

	/* The header's end, "\r\n", split between two chunks. */
	c = xcalloc(IO_CHUNK + 64, 1);
	memcpy(c, "X: ", 3);
	memset(c + 3, 'a', k);
	n = 3 + k;
	memcpy(c + n, "\r\n\r\nb1\r\nb2\r\n", 12);
	n += 12;
	ck_assert_int_eq(c[IO_CHUNK - 1], '\r');
	ck_assert_int_eq(c[IO_CHUNK], '\n');
	send_whole(c, n, 1, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 1 + 4 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 3, "\r\n\r\nb1\r\n.\r\n", 11),
	    0);
	free(o.p);
	free(c);
}
END_TEST

/* ---- the send loop's edges: outbuf filling up, lines cut by chunks ---- */

/* Lines that end, and dots that fall, at every octet around the point
 * where outbuf fills; the prefix of short lines moves that point against
 * the input chunk's end.  Sent as RETR and as TOP, against the model. */
START_TEST(test_send_outbuf_edges)
{
	static const size_t	shifts[] = { 0, 1, 17, 40 };
	static const char	tail[] = ".b\n\nbody1\r\n.body2\ntail";
	static const long	tops[] = { -1, 0, 2 };
	char			*c, what[96];
	size_t			 i, d, s, L, n, t;
	int			 crlf;

	c = filled(IO_OUTBUF + 2 * IO_CHUNK);
	for (i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		s = shifts[i];
		for (d = 0; d < 48; d++) {
			for (crlf = 0; crlf < 2; crlf++) {
				/* s lines "h\n" (one CR added to each), then a
				 * line whose content ends in outbuf at
				 * IO_OUTBUF - 40 + d. */
				memset(c, 'a', IO_OUTBUF + 2 * IO_CHUNK);
				for (n = 0; n < s; n++) {
					memcpy(c + 2 * n, "h\n", 2);
				}
				L = IO_OUTBUF - 3 * s - 40 + d;
				n = 2 * s + L;
				if (crlf) {
					c[n++] = '\r';
				}
				c[n++] = '\n';
				memcpy(c + n, tail, sizeof(tail) - 1);
				n += sizeof(tail) - 1;
				for (t = 0; t < sizeof(tops) / sizeof(tops[0]);
				    t++) {
					snprintf(what, sizeof(what), "shift %zu, "
					    "line %zu%s", s, L, crlf ? " CRLF" :
					    " LF");
					expect_model(c, n, tops[t], what);
				}
			}
		}
	}
	free(c);
}
END_TEST

/* A '.' first in a chunk is stuffed only when a line starts there. */
START_TEST(test_send_chunk_dot_midline)
{
	struct out	 o;
	char		*c;
	size_t		 n = IO_CHUNK + 16;

	c = filled(n);
	c[IO_CHUNK - 10] = '\n';
	c[IO_CHUNK] = '.';
	c[IO_CHUNK + 5] = '\n';
	c[n - 1] = '\n';
	send_whole(c, n, -1, &o);
	/* Three CRs added, no dot, then ".\r\n". */
	ck_assert_uint_eq(o.n, n + 3 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 10, "\r\naaaaaaaaa.aaaa\r\n"
	    "aaaaaaaaa\r\n.\r\n", 32), 0);
	free(o.p);
	/* The same after a CR that ends the chunk but not the line. */
	c[IO_CHUNK - 1] = '\r';
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, n + 3 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 10, "\r\naaaaaaaa\r.aaaa\r\n",
	    18), 0);
	free(o.p);
	/* And stuffed when the last chunk ended with the LF before it. */
	c[IO_CHUNK - 1] = '\n';
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, n + 4 + 1 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 10, "\r\naaaaaaaa\r\n..aaaa"
	    "\r\n", 20), 0);
	free(o.p);
	free(c);
}
END_TEST

/* CR and LF on either side of a chunk's end. */
START_TEST(test_send_chunk_crlf_edges)
{
	struct out	 o;
	char		*c;
	size_t		 n = IO_CHUNK + 8;

	c = filled(n);
	c[n - 1] = '\n';
	/* A CR last in the chunk, but not before an LF: it stays, and the
	 * line still gets its CR. */
	c[IO_CHUNK - 1] = '\r';
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, n + 1 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 2, "a\raaaaaaa\r\n.\r\n", 14),
	    0);
	free(o.p);
	/* CRLF ends the first chunk, an empty line starts the next: the CR
	 * seen before does not stand for the empty line's. */
	c[IO_CHUNK - 2] = '\r';
	c[IO_CHUNK - 1] = '\n';
	c[IO_CHUNK] = '\n';
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, n + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 3, "a\r\n\r\naaaaaa\r\n.\r\n",
	    16), 0);
	free(o.p);
	free(c);

	/* A message of exactly one chunk ending in a CR, no LF; and one
	 * whose second chunk is that CR alone. */
	n = IO_CHUNK;
	c = filled(n + 1);
	c[n - 1] = '\r';
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, n + 1 + 3);
	ck_assert_int_eq(memcmp(o.p + n - 2, "a\r\n.\r\n", 6), 0);
	free(o.p);
	c[n - 1] = 'a';
	c[n] = '\r';
	send_whole(c, n + 1, -1, &o);
	ck_assert_uint_eq(o.n, n + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + n - 1, "a\r\n.\r\n", 6), 0);
	free(o.p);
	/* A second chunk that is one '.', after an LF, without its own. */
	c[n - 1] = '\n';
	c[n] = '.';
	send_whole(c, n + 1, -1, &o);
	ck_assert_uint_eq(o.n, (n + 1) + 1 + 1 + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + n - 2, "a\r\n..\r\n.\r\n", 10), 0);
	free(o.p);
	free(c);
}
END_TEST

/* Lines far longer than outbuf, one starting with '.', LF and CRLF. */
START_TEST(test_send_long_lines)
{
	struct out	 o;
	char		*c;
	size_t		 a = 3 * IO_OUTBUF + 5, b = 2 * IO_OUTBUF, n;

	n = a + 1 + b + 2 + 4;
	c = filled(n);
	c[0] = '.';
	c[a] = '\n';
	c[a + 1 + b] = '\r';
	c[a + 1 + b + 1] = '\n';
	memcpy(c + n - 4, ".x\r\n", 4);
	send_whole(c, n, -1, &o);
	ck_assert_uint_eq(o.n, 1 + n + 1 + 1 + 3);
	ck_assert_int_eq(memcmp(o.p, "..aaa", 5), 0);
	ck_assert_int_eq(memcmp(o.p + a, "a\r\naaa", 6), 0);
	ck_assert_int_eq(memcmp(o.p + 1 + a + 2 + b - 1, "a\r\n..x\r\n.\r\n",
	    12), 0);
	free(o.p);
	expect_model(c, n, -1, "long lines");
	expect_model(c, n, 0, "long lines");
	free(c);
}
END_TEST

/* TOP's counting where chunks cut the lines. */
START_TEST(test_top_split_lines)
{
	struct out	 o;
	char		*c;
	size_t		 n = IO_CHUNK + 16;

	c = filled(n + 1);
	memcpy(c, "X: ", 3);
	/* A header line's LF first in the next chunk: not an empty line. */
	c[IO_CHUNK] = '\n';
	memcpy(c + IO_CHUNK + 1, "Y: y\n\nb1\nb2\n", 12);
	n = IO_CHUNK + 13;
	send_whole(c, n, 0, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 2 + 6 + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 1, "a\r\nY: y\r\n\r\n.\r\n",
	    14), 0);
	free(o.p);
	/* The empty line as an LF first in the chunk, after a whole line. */
	c[IO_CHUNK - 1] = '\n';
	memcpy(c + IO_CHUNK, "\nb1\nb2\n", 7);
	n = IO_CHUNK + 7;
	send_whole(c, n, 0, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 1 + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 2, "a\r\n\r\n.\r\n", 8), 0);
	free(o.p);
	send_whole(c, n, 1, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 1 + 2 + 4 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 2, "a\r\n\r\nb1\r\n.\r\n",
	    12), 0);
	free(o.p);
	/* A line of one CR ending the chunk, then "\r\n": "\r\r\n" is not
	 * the empty line, the "\n" after it is. */
	c[IO_CHUNK - 2] = '\n';
	c[IO_CHUNK - 1] = '\r';
	memcpy(c + IO_CHUNK, "\r\n\nb1\n", 6);
	n = IO_CHUNK + 6;
	send_whole(c, n, 0, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 1 + 2 + 2 + 3);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK - 2, "\r\n\r\r\n\r\n.\r\n", 10),
	    0);
	free(o.p);
	free(c);

	/* A body line cut by the chunk's end counts once. */
	n = IO_CHUNK + 16;
	c = filled(n);
	memcpy(c, "S: s\n\n", 6);
	memcpy(c + IO_CHUNK + 4, "\nb2\nb3\n.b4\n", 11);
	n = IO_CHUNK + 15;
	send_whole(c, n, 1, &o);
	ck_assert_uint_eq(o.n, IO_CHUNK + 11);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK + 4 + 1, "a\r\n.\r\n", 6), 0);
	free(o.p);
	send_whole(c, n, 2, &o);
	ck_assert_int_eq(memcmp(o.p + IO_CHUNK + 4 + 1, "a\r\nb2\r\n.\r\n", 10),
	    0);
	ck_assert_uint_eq(o.n, IO_CHUNK + 15);
	free(o.p);
	expect_model(c, n, 3, "cut body line");
	expect_model(c, n, 4, "cut body line");
	free(c);
}
END_TEST

/* Empty and one-octet messages, RETR and TOP. */
START_TEST(test_send_tiny)
{
	EXPECT("", 3, ".\r\n");
	EXPECT("\n", 0, "\r\n.\r\n");
	EXPECT("\r", -1, "\r\n.\r\n");
	EXPECT("\r", 0, "\r\n.\r\n");
	EXPECT(".", 0, "..\r\n.\r\n");
	EXPECT("\r\n", 0, "\r\n.\r\n");
	EXPECT("\n\n", 0, "\r\n.\r\n");
	EXPECT("\n\n", 1, "\r\n\r\n.\r\n");
}
END_TEST

/* The model agrees with the cases written out above, and io_send_msg
 * with the model on random messages, short ones and ones that cross
 * chunks, for RETR and TOP. */
START_TEST(test_top_random)
{
	static const char	alphabet[] = "ab.\r\n\n\r:";
	static const char	m[] = "Subject: s\nFrom: f\n\nb1\n.b2\nb3\n";
	char			*c, *want, what[64];
	size_t			 n, i, k, wn;
	uint32_t		 seed = 0x2545f491;

	want = model_top(m, sizeof(m) - 1, 2, &wn);
	ck_assert_uint_eq(wn, 36);
	ck_assert_int_eq(memcmp(want, "Subject: s\r\nFrom: f\r\n\r\nb1\r\n"
	    "..b2\r\n.\r\n", wn), 0);
	free(want);
	want = model_top("S: s\n\r\r\nT: t\n\nb1\n", 17, 0, &wn);
	ck_assert_uint_eq(wn, 20);
	ck_assert_int_eq(memcmp(want, "S: s\r\n\r\r\nT: t\r\n\r\n.\r\n", wn), 0);
	free(want);

	c = xcalloc(1, 3 * IO_CHUNK);
	for (i = 0; i < RANDOM_MSGS; i++) {
		n = i % 30 == 29 ? IO_CHUNK - 64 + rnd(&seed) % (IO_CHUNK + 128) :
		    rnd(&seed) % 200;
		for (k = 0; k < n; k++) {
			c[k] = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
		}
		snprintf(what, sizeof(what), "random message %zu", i);
		expect_model(c, n, (long)(rnd(&seed) % 6) - 1, what);
	}
	free(c);
}
END_TEST

/* TOP reads IO_TOP_READ octets first, then twice what it has: the empty
 * line, a stuffed dot and a dot in mid-line at each of those ends. */
START_TEST(test_top_small_reads)
{
	static const long	tops[] = { 0, 1, 3, -1 };
	char			*c, what[64];
	size_t			 b, n, t;
	int			 d, kind;

	n = 2 * IO_CHUNK + 64;
	c = filled(n);
	for (b = IO_TOP_READ; b <= 2 * IO_CHUNK; b *= 2) {
		for (d = -3; d <= 3; d++) {
			for (kind = 0; kind < 3; kind++) {
				memset(c, 'a', n);
				memcpy(c, "X: ", 3);
				c[100] = '\n';
				c[b + d + 20] = '\n';
				c[b + d + 40] = '\n';
				c[n - 1] = '\n';
				if (kind == 0) {	/* "\r" | "\n": empty line */
					memcpy(c + b + d - 2, "\n\r\n.b", 5);
				} else if (kind == 1) {	/* LF | '.' */
					memcpy(c + b + d - 1, "\n.", 2);
					memcpy(c + b + d + 10, "\n\n.", 3);
				} else {		/* a '.' in mid-line */
					c[b + d] = '.';
					memcpy(c + b + d + 10, "\r\n\r\n", 4);
				}
				for (t = 0; t < sizeof(tops) / sizeof(tops[0]);
				    t++) {
					snprintf(what, sizeof(what), "end %zu%+d, "
					    "case %d", b, d, kind);
					expect_model(c, n, tops[t], what);
				}
			}
		}
	}
	free(c);
}
END_TEST

/* TOP of a message longer than its first reads stops at the message's
 * end, not at the next one's. */
START_TEST(test_top_range)
{
	struct out	 o;
	char		*f, *want;
	size_t		 len = 3 * IO_TOP_READ + 5, n = len + 40, wn;

	f = filled(n);
	memcpy(f, "From x\n", 7);
	memcpy(f + 7, "S: s\n\n", 6);
	f[7 + 100] = '\n';
	f[7 + IO_TOP_READ + 3] = '\n';
	f[7 + len - 1] = '\n';
	memcpy(f + 7 + len, "From y\nT: t\n\nnext\n", 18);
	want = model_top(f + 7, len, 1000, &wn);
	send_range(f, n, 7, (off_t)len, 1000, &o);
	ck_assert_uint_eq(o.n, wn);
	ck_assert_int_eq(memcmp(o.p, want, wn), 0);
	ck_assert_int_eq(memcmp(o.p + o.n - 6, "a\r\n.\r\n", 6), 0);
	free(o.p);
	free(want);
	free(f);
}
END_TEST

/* ---- the sizer agrees with what RETR sends ---- */

START_TEST(test_sizer_cases)
{
	static const struct {
		const char	*c;
		size_t		 n;
		uint64_t	 size;
	} cases[] = {
#define C(s, z)	{ s, sizeof(s) - 1, z }
		C("", 0),
		C("\n", 2),
		C("\r\n", 2),
		C("a", 3),
		C("a\r", 3),
		C("A: b\n\nline1\nline2\n", 22),
		C("A: b\r\n\r\nline1\r\nline2\r\n", 22),
		C("A: b\r\n\nx\ny\r\n\r\n\nz\r\n", 21),
		C("A: b\n\n.\n..\n.x\nx.\n", 23),
		C(".", 3),
		C("A\0B\n\0\n", 8),
		C("\r\r\n", 3),
		C("c\rd\n", 5),
		C("\n\n\n", 6),
		C("\r\n\n\r", 6),
#undef C
	};
	uint32_t	seed = 1;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(size_oneshot(cases[i].c, cases[i].n) ==
		    cases[i].size, "case %zu", i);
		check_consistent(cases[i].c, cases[i].n, &seed);
	}
}
END_TEST

START_TEST(test_sizer_random)
{
	static const char	alphabet[] = "ab.\r\n\n\r\0 F";
	char			*c;
	size_t			 n, i, k;
	uint32_t		 seed = 0x9e3779b9;

	c = xcalloc(1, 4 * IO_CHUNK);
	for (i = 0; i < RANDOM_MSGS; i++) {
		/* Mostly short messages; a few that cross chunk borders. */
		n = i % 50 == 49 ? IO_CHUNK + rnd(&seed) % (2 * IO_CHUNK) :
		    rnd(&seed) % 300;
		for (k = 0; k < n; k++) {
			c[k] = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
		}
		check_consistent(c, n, &seed);
	}
	free(c);
}
END_TEST

START_TEST(test_sizer_big_line)
{
	char		*c;
	size_t		 n = BIG_LINE + 10;
	uint32_t	 seed = 3;

	c = xcalloc(n, 1);
	memset(c, 'y', n);
	memcpy(c, "S: s\n\n", 6);
	c[n - 2] = '\r';
	c[n - 1] = '\n';
	ck_assert_uint_eq(size_oneshot(c, n), n + 2);
	check_consistent(c, n, &seed);
	free(c);
}
END_TEST

static Suite *
io_suite(void)
{
	Suite	*s = suite_create("io");
	TCase	*tc;

	tc = tcase_create("getline");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lines_crlf_lf);
	tcase_add_test(tc, test_line_max_crlf);
	tcase_add_test(tc, test_line_max_lf);
	tcase_add_test(tc, test_toolong_not_obeyed);
	tcase_add_test(tc, test_huge_line);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_eof);
	tcase_add_test(tc, test_eof_midline);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_line_other_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_test(tc, test_write_counts);
	tcase_add_test(tc, test_write_broken);
	suite_add_tcase(s, tc);

	tc = tcase_create("send_msg");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_send_lf);
	tcase_add_test(tc, test_send_crlf);
	tcase_add_test(tc, test_send_mixed);
	tcase_add_test(tc, test_send_dots);
	tcase_add_test(tc, test_send_no_final_newline);
	tcase_add_test(tc, test_send_empty);
	tcase_add_test(tc, test_send_nul_cr);
	tcase_add_test(tc, test_send_range);
	tcase_add_test(tc, test_top);
	tcase_add_test(tc, test_top_crlf);
	tcase_add_test(tc, test_top_header_only);
	tcase_add_test(tc, test_top_edges);
	tcase_add_test(tc, test_send_chunk_boundaries);
	tcase_add_test(tc, test_top_chunk_boundary);
	suite_add_tcase(s, tc);

	tc = tcase_create("send_edges");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_send_outbuf_edges);
	tcase_add_test(tc, test_send_chunk_dot_midline);
	tcase_add_test(tc, test_send_chunk_crlf_edges);
	tcase_add_test(tc, test_send_long_lines);
	tcase_add_test(tc, test_top_split_lines);
	tcase_add_test(tc, test_send_tiny);
	tcase_add_test(tc, test_top_random);
	tcase_add_test(tc, test_top_small_reads);
	tcase_add_test(tc, test_top_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("sizer");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sizer_cases);
	tcase_add_test(tc, test_sizer_random);
	tcase_add_test(tc, test_sizer_big_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return run_unit_suite(io_suite());
}
