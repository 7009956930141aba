"""tests/integration/maillib.py: what the durability scripts (mda.py,
faults.py) share on top of common.py: the maildrop owner (pop3dtest1 as
root), self-identifying messages, real MDAs (procmail, maildrop) run as
that owner, a POP3 session with pop3d on pipes as an inetd child, and an
independent reader of mboxes and Maildirs that tells every message,
partial message and duplicate apart -- it shares no code with pop3d."""

import collections
import grp
import hashlib
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import common

TEST_USER = 'pop3dtest1'     # privileges.py makes and uses it too
PRIVSEP_USER = 'pop3d'       # a root pop3d's pre-login user (params.h)
PASSWORD = 'never lose mail 4155'
LINE_SECS = 60               # one response line, even from a slow host
EXIT_SECS = 10
MDA_SECS = 60
SEP_DATE = b'Fri Nov 27 09:00:00 2026'

# Journal and dotlock names beside an mbox (pop3d(8) LOCKING, DURABILITY).
JOURNAL = '.pop3d-journal'
JOURNAL_TMP = '.pop3d-journal.tmp'
DOTLOCK = '.lock'

MID_RE = re.compile(rb'^Message-ID: <([^>\r\n]+)>\r?$', re.M | re.I)
SUM_RE = re.compile(rb'^X-Body-SHA256: ([0-9a-f]{64})\r?$', re.M)

WORDS = ('mail drop spool octet quit list retr uidl stat noop rset top '
         'journal marker fsync rename unlink truncate crash kill disk '
         'full sector block lock procmail maildrop deliver append').split()


# ---- the maildrop owner ----

class Account:
    """Who owns the maildrops and runs the MDAs: pop3dtest1 (made when
    missing) when the script runs as root, else the invoking user."""

    def __init__(self):
        self.root = os.geteuid() == 0
        if self.root:
            ensure_user(TEST_USER)
            ensure_user(PRIVSEP_USER)
            pw = pwd.getpwnam(TEST_USER)
        else:
            pw = pwd.getpwuid(os.getuid())
        self.name = pw.pw_name
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def as_owner(self):
        """Popen arguments that run a program as the owner."""
        if not self.root:
            return {}
        return {'user': self.uid, 'group': self.gid, 'extra_groups': []}

    def give(self, path, gid=None):
        if self.root:
            os.chown(path, self.uid, self.gid if gid is None else gid)


