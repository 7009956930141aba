/* bench/popbench.c: the benchmark's POP3 client.  It starts a server the
 * way inetd does (a socketpair, or an accepted loopback TCP socket, as fd 0
 * and fd 1), drives whole sessions against it, times every phase from the
 * client side, checks every answer against the original messages, and
 * prints one JSON object.  See BENCHMARKS.md for what each session does. */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE	(4u * 1024 * 1024)	/* longest line we accept */
#define PEND_MAX	(256u * 1024)		/* header octets before Message-ID */
#define MAX_PHASES	16
#define MAX_ERRS	24
#define MAX_ENV		32
#define IO_TIMEOUT_MS	600000
#define MSGID_TAG	"message-id: <bench-"
#define SETTLE_SECS	1.1

/* ---- originals: what a server must send for each message ---- */

struct orig {
	uint64_t	 off, len;	/* in the blob */
	int		 appended;
	char		*name;		/* Maildir file name */
};

static const char	*blob;
static struct orig	*origs;
static size_t		 norigs, ninitial, nappended;
static long		 seed = -1;

/* ---- options ---- */

static struct {
	const char	*scenario;
	const char	*format;	/* mbox or maildir */
	const char	*drop;		/* the work copy the server uses */
	const char	*append_src;	/* append.mbox or append.maildir/ */
	const char	*blob, *manifest;
	const char	*user, *pass;	/* NULL: preauthenticated */
	int		 greeting;	/* server greets before the first command */
	int		 uid, gid;	/* run the server as (-1: as we are) */
	int		 ouid, ogid;	/* owner of delivered files (-1: us) */
	char		*env[MAX_ENV + 1];
	int		 nenv;
	const char	*errfile;
	const char	*record;	/* received octets of the pipelined RETR */
	int		 tcp;
	int		 reps;
	int		 one;		/* replay scenario: RETR one at a time */
	const char	*label;
	char		**argv;
} opt = { "full", "mbox", NULL, NULL, NULL, NULL, NULL, NULL, 1, -1, -1, -1, -1,
	{ NULL }, 0, "/dev/null", NULL, 0, 5, 0, "server", NULL };

/* ---- one session: the connection, its timings, what went wrong ---- */

struct phase {
	const char	*name;
	double		 start, end;	/* seconds since the connection */
	double		 ccpu;		/* client CPU seconds in the phase */
	uint64_t	 octets;	/* received in the phase */
};

struct sess {
	const char	*name;
	int		 fd;
	pid_t		 pid;
	char		*rb;
	size_t		 rpos, rend, scan;
	char		*wb;
	size_t		 wpos, wend, wcap;
	int		 eof;
	uint64_t	 t0;		/* ns, at connect */
	uint64_t	 rbytes;
	FILE		*rec;
	struct phase	 ph[MAX_PHASES];
	int		 nph;
	double		 pc0;
	uint64_t	 po0;
	double		 to_stat;	/* connect -> STAT answered */
	double		 to_exit;	/* connect -> server reaped */
	struct rusage	 ru;
	int		 status;
	long long	 io[5];		/* rchar wchar read_bytes write_bytes cancelled */
	long		 mem[4];	/* VmHWM VmRSS RssAnon RssFile: max seen, KiB */
	long		 nmsgs;
	unsigned long long total;
	char		*errs[MAX_ERRS];
	int		 nerrs;
	char		 reply[512];	/* the last status line */
};

static int	nerrors;		/* over every session */
static const char *record_next;	/* record the next session opened here */

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
cpu_self(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "popbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void	*p = malloc(n);

	if (p == NULL) {
		die("out of memory");
	}
	return p;
}

static void __attribute__((format(printf, 2, 3)))
fail(struct sess *s, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	nerrors++;
	if (s->nerrs >= MAX_ERRS) {
		s->nerrs++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->errs[s->nerrs++] = strdup(buf);
}

/* ---- starting the server ---- */

static int
tcp_pair(int *server_end)
{
	struct sockaddr_in	sa;
	socklen_t		len = sizeof(sa);
	int			l, c, a, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) == -1 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (a = accept4(l, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		die("loopback connection: %s", strerror(errno));
	}
	close(l);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*server_end = a;
	return c;
}

/* Servers are started by a spawner process forked before the client
 * allocates anything large: a server's peak RSS (ru_maxrss) counts what
 * its process held before execve, so forking it from the client itself
 * would charge the client's buffers to the server. */
static int	spawner = -1;

struct spawned {
	int		 status;
	struct rusage	 ru;
	long long	 io[5];
};

static void
send_fd(int sock, int fd)
{
	char		 byte = 'S', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec	 iov = { &byte, 1 };
	struct msghdr	 mh;
	struct cmsghdr	*cm;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &mh, 0) != 1) {
		die("sendmsg: %s", strerror(errno));
	}
}

static int
recv_fd(int sock)
{
	char		 byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec	 iov = { &byte, 1 };
	struct msghdr	 mh;
	struct cmsghdr	*cm;
	int		 fd;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1 ||
	    (cm = CMSG_FIRSTHDR(&mh)) == NULL || cm->cmsg_type != SCM_RIGHTS) {
		return -1;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void
read_full(int fd, void *p, size_t n)
{
	char	*s = p;
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(fd, s, n)) <= 0) {
			if (r == -1 && errno == EINTR) {
				continue;
			}
			die("spawner: %s", r == 0 ? "gone" : strerror(errno));
		}
		s += r;
		n -= (size_t)r;
	}
}

