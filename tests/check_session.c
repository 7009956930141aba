/* tests/check_session.c: whole sessions against the built ./pop3d over a
 * socketpair, asserting the exact bytes on the wire, in the maildrop, in
 * the log, and the exit status. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "params.h"
#include "testlib.h"

#define GREETING	"+OK " POP3D_IMPLEMENTATION " ready\r\n"
#define LOGGED_IN	"+OK Logged in, 3 messages (164 octets)\r\n"
#define AUTH_FAILED	"-ERR [AUTH] Authentication failed\r\n"
#define READ_SECS	20
#define PATHLEN		128	/* test paths are short: /tmp/pop3d-session.X/... */
#define CMDLEN		4096
/* A session's peak memory must stay well below this whatever the input. */
#define PEAK_MAX_KIB	16384
#define TIMING_TRIES	7

/* The three messages of alice's mbox, as stored and as sent. */
#define SEP1	"From a@example.org Fri Nov 27 10:00:00 2026\n"
#define MSG1	"Subject: one\n\nline one\n.starts with dot\n"
#define SEP2	"From b@example.org Fri Nov 27 10:00:01 2026\n"
#define MSG2	"Subject: two\nX-UIDL: fixed-uidl-2\n\nbody two\n" \
		"From inside body\n>From quoted\n"
#define SEP3	"From c@example.org Fri Nov 27 10:00:02 2026\n"
#define MSG3	"Subject: three\n\nlast line no newline"
#define MBOX	SEP1 MSG1 "\n" SEP2 MSG2 "\n" SEP3 MSG3

#define RETR1	"+OK 44 octets\r\nSubject: one\r\n\r\nline one\r\n" \
		"..starts with dot\r\n.\r\n"
#define RETR2	"+OK 80 octets\r\nSubject: two\r\nX-UIDL: fixed-uidl-2\r\n" \
		"\r\nbody two\r\nFrom inside body\r\n>From quoted\r\n.\r\n"
#define RETR3	"+OK 40 octets\r\nSubject: three\r\n\r\n" \
		"last line no newline\r\n.\r\n"

struct sess {
	pid_t	pid;
	int	fd;
};

static char	dir[] = "/tmp/pop3d-session.XXXXXX";
static char	passwd[PATHLEN], mbox[PATHLEN], logpath[PATHLEN];
static char	owner[64];	/* "uid:gid" when root, else ":" */

static void
put_file(const char *path, const char *data, size_t n)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole of a file, NUL-terminated; *n gets its length. */
static char *
slurp(const char *path, size_t *n)
{
	FILE	*f = fopen(path, "r");
	char	*buf;
	long	 len;

	if (f == NULL) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	if (n != NULL) {
		*n = (size_t)len;
	}
	return buf;
}

static int
run(const char *cmd)
{
	return system(cmd);
}

static char *
hash_of(const char *pw)
{
	static char	out[crypto_pwhash_STRBYTES];

	ck_assert_int_eq(crypto_pwhash_str(out, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_MIN, 8192 * 1024), 0);
	return out;
}

static void
setup(void)
{
	char		 cmd[CMDLEN];
	struct passwd	*pw;
	FILE		*f;

	strcpy(dir, "/tmp/pop3d-session.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
	snprintf(mbox, sizeof(mbox), "%s/alice.mbox", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	strcpy(owner, ":");
	if (geteuid() == 0) {
		/* Root never opens a maildrop: the users are nobody. */
		ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
		snprintf(owner, sizeof(owner), "%ld:%ld", (long)pw->pw_uid,
		    (long)pw->pw_gid);
	}
	put_file(mbox, MBOX, sizeof(MBOX) - 1);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bob/new %s/bob/cur %s/bob/tmp"
	    " && printf 'Subject: b1\\n\\nfirst\\n' >%s/bob/new/1700000001.a.h"
	    " && printf 'Subject: b2\\n\\nsecond\\n' >%s/bob/cur/1700000002.b.h:2,"
	    " && printf 'not an mbox\\n' >%s/eve.mbox", dir, dir, dir, dir,
	    dir, dir);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_nonnull(f = fopen(passwd, "w"));
	fprintf(f, "# test users\n");
	fprintf(f, "alice:%s:%s:Alice:%s::mail=mbox:%%h/%%u.mbox\n",
	    hash_of("secret"), owner, dir);
	fprintf(f, "bob:{ARGON2ID}%s:%s::%s::userdb_mail=maildir:~/bob\n",
	    hash_of("hunter2"), owner, dir);
	fprintf(f, "dave:%s:%s::%s::mail=mbox:%%h/dave.mbox\n",
	    hash_of("pw"), owner, dir);
	fprintf(f, "eve:%s:%s::%s::mail=%%h/eve.mbox\n", hash_of("pw"),
	    owner, dir);
	fprintf(f, "nouid:%s\n", hash_of("pw"));
	fprintf(f, "plain:plaintext-password:%s\n", owner);
	fprintf(f, "short:%s\n", hash_of("pw"));
	ck_assert_int_eq(fclose(f), 0);
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown -R %s %s && chown root %s",
		    owner, dir, passwd);
		ck_assert_int_eq(run(cmd), 0);
	}
	ck_assert_int_eq(chmod(passwd, 0600), 0);
}

