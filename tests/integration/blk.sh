#!/bin/bash
# virtio-blk and virtio-rng against the real default guest on cove:
#  - ext4: the guest formats a disk, writes a file and powers off; the host reads the file
#    back from the image with debugfs (same sha256), a second boot sees it, fsck is clean;
#  - a write the guest flushed (conv=fsync) is in the host file even if the VMM is killed;
#  - read-only disks: guest writes fail (the kernel's and, bypassing it, the device's own
#    answer), the host file is unchanged;
#  - two disks at once, each with its own contents and serial (GET_ID);
#  - discard: fstrim in the guest punches holes in the image (st_blocks drops);
#  - entropy from /dev/hwrng;
#  - bad --disk arguments: missing, a directory, an image in use by another cove.
. "$(dirname "$0")/lib.sh"
need_guest
command -v debugfs >/dev/null || { echo "SKIP: debugfs (e2fsprogs) not installed"; exit 77; }

# The kernel command line is one line: the commands below are written over several.
one_line() { echo "$1" | tr '\n' ' ' | tr -s ' '; }

# boot NAME COMMAND [cove run options...]: boots the guest with cove.exec=COMMAND and
# fails unless the command exited 0 and cove exited 0. Output in $TMP/NAME.log.
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

# guest_sum LOG FILE: the sha256 the guest printed for FILE.
guest_sum() { sed -n "s|^\([0-9a-f]\{64\}\)  $2\$|\1|p" "$1" | tail -n 1; }
host_sum() { sha256sum "$1" | cut -c1-64; }