static void __attribute__((noreturn))
exec_server(int conn)
{
	static char	*defenv[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int		 efd;

	efd = open(opt.errfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (dup2(conn, 0) == -1 || dup2(conn, 1) == -1 ||
	    (efd != -1 && dup2(efd, 2) == -1)) {
		_exit(126);
	}
	if (opt.gid != -1 && (setgroups(0, NULL) == -1 ||
	    setgid((gid_t)opt.gid) == -1)) {
		_exit(126);
	}
	if (opt.uid != -1 && setuid((uid_t)opt.uid) == -1) {
		_exit(126);
	}
	signal(SIGPIPE, SIG_DFL);
	execve(opt.argv[0], opt.argv, opt.nenv > 0 ? opt.env : defenv);
	_exit(127);
}

/* Read /proc/PID/io of the exited (not yet reaped) server, then reap it. */
static void
reap_child(pid_t pid, struct spawned *r)
{
	static const char *keys[5] = { "rchar:", "wchar:", "read_bytes:",
	    "write_bytes:", "cancelled_write_bytes:" };
	siginfo_t	 si;
	char		 path[64], line[128];
	FILE		*f;
	int		 i;

	memset(r, 0, sizeof(*r));
	memset(r->io, 0xff, sizeof(r->io));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == -1) {
		if (errno != EINTR) {
			_exit(3);
		}
	}
	snprintf(path, sizeof(path), "/proc/%ld/io", (long)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			for (i = 0; i < 5; i++) {
				if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
					r->io[i] = atoll(line + strlen(keys[i]));
				}
			}
		}
		fclose(f);
	}
	while (wait4(pid, &r->status, 0, &r->ru) == -1) {
		if (errno != EINTR) {
			_exit(3);
		}
	}
}

/* The spawner: for each connection it is handed, start a server on it,
 * say its pid, and when it exits, say how it went. */
static void __attribute__((noreturn))
spawner_loop(int sock)
{
	struct spawned	r;
	pid_t		pid;
	int		conn;

	while ((conn = recv_fd(sock)) != -1) {
		if ((pid = fork()) == -1) {
			_exit(3);
		}
		if (pid == 0) {
			close(sock);
			exec_server(conn);
		}
		close(conn);
		if (write(sock, &pid, sizeof(pid)) != sizeof(pid)) {
			_exit(3);
		}
		reap_child(pid, &r);
		if (write(sock, &r, sizeof(r)) != sizeof(r)) {
			_exit(3);
		}
	}
	_exit(0);
}

static void
spawner_start(void)
{
	int	sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		die("socketpair: %s", strerror(errno));
	}
	switch (fork()) {
	case -1:
		die("fork: %s", strerror(errno));
	case 0:
		close(sv[0]);
		spawner_loop(sv[1]);
	default:
		close(sv[1]);
		spawner = sv[0];
	}
}

static void
spawn(struct sess *s)
{
	int	sv[2];

	if (opt.tcp) {
		sv[0] = tcp_pair(&sv[1]);
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
	    -1) {
		die("socketpair: %s", strerror(errno));
	}
	s->t0 = now_ns();
	send_fd(spawner, sv[1]);
	close(sv[1]);
	read_full(spawner, &s->pid, sizeof(s->pid));
	s->fd = sv[0];
	if (fcntl(s->fd, F_SETFL, O_NONBLOCK) == -1) {
		die("fcntl: %s", strerror(errno));
	}
	s->rb = xmalloc(RBUF_SIZE);
	s->rpos = s->rend = s->scan = 0;
	s->wcap = 64 * 1024;
	s->wb = xmalloc(s->wcap);
	s->wpos = s->wend = 0;
	s->eof = 0;
	s->rbytes = 0;
	s->nph = 0;
	s->to_stat = s->to_exit = -1;
}

static double
since(const struct sess *s)
{
	return (now_ns() - s->t0) / 1e9;
}

/* The server's end, as the spawner saw it. */
static void
reap(struct sess *s)
{
	struct spawned	r;

	read_full(spawner, &r, sizeof(r));
	s->to_exit = since(s);
	s->status = r.status;
	s->ru = r.ru;
	memcpy(s->io, r.io, sizeof(s->io));
}

/* ---- the connection ---- */

static void
send_cmd(struct sess *s, const char *fmt, ...)
{
	char	buf[300];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (s->wend + (size_t)n + 2 > s->wcap) {
		if (s->wpos > 0) {
			memmove(s->wb, s->wb + s->wpos, s->wend - s->wpos);
			s->wend -= s->wpos;
			s->wpos = 0;
		}
		while (s->wend + (size_t)n + 2 > s->wcap) {
			s->wcap *= 2;
		}
		if ((s->wb = realloc(s->wb, s->wcap)) == NULL) {
			die("out of memory");
		}
	}
	memcpy(s->wb + s->wend, buf, (size_t)n);
	memcpy(s->wb + s->wend + n, "\r\n", 2);
	s->wend += (size_t)n + 2;
}

/* Wait for the socket; write what is queued, read what came.  -1 on a
 * timeout or an error (logged as a failure). */
static int
io_step(struct sess *s)
{
	struct pollfd	pfd;
	ssize_t		n;

	pfd.fd = s->fd;
	pfd.events = POLLIN | (s->wend > s->wpos ? POLLOUT : 0);
	if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0) {
		fail(s, "%s: no answer within %d s", s->name,
		    IO_TIMEOUT_MS / 1000);
		return -1;
	}
	if (pfd.revents & POLLOUT) {
		n = write(s->fd, s->wb + s->wpos, s->wend - s->wpos);
		if (n > 0) {
			s->wpos += (size_t)n;
			if (s->wpos == s->wend) {
				s->wpos = s->wend = 0;
			}
		} else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			s->wpos = s->wend = 0;	/* peer gone; reads will tell */
		}
	}
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		if (s->rend == RBUF_SIZE) {
			fail(s, "%s: a line longer than %u octets", s->name,
			    RBUF_SIZE);
			return -1;
		}
		n = read(s->fd, s->rb + s->rend, RBUF_SIZE - s->rend);
		if (n > 0) {
			if (s->rec != NULL) {
				fwrite(s->rb + s->rend, 1, (size_t)n, s->rec);
			}
			s->rend += (size_t)n;
			s->rbytes += (uint64_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			s->eof = 1;
		}
	}
	return 0;
}

