"""tests/integration/deploylib.py: what the deployment scripts (launchers,
tls, clients_real, privileges, static) share on top of common.py: the contrib/
files rendered for a scratch run, a stand-in for /usr/local/sbin/pop3d
that keeps pop3d's log in a file, launchers whose port lives in their
own configuration file, a full POP3 session checked byte for byte, and a
maildrop of a few hundred varied messages."""

import base64
import os
import poplib
import random
import shlex
import signal
import socket
import subprocess
import time

import common

CONTRIB = 'contrib'
# The values every shipped file uses, which a test run replaces.
SHIPPED_POP3D = '/usr/local/sbin/pop3d'
SHIPPED_PASSWD = '/etc/pop3d/passwd'
# A client address other than the listener's, so that a log line naming
# it proves the address came from the client and not from a default.
CLIENT_ADDR = '127.0.0.2'
READY_SECS = 10
STOP_SECS = 5
LOG_SECS = 10
CLIENT_SECS = 60
PASSWORD = 'pass word 1939'
SEP = b'From sender@example.org Fri Nov 27 09:00:00 2026\n'

# poplib refuses lines over 2048 octets; the varied maildrop has longer.
poplib._MAXLINE = 1 << 22


def contrib_text(name):
    with open(os.path.join(CONTRIB, name), encoding='utf-8') as f:
        return f.read()


def render(name, subs):
    """The text of contrib/name with each (old, new) replaced; old must
    occur in the shipped file exactly once, so that a test never runs a
    file other than the one shipped."""
    text = contrib_text(name)
    for old, new in subs:
        n = text.count(old)
        if n != 1:
            raise ValueError('contrib/%s: %r occurs %d times, not once' %
                             (name, old, n))
        text = text.replace(old, new)
    return text


def write(path, text, mode=0o644):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def write_wrapper(scratch, log, prefix=(), name='pop3d-wrapper',
                  pop3d=None):
    """An executable that stands where /usr/local/sbin/pop3d stands in a
    rendered file: it runs the pop3d under test (behind the prefix
    command, if any) with its log on the file log, then notes its exit
    status there.  Under inetd and xinetd fd 2 is the connection, so the
    log must not go to the launcher's stderr.  pop3d: another copy of
    the binary under test."""
    pop3d = os.path.abspath(pop3d or common.POP3D)
    cmd = ' '.join(shlex.quote(a) for a in list(prefix) + [pop3d])
    path = scratch.path(name)
    write(path, '#!/bin/sh\n'
          '# Stands in for %s in a rendered configuration.\n'
          '%s "$@" --log=stderr 2>>%s\n'
          'echo "pop3d-exit=$?" >>%s\n' %
          (SHIPPED_POP3D, cmd, shlex.quote(log), shlex.quote(log)), 0o755)
    return path


def listening(port):
    """Whether something listens on 127.0.0.1:port (TCP), read from the
    kernel's table so that no probe connection starts a session."""
    want = '0100007F:%04X' % port
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == '0A':
                return True
    return False


class Daemon:
    """A launcher started from a function of its port(s): argv (after
    rendering its configuration for those ports).  It runs in its own
    process group, which stop() ends with everything it started."""

    def __init__(self, what, make_argv, errpath, nports=1, cwd=None,
                 env=None):
        self.what = what
        self.make_argv = make_argv
        self.errpath = errpath
        self.nports = nports
        self.cwd = cwd
        self.env = env
        self.proc = None
        self.ports = None

    def start(self, wait_ports=None):
        """Start on fresh ports; wait_ports picks the ports that must be
        listening (default: the first).  Returns the ports."""
        for _ in range(common.LAUNCH_TRIES):
            ports = [common.free_port() for _ in range(self.nports)]
            argv = self.make_argv(*ports)
            with open(self.errpath, 'ab') as err:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                             stdout=err, stderr=err,
                                             cwd=self.cwd, env=self.env,
                                             start_new_session=True)
            need = ports[:1] if wait_ports is None else wait_ports(ports)
            deadline = time.monotonic() + READY_SECS
            while time.monotonic() < deadline and self.proc.poll() is None:
                if all(listening(p) for p in need):
                    self.ports = ports
                    return ports
                time.sleep(0.05)
            self.stop()
        raise RuntimeError('%s did not listen after %d tries; see %s' %
                           (self.what, common.LAUNCH_TRIES, self.errpath))

    def stop(self):
        common.stop_group(self.proc)
        self.proc = None


def leftovers(marker):
    """Pids of processes whose command line names marker (the scratch
    directory): what a launcher left running after it was stopped."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append(int(pid))
    return found


def reap(t, scratch, what):
    """Check that nothing started from scratch still runs; end any such
    process by its pid (each names our own scratch directory)."""
    deadline = time.monotonic() + STOP_SECS
    pids = leftovers(scratch.dir)
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = leftovers(scratch.dir)
    t.check(not pids, '%s: nothing it started is left running' % what,
            'pids %r' % pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class POP3From(poplib.POP3):
    """poplib.POP3 connecting from CLIENT_ADDR."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(CLIENT_ADDR, 0))


