#!/bin/bash
# Builds cove's default guest (Linux Image + busybox initrd) from Debian's own sources and
# prints the directory holding `Image` and `initrd` on stdout -- nothing else goes to stdout,
# so callers can write G=$(guest/build.sh). Progress goes to stderr, the full log to
# build.log in the cache entry.
#
# The result is cached by the hash of everything that shapes it (the files in guest/, the
# linux-source-6.1 and busybox source versions, the cross toolchain), so a second call is
# instant:
#   $COVE_CACHE/guest/<hash>/{Image,initrd,kernel.config,busybox.config,inputs,build.log}
#   $COVE_CACHE/guest/kernel/<hash>/{Image,config}   the kernel alone, reused while only the
#                              initrd's inputs change
#   $COVE_CACHE/guest/src/     extracted kernel source and downloaded busybox source package
# COVE_CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/cove. A build runs in a temporary
# directory that is renamed into place at the end, so a killed build leaves no entry behind.
set -euo pipefail

GUEST=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${COVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove}/guest
CROSS=riscv64-linux-gnu-
JOBS=$(nproc)
# The initrd's timestamps: a fixed value keeps the archive identical from one build to the next.
EPOCH=1700000000

say() { echo "guest: $*" >&2; }
die() { echo "guest: error: $*" >&2; exit 1; }

need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || die "'$t' not found (run scripts/install-deps.sh)"
    done
}

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

# The version apt-get source would fetch for a source package: the newest one apt knows.
source_version() {
    local v best=""
    for v in $(apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    echo "$best"
}
busybox_version() { source_version busybox; }

# --- the cache key -------------------------------------------------------------------------
need "${CROSS}gcc" "${CROSS}objcopy" make gcc flex bison bc cpio perl tar xz flock \
    apt-cache apt-get dpkg-source sha256sum

LINUX_VERSION=$(pkg_version linux-source-6.1)
LINUX_TARBALL=/usr/src/linux-source-6.1.tar.xz
[ -n "$LINUX_VERSION" ] && [ -f "$LINUX_TARBALL" ] ||
    die "linux-source-6.1 is not installed (run scripts/install-deps.sh)"

BUSYBOX_VERSION=$(busybox_version)
if [ -z "$BUSYBOX_VERSION" ]; then
    # deb-src is configured by install-deps.sh, but apt's lists may predate it.
    [ "$(id -u)" = 0 ] || die "apt knows no busybox source package: run 'sudo apt-get update'"
    say "apt knows no busybox source package yet: apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    BUSYBOX_VERSION=$(busybox_version)
    [ -n "$BUSYBOX_VERSION" ] ||
        die "no busybox source package (is /etc/apt/sources.list.d/cove-deb-src.sources there?)"
fi
E2FSPROGS_VERSION=$(source_version e2fsprogs)
[ -n "$E2FSPROGS_VERSION" ] || die "apt knows no e2fsprogs source package: run 'apt-get update'"

# Guest-side test programs (tests/guest/*.c) go into the initrd as /usr/bin/NAME.
TESTS_GUEST=$(cd "$GUEST/../tests/guest" 2>/dev/null && pwd) || TESTS_GUEST=""

inputs() {
    echo "linux-source-6.1 $LINUX_VERSION"
    echo "busybox-source $BUSYBOX_VERSION"
    echo "e2fsprogs-source $E2FSPROGS_VERSION"
    echo "cross-gcc $("${CROSS}gcc" --version | head -n 1)"
    echo "cross-libc $(pkg_version libc6-dev-riscv64-cross)"
    # every file in guest/ except documentation shapes the result
    (cd "$GUEST" && find . -type f ! -name '*.md' -print0 | LC_ALL=C sort -z |
        xargs -0 sha256sum)
    if [ -n "$TESTS_GUEST" ]; then
        (cd "$TESTS_GUEST" && find . -type f ! -name '*.md' -print0 | LC_ALL=C sort -z |
            xargs -0 -r sha256sum | sed 's|  \./|  tests/guest/|')
    fi
}
INPUTS=$(inputs)
HASH=$(echo "$INPUTS" | sha256sum | cut -c1-16)
OUT=$CACHE/$HASH

if [ -f "$OUT/Image" ] && [ -f "$OUT/initrd" ]; then
    echo "$OUT"
    exit 0
fi

# --- one builder at a time; the winner's result serves the others --------------------------
mkdir -p "$CACHE/src"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    say "waiting for another guest build to finish"
    flock 9
fi
if [ -f "$OUT/Image" ] && [ -f "$OUT/initrd" ]; then
    echo "$OUT"
    exit 0
fi
# Holding the lock, any temporary directory left is from a killed build.
rm -rf "$CACHE"/tmp.* "$CACHE"/src/tmp.*

WORK=$(mktemp -d "$CACHE/tmp.XXXXXX")
LOG=$WORK/build.log
STEP_PID=""
cleanup() {
    local rc=$?
    if [ $rc -eq 130 ]; then
        say "interrupted"
    elif [ $rc -ne 0 ] && [ -f "$LOG" ]; then
        cp "$LOG" "$CACHE/failed-build.log" 2>/dev/null || true
        echo "--- last lines of the build log (whole log: $CACHE/failed-build.log)" >&2
        tail -n 40 "$LOG" >&2
    fi
    rm -rf "$WORK"
    exit $rc
}
kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
    kill -TERM "$1" 2>/dev/null || true
}
# A signal must stop the running step too, not only this script (whose trap would otherwise
# wait for a five-minute make to finish), before cleanup removes its directory.
interrupted() {
    trap - INT TERM HUP
    if [ -n "$STEP_PID" ]; then
        kill_tree "$STEP_PID"
        wait "$STEP_PID" 2>/dev/null || true
    fi
    exit 130
}
trap cleanup EXIT
trap interrupted INT TERM HUP
echo "$INPUTS" >"$WORK/inputs"

