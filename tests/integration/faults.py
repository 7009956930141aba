#!/usr/bin/env python3
"""tests/integration/faults.py: pop3d's UPDATE against SIGKILL, I/O errors
and full disks, in real processes (tests/check_mbox.c does the same in
process through libc interposition; this drives the built ./pop3d on
pipes, as an inetd child, with real MDAs around it).

1. Deterministic kills: a reference session (log in, DELE a chosen set,
   procmail or maildrop delivers one message, QUIT) runs under strace;
   every system call the process makes after reading QUIT is a kill
   point, and the session is run again under `strace -e inject=CALL:
   signal=SIGKILL:when=N` for each.  Also every system call of a login
   that completes an interrupted UPDATE (three crash states).
2. Fault injection: the same points with `error=EIO`, and ENOSPC or
   EDQUOT where a call can meet a full disk or quota.  The client must
   get -ERR [SYS/TEMP], never +OK, unless UPDATE completed.
3. Random kills: kill -9 at a random moment of the UPDATE of a large
   mbox and Maildir, with procmail delivering at the same time.
4. Full disk: an mbox and a Maildir on a small tmpfs and on a loop-mounted
   ext4 image (root only): no room for the journal, no room at all, no
   inodes; then room again.
5. A spool laid out like Debian's /var/mail (root:mail 2775, mbox 0660
   group mail), served by a root pop3d: with --lock-group=mail and the
   user's own gid (what INSTALL recommends), and with an entry whose gid
   is mail, sessions work and survive kills; the user's own gid without
   --lock-group is refused with -ERR [SYS/PERM], touching nothing.

After every fault, mail is delivered, and the next session (which
completes any recovery) must show, and an independent reader of the
maildrop (maillib.py) must find: every message not marked deleted, byte
for byte; each marked message wholly there or wholly gone -- for an mbox
all of them, as pop3d(8) promises, old state before the journal's rename
and new state after it; the mail delivered during and after; no partial
or duplicated message; and no journal or lock file left behind.

Environment: POP3D_FAULTS_WORKERS (default 10) cases at once;
POP3D_FAULTS_PARTS (default mbox,recovery,maildir,random,disk,spool).
Run from the repository root after `make pop3d`; as root the maildrops
belong to pop3dtest1 (made when missing)."""

import collections
import concurrent.futures
import errno
import os
import random
import re
import select
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True     # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import maillib as ml  # noqa: E402

WORKERS = int(os.environ.get('POP3D_FAULTS_WORKERS', '10'))
PARTS = os.environ.get('POP3D_FAULTS_PARTS',
                       'mbox,recovery,maildir,random,disk,spool').split(',')
SEED = 4155

# The deterministic mbox: sizes chosen so that UPDATE's rounds (pop3d(8),
# DURABILITY) are plain (U2) while the gap in front of the kept data
# grows, then take a stash (U3) to move message 7 past a small gap, then
# are plain again, the last one copying more than pop3d's 64 KiB I/O
# chunk (in pieces, where copy_file_range is not there); message 1 stays
# where it is, the rest from message 2 on is rewritten.
FIX_SIZES = (600, 1500, 800, 3000, 400, 6000, 100000, 120000, 70000, 1200)
FIX_DELE = (2, 4, 6, 8)
# Errors of copy_file_range that make pop3d copy through user space.
CFR_FALLBACK = ('ENOSYS', 'EXDEV', 'EOPNOTSUPP', 'EINVAL')
NO_CFR = 'copy_file_range:error=ENOSYS'
# The steps of UPDATE that the reference session must show, so that the
# kills and faults reach every one.
UPDATE_STEPS = ('lock+check', 'U1 journal', 'U1 reserve', 'U1 rename',
                'U2 plain round', 'progress record', 'U3 stash',
                'U3 in place', 'U4 marker', 'U4 marker record', 'U5 cut',
                'U6 unlink', 'unlock+reply')
# The deterministic Maildir: where each message lives, and the session.
MD_SUBDIRS = ('new', 'cur', 'new', 'cur', 'new', 'cur', 'new', 'cur')
MD_RETR = (1, 3, 4)
MD_DELE = (3, 4, 6, 7)

# Calls whose failure the fault injection tries: everything pop3d does
# to files, locks and the client; not memory (a failed allocation is a
# fatal exit) nor getrandom (libsodium aborts).
FAULT_CALLS = {'openat', 'open', 'read', 'pread64', 'write', 'pwrite64',
               'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2',
               'link', 'linkat', 'unlink', 'unlinkat', 'ftruncate',
               'fcntl', 'flock', 'close', 'newfstatat', 'fstat', 'statx',
               'lseek', 'getdents64', 'poll', 'uname', 'copy_file_range',
               'fallocate'}
# Memory management, never a kill point (points_after).
MEMORY_CALLS = {'mmap', 'munmap', 'mprotect', 'mremap', 'madvise', 'brk'}
# Calls that can also meet a full disk or an exhausted quota.
SPACE_CALLS = {'openat', 'open', 'write', 'pwrite64', 'fsync', 'fdatasync',
               'rename', 'link', 'ftruncate', 'copy_file_range', 'fallocate'}
QUOTA_CALLS = {'pwrite64', 'openat', 'copy_file_range', 'fallocate'}

# Random kills.
RANDOM_MBOX_MSGS = 1500
RANDOM_MBOX_RUNS = 30
RANDOM_MAILDIR_MSGS = 1500
RANDOM_MAILDIR_RUNS = 12

# Full disk: an 8 MiB filesystem, an mbox of about 1.5 MiB, a filler that
# leaves FREE_LEFT octets free: less than the smallest stash (64 KiB), far
# less than the kept data.
FS_SIZE_MB = 8
FULL_MSGS = 30
FULL_MSG_SIZE = 50000
FREE_LEFT = 40 * 1024

TRACE_CALL = re.compile(r'^(\d+) +(([a-z_][a-z0-9_]*)\(.*)$')
LOGGED_IN = re.compile(rb'^\+OK Logged in, (\d+) messages')


class Env:
    """What every case shares."""

    def __init__(self, t, tools, account, scratch):
        self.t = t
        self.tools = tools
        self.account = account
        self.scratch = scratch
        self.pwhash = common.pop3d_hash(ml.PASSWORD)
        self.run_env = dict(os.environ)
        # LeakSanitizer cannot work under ptrace (a sanitizer build).
        asan = self.run_env.get('ASAN_OPTIONS')
        self.run_env['ASAN_OPTIONS'] = (asan + ':' if asan else '') + \
            'detect_leaks=0'
        self.names = collections.Counter()
        self.lock = threading.Lock()

    def name(self, prefix):
        with self.lock:
            self.names[prefix] += 1
            return '%s%d' % (prefix, self.names[prefix])