/* The next line without its LF (a CR stays); 0 at EOF or on error. */
static int
get_line(struct sess *s, char **line, size_t *len)
{
	char	*lf;

	for (;;) {
		lf = memchr(s->rb + s->scan, '\n', s->rend - s->scan);
		if (lf != NULL) {
			*line = s->rb + s->rpos;
			*len = (size_t)(lf - *line);
			s->rpos = s->scan = (size_t)(lf - s->rb) + 1;
			return 1;
		}
		s->scan = s->rend;
		if (s->eof) {
			return 0;
		}
		if (s->rpos > 0 && (s->rpos > RBUF_SIZE / 2 ||
		    s->rend == RBUF_SIZE)) {
			memmove(s->rb, s->rb + s->rpos, s->rend - s->rpos);
			s->rend -= s->rpos;
			s->scan -= s->rpos;
			s->rpos = 0;
		}
		if (io_step(s) == -1) {
			s->eof = 1;
			return 0;
		}
	}
}

/* A line without its CRLF; a bare LF is a deviation. */
static int
get_crlf(struct sess *s, char **line, size_t *len)
{
	if (!get_line(s, line, len)) {
		return 0;
	}
	if (*len > 0 && (*line)[*len - 1] == '\r') {
		(*len)--;
	} else {
		fail(s, "%s: a line ends in a bare LF", s->name);
	}
	return 1;
}

/* The status line: 1 for +OK, 0 for -ERR (the text kept), -1 for EOF. */
static int
status(struct sess *s, const char *what)
{
	char	*line;
	size_t	 len;

	if (!get_crlf(s, &line, &len)) {
		fail(s, "%s: connection closed waiting for %s", s->name, what);
		return -1;
	}
	if (len >= sizeof(s->reply)) {
		len = sizeof(s->reply) - 1;
	}
	memcpy(s->reply, line, len);
	s->reply[len] = '\0';
	if (strncmp(s->reply, "+OK", 3) == 0) {
		return 1;
	}
	if (strncmp(s->reply, "-ERR", 4) != 0) {
		fail(s, "%s: %s: not a status line: %.60s", s->name, what,
		    s->reply);
	} else {
		fail(s, "%s: %s: %.100s", s->name, what, s->reply);
	}
	return 0;
}

/* One line of a multi-line body, dot-unstuffed: 1, or 0 at the final ".". */
static int
body_line(struct sess *s, char **line, size_t *len, int *ok)
{
	if (!get_crlf(s, line, len)) {
		fail(s, "%s: connection closed inside a multi-line answer",
		    s->name);
		*ok = 0;
		return 0;
	}
	if (*len > 0 && (*line)[0] == '.') {
		if (*len == 1) {
			return 0;
		}
		(*line)++;
		(*len)--;
	}
	return 1;
}

/* The server's memory at the end of a phase (not timed): VmHWM is its
 * own peak since execve; RssAnon is what it holds privately now. */
static void
sample_mem(struct sess *s)
{
	static const char *keys[4] = { "VmHWM:", "VmRSS:", "RssAnon:",
	    "RssFile:" };
	char	 path[64], line[128];
	FILE	*f;
	long	 v;
	int	 i;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)s->pid);
	if ((f = fopen(path, "r")) == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; i < 4; i++) {
			if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
				v = atol(line + strlen(keys[i]));
				if (v > s->mem[i]) {
					s->mem[i] = v;
				}
			}
		}
	}
	fclose(f);
}

static void
phase_begin(struct sess *s, const char *name)
{
	if (s->nph == MAX_PHASES) {
		die("too many phases");
	}
	s->ph[s->nph].name = name;
	s->ph[s->nph].start = since(s);
	s->pc0 = cpu_self();
	s->po0 = s->rbytes;
}

static void
phase_end(struct sess *s)
{
	struct phase	*p = &s->ph[s->nph++];

	p->end = since(s);
	p->ccpu = cpu_self() - s->pc0;
	p->octets = s->rbytes - s->po0;
	if (strcmp(p->name, "quit") != 0) {
		sample_mem(s);
	}
}

/* ---- checking a message against its original ---- */

struct verify {
	int		 top;		/* header and empty line only */
	const char	*o, *oend;	/* the original still to match */
	long		 orig;		/* -1 until Message-ID is seen */
	char		*pend;		/* lines before that, LF-ended */
	size_t		 npend;
	uint64_t	 octets;	/* as sent, CRLF, unstuffed */
	const char	*bad;
	int		 inheader;
};

static const char *
blob_of(long i)
{
	return blob + origs[i].off;
}

static void
verify_start(struct verify *v, int top)
{
	static char	*pend;

	if (pend == NULL) {
		pend = xmalloc(PEND_MAX);
	}
	memset(v, 0, sizeof(*v));
	v->top = top;
	v->orig = -1;
	v->pend = pend;
	v->inheader = 1;
}

/* Compare one received line with the original's next line. */
static void
verify_cmp(struct verify *v, const char *l, size_t n)
{
	if (v->bad != NULL) {
		return;
	}
	if (v->o == v->oend) {
		v->bad = "more lines than the original";
		return;
	}
	if ((size_t)(v->oend - v->o) < n || memcmp(v->o, l, n) != 0) {
		v->bad = "a line differs from the original";
		return;
	}
	v->o += n;
	if (v->o < v->oend) {
		if (*v->o != '\n') {
			v->bad = "a line differs from the original";
			return;
		}
		v->o++;
	}
}

static long
parse_msgid(const char *l, size_t n)
{
	char	 buf[128], *p, *end;
	long	 sd, seq;
	size_t	 k = sizeof(MSGID_TAG) - 1;

	if (n < k || n >= sizeof(buf) || strncasecmp(l, MSGID_TAG, k) != 0) {
		return -1;
	}
	memcpy(buf, l, n);
	buf[n] = '\0';
	p = buf + k;
	sd = strtol(p, &end, 10);
	if (end == p || *end != '-' || sd != seed) {
		return -2;
	}
	p = end + 1;
	seq = strtol(p, &end, 10);
	if (end == p || *end != '@' || seq < 0 || (size_t)seq >= norigs) {
		return -2;
	}
	return seq;
}

