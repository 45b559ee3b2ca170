#!/bin/bash
# cove networks against QEMU, on the default guest (issue 14), interleaved run by run:
#   v2v: two VMs on one cove network (`cove network create`, the switch process) against two
#        qemu-system-riscv64 on a `-netdev stream` pair over a Unix socket (virtio-net-device);
#        static addresses 10.95.0.2 and .3; the sender pings the receiver 50 times, 0.1 s
#        apart (latency: the median round trip, which one stalled wakeup on a busy host does
#        not move as it moves the mean) and pipes dd from /dev/zero into busybox nc
#        (throughput: dd's own time and bytes, in the sender);
#   nat: one VM on a cove network made with --nat against QEMU's -netdev user: dd into nc
#        to the host's 127.0.0.1 through the gateway (10.96.0.1 / 10.0.2.2), timed by the
#        host's listener from the first byte to the last (as bench/net.sh);
#   bridge (as root): one VM on a Linux bridge in a network namespace of the bench's own,
#        cove's `--net bridge:br0` against QEMU's `-netdev tap` on a TAP added to the same
#        bridge (MTU 1500 both, each VMM's own use of the TAP): dd into nc to a listener on
#        the bridge's address, static addresses, timed by the listener.
# Prints the medians, and the ratios cove/qemu (throughput: higher is better for cove;
# latency: lower is better for cove).
#   bench/network.sh [--mib N] [--runs N] [--only v2v|nat|bridge] [--cove [LABEL=]PATH]...
#        (default 64 MiB, 3 runs, every mode; bridge only as root; --cove, repeatable,
#        compares builds in one run, each against the same QEMU runs: default build/cove.
#        The builds share one switch process per network, the first VM's: compare switch
#        changes in runs of their own)
set -u
cd "$(dirname "$0")/.."
MIB=64 RUNS=3 ONLY=
COVES=()
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --cove) COVES+=("$2"); shift 2 ;;
    *) echo "usage: bench/network.sh [--mib N] [--runs N] [--only v2v|nat|bridge] [--cove [LABEL=]PATH]..." >&2; exit 2 ;;
    esac
done
declare -A BIN
. bench/lib.sh # cove_builds, median, free_port, tcp_sink
cove_builds bench/network.sh
for l in "${LABELS[@]}"; do BIN[$l]=$(realpath "${BIN[$l]}"); done
COVE=${BIN[${LABELS[0]}]} # creates and deletes the networks
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
command -v qemu-system-riscv64 >/dev/null || { echo "bench/network.sh: needs qemu-system-riscv64" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cove-netbench.XXXXXX)
export COVE_HOME=$TMP/home # short: the networks' sockets live under it
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    "$COVE" network delete benchv2v >/dev/null 2>&1
    "$COVE" network delete benchnat >/dev/null 2>&1
    [ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
    rm -rf "${TMP:?}"
}
trap cleanup EXIT

"$COVE" network create benchv2v --subnet 10.95.0.0/24 >/dev/null || exit 1
"$COVE" network create benchnat --subnet 10.96.0.0/24 --nat >/dev/null || exit 1

COUNT=$((MIB * 16)) # 64 KiB blocks
up() { echo "ip link set eth0 up; ip addr add 10.95.0.$1/24 dev eth0"; }
RX_CMD="$(up 2); nc -l -p 5000 >/dev/null; echo RX-DONE"
TX_CMD="$(up 3); while ! ping -c 1 -W 1 10.95.0.2 >/dev/null 2>&1; do sleep 1; done"
TX_CMD+="; ping -c 50 -i 0.1 10.95.0.2; sleep 1"
# (nc -w: busybox's nc waits for the other end to close after its input ends, as the
# receiver does for it)
TX_CMD+="; dd if=/dev/zero bs=64k count=$COUNT 2>/tmp/dd | nc -w 2 10.95.0.2 5000; cat /tmp/dd; echo TX-DONE"