def ensure_user(name):
    """A system user, made (and left) when missing, as privileges.py and
    tests/deps.sh do."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    subprocess.run(['useradd', '--system', '--user-group',
                    '--no-create-home', '--home-dir', '/nonexistent',
                    '--shell', '/usr/sbin/nologin', name], check=True)
    print('# created user %s (left in place)' % name, flush=True)


def mail_gid():
    return grp.getgrnam('mail').gr_gid


class Scratch:
    """A scratch directory owned by the account (mode 0755, so that root
    and the owner both work in it)."""

    def __init__(self, prefix, account):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
        os.chmod(self.dir, 0o755)
        account.give(self.dir)
        self.account = account

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def subdir(self, name):
        path = self.path(name)
        os.mkdir(path)
        os.chmod(path, 0o755)
        self.account.give(path)
        return path

    def remove(self):
        if os.environ.get('POP3D_KEEP_SCRATCH') == '1':
            print('# scratch directory kept: ' + self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def write_file(path, data, account=None, mode=0o600, gid=None):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    if account is not None:
        account.give(path, gid)


def passwd_entry(user, pwhash, loc, home, uid='', gid=''):
    return '%s:%s:%s:%s::%s::mail=%s\n' % (user, pwhash, uid, gid, home,
                                            loc)


# ---- messages ----

class Msg:
    """A unique, self-identifying message: its Message-ID and a checksum
    of its body are in its header.  content is what an MDA gets after the
    From_ line and what RETR must give back (with CRLF)."""

    def __init__(self, mid, sep, content):
        self.mid = mid
        self.sep = sep
        self.content = content
        self._wire = None

    def mbox_entry(self):
        """Its octets in an mbox: separator, content, the empty line."""
        return self.sep + self.content + b'\n'

    def piped(self):
        """What an MTA pipes to procmail for an mbox."""
        return self.sep + self.content

    def wire(self):
        if self._wire is None:
            self._wire = common.to_crlf(self.content)
        return self._wire


def _words(rng, lo, hi):
    return ' '.join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _body_lines(rng, size):
    """Body lines of about size octets.  No line starts with "From "
    (procmail would quote it) and the last is not empty (an MDA's mbox
    adds the empty line; a message ending in one would lose it)."""
    lines, total = [], 0
    while total < size:
        kind = rng.random()
        if kind < 0.06:
            line = '.'
        elif kind < 0.12:
            line = '.' + _words(rng, 1, 5)
        elif kind < 0.16:
            line = '..' + _words(rng, 0, 3)
        elif kind < 0.2:
            line = '>From ' + _words(rng, 1, 5)
        elif kind < 0.26:
            line = ''
        elif kind < 0.28:
            line = ''.join(rng.choice('abcdefghij .,') for _ in
                           range(rng.randint(1000, 6000)))
        elif kind < 0.31:
            line = 'Gr\u00fc\u00dfe \u00e4\u00f6\u00fc \u2709 ' + \
                _words(rng, 1, 4)
        else:
            line = _words(rng, 1, 14)
        lines.append(line.encode())
        total += len(lines[-1]) + 1
    if not lines or lines[-1] == b'':
        lines.append(b'end')
    return lines


def make_message(tag, num, rng, size=None, crlf=None):
    """Message num of a set named tag."""
    mid = '%s.%d@pop3d.test' % (tag, num)
    if size is None:
        size = rng.choice((200, 400, 800, 1500, 3000, 6000)) \
            if rng.random() < 0.97 else rng.randint(40000, 120000)
    if crlf is None:
        crlf = rng.random() < 0.08
    eol = b'\r\n' if crlf else b'\n'
    body = eol.join(_body_lines(rng, size)) + eol
    head = [b'From: Sender %d <sender%d@example.org>' % (num, num),
            b'To: ' + TEST_USER.encode() + b'@localhost',
            b'Subject: ' + tag.encode() + b' %d ' % num +
            _words(rng, 1, 4).encode(),
            b'Date: Fri, 27 Nov 2026 09:%02d:%02d +0000' % (num // 60 % 60,
                                                            num % 60),
            b'Message-ID: <' + mid.encode() + b'>',
            b'X-Body-SHA256: ' + hashlib.sha256(body).hexdigest().encode()]
    if rng.random() < 0.2:
        head += [b'X-Folded: ' + _words(rng, 2, 5).encode(),
                 b'\t' + _words(rng, 2, 5).encode()]
    sep = b'From sender%d@example.org %s%s' % (num, SEP_DATE, eol)
    return Msg(mid, sep, eol.join(head) + eol + eol + body)


def make_messages(tag, n, rng, **kw):
    return [make_message(tag, i, rng, **kw) for i in range(1, n + 1)]


def mbox_of(msgs):
    return b''.join(m.mbox_entry() for m in msgs)


# ---- the independent reader ----

def ident(content):
    """The Message-ID a message names in its header, or None."""
    end = content.find(b'\n\n')
    crlf_end = content.find(b'\r\n\r\n')
    cut = min(x for x in (end, crlf_end, len(content)) if x != -1)
    m = MID_RE.search(content[:cut])
    return m.group(1).decode('ascii', 'replace') if m else None


def self_consistent(content):
    """Whether a message's body matches the checksum in its header."""
    for sep in (b'\r\n\r\n', b'\n\n'):
        i = content.find(sep)
        if i != -1:
            m = SUM_RE.search(content[:i])
            body = content[i + len(sep):]
            return bool(m) and hashlib.sha256(body).hexdigest() == \
                m.group(1).decode()
    return False