# VMs started in the background are killed however the test ends.
BG=()
cleanup() { local p; for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

IMG=$TMP/disk.img
truncate -s 64M "$IMG"

# --- ext4 written in the guest, read on the host and in a second boot --------------------
boot format 'mkfs.ext4 -q -L covetest /dev/vda && mount /dev/vda /mnt &&
    dd if=/dev/urandom of=/mnt/f bs=1M count=4 2>/dev/null && sha256sum /mnt/f && sync &&
    umount /mnt' --disk "$IMG"
sum=$(guest_sum "$TMP/format.log" /mnt/f)
[ -n "$sum" ] || { tail -n 20 "$TMP/format.log"; fail "format: no checksum from the guest"; }
debugfs -R "dump /f $TMP/f" "$IMG" 2>"$TMP/debugfs.err" || fail "debugfs cannot read the image"
[ "$(host_sum "$TMP/f")" = "$sum" ] || fail "ext4: the host reads another file than the guest wrote"
[ "$(stat -c %s "$TMP/f")" = 4194304 ] || fail "ext4: the file on the host is not 4 MiB"
e2fsck -fn "$IMG" >"$TMP/fsck.out" 2>&1 || { cat "$TMP/fsck.out"; fail "ext4: host fsck finds errors"; }
echo "ok: ext4 made and written in the guest, read back on the host (sha256 $sum)"

boot reread 'e2fsck -fn /dev/vda && mount /dev/vda /mnt && sha256sum /mnt/f && umount /mnt' \
    --disk "$IMG"
[ "$(guest_sum "$TMP/reread.log" /mnt/f)" = "$sum" ] || fail "second boot: another checksum"
echo "ok: a second boot finds the file system clean and the same file"

# --- flushed means on the host: kill -9 the VMM right after the guest's fsync ------------
RAW=$TMP/raw.img
truncate -s 16M "$RAW"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$RAW" \
    --append "quiet cove.exec=\"$(one_line 'head -c 1048576 /dev/urandom >/tmp/r &&
        sha256sum /tmp/r && dd if=/tmp/r of=/dev/vda bs=64k conv=fsync 2>/dev/null &&
        echo flushed-now; sleep 600')\"" \
    </dev/null >"$TMP/flush.out" 2>&1 &
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
want=$(guest_sum "$TMP/flush.log" /tmp/r)
[ "$(head -c 1048576 "$RAW" | sha256sum | cut -c1-64)" = "$want" ] ||
    fail "data the guest had flushed is not in the image after kill -9"
echo "ok: data flushed by the guest is in the image when the VMM is killed"

# --- read-only ----------------------------------------------------------------------------
before=$(host_sum "$IMG")
boot ro 'echo ro=$(cat /sys/block/vda/ro);
    dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct 2>/tmp/e && echo rawwrite=ok ||
        echo rawwrite=refused: $(head -n 1 /tmp/e);
    virtio-attack blk vda | grep -E read-only\|passed\|FAIL;
    mount -o ro /dev/vda /mnt && sha256sum /mnt/f &&
    { touch /mnt/new 2>/dev/null && echo fswrite=ok || echo fswrite=refused; } &&
    umount /mnt' --disk "$IMG,ro"
expect_in "$TMP/ro.log" '^ro=1$'
expect_in "$TMP/ro.log" '^rawwrite=refused'
expect_in "$TMP/ro.log" '^fswrite=refused$'
expect_in "$TMP/ro.log" 'write to a read-only disk: ok'
expect_in "$TMP/ro.log" 'virtio-attack: [1-9][0-9]* passed, 0 failed'
[ "$(guest_sum "$TMP/ro.log" /mnt/f)" = "$sum" ] || fail "read-only: another checksum"
[ "$(host_sum "$IMG")" = "$before" ] || fail "read-only: the image changed"
echo "ok: read-only disk: the guest reads, its writes fail ($(sed -n 's/^rawwrite=//p' "$TMP/ro.log")), image unchanged"

# --- two disks -----------------------------------------------------------------------------
IMG2=$TMP/second.img
truncate -s 32M "$IMG2"
boot two 'echo serials=$(cat /sys/block/vda/serial),$(cat /sys/block/vdb/serial);
    echo sizes=$(cat /sys/block/vda/size),$(cat /sys/block/vdb/size);
    mkfs.ext4 -q /dev/vdb && mkdir -p /a /b && mount /dev/vda /a && mount /dev/vdb /b &&
    cp /a/f /b/g && sha256sum /a/f /b/g && umount /a /b' --disk "$IMG" --disk "$IMG2"
expect_in "$TMP/two.log" '^serials=disk.img,second.img$'
expect_in "$TMP/two.log" '^sizes=131072,65536$'
[ "$(guest_sum "$TMP/two.log" /a/f)" = "$sum" ] && [ "$(guest_sum "$TMP/two.log" /b/g)" = "$sum" ] ||
    fail "two disks: wrong contents"
debugfs -R "dump /g $TMP/g" "$IMG2" 2>>"$TMP/debugfs.err" || fail "debugfs cannot read disk 2"
[ "$(host_sum "$TMP/g")" = "$sum" ] || fail "two disks: the copy on the second image differs"
echo "ok: two disks, each with its serial, size and contents"

# --- discard --------------------------------------------------------------------------------
boot fill 'mount /dev/vda /mnt && dd if=/dev/urandom of=/mnt/big bs=1M count=16 2>/dev/null &&
    sync && umount /mnt' --disk "$IMG"
full=$(stat -c %b "$IMG")
boot trim 'mount /dev/vda /mnt && rm /mnt/big && sync && fstrim -v /mnt && umount /mnt' \
    --disk "$IMG"
trimmed=$(stat -c %b "$IMG")
# 16 MiB is 32768 blocks of 512 bytes; allow for metadata.
[ $((full - trimmed)) -ge 24576 ] ||
    fail "discard: st_blocks went from $full to $trimmed after fstrim"
debugfs -R "dump /f $TMP/f2" "$IMG" 2>>"$TMP/debugfs.err" && [ "$(host_sum "$TMP/f2")" = "$sum" ] ||
    fail "discard: fstrim damaged the file that stayed"
echo "ok: fstrim freed $(( (full - trimmed) / 2048 )) MiB of the image"

# --- entropy ---------------------------------------------------------------------------------
boot rng 'echo rng=$(cat /sys/class/misc/hw_random/rng_current);
    echo bytes=$(head -c 64 /dev/hwrng | wc -c); head -c 64 /dev/hwrng | od -An -tx1 | tr -d \ \\n;
    echo'
expect_in "$TMP/rng.log" '^rng=virtio_rng'
expect_in "$TMP/rng.log" '^bytes=64$'
grep -qE '^[0-9a-f]{128}$' "$TMP/rng.log" && ! grep -qE '^(00){64}$' "$TMP/rng.log" ||
    fail "/dev/hwrng gave no random-looking bytes"
echo "ok: /dev/hwrng gives 64 bytes"

# --- bad --disk arguments: one line, non-zero exit --------------------------------------------
# bad_disk NAME PATTERN ARGS...: cove run must fail at once with exactly one line.
bad_disk() {
    local name=$1 pattern=$2
    shift 2
    timeout 30 "$COVE" run --kernel "$KERNEL" --initrd "$INITRD" "$@" </dev/null \
        >"$TMP/bad.out" 2>"$TMP/bad.err"
    local rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$name: exit status $rc"
    [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] && [ ! -s "$TMP/bad.out" ] ||
        { cat "$TMP/bad.out" "$TMP/bad.err"; fail "$name: not exactly one line"; }
    expect_in "$TMP/bad.err" "$pattern"
    echo "ok: $name: $(cat "$TMP/bad.err")"
}
bad_disk "missing image" "$TMP/nope.img" --disk "$TMP/nope.img"
bad_disk "directory" "$TMP.* directory" --disk "$TMP"

"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$IMG" \
    --append 'quiet cove.exec="echo holding-disk; sleep 600"' </dev/null >"$TMP/hold.out" 2>&1 &
holder=$!
BG+=("$holder")
for _ in $(seq 300); do
    grep -qs holding-disk "$TMP/hold.out" && break
    sleep 0.1
done
grep -q holding-disk "$TMP/hold.out" || fail "the first VM did not start"
before=$(host_sum "$IMG")
bad_disk "image in use (read-write)" "in use" --disk "$IMG"
bad_disk "image in use (read-only)" "in use" --disk "$IMG,ro"
kill $holder
wait $holder 2>/dev/null
[ "$(host_sum "$IMG")" = "$before" ] || fail "a refused second VM changed the image"
echo "ok: a VM refused for a disk in use leaves the image alone"

# A full host file system: the guest's writes fail with I/O errors, cove says once on stderr
# which image and why, and keeps running to a clean exit. Needs a small tmpfs (root).
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=8M tmpfs "$TMP/full"; then
    truncate -s 64M "$TMP/full/disk.img"
    timeout 120 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
        --disk "$TMP/full/disk.img" \
        --append 'quiet cove.exec="dd if=/dev/zero of=/dev/vda bs=1M count=32 oflag=direct; echo dd=$?"' \
        </dev/null >"$TMP/full.out" 2>"$TMP/full.err"
    rc=$?
    umount "$TMP/full"
    [ $rc -eq 0 ] || { cat "$TMP/full.out" "$TMP/full.err"; fail "full host disk: cove exited $rc"; }
    expect_in "$TMP/full.out" '^dd=1'
    [ "$(grep -c 'No space left' "$TMP/full.err")" -eq 1 ] && grep -q "full/disk.img" "$TMP/full.err" ||
        { cat "$TMP/full.err"; fail "full host disk: not one warning naming the image"; }
    echo "ok: a full host disk: guest I/O errors, one warning: $(cat "$TMP/full.err")"
else
    echo "skip: full host disk (needs root for a tmpfs)"
fi
