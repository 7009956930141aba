/* test_auth.c: Check tests of auth.c: passwd file, hashes, --check, --hash. */

#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

#define PW		"correct horse"
#define WRONG		"battery staple"
#define PLAIN		"plainsecret"
#define DEFLOC		"mbox:/var/mail/%u"
#define CONTENT_MAX	(256 * 1024)
#define LOG_MAX		(256 * 1024)
#define OUT_MAX		(64 * 1024)

static char	 h_argon2id[crypto_pwhash_STRBYTES];
static char	 h_argon2i[crypto_pwhash_STRBYTES];
static char	 h_scrypt[crypto_pwhash_scryptsalsa208sha256_STRBYTES];
static char	 h_max[crypto_pwhash_STRBYTES];		/* PASS_MAX octets */
static char	 h_over[crypto_pwhash_STRBYTES];	/* PASS_MAX + 1 */
static char	 pw_max[PASS_MAX + 1];
static char	 pw_over[PASS_MAX + 2];

static char	 content[CONTENT_MAX];
static size_t	 content_len;
static char	 path[64];
static char	 path2[128];

static char	 log_all[LOG_MAX];
static size_t	 log_used;
static char	 log_last[LOG_MAX];
static int	 log_count;

static char	 last_home[256];
static SRunner	*runner;

/* ---- stubs for what auth.c uses from the other modules ---- */

static void
log_record(const char *fmt, va_list ap, int errnum)
{
	int	 n;

	n = vsnprintf(log_last, sizeof(log_last), fmt, ap);
	ck_assert_int_ge(n, 0);
	if (errnum != 0) {
		n = (int)strlen(log_last);
		snprintf(log_last + n, sizeof(log_last) - (size_t)n, ": %s",
		    strerror(errnum));
	}
	n = snprintf(log_all + log_used, sizeof(log_all) - log_used, "%s\n",
	    log_last);
	ck_assert_int_ge(n, 0);
	log_used += (size_t)n < sizeof(log_all) - log_used ? (size_t)n :
	    sizeof(log_all) - log_used - 1;
	log_count++;
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_record(fmt, ap, 0);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_record(fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 errnum = errno;

	va_start(ap, fmt);
	log_record(fmt, ap, errnum);
	va_end(ap);
}

int
parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '9') {
		return (-1);
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return (-1);
	}
	*out = v;
	return (0);
}

char *
maildrop_expand(const char *loc, const char *user, const char *home,
    const struct backend **be, const char **err)
{
	(void)user;
	snprintf(last_home, sizeof(last_home), "%s",
	    home != NULL ? home : "(null)");
	*be = NULL;
	if (strncmp(loc, "bad:", 4) == 0) {
		*err = "bad location";
		return (NULL);
	}
	return (strdup(loc));
}

const char *
maildrop_pending(const char *where, const struct backend *be)
{
	(void)where;
	(void)be;
	return (NULL);
}

/* ---- helpers ---- */

static void
add(const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(content + content_len, sizeof(content) - content_len,
	    fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(content) - content_len);
	content_len += (size_t)n;
}

static void
add_mem(const void *p, size_t len)
{
	ck_assert(len < sizeof(content) - content_len);
	memcpy(content + content_len, p, len);
	content_len += len;
}

static void
add_repeat(int c, size_t len)
{
	ck_assert(len < sizeof(content) - content_len);
	memset(content + content_len, c, len);
	content_len += len;
}

/* Write content to a fresh file (mode 0600); returns its path. */
static const char *
flush_file(void)
{
	int	 fd;

	snprintf(path, sizeof(path), "/tmp/test_auth.XXXXXX");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, content, content_len), content_len);
	ck_assert_int_eq(close(fd), 0);
	return (path);
}

static enum auth_verdict
try(const char *user, const char *pass)
{
	struct auth_user	 au;
	enum auth_verdict	 v;

	v = auth_check(path, user, pass, &au);
	if (v != AUTH_OK) {
		ck_assert_ptr_null(au.user);
		ck_assert_ptr_null(au.home);
		ck_assert_ptr_null(au.mail);
	}
	auth_user_free(&au);
	return (v);
}

static void
assert_ok(const char *user, const char *pass)
{
	ck_assert_msg(try(user, pass) == AUTH_OK, "%s should log in", user);
	ck_assert_msg(try(user, WRONG) == AUTH_FAIL, "%s: wrong pw", user);
}