class Drop:
    """One case: a maildrop in a directory of its own, a password file
    for pop3d running as the owner, an MDA for it, and pop3d's log."""

    def __init__(self, env, prefix, kind, where=None):
        self.env = env
        self.kind = kind
        name = env.name(prefix)
        self.user = env.account.name
        # Where a case's maildrop lives: its own directory, or a given one
        # (a small filesystem, a spool) shared with others.
        self.dir = where or env.scratch.subdir(name)
        self.path = os.path.join(self.dir, 'mbox' if kind == 'mbox' else
                                 'Maildir')
        self.log = env.scratch.path(name + '.log')
        self.passwd = env.scratch.path(name + '.passwd')
        ml.write_file(self.passwd, ml.passwd_entry(
            env.account.name, env.pwhash, kind + ':' + self.path,
            self.dir).encode(), env.account)
        if kind == 'mbox':
            self.mda = ml.Mda('procmail', env.tools['procmail'], env.account,
                              env.scratch, self.path, name + '.procmail')
        else:
            ml.make_maildir(self.path, env.account)
            self.mda = ml.Mda('maildrop', env.tools['maildrop'],
                              env.account, env.scratch, self.path + '/',
                              name + '.maildrop')

    def file(self, name):
        return os.path.join(self.dir, name)

    def pipe(self, trace=None, inject=None, also=None):
        """pop3d as the owner; under strace when trace is given, with
        inject and also (another injection, for all of a call) if
        given."""
        argv = ml.pop3d_argv(self.passwd)
        if trace is None:
            return ml.Pipe(argv, self.log, env=self.env.run_env,
                           **self.env.account.as_owner())
        pre = [self.env.tools['strace'], '-f', '-o', trace]
        if self.env.account.root:
            pre += ['-u', self.env.account.name]
        for inj in (inject, also):
            if inj:
                pre += ['-e', 'inject=' + inj]
        return ml.Pipe(pre + argv, self.log, env=self.env.run_env)

    def deliver(self, msg):
        if self.kind == 'mbox' and os.path.exists(self.path):
            # After a read (atime caught up with mtime) procmail sleeps a
            # second holding its locks, so that mail readers see new mail;
            # atime put back, as on a noatime mount, spares that wait.
            st = os.stat(self.path)
            os.utime(self.path, ns=(st.st_mtime_ns - 2 * 10**9,
                                    st.st_mtime_ns))
        return self.mda.deliver(msg.piped() if self.kind == 'mbox' else
                                msg.content)


# ---- traces ----

def trace_calls(path):
    """[(pid, name, call)] for every system call in an strace -f log;
    call is the line without the pid (which strace pads)."""
    out = []
    with open(path, errors='replace') as f:
        for line in f:
            m = TRACE_CALL.match(line.rstrip('\n'))
            if m:
                out.append((int(m.group(1)), m.group(3), m.group(2)))
    return out


class Point:
    """The nth call of name in the process, the index-th of the trace."""

    def __init__(self, index, name, nth, line, step):
        self.index = index
        self.name = name
        self.nth = nth
        self.line = line
        self.step = step

    def text(self):
        return '%s #%d [%s] %s' % (self.name, self.nth, self.step,
                                   self.line[:70])


def points_after(calls, marker, until=None, steps=(), step='recovery'):
    """The calls after the first that contains marker, up to and with the
    first that contains until, if given; steps: [(label, predicate)]
    that switch the label (at first step) from the call on."""
    seen = collections.Counter()
    out, start = [], None
    for i, (_, name, line) in enumerate(calls):
        seen[name] += 1
        if start is None:
            if marker in line:
                start = i
            continue
        for label, pred in steps:
            if pred(line):
                step = label
        # Not the allocator's calls: a kill there is a kill between the
        # file calls around it, and under AddressSanitizer their number
        # changes from run to run.
        if name not in MEMORY_CALLS:
            out.append(Point(i, name, seen[name], line, step))
        if until is not None and until in line:
            break
    return out


def update_steps(mbox):
    """Labels for the calls of an mbox UPDATE, after pop3d(8)'s U1-U6.
    A record's first octet is its kind: P progress, S stash, M marker;
    the marker in the mailbox starts with NUL."""
    j = mbox + ml.JOURNAL
    state = {'stash': False}

    def stash(x):
        return x.startswith('pwrite64(') and '"S\\0' in x

    def in_place(x):
        # The write after a stash record: its octets into the mailbox.
        if not x.startswith('pwrite64('):
            return False
        was, state['stash'] = state['stash'], stash(x)
        return was
    return [
        ('lock+check', lambda x: 'F_WRLCK' in x),
        ('U1 journal', lambda x: (j + '.tmp"') in x and 'openat' in x),
        ('U1 reserve', lambda x: x.startswith('fallocate(')),
        ('U1 rename', lambda x: x.startswith('rename(')),
        ('U2 plain round', lambda x: x.startswith('copy_file_range(')),
        ('progress record', lambda x: x.startswith('pwrite64(') and
         '"P\\0' in x),
        ('U3 stash', stash),
        ('U3 in place', in_place),
        ('U4 marker', lambda x: x.startswith('pwrite64(') and
         '"\\0' in x.split(',')[1] and ', 16, ' in x),
        ('U4 marker record', lambda x: x.startswith('pwrite64(') and
         '"M\\0' in x),
        ('U5 cut', lambda x: 'ftruncate' in x),
        ('U6 unlink', lambda x: ('unlink("' + j + '")') in x),
        ('unlock+reply', lambda x: ('unlink("' + mbox + '.lock")') in x),
    ]


def injected(trace, point, marker, how):
    """Whether the run under injection hit point: the nth call of its
    name came after the marker and was failed or killed.  A detail
    string if not."""
    calls = trace_calls(trace)
    nth, start = 0, None
    for i, (_, name, line) in enumerate(calls):
        if start is None and marker in line:
            start = i
        if name != point.name:
            continue
        nth += 1
        if nth != point.nth:
            continue
        if start is None or i <= start:
            return 'the injection came before %r: %s' % (marker, line)
        if how == 'kill':
            return None if i == len(calls) - 1 else \
                'not killed at %s' % line
        return None if '(INJECTED)' in line else 'not failed: %s' % line
    return 'call %s #%d never made' % (point.name, point.nth)


def stale_dotlock(drop, pid):
    """Remove the dotlock a killed pop3d (pid) left, as its age would in
    DOTLOCK_STALE_SECS; True if there was one."""
    lock = drop.path + ml.DOTLOCK
    if ml.read_or_empty(lock).strip() != str(pid).encode() or \
            os.path.exists('/proc/%d' % pid):
        return False
    os.unlink(lock)
    return True


def litter(drop):
    """PATH.lock.HOST.PID files a kill between their creation and unlink
    left: harmless, never reused, never cleaned."""
    base = os.path.basename(drop.path) + ml.DOTLOCK + '.'
    names = [n for n in os.listdir(drop.dir) if n.startswith(base)]
    for n in names:
        os.unlink(os.path.join(drop.dir, n))
    return len(names)


# ---- what the next session and the independent reader find ----

class Outcome:
    """One case's verdict: what it was, what went wrong, which state the
    maildrop was found in, and remarks."""

    def __init__(self, what):
        self.what = what
        self.problems = []
        self.state = None
        self.notes = []

    def bad(self, text):
        self.problems.append(text)


def next_session(drop, known, out):
    """Log in (completing any recovery), RETR everything, QUIT without
    deleting; the Message-IDs pop3d listed, in its order, or None."""
    p = drop.pipe()
    try:
        r = p.login(drop.user)
        if not LOGGED_IN.match(r):
            out.bad('the next login got %r\n%s' % (r, ml.log_tail(drop.log)))
            p.close()
            return None
        mids = []
        for num, size in p.listing() or []:
            data = p.retr(num)[1]
            mid = ml.ident(data or b'')
            m = known.get(mid)
            if data is None or m is None or data != m.wire() or \
                    int(size) != len(data):
                out.bad('the next session: RETR %d (%s) is not the message '
                        'delivered' % (num, mid))
            mids.append(mid)
        q = p.cmd(b'QUIT')
        if q != b'+OK Bye\r\n':
            out.bad('the next session: QUIT got %r' % q)
        p.wait()
        return mids
    except (TimeoutError, OSError) as e:
        out.bad('the next session: %r' % e)
        p.kill()
        return None


def describe(a, want):
    """What an audit found, against the messages wanted."""
    missing = [m.mid for m in want if m.mid not in a.count]
    extra = sorted(a.ids() - {m.mid for m in want})
    return 'missing %s; not expected %s; twice %s; %s' % (
        missing[:6], extra[:6], a.dups()[:6], '; '.join(a.problems[:3]))


