#!/bin/bash
# cove disk check after crashes: `cove run` on a cdisk is killed with SIGKILL five times
# while the guest writes hard to an ext4 file system on it. After each kill the image must
# be consistent (the check may find, and --repair clear, nothing but the stale dirty flag),
# and e2fsck must recover the guest's file system (journal replay; no damage left behind).
. "$(dirname "$0")/lib.sh"
need_guest
command -v e2fsck >/dev/null || { echo "SKIP: e2fsck (e2fsprogs) not installed"; exit 77; }

one_line() { echo "$1" | tr '\n' ' ' | tr -s ' '; }
BG=()
cleanup() { local p; for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

IMG=$TMP/disk.cdisk
"$COVE" disk create "$IMG" 256M || fail "disk create"
timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$IMG" \
    --append "quiet cove.exec=\"mkfs.ext4 -q /dev/vda\"" </dev/null >"$TMP/mkfs.out" 2>&1 ||
    { tail -n 20 "$TMP/mkfs.out"; fail "mkfs.ext4 in the guest"; }
"$COVE" disk check "$IMG" >"$TMP/check0.out" || { cat "$TMP/check0.out"; fail "a cleanly closed image has problems"; }

# Writers in parallel, some syncing, some not: allocations, in-place rewrites, flushes.
WRITE=$(one_line 'mount /dev/vda /mnt && mkdir -p /mnt/d && echo writing-now &&
    for j in 1 2 3; do (n=0; while true; do n=$((n + 1));
        dd if=/dev/urandom of=/mnt/d/f$j.$((n % 8)) bs=64k count=32 2>/dev/null;
        [ $j = 1 ] && sync; done) & done; sleep 600')

for round in 1 2 3 4 5; do
    "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$IMG" \
        --append "quiet cove.exec=\"$WRITE\"" </dev/null >"$TMP/run$round.out" 2>&1 &
    pid=$!
    BG+=("$pid")
    wait_for "$TMP/run$round.out" '^writing-now' $pid
    sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
    kill -9 $pid
    wait $pid 2>/dev/null

    "$COVE" disk check --format json "$IMG" >"$TMP/check$round.json"
    rc=$?
    problems=$(jq '[.findings[] | select(.kind == "problem")] | length' "$TMP/check$round.json")
    dirty_only=$(jq '[.findings[] | select(.what | test("dirty flag") | not)] | length' \
        "$TMP/check$round.json")
    [ "$rc" -le 1 ] && [ "$problems" -le 1 ] && [ "$dirty_only" = 0 ] ||
        { cat "$TMP/check$round.json"; fail "round $round: the killed VM's image has problems"; }
    "$COVE" disk check --repair "$IMG" >"$TMP/repair$round.out" ||
        { cat "$TMP/repair$round.out"; fail "round $round: repair left problems"; }
    grep -v 'dirty flag\|lost: nothing; clusters it leaked' "$TMP/repair$round.out" |
        grep -q '^repaired' && { cat "$TMP/repair$round.out"; fail "round $round: repaired more than the dirty flag"; }
    "$COVE" disk check "$IMG" >/dev/null || fail "round $round: not clean after the repair"

    # The guest's file system, read through a raw copy of the image.
    rm -f "$TMP/raw.img"
    "$COVE" disk convert "$IMG" "$TMP/raw.img" --to raw || fail "round $round: convert"
    e2fsck -fy "$TMP/raw.img" >"$TMP/fsck$round.out" 2>&1
    frc=$?
    [ $frc -le 1 ] || { cat "$TMP/fsck$round.out"; fail "round $round: e2fsck cannot recover (exit $frc)"; }
    e2fsck -fn "$TMP/raw.img" >"$TMP/fsck$round.again" 2>&1 ||
        { cat "$TMP/fsck$round.again"; fail "round $round: file system not clean after e2fsck"; }
    leaked=$(jq .leaked_clusters "$TMP/check$round.json")
    echo "ok: round $round: killed while writing; check finds only the dirty flag ($leaked clusters leaked), e2fsck recovers"
done
echo "PASS"