static void
verify_identify(struct verify *v, long seq)
{
	const char	*p, *q;
	size_t		 n;

	v->orig = seq;
	v->o = blob_of(seq);
	v->oend = v->o + origs[seq].len;
	if (v->top) {
		/* TOP n 0: the header section and the empty line after it. */
		for (p = v->o; p < v->oend; p = q + 1) {
			if ((q = memchr(p, '\n', (size_t)(v->oend - p))) == NULL) {
				break;
			}
			if (q == p) {
				v->oend = q + 1;
				break;
			}
		}
	}
	for (p = v->pend; p < v->pend + v->npend; p = q + 1) {
		q = memchr(p, '\n', (size_t)(v->pend + v->npend - p));
		n = (size_t)(q - p);
		verify_cmp(v, p, n);
	}
}

static void
verify_line(struct verify *v, const char *l, size_t n)
{
	long	seq;

	v->octets += n + 2;
	if (v->orig >= 0) {
		verify_cmp(v, l, n);
		return;
	}
	if (v->bad != NULL) {
		return;
	}
	if (n == 0) {
		v->bad = "no Message-ID in the header";
		return;
	}
	if (v->npend + n + 1 > PEND_MAX) {
		v->bad = "header too long";
		return;
	}
	memcpy(v->pend + v->npend, l, n);
	v->pend[v->npend + n] = '\n';
	v->npend += n + 1;
	if ((seq = parse_msgid(l, n)) >= 0) {
		verify_identify(v, seq);
	} else if (seq == -2) {
		v->bad = "a Message-ID of no generated message";
	}
}

static const char *
verify_end(struct verify *v)
{
	if (v->bad == NULL && v->orig < 0) {
		v->bad = "no Message-ID in the header";
	}
	if (v->bad == NULL && v->o != v->oend) {
		v->bad = "shorter than the original";
	}
	return v->bad;
}

/* ---- commands ---- */

struct listing {
	long		 n;
	unsigned long long *size;	/* LIST, by message number */
	char		**uidl;		/* UIDL, by message number */
	long		*orig;		/* RETR: the original it matched */
};

static void
listing_init(struct listing *ls, long n)
{
	long	i;

	ls->n = n;
	ls->size = xmalloc((size_t)(n + 1) * sizeof(*ls->size));
	ls->uidl = xmalloc((size_t)(n + 1) * sizeof(*ls->uidl));
	ls->orig = xmalloc((size_t)(n + 1) * sizeof(*ls->orig));
	for (i = 0; i <= n; i++) {
		ls->size[i] = 0;
		ls->uidl[i] = NULL;
		ls->orig[i] = -1;
	}
}

static int
do_stat(struct sess *s)
{
	long			n;
	unsigned long long	t;

	send_cmd(s, "STAT");
	if (status(s, "STAT") != 1) {
		return -1;
	}
	if (sscanf(s->reply, "+OK %ld %llu", &n, &t) != 2 || n < 0) {
		fail(s, "%s: STAT: cannot parse %.60s", s->name, s->reply);
		return -1;
	}
	s->nmsgs = n;
	s->total = t;
	return 0;
}

/* LIST or UIDL without argument into ls (sized from STAT). */
static void
do_listing(struct sess *s, const char *cmd, struct listing *ls)
{
	char		*line, *end, *p;
	size_t		 len;
	long		 i, seen = 0;
	int		 ok = 1;
	unsigned long long sum = 0;

	send_cmd(s, "%s", cmd);
	if (status(s, cmd) != 1) {
		return;
	}
	while (body_line(s, &line, &len, &ok)) {
		line[len] = '\0';
		i = strtol(line, &end, 10);
		if (end == line || *end != ' ' || i < 1 || i > ls->n) {
			fail(s, "%s: %s: bad line %.60s", s->name, cmd, line);
			continue;
		}
		p = end + 1;
		seen++;
		if (cmd[0] == 'L') {
			ls->size[i] = strtoull(p, NULL, 10);
			sum += ls->size[i];
		} else {
			free(ls->uidl[i]);
			ls->uidl[i] = strdup(p);
		}
	}
	if (ok && seen != ls->n) {
		fail(s, "%s: %s listed %ld of %ld messages", s->name, cmd, seen,
		    ls->n);
	}
	if (ok && cmd[0] == 'L' && sum != s->total) {
		fail(s, "%s: LIST sums to %llu, STAT said %llu", s->name, sum,
		    s->total);
	}
}

/* The answer to RETR i or TOP i 0, checked; ls->size (if known) must be
 * the octets received. */
static void
read_msg(struct sess *s, long i, int top, struct listing *ls)
{
	struct verify		 v;
	char			*line;
	size_t			 len;
	int			 ok = 1;
	unsigned long long	 said;
	const char		*why;

	if (status(s, top ? "TOP" : "RETR") != 1) {
		return;
	}
	verify_start(&v, top);
	while (body_line(s, &line, &len, &ok)) {
		verify_line(&v, line, len);
	}
	if (!ok) {
		return;
	}
	if ((why = verify_end(&v)) != NULL) {
		fail(s, "%s: %s %ld: %s", s->name, top ? "TOP" : "RETR", i,
		    why);
	}
	if (ls != NULL && v.orig >= 0) {
		ls->orig[i] = v.orig;
	}
	if (top) {
		return;
	}
	if (ls != NULL && ls->size[i] != 0 && ls->size[i] != v.octets) {
		fail(s, "%s: RETR %ld: LIST said %llu octets, %llu came",
		    s->name, i, ls->size[i], (unsigned long long)v.octets);
	}
	if (sscanf(s->reply, "+OK %llu octets", &said) == 1 &&
	    said != v.octets) {
		fail(s, "%s: RETR %ld: +OK said %llu octets, %llu came",
		    s->name, i, said, (unsigned long long)v.octets);
	}
}

