#!/bin/bash
# Snapshots of the default guest (cove snapshot NAME save|restore|list|delete TAG):
#  - a stopped VM: save, change files in the guest, restore, the files are back; the disk
#    is an overlay over a base, never a copy;
#  - a running VM, confined (its seccomp filter, the default: the run's helper process
#    makes the files and opens the disks): a guest process counting in memory; save (the
#    VM runs on and so does the count), restore in place: the count is back near the
#    saved value and goes on, the file written after the save is gone; the VMM is still
#    confined and was never killed for a system call;
#  - a running snapshot restored into a stopped VM leaves it suspended; cove run resumes;
#  - refused with one line, nothing changed: a tag that exists, an unknown tag, a bad
#    tag, a snapshot copied from another VM, a VM whose memory changed since;
#  - kill -9 of the VMM while it saves: no half snapshot listed, the VM runs again;
#  - cache=none: a running save and restore (the disk's O_DIRECT descriptor handed over too);
#  - delete: the snapshot goes; once the VM is deleted too, no base is left.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { timeout 120 "$COVE" "$@"; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
VM=$COVE_HOME/vms/snap

# start NAME: runs NAME in the background (resuming it when suspended), waits for its agent.
start() { start_vm "$1"; }
# confined: the VMM of the running VM (cove run's own process) is under its filter.
confined() {
    grep -qE '^Seccomp:[[:space:]]+2$' "/proc/$(cat "$VM/run/pid")/status" ||
        fail "$1: the VMM is not confined"
}

stop() {
    cove stop "$1" >/dev/null 2>&1 || fail "stop $1"
    wait $runner
    runner=""
}

# refused WHAT PATTERN ARGS...: cove snapshot ARGS fails with one line matching PATTERN,
# and the VM's snapshots and disk are as they were.
refused() {
    local what=$1 pattern=$2 before; shift 2
    before=$(cd "$VM" && ls -a snapshots && sha256sum snapshots/*/snapshot.json 2>/dev/null; stat -c %i disk.img)
    cove snapshot "$@" >"$TMP/refused.out" 2>"$TMP/refused.err" && fail "$what: it worked"
    grep -qE -- "$pattern" "$TMP/refused.err" || { cat "$TMP/refused.err"; fail "$what: no '$pattern'"; }
    [ "$(wc -l <"$TMP/refused.err")" -eq 1 ] || { cat "$TMP/refused.err"; fail "$what: not one line"; }
    [ "$(cd "$VM" && ls -a snapshots && sha256sum snapshots/*/snapshot.json 2>/dev/null; stat -c %i disk.img)" = "$before" ] ||
        fail "$what: the snapshots or the disk changed"
    echo "ok: $what refused: $(cat "$TMP/refused.err")"
}

count() { cove exec snap -- cat /run/count; }

cove create snap --memory 256M --disk-size 1G >/dev/null || fail "create"

# --- a stopped VM ---------------------------------------------------------------------------
start snap
cove exec snap -- sh -c 'echo one >/root/file; sync' || fail "cannot write /root/file"
stop snap
cove snapshot snap save cold >/dev/null || fail "save of a stopped VM"
backing=$("$COVE" disk info "$VM/disk.img" | sed -n 's/^backing file: *//p')
[ -n "$backing" ] || fail "the disk is not an overlay after the save"
[ "$(du -k "$VM/snapshots/cold/disk.img" | cut -f1)" -lt 1024 ] || fail "the snapshot copied the disk"
start snap
cove exec snap -- sh -c 'echo two >/root/file; echo new >/root/extra; sync' || fail "cannot change files"
stop snap
cove snapshot snap restore cold >"$TMP/restore.out" || fail "restore of a stopped snapshot"
grep -q "stopped" "$TMP/restore.out" || fail "restore says: $(cat "$TMP/restore.out")"
start snap
[ "$(cove exec snap -- cat /root/file)" = one ] || fail "/root/file is not back to 'one'"
cove exec snap -- test -e /root/extra && fail "/root/extra survived the restore"
echo "ok: stopped VM: save, change, restore: files back (disk over $backing)"

