/* pop3d.c: main, options, the order of privileges, and the POP3 session:
 * one command table per state and one loop that reads and answers. */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "pop3d.h"

#define MAX_ARGS	2

enum state { ST_AUTH, ST_TRANS };
/* What a handler tells the loop: go on, or end the session how. */
enum next { NX_GO, NX_QUIT, NX_DROP, NX_HANDOFF };

struct session;

struct cmd {
	const char	*name;
	enum next	(*fn)(struct session *, int, char **, char *);
	int		 minargs;
	int		 maxargs;
};

struct session {
	enum state	 state;
	char		 user[USER_MAX + 1];
	int		 have_user;
	int		 plaintext_ok;
	int		 failures;
	int		 ps_sock;	/* privsep child: its monitor, else -1 */
	struct maildrop	 md;
	const char	*how;		/* how the session ended, for the log */
};

struct options {
	const char	*passwd;
	const char	*maildrop;
	int		 timeout;
	int		 login_timeout;
	int		 allow_plaintext;
	unsigned long	 fail_delay;
	unsigned long	 auth_floor;	/* AUTH_FLOOR_MS; tests/fuzz sets 0 */
	enum log_dest	 log;
	int		 hash;
	unsigned long long hash_ops;
	size_t		 hash_mem;
	int		 check;
	const char	*privsep_user;
};