static void
assert_fail(const char *user, const char *pass)
{
	ck_assert_msg(try(user, pass) == AUTH_FAIL, "%s must not log in",
	    user);
}

/* No hash, no salt and no password ever reaches the log. */
static void
assert_no_secret_logged(void)
{
	ck_assert_ptr_null(strstr(log_all, "$argon2"));
	ck_assert_ptr_null(strstr(log_all, "$7$"));
	ck_assert_ptr_null(strstr(log_all, h_argon2id + 30));
	ck_assert_ptr_null(strstr(log_all, PW));
	ck_assert_ptr_null(strstr(log_all, WRONG));
	ck_assert_ptr_null(strstr(log_all, PLAIN));
	ck_assert_ptr_null(strstr(log_all, "saltsalt"));
}

/* Run auth_check_file on path, its stdout into out. */
static int
check_output(const char *file, char *out, size_t size)
{
	char	 tmpl[] = "/tmp/test_auth_out.XXXXXX";
	ssize_t	 n;
	int	 fd, saved, problems;

	ck_assert_int_ne(fd = mkstemp(tmpl), -1);
	ck_assert_int_eq(unlink(tmpl), 0);
	fflush(stdout);
	ck_assert_int_ne(saved = dup(STDOUT_FILENO), -1);
	ck_assert_int_ne(dup2(fd, STDOUT_FILENO), -1);
	problems = auth_check_file(file, DEFLOC);
	fflush(stdout);
	ck_assert_int_ne(dup2(saved, STDOUT_FILENO), -1);
	close(saved);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_ge(n = read(fd, out, size - 1), 0);
	out[n] = '\0';
	close(fd);
	return (problems);
}

static double
now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (tv.tv_sec + tv.tv_usec / 1e6);
}

static void
setup(void)
{
	content_len = 0;
	path[0] = path2[0] = '\0';
	log_used = 0;
	log_all[0] = log_last[0] = '\0';
	log_count = 0;
}

static void
teardown(void)
{
	if (path[0] != '\0') {
		unlink(path);
	}
	if (path2[0] != '\0') {
		unlink(path2);
	}
}

/* ---- parsing ---- */

START_TEST(test_full_line)
{
	struct auth_user	 au;

	add("alice:{ARGON2ID}%s:1234:2345:Alice A:/home/alice:/bin/sh:"
	    "userdb_quota_rule=*:storage=1G mail=maildir:~/Maildir\n",
	    h_argon2id);
	flush_file();
	ck_assert_int_eq(auth_check(path, "alice", PW, &au), AUTH_OK);
	ck_assert_str_eq(au.user, "alice");
	ck_assert_int_eq(au.has_uid, 1);
	ck_assert_uint_eq(au.uid, 1234);
	ck_assert_uint_eq(au.gid, 2345);
	ck_assert_str_eq(au.home, "/home/alice");
	ck_assert_str_eq(au.mail, "maildir:~/Maildir");
	auth_user_free(&au);
	ck_assert_ptr_null(au.user);
	ck_assert_int_eq(log_count, 0);
}
END_TEST