def judge_mbox(drop, known, states, out, allowed=None):
    """After the next session: the mbox is byte for byte one of states
    ({name: [Msg]}), and pop3d listed exactly that; nothing is left
    beside it."""
    mids = next_session(drop, known, out)
    data = ml.read_or_empty(drop.path)
    names = [n for n, msgs in states.items() if data == ml.mbox_of(msgs)]
    if not names:
        a = ml.audit_mbox(drop.path, known)
        out.bad('the mbox is none of the states %s: %s' % (
            sorted(states), '; '.join('%s: %s' % (n, describe(a, m)) for
                                      n, m in states.items())))
    else:
        out.state = names[0]
        if mids is not None and mids != [m.mid for m in states[names[0]]]:
            out.bad('pop3d listed %d messages, the file holds %d' %
                    (len(mids), len(states[names[0]])))
        if allowed is not None and out.state not in allowed:
            out.bad('found the %s state, want %s' % (out.state,
                                                     '/'.join(allowed)))
    n = litter(drop)
    if n:
        out.notes.append('%d dotlock temporary file left' % n)
    left = ml.leftovers(drop.path)
    if left:
        out.bad('left beside the mbox: %s' % left)


def judge_maildir(drop, known, keep, marked, extra, out, gone_at_least=(),
                  kept_at_least=()):
    """After the next session: every message in keep and extra is there
    once, intact; each in marked there once or gone; nothing else; tmp/
    empty.  gone_at_least: marked messages that must be gone;
    kept_at_least: marked messages that must still be there."""
    mids = next_session(drop, known, out)
    a = ml.audit_maildir(drop.path, known)
    want = {m.mid for m in keep + extra}
    may = {m.mid for m in marked}
    if a.problems or a.dups():
        out.bad('; '.join(a.problems[:3]) + ' twice: %s' % a.dups()[:5])
    missing = want - a.ids()
    stray = a.ids() - want - may
    if missing or stray:
        out.bad('missing %s, not expected %s' % (sorted(missing)[:5],
                                                  sorted(stray)[:5]))
    present = a.ids() & may
    wrong_gone = {m.mid for m in kept_at_least} - a.ids()
    wrong_kept = {m.mid for m in gone_at_least} & a.ids()
    if wrong_gone or wrong_kept:
        out.bad('gone before their unlink: %s; there after it: %s' %
                (sorted(wrong_gone), sorted(wrong_kept)))
    out.state = '%d of %d marked gone' % (len(may - present), len(may))
    if mids is not None and sorted(mids, key=str) != sorted(a.order):
        out.bad('pop3d listed %d messages, the Maildir holds %d' %
                (len(mids), len(a.order)))


# ---- deterministic mbox kills and faults ----

class MboxFixture:
    def __init__(self):
        rng = random.Random(SEED)
        self.msgs = [ml.make_message('fx', i, rng, size=s, crlf=(i == 7))
                     for i, s in enumerate(FIX_SIZES, 1)]
        self.during = ml.make_message('during', 1, rng, size=2000)
        self.after = ml.make_message('after', 1, rng, size=1000)
        self.known = {m.mid: m for m in self.msgs + [self.during,
                                                     self.after]}
        self.kept = [m for i, m in enumerate(self.msgs, 1)
                     if i not in FIX_DELE]

    def states(self, after):
        tail = [self.during] + ([self.after] if after else [])
        return {'old': self.msgs + tail, 'new': self.kept + tail}

    def setup(self, drop):
        ml.write_file(drop.path, ml.mbox_of(self.msgs), drop.env.account)


def mbox_session(drop, fx, p):
    """The fixed session: login, DELE the set, a delivery, QUIT; QUIT's
    answer (b'' if the connection ended), or None if it went wrong
    before QUIT."""
    r = p.login(drop.user)
    if not LOGGED_IN.match(r):
        return None, 'login: %r' % r
    for n in FIX_DELE:
        r = p.cmd(b'DELE %d' % n)
        if not r.startswith(b'+OK'):
            return None, 'DELE %d: %r' % (n, r)
    if drop.deliver(fx.during) != 0:
        return None, 'procmail failed during the session'
    return p.cmd(b'QUIT'), None


def reference(env, kind, fx, run, marker, until=None, steps_of=None,
              also=None):
    """Run a case's session once under strace without injection (but
    also, if given); its trace's calls after marker."""
    drop = Drop(env, 'ref-' + kind + '-', kind)
    fx.setup(drop)
    trace = drop.file('trace')
    p = drop.pipe(trace, also)
    resp, err = run(drop, fx, p)
    p.wait()
    if err or resp is None:
        raise RuntimeError('reference session: %s\n%s' %
                           (err, ml.log_tail(drop.log)))
    steps = steps_of(drop.path) if steps_of else ()
    calls = trace_calls(trace)
    pts = points_after(calls, marker, until, steps, 'UPDATE')
    return drop, calls, pts, resp


def mbox_kill(env, fx, point, rename_at, after, also=None):
    drop = Drop(env, 'kill-', 'mbox')
    out = Outcome('mbox%s: SIGKILL at %s%s' % (
        ' without copy_file_range' if also else '', point.text(),
        ', mail after' if after else ''))
    fx.setup(drop)
    trace = drop.file('trace')
    p = drop.pipe(trace, '%s:signal=SIGKILL:when=%d' % (point.name,
                                                       point.nth), also)
    resp, err = mbox_session(drop, fx, p)
    p.wait()
    if err:
        out.bad(err)
        return out
    miss = injected(trace, point, 'QUIT', 'kill')
    if miss:
        out.bad(miss)
    pid = trace_calls(trace)[0][0]
    if stale_dotlock(drop, pid):
        out.notes.append('stale dotlock removed')
    if after and drop.deliver(fx.after) != 0:
        out.bad('procmail failed after the kill')
    # Killed before the journal's rename: the old state; after: the new
    # one (pop3d(8): once the journal has its name, UPDATE completes).
    want = ['old'] if point.index <= rename_at else ['new']
    if resp == b'+OK Bye\r\n':
        want = ['new']
    elif resp != b'':
        out.bad('QUIT got %r before the kill' % resp)
    judge_mbox(drop, fx.known, fx.states(after), out, want)
    return out


def mbox_fault(env, fx, point, err_name, also=None):
    drop = Drop(env, 'fault-', 'mbox')
    out = Outcome('mbox%s: %s at %s' % (
        ' without copy_file_range' if also else '', err_name, point.text()))
    fx.setup(drop)
    trace = drop.file('trace')
    p = drop.pipe(trace, '%s:error=%s:when=%d' % (point.name, err_name,
                                                 point.nth), also)
    resp, err = mbox_session(drop, fx, p)
    p.wait()
    if err:
        out.bad(err)
        return out
    miss = injected(trace, point, 'QUIT', 'fault')
    if miss:
        out.bad(miss)
    judge_answer(drop, fx, resp, point, out)
    if point.name == 'copy_file_range' and err_name in CFR_FALLBACK and \
            resp != b'+OK Bye\r\n':
        out.bad('copy_file_range failing with %s: pop3d copies through '
                'user space and must complete, but QUIT got %r' %
                (err_name, resp))
    if drop.deliver(fx.after) != 0:
        out.bad('procmail failed after the failed UPDATE')
    judge_mbox(drop, fx.known, fx.states(True), out)
    if resp.startswith(b'-ERR'):
        out.notes.append('-ERR, then %s' % out.state)
    return out


def answers_client(point):
    """Whether the failed call is pop3d's answer itself."""
    return point.line.startswith('write(1,') or \
        point.line.startswith('poll([{fd=1,')