# step NAME CMD...: runs CMD with its output in the log, and says how long it took.
step() {
    local name=$1 t0=$SECONDS
    shift
    say "$name"
    echo "=== $name: $*" >>"$LOG"
    # A subshell with its own set -e, outside any || list: bash ignores set -e in functions
    # called from one, and a failing command half-way through a step must stop it. It runs
    # in the background so that `wait` returns, and the trap runs, as soon as a signal comes.
    set +e
    (set -e; "$@") >>"$LOG" 2>&1 </dev/null &
    STEP_PID=$!
    wait "$STEP_PID"
    local rc=$?
    STEP_PID=""
    set -e
    [ $rc -eq 0 ] || die "$name failed"
    say "$name: $((SECONDS - t0)) s"
}

# --- sources -------------------------------------------------------------------------------
LINUX_SRC=$CACHE/src/linux-source-6.1_$LINUX_VERSION
BUSYBOX_DL=$CACHE/src/busybox_$BUSYBOX_VERSION

extract_linux() {
    local tmp
    tmp=$(mktemp -d "$CACHE/src/tmp.XXXXXX")
    tar -C "$tmp" -xf "$LINUX_TARBALL"
    mv "$tmp/linux-source-6.1" "$LINUX_SRC"
    rm -rf "$tmp"
}

download_busybox() {
    local tmp
    tmp=$(mktemp -d "$CACHE/src/tmp.XXXXXX")
    # The sandbox user _apt usually cannot write into the cache: download as ourselves.
    (cd "$tmp" && apt-get source --download-only -o APT::Sandbox::User="$(id -un)" \
        "busybox=$BUSYBOX_VERSION")
    mv "$tmp" "$BUSYBOX_DL"
}

[ -d "$LINUX_SRC" ] || step "extracting linux-source-6.1 $LINUX_VERSION" extract_linux
E2FSPROGS_DL=$CACHE/src/e2fsprogs_$E2FSPROGS_VERSION

download_e2fsprogs() {
    local tmp
    tmp=$(mktemp -d "$CACHE/src/tmp.XXXXXX")
    (cd "$tmp" && apt-get source --download-only -o APT::Sandbox::User="$(id -un)" \
        "e2fsprogs=$E2FSPROGS_VERSION")
    mv "$tmp" "$E2FSPROGS_DL"
}

[ -d "$BUSYBOX_DL" ] || step "downloading busybox source $BUSYBOX_VERSION" download_busybox
[ -d "$E2FSPROGS_DL" ] || step "downloading e2fsprogs source $E2FSPROGS_VERSION" download_e2fsprogs