START_TEST(test_short_lines)
{
	struct auth_user	 au;
	struct passwd		*pw;
	struct group		*gr;

	add("bob:%s\n", h_argon2id);
	add("carol:%s:1500\n", h_argon2id);
	add("dave:%s:1600:1700\n", h_argon2id);
	add("erin:%s::::/home/erin\n", h_argon2id);
	add("frank:%s:nobody\n", h_argon2id);
	add("gina:%s:1800:nogroup\n", h_argon2id);
	add("hank:%s:nosuch-user-xyz\n", h_argon2id);
	add("ivan:%s:1900:nosuch-group-xyz", h_argon2id);	/* no LF */
	flush_file();

	ck_assert_int_eq(auth_check(path, "bob", PW, &au), AUTH_OK);
	ck_assert_int_eq(au.has_uid, 0);
	ck_assert_ptr_null(au.home);
	ck_assert_ptr_null(au.mail);
	auth_user_free(&au);

	ck_assert_int_eq(auth_check(path, "carol", PW, &au), AUTH_OK);
	ck_assert_int_eq(au.has_uid, 1);
	ck_assert_uint_eq(au.uid, 1500);
	pw = getpwuid(1500);
	ck_assert_uint_eq(au.gid, pw != NULL ? pw->pw_gid : 1500);
	auth_user_free(&au);

	ck_assert_int_eq(auth_check(path, "dave", PW, &au), AUTH_OK);
	ck_assert_uint_eq(au.uid, 1600);
	ck_assert_uint_eq(au.gid, 1700);
	auth_user_free(&au);

	ck_assert_int_eq(auth_check(path, "erin", PW, &au), AUTH_OK);
	ck_assert_int_eq(au.has_uid, 0);
	ck_assert_str_eq(au.home, "/home/erin");
	auth_user_free(&au);

	if ((pw = getpwnam("nobody")) != NULL) {
		ck_assert_int_eq(auth_check(path, "frank", PW, &au), AUTH_OK);
		ck_assert_uint_eq(au.uid, pw->pw_uid);
		ck_assert_uint_eq(au.gid, pw->pw_gid);
		auth_user_free(&au);
	}
	if ((gr = getgrnam("nogroup")) != NULL) {
		ck_assert_int_eq(auth_check(path, "gina", PW, &au), AUTH_OK);
		ck_assert_uint_eq(au.uid, 1800);
		ck_assert_uint_eq(au.gid, gr->gr_gid);
		auth_user_free(&au);
	}
	ck_assert_int_eq(log_count, 0);
	assert_fail("hank", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":7: user hank: uid "
	    "nosuch-user-xyz is neither"));
	assert_fail("ivan", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":8: user ivan: gid "
	    "nosuch-group-xyz is neither"));
	assert_no_secret_logged();
}
END_TEST

START_TEST(test_comments_blank)
{
	add("# pop3d users\n\n   \n\t\n#alice:%s\n", h_argon2id);
	add("bob:%s\r\n", h_argon2id);
	add("  # indented: a comment too\n");
	add("plain text\n");
	flush_file();
	assert_fail("alice", PW);
	assert_fail("#alice", PW);
	assert_ok("bob", PW);
	/* Only the last line is reported, on every login. */
	ck_assert_int_eq(log_count, 4);
	ck_assert_ptr_nonnull(strstr(log_last, ":8: no ':' after the user"));
	assert_no_secret_logged();
}
END_TEST

START_TEST(test_extra_fields)
{
	struct auth_user	 au;

	add("a:%s:1001:1001::::mail=mbox:/var/mail/a\n", h_argon2id);
	add("b:%s:1002:1002::::userdb_mail=maildir:/srv/b   quota=1\n",
	    h_argon2id);
	add("c:%s:1003:1003::/home/c::  foo=bar\tbaz=1  \n", h_argon2id);
	add("d:%s:1004:1004::::nopassword\n", h_argon2id);
	add("e:%s:1005:1005::::mail=\n", h_argon2id);
	add("f:%s:1006:1006::::=x\n", h_argon2id);
	flush_file();

	ck_assert_int_eq(auth_check(path, "a", PW, &au), AUTH_OK);
	ck_assert_str_eq(au.mail, "mbox:/var/mail/a");
	auth_user_free(&au);
	ck_assert_int_eq(auth_check(path, "b", PW, &au), AUTH_OK);
	ck_assert_str_eq(au.mail, "maildir:/srv/b");
	auth_user_free(&au);
	ck_assert_int_eq(auth_check(path, "c", PW, &au), AUTH_OK);
	ck_assert_ptr_null(au.mail);
	ck_assert_str_eq(au.home, "/home/c");
	auth_user_free(&au);
	ck_assert_int_eq(auth_check(path, "e", PW, &au), AUTH_OK);
	ck_assert_ptr_null(au.mail);
	auth_user_free(&au);
	/* Dovecot's nopassword flag is no key=value: the line is refused. */
	log_count = 0;
	assert_fail("d", PW);
	assert_fail("f", PW);
	ck_assert_ptr_nonnull(strstr(log_all, ":4: user d: an extra field is "
	    "not key=value"));
	ck_assert_ptr_nonnull(strstr(log_all, ":6: user f: an extra field"));
}
END_TEST

/* ---- schemes ---- */

