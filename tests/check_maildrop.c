/* tests/check_maildrop.c: Check tests for maildrop.c: location expansion
 * and the UIDL rules shared by every backend. */
#include <sys/stat.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "tests/testlib.h"

#define MANY_DUPS	100000

static void	 setup_dir(void);
static void	 teardown_dir(void);
static void	 expect_path(const char *, const char *, const char *,
		    const char *, const struct backend *);
static void	 expect_fail(const char *, const char *, const char *);
static void	 md_with(struct maildrop *, const char *const *, size_t);
static void	 md_free(struct maildrop *);
static void	 check_unique(const struct maildrop *);
static int	 by_uidl(const void *, const void *);
static Suite	*maildrop_suite(void);

static char	tmpdir[64];

static void
setup_dir(void)
{
	strcpy(tmpdir, "/tmp/check_maildrop.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown_dir(void)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/file", tmpdir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/Maildir", tmpdir);
	(void)rmdir(path);
	(void)rmdir(tmpdir);
}

/* maildrop_expand(loc, user, home) gives want with backend be. */
static void
expect_path(const char *loc, const char *user, const char *home,
    const char *want, const struct backend *be)
{
	const struct backend	*got = NULL;
	const char		*err = NULL;
	char			*p;

	p = maildrop_expand(loc, user, home, &got, &err);
	ck_assert_msg(p != NULL, "%s: failed: %s", loc, err ? err : "?");
	ck_assert_str_eq(p, want);
	ck_assert_ptr_eq(got, be);
	free(p);
}

/* maildrop_expand fails and says why. */
static void
expect_fail(const char *loc, const char *user, const char *home)
{
	const struct backend	*got = NULL;
	const char		*err = NULL;
	char			*p;

	p = maildrop_expand(loc, user, home, &got, &err);
	ck_assert_msg(p == NULL, "%s for %s gave %s", loc, user, p);
	ck_assert_ptr_nonnull(err);
	ck_assert_uint_gt(strlen(err), 0);
}

/* ---- maildrop_expand ---- */

START_TEST(test_expand_prefixes)
{
	expect_path("mbox:/x/%u", "a@b.c", NULL, "/x/a@b.c", &mbox_backend);
	expect_path("maildir:/x/%n/%d", "a@b.c", NULL, "/x/a/b.c",
	    &maildir_backend);
	expect_path("mbox:/var/mail/%n", "bob", NULL, "/var/mail/bob",
	    &mbox_backend);
	expect_path("maildir:/srv/%d/%n/Maildir", "a.b@example.org", NULL,
	    "/srv/example.org/a.b/Maildir", &maildir_backend);
	/* %% is a percent sign; a second @ belongs to the domain. */
	expect_path("mbox:/x/100%%/%d", "a@b@c", NULL, "/x/100%/b@c",
	    &mbox_backend);
	/* The prefix decides even where the path says otherwise. */
	expect_path("mbox:/tmp", "a", NULL, "/tmp", &mbox_backend);
	expect_path("maildir:/nonexistent/x", "a", NULL, "/nonexistent/x",
	    &maildir_backend);
}
END_TEST

START_TEST(test_expand_bare)
{
	char	dir[128], file[128], missing[128];
	int	fd;

	snprintf(dir, sizeof(dir), "%s/Maildir", tmpdir);
	snprintf(file, sizeof(file), "%s/file", tmpdir);
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_ne(fd = open(file, O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	expect_path(dir, "a", NULL, dir, &maildir_backend);
	expect_path(file, "a", NULL, file, &mbox_backend);
	expect_path(missing, "a", NULL, missing, &mbox_backend);
	/* Through an expansion, and with a trailing slash. */
	expect_path("~/Maildir/", "a", tmpdir, dir, &maildir_backend);
	expect_path("%h/missing", "a", tmpdir, missing, &mbox_backend);
}
END_TEST

START_TEST(test_expand_home)
{
	expect_path("~/Mail", "a", "/home/a", "/home/a/Mail", &mbox_backend);
	expect_path("mbox:~/mbox", "a", "/home/a", "/home/a/mbox",
	    &mbox_backend);
	expect_path("maildir:~/Maildir", "a", "/home/a", "/home/a/Maildir",
	    &maildir_backend);
	expect_path("maildir:%h/Maildir", "a", "/home/a", "/home/a/Maildir",
	    &maildir_backend);
	expect_path("mbox:~", "a", "/home/a/", "/home/a", &mbox_backend);
	/* ~ is special only at the start. */
	expect_path("mbox:/x/~/%u", "a", "/home/a", "/x/~/a", &mbox_backend);
}
END_TEST

START_TEST(test_expand_no_home)
{
	expect_fail("~/Mail", "a", NULL);
	expect_fail("mbox:~/Mail", "a", "");
	expect_fail("maildir:%h/Maildir", "a", NULL);
	expect_fail("maildir:%h/Maildir", "a", "");
}
END_TEST

START_TEST(test_expand_bad_vars)
{
	expect_fail("mbox:/x/%x", "a", "/h");
	expect_fail("mbox:/x/%U", "a", "/h");
	expect_fail("mbox:/x/%", "a", "/h");
	/* %d of a user without a domain is empty: refused, not "/x/". */
	expect_fail("maildir:/x/%d/%n", "bob", NULL);
	expect_fail("mbox:/x/%u", "", NULL);
}
END_TEST

START_TEST(test_expand_relative)
{
	expect_fail("mbox:var/mail/%u", "a", NULL);
	expect_fail("Mail", "a", NULL);
	expect_fail("%u", "a", NULL);
	expect_fail("~/Mail", "a", "home/a");
	expect_fail("mbox:", "a", NULL);
	expect_fail("", "a", NULL);
}
END_TEST

START_TEST(test_expand_unsafe_user)
{
	expect_fail("mbox:/var/mail/%u", "a/b", NULL);
	expect_fail("mbox:/var/mail/%u", "..", NULL);
	expect_fail("mbox:/var/mail/%u", ".", NULL);
	expect_fail("mbox:/var/mail/%u", "../etc/passwd", NULL);
	expect_fail("maildir:/x/%d/%n", "..@d", NULL);
	expect_fail("maildir:/x/%d/%n", "a@..", NULL);
	expect_fail("maildir:/x/%d/%n", "a@b/c", NULL);
	expect_fail("maildir:/x/%d/%n", "a/b@c", NULL);
	/* Dots inside a name walk nowhere. */
	expect_path("mbox:/var/mail/%u", "a..b", NULL, "/var/mail/a..b",
	    &mbox_backend);
	expect_path("mbox:/var/mail/%u", "...", NULL, "/var/mail/...",
	    &mbox_backend);
	/* A location that does not expand the user needs no check. */
	expect_path("mbox:/var/mail/shared", "a/b", NULL,
	    "/var/mail/shared", &mbox_backend);
}
END_TEST

START_TEST(test_expand_length)
{
	char	loc[LOCATION_MAX + 16], user[LOCATION_MAX];

	/* The longest path that fits: LOCATION_MAX - 1 octets. */
	memset(loc, 'a', sizeof(loc));
	memcpy(loc, "mbox:/", 6);
	loc[5 + LOCATION_MAX - 1] = '\0';
	expect_path(loc, "u", NULL, loc + 5, &mbox_backend);
	loc[5 + LOCATION_MAX - 1] = 'a';
	loc[5 + LOCATION_MAX] = '\0';
	expect_fail(loc, "u", NULL);
	/* Too long only once expanded. */
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	expect_fail("mbox:/var/mail/%u", user, NULL);
	expect_fail("~/x", "u", user);
	expect_fail("mbox:%h/x", "u", user);
}
END_TEST

START_TEST(test_expand_trailing_slashes)
{
	expect_path("maildir:/x/y///", "a", NULL, "/x/y", &maildir_backend);
	expect_path("mbox:/x/%u/", "a", NULL, "/x/a", &mbox_backend);
	expect_path("maildir:/", "a", NULL, "/", &maildir_backend);
	expect_path("maildir:///", "a", NULL, "/", &maildir_backend);
}
END_TEST

/* ---- maildrop_fix_uidls ---- */

static void
md_with(struct maildrop *md, const char *const *uidls, size_t n)
{
	size_t	i;

	memset(md, 0, sizeof(*md));
	md->fd = md->lockfd = -1;
	md->msgs = xcalloc(n, sizeof(*md->msgs));
	md->nmsgs = n;
	for (i = 0; i < n; i++) {
		ck_assert_uint_le(strlen(uidls[i]), UIDL_MAX);
		strcpy(md->msgs[i].uidl, uidls[i]);
		md->msgs[i].size = i + 1;
	}
}

static void
md_free(struct maildrop *md)
{
	free(md->msgs);
	memset(md, 0, sizeof(*md));
}

/* Every UIDL valid (1-70 octets in 0x21-0x7E) and no two alike. */
static void
check_unique(const struct maildrop *md)
{
	size_t		 i, j, n;
	const char	*u;

	for (i = 0; i < md->nmsgs; i++) {
		u = md->msgs[i].uidl;
		n = strlen(u);
		ck_assert_uint_ge(n, 1);
		ck_assert_uint_le(n, UIDL_MAX);
		for (j = 0; j < n; j++) {
			ck_assert(u[j] >= 0x21 && u[j] <= 0x7e);
		}
		for (j = 0; j < i; j++) {
			ck_assert_msg(strcmp(u, md->msgs[j].uidl) != 0,
			    "messages %zu and %zu share UIDL %s", j + 1, i + 1,
			    u);
		}
	}
}

static int
by_uidl(const void *a, const void *b)
{
	const struct msg	*x = a, *y = b;

	return strcmp(x->uidl, y->uidl);
}

START_TEST(test_uidl_unique_untouched)
{
	static const char *const u[] = { "a", "b", "a-2", "c" };
	struct maildrop	md;

	md_with(&md, u, 4);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "a");
	ck_assert_str_eq(md.msgs[1].uidl, "b");
	ck_assert_str_eq(md.msgs[2].uidl, "a-2");
	ck_assert_str_eq(md.msgs[3].uidl, "c");
	ck_assert_uint_eq(md.total, 1 + 2 + 3 + 4);
	md_free(&md);
}
END_TEST

START_TEST(test_uidl_dups)
{
	static const char *const u[] = { "x", "y", "x", "x", "y" };
	struct maildrop	md;

	md_with(&md, u, 5);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "x");
	ck_assert_str_eq(md.msgs[1].uidl, "y");
	ck_assert_str_eq(md.msgs[2].uidl, "x-2");
	ck_assert_str_eq(md.msgs[3].uidl, "x-3");
	ck_assert_str_eq(md.msgs[4].uidl, "y-2");
	ck_assert_uint_eq(md.total, 15);
	check_unique(&md);
	md_free(&md);
}
END_TEST

START_TEST(test_uidl_long_dups)
{
	char		 l70[UIDL_MAX + 1], want[UIDL_MAX + 1];
	const char	*u[12];
	struct maildrop	 md;
	size_t		 i;

	memset(l70, 'L', UIDL_MAX);
	l70[UIDL_MAX] = '\0';
	for (i = 0; i < 12; i++) {
		u[i] = l70;
	}
	md_with(&md, u, 12);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, l70);
	/* Cut to make room for the suffix, never longer than 70. */
	snprintf(want, sizeof(want), "%.*s-2", UIDL_MAX - 2, l70);
	ck_assert_str_eq(md.msgs[1].uidl, want);
	snprintf(want, sizeof(want), "%.*s-9", UIDL_MAX - 2, l70);
	ck_assert_str_eq(md.msgs[8].uidl, want);
	snprintf(want, sizeof(want), "%.*s-10", UIDL_MAX - 3, l70);
	ck_assert_str_eq(md.msgs[9].uidl, want);
	snprintf(want, sizeof(want), "%.*s-12", UIDL_MAX - 3, l70);
	ck_assert_str_eq(md.msgs[11].uidl, want);
	check_unique(&md);
	md_free(&md);
}
END_TEST