# --- kernel --------------------------------------------------------------------------------
KMAKE=(make -C "$LINUX_SRC" O="$WORK/linux" ARCH=riscv CROSS_COMPILE="$CROSS")

# Every line of the fragment must hold in the final .config: olddefconfig silently drops a
# symbol whose dependencies are unmet, and we want to hear about that.
check_kernel_config() {
    local line sym bad=0 config=$WORK/linux/.config
    while IFS= read -r line; do
        case $line in
        CONFIG_*=*)
            grep -qxF -- "$line" "$config" || {
                echo "kernel.config: '$line' did not survive olddefconfig: got '$(grep -E "^(# )?${line%%=*}[= ]" "$config" || echo unset)'"
                bad=1
            } ;;
        "# CONFIG_"*" is not set")
            sym=${line#\# }
            sym=${sym%% *}
            if grep -qE "^$sym=" "$config"; then
                echo "kernel.config: '$line' but the .config has '$(grep -E "^$sym=" "$config")'"
                bad=1
            fi ;;
        esac
    done <"$GUEST/kernel.config"
    return $bad
}

configure_kernel() {
    mkdir -p "$WORK/linux"
    "${KMAKE[@]}" tinyconfig
    "$LINUX_SRC/scripts/kconfig/merge_config.sh" -m -O "$WORK/linux" \
        "$WORK/linux/.config" "$GUEST/kernel.config"
    "${KMAKE[@]}" olddefconfig
    check_kernel_config
}

build_kernel() {
    "${KMAKE[@]}" -j"$JOBS" Image
    mkdir "$WORK/kernel"
    cp "$WORK/linux/arch/riscv/boot/Image" "$WORK/kernel/Image"
    cp "$WORK/linux/.config" "$WORK/kernel/config"
}

# The kernel is most of the build time and depends on far fewer inputs than the initrd, so
# it has a cache of its own, keyed by what it is made from -- including the text of the
# functions above, so that a change of recipe is a change of key.
KERNEL_HASH=$( {
    echo "linux-source-6.1 $LINUX_VERSION"
    echo "cross-gcc $("${CROSS}gcc" --version | head -n 1)"
    sha256sum <"$GUEST/kernel.config"
    declare -p KMAKE | sed "s|$WORK|WORK|g"
    declare -f check_kernel_config configure_kernel build_kernel
} | sha256sum | cut -c1-16)
KERNEL=$CACHE/kernel/$KERNEL_HASH
echo "kernel $KERNEL_HASH" >>"$WORK/inputs"

if [ -f "$KERNEL/Image" ]; then
    say "kernel: cached in $KERNEL"
else
    step "configuring the kernel (tinyconfig + kernel.config)" configure_kernel
    step "building the kernel Image (-j$JOBS)" build_kernel
    mkdir -p "$CACHE/kernel"
    mv "$WORK/kernel" "$KERNEL"
fi

# --- busybox -------------------------------------------------------------------------------
BMAKE=(make -C "$WORK/busybox" ARCH=riscv CROSS_COMPILE="$CROSS")

# defconfig, then the overrides of busybox.config, then oldconfig to settle dependencies.
configure_busybox() {
    local line sym bad=0 config=$WORK/busybox/.config
    dpkg-source --no-check -x "$BUSYBOX_DL"/busybox_*.dsc "$WORK/busybox"
    "${BMAKE[@]}" defconfig
    while IFS= read -r line; do
        case $line in
        CONFIG_*=*) sym=${line%%=*} ;;
        "# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
        *) continue ;;
        esac
        sed -i -E "/^(# )?$sym[= ]/d" "$config"
        echo "$line" >>"$config"
    done <"$GUEST/busybox.config"
    "${BMAKE[@]}" oldconfig </dev/null
    while IFS= read -r line; do
        case $line in
        CONFIG_*=* | "# CONFIG_"*" is not set")
            grep -qxF -- "$line" "$config" || { echo "busybox.config: '$line' did not hold"; bad=1; } ;;
        esac
    done <"$GUEST/busybox.config"
    return $bad
}