START_TEST(test_schemes)
{
	add("u1:%s\n", h_argon2id);
	add("u2:{ARGON2ID}%s\n", h_argon2id);
	add("u3:{argon2id}%s\n", h_argon2id);
	add("u4:%s\n", h_argon2i);
	add("u5:{ARGON2I}%s\n", h_argon2i);
	add("u6:{Argon2i}%s\n", h_argon2i);
	add("u7:%s\n", h_scrypt);
	add("u8:{SCRYPT}%s\n", h_scrypt);
	add("u9:{scrypt}%s\n", h_scrypt);
	flush_file();
	assert_ok("u1", PW);
	assert_ok("u2", PW);
	assert_ok("u3", PW);
	assert_ok("u4", PW);
	assert_ok("u5", PW);
	assert_ok("u6", PW);
	assert_ok("u7", PW);
	assert_ok("u8", PW);
	assert_ok("u9", PW);
	assert_fail("u1", "");
	ck_assert_int_eq(log_count, 0);
}
END_TEST

START_TEST(test_tag_mismatch)
{
	add("m1:{ARGON2I}%s\n", h_argon2id);
	add("m2:{SCRYPT}%s\n", h_argon2id);
	add("m3:{ARGON2ID}%s\n", h_scrypt);
	add("m4:$argon2id$v=19$m=8,t=1,p=1$bogus\n");
	flush_file();
	assert_fail("m1", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":1: user m1: the hash does "
	    "not match its scheme {ARGON2I}"));
	assert_fail("m2", PW);
	assert_fail("m3", PW);
	assert_fail("m4", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":4: user m4: malformed "
	    "password hash"));
	assert_no_secret_logged();
}
END_TEST

START_TEST(test_wrong_unknown)
{
	add("alice:%s:1000\n", h_argon2id);
	flush_file();
	assert_fail("alice", WRONG);
	assert_fail("Alice", PW);
	assert_fail("alic", PW);
	assert_fail("alice ", PW);
	assert_fail("nobody-here", PW);
	assert_fail("", PW);
	ck_assert_int_eq(log_count, 0);
}
END_TEST

START_TEST(test_plaintext)
{
	add("p1:" PLAIN "\n");
	add("p2:{PLAIN}" PLAIN "\n");
	add("p3:{SHA512-CRYPT}$6$saltsalt$abcdef\n");
	add("p4:$6$saltsalt$abcdef\n");
	add("p5:\n");
	add("p6:{" PLAIN "\n");
	add("p7:{CLEAR}\n");
	add("p8:{" PLAIN " x}y\n");
	flush_file();
	assert_fail("p1", PLAIN);
	ck_assert_ptr_nonnull(strstr(log_last, ":1: user p1: plaintext "
	    "password or unknown scheme"));
	ck_assert_ptr_nonnull(strstr(log_last, path));
	assert_fail("p2", PLAIN);
	ck_assert_ptr_nonnull(strstr(log_last, ":2: user p2: unsupported "
	    "password scheme {PLAIN}"));
	assert_fail("p3", "x");
	ck_assert_ptr_nonnull(strstr(log_last, ":3: user p3: unsupported "
	    "password scheme {SHA512-CRYPT}"));
	assert_fail("p4", "x");
	ck_assert_ptr_nonnull(strstr(log_last, ":4: user p4: unsupported "
	    "crypt scheme $6$"));
	assert_fail("p5", "");
	ck_assert_ptr_nonnull(strstr(log_last, ":5: user p5: no password "
	    "hash"));
	assert_fail("p6", "{" PLAIN);
	assert_fail("p7", "");
	assert_fail("p8", "x");
	assert_no_secret_logged();
}
END_TEST

START_TEST(test_overlong_line)
{
	add("alice:%s:1000\n", h_argon2id);
	add("bob:%s:1000:1000::::mail=/", h_argon2id);
	add_repeat('x', 5000);
	add("\ncarol:%s\n", h_argon2id);
	flush_file();
	assert_fail("bob", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":2: line longer than"));
	assert_ok("alice", PW);
	assert_ok("carol", PW);
	assert_no_secret_logged();
}
END_TEST

/* A line of exactly PASSWD_LINE_MAX octets is an entry; one more is not. */
START_TEST(test_line_boundary)
{
	size_t	 start;

	start = content_len;
	add("edge:%s:::::: mail=/", h_argon2id);
	add_repeat('y', PASSWD_LINE_MAX - (content_len - start));
	add("\n");
	start = content_len;
	add("over:%s:::::: mail=/", h_argon2id);
	add_repeat('y', PASSWD_LINE_MAX + 1 - (content_len - start));
	add("\n");
	flush_file();
	assert_ok("edge", PW);
	assert_fail("over", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":2: line longer than"));
}
END_TEST

