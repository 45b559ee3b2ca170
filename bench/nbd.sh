#!/bin/bash
# NBD disk throughput, cove (libnbd, src/backends/block_nbd.c) vs qemu-system-riscv64's nbd
# block driver (-drive file=nbd://...), on the default guest, against one nbdkit (Debian's,
# file plugin, loopback TCP) serving a fresh sparse file. The guest writes then reads the
# whole disk with O_DIRECT (busybox dd oflag=direct / iflag=direct) twice: with 1 MiB
# requests (sequential throughput) and with 4 KiB requests (per-request cost: each is a
# round trip to the server). The default guest has no random-I/O tool (busybox only; a new
# one would rebuild the guest), so the 4 KiB requests go at sequential offsets: the backing
# file sits in the host's page cache, where an offset costs nothing, so what is measured is
# the same per-request path random I/O takes. dd's own timing gives the rate. Prints MiB/s
# (median of the runs) for both and the ratios cove/qemu (higher is better).
#   bench/nbd.sh [--mib N] [--small-mib N] [--runs N]   (default 256 MiB, 16 MiB, 3)
set -u
cd "$(dirname "$0")/.." || exit 1
MIB=256 SMALL_MIB=16 RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --small-mib) SMALL_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/nbd.sh [--mib N] [--small-mib N] [--runs N]" >&2; exit 2 ;;
    esac
done
command -v nbdkit >/dev/null || { echo "bench/nbd.sh needs nbdkit (apt-get install nbdkit)" >&2; exit 1; }
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
PORT=$((30000 + RANDOM % 20000))
cleanup() { [ -s "$TMP/nbdkit.pid" ] && kill "$(cat "$TMP/nbdkit.pid")" 2>/dev/null; rm -rf "${TMP:?}"; }
trap cleanup EXIT

# dd lines tagged NAME: "NAME:<bytes> bytes (...) copied, <s> seconds, ..."
dd_pair() { # TAG BS COUNT
    echo "dd if=/dev/zero of=/dev/vda bs=$2 count=$3 oflag=direct 2>&1 | grep copied |
        sed s/^/$1-WRITE:/; dd if=/dev/vda of=/dev/null bs=$2 count=$3 iflag=direct 2>&1 |
        grep copied | sed s/^/$1-READ:/;"
}
GUEST_CMD="$(dd_pair SEQ 1M "$MIB") $(dd_pair SMALL 4k $((SMALL_MIB * 256)))"
APPEND="quiet cove.exec=\"$(echo "$GUEST_CMD" | tr '\n' ' ')\""

rate_of() {
    sed -n "s/^$1:\([0-9]*\) bytes .* copied, \([0-9.]*\) seconds.*/\1 \2/p" "$TMP/vm.log" |
        tr -d '\r' | awk '$2 > 0 { printf "%.1f\n", $1 / 1048576 / $2 }'
}

. bench/lib.sh # median

start_server() {
    rm -f "$TMP/export.img" "$TMP/nbdkit.pid"
    truncate -s "${MIB}M" "$TMP/export.img"
    nbdkit -P "$TMP/nbdkit.pid" -i 127.0.0.1 -p "$PORT" file "$TMP/export.img" || exit 1
    for _ in $(seq 100); do [ -s "$TMP/nbdkit.pid" ] && return; sleep 0.1; done
    echo "nbdkit did not start" >&2
    exit 1
}
stop_server() { kill "$(cat "$TMP/nbdkit.pid")" 2>/dev/null; rm -f "$TMP/nbdkit.pid"; sleep 0.2; }

URI="nbd://127.0.0.1:$PORT/"
KEYS=(SEQ-WRITE SEQ-READ SMALL-WRITE SMALL-READ)
declare -A result
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    declare -A runs=()
    for _ in $(seq "$RUNS"); do
        start_server
        if [ $vmm = cove ]; then
            timeout 1800 "$COVE" run --memory 256M --kernel "$G/Image" --initrd "$G/initrd" \
                --disk "$URI" --append "$APPEND" </dev/null >"$TMP/vm.log" 2>&1
        else
            timeout 1800 qemu-system-riscv64 -M virt -m 256M -nographic -kernel "$G/Image" \
                -initrd "$G/initrd" -append "$APPEND" \
                -drive "file=$URI,if=none,id=d,format=raw" -device virtio-blk-device,drive=d \
                </dev/null >"$TMP/vm.log" 2>&1
        fi
        stop_server
        for k in "${KEYS[@]}"; do
            r=$(rate_of "$k")
            if [ -n "$r" ]; then
                runs[$k]="${runs[$k]:-} $r"
            else
                echo "$vmm: no $k in this run; log:" >&2
                tail -n 5 "$TMP/vm.log" >&2
            fi
        done
    done
    for k in "${KEYS[@]}"; do
        # shellcheck disable=SC2086
        result[$vmm,$k]=$(printf '%s\n' ${runs[$k]:-} | median)
        echo "$vmm $k runs:${runs[$k]:- none} MiB/s"
    done
    unset runs
done

printf '%-6s %10s %10s %12s %12s   (MiB/s; %s MiB at 1M, %s MiB at 4k, O_DIRECT)\n' "" \
    "seq-write" "seq-read" "4k-write" "4k-read" "$MIB" "$SMALL_MIB"
for vmm in cove qemu; do
    [ -n "${result[$vmm,SEQ-WRITE]:-}" ] &&
        printf '%-6s %10s %10s %12s %12s\n' "$vmm" "${result[$vmm,SEQ-WRITE]}" \
            "${result[$vmm,SEQ-READ]}" "${result[$vmm,SMALL-WRITE]}" "${result[$vmm,SMALL-READ]}"
done
if [ -n "${result[cove,SEQ-WRITE]:-}" ] && [ -n "${result[qemu,SEQ-WRITE]:-}" ]; then
    printf 'ratio '
    for k in "${KEYS[@]}"; do
        awk -v c="${result[cove,$k]}" -v q="${result[qemu,$k]}" \
            'BEGIN { if (q > 0) printf " %10.2f", c / q; else printf " %10s", "-" }'
    done
    echo "   (cove/qemu, higher is better)"
fi