# v2v VMM: boots receiver and sender, prints "MIB_PER_S RTT_MS" or nothing on failure.
v2v() {
    local rx tx
    if [ "$1" != qemu ]; then
        local vm=("${BIN[$1]}" run --memory 256M --kernel "$G/Image" --initrd "$G/initrd" --net network:benchv2v)
        timeout 300 "${vm[@]}" --mac 52:54:00:95:00:02 --append "quiet cove.exec=\"$RX_CMD\"" </dev/null >"$TMP/rx.log" 2>&1 &
        rx=$!
        timeout 300 "${vm[@]}" --mac 52:54:00:95:00:03 --append "quiet cove.exec=\"$TX_CMD\"" </dev/null >"$TMP/tx.log" 2>&1 &
        tx=$!
    else
        local sock=$TMP/qemu.sock vm=(qemu-system-riscv64 -M virt -m 256M -nographic -kernel "$G/Image" -initrd "$G/initrd")
        rm -f "$sock"
        timeout 300 "${vm[@]}" -append "quiet cove.exec=\"$RX_CMD\"" \
            -netdev "stream,id=n0,server=on,addr.type=unix,addr.path=$sock" \
            -device virtio-net-device,netdev=n0,mac=52:54:00:95:00:02 </dev/null >"$TMP/rx.log" 2>&1 &
        rx=$!
        for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
        timeout 300 "${vm[@]}" -append "quiet cove.exec=\"$TX_CMD\"" \
            -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$sock" \
            -device virtio-net-device,netdev=n0,mac=52:54:00:95:00:03 </dev/null >"$TMP/tx.log" 2>&1 &
        tx=$!
    fi
    PIDS=("$rx" "$tx")
    wait "$tx"
    # the receiver ends once the stream closed (QEMU's may not power off: stopped after 30 s)
    for _ in $(seq 300); do kill -0 "$rx" 2>/dev/null || break; sleep 0.1; done
    kill "$rx" 2>/dev/null
    wait "$rx" 2>/dev/null
    PIDS=()
    local secs rtt
    secs=$(sed -n 's/.* copied, \([0-9.]*\) seconds.*/\1/p' "$TMP/tx.log" | tail -n 1)
    rtt=$(sed -n 's/.* bytes from .* time=\([0-9.]*\) ms.*/\1/p' "$TMP/tx.log" | median)
    if [ -z "$secs" ] || [ -z "$rtt" ]; then
        echo "$1 v2v: a run failed; sender's log:" >&2
        tail -n 8 "$TMP/tx.log" >&2
        return
    fi
    awk -v m="$MIB" -v s="$secs" -v r="$rtt" 'BEGIN { if (s > 0) printf "%.2f %s\n", m / s, r }'
}

