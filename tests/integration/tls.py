#!/usr/bin/env python3
"""tests/integration/tls.py: POP3 over TLS with stunnel in front of pop3d,
in both ways pop3d ships a configuration for: stunnel starting pop3d
itself (contrib/stunnel-pop3d.conf, exec) and stunnel in front of a plain
listener on 127.0.0.1 (contrib/stunnel-pop3d-proxy.conf, here in front
of systemd-socket-activate).  Each is driven over TLS by curl pop3s://
(LIST, RETR, then DELE) and by fetchmail with ssl (everything, deleting),
with a self-signed certificate made for the run; maildrops and
downloads are compared byte for byte, and the log must name the right
remote address.  Run from the repository root after `make pop3d`."""

import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deploylib as dl  # noqa: E402

SHIPPED_CERT = '/etc/stunnel/pop3d.pem'
FETCHMAIL_ADDED = (b'Received',)


def make_cert(scratch, openssl):
    """A throw-away key and self-signed certificate for localhost and
    127.0.0.1; stunnel's file holds both, the clients trust the cert."""
    key, cert = scratch.path('key.pem'), scratch.path('cert.pem')
    subprocess.run([openssl, 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-days', '1', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
                    '-keyout', key, '-out', cert],
                   check=True, capture_output=True, timeout=60)
    pem = scratch.path('stunnel.pem')
    with open(pem, 'wb') as f:
        for part in (key, cert):
            with open(part, 'rb') as src:
                f.write(src.read())
    os.chmod(pem, 0o600)
    os.chmod(cert, 0o644)
    return pem, cert


def curl(t, what, label, exe, cert, args):
    r = subprocess.run([exe, '-sS', '--cacert', cert, '--interface',
                        dl.CLIENT_ADDR, '-u', 'alice:' + dl.PASSWORD] + args,
                       capture_output=True, timeout=dl.CLIENT_SECS)
    t.check(r.returncode == 0, '%s: curl %s exits 0' % (what, label),
            r.stderr)
    return r.stdout


def curl_session(t, what, exe, port, cert, scratch, mbox, remote):
    """One curl run lists and fetches every message over one TLS
    connection; a second deletes message DELETE."""
    url = 'pop3s://%s:%d/' % (common.HOST, port)
    out = scratch.path('curl')
    os.mkdir(out)
    args = [url, '-o', os.path.join(out, 'list')]
    for i in range(len(dl.SMALL)):
        args += [url + str(i + 1), '-o', os.path.join(out, str(i + 1))]
    curl(t, what, 'pop3s:// LIST and RETR 1-%d' % len(dl.SMALL), exe, cert,
         args)
    want = b''.join(b'%d %d\r\n' % (i + 1, len(common.to_crlf(m)))
                    for i, m in enumerate(dl.SMALL))
    got = dl.read_bytes(os.path.join(out, 'list'))
    t.check(got == want, '%s: curl pop3s LIST is exact' % what, got)
    for i, m in enumerate(dl.SMALL):
        got = dl.read_bytes(os.path.join(out, str(i + 1)))
        t.check(got == common.to_crlf(m), '%s: curl pop3s RETR %d is exact'
                % (what, i + 1), common.first_difference(got or b'',
                                                        common.to_crlf(m)))
    curl(t, what, '-X DELE pop3s://.../%d' % dl.DELETE, exe, cert,
         ['-X', 'DELE', '-I', url + str(dl.DELETE)])
    want = dl.mbox_of([m for i, m in enumerate(dl.SMALL)
                       if i + 1 != dl.DELETE])
    got = dl.read_bytes(mbox)
    t.check(got == want, '%s: maildrop after curl DELE is exact' % what,
            common.first_difference(got or b'', want))
    log = scratch.path('pop3d.log')
    lines = dl.wait_for(log, 'pop3d-exit=', 2)
    logins = [x for x in lines if ': login: ' in x]
    t.check(len(logins) == 2 and all(x.endswith(' remote=%s user=alice' %
                                                remote) for x in logins),
            '%s: both logins are logged with remote=%s' % (what, remote),
            '\n'.join(lines))
    t.check([x for x in lines if x.startswith('pop3d-exit=')] ==
            ['pop3d-exit=0'] * 2, '%s: pop3d exits 0 both times' % what,
            '\n'.join(lines))


