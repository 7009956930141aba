#!/usr/bin/env python3
"""tests/integration/clients.py: real POP3 clients (Python's poplib, curl)
against pop3d served by systemd-socket-activate on 127.0.0.1, over an mbox
and a Maildir holding the same ~60 varied messages, and a password hash
made by Dovecot's doveadm.  Compares bytes on the wire and on disk.
Run from the repository root after `make pop3d`."""

import os
import poplib
import random
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True     # leave no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import first_difference, header_crlf, to_crlf  # noqa: E402

# poplib refuses lines over 2048 octets; one message has a 100 KB line.
poplib._MAXLINE = 1 << 20

SEED = 1939
NMSGS = 60
CHUNK = 64 * 1024          # pop3d's IO_CHUNK: where its reads part
LONG_LINE = 100 * 1000
USERS = {
    'mbox': ('mboxuser', 'mbox pass 1'),
    'maildir': ('mdiruser', 'maildir-Pw2'),
    'dovecot': ('doveuser', 'dove pw 3'),
}
XUIDL = 'xuidl-0017.test@example.org'
XUIDL_TOO_LONG = 'y' * 80
XUIDL_IN_BODY = 'body-not-header'
UIDL_RE = re.compile(rb'^[\x21-\x7e]{1,70}$')
CAPS = ['TOP', 'UIDL', 'USER', 'SASL', 'RESP-CODES', 'AUTH-RESP-CODE',
        'PIPELINING', 'EXPIRE', 'IMPLEMENTATION', 'UTF8']
AUTH_FAILED = b'-ERR [AUTH] Authentication failed'

# Message numbers (1-based) with something special about them.
N_DOTS, N_FROMS, N_EMPTY_BODY, N_LONG, N_CRLF = 4, 6, 9, 12, 15
N_XUIDL, N_UTF8, N_XUIDL_BODY, N_XUIDL_LONG = 18, 21, 26, 27
N_DUP = 31                 # N_DUP + 1 is its identical copy
N_DOT_AT_CHUNK, N_CR_AT_CHUNK, N_TRAILING_EMPTY, N_NUL = 36, 41, 46, 51
N_LAST = NMSGS

WORDS = ('alpha bravo charlie delta echo foxtrot golf hotel india juliet '
         'kilo lima mike november oscar papa quebec romeo sierra tango '
         'uniform victor whiskey xray yankee zulu mail drop server spool '
         'octet line dot from quit retr list').split()


class Msg:
    """One message: the separator line of its mbox entry, its content as
    stored, and its Maildir file name."""

    def __init__(self, num, sep, content):
        self.num = num
        self.sep = sep
        self.content = content
        base = '1700000%03d.M%03dP1.testhost' % (99 + num, 99 + num)
        self.base = base
        if num % 3 == 1:
            self.subdir, self.info = 'cur', ':2,S'
        elif num % 10 == 5:
            self.subdir, self.info = 'cur', ':2,'
        else:
            self.subdir, self.info = 'new', ''

    def crlf(self):
        return to_crlf(self.content)

    def top0(self):
        return header_crlf(self.content)


