#!/bin/bash
# Suspend and resume of a VM with a shared directory (docs/STATE-FORMAT.md, fs): the guest
# writes in the share, the VM is suspended (its virtiofsd stops with it) and resumed under
# the seccomp filter: a fresh virtiofsd takes the guest's FUSE session over, the files
# written before read back by name, new files and directories are written and seen on the
# host, a host-side change is seen in the guest. Twice, so a resumed run suspends too.
# Then a snapshot of the running VM: the share goes on after the save, and after a restore
# in place (a fresh virtiofsd again).
. "$(dirname "$0")/lib.sh"
need_guest
need_virtiofsd
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
src=$TMP/src
mkdir -p "$src/sub"
echo host >"$src/sub/fromhost"

"$COVE" create fsus --memory 256M --disk-size 256M --dir "src:$src" >/dev/null || fail "create"
vmm_pid() { cat "$COVE_HOME/vms/fsus/run/pid"; }
gx() { timeout 60 "$COVE" exec fsus -- sh -c "$1"; }
daemons() { pgrep -f "virtiofsd .*source=$src" | wc -l; }

start_vm fsus
gx 'echo before >/mnt/cove/src/before && cat /mnt/cove/src/sub/fromhost' | grep -qx host ||
    fail "the share before the suspend"
per_run=$(daemons) # virtiofsd's processes for one share (it may fork into its sandbox)
[ "$per_run" -ge 1 ] || fail "no virtiofsd for the share"

for round in 1 2; do
    timeout 120 "$COVE" suspend fsus >"$TMP/suspend.out" 2>&1 ||
        { cat "$TMP/suspend.out" "$TMP/run-fsus.out"; fail "round $round: suspend"; }
    wait $runner || { cat "$TMP/run-fsus.out"; fail "round $round: the suspended run exited $?"; }
    runner=""
    [ -f "$COVE_HOME/vms/fsus/state/machine" ] || fail "round $round: no saved state"
    [ "$(daemons)" = 0 ] || fail "round $round: virtiofsd outlived the suspended run"
    echo "ok: round $round: suspended with a share"

    echo "host$round" >"$src/host$round"
    start_vm fsus
    [ ! -e "$COVE_HOME/vms/fsus/state" ] || fail "round $round: not resumed (the state is still there)"
    [ "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$(vmm_pid)/status")" = 2 ] ||
        fail "round $round: the resumed VMM is not confined"
    [ "$(daemons)" = "$per_run" ] ||
        fail "round $round: $(daemons) virtiofsd processes for the share, want $per_run"
    sleep 1.5 # past the guest's 1 s entry cache: names are looked up again (docs/STATE-FORMAT.md)
    out=$(gx "cat /mnt/cove/src/before /mnt/cove/src/sub/fromhost /mnt/cove/src/host$round &&
        echo guest$round >/mnt/cove/src/guest$round && cat /mnt/cove/src/guest$round &&
        mkdir /mnt/cove/src/dir$round && ls /mnt/cove/src | sort | tr '\n' ' '") ||
        { echo "$out"; cat "$TMP/run-fsus.out"; fail "round $round: the share after the resume"; }
    echo "$out" | grep -qx "before" || fail "round $round: the file written before: $out"
    echo "$out" | grep -qx "host$round" || fail "round $round: the host's new file: $out"
    echo "$out" | grep -qx "guest$round" || fail "round $round: the guest's new file: $out"
    echo "$out" | grep -q "dir$round" || fail "round $round: the listing: $out"
    [ "$(cat "$src/guest$round")" = "guest$round" ] && [ -d "$src/dir$round" ] ||
        fail "round $round: the guest's writes after the resume are not on the host"
    grep -qi "error" "$TMP/run-fsus.out" && { cat "$TMP/run-fsus.out"; fail "round $round: errors"; }
    echo "ok: round $round: resumed confined; old and new files read, new files written both ways"
done
timeout 60 "$COVE" stop fsus >/dev/null || fail "stop"
wait $runner || fail "the run exited $? after stop"
runner=""
[ "$(daemons)" = 0 ] || fail "virtiofsd outlived the VM"
echo "ok: stopped; no virtiofsd left"

# a snapshot of the running VM, without the filter (as root still jailed: the share's
# keeper starts the fresh daemon; the confined rounds above take the same path): the
# daemon hands the rings back after the save and the share goes on; a restore in place
# gets a fresh daemon
start_vm fsus --no-seccomp
gx 'echo snap >/mnt/cove/src/snapfile' || fail "the share before the snapshot"
timeout 120 "$COVE" snapshot fsus save s1 >/dev/null || { cat "$TMP/run-fsus.out"; fail "snapshot save"; }
out=$(gx 'cat /mnt/cove/src/snapfile && echo after >/mnt/cove/src/aftersnap && cat /mnt/cove/src/aftersnap') ||
    { echo "$out"; cat "$TMP/run-fsus.out"; fail "the share after a snapshot save"; }
[ "$out" = "snap
after" ] || fail "after the snapshot save the guest saw: $out"
echo "ok: the share goes on after a snapshot of the running VM"
timeout 120 "$COVE" snapshot fsus restore s1 >/dev/null || { cat "$TMP/run-fsus.out"; fail "snapshot restore"; }
sleep 1.5
out=$(gx 'cat /mnt/cove/src/snapfile /mnt/cove/src/aftersnap && echo r >/mnt/cove/src/restored') ||
    { echo "$out"; cat "$TMP/run-fsus.out"; fail "the share after a snapshot restore"; }
[ "$(cat "$src/restored")" = r ] || fail "the restored guest's write is not on the host"
[ "$(daemons)" = "$per_run" ] || fail "after the restore: $(daemons) virtiofsd processes"
timeout 60 "$COVE" stop fsus >/dev/null || fail "stop after the restore"
wait $runner || fail "the restored run exited $?"
runner=""
echo "ok: a running snapshot restored in place: the share works with a fresh virtiofsd"