def read_bytes(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_for(path, text, count=1, secs=LOG_SECS):
    """The log's lines once at least count of them contain text (pop3d
    writes its last line as the client reads QUIT's answer)."""
    deadline = time.monotonic() + secs
    while True:
        data = (read_bytes(path) or b'').decode('utf-8', 'replace')
        lines = data.splitlines()
        if sum(text in line for line in lines) >= count or \
                time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# ---- the three-message maildrop of a full session ----

SMALL = [
    b'From: One <one@example.org>\nTo: alice@example.org\n'
    b'Subject: first\n\nfirst body\n.a line with a dot\n',
    b'From: Two <two@example.org>\nTo: alice@example.org\n'
    b'Subject: second, to be deleted\n\nbody text\n'
    b'From at the start of a line, after text\n'
    b'>From quoted\nend\n',
    b'From: Three <three@example.org>\nTo: alice@example.org\n'
    b'Subject: third\n\n\xc3\xa4\xc3\xb6 8-bit body\n\n\n',
]
DELETE = 2


def mbox_of(msgs):
    return b''.join(SEP + m + b'\n' for m in msgs)


def setup_user(scratch, user='alice', msgs=SMALL):
    """A password file with user's mbox holding msgs; the mbox path."""
    mbox = scratch.path(user + '.mbox')
    scratch.put(mbox, mbox_of(msgs))
    common.write_passwd(scratch, [(user, common.pop3d_hash(PASSWORD),
                                   'mbox:' + mbox)])
    return mbox


def wire_lines(msg):
    """The lines poplib's RETR gives for msg (CRLF gone, dots undone)."""
    return common.to_crlf(msg)[:-2].split(b'\r\n')


def full_session(t, what, port, mbox, log, user='alice', msgs=SMALL,
                 host=common.HOST):
    """Login, LIST, RETR each, DELE one, QUIT over plain POP3 from
    CLIENT_ADDR; then the maildrop and the log, byte for byte."""
    p = POP3From(host, port, timeout=CLIENT_SECS)
    try:
        t.check(p.getwelcome().startswith(b'+OK'), '%s: greeting' % what,
                p.getwelcome())
        p.user(user)
        r = p.pass_(PASSWORD)
        t.check(r.startswith(b'+OK Logged in, %d messages' % len(msgs)),
                '%s: login' % what, r)
        want = [b'%d %d' % (i + 1, len(common.to_crlf(m)))
                for i, m in enumerate(msgs)]
        got = p.list()[1]
        t.check(got == want, '%s: LIST gives exact sizes' % what,
                'got %r want %r' % (got, want))
        for i, m in enumerate(msgs):
            lines = p.retr(i + 1)[1]
            t.check(lines == wire_lines(m), '%s: RETR %d is exact' %
                    (what, i + 1), 'got %r' % lines[:5])
        t.check(p.dele(DELETE).startswith(b'+OK'), '%s: DELE %d' %
                (what, DELETE))
        t.check(p.quit().startswith(b'+OK'), '%s: QUIT' % what)
    finally:
        p.close()
    want = mbox_of([m for i, m in enumerate(msgs) if i + 1 != DELETE])
    got = read_bytes(mbox)
    t.check(got == want, '%s: maildrop afterwards is exact' % what,
            common.first_difference(got or b'', want))
    check_log(t, what, log, user, len(msgs))


def check_log(t, what, log, user, nmsgs, remote=CLIENT_ADDR):
    lines = wait_for(log, 'pop3d-exit=')
    logins = [x for x in lines if ': login: ' in x]
    ends = [x for x in lines if 'session end: quit' in x]
    t.check(len(logins) == 1 and logins[0].endswith(
        ' remote=%s user=%s' % (remote, user)),
        '%s: the login line names remote=%s' % (what, remote), lines)
    t.check(len(ends) == 1 and ('retrieved %d, deleted 1,' % nmsgs) in
            ends[0] and (' remote=%s ' % remote) in ends[0],
            '%s: the session end line counts and names the remote' % what,
            lines)
    t.check([x for x in lines if x.startswith('pop3d-exit=')] ==
            ['pop3d-exit=0'], '%s: pop3d exits 0 after QUIT' % what, lines)


# ---- a few hundred varied messages ----

WORDS = ('mail drop spool octet quit list retr uidl stat noop rset top '
         'user pass capa dele server client launcher socket message '
         'header body line dot from return path envelope').split()


def _words(rng, n):
    return ' '.join(rng.choice(WORDS) for _ in range(n))


def _head(rng, i, subject, extra=()):
    h = [b'From: Sender %d <s%d@example.org>' % (i, i),
         b'To: Someone <someone@example.net>',
         b'Subject: ' + subject,
         b'Date: Fri, 27 Nov 2026 09:%02d:%02d +0000' % (i // 60 % 60,
                                                         i % 60),
         b'Message-ID: <m%d.%d@example.org>' % (i, rng.randrange(10**6))]
    return b'\n'.join(h + list(extra)) + b'\n'


def _text_lines(rng, n):
    out = []
    for _ in range(n):
        out.append(_words(rng, rng.randint(1, 14)).encode())
    return out


def _body(lines):
    """Body text from lines; a From_ line right after an empty line (or
    first) is quoted, as an MDA writing an mbox would."""
    out = []
    prev = b''
    for line in lines:
        if line.startswith(b'From ') and prev == b'':
            line = b'>' + line
        out.append(line + b'\n')
        prev = line
    return b''.join(out)


def varied_message(rng, i):
    """Message i of the varied maildrop: LF line ends, ends in LF."""
    kind = i % 12
    if kind == 0:
        return _head(rng, i, b'plain') + b'\n' + \
            _body(_text_lines(rng, rng.randint(1, 30)))
    if kind == 1:
        return _head(rng, i, b'dots') + b'\n' + _body(
            [b'.', b'..', b'...', b'.leading', b'..double', b' .space',
             b'text', b'.'])
    if kind == 2:
        return _head(rng, i, b'From lines') + b'\n' + _body(
            [b'first', b'From here on, body text', b'>From quoted',
             b'>>From twice', b'', b'From after an empty line', b'end'])
    if kind == 3:
        n = rng.choice((999, 1001, 4096, 20000, 70000))
        return _head(rng, i, b'long line %d' % n) + b'\n' + \
            bytes(rng.choice(b'abcdefghij .,') for _ in range(n)) + b'\n'
    if kind == 4:
        return _head(rng, i, b'=?utf-8?q?Gr=C3=BC=C3=9Fe?=',
                     [b'Content-Type: text/plain; charset=utf-8',
                      b'X-Raw: \xc3\xa4\xc3\xb6\xc3\xbc \xe2\x9c\x89']) + \
            b'\n' + '\u00c4rger \u00fcber \u00f6de \u65e5\u672c\n'.encode() + \
            b'latin-1 bytes: \xe4\xf6\xfc\xff\n'
    if kind == 5:
        return _head(rng, i, b'empty body') + b'\n'
    if kind == 6:
        return _head(rng, i, b'folded', [
            b'X-Folded: ' + _words(rng, 5).encode(),
            b'\t' + _words(rng, 5).encode(),
            b'  ' + _words(rng, 5).encode(),
            b'X-Trailing-Space: yes   ',
            b'X-Tab:\tvalue\t']) + b'\n' + b'tab\there\n  indented\n'
    if kind == 7:
        blob = bytes(rng.randrange(256) for _ in
                     range(rng.randint(2000, 40000)))
        enc = base64.encodebytes(blob)
        return _head(rng, i, b'attachment', [
            b'MIME-Version: 1.0',
            b'Content-Type: multipart/mixed; boundary="b%d"' % i]) + \
            b'\n--b%d\nContent-Type: text/plain\n\nsee attached\n' \
            b'\n--b%d\nContent-Type: application/octet-stream\n' \
            b'Content-Transfer-Encoding: base64\n\n' % (i, i) + enc + \
            b'\n--b%d--\n' % i
    if kind == 8:
        return _head(rng, i, b'trailing empty lines') + b'\n' + \
            b'body then empty lines\n\n\n'
    if kind == 9:
        return _head(rng, i, b'X-UIDL', [b'X-UIDL: given-%04d' % i]) + \
            b'\nhas its own UIDL\n'
    if kind == 10:
        return b'Subject: header only %d\n' % i
    return _head(rng, i, b'big') + b'\n' + \
        _body(_text_lines(rng, rng.randint(200, 3000)))


def varied_messages(n, seed=110):
    """n messages; every 25th is an identical copy of the one before
    (still its own message with its own UIDL)."""
    rng = random.Random(seed)
    msgs = []
    for i in range(n):
        if i % 25 == 24:
            msgs.append(msgs[-1])
        else:
            msgs.append(varied_message(rng, i))
    return msgs


def header_only(msg):
    return b'\n\n' not in msg and not msg.startswith(b'\n')


def strip_added(data, names):
    """data without the header fields called names (with their folded
    lines) that a client put in front of the message."""
    lower = tuple(n.lower() + b':' for n in names)
    pos = 0
    while True:
        end = data.find(b'\n', pos)
        if end == -1 or not data[pos:end + 1].lower().startswith(lower):
            return data[pos:]
        pos = end + 1
        while data[pos:pos + 1] in (b' ', b'\t'):
            end = data.find(b'\n', pos)
            if end == -1:
                return data[pos:]
            pos = end + 1
