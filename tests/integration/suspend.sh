#!/bin/bash
# Suspend and resume of the default guest (cove suspend, cove run resumes):
#  - a guest process counting in memory goes on counting after a resume, from where it was,
#    and its console output goes on in run/console.log; cove exec works again; the guest
#    clock does not go back;
#  - cove list/get say suspended; cove set is refused; the state is discarded once resumed;
#  - bad state: a truncated or corrupted state file, a truncated memory file, a changed
#    memory size: one clear line, the VM stays suspended, nothing is deleted;
#  - 5 suspend/resume cycles while the guest writes to its disk; the file system is clean
#    afterwards and the files the guest wrote read back with their checksums;
#  - cove exec at the first instant of a resume (as soon as run/vsock.sock is there) works at
#    the first try, in each of the 5 cycles (the restored vsock's transport reset must not
#    take the new connection with it);
#  - cove stop --suspend and a clone of a suspended VM, which resumes as well, and boots
#    afresh when its guest reboots;
#  - kill -9 of the VMM during a save: no state/ (or a whole one), the VM runs again and the
#    partial save is swept.
. "$(dirname "$0")/lib.sh"
need_guest
command -v e2fsck >/dev/null || { echo "SKIP: e2fsck (e2fsprogs) not installed"; exit 77; }
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { timeout 120 "$COVE" "$@"; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
VM=$COVE_HOME/vms/sus

start() { start_vm "$1"; }

# resume_exec NAME: cove run NAME (suspended) and, the moment its vsock socket appears, one
# cove exec that must work: no retry, unlike start_vm's wait for the agent.
resume_exec() {
    local name=$1 _ sock=$COVE_HOME/vms/$1/run/vsock.sock
    "$COVE" run "$name" --no-console </dev/null >"$TMP/run-$name.out" 2>&1 &
    runner=$!
    for _ in $(seq 3000); do
        [ -S "$sock" ] && break
        kill -0 $runner 2>/dev/null || { cat "$TMP/run-$name.out"; fail "$name: the resume ended"; }
        sleep 0.02
    done
    timeout 60 "$COVE" exec "$name" -- true 2>"$TMP/exec.err" ||
        { cat "$TMP/exec.err"; fail "$name: cove exec right after the resume failed"; }
}

# suspend NAME [cove stop --suspend]: suspends NAME, checks that its run ended with 0.
suspend() {
    local name=$1; shift
    if [ "${1:-}" = stop ]; then
        timeout 120 "$COVE" stop "$name" --suspend >"$TMP/suspend.out" 2>&1 || { cat "$TMP/suspend.out"; fail "stop --suspend"; }
    else
        timeout 120 "$COVE" suspend "$name" >"$TMP/suspend.out" 2>&1 || { cat "$TMP/suspend.out"; fail "suspend"; }
    fi
    wait $runner || { cat "$TMP/run-$name.out"; fail "$name: the suspended run exited $?"; }
    runner=""
    [ "$(cove get "$name" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = suspended ] ||
        fail "$name: get does not say suspended"
}

# refused WHAT PATTERN: cove run sus fails with one line matching PATTERN; the state stays.
refused() {
    local before
    before=$(cd "$VM/state" && sha256sum machine && stat -c %s memory)
    timeout 60 "$COVE" run sus --no-console </dev/null >"$TMP/refused.out" 2>"$TMP/refused.err" &&
        fail "$1: the VM resumed"
    grep -qE -- "$2" "$TMP/refused.err" || { cat "$TMP/refused.err"; fail "$1: no '$2'"; }
    [ "$(wc -l <"$TMP/refused.err")" -eq 1 ] || { cat "$TMP/refused.err"; fail "$1: not one line"; }
    [ "$(cd "$VM/state" && sha256sum machine && stat -c %s memory)" = "$before" ] ||
        fail "$1: the state changed"
    cove list | grep -qE '^sus +suspended' || { cove list; fail "$1: sus is not suspended"; }
    echo "ok: $1 refused: $(cat "$TMP/refused.err")"
}

cove create sus --memory 256M --disk-size 1G >/dev/null || fail "create"
start sus

# --- a counter in guest memory, the clock, the console ----------------------------------
# (each count is written to a new file and renamed over /run/count: a reader never sees
# the file emptied by '>' before the number is in it)
counter='i=0; while :; do i=$((i+1)); echo $i >/run/count.new; mv /run/count.new /run/count; echo count=$i >/dev/console; sleep 0.2; done'
timeout 30 "$COVE" exec sus -- sh -c "setsid sh -c '$counter' </dev/null >/dev/null 2>&1 &" ||
    fail "cannot start the counter"
sleep 2
c1=$(cove exec sus -- cat /run/count)
t1=$(cove exec sus -- date +%s)
[ "${c1:-0}" -gt 3 ] || fail "the counter does not count: '$c1'"
suspend sus
[ -f "$VM/state/machine" ] && [ -f "$VM/state/memory" ] || fail "no state/machine, state/memory"
cove list | grep -qE '^sus +suspended' || { cove list; fail "list does not say suspended"; }
echo "ok: suspended at count $c1 ($(du -k "$VM/state/memory" | cut -f1) KiB of memory on disk)"

cove set sus --cpus 2 2>"$TMP/set.err" && fail "set on a suspended VM worked"
grep -q "suspended" "$TMP/set.err" || fail "set: $(cat "$TMP/set.err")"
echo "ok: set refused: $(cat "$TMP/set.err")"

# --- bad state: refused, the VM stays suspended ------------------------------------------
cp "$VM/state/machine" "$TMP/machine.good"
head -c 100 "$TMP/machine.good" >"$VM/state/machine"
refused "a truncated state file" "cannot be resumed.*(truncated|cut short)"
cp "$TMP/machine.good" "$VM/state/machine"
python3 - "$VM/state/machine" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x01
open(p, 'wb').write(b)
EOF
refused "a flipped byte" "cannot be resumed.*checksum"
cp "$TMP/machine.good" "$VM/state/machine"
python3 - "$VM/config.json" 512 <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["memory"] = int(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(c))
EOF
refused "a changed memory size" "cannot be resumed.*256 MiB.*512 MiB"
python3 - "$VM/config.json" 256 <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["memory"] = int(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(c))
EOF
cp --sparse=always "$VM/state/memory" "$TMP/memory.good"
truncate -s 100M "$VM/state/memory"
refused "a truncated memory file" "cannot be resumed.*truncated"
mv "$TMP/memory.good" "$VM/state/memory"

# --- resume: the counter goes on ----------------------------------------------------------
sleep 3 # suspended long enough for a guest clock that was not set to show it
start sus
c2=$(cove exec sus -- cat /run/count)
t2=$(cove exec sus -- date +%s)
[ "$c2" -ge "$c1" ] || fail "the count went back: $c1 before, $c2 after"
[ "$t2" -ge "$t1" ] || fail "the guest clock went back: $t1 before, $t2 after"
# the agent sets the guest's wall clock after the resume (it went on from the saved instant)
for _ in $(seq 50); do
    off=$(( $(date +%s) - $(cove exec sus -- date +%s) ))
    [ ${off#-} -le 1 ] && break
    sleep 0.2
done
[ ${off#-} -le 1 ] || fail "the guest's wall clock is ${off} s off the host's after the resume"
grep "clock" "$TMP/run-sus.out" && fail "the run said something about the guest's clock"
sleep 1
c3=$(cove exec sus -- cat /run/count)
[ "$c3" -gt "$c2" ] || fail "the counter stopped after the resume: $c2, then $c3"
[ -e "$VM/state" ] && fail "the state is still there after a resume"
cove list | grep -qE '^sus +running' || { cove list; fail "list does not say running"; }
tr -d '\r' <"$VM/run/console.log" >"$TMP/console"
grep -q "count=$c2\$" "$TMP/console" && grep -q "count=1\$" "$TMP/console" ||
    { grep -n count= "$VM/run/console.log" | sed -n '1,3p;$p'; fail "console.log does not go on from the first run ($c2)"; }
echo "ok: resumed: count $c1 -> $c2 -> $c3, clock $t1 -> $t2, console.log goes on"

# --- 5 cycles with the disk busy -----------------------------------------------------------
writer='n=0; while :; do n=$((n+1)); dd if=/dev/urandom of=/root/w.$((n % 4)) bs=64k count=32 conv=fsync 2>/dev/null; done'
timeout 30 "$COVE" exec sus -- sh -c "setsid sh -c 'echo \$\$ >/run/writer; $writer' </dev/null >/dev/null 2>&1 &" ||
    fail "cannot start the writer"
for cycle in 1 2 3 4 5; do
    sleep 1
    suspend sus
    resume_exec sus
done
c4=$(cove exec sus -- cat /run/count)
[ "$c4" -gt "$c3" ] || fail "the counter did not go on through 5 cycles: $c3, then $c4"
timeout 60 "$COVE" exec sus -- sh -c 'kill $(cat /run/writer) && while pgrep -x dd >/dev/null; do sleep 0.1; done; sync; sha256sum /root/w.* >/root/sums; sync' ||
    fail "cannot stop the writer"
sums=$(cove exec sus -- sha256sum -c /root/sums) || fail "checksums after the cycles: $sums"
cove stop sus >/dev/null 2>&1 || fail "stop"
wait $runner
runner=""
e2fsck -fn "$VM/disk.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "fsck after 5 cycles"; }
echo "ok: 5 cycles with the disk busy, counter $c3 -> $c4, files intact, fsck clean"

# --- stop --suspend, and a clone of a suspended VM ----------------------------------------
start sus
cove exec sus -- sh -c 'echo $$ >/run/mark' || fail "cannot write the mark"
mark=$(cove exec sus -- cat /run/mark)
suspend sus stop
cove clone sus sus2 >/dev/null || fail "clone of a suspended VM"
cove list | grep -qE '^sus2 +suspended' || { cove list; fail "the clone is not suspended"; }
start sus2
[ "$(cove exec sus2 -- cat /run/mark)" = "$mark" ] || fail "the clone did not resume sus's memory"
# a guest reboot after a resume boots afresh (a resume does not load the kernel and initrd:
# the reboot's machine must)
cove exec sus2 -- sh -c '(sleep 0.5; reboot -f) >/dev/null 2>&1 &' || fail "cannot reboot the clone"
for _ in $(seq 300); do
    timeout 10 "$COVE" exec sus2 -- test ! -e /run/mark 2>/dev/null && break
    kill -0 $runner 2>/dev/null || { cat "$TMP/run-sus2.out"; fail "the run ended at the reboot after a resume"; }
    sleep 0.2
done
timeout 10 "$COVE" exec sus2 -- test ! -e /run/mark || fail "the clone did not come back from its reboot"
cove delete sus >/dev/null || fail "delete of a suspended VM"
echo "ok: stop --suspend; the clone of a suspended VM resumes and reboots; delete of a suspended VM"

# --- kill -9 of the VMM while it saves: never a half-written state ------------------------
cove exec sus2 -- sh -c 'dd if=/dev/urandom of=/run/fill bs=1M count=100 2>/dev/null' ||
    fail "cannot fill guest memory"
"$COVE" suspend sus2 >/dev/null 2>&1 &
sleep 0.3
kill -9 $runner
wait $runner 2>/dev/null
runner=""
wait
if [ -e "$COVE_HOME/vms/sus2/state" ]; then
    state=saved  # the save won the race: it must be whole and resume
else
    state=none
    cove list | grep -qE '^sus2 +stopped' || { cove list; fail "killed mid-save: not stopped"; }
fi
ls -a "$COVE_HOME/vms/sus2" | grep -q '^\.tmp-' && state="$state, a partial save left to sweep"
start sus2
ls -a "$COVE_HOME/vms/sus2" | grep -q '^\.tmp-' && fail "the temporary state was not swept"
cove stop sus2 >/dev/null 2>&1; wait $runner; runner=""
echo "ok: kill -9 during the save: state $state, the VM runs again, no temporary left"
echo "PASS"
