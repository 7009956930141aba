/* io.c: the client connection: bounded line reads with a timer, buffered
 * writes, and messages sent as dot-stuffed CRLF text. */
#include <sys/types.h>

#include <errno.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"


struct msgout {
	int	 bol;		/* at the beginning of a line */
	int	 lastcr;	/* the line so far ends in CR */
	off_t	 linelen;	/* octets of the current line so far */
	int	 inbody;	/* past the header (TOP counting) */
	long	 lines;		/* body lines still to send, -1 for all */
};

static int	io_wait(int, short, int);
static int	io_fill(uint64_t);
static const char *copy_line(const char *, const char *);
static int	msg_chunk(struct msgout *, const char *, size_t);
static int	msg_top_eol(struct msgout *, off_t, int);

static int	 in_fd = 0, out_fd = 1;
static char	 inbuf[IO_INBUF];
static size_t	 in_start, in_end;
static char	 outbuf[IO_OUTBUF];
static size_t	 out_len;
static uint64_t	 sent;
static int	 out_timeout = DEF_TIMEOUT;
static int	 out_failed;

void
io_init(int in, int out)
{
	in_fd = in;
	out_fd = out;
	in_start = in_end = out_len = 0;
	sent = 0;
	out_failed = 0;
}

/* Wait up to ms for fd to be ready; 0 ready, IO_TIMEOUT or IO_ERROR. */
static int
io_wait(int fd, short events, int ms)
{
	struct pollfd	pfd;
	int		n;

	pfd.fd = fd;
	pfd.events = events;
	for (;;) {
		n = poll(&pfd, 1, ms);
		if (n > 0) {
			return 0;
		}
		if (n == 0) {
			return IO_TIMEOUT;
		}
		if (errno != EINTR) {
			return IO_ERROR;
		}
	}
}

/* Read more input after in_end, by the deadline (now_ms() clock);
 * octets read or an IO_ code. */
static int
io_fill(uint64_t deadline)
{
	uint64_t now = now_ms();
	ssize_t	n;
	int	r;

	if (in_start > 0) {
		memmove(inbuf, inbuf + in_start, in_end - in_start);
		in_end -= in_start;
		in_start = 0;
	}
	if (in_end == sizeof(inbuf)) {
		in_start = in_end = 0;	/* only ever full inside a long line */
	}
	if (now >= deadline) {
		return IO_TIMEOUT;
	}
	if ((r = io_wait(in_fd, POLLIN, (int)(deadline - now))) != 0) {
		return r;
	}
	do {
		n = read(in_fd, inbuf + in_end, sizeof(inbuf) - in_end);
	} while (n == -1 && errno == EINTR);
	if (n == 0) {
		return IO_EOF;
	}
	if (n == -1) {
		return IO_ERROR;
	}
	in_end += (size_t)n;
	return (int)n;
}

int
io_getline(char *buf, size_t bufsize, size_t max, int timeout)
{
	size_t	 len = 0, n;
	char	*lf;
	int	 r, toolong = 0, nul = 0;
	/* One deadline for the whole line: dripping octets does not help. */
	uint64_t deadline = now_ms() + (uint64_t)timeout * 1000;

	out_timeout = timeout;
	for (;;) {
		n = in_end - in_start;
		lf = memchr(inbuf + in_start, '\n', n);
		if (lf != NULL) {
			n = (size_t)(lf - (inbuf + in_start)) + 1;
		}
		if (!toolong && len + n <= max && len + n < bufsize) {
			memcpy(buf + len, inbuf + in_start, n);
			len += n;
			if (memchr(inbuf + in_start, '\0', n) != NULL) {
				nul = 1;
			}
		} else {
			toolong = 1;	/* keep reading to LF, keep nothing */
		}
		in_start += n;
		if (lf != NULL) {
			break;
		}
		if (io_flush() == -1) {
			return IO_ERROR;
		}
		if ((r = io_fill(deadline)) < 0) {
			return r;
		}
	}
	if (toolong) {
		return IO_TOOLONG;
	}
	if (nul) {
		return IO_NUL;
	}
	len--;				/* the LF */
	if (len > 0 && buf[len - 1] == '\r') {
		len--;
	}
	buf[len] = '\0';
	return (int)len;
}