# --- a running VM ---------------------------------------------------------------------------
confined "before the save"
# (each count is written to a new file and renamed over /run/count: a reader never sees
# the file emptied by '>' before the number is in it)
counter='i=0; while :; do i=$((i+1)); echo $i >/run/count.new; mv /run/count.new /run/count; sleep 0.2; done'
timeout 30 "$COVE" exec snap -- sh -c "setsid sh -c '$counter' </dev/null >/dev/null 2>&1 &" ||
    fail "cannot start the counter"
sleep 2
c_before=$(count)
cove snapshot snap save hot >/dev/null || fail "save of a running VM"
c_saved=$(count) # the snapshot holds a count from c_before to c_saved
[ "${c_saved:-0}" -gt 3 ] || fail "the counter does not count: '$c_saved'"
cove list | grep -qE '^snap +running' || { cove list; fail "the VM does not run after the save"; }
cove exec snap -- sh -c 'echo after >/root/file; sync' || fail "cannot write after the save"
sleep 3
c_later=$(count)
[ "$c_later" -gt $((c_saved + 5)) ] || fail "the count did not go on after the save: $c_saved, then $c_later"
cove snapshot snap list --format json | python3 -c '
import json, sys
s = {x["tag"]: x for x in json.load(sys.stdin)}
assert s["hot"]["state"] == "running" and s["hot"]["memory_bytes"] > 0, s
assert s["cold"]["state"] == "stopped", s' || fail "list --format json"
cove snapshot snap restore hot >"$TMP/restore.out" || fail "restore of a running snapshot"
c_back=$(count)
[ "$c_back" -ge "$c_before" ] && [ "$c_back" -lt "$c_later" ] ||
    fail "after the restore the count is $c_back (saved between $c_before and $c_saved, $c_later before the restore)"
[ "$(cove exec snap -- cat /root/file)" = one ] || fail "the file written after the save survived"
sleep 1
c_on=$(count)
[ "$c_on" -gt "$c_back" ] || fail "the counter stopped after the restore: $c_back, then $c_on"
confined "after the save and the restore"
grep -q seccomp "$TMP/run-snap.out" && { cat "$TMP/run-snap.out"; fail "the filter killed a call"; }
echo "ok: running VM (confined): saved at $c_before..$c_saved, $c_later later, restored to $c_back, then $c_on ($(cat "$TMP/restore.out"))"

# --- bad input ------------------------------------------------------------------------------
refused "a tag that exists" "already has a snapshot 'hot'" snap save hot
refused "an unknown tag" "has no snapshot 'nope'" snap restore nope
refused "a bad tag" "snapshot tag '\.\./x' contains '/'" snap save ../x
cp "$VM/snapshots/hot/machine" "$TMP/machine.good"
python3 - "$VM/snapshots/hot/machine" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x01
open(p, 'wb').write(b)
EOF
refused "a corrupted machine file" "snapshot 'hot' of VM 'snap' is damaged.*checksum" snap restore hot
cp "$TMP/machine.good" "$VM/snapshots/hot/machine"
c_still=$(count)
[ "$c_still" -gt "$c_on" ] || fail "the VM did not run on after the refused restore"
stop snap
# (not while the VM runs: its memory is a private mapping of this very file since the
# restore, and a file truncated under a mapping is SIGBUS, as for any mmap)
cp --sparse=always "$VM/snapshots/hot/memory" "$TMP/memory.good"
truncate -s 100M "$VM/snapshots/hot/memory"
refused "a truncated memory file" "snapshot 'hot' of VM 'snap' is damaged: its memory file" snap restore hot
mv "$TMP/memory.good" "$VM/snapshots/hot/memory"

