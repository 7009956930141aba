/* auth.c: the password file, password checks, uid switch, --hash, --check. */

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "pop3d.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to the set*id calls. */
#define ID_MAX		((unsigned long)(uid_t)-2)

/* Characters of a scheme name that a message may show. */
#define TAG_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789-_."
#define CRYPT_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789"

/* The fields of a line: user:password:uid:gid:gecos:home:shell:extra. */
enum pw_field {
	F_USER, F_PASS, F_UID, F_GID, F_GECOS, F_HOME, F_SHELL, F_EXTRA,
	F_COUNT
};

enum { LINE_OK, LINE_SKIP, LINE_BAD, LINE_EOF, LINE_ERR };
enum { PWC_EOF = -1, PWC_ERR = -2 };

/* Problems go to the log (a login) or to stdout (--check). */
enum pw_mode { PW_LOG, PW_PRINT };

enum pw_scheme { SCHEME_BAD, SCHEME_ARGON2, SCHEME_SCRYPT };

/* The password file being read.  Its buffers hold hashes: wiped on close. */
struct pwfile {
	const char	*path;
	enum pw_mode	 mode;
	int		 fd;
	int		 problems;
	unsigned long	 lineno;
	long long	 total;		/* octets read so far */
	size_t		 pos, end;	/* unread octets in buf */
	char		*line;		/* the line being parsed */
	char		*spare;		/* the other of lines[] */
	char		 buf[PASSWD_LINE_MAX];
	char		 lines[2][PASSWD_LINE_MAX + 1];
};

/* One parsed entry; every pointer points into a line of its pwfile. */
struct pw_entry {
	unsigned long	 line;
	char		*user;
	char		*pass;		/* as written, with any {TAG} */
	char		*uid;		/* NULL when empty or left out */
	char		*gid;
	char		*home;
	char		*mail;
};

/* Users seen by --check, to find duplicates. */
struct seen_user {
	char		*user;
	unsigned long	 line;
};

struct seen {
	struct seen_user *v;
	size_t		 n, cap;
	int		 failed;
};

static const struct {
	const char	*tag;
	const char	*prefix;
	enum pw_scheme	 scheme;
} schemes[] = {
	{ "ARGON2ID", crypto_pwhash_argon2id_STRPREFIX, SCHEME_ARGON2 },
	{ "ARGON2I", crypto_pwhash_argon2i_STRPREFIX, SCHEME_ARGON2 },
	{ "SCRYPT", crypto_pwhash_scryptsalsa208sha256_STRPREFIX,
	    SCHEME_SCRYPT },
};

/*
 * Unknown users and unusable entries are verified against this stand-in:
 * argon2id at the cost --hash uses by default, with a random salt and a
 * random tag that no password matches.  It is written out, not computed,
 * so that making it costs nothing and the first login of a process does
 * one hash whatever the user.  An entry hashed at another cost (or with
 * scrypt) takes another time; the caller's failure delay hides cheaper
 * ones, and an administrator who raises the cost accepts the difference.
 */
/* The spool's lock group (--lock-group) and whether it is in effect. */
static gid_t	lock_gid = (gid_t)-1;
static int	lock_held;
static char dummy_hash[crypto_pwhash_STRBYTES];
/* Better still: the first usable Argon2 hash of the file itself, so that
 * an unknown user costs exactly what the users there cost (--hash-mem on
 * a small host).  No password can log in through it: the verdict for an
 * unknown user is a failure whatever the verification says. */
static char file_stand_in[crypto_pwhash_STRBYTES];

