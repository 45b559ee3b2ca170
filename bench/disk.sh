#!/bin/bash
# Sequential write (ending with a flush), cold read (page cache dropped first) and warm
# read (from the page cache: the format's own cost) of a fresh image through the disk
# API, raw vs cdisk on the same file system; medians of N interleaved runs, and the ratio
# cdisk/raw (throughput: higher is better). The device of a shared machine is noisy: the
# warm column is the stable one.
#   bench/disk.sh [--runs N] [--size MIB] [--dir DIR] [--block KIB]...
# Default: 5 runs of 1024 MiB in $BUILD/disk-bench/ (this tree's file system), blocks of
# 1024 KiB and 64 KiB.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
runs=5 size=1024 dir= blocks=()
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --block) blocks+=("$2"); shift 2 ;;
    *) echo "usage: bench/disk.sh [--runs N] [--size MIB] [--dir DIR] [--block KIB]..." >&2
       exit 2 ;;
    esac
done
[ ${#blocks[@]} -gt 0 ] || blocks=(1024 64)
[ -n "$dir" ] || dir=$BUILD/disk-bench
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" tests/unit/disk/disk_bench >/dev/null
bench=$BUILD/tests/unit/disk/disk_bench
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "disk format: ${size} MiB sequential, ${runs} runs, $(df -T "$dir" | awk 'NR==2 {print $2}') at $dir"
printf "%-10s %-6s %10s %10s %10s\n" block format "write MB/s" "cold MB/s" "warm MB/s"
for bk in "${blocks[@]}"; do
    declare -A w=() r=() h=()
    for ((i = 0; i < runs; i++)); do
        for fmt in raw cdisk; do
            read -r _ wr rd hr < <("$bench" "$dir/img.$fmt" "$fmt" "$size" "$bk")
            w[$fmt]+="$wr "
            r[$fmt]+="$rd "
            h[$fmt]+="$hr "
        done
    done
    for fmt in raw cdisk; do
        mw=$(echo "${w[$fmt]}" | tr ' ' '\n' | grep . | median)
        mr=$(echo "${r[$fmt]}" | tr ' ' '\n' | grep . | median)
        mh=$(echo "${h[$fmt]}" | tr ' ' '\n' | grep . | median)
        eval "m_${fmt}_w=$mw m_${fmt}_r=$mr m_${fmt}_h=$mh"
        printf "%-10s %-6s %10s %10s %10s\n" "${bk}K" "$fmt" "$mw" "$mr" "$mh"
    done
    awk -v a="$m_cdisk_w" -v b="$m_raw_w" -v c="$m_cdisk_r" -v d="$m_raw_r" \
        -v e="$m_cdisk_h" -v f="$m_raw_h" -v bk="$bk" \
        'BEGIN {printf "%-10s %-6s %10.2f %10.2f %10.2f\n", bk "K", "ratio", a / b, c / d, e / f}'
    unset w r h
done
