#!/bin/sh
# Installs what cove needs on Debian 12 (build tools, libraries, the riscv64 cross
# compiler, kernel/busybox sources, reference peers, debhelper for the .deb, dosfstools and
# mtools for the NoCloud seed, dnsmasq-base and iproute2 for the bridged-network test, novnc for
# cove console --web and chromium for its test). Idempotent:
# does nothing when everything is present.
set -eu

PKGS="build-essential meson ninja-build pkg-config git
 libfdt-dev device-tree-compiler libslirp-dev libglib2.0-dev libjansson-dev libcurl4-openssl-dev
 libnbd-dev nbdkit strace libzstd-dev docker-registry skopeo apache2-utils curl libseccomp-dev gdb
 libvncserver-dev novnc chromium
 gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross
 linux-source-6.1 bc bison flex libssl-dev libelf-dev cpio kmod xz-utils
 opensbi u-boot-qemu qemu-system-misc qemu-utils fdisk
 clang libclang-rt-14-dev python3 e2fsprogs dpkg-dev time
 debhelper fakeroot
 mmdebstrap qemu-user-static binfmt-support arch-test dosfstools mtools openssh-client
 dnsmasq-base iproute2 iputils-ping libcap2-bin"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

SRC_LIST=/etc/apt/sources.list.d/cove-deb-src.sources
need_src=0
[ -f "$SRC_LIST" ] || need_src=1

if [ -z "$missing" ] && [ "$need_src" = 0 ]; then
    exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

if [ "$need_src" = 1 ]; then
    # busybox is built from Debian's own source package: apt-get source needs deb-src.
    $SUDO sh -c "cat > $SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "cove: installing packages:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
