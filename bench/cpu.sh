#!/bin/bash
# CPU workloads (issue 17), cove vs qemu-system-riscv64 vs native, on the default guest
# unchanged. The C programs of bench/cpu/ (int: CRC/hash + qsort + a bytecode interpreter;
# fp: Whetstone-like with divisions, sqrt and libm; chase: 64 MiB random pointer chase;
# fault: page-faulting 64 MiB in; fork: 200 forks dirtying 16 pages each; par, only when
# named: two processes of integer work side by side, for bench/smp.sh) are compiled
# statically with riscv64-linux-gnu-gcc -O2 onto a small read-only ext4 disk, and natively
# with gcc -O2, cached under ~/.cache/cove/bench/cpu-KEY (KEY: the sources and compilers).
# Both VMMs boot the same kernel and initrd with that disk as /dev/vda (1 vCPU or --cpus, 512 MiB)
# and a cove.exec that mounts it and runs the workloads; each prints its own time taken
# inside the guest (clock_gettime), so boot is excluded. Iterations interleave the VMMs
# (cove, [other coves], qemu, native); prints the medians in ms and the ratios
# cove/qemu and cove/native (lower is better), each the median of the ratios of the
# same iteration (on a loaded host, neighbours in time share the load). A checksum per
# workload must agree between the VMMs. A benchmark, not a test: not part of the suite.
#   bench/cpu.sh [--runs N] [--only "int fp ..."] [--cove [LABEL=]PATH]... [--no-qemu]
#                [--no-native] [--cpus N]
# Default: 3 runs of all five; --cove is repeatable (e.g. --cove base=/tmp/cove-old
# --cove new=build/cove compares two builds in the same run).
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=3 ONLY="int fp chase fault fork" QEMU=1 NATIVE=1 MEM=512M CPUS=1
COVES=()
usage() {
    echo "usage: bench/cpu.sh [--runs N] [--only \"int fp chase fault fork\"]" \
        "[--cove [LABEL=]PATH]... [--no-qemu] [--no-native] [--cpus N]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || usage; ONLY=$2; shift 2 ;;
    --cove) [ $# -ge 2 ] || usage; COVES+=("$2"); shift 2 ;;
    --no-qemu) QEMU=0; shift ;;
    --no-native) NATIVE=0; shift ;;
    --cpus) [ $# -ge 2 ] || usage; CPUS=$2; shift 2 ;;
    *) usage ;;
    esac
done
case $RUNS in '' | *[!0-9]* | 0) echo "bench/cpu.sh: --runs needs a positive number, not '$RUNS'" >&2; exit 2 ;; esac
case $CPUS in '' | *[!0-9]* | 0) echo "bench/cpu.sh: --cpus needs a positive number, not '$CPUS'" >&2; exit 2 ;; esac
for w in $ONLY; do
    [ -f "bench/cpu/$w.c" ] || { echo "bench/cpu.sh: no workload '$w' (bench/cpu/*.c)" >&2; exit 2; }
done
declare -A BIN
. bench/lib.sh # cove_builds, median
cove_builds bench/cpu.sh
if [ $QEMU = 1 ] && ! command -v qemu-system-riscv64 >/dev/null; then
    echo "bench/cpu.sh: no qemu-system-riscv64; running without it" >&2
    QEMU=0