static void	usage(FILE *);
static void	startup_error(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static unsigned long num_option(const char *, const char *, unsigned long,
		    unsigned long);
static void	parse_options(int, char **);
static int	plaintext_allowed(void);
static void	session_run(struct session *);
static const struct cmd *lookup(const struct cmd *, const char *);
static int	split(char *, char **, int, char **);
static enum next dispatch(struct session *, char *);
static enum next login(struct session *, const char *, const char *);
static void	serve_root(struct session *);
static void	greet_and_run(struct session *);
static int	ended_with(const struct session *, const char *);
static enum next open_maildrop(struct session *, struct auth_user *);
static struct msg *msg_arg(struct session *, const char *);
static void	reply_md_error(enum md_status);
static enum next c_capa(struct session *, int, char **, char *);
static enum next c_quit(struct session *, int, char **, char *);
static enum next c_user(struct session *, int, char **, char *);
static enum next c_pass(struct session *, int, char **, char *);
static enum next c_auth(struct session *, int, char **, char *);
static enum next c_apop(struct session *, int, char **, char *);
static enum next c_utf8(struct session *, int, char **, char *);
static enum next c_stat(struct session *, int, char **, char *);
static enum next c_list(struct session *, int, char **, char *);
static enum next c_uidl(struct session *, int, char **, char *);
static enum next c_retr(struct session *, int, char **, char *);
static enum next c_top(struct session *, int, char **, char *);
static enum next c_dele(struct session *, int, char **, char *);
static enum next c_noop(struct session *, int, char **, char *);
static enum next c_rset(struct session *, int, char **, char *);
static enum next send_msg(struct session *, struct msg *, long);
static enum next list_all(struct session *, int);
static int	plain_decode(const char *, char *, size_t, char *, size_t);
static size_t	count_marked(const struct maildrop *, int);
static long	peak_kib(void);

static struct options opt = {
	DEF_PASSWD_FILE, DEF_MAILDROP, DEF_TIMEOUT, DEF_LOGIN_TIMEOUT, 0,
	AUTH_FAIL_DELAY_MS, AUTH_FLOOR_MS, LOG_TO_SYSLOG, 0, 0, 0, 0,
	PRIVSEP_USER
};

/* RFC 1939 4 and RFC 2449 5: what each state accepts. */
static const struct cmd auth_cmds[] = {
	{ "USER", c_user, 1, 1 },
	{ "PASS", c_pass, 0, -1 },
	{ "AUTH", c_auth, 0, 2 },
	{ "APOP", c_apop, 0, -1 },
	{ "CAPA", c_capa, 0, 0 },
	{ "UTF8", c_utf8, 0, 0 },
	{ "QUIT", c_quit, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static const struct cmd trans_cmds[] = {
	{ "STAT", c_stat, 0, 0 },
	{ "LIST", c_list, 0, 1 },
	{ "UIDL", c_uidl, 0, 1 },
	{ "RETR", c_retr, 1, 1 },
	{ "TOP", c_top, 2, 2 },
	{ "DELE", c_dele, 1, 1 },
	{ "NOOP", c_noop, 0, 0 },
	{ "RSET", c_rset, 0, 0 },
	{ "CAPA", c_capa, 0, 0 },
	{ "QUIT", c_quit, 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: pop3d [OPTION]...  serve one POP3 session on stdin/stdout\n"
"  -f, --passwd=FILE        password file (default %s)\n"
"  -m, --maildrop=LOC       default maildrop (default %s)\n"
"  -t, --timeout=SECS       idle timeout after login (default %d)\n"
"      --login-timeout=SECS idle timeout before login (default %d)\n"
"      --allow-plaintext    accept passwords on any connection\n"
"      --fail-delay=MS      delay before a failed login is answered (%d)\n"
"      --log=syslog|stderr  where log lines go (default syslog)\n"
"      --hash               read a password on stdin, print its hash\n"
"      --hash-ops=N         Argon2id passes for --hash\n"
"      --hash-mem=KIB       Argon2id memory for --hash\n"
"      --check              check the password file and maildrops\n"
"      --lock-group=GROUP   group allowed to make lock files in the spool\n"
"      --privsep-user=USER  run the pre-login dialogue as USER when root\n"
"                           (default %s)\n"
"  -V, --version            print the version\n"
"  -h, --help               print this help\n",
	    DEF_PASSWD_FILE, DEF_MAILDROP, DEF_TIMEOUT, DEF_LOGIN_TIMEOUT,
	    AUTH_FAIL_DELAY_MS, PRIVSEP_USER);
}

/* An error before any session: on a terminal, say it there; otherwise
 * fd 2 may be the client's connection (inetd), so tell syslog. */
static void
startup_error(const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (isatty(2)) {
		(void)fprintf(stderr, "pop3d: %s\n", msg);
	} else {
		openlog(LOG_IDENT, LOG_PID, LOG_MAIL);
		syslog(LOG_ERR, "%s", msg);
	}
	exit(2);
}

static unsigned long
num_option(const char *name, const char *s, unsigned long min,
    unsigned long max)
{
	unsigned long	v;

	if (parse_ulong(s, min, max, &v) == -1) {
		startup_error("%s: not a number from %lu to %lu: %.64s", name,
		    min, max, s);
	}
	return v;
}

static void
parse_options(int argc, char **argv)
{
	enum { O_LOGIN = 256, O_PLAIN, O_LOG, O_HASH, O_OPS, O_MEM, O_CHECK,
	    O_DELAY, O_PRIVSEP, O_LOCKGROUP };
	static const struct option longopts[] = {
		{ "passwd", required_argument, NULL, 'f' },
		{ "maildrop", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "login-timeout", required_argument, NULL, O_LOGIN },
		{ "allow-plaintext", no_argument, NULL, O_PLAIN },
		{ "fail-delay", required_argument, NULL, O_DELAY },
		{ "log", required_argument, NULL, O_LOG },
		{ "hash", no_argument, NULL, O_HASH },
		{ "hash-ops", required_argument, NULL, O_OPS },
		{ "hash-mem", required_argument, NULL, O_MEM },
		{ "check", no_argument, NULL, O_CHECK },
		{ "privsep-user", required_argument, NULL, O_PRIVSEP },
		{ "lock-group", required_argument, NULL, O_LOCKGROUP },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct group	*gr;
	int		 c;

	opterr = 0;		/* getopt would write to fd 2 */
	while ((c = getopt_long(argc, argv, "f:m:t:Vh", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'f':
			opt.passwd = optarg;
			break;
		case 'm':
			opt.maildrop = optarg;
			break;
		case 't':
			opt.timeout = (int)num_option("--timeout", optarg,
			    MIN_TIMEOUT, MAX_TIMEOUT);
			break;
		case O_LOGIN:
			opt.login_timeout = (int)num_option("--login-timeout",
			    optarg, MIN_TIMEOUT, MAX_TIMEOUT);
			break;
		case O_PLAIN:
			opt.allow_plaintext = 1;
			break;
		case O_DELAY:
			opt.fail_delay = num_option("--fail-delay", optarg, 0,
			    AUTH_FAIL_DELAY_MAX_MS);
			break;
		case O_LOG:
			if (strcmp(optarg, "syslog") == 0) {
				opt.log = LOG_TO_SYSLOG;
			} else if (strcmp(optarg, "stderr") == 0) {
				opt.log = LOG_TO_STDERR;
			} else {
				startup_error("--log: syslog or stderr, not "
				    "%.64s", optarg);
			}
			break;
		case O_HASH:
			opt.hash = 1;
			break;
		case O_OPS:
			opt.hash_ops = num_option("--hash-ops", optarg,
			    crypto_pwhash_OPSLIMIT_MIN,
			    crypto_pwhash_OPSLIMIT_MAX);
			break;
		case O_MEM:
			opt.hash_mem = num_option("--hash-mem", optarg,
			    HASH_MEM_MIN_KIB, HASH_MEM_MAX_KIB);
			break;
		case O_CHECK:
			opt.check = 1;
			break;
		case O_PRIVSEP:
			opt.privsep_user = optarg;
			break;
		case O_LOCKGROUP:
			if ((gr = getgrnam(optarg)) == NULL) {
				startup_error("--lock-group: no group %.64s",
				    optarg);
			}
			auth_set_lock_group(gr->gr_gid);
			break;
		case 'V':
			printf("%s\n", POP3D_IMPLEMENTATION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			startup_error("unknown option or missing argument: "
			    "%.64s (see pop3d --help)", argv[optind - 1]);
		}
	}
	if (optind != argc) {
		startup_error("unexpected argument: %.64s", argv[optind]);
	}
}

/* Passwords may cross loopback, a pipe or a socketpair (stunnel exec),
 * which no one else sees; any other network needs --allow-plaintext. */
static int
plaintext_allowed(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	const unsigned char	*a;

	if (opt.allow_plaintext) {
		return 1;
	}
	/* A short address leaves the rest as it was: make that zeros. */
	memset(&ss, 0, sizeof(ss));
	if (getpeername(0, (struct sockaddr *)&ss, &len) == -1) {
		return errno == ENOTSOCK || errno == ENOTCONN;
	}
	if (ss.ss_family == AF_INET) {
		a = (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
		return a[0] == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a6)) {
			return 1;
		}
		return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
	}
	return 1;			/* AF_UNIX and the like */
}

int
main(int argc, char **argv)
{
	struct session	s;
	int		one = 1;

	(void)signal(SIGPIPE, SIG_IGN);
	/* No core file may hold a password or a hash. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
	parse_options(argc, argv);
	if (sodium_init() < 0) {
		startup_error("libsodium failed to start");
	}
	if (opt.hash) {
		return auth_hash_main(opt.hash_ops, opt.hash_mem * HASH_MEM_UNIT);
	}
	if (opt.check) {
		return auth_check_file(opt.passwd, opt.maildrop) == 0 ? 0 : 1;
	}
	log_init(opt.log);
	log_find_remote(0);
	/* Replies are written whole: Nagle would hold a reply's last segment
	 * back for the client's delayed ACK (75 times slower RETR one by one
	 * in bench/).  Not a TCP socket: nothing to do. */
	(void)setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&s, 0, sizeof(s));
	s.md.fd = s.md.lockfd = -1;
	s.ps_sock = -1;
	s.plaintext_ok = plaintext_allowed();
	io_init(0, 1);
	if (geteuid() == 0) {
		serve_root(&s);
	} else {
		greet_and_run(&s);
	}
	return ended_with(&s, "quit") ? 0 : 1;
}

static int
ended_with(const struct session *s, const char *how)
{
	return s->how != NULL && strcmp(s->how, how) == 0;
}

/* RFC 1939 4: the greeting, without an APOP timestamp, then the dialogue. */
static void
greet_and_run(struct session *s)
{
	io_puts("+OK " POP3D_IMPLEMENTATION " ready\r\n");
	session_run(s);
}

/* As root: the dialogue up to login runs in an unprivileged child; this
 * process only verifies passwords, then becomes the user and serves. */
static void
serve_root(struct session *s)
{
	struct auth_user	au;
	pid_t			child;

	if ((child = privsep_fork(opt.privsep_user, &s->ps_sock)) == 0) {
		greet_and_run(s);
		if (ended_with(s, "handoff")) {
			privsep_handoff(s->ps_sock);
		}
		exit(ended_with(s, "quit") ? 0 : 1);
	}
	memset(&au, 0, sizeof(au));
	privsep_monitor(s->ps_sock, child, opt.login_timeout, &au);
	s->ps_sock = -1;
	if (open_maildrop(s, &au) == NX_GO) {
		session_run(s);
	} else {
		(void)io_flush();
		log_info("session end: %s, sent %llu octets", s->how,
		    (unsigned long long)io_sent());
	}
	auth_user_free(&au);
}

/* ---- the session loop ---- */

static void
session_run(struct session *s)
{
	char	line[CMD_LINE_MAX + 1];
	int	n;
	enum next nx = NX_GO;

	while (nx == NX_GO) {
		n = io_getline(line, sizeof(line), CMD_LINE_MAX,
		    s->state == ST_AUTH ? opt.login_timeout : opt.timeout);
		if (n == IO_TOOLONG) {
			io_puts("-ERR Line too long\r\n");
		} else if (n == IO_NUL) {
			io_puts("-ERR Invalid character in command\r\n");
		} else if (n == IO_TIMEOUT) {
			io_puts("-ERR Autologout: idle for too long\r\n");
			s->how = "timeout";
			break;
		} else if (n < 0) {
			s->how = n == IO_EOF ? "disconnect" : "io-error";
			break;
		} else {
			nx = dispatch(s, line);
			sodium_memzero(line, sizeof(line));
		}
	}
	if (io_flush() == -1 && s->how == NULL) {
		s->how = "io-error";
	}
	if (nx == NX_HANDOFF) {
		return;			/* the monitor carries on */
	}
	if (s->state == ST_TRANS) {
		log_info("session end: %s, retrieved %zu, deleted %zu, "
		    "sent %llu octets, peak %ld KiB", s->how,
		    count_marked(&s->md, 0),
		    nx == NX_QUIT ? count_marked(&s->md, 1) : 0,
		    (unsigned long long)io_sent(), peak_kib());
		maildrop_close(&s->md);
	} else {
		log_info("session end: %s before login, sent %llu octets, "
		    "peak %ld KiB", s->how != NULL ? s->how : "closed",
		    (unsigned long long)io_sent(), peak_kib());
	}
}

/* This process's peak resident memory, for the session-end line. */
static long
peak_kib(void)
{
	struct rusage	ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Messages retrieved (deleted 0) or marked deleted (deleted 1). */
static size_t
count_marked(const struct maildrop *md, int deleted)
{
	size_t	i, n = 0;

	for (i = 0; i < md->nmsgs; i++) {
		n += deleted ? md->msgs[i].deleted : md->msgs[i].retrieved;
	}
	return n;
}

static const struct cmd *
lookup(const struct cmd *tab, const char *name)
{
	for (; tab->name != NULL; tab++) {
		if (strcasecmp(tab->name, name) == 0) {
			return tab;
		}
	}
	return NULL;
}

/* Split line into a keyword and arguments at spaces; *rest is the text
 * after the keyword (PASS takes it whole).  Number of arguments, or -1
 * for too many. */
static int
split(char *line, char **argv, int max, char **rest)
{
	char	*p = line;
	int	 n = 0;

	while (*p != '\0' && *p != ' ') {
		p++;
	}
	*rest = *p == ' ' ? p + 1 : p;
	while (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ') {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		if (n == max) {
			return -1;
		}
		argv[n++] = p;
		while (*p != '\0' && *p != ' ') {
			p++;
		}
	}
	return n;
}

static enum next
dispatch(struct session *s, char *line)
{
	char		 copy[CMD_LINE_MAX + 1], *argv[MAX_ARGS], *rest;
	const struct cmd *c;
	int		 argc;
	enum next	 nx;

	/* PASS wants the raw text after the keyword; keep it apart. */
	memcpy(copy, line, sizeof(copy));
	argc = split(line, argv, MAX_ARGS, &rest);
	rest = copy + (rest - line);
	c = lookup(s->state == ST_AUTH ? auth_cmds : trans_cmds, line);
	if (c == NULL) {
		io_puts(lookup(s->state == ST_AUTH ? trans_cmds : auth_cmds,
		    line) != NULL ? "-ERR Not valid in this state\r\n" :
		    "-ERR Unknown command\r\n");
		sodium_memzero(copy, sizeof(copy));
		return NX_GO;
	}
	if (c->maxargs >= 0 && (argc == -1 || argc < c->minargs ||
	    argc > c->maxargs)) {
		io_puts("-ERR Wrong number of arguments\r\n");
		sodium_memzero(copy, sizeof(copy));
		return NX_GO;
	}
	nx = c->fn(s, argc, argv, rest);
	sodium_memzero(copy, sizeof(copy));
	return nx;
}

/* ---- AUTHORIZATION ---- */

static enum next
c_capa(struct session *s, int argc, char **argv, char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	io_puts("+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "EXPIRE NEVER\r\nUTF8\r\n");
	if (s->plaintext_ok) {
		io_puts("USER\r\nSASL PLAIN\r\n");
	}
	io_puts("IMPLEMENTATION " POP3D_IMPLEMENTATION "\r\n.\r\n");
	return NX_GO;
}

static enum next
c_quit(struct session *s, int argc, char **argv, char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	s->how = "quit";
	if (s->state == ST_AUTH) {
		io_puts("+OK Bye\r\n");
		return NX_QUIT;
	}
	/* RFC 1939 6: the UPDATE state, and only from here. */
	if (maildrop_update(&s->md) != MD_OK) {
		s->how = "update-failed";
		io_puts("-ERR [SYS/TEMP] Could not remove deleted messages; "
		    "nothing was lost, try again later\r\n");
		return NX_DROP;
	}
	io_puts("+OK Bye\r\n");
	return NX_QUIT;
}

static enum next
c_apop(struct session *s, int argc, char **argv, char *rest)
{
	(void)s;
	(void)argc;
	(void)argv;
	(void)rest;
	io_puts("-ERR APOP is not supported\r\n");
	return NX_GO;
}

/* RFC 6856 2: the client will speak UTF-8; names are bytes to us anyway. */
static enum next
c_utf8(struct session *s, int argc, char **argv, char *rest)
{
	(void)s;
	(void)argc;
	(void)argv;
	(void)rest;
	io_puts("+OK UTF8 enabled\r\n");
	return NX_GO;
}

static enum next
c_user(struct session *s, int argc, char **argv, char *rest)
{
	size_t	len = strlen(argv[0]);

	(void)argc;
	(void)rest;
	s->have_user = 0;
	if (!s->plaintext_ok) {
		io_puts("-ERR [AUTH] Plaintext authentication disallowed on "
		    "this connection\r\n");
		return NX_GO;
	}
	if (len > USER_MAX) {
		io_puts("-ERR [AUTH] User name too long\r\n");
		return NX_GO;
	}
	memcpy(s->user, argv[0], len + 1);
	s->have_user = 1;
	io_puts("+OK\r\n");
	return NX_GO;
}

static enum next
c_pass(struct session *s, int argc, char **argv, char *rest)
{
	(void)argc;
	(void)argv;
	if (!s->have_user) {
		io_puts("-ERR USER first\r\n");
		return NX_GO;
	}
	s->have_user = 0;
	return login(s, s->user, rest);
}

/* RFC 4616: authzid NUL authcid NUL passwd, base64-encoded. */
static int
plain_decode(const char *b64, char *user, size_t usize, char *pass, size_t psize)
{
	unsigned char	 buf[AUTH_LINE_MAX];
	size_t		 n, ulen, plen;
	const char	*authz, *authc, *pw;
	int		 r = -1;

	if (sodium_base642bin(buf, sizeof(buf) - 1, b64, strlen(b64), NULL, &n,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		return -1;
	}
	buf[n] = '\0';
	authz = (const char *)buf;
	authc = memchr(buf, '\0', n) != NULL ? authz + strlen(authz) + 1 : NULL;
	if (authc != NULL && (size_t)(authc - authz) < n) {
		pw = authc + strlen(authc) + 1;
		ulen = strlen(authc);
		if ((size_t)(pw - authz) <= n) {
			plen = n - (size_t)(pw - authz);
			if (ulen > 0 && ulen < usize && plen < psize &&
			    memchr(pw, '\0', plen) == NULL &&
			    (*authz == '\0' || strcmp(authz, authc) == 0)) {
				memcpy(user, authc, ulen + 1);
				memcpy(pass, pw, plen);
				pass[plen] = '\0';
				r = 0;
			}
		}
	}
	sodium_memzero(buf, sizeof(buf));
	return r;
}

static enum next
c_auth(struct session *s, int argc, char **argv, char *rest)
{
	char		line[AUTH_LINE_MAX + 1];
	char		user[USER_MAX + 1], pass[PASS_MAX + 2];
	const char	*resp;
	enum next	nx;
	int		n;

	(void)rest;
	if (!s->plaintext_ok) {
		io_puts("-ERR [AUTH] Plaintext authentication disallowed on "
		    "this connection\r\n");
		return NX_GO;
	}
	if (argc == 0) {
		io_puts("+OK\r\nPLAIN\r\n.\r\n");
		return NX_GO;
	}
	if (strcasecmp(argv[0], "PLAIN") != 0) {
		io_puts("-ERR Unsupported mechanism\r\n");
		return NX_GO;
	}
	if (argc == 2) {
		resp = strcmp(argv[1], "=") == 0 ? "" : argv[1];
	} else {
		io_puts("+ \r\n");
		n = io_getline(line, sizeof(line), AUTH_LINE_MAX,
		    opt.login_timeout);
		if (n < 0 && n != IO_TOOLONG && n != IO_NUL) {
			s->how = n == IO_TIMEOUT ? "timeout" : "disconnect";
			return NX_DROP;
		}
		if (n >= 0 && strcmp(line, "*") == 0) {
			io_puts("-ERR Authentication cancelled\r\n");
			return NX_GO;
		}
		resp = n >= 0 ? line : "!";
	}
	if (plain_decode(resp, user, sizeof(user), pass,
	    sizeof(pass)) == -1) {
		/* Fail as an unknown user would: same work, same wait. */
		log_info("malformed AUTH PLAIN response");
		user[0] = pass[0] = '\0';
	}
	sodium_memzero(line, sizeof(line));
	nx = login(s, user, pass);
	sodium_memzero(pass, sizeof(pass));
	return nx;
}

enum attempt
login_attempt(const char *user, const char *pass, struct auth_user *au,
    int *failures)
{
	enum auth_verdict	v;
	uint64_t		t0 = now_ms(), now, wait;

	memset(au, 0, sizeof(*au));
	v = auth_check(opt.passwd, user, pass, au);
	log_set_user(user);
	if (v == AUTH_TEMP) {
		log_warnx("login failed: password file unusable");
		return ATT_TEMP;
	}
	if (v == AUTH_OK) {
		return ATT_OK;	/* success tells itself: no need to hide it */
	}
	log_info("login failed: %s", au->why != NULL ? au->why : "refused");
	log_set_user(NULL);
	/* The same wait whatever failed, counted from the attempt's start,
	 * and never less than the floor, even with --fail-delay=0. */
	now = now_ms();
	wait = opt.fail_delay > opt.auth_floor ? opt.fail_delay : opt.auth_floor;
	if (now < t0 + wait) {
		sleep_ms((unsigned long)(t0 + wait - now));
	}
	return ++*failures >= AUTH_FAIL_MAX ? ATT_LAST : ATT_FAIL;
}

static enum next
login(struct session *s, const char *user, const char *pass)
{
	struct auth_user	au;
	enum attempt		a;
	enum next		nx;

	if (s->ps_sock != -1) {
		a = privsep_ask(s->ps_sock, user, pass);
	} else {
		a = login_attempt(user, pass, &au, &s->failures);
	}
	switch (a) {
	case ATT_TEMP:
		io_puts("-ERR [SYS/TEMP] Authentication unavailable\r\n");
		s->how = "authentication unavailable";
		return NX_DROP;
	case ATT_LAST:
		io_puts("-ERR [AUTH] Authentication failed; closing\r\n");
		s->how = "too many failed logins";
		return NX_DROP;
	case ATT_FAIL:
		io_puts("-ERR [AUTH] Authentication failed\r\n");
		return NX_GO;
	default:
		break;
	}
	if (s->ps_sock != -1) {
		s->how = "handoff";
		return NX_HANDOFF;
	}
	nx = open_maildrop(s, &au);
	auth_user_free(&au);
	return nx;
}

static void
reply_md_error(enum md_status st)
{
	switch (st) {
	case MD_INUSE:
		io_puts("-ERR [IN-USE] Maildrop is in use by another "
		    "session\r\n");
		break;
	case MD_TEMP:
		io_puts("-ERR [SYS/TEMP] Maildrop temporarily unavailable\r\n");
		break;
	default:
		io_puts("-ERR [SYS/PERM] Maildrop unavailable\r\n");
		break;
	}
}

/* Past the password: become the user for good, then open the maildrop. */
static enum next
open_maildrop(struct session *s, struct auth_user *au)
{
	const struct backend	*be;
	const char		*err = NULL;
	char			*path;
	enum md_status		 st;

	if (auth_become(au) == -1) {
		io_puts("-ERR [SYS/PERM] Maildrop unavailable\r\n");
		s->how = "no usable uid";
		return NX_DROP;
	}
	path = maildrop_expand(au->mail != NULL ? au->mail : opt.maildrop,
	    au->user, au->home, &be, &err);
	if (path == NULL) {
		log_warnx("login: bad maildrop location: %s", err);
		io_puts("-ERR [SYS/PERM] Maildrop unavailable\r\n");
		s->how = "bad maildrop location";
		return NX_DROP;
	}
	st = maildrop_open(&s->md, path, be);
	free(path);
	if (st != MD_OK) {
		log_info("login refused: maildrop %s", st == MD_INUSE ?
		    "in use" : "unavailable");
		reply_md_error(st);
		s->how = "maildrop unavailable";
		return NX_DROP;
	}
	log_info("login: %s %s, %zu messages, %llu octets", be->name,
	    s->md.path, s->md.nmsgs, (unsigned long long)s->md.total);
	s->state = ST_TRANS;
	io_printf("+OK Logged in, %zu messages (%llu octets)\r\n",
	    s->md.nmsgs, (unsigned long long)s->md.total);
	return NX_GO;
}

/* ---- TRANSACTION ---- */

/* The message a number names, or NULL with the -ERR sent. */
static struct msg *
msg_arg(struct session *s, const char *arg)
{
	unsigned long	n;

	if (parse_ulong(arg, 1, s->md.nmsgs, &n) == -1) {
		io_puts("-ERR No such message\r\n");
		return NULL;
	}
	if (s->md.msgs[n - 1].deleted) {
		io_puts("-ERR Message is deleted\r\n");
		return NULL;
	}
	return &s->md.msgs[n - 1];
}

static enum next
c_stat(struct session *s, int argc, char **argv, char *rest)
{
	uint64_t	total = 0;
	size_t		i, n = 0;

	(void)argc;
	(void)argv;
	(void)rest;
	for (i = 0; i < s->md.nmsgs; i++) {
		if (!s->md.msgs[i].deleted) {
			n++;
			total += s->md.msgs[i].size;
		}
	}
	io_printf("+OK %zu %llu\r\n", n, (unsigned long long)total);
	return NX_GO;
}

static enum next
list_all(struct session *s, int uidl)
{
	struct msg	*m;
	size_t		 i;

	io_puts(uidl ? "+OK Unique-ID listing follows\r\n" :
	    "+OK Scan listing follows\r\n");
	for (i = 0; i < s->md.nmsgs; i++) {
		m = &s->md.msgs[i];
		if (m->deleted) {
			continue;
		}
		if (uidl) {
			io_printf("%zu %s\r\n", i + 1, m->uidl);
		} else {
			io_printf("%zu %llu\r\n", i + 1,
			    (unsigned long long)m->size);
		}
	}
	io_puts(".\r\n");
	return NX_GO;
}

static enum next
c_list(struct session *s, int argc, char **argv, char *rest)
{
	struct msg	*m;

	(void)rest;
	if (argc == 0) {
		return list_all(s, 0);
	}
	if ((m = msg_arg(s, argv[0])) != NULL) {
		io_printf("+OK %zu %llu\r\n", (size_t)(m - s->md.msgs) + 1,
		    (unsigned long long)m->size);
	}
	return NX_GO;
}

static enum next
c_uidl(struct session *s, int argc, char **argv, char *rest)
{
	struct msg	*m;

	(void)rest;
	if (argc == 0) {
		return list_all(s, 1);
	}
	if ((m = msg_arg(s, argv[0])) != NULL) {
		io_printf("+OK %zu %s\r\n", (size_t)(m - s->md.msgs) + 1,
		    m->uidl);
	}
	return NX_GO;
}

static enum next
send_msg(struct session *s, struct msg *m, long lines)
{
	off_t	off, len;
	int	fd, r;

	if ((fd = s->md.be->open_msg(&s->md, (size_t)(m - s->md.msgs), &off,
	    &len)) == -1) {
		io_puts("-ERR [SYS/TEMP] Cannot read the message\r\n");
		return NX_GO;
	}
	if (lines < 0) {
		io_printf("+OK %llu octets\r\n", (unsigned long long)m->size);
	} else {
		io_puts("+OK Top of message follows\r\n");
	}
	r = io_send_msg(fd, off, len, lines);
	s->md.be->close_msg(&s->md, fd);
	if (r == -1) {
		/* Half a message is on the wire: the dialogue cannot go on. */
		s->how = "read error";
		return NX_DROP;
	}
	return NX_GO;
}

static enum next
c_retr(struct session *s, int argc, char **argv, char *rest)
{
	struct msg	*m;

	(void)argc;
	(void)rest;
	if ((m = msg_arg(s, argv[0])) == NULL) {
		return NX_GO;
	}
	m->retrieved = 1;
	return send_msg(s, m, -1);
}

static enum next
c_top(struct session *s, int argc, char **argv, char *rest)
{
	struct msg	*m;
	unsigned long	 k;

	(void)argc;
	(void)rest;
	if ((m = msg_arg(s, argv[0])) == NULL) {
		return NX_GO;
	}
	if (parse_ulong(argv[1], 0, LONG_MAX, &k) == -1) {
		io_puts("-ERR Bad line count\r\n");
		return NX_GO;
	}
	return send_msg(s, m, (long)k);
}

static enum next
c_dele(struct session *s, int argc, char **argv, char *rest)
{
	struct msg	*m;

	(void)argc;
	(void)rest;
	if ((m = msg_arg(s, argv[0])) != NULL) {
		m->deleted = 1;
		io_printf("+OK Message %zu deleted\r\n",
		    (size_t)(m - s->md.msgs) + 1);
	}
	return NX_GO;
}

static enum next
c_noop(struct session *s, int argc, char **argv, char *rest)
{
	(void)s;
	(void)argc;
	(void)argv;
	(void)rest;
	io_puts("+OK\r\n");
	return NX_GO;
}

static enum next
c_rset(struct session *s, int argc, char **argv, char *rest)
{
	size_t	i;

	(void)argc;
	(void)argv;
	(void)rest;
	for (i = 0; i < s->md.nmsgs; i++) {
		s->md.msgs[i].deleted = 0;
	}
	io_printf("+OK Maildrop has %zu messages (%llu octets)\r\n",
	    s->md.nmsgs, (unsigned long long)s->md.total);
	return NX_GO;
}