/* A UIDL that an earlier suffix already produced still ends unique. */
START_TEST(test_uidl_suffix_collision)
{
	static const char *const u1[] = { "x", "x", "x-2", "x-2", "x" };
	static const char *const u2[] = { "x-2", "x", "x", "x-3", "x" };
	struct maildrop	md;

	md_with(&md, u1, 5);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "x");
	ck_assert_str_eq(md.msgs[1].uidl, "x-2");
	ck_assert_str_eq(md.msgs[2].uidl, "x-2-2");
	ck_assert_str_eq(md.msgs[3].uidl, "x-2-3");
	ck_assert_str_eq(md.msgs[4].uidl, "x-3");
	check_unique(&md);
	md_free(&md);

	md_with(&md, u2, 5);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "x-2");
	ck_assert_str_eq(md.msgs[1].uidl, "x");
	ck_assert_str_eq(md.msgs[2].uidl, "x-3");
	ck_assert_str_eq(md.msgs[3].uidl, "x-3-2");
	ck_assert_str_eq(md.msgs[4].uidl, "x-4");
	check_unique(&md);
	md_free(&md);
}
END_TEST

/* A cut 70-character base can collide with another message's UIDL. */
START_TEST(test_uidl_long_suffix_collision)
{
	char		 l70[UIDL_MAX + 1], l68[UIDL_MAX + 1];
	const char	*u[4];
	struct maildrop	 md;

	memset(l70, 'L', UIDL_MAX);
	l70[UIDL_MAX] = '\0';
	snprintf(l68, sizeof(l68), "%.*s-2", UIDL_MAX - 2, l70);
	u[0] = l68;
	u[1] = l70;
	u[2] = l70;
	u[3] = l68;
	md_with(&md, u, 4);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, l68);
	ck_assert_str_eq(md.msgs[1].uidl, l70);
	ck_assert_uint_eq(strlen(md.msgs[2].uidl), UIDL_MAX);
	ck_assert_str_eq(md.msgs[2].uidl + UIDL_MAX - 2, "-3");
	ck_assert_uint_eq(strlen(md.msgs[3].uidl), UIDL_MAX);
	check_unique(&md);
	md_free(&md);
}
END_TEST