def words(rng, lo, hi):
    return ' '.join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def separator(num):
    return ('From sender@example.org Fri Nov 27 10:%02d:%02d 2026\n' %
            ((num - 1) // 60, (num - 1) % 60)).encode()


def headers(rng, num, subject=None, extra=()):
    h = ['From: Sender %d <sender%d@example.org>' % (num, num),
         'To: test@localhost',
         'Subject: ' + (subject or words(rng, 2, 6)),
         'Date: Fri, 27 Nov 2026 10:00:%02d +0000' % ((num - 1) % 60),
         'Message-ID: <%d.%d@example.org>' % (num, rng.randrange(10**9))]
    if rng.random() < 0.3:
        h += ['X-Folded: ' + words(rng, 2, 5), '\t' + words(rng, 2, 5)]
    return h + list(extra)


def random_body(rng):
    """Body lines; a From_ line never follows an empty one, since in an
    mbox it would start a message (it is stored as >From instead)."""
    lines = []
    for _ in range(rng.randint(0, 25)):
        kind = rng.random()
        if kind < 0.12:
            line = ''
        elif kind < 0.2:
            line = '.'
        elif kind < 0.3:
            line = '.' + words(rng, 1, 6)
        elif kind < 0.38:
            line = 'From ' + words(rng, 1, 6)
        elif kind < 0.44:
            line = '>From ' + words(rng, 1, 6)
        elif kind < 0.48:
            line = ''.join(rng.choice('abcdefgh .') for _ in
                           range(rng.randint(300, 3000)))
        else:
            line = words(rng, 1, 12)
        if line.startswith('From ') and (not lines or lines[-1] == ''):
            line = '>' + line
        lines.append(line)
    return lines


def text(hdr, body, eol='\n', final=True):
    s = eol.join(hdr) + eol + eol + eol.join(body)
    if body and final:
        s += eol
    return s.encode()


def pad_to(prefix_len, target, eol_len):
    """Octets of filler text for a line starting at prefix_len whose end
    of line must start at target."""
    return target - prefix_len - eol_len


def dot_at_chunk(rng, num):
    """A line starting with '.' exactly where pop3d's second read of the
    message begins, so dot-stuffing must carry across reads."""
    hdr = headers(rng, num, 'dot at a read boundary')
    body = []
    while len(text(hdr, body + ['x' * 80])) < CHUNK - 200:
        body.append(words(rng, 8, 12))
    head = len(text(hdr, body))
    body.append('p' * pad_to(head, CHUNK, 1))
    body += ['.boundary dot line', '.', 'after']
    data = text(hdr, body)
    assert data[CHUNK:CHUNK + 2] == b'.b'
    return data


def cr_at_chunk(rng, num):
    """A CRLF message whose CR ends pop3d's first read and whose LF
    starts the second."""
    hdr = headers(rng, num, 'CR LF across a read boundary')
    body = []
    while len(text(hdr, body + ['x' * 80], '\r\n')) < CHUNK - 200:
        body.append(words(rng, 8, 12))
    head = len(text(hdr, body, '\r\n'))
    body.append('q' * pad_to(head, CHUNK, 1))
    body += ['.dot after the boundary', 'From after text', 'end']
    data = text(hdr, body, '\r\n')
    assert data[CHUNK - 1:CHUNK + 1] == b'\r\n'
    return data


def special(rng, num):
    """The content of message num if it is one of the special ones."""
    if num == N_DOTS:
        return text(headers(rng, num, 'dots'),
                    ['.', '.leading dot', '..two dots', '...', '. ',
                     'middle . dot', '.'])
    if num == N_FROMS:
        return text(headers(rng, num, 'From lines'),
                    ['First line', 'From the start of a line after text',
                     'From again, still after text', '',
                     '>From quoted after an empty line', '>>From twice',
                     'From after a quoted line', 'end'])
    if num == N_EMPTY_BODY:
        return text(headers(rng, num, 'empty body'), [])
    if num == N_LONG:
        long_line = ''.join(rng.choice('abcdefghijklmnopqrstuvwxyz0123456789')
                            for _ in range(LONG_LINE))
        return text(headers(rng, num, 'long line'),
                    ['before', long_line, '.after the long line'])
    if num == N_CRLF:
        return text(headers(rng, num, 'CRLF line ends'),
                    ['crlf body', '.crlf dot', '.', 'From after text',
                     '', '>From after empty', 'end'], '\r\n')
    if num == N_XUIDL:
        return text(headers(rng, num, 'has X-UIDL',
                            ['X-UIDL: ' + XUIDL]), ['body'])
    if num == N_UTF8:
        return text(['From: =?utf-8?q?J=C3=BCrgen?= <jm@example.org>',
                     'To: Zoë Ærø <zoe@example.org>',
                     'Subject: Grüße aus Köln — 日本語のテスト ✉',
                     'Date: Fri, 27 Nov 2026 10:00:20 +0000',
                     'MIME-Version: 1.0',
                     'Content-Type: text/plain; charset=utf-8'],
                    ['Schöne Grüße, ça va? Ελληνικά', '.ünïcödé dot'])
    if num == N_XUIDL_BODY:
        return text(headers(rng, num, 'X-UIDL in the body only'),
                    ['X-UIDL: ' + XUIDL_IN_BODY])
    if num == N_XUIDL_LONG:
        return text(headers(rng, num, 'X-UIDL too long to honour',
                            ['X-UIDL: ' + XUIDL_TOO_LONG]), ['body'])
    if num == N_DOT_AT_CHUNK:
        return dot_at_chunk(rng, num)
    if num == N_CR_AT_CHUNK:
        return cr_at_chunk(rng, num)
    if num == N_TRAILING_EMPTY:
        return text(headers(rng, num, 'ends with empty lines'),
                    ['text', '', ''])
    if num == N_NUL:
        return text(headers(rng, num, 'a NUL octet'),
                    ['nul here:\0:end', 'next'])
    if num == N_LAST:
        return text(headers(rng, num, 'last, no final newline'),
                    ['first', 'last line without newline'], final=False)
    return None


def make_messages():
    rng = random.Random(SEED)
    msgs = []
    for num in range(1, NMSGS + 1):
        if num == N_DUP + 1:
            prev = msgs[-1]
            msgs.append(Msg(num, prev.sep, prev.content))
            continue
        data = special(rng, num)
        if data is None:
            data = text(headers(rng, num), random_body(rng))
        msgs.append(Msg(num, separator(num), data))
    return msgs


def mbox_bytes(msgs):
    """The mbox, and each message's region: separator line through the
    empty line before the next separator (or the end of the file)."""
    out, regions = b'', []
    for i, m in enumerate(msgs):
        start = len(out)
        out += m.sep + m.content + (b'\n' if i + 1 < len(msgs) else b'')
        regions.append((start, len(out)))
    return out, regions


def without(data, regions, drop):
    """data with the regions of the message numbers in drop cut out."""
    return b''.join(data[a:b] for n, (a, b) in enumerate(regions, 1)
                    if n not in drop)


def write_maildir(scratch, path, msgs):
    shutil.rmtree(path, ignore_errors=True)
    for sub in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(path, sub))
    for m in msgs:
        with open(os.path.join(path, m.subdir, m.base + m.info), 'wb') as f:
            f.write(m.content)
    scratch.give(path)


def maildir_files(path):
    """{'cur/NAME': content, ...} of a Maildir's new/ and cur/."""
    files = {}
    for sub in ('new', 'cur'):
        for name in os.listdir(os.path.join(path, sub)):
            with open(os.path.join(path, sub, name), 'rb') as f:
                files[sub + '/' + name] = f.read()
    return files


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# ---- poplib ----

def login(port, user, password):
    p = poplib.POP3(common.HOST, port, timeout=common.CLIENT_SECS)
    p.user(user)
    p.pass_(password)
    return p


def scan_listing(lines):
    """[(num, value), ...] of a LIST or UIDL listing."""
    out = []
    for line in lines:
        num, value = line.split(b' ', 1)
        out.append((int(num), value))
    return out


def body_of(lines):
    return b''.join(line + b'\r\n' for line in lines)


def check_caps(t, caps, what):
    missing = [c for c in CAPS if c not in caps]
    t.check(not missing and 'PLAIN' in caps.get('SASL', []) and
            caps.get('EXPIRE') == ['NEVER'],
            '%s: CAPA lists %s, SASL PLAIN, EXPIRE NEVER' %
            (what, ' '.join(CAPS)), 'got %r, missing %r' % (caps, missing))


def expected_uidls(kind, msgs, got):
    """The UIDLs that SPEC fixes: Maildir base names; the X-UIDL value
    in an mbox.  Problems as a list of strings."""
    bad = []
    for m, (_, uidl) in zip(msgs, got):
        if kind == 'maildir' and uidl != m.base.encode():
            bad.append('%d: %r, want the base name %s' % (m.num, uidl,
                                                            m.base))
        if kind == 'mbox' and m.num == N_XUIDL and uidl != XUIDL.encode():
            bad.append('%d: %r, want its X-UIDL %s' % (m.num, uidl, XUIDL))
        if kind == 'mbox' and m.num in (N_XUIDL_BODY, N_XUIDL_LONG) and \
                uidl in (XUIDL_IN_BODY.encode(), XUIDL_TOO_LONG.encode()):
            bad.append('%d: %r came from an X-UIDL that is not valid '
                       'there' % (m.num, uidl))
    return bad


def first_session(t, port, kind, msgs):
    """CAPA, STAT, LIST, RETR, TOP 0, UIDL of every message; the UIDLs."""
    user, password = USERS[kind]
    p = poplib.POP3(common.HOST, port, timeout=common.CLIENT_SECS)
    check_caps(t, p.capa(), kind + ': before login')
    t.check(p.utf8().startswith(b'+OK'), kind + ': UTF8 accepted')
    p.user(user)
    p.pass_(password)
    sizes = [len(m.crlf()) for m in msgs]
    t.check(p.stat() == (len(msgs), sum(sizes)),
            '%s: STAT is %d messages, %d octets' %
            (kind, len(msgs), sum(sizes)), 'got %r' % (p.stat(),))
    listing = scan_listing(p.list()[1])
    want = [(m.num, str(s).encode()) for m, s in zip(msgs, sizes)]
    t.check(listing == want, kind + ': LIST sizes are the CRLF octets',
            '\n'.join('%r vs %r' % (a, b) for a, b in zip(listing, want)
                      if a != b) or 'lengths %d, %d' % (len(listing),
                                                        len(want)))
    bad = []
    for m, (_, size) in zip(msgs, listing):
        _, lines, octets = p.retr(m.num)
        got = body_of(lines)
        if got != m.crlf() or octets != int(size):
            bad.append('message %d (LIST %s, RETR %d octets): %s' %
                       (m.num, size, octets, first_difference(got,
                                                              m.crlf())))
    t.check(not bad, '%s: RETR of all %d messages gives the stored octets '
            'with CRLF, as many as LIST said' % (kind, len(msgs)),
            '\n'.join(bad))
    bad = []
    for m in msgs:
        got = body_of(p.top(m.num, 0)[1])
        if got != m.top0():
            bad.append('message %d: %s' % (m.num,
                                           first_difference(got, m.top0())))
    t.check(not bad, kind + ': TOP n 0 is the header and the empty line',
            '\n'.join(bad))
    uidls = scan_listing(p.uidl()[1])
    values = [u for _, u in uidls]
    t.check([n for n, _ in uidls] == [m.num for m in msgs] and
            all(UIDL_RE.match(u) for u in values) and
            len(set(values)) == len(values),
            kind + ': UIDLs are unique, 1-70 characters in 0x21-0x7E',
            repr(uidls))
    if kind == 'mbox':
        dup = values[N_DUP - 1:N_DUP + 1]
        t.check(dup[0] != dup[1], 'mbox: identical duplicates get distinct '
                'UIDLs', repr(dup))
    bad = expected_uidls(kind, msgs, uidls)
    t.check(not bad, '%s: UIDLs are %s' % (kind, 'the base names' if kind ==
            'maildir' else 'X-UIDL where valid, else from content'),
            '\n'.join(bad))
    one = [p.uidl(n) for n in (1, N_XUIDL, NMSGS)]
    t.check(one == [b'+OK %d %s' % (n, values[n - 1]) for n in
                    (1, N_XUIDL, NMSGS)],
            kind + ': UIDL n agrees with the listing', repr(one))
    check_caps(t, p.capa(), kind + ': after login')
    t.check(p.quit().startswith(b'+OK'), kind + ': QUIT')
    return uidls


def same_uidls(t, port, kind, uidls):
    p = login(port, *USERS[kind])
    again = scan_listing(p.uidl()[1])
    p.quit()
    t.check(again == uidls, kind + ': a second session gets the same UIDLs',
            repr([(a, b) for a, b in zip(again, uidls) if a != b]))


def delete_every_other(t, port, kind, msgs):
    """DELE the even-numbered messages and QUIT; the numbers deleted."""
    drop = [m.num for m in msgs if m.num % 2 == 0]
    p = login(port, *USERS[kind])
    replies = [p.dele(n) for n in drop]
    t.check(all(r == b'+OK Message %d deleted' % n
                for r, n in zip(replies, drop)),
            '%s: DELE of %d messages' % (kind, len(drop)), repr(replies))
    t.check(p.quit() == b'+OK Bye', kind + ': QUIT after DELE')
    return set(drop)


def after_delete(t, port, kind, msgs, uidls, drop):
    """The next session sees exactly the kept messages, with their sizes,
    content and UIDLs from before."""
    kept = [m for m in msgs if m.num not in drop]
    p = login(port, *USERS[kind])
    listing = scan_listing(p.list()[1])
    t.check(listing == [(i, str(len(m.crlf())).encode())
                        for i, m in enumerate(kept, 1)],
            kind + ': after UPDATE, LIST has the kept messages',
            repr(listing))
    got = scan_listing(p.uidl()[1])
    want = [(i, uidls[m.num - 1][1]) for i, m in enumerate(kept, 1)]
    t.check(got == want, kind + ': after UPDATE, each kept message keeps '
            'its UIDL', repr([(a, b) for a, b in zip(got, want) if a != b]))
    bad = [m.num for i, m in enumerate(kept, 1)
           if body_of(p.retr(i)[1]) != m.crlf()]
    t.check(not bad, kind + ': after UPDATE, RETR gives the kept messages',
            'old numbers %r' % bad)
    p.quit()


def poplib_mbox(t, port, scratch, msgs):
    path = scratch.path('mbox')
    original, regions = mbox_bytes(msgs)
    uidls = first_session(t, port, 'mbox', msgs)
    t.check(read(path) == original, 'mbox: unchanged by a session that '
            'deleted nothing')
    same_uidls(t, port, 'mbox', uidls)
    drop = delete_every_other(t, port, 'mbox', msgs)
    want = without(original, regions, drop)
    got = read(path)
    t.check(got == want, 'mbox: on disk, exactly the deleted messages\' '
            'regions are gone', first_difference(got, want))
    after_delete(t, port, 'mbox', msgs, uidls, drop)
    return uidls


def poplib_maildir(t, port, scratch, msgs):
    path = scratch.path('Maildir')
    uidls = first_session(t, port, 'maildir', msgs)
    # Everything was retrieved, so everything is seen: what was new/ is
    # now cur/NAME:2,S, and a cur/ message without S has gained it.
    want = {'cur/' + m.base + ':2,S': m.content for m in msgs}
    got = maildir_files(path)
    t.check(got == want, 'maildir: retrieved mail is in cur/ with :2,S, '
            'content unchanged',
            'extra %r, missing %r' % (sorted(set(got) - set(want)),
                                      sorted(set(want) - set(got))))
    same_uidls(t, port, 'maildir', uidls)
    drop = delete_every_other(t, port, 'maildir', msgs)
    want = {k: v for k, v in want.items()
            if all(not k[4:].startswith(m.base) for m in msgs
                   if m.num in drop)}
    got = maildir_files(path)
    t.check(got == want, 'maildir: on disk, exactly the kept files',
            'extra %r, missing %r' % (sorted(set(got) - set(want)),
                                      sorted(set(want) - set(got))))
    after_delete(t, port, 'maildir', msgs, uidls, drop)


# ---- curl ----

def curl(exe, port, kind, path='', extra=()):
    user, password = USERS[kind]
    return subprocess.run([exe, '-sS', '--max-time', str(common.CLIENT_SECS),
                           'pop3://%s:%d/%s' % (common.HOST, port, path),
                           '-u', '%s:%s' % (user, password)] + list(extra),
                          capture_output=True, timeout=common.CLIENT_SECS + 5)


def curl_check(t, r, want, what):
    t.check(r.returncode == 0 and r.stdout == want, what,
            'exit %d, stderr %r; %s' % (r.returncode, r.stderr,
                                        first_difference(r.stdout, want)))


def listing_text(pairs):
    return b''.join(b'%d %s\r\n' % (n, v) for n, v in pairs)


def curl_mbox(t, exe, port, scratch, msgs, uidls):
    path = scratch.path('mbox')
    original, regions = mbox_bytes(msgs)
    scratch.put(path, original)
    want = listing_text((m.num, str(len(m.crlf())).encode()) for m in msgs)
    curl_check(t, curl(exe, port, 'mbox'), want, 'curl mbox: LIST')
    for num in (1, N_DOTS, N_FROMS, N_LONG, N_CRLF, N_UTF8, N_DOT_AT_CHUNK,
                N_CR_AT_CHUNK, N_LAST):
        curl_check(t, curl(exe, port, 'mbox', str(num)),
                   msgs[num - 1].crlf(), 'curl mbox: message %d' % num)
    # The mbox is a byte-identical copy: its UIDLs are those of before.
    curl_check(t, curl(exe, port, 'mbox', extra=['-X', 'UIDL']),
               listing_text(uidls), 'curl mbox: UIDL, same as before the '
               'maildrop was restored')
    r = curl(exe, port, 'mbox', extra=['-X', 'DELE 1', '-I'])
    t.check(r.returncode == 0, 'curl mbox: DELE 1', r.stderr)
    got = read(path)
    t.check(got == without(original, regions, {1}),
            'curl mbox: on disk, message 1 is gone, the rest intact',
            first_difference(got, without(original, regions, {1})))


def curl_maildir(t, exe, port, scratch, msgs):
    write_maildir(scratch, scratch.path('Maildir'), msgs)
    want = listing_text((m.num, str(len(m.crlf())).encode()) for m in msgs)
    curl_check(t, curl(exe, port, 'maildir'), want, 'curl maildir: LIST')
    for num in (N_LONG, N_CR_AT_CHUNK):
        curl_check(t, curl(exe, port, 'maildir', str(num)),
                   msgs[num - 1].crlf(), 'curl maildir: message %d' % num)
    curl_check(t, curl(exe, port, 'maildir', extra=['-X', 'UIDL']),
               listing_text((m.num, m.base.encode()) for m in msgs),
               'curl maildir: UIDL')


# ---- Dovecot's hash ----

def dovecot_hash(exe):
    out = subprocess.run([exe, 'pw', '-s', 'ARGON2ID', '-p',
                          USERS['dovecot'][1]], capture_output=True,
                         check=True, timeout=60)
    return out.stdout.decode().strip()


def dovecot_login(t, port, msgs):
    user, password = USERS['dovecot']
    p = login(port, user, password)
    t.check(p.stat() == (1, len(msgs[0].crlf())),
            'doveadm pw -s ARGON2ID hash: logs in', repr(p.stat()))
    p.quit()
    wrong_password(t, port, 'dovecot')


def wrong_password(t, port, kind):
    user, password = USERS[kind]
    p = poplib.POP3(common.HOST, port, timeout=common.CLIENT_SECS)
    p.user(user)
    try:
        p.pass_(password + 'x')
        resp = b'+OK (logged in)'
    except poplib.error_proto as e:
        resp = e.args[0]
    t.check(resp == AUTH_FAILED, '%s: a wrong password gets %s' %
            (kind, AUTH_FAILED.decode()), repr(resp))
    p.close()


def greeting(t, launcher):
    g = launcher.greeting
    t.check(g.startswith(b'+OK ') and g.endswith(b'\r\n') and b'<' not in g,
            'greeting: +OK, no APOP timestamp', repr(g))


def serve(t, scratch, launcher_exe, curl_exe, doveadm_exe, msgs):
    entries = [(USERS['mbox'][0], common.pop3d_hash(USERS['mbox'][1]),
                'mbox:' + scratch.path('mbox')),
               (USERS['maildir'][0], common.pop3d_hash(USERS['maildir'][1]),
                'maildir:' + scratch.path('Maildir'))]
    if doveadm_exe is not None:
        scratch.put(scratch.path('dove.mbox'), msgs[0].sep + msgs[0].content)
        entries.append((USERS['dovecot'][0], dovecot_hash(doveadm_exe),
                        'mbox:' + scratch.path('dove.mbox')))
    passwd = common.write_passwd(scratch, entries)
    scratch.put(scratch.path('mbox'), mbox_bytes(msgs)[0])
    write_maildir(scratch, scratch.path('Maildir'), msgs)
    launcher = common.Launcher(
        [launcher_exe, '--accept', '--inetd', '-l', common.HOST + ':PORT',
         os.path.abspath(common.POP3D), '-f', passwd, '--log=stderr',
         '--fail-delay=0'], scratch.path('log'))
    failed = t.failed
    try:
        port = launcher.start()
        greeting(t, launcher)
        uidls = t.section('poplib mbox', poplib_mbox, t, port, scratch, msgs)
        t.section('poplib maildir', poplib_maildir, t, port, scratch, msgs)
        t.section('wrong password', wrong_password, t, port, 'mbox')
        if curl_exe is not None and uidls is not None:
            t.section('curl mbox', curl_mbox, t, curl_exe, port, scratch,
                      msgs, uidls)
            t.section('curl maildir', curl_maildir, t, curl_exe, port,
                      scratch, msgs)
        if doveadm_exe is not None:
            t.section('dovecot hash', dovecot_login, t, port, msgs)
    finally:
        launcher.stop()
        if t.failed > failed:
            for line in launcher.log_tail():
                print('# log: ' + line)


def main():
    t = common.Tally()
    common.require_pop3d(t)
    launcher_exe = t.tool('systemd-socket-activate', 'systemd',
                          'every check here (the launcher)')
    curl_exe = t.tool('curl', 'curl', 'curl as a client')
    doveadm_exe = t.tool('doveadm', 'dovecot-core',
                         'a password hash made by Dovecot')
    msgs = make_messages()
    if launcher_exe is not None:
        scratch = common.Scratch('pop3d-clients.')
        try:
            t.section('serving', serve, t, scratch, launcher_exe, curl_exe,
                      doveadm_exe, msgs)
        finally:
            scratch.remove()
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