size_t
io_take_input(char *buf, size_t size)
{
	size_t	n = in_end - in_start;

	if (n > size) {
		n = size;
	}
	memcpy(buf, inbuf + in_start, n);
	in_start = in_end = 0;
	return n;
}

void
io_give_input(const char *buf, size_t n)
{
	if (n > sizeof(inbuf)) {
		n = sizeof(inbuf);
	}
	memcpy(inbuf, buf, n);
	in_start = 0;
	in_end = n;
}

void
io_write(const void *p, size_t n)
{
	const char	*s = p;
	size_t		 k;

	while (n > 0) {
		if (out_len == sizeof(outbuf) && io_flush() == -1) {
			return;
		}
		k = sizeof(outbuf) - out_len;
		if (k > n) {
			k = n;
		}
		memcpy(outbuf + out_len, s, k);
		out_len += k;
		s += k;
		n -= k;
	}
}

void
io_puts(const char *s)
{
	io_write(s, strlen(s));
}

void
io_printf(const char *fmt, ...)
{
	char	line[CMD_LINE_MAX * 4];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		fatalx("response too long");
	}
	io_write(line, (size_t)n);
}

int
io_flush(void)
{
	size_t	off = 0;
	ssize_t	n;

	if (out_failed) {
		out_len = 0;
		return -1;
	}
	while (off < out_len) {
		if (io_wait(out_fd, POLLOUT, out_timeout * 1000) != 0) {
			out_failed = 1;
			break;
		}
		n = write(out_fd, outbuf + off, out_len - off);
		if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			out_failed = 1;
			break;
		}
		off += (size_t)n;
		sent += (uint64_t)n;
	}
	out_len = 0;
	return out_failed ? -1 : 0;
}

void
io_add_sent(uint64_t n)
{
	sent += n;
}

uint64_t
io_sent(void)
{
	return sent + out_len;
}

/* A line of total octets ended (cr: its last octet was CR): count it for
 * TOP; 1 when TOP has sent all it should. */
static int
msg_top_eol(struct msgout *mo, off_t total, int cr)
{
	if (mo->inbody) {
		if (mo->lines > 0) {
			mo->lines--;
		}
	} else if (total == 0 || (total == 1 && cr)) {
		mo->inbody = 1;		/* the empty line ends the header */
	}
	return mo->inbody && mo->lines == 0;
}

/* Copy octets from p into outbuf up to the next LF, flushing as it
 * fills; the LF's address, with room for 3 more octets in outbuf, or NULL
 * when there is no LF before end (everything copied).  With SSE2, 16
 * octets are copied and searched at a time while the input and outbuf
 * have room for them; memchr and memcpy do the rest. */
static const char *
copy_line(const char *p, const char *end)
{
	const char	*lf;
	size_t		 k;
#ifdef __SSE2__
	const __m128i	 nl = _mm_set1_epi8('\n');
	__m128i		 v;
	char		*o = outbuf + out_len;
	unsigned	 m;

	while (end - p >= 16) {
		if (o > outbuf + sizeof(outbuf) - (16 + 2)) {
			out_len = (size_t)(o - outbuf);
			(void)io_flush();	/* empties outbuf, even failing */
			o = outbuf;
		}
		v = _mm_loadu_si128((const __m128i *)p);
		_mm_storeu_si128((__m128i *)o, v);
		m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
		if (m != 0) {
			k = (size_t)__builtin_ctz(m);
			out_len = (size_t)(o - outbuf) + k;
			return p + k;
		}
		p += 16;
		o += 16;
	}
	out_len = (size_t)(o - outbuf);
#endif
	if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL) {
		io_write(p, (size_t)(end - p));
		return NULL;
	}
	k = (size_t)(lf - p);
	if (sizeof(outbuf) - out_len >= k + 3) {
		memcpy(outbuf + out_len, p, k);
		out_len += k;
	} else {
		io_write(p, k);
		if (sizeof(outbuf) - out_len < 3) {
			(void)io_flush();
		}
	}
	return lf;
}

/* Send one chunk of a message; 1 when TOP has sent all it should.  Each
 * line goes straight into outbuf with its CRLF; a line cut by the chunk's
 * end carries lastcr and linelen into the next chunk. */