cove create other --memory 256M --disk-size 1G >/dev/null || fail "create other"
cove snapshot other save mine >/dev/null || fail "save of other"
cp -a "$VM/snapshots/hot" "$COVE_HOME/vms/other/snapshots/hot"
VM=$COVE_HOME/vms/other refused "a snapshot of another VM" "made of another VM" other restore hot
cove delete other >/dev/null || fail "delete other"

python3 - "$VM/config.json" 512 <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["memory"] = int(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(c))
EOF
refused "a changed memory size" "changed since snapshot 'hot'.*256 MiB of memory then, 512 MiB now" snap restore hot
python3 - "$VM/config.json" 256 <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["memory"] = int(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(c))
EOF

# --- a running snapshot into a stopped VM: suspended at it --------------------------------------
cove snapshot snap restore hot >"$TMP/restore.out" || fail "restore of a running snapshot into a stopped VM"
cove list | grep -qE '^snap +suspended' || { cove list; fail "not suspended after the restore"; }
start snap
c_res=$(count)
[ "$c_res" -ge "$c_before" ] && [ "$c_res" -lt "$c_later" ] ||
    fail "resumed at count $c_res (saved between $c_before and $c_saved)"
echo "ok: a running snapshot restored into a stopped VM resumes at count $c_res"

# --- kill -9 of the VMM during a save -------------------------------------------------------
cove exec snap -- sh -c 'dd if=/dev/urandom of=/run/fill bs=1M count=100 2>/dev/null' ||
    fail "cannot fill guest memory"
"$COVE" snapshot snap save killed >/dev/null 2>&1 &
saver=$!
sleep 0.3
kill -9 $runner
wait $runner 2>/dev/null
runner=""
wait $saver
if [ -d "$VM/snapshots/killed" ]; then state=saved; else state=none; fi
cove snapshot snap list | grep -q '^\.tmp' && fail "a temporary snapshot is listed"
start snap
cove snapshot snap save again >/dev/null || fail "save after the kill"
ls -a "$VM/snapshots" | grep -q '^\.tmp-' && fail "the partial snapshot was not swept"
stop snap
echo "ok: kill -9 during a save: snapshot $state, the VM runs again, no temporary left"

# --- cache=none: the helper hands over an O_DIRECT descriptor too -----------------------------
cove set snap --disk-options 0:cache=none >/dev/null || fail "set cache=none"
start snap
cove exec snap -- sh -c 'echo direct >/root/file; sync' || fail "cannot write (cache=none)"
cove snapshot snap save direct >/dev/null || fail "save of a running VM with cache=none"
cove exec snap -- sh -c 'echo later >/root/file; sync' || fail "cannot write after the save (cache=none)"
cove snapshot snap restore direct >/dev/null || fail "restore with cache=none"
[ "$(cove exec snap -- cat /root/file)" = direct ] || fail "cache=none: /root/file is not back"
confined "cache=none"
grep -q seccomp "$TMP/run-snap.out" && { cat "$TMP/run-snap.out"; fail "the filter killed a call"; }
stop snap
echo "ok: cache=none: running save and restore, confined"

# --- delete ---------------------------------------------------------------------------------
for tag in $(cove snapshot snap list --format json | python3 -c 'import json,sys; print(" ".join(x["tag"] for x in json.load(sys.stdin)))'); do
    cove snapshot snap delete "$tag" >/dev/null || fail "delete $tag"
done
[ "$(cove snapshot snap list --format json)" = "[]" ] || fail "snapshots left after delete"
refused "delete of an unknown tag" "has no snapshot 'hot'" snap delete hot
cove delete snap >/dev/null || fail "delete the VM"
[ -z "$(ls "$COVE_HOME/bases")" ] || { ls -R "$COVE_HOME/bases"; fail "bases left after the VM and its snapshots were deleted"; }
echo "ok: snapshots deleted, then the VM: no base left"
echo "PASS"
