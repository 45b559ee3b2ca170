#!/bin/bash
# A VM that boots as hardware boots, from an imported disk: a GPT disk image made here
# without root or loop devices (sfdisk on a file, mke2fs -d at the partition's offset)
# whose ext4 partition holds the default guest's kernel and initrd and an
# extlinux/extlinux.conf; converted to qcow2 by qemu-img; `cove create --from-disk`; then
# `cove run v -- CMD` goes OpenSBI -> U-Boot (finds the virtio disk, reads extlinux.conf)
# -> Linux -> the agent. Also raw and cdisk imports, --disk-size growing, clone/delete,
# --boot, and the bad inputs: one line, exit 1, no bundle left.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home
unset COVE_OPENSBI COVE_UBOOT
cove() { "$COVE" "$@"; }
FW=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
UBOOT=/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin
for f in $FW $UBOOT; do [ -f $f ] || { echo "skip: no $f (opensbi, u-boot-qemu)"; exit 77; }; done
for t in sfdisk mke2fs qemu-img; do
    command -v $t >/dev/null || { echo "skip: no $t"; exit 77; }
done

# bad PATTERN -- ARGS: the command fails (exit 1) with exactly one line matching PATTERN.
bad() {
    local pattern=$1; shift 2
    timeout 60 "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq 1 ] || { cat "$TMP/err"; fail "cove $*: exit status $rc, not 1"; }
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "cove $*: not one line on stderr"; }
    grep -qiE -- "$pattern" "$TMP/err" || { cat "$TMP/err"; fail "cove $*: no '$pattern'"; }
    echo "ok: cove $*: $(cat "$TMP/err")"
}

# --- the disk image: GPT, one ext4 partition from 1 MiB -----------------------------------
mkdir -p "$TMP/root/boot" "$TMP/root/extlinux"
cp "$KERNEL" "$TMP/root/boot/Image"
cp "$INITRD" "$TMP/root/boot/initrd"
cat >"$TMP/root/extlinux/extlinux.conf" <<'EOF'
default cove
timeout 0
label cove
    kernel /boot/Image
    initrd /boot/initrd
    append console=ttyS0 cove.from=extlinux
EOF
raw=$TMP/disk.raw
truncate -s 96M "$raw"
printf 'label: gpt\nstart=2048, type=linux, name=root, attrs=LegacyBIOSBootable\n' |
    sfdisk -q "$raw" || fail "sfdisk"
sectors=$(sfdisk -d "$raw" | sed -n 's/^.*1 : start= *2048, size= *\([0-9]*\).*/\1/p')
[ -n "$sectors" ] || { sfdisk -d "$raw"; fail "no partition 1 at sector 2048"; }
mke2fs -q -t ext4 -d "$TMP/root" -E offset=$((2048 * 512)) "$raw" $((sectors / 2))k ||
    fail "mke2fs at the partition's offset"
sfdisk --verify "$raw" >/dev/null || fail "the file system overwrote the GPT"
qemu-img convert -f raw -O qcow2 "$raw" "$TMP/disk.qcow2" || fail "qemu-img convert"

# --- qcow2 import, firmware boot, cove run -- CMD ------------------------------------------
cove create v --from-disk "$TMP/disk.qcow2" >/dev/null || fail "create --from-disk qcow2"
b=$COVE_HOME/vms/v
cove get v --format json >"$TMP/v.json" || fail "get v"
python3 - "$TMP/v.json" <<'EOF' || fail "config of an imported VM"
import json, sys
d = json.load(open(sys.argv[1]))
boot = d["config"]["boot"]
assert boot == {"firmware": "firmware", "kernel": "u-boot"}, boot
assert d["disk_size"] == 96 << 20, d["disk_size"]
EOF
cmp -s "$b/firmware" $FW && cmp -s "$b/u-boot" $UBOOT || fail "firmware files are not copies"
[ "$(stat -c %a "$b/firmware") $(stat -c %a "$b/u-boot") $(stat -c %a "$b/disk.img")" = \
  "400 400 600" ] || fail "modes: $(stat -c '%n %a' "$b"/*)"
echo "ok: create --from-disk qcow2: firmware + u-boot in the bundle"

out=$(timeout 300 "$COVE" run v -- cat /proc/cmdline </dev/null 2>"$TMP/run.err")
rc=$?
log=$b/run/console.log
[ $rc -eq 0 ] || { cat "$TMP/run.err"; tail -n 40 "$log"; fail "run v -- CMD: exit $rc"; }
[[ "$out" == *cove.from=extlinux* ]] || { tail -n 40 "$log"; fail "not booted from extlinux.conf: '$out'"; }
expect_in "$log" 'OpenSBI v'
expect_in "$log" 'U-Boot 20'
expect_in "$log" 'VirtIO Block Device'
expect_in "$log" 'Found /extlinux/extlinux.conf'
echo "ok: OpenSBI -> U-Boot -> extlinux -> Linux -> agent"

