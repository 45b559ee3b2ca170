#!/bin/bash
# The guest console on virtio-console (hvc0) instead of the UART: `cove run --console
# virtio` runs cove.exec with /dev/hvc0 as its tty and hvc0 as the kernel console; the
# interactive shell reads typed lines from it, a 3000-line paste arrives whole (input is
# held back while the guest has no receive buffers, never dropped); a named VM runs with
# its console log written from hvc0 and, with the guest agent gone, `cove stop` powers it
# off through ^O SysRq on hvc0.
. "$(dirname "$0")/lib.sh"
need_guest

run() { timeout 120 "$COVE" run --cpus 2 --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --console virtio "$@"; }

# --- cove.exec on hvc0 ----------------------------------------------------------------
run --append 'cove.exec="tty; cat /proc/consoles; echo sum=$((6*7))"' </dev/null \
    >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "cove.exec run exited $?"; }
expect_in "$TMP/out" '^/dev/hvc0'$'\r?$'
expect_in "$TMP/out" '^hvc0 .*\(.*C.*\)'
expect_in "$TMP/out" '^sum=42'
expect_in "$TMP/out" '^cove-exec-status: 0'
if grep -q '^ttyS0 ' "$TMP/out"; then fail "ttyS0 is still a console"; fi
echo "ok: cove.exec on /dev/hvc0, hvc0 the only console"

# --- interactive: typed lines and a long paste ------------------------------------------
mkfifo "$TMP/in"
run <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"
wait_for "$TMP/out" cove-guest-ready $pid
# echo off, so that the paste does not come back as 150 KB of echo
echo 'stty -echo; n=0; while read -r l; do [ "$l" = END ] && break; n=$((n+1)); done; echo "lines=$n"' >&3
for i in $(seq 3000); do printf 'line %05d abcdefghijklmnopqrstuvwxyz0123456789\n' "$i"; done >&3
echo END >&3
echo 'echo "answer=$((40+2))"; tty; exit' >&3
wait $pid
rc=$?
exec 3>&-
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out" "$TMP/err"; fail "interactive run exited $rc"; }
expect_in "$TMP/out" 'lines=3000'
expect_in "$TMP/out" 'answer=42'
expect_in "$TMP/out" '^/dev/hvc0'
echo "ok: interactive shell on hvc0, 3000 pasted lines arrived"

# --- a named VM: console log from hvc0, SysRq stop over hvc0 ----------------------------
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
"$COVE" create vc --memory 256M --disk-size 256M >/dev/null || fail "create"
"$COVE" run vc --no-console --console virtio \
    --append 'cove.exec="kill $(pidof cove-agent); tty; while :; do echo tick; sleep 0.1; done"' \
    >"$TMP/runner.out" 2>&1 &
runner=$!
log=$COVE_HOME/vms/vc/run/console.log
for _ in $(seq 300); do grep -q tick "$log" 2>/dev/null && break; sleep 0.1; done
expect_in "$log" '^/dev/hvc0'
expect_in "$log" tick
timeout 60 "$COVE" stop vc --timeout 30 || { cat "$TMP/runner.out"; fail "stop"; }
wait $runner || fail "cove run exited $? after stop"
runner=""
expect_in "$log" 'sysrq: Power Off'
echo "ok: named VM on hvc0 stopped through ^O SysRq"
