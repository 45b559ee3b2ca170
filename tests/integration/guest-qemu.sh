#!/bin/bash
# The default guest itself, checked on the reference peer (qemu-system-riscv64 -M virt) so
# that a guest problem is told apart from a cove problem: cove.exec runs its command and
# powers off with 1 and 4 vCPUs, and without it the guest prints cove-guest-ready and gives
# a job-control shell on the console. Also reports the wall time QEMU takes to the marker.
. "$(dirname "$0")/lib.sh"
command -v qemu-system-riscv64 >/dev/null || { echo "skip: no qemu-system-riscv64"; exit 77; }
need_guest

# qemu CPUS ARGS...: boots the guest, 120 s at most. The guest reboots on a panic;
# -no-reboot turns that into QEMU exiting, so a broken guest fails fast.
qemu() {
    local cpus=$1
    shift
    timeout 120 qemu-system-riscv64 -M virt -m 256M -smp "$cpus" -nographic -no-reboot \
        -kernel "$KERNEL" -initrd "$INITRD" "$@"
}

# --- cove.exec: output, exit status, poweroff ------------------------------------------
for cpus in 1 4; do
    qemu "$cpus" \
        -append 'cove.exec="uname -a; echo sum=$((6*7)); grep -c ^processor /proc/cpuinfo; cat /proc/cpuinfo"' \
        </dev/null >"$TMP/out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/out"; fail "cpus=$cpus: qemu exited $rc (no poweroff?)"; }
    expect_in "$TMP/out" '^Linux cove 6\.1\.[0-9]+ .* riscv64'
    expect_in "$TMP/out" '^sum=42'
    expect_in "$TMP/out" "^$cpus"$'\r?$'
    expect_in "$TMP/out" '^isa[[:space:]]*: rv64'
    expect_in "$TMP/out" '^cove-exec-status: 0'
    echo "ok: cove.exec, cpus=$cpus"
done

# a single-word command, a failing status, and the benchmark's loop
qemu 1 -append 'quiet cove.exec="cove-loop 1; false"' </dev/null >"$TMP/out" 2>&1 ||
    { tail -n 30 "$TMP/out"; fail "cove-loop run: qemu did not power off"; }
# the loop is plain integer C: built for the host it must print the very same line
cc -O2 -o "$TMP/cove-loop" "$(dirname "$0")/../../guest/cove-loop.c" || fail "cannot build cove-loop"
expect_in "$TMP/out" "^$("$TMP/cove-loop" 1)"
expect_in "$TMP/out" '^cove-exec-status: 1'
qemu 1 -append 'cove.exec=hostname quiet' </dev/null >"$TMP/out" 2>&1 ||
    { tail -n 30 "$TMP/out"; fail "single-word cove.exec: qemu did not power off"; }
expect_in "$TMP/out" '^cove'$'\r?$'
expect_in "$TMP/out" '^cove-exec-status: 0'
echo "ok: cove.exec status and cove-loop"

# --- interactive: marker, then a shell with job control on the console ------------------
mkfifo "$TMP/in"
start=$(date +%s.%N)
timeout 120 qemu-system-riscv64 -M virt -m 256M -smp 2 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" <"$TMP/in" >"$TMP/out" 2>&1 &
pid=$!
exec 3>"$TMP/in"
ready=""
for _ in $(seq 1200); do
    grep -q '^cove-guest-ready' "$TMP/out" && { ready=$(date +%s.%N); break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
done
expect_in "$TMP/out" '^cove-guest-ready'
echo 'echo "answer=$((40+2))"; tty; case $- in *m*) echo jobctl=on;; esac; exit' >&3
wait $pid
rc=$?
exec 3>&-
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out"; fail "interactive: qemu exited $rc"; }
expect_in "$TMP/out" '^answer=42'
expect_in "$TMP/out" '^/dev/ttyS0'
expect_in "$TMP/out" '^jobctl=on'
# the shell's exit powered the guest off (qemu exited 0 by itself, checked above)
echo "ok: interactive shell; qemu wall time to cove-guest-ready: $(echo "$ready - $start" | bc) s"