def parse_mbox(data):
    """The messages of an mbox as (offset, separator line, content), by
    SPEC's rules: a From_ line starts a message at offset 0 or after an
    empty line; the empty line before the next separator, or the last
    line of the file if it is empty, belongs to the mailbox.  Also the
    problems: octets before the first separator."""
    starts, pos, prev_empty = [], 0, True
    n = len(data)
    while pos < n:
        end = data.find(b'\n', pos)
        end = n if end == -1 else end + 1
        if prev_empty and data.startswith(b'From ', pos):
            starts.append(pos)
        prev_empty = data[pos:end] in (b'\n', b'\r\n')
        pos = end
    problems = []
    if n and (not starts or starts[0] != 0):
        problems.append('octets before the first From_ line: %r' %
                        data[:60])
    parts = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        lf = data.find(b'\n', s, e)
        body = lf + 1 if lf != -1 else e
        chunk = data[body:e]
        if chunk.endswith(b'\n'):
            last = chunk.rfind(b'\n', 0, len(chunk) - 1) + 1
            if chunk[last:] in (b'\n', b'\r\n'):
                chunk = chunk[:last]
        parts.append((s, data[s:body], chunk))
    return parts, problems


class Audit:
    """What a maildrop holds, judged against the messages known to have
    been delivered: counts by Message-ID, and every part that is no known
    message byte for byte (partial, corrupt, or a stray marker)."""

    def __init__(self, known):
        self.known = known
        self.count = collections.Counter()
        self.order = []
        self.problems = []

    def part(self, where, content, sep=None):
        mid = ident(content)
        m = self.known.get(mid)
        if m is None:
            self.problems.append('%s: no known message (%d octets, '
                                 'checksum %s): %r' %
                                 (where, len(content), 'ok' if
                                  self_consistent(content) else 'bad',
                                  content[:80]))
            return
        if content != m.content or (sep is not None and sep != m.sep):
            self.problems.append('%s: %s altered (checksum %s): %s' %
                                 (where, mid, 'ok' if self_consistent(
                                     content) else 'bad',
                                  common.first_difference(content,
                                                          m.content)))
            return
        self.count[mid] += 1
        self.order.append(mid)

    def dups(self):
        return sorted(mid for mid, c in self.count.items() if c > 1)

    def ids(self):
        return set(self.count)


def audit_mbox(path, known):
    data = read_or_empty(path)
    parts, problems = parse_mbox(data)
    a = Audit(known)
    a.problems += problems
    for off, sep, content in parts:
        a.part('offset %d' % off, content, sep)
    return a


def maildir_files(path):
    """{'new/NAME' or 'cur/NAME': content} of a Maildir."""
    out = {}
    for sub in ('new', 'cur'):
        d = os.path.join(path, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), 'rb') as f:
                out[sub + '/' + name] = f.read()
    return out


def audit_maildir(path, known):
    a = Audit(known)
    for name, content in maildir_files(path).items():
        a.part(name, content)
    left = os.listdir(os.path.join(path, 'tmp'))
    if left:
        a.problems.append('files left in tmp/: %r' % left)
    return a


