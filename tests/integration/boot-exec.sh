#!/bin/bash
# The default guest boots on cove's soft CPU, runs the cove.exec command from the kernel
# command line, prints its exit status and powers off; cove exits 0. With 1 and 4 vCPUs
# (and cove.hostname=, valid and not);
# then the RTC alarm interrupt, seen by a guest program, and a kernel panic (exit 4).
. "$(dirname "$0")/lib.sh"
need_guest

# cove.hostname= names the guest; a name with other characters than [A-Za-z0-9.-] keeps "cove".
for cpus in 1 4; do
    if [ $cpus = 1 ]; then host=vm-1.test; want=vm-1.test; else host=bad_name; want=cove; fi
    timeout 120 "$COVE" run --cpus $cpus --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
        --append "cove.hostname=$host"' cove.exec="echo sum=$((6*7)); grep -c ^processor /proc/cpuinfo; echo host=$(hostname); exit 3"' \
        </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/out" "$TMP/err"; fail "cpus=$cpus: cove exited $rc"; }
    expect_in "$TMP/out" '^sum=42'
    # the guest sees exactly the vCPUs we gave it
    grep -qx "$cpus"$'\r\\?' "$TMP/out" || expect_in "$TMP/out" "^$cpus\s*$"
    expect_in "$TMP/out" 'cove-exec-status: 3'
    expect_in "$TMP/out" "^host=$want"$'\r?$'
    echo "ok: cpus=$cpus, cove.hostname=$host: $want"
done

# The goldfish RTC's alarm interrupt reaches the guest (tests/guest/rtc-alarm.c: RTC_ALM_SET,
# RTC_AIE_ON, a read() that blocks until the interrupt).
timeout 60 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --append 'quiet cove.exec="rtc-alarm 1"' </dev/null >"$TMP/out" 2>"$TMP/err" ||
    { tail -n 30 "$TMP/out" "$TMP/err"; fail "rtc-alarm run: cove exited $?"; }
expect_in "$TMP/out" '^rtc-alarm: fired after [0-9]+ ms'
expect_in "$TMP/out" 'cove-exec-status: 0'
echo "ok: RTC alarm interrupt"

# A guest kernel panic ends the run with exit 4 and one line (pvpanic), not a reboot loop.
timeout 60 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --append 'cove.exec="echo c >/proc/sysrq-trigger"' </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 4 ] || { tail -n 30 "$TMP/out" "$TMP/err"; fail "panic: cove exited $rc, want 4"; }
expect_in "$TMP/out" 'Kernel panic'
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q 'guest kernel panicked' "$TMP/err" ||
    { cat "$TMP/err"; fail "panic: not one line naming the panic"; }
[ "$(grep -c 'Linux version' "$TMP/out")" -le 1 ] || fail "panic: the guest booted again"
echo "ok: a kernel panic stops the run (exit 4)"
