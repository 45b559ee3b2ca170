#!/bin/bash
# Without cove.exec the default guest prints its ready marker and gives an interactive
# shell on the serial console; we type into it through a pipe (^C included: it stops the
# command running, whose signals are all at their default) and power it off from it.
. "$(dirname "$0")/lib.sh"
need_guest

mkfifo "$TMP/in"
timeout 120 "$COVE" run --cpus 2 --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"
wait_for "$TMP/out" cove-guest-ready $pid
# Commands from the console's shell start with no signal ignored, and ^C stops one.
echo 'grep SigIgn /proc/self/status; echo sleeping; sleep 100' >&3
wait_for "$TMP/out" '^sleeping' $pid
sleep 0.5
printf '\003' >&3
echo 'echo "sleep-status=$?"' >&3
for _ in $(seq 100); do grep -q '^sleep-status=' "$TMP/out" && break; sleep 0.1; done
expect_in "$TMP/out" '^sleep-status=130'
expect_in "$TMP/out" '^SigIgn:[[:space:]]+0+'$'\r?$'
echo 'echo "answer=$((40+2))"; poweroff -f' >&3
wait $pid
rc=$?
exec 3>&-
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out" "$TMP/err"; fail "cove exited $rc"; }
expect_in "$TMP/out" '^answer=42'
echo ok
