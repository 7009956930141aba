#!/usr/bin/env python3
"""tests/integration/static.py: `make static` builds pop3d-static, fully
static (libc and libsodium linked in), through the CC and PKG_CONFIG it
is given -- which is what cross-compiling needs -- and the binary serves
a full session under systemd-socket-activate.  The build runs in a copy
of the sources, so the work tree is left alone.  Prints the binary's
size and a session's peak memory (with a cheap hash, so Argon2's share
is negligible, and with libsodium's default cost) for README.  Run from
the repository root after `make pop3d`."""

import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deploylib as dl  # noqa: E402

MAKE_SECS = 300
NMSGS = 300
# A session besides Argon2 must fit a small host: about 3 MiB measured
# on x86-64 (static or not), so 8 MiB leaves room and still catches a
# session that grows with the maildrop.
SESSION_RSS_MAX_KIB = 8 * 1024


def logging_tool(path, real, log):
    """A stand-in for a build tool that notes each call, then runs it."""
    return dl.write(path, '#!/bin/sh\necho "$*" >>%s\nexec %s "$@"\n' %
                    (log, real), 0o755)


def build(t, scratch):
    src = scratch.path('src')
    os.mkdir(src)
    for f in ['Makefile'] + glob.glob('*.c') + glob.glob('*.h'):
        shutil.copy(f, src)
    cc_log, pc_log = scratch.path('cc.log'), scratch.path('pkg-config.log')
    cc = logging_tool(scratch.path('my-cc'), shutil.which('cc') or 'cc',
                      cc_log)
    pc = logging_tool(scratch.path('my-pkg-config'),
                      shutil.which('pkg-config') or 'pkg-config', pc_log)
    # A build of its own: not the CFLAGS of a make check-sanitize that
    # runs this test (sanitizers cannot link -static).
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'CFLAGS',
                        'LDFLAGS')}
    r = subprocess.run(['make', '--no-print-directory', '-C', src, 'static',
                        'CC=' + cc, 'PKG_CONFIG=' + pc],
                       capture_output=True, timeout=MAKE_SECS, env=env)
    out = (r.stdout + r.stderr).decode('utf-8', 'replace')
    binary = os.path.join(src, 'pop3d-static')
    if not t.check(r.returncode == 0 and os.path.exists(binary),
                   'make static CC=... PKG_CONFIG=... builds pop3d-static',
                   out):
        return None
    calls = (dl.read_bytes(cc_log) or b'').decode().splitlines()
    objects = sorted(os.path.basename(f)[:-2] + '.c'
                     for f in glob.glob(src + '/*.o'))
    compiled = sorted(c.split()[-1] for c in calls if ' -c ' in ' ' + c)
    links = [c for c in calls if ' -static ' in ' %s ' % c and '-o' in c]
    t.check(objects and compiled == objects and len(links) == 1,
            'every compile and the link went through $(CC)',
            'compiled %r, links %r' % (compiled, links))
    pcs = (dl.read_bytes(pc_log) or b'').decode().splitlines()
    t.check('--static --libs libsodium' in pcs and
            '--cflags libsodium' in pcs,
            'libsodium\'s flags came from $(PKG_CONFIG) --static', pcs)
    f = subprocess.run(['file', '-b', binary], capture_output=True,
                       text=True).stdout
    t.check('statically linked' in f, 'file(1) says statically linked', f)
    r = subprocess.run(['ldd', binary], capture_output=True, text=True)
    t.check('not a dynamic executable' in r.stdout + r.stderr,
            'ldd(1) says not a dynamic executable', r.stdout + r.stderr)
    r = subprocess.run(['readelf', '-lW', binary], capture_output=True,
                       text=True)
    t.check(r.returncode == 0 and 'INTERP' not in r.stdout and
            'DYNAMIC' not in r.stdout,
            'no program interpreter, no dynamic section', r.stdout[-400:])
    stripped = scratch.path('pop3d-static.stripped')
    subprocess.run(['strip', '-o', stripped, binary], check=True)
    print('# pop3d-static: %d octets as built (with -g), %d stripped' %
          (os.path.getsize(binary), os.path.getsize(stripped)), flush=True)
    r = subprocess.run(['make', '--no-print-directory', '-C', src, 'clean'],
                       capture_output=True, timeout=MAKE_SECS)
    t.check(r.returncode == 0 and not os.path.exists(binary),
            'make clean removes pop3d-static')
    # clean took the binary: keep the stripped one for the sessions.
    return stripped


def serve(t, scratch, binary, activate):
    mbox = dl.setup_user(scratch)
    log = scratch.path('pop3d.log')
    wrapper = dl.write_wrapper(scratch, log, pop3d=binary)
    d = dl.Daemon('systemd-socket-activate', lambda port: [
        activate, '--accept', '--inetd', '-l', '%s:%d' % (common.HOST, port),
        wrapper, '-f', scratch.path('passwd')], scratch.path('activate.err'))
    try:
        port = d.start()[0]
        dl.full_session(t, 'pop3d-static', port, mbox, log)
    finally:
        d.stop()
    dl.reap(t, scratch, 'pop3d-static')


