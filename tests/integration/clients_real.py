#!/usr/bin/env python3
"""tests/integration/clients_real.py: the POP3 clients people use --
fetchmail, getmail6, mpop, curl, Python's poplib and Perl's Net::POP3 --
each download an mbox of a few hundred varied messages from pop3d under
systemd-socket-activate on 127.0.0.1, in keep mode (a second run fetches
nothing new, by UIDL, and the maildrop stays byte for byte as it was)
and in delete mode (the maildrop ends empty).  What each client
delivers must equal the message as stored, byte for byte, apart from the
header fields the client itself puts in front.  Run from the repository
root after `make pop3d`."""

import os
import poplib
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deploylib as dl  # noqa: E402

NMSGS = 300
HERE = os.path.dirname(os.path.abspath(__file__))


class Run:
    """What one client run needs: the port, the user, where the mail goes
    and where the client keeps its state between runs."""

    def __init__(self, scratch, port, user, keep, tools):
        self.scratch = scratch
        self.port = port
        self.user = user
        self.keep = keep
        self.tools = tools
        self.out = scratch.path(user, 'out')
        self.state = scratch.path(user, 'state')


def run(argv, env=None):
    r = subprocess.run(argv, capture_output=True, env=env,
                       timeout=dl.CLIENT_SECS * 2)
    return r.returncode, (r.stdout + r.stderr).decode('utf-8', 'replace')


def numbered_deliverer(path):
    """An MDA that stores stdin as the next numbered file of dir $1."""
    return dl.write(path, '#!/bin/sh\nn=$(ls "$1" | wc -l)\n'
                    'cat >"$1/$(printf %05d $((n + 1)))"\n', 0o755)


def fetchmail(r):
    rc = os.path.join(r.state, 'fetchmailrc')
    if not os.path.exists(rc):
        mda = numbered_deliverer(os.path.join(r.state, 'deliver'))
        # sslproto '': no STARTTLS attempt on this plain port.
        dl.write(rc, 'set no bouncemail\nset no syslog\n'
                 'poll %s port %d proto pop3 uidl\n'
                 '  user "%s" there with password "%s" is "root" here\n'
                 "  sslproto ''\n  %s\n  no rewrite\n  mda \"%s %s\"\n" %
                 (common.HOST, r.port, r.user, dl.PASSWORD,
                  'keep' if r.keep else 'nokeep', mda, r.out), 0o600)
    env = dict(os.environ, HOME=r.state, FETCHMAILHOME=r.state)
    code, out = run([r.tools['fetchmail'], '-f', rc, '-i',
                     os.path.join(r.state, 'ids')], env)
    # 1 is fetchmail's "no mail".
    return code in (0, 1), out


def getmail(r):
    rc = os.path.join(r.state, 'getmailrc')
    if not os.path.exists(rc):
        for sub in ('new', 'cur', 'tmp'):
            os.makedirs(os.path.join(r.out, sub), exist_ok=True)
        user = ''
        if r.scratch.root:
            # getmail will not deliver as root; it becomes this user.
            r.scratch.give(r.out)
            user = 'user = nobody\n'
        dl.write(rc, '[retriever]\ntype = SimplePOP3Retriever\n'
                 'server = %s\nport = %d\nusername = %s\npassword = %s\n'
                 '\n[destination]\ntype = Maildir\npath = %s/\n%s'
                 '\n[options]\nverbose = 0\nread_all = false\n'
                 'delete = %s\n' %
                 (common.HOST, r.port, r.user, dl.PASSWORD, r.out, user,
                  'false' if r.keep else 'true'), 0o600)
    # Through getmail-waitpid.py: getmail6 (Debian 12's 6.18.11) can miss
    # the exit of its delivery child, then sit out its 180 s timeout.
    code, out = run(script_interpreter(r.tools['getmail']) +
                    [os.path.join(HERE, 'getmail-waitpid.py'),
                     r.tools['getmail'], '--rcfile=' + rc,
                     '--getmaildir=' + r.state])
    return code == 0, out


def script_interpreter(path):
    """The interpreter (with its arguments) in the #! line of path, so
    that a wrapper runs under the Python that has the script's modules."""
    with open(path, 'rb') as f:
        line = f.readline()
    if not line.startswith(b'#!'):
        return [sys.executable]
    return line[2:].decode().split()


def mpop(r):
    rc = os.path.join(r.state, 'mpoprc')
    if not os.path.exists(rc):
        for sub in ('new', 'cur', 'tmp'):
            os.makedirs(os.path.join(r.out, sub), exist_ok=True)
        dl.write(rc, 'account test\nhost %s\nport %d\ntls off\nauth user\n'
                 'user %s\npassword %s\ndelivery maildir %s\nkeep %s\n'
                 'uidls_file %s\n' %
                 (common.HOST, r.port, r.user, dl.PASSWORD, r.out,
                  'on' if r.keep else 'off',
                  os.path.join(r.state, 'uidls')), 0o600)
    code, out = run([r.tools['mpop'], '-q', '-C', rc, 'test'])
    return code == 0, out


