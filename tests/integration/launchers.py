#!/usr/bin/env python3
"""tests/integration/launchers.py: one full POP3 session (login, LIST,
RETR, DELE, QUIT; the maildrop checked byte for byte afterwards) under
each launcher pop3d ships a configuration for, started from that shipped
file: xinetd (contrib/pop3d.xinetd), systemd socket activation
(contrib/pop3d.socket and pop3d@.service, which must also pass
`systemd-analyze verify`), tcpserver (contrib/pop3d.run) and
openbsd-inetd (contrib/inetd.conf).  Each launcher runs in the foreground
with its own configuration on a free port of 127.0.0.1, and the log must
name the client's address.  Run from the repository root after
`make pop3d`."""

import os
import pwd
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deploylib as dl  # noqa: E402

# Where tests/integration/unpack-openbsd-inetd.sh puts openbsd-inetd's
# binary on a host that has xinetd installed (the two packages conflict).
UNPACKED_INETD = '/opt/pop3d-tests/openbsd-inetd/usr/sbin/inetd'


def me():
    return pwd.getpwuid(os.geteuid()).pw_name


def run_user():
    """The user field of an inetd or xinetd entry: root (which the
    shipped files name) when we are root, else ourselves."""
    return [] if os.geteuid() == 0 else [('root', me())]


def serve(t, what, scratch, daemon):
    """Start daemon, drive one full session, stop it, check it ended."""
    mbox = dl.setup_user(scratch)
    try:
        port = daemon.start()[0]
        dl.full_session(t, what, port, mbox, scratch.path('pop3d.log'))
    finally:
        daemon.stop()
    dl.reap(t, scratch, what)


def xinetd(t, exe):
    scratch = common.Scratch('pop3d-xinetd.')
    try:
        log = scratch.path('pop3d.log')
        wrapper = dl.write_wrapper(scratch, log)

        def argv(port):
            subs = [(dl.SHIPPED_POP3D, wrapper),
                    (dl.SHIPPED_PASSWD, scratch.path('passwd')),
                    ('\tport\t\t= 110\n',
                     '\tport\t\t= %d\n\tbind\t\t= %s\n' %
                     (port, common.HOST))]
            subs += [('= ' + a, '= ' + b) for a, b in run_user()]
            conf = dl.write(scratch.path('xinetd.conf'),
                            dl.render('pop3d.xinetd', subs))
            return [exe, '-dontfork', '-f', conf, '-pidfile',
                    scratch.path('xinetd.pid'), '-filelog',
                    scratch.path('xinetd.log')]
        serve(t, 'xinetd', scratch,
              dl.Daemon('xinetd', argv, scratch.path('xinetd.err')))
    finally:
        scratch.remove()


def unit_value(text, key):
    """The value of the one key= line of a unit file."""
    vals = [line.split('=', 1)[1] for line in text.splitlines()
            if line.startswith(key + '=')]
    if len(vals) != 1:
        raise ValueError('%s= appears %d times' % (key, len(vals)))
    return vals[0]


def verify_units(t, analyze, scratch):
    """systemd-analyze verify, offline, on the units rendered with the
    real binary; the man pages of Documentation= from the source tree."""
    d = scratch.path('units')
    os.mkdir(d)
    subs = [(dl.SHIPPED_POP3D, os.path.abspath(common.POP3D))]
    units = [os.path.join(d, 'pop3d.socket'),
             os.path.join(d, 'pop3d@.service')]
    dl.write(units[0], dl.contrib_text('pop3d.socket'))
    dl.write(units[1], dl.render('pop3d@.service', subs))
    r = subprocess.run([analyze, 'verify', '--man=no'] + units,
                       capture_output=True, timeout=60)
    t.check(r.returncode == 0 and not r.stdout and not r.stderr,
            'systemd-analyze verify --man=no passes without a word',
            r.stdout + r.stderr)
    man = scratch.path('man')
    pages = ['pop3d.8', 'pop3d.passwd.5']
    for page in pages:
        os.makedirs(os.path.join(man, 'man' + page[-1]), exist_ok=True)
        if os.path.exists(page):
            shutil.copy(page, os.path.join(man, 'man' + page[-1]))
    env = dict(os.environ, MANPATH=man)
    r = subprocess.run([analyze, 'verify'] + units, capture_output=True,
                       env=env, timeout=60)
    t.check(r.returncode == 0 and not r.stdout and not r.stderr,
            'systemd-analyze verify finds the Documentation= man pages '
            '(%s from the source tree)' % ', '.join(pages),
            r.stdout + r.stderr)


