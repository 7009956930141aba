#!/usr/bin/env python3
"""tests/integration/install.py: `make install DESTDIR=...` puts exactly
the files SPEC names -- sbin/pop3d and the man pages pop3d(8) and
pop3d.passwd(5) -- under PREFIX (default /usr/local), unstripped and with
the right modes, and `make uninstall` removes exactly those and nothing
else.  Runs make in the repository root, writing only below scratch
directories.  Run from the repository root after `make pop3d`."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# What SPEC's "Build and files" names, from the repository root, and
# where each goes below PREFIX, with its mode.
FILES = [('pop3d', 'sbin/pop3d', 0o755),
         ('pop3d.8', 'share/man/man8/pop3d.8', 0o644),
         ('pop3d.passwd.5', 'share/man/man5/pop3d.passwd.5', 0o644)]
MAKE_SECS = 300


def make(*args):
    r = subprocess.run(['make', '--no-print-directory'] + list(args),
                       capture_output=True, timeout=MAKE_SECS)
    return r.returncode, (r.stdout + r.stderr).decode('utf-8', 'replace')


def tree(root):
    """Every file (not directory) below root, relative, sorted."""
    out = []
    for top, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(top, f), root) for f in files]
    return sorted(out)


def same_bytes(a, b):
    with open(a, 'rb') as f, open(b, 'rb') as g:
        return f.read() == g.read()


def install_under(t, dest, prefix):
    what = 'make install DESTDIR=... %s' % (
        'PREFIX=' + prefix if prefix else '(default PREFIX /usr/local)')
    args = ['install', 'DESTDIR=' + dest]
    if prefix:
        args.append('PREFIX=' + prefix)
    code, out = make(*args)
    if not t.check(code == 0, '%s exits 0' % what, out):
        return None
    base = (prefix or '/usr/local').lstrip('/')
    want = sorted(os.path.join(base, rel) for _, rel, _ in FILES)
    got = tree(dest)
    t.check(got == want, '%s installs exactly %s' % (what, ', '.join(want)),
            'got %r' % got)
    for src, rel, mode in FILES:
        path = os.path.join(dest, base, rel)
        if not os.path.exists(path):
            continue
        st = os.stat(path)
        t.check(stat.S_IMODE(st.st_mode) == mode, '%s: %s has mode %o' %
                (what, rel, mode), oct(st.st_mode))
        t.check(same_bytes(src, path), '%s: %s is %s byte for byte%s' %
                (what, rel, src, ' (not stripped)' if mode == 0o755 else
                 ''))
    return base


def uninstall(t, dest, prefix, base):
    # A file of someone else's beside ours must stay.
    other = os.path.join(dest, base, 'sbin', 'other-daemon')
    with open(other, 'wb') as f:
        f.write(b'not pop3d\n')
    args = ['uninstall', 'DESTDIR=' + dest]
    if prefix:
        args.append('PREFIX=' + prefix)
    code, out = make(*args)
    t.check(code == 0, 'make uninstall %sexits 0' %
            ('PREFIX=%s ' % prefix if prefix else ''), out)
    got = tree(dest)
    want = [os.path.relpath(other, dest)]
    t.check(got == want, 'make uninstall removes exactly the installed '
            'files (leaves %s)' % want[0], 'left %r' % got)
    code, out = make(*args)
    t.check(code == 0, 'make uninstall again (nothing to remove) exits 0',
            out)


def main():
    t = common.Tally()
    common.require_pop3d(t)
    for src, _, _ in FILES:
        t.check(os.path.exists(src), '%s exists in the repository root '
                '(SPEC: make install installs it)' % src)
    for prefix in (None, '/usr'):
        dest = tempfile.mkdtemp(prefix='pop3d-install.', dir='/tmp')
        try:
            base = install_under(t, dest, prefix)
            if base is not None:
                uninstall(t, dest, prefix, base)
        finally:
            shutil.rmtree(dest, ignore_errors=True)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
