#!/usr/bin/env python3
"""tests/integration/mda.py: real MDAs delivering while POP3 sessions take
the mail away.  Two procmail streams append a few thousand unique messages
to an mbox (procmail's own PATH.lock and fcntl locking), and maildrop and
procmail deliver as many into a Maildir, while two client loops run pop3d
as an inetd child on pipes: log in (or meet [IN-USE]), RETR everything
and check it byte for byte against what the MDA was given, DELE all or
some of it and QUIT -- or drop the connection after DELE, which must
delete nothing.  UIDLs must stay the same from session to session.  At
the end an independent reader of the maildrop (maillib.py, not pop3d)
finds that every delivered message was taken by exactly one session that
got +OK Bye or is still there, once, intact, and pop3d's own view agrees.

Environment: POP3D_MDA_MESSAGES (default 2000) messages per maildrop.
Run from the repository root after `make pop3d`; as root the maildrops
belong to pop3dtest1 (made when missing), pop3d switches to it, and the
mbox's directory is bind-mounted noatime for the run (see PAUSE)."""

import collections
import os
import random
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True     # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import maillib as ml  # noqa: E402

NMSGS = int(os.environ.get('POP3D_MDA_MESSAGES', '2000'))
CLIENTS = 2
DROP_EVERY = 6         # every 6th session DELEs, then drops the connection
SOME_EVERY = 3         # every 3rd DELEs only some of what it saw
SEED = 1939
MIN_UPDATES = 5        # UPDATEs that must overlap delivery to count
INUSE_PAUSE = 0.05
# Seconds between a client's sessions.  After a reader has touched an
# mbox (atime caught up with mtime), procmail writes one octet and sleeps
# a second holding its locks (its NFS atime hack, so that mail readers see
# new mail): sessions back to back would throttle delivery to a message a
# second.  As root the mbox lives on a noatime bind mount, as mail spools
# often do, and sessions may follow each other closely; otherwise they
# are spaced out.
PAUSE = (0.1, 0.4)
PAUSE_ATIME = (0.4, 1.6)


class Run:
    """The shared record of one maildrop's run."""

    def __init__(self, kind, known, argv, user):
        self.kind = kind
        self.known = known
        self.argv = argv
        self.user = user
        self.lock = threading.Lock()
        self.taken = collections.Counter()     # mid -> sessions that took it
        self.uidl = {}                         # mid -> its UIDL
        self.delivered = set()
        self.keep = set()                      # never deleted
        self.failed_deliveries = []
        self.problems = []
        self.stats = collections.Counter()
        self.pause = PAUSE
        self.delivering = threading.Event()
        self.delivering.set()

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


def deliver(run, mda, msgs):
    for m in msgs:
        data = m.piped() if mda.kind == 'procmail' else m.content
        rc = mda.deliver(data)
        with run.lock:
            if rc == 0:
                run.delivered.add(m.mid)
            else:
                run.failed_deliveries.append('%s: %s exit %d' %
                                             (m.mid, mda.kind, rc))


def fetch_all(run, p):
    """RETR every message, each checked against what was delivered;
    {number: Message-ID} of those that are intact."""
    sizes = p.listing(b'LIST')
    uidls = p.listing(b'UIDL')
    if sizes is None or uidls is None or len(sizes) != len(uidls):
        run.problem('LIST/UIDL failed or disagree: %r %r' %
                    (sizes and len(sizes), uidls and len(uidls)))
        return {}
    got = {}
    for (num, size), (_, uidl) in zip(sizes, uidls):
        status, data = p.retr(num)
        if data is None:
            run.problem('RETR %d: %r' % (num, status))
            continue
        mid = ml.ident(data)
        m = run.known.get(mid)
        if m is None or data != m.wire():
            run.problem('RETR %d (%s) is not the message delivered: %s' %
                        (num, mid, common.first_difference(
                            data, m.wire() if m else b'')))
            continue
        if int(size) != len(data) or status != b'+OK %d octets\r\n' % \
                len(data):
            run.problem('%s: LIST %s, RETR %r, sent %d octets' %
                        (mid, size, status, len(data)))
        with run.lock:
            if run.taken[mid]:
                run.problems.append('%s is back after a session that '
                                    'deleted it got +OK Bye' % mid)
            if run.uidl.setdefault(mid, uidl) != uidl:
                run.problems.append('%s: UIDL %r, before %r' %
                                    (mid, uidl, run.uidl[mid]))
        got[num] = mid
    return got