static void
teardown(void)
{
	char	cmd[CMDLEN];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)run(cmd);
}

/* Start ./pop3d on a socketpair with the test's password file, logging
 * to the log file (or with its stderr going there when log is 0). */
static struct sess
start_args(int log, const char *extra1, const char *extra2)
{
	struct sess	 s;
	int		 sv[2], lfd;
	const char	*argv[13];
	int		 n = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* make check-valgrind runs pop3d under the words of POP3D_WRAPPER. */
	if (getenv("POP3D_WRAPPER") != NULL) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = "exec $POP3D_WRAPPER \"$0\" \"$@\"";
	}
	argv[n++] = "./pop3d";
	argv[n++] = "-f";
	argv[n++] = passwd;
	argv[n++] = "--fail-delay=0";
	if (log) {
		argv[n++] = "--log=stderr";
	}
	if (extra1 != NULL) {
		argv[n++] = extra1;
	}
	if (extra2 != NULL) {
		argv[n++] = extra2;
	}
	argv[n] = NULL;
	s.pid = fork();
	ck_assert_int_ne(s.pid, -1);
	if (s.pid == 0) {
		lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (lfd == -1 || dup2(sv[1], 0) == -1 || dup2(sv[1], 1) == -1 ||
		    dup2(lfd, 2) == -1) {
			_exit(127);
		}
		close(sv[0]);
		close(sv[1]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(sv[1]);
	s.fd = sv[0];
	return s;
}

static struct sess
start(void)
{
	return start_args(1, NULL, NULL);
}

static void
say(struct sess *s, const char *text)
{
	size_t	n = strlen(text);

	ck_assert_int_eq(write(s->fd, text, n), (ssize_t)n);
}

/* Read exactly strlen(want) octets and compare them. */
static void
expect(struct sess *s, const char *want)
{
	size_t		 n = strlen(want), got = 0;
	char		*buf = calloc(1, n + 1);
	struct pollfd	 pfd = { s->fd, POLLIN, 0 };
	ssize_t		 r;

	ck_assert_ptr_nonnull(buf);
	while (got < n) {
		ck_assert_msg(poll(&pfd, 1, READ_SECS * 1000) == 1,
		    "timed out after \"%s\", waiting for \"%s\"", buf, want);
		r = read(s->fd, buf + got, n - got);
		ck_assert_msg(r > 0, "connection closed after \"%s\", "
		    "waiting for \"%s\"", buf, want);
		got += (size_t)r;
	}
	ck_assert_str_eq(buf, want);
	free(buf);
}

/* The server closes the connection; its exit status. */
static int
expect_end(struct sess *s)
{
	char	c;
	int	status;

	ck_assert_int_eq(read(s->fd, &c, 1), 0);
	close(s->fd);
	ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Hang up on the server; its exit status. */
static int
hang_up(struct sess *s)
{
	int	status;

	close(s->fd);
	ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
login_alice(struct sess *s)
{
	expect(s, GREETING);
	say(s, "USER alice\r\nPASS secret\r\n");
	expect(s, "+OK\r\n" LOGGED_IN);
}

static void
assert_file(const char *path, const char *want, size_t n)
{
	size_t	 len;
	char	*got = slurp(path, &len);

	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(got, want, n);
	free(got);
}

static void
assert_log_has(const char *needle)
{
	char	*log = slurp(logpath, NULL);

	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, needle) != NULL, "log lacks \"%s\":\n%s",
	    needle, log);
	free(log);
}

static void
assert_log_lacks(const char *needle)
{
	char	*log = slurp(logpath, NULL);

	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, needle) == NULL, "log has \"%s\":\n%s",
	    needle, log);
	free(log);
}