def netpop3(r):
    code, out = run([r.tools['perl'], os.path.join(HERE, 'netpop3-fetch.pl'),
                     common.HOST, str(r.port), r.user, dl.PASSWORD, r.out,
                     os.path.join(r.state, 'seen'),
                     'keep' if r.keep else 'delete'])
    return code == 0, out


def seen_uidls(path):
    data = dl.read_bytes(path) or b''
    return set(data.split())


def poplib_client(r):
    seenfile = os.path.join(r.state, 'seen')
    seen = seen_uidls(seenfile)
    p = poplib.POP3(common.HOST, r.port, timeout=dl.CLIENT_SECS)
    try:
        p.user(r.user)
        p.pass_(dl.PASSWORD)
        fresh = []
        for line in p.uidl()[1]:
            num, uidl = line.split()
            if uidl not in seen:
                fresh.append((int(num), uidl))
        with open(seenfile, 'ab') as f:
            for num, uidl in fresh:
                lines = p.retr(num)[1]
                with open(os.path.join(r.out, '%05d' % num), 'wb') as m:
                    m.write(b''.join(x + b'\n' for x in lines))
                f.write(uidl + b'\n')
                if not r.keep:
                    p.dele(num)
        p.quit()
    finally:
        p.close()
    return True, '%d fetched' % len(fresh)


def curl(r):
    """curl has no memory of UIDLs: list them, fetch the new ones over
    one connection, and in delete mode DELE them over another."""
    exe = r.tools['curl']
    url = 'pop3://%s:%d/' % (common.HOST, r.port)
    auth = ['-sS', '-u', '%s:%s' % (r.user, dl.PASSWORD)]
    code, out = run([exe] + auth + ['-X', 'UIDL', url])
    if code != 0:
        return False, out
    seenfile = os.path.join(r.state, 'seen')
    seen = seen_uidls(seenfile)
    fresh = [line.split() for line in out.encode().splitlines()]
    fresh = [(int(n), u) for n, u in fresh if u not in seen]
    if not fresh:
        return True, 'nothing new'
    cfg = dl.write(os.path.join(r.state, 'curl.cfg'), ''.join(
        'url = "%s%d"\noutput = "%s/%05d"\n' % (url, n, r.out, n)
        for n, _ in fresh))
    code, out = run([exe] + auth + ['-K', cfg])
    if code != 0:
        return False, out
    if not r.keep:
        code, out = run([exe] + auth + ['-X', 'DELE', '-I'] +
                        ['%s%d' % (url, n) for n, _ in fresh])
    with open(seenfile, 'ab') as f:
        f.write(b''.join(u + b'\n' for _, u in fresh))
    return code == 0, out


def as_received(msg):
    return msg


def blank_after_header_only(msg):
    """fetchmail and getmail end a message that has no body with the
    empty line that separates header and body."""
    return msg + b'\n' if dl.header_only(msg) else msg


def getmail_form(msg):
    """getmail6 also writes a header field's "Name:<tab>" as "Name: "."""
    msg = blank_after_header_only(msg)
    end = msg.find(b'\n\n')
    head = msg if end == -1 else msg[:end + 1]
    fixed = re.sub(rb'(?m)^([!-9;-~]+):\t', rb'\1: ', head)
    return fixed + msg[len(head):]


# fetchmail 6.4 garbles a line longer than its 8 KiB buffer (a NUL, a
# stray octet and a line break land in the middle of it): messages with
# such a line are counted but not compared for fetchmail.
FETCHMAIL_LINE_MAX = 8000
NO_LIMIT = None

# name, tool, package, run, header fields it adds, what the stored
# message becomes, whether its files come in message order, the longest
# line it delivers intact.
CLIENTS = [
    ('fetchmail', 'fetchmail', 'fetchmail', fetchmail, (b'Received',),
     blank_after_header_only, True, FETCHMAIL_LINE_MAX),
    ('getmail6', 'getmail', 'getmail6', getmail,
     (b'Return-Path', b'Delivered-To', b'Received'), getmail_form, False,
     NO_LIMIT),
    ('mpop', 'mpop', 'mpop', mpop, (b'Received',), as_received, False,
     NO_LIMIT),
    ('curl', 'curl', 'curl', curl, (), common.to_crlf, True, NO_LIMIT),
    ('poplib', None, None, poplib_client, (), as_received, True, NO_LIMIT),
    ('Net::POP3', 'perl', 'perl', netpop3, (), as_received, True,
     NO_LIMIT),
]


def delivered(path):
    """The files a run left in path (a Maildir's new/ and cur/, or a
    directory of numbered files), as (name, bytes), in name order."""
    dirs = [path]
    if os.path.isdir(os.path.join(path, 'new')):
        dirs = [os.path.join(path, 'new'), os.path.join(path, 'cur')]
    out = []
    for d in dirs:
        for name in sorted(os.listdir(d)):
            out.append((os.path.join(d, name),
                        dl.read_bytes(os.path.join(d, name))))
    return out


