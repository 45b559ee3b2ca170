#!/bin/bash
# NVMe on the PCIe host bridge against the real default guest:
#  - `--disk PATH,if=nvme`: the guest finds the controller on its PCI bus (00:01.0, QEMU's
#    NVMe IDs, class 010802) and the disk as /dev/nvme0n1 with the image's size;
#  - data: 4 MiB written with dd (O_DIRECT, 256 KiB requests: PRP lists) and 4 KiB writes at
#    scattered offsets, read back in the guest (same sha256) and found in the host file;
#  - three if=nvme disks: one controller, namespaces /dev/nvme0n1, nvme0n2 with their
#    images' sizes (1 MiB on each reads back and is in its own image file) and a read-only
#    nvme0n3 beside them (writes refused, image unchanged);
#  - a hostile driver beside Linux's (bogus doorbells, absent functions, no BAR);
#  - a controller reset (CC.EN 1 -> 0, Linux's reset_controller) in the middle of writes;
#  - a flushed write (conv=fsync) is in the host file when the VMM is killed right after;
#  - NVMe and virtio-blk disks together: /dev/vda and /dev/nvme0n1, each its own contents;
#  - a read-only NVMe disk: writes fail, the image is unchanged;
#  - the default guest boots from NVMe: a bundle's disk with "interface": "nvme" in
#    config.json and cove.root=/dev/nvme0n1 (cove get shows it, a file survives a reboot);
#  - a bad interface in --disk: one line, non-zero exit.
. "$(dirname "$0")/lib.sh"
need_guest

one_line() { echo "$1" | tr '\n' ' ' | tr -s ' '; }

# boot NAME COMMAND [cove run options...]: as blk.sh's.
boot() {
    local name=$1 cmd
    cmd=$(one_line "$2")
    shift 2
    timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" "$@" \
        --append "quiet cove.exec=\"$cmd\"" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    tr -d '\r' <"$TMP/$name.out" >"$TMP/$name.log"
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/$name.log" "$TMP/$name.err"; fail "$name: cove exited $rc"; }
    expect_in "$TMP/$name.log" '^cove-exec-status: 0$'
}
guest_sum() { sed -n "s|^\([0-9a-f]\{64\}\)  $2\$|\1|p" "$1" | tail -n 1; }

