#!/bin/bash
# cgroup v2 check of `cove run` on a real cgroup v2 host (docs/SECURITY.md, "Limits"): this
# project's build machines are cgroup v1, so the v2 path of src/vm/cgroup.c is checked in a
# Debian sid VM (systemd on the unified hierarchy) run by cove, with cove itself built for
# riscv64 and run there on the interpreter: tests/integration/cgroup.sh runs inside the VM.
# Not in CI: nested emulation makes it slow (tens of minutes on a loaded machine).
#
#   scripts/cgroup-v2.sh            (as root: mmdebstrap, the image, the VM's jail)
#
# Steps, each cached by a key of its inputs under $COVE_CACHE (~/.cache/cove):
#   1. riscv64/sysroot-KEY: Debian's riscv64 -dev packages of debian/control's Build-Depends,
#      extracted by mmdebstrap (no emulation needed), from the image template's mirror;
#   2. riscv64/cove-KEY: cove cross-compiled against it (riscv64-linux-gnu-gcc, meson cross
#      file), with the shared libraries it needs (from the sysroot, libc's aside);
#   3. the Debian image (`cove image build debian`, cached) and the default guest
#      (guest/build.sh, cached);
# then a VM from the image with the build, the guest and the test shared at /mnt/cove/src,
# where (as root) /sys/fs/cgroup must be cgroup2fs with cpu and memory; the riscv64 cove's
# cgroup's values and lifecycle are checked on ephemeral runs (minutes), then cgroup.sh runs
# (the guest boots three times on a nested soft CPU: an hour or more). One line per failure on stderr; exit status 0 only if all passed.
# COVE_CGROUP_V2_KEEP=1 keeps the VM's home (its path is printed) for a look afterwards.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${COVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove}
COVE=${COVE:-$ROOT/build/cove}
SUITE=sid
MIRROR=$(sed -n 's/^mirror *= *//p' "$ROOT/images/debian.conf")
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# -dev packages of the libraries in debian/control's Build-Depends (and glib, which sid's
# libslirp-dev does not pull in but slirp.pc requires); cpio, which `cove create` runs to
# unpack the default guest's initrd and the Debian image lacks
PKGS="cpio libc6-dev libfdt-dev libjansson-dev libslirp-dev libglib2.0-dev libnbd-dev
 libcurl4-openssl-dev libzstd-dev libssl-dev libseccomp-dev libvncserver-dev"

say() { echo "cgroup-v2: $*" >&2; }
die() { echo "cgroup-v2: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, the Debian image, the VM's jail)"
for t in mmdebstrap riscv64-linux-gnu-gcc riscv64-linux-gnu-objdump meson ninja sha256sum; do
    command -v $t >/dev/null || die "$t is missing (run scripts/install-deps.sh)"
done
[ -x "$COVE" ] || die "no $COVE: build cove first (make all)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cove-cgroup-v2.XXXXXX")
runner=""
cleanup() {
    [ -n "$runner" ] && kill "$runner" 2>/dev/null && wait "$runner" 2>/dev/null
    if [ -n "${COVE_CGROUP_V2_KEEP:-}" ]; then
        say "kept $WORK"
    else
        rm -rf "${WORK:?}"
    fi
}
trap cleanup EXIT

# key FILE...|-: the first 16 hex digits of the sha256 of stdin
key() { sha256sum | cut -c1-16; }

# --- 1. the riscv64 sysroot ------------------------------------------------------------------
SYSKEY=$(printf '%s\n' "$SUITE" "$MIRROR" $PKGS "$(mmdebstrap --version)" | key)
SYSROOT=$CACHE/riscv64/sysroot-$SYSKEY
if [ ! -f "$SYSROOT/.done" ]; then
    say "[1/4] riscv64 sysroot: mmdebstrap --variant=extract of $(echo $PKGS | wc -w) packages ($SUITE)"
    mkdir -p "$CACHE/riscv64"
    tmp=$CACHE/riscv64/tmp.sysroot-$SYSKEY.$$
    rm -rf "${tmp:?}"
    # the mirror may serve a frozen snapshot past its Valid-Until (images/debian.conf)
    nice mmdebstrap --mode=root --arch=riscv64 --variant=extract \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="$(echo $PKGS | tr ' ' ,)" "$SUITE" "$tmp" "$MIRROR" >"$WORK/mmdebstrap.log" 2>&1 ||
        { rm -rf "${tmp:?}"; die "mmdebstrap failed: $(grep -E '^E: ' "$WORK/mmdebstrap.log" | head -n 1)"; }
    # merged /usr: libc.so's linker script names /lib/ld-linux-riscv64-lp64d.so.1
    [ -e "$tmp/lib" ] || ln -s usr/lib "$tmp/lib"
    touch "$tmp/.done"
    rm -rf "${SYSROOT:?}"
    mv "$tmp" "$SYSROOT"