NAT_CMD="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null && dd if=/dev/zero bs=64k count=$COUNT 2>/dev/null | nc GW PORT; echo NET-DONE"
# nat VMM: prints MiB/s or nothing on failure.
nat() {
    local port cmd
    port=$(free_port)
    tcp_sink "$port" "$((MIB << 20))" >"$TMP/rate" &
    local sink=$!
    sleep 0.3
    if [ "$1" != qemu ]; then
        cmd=${NAT_CMD//GW/10.96.0.1}
        timeout 300 "${BIN[$1]}" run --memory 256M --kernel "$G/Image" --initrd "$G/initrd" \
            --net network:benchnat --append "quiet cove.exec=\"${cmd//PORT/$port}\"" </dev/null >"$TMP/nat.log" 2>&1
    else
        cmd=${NAT_CMD//GW/10.0.2.2}
        timeout 300 qemu-system-riscv64 -M virt -m 256M -nographic -kernel "$G/Image" -initrd "$G/initrd" \
            -append "quiet cove.exec=\"${cmd//PORT/$port}\"" \
            -netdev user,id=n0 -device virtio-net-device,netdev=n0 </dev/null >"$TMP/nat.log" 2>&1
    fi
    wait "$sink"
    if [ -s "$TMP/rate" ]; then cat "$TMP/rate"; else echo "$1 nat: a run failed" >&2; tail -n 5 "$TMP/nat.log" >&2; fi
}

# The bridge: a namespace with br0 at 192.168.79.1/24; the guest is 192.168.79.2.
NS=
if [ "$ONLY" = bridge ] || { [ -z "$ONLY" ] && [ "$(id -u)" = 0 ]; }; then
    [ "$(id -u)" = 0 ] || { echo "bench/network.sh: --only bridge needs root" >&2; exit 1; }
    NS=cove-netbench-$$
    ip netns add "$NS" && ip -n "$NS" link set lo up && ip -n "$NS" link add br0 type bridge &&
        ip -n "$NS" addr add 192.168.79.1/24 dev br0 && ip -n "$NS" link set br0 up || exit 1
fi
BR_CMD="ip link set eth0 up; ip addr add 192.168.79.2/24 dev eth0; dd if=/dev/zero bs=64k count=$COUNT 2>/dev/null | nc 192.168.79.1 5002; echo NET-DONE"
# bridge VMM: prints MiB/s or nothing on failure.
bridge() {
    ip netns exec "$NS" bash -c ". bench/lib.sh; tcp_sink 5002 $((MIB << 20)) 192.168.79.1" >"$TMP/rate" &
    local sink=$!
    sleep 0.5
    if [ "$1" != qemu ]; then
        ip netns exec "$NS" timeout 300 "${BIN[$1]}" run --memory 256M --kernel "$G/Image" --initrd "$G/initrd" \
            --net bridge:br0 --append "quiet cove.exec=\"$BR_CMD\"" </dev/null >"$TMP/br.log" 2>&1
    else
        ip -n "$NS" tuntap add dev qtap0 mode tap && ip -n "$NS" link set qtap0 master br0 up
        ip netns exec "$NS" timeout 300 qemu-system-riscv64 -M virt -m 256M -nographic -kernel "$G/Image" \
            -initrd "$G/initrd" -append "quiet cove.exec=\"$BR_CMD\"" \
            -netdev tap,id=n0,ifname=qtap0,script=no,downscript=no -device virtio-net-device,netdev=n0 \
            </dev/null >"$TMP/br.log" 2>&1
        ip -n "$NS" link del qtap0
    fi
    wait "$sink"
    if [ -s "$TMP/rate" ]; then cat "$TMP/rate"; else echo "$1 bridge: a run failed" >&2; tail -n 5 "$TMP/br.log" >&2; fi
}

declare -A tput rtt natr brr
VMMS=("${LABELS[@]}" qemu)
for run in $(seq "$RUNS"); do
    for vmm in "${VMMS[@]}"; do
        t= l= r= b=
        [ -z "$ONLY" ] || [ "$ONLY" = v2v ] && read -r t l <<<"$(v2v "$vmm")"
        [ -n "${t:-}" ] && tput[$vmm]+="$t " && rtt[$vmm]+="$l "
        [ -z "$ONLY" ] || [ "$ONLY" = nat ] && r=$(nat "$vmm")
        [ -n "$r" ] && natr[$vmm]+="$r "
        [ -n "$NS" ] && b=$(bridge "$vmm")
        [ -n "$b" ] && brr[$vmm]+="$b "
        echo "run $run $vmm: v2v ${t:-?} MiB/s, rtt ${l:-?} ms; nat ${r:-?} MiB/s; bridge ${b:-?} MiB/s"
    done
done

med() { printf '%s\n' $1 | median; }
printf '%-8s %14s %14s %14s %14s\n' "" "v2v MiB/s" "v2v rtt ms" "nat MiB/s" "bridge MiB/s"
for vmm in "${VMMS[@]}"; do
    printf '%-8s %14s %14s %14s %14s\n' "$vmm" "$(med "${tput[$vmm]:-}")" "$(med "${rtt[$vmm]:-}")" \
        "$(med "${natr[$vmm]:-}")" "$(med "${brr[$vmm]:-}")"
done
for vmm in "${LABELS[@]}"; do
    awk -v n="$vmm/qemu" -v ct="$(med "${tput[$vmm]:-}")" -v qt="$(med "${tput[qemu]:-}")" \
        -v cl="$(med "${rtt[$vmm]:-}")" -v ql="$(med "${rtt[qemu]:-}")" \
        -v cn="$(med "${natr[$vmm]:-}")" -v qn="$(med "${natr[qemu]:-}")" \
        -v cb="$(med "${brr[$vmm]:-}")" -v qb="$(med "${brr[qemu]:-}")" 'BEGIN {
        printf "%-8s %14s %14s %14s %14s   (throughput: higher is better, rtt: lower)\n", n,
            (ct && qt) ? sprintf("%.2f", ct / qt) : "-", (cl && ql) ? sprintf("%.2f", cl / ql) : "-",
            (cn && qn) ? sprintf("%.2f", cn / qn) : "-", (cb && qb) ? sprintf("%.2f", cb / qb) : "-" }'
done
