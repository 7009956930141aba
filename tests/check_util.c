/* tests/check_util.c: Check tests for util.c: the one number parser. */
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>

#include "pop3d.h"
#include "tests/testlib.h"

#define SENTINEL	12345UL

static int	parse(const char *, unsigned long, unsigned long,
		    unsigned long *);
static Suite	*util_suite(void);

/* parse_ulong with out preset, so a failed parse can be seen to leave it. */
static int
parse(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	*out = SENTINEL;
	return parse_ulong(s, min, max, out);
}

START_TEST(test_plain)
{
	unsigned long	v;

	ck_assert_int_eq(parse("1", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(parse("0", 0, 100, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse("100", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(parse("4294967295", 0, 4294967295UL, &v), 0);
	ck_assert_uint_eq(v, 4294967295UL);
}
END_TEST

START_TEST(test_leading_zeros)
{
	unsigned long	v;

	ck_assert_int_eq(parse("007", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse("000", 0, 100, &v), 0);
	ck_assert_uint_eq(v, 0);
	/* Decimal only: no octal, no hex. */
	ck_assert_int_eq(parse("010", 0, 100, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(parse("0x10", 0, 100, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_range)
{
	unsigned long	v;

	ck_assert_int_eq(parse("0", 1, 100, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
	ck_assert_int_eq(parse("101", 1, 100, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
	ck_assert_int_eq(parse("4294967296", 0, 4294967295UL, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
	ck_assert_int_eq(parse("4294967297", 0, 4294967295UL, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_overflow)
{
	unsigned long	v;

	ck_assert_int_eq(parse("18446744073709551616", 0, ULONG_MAX, &v), -1);
	ck_assert_uint_eq(v, SENTINEL);
	ck_assert_int_eq(parse("99999999999999999999999", 0, ULONG_MAX, &v),
	    -1);
	ck_assert_uint_eq(v, SENTINEL);
	ck_assert_int_eq(parse("18446744073709551615", 0, ULONG_MAX, &v), 0);
	ck_assert_uint_eq(v, ULONG_MAX);
}
END_TEST

START_TEST(test_junk)
{
	static const char *const bad[] = {
		"-1", "+1", " 1", "1 ", "1x", "x1", "", "\t1", "1\n", "1.0",
		"-0", "1,000", "1e3"
	};
	unsigned long	v;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], 0, ULONG_MAX, &v) == -1,
		    "\"%s\" was accepted", bad[i]);
		ck_assert_uint_eq(v, SENTINEL);
	}
}
END_TEST

START_TEST(test_xalloc)
{
	char	*s, *p;
	int	*a;

	s = xstrdup("pop3d");
	ck_assert_str_eq(s, "pop3d");
	free(s);
	p = xcalloc(4, 8);
	ck_assert_int_eq(p[0] | p[31], 0);
	free(p);
	a = xreallocarray(NULL, 10, sizeof(*a));
	a[9] = 9;
	a = xreallocarray(a, 20, sizeof(*a));
	ck_assert_int_eq(a[9], 9);
	free(a);
}
END_TEST

START_TEST(test_xreallocarray_overflow)
{
	/* Exits (fatalx) instead of allocating a wrapped size. */
	(void)xreallocarray(NULL, SIZE_MAX / 2 + 2, 2);
}
END_TEST

START_TEST(test_clock)
{
	uint64_t	t0, t1;

	t0 = now_ms();
	sleep_ms(50);
	t1 = now_ms();
	ck_assert_uint_ge(t1 - t0, 50);
	ck_assert_uint_lt(t1 - t0, 5000);
}
END_TEST

/* count_octet agrees with a plain loop at every length and alignment. */
START_TEST(test_count_octet)
{
	char		*b;
	size_t		 n, off, i;
	uint64_t	 want;
	uint32_t	 seed = 1;

	b = xcalloc(70000, 1);
	for (i = 0; i < 70000; i++) {
		seed = seed * 1103515245 + 12345;
		b[i] = "\n\nab\r"[(seed >> 16) % 5];
	}
	for (off = 0; off < 17; off++) {
		for (n = 0; n + off < 70000; n += n < 600 ? 1 : 997) {
			for (want = 0, i = 0; i < n; i++) {
				want += b[off + i] == '\n';
			}
			ck_assert_uint_eq(count_octet(b + off, n, '\n'), want);
		}
	}
	memset(b, '\n', 70000);
	ck_assert_uint_eq(count_octet(b, 70000, '\n'), 70000);
	ck_assert_uint_eq(count_octet(b, 70000, '\r'), 0);
	free(b);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("parse_ulong");

	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_leading_zeros);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_junk);
	suite_add_tcase(s, tc);
	tc = tcase_create("alloc");
	tcase_add_test(tc, test_xalloc);
	tcase_add_exit_test(tc, test_xreallocarray_overflow, 1);
	tcase_add_test(tc, test_clock);
	tcase_add_test(tc, test_count_octet);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_unit_suite(util_suite());
}
