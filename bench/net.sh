#!/bin/bash
# TCP throughput guest -> host through user-mode NAT, cove vs qemu-system-riscv64
# (-netdev user, virtio-net-device) on the default guest. The guest gets its address by
# DHCP and pipes dd from /dev/zero into busybox nc to 10.0.2.2:PORT; a listener on the
# host's 127.0.0.1 counts the bytes and times the first to the last. Prints MiB/s (median
# of the runs) for both and the ratio cove/qemu (higher is better for cove).
#   bench/net.sh [--mib N] [--runs N] [--cpus N]        (default 64 MiB, 3 runs, 1 vCPU)
set -u
cd "$(dirname "$0")/.."
MIB=64 RUNS=3 CPUS=1
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) echo "usage: bench/net.sh [--mib N] [--runs N] [--cpus N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. bench/lib.sh # median, free_port, tcp_sink

# One run: starts the listener, boots the VMM given as arguments (PORT in them is
# replaced), prints MiB/s or nothing on failure.
run_one() {
    local port
    port=$(free_port)
    tcp_sink "$port" "$((MIB << 20))" >"$TMP/rate" &
    local listener=$!
    sleep 0.3
    local args=("${@//PORT/$port}")
    timeout 600 "${args[@]}" </dev/null >"$TMP/vm.log" 2>&1
    wait $listener
    cat "$TMP/rate"
}

GUEST_CMD="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null && dd if=/dev/zero bs=64k count=$((MIB * 16)) 2>/dev/null | nc 10.0.2.2 PORT; echo NET-DONE"
APPEND="quiet cove.exec=\"$GUEST_CMD\""

declare -A rate
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    results=()
    for _ in $(seq "$RUNS"); do
        if [ $vmm = cove ]; then
            r=$(run_one "$COVE" run --cpus "$CPUS" --memory 256M --kernel "$G/Image" \
                --initrd "$G/initrd" --net nat --append "$APPEND")
        else
            r=$(run_one qemu-system-riscv64 -M virt -m 256M -smp "$CPUS" -nographic \
                -kernel "$G/Image" -initrd "$G/initrd" -append "$APPEND" \
                -netdev user,id=n0 -device virtio-net-device,netdev=n0)
        fi
        if [ -n "$r" ]; then results+=("$r"); else echo "$vmm: a run failed; log:" >&2; tail -n 5 "$TMP/vm.log" >&2; fi
    done
    rate[$vmm]=$(printf '%s\n' "${results[@]}" | median)
    echo "$vmm: runs ${results[*]:-none} MiB/s"
done

printf '%-6s %10s\n' "" "MiB/s"
for vmm in cove qemu; do
    [ -n "${rate[$vmm]:-}" ] && printf '%-6s %10s\n' "$vmm" "${rate[$vmm]}"
done
if [ -n "${rate[cove]:-}" ] && [ -n "${rate[qemu]:-}" ]; then
    awk -v c="${rate[cove]}" -v q="${rate[qemu]}" \
        'BEGIN { printf "ratio  %10.2f   (cove/qemu, higher is better)\n", c / q }'
fi
