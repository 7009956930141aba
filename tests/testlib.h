/* tests/testlib.h: helpers shared by the Check runners. */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <check.h>
#include <sodium.h>
#include <stdlib.h>

#include "pop3d.h"

/* Run one suite, print Check's summary, exit with its verdict. */
static inline int
run_suite(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A unit runner's main: libsodium and the log to stderr, then the suite. */
static inline int
run_unit_suite(Suite *s)
{
	if (sodium_init() == -1) {
		return EXIT_FAILURE;
	}
	log_init(LOG_TO_STDERR);
	return run_suite(s);
}

#endif