START_TEST(t_capa_quit)
{
	struct sess	s = start();

	expect(&s, GREETING);
	say(&s, "CAPA\r\n");
	expect(&s, "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\n"
	    "UTF8\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION "
	    POP3D_IMPLEMENTATION "\r\n.\r\n");
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

START_TEST(t_stat_list_uidl)
{
	struct sess	s = start();

	login_alice(&s);
	say(&s, "STAT\r\nLIST\r\nLIST 2\r\nUIDL 2\r\nCAPA\r\n");
	expect(&s, "+OK 3 164\r\n"
	    "+OK Scan listing follows\r\n1 44\r\n2 80\r\n3 40\r\n.\r\n"
	    "+OK 2 80\r\n+OK 2 fixed-uidl-2\r\n"
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\n"
	    "UTF8\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION "
	    POP3D_IMPLEMENTATION "\r\n.\r\n");
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

/* UIDLs: 32 hex digits from content, X-UIDL honoured, and the same in
 * the next session and in a byte-identical copy elsewhere. */
START_TEST(t_uidl_stable)
{
	struct sess	 s = start();
	char		 first[512], cmd[CMDLEN];
	size_t		 i;
	ssize_t		 n;
	char		*p;

	login_alice(&s);
	say(&s, "UIDL\r\n");
	usleep(200000);
	n = read(s.fd, first, sizeof(first) - 1);
	ck_assert_int_gt(n, 0);
	first[n] = '\0';
	ck_assert_ptr_nonnull(p = strstr(first, "\r\n1 "));
	for (i = 0; i < 32; i++) {
		ck_assert(strchr("0123456789abcdef", p[4 + i]) != NULL);
	}
	ck_assert_ptr_nonnull(strstr(first, "\r\n2 fixed-uidl-2\r\n"));
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	/* Restore from a copy: move the mailbox away and back. */
	snprintf(cmd, sizeof(cmd), "cp -p %s %s.copy && rm %s && mv %s.copy %s",
	    mbox, mbox, mbox, mbox, mbox);
	ck_assert_int_eq(run(cmd), 0);
	s = start();
	login_alice(&s);
	say(&s, "UIDL\r\n");
	expect(&s, first);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

START_TEST(t_bad_numbers)
{
	struct sess	s = start();

	login_alice(&s);
	say(&s, "LIST 0\r\nLIST -1\r\nLIST 1x\r\nLIST 4294967297\r\n"
	    "LIST 4\r\nLIST +1\r\nRETR 0\r\nTOP 1 -1\r\nTOP 1 x\r\n"
	    "DELE 99\r\nUIDL 18446744073709551617\r\nLIST 1 2\r\nRETR\r\n");
	expect(&s, "-ERR No such message\r\n-ERR No such message\r\n"
	    "-ERR No such message\r\n-ERR No such message\r\n"
	    "-ERR No such message\r\n-ERR No such message\r\n"
	    "-ERR No such message\r\n-ERR Bad line count\r\n"
	    "-ERR Bad line count\r\n-ERR No such message\r\n"
	    "-ERR No such message\r\n-ERR Wrong number of arguments\r\n"
	    "-ERR Wrong number of arguments\r\n");
	ck_assert_int_eq(hang_up(&s), 1);
}
END_TEST

START_TEST(t_retr_top)
{
	struct sess	s = start();

	login_alice(&s);
	say(&s, "RETR 1\r\nRETR 2\r\nRETR 3\r\n");
	expect(&s, RETR1 RETR2 RETR3);
	say(&s, "TOP 1 0\r\nTOP 2 1\r\nTOP 2 2\r\nTOP 1 1000000\r\n"
	    "TOP 3 0\r\n");
	expect(&s, "+OK Top of message follows\r\nSubject: one\r\n\r\n.\r\n"
	    "+OK Top of message follows\r\nSubject: two\r\n"
	    "X-UIDL: fixed-uidl-2\r\n\r\nbody two\r\n.\r\n"
	    "+OK Top of message follows\r\nSubject: two\r\n"
	    "X-UIDL: fixed-uidl-2\r\n\r\nbody two\r\nFrom inside body\r\n.\r\n"
	    "+OK Top of message follows\r\nSubject: one\r\n\r\nline one\r\n"
	    "..starts with dot\r\n.\r\n"
	    "+OK Top of message follows\r\nSubject: three\r\n\r\n.\r\n");
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	assert_file(mbox, MBOX, sizeof(MBOX) - 1);
	assert_log_has("session end: quit, retrieved 3, deleted 0");
}
END_TEST

START_TEST(t_dele_rset_quit)
{
	static const char	want[] = SEP1 MSG1 "\n" SEP3 MSG3;
	struct sess		s = start();

	login_alice(&s);
	say(&s, "DELE 2\r\nDELE 2\r\nLIST 2\r\nRETR 2\r\nSTAT\r\nRSET\r\n"
	    "STAT\r\nDELE 2\r\nLIST\r\nQUIT\r\n");
	expect(&s, "+OK Message 2 deleted\r\n-ERR Message is deleted\r\n"
	    "-ERR Message is deleted\r\n-ERR Message is deleted\r\n"
	    "+OK 2 84\r\n+OK Maildrop has 3 messages (164 octets)\r\n"
	    "+OK 3 164\r\n+OK Message 2 deleted\r\n"
	    "+OK Scan listing follows\r\n1 44\r\n3 40\r\n.\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	assert_file(mbox, want, sizeof(want) - 1);
	assert_log_has("session end: quit, retrieved 0, deleted 1");
	/* The next session sees two messages, same sizes and UIDL. */
	s = start();
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS secret\r\nLIST\r\nUIDL 2\r\nQUIT\r\n");
	expect(&s, "+OK\r\n+OK Logged in, 2 messages (84 octets)\r\n"
	    "+OK Scan listing follows\r\n1 44\r\n2 40\r\n.\r\n");
	ck_assert_int_eq(hang_up(&s), 0);
}
END_TEST

START_TEST(t_dele_all_last)
{
	struct sess	s = start();

	login_alice(&s);
	say(&s, "DELE 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n");
	expect(&s, "+OK Message 1 deleted\r\n+OK Message 2 deleted\r\n"
	    "+OK Message 3 deleted\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	assert_file(mbox, "", 0);
}
END_TEST

/* A drop, or QUIT before login, deletes nothing. */
START_TEST(t_drop_deletes_nothing)
{
	struct sess	s = start();

	login_alice(&s);
	say(&s, "DELE 1\r\nDELE 3\r\n");
	expect(&s, "+OK Message 1 deleted\r\n+OK Message 3 deleted\r\n");
	ck_assert_int_eq(hang_up(&s), 1);
	assert_file(mbox, MBOX, sizeof(MBOX) - 1);
	assert_log_has("session end: disconnect, retrieved 0, deleted 0");
}
END_TEST

START_TEST(t_timeout_deletes_nothing)
{
	struct sess	s = start_args(1, "--timeout=1", NULL);

	login_alice(&s);
	say(&s, "DELE 1\r\n");
	expect(&s, "+OK Message 1 deleted\r\n");
	expect(&s, "-ERR Autologout: idle for too long\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_file(mbox, MBOX, sizeof(MBOX) - 1);
	assert_log_has("session end: timeout, retrieved 0, deleted 0");
}
END_TEST

START_TEST(t_login_timeout)
{
	struct sess	s = start_args(1, "--login-timeout=1", NULL);

	expect(&s, GREETING);
	say(&s, "USER alice\r\n");
	expect(&s, "+OK\r\n-ERR Autologout: idle for too long\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_log_has("session end: timeout before login");
}
END_TEST

/* The timer covers a whole line: octets dripped slower than a line may
 * take do not keep the connection open. */
START_TEST(t_drip_timeout)
{
	struct sess	s = start_args(1, "--login-timeout=2", NULL);
	struct pollfd	pfd;
	int		i, answered = 0;

	expect(&s, GREETING);
	pfd.fd = s.fd;
	pfd.events = POLLIN;
	/* An octet every half second for 6 s, never a whole line. */
	for (i = 0; i < 12 && !answered; i++) {
		if (write(s.fd, "A", 1) != 1) {
			break;
		}
		answered = poll(&pfd, 1, 500) == 1;
	}
	ck_assert_msg(answered, "still waiting for the line after 6 s");
	expect(&s, "-ERR Autologout: idle for too long\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
}
END_TEST

/* Wrong password and unknown user look the same; the third failure
 * closes the connection.  No password reaches the log. */
START_TEST(t_auth_failures)
{
	struct sess	s = start();

	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS wrong-password-1\r\n");
	expect(&s, "+OK\r\n" AUTH_FAILED);
	say(&s, "USER nosuchuser\r\nPASS wrong-password-2\r\n");
	expect(&s, "+OK\r\n" AUTH_FAILED);
	say(&s, "USER plain\r\nPASS plaintext-password\r\n");
	expect(&s, "+OK\r\n-ERR [AUTH] Authentication failed; closing\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_log_has("login failed: wrong password remote=local user=alice");
	assert_log_has("login failed: unknown user remote=local "
	    "user=nosuchuser");
	assert_log_has("login failed: unusable password entry remote=local "
	    "user=plain");
	assert_log_lacks("wrong-password");
	assert_log_lacks("plaintext-password");
	assert_log_lacks("$argon2id$");
}
END_TEST

START_TEST(t_auth_plain)
{
	char		b64[128], line[256];
	const char	raw[] = "\0alice\0secret";
	struct sess	s;

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)raw,
	    sizeof(raw) - 1, sodium_base64_VARIANT_ORIGINAL);
	s = start();
	expect(&s, GREETING);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", b64);
	say(&s, line);
	expect(&s, LOGGED_IN);
	ck_assert_int_eq(hang_up(&s), 1);

	s = start();
	expect(&s, GREETING);
	say(&s, "AUTH\r\nAUTH CRAM-MD5\r\nAUTH PLAIN\r\n");
	expect(&s, "+OK\r\nPLAIN\r\n.\r\n-ERR Unsupported mechanism\r\n+ \r\n");
	say(&s, "*\r\n");
	expect(&s, "-ERR Authentication cancelled\r\n");
	say(&s, "AUTH PLAIN !!!notbase64\r\n");
	expect(&s, AUTH_FAILED);
	say(&s, "auth plain\r\n");
	expect(&s, "+ \r\n");
	snprintf(line, sizeof(line), "%s\r\n", b64);
	say(&s, line);
	expect(&s, LOGGED_IN);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

START_TEST(t_state_and_unknown)
{
	struct sess	s = start();

	expect(&s, GREETING);
	say(&s, "STAT\r\nNOOP\r\nPASS x\r\nFOO\r\nAPOP alice 0123\r\n"
	    "USER\r\nUTF8\r\nuser alice\r\npass secret\r\n");
	expect(&s, "-ERR Not valid in this state\r\n"
	    "-ERR Not valid in this state\r\n-ERR USER first\r\n"
	    "-ERR Unknown command\r\n-ERR APOP is not supported\r\n"
	    "-ERR Wrong number of arguments\r\n+OK UTF8 enabled\r\n"
	    "+OK\r\n" LOGGED_IN);
	say(&s, "stat\r\nNoOp\r\nUSER bob\r\nAUTH PLAIN\r\nQuit\r\n");
	expect(&s, "+OK 3 164\r\n+OK\r\n-ERR Not valid in this state\r\n"
	    "-ERR Not valid in this state\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

/* RFC 2449 4: 255 octets with CRLF; longer is refused and not obeyed. */
START_TEST(t_line_limits)
{
	char		line[2048];
	struct sess	s = start();

	expect(&s, GREETING);
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 253, "\r\n", 3);		/* 255 octets */
	say(&s, line);
	expect(&s, "-ERR [AUTH] User name too long\r\n");
	memset(line, 'a', sizeof(line));
	memcpy(line, "QUIT ", 5);
	memcpy(line + 254, "\r\n", 3);		/* 256 octets */
	say(&s, line);
	expect(&s, "-ERR Line too long\r\n");
	memset(line, 'Q', sizeof(line) - 3);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	say(&s, line);
	say(&s, line);
	expect(&s, "-ERR Line too long\r\n-ERR Line too long\r\n");
	ck_assert_int_eq(write(s.fd, "CAPA\0\r\n", 7), 7);
	expect(&s, "-ERR Invalid character in command\r\n");
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

/* RFC 2449 6.6: many commands in one write, answered in order. */
START_TEST(t_pipelining)
{
	static const char	cmds[] = "STAT\r\nLIST 1\r\nUIDL 2\r\nNOOP\r\n";
	static const char	resp[] = "+OK 3 164\r\n+OK 1 44\r\n"
				    "+OK 2 fixed-uidl-2\r\n+OK\r\n";
	char			*in, *out;
	int			 i, rounds = 500;
	struct sess		 s = start();

	in = calloc(rounds, sizeof(cmds));
	out = calloc(rounds, sizeof(resp));
	for (i = 0; i < rounds; i++) {
		strcat(in, cmds);
		strcat(out, resp);
	}
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS secret\r\n");
	say(&s, in);
	expect(&s, "+OK\r\n" LOGGED_IN);
	expect(&s, out);
	free(in);
	free(out);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

START_TEST(t_in_use)
{
	struct sess	s1 = start(), s2 = start();

	login_alice(&s1);
	expect(&s2, GREETING);
	say(&s2, "USER alice\r\nPASS secret\r\n");
	expect(&s2, "+OK\r\n-ERR [IN-USE] Maildrop is in use by another "
	    "session\r\n");
	ck_assert_int_eq(expect_end(&s2), 1);
	say(&s1, "DELE 1\r\nQUIT\r\n");
	expect(&s1, "+OK Message 1 deleted\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s1), 0);
	assert_log_has("login refused: maildrop in use");
}
END_TEST

START_TEST(t_maildir)
{
	char		path[CMDLEN];
	struct stat	st;
	struct sess	s = start();

	expect(&s, GREETING);
	say(&s, "USER bob\r\nPASS hunter2\r\nLIST\r\nUIDL\r\nRETR 1\r\n"
	    "DELE 2\r\nQUIT\r\n");
	expect(&s, "+OK\r\n+OK Logged in, 2 messages (45 octets)\r\n"
	    "+OK Scan listing follows\r\n1 22\r\n2 23\r\n.\r\n"
	    "+OK Unique-ID listing follows\r\n1 1700000001.a.h\r\n"
	    "2 1700000002.b.h\r\n.\r\n"
	    "+OK 22 octets\r\nSubject: b1\r\n\r\nfirst\r\n.\r\n"
	    "+OK Message 2 deleted\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	snprintf(path, sizeof(path), "%s/bob/cur/1700000002.b.h:2,", dir);
	ck_assert_int_eq(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/bob/cur/1700000001.a.h:2,S", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/bob/new/1700000001.a.h", dir);
	ck_assert_int_eq(stat(path, &st), -1);
}
END_TEST

START_TEST(t_empty_and_bad_maildrops)
{
	struct sess	s = start();

	expect(&s, GREETING);
	say(&s, "USER dave\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nQUIT\r\n");
	expect(&s, "+OK\r\n+OK Logged in, 0 messages (0 octets)\r\n"
	    "+OK 0 0\r\n+OK Scan listing follows\r\n.\r\n"
	    "+OK Unique-ID listing follows\r\n.\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	s = start();
	expect(&s, GREETING);
	say(&s, "USER eve\r\nPASS pw\r\n");
	expect(&s, "+OK\r\n-ERR [SYS/PERM] Maildrop unavailable\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_log_has("eve.mbox: offset 0: not an mbox");
}
END_TEST

START_TEST(t_root_needs_uid)
{
	struct sess	s;

	if (geteuid() != 0) {
		return;		/* only a root pop3d switches users */
	}
	s = start();
	expect(&s, GREETING);
	say(&s, "USER nouid\r\nPASS pw\r\n");
	expect(&s, "+OK\r\n-ERR [SYS/PERM] Maildrop unavailable\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
}
END_TEST

/* The real uid of a process, from /proc; -1 if it is gone. */
static long
proc_uid(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 uid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Uid: %ld", &uid) == 1) {
			break;
		}
	}
	fclose(f);
	return uid;
}

/* As root: before login the client talks to a child running as the
 * privsep user; the root monitor becomes the user at login. */
START_TEST(t_privsep)
{
	struct passwd	*pw;
	char		 path[64];
	long		 child = 0, ps_uid, nobody_uid;
	FILE		*f;
	struct sess	 s;

	if (geteuid() != 0) {
		return;
	}
	ck_assert_ptr_nonnull(pw = getpwnam("pop3d"));
	ps_uid = (long)pw->pw_uid;
	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	nobody_uid = (long)pw->pw_uid;
	s = start();
	expect(&s, GREETING);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)s.pid, (long)s.pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_int_eq(fscanf(f, "%ld", &child), 1);
	fclose(f);
	ck_assert_int_eq(proc_uid(s.pid), 0);
	ck_assert_int_eq(proc_uid((pid_t)child), ps_uid);
	say(&s, "USER alice\r\nPASS secret\r\nSTAT\r\n");
	expect(&s, "+OK\r\n" LOGGED_IN "+OK 3 164\r\n");
	ck_assert_int_eq(proc_uid(s.pid), nobody_uid);
	ck_assert_int_eq(proc_uid((pid_t)child), -1);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

/* As root, Debian's spool (root:mail 2775): users may not create lock
 * files there, unless --lock-group=mail lends pop3d the group for them. */
START_TEST(t_spool_lock_group)
{
	static const char	want[] = SEP1 MSG1 "\n" SEP3 MSG3;
	char			cmd[CMDLEN];
	struct sess		s;

	if (geteuid() != 0 || getgrnam("mail") == NULL) {
		return;
	}
	snprintf(cmd, sizeof(cmd), "mkdir %s/spool && chown root:mail "
	    "%s/spool && chmod 2775 %s/spool && mv %s %s/spool/alice && "
	    "chown nobody:mail %s/spool/alice && chmod 660 %s/spool/alice && "
	    "sed -i 's,mail=mbox:%%h/%%u.mbox,mail=mbox:%%h/spool/%%u,' %s",
	    dir, dir, dir, mbox, dir, dir, dir, passwd);
	ck_assert_int_eq(run(cmd), 0);
	snprintf(mbox, sizeof(mbox), "%s/spool/alice", dir);
	s = start();
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS secret\r\n");
	expect(&s, "+OK\r\n-ERR [SYS/PERM] Maildrop unavailable\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	s = start_args(1, "--lock-group=mail", NULL);
	login_alice(&s);
	say(&s, "DELE 2\r\nQUIT\r\n");
	expect(&s, "+OK Message 2 deleted\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	assert_file(mbox, want, sizeof(want) - 1);
	/* The mbox, the session lock and the scan's cache, which the
	 * user owns and only the user reads. */
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s/spool | wc -l) -eq 3 && "
	    "test -f %s/spool/alice.pop3d-lock && test \"$(stat -c %%U:%%G:%%a "
	    "%s/spool/alice.pop3d-cache)\" = nobody:mail:600", dir, dir, dir);
	ck_assert_int_eq(run(cmd), 0);
}
END_TEST

/* Whether pop3d runs under valgrind or was built with ASan: then its
 * memory is the tool's, and the bound says nothing. */
static int
instrumented(void)
{
	size_t	 n;
	char	*bin;
	int	 r;

	if (getenv("POP3D_WRAPPER") != NULL) {
		return 1;
	}
	ck_assert_ptr_nonnull(bin = slurp("./pop3d", &n));
	r = memmem(bin, n, "__asan_init", 11) != NULL;
	free(bin);
	return r;
}

/* The largest "peak N KiB" in the log: a session's memory. */
static long
log_peak(void)
{
	char	*log = slurp(logpath, NULL), *p;
	long	 peak = -1, v;

	ck_assert_ptr_nonnull(log);
	for (p = log; (p = strstr(p, ", peak ")) != NULL; p++) {
		v = strtol(p + 7, NULL, 10);
		peak = v > peak ? v : peak;
	}
	free(log);
	ck_assert_int_gt(peak, 0);
	return peak;
}

/* Bounded memory: a 10 MB line is refused whole and costs nothing. */
START_TEST(t_huge_line)
{
	struct sess	 s = start();
	size_t		 n = 10 * 1024 * 1024;
	char		*line = malloc(n + 3);
	pid_t		 w;

	ck_assert_ptr_nonnull(line);
	memset(line, 'A', n);
	memcpy(line + n, "\r\n", 3);
	expect(&s, GREETING);
	/* A writer of its own, so that replies cannot block the line. */
	if ((w = fork()) == 0) {
		say(&s, line);
		say(&s, "CAPA\r\nQUIT\r\n");
		_exit(0);
	}
	expect(&s, "-ERR Line too long\r\n+OK Capability list follows\r\n");
	free(line);
	ck_assert_int_eq(waitpid(w, NULL, 0), w);
	close(s.fd);
	ck_assert_int_eq(waitpid(s.pid, NULL, 0), s.pid);
	if (!instrumented()) {
		ck_assert_int_lt(log_peak(), PEAK_MAX_KIB);
	}
}
END_TEST

/* 100,000 pipelined commands: answered one by one, memory bounded. */
START_TEST(t_many_pipelined)
{
	const int	 count = 100000;
	char		*in = malloc((size_t)count * 6 + 1), buf[65536];
	size_t		 got = 0, want = (size_t)count * 5, i;
	ssize_t		 r;
	pid_t		 w;
	struct sess	 s = start();

	ck_assert_ptr_nonnull(in);
	for (i = 0; i < (size_t)count; i++) {
		memcpy(in + i * 6, "NOOP\r\n", 6);
	}
	in[(size_t)count * 6] = '\0';
	login_alice(&s);
	if ((w = fork()) == 0) {
		say(&s, in);
		_exit(0);
	}
	while (got < want) {
		r = read(s.fd, buf, sizeof(buf) < want - got ? sizeof(buf) :
		    want - got);
		ck_assert_int_gt(r, 0);
		for (i = 0; i < (size_t)r; i++) {
			ck_assert_int_eq(buf[i], "+OK\r\n"[(got + i) % 5]);
		}
		got += (size_t)r;
	}
	free(in);
	ck_assert_int_eq(waitpid(w, NULL, 0), w);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	if (!instrumented()) {
		ck_assert_int_lt(log_peak(), PEAK_MAX_KIB);
	}
}
END_TEST

/* RFC 5034 4: an AUTH continuation is bounded too; over it, a failure. */
START_TEST(t_auth_continuation_limit)
{
	char		line[AUTH_LINE_MAX + 16];
	struct sess	s = start();

	memset(line, 'Q', sizeof(line));
	memcpy(line + AUTH_LINE_MAX - 1, "\r\n", 3);	/* one octet over */
	expect(&s, GREETING);
	say(&s, "AUTH PLAIN\r\n");
	expect(&s, "+ \r\n");
	say(&s, line);
	expect(&s, AUTH_FAILED);
	say(&s, "QUIT\r\n");
	expect(&s, "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
}
END_TEST

static double
login_secs(const char *user)
{
	struct timespec	a, b;
	char		line[128];
	struct sess	s = start();

	expect(&s, GREETING);
	snprintf(line, sizeof(line), "USER %s\r\n", user);
	say(&s, line);
	expect(&s, "+OK\r\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	say(&s, "PASS not-the-password\r\n");
	expect(&s, AUTH_FAILED);
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)hang_up(&s);
	return (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
}

static int
by_value(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Unknown user and wrong password: the same reply, and the same time
 * within a gross margin (medians of several tries). */
START_TEST(t_timing_unknown_user)
{
	double	known[TIMING_TRIES], unknown[TIMING_TRIES], mk, mu;
	int	i;

	for (i = 0; i < TIMING_TRIES; i++) {
		known[i] = login_secs("alice");
		unknown[i] = login_secs("nosuchuser");
	}
	qsort(known, TIMING_TRIES, sizeof(double), by_value);
	qsort(unknown, TIMING_TRIES, sizeof(double), by_value);
	mk = known[TIMING_TRIES / 2];
	mu = unknown[TIMING_TRIES / 2];
	ck_assert_msg(mu < mk * 2 && mk < mu * 2,
	    "median reply: wrong password %.3f s, unknown user %.3f s", mk, mu);
}
END_TEST

/* Replace alice's mailbox by what cmd makes of it ($M), owned as the
 * rest of the test's files. */
static void
remake_mbox(const char *cmd)
{
	char	line[CMDLEN];

	snprintf(line, sizeof(line), "M=%s; rm -f $M; %s && chown %s $M", mbox,
	    cmd, geteuid() == 0 ? owner : "$(id -u):$(id -g)");
	ck_assert_int_eq(run(line), 0);
}

/* The caps of params.h: more messages or octets than a session may
 * hold is refused as a permanent error, and nothing is touched. */
START_TEST(t_maildrop_caps)
{
	struct sess	s;

	/* MAILDROP_MSGS_MAX + 1 empty messages. */
	remake_mbox("python3 -c 'import sys; sys.stdout.write(\"From a\\n\\n\" * 1000001)' >$M");
	s = start();
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS secret\r\n");
	expect(&s, "+OK\r\n-ERR [SYS/PERM] Maildrop unavailable\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_log_has("more than 1000000 messages");
	/* A (sparse) mailbox one octet over MAILDROP_SIZE_MAX. */
	remake_mbox("printf 'From a\\n\\nx\\n' >$M && truncate -s 68719476737 $M");
	s = start();
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS secret\r\n");
	expect(&s, "+OK\r\n-ERR [SYS/PERM] Maildrop unavailable\r\n");
	ck_assert_int_eq(expect_end(&s), 1);
	assert_log_has("larger than 68719476736 octets");
}
END_TEST

/* Without --log=stderr not one byte goes to fd 2 (under inetd it is the
 * client). */
START_TEST(t_no_stderr)
{
	struct sess	s = start_args(0, NULL, NULL);
	size_t		n = 1;
	char		*log;

	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS bad\r\nUSER alice\r\nPASS secret\r\n"
	    "RETR 9\r\nQUIT\r\n");
	expect(&s, "+OK\r\n" AUTH_FAILED "+OK\r\n" LOGGED_IN
	    "-ERR No such message\r\n+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	log = slurp(logpath, &n);
	ck_assert_uint_eq(n, 0);
	free(log);
}
END_TEST

/* The command line: exit codes of -V, --help, bad options, --check. */
START_TEST(t_command_line)
{
	char	cmd[CMDLEN];

	ck_assert_int_eq(run("./pop3d -V | grep -qx '" POP3D_IMPLEMENTATION
	    "'"), 0);
	ck_assert_int_eq(run("./pop3d --help | grep -q -- --hash-mem"), 0);
	ck_assert_int_eq(WEXITSTATUS(run("./pop3d --bogus 2>/dev/null")), 2);
	ck_assert_int_eq(WEXITSTATUS(run("./pop3d --timeout=0 2>/dev/null")),
	    2);
	ck_assert_int_eq(WEXITSTATUS(run("./pop3d --log=file 2>/dev/null")),
	    2);
	snprintf(cmd, sizeof(cmd), "./pop3d --check -f %s >%s.out", passwd,
	    logpath);
	ck_assert_int_eq(WEXITSTATUS(run(cmd)), 1);
	strcat(logpath, ".out");
	assert_log_has(":7:");			/* the plaintext entry */
	assert_log_lacks("plaintext-password");
}
END_TEST

/* --check names the journal an interrupted UPDATE left. */
START_TEST(t_check_reports_journal)
{
	char	cmd[CMDLEN];

	snprintf(cmd, sizeof(cmd), "touch %s.pop3d-journal && ./pop3d --check "
	    "-f %s >%s.out", mbox, passwd, logpath);
	ck_assert_int_eq(WEXITSTATUS(run(cmd)), 1);
	strcat(logpath, ".out");
	assert_log_has("alice.mbox: an interrupted UPDATE left its journal");
}
END_TEST

/* A hash made by --hash logs in. */
START_TEST(t_hash_logs_in)
{
	char		 cmd[CMDLEN];
	struct sess	 s;

	snprintf(cmd, sizeof(cmd), "h=$(echo 'n3w pass' | ./pop3d --hash "
	    "--hash-ops=1 --hash-mem=8192) && printf 'alice:%%s:%s::%s::"
	    "mail=mbox:%s\\n' \"$h\" >%s", owner, dir, mbox, passwd);
	ck_assert_int_eq(run(cmd), 0);
	s = start();
	expect(&s, GREETING);
	say(&s, "USER alice\r\nPASS n3w pass\r\nQUIT\r\n");
	expect(&s, "+OK\r\n" LOGGED_IN "+OK Bye\r\n");
	ck_assert_int_eq(expect_end(&s), 0);
	assert_log_has("login: mbox");
}
END_TEST

static Suite *
session_suite(void)
{
	Suite	*s = suite_create("session");
	TCase	*tc = tcase_create("session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_capa_quit);
	tcase_add_test(tc, t_stat_list_uidl);
	tcase_add_test(tc, t_uidl_stable);
	tcase_add_test(tc, t_bad_numbers);
	tcase_add_test(tc, t_retr_top);
	tcase_add_test(tc, t_dele_rset_quit);
	tcase_add_test(tc, t_dele_all_last);
	tcase_add_test(tc, t_drop_deletes_nothing);
	tcase_add_test(tc, t_timeout_deletes_nothing);
	tcase_add_test(tc, t_login_timeout);
	tcase_add_test(tc, t_drip_timeout);
	tcase_add_test(tc, t_auth_failures);
	tcase_add_test(tc, t_auth_plain);
	tcase_add_test(tc, t_state_and_unknown);
	tcase_add_test(tc, t_line_limits);
	tcase_add_test(tc, t_pipelining);
	tcase_add_test(tc, t_in_use);
	tcase_add_test(tc, t_maildir);
	tcase_add_test(tc, t_empty_and_bad_maildrops);
	tcase_add_test(tc, t_root_needs_uid);
	tcase_add_test(tc, t_privsep);
	tcase_add_test(tc, t_huge_line);
	tcase_add_test(tc, t_many_pipelined);
	tcase_add_test(tc, t_auth_continuation_limit);
	tcase_add_test(tc, t_timing_unknown_user);
	tcase_add_test(tc, t_maildrop_caps);
	tcase_add_test(tc, t_spool_lock_group);
	tcase_add_test(tc, t_no_stderr);
	tcase_add_test(tc, t_command_line);
	tcase_add_test(tc, t_hash_logs_in);
	tcase_add_test(tc, t_check_reports_journal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (sodium_init() < 0) {
		return EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	return run_suite(session_suite());
}
