#!/bin/bash
# A compile-heavy guest workload (issue 17), cove vs qemu-system-riscv64 (TCG), in one run:
# TinyCC compiling itself (its one-source build, tcc.c with every file it includes, about
# 40k lines and the riscv64 C library's headers) to an object file, 3 times per boot,
# in the default guest unchanged. tcc is Debian's source package (`apt-get source tcc`:
# needs a deb-src entry and dpkg-dev), cross-compiled statically for riscv64 with
# riscv64-linux-gnu-gcc and put on a small read-only ext4 disk with its own headers, the
# cross toolchain's libc headers (libc6-dev-riscv64-cross) and its sources; cached under
# ~/.cache/cove/bench/compile-KEY. The time is taken in the guest (/proc/uptime around the
# 3 compiles, 10 ms resolution), so boot is excluded; the object's md5 must agree between
# the VMMs. Medians of the runs, and the median of the per-run ratios cove/QEMU (lower is
# better). A benchmark, not a test: not part of the suite.
#   bench/compile.sh [--runs N] [--cove PATH]
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=3 COVE=${COVE:-build/cove}
usage() {
    echo "usage: bench/compile.sh [--runs N] [--cove PATH]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
    --cove) [ $# -ge 2 ] || usage; COVE=$2; shift 2 ;;
    *) usage ;;
    esac
done
case $RUNS in '' | *[!0-9]* | 0) echo "bench/compile.sh: --runs needs a positive number, not '$RUNS'" >&2; exit 2 ;; esac
[ -x "$COVE" ] || { echo "bench/compile.sh: no cove binary at $COVE (build it: make all)" >&2; exit 1; }
export PATH=$PATH:/usr/sbin
for tool in qemu-system-riscv64 riscv64-linux-gnu-gcc mkfs.ext4 dpkg-source; do
    command -v $tool >/dev/null ||
        { echo "bench/compile.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1

key=$( { apt-cache policy tcc | sed -n 's/ *Candidate: //p'; riscv64-linux-gnu-gcc --version
         echo "recipe 1"; } | sha256sum | cut -c1-16)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cove/bench/compile-$key
if [ ! -f "$CACHE/disk.img" ]; then
    mkdir -p "$(dirname "$CACHE")"
    tmp=$(mktemp -d "$CACHE.tmp.XXXXXX") || exit 1
    fail() { echo "bench/compile.sh: $1" >&2; rm -rf "${tmp:?}"; exit 1; }
    (cd "$tmp" && apt-get source -q tcc >"$tmp/log" 2>&1) ||
        fail "apt-get source tcc failed (a deb-src entry and dpkg-dev are needed); see $tmp/log"
    src=$(echo "$tmp"/tcc-*/)
    (cd "$src" && ./configure --cpu=riscv64 --cc=riscv64-linux-gnu-gcc --extra-ldflags=-static \
        --sysincludepaths=/mnt/b/tcc/include:/mnt/b/include && make tcc) >>"$tmp/log" 2>&1 ||
        fail "cannot cross-compile tcc for riscv64"
    d=$tmp/disk
    mkdir -p "$d/bin" "$d/tcc/include" "$d/include" "$d/src"
    cp "$src/tcc" "$d/bin/" && cp -r "$src"/include/* "$d/tcc/include/" &&
        cp -r /usr/riscv64-linux-gnu/include/* "$d/include/" &&
        cp "$src"/*.c "$src"/*.h "$src"/*.def "$d/src/" || fail "cannot lay out the disk"
    mkfs.ext4 -q -F -L cove-compile -d "$d" "$tmp/disk.img" 64M >/dev/null || fail "mkfs.ext4 failed"
    rm -rf "${CACHE:?}"
    mkdir -p "$CACHE" && mv "$tmp/disk.img" "$CACHE/" || fail "cannot store the disk"
    rm -rf "${tmp:?}"
fi
TMP=$(mktemp -d)
trap 'rm -rf "${TMP:?}"' EXIT
cp "$CACHE/disk.img" "$TMP/disk.img" # the VMMs never write the cached disk

CC='/mnt/b/bin/tcc -DTCC_TARGET_RISCV64 -DONE_SOURCE=1 -c /mnt/b/src/tcc.c -o /tmp/tcc.o'
APPEND="quiet cove.exec=\"mkdir -p /mnt/b && mount -r -t ext4 /dev/vda /mnt/b && t0=\$(cut -d' ' -f1 /proc/uptime) && $CC && $CC && $CC && t1=\$(cut -d' ' -f1 /proc/uptime) && echo COMPILE-RESULT \$(awk -v a=\$t0 -v b=\$t1 'BEGIN { print int((b - a) * 1000) }') \$(md5sum /tmp/tcc.o)\""

declare -A T R
SUM=
# result VMM LOG: files the run's time, checks the object's md5.
result() {
    local line ms md5
    line=$(tr -d '\r' <"$2" | grep '^COMPILE-RESULT ' | head -n 1)
    [ -n "$line" ] || { echo "bench/compile.sh: the $1 run failed; its log ends:" >&2; tail -n 5 "$2" >&2; exit 1; }
    read -r _ ms md5 _ <<<"$line"
    if [ -n "$SUM" ] && [ "$SUM" != "$md5" ]; then
        echo "bench/compile.sh: $1 compiled a different object ($md5, not $SUM)" >&2
        exit 1
    fi
    SUM=$md5 T[$1]+="$ms " R[$1,$i]=$ms
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
    timeout 900 "$COVE" run --memory 512M --kernel "$G/Image" --initrd "$G/initrd" \
        --disk "$TMP/disk.img,ro" --append "$APPEND" </dev/null >"$TMP/log" 2>&1
    result cove "$TMP/log"
    timeout 900 qemu-system-riscv64 -M virt -m 512M -smp 1 -nographic \
        -kernel "$G/Image" -initrd "$G/initrd" -append "$APPEND" \
        -drive file="$TMP/disk.img",format=raw,if=none,id=d,readonly=on \
        -device virtio-blk-device,drive=d </dev/null >"$TMP/log" 2>&1
    result qemu "$TMP/log"
    echo "run $i done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done
. bench/lib.sh # median
ratio=$(for i in $(seq "$RUNS"); do
    awk -v a="${R[cove,$i]}" -v b="${R[qemu,$i]}" 'BEGIN { printf "%.3f\n", a / b }'; done | median)
printf '%-28s %10s %10s %10s\n' workload 'cove ms' 'qemu ms' cove/qemu
printf '%-28s %10s %10s %10.2f\n' 'tcc -c tcc.c, 3 times' "$(printf '%s\n' ${T[cove]} | median)" \
    "$(printf '%s\n' ${T[qemu]} | median)" "$ratio"
printf '(1 vCPU; medians of %s runs and of their ratios: lower is better)\n' "$RUNS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