static void	 pw_problem(struct pwfile *, unsigned long, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	 pw_say(const struct pwfile *, unsigned long, int,
		    const char *);
static int	 pwfile_open(struct pwfile *, const char *, enum pw_mode);
static void	 pwfile_close(struct pwfile *);
static int	 pwfile_getc(struct pwfile *);
static int	 pwfile_getline(struct pwfile *);
static int	 pwfile_next(struct pwfile *, struct pw_entry *);
static int	 pw_parse(struct pwfile *, struct pw_entry *);
static size_t	 pw_split(char *, char *[F_COUNT]);
static char	*pw_nonempty(char *[F_COUNT], size_t, enum pw_field);
static int	 pw_extra(struct pwfile *, struct pw_entry *, char *);
static int	 has_prefix(const char *, const char *);
static int	 pw_tag_find(const char *, size_t);
static enum pw_scheme pw_scheme(const char *, const char **);
static void	 pw_bad_scheme(struct pwfile *, const struct pw_entry *);
static int	 pw_hash_valid(enum pw_scheme, const char *);
static enum pw_scheme pw_usable(struct pwfile *, const struct pw_entry *,
		    const char **);
static void	 pw_keep_stand_in(const struct pw_entry *);
static void	 pw_dup(struct pwfile *, unsigned long, const char *,
		    unsigned long);
static int	 pw_find(struct pwfile *, const char *, struct pw_entry *);
static int	 dummy_init(void);
static enum auth_verdict pw_verify(struct pwfile *, const struct pw_entry *,
		    const char *, const char **);
static int	 pw_uid(const char *, uid_t *, gid_t *, int *);
static int	 pw_gid(const char *, gid_t *);
static int	 pw_ids(struct pwfile *, const struct pw_entry *,
		    struct auth_user *);
static enum auth_verdict pw_fill(struct pwfile *, const struct pw_entry *,
		    const char *, struct auth_user *);
static int	 become_groups(const struct auth_user *);
static int	 become_check(const struct auth_user *);
static void	 hash_err(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	 hash_cost(unsigned long long *, size_t *);
static int	 hash_readline(char *, size_t, size_t *);
static int	 hash_read(char *, size_t, size_t *);
static void	 check_mode(struct pwfile *);
static void	 check_location(struct pwfile *, const struct pw_entry *,
		    const char *);
static void	 check_entry(struct pwfile *, const struct pw_entry *,
		    const char *);
static void	 seen_add(struct pwfile *, struct seen *,
		    const struct pw_entry *);
static int	 seen_cmp(const void *, const void *);
static void	 seen_report(struct pwfile *, struct seen *);

/* ---- reading the file ---- */

/* Report a problem with the file (line 0) or one of its lines. */
static void
pw_problem(struct pwfile *pf, unsigned long line, int errnum,
    const char *fmt, ...)
{
	char	 msg[PASSWD_LINE_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pf->problems++;
	pw_say(pf, line, errnum, msg);
}

static void
pw_say(const struct pwfile *pf, unsigned long line, int errnum,
    const char *msg)
{
	const char	*sep = errnum != 0 ? ": " : "";
	const char	*why = errnum != 0 ? strerror(errnum) : "";

	if (pf->mode == PW_PRINT && line == 0) {
		printf("%s: %s%s%s\n", pf->path, msg, sep, why);
	} else if (pf->mode == PW_PRINT) {
		printf("%s:%lu: %s%s%s\n", pf->path, line, msg, sep, why);
	} else if (line == 0) {
		log_warnx("%s: %s%s%s", pf->path, msg, sep, why);
	} else {
		log_warnx("%s:%lu: %s%s%s", pf->path, line, msg, sep, why);
	}
}

/* Open path for reading; -1 (reported) unless it is a regular file
 * of at most PASSWD_SIZE_MAX octets. */
static int
pwfile_open(struct pwfile *pf, const char *path, enum pw_mode mode)
{
	struct stat	 st;

	memset(pf, 0, sizeof(*pf));
	pf->path = path;
	pf->mode = mode;
	pf->line = pf->lines[0];
	pf->spare = pf->lines[1];
	/* O_NONBLOCK: a FIFO put in the file's place cannot hang us. */
	pf->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (pf->fd == -1) {
		pw_problem(pf, 0, errno, "cannot open");
		return (-1);
	}
	if (fstat(pf->fd, &st) == -1) {
		pw_problem(pf, 0, errno, "fstat");
	} else if (!S_ISREG(st.st_mode)) {
		pw_problem(pf, 0, 0, "not a regular file");
	} else if (st.st_size > PASSWD_SIZE_MAX) {
		pw_problem(pf, 0, 0, "larger than %ld octets", PASSWD_SIZE_MAX);
	} else {
		return (0);
	}
	(void)close(pf->fd);
	pf->fd = -1;
	return (-1);
}

static void
pwfile_close(struct pwfile *pf)
{
	if (pf->fd != -1) {
		(void)close(pf->fd);
		pf->fd = -1;
	}
	sodium_memzero(pf->buf, sizeof(pf->buf));
	sodium_memzero(pf->lines, sizeof(pf->lines));
}

/* The next octet of the file, PWC_EOF, or PWC_ERR (reported). */
static int
pwfile_getc(struct pwfile *pf)
{
	ssize_t	 n;

	if (pf->pos == pf->end) {
		do {
			n = read(pf->fd, pf->buf, sizeof(pf->buf));
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			pw_problem(pf, 0, errno, "read");
			return (PWC_ERR);
		}
		if (n == 0) {
			return (PWC_EOF);
		}
		pf->total += n;
		if (pf->total > PASSWD_SIZE_MAX) {
			pw_problem(pf, 0, 0, "larger than %ld octets",
			    PASSWD_SIZE_MAX);
			return (PWC_ERR);
		}
		pf->pos = 0;
		pf->end = (size_t)n;
	}
	return ((unsigned char)pf->buf[pf->pos++]);
}

/*
 * Read the next line, without its LF, into pf->line.  A line of more than
 * PASSWD_LINE_MAX octets, or with a NUL, is read to its end and rejected
 * whole (LINE_BAD, reported): a cut line could still parse, as a
 * different entry.  LINE_OK, LINE_BAD, LINE_EOF or LINE_ERR (reported).
 */
static int
pwfile_getline(struct pwfile *pf)
{
	size_t	 len = 0;
	int	 c, any = 0, toolong = 0, nul = 0;

	while ((c = pwfile_getc(pf)) >= 0 && c != '\n') {
		any = 1;
		if (len == PASSWD_LINE_MAX) {
			toolong = 1;
		} else {
			nul |= c == '\0';
			pf->line[len++] = (char)c;
		}
	}
	if (c == PWC_ERR) {
		return (LINE_ERR);
	}
	if (c == PWC_EOF && !any) {
		return (LINE_EOF);
	}
	pf->line[len] = '\0';
	pf->lineno++;
	if (toolong) {
		pw_problem(pf, pf->lineno, 0, "line longer than %d octets",
		    PASSWD_LINE_MAX);
		return (LINE_BAD);
	}
	if (nul) {
		pw_problem(pf, pf->lineno, 0, "NUL octet in line");
		return (LINE_BAD);
	}
	return (LINE_OK);
}

/* The next entry of pf, past comments and bad lines (reported).
 * LINE_OK, LINE_EOF or LINE_ERR. */
static int
pwfile_next(struct pwfile *pf, struct pw_entry *e)
{
	int	 r;

	for (;;) {
		if ((r = pwfile_getline(pf)) == LINE_OK) {
			r = pw_parse(pf, e);
		}
		if (r != LINE_SKIP && r != LINE_BAD) {
			return (r);
		}
	}
}

/* ---- parsing a line: the one parser for logins and --check ---- */

/* Split pf->line into *e in place.  LINE_OK, LINE_SKIP for a comment or
 * a blank line, LINE_BAD (reported) for a line that is not an entry. */
static int
pw_parse(struct pwfile *pf, struct pw_entry *e)
{
	char	*f[F_COUNT];
	char	*s = pf->line;
	size_t	 n;

	memset(e, 0, sizeof(*e));
	e->line = pf->lineno;
	if ((n = strlen(s)) > 0 && s[n - 1] == '\r') {
		s[n - 1] = '\0';
	}
	/* Blank, or a comment: '#' after any blanks. */
	if (s[strspn(s, " \t")] == '#' || s[strspn(s, " \t")] == '\0') {
		return (LINE_SKIP);
	}
	if ((n = pw_split(s, f)) <= F_PASS) {
		pw_problem(pf, e->line, 0, "no ':' after the user name");
		return (LINE_BAD);
	}
	if (f[F_USER][0] == '\0') {
		pw_problem(pf, e->line, 0, "empty user name");
		return (LINE_BAD);
	}
	if (strlen(f[F_USER]) > USER_MAX) {
		pw_problem(pf, e->line, 0, "user name longer than %d octets",
		    USER_MAX);
		return (LINE_BAD);
	}
	e->user = f[F_USER];
	e->pass = f[F_PASS];
	e->uid = pw_nonempty(f, n, F_UID);
	e->gid = pw_nonempty(f, n, F_GID);
	e->home = pw_nonempty(f, n, F_HOME);
	if (n == F_COUNT && pw_extra(pf, e, f[F_EXTRA]) == -1) {
		return (LINE_BAD);
	}
	return (LINE_OK);
}

/* Cut s at its first F_COUNT - 1 colons: extra fields keep theirs
 * (mail=maildir:~/Maildir).  Returns the number of fields. */
static size_t
pw_split(char *s, char *f[F_COUNT])
{
	char	*colon;
	size_t	 n;

	f[0] = s;
	for (n = 1; n < F_COUNT; n++) {
		if ((colon = strchr(f[n - 1], ':')) == NULL) {
			break;
		}
		*colon = '\0';
		f[n] = colon + 1;
	}
	return (n);
}

static char *
pw_nonempty(char *f[F_COUNT], size_t n, enum pw_field i)
{
	return ((size_t)i < n && f[i][0] != '\0' ? f[i] : NULL);
}

/* Space-separated key=value pairs; mail= or userdb_mail= is the
 * location (the last one wins), other keys are Dovecot's and ignored.
 * A word without '=' (Dovecot's "nopassword", say) rejects the line. */
static int
pw_extra(struct pwfile *pf, struct pw_entry *e, char *s)
{
	char	*word, *eq;
	size_t	 len;

	while (*s != '\0') {
		word = s;
		len = strcspn(s, " \t");
		s += len;
		if (*s != '\0') {
			*s++ = '\0';
		}
		if (len == 0) {
			continue;
		}
		if ((eq = strchr(word, '=')) == NULL || eq == word) {
			pw_problem(pf, e->line, 0, "user %s: an extra field is "
			    "not key=value", e->user);
			return (-1);
		}
		*eq = '\0';
		if (strcmp(word, "mail") == 0 ||
		    strcmp(word, "userdb_mail") == 0) {
			e->mail = eq[1] != '\0' ? eq + 1 : NULL;
		}
	}
	return (0);
}

/* ---- password schemes ---- */

static int
has_prefix(const char *s, const char *prefix)
{
	return (strncmp(s, prefix, strlen(prefix)) == 0);
}

/* The index in schemes[] of the tag of taglen octets after pass's '{'. */
static int
pw_tag_find(const char *pass, size_t taglen)
{
	size_t	 i;

	for (i = 0; i < nitems(schemes); i++) {
		if (strlen(schemes[i].tag) == taglen &&
		    strncasecmp(pass + 1, schemes[i].tag, taglen) == 0) {
			return ((int)i);
		}
	}
	return (-1);
}

/* The scheme of pass, and in *hash the libsodium string behind its tag.
 * SCHEME_BAD for anything libsodium cannot verify. */
static enum pw_scheme
pw_scheme(const char *pass, const char **hash)
{
	const char	*end;
	size_t		 i;
	int		 t;

	*hash = pass;
	if (pass[0] == '{' && (end = strchr(pass, '}')) != NULL) {
		*hash = end + 1;
		t = pw_tag_find(pass, (size_t)(end - pass - 1));
		if (t == -1 || !has_prefix(*hash, schemes[t].prefix)) {
			return (SCHEME_BAD);
		}
		return (schemes[t].scheme);
	}
	for (i = 0; i < nitems(schemes); i++) {
		if (has_prefix(pass, schemes[i].prefix)) {
			return (schemes[i].scheme);
		}
	}
	return (SCHEME_BAD);
}

/* Say what is wrong with e's password field, naming the scheme where it
 * looks like one: never the hash, never a plaintext password. */
static void
pw_bad_scheme(struct pwfile *pf, const struct pw_entry *e)
{
	const char	*p = e->pass, *end;
	size_t		 n;

	if (p[0] == '\0') {
		pw_problem(pf, e->line, 0, "user %s: no password hash",
		    e->user);
	} else if (p[0] == '{' && (end = strchr(p, '}')) != NULL &&
	    pw_tag_find(p, (size_t)(end - p - 1)) != -1) {
		pw_problem(pf, e->line, 0, "user %s: the hash does not match "
		    "its scheme %.*s", e->user, (int)(end - p + 1), p);
	} else if (p[0] == '{' && (n = strspn(p + 1, TAG_CHARS)) > 0 &&
	    n <= SCHEME_NAME_MAX && p[n + 1] == '}') {
		pw_problem(pf, e->line, 0, "user %s: unsupported password "
		    "scheme %.*s", e->user, (int)n + 2, p);
	} else if (p[0] == '$' && (n = strspn(p + 1, CRYPT_CHARS)) > 0 &&
	    n <= SCHEME_NAME_MAX && p[n + 1] == '$') {
		pw_problem(pf, e->line, 0, "user %s: unsupported crypt "
		    "scheme %.*s", e->user, (int)n + 2, p);
	} else {
		pw_problem(pf, e->line, 0, "user %s: plaintext password or "
		    "unknown scheme", e->user);
	}
}

/* Whether libsodium can parse hash; the needs_rehash calls parse the
 * string without hashing, whatever the cost they are given. */
static int
pw_hash_valid(enum pw_scheme s, const char *hash)
{
	if (s == SCHEME_SCRYPT) {
		return (crypto_pwhash_scryptsalsa208sha256_str_needs_rehash(
		    hash,
		    crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
		    crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE) !=
		    -1);
	}
	return (crypto_pwhash_str_needs_rehash(hash,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != -1);
}

/* The scheme of e's password (*hash without its tag), or SCHEME_BAD,
 * reported, when it cannot log in. */
static enum pw_scheme
pw_usable(struct pwfile *pf, const struct pw_entry *e, const char **hash)
{
	enum pw_scheme	 s;

	if ((s = pw_scheme(e->pass, hash)) == SCHEME_BAD) {
		pw_bad_scheme(pf, e);
	} else if (!pw_hash_valid(s, *hash)) {
		pw_problem(pf, e->line, 0, "user %s: malformed password hash",
		    e->user);
		s = SCHEME_BAD;
	}
	return (s);
}

/* ---- logging in ---- */

static void
pw_dup(struct pwfile *pf, unsigned long line, const char *user,
    unsigned long first)
{
	pw_problem(pf, line, 0, "duplicate user %s (first on line %lu); this "
	    "entry is ignored", user, first);
}

/*
 * Read all of pf; *e gets the first entry for user (as Dovecot does).  The
 * whole file is read whatever is found, so that the work does not tell
 * where, or whether, the user is.  1 found, 0 not, -1 on a read error.
 */
static int
pw_find(struct pwfile *pf, const char *user, struct pw_entry *e)
{
	struct pw_entry	 cur;
	char		*keep;
	int		 found = 0, r;

	file_stand_in[0] = '\0';
	while ((r = pwfile_next(pf, &cur)) == LINE_OK) {
		pw_keep_stand_in(&cur);
		if (strcmp(cur.user, user) != 0) {
			continue;
		}
		if (found) {
			pw_dup(pf, cur.line, cur.user, e->line);
			continue;
		}
		*e = cur;
		found = 1;
		/* Read on into the other buffer: *e points into this one. */
		keep = pf->line;
		pf->line = pf->spare;
		pf->spare = keep;
	}
	return (r == LINE_EOF ? found : -1);
}

/* Keep e's hash as the stand-in if it is the file's first usable Argon2
 * hash (checked quietly: logins report problems only for the user). */
static void
pw_keep_stand_in(const struct pw_entry *e)
{
	const char	*hash;

	if (file_stand_in[0] == '\0' &&
	    pw_scheme(e->pass, &hash) == SCHEME_ARGON2 &&
	    strlen(hash) < sizeof(file_stand_in) &&
	    pw_hash_valid(SCHEME_ARGON2, hash)) {
		memcpy(file_stand_in, hash, strlen(hash) + 1);
	}
}

/* Make dummy_hash once per process; -1 (logged) if libsodium fails. */
static int
dummy_init(void)
{
	unsigned char	 salt[crypto_pwhash_SALTBYTES];
	unsigned char	 tag[DUMMY_HASH_BYTES];
	char		 salt64[sodium_base64_ENCODED_LEN(sizeof(salt),
			    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char		 tag64[sodium_base64_ENCODED_LEN(sizeof(tag),
			    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	int		 n;

	if (dummy_hash[0] != '\0') {
		return (0);
	}
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(tag, sizeof(tag));
	sodium_bin2base64(salt64, sizeof(salt64), salt, sizeof(salt),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	sodium_bin2base64(tag64, sizeof(tag64), tag, sizeof(tag),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	n = snprintf(dummy_hash, sizeof(dummy_hash), "%sv=%d$m=%llu,t=%llu,"
	    "p=%d$%s$%s", crypto_pwhash_argon2id_STRPREFIX,
	    DUMMY_ARGON2_VERSION,
	    (unsigned long long)crypto_pwhash_MEMLIMIT_INTERACTIVE /
	    HASH_MEM_UNIT,
	    (unsigned long long)crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    DUMMY_ARGON2_LANES, salt64, tag64);
	if (n > 0 && (size_t)n < sizeof(dummy_hash) &&
	    crypto_pwhash_str_needs_rehash(dummy_hash,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0) {
		return (0);
	}
	/* Should libsodium ever write another layout, pay for a real one. */
	if (crypto_pwhash_str(dummy_hash, (const char *)tag, sizeof(tag),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0) {
		return (0);
	}
	dummy_hash[0] = '\0';
	log_warnx("cannot make the stand-in password hash");
	return (-1);
}

/* Verify pass against e (NULL: no such user).  Whatever fails, one hash
 * is computed: against the stand-in when there is nothing to verify. */
static enum auth_verdict
pw_verify(struct pwfile *pf, const struct pw_entry *e, const char *pass,
    const char **why)
{
	const char	*hash = NULL;
	enum pw_scheme	 s = SCHEME_BAD;
	size_t		 len;
	int		 r;

	len = strnlen(pass, PASS_MAX + 1);
	if (e != NULL) {
		s = pw_usable(pf, e, &hash);
	}
	if (s == SCHEME_BAD || len > PASS_MAX) {
		/* The work is the point; whatever it says, this fails. */
		r = crypto_pwhash_str_verify(file_stand_in[0] != '\0' ?
		    file_stand_in : dummy_hash, pass,
		    len > PASS_MAX ? PASS_MAX : len);
		(void)r;
		*why = e == NULL ? "unknown user" : len > PASS_MAX ?
		    "password too long" : "unusable password entry";
		return (AUTH_FAIL);
	}
	*why = "wrong password";
	if (s == SCHEME_SCRYPT) {
		r = crypto_pwhash_scryptsalsa208sha256_str_verify(hash, pass,
		    len);
	} else {
		r = crypto_pwhash_str_verify(hash, pass, len);
	}
	return (r == 0 ? AUTH_OK : AUTH_FAIL);
}

/* A uid field: a number or a user name.  *has_pgid tells whether the
 * system knows the uid, and then *pgid is its primary group. */
static int
pw_uid(const char *s, uid_t *uid, gid_t *pgid, int *has_pgid)
{
	struct passwd	*pw;
	unsigned long	 n;

	if (parse_ulong(s, 0, ID_MAX, &n) != -1) {
		*uid = (uid_t)n;
		pw = getpwuid(*uid);
	} else if ((pw = getpwnam(s)) != NULL) {
		*uid = pw->pw_uid;
	} else {
		return (-1);
	}
	*has_pgid = pw != NULL;
	if (pw != NULL) {
		*pgid = pw->pw_gid;
	}
	return (0);
}

/* A gid field: a number or a group name. */
static int
pw_gid(const char *s, gid_t *gid)
{
	struct group	*gr;
	unsigned long	 n;

	if (parse_ulong(s, 0, ID_MAX, &n) != -1) {
		*gid = (gid_t)n;
	} else if ((gr = getgrnam(s)) != NULL) {
		*gid = gr->gr_gid;
	} else {
		return (-1);
	}
	return (0);
}

/*
 * Resolve e's uid and gid into au; -1 (reported) for an unknown name.
 * Without a gid field the gid is the uid's primary group when the system
 * knows the uid, else the number of the uid (the user-private-group
 * habit).  Without a uid field there is nothing to switch to: au keeps
 * our own ids, and auth_become either stays or refuses.
 */
static int
pw_ids(struct pwfile *pf, const struct pw_entry *e, struct auth_user *au)
{
	gid_t	 pgid = 0;
	int	 has_pgid = 0;

	au->has_uid = e->uid != NULL;
	au->uid = getuid();
	au->gid = getgid();
	if (e->uid != NULL) {
		if (pw_uid(e->uid, &au->uid, &pgid, &has_pgid) == -1) {
			pw_problem(pf, e->line, 0, "user %s: uid %s is neither "
			    "a number nor a known user", e->user, e->uid);
			return (-1);
		}
		au->gid = has_pgid ? pgid : (gid_t)au->uid;
	}
	if (e->gid != NULL && pw_gid(e->gid, &au->gid) == -1) {
		pw_problem(pf, e->line, 0, "user %s: gid %s is neither a "
		    "number nor a known group", e->user, e->gid);
		return (-1);
	}
	return (0);
}

/* Fill au from e for a verified login. */
static enum auth_verdict
pw_fill(struct pwfile *pf, const struct pw_entry *e, const char *user,
    struct auth_user *au)
{
	if (pw_ids(pf, e, au) == -1) {
		memset(au, 0, sizeof(*au));
		au->why = "unusable uid or gid";
		return (AUTH_FAIL);
	}
	au->user = strdup(user);
	au->home = e->home != NULL ? strdup(e->home) : NULL;
	au->mail = e->mail != NULL ? strdup(e->mail) : NULL;
	if (au->user == NULL || (e->home != NULL && au->home == NULL) ||
	    (e->mail != NULL && au->mail == NULL)) {
		log_warn("auth: strdup");
		auth_user_free(au);
		return (AUTH_TEMP);
	}
	return (AUTH_OK);
}

enum auth_verdict
auth_check(const char *file, const char *user, const char *pass,
    struct auth_user *au)
{
	struct pwfile	 pf;
	struct pw_entry	 e;
	enum auth_verdict v;
	int		 found;

	memset(au, 0, sizeof(*au));
	if (sodium_init() == -1 || dummy_init() == -1) {
		log_warnx("auth: libsodium cannot be initialised");
		return (AUTH_TEMP);
	}
	if (pwfile_open(&pf, file, PW_LOG) == -1) {
		return (AUTH_TEMP);
	}
	if ((found = pw_find(&pf, user, &e)) == -1) {
		v = AUTH_TEMP;
	} else if ((v = pw_verify(&pf, found ? &e : NULL, pass, &au->why)) ==
	    AUTH_OK) {
		v = pw_fill(&pf, &e, user, au);
	}
	pwfile_close(&pf);
	return (v);
}

void
auth_user_free(struct auth_user *au)
{
	if (au == NULL) {
		return;
	}
	free(au->user);
	free(au->home);
	free(au->mail);
	memset(au, 0, sizeof(*au));
}

/* ---- switching to the user ---- */

/* The supplementary groups of the uid's passwd name; just the gid when
 * the system does not know the uid (a virtual-mail number). */
static int
become_groups(const struct auth_user *au)
{
	struct passwd	*pw;

	if ((pw = getpwuid(au->uid)) != NULL) {
		if (initgroups(pw->pw_name, au->gid) == -1) {
			log_warn("initgroups %s", pw->pw_name);
			return (-1);
		}
		return (0);
	}
	if (setgroups(1, &au->gid) == -1) {
		log_warn("setgroups %lu", (unsigned long)au->gid);
		return (-1);
	}
	return (0);
}

/* After the switch: root must be gone for good. */
static int
become_check(const struct auth_user *au)
{
	if (setuid(0) != -1 || (au->gid != 0 && setgid(0) != -1)) {
		log_warnx("auth: root privileges could be regained");
		return (-1);
	}
	if (getuid() != au->uid || geteuid() != au->uid ||
	    getgid() != au->gid || getegid() != au->gid) {
		log_warnx("auth: uid or gid did not change to %lu:%lu",
		    (unsigned long)au->uid, (unsigned long)au->gid);
		return (-1);
	}
	return (0);
}

void
auth_set_lock_group(gid_t gid)
{
	lock_gid = gid;
}

void
auth_lock_group(int on)
{
	int	saved = errno;

	if (lock_gid != (gid_t)-1 && lock_held != on &&
	    setegid(on ? lock_gid : getgid()) == 0) {
		lock_held = on;
	}
	errno = saved;
}

int
auth_become(const struct auth_user *au)
{
	if (geteuid() != 0) {
		if (au->has_uid && au->uid != getuid()) {
			log_info("uid %lu in the password file; serving as "
			    "uid %lu", (unsigned long)au->uid,
			    (unsigned long)getuid());
		}
		return (0);
	}
	if (!au->has_uid || au->uid == 0) {
		log_warnx("refused: %s", au->has_uid ? "uid 0 never opens a "
		    "maildrop" : "no uid in the password file, and pop3d "
		    "runs as root");
		return (-1);
	}
	if (become_groups(au) == -1) {
		return (-1);
	}
	/* The lock group, if any, stays only as the saved gid. */
	if (setresgid(au->gid, au->gid, lock_gid != (gid_t)-1 ? lock_gid :
	    au->gid) == -1) {
		log_warn("setresgid %lu", (unsigned long)au->gid);
		return (-1);
	}
	if (setuid(au->uid) == -1) {
		log_warn("setuid %lu", (unsigned long)au->uid);
		return (-1);
	}
	return (become_check(au));
}

/* ---- --hash ---- */

static void
hash_err(const char *fmt, ...)
{
	va_list	 ap;

	(void)fprintf(stderr, "%s: --hash: ", LOG_IDENT);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
}

/* Check the cost, mem in octets; 0 means libsodium's interactive one. */
static int
hash_cost(unsigned long long *ops, size_t *mem)
{
	unsigned long long	 opsmin, memmin;

	opsmin = crypto_pwhash_OPSLIMIT_MIN > HASH_OPS_MIN ?
	    crypto_pwhash_OPSLIMIT_MIN : HASH_OPS_MIN;
	memmin = crypto_pwhash_MEMLIMIT_MIN > HASH_MEM_MIN_KIB * HASH_MEM_UNIT ?
	    crypto_pwhash_MEMLIMIT_MIN : HASH_MEM_MIN_KIB * HASH_MEM_UNIT;
	if (*ops == 0) {
		*ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	}
	if (*mem == 0) {
		*mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	}
	if (*ops < opsmin || *ops > crypto_pwhash_OPSLIMIT_MAX) {
		hash_err("--hash-ops must be from %llu to %llu", opsmin,
		    (unsigned long long)crypto_pwhash_OPSLIMIT_MAX);
		return (-1);
	}
	if (*mem < memmin || *mem > crypto_pwhash_MEMLIMIT_MAX) {
		hash_err("--hash-mem must be from %llu to %llu KiB",
		    memmin / HASH_MEM_UNIT,
		    (unsigned long long)crypto_pwhash_MEMLIMIT_MAX /
		    HASH_MEM_UNIT);
		return (-1);
	}
	return (0);
}

/* One line from fd 0 (unbuffered: no stdio copy of the secret) into buf,
 * without its CR LF.  -1 (said on stderr) unless 1 to PASS_MAX octets. */
static int
hash_readline(char *buf, size_t size, size_t *lenp)
{
	ssize_t	 n;
	size_t	 len = 0;
	char	 c = '\0';
	int	 over = 0;

	while ((n = read(STDIN_FILENO, &c, 1)) != 0 && c != '\n') {
		if (n == -1 && errno != EINTR) {
			hash_err("reading the password: %s", strerror(errno));
			return (-1);
		}
		if (n == 1 && len + 1 < size) {
			buf[len++] = c;
		} else if (n == 1) {
			over = 1;
		}
	}
	sodium_memzero(&c, sizeof(c));
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r') {
		buf[--len] = '\0';
	}
	if (over || len > PASS_MAX) {
		hash_err("the password is longer than %d octets", PASS_MAX);
	} else if (len == 0) {
		hash_err("empty password");
	} else if (memchr(buf, '\0', len) != NULL) {
		hash_err("the password holds a NUL octet");
	} else {
		*lenp = len;
		return (0);
	}
	return (-1);
}

/* Read the password, with a prompt and no echo when fd 0 is a tty. */
static int
hash_read(char *buf, size_t size, size_t *lenp)
{
	struct termios	 saved, quiet;
	int		 tty, r;

	tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == -1) {
			hash_err("cannot turn echo off: %s", strerror(errno));
			return (-1);
		}
		(void)fputs("Password: ", stderr);
	}
	r = hash_readline(buf, size, lenp);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	}
	return (r);
}

int
auth_hash_main(unsigned long long ops, size_t mem)
{
	char	 pass[PASS_MAX + 2];	/* the password, a CR, the NUL */
	char	 hash[crypto_pwhash_STRBYTES];
	size_t	 len;
	int	 r;

	if (sodium_init() == -1) {
		hash_err("libsodium cannot be initialised");
		return (1);
	}
	if (hash_cost(&ops, &mem) == -1) {
		return (1);
	}
	r = hash_read(pass, sizeof(pass), &len);
	if (r == 0) {
		r = crypto_pwhash_str(hash, pass, len, ops, mem);
		if (r != 0) {
			hash_err("hashing failed (not enough memory?)");
		}
	}
	sodium_memzero(pass, sizeof(pass));
	if (r != 0) {
		return (1);
	}
	if (printf("%s\n", hash) < 0 || fflush(stdout) == EOF) {
		hash_err("writing the hash: %s", strerror(errno));
		return (1);
	}
	return (0);
}

/* ---- --check ---- */

/* The file holds hashes: only its owner (and group) should see it. */
static void
check_mode(struct pwfile *pf)
{
	struct stat	 st;

	if (lstat(pf->path, &st) == 0 && S_ISLNK(st.st_mode)) {
		pw_problem(pf, 0, 0, "is a symbolic link");
	}
	if (fstat(pf->fd, &st) == 0 && (st.st_mode & S_IRWXO) != 0) {
		pw_problem(pf, 0, 0, "is readable or writable by others "
		    "(mode %04o)", (unsigned int)(st.st_mode & ~S_IFMT));
	}
}

static void
check_location(struct pwfile *pf, const struct pw_entry *e,
    const char *default_loc)
{
	const struct backend	*be = NULL;
	const char		*loc, *err = NULL;
	char			*path;

	loc = e->mail != NULL ? e->mail : default_loc;
	if ((path = maildrop_expand(loc, e->user, e->home, &be, &err)) ==
	    NULL) {
		pw_problem(pf, e->line, 0, "user %s: maildrop %s: %s", e->user,
		    loc, err != NULL ? err : "invalid location");
	} else if (be != NULL && (err = maildrop_pending(path, be)) != NULL) {
		pw_problem(pf, e->line, 0, "user %s: maildrop %s: %s", e->user,
		    path, err);
	}
	free(path);
}

static void
check_entry(struct pwfile *pf, const struct pw_entry *e,
    const char *default_loc)
{
	struct auth_user	 au;
	const char		*hash;

	(void)pw_usable(pf, e, &hash);
	memset(&au, 0, sizeof(au));
	if (pw_ids(pf, e, &au) == 0 && au.has_uid && au.uid == 0) {
		pw_problem(pf, e->line, 0, "user %s: uid 0 is refused (root "
		    "never opens a maildrop)", e->user);
	}
	check_location(pf, e, default_loc);
}

static void
seen_add(struct pwfile *pf, struct seen *s, const struct pw_entry *e)
{
	struct seen_user	*v;
	size_t			 cap;

	if (s->failed) {
		return;
	}
	if (s->n == s->cap) {
		cap = s->cap * 2 + 1;
		if ((v = reallocarray(s->v, cap, sizeof(*v))) == NULL) {
			pw_problem(pf, 0, errno, "cannot look for duplicates");
			s->failed = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	/* gcc 12's -fanalyzer loses a pointer stored at a variable index of
	 * a heap array and calls it a leak; seen_report frees it. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
	if ((s->v[s->n].user = strdup(e->user)) == NULL) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
		pw_problem(pf, 0, errno, "cannot look for duplicates");
		s->failed = 1;
		return;
	}
	s->v[s->n++].line = e->line;
}

static int
seen_cmp(const void *a, const void *b)
{
	const struct seen_user	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->user, y->user)) != 0) {
		return (c);
	}
	return (x->line < y->line ? -1 : x->line > y->line);
}

/* Report each entry whose user an earlier line has; free s. */
static void
seen_report(struct pwfile *pf, struct seen *s)
{
	size_t	 i, first = 0;

	if (s->n > 0) {
		qsort(s->v, s->n, sizeof(*s->v), seen_cmp);
	}
	for (i = 1; i < s->n; i++) {
		if (strcmp(s->v[i].user, s->v[first].user) != 0) {
			first = i;
		} else {
			pw_dup(pf, s->v[i].line, s->v[i].user,
			    s->v[first].line);
		}
	}
	for (i = 0; i < s->n; i++) {
		free(s->v[i].user);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int
auth_check_file(const char *file, const char *default_loc)
{
	struct pwfile	 pf;
	struct pw_entry	 e;
	struct seen	 seen;
	int		 problems;

	if (sodium_init() == -1) {
		printf("%s: libsodium cannot be initialised\n", file);
		return (1);
	}
	memset(&seen, 0, sizeof(seen));
	if (pwfile_open(&pf, file, PW_PRINT) == -1) {
		return (pf.problems);
	}
	check_mode(&pf);
	while (pwfile_next(&pf, &e) == LINE_OK) {
		check_entry(&pf, &e, default_loc);
		seen_add(&pf, &seen, &e);
	}
	seen_report(&pf, &seen);
	problems = pf.problems;
	pwfile_close(&pf);
	(void)fflush(stdout);
	return (problems);
}
