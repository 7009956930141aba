#!/bin/sh
# tests/integration/unpack-openbsd-inetd.sh: put openbsd-inetd's binary
# where launchers.py looks for it, on a host that has xinetd installed.
# Debian's xinetd and openbsd-inetd conflict (both provide
# inet-superserver), so the tests install xinetd as a package and unpack
# openbsd-inetd beside it without installing it; its libraries are
# ordinary packages.  Nothing is started, and no inetd.conf is touched.
#   usage: sh tests/integration/unpack-openbsd-inetd.sh [DIR]
#   (default DIR /opt/pop3d-tests/openbsd-inetd; as root)
set -eu

dest=${1:-/opt/pop3d-tests/openbsd-inetd}
if [ -x "$dest/usr/sbin/inetd" ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends \
    libbsd0 libevent-2.1-7 libsystemd0 libtirpc3 libwrap0 >&2
work=$(mktemp -d /tmp/openbsd-inetd.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory, as user _apt.
chmod 777 "$work"
(cd "$work" && apt-get download -q openbsd-inetd >&2)
mkdir -p "$dest"
dpkg-deb -x "$work"/openbsd-inetd_*.deb "$dest"
test -x "$dest/usr/sbin/inetd"
echo "openbsd-inetd unpacked: $dest/usr/sbin/inetd"
