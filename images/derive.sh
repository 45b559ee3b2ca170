#!/bin/bash
# The image builder `cove image build` runs: a template with a `base` (images/desktop.conf) is
# derived here from that base image; any other template goes to images/build.sh (mmdebstrap)
# unchanged. Prints the image's directory on stdout and nothing else; progress on stderr
# ("image: ..."), the log in build.log of the image (or .failed-NAME-SUITE.log in the store).
#
#   images/derive.sh [--update] [--suite SUITE] NAME
#
# A derived image: the base is built (or found) by images/build.sh; a copy of its disk is
# grown to the template's disk_size, its root file system mounted (a loop device) and, in a
# chroot on it (riscv64 programs through qemu-user's binfmt, as images/build.sh's mmdebstrap
# runs them), the template's `packages` are installed with apt-get and images/NAME/setup.sh
# runs as root. Nothing boots: the base's first boot (cloud-init) and apt under the soft CPU
# took most of an hour. The disk keeps the base's partitions and UUIDs (GRUB finds the root
# as in the base); kernel and initrd are the disk's own. Keyed by the template, this script,
# images/NAME/ and the base's key, so a new base makes a new derived image. Needs root and
# binfmt for riscv64, as the base's build does.
set -euo pipefail
main() {

IMAGES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$IMAGES/.." && pwd)
say() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

args=("$@")
update=0 suite=""
while [ $# -gt 0 ]; do
    case $1 in
    --update) update=1; shift ;;
    --suite) [ $# -ge 2 ] || die "--suite needs a value"; suite=$2; shift 2 ;;
    --suite=*) suite=${1#--suite=}; shift ;;
    -*) die "unknown option $1" ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || die "usage: derive.sh [--update] [--suite SUITE] NAME"
NAME=$1
case $NAME in *[!a-z0-9-]* | "" | -*) die "'$NAME' is not a template name" ;; esac
TEMPLATE=$IMAGES/$NAME.conf
# Not a derived template (or none at all): the distribution builder says what is wrong.
grep -q '^base[[:space:]]*=' "$TEMPLATE" 2>/dev/null || exec "$IMAGES/build.sh" "${args[@]}"

# --- the template: "key = value", continuation lines start with blanks (as build.sh reads it)
trim() { local v=$1; v=${v#"${v%%[![:space:]]*}"}; v=${v%"${v##*[![:space:]]}"}; printf '%s' "$v"; }
declare -A T
local key="" line
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    '#'* | '') continue ;;
    [[:space:]]*)
        [ -n "$key" ] || die "$TEMPLATE: a continuation line before any key"
        T[$key]="${T[$key]} $(trim "$line")"
        continue ;;
    esac
    [[ $line == *=* ]] || die "$TEMPLATE: '$line' is not 'key = value'"
    key=$(trim "${line%%=*}")
    T[$key]=$(trim "${line#*=}")
done <"$TEMPLATE"
for k in base packages disk_size install_timeout; do
    [ -n "${T[$k]:-}" ] || die "$TEMPLATE: no '$k'"
done
BASE=${T[base]}
case $BASE in *[!a-z0-9-]* | "" | -*) die "$TEMPLATE: '$BASE' is not a template name" ;; esac
[ "$BASE" != "$NAME" ] || die "$TEMPLATE: an image cannot be its own base"
grep -q '^base[[:space:]]*=' "$IMAGES/$BASE.conf" 2>/dev/null &&
    die "$TEMPLATE: the base '$BASE' is derived itself; derive from a distribution template"
[ -x "$IMAGES/$NAME/setup.sh" ] || die "no $IMAGES/$NAME/setup.sh"
case ${T[disk_size]} in
[1-9]*[0-9][MG] | [1-9][MG]) ;;
*) die "$TEMPLATE: disk_size '${T[disk_size]}' must be a number of M or G" ;;
esac

# --- the base, built first when missing ---------------------------------------------------------
sargs=()
[ -n "$suite" ] && sargs=(--suite "$suite")
say "the base image '$BASE'"
BASE_DIR=$("$IMAGES/build.sh" "${sargs[@]}" "$BASE") || die "building the base image '$BASE' failed"
BASE_KEY=$(sed -n 's/^ *"key": "\([0-9a-f]*\)".*/\1/p' "$BASE_DIR/image.json")
suite=$(sed -n 's/^ *"suite": "\([a-z0-9.-]*\)".*/\1/p' "$BASE_DIR/image.json")
KVER=$(sed -n 's/^ *"kernel": "\([^"]*\)".*/\1/p' "$BASE_DIR/image.json")
[ -n "$BASE_KEY" ] && [ -n "$suite" ] && [ -n "$KVER" ] ||
    die "$BASE_DIR/image.json has no key, suite or kernel"

