/* tests/fuzz/fuzz_dialogue.c: libFuzzer harness for the POP3 dialogue.
 * The input is what a client sends: the AUTHORIZATION state, AUTH PLAIN,
 * and after a login the TRANSACTION and UPDATE states on a small mbox or
 * Maildir restored for every input.  pop3d.c and auth.c are compiled in,
 * so that session_run and the static state are reachable; the session
 * reads a memfd holding the input and writes to another.  Run it with
 * -close_fd_mask=3 (as make fuzz does), or the log fills the terminal.
 *
 * Checked after every input: every LF sent is part of a CRLF; no password
 * or hash reaches the client; a session that did not end with QUIT left
 * every maildrop as it was, and one that did left whole messages in order;
 * no lock or journal is left behind; no descriptor leaked. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* As root the real auth_become would make this process the user for
 * good: it is renamed, and the stand-in below decides. */
#define auth_become	auth_become_real
#include "../../auth.c"
#undef auth_become
int	 auth_become(const struct auth_user *);

int	 pop3d_main(int, char **);
#define main		pop3d_main
#include "../../pop3d.c"
#undef main

#define FUZZ_UID	"65534"
#define GREETING	"+OK " POP3D_IMPLEMENTATION " ready\r\n"

/* alice's mbox: three messages, each segment with its separator and the
 * empty line before the next one, as UPDATE keeps or drops them. */
#define SEG1	"From a@example.org Fri Nov 27 10:00:00 2026\n" \
		"Subject: one\n\nline one\n.starts with dot\n.\n\n"
#define SEG2	"From b@example.org Fri Nov 27 10:00:01 2026\n" \
		"Subject: two\r\nX-UIDL: fixed-uidl-2\r\n\r\nbody two\r\n" \
		"From inside body\n>From quoted\n\n"
#define SEG3	"From c@example.org Fri Nov 27 10:00:02 2026\n" \
		"Subject: three\n\nlast line no newline"
#define NSEGS	3

/* bob's Maildir: one new message, one seen. */
#define BOB_NEW		"bob/new/1700000001.a.h"
#define BOB_SEEN	"bob/cur/1700000001.a.h:2,S"
#define BOB_CUR		"bob/cur/1700000002.b.h:2,"
#define BOB_NEW_MSG	"Subject: b1\n\nfirst\n"
#define BOB_CUR_MSG	"Subject: b2\r\n\r\n.dot\r\nsecond"

#define EVE_MBOX	"not an mbox\n"

static const char *const segs[NSEGS] = { SEG1, SEG2, SEG3 };
static const char *const secrets[] = {
	"secret", "hunter2", "pw-carol", "$argon2", "{ARGON2ID}"
};

static struct options	 defaults;
static int		 in_fd, out_fd;
static char		 passwd[PATH_MAX], maildrop_loc[PATH_MAX];
static char		 alice[PATH_MAX], eve[PATH_MAX], dave[PATH_MAX];

static void	 hash(char *, const char *);
static void	 make_passwd(void);
static void	 restore(void);
static void	 check_output(void);
static int	 is_subset(const char *, size_t);
static void	 check_alice(const struct session *);
static void	 check_file(const char *, const char *, int);
static void	 check_bob(const struct session *);
static int	 quit(const struct session *);

int
auth_become(const struct auth_user *au)
{
	if (geteuid() != 0) {
		return auth_become_real(au);
	}
	return au->has_uid && au->uid != 0 ? 0 : -1;
}

/* The cheapest hash libsodium makes: logins cost microseconds. */
static void
hash(char *out, const char *pw)
{
	if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_MIN,
	    crypto_pwhash_MEMLIMIT_MIN) != 0) {
		fuzz_fail("crypto_pwhash_str");
	}
}