# busybox installed into a tree of its own (the binary and its applet links), with its
# .config beside it: the only parts of the busybox build the initrd takes.
build_busybox() {
    "${BMAKE[@]}" -j"$JOBS"
    mkdir -p "$WORK/busybox-out/root"
    "${BMAKE[@]}" CONFIG_PREFIX="$WORK/busybox-out/root" install
    rm -f "$WORK/busybox-out/root/linuxrc"
    cp "$WORK/busybox/.config" "$WORK/busybox-out/config"
}

# Like the kernel, busybox has a cache of its own: a change of the agent, /init or a guest
# test program rebuilds the initrd in a minute, not the quarter of an hour busybox takes.
BUSYBOX_HASH=$( {
    echo "busybox-source $BUSYBOX_VERSION"
    echo "cross-gcc $("${CROSS}gcc" --version | head -n 1)"
    echo "cross-libc $(pkg_version libc6-dev-riscv64-cross)"
    sha256sum <"$GUEST/busybox.config"
    declare -p BMAKE | sed "s|$WORK|WORK|g"
    declare -f configure_busybox build_busybox
} | sha256sum | cut -c1-16)
BUSYBOX=$CACHE/busybox/$BUSYBOX_HASH
echo "busybox $BUSYBOX_HASH" >>"$WORK/inputs"

if [ -f "$BUSYBOX/root/bin/busybox" ] && [ -f "$BUSYBOX/config" ]; then
    say "busybox: cached in $BUSYBOX"
else
    step "configuring busybox $BUSYBOX_VERSION (defconfig + busybox.config)" configure_busybox
    step "building busybox (static, -j$JOBS)" build_busybox
    mkdir -p "$CACHE/busybox"
    mv "$WORK/busybox-out" "$BUSYBOX"
fi

# --- e2fsprogs: mke2fs (mkfs.ext4), e2fsck and resize2fs ------------------------------------
# busybox has no ext4 mkfs, and no resize2fs (/init grows the root file system to its
# disk with it after `cove set --disk-size`). Only the programs and the internal libraries they link
# (uuid and blkid included: there are no riscv64 libraries to link against), static. It
# takes a minute and a half on 2 cores and depends on few inputs, so it has its own cache.
build_e2fsprogs() {
    local src=$WORK/e2fsprogs-src obj=$WORK/e2fsprogs-obj
    dpkg-source --no-check -x "$E2FSPROGS_DL"/e2fsprogs_*.dsc "$src"
    mkdir -p "$obj"
    (cd "$obj" && "$src/configure" --host="${CROSS%-}" --disable-nls --disable-fuse2fs \
        --disable-elf-shlibs --disable-bsd-shlibs --disable-defrag --disable-imager \
        --disable-debugfs --disable-uuidd --disable-e2initrd-helper \
        --disable-tdb --disable-fsck --without-pthread --enable-libuuid --enable-libblkid \
        LDFLAGS=-static)
    make -C "$obj" -j"$JOBS" libs
    make -C "$obj/misc" -j"$JOBS" mke2fs
    make -C "$obj/e2fsck" -j"$JOBS" e2fsck
    make -C "$obj/resize" -j"$JOBS" resize2fs
    mkdir "$WORK/e2fsprogs"
    "${CROSS}strip" -o "$WORK/e2fsprogs/mke2fs" "$obj/misc/mke2fs"
    "${CROSS}strip" -o "$WORK/e2fsprogs/e2fsck" "$obj/e2fsck/e2fsck"
    "${CROSS}strip" -o "$WORK/e2fsprogs/resize2fs" "$obj/resize/resize2fs"
}

E2FSPROGS_HASH=$( {
    echo "e2fsprogs-source $E2FSPROGS_VERSION"
    echo "cross-gcc $("${CROSS}gcc" --version | head -n 1)"
    echo "cross-libc $(pkg_version libc6-dev-riscv64-cross)"
    declare -p CROSS
    declare -f build_e2fsprogs
} | sha256sum | cut -c1-16)
E2FSPROGS=$CACHE/e2fsprogs/$E2FSPROGS_HASH
echo "e2fsprogs $E2FSPROGS_HASH" >>"$WORK/inputs"

if [ -f "$E2FSPROGS/mke2fs" ] && [ -f "$E2FSPROGS/e2fsck" ] && [ -f "$E2FSPROGS/resize2fs" ]; then
    say "e2fsprogs: cached in $E2FSPROGS"