/* RETR (or TOP i 0) of messages 1..n, one at a time or pipelined. */
static void
fetch_all(struct sess *s, int top, int pipelined, struct listing *ls)
{
	long	i;

	if (pipelined) {
		for (i = 1; i <= s->nmsgs; i++) {
			send_cmd(s, top ? "TOP %ld 0" : "RETR %ld", i);
		}
	}
	for (i = 1; i <= s->nmsgs; i++) {
		if (!pipelined) {
			send_cmd(s, top ? "TOP %ld 0" : "RETR %ld", i);
		}
		read_msg(s, i, top, ls);
		if (s->eof && s->rpos == s->rend) {
			break;
		}
	}
}

/* Every original appears once among the messages fetched. */
static void
check_origs(struct sess *s, struct listing *ls, long from, long to)
{
	char	*seen = calloc(norigs, 1);
	long	 i;

	if (seen == NULL) {
		die("out of memory");
	}
	for (i = 1; i <= ls->n; i++) {
		if (ls->orig[i] < 0) {
			continue;
		}
		if (seen[ls->orig[i]]++) {
			fail(s, "%s: message %ld is a second copy of original %ld",
			    s->name, i, ls->orig[i]);
		}
	}
	for (i = from; i < to; i++) {
		if (!seen[i]) {
			fail(s, "%s: original %ld was never sent", s->name, i);
		}
	}
	free(seen);
}

/* ---- sessions ---- */

/* Wait until the maildrop has been unchanged for over a second.  popa3d
 * sleeps a second when it opens a mailbox modified within the current
 * one (its change check relies on mtime), and Dovecot treats a Maildir
 * changed that recently as dirty: real mail seldom arrives that close to
 * a login, so no server is timed in that state.  Not timed. */
static void
settle(void)
{
	static const char *sub[] = { "", "/new", "/cur" };
	struct timespec	 now, d;
	struct stat	 st;
	char		 path[4096];
	double		 newest = 0, age;
	size_t		 i;

	if (opt.drop == NULL) {
		return;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", opt.drop, sub[i]);
		if (stat(path, &st) == 0 && st.st_mtim.tv_sec +
		    st.st_mtim.tv_nsec / 1e9 > newest) {
			newest = st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
		}
	}
	clock_gettime(CLOCK_REALTIME, &now);
	age = now.tv_sec + now.tv_nsec / 1e9 - newest;
	if (age < SETTLE_SECS) {
		age = SETTLE_SECS - age;
		d.tv_sec = (time_t)age;
		d.tv_nsec = (long)((age - (double)d.tv_sec) * 1e9);
		nanosleep(&d, NULL);
	}
}

/* Connect, read the greeting, log in (unless preauthenticated), STAT. */
static int
open_session(struct sess *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->fd = -1;
	settle();
	if (record_next != NULL) {
		if ((s->rec = fopen(record_next, "w")) == NULL) {
			die("%s: %s", record_next, strerror(errno));
		}
		record_next = NULL;
	}
	spawn(s);
	if (opt.greeting) {
		phase_begin(s, "greeting");
		if (status(s, "greeting") != 1) {
			phase_end(s);
			return -1;
		}
		phase_end(s);
	}
	if (opt.user != NULL) {
		phase_begin(s, "login");
		send_cmd(s, "USER %s", opt.user);
		if (status(s, "USER") != 1) {
			phase_end(s);
			return -1;
		}
		send_cmd(s, "PASS %s", opt.pass);
		if (status(s, "PASS") != 1) {
			phase_end(s);
			return -1;
		}
		phase_end(s);
	}
	phase_begin(s, "stat");
	if (do_stat(s) == -1) {
		phase_end(s);
		return -1;
	}
	phase_end(s);
	s->to_stat = since(s);
	return 0;
}

/* QUIT, then the server's exit. */
static void
close_session(struct sess *s)
{
	char	*line;
	size_t	 len;

	if (!s->eof) {
		phase_begin(s, "quit");
		send_cmd(s, "QUIT");
		status(s, "QUIT");
		phase_end(s);
	}
	while (get_line(s, &line, &len)) {
		fail(s, "%s: data after QUIT: %.40s", s->name, line);
	}
	close(s->fd);
	reap(s);
	if (s->rec != NULL) {
		fclose(s->rec);
		s->rec = NULL;
	}
	free(s->rb);
	free(s->wb);
	s->rb = s->wb = NULL;
	if (!WIFEXITED(s->status)) {
		fail(s, "%s: server ended by signal %d", s->name,
		    WTERMSIG(s->status));
	}
}

static void
json_str(const char *p)
{
	putchar('"');
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p);
		} else if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			printf("\\u%04x", (unsigned char)*p);
		} else {
			putchar(*p);
		}
	}
	putchar('"');
}

static double
tv(struct timeval t)
{
	return t.tv_sec + t.tv_usec / 1e6;
}

static void
print_session(struct sess *s, int comma)
{
	int	i;

	printf("  ");
	json_str(s->name);
	printf(": {\"to_stat\": %.6f, \"to_exit\": %.6f, \"nmsgs\": %ld, "
	    "\"octets\": %llu, \"received\": %llu,\n    \"phases\": {",
	    s->to_stat, s->to_exit, s->nmsgs, s->total,
	    (unsigned long long)s->rbytes);
	for (i = 0; i < s->nph; i++) {
		printf("%s\n      ", i > 0 ? "," : "");
		json_str(s->ph[i].name);
		printf(": {\"start\": %.6f, \"time\": %.6f, \"client_cpu\": %.6f, "
		    "\"octets\": %llu}", s->ph[i].start,
		    s->ph[i].end - s->ph[i].start, s->ph[i].ccpu,
		    (unsigned long long)s->ph[i].octets);
	}
	printf("},\n    \"server\": {\"utime\": %.6f, \"stime\": %.6f, "
	    "\"maxrss_kb\": %ld, \"exit\": %d, \"rchar\": %lld, \"wchar\": %lld, "
	    "\"read_bytes\": %lld, \"write_bytes\": %lld, "
	    "\"cancelled_write_bytes\": %lld, \"vmhwm_kb\": %ld, "
	    "\"vmrss_kb\": %ld, \"rssanon_kb\": %ld, \"rssfile_kb\": %ld},\n"
	    "    \"errors\": %d, \"error_list\": [",
	    tv(s->ru.ru_utime), tv(s->ru.ru_stime), s->ru.ru_maxrss,
	    WIFEXITED(s->status) ? WEXITSTATUS(s->status) : -1,
	    s->io[0], s->io[1], s->io[2], s->io[3], s->io[4], s->mem[0],
	    s->mem[1], s->mem[2], s->mem[3], s->nerrs);
	for (i = 0; i < s->nerrs && i < MAX_ERRS; i++) {
		printf("%s", i > 0 ? ", " : "");
		json_str(s->errs[i]);
	}
	printf("]}%s\n", comma ? "," : "");
}

