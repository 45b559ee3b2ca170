#!/bin/bash
# The default guest boots on cove's soft CPU, runs the cove.exec command from the kernel
# command line, prints its exit status and powers off; cove exits 0. With 1 and 4 vCPUs;
# then the RTC alarm interrupt, seen by a guest program.
. "$(dirname "$0")/lib.sh"
need_guest

for cpus in 1 4; do
    timeout 120 "$COVE" run --cpus $cpus --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
        --append 'cove.exec="echo sum=$((6*7)); grep -c ^processor /proc/cpuinfo; exit 3"' \
        </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/out" "$TMP/err"; fail "cpus=$cpus: cove exited $rc"; }
    expect_in "$TMP/out" '^sum=42'
    # the guest sees exactly the vCPUs we gave it
    grep -qx "$cpus"$'\r\\?' "$TMP/out" || expect_in "$TMP/out" "^$cpus\s*$"
    expect_in "$TMP/out" 'cove-exec-status: 3'
    echo "ok: cpus=$cpus"
done

# The goldfish RTC's alarm interrupt reaches the guest (tests/guest/rtc-alarm.c: RTC_ALM_SET,
# RTC_AIE_ON, a read() that blocks until the interrupt).
timeout 60 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --append 'quiet cove.exec="rtc-alarm 1"' </dev/null >"$TMP/out" 2>"$TMP/err" ||
    { tail -n 30 "$TMP/out" "$TMP/err"; fail "rtc-alarm run: cove exited $?"; }
expect_in "$TMP/out" '^rtc-alarm: fired after [0-9]+ ms'
expect_in "$TMP/out" 'cove-exec-status: 0'
echo "ok: RTC alarm interrupt"
