#!/usr/bin/env python3
"""tests/integration/privileges.py: the two deployments INSTALL describes,
each checked by which uid really touched the maildrop -- the running
pop3d's ids in /proc after login, and the owner of every file the session
left beside the mail:
1. pop3d started as root by the launcher (systemd-socket-activate with
   pop3d@.service's ExecStart), switching to each user's uid and gid
   (supplementary groups too) from the password file: a Maildir in the
   user's own directory, and an mbox in a spool laid out like Debian's
   /var/mail (root:mail 2775), which needs the entry's gid to be mail.
   Entries without a uid, or with uid 0, are refused.
2. pop3d started as a dedicated virtual-mail user that owns every
   maildrop, with entries without uid: under tcpserver -u/-g
   (contrib/pop3d.run) and under the systemd unit with User= (here
   setpriv, as systemd would switch).
Needs root: it creates the system users pop3dtest1, pop3dtest2,
pop3dvmail and the group pop3dtestsup when missing, and leaves them.
Run from the repository root after `make pop3d`."""

import grp
import os
import poplib
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deploylib as dl  # noqa: E402

USER1, USER2, VMAIL, SUPGROUP = ('pop3dtest1', 'pop3dtest2', 'pop3dvmail',
                                 'pop3dtestsup')
MSG_A = (b'From: a@example.org\nTo: user@example.org\nSubject: A\n\n'
         b'first message\n.dot line\n')
MSG_B = (b'From: b@example.org\nTo: user@example.org\nSubject: B\n\n'
         b'second message\n\n')
MAILDIR_A = ('new', '1700000001.M1P1.testhost')
MAILDIR_B = ('cur', '1700000002.M2P2.testhost:2,S')


class Tree:
    """A scratch directory that other users may traverse."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
        os.chmod(self.dir, 0o755)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def remove(self):
        if os.environ.get('POP3D_KEEP_SCRATCH') == '1':
            print('# scratch directory kept: ' + self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def ensure_accounts():
    """The test's system users and group; made only when missing."""
    made = []
    try:
        grp.getgrnam(SUPGROUP)
    except KeyError:
        subprocess.run(['groupadd', '--system', SUPGROUP], check=True)
        made.append('group ' + SUPGROUP)
    for user in (USER1, USER2, VMAIL):
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(['useradd', '--system', '--user-group',
                            '--no-create-home', '--home-dir', '/nonexistent',
                            '--shell', '/usr/sbin/nologin', user], check=True)
            made.append('user ' + user)
    if USER2 not in grp.getgrnam(SUPGROUP).gr_mem:
        subprocess.run(['usermod', '-a', '-G', SUPGROUP, USER2], check=True)
        made.append('%s in group %s' % (USER2, SUPGROUP))
    for what in made:
        print('# created %s (left in place)' % what, flush=True)


def ids(user, group=None):
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    return pw.pw_uid, gid


def own(path, uid, gid):
    os.chown(path, uid, gid)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(top, name), uid, gid)


def put(path, data, uid, gid, mode=0o600):
    with open(path, 'wb') as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def make_maildir(path, uid, gid):
    for sub in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    put(os.path.join(path, *MAILDIR_A), MSG_A, uid, gid)
    put(os.path.join(path, *MAILDIR_B), MSG_B, uid, gid)
    own(path, uid, gid)
    os.chmod(path, 0o700)


def maildir_contents(path):
    out = []
    for sub in ('new', 'cur'):
        for name in sorted(os.listdir(os.path.join(path, sub))):
            out.append(dl.read_bytes(os.path.join(path, sub, name)))
    return sorted(out)