# a normal bundle: clone shares the boot files, delete removes it
cove clone v v2 >/dev/null || fail "clone"
[ "$(stat -c %i "$b/u-boot")" = "$(stat -c %i "$COVE_HOME/vms/v2/u-boot")" ] &&
    [ "$(stat -c %i "$b/firmware")" = "$(stat -c %i "$COVE_HOME/vms/v2/firmware")" ] ||
    fail "clone did not hard-link the firmware files"
cove delete v2 >/dev/null || fail "delete clone"
echo "ok: clone and delete"

# --- raw and cdisk imports, --disk-size grows ------------------------------------------------
cove create r --from-disk "$raw" --disk-size 200M >/dev/null || fail "create --from-disk raw"
[ "$(cove get r --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["disk_size"])')" = \
  $((200 << 20)) ] || fail "raw import not grown to 200M"
cmp -n $((96 << 20)) "$raw" "$COVE_HOME/vms/r/disk.img" || fail "raw import differs"
"$COVE" disk convert "$raw" "$TMP/disk.cdisk" >/dev/null || fail "disk convert"
cove create c --from-disk "$TMP/disk.cdisk" >/dev/null || fail "create --from-disk cdisk"
"$COVE" disk convert "$COVE_HOME/vms/c/disk.img" "$TMP/back.raw" --to raw >/dev/null &&
    cmp "$raw" "$TMP/back.raw" || fail "cdisk import differs"
# --boot direct with a kernel of one's own boots the imported disk without firmware
cove create d --from-disk "$raw" --kernel "$KERNEL" --initrd "$INITRD" >/dev/null ||
    fail "create --from-disk --kernel"
cove get d --format json | grep -q '"firmware"' && fail "--from-disk --kernel used firmware"
echo "ok: raw, cdisk, grown, direct"

# --- bad input: one line, exit 1, nothing left ---------------------------------------------
bad 'disk image /nonexistent: No such file' -- create x --from-disk /nonexistent
bad "disk format 'vmdk' is not known" -- create x --from-disk "$raw" --format vmdk
printf 'QFI\xfb\0\0\0\x63' >"$TMP/bad.qcow2"
head -c 4096 /dev/zero >>"$TMP/bad.qcow2"
bad 'qemu-img.*qcow2 version' -- create x --from-disk "$TMP/bad.qcow2"
bad 'is not in qcow2 format' -- create x --from-disk "$raw" --format qcow2
bad 'not a cdisk image' -- create x --from-disk "$raw" --format cdisk
bad 'disk size 64 MiB is smaller than the image .* \(96 MiB\)' -- \
    create x --from-disk "$TMP/disk.qcow2" --disk-size 64M
bad 'takes no --kernel' -- create x --from-disk "$raw" --boot firmware --kernel "$KERNEL"
bad 'needs a disk with a boot loader' -- create x --boot firmware
bad 'direct boot needs a kernel' -- create x --from-disk "$raw" --boot direct
bad 'drop --append' -- create x --from-disk "$raw" --append quiet
COVE_UBOOT=/nonexistent bad "U-Boot /nonexistent: .*install Debian's u-boot-qemu" -- \
    create x --from-disk "$raw"
COVE_OPENSBI=/nonexistent bad "OpenSBI firmware /nonexistent: .*install Debian's opensbi" -- \
    create x --from-disk "$raw"
# killed while qemu-img converts: nothing left, qemu-img gone with it
head -c 256M /dev/urandom >"$TMP/big.raw"
qemu-img convert -f raw -O qcow2 "$TMP/big.raw" "$TMP/big.qcow2" || fail "qemu-img big"
rm -f "$TMP/big.raw"
"$COVE" create k --from-disk "$TMP/big.qcow2" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do child=$(pgrep -P $pid qemu-img) && break; sleep 0.02; done
if [ -n "$child" ]; then
    kill -9 $pid
    wait $pid 2>/dev/null
    for _ in $(seq 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.05; done
    ps -o stat= -p "$child" 2>/dev/null | grep -qv Z && fail "qemu-img outlived a killed create"
    echo "ok: killed during the qcow2 conversion"
else
    wait $pid
    cove delete k >/dev/null || fail "delete k"
    echo "note: the import ended before it could be killed"
fi
rm -f "$TMP/big.qcow2"
[ "$(cove list | awk 'NR > 1 {print $1}' | tr '\n' ' ')" = "c d r v " ] ||
    { cove list; fail "a failed create left a VM"; }
[ -z "$(ls -A "$COVE_HOME/vms" | grep -v -x -e c -e d -e r -e v)" ] ||
    { ls -A "$COVE_HOME/vms"; fail "a failed create left files"; }
echo "ok: bad input"
echo "firmware-boot: all passed"
