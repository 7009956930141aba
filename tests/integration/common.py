"""tests/integration/common.py: what every integration script shares: the
tally of checks, tools that may be missing, a scratch directory owned by
the mail user, password entries, and pop3d served on 127.0.0.1 by a real
launcher that is stopped again whatever happens."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

POP3D = './pop3d'
HOST = '127.0.0.1'
LAUNCH_TRIES = 5
READY_SECS = 10
STOP_SECS = 5
CLIENT_SECS = 30


def stop_group(proc):
    """Stop proc and its process group: TERM, then KILL if it lingers."""
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(STOP_SECS)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


class Tally:
    """One line per check; SKIPPED lines for missing tools, which under
    CI=true count as failures."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.ci = os.environ.get('CI') == 'true'

    def check(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print('ok - ' + what, flush=True)
        else:
            self.failed += 1
            print('not ok - ' + what, flush=True)
            if detail:
                for line in str(detail).splitlines():
                    print('#   ' + line, flush=True)
        return bool(cond)

    def tool(self, name, package, what):
        """The path of tool name, or None after a SKIPPED line."""
        path = shutil.which(name)
        if path is None:
            print('SKIPPED: %s: %s not found (apt-get install %s)' %
                  (what, name, package), flush=True)
            if self.ci:
                self.check(False, '%s is required under CI=true' % name)
        return path

    def section(self, what, fn, *args):
        """Run fn; an exception in it is one failed check, not the end."""
        try:
            return fn(*args)
        except Exception as e:     # noqa: BLE001 - report and go on
            self.check(False, '%s: %s: %r' % (what, type(e).__name__, e))
            return None

    def finish(self):
        print('%d passed, %d failed' % (self.passed, self.failed),
              flush=True)
        return 0 if self.failed == 0 else 1


def require_pop3d(tally):
    """Scripts run from the repository root, against the built ./pop3d."""
    if not os.access(POP3D, os.X_OK):
        tally.check(False, '%s exists: run `make pop3d` in the repository '
                    'root and start this script from there' % POP3D)
        sys.exit(tally.finish())


class Scratch:
    """A scratch directory; as root its contents belong to nobody, since
    a root pop3d refuses to open a maildrop as root."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
        self.root = os.geteuid() == 0
        if self.root:
            pw = pwd.getpwnam('nobody')
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def owner_fields(self):
        """The uid:gid fields of a password entry."""
        if self.root:
            return '%d:%d' % (self.uid, self.gid)
        return ':'

    def give(self, path):
        """Hand path (and all below it) to the mail user."""
        if not self.root:
            return
        os.chown(path, self.uid, self.gid)
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(top, name), self.uid, self.gid)

    def put(self, path, data):
        with open(path, 'wb') as f:
            f.write(data)
        self.give(path)

    def remove(self):
        if os.environ.get('POP3D_KEEP_SCRATCH') == '1':
            print('# scratch directory kept: ' + self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def pop3d_hash(password):
    """A cheap hash made by pop3d --hash (tests need no real cost)."""
    out = subprocess.run([POP3D, '--hash', '--hash-ops=1',
                          '--hash-mem=8192'],
                         input=password.encode() + b'\n',
                         capture_output=True, check=True, timeout=30)
    return out.stdout.decode().strip()


def write_passwd(scratch, entries):
    """entries: (user, hash, location); the file is root's, mode 0600."""
    path = scratch.path('passwd')
    with open(path, 'w') as f:
        f.write('# integration test users\n')
        for user, pwhash, loc in entries:
            f.write('%s:%s:%s:Test User:%s::mail=%s\n' %
                    (user, pwhash, scratch.owner_fields(), scratch.dir,
                     loc))
    os.chmod(path, 0o600)
    return path


def free_port():
    """A port nobody listens on now; the launcher may still lose it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def greet(port):
    """Connect, read the greeting, QUIT; the greeting, or None if the
    port does not accept yet."""
    try:
        with socket.create_connection((HOST, port), timeout=5) as s:
            f = s.makefile('rb')
            greeting = f.readline()
            s.sendall(b'QUIT\r\n')
            f.readline()
            return greeting
    except OSError:
        return None


class Launcher:
    """A launcher command line (with PORT where the port goes) run in its
    own process group, so stop() ends it and every pop3d it started."""

    def __init__(self, argv, logpath):
        self.argv = argv
        self.logpath = logpath
        self.proc = None
        self.port = None
        self.greeting = None

    def start(self):
        for _ in range(LAUNCH_TRIES):
            port = free_port()
            argv = [a.replace('PORT', str(port)) for a in self.argv]
            with open(self.logpath, 'ab') as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL,
                                             stderr=log,
                                             start_new_session=True)
            deadline = time.monotonic() + READY_SECS
            while time.monotonic() < deadline and self.proc.poll() is None:
                self.greeting = greet(port)
                if self.greeting is not None:
                    # A stranger who took the port would not be our child.
                    if self.proc.poll() is None:
                        self.port = port
                        return port
                    break
                time.sleep(0.05)
            self.stop()
        raise RuntimeError('launcher did not serve after %d tries: %s' %
                           (LAUNCH_TRIES, ' '.join(self.argv)))

    def stop(self):
        stop_group(self.proc)
        self.proc = None

    def log_tail(self, n=20):
        """pop3d's last log lines, without the launcher's chatter."""
        try:
            with open(self.logpath, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return []
        return [line for line in lines if line.startswith('pop3d[')][-n:]


def to_crlf(data):
    """The octets pop3d sends for a message stored as data: every line
    ends in CRLF (a CR is added where the file has a bare LF, and a CRLF
    after an unterminated last line); dot-stuffing not included."""
    out = []
    for line in data.split(b'\n')[:-1]:
        out.append(line if line.endswith(b'\r') else line + b'\r')
    tail = data.split(b'\n')[-1]
    body = b'\n'.join(out) + (b'\n' if out else b'')
    if tail:
        body += tail + (b'\n' if tail.endswith(b'\r') else b'\r\n')
    return body


def header_crlf(data):
    """What TOP n 0 sends: the header lines and the empty line after
    them, with CRLF line ends."""
    text = to_crlf(data)
    end = text.find(b'\r\n\r\n')
    if text.startswith(b'\r\n'):
        return b'\r\n'
    return text if end == -1 else text[:end + 4]


def first_difference(a, b):
    """Where two byte strings part, for failure details."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            break
    else:
        i = n
    return ('lengths %d and %d, first difference at %d: %r vs %r' %
            (len(a), len(b), i, a[max(0, i - 20):i + 20],
             b[max(0, i - 20):i + 20]))