def proc_ids(pid):
    """Uid:, Gid: and Groups: of a running process."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, val = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups'):
                out[key] = [int(x) for x in val.split()]
    return out


def login_pid(log, user, count):
    lines = dl.wait_for(log, ': login: ', count)
    mine = [x for x in lines if ': login: ' in x and
            x.endswith(' user=' + user)]
    return int(mine[-1].split('[', 1)[1].split(']', 1)[0]) if mine else None


def files_below(path):
    """Every file and directory below path (path itself not included),
    or path alone when it is a file."""
    if not os.path.isdir(path):
        return [path]
    out = []
    for top, dirs, files in os.walk(path):
        out += [os.path.join(top, n) for n in dirs + files]
    return out


def session(t, what, port, log, user, nlogins, want_uid, want_gid,
            want_groups=()):
    """Log in, check the process's ids, fetch and delete the first
    message, QUIT; the first message's bytes."""
    p = dl.POP3From(common.HOST, port, timeout=dl.CLIENT_SECS)
    try:
        p.user(user)
        r = p.pass_(dl.PASSWORD)
        t.check(r.startswith(b'+OK Logged in, 2 messages'),
                '%s: login' % what, r)
        pid = login_pid(log, user, nlogins)
        got = proc_ids(pid) if pid else {}
        t.check(got.get('Uid') == [want_uid] * 4 and
                got.get('Gid') == [want_gid] * 4,
                '%s: the session runs as uid %d gid %d (real, effective, '
                'saved, fs)' % (what, want_uid, want_gid), got)
        if want_groups:
            t.check(set(want_groups) <= set(got.get('Groups', [])) and
                    0 not in got.get('Groups', [0]),
                    '%s: supplementary groups %s, root\'s gone' %
                    (what, sorted(want_groups)), got)
        first = b''.join(x + b'\n' for x in p.retr(1)[1])
        t.check(p.dele(1).startswith(b'+OK'), '%s: DELE 1' % what)
        t.check(p.quit().startswith(b'+OK'), '%s: QUIT' % what)
    finally:
        p.close()
    dl.wait_for(log, 'pop3d-exit=', nlogins)
    return first


def check_owners(t, what, paths, uid, skip=()):
    """Every file at or below paths belongs to uid."""
    bad = []
    for top in paths:
        for f in files_below(top):
            if f not in skip and os.lstat(f).st_uid != uid:
                bad.append('%s uid %d' % (f, os.lstat(f).st_uid))
    t.check(not bad, '%s: everything in the maildrop belongs to uid %d' %
            (what, uid), '\n'.join(bad))


def check_maildir(t, what, path, first, uid):
    t.check(first in (MSG_A, MSG_B), '%s: RETR 1 is one of the messages, '
            'byte for byte' % what, first)
    rest = [m for m in (MSG_A, MSG_B) if m != first]
    t.check(maildir_contents(path) == rest, '%s: UPDATE removed exactly '
            'the deleted message' % what, maildir_contents(path))
    lock = os.path.join(path, '.pop3d-lock')
    t.check(os.path.exists(lock) and os.stat(lock).st_uid == uid,
            '%s: the session lock was made by uid %d' % (what, uid))
    check_owners(t, what, [path], uid)


def check_mbox(t, what, path, first, uid, gid):
    t.check(first == MSG_A, '%s: RETR 1 is exact' % what, first)
    got = dl.read_bytes(path)
    want = dl.mbox_of([MSG_B])
    t.check(got == want, '%s: UPDATE left exactly the kept message' % what,
            common.first_difference(got or b'', want))
    st = os.stat(path)
    t.check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, 0o600),
            '%s: the mbox keeps owner %d:%d and mode 600' % (what, uid, gid),
            (st.st_uid, st.st_gid, oct(st.st_mode)))
    lock = path + '.pop3d-lock'
    t.check(os.path.exists(lock) and os.stat(lock).st_uid == uid,
            '%s: the session lock was made by uid %d' % (what, uid))
    others = [f for f in os.listdir(os.path.dirname(path))
              if f.startswith(os.path.basename(path))]
    check_owners(t, what, [os.path.join(os.path.dirname(path), f)
                           for f in others], uid)


def refused(t, what, port, log, user, nlogins, reason, drop):
    """A root pop3d must not open drop for user: -ERR, and no file."""
    p = dl.POP3From(common.HOST, port, timeout=dl.CLIENT_SECS)
    try:
        p.user(user)
        try:
            r = p.pass_(dl.PASSWORD)
        except poplib.error_proto as e:
            r = e.args[0]
    finally:
        p.close()
    t.check(r.startswith(b'-ERR [SYS/PERM]'), '%s: refused with '
            '[SYS/PERM]' % what, r)
    lines = dl.wait_for(log, 'pop3d-exit=', nlogins)
    t.check(any(reason in x and x.endswith('user=' + user) for x in lines),
            '%s: the log says %r' % (what, reason), '\n'.join(lines[-4:]))
    t.check(not os.path.exists(drop + '.pop3d-lock') and
            dl.read_bytes(drop) == dl.mbox_of([MSG_A, MSG_B]),
            '%s: the maildrop was never opened' % what)


def entry(user, pwhash, uid='', gid='', mail=''):
    return ':'.join([user, pwhash, uid, gid, '', '', '',
                     'mail=' + mail]) + '\n'