def judge_answer(drop, fx, resp, point, out):
    """+OK Bye only if UPDATE completed (the new state at once, nothing
    left to recover); otherwise -ERR [SYS/TEMP], or nothing if the
    answer itself could not be written."""
    if resp == b'+OK Bye\r\n':
        data = ml.read_or_empty(drop.path)
        done = data == ml.mbox_of(fx.kept + [fx.during])
        left = [x for x in ml.leftovers(drop.path)
                if x.endswith(ml.JOURNAL) or x.endswith(ml.JOURNAL_TMP)]
        if not done or left:
            out.bad('+OK Bye, but UPDATE is not done (%s)' %
                    ('left %s' % left if left else 'mbox not new'))
    elif resp == b'':
        if not answers_client(point):
            out.bad('no answer to QUIT\n%s' % ml.log_tail(drop.log))
    elif not resp.startswith(b'-ERR [SYS/TEMP]'):
        out.bad('QUIT got %r' % resp)
    if ml.read_or_empty(drop.path + ml.DOTLOCK):
        # Only a failed unlink of the dotlock may leave it (and then it
        # blocks logins until it is stale); remove it as its age would.
        if not (point.name == 'unlink' and ml.DOTLOCK + '"' in point.line):
            out.bad('the dotlock was left behind')
        os.unlink(drop.path + ml.DOTLOCK)
        out.notes.append('dotlock left by the failed unlink, removed')


def fault_plan(points):
    """(point, errno name) for every fault to inject."""
    plan = []
    for pt in points:
        if pt.name not in FAULT_CALLS:
            continue
        plan.append((pt, 'EIO'))
        if pt.name == 'copy_file_range':
            plan += [(pt, e) for e in CFR_FALLBACK]
        if pt.name in SPACE_CALLS:
            plan.append((pt, 'ENOSPC'))
        if pt.name in QUOTA_CALLS:
            plan.append((pt, 'EDQUOT'))
    return plan


# ---- kills and faults during recovery ----

def first_at(step, name):
    """A picker: the first call name of the reference UPDATE's step."""
    return lambda pts: [pt for pt in pts if pt.step == step and
                        pt.name == name][0]


CRASHES = (
    # (name, picker): where a first session is killed to leave a journal
    # for the recovery under test; picker finds the call among the
    # reference UPDATE's.
    ('journal named, no round done', first_at('U2 plain round',
                                              'copy_file_range')),
    ('a plain round done, not recorded', first_at('progress record',
                                                  'pwrite64')),
    ('a stash durable, not in place', first_at('U3 in place', 'pwrite64')),
    ('marker recorded, not cut', first_at('U5 cut', 'ftruncate')),
    ('cut, journal not removed', first_at('U6 unlink', 'unlink')),
)


def crash_template(env, fx, pts, crash):
    """A directory state left by killing the fixed session at crash:
    {file name: octets}."""
    label, pick = crash
    point = pick(pts)
    drop = Drop(env, 'crash-', 'mbox')
    fx.setup(drop)
    trace = drop.file('trace')
    p = drop.pipe(trace, '%s:signal=SIGKILL:when=%d' % (point.name,
                                                       point.nth))
    resp, err = mbox_session(drop, fx, p)
    p.wait()
    miss = injected(trace, point, 'QUIT', 'kill')
    if err or miss or not os.path.exists(drop.path + ml.JOURNAL):
        raise RuntimeError('crash state %s: %s %s' % (label, err, miss))
    stale_dotlock(drop, trace_calls(trace)[0][0])
    # Mail arrives before the next login: recovery must keep it.
    if drop.deliver(fx.after) != 0:
        raise RuntimeError('procmail failed after the crash')
    base = os.path.basename(drop.path)
    return {n: ml.read_or_empty(os.path.join(drop.dir, n))
            for n in (base, base + ml.JOURNAL)}


def restore(drop, files):
    for name, data in files.items():
        ml.write_file(os.path.join(drop.dir, name), data, drop.env.account)


def login_only(drop, fx, p):
    """A session that logs in (recovering) and leaves."""
    r = p.login(drop.user)
    p.close()
    return r, None


def recovery_reference(env, fx, files):
    drop = Drop(env, 'refrec-', 'mbox')
    restore(drop, files)
    trace = drop.file('trace')
    p = drop.pipe(trace)
    r, _ = login_only(drop, fx, p)
    if not LOGGED_IN.match(r):
        raise RuntimeError('recovery reference: %r\n%s' %
                           (r, ml.log_tail(drop.log)))
    calls = trace_calls(trace)
    return points_after(calls, 'flock(', 'write(1, "+OK Logged in')


def recovery_case(env, fx, files, label, point, how):
    drop = Drop(env, 'rec-', 'mbox')
    restore(drop, files)
    out = Outcome('mbox recovery (%s): %s at %s' % (label, how,
                                                   point.text()))
    trace = drop.file('trace')
    inject = 'signal=SIGKILL' if how == 'SIGKILL' else 'error=' + how
    p = drop.pipe(trace, '%s:%s:when=%d' % (point.name, inject, point.nth))
    r, _ = login_only(drop, fx, p)
    miss = injected(trace, point, 'flock(', 'kill' if how == 'SIGKILL'
                    else 'fault')
    if miss:
        out.bad(miss)
    if how == 'SIGKILL':
        if stale_dotlock(drop, trace_calls(trace)[0][0]):
            out.notes.append('stale dotlock removed')
    else:
        if not (LOGGED_IN.match(r) or r.startswith(b'-ERR [SYS/TEMP]') or
                (r == b'' and answers_client(point))):
            out.bad('login during a failed recovery got %r' % r)
        if ml.read_or_empty(drop.path + ml.DOTLOCK):
            os.unlink(drop.path + ml.DOTLOCK)
            if not (point.name == 'unlink' and
                    ml.DOTLOCK + '"' in point.line):
                out.bad('the dotlock was left behind')
    # A complete journal is finished, never undone.
    judge_mbox(drop, fx.known, fx.states(True), out, ['new'])
    return out


# ---- deterministic Maildir kills and faults ----

class MaildirFixture:
    def __init__(self):
        rng = random.Random(SEED + 1)
        self.msgs = ml.make_messages('mdfx', len(MD_SUBDIRS), rng)
        self.names = []
        for i, (m, sub) in enumerate(zip(self.msgs, MD_SUBDIRS), 1):
            info = '' if sub == 'new' else (':2,S' if i % 4 == 2 else ':2,')
            self.names.append('%s/17950000%02d.M%dP%d.fixture%s' %
                              (sub, i, i, 100 + i, info))
        self.during = ml.make_message('mddur', 1, rng, size=2000)
        self.after = ml.make_message('mdaft', 1, rng, size=1000)
        self.known = {m.mid: m for m in self.msgs + [self.during,
                                                     self.after]}
        self.marked = [self.msgs[i - 1] for i in MD_DELE]
        self.keep = [m for i, m in enumerate(self.msgs, 1)
                     if i not in MD_DELE]
        self.by_file = dict(zip(self.names, self.msgs))

    def setup(self, drop):
        for name, m in zip(self.names, self.msgs):
            path = os.path.join(drop.path, name)
            ml.write_file(path, m.content, drop.env.account)


def maildir_session(drop, fx, p):
    r = p.login(drop.user)
    if not LOGGED_IN.match(r):
        return None, 'login: %r' % r
    for n in MD_RETR:
        if p.retr(n)[1] is None:
            return None, 'RETR %d failed' % n
    for n in MD_DELE:
        if not p.cmd(b'DELE %d' % n).startswith(b'+OK'):
            return None, 'DELE %d failed' % n
    if drop.deliver(fx.during) != 0:
        return None, 'maildrop failed during the session'
    return p.cmd(b'QUIT'), None


def unlinked_by(fx, pts, before):
    """Marked messages whose unlinkat came before index before."""
    out = []
    for pt in pts:
        if pt.name == 'unlinkat' and pt.index < before:
            name = pt.line.split('"')[1]
            out.append(fx.by_file[name])
    return out


