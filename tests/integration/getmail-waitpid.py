"""tests/integration/getmail-waitpid.py GETMAIL [ARG]...: run the getmail
script GETMAIL (under the interpreter named in its #! line) with its
delivery children reaped by waitpid(2) instead of a SIGCHLD handler.

getmail6 6.18.11 (Debian 12's) forks a child for every message it
delivers, and only after fork() installs the SIGCHLD handler that
notifies the Condition it then waits on.  A child that exits before the
handler is in place (its SIGCHLD is then ignored and it stays a zombie),
or before the parent waits (the notification goes to no one), is never
noticed: getmail waits out its `timeout` (180 s by default), then aborts
with "waiting child pid N timed out".  On a busy machine that happens
now and then among the hundreds of deliveries of one run (getmail6
issues #52, #226, #245; upstream now joins a multiprocessing.Process
instead).  Nothing on the wire changes: only how getmail waits for its
own child."""

import os
import runpy
import sys

from getmailcore import baseclasses
from getmailcore.exceptions import getmailOperationError


def _prepare_child(self):
    """No SIGCHLD handler: the child stays a zombie until waitpid."""


def _wait_for_child(self, childpid):
    _, status = os.waitpid(childpid, 0)
    if os.WIFSIGNALED(status):
        raise getmailOperationError('child pid %d killed by signal %d' %
                                    (childpid, os.WTERMSIG(status)))
    if not os.WIFEXITED(status):
        raise getmailOperationError('child pid %d failed to exit' %
                                    childpid)
    return os.WEXITSTATUS(status)


# Only the versions with the race have _prepare_child; leave others be.
if hasattr(baseclasses.ForkingBase, '_prepare_child'):
    baseclasses.ForkingBase._prepare_child = _prepare_child
    baseclasses.ForkingBase._wait_for_child = _wait_for_child

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