/* Many copies of one UIDL (anyone can mail "X-UIDL: abc") cost linear
 * time: this runs well inside the test's timeout. */
START_TEST(test_uidl_many_dups)
{
	const char	**u;
	struct maildrop	  md;
	size_t		  i;
	char		  want[UIDL_MAX + 1];

	u = xcalloc(MANY_DUPS, sizeof(*u));
	for (i = 0; i < MANY_DUPS; i++) {
		u[i] = i % 3 == 2 ? "abc-2" : "abc";
	}
	md_with(&md, u, MANY_DUPS);
	free(u);
	maildrop_fix_uidls(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "abc");
	ck_assert_str_eq(md.msgs[1].uidl, "abc-2");
	ck_assert_str_eq(md.msgs[2].uidl, "abc-2-2");
	ck_assert_str_eq(md.msgs[3].uidl, "abc-3");
	/* The last message is the 66667th "abc". */
	snprintf(want, sizeof(want), "abc-%d", MANY_DUPS - MANY_DUPS / 3);
	ck_assert_str_eq(md.msgs[MANY_DUPS - 1].uidl, want);
	/* Pairwise uniqueness, by sorting. */
	qsort(md.msgs, md.nmsgs, sizeof(*md.msgs), by_uidl);
	for (i = 1; i < md.nmsgs; i++) {
		ck_assert_str_ne(md.msgs[i - 1].uidl, md.msgs[i].uidl);
	}
	md_free(&md);
}
END_TEST