def session(run, rng, log, count):
    """Session number count of a client; what became of it."""
    p = ml.Pipe(run.argv, log)
    try:
        r = p.login(run.user)
        if r.startswith(b'-ERR [IN-USE]'):
            p.close()
            return 'in-use'
        if not r.startswith(b'+OK'):
            run.problem('login: %r\n%s' % (r, ml.log_tail(log)))
            p.close()
            return 'login failed'
        got = fetch_all(run, p)
        nums = sorted(n for n, mid in got.items() if mid not in run.keep)
        drop = count % DROP_EVERY == DROP_EVERY - 1
        if count % SOME_EVERY == 1 and len(nums) > 1:
            nums = sorted(rng.sample(nums, len(nums) // 2 + 1))
        replies = p.cmds([b'DELE %d' % n for n in nums])
        if any(x != b'+OK Message %d deleted\r\n' % n
               for x, n in zip(replies, nums)):
            run.problem('DELE: %r' % replies)
        if drop:
            if rng.random() < 0.5:
                p.close()
            else:
                p.kill()
            return 'dropped after DELE'
        during = run.delivering.is_set()
        r = p.cmd(b'QUIT')
        rc = p.wait()
        if r != b'+OK Bye\r\n' or rc != 0:
            run.problem('QUIT after DELE of %d: %r, exit %r\n%s' %
                        (len(nums), r, rc, ml.log_tail(log)))
            return 'quit failed'
        with run.lock:
            for n in nums:
                run.taken[got[n]] += 1
            run.stats['messages taken'] += len(nums)
        return 'UPDATE during delivery' if during and nums else 'quit'
    except (TimeoutError, OSError, ValueError) as e:
        run.problem('session: %r\n%s' % (e, ml.log_tail(log)))
        p.kill()
        return 'broken'


def client(run, seed, log):
    rng = random.Random(seed)
    last = False
    count = 0
    while not last:
        last = not run.delivering.is_set()
        try:
            what = session(run, rng, log, count)
        except Exception as e:     # noqa: BLE001 - a failed check, go on
            run.problem('client: %s: %r' % (type(e).__name__, e))
            what = 'broken'
        with run.lock:
            run.stats[what] += 1
        if what == 'in-use':
            last = False
            time.sleep(rng.random() * INUSE_PAUSE)
            continue
        count += 1
        if not last:
            time.sleep(rng.uniform(*run.pause))


def final_view(t, run, audit, log):
    """pop3d's last session sees what the independent reader sees."""
    p = ml.Pipe(run.argv, log)
    r = p.login(run.user)
    mids = []
    if r.startswith(b'+OK'):
        for num, _ in p.listing(b'LIST') or []:
            data = p.retr(num)[1]
            mids.append(ml.ident(data) if data is not None else None)
        p.cmd(b'QUIT')
    p.wait()
    if run.kind == 'mbox':
        same = mids == audit.order
    else:
        same = sorted(mids, key=str) == sorted(audit.order)
    t.check(r.startswith(b'+OK') and same, '%s: pop3d\'s last session lists '
            'the %d messages the independent reader finds' %
            (run.kind, len(audit.order)), '%r, %d vs %d' %
            (r, len(mids), len(audit.order)))


def verdict(t, run, path, log):
    kind = run.kind
    print('# %s: %s' % (kind, ', '.join('%s %d' % kv for kv in
                                       sorted(run.stats.items()))),
          flush=True)
    t.check(not run.failed_deliveries and
            len(run.delivered - run.keep) == NMSGS,
            '%s: the MDAs delivered all %d messages' % (kind, NMSGS),
            '\n'.join(run.failed_deliveries[:10]))
    t.check(not run.problems, '%s: every RETR gave a delivered message '
            'byte for byte with its LIST size and stable UIDL; every '
            'session ended as it should' % kind,
            '\n'.join(run.problems[:10]))
    audit = ml.audit_mbox(path, run.known) if kind == 'mbox' else \
        ml.audit_maildir(path, run.known)
    t.check(not audit.problems, '%s: the maildrop holds no partial, '
            'altered or unknown message' % kind,
            '\n'.join(audit.problems[:10]))
    dups = audit.dups() + sorted(m for m, c in run.taken.items() if c > 1)
    t.check(not dups, '%s: no message is there twice or was taken twice' %
            kind, dups[:10])
    left = audit.ids()
    taken = set(run.taken)
    both = taken & left
    t.check(not both, '%s: no message both taken (+OK Bye) and still '
            'there' % kind, sorted(both)[:10])
    lost = run.delivered - taken - left
    extra = (taken | left) - run.delivered
    t.check(not lost and not extra, '%s: taken + remaining == delivered '
            '(%d + %d == %d)' % (kind, len(taken), len(left),
                                 len(run.delivered)),
            'lost %r, never delivered %r' % (sorted(lost)[:10],
                                             sorted(extra)[:10]))
    t.check(run.stats['UPDATE during delivery'] >= MIN_UPDATES and
            run.stats['dropped after DELE'] > 0,
            '%s: UPDATEs ran while the MDAs delivered (%d), and sessions '
            'were dropped after DELE (%d)' %
            (kind, run.stats['UPDATE during delivery'],
             run.stats['dropped after DELE']))
    if kind == 'mbox':
        t.check(not ml.leftovers(path), 'mbox: no journal or lock file '
                'is left beside it', ml.leftovers(path))
    final_view(t, run, audit, log)


def passwd_file(scratch, account, loc):
    pwhash = common.pop3d_hash(ml.PASSWORD)
    if account.root:
        text = ml.passwd_entry(account.name, pwhash, loc, scratch.dir,
                               str(account.uid), str(account.gid))
        owner = None
    else:
        text = ml.passwd_entry(account.name, pwhash, loc, scratch.dir)
        owner = account
    path = scratch.path('passwd')
    ml.write_file(path, text.encode(), owner)
    return path


class NoAtime:
    """dir bind-mounted on itself with noatime (root only); stop()
    unmounts it."""

    def __init__(self, path):
        self.path = path
        self.mounted = False
        if os.geteuid() != 0:
            return
        r = subprocess.run(['mount', '--bind', path, path],
                           capture_output=True)
        if r.returncode != 0:
            return
        self.mounted = True
        r = subprocess.run(['mount', '-o', 'remount,bind,noatime', path,
                            path], capture_output=True)
        if r.returncode != 0:
            self.stop()

    def stop(self):
        if self.mounted:
            subprocess.run(['umount', self.path], check=True)
            self.mounted = False


def run_kind(t, kind, tools, account):
    scratch = ml.Scratch('pop3d-mda.', account)
    noatime = None
    try:
        if kind == 'mbox':
            spool = scratch.subdir('spool')
            noatime = NoAtime(spool)
            path = os.path.join(spool, 'mbox')
            mdas = [ml.Mda('procmail', tools['procmail'], account, scratch,
                           path, 'procmail-%d' % i) for i in (1, 2)]
        else:
            path = scratch.path('Maildir')
            ml.make_maildir(path, account)
            mdas = [ml.Mda('maildrop', tools['maildrop'], account, scratch,
                           path + '/', 'maildrop'),
                    ml.Mda('procmail', tools['procmail'], account, scratch,
                           path + '/', 'procmail')]
        passwd = passwd_file(scratch, account, kind + ':' + path)
        rng = random.Random(SEED + len(kind))
        msgs = ml.make_messages(kind, NMSGS, rng)
        run = Run(kind, {m.mid: m for m in msgs}, ml.pop3d_argv(passwd),
                  account.name)
        if kind == 'mbox':
            # procmail sleeps a second, holding its locks, after the first
            # octet into an empty mailbox (so that atime < mtime tells of
            # new mail); a message that stays keeps it from being empty.
            sentinel = ml.make_message('sentinel', 0, rng)
            ml.write_file(path, sentinel.mbox_entry(), account)
            run.known[sentinel.mid] = sentinel
            run.keep.add(sentinel.mid)
            run.delivered.add(sentinel.mid)
            if not noatime.mounted:
                print('# mbox: no noatime mount (not root?): sessions are '
                      'spaced out for procmail\'s atime hack', flush=True)
                run.pause = PAUSE_ATIME
        t0 = time.monotonic()
        feeders = [threading.Thread(target=deliver,
                                    args=(run, mda, msgs[i::len(mdas)]))
                   for i, mda in enumerate(mdas)]
        log = scratch.path('pop3d.log')
        clients = [threading.Thread(target=client, args=(run, SEED + i, log))
                   for i in range(CLIENTS)]
        for th in feeders + clients:
            th.start()
        for th in feeders:
            th.join()
        run.delivering.clear()
        for th in clients:
            th.join()
        print('# %s: %d messages delivered and fetched in %.1f s' %
              (kind, NMSGS, time.monotonic() - t0), flush=True)
        verdict(t, run, path, log)
    finally:
        if noatime is not None:
            noatime.stop()
        scratch.remove()


def main():
    t = common.Tally()
    common.require_pop3d(t)
    tools = {
        'procmail': t.tool('procmail', 'procmail',
                           'mbox and Maildir delivery'),
        'maildrop': t.tool('maildrop', 'maildrop', 'Maildir delivery'),
    }
    account = ml.Account()
    if tools['procmail'] is not None:
        t.section('mbox', run_kind, t, 'mbox', tools, account)
        if tools['maildrop'] is not None:
            t.section('maildir', run_kind, t, 'maildir', tools, account)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