def fetchmail_session(t, what, exe, port, cert, scratch, mbox):
    """fetchmail with ssl fetches and deletes every message."""
    scratch.put(mbox, dl.mbox_of(dl.SMALL))
    home = scratch.path('fetchmail')
    out = os.path.join(home, 'out')
    os.makedirs(out)
    deliver = dl.write(os.path.join(home, 'deliver'),
                       '#!/bin/sh\nn=$(ls "$1" | wc -l)\n'
                       'cat >"$1/$(printf %05d $((n + 1)))"\n', 0o755)
    rc = dl.write(os.path.join(home, 'fetchmailrc'),
                  'set no bouncemail\nset no syslog\n'
                  'poll %s port %d proto pop3 uidl\n'
                  '  user "alice" there with password "%s" is "%s" here\n'
                  '  ssl sslcertck sslcertfile "%s" sslcommonname localhost\n'
                  '  nokeep no rewrite\n  mda "%s %s"\n' %
                  (common.HOST, port, dl.PASSWORD,
                   pwd.getpwuid(os.geteuid()).pw_name, cert, deliver, out),
                  0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run([exe, '-f', rc, '-i', os.path.join(home, 'ids')],
                       capture_output=True, env=env, timeout=dl.CLIENT_SECS)
    t.check(r.returncode == 0, '%s: fetchmail ssl exits 0' % what,
            r.stdout + r.stderr)
    got = [dl.strip_added(dl.read_bytes(os.path.join(out, n)),
                          FETCHMAIL_ADDED) for n in sorted(os.listdir(out))]
    t.check(got == dl.SMALL, '%s: fetchmail ssl delivers every message '
            'byte for byte (less its Received:)' % what, got)
    t.check(dl.read_bytes(mbox) == b'', '%s: fetchmail emptied the '
            'maildrop' % what, dl.read_bytes(mbox))


def exec_mode(t, stunnel, tools, scratch):
    """stunnel accepts TLS and starts pop3d on the connection."""
    pem, cert = make_cert(scratch, tools['openssl'])
    mbox = dl.setup_user(scratch)
    log = scratch.path('pop3d.log')
    wrapper = dl.write_wrapper(scratch, log)

    def argv(port):
        conf = dl.write(scratch.path('stunnel.conf'), dl.render(
            'stunnel-pop3d.conf', [
                ('accept = 995', 'accept = %s:%d' % (common.HOST, port)),
                (SHIPPED_CERT, pem), (dl.SHIPPED_POP3D, wrapper),
                (dl.SHIPPED_PASSWD, scratch.path('passwd'))]))
        return [stunnel, conf]
    d = dl.Daemon('stunnel', argv, scratch.path('stunnel.err'))
    what = 'stunnel exec'
    try:
        port = d.start()[0]
        if tools['curl']:
            # stunnel puts the client's address in REMOTE_HOST.
            curl_session(t, what, tools['curl'], port, cert, scratch, mbox,
                         dl.CLIENT_ADDR)
        if tools['fetchmail']:
            fetchmail_session(t, what, tools['fetchmail'], port, cert,
                              scratch, mbox)
    finally:
        d.stop()
    dl.reap(t, scratch, what)


def proxy_mode(t, stunnel, tools, scratch):
    """stunnel accepts TLS and connects to a plain listener on loopback."""
    pem, cert = make_cert(scratch, tools['openssl'])
    mbox = dl.setup_user(scratch)
    log = scratch.path('pop3d.log')
    wrapper = dl.write_wrapper(scratch, log)
    plain = dl.Daemon('systemd-socket-activate', lambda port: [
        tools['activate'], '--accept', '--inetd', '-l',
        '%s:%d' % (common.HOST, port), wrapper, '-f',
        scratch.path('passwd')], scratch.path('activate.err'))
    what = 'stunnel proxy'
    d = None
    try:
        plain_port = plain.start()[0]

        def argv(port):
            subs = [('accept = 995', 'accept = %s:%d' % (common.HOST, port)),
                    ('connect = 127.0.0.1:110',
                     'connect = %s:%d' % (common.HOST, plain_port)),
                    (SHIPPED_CERT, pem)]
            if os.geteuid() != 0:
                subs.append(('setuid = stunnel4\nsetgid = stunnel4\n', ''))
            conf = dl.write(scratch.path('stunnel.conf'),
                            dl.render('stunnel-pop3d-proxy.conf', subs))
            return [stunnel, conf]
        d = dl.Daemon('stunnel', argv, scratch.path('stunnel.err'))
        port = d.start()[0]
        if tools['curl']:
            # pop3d's peer is stunnel, on 127.0.0.1, whoever the client is.
            curl_session(t, what, tools['curl'], port, cert, scratch, mbox,
                         common.HOST)
        if tools['fetchmail']:
            fetchmail_session(t, what, tools['fetchmail'], port, cert,
                              scratch, mbox)
    finally:
        if d is not None:
            d.stop()
        plain.stop()
    dl.reap(t, scratch, what)


def in_scratch(fn, *args):
    scratch = common.Scratch('pop3d-tls.')
    try:
        fn(*args + (scratch,))
    finally:
        scratch.remove()


def main():
    t = common.Tally()
    common.require_pop3d(t)
    stunnel = t.tool('stunnel4', 'stunnel4', 'TLS front end')
    tools = {
        'openssl': t.tool('openssl', 'openssl', 'test certificate'),
        'curl': t.tool('curl', 'curl', 'pop3s client'),
        'fetchmail': t.tool('fetchmail', 'fetchmail', 'pop3s client'),
        'activate': t.tool('systemd-socket-activate', 'systemd',
                           'plain listener behind stunnel'),
    }
    if stunnel and tools['openssl']:
        t.section('stunnel exec', in_scratch, exec_mode, t, stunnel, tools)
        if tools['activate']:
            t.section('stunnel proxy', in_scratch, proxy_mode, t, stunnel,
                      tools)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