static void
check_count(struct sess *s, long want)
{
	if (s->nmsgs != want) {
		fail(s, "%s: STAT says %ld messages, the maildrop has %ld",
		    s->name, s->nmsgs, want);
	}
}

static void
check_uidls(struct sess *s, struct listing *now, struct listing *then,
    long n, const char *what)
{
	long	i, bad = 0;

	for (i = 1; i <= n && i <= now->n && i <= then->n; i++) {
		if (now->uidl[i] == NULL || then->uidl[i] == NULL ||
		    strcmp(now->uidl[i], then->uidl[i]) != 0) {
			if (bad++ == 0) {
				fail(s, "%s: UIDL of message %ld changed %s",
				    s->name, i, what);
			}
		}
	}
	if (bad > 1) {
		fail(s, "%s: %ld UIDLs changed %s", s->name, bad, what);
	}
}

static int
strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* UIDLs unique within a listing (RFC 1939 7). */
static void
check_unique(struct sess *s, struct listing *ls)
{
	long	i, j;
	char	**v = xmalloc((size_t)(ls->n + 1) * sizeof(*v));

	for (i = 1, j = 0; i <= ls->n; i++) {
		if (ls->uidl[i] != NULL) {
			v[j++] = ls->uidl[i];
		}
	}
	qsort(v, (size_t)j, sizeof(*v), strcmp_ptr);
	for (i = 1; i < j; i++) {
		if (strcmp(v[i - 1], v[i]) == 0) {
			fail(s, "%s: UIDL %s is not unique", s->name, v[i]);
			break;
		}
	}
	free(v);
}

/* ---- the MDA step: new mail between two sessions ---- */

static void
copy_file(const char *from, const char *to)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out;

	if ((in = open(from, O_RDONLY)) == -1 ||
	    (out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
		die("copy %s to %s: %s", from, to, strerror(errno));
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			die("write %s: %s", to, strerror(errno));
		}
	}
	if (n == -1 || (opt.ouid != -1 && fchown(out, (uid_t)opt.ouid,
	    (gid_t)opt.ogid) == -1)) {
		die("copy %s: %s", from, strerror(errno));
	}
	close(in);
	close(out);
}

/* Append the extra messages as an MDA would: to the end of the mbox, or
 * through tmp/ into new/. */
static void
deliver(void)
{
	char	from[4096], tmp[4096], to[4096], buf[65536];
	ssize_t	n;
	size_t	i;
	int	in, out;

	if (strcmp(opt.format, "mbox") == 0) {
		if ((in = open(opt.append_src, O_RDONLY)) == -1 ||
		    (out = open(opt.drop, O_WRONLY | O_APPEND)) == -1) {
			die("append to %s: %s", opt.drop, strerror(errno));
		}
		while ((n = read(in, buf, sizeof(buf))) > 0) {
			if (write(out, buf, (size_t)n) != n) {
				die("append: %s", strerror(errno));
			}
		}
		close(in);
		close(out);
		return;
	}
	for (i = ninitial; i < norigs; i++) {
		snprintf(from, sizeof(from), "%s/%s", opt.append_src,
		    origs[i].name);
		snprintf(tmp, sizeof(tmp), "%s/tmp/%s", opt.drop, origs[i].name);
		snprintf(to, sizeof(to), "%s/new/%s", opt.drop, origs[i].name);
		copy_file(from, tmp);
		if (rename(tmp, to) == -1) {
			die("rename %s: %s", tmp, strerror(errno));
		}
	}
}