def root_deployment(t, activate, tree, pwhash):
    """Deployment 1: a root pop3d switches to each user."""
    uid1, gid1 = ids(USER1)
    uid2, mailgid = ids(USER2, 'mail')
    supgid = grp.getgrnam(SUPGROUP).gr_gid
    home1 = tree.path('home1')
    os.mkdir(home1)
    make_maildir(os.path.join(home1, 'Maildir'), uid1, gid1)
    own(home1, uid1, gid1)
    spool = tree.path('spool')
    os.mkdir(spool)
    os.chown(spool, 0, mailgid)
    os.chmod(spool, 0o2775)
    mbox2 = os.path.join(spool, USER2)
    put(mbox2, dl.mbox_of([MSG_A, MSG_B]), uid2, mailgid)
    nouid = tree.path('nouid.mbox')
    put(nouid, dl.mbox_of([MSG_A, MSG_B]), 0, 0)
    passwd = dl.write(tree.path('passwd'), ''.join([
        entry(USER1, pwhash, USER1, '', 'maildir:' + home1 + '/Maildir'),
        entry(USER2, pwhash, USER2, 'mail', 'mbox:' + spool + '/%u'),
        entry('nouid', pwhash, '', '', 'mbox:' + nouid),
        entry('rootuid', pwhash, '0', '0', 'mbox:' + nouid)]), 0o600)
    log = tree.path('root.log')
    wrapper = dl.write_wrapper(tree, log, name='root-wrapper')
    svc = dl.render('pop3d@.service', [(dl.SHIPPED_POP3D, wrapper),
                                       (dl.SHIPPED_PASSWD, passwd)])
    cmd = [line.split('=', 1)[1] for line in svc.splitlines()
           if line.startswith('ExecStart=')][0]
    d = dl.Daemon('systemd-socket-activate', lambda port: [
        activate, '--accept', '--inetd', '-l',
        '%s:%d' % (common.HOST, port)] + shlex.split(cmd),
        tree.path('root.err'))
    what = 'root pop3d'
    try:
        port = d.start()[0]
        first = session(t, '%s, %s (Maildir)' % (what, USER1), port, log,
                        USER1, 1, uid1, gid1, (gid1,))
        check_maildir(t, '%s, %s' % (what, USER1),
                      os.path.join(home1, 'Maildir'), first, uid1)
        first = session(t, '%s, %s (mbox in a root:mail 2775 spool, gid '
                        'mail)' % (what, USER2), port, log, USER2, 2, uid2,
                        mailgid, (supgid, mailgid))
        check_mbox(t, '%s, %s' % (what, USER2), mbox2, first, uid2, mailgid)
        refused(t, '%s, entry without uid' % what, port, log, 'nouid', 3,
                'no uid in the password file', nouid)
        refused(t, '%s, entry with uid 0' % what, port, log, 'rootuid', 4,
                'uid 0 never opens a maildrop', nouid)
    finally:
        d.stop()
    dl.reap(t, tree, what)


def vmail_tree(tree, sub, uid, gid):
    """The virtual-mail maildrops: a Maildir and an mbox per domain."""
    top = tree.path(sub)
    os.makedirs(os.path.join(top, 'example.org'))
    make_maildir(os.path.join(top, 'example.org', 'v1'), uid, gid)
    put(os.path.join(top, 'example.org', 'v2.mbox'),
        dl.mbox_of([MSG_A, MSG_B]), uid, gid)
    put(os.path.join(top, 'example.org', 'v3.mbox'),
        dl.mbox_of([MSG_A, MSG_B]), uid, gid)
    own(top, uid, gid)
    os.chmod(top, 0o700)
    return top


def vmail_sessions(t, what, port, log, top, uid, gid, other_uid):
    first = session(t, '%s, v1 (Maildir)' % what, port, log,
                    'v1@example.org', 1, uid, gid, (gid,))
    check_maildir(t, '%s, v1' % what, os.path.join(top, 'example.org', 'v1'),
                  first, uid)
    first = session(t, '%s, v2 (mbox)' % what, port, log, 'v2@example.org',
                    2, uid, gid, (gid,))
    check_mbox(t, '%s, v2' % what, os.path.join(top, 'example.org',
                                                  'v2.mbox'), first, uid, gid)
    # An entry naming another uid: an unprivileged pop3d stays itself.
    first = session(t, '%s, v3 (entry names uid %d)' % (what, other_uid),
                    port, log, 'v3@example.org', 3, uid, gid, (gid,))
    check_mbox(t, '%s, v3' % what, os.path.join(top, 'example.org',
                                                  'v3.mbox'), first, uid, gid)