def read_or_empty(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return b''


def leftovers(mbox):
    """Files pop3d leaves beside an mbox only while it works: the journal,
    its temporary file, the dotlock and dotlock temporaries."""
    d, base = os.path.split(mbox)
    out = []
    for name in os.listdir(d):
        if name in (base + JOURNAL, base + JOURNAL_TMP, base + DOTLOCK) or \
                name.startswith(base + DOTLOCK + '.'):
            out.append(name)
    return sorted(out)


# ---- MDAs ----

class Mda:
    """A real MDA run as the maildrop owner, one process per message, the
    way an MTA runs it.  procmail locks an mbox with PATH.lock and fcntl
    (LOCKSLEEP=0: retry at once, so two streams need not wait seconds);
    with a trailing slash it delivers to a Maildir.  maildrop delivers to
    the Maildir that its mailfilter names."""

    def __init__(self, kind, exe, account, scratch, dest, name):
        self.kind = kind
        self.account = account
        self.errlog = scratch.path(name + '.err')
        self.env = {'PATH': '/usr/bin:/bin', 'HOME': scratch.dir,
                    'LOGNAME': account.name, 'USER': account.name}
        if kind == 'procmail':
            rc = scratch.path(name + '.rc')
            write_file(rc, b'# deliver everything to DEFAULT\n', account,
                       0o644)
            self.argv = [exe, 'LOCKSLEEP=0', 'MAILDIR=' + scratch.dir,
                         'ORGMAIL=' + dest, 'DEFAULT=' + dest, rc]
        else:
            mf = scratch.path(name + '.mailfilter')
            write_file(mf, b'to "' + dest.encode() + b'"\n', account, 0o600)
            self.argv = [exe, mf]

    def deliver(self, data):
        """The MDA's exit status (0: delivered)."""
        with open(self.errlog, 'ab') as err:
            r = subprocess.run(self.argv, input=data, stdout=err,
                               stderr=err, env=self.env, timeout=MDA_SECS,
                               **self.account.as_owner())
        return r.returncode


def make_maildir(path, account):
    for sub in ('', 'new', 'cur', 'tmp'):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
        os.chmod(os.path.join(path, sub), 0o700)
        account.give(os.path.join(path, sub))


# ---- pop3d on pipes, as an inetd child ----

class Pipe:
    """One pop3d session on a pair of pipes (a pipe on fd 0 counts as a
    local connection: plaintext passwords are allowed).  Lines are read
    with a deadline, so a hung server fails a check instead of the run."""

    def __init__(self, argv, logpath, env=None, **kw):
        self.log = open(logpath, 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.log, env=env,
                                     start_new_session=True, **kw)
        self.fd = self.proc.stdout.fileno()
        self.buf = b''
        self.eof = False

    def _more(self, deadline):
        left = deadline - time.monotonic()
        r = select.select([self.fd], [], [], max(0, left))[0]
        if not r:
            raise TimeoutError('no answer from pop3d in time')
        data = os.read(self.fd, 1 << 16)
        if data:
            self.buf += data
        else:
            self.eof = True

    def line(self, secs=LINE_SECS):
        """The next line (with its CRLF), whatever is left at EOF."""
        deadline = time.monotonic() + secs
        while b'\n' not in self.buf and not self.eof:
            self._more(deadline)
        i = self.buf.find(b'\n') + 1 or len(self.buf)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def multi(self, secs=LINE_SECS):
        """A multi-line response's data, dot-stuffing undone; None if the
        connection ended first."""
        deadline = time.monotonic() + secs
        at = 0
        while not self.eof:
            if self.buf.startswith(b'.\r\n'):
                end = 0
                break
            end = self.buf.find(b'\r\n.\r\n', at)
            if end != -1:
                end += 2
                break
            at = max(0, len(self.buf) - 4)
            self._more(deadline)
        else:
            return None
        data, self.buf = self.buf[:end], self.buf[end + 3:]
        if not data:
            return b''
        lines = data.split(b'\r\n')[:-1]
        return b''.join((x[1:] if x.startswith(b'.') else x) + b'\r\n'
                        for x in lines)

    def send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def cmd(self, text):
        self.send(text + b'\r\n')
        return self.line()

    def cmds(self, texts):
        """Pipelined commands (RFC 2449 PIPELINING); their status lines."""
        self.send(b''.join(x + b'\r\n' for x in texts))
        return [self.line() for _ in texts]

    def login(self, user, password=PASSWORD):
        """The greeting, then USER and PASS; PASS's answer."""
        if not self.line().startswith(b'+OK'):
            return b''
        self.cmd(b'USER ' + user.encode())
        return self.cmd(b'PASS ' + password.encode())

    def retr(self, n):
        status = self.cmd(b'RETR %d' % n)
        if not status.startswith(b'+OK'):
            return status, None
        return status, self.multi()

    def listing(self, what=b'LIST'):
        """[(num, value)] of a LIST or UIDL listing, or None."""
        if not self.cmd(what).startswith(b'+OK'):
            return None
        data = self.multi()
        if data is None:
            return None
        out = []
        for line in data.split(b'\r\n')[:-1]:
            num, value = line.split(b' ', 1)
            out.append((int(num), value))
        return out

    def close(self):
        """End the session without QUIT (EOF on its input); the exit
        status."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        return self.wait()

    def kill(self, wait=True):
        """SIGKILL; then, unless wait is false (to read what it wrote
        first), wait for it."""
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.wait() if wait else None

    def wait(self, secs=EXIT_SECS):
        try:
            rc = self.proc.wait(secs)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass
        self.log.close()
        return rc


def pop3d_argv(passwd):
    return [os.path.abspath(common.POP3D), '-f', passwd, '--log=stderr',
            '--fail-delay=0']


def log_tail(path, n=8):
    data = read_or_empty(path).decode('utf-8', 'replace').splitlines()
    return '\n'.join(data[-n:])
