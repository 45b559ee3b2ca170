#!/bin/bash
# Debian's OpenSBI (fw_dynamic) runs in M-mode on cove's CPU and boots the default guest's
# kernel as its payload; then OpenSBI -> U-Boot (qemu-riscv64_smode) reaches its prompt.
. "$(dirname "$0")/lib.sh"
need_guest
FW=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
UBOOT=/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin
[ -f $FW ] || { echo "no OpenSBI ($FW)"; exit 77; }

timeout 180 "$COVE" run --cpus 2 --memory 256M --firmware $FW --kernel "$KERNEL" --initrd "$INITRD" \
    --append 'cove.exec="echo via-opensbi"' </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || { tail -n 30 "$TMP/out" "$TMP/err"; fail "opensbi boot: cove exited $rc"; }
expect_in "$TMP/out" 'OpenSBI'
expect_in "$TMP/out" '^via-opensbi'
expect_in "$TMP/out" 'cove-exec-status: 0'
echo "ok: OpenSBI -> Linux"

[ -f $UBOOT ] || { echo "no U-Boot ($UBOOT)"; exit 77; }
mkfifo "$TMP/in"
timeout 120 "$COVE" run --memory 256M --firmware $FW --kernel $UBOOT <"$TMP/in" >"$TMP/uout" 2>&1 &
pid=$!
exec 3>"$TMP/in"
for _ in $(seq 1200); do
    grep -q '=> ' "$TMP/uout" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
expect_in "$TMP/uout" 'U-Boot'
expect_in "$TMP/uout" '=> '
# Type a command at the prompt; its answer proves the console works both ways.
echo 'echo uboot-echo-ok' >&3
for _ in $(seq 100); do grep -q '^uboot-echo-ok' "$TMP/uout" && break; sleep 0.1; done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
exec 3>&-
expect_in "$TMP/uout" '^uboot-echo-ok'
echo "ok: OpenSBI -> U-Boot prompt"