static long long
file_size(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- scenarios ---- */

/* Sessions on an empty maildrop: what connecting and logging in cost. */
static int
scenario_login(void)
{
	struct sess	s;
	int		i;

	printf("{\"label\": ");
	json_str(opt.label);
	printf(", \"scenario\": \"login\", \"sessions\": {\n");
	for (i = 0; i < opt.reps; i++) {
		char	name[32];

		snprintf(name, sizeof(name), "login%d", i);
		if (open_session(&s, strdup(name)) == 0) {
			check_count(&s, 0);
		}
		close_session(&s);
		print_session(&s, i + 1 < opt.reps);
	}
	printf("}, \"errors\": %d}\n", nerrors);
	return nerrors > 0;
}

/* The RETR session alone (pipelined unless --one-at-a-time): against a
 * server, or against `cat` of a recorded one, which is the client's own
 * ceiling. */
static int
scenario_replay(void)
{
	struct sess	s;
	struct listing	ls;

	printf("{\"label\": ");
	json_str(opt.label);
	printf(", \"scenario\": \"replay\", \"sessions\": {\n");
	if (open_session(&s, "retr_pipelined") == 0) {
		listing_init(&ls, s.nmsgs);
		phase_begin(&s, "retr");
		fetch_all(&s, 0, !opt.one, &ls);
		phase_end(&s);
	}
	close_session(&s);
	print_session(&s, 0);
	printf("}, \"errors\": %d}\n", nerrors);
	return nerrors > 0;
}

static int
scenario_full(void)
{
	struct sess	s;
	struct listing	l1, l2, l5, l6, l8;
	long		n0 = (long)ninitial, n6, i, j, kept;
	long long	before, after;
	char		*exp;

	printf("{\"label\": ");
	json_str(opt.label);
	printf(", \"scenario\": \"full\", \"sessions\": {\n");

	/* 1: the first open, and the listings. */
	if (open_session(&s, "first") == 0) {
		check_count(&s, n0);
		listing_init(&l1, s.nmsgs);
		phase_begin(&s, "list");
		do_listing(&s, "LIST", &l1);
		phase_end(&s);
		phase_begin(&s, "uidl");
		do_listing(&s, "UIDL", &l1);
		phase_end(&s);
		check_unique(&s, &l1);
	} else {
		listing_init(&l1, 0);
	}
	close_session(&s);
	print_session(&s, 1);

	/* 2: RETR of everything, one at a time. */
	listing_init(&l2, l1.n);
	memcpy(l2.size, l1.size, (size_t)(l1.n + 1) * sizeof(*l1.size));
	if (open_session(&s, "retr_one") == 0) {
		check_count(&s, n0);
		phase_begin(&s, "retr");
		fetch_all(&s, 0, 0, &l2);
		phase_end(&s);
		check_origs(&s, &l2, 0, n0);
	}
	close_session(&s);
	print_session(&s, 1);

	/* 3: the same, pipelined (recorded for the ceiling). */
	record_next = opt.record;
	if (open_session(&s, "retr_pipelined") == 0) {
		struct listing	l3;

		check_count(&s, n0);
		listing_init(&l3, l1.n);
		memcpy(l3.size, l1.size, (size_t)(l1.n + 1) * sizeof(*l1.size));
		phase_begin(&s, "retr");
		fetch_all(&s, 0, 1, &l3);
		phase_end(&s);
		check_origs(&s, &l3, 0, n0);
	}
	close_session(&s);
	print_session(&s, 1);

	/* 4: TOP n 0 of everything, pipelined. */
	if (open_session(&s, "top") == 0) {
		check_count(&s, n0);
		phase_begin(&s, "top");
		fetch_all(&s, 1, 1, NULL);
		phase_end(&s);
	}
	close_session(&s);
	print_session(&s, 1);

	/* 5: reopen, unchanged. */
	listing_init(&l5, l1.n);
	if (open_session(&s, "reopen") == 0) {
		check_count(&s, n0);
		phase_begin(&s, "uidl");
		do_listing(&s, "UIDL", &l5);
		phase_end(&s);
		check_uidls(&s, &l5, &l1, n0, "between sessions");
	}
	close_session(&s);
	print_session(&s, 1);

	/* 6: reopen after an MDA appended a few messages. */
	deliver();
	n6 = n0 + (long)nappended;
	listing_init(&l6, n6);
	if (open_session(&s, "reopen_appended") == 0) {
		check_count(&s, n6);
		phase_begin(&s, "uidl");
		do_listing(&s, "UIDL", &l6);
		phase_end(&s);
		phase_begin(&s, "list");
		do_listing(&s, "LIST", &l6);
		phase_end(&s);
		check_uidls(&s, &l6, &l1, n0, "after new mail came");
		check_unique(&s, &l6);
	}
	close_session(&s);
	print_session(&s, 1);

	/* 7: DELE of every other message (1, 3, 5...), then UPDATE. */
	before = strcmp(opt.format, "mbox") == 0 ? file_size(opt.drop) : -1;
	if (open_session(&s, "update") == 0) {
		check_count(&s, n6);
		phase_begin(&s, "dele");
		for (i = 1; i <= s.nmsgs; i += 2) {
			send_cmd(&s, "DELE %ld", i);
		}
		for (i = 1; i <= s.nmsgs; i += 2) {
			status(&s, "DELE");
		}
		phase_end(&s);
	}
	close_session(&s);
	after = strcmp(opt.format, "mbox") == 0 ? file_size(opt.drop) : -1;
	print_session(&s, 1);

	/* 8: what is left: the right messages, whole, with their UIDLs. */
	kept = n6 / 2;
	listing_init(&l8, kept);
	if (open_session(&s, "after_update") == 0) {
		check_count(&s, kept);
		phase_begin(&s, "uidl");
		do_listing(&s, "UIDL", &l8);
		phase_end(&s);
		phase_begin(&s, "list");
		do_listing(&s, "LIST", &l8);
		phase_end(&s);
		phase_begin(&s, "retr");
		fetch_all(&s, 0, 1, &l8);
		phase_end(&s);
		for (i = 1, j = 2; i <= l8.n && j <= n6; i++, j += 2) {
			if (l8.uidl[i] == NULL || l6.uidl[j] == NULL ||
			    strcmp(l8.uidl[i], l6.uidl[j]) != 0) {
				fail(&s, "after_update: message %ld is not "
				    "the old message %ld", i, j);
				break;
			}
		}
		/* Kept: the even ones; their originals from session 2. */
		exp = calloc(norigs, 1);
		for (j = 2; j <= n0 && exp != NULL; j += 2) {
			if (l2.orig[j] >= 0) {
				exp[l2.orig[j]] = 1;
			}
		}
		for (i = 1; i <= l8.n && exp != NULL; i++) {
			if (l8.orig[i] >= 0 && l8.orig[i] < n0 &&
			    !exp[l8.orig[i]]) {
				fail(&s, "after_update: message %ld (original "
				    "%ld) should be gone", i, l8.orig[i]);
				break;
			}
			if (l8.orig[i] >= 0) {
				exp[l8.orig[i]] = 0;
			}
		}
		for (j = 0; j < n0 && exp != NULL; j++) {
			if (exp[j]) {
				fail(&s, "after_update: original %ld was lost",
				    j);
				break;
			}
		}
		free(exp);
	}
	close_session(&s);
	print_session(&s, 0);
	printf("}, \"drop_size_before_update\": %lld, "
	    "\"drop_size_after_update\": %lld, \"errors\": %d}\n", before,
	    after, nerrors);
	return nerrors > 0;
}

/* ---- originals ---- */

static void
load(void)
{
	struct stat	 st;
	FILE		*f;
	char		 line[1024], name[512];
	unsigned long long seq, set, mo, ml, dof, dl, off, len;
	size_t		 cap = 0;
	int		 fd;

	if (opt.blob == NULL || opt.manifest == NULL) {
		die("--blob and --manifest are needed");
	}
	if ((fd = open(opt.blob, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		die("%s: %s", opt.blob, strerror(errno));
	}
	blob = mmap(NULL, (size_t)st.st_size + 1, PROT_READ, MAP_SHARED, fd, 0);
	if (blob == MAP_FAILED) {
		die("mmap %s: %s", opt.blob, strerror(errno));
	}
	close(fd);
	if ((f = fopen(opt.manifest, "r")) == NULL) {
		die("%s: %s", opt.manifest, strerror(errno));
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llu %llu %llu %llu %llu %llu %511s", &seq,
		    &set, &mo, &ml, &dof, &dl, name) != 7 || seq != norigs) {
			die("%s: bad line %zu", opt.manifest, norigs + 1);
		}
		off = strcmp(opt.format, "mbox") == 0 ? mo : dof;
		len = strcmp(opt.format, "mbox") == 0 ? ml : dl;
		if (off + len > (unsigned long long)st.st_size) {
			die("%s: line %zu is past the blob", opt.manifest,
			    norigs + 1);
		}
		if (norigs == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			origs = realloc(origs, cap * sizeof(*origs));
			if (origs == NULL) {
				die("out of memory");
			}
		}
		origs[norigs].off = off;
		origs[norigs].len = len;
		origs[norigs].appended = set != 0;
		origs[norigs].name = strdup(name);
		if (set != 0) {
			nappended++;
		} else {
			ninitial++;
		}
		norigs++;
	}
	fclose(f);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: popbench [options] -- SERVER [ARG]...\n"
"  --scenario=full|login|replay  what to run (full)\n"
"  --format=mbox|maildir         maildrop format (mbox)\n"
"  --drop=PATH                   the server's mbox file or Maildir\n"
"  --append-src=PATH             append.mbox or append.maildir/ of the data\n"
"  --blob=FILE --manifest=FILE   the originals (from gen.py)\n"
"  --seed=N                      the generator's seed\n"
"  --user=U --pass=P             log in with USER/PASS (else preauthenticated)\n"
"  --no-greeting                 the server sends no greeting\n"
"  --uid=N --gid=N               run the server as this user\n"
"  --owner=UID:GID               owner of the files delivered between sessions\n"
"  --env=K=V                     server environment (repeatable)\n"
"  --stderr=FILE                 the server's fd 2 (appended)\n"
"  --record=FILE                 save what the pipelined RETR session got\n"
"  --tcp                         an accepted loopback TCP socket, not a\n"
"                                socketpair, as the server's fd 0 and 1\n"
"  --reps=N                      sessions of the login scenario (5)\n"
"  --one-at-a-time               replay scenario: one RETR at a time\n"
"  --label=NAME                  name in the output\n");
	exit(2);
}