def systemd(t, activate, analyze):
    scratch = common.Scratch('pop3d-systemd.')
    try:
        if analyze is not None:
            verify_units(t, analyze, scratch)
        sock = dl.contrib_text('pop3d.socket')
        svc = dl.contrib_text('pop3d@.service')
        t.check(unit_value(sock, 'ListenStream') == '110' and
                unit_value(sock, 'Accept') == 'yes',
                'pop3d.socket listens on 110 with Accept=yes')
        t.check(unit_value(svc, 'StandardInput') == 'socket',
                'pop3d@.service takes the connection on stdin')
        log = scratch.path('pop3d.log')
        wrapper = dl.write_wrapper(scratch, log)

        def argv(port):
            sock = dl.render('pop3d.socket', [
                ('ListenStream=110', 'ListenStream=%s:%d' %
                 (common.HOST, port))])
            svc = dl.render('pop3d@.service', [
                (dl.SHIPPED_POP3D, wrapper),
                (dl.SHIPPED_PASSWD, scratch.path('passwd'))])
            listen = unit_value(sock, 'ListenStream')
            cmd = shlex.split(unit_value(svc, 'ExecStart'))
            return [activate, '--accept', '--inetd', '-l', listen] + cmd
        serve(t, 'systemd-socket-activate', scratch,
              dl.Daemon('systemd-socket-activate', argv,
                        scratch.path('activate.err')))
    finally:
        scratch.remove()


def tcpserver(t):
    scratch = common.Scratch('pop3d-tcpserver.')
    try:
        log = scratch.path('pop3d.log')
        wrapper = dl.write_wrapper(scratch, log)

        def argv(port):
            run = dl.write(scratch.path('run'), dl.render('pop3d.run', [
                (dl.SHIPPED_POP3D, wrapper),
                (dl.SHIPPED_PASSWD, scratch.path('passwd')),
                (' 0 110 ', ' %s %d ' % (common.HOST, port))]), 0o755)
            return ['/bin/sh', run]
        serve(t, 'tcpserver', scratch,
              dl.Daemon('tcpserver', argv, scratch.path('tcpserver.err')))
    finally:
        scratch.remove()


def inetd(t, exe):
    scratch = common.Scratch('pop3d-inetd.')
    try:
        log = scratch.path('pop3d.log')
        wrapper = dl.write_wrapper(scratch, log)

        def argv(port):
            subs = [(dl.SHIPPED_POP3D, wrapper),
                    (dl.SHIPPED_PASSWD, scratch.path('passwd')),
                    ('\npop3\t', '\n%s:%d\t' % (common.HOST, port))]
            subs += [('\t%s\t' % a, '\t%s\t' % b) for a, b in run_user()]
            conf = dl.write(scratch.path('inetd.conf'),
                            dl.render('inetd.conf', subs))
            # -d: debug, in the foreground and with no pid file.
            return [exe, '-d', conf]
        serve(t, 'openbsd-inetd', scratch,
              dl.Daemon('inetd', argv, scratch.path('inetd.err')))
    finally:
        scratch.remove()


def find_inetd(t):
    for path in (os.environ.get('POP3D_OPENBSD_INETD'), UNPACKED_INETD,
                 shutil.which('inetd')):
        if path and os.access(path, os.X_OK):
            return path
    print('SKIPPED: openbsd-inetd: inetd not found (apt-get install '
          'openbsd-inetd, or beside xinetd: sh '
          'tests/integration/unpack-openbsd-inetd.sh)', flush=True)
    if t.ci:
        t.check(False, 'openbsd-inetd is required under CI=true')
    return None


def main():
    t = common.Tally()
    common.require_pop3d(t)
    exe = t.tool('xinetd', 'xinetd', 'xinetd')
    if exe:
        t.section('xinetd', xinetd, t, exe)
    activate = t.tool('systemd-socket-activate', 'systemd',
                      'systemd socket activation')
    analyze = t.tool('systemd-analyze', 'systemd', 'systemd unit checks')
    if activate:
        t.section('systemd', systemd, t, activate, analyze)
    if t.tool('tcpserver', 'ucspi-tcp', 'tcpserver'):
        t.section('tcpserver', tcpserver, t)
    exe = find_inetd(t)
    if exe:
        t.section('openbsd-inetd', inetd, t, exe)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