fi

# --- 2. cove for riscv64 ----------------------------------------------------------------------
SRCKEY=$( (echo "$SYSKEY"; riscv64-linux-gnu-gcc --version | head -n 1
           cd "$ROOT" && git ls-files -co --exclude-standard -- meson.build meson_options.txt \
               src include tests/meson.build tests/unit tests/tools tests/fuzz |
               LC_ALL=C sort | xargs -r sha256sum) | key)
BUILD=$CACHE/riscv64/cove-$SRCKEY
if [ ! -f "$BUILD/.done" ]; then
    say "[2/4] cove for riscv64: cross-compiling (riscv64-linux-gnu-gcc, sysroot $SYSKEY)"
    # the sysroot's libc and crt files first: Debian's cross gcc would take its own
    # (libc6-dev-riscv64-cross, older than sid's, which the sysroot's libraries need)
    cat >"$WORK/cross.ini" <<EOF
[binaries]
c = 'riscv64-linux-gnu-gcc'
ar = 'riscv64-linux-gnu-ar'
strip = 'riscv64-linux-gnu-strip'
pkgconfig = 'pkg-config'
[properties]
sys_root = '$SYSROOT'
pkg_config_libdir = ['$SYSROOT/usr/lib/riscv64-linux-gnu/pkgconfig', '$SYSROOT/usr/share/pkgconfig']
[built-in options]
c_args = ['--sysroot=$SYSROOT']
c_link_args = ['--sysroot=$SYSROOT', '-B$SYSROOT/usr/lib/riscv64-linux-gnu', '-L$SYSROOT/usr/lib/riscv64-linux-gnu', '-Wl,-rpath-link,$SYSROOT/usr/lib/riscv64-linux-gnu']
[host_machine]
system = 'linux'
cpu_family = 'riscv64'
cpu = 'riscv64'
endian = 'little'
EOF
    (cd "$ROOT" && nice meson setup --cross-file "$WORK/cross.ini" -Dguest=false "$WORK/build" &&
        nice ninja -C "$WORK/build" cove) >"$WORK/build.log" 2>&1 ||
        die "the riscv64 build failed: $(grep -m1 -E 'error:|ERROR:|undefined reference' "$WORK/build.log") (log: $WORK/build.log, kept)"
    tmp=$CACHE/riscv64/tmp.cove-$SRCKEY.$$
    rm -rf "${tmp:?}"
    mkdir -p "$tmp/lib"
    cp "$WORK/build/cove" "$tmp/cove"
    # the libraries it needs, transitively, from the sysroot; libc's own come from the VM
    needed() { riscv64-linux-gnu-objdump -p "$1" | sed -n 's/^ *NEEDED *//p'; }
    todo=$(needed "$tmp/cove")
    while [ -n "$todo" ]; do
        next=""
        for lib in $todo; do
            case $lib in libc.so.*|libm.so.*|ld-linux-*|libpthread.so.*|libdl.so.*) continue ;; esac
            [ -e "$tmp/lib/$lib" ] && continue
            f=$SYSROOT/usr/lib/riscv64-linux-gnu/$lib
            [ -e "$f" ] || die "$lib (needed by cove) is not in the sysroot"
            cp -L "$f" "$tmp/lib/$lib"
            next="$next $(needed "$f")"
        done
        todo=$next
    done
    touch "$tmp/.done"
    rm -rf "${BUILD:?}"
    mv "$tmp" "$BUILD"
fi
riscv64-linux-gnu-objdump -f "$BUILD/cove" | grep -q elf64-littleriscv || die "$BUILD/cove is not a RISC-V binary"

# --- 3. the Debian image and the default guest -----------------------------------------------
say "[3/4] the Debian image and the default guest (cached builds)"
export COVE_IMAGES=${COVE_IMAGES:-$CACHE/images}
"$COVE" image build debian >/dev/null || die "cannot build the Debian image (cove image build debian)"
GUEST=$("$ROOT/guest/build.sh") || die "cannot build the default guest (guest/build.sh)"

SHARE=$WORK/share
mkdir -p "$SHARE/guest" "$SHARE/tests" "$SHARE/bin"
cp -r "$BUILD/cove" "$BUILD/lib" "$SHARE/"
cp "$SYSROOT/usr/bin/cpio" "$SHARE/bin/"
cp "$GUEST/Image" "$GUEST/initrd" "$SHARE/guest/"
cp "$ROOT/tests/integration/lib.sh" "$ROOT/tests/integration/cgroup.sh" "$SHARE/tests/"
# what runs in the VM, as root
cat >"$SHARE/check.sh" <<'EOF'
#!/bin/bash
S=/mnt/cove/src
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not cgroup v2 in the VM"
for c in cpu memory; do
    grep -qw $c /sys/fs/cgroup/cgroup.controllers || fail "no $c controller in the VM's root cgroup"
