/* privsep.c: the split made when pop3d starts as root.  An unprivileged
 * child speaks to the client until login; the root monitor only checks the
 * (user, password) pairs the child sends, bounded as if they came from the
 * network, then becomes the user and carries on the session. */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

/* Child to monitor: CREDS, then on ATT_OK the unread input. */
struct ps_creds {
	uint16_t	ulen;
	uint16_t	plen;
	uint16_t	toolong;	/* the password was over PASS_MAX */
	char		user[USER_MAX];
	char		pass[PASS_MAX];
};

static int	ps_drop(const char *);
static int	ps_read(int, void *, size_t, int);
static int	ps_write(int, const void *, size_t);
static void	ps_finish(pid_t) __attribute__((noreturn));

static int
ps_write(int fd, const void *p, size_t n)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n octets within timeout seconds; -1 on EOF, error, time. */
static int
ps_read(int fd, void *p, size_t n, int timeout)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*s = p;
	ssize_t		 r;
	int		 ready;

	while (n > 0) {
		/* A timeout (0) leaves errno as it was: test it only on -1. */
		if ((ready = poll(&pfd, 1, timeout * 1000)) == -1 &&
		    errno == EINTR) {
			continue;
		}
		if (ready != 1) {
			return -1;
		}
		if ((r = read(fd, s, n)) == -1 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The child's new self: the unprivileged user, no way back, no processes
 * to start.  (No RLIMIT_FSIZE: --log=stderr may well be a file.) */
static int
ps_drop(const char *name)
{
	struct passwd	*pw;
	struct rlimit	 zero = { 0, 0 };

	if ((pw = getpwnam(name)) == NULL || pw->pw_uid == 0) {
		log_warnx("privsep user %s: %s", name, pw == NULL ?
		    "no such user (see INSTALL)" : "must not be root");
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_warn("privsep: switching to %s", name);
		return -1;
	}
	if (setuid(0) != -1 || getuid() != pw->pw_uid ||
	    geteuid() != pw->pw_uid) {
		log_warnx("privsep: root could be regained");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    setrlimit(RLIMIT_NPROC, &zero) == -1) {
		log_warn("privsep: limits");
		return -1;
	}
	return 0;
}

pid_t
privsep_fork(const char *user, int *sock)
{
	int	sv[2];
	pid_t	pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		fatal("socketpair");
	}
	if ((pid = fork()) == -1) {
		fatal("fork");
	}
	if (pid == 0) {
		close(sv[0]);
		if (ps_drop(user) == -1) {
			io_puts("-ERR [SYS/TEMP] Service unavailable\r\n");
			(void)io_flush();
			exit(1);
		}
		*sock = sv[1];
		return 0;
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

enum attempt
privsep_ask(int sock, const char *user, const char *pass)
{
	struct ps_creds	c;
	unsigned char	verdict;
	size_t		ulen = strlen(user), plen = strlen(pass);

	memset(&c, 0, sizeof(c));
	if (ulen > sizeof(c.user)) {
		ulen = plen = 0;	/* costs the same; fails as unknown */
	}
	if (plen > sizeof(c.pass)) {
		c.toolong = 1;
		plen = 0;
	}
	c.ulen = (uint16_t)ulen;
	c.plen = (uint16_t)plen;
	memcpy(c.user, user, ulen);
	memcpy(c.pass, pass, plen);
	/* The monitor takes its time on failures: wait as long as it may. */
	if (ps_write(sock, &c, sizeof(c)) == -1 ||
	    ps_read(sock, &verdict, 1, MAX_TIMEOUT) == -1) {
		verdict = ATT_TEMP;
	}
	sodium_memzero(&c, sizeof(c));
	return verdict <= ATT_TEMP ? (enum attempt)verdict : ATT_TEMP;
}

void
privsep_handoff(int sock)
{
	char		buf[IO_INBUF];
	uint16_t	n;
	uint64_t	sent;

	/* Pipelined commands after PASS are the monitor's to answer. */
	n = (uint16_t)io_take_input(buf, sizeof(buf));
	if (io_flush() == -1) {
		exit(1);
	}
	sent = io_sent();
	if (ps_write(sock, &sent, sizeof(sent)) == -1 ||
	    ps_write(sock, &n, sizeof(n)) == -1 ||
	    ps_write(sock, buf, n) == -1) {
		exit(1);
	}
	exit(0);
}

/* The child ended the session before any login: end as it did. */
static void
ps_finish(pid_t child)
{
	int	status;

	while (waitpid(child, &status, 0) == -1 && errno == EINTR) {
		continue;
	}
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

void
privsep_monitor(int sock, pid_t child, int timeout, struct auth_user *au)
{
	struct ps_creds	c;
	char		buf[IO_INBUF];
	char		user[USER_MAX + 1], pass[PASS_MAX + 2];
	unsigned char	verdict;
	uint16_t	n;
	uint64_t	sent;
	int		failures = 0;

	/* A child that sends nothing for longer than any client may idle
	 * through all its tries is gone or broken. */
	timeout = timeout * (AUTH_FAIL_MAX + 1) + 1;
	for (;;) {
		if (ps_read(sock, &c, sizeof(c), timeout) == -1) {
			ps_finish(child);
		}
		if (c.ulen > USER_MAX || c.plen > PASS_MAX) {
			log_warnx("privsep: malformed request from the child");
			kill(child, SIGKILL);
			ps_finish(child);
		}
		memcpy(user, c.user, c.ulen);
		user[c.ulen] = '\0';
		memcpy(pass, c.pass, c.plen);
		pass[c.plen] = '\0';
		if (c.toolong) {
			/* Any over-long password: auth_check refuses it. */
			memset(pass, 'x', PASS_MAX + 1);
			pass[PASS_MAX + 1] = '\0';
		}
		sodium_memzero(&c, sizeof(c));
		verdict = (unsigned char)login_attempt(user, pass, au,
		    &failures);
		sodium_memzero(pass, sizeof(pass));
		if (ps_write(sock, &verdict, 1) == -1) {
			ps_finish(child);
		}
		if (verdict == ATT_OK) {
			break;
		}
	}
	if (ps_read(sock, &sent, sizeof(sent), timeout) == -1 ||
	    ps_read(sock, &n, sizeof(n), timeout) == -1 || n > sizeof(buf) ||
	    ps_read(sock, buf, n, timeout) == -1) {
		log_warnx("privsep: the child did not hand over");
		exit(1);
	}
	io_give_input(buf, n);
	io_add_sent(sent);
	close(sock);
	while (waitpid(child, NULL, 0) == -1 && errno == EINTR) {
		continue;
	}
}
