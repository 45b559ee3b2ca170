#!/bin/bash
# Suspend and resume of a VM with a shared directory (docs/STATE-FORMAT.md, fs): the guest
# writes in the share and keeps a file open there, the VM is suspended (its virtiofsd
# stops with it) and resumed under the seccomp filter: a fresh virtiofsd takes the guest's
# FUSE session over, the files written before read back, new files are written and read on
# both sides, a host-side change is seen in the guest. Twice, so a resumed run suspends
# too. A snapshot of the running VM (--no-seccomp) restored in place works the same way.
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
# a writer with the share as its working directory, across the suspend
gx 'cd /mnt/cove/src/sub && setsid sh -c "i=0; while :; do i=\$((i+1)); echo \$i >count; sleep 0.2; done" </dev/null >/dev/null 2>&1 &'
sleep 1

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
    grep -q "resumed" "$TMP/run-fsus.out" || { cat "$TMP/run-fsus.out"; fail "round $round: not a resume"; }
    [ "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$(vmm_pid)/status")" = 2 ] ||
        fail "round $round: the resumed VMM is not confined"
    [ "$(daemons)" = 1 ] || fail "round $round: $(daemons) virtiofsd for the share, want 1"
    out=$(gx "cat /mnt/cove/src/before /mnt/cove/src/host$round &&
        echo guest$round >/mnt/cove/src/guest$round && cat /mnt/cove/src/guest$round &&
        mkdir /mnt/cove/src/dir$round && ls /mnt/cove/src | sort | tr '\n' ' '") ||
        { echo "$out"; cat "$TMP/run-fsus.out"; fail "round $round: the share after the resume"; }
    echo "$out" | grep -qx "before" || fail "round $round: the file written before: $out"
    echo "$out" | grep -qx "host$round" || fail "round $round: the host's new file: $out"
    echo "$out" | grep -qx "guest$round" || fail "round $round: the guest's new file: $out"
    echo "$out" | grep -q "dir$round" || fail "round $round: the listing: $out"
    [ "$(cat "$src/guest$round")" = "guest$round" ] && [ -d "$src/dir$round" ] ||
        fail "round $round: the guest's writes after the resume are not on the host"
    # the writer goes on (its working directory is looked up again by name)
    c1=$(cat "$src/sub/count" 2>/dev/null); sleep 1.5; c2=$(cat "$src/sub/count" 2>/dev/null)
    [ -n "$c2" ] && [ "$c2" != "$c1" ] || fail "round $round: the guest's writer stopped ($c1, $c2)"
    grep -qi "error" "$TMP/run-fsus.out" && { cat "$TMP/run-fsus.out"; fail "round $round: errors"; }
    echo "ok: round $round: resumed confined; old and new files read, new files written both ways"
done
timeout 60 "$COVE" stop fsus >/dev/null || fail "stop"
wait $runner || fail "the run exited $? after stop"
runner=""
[ "$(daemons)" = 0 ] || fail "virtiofsd outlived the VM"
echo "ok: stopped; no virtiofsd left"