done
echo "ok: the VM's /sys/fs/cgroup is cgroup2fs with $(cat /sys/fs/cgroup/cgroup.controllers)"
# the VM's own libc; the libraries cove needs beside it from the build; the guest boots on
# the interpreter of a soft CPU that itself runs on cove's soft CPU: 20 times the waits
export LD_LIBRARY_PATH=$S/lib PATH=$S/bin:$PATH COVE=$S/cove COVE_GUEST_DIR=$S/guest COVE_TEST_SLOW=20
"$COVE" --version || fail "the riscv64 cove does not run"
# First, quickly (no guest boot needed): an ephemeral run's cgroup made with the values and
# the VMM in it, removed after the run; after a kill -9 of the VMM and its cleaner, removed
# at the next start.
startrun() {
    "$COVE" run --kernel $S/guest/Image --initrd $S/guest/initrd --cpus 1 --memory 128M \
        --cpu-limit 0.5 </dev/null >/dev/null 2>&1 &
    r=$!
    d=/sys/fs/cgroup/cove/run-$r
    for _ in $(seq 600); do grep -qx "0::/cove/run-$r" /proc/$r/cgroup 2>/dev/null && break; sleep 0.2; done
    grep -qx "0::/cove/run-$r" /proc/$r/cgroup || fail "the VMM $r is not in $d: $(cat /proc/$r/cgroup)"
    [ "$(cat $d/cpu.max)" = "50000 100000" ] || fail "$d/cpu.max: $(cat $d/cpu.max)"
    [ "$(cat $d/memory.max)" = $(( (128 << 20) + (256 << 20) + (128 << 20) / 8 )) ] ||
        fail "$d/memory.max: $(cat $d/memory.max)"
    echo "ok: $d: cpu.max $(cat $d/cpu.max), memory.max $(cat $d/memory.max), the VMM in it"
}
gone() { for _ in $(seq 600); do [ -d "$1" ] || return 0; sleep 0.2; done; fail "$1 left"; }
startrun
kill -TERM $r; wait $r
gone $d
echo "ok: $d removed after the run"
startrun
cleaner=$(ps -o pid= -o comm= --ppid $r | awk '$2 == "cove-cgroup" {print $1}')
[ -n "$cleaner" ] || fail "no cove-cgroup cleaner under $r"
old=$d
kill -9 $cleaner $r; wait $r 2>/dev/null
sleep 2
[ -d $old ] || fail "$old gone already: the check shows nothing"
startrun
gone $old
echo "ok: $old (kill -9 of the VMM and its cleaner) removed at the next start"
kill -TERM $r; wait $r
gone $d
# then cove's own test, which boots the guest three times (the slow part)
bash "$S/tests/cgroup.sh"
EOF
chmod +x "$SHARE/check.sh"

# --- 4. the VM --------------------------------------------------------------------------------
say "[4/4] a Debian VM with the riscv64 cove: tests/integration/cgroup.sh in it (slow)"
export COVE_HOME=$WORK/home HOME=$WORK/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C cove-cgroup-v2 -f "$HOME/.ssh/id_ed25519" || die "ssh-keygen"
"$COVE" create v2 --from debian --cpus 2 --memory 2G --disk-size 6G >/dev/null ||
    die "cove create --from debian"
"$COVE" run v2 --no-console --dir "src:$SHARE:ro" >"$WORK/run.out" 2>&1 &
runner=$!
up=""
for _ in $(seq 450); do
    "$COVE" exec v2 --timeout 10 -- true 2>/dev/null && { up=1; break; }
    kill -0 $runner 2>/dev/null || break
    sleep 2
done
[ -n "$up" ] || die "the Debian VM's agent never answered (console: $COVE_HOME/vms/v2/run/console.log)"
# the image's cove-shares.service mounts it, but only once cloud-init's first boot is over
"$COVE" exec v2 -- sh -c 'mountpoint -q /mnt/cove/src ||
    { mkdir -p /mnt/cove/src && mount -t virtiofs src /mnt/cove/src; }' ||
    die "cannot mount the shared directory in the VM"
"$COVE" exec v2 -- bash /mnt/cove/src/check.sh
rc=$?
"$COVE" stop v2 --timeout 120 >/dev/null 2>&1 || kill $runner 2>/dev/null
wait $runner 2>/dev/null
runner=""
case $rc in
    0) say "PASS: cgroup.sh passed on cgroup v2 (riscv64 cove in a Debian $SUITE VM)" ;;
    77) die "cgroup.sh skipped in the VM: no usable cgroup v2 there" ;;
    *) die "cgroup.sh failed in the VM (exit $rc)" ;;
esac
