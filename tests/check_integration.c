/* tests/check_integration.c: one Check test per script under
 * tests/integration/, each of which serves the built ./pop3d through a real
 * launcher on 127.0.0.1 and drives it with real clients or MDAs.  A script
 * prints one line per check and exits 0 only if all passed. */
#include <sys/types.h>
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

#define SCRIPT_SECS	300	/* a script takes seconds; allow slow hosts */
#define CMDLEN		512

/* Adding a script is adding its name here. */
static const char *const scripts[] = {
	"clients.py",		/* poplib and curl; a doveadm hash */
	"launchers.py",		/* xinetd, systemd units, tcpserver, inetd */
	"tls.py",		/* stunnel exec and proxy; curl, fetchmail */
	"clients_real.py",	/* six clients, 300 messages, keep/delete */
	"privileges.py",	/* root switching uids; a virtual-mail user */
	"install.py",		/* make install/uninstall DESTDIR= */
	"static.py",		/* make static; size and memory */
	"mda.py",		/* procmail, maildrop deliver during sessions */
	"faults.py",		/* SIGKILL, EIO, full disk at each UPDATE step */
};
#define NSCRIPTS	((int)(sizeof(scripts) / sizeof(scripts[0])))

START_TEST(t_script)
{
	char	cmd[CMDLEN];
	int	status;

	snprintf(cmd, sizeof(cmd), "python3 tests/integration/%s",
	    scripts[_i]);
	fflush(stdout);
	status = system(cmd);
	ck_assert_msg(status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "%s failed (wait status %d)", cmd,
	    status);
}
END_TEST

static Suite *
integration_suite(void)
{
	Suite	*s = suite_create("integration");
	TCase	*tc = tcase_create("integration");

	tcase_set_timeout(tc, SCRIPT_SECS);
	tcase_add_loop_test(tc, t_script, 0, NSCRIPTS);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(integration_suite());
}