def peak_rss(binary, passwd, nmsgs, log):
    """Peak RSS (KiB, the kernel's VmHWM) of the process serving one
    session over a pipe, once every message is listed, UIDL'd and
    retrieved, read just before QUIT.  (The rusage of a child forked
    from this script would count the script's own pages.)"""
    cmds = [b'USER big', b'PASS ' + dl.PASSWORD.encode(), b'STAT', b'LIST',
            b'UIDL'] + [b'RETR %d' % (i + 1) for i in range(nmsgs)]
    with open(log, 'wb') as err:
        p = subprocess.Popen([binary, '-f', passwd, '--log=stderr'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=err)
    try:
        p.stdin.write(b''.join(c + b'\r\n' for c in cmds))
        p.stdin.flush()
        ends = 0
        while ends < nmsgs + 2:
            line = p.stdout.readline()
            if not line:
                return None, 'pop3d ended early'
            ends += line == b'.\r\n'
        pid = login_pid(log)
        with open('/proc/%d/status' % pid) as f:
            hwm = [int(x.split()[1]) for x in f if x.startswith('VmHWM:')]
        p.stdin.write(b'QUIT\r\n')
        p.stdin.close()
        p.stdout.read()
    finally:
        if p.poll() is None:
            p.wait(dl.CLIENT_SECS)
    return p.returncode, hwm[0]


def login_pid(log):
    """The pid that logged the login: the one serving the session."""
    for line in (dl.read_bytes(log) or b'').decode().splitlines():
        if ': login: ' in line:
            return int(line.split('[', 1)[1].split(']', 1)[0])
    raise RuntimeError('no login line in ' + log)


def measure(t, scratch, binary):
    msgs = dl.varied_messages(NMSGS)
    mbox = scratch.path('big.mbox')
    scratch.put(mbox, dl.mbox_of(msgs))
    size = len(dl.mbox_of(msgs))
    for label, cost in (('a cheap hash (--hash-ops=1 --hash-mem=8)',
                         ['--hash-ops=1', '--hash-mem=8']),
                        ("a hash of --hash's default cost", [])):
        hashed = subprocess.run([binary, '--hash'] + cost,
                                input=dl.PASSWORD.encode() + b'\n',
                                capture_output=True,
                                check=True).stdout.decode().strip()
        passwd = scratch.path('passwd-big')
        with open(passwd, 'w') as f:
            f.write('big:%s:%s:Big:%s::mail=mbox:%s\n' %
                    (hashed, scratch.owner_fields(), scratch.dir, mbox))
        os.chmod(passwd, 0o600)
        for name, exe in (('pop3d-static', binary),
                          ('./pop3d', os.path.abspath(common.POP3D))):
            code, kib = peak_rss(exe, passwd, len(msgs),
                                 scratch.path('rss.log'))
            print('# %s as %s, %s: peak RSS %d KiB for a session '
                  'retrieving %d messages (%d octets)' %
                  (name, 'root' if os.geteuid() == 0 else 'uid %d' %
                   os.geteuid(), label, kib, len(msgs), size), flush=True)
            # A sanitizer build's memory says nothing about pop3d's.
            if 'cheap' in label and not sanitized(exe):
                t.check(code == 0 and kib < SESSION_RSS_MAX_KIB,
                        '%s: a whole session with a cheap hash stays under '
                        '%d KiB' % (name, SESSION_RSS_MAX_KIB),
                        'exit %d, %d KiB' % (code, kib))


def sanitized(exe):
    """Whether exe was built with AddressSanitizer (make check-sanitize)."""
    with open(exe, 'rb') as f:
        return b'__asan_init' in f.read()


def main():
    t = common.Tally()
    common.require_pop3d(t)
    tools = [t.tool(x, pkg, 'static build') for x, pkg in (
        ('make', 'make'), ('cc', 'gcc'), ('pkg-config', 'pkg-config'),
        ('file', 'file'), ('ldd', 'libc-bin'), ('readelf', 'binutils'),
        ('strip', 'binutils'))]
    activate = t.tool('systemd-socket-activate', 'systemd', 'launcher')
    if None in tools:
        return t.finish()
    if not os.path.exists('/usr/lib/%s/libsodium.a' % os.uname().machine +
                          '-linux-gnu') and not glob.glob(
                              '/usr/lib/*/libsodium.a'):
        t.check(False, 'libsodium.a is installed (libsodium-dev)')
        return t.finish()
    scratch = common.Scratch('pop3d-static.')
    try:
        binary = t.section('build', build, t, scratch)
        if binary:
            os.chmod(binary, 0o755)
            if activate:
                t.section('session', serve, t, scratch, binary, activate)
            t.section('memory', measure, t, scratch, binary)
    finally:
        scratch.remove()
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
