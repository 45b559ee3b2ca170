#!/bin/bash
# A hostile guest: /usr/bin/virtio-attack (tests/guest/virtio-attack.c) takes the rng, the
# balloon and an extra disk away from the guest kernel and drives them itself with malformed
# virtqueues (loops, indexes out of range, buffers outside RAM, oversize lengths, bad
# indirect tables, avail index jumps, bad virtio-blk requests, balloon page numbers and
# free page reports outside RAM). Passes when every case
# gets the right answer (NEEDS_RESET, or the right blk status), the devices work again
# for the kernel afterwards, cove exits 0 once the guest powers off (no crash, no hang),
# and the host disk file is unchanged. On 1 and 2 vCPUs.
. "$(dirname "$0")/lib.sh"
need_guest

IMG=$TMP/victim.img
# Contents worth protecting: random data at both ends, a hole in the middle.
truncate -s 32M "$IMG"
head -c 1M /dev/urandom | dd of="$IMG" conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$IMG" bs=1M seek=31 conv=notrunc status=none
before=$(sha256sum <"$IMG")
size_before=$(stat -c %s "$IMG")

# (the kernel command line is a single line)
CMD='virtio-attack rng balloon blk vda && echo hwrng=$(head -c 64 /dev/hwrng | wc -c) && echo balloon=$(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio) && sha256sum /dev/vda'
# attack CPUS: one run; 0 when every check holds, 2 when only the guest program died of
# SIGSEGV (see below), else the test fails.
attack() {
    local cpus=$1
    timeout 300 "$COVE" run --cpus $cpus --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
        --disk "$IMG" --append "quiet cove.exec=\"$CMD\"" \
        </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    tr -d '\r' <"$TMP/out" >"$TMP/log"
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/log" "$TMP/err"; fail "cpus=$cpus: cove exited $rc"; }
    # whatever the guest did, the host disk file is as it was
    [ "$(sha256sum <"$IMG")" = "$before" ] && [ "$(stat -c %s "$IMG")" = "$size_before" ] ||
        fail "cpus=$cpus: the disk image changed"
    grep 'FAIL' "$TMP/log" && fail "cpus=$cpus: a case failed"
    # Known, pre-existing and not understood yet: on 2 vCPUs the attack program itself dies
    # of SIGSEGV in about 1 run in 30 (the cove of 2026-11-24 does the same), cove staying
    # well. It is retried once, loudly; twice in a row fails the test.
    if grep -q '^cove-exec-status: 139$' "$TMP/log"; then
        grep -B1 'Segmentation fault' "$TMP/log" | head -n 2 | sed 's/^/   /'
        return 2
    fi
    return 0
}

for cpus in 1 2; do
    attack $cpus
    if [ $? -eq 2 ]; then
        echo "KNOWN FLAKE: cpus=$cpus: the guest attack program died of SIGSEGV; once more"
        attack $cpus || fail "cpus=$cpus: the guest attack program died of SIGSEGV twice"
    fi
    expect_in "$TMP/log" '^virtio-attack: [1-9][0-9]* passed, 0 failed$'
    # both devices were attacked
    expect_in "$TMP/log" '^virtio-attack: rng: .*: ok'
    expect_in "$TMP/log" '^virtio-attack: balloon: free page report of our page: ok'
    expect_in "$TMP/log" '^virtio-attack: vda: .*: ok'
    # and the kernel drivers took them back and use them
    expect_in "$TMP/log" '^hwrng=64$'
    expect_in "$TMP/log" '^balloon=1$'
    expect_in "$TMP/log" "^${before%% *}  /dev/vda$"
    expect_in "$TMP/log" '^cove-exec-status: 0$'
    # the VMM said what the guest did wrong, and went on
    expect_in "$TMP/err" 'virtio-(rng|blk): guest error'
    echo "ok: cpus=$cpus: $(grep -E '^virtio-attack: [0-9]+ passed' "$TMP/log")"
done
