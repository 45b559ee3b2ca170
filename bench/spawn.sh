#!/bin/bash
# Process creation, cove vs qemu-system-riscv64, on the default guest: the guest's shell
# runs /bin/true N times (fork + exec + exit + wait each, i.e. page tables built and torn
# down, TLB flushes, context switches: what a CI job's shell scripts do all day). The
# time of a run with N = 0 is subtracted, so boot is out of it. Prints ms per spawn
# (median of the runs) and the ratio cove/qemu (lower is better).
#   bench/spawn.sh [--count N] [--runs N] [--cpus N]   (default 2000, 3, 1)
set -u
cd "$(dirname "$0")/.." || exit 1
COUNT=2000 RUNS=3 CPUS=1
while [ $# -gt 0 ]; do
    case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) echo "usage: bench/spawn.sh [--count N] [--runs N] [--cpus N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1

append() { echo "quiet cove.exec=\"i=0; while [ \$i -lt $1 ]; do /bin/true; i=\$((i+1)); done\""; }

# wall N VMM: seconds for one boot that spawns N processes
wall() {
    local n=$1 vmm=$2 t0 t1
    t0=$(date +%s.%N)
    if [ "$vmm" = cove ]; then
        timeout 600 "$COVE" run --cpus "$CPUS" --memory 256M --kernel "$G/Image" \
            --initrd "$G/initrd" --append "$(append "$n")" </dev/null >/dev/null 2>&1
    else
        timeout 600 qemu-system-riscv64 -M virt -m 256M -smp "$CPUS" -nographic \
            -kernel "$G/Image" -initrd "$G/initrd" -append "$(append "$n")" \
            </dev/null >/dev/null 2>&1
    fi || { echo "$vmm: a run failed" >&2; return 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

. bench/lib.sh # median

declare -A per
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    ms=()
    for _ in $(seq "$RUNS"); do
        base=$(wall 0 $vmm) && full=$(wall "$COUNT" $vmm) || continue
        ms+=("$(echo "($full - $base) * 1000 / $COUNT" | bc -l)")
    done
    per[$vmm]=$(printf '%s\n' "${ms[@]}" | median)
    printf '%s: ms per spawn, runs: %s\n' "$vmm" "$(printf '%.3f ' "${ms[@]}")"
done
printf '%-6s %14s   (%s x fork+exec of /bin/true, %s vCPU)\n' "" "ms per spawn" "$COUNT" "$CPUS"
for vmm in cove qemu; do
    [ -n "${per[$vmm]:-}" ] && printf '%-6s %14.3f\n' "$vmm" "${per[$vmm]}"
done
if [ -n "${per[cove]:-}" ] && [ -n "${per[qemu]:-}" ]; then
    awk -v c="${per[cove]}" -v q="${per[qemu]}" \
        'BEGIN { printf "ratio  %14.2f   (cove/qemu, lower is better)\n", c / q }'
fi
