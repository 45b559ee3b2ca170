#!/bin/bash
# The VMM runs confined (docs/SECURITY.md): a running VM's process has no_new_privs and a
# seccomp filter on every thread; an attempt to open a host file after setup
# (COVE_TEST_SECCOMP_PROBE=open|open-write: the runner's stopper thread, started before the
# filter, opens /etc/hostname) fails, and one to write kills it with one line naming the
# call and a non-zero exit; a guest reboot under the filter works; --no-seccomp and
# COVE_SECCOMP=0 leave the process unfiltered.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create sc --memory 256M --disk-size 256M >/dev/null || fail "create"

start_vm() {
    "$COVE" run sc --no-console "$@" </dev/null >"$TMP/run.out" 2>&1 &
    runner=$!
    for _ in $(seq 300); do
        "$COVE" exec sc -- true 2>/dev/null && return 0
        kill -0 $runner 2>/dev/null || break
        sleep 0.2
    done
    cat "$TMP/run.out"
    fail "the agent never answered"
}
status_of() { grep -E "^$1:" "/proc/$(cat "$COVE_HOME/vms/sc/run/pid")/status" | awk '{print $2}'; }
stop_vm() {
    "$COVE" stop sc >/dev/null || fail "stop"
    wait $runner
    local rc=$?
    runner=""
    return $rc
}

# (a) confined by default; every thread, not only the one that installed it
start_vm
[ "$(status_of Seccomp)" = 2 ] || fail "Seccomp: $(status_of Seccomp), want 2"
[ "$(status_of NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(status_of NoNewPrivs), want 1"
pid=$(cat "$COVE_HOME/vms/sc/run/pid")
for t in /proc/$pid/task/*; do
    grep -q "^Seccomp:[[:space:]]*2" "$t/status" || fail "thread $(cat "$t/comm") is not filtered"
done
# what a running VM does keeps working: exec, a guest reboot (a new machine), exec again
[ "$("$COVE" exec sc -- echo hi)" = hi ] || fail "exec under the filter"
"$COVE" exec sc -- sh -c 'touch /root/before; sync; (sleep 0.5; reboot -f) >/dev/null 2>&1 &'
sleep 2
for _ in $(seq 300); do "$COVE" exec sc -- true 2>/dev/null && break; sleep 0.2; done
"$COVE" exec sc -- test -e /root/before || fail "the guest did not come back from its reboot"
kill -0 $runner 2>/dev/null || { cat "$TMP/run.out"; fail "the VMM died on the guest's reboot"; }
grep -q "seccomp" "$TMP/run.out" && { cat "$TMP/run.out"; fail "the filter said something"; }
stop_vm || fail "cove run exited $? after stop"
echo "ok: Seccomp 2 and NoNewPrivs 1 on every thread; exec and a guest reboot work under it"

# (b) an open of a host file after setup fails: to read, with an error (libraries look for
# optional files at any time: glibc's malloc, glib, libslirp); to write, it kills the VMM
COVE_TEST_SECCOMP_PROBE=open start_vm
for _ in $(seq 50); do grep -q "seccomp probe" "$TMP/run.out" && break; sleep 0.1; done
grep -q "seccomp probe: opening /etc/hostname to read failed" "$TMP/run.out" ||
    { cat "$TMP/run.out"; fail "the read-only open of /etc/hostname did not fail"; }
[ "$("$COVE" exec sc -- echo alive)" = alive ] || fail "the VM died after a failed open"
stop_vm || fail "exit $? after the read-only probe"
COVE_TEST_SECCOMP_PROBE=open-write "$COVE" run sc --no-console </dev/null >"$TMP/probe.out" 2>&1 &
runner=$!
for _ in $(seq 300); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
kill -0 $runner 2>/dev/null && fail "the VMM still runs after opening a host file to write"
wait $runner
rc=$?
runner=""
[ $rc -ne 0 ] || fail "exit 0 after the forbidden open"
grep -qx "cove: seccomp: the VMM made a system call outside its allow-list: openat (257)" \
    "$TMP/probe.out" || { cat "$TMP/probe.out"; fail "no line naming openat"; }
grep -q "succeeded" "$TMP/probe.out" && fail "the open succeeded"
echo "ok: opening /etc/hostname after setup: to read fails, to write exits $rc with the line"

# (c) --no-seccomp and COVE_SECCOMP=0: not filtered (the probe's open then succeeds)
start_vm --no-seccomp
[ "$(status_of Seccomp)" = 0 ] || fail "--no-seccomp: Seccomp: $(status_of Seccomp), want 0"
stop_vm || fail "--no-seccomp: exit $?"
COVE_SECCOMP=0 start_vm
[ "$(status_of Seccomp)" = 0 ] || fail "COVE_SECCOMP=0: Seccomp: $(status_of Seccomp), want 0"
stop_vm || fail "COVE_SECCOMP=0: exit $?"
echo "ok: --no-seccomp and COVE_SECCOMP=0: Seccomp 0"
exit 0
