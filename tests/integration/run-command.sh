#!/bin/bash
# cove run NAME -- CMD: boots, waits for the agent, runs CMD with its output here, powers
# the guest off cleanly and exits with CMD's status; --rm does it on a throw-away clone.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create ci --memory 256M --disk-size 512M >/dev/null || fail "create"
disk=$COVE_HOME/vms/ci/disk.img

# --- output, status, a clean power off --------------------------------------------------
timeout 120 "$COVE" run ci -- sh -c 'echo out; echo err >&2; uname -m; hostname; echo kept >/root/kept; exit 7' \
    >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
[ $rc -eq 7 ] || { cat "$TMP/out" "$TMP/err"; fail "exit $rc, want 7"; }
[ "$(sed -n 1p "$TMP/out")" = out ] || fail "stdout: $(cat "$TMP/out")"
[ "$(sed -n 2p "$TMP/out")" = riscv64 ] || fail "uname -m: $(cat "$TMP/out")"
[ "$(sed -n 3p "$TMP/out")" = ci ] || fail "the hostname is not the VM's name: $(sed -n 3p "$TMP/out")"
[ "$(cat "$TMP/err")" = err ] || fail "stderr: $(cat "$TMP/err")"
grep -q "reboot: Power down" "$COVE_HOME/vms/ci/run/console.log" || fail "no clean power down"
dumpe2fs -h "$disk" 2>/dev/null | grep -q "Filesystem state: *clean" || fail "file system not clean"
debugfs -R 'cat /root/kept' "$disk" 2>/dev/null | grep -qx kept || fail "the file CMD wrote is lost"
[ "$("$COVE" get ci --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = stopped ] ||
    fail "the VM is not stopped afterwards"
echo "ok: -- CMD: stdout, stderr, status 7, hostname, clean power off, data kept"

timeout 120 "$COVE" run ci -- true </dev/null || fail "true: exit $?"
timeout 120 "$COVE" run ci -- no-such-command </dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 127 ] || fail "no-such-command: exit $rc, want 127"
grep -q "not found" "$TMP/err" || fail "127 message: $(cat "$TMP/err")"
echo "ok: -- true: 0; -- no-such-command: 127"

# -i forwards stdin; without it the command reads /dev/null
got=$(echo hello | timeout 120 "$COVE" run ci -i -- cat)
[ "$got" = hello ] || fail "-i: '$got'"
got=$(echo hello | timeout 120 "$COVE" run ci -- cat)
[ -z "$got" ] || fail "without -i stdin reached the command: '$got'"
echo "ok: -i forwards stdin, and only with -i"

# --- a signal goes to the command first ----------------------------------------------------
"$COVE" run ci -- sh -c 'echo started; sleep 100' >"$TMP/sig.out" 2>&1 </dev/null &
runner=$!
wait_for "$TMP/sig.out" started $runner
kill -INT $runner
for _ in $(seq 300); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
kill -0 $runner 2>/dev/null && fail "SIGINT did not end cove run -- sleep"
wait $runner
rc=$?
runner=""
[ $rc -eq 130 ] || { cat "$TMP/sig.out"; fail "SIGINT: exit $rc, want 130"; }
dumpe2fs -h "$disk" 2>/dev/null | grep -q "Filesystem state: *clean" || fail "not clean after SIGINT"
# (the first clone below moves the disk into a shared base: no more dumpe2fs on $disk)
echo "ok: SIGINT ends the command (130) and the guest powers off cleanly"

# --- --rm: a throw-away clone; the VM itself does not change ------------------------------
# a clone left by a killed --rm (its pid is gone) is swept by the next --rm; one whose
# process lives is not
"$COVE" clone ci ci-rm-4194303 >/dev/null || fail "clone a fake leftover"
sleep 600 &
alive=$!
"$COVE" clone ci "ci-rm-$alive" >/dev/null || fail "clone a live one"
timeout 120 "$COVE" run --rm ci -- sh -c 'echo scratch >/root/scratch; hostname' >"$TMP/rm.out" </dev/null ||
    fail "--rm: exit $?"
grep -q '^ci-rm-' "$TMP/rm.out" || fail "--rm did not run on a clone: $(cat "$TMP/rm.out")"
"$COVE" get ci-rm-4194303 >/dev/null 2>&1 && fail "the leftover of a killed --rm is still there"
"$COVE" get "ci-rm-$alive" >/dev/null || fail "--rm deleted a clone whose process lives"
kill $alive
"$COVE" delete "ci-rm-$alive" || fail "delete the live one's clone"
timeout 120 "$COVE" run ci -- test ! -e /root/scratch </dev/null || fail "--rm changed the VM itself"
[ "$("$COVE" list --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "--rm left a VM behind: $("$COVE" list)"
echo "ok: --rm ran on a clone and deleted it; the VM is unchanged"

# --- bad use -------------------------------------------------------------------------------
"$COVE" run --kernel "$KERNEL" -- true 2>"$TMP/err"
[ $? -eq 2 ] || fail "-- CMD without a name: not exit 2"
"$COVE" run nope -- true 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "does not exist" "$TMP/err" || fail "no such VM: $(cat "$TMP/err")"
echo "ok: bad use"
exit 0