START_TEST(test_nul_line)
{
	add("zed:%s", h_argon2id);
	add_mem("\0x", 2);
	add("\nyan:%s\n", h_argon2id);
	flush_file();
	assert_fail("zed", PW);
	ck_assert_ptr_nonnull(strstr(log_last, ":1: NUL octet in line"));
	assert_ok("yan", PW);
}
END_TEST

START_TEST(test_missing_file)
{
	struct auth_user	 au;

	ck_assert_int_eq(auth_check("/nonexistent/passwd", "a", PW, &au),
	    AUTH_TEMP);
	ck_assert_ptr_null(au.user);
	ck_assert_ptr_nonnull(strstr(log_last, "/nonexistent/passwd: cannot "
	    "open: No such file"));
	ck_assert_int_eq(auth_check("/tmp", "a", PW, &au), AUTH_TEMP);
	ck_assert_ptr_nonnull(strstr(log_last, "not a regular file"));
}
END_TEST

START_TEST(test_long_password)
{
	add("max:%s\n", h_max);
	add("over:%s\n", h_over);
	flush_file();
	assert_ok("max", pw_max);
	assert_fail("over", pw_over);
}
END_TEST

START_TEST(test_duplicate)
{
	char	 other[crypto_pwhash_STRBYTES];

	ck_assert_int_eq(crypto_pwhash_str(other, WRONG, strlen(WRONG),
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), 0);
	add("alice:%s\n", h_argon2id);
	add("alice:%s\n", other);
	flush_file();
	ck_assert_int_eq(try("alice", PW), AUTH_OK);
	ck_assert_ptr_nonnull(strstr(log_last, ":2: duplicate user alice "
	    "(first on line 1)"));
	ck_assert_int_eq(try("alice", WRONG), AUTH_FAIL);
}
END_TEST

/* Unknown users, bad schemes and long passwords cost one interactive
 * argon2id verification, and only one: the stand-in is not computed. */
START_TEST(test_cost)
{
	char	 real[crypto_pwhash_STRBYTES];
	double	 t, best = 1e9, cost;
	int	 i;

	ck_assert_int_eq(crypto_pwhash_str(real, PW, strlen(PW),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE), 0);
	for (i = 0; i < 3; i++) {
		t = now();
		ck_assert_int_ne(crypto_pwhash_str_verify(real, WRONG,
		    strlen(WRONG)), 0);
		t = now() - t;
		best = t < best ? t : best;
	}
	add("real:%s\nbad:{PLAIN}x\n", real);
	flush_file();
	t = now();
	/* The first call in this process: it makes the stand-in too. */
	assert_fail("nobody-here", PW);
	cost = now() - t;
	ck_assert_msg(cost > best / 2 && cost < best * 1.6 + 0.05,
	    "unknown user %.3fs, real verify %.3fs", cost, best);
	t = now();
	assert_fail("bad", "x");
	cost = now() - t;
	ck_assert_msg(cost > best / 2, "bad scheme %.3fs", cost);
	t = now();
	assert_fail("real", pw_over);
	cost = now() - t;
	ck_assert_msg(cost > best / 2, "long password %.3fs", cost);
}
END_TEST

/* ---- --check ---- */

