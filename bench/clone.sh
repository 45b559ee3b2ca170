#!/bin/bash
# cove clone of a VM whose 64 GiB disk holds 1 GiB of data, against `qemu-img create -b`
# plus copying the configuration; and the same clone with an 8 GiB disk, to show that the
# time does not depend on the disk size. Prints milliseconds per clone (median of RUNS).
#   bench/clone.sh [RUNS]      COVE=build/cove by default; needs the default guest's Image
set -euo pipefail
cd "$(dirname "$0")/.."
COVE=${COVE:-$PWD/build/cove}
RUNS=${1:-11}
command -v qemu-img >/dev/null || {
    echo "clone.sh: installing qemu-utils (qemu-img)" >&2
    ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y -qq qemu-utils >/dev/null
}
G=${COVE_GUEST_DIR:-$(guest/build.sh)}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cove-clone.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export COVE_HOME=$WORK/home

now_ns() { date +%s%N; }
. bench/lib.sh # median

# setup NAME SIZE: a VM whose disk holds 1 GiB of (incompressible) data
setup() {
    "$COVE" create "$1" --kernel "$G/Image" --initrd "$G/initrd" --disk-size "$2" >/dev/null
    head -c 1G /dev/urandom | dd of="$COVE_HOME/vms/$1/disk.img" bs=1M conv=notrunc,fsync status=none
}

# time_cove SRC: ms per clone, each clone deleted (outside the timing) before the next
time_cove() {
    local i t0 t1
    for i in $(seq "$RUNS"); do
        t0=$(now_ns); "$COVE" clone "$1" "$1-c$i" >/dev/null; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 ))
    done | median | awk '{printf "%.1f", $1 / 1000}'
}

time_qemu() {
    local src=$COVE_HOME/vms/$1 i t0 t1
    for i in $(seq "$RUNS"); do
        mkdir -p "$WORK/q$i"
        t0=$(now_ns)
        qemu-img create -q -f qcow2 -b "$src/disk.img" -F raw "$WORK/q$i/disk.qcow2"
        cp "$src/config.json" "$WORK/q$i/"
        t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 ))
    done | median | awk '{printf "%.1f", $1 / 1000}'
}

setup big 64G
setup small 8G
big_first=$(t0=$(now_ns); "$COVE" clone big big-first >/dev/null; echo $(( ($(now_ns) - t0) / 1000 )) | awk '{printf "%.1f", $1/1000}')
big=$(time_cove big)
small=$(time_cove small)
qemu=$(time_qemu big)
printf 'clone, 64 GiB disk with 1 GiB of data (first clone: makes the base): %s ms\n' "$big_first"
printf 'clone, 64 GiB disk, median of %s:   %s ms\n' "$RUNS" "$big"
printf 'clone, 8 GiB disk, median of %s:    %s ms\n' "$RUNS" "$small"
printf 'qemu-img create -b + cp config:     %s ms\n' "$qemu"
printf 'host space of the 64 GiB source after cloning: %s\n' "$(du -sh "$COVE_HOME" | cut -f1)"