static const char *
arg(const char *a, const char *name)
{
	size_t	n = strlen(name);

	return strncmp(a, name, n) == 0 && a[n] == '=' ? a + n + 1 : NULL;
}

int
main(int argc, char **argv)
{
	const char	*v;
	int		 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if ((v = arg(argv[i], "--scenario")) != NULL) {
			opt.scenario = v;
		} else if ((v = arg(argv[i], "--format")) != NULL) {
			opt.format = v;
		} else if ((v = arg(argv[i], "--drop")) != NULL) {
			opt.drop = v;
		} else if ((v = arg(argv[i], "--append-src")) != NULL) {
			opt.append_src = v;
		} else if ((v = arg(argv[i], "--blob")) != NULL) {
			opt.blob = v;
		} else if ((v = arg(argv[i], "--manifest")) != NULL) {
			opt.manifest = v;
		} else if ((v = arg(argv[i], "--seed")) != NULL) {
			seed = atol(v);
		} else if ((v = arg(argv[i], "--user")) != NULL) {
			opt.user = v;
		} else if ((v = arg(argv[i], "--pass")) != NULL) {
			opt.pass = v;
		} else if (strcmp(argv[i], "--no-greeting") == 0) {
			opt.greeting = 0;
		} else if ((v = arg(argv[i], "--uid")) != NULL) {
			opt.uid = atoi(v);
		} else if ((v = arg(argv[i], "--gid")) != NULL) {
			opt.gid = atoi(v);
		} else if ((v = arg(argv[i], "--owner")) != NULL) {
			if (sscanf(v, "%d:%d", &opt.ouid, &opt.ogid) != 2) {
				usage();
			}
		} else if ((v = arg(argv[i], "--env")) != NULL) {
			if (opt.nenv == MAX_ENV) {
				die("too many --env");
			}
			opt.env[opt.nenv++] = (char *)(uintptr_t)v;
		} else if ((v = arg(argv[i], "--stderr")) != NULL) {
			opt.errfile = v;
		} else if ((v = arg(argv[i], "--record")) != NULL) {
			opt.record = v;
		} else if (strcmp(argv[i], "--tcp") == 0) {
			opt.tcp = 1;
		} else if ((v = arg(argv[i], "--reps")) != NULL) {
			opt.reps = atoi(v);
		} else if (strcmp(argv[i], "--one-at-a-time") == 0) {
			opt.one = 1;
		} else if ((v = arg(argv[i], "--label")) != NULL) {
			opt.label = v;
		} else {
			usage();
		}
	}
	if (i + 1 >= argc) {
		usage();
	}
	opt.argv = argv + i + 1;
	if (opt.user != NULL && opt.pass == NULL) {
		die("--user needs --pass");
	}
	spawner_start();
	if (strcmp(opt.scenario, "login") == 0) {
		return scenario_login();
	}
	load();
	if (strcmp(opt.scenario, "replay") == 0) {
		return scenario_replay();
	}
	if (strcmp(opt.scenario, "full") != 0 || opt.drop == NULL ||
	    opt.append_src == NULL) {
		usage();
	}
	return scenario_full();
}
