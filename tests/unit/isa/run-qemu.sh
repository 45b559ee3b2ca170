#!/bin/bash
# Runs every ISA test program on QEMU, the reference: each must exit 0 through the
# SiFive test device (0x5555). A failing program exits with its failing case number.
#   tests/unit/isa/run-qemu.sh [BUILD_DIR | PROGRAM.elf...]
# Prints one line per program and a final "N passed, N failed"; exits 77 (skip) when
# QEMU or the built programs are missing, 1 when anything failed.
set -u
# Paths given are taken relative to the caller; the default build dir to the repository.
args=()
for a in "$@"; do args+=("$(realpath -- "$a")"); done
set -- "${args[@]+"${args[@]}"}"
cd "$(dirname "$0")/../../.."

QEMU=${QEMU:-qemu-system-riscv64}
if ! command -v "$QEMU" >/dev/null; then
    echo "run-qemu.sh: $QEMU not found, skipped"
    exit 77
fi

progs=()
if [ $# -eq 0 ] || [ -d "$1" ]; then
    dir=${1:-${BUILD:-build}}/tests/unit/isa
    for f in "$dir"/*.elf; do
        [ -f "$f" ] && progs+=("$f")
    done
else
    progs=("$@")
fi
if [ ${#progs[@]} -eq 0 ]; then
    echo "run-qemu.sh: no programs built (no riscv64 cross compiler?), skipped"
    exit 77
fi

passed=0
failed=0
for p in "${progs[@]}"; do
    name=$(basename "$p" .elf)
    if [ ! -f "$p" ]; then
        echo "FAIL $name (no such file: $p)"; failed=$((failed + 1)); continue
    fi
    # -icount: without it QEMU's instret/cycle are host TSC ticks, not retired
    # instructions, and counters.S checks exact instruction counts.
    timeout 20 "$QEMU" -M virt -bios none -nographic -monitor none -serial none \
        -icount shift=0 -kernel "$p" </dev/null >/dev/null 2>&1
    rc=$?
    case $rc in
    0) echo "ok   $name"; passed=$((passed + 1)) ;;
    124) echo "FAIL $name (timeout: never reported)"; failed=$((failed + 1)) ;;
    *) echo "FAIL $name (case $rc)"; failed=$((failed + 1)) ;;
    esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
