/* log.c: log lines to syslog (facility mail) or stderr, naming user and peer. */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "pop3d.h"

#define REMOTE_MAX	64

static void	log_emit(int, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static int	remote_from_socket(int);
static int	remote_from_env(void);

static enum log_dest	dest = LOG_TO_SYSLOG;
static char		remote[REMOTE_MAX] = "unknown";
static char		user[USER_MAX + 1];

void
log_init(enum log_dest d)
{
	dest = d;
	if (dest == LOG_TO_SYSLOG) {
		openlog(LOG_IDENT, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

/* The socket's peer, unless it is loopback and the launcher says who
 * the client is: stunnel's exec and local proxies connect over loopback,
 * and set REMOTE_HOST (stunnel, xinetd) or TCPREMOTEIP (tcpserver). */
void
log_find_remote(int fd)
{
	if (remote_from_socket(fd) == 0 && strncmp(remote, "127.", 4) != 0 &&
	    strcmp(remote, "::1") != 0 &&
	    strncmp(remote, "::ffff:127.", 11) != 0) {
		return;
	}
	if (remote_from_env() == -1 && strcmp(remote, "unknown") == 0) {
		(void)snprintf(remote, sizeof(remote), "%s", isatty(0) ?
		    "tty" : "local");
	}
}

static int
remote_from_socket(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	const void		*a;

	/* A short address leaves the rest as it was: make that zeros. */
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1) {
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	} else if (ss.ss_family == AF_INET6) {
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	} else {
		return -1;
	}
	if (inet_ntop(ss.ss_family, a, remote, sizeof(remote)) == NULL) {
		return -1;
	}
	return 0;
}

/* REMOTE_HOST or TCPREMOTEIP into remote; -1 if neither is set. */
static int
remote_from_env(void)
{
	static const char *const vars[] = { "REMOTE_HOST", "TCPREMOTEIP" };
	const char	*v;
	size_t		 i, j;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((v = getenv(vars[i])) == NULL || *v == '\0' ||
		    strlen(v) >= sizeof(remote)) {
			continue;
		}
		/* The environment is the launcher's, but keep the log clean. */
		for (j = 0; v[j] != '\0'; j++) {
			remote[j] = (char)((v[j] > 0x20 && v[j] < 0x7f) ? v[j] :
			    '?');
		}
		remote[j] = '\0';
		return 0;
	}
	return -1;
}

void
log_set_user(const char *u)
{
	size_t	i;

	user[0] = '\0';
	if (u == NULL) {
		return;
	}
	/* A user name comes from the client: keep it printable and short. */
	for (i = 0; i < USER_MAX && u[i] != '\0'; i++) {
		user[i] = (char)((u[i] > 0x20 && u[i] < 0x7f) ? u[i] : '?');
	}
	user[i] = '\0';
}

static void
log_emit(int pri, const char *suffix, const char *fmt, va_list ap)
{
	char	msg[1024];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (dest == LOG_TO_STDERR) {
		(void)fprintf(stderr, "pop3d[%ld]: %s%s%s remote=%s%s%s\n",
		    (long)getpid(), msg, suffix[0] ? ": " : "", suffix,
		    remote, user[0] ? " user=" : "", user);
		(void)fflush(stderr);
	} else {
		syslog(pri, "%s%s%s remote=%s%s%s", msg, suffix[0] ? ": " : "",
		    suffix, remote, user[0] ? " user=" : "", user);
	}
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, "", fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_ERR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}