static void
make_passwd(void)
{
	char	 h[5][crypto_pwhash_STRBYTES];
	char	 path[PATH_MAX];
	FILE	*f;

	hash(h[0], "secret");
	hash(h[1], "hunter2");
	hash(h[2], "pw");
	hash(h[3], "pw-carol");
	/* Unknown users verify against the stand-in: make it cheap too. */
	hash(dummy_hash, "no password matches this");
	hash(h[4], "pw");
	fuzz_path(passwd, sizeof(passwd), "passwd");
	if ((f = fopen(passwd, "w")) == NULL) {
		fuzz_fail("fopen %s: %s", passwd, strerror(errno));
	}
	fprintf(f, "# fuzz users\n\n"
	    "alice:%s:" FUZZ_UID ":" FUZZ_UID ":Alice:%s::mail=mbox:%%h/%%u.mbox\n"
	    "bob:{ARGON2ID}%s:" FUZZ_UID "::Bob:%s::userdb_mail=maildir:~/bob\n"
	    "dave:%s:" FUZZ_UID "::::: mail=mbox:%s/%%n.mbox quota=1G\n"
	    "eve:%s:nobody::::nologin:mail=%s/eve.mbox\n"
	    "carol@example.org:{argon2id}%s:" FUZZ_UID ":" FUZZ_UID "\n"
	    "nouid:%s\n"
	    "badloc:%s:" FUZZ_UID "::::: mail=%%x/y\n"
	    "plain:plaintext-password:" FUZZ_UID "\n"
	    "alice:%s:" FUZZ_UID ":::::\n",
	    h[0], fuzz_dir(), h[1], fuzz_dir(), h[2], fuzz_dir(), h[2],
	    fuzz_dir(), h[3], h[4], h[2], h[2]);
	if (fclose(f) == EOF) {
		fuzz_fail("write %s", passwd);
	}
	fuzz_path(alice, sizeof(alice), "alice.mbox");
	fuzz_path(eve, sizeof(eve), "eve.mbox");
	fuzz_path(dave, sizeof(dave), "dave.mbox");
	/* carol and the rest: the default location, missing, hence empty. */
	fuzz_path(maildrop_loc, sizeof(maildrop_loc), "%n.%d");
	fuzz_put(eve, EVE_MBOX, sizeof(EVE_MBOX) - 1);
	if (mkdir(fuzz_path(path, sizeof(path), "bob"), 0700) == -1 ||
	    mkdir(fuzz_path(path, sizeof(path), "bob/new"), 0700) == -1 ||
	    mkdir(fuzz_path(path, sizeof(path), "bob/cur"), 0700) == -1 ||
	    mkdir(fuzz_path(path, sizeof(path), "bob/tmp"), 0700) == -1) {
		fuzz_fail("mkdir %s: %s", path, strerror(errno));
	}
}

/* The maildrops as they were before any session. */
static void
restore(void)
{
	char	path[PATH_MAX];
	size_t	i;
	int	fd;

	fd = open(alice, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	for (i = 0; fd != -1 && i < NSEGS; i++) {
		if (write(fd, segs[i], strlen(segs[i])) !=
		    (ssize_t)strlen(segs[i])) {
			fuzz_fail("write %s: %s", alice, strerror(errno));
		}
	}
	if (fd == -1 || close(fd) == -1) {
		fuzz_fail("restore %s: %s", alice, strerror(errno));
	}
	/* A fresh mailbox each time: no cache of the last one's layout. */
	fuzz_unlink(fuzz_path(path, sizeof(path), "alice.mbox.pop3d-cache"));
	fuzz_unlink(fuzz_path(path, sizeof(path), BOB_SEEN));
	fuzz_put(fuzz_path(path, sizeof(path), BOB_NEW), BOB_NEW_MSG,
	    sizeof(BOB_NEW_MSG) - 1);
	fuzz_put(fuzz_path(path, sizeof(path), BOB_CUR), BOB_CUR_MSG,
	    sizeof(BOB_CUR_MSG) - 1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	if (sodium_init() < 0) {
		fuzz_fail("sodium_init");
	}
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	make_passwd();
	restore();
	in_fd = fuzz_memfd("client-in");
	out_fd = fuzz_memfd("client-out");
	defaults = opt;
	log_init(LOG_TO_STDERR);
	return 0;
}

static int
quit(const struct session *s)
{
	return s->how != NULL && strcmp(s->how, "quit") == 0;
}

/* CRLF line ends only, and nothing secret on the wire. */
static void
check_output(void)
{
	char	*out;
	size_t	 n, i;

	out = fuzz_written(out_fd, &n);
	FUZZ_CHECK(n >= sizeof(GREETING) - 1 &&
	    memcmp(out, GREETING, sizeof(GREETING) - 1) == 0,
	    "output does not start with the greeting");
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(out[i] != '\n' || (i > 0 && out[i - 1] == '\r'),
		    "bare LF at output octet %zu", i);
	}
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		FUZZ_CHECK(memmem(out, n, secrets[i], strlen(secrets[i])) ==
		    NULL, "\"%s\" sent to the client", secrets[i]);
	}
	free(out);
}

