#!/bin/bash
# Builds cove-agent_VERSION_riscv64.deb into OUTDIR: the guest agent (guest/agent/*.c,
# compiled as guest/build.sh compiles it for the default guest: static, riscv64) with its
# systemd units, for distribution images (images/debian/build.sh installs it).
#
#   images/debian/agent/build-deb.sh OUTDIR        prints the .deb's path on stdout
#
# Reproducible: the same sources and cross toolchain give the same bytes. Every mtime is
# SOURCE_DATE_EPOCH (default: a fixed date, as the default guest's initrd has), files are
# owned by root, and the version is 1.0+ the first 12 hex digits of the sources' sha256.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
CROSS=riscv64-linux-gnu-
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

die() { echo "build-deb: error: $*" >&2; exit 1; }

[ $# = 1 ] || die "usage: build-deb.sh OUTDIR"
OUT=$1
for t in "${CROSS}gcc" "${CROSS}strip" dpkg-deb sha256sum; do
    command -v "$t" >/dev/null || die "'$t' not found (run scripts/install-deps.sh)"
done
[[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH is not a number of seconds"

# The version names the sources: the agent's and the package's own files.
HASH=$(cd "$SRC" && find guest/agent images/debian/agent -type f ! -name '*.md' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
VERSION=1.0+$HASH
MAINTAINER=$(sed -n 's/^Maintainer: //p' "$SRC/debian/control" | head -n 1)
[ -n "$MAINTAINER" ] || die "no Maintainer in $SRC/debian/control"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
umask 022
mkdir -p "$R/DEBIAN" "$R/usr/sbin" "$R/usr/lib/systemd/system" "$R/usr/lib/modules-load.d" \
    "$R/usr/lib/cove"

# exactly the default guest's build (guest/build.sh); the prefix map keeps this checkout's
# path out of the binary
"${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -ffile-prefix-map="$SRC"=. \
    -o "$R/usr/sbin/cove-agent" "$SRC"/guest/agent/*.c
"${CROSS}strip" "$R/usr/sbin/cove-agent"
chmod 0755 "$R/usr/sbin/cove-agent"

install -m 0644 "$HERE/cove-agent.service" "$HERE/cove-ssh.socket" "$HERE/cove-ssh@.service" \
    "$HERE/cove-shares.service" "$R/usr/lib/systemd/system/"
install -m 0755 "$HERE/cove-shares" "$R/usr/lib/cove/cove-shares"
install -m 0644 "$HERE/modules-load.conf" "$R/usr/lib/modules-load.d/cove-agent.conf"
install -m 0755 "$HERE/postinst" "$HERE/prerm" "$HERE/postrm" "$R/DEBIAN/"

SIZE=$(du -sk --apparent-size "$R/usr" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@MAINTAINER@|$MAINTAINER|" -e "s|@SIZE@|$SIZE|" \
    "$HERE/control.in" >"$R/DEBIAN/control"
chmod 0644 "$R/DEBIAN/control"

find "$R" -depth -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUT"
DEB=$OUT/cove-agent_${VERSION}_riscv64.deb
# a temporary name renamed into place: a failed build leaves no .deb behind
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB.tmp" >/dev/null
mv -f "$DEB.tmp" "$DEB"
echo "$DEB"