START_TEST(test_uidl_empty_maildrop)
{
	struct maildrop	md;

	md_with(&md, NULL, 0);
	maildrop_fix_uidls(&md);
	ck_assert_uint_eq(md.total, 0);
	md_free(&md);
}
END_TEST

START_TEST(test_add)
{
	struct maildrop	 md;
	struct msg	*m;
	size_t		 cap = 0, i;

	memset(&md, 0, sizeof(md));
	for (i = 0; i < 1000; i++) {
		ck_assert_ptr_nonnull(m = maildrop_add(&md, &cap));
		ck_assert_uint_eq(m->size, 0);
		ck_assert_ptr_null(m->name);
		m->size = i;
	}
	ck_assert_uint_eq(md.nmsgs, 1000);
	ck_assert_uint_ge(cap, 1000);
	for (i = 0; i < 1000; i++) {
		ck_assert_uint_eq(md.msgs[i].size, i);
	}
	free(md.msgs);
}
END_TEST

static Suite *
maildrop_suite(void)
{
	Suite	*s = suite_create("maildrop");
	TCase	*tc;

	tc = tcase_create("expand");
	tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
	tcase_add_test(tc, test_expand_prefixes);
	tcase_add_test(tc, test_expand_bare);
	tcase_add_test(tc, test_expand_home);
	tcase_add_test(tc, test_expand_no_home);
	tcase_add_test(tc, test_expand_bad_vars);
	tcase_add_test(tc, test_expand_relative);
	tcase_add_test(tc, test_expand_unsafe_user);
	tcase_add_test(tc, test_expand_length);
	tcase_add_test(tc, test_expand_trailing_slashes);
	suite_add_tcase(s, tc);

	tc = tcase_create("uidl");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_uidl_unique_untouched);
	tcase_add_test(tc, test_uidl_dups);
	tcase_add_test(tc, test_uidl_long_dups);
	tcase_add_test(tc, test_uidl_suffix_collision);
	tcase_add_test(tc, test_uidl_long_suffix_collision);
	tcase_add_test(tc, test_uidl_many_dups);
	tcase_add_test(tc, test_uidl_empty_maildrop);
	tcase_add_test(tc, test_add);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_unit_suite(maildrop_suite());
}