def longest_line(msg):
    return max(len(line) for line in msg.split(b'\n'))


def compare(t, what, got, want, ordered, limit):
    """got and want alike; with a limit, messages with longer lines
    (which must still be there, in number) are left out."""
    n = len(got)
    if limit is not None:
        skip = [longest_line(m) > limit for m in want]
        if ordered and len(got) == len(want):
            got = [m for m, s in zip(got, skip) if not s]
        else:
            got = [m for m in got if longest_line(m) <= limit]
        want = [m for m, s in zip(want, skip) if not s]
        print('# %s: %d messages with a line over %d octets not compared' %
              (what.split(':')[0], sum(skip), limit), flush=True)
        t.check(n == len(skip), '%s: every message is there' % what,
                'got %d messages, want %d' % (n, len(skip)))
    if not ordered:
        got, want = sorted(got), sorted(want)
    same = got == want
    detail = 'got %d messages, want %d' % (len(got), len(want))
    if not same:
        for i, (a, b) in enumerate(zip(got, want)):
            if a != b:
                detail += '; message %d: %s' % (
                    i + 1, common.first_difference(a, b))
                break
    t.check(same, what, detail)


def one_client(t, scratch, port, msgs, mboxes, client, tools):
    name, _, _, fn, added, expect, ordered, limit = client
    want = [expect(m) for m in msgs]
    original = dl.mbox_of(msgs)
    for keep in (True, False):
        mode = 'keep' if keep else 'delete'
        user = '%s-%s' % (name.replace(':', '').lower(), mode)
        r = Run(scratch, port, user, keep, tools)
        os.makedirs(r.out)
        os.makedirs(r.state)
        what = '%s (%s mode)' % (name, mode)
        t0 = time.monotonic()
        ok, out = fn(r)
        secs = time.monotonic() - t0
        t.check(ok, '%s: first run succeeds (%.1f s)' % (what, secs), out)
        files = delivered(r.out)
        got = [dl.strip_added(data, added) for _, data in files]
        compare(t, '%s: %d messages delivered byte for byte' %
                (what, len(msgs)), got, want, ordered, limit)
        mbox = mboxes[user]
        if keep:
            ok, out = fn(r)
            t.check(ok, '%s: second run succeeds' % what, out)
            t.check(len(delivered(r.out)) == len(msgs),
                    '%s: second run fetches nothing new' % what,
                    '%d files now' % len(delivered(r.out)))
            t.check(dl.read_bytes(mbox) == original,
                    '%s: maildrop unchanged, byte for byte' % what)
        else:
            got = dl.read_bytes(mbox)
            t.check(got == b'', '%s: maildrop empty afterwards' % what,
                    'maildrop: %r octets' % (None if got is None else
                                             len(got)))


def main():
    t = common.Tally()
    common.require_pop3d(t)
    activate = t.tool('systemd-socket-activate', 'systemd', 'launcher')
    if activate is None:
        return t.finish()
    tools = {'fetchmail': None, 'getmail': None, 'mpop': None,
             'curl': None, 'perl': None}
    clients = []
    for c in CLIENTS:
        if c[1] is not None:
            tools[c[1]] = t.tool(c[1], c[2], c[0])
            if tools[c[1]] is None:
                continue
        clients.append(c)
    if tools['perl'] and subprocess.run(
            [tools['perl'], '-MNet::POP3', '-e', '1'],
            capture_output=True).returncode != 0:
        t.check(False, 'Perl has Net::POP3 (package perl-modules)')
        clients = [c for c in clients if c[0] != 'Net::POP3']
    scratch = common.Scratch('pop3d-clients-real.')
    launcher = None
    try:
        msgs = dl.varied_messages(NMSGS)
        pwhash = common.pop3d_hash(dl.PASSWORD)
        entries, mboxes = [], {}
        for c in clients:
            for mode in ('keep', 'delete'):
                user = '%s-%s' % (c[0].replace(':', '').lower(), mode)
                mboxes[user] = scratch.path(user + '.mbox')
                scratch.put(mboxes[user], dl.mbox_of(msgs))
                entries.append((user, pwhash, 'mbox:' + mboxes[user]))
        passwd = common.write_passwd(scratch, entries)
        print('# %d messages, %d octets in each mbox' %
              (len(msgs), len(dl.mbox_of(msgs))), flush=True)
        launcher = dl.Daemon('systemd-socket-activate', lambda port: [
            activate, '--accept', '--inetd', '-l',
            '%s:%d' % (common.HOST, port), os.path.abspath(common.POP3D),
            '-f', passwd, '--log=stderr'], scratch.path('pop3d.log'))
        port = launcher.start()[0]
        for c in clients:
            t.section(c[0], one_client, t, scratch, port, msgs, mboxes, c,
                      tools)
    finally:
        if launcher is not None:
            launcher.stop()
        scratch.remove()
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
