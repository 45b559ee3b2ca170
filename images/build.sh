#!/bin/bash
# Builds a distribution image from a template (images/NAME.conf) and prints the directory that
# holds it on stdout -- nothing else goes to stdout. Progress goes to stderr ("image: ..."),
# the whole log to build.log in the image (or, when the build fails, to .failed-NAME-SUITE.log
# in the store, which is all a failed build leaves).
#
#   images/build.sh [--update] [--suite SUITE] NAME
#
# Images are cached in the store, keyed by their inputs (the template, the suite, this script,
# images/NAME/, the agent's sources): $COVE_IMAGES, else $COVE_HOME/images, else ~/.cove/images:
#   STORE/NAME-SUITE/{disk.img,kernel,initrd,image.json,inputs,build.log}
# An entry whose inputs changed is rebuilt; --update rebuilds from the archive as it is now.
# A build runs in STORE/.tmp-PID-* and is renamed into place at the end: an interrupted
# build leaves nothing behind. Needs root (mmdebstrap --mode=root) and binfmt for riscv64
# (qemu-user-static), as Debian's own cross-bootstrapping does.
set -euo pipefail
# All of it is one function, read whole before it runs: a build takes many minutes, and bash
# reads a script as it goes, so a builder replaced meanwhile (an upgrade, an edit) must not
# change what this one does halfway through.
main() {

IMAGES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$IMAGES/.." && pwd)
AGENT_SRC=$SRC/guest/agent

say() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

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
[ $# -eq 1 ] || die "usage: build.sh [--update] [--suite SUITE] NAME"
NAME=$1
case $NAME in
    *[!a-z0-9-]* | "" | -*) die "'$NAME' is not a template name" ;;
esac
TEMPLATE=$IMAGES/$NAME.conf
[ -f "$TEMPLATE" ] ||
    die "no template '$NAME' (templates: $(cd "$IMAGES" && ls *.conf 2>/dev/null | sed 's/\.conf$//' | tr '\n' ' ' | sed 's/ $//'))"

# --- the template: "key = value", continuation lines start with blanks ----------------------
trim() { local v=$1; v=${v#"${v%%[![:space:]]*}"}; v=${v%"${v##*[![:space:]]}"}; printf '%s' "$v"; }
declare -A T
key=""
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
for k in suite mirror components check_valid_until variant packages disk_size esp_size boot cmdline; do
    [ -n "${T[$k]:-}" ] || die "$TEMPLATE: no '$k'"
done
[ -n "$suite" ] || suite=${T[suite]}
case $suite in *[!a-z0-9.-]* | "") die "'$suite' is not a suite name" ;; esac

STORE=${COVE_IMAGES:-${COVE_HOME:-$HOME/.cove}/images}
OUT=$STORE/$NAME-$suite

inputs() {
    echo "template $NAME suite $suite"
    cat "$TEMPLATE"
    (cd "$SRC" && find images/build.sh "images/$NAME" guest/agent -type f ! -name '*.md' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum)
}
KEY=$(inputs | sha256sum | cut -c1-16)

if [ $update = 0 ] && [ -f "$OUT/image.json" ] && grep -q "\"key\": \"$KEY\"" "$OUT/image.json"; then
    echo "$OUT"
    exit 0
fi

# --- what the build needs ---------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "building an image needs root (mmdebstrap, chroot); run it with sudo"
for t in mmdebstrap mkfs.ext4 mkfs.vfat mcopy mmd sfdisk flock; do
    command -v $t >/dev/null || die "'$t' not found (run scripts/install-deps.sh)"
done
if ! [ -e /proc/sys/fs/binfmt_misc/qemu-riscv64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-riscv64 2>/dev/null || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-riscv64 ] ||
        die "riscv64 programs cannot run here: install qemu-user-static and binfmt-support (scripts/install-deps.sh)"
fi

mkdir -p "$STORE"
chmod 0700 "$STORE"
exec 9>"$STORE/.lock-$NAME-$suite"
flock 9
# Another build may have finished while this one waited.
if [ $update = 0 ] && [ -f "$OUT/image.json" ] && grep -q "\"key\": \"$KEY\"" "$OUT/image.json"; then
    echo "$OUT"
    exit 0
fi
# Every mount below DIR (mmdebstrap's proc, sys, dev/pts, dev/shm in the new root), deepest
# first; then 0 only when none is left, so that nothing removes files through a mount.
unmount_under() {
    local m
    for m in $(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    ! awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts
}
remove_work() {
    [ -n "$1" ] && [ -d "$1" ] || return 0
    if unmount_under "$1"; then
        rm -rf "$1"
    else
        say "left $1: something is still mounted below it"
    fi
}
# Temporaries of builds whose process is gone.
for d in "$STORE"/.tmp-*; do
    [ -e "$d" ] || continue
    pid=${d##*/.tmp-}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || remove_work "$d"
done

WORK=$STORE/.tmp-$$-$NAME-$suite
LOG=$STORE/.failed-$NAME-$suite.log
cleanup() {
    local rc=$?
    if [ -d "$WORK" ]; then
        [ -f "$WORK/build.log" ] && cp "$WORK/build.log" "$LOG"
        remove_work "$WORK"
        [ $rc = 0 ] || say "failed; the log is $LOG"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f "$LOG"
mkdir -p "$WORK/out"
BLOG=$WORK/build.log
inputs >"$WORK/inputs"

step() { say "$*"; echo "=== $*" >>"$BLOG"; }

# --- 1. the agent package -----------------------------------------------------------------------
step "[1/4] the cove agent package"
mkdir -p "$WORK/debs"
"$IMAGES/$NAME/agent/build-deb.sh" "$WORK/debs" >>"$BLOG" 2>&1 || die "building the agent package failed (log: $LOG)"
DEBS=$(cd "$WORK/debs" && ls *.deb)

# --- 2. the root file system --------------------------------------------------------------------
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
ESP_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
ESP_UUID=$(echo "${ESP_ID:0:4}-${ESP_ID:4:4}" | tr a-f A-F)
export COVE_ROOT_UUID=$ROOT_UUID COVE_ESP_UUID=$ESP_UUID COVE_CMDLINE="${T[cmdline]}"
export COVE_IMAGE_NAME=$NAME COVE_SUITE=$suite COVE_DEBS="$DEBS"

aptopts=()
[ "${T[check_valid_until]}" = false ] && aptopts+=(--aptopt='Acquire::Check-Valid-Until "false"')
step "[2/4] installing Debian $suite (riscv64) with mmdebstrap: $(echo ${T[packages]} | wc -w) packages and their dependencies"
mmdebstrap --mode=root --arch=riscv64 --variant="${T[variant]}" --dpkgopt=force-unsafe-io \
    --components="$(echo ${T[components]} | tr ' ' ',')" "${aptopts[@]}" \
    --include="$(echo ${T[packages]} | tr ' ' ',')" \
    --setup-hook="mkdir -p \"\$1/etc/initramfs-tools/conf.d\" \"\$1/usr/share/initramfs-tools/modules.d\"" \
    --setup-hook="copy-in $IMAGES/$NAME/initramfs.conf /etc/initramfs-tools/conf.d" \
    --setup-hook="copy-in $IMAGES/$NAME/initramfs.modules /usr/share/initramfs-tools/modules.d" \
    --customize-hook="mkdir -p \"\$1/tmp/cove-debs\"" \
    --customize-hook="copy-in $(for d in $DEBS; do printf '%s ' "$WORK/debs/$d"; done)/tmp/cove-debs" \
    --customize-hook="$IMAGES/$NAME/customize.sh \"\$1\"" \
    "$suite" "$WORK/root" "${T[mirror]}" >>"$BLOG" 2>&1 ||
    die "mmdebstrap failed: $(grep -E '^E: ' "$BLOG" | head -n 1) (log: $LOG)"

KFILE=$(cat "$WORK/root/boot/.cove-kernel-version")   # vmlinux-VERSION
KVER=${KFILE#vmlinu?-}
ARCHIVE_DATE=$(cat "$WORK/root/boot/.cove-archive-date" 2>/dev/null || true)
rm -f "$WORK/root/boot/.cove-kernel-version" "$WORK/root/boot/.cove-archive-date"
cp "$WORK/root/boot/$KFILE" "$WORK/out/kernel"
cp "$WORK/root/boot/initrd.img-$KVER" "$WORK/out/initrd"

# --- 3. the disk: GPT, an EFI system partition, an ext4 root ---------------------------------
step "[3/4] the disk: GPT, EFI system partition (GRUB), ext4 root"
to_mib() {
    local v=$1 n
    n=${v%[KMGTkmgt]}
    case $v in
    *[Gg]) echo $((n * 1024)) ;; *[Mm]) echo $n ;; *[Tt]) echo $((n * 1024 * 1024)) ;;
    *) die "$TEMPLATE: size '$v' must end in M or G" ;;
    esac
}
DISK_MIB=$(to_mib "${T[disk_size]}")
ESP_MIB=$(to_mib "${T[esp_size]}")
ROOT_MIB=$((DISK_MIB - ESP_MIB - 2))
used=$(du -sm --exclude=./proc --exclude=./sys --exclude=./dev "$WORK/root" | cut -f1)
[ "$ROOT_MIB" -gt $((used + used / 4)) ] ||
    die "$TEMPLATE: disk_size ${T[disk_size]} is too small for ${used} MiB of files"
DISK=$WORK/out/disk.img
truncate -s "${DISK_MIB}M" "$DISK"
sfdisk -q "$DISK" >>"$BLOG" 2>&1 <<SFDISK || die "sfdisk failed (log: $LOG)"
label: gpt
start=1MiB, size=${ESP_MIB}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
start=$((ESP_MIB + 1))MiB, size=${ROOT_MIB}MiB, type=72EC70A6-CF74-40E6-BD49-4BDA08E8F224, uuid=$(cat /proc/sys/kernel/random/uuid), name="root"
SFDISK
# The ESP: FAT with /EFI/BOOT/BOOTRISCV64.EFI (GRUB, the removable-media path U-Boot looks for)
ESP=$WORK/esp.img
mkfs.vfat -C -F 32 -n EFI -i "$ESP_ID" "$ESP" $((ESP_MIB * 1024)) >>"$BLOG" 2>&1
(cd "$WORK/root/boot/efi" && find . -mindepth 1 -type d | sort | while read -r d; do
    mmd -i "$ESP" "::${d#./}"; done
 find . -type f | sort | while read -r f; do mcopy -i "$ESP" "$f" "::${f#./}"; done) >>"$BLOG" 2>&1 ||
    die "filling the EFI system partition failed (log: $LOG)"
dd if="$ESP" of="$DISK" bs=1M seek=1 conv=notrunc status=none
rm -f "$ESP"
# The root: mke2fs writes the tree straight into the partition (no loop device, no mount).
unmount_under "$WORK/root" || die "cannot unmount what mmdebstrap left mounted in the new root"
rm -rf "$WORK/root/boot/efi"/* "$WORK/root/tmp/cove-debs"
mkfs.ext4 -q -F -L root -U "$ROOT_UUID" -d "$WORK/root" -E offset=$(((ESP_MIB + 1) * 1048576)) \
    "$DISK" "${ROOT_MIB}M" >>"$BLOG" 2>&1 || die "mkfs.ext4 failed (log: $LOG)"
rm -rf "$WORK/root"

# --- 4. the description ------------------------------------------------------------------------
step "[4/4] done"
cat >"$WORK/out/image.json" <<JSON
{
  "name": "$NAME",
  "suite": "$suite",
  "template_suite": $([ "$suite" = "${T[suite]}" ] && echo true || echo false),
  "key": "$KEY",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "archive": "${T[mirror]} $suite, $ARCHIVE_DATE",
  "kernel": "$KVER",
  "disk_size": $((DISK_MIB * 1048576)),
  "root_uuid": "$ROOT_UUID",
  "boot": "${T[boot]}",
  "cmdline": "root=UUID=$ROOT_UUID ${T[cmdline]}",
  "user_mode": "cloud-init"
}
JSON
cp "$WORK/inputs" "$WORK/out/inputs"
cp "$BLOG" "$WORK/out/build.log"
chmod 0400 "$DISK"
# Into place: an old entry is renamed away first, then removed.
if [ -e "$OUT" ]; then
    mv "$OUT" "$WORK/old"
fi
mv "$WORK/out" "$OUT"
sync -f "$STORE" 2>/dev/null || true
remove_work "$WORK"
echo "$OUT"
}
main "$@"