def maildir_case(env, fx, pts, point, how):
    drop = Drop(env, 'md-', 'maildir')
    out = Outcome('Maildir: %s at %s' % (how, point.text()))
    fx.setup(drop)
    trace = drop.file('trace')
    inject = 'signal=SIGKILL' if how == 'SIGKILL' else 'error=' + how
    p = drop.pipe(trace, '%s:%s:when=%d' % (point.name, inject, point.nth))
    resp, err = maildir_session(drop, fx, p)
    p.wait()
    if err:
        out.bad(err)
        return out
    miss = injected(trace, point, 'QUIT', 'kill' if how == 'SIGKILL' else
                    'fault')
    if miss:
        out.bad(miss)
    gone = unlinked_by(fx, pts, point.index)
    if how == 'SIGKILL':
        # Exactly the unlinks made before the kill are done.
        kept = [m for m in fx.marked if m not in gone]
        if resp not in (b'', b'+OK Bye\r\n'):
            out.bad('QUIT got %r' % resp)
    else:
        kept = []
        if resp == b'+OK Bye\r\n':
            gone = fx.marked
        elif not (resp.startswith(b'-ERR [SYS/TEMP]') or
                  (resp == b'' and answers_client(point))):
            out.bad('QUIT got %r' % resp)
    if drop.deliver(fx.after) != 0:
        out.bad('maildrop failed after the fault')
    judge_maildir(drop, fx.known, fx.keep, fx.marked,
                  [fx.during, fx.after], out, gone, kept)
    return out


# ---- random kills ----