/* Whether buf is some of alice's segments, whole and in order. */
static int
is_subset(const char *buf, size_t n)
{
	size_t	i, k, off = 0;

	for (i = 0; i < NSEGS; i++) {
		k = strlen(segs[i]);
		if (n - off >= k && memcmp(buf + off, segs[i], k) == 0) {
			off += k;
		}
	}
	return off == n;
}

static void
check_alice(const struct session *s)
{
	char	 path[PATH_MAX];
	char	*buf;
	size_t	 n, i, full = 0;
	int	 fd;

	if ((fd = open(alice, O_RDONLY | O_CLOEXEC)) == -1) {
		fuzz_fail("open %s: %s", alice, strerror(errno));
	}
	buf = fuzz_slurp(fd, &n);
	close(fd);
	for (i = 0; i < NSEGS; i++) {
		full += strlen(segs[i]);
	}
	if (quit(s)) {
		FUZZ_CHECK(is_subset(buf, n), "UPDATE cut a message");
	} else {
		FUZZ_CHECK(n == full && is_subset(buf, n),
		    "mbox changed by a session that ended: %s", s->how);
	}
	free(buf);
	FUZZ_CHECK(access(fuzz_path(path, sizeof(path), "alice.mbox.lock"),
	    F_OK) == -1, "dotlock left behind");
	FUZZ_CHECK(access(fuzz_path(path, sizeof(path),
	    "alice.mbox.pop3d-journal"), F_OK) == -1, "journal left behind");
}

/* name holds want; if it may be gone, it may also be missing. */
static void
check_file(const char *name, const char *want, int may_go)
{
	char	 path[PATH_MAX];
	char	*buf;
	size_t	 n;
	int	 fd;

	fd = open(fuzz_path(path, sizeof(path), name), O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		FUZZ_CHECK(may_go && errno == ENOENT, "%s: %s", name,
		    strerror(errno));
		return;
	}
	buf = fuzz_slurp(fd, &n);
	close(fd);
	FUZZ_CHECK(n == strlen(want) && memcmp(buf, want, n) == 0,
	    "%s changed", name);
	free(buf);
}

static void
check_bob(const struct session *s)
{
	char	path[PATH_MAX];
	int	in_new, in_cur;

	check_file(BOB_CUR, BOB_CUR_MSG, quit(s));
	check_file(BOB_NEW, BOB_NEW_MSG, quit(s));
	check_file(BOB_SEEN, BOB_NEW_MSG, 1);
	in_new = access(fuzz_path(path, sizeof(path), BOB_NEW), F_OK) == 0;
	in_cur = access(fuzz_path(path, sizeof(path), BOB_SEEN), F_OK) == 0;
	FUZZ_CHECK(!(in_new && in_cur), "a message in new/ and cur/");
	FUZZ_CHECK(quit(s) || !in_cur, "moved to cur/ without QUIT");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	s;
	int		fd = fuzz_lowest_fd();

	/* The session reads the input to its end, and stops there. */
	if ((size > 0 && pwrite(in_fd, data, size, 0) != (ssize_t)size) ||
	    ftruncate(in_fd, (off_t)size) == -1) {
		fuzz_fail("input: %s", strerror(errno));
	}
	fuzz_rewind(in_fd);
	fuzz_rewind(out_fd);
	opt = defaults;
	opt.passwd = passwd;
	opt.maildrop = maildrop_loc;
	opt.fail_delay = 0;
	opt.auth_floor = 0;
	log_set_user(NULL);
	memset(&s, 0, sizeof(s));
	s.md.fd = s.md.lockfd = -1;
	s.ps_sock = -1;
	s.plaintext_ok = 1;
	io_init(in_fd, out_fd);
	io_puts(GREETING);
	session_run(&s);
	FUZZ_CHECK(s.how == NULL || strcmp(s.how, "update-failed") != 0,
	    "UPDATE failed");
	check_output();
	check_alice(&s);
	check_bob(&s);
	check_file("eve.mbox", EVE_MBOX, 0);
	FUZZ_CHECK(access(dave, F_OK) == -1, "dave's mbox was created");
	FUZZ_CHECK(fuzz_lowest_fd() == fd, "descriptor leaked");
	if (quit(&s)) {
		restore();
	}
	return 0;
}
