#!/bin/bash
# Sequential virtio-blk throughput, cove vs qemu-system-riscv64 (-drive if=none,format=raw
# + virtio-blk-device) on the default guest. The guest writes MIB MiB to the raw disk
# (/dev/vda, a fresh sparse image on the host) with O_DIRECT, then reads them back with
# O_DIRECT (busybox dd oflag=direct / iflag=direct), so the guest's page cache is out of
# the way; dd's own timing gives the rate. The host file sits in the host's page cache,
# so what is measured is the virtqueue path of each VMM plus the guest's block layer.
# Prints MiB/s (median of the runs) for both and the ratio cove/qemu (higher is better).
#   bench/blk.sh [--mib N] [--bs SIZE] [--runs N] [--cpus N]   (default 1024 MiB, 1M, 3, 1)
set -u
cd "$(dirname "$0")/.." || exit 1
MIB=1024 BS=1M RUNS=3 CPUS=1
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --bs) BS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) echo "usage: bench/blk.sh [--mib N] [--bs SIZE] [--runs N] [--cpus N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

case $BS in
*K | *k) bs_bytes=$((${BS%?} << 10)) ;;
*M | *m) bs_bytes=$((${BS%?} << 20)) ;;
*) bs_bytes=$BS ;;
esac
COUNT=$(((MIB << 20) / bs_bytes))
GUEST_CMD="dd if=/dev/zero of=/dev/vda bs=$BS count=$COUNT oflag=direct 2>&1 | grep copied |
    sed s/^/BLK-WRITE:/; dd if=/dev/vda of=/dev/null bs=$BS count=$COUNT iflag=direct 2>&1 |
    grep copied | sed s/^/BLK-READ:/"
APPEND="quiet cove.exec=\"$(echo "$GUEST_CMD" | tr '\n' ' ')\""

# MiB/s from a line like "BLK-READ:1073741824 bytes (1.0GB) copied, 5.2 seconds, 196MB/s"
rate_of() {
    sed -n "s/^$1:\([0-9]*\) bytes .* copied, \([0-9.]*\) seconds.*/\1 \2/p" "$TMP/vm.log" |
        tr -d '\r' | awk '$2 > 0 { printf "%.1f\n", $1 / 1048576 / $2 }'
}

. bench/lib.sh # median

# One run of the VMM given as arguments (IMG in them is the image); sets w and r.
run_one() {
    rm -f "$TMP/disk.img"
    truncate -s "${MIB}M" "$TMP/disk.img"
    local args=("${@//IMG/$TMP/disk.img}")
    timeout 900 "${args[@]}" </dev/null >"$TMP/vm.log" 2>&1
    w=$(rate_of BLK-WRITE)
    r=$(rate_of BLK-READ)
}

declare -A write read
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    ws=() rs=()
    for _ in $(seq "$RUNS"); do
        if [ $vmm = cove ]; then
            run_one "$COVE" run --cpus "$CPUS" --memory 256M --kernel "$G/Image" \
                --initrd "$G/initrd" --disk IMG --append "$APPEND"
        else
            run_one qemu-system-riscv64 -M virt -m 256M -smp "$CPUS" -nographic \
                -kernel "$G/Image" -initrd "$G/initrd" -append "$APPEND" \
                -drive file=IMG,if=none,id=d,format=raw -device virtio-blk-device,drive=d
        fi
        if [ -n "$w" ] && [ -n "$r" ]; then
            ws+=("$w")
            rs+=("$r")
        else
            echo "$vmm: a run failed; log:" >&2
            tail -n 5 "$TMP/vm.log" >&2
        fi
    done
    write[$vmm]=$(printf '%s\n' "${ws[@]}" | median)
    read[$vmm]=$(printf '%s\n' "${rs[@]}" | median)
    echo "$vmm: write runs ${ws[*]:-none} MiB/s; read runs ${rs[*]:-none} MiB/s"
done

printf '%-6s %10s %10s   (%s MiB, bs=%s, O_DIRECT, %s vCPU)\n' "" "write" "read" "$MIB" "$BS" "$CPUS"
for vmm in cove qemu; do
    [ -n "${write[$vmm]:-}" ] && printf '%-6s %10s %10s\n' "$vmm" "${write[$vmm]}" "${read[$vmm]}"
done
if [ -n "${write[cove]:-}" ] && [ -n "${write[qemu]:-}" ]; then
    awk -v cw="${write[cove]}" -v qw="${write[qemu]}" -v cr="${read[cove]}" -v qr="${read[qemu]}" \
        'BEGIN { printf "ratio  %10.2f %10.2f   (cove/qemu, higher is better)\n", cw / qw, cr / qr }'
fi
