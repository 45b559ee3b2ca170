#!/bin/bash
# Disk modes (cache=writeback|none, sync=full|fsync|none) on the real default guest:
#  - every mode, on raw and cdisk images, round-trips the guest's data (the host reads
#    what the guest wrote);
#  - what a guest flush does on the host, counted with strace on the VMM: sync=fsync
#    fdatasyncs, sync=full fsyncs, sync=none does neither (the one fdatasync at close
#    aside); cache=none opens the image O_DIRECT, writeback does not;
#  - bad mode values: one line, non-zero exit.
. "$(dirname "$0")/lib.sh"
need_guest
command -v strace >/dev/null || { echo "SKIP: strace not installed"; exit 77; }

one_line() { echo "$1" | tr '\n' ' ' | tr -s ' '; }

# cache=none needs O_DIRECT: tmpfs has none before Linux 6.6, so the images go where it works.
direct_ok() { python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))' "$1" 2>/dev/null; }
IMGS=$TMP
touch "$TMP/probe"
if ! direct_ok "$TMP/probe"; then
    IMGS=$(mktemp -d /var/tmp/cove-disk-modes.XXXXXX) || exit 1
    trap 'rm -rf "${TMP:?}" "${IMGS:?}"' EXIT
    touch "$IMGS/probe"
    direct_ok "$IMGS/probe" || { echo "SKIP: no file system here takes O_DIRECT"; exit 77; }
fi

# run_guest NAME COMMAND [cove run options...]: boots with cove.exec=COMMAND (under
# strace when STRACE is set: its log in $TMP/NAME.strace) and fails unless it exited 0.
run_guest() {
    local name=$1 cmd
    cmd=$(one_line "$2")
    shift 2
    local pre=()
    [ -n "${STRACE:-}" ] &&
        pre=(strace -f --seccomp-bpf -qq -e trace=fsync,fdatasync,openat -o "$TMP/$name.strace")
    timeout 300 "${pre[@]}" "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" "$@" \
        --append "quiet cove.exec=\"$cmd\"" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    tr -d '\r' <"$TMP/$name.out" >"$TMP/$name.log"
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/$name.log" "$TMP/$name.err"; fail "$name: cove exited $rc"; }
    expect_in "$TMP/$name.log" '^cove-exec-status: 0$'
}

# --- every mode round-trips data ----------------------------------------------------------
# vda..vdf: each gets 1 MiB of random data at 64 KiB (flushed), the guest prints its sha256
modes=("cache=none,sync=full" "cache=none,sync=fsync" "cache=none,sync=none"
       "cache=writeback,sync=full" "cache=writeback,sync=fsync" "cache=writeback,sync=none")
args=()
for i in "${!modes[@]}"; do
    img=$IMGS/d$i.img
    if [ $((i % 2)) = 0 ]; then
        truncate -s 16M "$img"
    else
        "$COVE" disk create "$img" 16M >/dev/null || fail "cove disk create"
    fi
    args+=(--disk "$img,${modes[$i]}")
done
run_guest roundtrip 'for d in a b c d e f; do head -c 1048576 /dev/urandom >/tmp/r &&
    dd if=/tmp/r of=/dev/vd$d bs=64k seek=1 conv=fsync 2>/dev/null &&
    echo vd$d $(sha256sum </tmp/r | cut -c1-64); done' "${args[@]}"
letters=(a b c d e f)
for i in "${!modes[@]}"; do
    want=$(sed -n "s/^vd${letters[$i]} \([0-9a-f]\{64\}\)$/\1/p" "$TMP/roundtrip.log")
    [ -n "$want" ] || { tail -n 20 "$TMP/roundtrip.log"; fail "${modes[$i]}: no checksum"; }
    out=$TMP/back$i
    if [ $((i % 2)) = 0 ]; then
        dd if="$IMGS/d$i.img" of="$out" bs=64k skip=1 count=16 2>/dev/null
    else
        "$COVE" disk convert "$IMGS/d$i.img" "$IMGS/d$i.raw" --to raw >/dev/null 2>&1 ||
            fail "cove disk convert"
        dd if="$IMGS/d$i.raw" of="$out" bs=64k skip=1 count=16 2>/dev/null
    fi
    [ "$(sha256sum <"$out" | cut -c1-64)" = "$want" ] ||
        fail "${modes[$i]} ($([ $((i % 2)) = 0 ] && echo raw || echo cdisk)): the image holds other data"
    echo "ok: ${modes[$i]} on $([ $((i % 2)) = 0 ] && echo raw || echo cdisk): round trip"
done

# --- what a guest flush does on the host -------------------------------------------------
# 20 writes, each flushed by the guest (conv=fsync: a virtio-blk FLUSH each)
flushes='i=0; while [ $i -lt 20 ]; do dd if=/dev/urandom of=/dev/vda bs=4k count=1 seek=$i
    conv=fsync 2>/dev/null || exit 1; i=$((i+1)); done; echo flushed'
truncate -s 16M "$IMGS/s.img"
calls() { grep -c "^[0-9]* *$1(" "$TMP/$2.strace"; }
STRACE=1
run_guest sync-fsync "$flushes" --disk "$IMGS/s.img,sync=fsync"
run_guest sync-full "$flushes" --disk "$IMGS/s.img,sync=full,cache=none"
run_guest sync-none "$flushes" --disk "$IMGS/s.img,sync=none"
unset STRACE
for m in fsync full none; do
    echo "sync=$m: $(calls fdatasync sync-$m) fdatasync, $(calls fsync sync-$m) fsync"
done
[ "$(calls fdatasync sync-fsync)" -ge 20 ] || fail "sync=fsync: fewer than 20 fdatasync calls"
[ "$(calls fsync sync-fsync)" = 0 ] || fail "sync=fsync: fsync calls"
[ "$(calls fsync sync-full)" -ge 20 ] || fail "sync=full: fewer than 20 fsync calls"
[ "$(calls fdatasync sync-none)" -le 1 ] || fail "sync=none: the guest's flushes reach the host"
[ "$(calls fsync sync-none)" = 0 ] || fail "sync=none: fsync calls"
grep -qE 'O_DIRECT[|,)]' "$TMP/sync-full.strace" || fail "cache=none: no O_DIRECT open"
grep -E 'O_DIRECT[|,)]' "$TMP/sync-fsync.strace" && fail "cache=writeback: an O_DIRECT open"
echo "ok: sync=fsync fdatasyncs, sync=full fsyncs, sync=none neither; cache=none is O_DIRECT"

# --- bad input ----------------------------------------------------------------------------
run_refused "unknown cache mode 'direct'" --disk "$IMGS/s.img,cache=direct"
run_refused "unknown sync mode 'yes'" --disk "$IMGS/s.img,sync=yes"
run_refused "'sync=none' given twice" --disk "$IMGS/s.img,sync=none,sync=none"
run_refused "unknown option 'fua'" --disk "$IMGS/s.img,fua"
echo "PASS"
