#!/bin/bash
# The guest agent's figures on a VM bundle of the default guest, once booted:
#  - `cove exec NAME -- true` round trip (a whole cove process: store lookup, vsock
#    connect, request, fork/exec in the guest, exit status back), median and 90th
#    percentile of N runs (target: under 20 ms);
#  - exec throughput of a 100 MiB stream each way: guest -> host (`dd bs=64k` from
#    /dev/zero in the guest, counted on the host) and host -> guest (piped into
#    `cove exec -i NAME -- dd of=/dev/null bs=64k`, counted by the guest's dd), MiB/s,
#    median of 3. (dd, not busybox head/wc: those move 4 KiB per system call and on the
#    soft CPU they, not the agent, would be what is measured.)
#   bench/exec.sh [--runs N] [--mib N] [--cpus N]     (default 50 round trips, 100 MiB, 1 CPU)
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=50 MIB=100 CPUS=1
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --mib) MIB=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) echo "usage: bench/exec.sh [--runs N] [--mib N] [--cpus N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-$PWD/build/cove}
export COVE_GUEST_DIR=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
export COVE_HOME=$TMP/home
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create bench --cpus "$CPUS" --memory 512M --disk-size 1G >/dev/null || exit 1
"$COVE" run bench --no-console </dev/null >"$TMP/run.log" 2>&1 &
runner=$!
for _ in $(seq 300); do
    "$COVE" exec bench -- true 2>/dev/null && break
    sleep 0.5
done
"$COVE" exec bench -- true || { echo "exec.sh: the agent never answered" >&2; exit 1; }

ms() { date +%s%N; }
. bench/lib.sh # median
p90() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.9); if (i<1) i=1; print a[i]}'; }

for _ in $(seq "$RUNS"); do
    t0=$(ms)
    "$COVE" exec bench -- true || exit 1
    t1=$(ms)
    echo "scale=2; ($t1 - $t0) / 1000000" | bc
done >"$TMP/rtt"
echo "exec round trip (cove exec NAME -- true, $RUNS runs): median $(median <"$TMP/rtt") ms," \
    "p90 $(p90 <"$TMP/rtt") ms"

BYTES=$((MIB << 20))
for _ in 1 2 3; do
    t0=$(ms)
    n=$("$COVE" exec bench -- dd if=/dev/zero bs=65536 count=$((MIB * 16)) 2>/dev/null | wc -c)
    t1=$(ms)
    [ "$n" -eq "$BYTES" ] || { echo "exec.sh: got $n of $BYTES bytes" >&2; exit 1; }
    echo "scale=1; $MIB * 1000000000 / ($t1 - $t0)" | bc
done >"$TMP/out"
echo "exec stream guest -> host ($MIB MiB): $(median <"$TMP/out") MiB/s"

for _ in 1 2 3; do
    t0=$(ms)
    n=$(head -c "$BYTES" /dev/zero | "$COVE" exec -i bench -- dd of=/dev/null bs=65536 2>&1 |
        sed -n 's/^\([0-9]*\) bytes .*/\1/p')
    t1=$(ms)
    [ "$n" -eq "$BYTES" ] || { echo "exec.sh: the guest got $n of $BYTES bytes" >&2; exit 1; }
    echo "scale=1; $MIB * 1000000000 / ($t1 - $t0)" | bc
done >"$TMP/in"
echo "exec stream host -> guest ($MIB MiB): $(median <"$TMP/in") MiB/s"
"$COVE" stop bench >/dev/null