def vmail_deployment(t, tools, tree, pwhash):
    """Deployment 2: pop3d runs as the virtual-mail user throughout."""
    uid, gid = ids(VMAIL)
    other_uid = ids(USER1)[0]
    # The binary under test, where the virtual-mail user can run it.
    os.mkdir(tree.path('bin'))
    binary = tree.path('bin', 'pop3d')
    shutil.copy(common.POP3D, binary)
    os.chmod(binary, 0o755)
    for kind in ('tcpserver', 'systemd'):
        if tools[kind] is None:
            continue
        top = vmail_tree(tree, 'vmail-' + kind, uid, gid)
        passwd = dl.write(tree.path('passwd-' + kind), ''.join([
            entry('v1@example.org', pwhash, mail='maildir:' + top +
                  '/%d/%n'),
            entry('v2@example.org', pwhash, mail='mbox:' + top +
                  '/%d/%n.mbox'),
            entry('v3@example.org', pwhash, str(other_uid), '',
                  mail='mbox:' + top + '/%d/%n.mbox')]), 0o600)
        os.chown(passwd, uid, gid)
        log = tree.path('vmail-%s.log' % kind)
        put(log, b'', uid, gid, 0o644)
        if kind == 'tcpserver':
            wrapper = dl.write_wrapper(tree, log, name='vmail-wrapper-t',
                                       pop3d=binary)

            def argv(port, wrapper=wrapper, passwd=passwd):
                run = dl.write(tree.path('run'), dl.render('pop3d.run', [
                    (dl.SHIPPED_POP3D, wrapper),
                    (dl.SHIPPED_PASSWD, passwd),
                    (' -c 64 ', ' -c 64 -u %d -g %d ' % (uid, gid)),
                    (' 0 110 ', ' %s %d ' % (common.HOST, port))]), 0o755)
                return ['/bin/sh', run]
            what = 'virtual-mail pop3d under tcpserver -u -g'
        else:
            # User=pop3dvmail in pop3d@.service: systemd switches before
            # the exec, as setpriv does here.
            wrapper = dl.write_wrapper(
                tree, log, name='vmail-wrapper-s', pop3d=binary,
                prefix=[tools['setpriv'], '--reuid=' + VMAIL,
                        '--regid=' + VMAIL, '--init-groups'])
            svc = dl.render('pop3d@.service', [(dl.SHIPPED_POP3D, wrapper),
                                               (dl.SHIPPED_PASSWD, passwd)])
            cmd = [x.split('=', 1)[1] for x in svc.splitlines()
                   if x.startswith('ExecStart=')][0]

            def argv(port, cmd=cmd):
                return [tools['systemd'], '--accept', '--inetd', '-l',
                        '%s:%d' % (common.HOST, port)] + shlex.split(cmd)
            what = 'virtual-mail pop3d under the systemd unit with User='
        d = dl.Daemon(kind, argv, tree.path(kind + '.err'))
        try:
            port = d.start()[0]
            vmail_sessions(t, what, port, log, top, uid, gid, other_uid)
        finally:
            d.stop()
        dl.reap(t, tree, what)


def main():
    t = common.Tally()
    common.require_pop3d(t)
    if os.geteuid() != 0:
        print('SKIPPED: privileges: needs root (to run a root launcher and '
              'create the test users)', flush=True)
        if t.ci:
            t.check(False, 'privileges runs as root under CI=true')
        return t.finish()
    tools = {
        'systemd': t.tool('systemd-socket-activate', 'systemd', 'launcher'),
        'tcpserver': t.tool('tcpserver', 'ucspi-tcp', 'launcher'),
        'setpriv': t.tool('setpriv', 'util-linux', 'User= stand-in'),
    }
    if tools['setpriv'] is None:
        tools['systemd'] = None
    t.section('accounts', ensure_accounts)
    tree = Tree('pop3d-privileges.')
    try:
        pwhash = common.pop3d_hash(dl.PASSWORD)
        if tools['systemd']:
            t.section('root deployment', root_deployment, t,
                      tools['systemd'], tree, pwhash)
        t.section('virtual-mail deployment', vmail_deployment, t, tools,
                  tree, pwhash)
    finally:
        tree.remove()
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