BG=()
cleanup() { local p; for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

IMG=$TMP/nvme.img
truncate -s 64M "$IMG"

# --- discovery and data ----------------------------------------------------------------------
boot data 'd=/sys/bus/pci/devices/0000:00:01.0;
    echo pci=$(cat $d/vendor):$(cat $d/device):$(cat $d/class);
    echo devices=$(ls /sys/bus/pci/devices | wc -l);
    echo size=$(cat /sys/block/nvme0n1/size);
    head -c 4194304 /dev/urandom >/tmp/r && sha256sum /tmp/r &&
    dd if=/tmp/r of=/dev/nvme0n1 bs=256k oflag=direct 2>/dev/null &&
    dd if=/dev/nvme0n1 of=/tmp/back bs=256k count=16 iflag=direct 2>/dev/null &&
    sha256sum /tmp/back &&
    dd if=/tmp/r bs=4096 skip=101 count=923 2>/dev/null | sha256sum | sed s/-/mid/ &&
    for i in 3 100 2047 9999 16383; do
        head -c 4096 /dev/urandom >/tmp/p$i &&
        dd if=/tmp/p$i of=/dev/nvme0n1 bs=4096 seek=$i oflag=direct 2>/dev/null &&
        dd if=/dev/nvme0n1 of=/tmp/q$i bs=4096 skip=$i count=1 iflag=direct 2>/dev/null &&
        cmp /tmp/p$i /tmp/q$i && sha256sum /tmp/p$i || exit 1;
    done; echo random4k=ok' --disk "$IMG,if=nvme"
expect_in "$TMP/data.log" '^pci=0x1b36:0x0010:0x010802$'
expect_in "$TMP/data.log" '^devices=1$'
expect_in "$TMP/data.log" '^size=131072$'
expect_in "$TMP/data.log" '^random4k=ok$'
sum=$(guest_sum "$TMP/data.log" /tmp/r)
[ -n "$sum" ] && [ "$(guest_sum "$TMP/data.log" /tmp/back)" = "$sum" ] ||
    fail "the guest read back other data than it wrote"
# Blocks 0..1023 hold the 4 MiB (3 and 100 overwritten since), the others 4 KiB pages.
for i in 2047 9999 16383; do
    [ "$(dd if="$IMG" bs=4096 skip=$i count=1 2>/dev/null | sha256sum | cut -c1-64)" = \
      "$(guest_sum "$TMP/data.log" /tmp/p$i)" ] || fail "4 KiB block $i: not in the host file"
done
[ "$(dd if="$IMG" bs=4096 skip=101 count=923 2>/dev/null | sha256sum | cut -c1-64)" = \
  "$(guest_sum "$TMP/data.log" mid)" ] || fail "the 4 MiB write is not in the host file"
echo "ok: /dev/nvme0n1 on 00:01.0: 4 MiB and scattered 4 KiB blocks round trip, in the host file"

# --- three NVMe disks: namespaces 1..3 of one controller, each its own size, data, ro flag -
N1=$TMP/ns1.img N2=$TMP/ns2.img N3=$TMP/ns3.img
truncate -s 8M "$N1"
truncate -s 12M "$N2"
truncate -s 4M "$N3"
boot twons 'echo devices=$(ls /sys/bus/pci/devices | wc -l) ctrls=$(ls /sys/class/nvme | wc -l);
    echo sizes=$(cat /sys/block/nvme0n1/size),$(cat /sys/block/nvme0n2/size);
    echo ro=$(cat /sys/block/nvme0n2/ro),$(cat /sys/block/nvme0n3/ro);
    dd if=/dev/urandom of=/dev/nvme0n3 bs=4k count=1 oflag=direct 2>/dev/null || echo w3=refused;
    for n in 1 2; do head -c 1048576 /dev/urandom >/tmp/w$n && sha256sum /tmp/w$n &&
        dd if=/tmp/w$n of=/dev/nvme0n$n bs=64k seek=$n oflag=direct 2>/dev/null || exit 1; done;
    for n in 1 2; do dd if=/dev/nvme0n$n bs=64k skip=$n count=16 iflag=direct 2>/dev/null |
        sha256sum | sed s/-/back$n/; done' --disk "$N1,if=nvme" --disk "$N2,if=nvme" \
    --disk "$N3,ro,if=nvme"
expect_in "$TMP/twons.log" '^devices=1 ctrls=1$'
expect_in "$TMP/twons.log" '^sizes=16384,24576$'
expect_in "$TMP/twons.log" '^ro=0,1$'
expect_in "$TMP/twons.log" '^w3=refused$'
[ "$(tr -d '\0' <"$N3" | wc -c)" = 0 ] || fail "the read-only third namespace's image changed"
for n in 1 2; do
    w=$(guest_sum "$TMP/twons.log" /tmp/w$n)
    f=$TMP/ns$n.img
    [ -n "$w" ] && [ "$(guest_sum "$TMP/twons.log" back$n)" = "$w" ] ||
        fail "namespace $n: the guest read back other data than it wrote"
    [ "$(dd if="$f" bs=64k skip=$n count=16 2>/dev/null | sha256sum | cut -c1-64)" = "$w" ] ||
        fail "namespace $n: its 1 MiB is not in $f"
done
echo "ok: if=nvme disks are /dev/nvme0n1, nvme0n2, nvme0n3 of one controller, with their" \
    "sizes; 1 MiB on each of the first two lands in its own image; the read-only third refuses writes"

# --- controller reset in the middle of I/O: the writes go on after it, none is lost ----------
boot reset 'head -c 8388608 /dev/urandom >/tmp/r && sha256sum /tmp/r &&
    { for k in 1 2 3 4 5 6; do dd if=/tmp/r of=/dev/nvme0n1 bs=4k oflag=direct 2>/dev/null ||
        break; done; echo dd=$? pass=$k >/tmp/dd; } &
    sleep 0.3; echo 1 >/sys/class/nvme/nvme0/reset_controller && echo reset=ok;
    cat /tmp/dd 2>/dev/null; wait; cat /tmp/dd;
    dd if=/dev/nvme0n1 bs=1M count=8 iflag=direct 2>/dev/null | sha256sum | sed s/-/back/;
    echo state=$(cat /sys/class/nvme/nvme0/state)' --disk "$IMG,if=nvme"
expect_in "$TMP/reset.log" '^reset=ok$'
expect_in "$TMP/reset.log" '^dd=0 pass=6$'
[ "$(grep -c '^dd=' "$TMP/reset.log")" = 1 ] || fail "reset: the writes had ended before the reset"
expect_in "$TMP/reset.log" '^state=live$'
[ "$(guest_sum "$TMP/reset.log" back)" = "$(guest_sum "$TMP/reset.log" /tmp/r)" ] ||
    fail "reset: the data read back differs from what was written across the reset"
[ "$(head -c 8388608 "$IMG" | sha256sum | cut -c1-64)" = "$(guest_sum "$TMP/reset.log" /tmp/r)" ] ||
    fail "reset: the host file lacks data written across the reset"
echo "ok: a controller reset during 8 MiB of writes: dd succeeds, the data is all there"

# --- a hostile driver beside the real one (busybox devmem on BAR0 and ECAM) ----------------
# Doorbells for queues that do not exist and values past a queue's end are ignored, the
# read-only CAP stays, ECAM answers all ones for absent functions, an access to the window
# where no BAR is faults (devmem dies of it, not the VMM); the disk works on.
boot hostile 'read r rest </sys/bus/pci/devices/0000:00:01.0/resource;
    cap=$(busybox devmem $r 32);
    for q in 5 9 31 200; do busybox devmem $((r + 0x1000 + 8 * q)) 32 3;
        busybox devmem $((r + 0x1004 + 8 * q)) 32 3; done;
    busybox devmem $((r + 0x1008)) 32 0xffff; busybox devmem $((r + 0x1004)) 32 0xffff;
    busybox devmem $r 32 0; busybox devmem $((r + 0x3ffc)) 32 0xffffffff;
    echo cap=$([ $(busybox devmem $r 32) = $cap ] && echo same || echo changed);
    echo ecam0=$(busybox devmem 0x30000000 32) ecam1f1=$(busybox devmem 0x30009000 32);
    busybox devmem 0x7ffff000 32 >/dev/null 2>&1; echo nobar=$?;
    head -c 1048576 /dev/urandom >/tmp/r && dd if=/tmp/r of=/dev/nvme0n1 bs=64k oflag=direct 2>/dev/null &&
    dd if=/dev/nvme0n1 of=/tmp/b bs=64k count=16 iflag=direct 2>/dev/null && cmp /tmp/r /tmp/b &&
    echo io=ok' --disk "$IMG,if=nvme"
expect_in "$TMP/hostile.log" '^cap=same$'
expect_in "$TMP/hostile.log" '^ecam0=0xFFFFFFFF ecam1f1=0xFFFFFFFF$'
expect_in "$TMP/hostile.log" '^nobar=1[0-9][0-9]$'
expect_in "$TMP/hostile.log" '^io=ok$'
echo "ok: bogus doorbells, a write to CAP, absent functions, no BAR: the disk works on"

# --- flushed means on the host --------------------------------------------------------------
RAW=$TMP/flush.img
truncate -s 16M "$RAW"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$RAW,if=nvme" \
    --append "quiet cove.exec=\"$(one_line 'head -c 1048576 /dev/urandom >/tmp/r &&
        sha256sum /tmp/r && dd if=/tmp/r of=/dev/nvme0n1 bs=64k conv=fsync 2>/dev/null &&
        echo flushed-now; sleep 600')\"" </dev/null >"$TMP/flush.out" 2>&1 &
pid=$!
BG+=("$pid")
for _ in $(seq 600); do
    grep -qs '^flushed-now' "$TMP/flush.out" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
tr -d '\r' <"$TMP/flush.out" >"$TMP/flush.log"
expect_in "$TMP/flush.log" '^flushed-now'
[ "$(head -c 1048576 "$RAW" | sha256sum | cut -c1-64)" = "$(guest_sum "$TMP/flush.log" /tmp/r)" ] ||
    fail "data the guest had flushed is not in the image after kill -9"
echo "ok: data flushed by the guest is in the image when the VMM is killed"

# --- with virtio-blk, and read-only ----------------------------------------------------------
VDA=$TMP/vda.img
printf 'virtio-disk' | dd of="$VDA" conv=notrunc 2>/dev/null
truncate -s 8M "$VDA"
before=$(sha256sum <"$IMG")
boot mixed 'echo vda=$(head -c 11 /dev/vda);
    echo ro=$(cat /sys/block/nvme0n1/ro);
    dd if=/dev/nvme0n1 bs=4096 skip=9999 count=1 2>/dev/null | sha256sum | sed s/-/p9999/;
    dd if=/dev/zero of=/dev/nvme0n1 bs=4096 count=1 oflag=direct 2>/dev/null &&
        echo write=ok || echo write=refused' --disk "$VDA" --disk "$IMG,ro,if=nvme"
expect_in "$TMP/mixed.log" '^vda=virtio-disk$'
expect_in "$TMP/mixed.log" '^ro=1$'
expect_in "$TMP/mixed.log" '^write=refused$'
grep -q "^$(guest_sum "$TMP/data.log" /tmp/p9999)  p9999" "$TMP/mixed.log" ||
    fail "mixed: the NVMe disk does not show what was written in the first boot"
[ "$(sha256sum <"$IMG")" = "$before" ] || fail "read-only NVMe: the image changed"
echo "ok: virtio-blk /dev/vda beside a read-only /dev/nvme0n1; guest writes refused"

# --- the default guest booting from NVMe: a bundle whose config.json puts its disk there --
export COVE_HOME=$TMP/home
COVE_GUEST_DIR=$COVE_GUEST_DIR "$COVE" create nv --disk-size 1G >/dev/null || fail "cove create failed"
python3 - "$COVE_HOME/vms/nv/config.json" <<'PY' || fail "cannot edit config.json"
import json, sys
d = json.load(open(sys.argv[1]))
d["disks"][0]["interface"] = "nvme"
d["boot"]["cmdline"] = d["boot"]["cmdline"].replace("/dev/vda", "/dev/nvme0n1")
json.dump(d, open(sys.argv[1], "w"))
PY
"$COVE" get nv | grep -qx 'disk 0:    disk.img (nvme), cache=writeback, sync=fsync' || { "$COVE" get nv; fail "cove get: no nvme disk"; }
"$COVE" get nv --format json | grep -q '"interface": "nvme"' || fail "cove get --format json: no interface"
out=$(timeout 120 "$COVE" run nv -- sh -c 'grep " / " /proc/mounts; echo kept >/root/mark; sync' 2>&1) ||
    fail "cove run nv: $out"
echo "$out" | grep -q '^/dev/nvme0n1 / ext4 rw' || fail "the root file system is not on NVMe: $out"
out=$(timeout 120 "$COVE" run nv -- cat /root/mark 2>&1)
[ "$out" = kept ] || fail "a file written on the NVMe root is gone on the next boot: $out"
echo "ok: the default guest boots from NVMe (root on /dev/nvme0n1, kept across boots); cove get shows it"

# --- bad interface ---------------------------------------------------------------------------
timeout 30 "$COVE" run --kernel "$KERNEL" --initrd "$INITRD" --disk "$IMG,if=scsi" \
    </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] ||
    { cat "$TMP/bad.err"; fail "--disk PATH,if=scsi: exit $rc, not one line"; }
expect_in "$TMP/bad.err" "if=scsi"
echo "ok: --disk PATH,if=scsi: $(cat "$TMP/bad.err")"
