#!/bin/bash
# NVMe throughput and latency, cove (--disk IMG,if=nvme) vs qemu-system-riscv64
# (-device nvme on QEMU virt's PCIe host bridge) on the default guest, same kernel and
# initrd; both run the controller with INTx (neither board has an MSI controller here).
# The guest uses busybox dd with O_DIRECT on /dev/nvme0n1 (a fresh sparse image whose file
# sits in the host's page cache), so what is measured is each VMM's NVMe path plus the
# guest's block layer:
#   seq-write / seq-read   MIB MiB in 1 MiB requests (MiB/s)
#   4k-write / 4k-read     MIB4K MiB in 4 KiB requests, one at a time (MiB/s; per-request cost)
#   rand-write / rand-read N4K single 4 KiB requests at random offsets, one dd each (IOPS;
#                          includes a process spawn per request, the same work on both VMMs)
# Prints the median of the runs for both and the ratio cove/qemu (higher is better).
#   bench/nvme.sh [--mib N] [--mib4k N] [--n4k N] [--runs N]   (default 512, 32, 256, 3)
set -u
cd "$(dirname "$0")/.." || exit 1
MIB=512 MIB4K=32 N4K=256 RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --mib4k) MIB4K=$2; shift 2 ;;
    --n4k) N4K=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/nvme.sh [--mib N] [--mib4k N] [--n4k N] [--runs N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh # median

D=/dev/nvme0n1
BLOCKS=$(((MIB << 20) / 4096))
# dd prints "N bytes (..) copied, S seconds, ..."; each line is tagged with its test.
GUEST_CMD="dd if=/dev/zero of=$D bs=1M count=$MIB oflag=direct 2>&1 | grep copied | sed s/^/seq-write:/;
    dd if=$D of=/dev/null bs=1M count=$MIB iflag=direct 2>&1 | grep copied | sed s/^/seq-read:/;
    dd if=/dev/zero of=$D bs=4k count=$((MIB4K * 256)) oflag=direct 2>&1 | grep copied | sed s/^/4k-write:/;
    dd if=$D of=/dev/null bs=4k count=$((MIB4K * 256)) iflag=direct 2>&1 | grep copied | sed s/^/4k-read:/;
    for m in write read; do t0=\$(cut -d' ' -f1 /proc/uptime); i=0;
        while [ \$i -lt $N4K ]; do b=\$((RANDOM * 32768 + RANDOM)); b=\$((b % $BLOCKS));
            if [ \$m = write ]; then dd if=/dev/zero of=$D bs=4k count=1 seek=\$b oflag=direct 2>/dev/null;
            else dd if=$D of=/dev/null bs=4k count=1 skip=\$b iflag=direct 2>/dev/null; fi; i=\$((i + 1)); done;
        echo rand-\$m: \$t0 \$(cut -d' ' -f1 /proc/uptime); done"
APPEND="quiet cove.exec=\"$(echo "$GUEST_CMD" | tr '\n' ' ' | tr -s ' ')\""

# MiB/s of a dd line, IOPS of a rand line.
rate_of() {
    tr -d '\r' <"$TMP/vm.log" | case $1 in
    rand-*) awk -v t="$1:" -v n="$N4K" '$1 == t && $3 > $2 { printf "%.0f\n", n / ($3 - $2) }' ;;
    *) sed -n "s/^$1:\([0-9]*\) bytes .* copied, \([0-9.]*\) seconds.*/\1 \2/p" |
        awk '$2 > 0 { printf "%.1f\n", $1 / 1048576 / $2 }' ;;
    esac
}

TESTS=(seq-write seq-read 4k-write 4k-read rand-write rand-read)
declare -A result
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    declare -A runs=()
    for _ in $(seq "$RUNS"); do
        rm -f "$TMP/disk.img"
        truncate -s "${MIB}M" "$TMP/disk.img"
        if [ $vmm = cove ]; then
            timeout 900 "$COVE" run --memory 256M --kernel "$G/Image" --initrd "$G/initrd" \
                --disk "$TMP/disk.img,if=nvme" --append "$APPEND" </dev/null >"$TMP/vm.log" 2>&1
        else
            timeout 900 qemu-system-riscv64 -M virt -m 256M -nographic -kernel "$G/Image" \
                -initrd "$G/initrd" -append "$APPEND" \
                -drive file="$TMP/disk.img",if=none,id=d,format=raw \
                -device nvme,serial=bench,drive=d </dev/null >"$TMP/vm.log" 2>&1
        fi
        for t in "${TESTS[@]}"; do
            v=$(rate_of "$t")
            [ -n "$v" ] && runs[$t]="${runs[$t]:-} $v" || { echo "$vmm: no $t result" >&2; tail -n 5 "$TMP/vm.log" >&2; }
        done
    done
    for t in "${TESTS[@]}"; do
        result[$vmm,$t]=$(printf '%s\n' ${runs[$t]:-} | median)
        echo "$vmm $t runs:${runs[$t]:- none}"
    done
    unset runs
done

printf '%-11s %10s %10s %8s   (%s MiB seq, %s MiB 4k, %s random; MiB/s, random: IOPS)\n' \
    "" cove qemu ratio "$MIB" "$MIB4K" "$N4K"
for t in "${TESTS[@]}"; do
    c=${result[cove,$t]:-} q=${result[qemu,$t]:-}
    printf '%-11s %10s %10s %8s\n' "$t" "${c:--}" "${q:--}" \
        "$([ -n "$c" ] && [ -n "$q" ] && awk -v c="$c" -v q="$q" 'BEGIN { printf "%.2f", c / q }')"
done