START_TEST(test_check_file)
{
	char	 out[OUT_MAX], want[OUT_MAX];
	int	 n;

	add("# pop3d users\n");
	add("alice:{ARGON2ID}%s:1000:1000::/home/alice::"
	    "mail=maildir:~/Maildir\n", h_argon2id);
	add("nocolon\n");
	add(":{ARGON2ID}%s:1001\n", h_argon2id);
	add("alice:{ARGON2ID}%s:1002\n", h_argon2id);
	add("bob:{SHA512-CRYPT}$6$saltsalt$def:1003\n");
	add("carol:" PLAIN ":1004\n");
	add("dave:%s:nosuch-user-xyz\n", h_argon2id);
	add("erin:%s:0\n", h_argon2id);
	add("frank:%s:1005:::::nopassword\n", h_argon2id);
	add("gina:%s:1006:::::mail=bad:x\n", h_argon2id);
	add("hank:%s:1007:::::mail=/", h_argon2id);
	add_repeat('x', 5000);
	add("\nivan:%s:1008:nosuch-group-xyz\n", h_argon2id);
	add("judy:{SCRYPT}%s:1009\n", h_scrypt);
	add("kate:{ARGON2I}%s:1010:1010\n", h_argon2i);
	add("\n");
	add("leo:$argon2id$v=19$garbage:1011\n");
	add("mike:{ARGON2I}%s:1012\n", h_argon2id);
	add("alice:%s\n", h_scrypt);
	flush_file();

	n = check_output(path, out, sizeof(out));
	snprintf(want, sizeof(want),
	    "%1$s:3: no ':' after the user name\n"
	    "%1$s:4: empty user name\n"
	    "%1$s:6: user bob: unsupported password scheme {SHA512-CRYPT}\n"
	    "%1$s:7: user carol: plaintext password or unknown scheme\n"
	    "%1$s:8: user dave: uid nosuch-user-xyz is neither a number nor "
	    "a known user\n"
	    "%1$s:9: user erin: uid 0 is refused (root never opens a "
	    "maildrop)\n"
	    "%1$s:10: user frank: an extra field is not key=value\n"
	    "%1$s:11: user gina: maildrop bad:x: bad location\n"
	    "%1$s:12: line longer than %2$d octets\n"
	    "%1$s:13: user ivan: gid nosuch-group-xyz is neither a number "
	    "nor a known group\n"
	    "%1$s:17: user leo: malformed password hash\n"
	    "%1$s:18: user mike: the hash does not match its scheme "
	    "{ARGON2I}\n"
	    "%1$s:5: duplicate user alice (first on line 2); this entry is "
	    "ignored\n"
	    "%1$s:19: duplicate user alice (first on line 2); this entry is "
	    "ignored\n", path, PASSWD_LINE_MAX);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(n, 14);
	ck_assert_ptr_null(strstr(out, "$argon2"));
	ck_assert_ptr_null(strstr(out, "$7$"));
	ck_assert_ptr_null(strstr(out, PLAIN));
	ck_assert_ptr_null(strstr(out, "saltsalt"));
	/* --check logs nothing: everything went to stdout. */
	ck_assert_int_eq(log_count, 0);
}
END_TEST