STORE=$(dirname "$BASE_DIR")
OUT=$STORE/$NAME-$suite
inputs() {
    echo "template $NAME base $BASE key $BASE_KEY suite $suite"
    cat "$TEMPLATE"
    (cd "$SRC" && find images/derive.sh "images/$NAME" -type f ! -name '*.md' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum)
}
KEY=$(inputs | sha256sum | cut -c1-16)
fresh() { [ $update = 0 ] && [ -f "$OUT/image.json" ] && grep -q "\"key\": \"$KEY\"" "$OUT/image.json"; }
if fresh; then
    echo "$OUT"
    exit 0
fi

# --- what the build needs ---------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "building a derived image needs root (a loop device, chroot); run it with sudo"
for t in losetup sfdisk e2fsck resize2fs chroot flock; do
    command -v $t >/dev/null || die "'$t' not found (run scripts/install-deps.sh)"
done
if ! [ -e /proc/sys/fs/binfmt_misc/qemu-riscv64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-riscv64 2>/dev/null || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-riscv64 ] ||
        die "riscv64 programs cannot run here: install qemu-user-static and binfmt-support (scripts/install-deps.sh)"
fi

# The mounts below live in a mount namespace of the build's own: a process that makes a
# namespace of its own meanwhile (a VM's jail, its helpers: docs/SECURITY.md) would keep a
# copy of them, and so the file system mounted, past the build's unmount.
if [ -z "${COVE_DERIVE_NS:-}" ]; then
    command -v unshare >/dev/null || die "'unshare' not found (util-linux)"
    COVE_DERIVE_NS=1 exec unshare --mount --propagation private "$IMAGES/derive.sh" "${args[@]}"
fi

exec 9>"$STORE/.lock-$NAME-$suite"
flock 9
if fresh; then
    echo "$OUT"
    exit 0
fi

WORK=$STORE/.tmp-$$-$NAME-$suite
LOG=$STORE/.failed-$NAME-$suite.log
BLOG=$WORK/build.log
ROOT=$WORK/root
loop=""
# Every mount below DIR, deepest first; then 0 only when none is left.
unmount_under() {
    local m
    for m in $(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    ! awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts
}
release() {
    local ok=0
    if [ -d "$ROOT" ]; then
        unmount_under "$ROOT" || ok=1
        if mountpoint -q "$ROOT"; then umount "$ROOT" 2>/dev/null || umount -l "$ROOT" || ok=1; fi
    fi
    [ -z "$loop" ] || { losetup -d "$loop" 2>/dev/null || ok=1; loop=""; }
    return $ok
}
cleanup() {
    local rc=$?
    if [ -d "$WORK" ]; then
        [ $rc = 0 ] || [ ! -f "$BLOG" ] || cp "$BLOG" "$LOG"
        if release; then
            rm -rf "${WORK:?}"
        else
            say "left $WORK: something is still mounted below it"
        fi
        [ $rc = 0 ] || say "failed; the log is $LOG"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f "$LOG"
mkdir -p "$WORK/out" "$ROOT"
inputs >"$WORK/inputs"
step() { say "$*"; echo "=== $(date -u +%H:%M:%S) $*" >>"$BLOG"; }
log() { "$@" >>"$BLOG" 2>&1; }

step "[1/4] the base's disk, grown to ${T[disk_size]}, its root mounted"
DISK=$WORK/out/disk.img
cp --sparse=always "$BASE_DIR/disk.img" "$DISK"
chmod 0600 "$DISK"
[ "$(stat -c %s "$DISK")" -le "$(numfmt --from=iec "${T[disk_size]}")" ] ||
    die "$TEMPLATE: disk_size ${T[disk_size]} is smaller than the base's disk"
truncate -s "${T[disk_size]}" "$DISK"
# the backup GPT to the new end, the root (the last partition) over all that follows it
log sfdisk --relocate gpt-bak-std "$DISK" || die "sfdisk failed (log: $LOG)"
echo ", +" | log sfdisk -q --no-reread --no-tell-kernel -N 2 "$DISK" || die "sfdisk failed (log: $LOG)"
start="" size=""
read -r start size < <(sfdisk -d "$DISK" | sed -n 's/^[^ ]*2 : start= *\([0-9]*\), size= *\([0-9]*\),.*/\1 \2/p') || true
[ -n "$start" ] && [ -n "$size" ] || die "the base's disk has no second partition (log: $LOG)"
loop=$(losetup --find --show --offset $((start * 512)) --sizelimit $((size * 512)) "$DISK") ||
    die "no loop device for the root file system (losetup failed)"
log e2fsck -fy "$loop" || [ $? -le 1 ] || die "e2fsck of the base's root failed (log: $LOG)"
log resize2fs "$loop" || die "resize2fs failed (log: $LOG)"
mount "$loop" "$ROOT" || die "cannot mount the root file system"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
# /run and /tmp as on a booted system; name resolution through the host's
mount -t tmpfs -o mode=0755 tmpfs "$ROOT/run"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
resolv=$(readlink "$ROOT/etc/resolv.conf" || true)
case $resolv in
*/run/*) mkdir -p "$(dirname "$ROOT/run/${resolv#*/run/}")" &&
         cp -L /etc/resolv.conf "$ROOT/run/${resolv#*/run/}" ;;
"") cp "$ROOT/etc/resolv.conf" "$WORK/resolv.conf" 2>/dev/null || :
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" ;;
*) die "the base's /etc/resolv.conf points to $resolv, not into /run" ;;
esac
# no service starts in the chroot; dpkg does not fsync each file it unpacks (as mmdebstrap's
# bootstrap: the file system is unmounted and checked at the end, and a failed build is
# thrown away)
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/99cove-build"
in_root() { log env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }

# (no Translation-* indices: the lists are removed at the end; dpkg's first start is noted in
# the log)
step "[2/4] installing $(echo ${T[packages]} | wc -w) packages and their dependencies with apt (in a chroot)"
timeout "${T[install_timeout]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive chroot "$ROOT" sh -c \
    "apt-get -o Acquire::Languages=none update &&
     apt-get install -y --no-install-recommends ${T[packages]} \
         -o DPkg::Pre-Invoke::='date -u +\"=== %H:%M:%S downloaded; dpkg unpacks and configures\"'" \
    >>"$BLOG" 2>&1 ||
    die "apt-get install failed: $(grep -E '^E: ' "$BLOG" | head -n 1) (log: $LOG)"

step "[3/4] images/$NAME/setup.sh"
install -m 0700 "$IMAGES/$NAME/setup.sh" "$ROOT/root/cove-setup.sh"
in_root /root/cove-setup.sh || die "images/$NAME/setup.sh failed (log: $LOG)"
rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/dpkg/dpkg.cfg.d/99cove-build" "$ROOT/root/cove-setup.sh"
[ ! -f "$WORK/resolv.conf" ] || cp "$WORK/resolv.conf" "$ROOT/etc/resolv.conf"
cp "$ROOT/boot/vmlinux-$KVER" "$WORK/out/kernel" 2>/dev/null ||
    cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/out/kernel" || die "no kernel $KVER in the image"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/out/initrd" || die "no initrd of $KVER in the image"
unmount_under "$ROOT" && umount "$ROOT" || die "cannot unmount the image's root file system"
log e2fsck -fy "$loop" || [ $? -le 1 ] || die "e2fsck of the new root failed (log: $LOG)"
losetup -d "$loop" || die "cannot detach $loop"
loop=""

step "[4/4] done"
disk_bytes=$(stat -c %s "$DISK")
sed -e "s/^\( *\"name\": \)\"[^\"]*\"/\1\"$NAME\"/" \
    -e "s/^\( *\"key\": \)\"[^\"]*\"/\1\"$KEY\"/" \
    -e "s/^\( *\"built\": \)\"[^\"]*\"/\1\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"/" \
    -e "s/^\( *\"disk_size\": \)[0-9]*/\1$disk_bytes/" \
    "$BASE_DIR/image.json" >"$WORK/out/image.json"
cp "$WORK/inputs" "$WORK/out/inputs"
cp "$BLOG" "$WORK/out/build.log"
chmod 0400 "$DISK"
[ -e "$OUT" ] && mv "$OUT" "$WORK/old"
mv "$WORK/out" "$OUT"
sync -f "$STORE" 2>/dev/null || true
echo "$OUT"
}
main "$@"