fi
for tool in riscv64-linux-gnu-gcc gcc mkfs.ext4; do
    command -v $tool >/dev/null || PATH=$PATH:/usr/sbin command -v $tool >/dev/null ||
        { echo "bench/cpu.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1

# The binaries and the disk, built once per version of the sources and compilers.
key=$( { cat bench/cpu/*.c bench/cpu/*.h; riscv64-linux-gnu-gcc --version; gcc --version
         echo "recipe 1"; } | sha256sum | cut -c1-16)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cove/bench/cpu-$key
if [ ! -f "$CACHE/disk.img" ]; then
    mkdir -p "$(dirname "$CACHE")"
    tmp=$(mktemp -d "$CACHE.tmp.XXXXXX") || exit 1
    mkdir -p "$tmp/rv" "$tmp/native"
    for src in bench/cpu/*.c; do
        w=$(basename "$src" .c)
        riscv64-linux-gnu-gcc -O2 -static -o "$tmp/rv/$w" "$src" -lm &&
            gcc -O2 -o "$tmp/native/$w" "$src" -lm ||
            { echo "bench/cpu.sh: cannot compile $src" >&2; rm -rf "${tmp:?}"; exit 1; }
    done
    mkfs.ext4 -q -F -L cove-bench -d "$tmp/rv" "$tmp/disk.img" 16M >/dev/null ||
        { echo "bench/cpu.sh: mkfs.ext4 failed" >&2; rm -rf "${tmp:?}"; exit 1; }
    rm -rf "${CACHE:?}"
    mv "$tmp" "$CACHE" || exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "${TMP:?}"' EXIT
# The VMMs must not write the cached disk: each run gets a copy, attached read-only.
cp "$CACHE/disk.img" "$TMP/disk.img"

APPEND="quiet cove.exec=\"mkdir -p /mnt/b && mount -r -t ext4 /dev/vda /mnt/b && for w in $ONLY; do /mnt/b/\$w || echo CPU-FAILED \$w; done\""

declare -A T R CK # T[label,w]: the times (ms) of the runs; R[label,w,i]: that of run i
                  # CK[w]: the checksum
# collect LABEL LOG: files the CPU-RESULT lines of LOG under LABEL.
collect() {
    local name w ms ck got=0
    while read -r name w ms ck; do
        [ "$name" = CPU-RESULT ] || continue
        T[$1,$w]+="$ms "
        R[$1,$w,$i]=$ms
        got=$((got + 1))
        if [ "$1" != native ]; then
            if [ -n "${CK[$w]:-}" ] && [ "${CK[$w]}" != "$ck" ]; then
                echo "bench/cpu.sh: $1 computed $w differently ($ck, not ${CK[$w]})" >&2
                MISMATCH=1
            fi
            CK[$w]=$ck
        fi
    done < <(tr -d '\r' <"$2")
    if [ "$got" -ne "$(echo $ONLY | wc -w)" ]; then
        echo "bench/cpu.sh: a $1 run failed; its log ends:" >&2
        tail -n 5 "$2" >&2
    fi
}
MISMATCH=0
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
    for l in "${LABELS[@]}"; do
        timeout 900 "${BIN[$l]}" run --cpus "$CPUS" --memory $MEM --kernel "$G/Image" --initrd "$G/initrd" \
            --disk "$TMP/disk.img,ro" --append "$APPEND" </dev/null >"$TMP/log" 2>&1
        collect "$l" "$TMP/log"
    done
    if [ $QEMU = 1 ]; then
        timeout 900 qemu-system-riscv64 -M virt -m $MEM -smp "$CPUS" -nographic \
            -kernel "$G/Image" -initrd "$G/initrd" -append "$APPEND" \
            -drive file="$TMP/disk.img",format=raw,if=none,id=d,readonly=on \
            -device virtio-blk-device,drive=d </dev/null >"$TMP/log" 2>&1
        collect qemu "$TMP/log"
    fi
    if [ $NATIVE = 1 ]; then
        : >"$TMP/log"
        for w in $ONLY; do "$CACHE/native/$w" >>"$TMP/log" 2>&1; done
        collect native "$TMP/log"
    fi
    echo "run $i done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done

COLS=("${LABELS[@]}")
[ $QEMU = 1 ] && COLS+=(qemu)
[ $NATIVE = 1 ] && COLS+=(native)
printf '%-8s' workload
for c in "${COLS[@]}"; do printf ' %10s' "$c ms"; done
for l in "${LABELS[@]}"; do
    [ $QEMU = 1 ] && printf ' %12s' "$l/qemu"
    [ $NATIVE = 1 ] && printf ' %12s' "$l/native"
done
printf '   (%s vCPU; medians of %s runs and of their ratios: lower is better)\n' "$CPUS" "$RUNS"
for w in $ONLY; do
    declare -A M=()
    printf '%-8s' "$w"
    for c in "${COLS[@]}"; do
        M[$c]=$(printf '%s\n' ${T[$c,$w]:-} | median)
        printf ' %10s' "${M[$c]:--}"
    done
    for l in "${LABELS[@]}"; do
        for ref in qemu native; do
            [ "$ref" = qemu ] && [ $QEMU = 0 ] && continue
            [ "$ref" = native ] && [ $NATIVE = 0 ] && continue
            ratios=$(for i in $(seq "$RUNS"); do
                [ -n "${R[$l,$w,$i]:-}" ] && [ -n "${R[$ref,$w,$i]:-}" ] &&
                    awk -v a="${R[$l,$w,$i]}" -v b="${R[$ref,$w,$i]}" 'BEGIN { printf "%.3f\n", a / b }'
            done | median)
            if [ -n "$ratios" ]; then
                printf ' %12.2f' "$ratios"
            else
                printf ' %12s' -
            fi
        done
    done
    echo
    unset M
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $MISMATCH = 0 ]