START_TEST(test_check_clean)
{
	char	 out[OUT_MAX];

	add("# fine\nalice:%s:1000::::/home/alice\n", h_argon2id);
	add("bob:{SCRYPT}%s:1001:1001::/home/bob::userdb_mail=~/Maildir\n",
	    h_scrypt);
	flush_file();
	ck_assert_int_eq(check_output(path, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_str_eq(last_home, "/home/bob");
}
END_TEST

START_TEST(test_check_mode)
{
	char	 out[OUT_MAX], want[OUT_MAX];

	add("alice:%s:1000\n", h_argon2id);
	flush_file();
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(check_output(path, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s: is readable or writable by others "
	    "(mode 0644)\n", path);
	ck_assert_str_eq(out, want);

	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(path2, sizeof(path2), "%s.link", path);
	ck_assert_int_eq(symlink(path, path2), 0);
	ck_assert_int_eq(check_output(path2, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s: is a symbolic link\n", path2);
	ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_check_missing)
{
	char	 out[OUT_MAX];

	ck_assert_int_eq(check_output("/nonexistent/passwd", out, sizeof(out)),
	    1);
	ck_assert_str_eq(out, "/nonexistent/passwd: cannot open: No such file "
	    "or directory\n");
}
END_TEST

/* ---- --hash ---- */

/* Run auth_hash_main (mem in octets) with input on stdin; its stdout
 * and stderr. */
static int
hash_run(const char *in, size_t inlen, unsigned long long ops, size_t mem,
    char *out, char *err)
{
	char	 tin[] = "/tmp/test_auth_in.XXXXXX";
	char	 tout[] = "/tmp/test_auth_out.XXXXXX";
	char	 terr[] = "/tmp/test_auth_err.XXXXXX";
	int	 fin, fout, ferr, s0, s1, s2, r;
	ssize_t	 n;

	ck_assert_int_ne(fin = mkstemp(tin), -1);
	ck_assert_int_ne(fout = mkstemp(tout), -1);
	ck_assert_int_ne(ferr = mkstemp(terr), -1);
	unlink(tin);
	unlink(tout);
	unlink(terr);
	ck_assert_int_eq(write(fin, in, inlen), inlen);
	lseek(fin, 0, SEEK_SET);
	fflush(stdout);
	fflush(stderr);
	s0 = dup(0);
	s1 = dup(1);
	s2 = dup(2);
	dup2(fin, 0);
	dup2(fout, 1);
	dup2(ferr, 2);
	r = auth_hash_main(ops, mem);
	fflush(stdout);
	fflush(stderr);
	dup2(s0, 0);
	dup2(s1, 1);
	dup2(s2, 2);
	close(s0);
	close(s1);
	close(s2);
	lseek(fout, 0, SEEK_SET);
	lseek(ferr, 0, SEEK_SET);
	ck_assert_int_ge(n = read(fout, out, OUT_MAX - 1), 0);
	out[n] = '\0';
	ck_assert_int_ge(n = read(ferr, err, OUT_MAX - 1), 0);
	err[n] = '\0';
	close(fin);
	close(fout);
	close(ferr);
	return (r);
}

START_TEST(test_hash)
{
	char	 out[OUT_MAX], err[OUT_MAX], in[PASS_MAX + 3];

	ck_assert_int_eq(hash_run(PW "\n", strlen(PW) + 1, 1, 8192, out, err),
	    0);
	ck_assert_str_eq(err, "");
	ck_assert(strncmp(out, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
	ck_assert_int_eq(out[strlen(out) - 1], '\n');
	out[strlen(out) - 1] = '\0';
	ck_assert_int_eq(crypto_pwhash_str_verify(out, PW, strlen(PW)), 0);

	/* CRLF, no line end, defaults. */
	ck_assert_int_eq(hash_run(PW "\r\n", strlen(PW) + 2, 1, 8192, out,
	    err), 0);
	out[strlen(out) - 1] = '\0';
	ck_assert_int_eq(crypto_pwhash_str_verify(out, PW, strlen(PW)), 0);
	ck_assert_int_eq(hash_run(PW, strlen(PW), 0, 0, out, err), 0);
	ck_assert_ptr_nonnull(strstr(out, "$m=65536,t=2,p=1$"));
	out[strlen(out) - 1] = '\0';
	ck_assert_int_eq(crypto_pwhash_str_verify(out, PW, strlen(PW)), 0);

	/* PASS_MAX octets are fine, one more is not. */
	memset(in, 'a', sizeof(in));
	in[PASS_MAX] = '\n';
	ck_assert_int_eq(hash_run(in, PASS_MAX + 1, 1, 8192, out, err), 0);
	in[PASS_MAX] = 'a';
	in[PASS_MAX + 1] = '\n';
	ck_assert_int_eq(hash_run(in, PASS_MAX + 2, 1, 8192, out, err), 1);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(strstr(err, "longer than"));
}
END_TEST

START_TEST(test_hash_errors)
{
	char	 out[OUT_MAX], err[OUT_MAX];

	ck_assert_int_eq(hash_run("\n", 1, 1, 8192, out, err), 1);
	ck_assert_ptr_nonnull(strstr(err, "empty password"));
	ck_assert_int_eq(hash_run("", 0, 1, 8192, out, err), 1);
	ck_assert_int_eq(hash_run("a\0b\n", 4, 1, 8192, out, err), 1);
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
	ck_assert_int_eq(hash_run("x\n", 2, 1, 4096, out, err), 1);
	ck_assert_ptr_nonnull(strstr(err, "--hash-mem"));
	ck_assert_int_eq(hash_run("x\n", 2, 1ULL << 33, 8192, out, err), 1);
	ck_assert_ptr_nonnull(strstr(err, "--hash-ops"));
	ck_assert_str_eq(out, "");
}
END_TEST

/* ---- auth_become (runs in a forked test process) ---- */

START_TEST(test_become_refuses)
{
	struct auth_user	 au;

	memset(&au, 0, sizeof(au));
	au.user = (char *)(uintptr_t)"alice";
	if (geteuid() != 0) {
		au.has_uid = 1;
		au.uid = getuid() + 1;
		ck_assert_int_eq(auth_become(&au), 0);
		ck_assert_uint_eq(geteuid(), getuid());
		ck_assert_ptr_nonnull(strstr(log_last, "serving as uid"));
		return;
	}
	ck_assert_int_eq(auth_become(&au), -1);
	ck_assert_ptr_nonnull(strstr(log_last, "no uid"));
	au.has_uid = 1;
	ck_assert_int_eq(auth_become(&au), -1);
	ck_assert_ptr_nonnull(strstr(log_last, "uid 0"));
	ck_assert_uint_eq(geteuid(), 0);
}
END_TEST

START_TEST(test_become_switches)
{
	struct auth_user	 au;
	gid_t			 groups[2];

	if (geteuid() != 0 || srunner_fork_status(runner) == CK_NOFORK) {
		return;
	}
	memset(&au, 0, sizeof(au));
	au.has_uid = 1;
	au.uid = 54321;		/* no passwd entry: just the one group */
	au.gid = 54322;
	ck_assert_int_eq(auth_become(&au), 0);
	ck_assert_uint_eq(getuid(), 54321);
	ck_assert_uint_eq(geteuid(), 54321);
	ck_assert_uint_eq(getgid(), 54322);
	ck_assert_uint_eq(getegid(), 54322);
	ck_assert_int_eq(getgroups(2, groups), 1);
	ck_assert_uint_eq(groups[0], 54322);
	ck_assert_int_eq(setuid(0), -1);
}
END_TEST

START_TEST(test_become_named)
{
	struct auth_user	 au;
	struct passwd		*pw;

	if (geteuid() != 0 || srunner_fork_status(runner) == CK_NOFORK ||
	    (pw = getpwnam("nobody")) == NULL) {
		return;
	}
	memset(&au, 0, sizeof(au));
	au.has_uid = 1;
	au.uid = pw->pw_uid;
	au.gid = pw->pw_gid;
	ck_assert_int_eq(auth_become(&au), 0);
	ck_assert_uint_eq(geteuid(), au.uid);
	ck_assert_uint_eq(getegid(), au.gid);
	ck_assert_int_eq(seteuid(0), -1);
}
END_TEST

/* Made once, before the tests fork, at the cheapest cost libsodium allows. */
static int
make_hashes(void)
{
	memset(pw_max, 'm', PASS_MAX);
	memset(pw_over, 'o', PASS_MAX + 1);
	return (sodium_init() < 0 ||
	    crypto_pwhash_str(h_argon2id, PW, strlen(PW),
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0 ||
	    crypto_pwhash_str_alg(h_argon2i, PW, strlen(PW),
	    crypto_pwhash_argon2i_OPSLIMIT_MIN,
	    crypto_pwhash_argon2i_MEMLIMIT_MIN,
	    crypto_pwhash_ALG_ARGON2I13) != 0 ||
	    crypto_pwhash_scryptsalsa208sha256_str(h_scrypt, PW, strlen(PW),
	    crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN,
	    crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN) != 0 ||
	    crypto_pwhash_str(h_max, pw_max, PASS_MAX,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0 ||
	    crypto_pwhash_str(h_over, pw_over, PASS_MAX + 1,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0 ?
	    -1 : 0);
}

static TCase *
tcase(const char *name)
{
	TCase	*tc;

	tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	return (tc);
}

static Suite *
auth_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("auth");
	tc = tcase("parse");
	tcase_add_test(tc, test_full_line);
	tcase_add_test(tc, test_short_lines);
	tcase_add_test(tc, test_comments_blank);
	tcase_add_test(tc, test_extra_fields);
	tcase_add_test(tc, test_overlong_line);
	tcase_add_test(tc, test_line_boundary);
	tcase_add_test(tc, test_nul_line);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_duplicate);
	suite_add_tcase(s, tc);
	tc = tcase("verify");
	tcase_add_test(tc, test_schemes);
	tcase_add_test(tc, test_tag_mismatch);
	tcase_add_test(tc, test_wrong_unknown);
	tcase_add_test(tc, test_plaintext);
	tcase_add_test(tc, test_long_password);
	tcase_add_test(tc, test_cost);
	suite_add_tcase(s, tc);
	tc = tcase("check");
	tcase_add_test(tc, test_check_file);
	tcase_add_test(tc, test_check_clean);
	tcase_add_test(tc, test_check_mode);
	tcase_add_test(tc, test_check_missing);
	suite_add_tcase(s, tc);
	tc = tcase("hash");
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_hash_errors);
	suite_add_tcase(s, tc);
	tc = tcase("become");
	tcase_add_test(tc, test_become_refuses);
	tcase_add_test(tc, test_become_switches);
	tcase_add_test(tc, test_become_named);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	int	 failed;

	if (make_hashes() == -1) {
		fprintf(stderr, "test_auth: cannot make the test hashes\n");
		return (EXIT_FAILURE);
	}
	runner = srunner_create(auth_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
