/* tests/fuzz/fuzz_passwd.c: libFuzzer harness for the password file and
 * maildrop locations.  The input is "LOC\0USER\0HOME\0FILE": LOC, USER and
 * HOME go to maildrop_expand, then FILE is checked by auth_check_file with
 * LOC as the default location, which parses every line and expands every
 * entry's location.  An input with fewer than three NULs is all FILE.
 * (auth_check is left out: it verifies a password, at whatever cost the
 * file's hash asks for.)  Checked: an expansion is an absolute path, made
 * by the backend its prefix names, and a user name never adds a '/' or a
 * ".." to it.  Run with -close_fd_mask=3, as make fuzz does. */
#include <sys/types.h>

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "fuzz.h"

#define DEF_LOC		"mbox:/var/mail/%u"
#define NFIELDS		3

static char	 path[PATH_MAX];

static size_t	 count(const char *, const char *);
static size_t	 slashes_allowed(const char *, const char *);
static int	 has_dotdot(const char *);
static void	 check_expand(const char *, const char *, const char *);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	if (sodium_init() < 0) {
		fuzz_fail("sodium_init");
	}
	log_init(LOG_TO_STDERR);
	fuzz_path(path, sizeof(path), "passwd");
	return 0;
}

static size_t
count(const char *s, const char *set)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		n += strchr(set, *s) != NULL;
	}
	return n;
}

/* The most slashes an expansion of loc may hold: its own and the home's,
 * none from the user name. */
static size_t
slashes_allowed(const char *loc, const char *home)
{
	size_t	n = 0, h = home != NULL ? count(home, "/") : 0;

	if (strncmp(loc, "mbox:", 5) == 0) {
		loc += 5;
	} else if (strncmp(loc, "maildir:", 8) == 0) {
		loc += 8;
	}
	if (*loc == '~') {
		n += h;
		loc++;
	}
	for (; *loc != '\0'; loc++) {
		if (*loc == '/') {
			n++;
		} else if (*loc == '%' && loc[1] != '\0') {
			n += loc[1] == 'h' ? h : 0;
			loc++;
		}
	}
	return n;
}

/* Whether path has a ".." component. */
static int
has_dotdot(const char *p)
{
	const char	*s;

	for (s = p; (s = strstr(s, "..")) != NULL; s++) {
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/')) {
			return 1;
		}
	}
	return 0;
}

static void
check_expand(const char *loc, const char *user, const char *home)
{
	const struct backend	*be = NULL;
	const char		*err = NULL;
	char			*out;
	size_t			 n;

	if ((out = maildrop_expand(loc, user, home, &be, &err)) == NULL) {
		FUZZ_CHECK(err != NULL, "NULL without a reason");
		return;
	}
	n = strlen(out);
	FUZZ_CHECK(out[0] == '/' && n < LOCATION_MAX, "bad path \"%s\"", out);
	FUZZ_CHECK(n == 1 || out[n - 1] != '/', "trailing '/' in %s", out);
	FUZZ_CHECK(be == &mbox_backend || be == &maildir_backend,
	    "no backend for %s", out);
	FUZZ_CHECK(strncmp(loc, "mbox:", 5) != 0 || be == &mbox_backend,
	    "mbox: location %s not mbox", loc);
	FUZZ_CHECK(strncmp(loc, "maildir:", 8) != 0 ||
	    be == &maildir_backend, "maildir: location %s not Maildir", loc);
	FUZZ_CHECK(count(out, "/") <= slashes_allowed(loc, home),
	    "user %s put a '/' into %s", user, out);
	/* An administrator may put ".." into a location or a home, or a
	 * dot that a home's '/' turns into one; a user name must not. */
	FUZZ_CHECK(strchr(loc, '.') != NULL || (home != NULL &&
	    strchr(home, '.') != NULL) || !has_dotdot(out),
	    "user %s made %s from %s", user, out, loc);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*f[NFIELDS] = { DEF_LOC, "", "" };
	char		*buf, *p, *nul;
	size_t		 i, left = size;
	int		 fd = fuzz_lowest_fd();

	if ((buf = malloc(size + 1)) == NULL) {
		fuzz_fail("malloc");
	}
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	for (i = 0; i < NFIELDS; i++) {
		if ((nul = memchr(p, '\0', left)) == NULL || nul == buf + size) {
			break;
		}
		f[i] = p;
		left -= (size_t)(nul + 1 - p);
		p = nul + 1;
	}
	if (i == NFIELDS) {
		check_expand(f[0], f[1], f[2][0] != '\0' ? f[2] : NULL);
	} else {
		f[0] = DEF_LOC;
		p = buf;
		left = size;
	}
	fuzz_put(path, p, left);
	FUZZ_CHECK(auth_check_file(path, f[0]) >= 0, "negative count");
	FUZZ_CHECK(fuzz_lowest_fd() == fd, "descriptor leaked");
	free(buf);
	return 0;
}
