#!/bin/bash
# SIGTERM and SIGINT to `cove run` (as `timeout 600 cove run` sends in CI) power the guest
# off cleanly before the process ends: through the guest agent, else the console's SysRq;
# a guest that obeys neither is stopped by force on a second signal or after the shutdown
# timeout. The file system written just before the signal is clean and holds the data.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create sg --memory 256M --disk-size 512M >/dev/null || fail "create"
log=$COVE_HOME/vms/sg/run/console.log


# wait_exit PID SECONDS: the exit status of PID, which must end within SECONDS.
wait_exit() {
    local _
    for _ in $(seq $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
        sleep 0.1
    done
    fail "cove run did not end within $2 s of the signal"
}

check_clean() { # $1: the marker's text
    dumpe2fs -h "$COVE_HOME/vms/sg/disk.img" 2>/dev/null | grep -q "Filesystem state: *clean" ||
        fail "the file system is not clean after the signal"
    debugfs -R 'cat /root/marker' "$COVE_HOME/vms/sg/disk.img" 2>/dev/null | grep -qx "$1" ||
        fail "the marker written before the signal is not on the disk"
}

# --- SIGTERM: the agent powers the guest off ----------------------------------------------
start_vm sg
"$COVE" exec sg -- sh -c 'echo term >/root/marker' || fail "marker"
kill -TERM $runner
wait_exit $runner 60
rc=$?
runner=""
[ $rc -eq 0 ] || { cat "$TMP/run-sg.out"; fail "SIGTERM: exit $rc"; }
grep -q "reboot: Power down" "$log" || fail "SIGTERM: the guest did not power down"
check_clean term
echo "ok: SIGTERM: the agent powered the guest off, file system clean, data on disk"

# --- SIGINT without an agent: the console's SysRq -----------------------------------------
start_vm sg
"$COVE" exec sg -- sh -c 'echo int >/root/marker; for p in $(pidof cove-agent); do
    [ "$p" = "$PPID" ] || kill "$p"; done'
"$COVE" exec --timeout 2 sg -- true 2>/dev/null && fail "the agent is still there"
kill -INT $runner
wait_exit $runner 60
rc=$?
runner=""
[ $rc -eq 0 ] || { cat "$TMP/run-sg.out"; fail "SIGINT: exit $rc"; }
grep -q "sysrq: Power Off" "$log" || fail "SIGINT: no SysRq power off"
check_clean int
echo "ok: SIGINT without an agent: SysRq powered the guest off, file system clean"

# --- a guest that obeys nothing: a second signal forces, else the timeout ----------------
# A bare-metal guest: it says it is ready through SBI and then waits for ever, deaf to the
# agent (it has none) and to SysRq (it is not Linux).
command -v riscv64-linux-gnu-gcc >/dev/null || fail "no riscv64 cross compiler (scripts/install-deps.sh)"
cat >"$TMP/deaf.S" <<'EOF'
.globl _start
_start:
    la s1, msg
1:  lbu a0, 0(s1)
    beqz a0, 2f
    li a7, 1            /* legacy SBI console_putchar */
    ecall
    addi s1, s1, 1
    j 1b
2:  wfi
    j 2b
msg: .asciz "deaf-ready\n"
EOF
riscv64-linux-gnu-gcc -nostdlib -static -Wl,-Ttext=0x80200000 -o "$TMP/deaf.elf" "$TMP/deaf.S" ||
    fail "cannot build the deaf guest"
guest_deaf() {
    "$COVE" run --kernel "$TMP/deaf.elf" --memory 64M </dev/null >"$TMP/deaf.out" 2>&1 &
    runner=$!
    wait_for "$TMP/deaf.out" deaf-ready $runner
}
guest_deaf
kill -TERM $runner
sleep 2
kill -0 $runner 2>/dev/null || fail "a guest that ignores SysRq was stopped by the first signal"
kill -TERM $runner
wait_exit $runner 10
rc=$?
runner=""
[ $rc -eq 0 ] || { cat "$TMP/deaf.out"; fail "second SIGTERM: exit $rc"; }
echo "ok: a second SIGTERM stops a deaf guest at once"

guest_deaf
t0=$(date +%s)
kill -TERM $runner
wait_exit $runner 60
runner=""
t=$(( $(date +%s) - t0 ))
grep -q "did not power off within 20 s" "$TMP/deaf.out" || { cat "$TMP/deaf.out"; fail "no timeout message"; }
[ $t -ge 19 ] || fail "forced after $t s, before the 20 s timeout"
echo "ok: a deaf guest is stopped by force after the 20 s shutdown timeout ($t s)"
exit 0