else
    step "building e2fsprogs $E2FSPROGS_VERSION (mke2fs, e2fsck, resize2fs; static)" build_e2fsprogs
    mkdir -p "$CACHE/e2fsprogs"
    mv "$WORK/e2fsprogs" "$E2FSPROGS"
fi

# --- root filesystem -----------------------------------------------------------------------
ROOT=$WORK/root

populate_root() {
    mkdir -p "$ROOT"
    cp -a "$BUSYBOX/root/." "$ROOT/"
    mkdir -p "$ROOT"/{dev,proc,sys,tmp,run,root,mnt,var,etc}
    cp -R "$GUEST/rootfs/." "$ROOT/"
    install -m 0755 "$GUEST/init" "$ROOT/init"
    "${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -o "$ROOT/bin/cove-loop" "$GUEST/cove-loop.c"
    "${CROSS}strip" "$ROOT/bin/cove-loop"
    # the guest agent (cove exec/ip/cp, clean stop), started by /init when vsock is there
    "${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -o "$ROOT/sbin/cove-agent" \
        "$GUEST"/agent/*.c
    "${CROSS}strip" "$ROOT/sbin/cove-agent"
    # /init starts the console's shell through it, so that ^C is not ignored there
    "${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -o "$ROOT/sbin/cove-sigdfl" \
        "$GUEST/cove-sigdfl.c"
    "${CROSS}strip" "$ROOT/sbin/cove-sigdfl"
    # over busybox's mke2fs/mkfs.ext2 links, which cannot make ext4
    rm -f "$ROOT"/sbin/{mke2fs,mkfs.ext2,mkfs.ext3,mkfs.ext4,e2fsck,fsck.ext2,fsck.ext3,fsck.ext4,resize2fs}
    install -m 0755 "$E2FSPROGS/mke2fs" "$E2FSPROGS/e2fsck" "$E2FSPROGS/resize2fs" "$ROOT/sbin/"
    local t
    for t in ext2 ext3 ext4; do
        ln -s mke2fs "$ROOT/sbin/mkfs.$t"
        ln -s e2fsck "$ROOT/sbin/fsck.$t"
    done
    if [ -n "$TESTS_GUEST" ]; then
        mkdir -p "$ROOT/usr/bin"
        for t in "$TESTS_GUEST"/*.c; do
            [ -f "$t" ] || continue
            "${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -o "$ROOT/usr/bin/$(basename "$t" .c)" "$t"
            "${CROSS}strip" "$ROOT/usr/bin/$(basename "$t" .c)"
        done
    fi
}

# The cpio is written from a list (the kernel's gen_init_cpio), not from the staging tree,
# so that ownership is root's and /dev/console exists without building as root.
cpio_list() {
    echo "nod /dev/console 0600 0 0 c 5 1"
    (cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r p; do
        local f=$ROOT/$p name=${p#.}
        if [ -L "$f" ]; then
            echo "slink $name $(readlink "$f") 0777 0 0"
        elif [ -d "$f" ]; then
            echo "dir $name $(stat -c %a "$f") 0 0"
        else
            echo "file $name $f $(stat -c %a "$f") 0 0"
        fi
    done
}

make_initrd() {
    gcc -O2 -o "$WORK/gen_init_cpio" "$LINUX_SRC/usr/gen_init_cpio.c"
    cpio_list >"$WORK/cpio.list"
    "$WORK/gen_init_cpio" -t "$EPOCH" "$WORK/cpio.list" >"$WORK/initrd"
}

step "populating the root filesystem" populate_root
step "writing the initrd (uncompressed cpio)" make_initrd

# --- into the cache ------------------------------------------------------------------------
mkdir "$WORK/out"
cp "$KERNEL/Image" "$WORK/initrd" "$WORK/inputs" "$WORK/out/"
cp "$KERNEL/config" "$WORK/out/kernel.config"
cp "$BUSYBOX/config" "$WORK/out/busybox.config"
say "Image $(stat -c %s "$WORK/out/Image") bytes, initrd $(stat -c %s "$WORK/out/initrd") bytes"
say "built in $SECONDS s: $OUT"
cp "$LOG" "$WORK/out/build.log"
mv "$WORK/out" "$OUT"
echo "$OUT"
