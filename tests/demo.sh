#!/bin/sh
# tests/demo.sh: `make demo`.  Make a demo user and maildrop in a scratch
# directory, serve them on 127.0.0.1 through systemd-socket-activate (a
# real inetd-style launcher), fetch the mail once with curl to show it
# works, then print what to try and keep serving until Ctrl-C.
set -eu

port=${DEMO_PORT:-8110}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pop3d-demo.XXXXXX)
launcher=
cleanup() {
	[ -n "$launcher" ] && kill "$launcher" 2>/dev/null || :
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# A cheap hash keeps the demo quick; real deployments keep the defaults.
hash=$(printf 'demo\n' | "$top/pop3d" --hash --hash-ops=1 --hash-mem=8192)
owner=":"
if [ "$(id -u)" -eq 0 ]; then
	# Root never opens a maildrop: the demo user's mail belongs to nobody.
	owner="$(id -u nobody):$(id -g nobody)"
fi
printf 'demo:%s:%s:Demo User:%s::mail=mbox:%s/demo.mbox\n' \
    "$hash" "$owner" "$dir" "$dir" >"$dir/passwd"
chmod 600 "$dir/passwd"
for n in 1 2 3; do
	printf 'From demo@example.org Fri Nov 27 12:0%d:00 2026\n' "$n"
	printf 'From: Demo Sender <demo@example.org>\nTo: demo@localhost\n'
	printf 'Subject: demo message %d\nMessage-ID: <demo%d@example.org>\n\n' \
	    "$n" "$n"
	printf 'Hello from the pop3d demo, message %d.\n.a line that starts with a dot\n\n' "$n"
done >"$dir/demo.mbox"
if [ "$owner" != ":" ]; then
	chown "$owner" "$dir/demo.mbox"
	# The session lock and dotlock are made beside the mailbox.
	chown "$owner" "$dir"
	chown root "$dir/passwd"
fi

systemd-socket-activate --accept --inetd -l "127.0.0.1:$port" \
    "$top/pop3d" -f "$dir/passwd" --log=stderr &
launcher=$!
sleep 1

echo
echo "== pop3d is serving $dir/demo.mbox on 127.0.0.1:$port (user demo, password demo)"
echo "== curl lists the maildrop:"
curl -sS "pop3://127.0.0.1:$port/" -u demo:demo
echo "== curl fetches message 1:"
curl -sS "pop3://127.0.0.1:$port/1" -u demo:demo
cat <<TRY

== Try it yourself:
  curl pop3://127.0.0.1:$port/ -u demo:demo          # list
  curl pop3://127.0.0.1:$port/2 -u demo:demo         # fetch message 2
  python3 -c 'import poplib; p = poplib.POP3("127.0.0.1", $port); p.user("demo"); p.pass_("demo"); print(p.stat()); print(p.uidl()); print(b"\n".join(p.retr(3)[1]).decode()); p.quit()'
  python3 -c 'import poplib; p = poplib.POP3("127.0.0.1", $port); print(p.capa())'

TRY
if [ -t 0 ]; then
	echo "== Serving until Ctrl-C; log lines appear below."
	wait "$launcher"
fi