def random_mbox(env, msgs, seed, delay, concurrent, known):
    rng = random.Random(seed)
    drop = Drop(env, 'rnd-', 'mbox')
    out = Outcome('mbox: kill -9 %.1f ms after QUIT%s' % (
        delay * 1000, ', procmail delivering' if concurrent else ''))
    ml.write_file(drop.path, ml.mbox_of(msgs), env.account)
    dele = sorted({2} | set(rng.sample(range(1, len(msgs) + 1),
                                       len(msgs) // 4)))
    extra = ml.make_message('conc', seed, rng, size=1500)
    known = dict(known)
    known[extra.mid] = extra
    p = drop.pipe()
    r = p.login(drop.user)
    if not LOGGED_IN.match(r):
        out.bad('login: %r' % r)
        p.close()
        return out
    replies = p.cmds([b'DELE %d' % n for n in dele])
    if not all(x.startswith(b'+OK') for x in replies):
        out.bad('DELE failed')
    th = None
    if concurrent:
        rc = []
        th = threading.Thread(target=lambda: rc.append(
            drop.deliver(extra)))
        th.start()
    p.send(b'QUIT\r\n')
    time.sleep(delay)
    pid = p.proc.pid
    p.kill(wait=False)
    resp = p.line()
    p.wait()
    journal = os.path.exists(drop.path + ml.JOURNAL)
    if stale_dotlock(drop, pid):
        out.notes.append('stale dotlock removed')
    tail = []
    if th is not None:
        th.join()
        if rc != [0]:
            out.bad('procmail failed: %r' % rc)
        tail = [extra]
    kept = [m for i, m in enumerate(msgs, 1) if i not in dele]
    states = {'old': msgs + tail, 'new': kept + tail}
    judge_mbox(drop, known, states, out, ['new'] if resp.startswith(
        b'+OK Bye') else None)
    out.journal = journal
    out.answered = resp.startswith(b'+OK Bye')
    return out


def random_maildir(env, fx_msgs, names, seed, delay, known):
    rng = random.Random(seed)
    drop = Drop(env, 'rndmd-', 'maildir')
    out = Outcome('Maildir: kill -9 %.1f ms after QUIT' % (delay * 1000))
    for name, m in zip(names, fx_msgs):
        ml.write_file(os.path.join(drop.path, name), m.content, env.account)
    order = sorted(range(len(names)), key=lambda i: names[i][4:])
    dele = sorted(rng.sample(range(1, len(names) + 1), len(names) // 2))
    marked = [fx_msgs[order[n - 1]] for n in dele]
    keep = [m for m in fx_msgs if m not in marked]
    p = drop.pipe()
    r = p.login(drop.user)
    if not LOGGED_IN.match(r):
        out.bad('login: %r' % r)
        p.close()
        return out
    if not all(x.startswith(b'+OK') for x in
               p.cmds([b'DELE %d' % n for n in dele])):
        out.bad('DELE failed')
    p.send(b'QUIT\r\n')
    time.sleep(delay)
    p.kill(wait=False)
    resp = p.line()
    p.wait()
    after = ml.make_message('mdrnd', seed, rng, size=800)
    known = dict(known)
    known[after.mid] = after
    if drop.deliver(after) != 0:
        out.bad('maildrop failed after the kill')
    judge_maildir(drop, known, keep, marked, [after], out,
                  marked if resp.startswith(b'+OK Bye') else ())
    out.answered = resp.startswith(b'+OK Bye')
    return out


def time_update(env, msgs, kind, names=None):
    """How long an undisturbed UPDATE of the random-kill maildrop takes:
    QUIT sent to +OK Bye read."""
    drop = Drop(env, 'cal-', kind)
    if kind == 'mbox':
        ml.write_file(drop.path, ml.mbox_of(msgs), env.account)
        dele = [2] + list(range(4, len(msgs) + 1, 4))
    else:
        for name, m in zip(names, msgs):
            ml.write_file(os.path.join(drop.path, name), m.content,
                          env.account)
        dele = list(range(1, len(msgs) + 1, 2))
    p = drop.pipe()
    p.login(drop.user)
    p.cmds([b'DELE %d' % n for n in dele])
    journal = drop.path + ml.JOURNAL
    seen = []
    t0 = time.monotonic()
    p.send(b'QUIT\r\n')
    # When the journal first has its name: the window where a kill
    # leaves recovery to the next login.
    while not p.buf and not p.eof:
        if kind == 'mbox' and not seen and os.path.exists(journal):
            seen.append(time.monotonic() - t0)
        if select.select([p.fd], [], [], 0.0002)[0]:
            p._more(time.monotonic() + ml.LINE_SECS)
    r = p.line()
    took = time.monotonic() - t0
    p.wait()
    if r != b'+OK Bye\r\n':
        raise RuntimeError('calibration: QUIT got %r' % r)
    return took, (seen[0] if seen else took / 2)


# ---- reporting ----

def report(t, outcomes):
    """One line per case, in plan order."""
    for o in outcomes:
        what = o.what + (' -> ' + o.state if o.state else '') + \
            (' (%s)' % '; '.join(o.notes) if o.notes else '')
        t.check(not o.problems, what, '\n'.join(o.problems))


def run_all(jobs):
    """Run (fn, args) jobs on WORKERS threads; their outcomes in order,
    an exception becoming a failed outcome."""
    def one(numbered):
        i, (fn, args) = numbered
        try:
            return fn(*args)
        except Exception as e:     # noqa: BLE001 - a failed case, go on
            o = Outcome('%s, case %d' % (fn.__name__, i))
            o.bad('%s: %r' % (type(e).__name__, e))
            return o
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
        return list(ex.map(one, enumerate(jobs)))


def summary(name, outcomes):
    states = collections.Counter(o.state for o in outcomes)
    notes = collections.Counter(n for o in outcomes for n in o.notes)
    print('# %s: %d cases; states %s; %s' % (
        name, len(outcomes), dict(states), dict(notes)), flush=True)


# ---- the parts ----

def part_mbox(env):
    t = env.t
    fx = MboxFixture()
    t0 = time.monotonic()
    _, calls, pts, resp = reference(env, 'mbox', fx, mbox_session, 'QUIT',
                                    steps_of=update_steps)
    t.check(resp == b'+OK Bye\r\n' and pts, 'mbox: the reference session '
            'under strace completes (%d calls after QUIT)' % len(pts))
    steps = collections.Counter(pt.step for pt in pts)
    t.check(all(steps[x] for x in UPDATE_STEPS), 'mbox: the reference '
            'UPDATE makes every step of pop3d(8) (calls per step: %s)' %
            ', '.join('%s %d' % (x, steps[x]) for x in UPDATE_STEPS))
    rename_at = [pt.index for pt in pts if pt.step == 'U1 rename' and
                 pt.name == 'rename'][0]
    kills = run_all([(mbox_kill, (env, fx, pt, rename_at, after))
                     for pt in pts for after in (False, True)])
    report(t, kills)
    summary('mbox SIGKILL at each of %d calls after QUIT, x2' % len(pts),
            kills)
    plan = fault_plan(pts)
    faults = run_all([(mbox_fault, (env, fx, pt, e)) for pt, e in plan])
    report(t, faults)
    summary('mbox faults at %d points' % len(plan), faults)
    # Where copy_file_range is not there: the copies go through reads and
    # writes; kills and faults at each of those calls too.
    _, _, npts, resp = reference(env, 'mbox', fx, mbox_session, 'QUIT',
                                 steps_of=update_steps, also=NO_CFR)
    moves = [pt for pt in npts if pt.step == 'U2 plain round' and
             pt.name == 'pwrite64']
    t.check(resp == b'+OK Bye\r\n' and len(moves) > 2, 'mbox without '
            'copy_file_range: the reference session completes, its plain '
            'rounds copy with %d pwrite64 calls' % len(moves))
    npts = [pt for pt in npts if pt.name != 'copy_file_range']
    rename_at = [pt.index for pt in npts if pt.step == 'U1 rename' and
                 pt.name == 'rename'][0]
    kills = run_all([(mbox_kill, (env, fx, pt, rename_at, True, NO_CFR))
                     for pt in npts])
    report(t, kills)
    summary('mbox without copy_file_range: SIGKILL at each of %d calls' %
            len(npts), kills)
    plan = [(pt, e) for pt, e in fault_plan(npts) if pt.name in
            ('pread64', 'pwrite64') and pt.step == 'U2 plain round']
    faults = run_all([(mbox_fault, (env, fx, pt, e, NO_CFR))
                      for pt, e in plan])
    report(t, faults)
    summary('mbox without copy_file_range: faults at the %d points of '
            'its copies' % len(plan), faults)
    print('# mbox kills and faults: %.1f s' % (time.monotonic() - t0),
          flush=True)
    return fx, calls, pts


def part_recovery(env, fx, pts):
    t = env.t
    t0 = time.monotonic()
    jobs = []
    for crash in CRASHES:
        files = crash_template(env, fx, pts, crash)
        rpts = recovery_reference(env, fx, files)
        t.check(len(rpts) > 20, 'mbox recovery (%s): the reference login '
                'recovers (%d calls)' % (crash[0], len(rpts)))
        for pt in rpts:
            jobs.append((recovery_case, (env, fx, files, crash[0], pt,
                                         'SIGKILL')))
            if pt.name in FAULT_CALLS:
                jobs.append((recovery_case, (env, fx, files, crash[0], pt,
                                             'EIO')))
    outs = run_all(jobs)
    report(t, outs)
    summary('mbox recovery kills and faults', outs)
    print('# recovery: %.1f s' % (time.monotonic() - t0), flush=True)


def part_maildir(env):
    t = env.t
    t0 = time.monotonic()
    fx = MaildirFixture()
    _, _, pts, resp = reference(env, 'maildir', fx, maildir_session, 'QUIT')
    t.check(resp == b'+OK Bye\r\n' and pts, 'Maildir: the reference session '
            'under strace completes (%d calls after QUIT)' % len(pts))
    jobs = [(maildir_case, (env, fx, pts, pt, 'SIGKILL')) for pt in pts]
    for pt, e in fault_plan(pts):
        jobs.append((maildir_case, (env, fx, pts, pt, e)))
    outs = run_all(jobs)
    report(t, outs)
    summary('Maildir kills and faults', outs)
    print('# Maildir: %.1f s' % (time.monotonic() - t0), flush=True)


def part_random(env):
    t = env.t
    t0 = time.monotonic()
    rng = random.Random(SEED + 2)
    msgs = [ml.make_message('big', i, rng, size=rng.choice(
        (300, 800, 1500, 3000, 6000))) for i in range(1, RANDOM_MBOX_MSGS)]
    known = {m.mid: m for m in msgs}
    took, named = time_update(env, msgs, 'mbox')
    print('# mbox of %d messages: UPDATE takes %.1f ms, the journal has '
          'its name from %.1f ms' % (len(msgs), took * 1000, named * 1000),
          flush=True)
    # A third of the kills aim at the journal's window, the rest anywhere
    # from QUIT to a little after UPDATE's usual end.
    delays = [rng.uniform(named, took) if i % 3 == 2 else
              rng.uniform(0, 1.3 * took) for i in range(RANDOM_MBOX_RUNS)]
    jobs = [(random_mbox, (env, msgs, SEED + i, d, i % 2 == 1, known))
            for i, d in enumerate(delays)]
    outs = run_all(jobs)
    report(t, outs)
    summary('mbox random kills', outs)
    mid = sum(1 for o in outs if getattr(o, 'journal', False))
    print('# mbox random kills: %d left a journal to recover, %d were '
          'answered +OK Bye' % (mid, sum(1 for o in outs if getattr(
              o, 'answered', False))), flush=True)
    t.check(mid > 0, 'mbox random kills: some left a journal for the next '
            'login to complete (%d of %d)' % (mid, len(outs)))
    md = ml.make_messages('bigmd', RANDOM_MAILDIR_MSGS, rng, size=500)
    names = ['%s/1796%06d.M%dP%d.rnd%s' % (
        'new' if i % 3 else 'cur', i, i, i, '' if i % 3 else ':2,S')
        for i in range(len(md))]
    known = {m.mid: m for m in md}
    took = time_update(env, md, 'maildir', names)[0]
    print('# Maildir of %d messages: UPDATE takes %.1f ms' %
          (len(md), took * 1000), flush=True)
    delays = [rng.uniform(0.2 * took, 0.8 * took) if i % 3 == 2 else
              rng.uniform(0, 1.2 * took) for i in range(RANDOM_MAILDIR_RUNS)]
    jobs = [(random_maildir, (env, md, names, SEED + 100 + i, d, known))
            for i, d in enumerate(delays)]
    outs = run_all(jobs)
    report(t, outs)
    summary('Maildir random kills', outs)
    partial = sum(1 for o in outs if o.state and not
                  o.state.startswith('0 of') and
                  o.state.split(' of ')[0] != o.state.split(' of ')[1]
                  .split()[0])
    t.check(partial > 0, 'Maildir random kills: some landed in the middle '
            'of the unlinks (%d of %d)' % (partial, len(outs)))
    print('# random kills: %.1f s' % (time.monotonic() - t0), flush=True)


# ---- full disk ----

class SmallFs:
    """A small filesystem on a scratch directory, owned by the account:
    tmpfs, or ext4 (no blocks reserved for root) in a loop-mounted
    image.  umount() takes it away again."""

    def __init__(self, env, kind, inodes=None):
        self.kind = kind
        self.dir = env.scratch.subdir(env.name('fs-%s-' % kind))
        self.image = None
        if kind == 'tmpfs':
            opts = 'size=%dm,mode=0755,uid=%d,gid=%d' % (
                FS_SIZE_MB, env.account.uid, env.account.gid)
            if inodes:
                opts += ',nr_inodes=%d' % inodes
            argv = ['mount', '-t', 'tmpfs', '-o', opts, 'pop3d-test',
                    self.dir]
        else:
            self.image = self.dir + '.img'
            with open(self.image, 'wb') as f:
                f.truncate(FS_SIZE_MB << 20)
            r = subprocess.run(['mkfs.ext4', '-q', '-F', '-m', '0',
                                self.image], capture_output=True)
            if r.returncode != 0:
                raise RuntimeError('mkfs.ext4: %r' % r.stderr)
            argv = ['mount', '-o', 'loop', self.image, self.dir]
        r = subprocess.run(argv, capture_output=True)
        if r.returncode != 0:
            self.dir = None
            raise OSError('%s: %s' % (' '.join(argv), r.stderr.decode(
                'utf-8', 'replace').strip()))
        env.account.give(self.dir)
        os.chmod(self.dir, 0o755)

    def free(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def fill(self, path, octets=None):
        """Grow path by octets, or until the disk is full."""
        chunk = b'\0' * 4096
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while octets is None or octets > 0:
                n = len(chunk) if octets is None else min(len(chunk),
                                                          octets)
                try:
                    n = os.write(fd, chunk[:n])
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                if octets is not None:
                    octets -= n
            try:
                os.fsync(fd)
            except OSError:
                pass
        finally:
            os.close(fd)

    def umount(self):
        if self.dir is not None:
            subprocess.run(['umount', self.dir], check=True)
            self.dir = None
        if self.image is not None:
            os.unlink(self.image)
            self.image = None


def quit_after(drop, dele, retr=()):
    """A session: RETR and DELE some messages, QUIT; QUIT's answer (or
    the login's, if that failed)."""
    p = drop.pipe()
    r = p.login(drop.user)
    if not LOGGED_IN.match(r):
        p.close()
        return r
    for n in retr:
        p.retr(n)
    for n in dele:
        p.cmd(b'DELE %d' % n)
    r = p.cmd(b'QUIT')
    p.wait()
    return r


def full_disk(env, kind):
    t = env.t
    fs = SmallFs(env, kind)
    try:
        rng = random.Random(SEED + 3)
        msgs = [ml.make_message('full', i, rng, size=FULL_MSG_SIZE)
                for i in range(1, FULL_MSGS + 1)]
        mds = ml.make_messages('fullmd', 6, rng, size=3000)
        known = {m.mid: m for m in msgs + mds}
        drop = Drop(env, 'full-', 'mbox', fs.dir)
        ml.write_file(drop.path, ml.mbox_of(msgs), env.account)
        mdir = Drop(env, 'fullmd-', 'maildir', fs.dir)
        for i, m in enumerate(mds):
            ml.write_file(os.path.join(mdir.path, 'new', '17970000%02d.M%d'
                                       '.full' % (i, i)), m.content,
                          env.account)
        what = 'full disk (%s, %d MiB)' % (kind, FS_SIZE_MB)
        # Earlier sessions made the session locks; a Maildir session
        # first, while there is room.
        t.check(quit_after(mdir, ()) == b'+OK Bye\r\n', '%s: a Maildir '
                'session while there is room' % what)
        filler = os.path.join(fs.dir, 'filler')
        fs.fill(filler, max(0, fs.free() - FREE_LEFT))
        before = ml.read_or_empty(drop.path)
        r = quit_after(drop, [2])
        t.check(r.startswith(b'-ERR [SYS/TEMP]'), '%s: %d KiB free; DELE 2 '
                'moves %d KiB down by one message, which needs a stash of '
                'at least 64 KiB: the journal does not fit, QUIT gets -ERR '
                '[SYS/TEMP]' % (what, fs.free() >> 10, len(ml.mbox_of(
                    msgs[2:])) >> 10), r)
        t.check(ml.read_or_empty(drop.path) == before and
                not ml.leftovers(drop.path), '%s: the mbox is untouched '
                'and nothing is left beside it' % what,
                ml.leftovers(drop.path))
        r = quit_after(drop, [FULL_MSGS])
        t.check(r == b'+OK Bye\r\n' and ml.read_or_empty(drop.path) ==
                ml.mbox_of(msgs[:-1]), '%s: deleting the last message '
                'moves nothing: +OK Bye, mbox exact' % what, r)
        # Every other message: the gap doubles, no stash; the old journal
        # held all the kept data (700 KiB here).
        free = fs.free()
        r = quit_after(drop, range(1, FULL_MSGS, 2))
        rest = msgs[1:-1:2]
        t.check(r == b'+OK Bye\r\n' and ml.read_or_empty(drop.path) ==
                ml.mbox_of(rest) and not ml.leftovers(drop.path),
                '%s: %d KiB free, DELE of every other message needs no '
                'stash: +OK Bye, mbox exact, nothing left beside it' %
                (what, free >> 10), r)
        fs.fill(filler)
        t.check(fs.free() < 4096, '%s: the disk is full (%d octets free)' %
                (what, fs.free()))
        r = quit_after(drop, [2])
        t.check(r.startswith(b'-ERR [SYS/TEMP]') and
                ml.read_or_empty(drop.path) == ml.mbox_of(rest) and
                not ml.leftovers(drop.path), '%s: no room for the dotlock: '
                'login gets -ERR [SYS/TEMP], mbox untouched' % what, r)
        r = quit_after(mdir, [2], [1])
        out = Outcome('%s: Maildir RETR 1, DELE 2 on the full disk: +OK '
                      'Bye, the rest intact' % what)
        if r != b'+OK Bye\r\n':
            out.bad('QUIT got %r' % r)
        # Names sort as the messages were made: message 2 is mds[1].
        judge_maildir(mdir, known, mds[:1] + mds[2:], [mds[1]], [], out,
                      [mds[1]])
        report(t, [out])
        os.unlink(filler)
        r = quit_after(drop, [2])
        out = Outcome('%s: room again: DELE 2 gets +OK Bye' % what)
        if r != b'+OK Bye\r\n':
            out.bad('QUIT got %r\n%s' % (r, ml.log_tail(drop.log)))
        want = [m for i, m in enumerate(rest, 1) if i != 2]
        judge_mbox(drop, known, {'new': want}, out)
        report(t, [out])
    finally:
        fs.umount()


def no_inodes(env):
    t = env.t
    fs = SmallFs(env, 'tmpfs', inodes=64)
    try:
        rng = random.Random(SEED + 4)
        msgs = ml.make_messages('inode', 5, rng, size=1000)
        drop = Drop(env, 'inode-', 'mbox', fs.dir)
        ml.write_file(drop.path, ml.mbox_of(msgs), env.account)
        what = 'no free inodes (tmpfs nr_inodes=64)'
        t.check(quit_after(drop, ()) == b'+OK Bye\r\n', '%s: a session '
                'while there are inodes' % what)
        spare = os.path.join(fs.dir, 'spare')
        os.mkdir(spare)
        n = 0
        while True:
            try:
                open(os.path.join(spare, str(n)), 'wb').close()
                n += 1
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        r = quit_after(drop, [1])
        t.check(r.startswith(b'-ERR [SYS/TEMP]') and
                ml.read_or_empty(drop.path) == ml.mbox_of(msgs) and
                not ml.leftovers(drop.path), '%s: login gets -ERR '
                '[SYS/TEMP], mbox untouched' % what, r)
        shutil.rmtree(spare)
        r = quit_after(drop, [1])
        t.check(r == b'+OK Bye\r\n' and ml.read_or_empty(drop.path) ==
                ml.mbox_of(msgs[1:]), '%s: inodes again: DELE 1 gets +OK '
                'Bye, mbox exact' % what, r)
    finally:
        fs.umount()


# ---- a Debian /var/mail spool ----

class SpoolDrop(Drop):
    """The mbox SPOOL/USER, served by a root pop3d that switches to the
    entry's uid and gid: login (the entry's user name) and flags say
    which way the spool's group is had."""

    def __init__(self, env, spool, login, gid, flags):
        Drop.__init__(self, env, 'spool-', 'mbox', spool)
        acct = env.account
        self.user = login
        self.flags = flags
        self.path = os.path.join(spool, acct.name)
        self.mda = ml.Mda('procmail', env.tools['procmail'], acct,
                          env.scratch, self.path, 'spool.procmail')
        ml.write_file(self.passwd, ml.passwd_entry(
            login, env.pwhash, 'mbox:' + self.path, spool, str(acct.uid),
            str(gid)).encode())

    def pipe(self, trace=None, inject=None):
        pre = []
        if trace:
            pre = [self.env.tools['strace'], '-f', '-o', trace, '-e',
                   'inject=' + inject]
        return ml.Pipe(pre + ml.pop3d_argv(self.passwd) + self.flags,
                       self.log, env=self.env.run_env)

    def setup(self, msgs):
        """The spool holds nothing but the mbox, as the MDA made it."""
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        ml.write_file(self.path, ml.mbox_of(msgs), self.env.account, 0o660,
                      ml.mail_gid())


def part_spool(env):
    """A spool like Debian's /var/mail: root:mail 2775, each mbox owned by
    its user, group mail, mode 0660; procmail (setgid mail) delivers."""
    t = env.t
    acct = env.account
    gid_mail = ml.mail_gid()
    spool = env.scratch.subdir('spool')
    os.chown(spool, 0, gid_mail)
    os.chmod(spool, 0o2775)
    fx = MboxFixture()
    # Without the group, the lock files cannot be made: refused.
    drop = SpoolDrop(env, spool, 'owngroup', acct.gid, [])
    drop.setup(fx.msgs)
    p = drop.pipe()
    r = p.login(drop.user)
    p.close()
    t.check(r.startswith(b'-ERR [SYS/PERM]'), 'spool: an entry with the '
            'user\'s own gid and no --lock-group cannot make lock files: '
            'login gets -ERR [SYS/PERM]', r)
    t.check(sorted(os.listdir(spool)) == [acct.name] and
            ml.read_or_empty(drop.path) == ml.mbox_of(fx.msgs),
            'spool: that login created nothing and changed nothing',
            os.listdir(spool))
    for how, login, gid, flags in (
            ('--lock-group=mail, own gid', 'owngroup', acct.gid,
             ['--lock-group=mail']),
            ('gid mail', acct.name, gid_mail, [])):
        drop = SpoolDrop(env, spool, login, gid, flags)
        spool_session(t, drop, fx, how)
        # Kills at calls only UPDATE makes: U1's rename (the second: the
        # first is the login's scan writing PATH.pop3d-cache into a spool
        # that setup emptied; killed there: old), the first rounds' syncs,
        # U5's cut (new).
        for call, nth, want in (('rename', 2, 'old'),
                                ('fdatasync', 1, 'new'),
                                ('fdatasync', 2, 'new'),
                                ('ftruncate', 1, 'new')):
            spool_kill(t, drop, fx, how, call, nth, want)


def spool_session(t, drop, fx, how):
    drop.setup(fx.msgs)
    p = drop.pipe()
    r = p.login(drop.user)
    ok = bool(LOGGED_IN.match(r))
    if ok:
        ok = p.retr(1)[1] == fx.msgs[0].wire()
        for n in FIX_DELE:
            p.cmd(b'DELE %d' % n)
        ok = drop.deliver(fx.during) == 0 and ok
        r = p.cmd(b'QUIT')
    p.wait()
    out = Outcome('spool (%s): RETR, DELE, procmail delivering, QUIT +OK '
                  'Bye' % how)
    if not ok or r != b'+OK Bye\r\n':
        out.bad('session: %r\n%s' % (r, ml.log_tail(drop.log)))
    judge_mbox(drop, fx.known, {'new': fx.kept + [fx.during]}, out)
    st = os.stat(drop.path)
    if (st.st_uid, st.st_gid, st.st_mode & 0o777) != \
            (drop.env.account.uid, ml.mail_gid(), 0o660):
        out.bad('the mbox changed owner or mode: %d:%d %o' %
                (st.st_uid, st.st_gid, st.st_mode & 0o777))
    report(t, [out])


def spool_kill(t, drop, fx, how, call, nth, want):
    drop.setup(fx.msgs)
    trace = drop.env.scratch.path(drop.env.name('trace-spool-'))
    p = drop.pipe(trace, '%s:signal=SIGKILL:when=%d' % (call, nth))
    r = p.login(drop.user)
    for n in FIX_DELE:
        p.cmd(b'DELE %d' % n)
    drop.deliver(fx.during)
    resp = p.cmd(b'QUIT')
    p.wait()
    out = Outcome('spool (%s): SIGKILL at %s #%d of UPDATE, procmail '
                  'after' % (how, call, nth))
    with open(trace, errors='replace') as f:
        lines = f.read().splitlines()
    killed = [int(x.split()[0]) for x in lines if 'killed by SIGKILL' in x]
    if not LOGGED_IN.match(r) or resp != b'' or not killed:
        out.bad('not killed in UPDATE: login %r, QUIT %r' % (r, resp))
    elif stale_dotlock(drop, killed[0]):
        out.notes.append('stale dotlock removed')
    if drop.deliver(fx.after) != 0:
        out.bad('procmail failed after the kill')
    judge_mbox(drop, fx.known, fx.states(True), out, [want])
    report(t, [out])


def needs_root(t, what):
    print('SKIPPED: %s: needs root (pop3d makes itself non-dumpable, so '
          'only a root strace reads the calls\' arguments; mounts; a root '
          'pop3d)' % what, flush=True)
    if t.ci:
        t.check(False, '%s runs as root under CI=true' % what)


def run_parts(t, env, tools):
    have = {k: v is not None for k, v in tools.items()}
    root = env.account.root
    if not root:
        needs_root(t, 'kills and faults at each system call, full disk, '
                   'spool')
    strace = root and have['strace']
    if strace and have['procmail'] and 'mbox' in PARTS:
        got = t.section('mbox', part_mbox, env)
        if got is not None and 'recovery' in PARTS:
            t.section('recovery', part_recovery, env, got[0], got[2])
    if strace and have['maildrop'] and 'maildir' in PARTS:
        t.section('maildir', part_maildir, env)
    both = have['procmail'] and have['maildrop']
    if both and 'random' in PARTS:
        t.section('random kills', part_random, env)
    if root and both and 'disk' in PARTS:
        for kind in ('tmpfs', 'ext4') if have['mkfs.ext4'] else ('tmpfs',):
            t.section('full disk ' + kind, full_disk, env, kind)
        t.section('no inodes', no_inodes, env)
    if strace and have['procmail'] and 'spool' in PARTS:
        t.section('spool', part_spool, env)


def main():
    t = common.Tally()
    common.require_pop3d(t)
    tools = {
        'strace': t.tool('strace', 'strace',
                         'kills and faults at each system call'),
        'procmail': t.tool('procmail', 'procmail', 'mbox delivery'),
        'maildrop': t.tool('maildrop', 'maildrop', 'Maildir delivery'),
        'mkfs.ext4': t.tool('mkfs.ext4', 'e2fsprogs', 'a full ext4 disk'),
    }
    account = ml.Account()
    scratch = ml.Scratch('pop3d-faults.', account)
    t0 = time.monotonic()
    try:
        run_parts(t, Env(t, tools, account, scratch), tools)
    finally:
        scratch.remove()
    print('# faults.py: %.1f s' % (time.monotonic() - t0), flush=True)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