static int
msg_chunk(struct msgout *mo, const char *p, size_t n)
{
	const char	*start = p, *end = p + n, *lf;
	off_t		 linelen = mo->linelen;
	int		 cr;

	if (n == 0) {
		return 0;
	}
	if (mo->bol && p[0] == '.') {
		io_write(".", 1);	/* RFC 1939 3: byte-stuff */
	}
	for (;;) {
		if ((lf = copy_line(p, end)) == NULL) {
			mo->bol = 0;
			mo->lastcr = end[-1] == '\r';
			mo->linelen = linelen + (end - p);
			return 0;
		}
		/* The octet before the LF is in this chunk or the last. */
		cr = lf > start ? lf[-1] == '\r' : mo->lastcr;
		if (!cr) {
			outbuf[out_len++] = '\r';
		}
		outbuf[out_len++] = '\n';
		if (mo->lines >= 0 &&
		    msg_top_eol(mo, linelen + (lf - p), cr)) {
			mo->bol = 1;
			return 1;
		}
		linelen = 0;
		if ((p = lf + 1) == end) {
			break;
		}
		if (p[0] == '.') {
			outbuf[out_len++] = '.';
		}
	}
	mo->bol = 1;
	mo->lastcr = 0;
	mo->linelen = 0;
	return 0;
}

int
io_send_msg(int fd, off_t off, off_t len, long lines)
{
	static char	buf[IO_CHUNK];
	struct msgout	mo = { 1, 0, 0, 0, lines };
	ssize_t		n;
	size_t		want, step = sizeof(buf);
	off_t		done = 0;
	int		waiting;

	if (lines == 0) {
		mo.lines = 0;
	} else if (lines < 0) {
		mo.lines = -1;
	}
	/* A client that sent nothing more waits for this answer: it gets
	 * the start of it early, and reads while the rest is made. */
	waiting = in_start == in_end;
	while (len > 0) {
		/* TOP mostly wants a header: it reads IO_TOP_READ, then as
		 * much as it has read so far, up to IO_CHUNK, so that the
		 * chunks still end at every multiple of IO_CHUNK.  So does
		 * RETR for a waiting client, flushing after each read. */
		if (lines >= 0 || waiting) {
			step = done == 0 ? IO_TOP_READ : done <
			    (off_t)sizeof(buf) ? (size_t)done : sizeof(buf);
		}
		want = len < (off_t)step ? (size_t)len : step;
		n = pread(fd, buf, want, off);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_warn("read of message at offset %lld",
			    (long long)off);
			return -1;
		}
		if (msg_chunk(&mo, buf, (size_t)n)) {
			break;
		}
		off += n;
		len -= n;
		done += n;
		if (waiting && len > 0 && out_len >= IO_EARLY_FLUSH) {
			(void)io_flush();	/* a failure shows at the end */
		}
	}
	if (!mo.bol) {			/* the last line had no LF */
		io_write(mo.lastcr ? "\n" : "\r\n", mo.lastcr ? 1 : 2);
	}
	io_write(".\r\n", 3);
	return 0;
}

void
sizer_init(struct sizer *sz)
{
	sz->size = 0;
	sz->lastcr = 0;
	sz->lastlf = 1;
}

void
sizer_feed(struct sizer *sz, const char *p, size_t n)
{
	const char	*end = p + n, *cr;

	if (n == 0) {
		return;
	}
	/* Each LF gains the CR io_send_msg adds, unless a CR is before it
	 * (in this piece, or at the end of the last one). */
	sz->size += n + count_octet(p, n, '\n');
	if (sz->lastcr && p[0] == '\n') {
		sz->size--;
	}
	for (cr = p; (cr = memchr(cr, '\r', (size_t)(end - cr))) != NULL &&
	    ++cr < end;) {
		sz->size -= *cr == '\n';
	}
	sz->lastcr = end[-1] == '\r';
	sz->lastlf = end[-1] == '\n';
}

uint64_t
sizer_end(const struct sizer *sz)
{
	/* An unterminated last line is sent with a CRLF after it. */
	if (!sz->lastlf) {
		return sz->size + (sz->lastcr ? 1 : 2);
	}
	return sz->size;
}
