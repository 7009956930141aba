#!/bin/sh
# tests/deps.sh: make sure the Debian packages a make target needs are
# installed.  As root it installs what is missing; otherwise it prints the
# exact command to run and fails.
#   usage: tests/deps.sh build|check|demo
set -eu

build="gcc make pkg-config libsodium-dev"
case "${1:-build}" in
build)	pkgs="$build" ;;
check)	pkgs="$build check python3 curl systemd dovecot-core xinetd ucspi-tcp
	    stunnel4 openssl fetchmail getmail6 mpop perl man-db file binutils
	    procmail maildrop strace e2fsprogs" ;;
demo)	pkgs="$build python3 curl systemd" ;;
*)	echo "usage: $0 build|check|demo" >&2; exit 2 ;;
esac
# Extra packages a target asks for (e.g. the integration tests' tools).
pkgs="$pkgs ${POP3D_EXTRA_PKGS:-}"

# A root pop3d runs its pre-login dialogue as the user pop3d (pop3d(8),
# INSTALL); tests and the demo run as root here, so make it if missing.
if [ "$(id -u)" -eq 0 ] && ! getent passwd pop3d >/dev/null; then
	echo "pop3d: adding the system user pop3d" >&2
	useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin pop3d
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	missing_done=1
else
	missing_done=0
fi

if [ "$missing_done" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
	echo "pop3d: missing Debian packages:$missing" >&2
	echo "pop3d: install them with:  sudo apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ "$missing_done" -eq 0 ]; then
	echo "pop3d: installing$missing" >&2
	if ! apt-get install -y --no-install-recommends $missing >&2; then
		apt-get update >&2
		apt-get install -y --no-install-recommends $missing >&2
	fi
fi
# openbsd-inetd conflicts with xinetd as a package: the launcher tests
# use it unpacked beside it (tests/integration/unpack-openbsd-inetd.sh).
if [ "${1:-}" = check ] && [ "$(id -u)" -eq 0 ]; then
	sh "$(dirname "$0")/integration/unpack-openbsd-inetd.sh" >&2
fi
