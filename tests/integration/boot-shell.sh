#!/bin/bash
# Without cove.exec the default guest prints its ready marker and gives an interactive
# shell on the serial console; we type into it through a pipe and power it off from it.
. "$(dirname "$0")/lib.sh"
need_guest

mkfifo "$TMP/in"
timeout 120 "$COVE" run --cpus 2 --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"
wait_for "$TMP/out" cove-guest-ready $pid
echo 'echo "answer=$((40+2))"; poweroff -f' >&3
wait $pid
rc=$?
exec 3>&-
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out" "$TMP/err"; fail "cove exited $rc"; }
expect_in "$TMP/out" '^answer=42'
echo ok
