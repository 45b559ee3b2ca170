#!/bin/bash
# SMP (issue 17): does a second vCPU pay, and do more vCPUs cost boot time? cove and
# qemu-system-riscv64 (TCG) on the default guest, in one run, iterations interleaved.
#   par   bench/cpu/par.c (two processes of the same integer work side by side, timed
#         inside the guest) on 1 vCPU and on 2: speedup = time(1 vCPU) / time(2 vCPUs),
#         through bench/cpu.sh --only par --cpus N (its disk, its checksums).
#   boot  wall time of `run` with cove.exec=true (boot, the command, power-off) with 1
#         and with 4 vCPUs: slowdown = time(4) / time(1).
# Medians of the iterations. Targets (issue 17): speedup >= 1.8 on this 2-core host;
# boot slowdown <= 1.15. A benchmark, not a test: not part of the suite.
#   bench/smp.sh [--runs N] [--cove [LABEL=]PATH]... [--no-qemu]
# --cove is repeatable (--cove base=/tmp/cove-old --cove new=build/cove compares two
# builds in the same run, iterations interleaved).
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=3 QEMU=1 COVES=()
usage() {
    echo "usage: bench/smp.sh [--runs N] [--cove [LABEL=]PATH]... [--no-qemu]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
    --cove) [ $# -ge 2 ] || usage; COVES+=("$2"); shift 2 ;;
    --no-qemu) QEMU=0; shift ;;
    *) usage ;;
    esac
done
case $RUNS in '' | *[!0-9]* | 0) echo "bench/smp.sh: --runs needs a positive number, not '$RUNS'" >&2; exit 2 ;; esac
declare -A BIN
. bench/lib.sh # cove_builds, median
cove_builds bench/smp.sh
if [ $QEMU = 1 ] && ! command -v qemu-system-riscv64 >/dev/null; then
    echo "bench/smp.sh: no qemu-system-riscv64; running without it" >&2
    QEMU=0
fi
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
VMMS=("${LABELS[@]}")
[ $QEMU = 1 ] && VMMS+=(qemu)
QOPT=()
[ $QEMU = 1 ] || QOPT=(--no-qemu)
for l in "${LABELS[@]}"; do QOPT+=(--cove "$l=${BIN[$l]}"); done

now_ns() { date +%s%N; }
# boot_ms VMM CPUS: one boot to `true` and power-off, in ms of wall time.
boot_ms() {
    local t0
    t0=$(now_ns)
    if [ "$1" != qemu ]; then
        timeout 300 "${BIN[$1]}" run --cpus "$2" --memory 256M --kernel "$G/Image" \
            --initrd "$G/initrd" --append 'quiet cove.exec=true' </dev/null >/dev/null 2>&1
    else
        timeout 300 qemu-system-riscv64 -M virt -m 256M -smp "$2" -nographic \
            -kernel "$G/Image" -initrd "$G/initrd" -append 'quiet cove.exec=true' \
            </dev/null >/dev/null 2>&1
    fi || { echo "bench/smp.sh: $1 failed to boot with $2 vCPUs" >&2; exit 1; }
    echo $(( ($(now_ns) - t0) / 1000000 ))
}

declare -A T
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
    for n in 1 2; do
        out=$(bench/cpu.sh --runs 1 --only par --no-native --cpus $n "${QOPT[@]}") ||
            { echo "bench/smp.sh: bench/cpu.sh --only par --cpus $n failed" >&2; exit 1; }
        line=$(grep '^par ' <<<"$out")
        # par's line: the workload, then the ms of each VMM in the order of VMMS
        for k in "${!VMMS[@]}"; do
            T[${VMMS[$k]},par,$n]+="$(awk -v f=$((k + 2)) '{print $f}' <<<"$line") "
        done
    done
    for n in 1 4; do
        for vmm in "${VMMS[@]}"; do
            T[$vmm,boot,$n]+="$(boot_ms $vmm $n) " || exit 1
        done
    done
    echo "run $i done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done

printf '%-5s %10s %10s %10s %10s %12s %14s\n' vmm 'par 1 ms' 'par 2 ms' 'boot 1 ms' 'boot 4 ms' \
    'par speedup' 'boot 4/1'
for vmm in "${VMMS[@]}"; do
    p1=$(printf '%s\n' ${T[$vmm,par,1]} | median) p2=$(printf '%s\n' ${T[$vmm,par,2]} | median)
    b1=$(printf '%s\n' ${T[$vmm,boot,1]} | median) b4=$(printf '%s\n' ${T[$vmm,boot,4]} | median)
    awk -v v=$vmm -v p1="$p1" -v p2="$p2" -v b1="$b1" -v b4="$b4" 'BEGIN {
        printf "%-5s %10s %10s %10s %10s %12.2f %14.2f\n", v, p1, p2, b1, b4, p1 / p2, b4 / b1 }'
done
printf '(medians of %s runs; speedup: higher is better, target >= 1.8; boot 4/1: target <= 1.15)\n' "$RUNS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
