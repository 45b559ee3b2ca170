#!/bin/bash
# Forks: 10 clones of one suspended default-guest VM (128 MiB) run at once.
#  - every clone shares the source's memory file (one inode, hard links: never a copy) and
#    the source can be deleted under them;
#  - each resumes the source's memory (a mark left in tmpfs before the suspend), then has its
#    own hostname (its VM name) and its own MAC (config.json's: in the guest's interface,
#    and in the device's config space, which a re-probe of the driver reads), all distinct;
#  - each writes a file on its disk and sees none of the others';
#  - the 10 together use well below 10 x the guest's memory on the host (sum of Pss of the
#    VMM processes, /proc/PID/smaps_rollup: shared pages count once in the sum).
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { timeout 120 "$COVE" "$@"; }
N=10
MEM_MIB=128
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# wait_agent NAME PID: until NAME's agent answers (60 s), or PID exits; the first
# command that ran leaves the hostname it saw in $TMP/first-host-NAME.
wait_agent() {
    local _
    for _ in $(seq 300); do
        cove exec "$1" -- hostname >"$TMP/first-host-$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.2
    done
    cat "$TMP/run-$1.out"; tail -n 20 "$COVE_HOME/vms/$1/run/console.log"
    fail "$1: the agent never answered"
}
mac_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["network"]["mac"])' "$COVE_HOME/vms/$1/config.json"; }

cove create src --memory ${MEM_MIB}M --disk-size 256M >/dev/null || fail "create"
"$COVE" run src --no-console </dev/null >"$TMP/run-src.out" 2>&1 &
pids+=($!)
wait_agent src $!
mark=$(cove exec src -- sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n" | tee /run/mark') ||
    fail "cannot leave a mark in guest memory"
cove suspend src >/dev/null || fail "suspend"
wait "${pids[0]}" || fail "the suspended run exited $?"
pids=()

for i in $(seq $N); do
    cove clone src f$i >/dev/null || fail "clone f$i"
done
ino=$(stat -c %i "$COVE_HOME/vms/src/state/memory")
for i in $(seq $N); do
    [ "$(stat -c %i "$COVE_HOME/vms/f$i/state/memory")" = "$ino" ] || fail "f$i's memory file is a copy"
    [ "$(cat "$COVE_HOME/vms/f$i/state/fork")" = src ] || fail "f$i has no state/fork naming src"
done
[ "$(stat -c %h "$COVE_HOME/vms/src/state/memory")" = $((N + 1)) ] || fail "link count is not $((N + 1))"
[ -w "$COVE_HOME/vms/src/state/memory" ] && [ "$(id -u)" != 0 ] && fail "the memory file is writable"
[ "$(stat -c %a "$COVE_HOME/vms/src/state/memory")" = 400 ] || fail "the memory file is not read-only"
cove delete src >/dev/null || fail "delete of the source"
[ "$(stat -c %h "$COVE_HOME/vms/f1/state/memory")" = $N ] || fail "link count after delete is not $N"
echo "ok: $N clones share one memory file (inode $ino, $(du -k "$COVE_HOME/vms/f1/state/memory" | cut -f1) KiB); the source deleted"

t0=$(date +%s%N)
for i in $(seq $N); do
    "$COVE" run f$i --no-console </dev/null >"$TMP/run-f$i.out" 2>&1 &
    pids+=($!)
done
for i in $(seq $N); do wait_agent f$i "${pids[$((i - 1))]}"; done
echo "ok: $N forks answer their agents $(( ($(date +%s%N) - t0) / 1000000 )) ms after cove run"

# the identity comes through the agent just after the resume, and a command waits for it
# (run/resuming): the first one that ran, wait_agent's, already saw the fork's hostname
for i in $(seq $N); do
    [ "$(cat "$TMP/first-host-f$i")" = f$i ] ||
        { cat "$TMP/run-f$i.out"; fail "f$i's first command saw hostname '$(cat "$TMP/first-host-f$i")'"; }
    h=$(cove exec f$i -- hostname)
    [ "$h" = f$i ] || { cat "$TMP/run-f$i.out"; fail "f$i's hostname is '$h'"; }
    [ "$(cove exec f$i -- cat /run/mark)" = "$mark" ] || fail "f$i did not resume the source's memory"
    want=$(mac_of f$i)
    got=$(cove exec f$i -- cat /sys/class/net/eth0/address)
    [ "$got" = "$want" ] || fail "f$i: eth0 has MAC $got, config.json says $want"
    echo "$got" >>"$TMP/macs"
    cove exec f$i -- sh -c "echo f$i >/root/f$i && sync" || fail "f$i cannot write its file"
done
[ "$(sort -u "$TMP/macs" | wc -l)" = $N ] || { cat "$TMP/macs"; fail "the MACs are not all distinct"; }
for i in $(seq $N); do
    seen=$(cove exec f$i -- sh -c 'cd /root && ls f* 2>/dev/null' | tr '\n' ' ')
    [ "$seen" = "f$i " ] || fail "f$i sees '$seen' in /root, not only its own file"
    [ "$(cove exec f$i -- cat /root/f$i)" = f$i ] || fail "f$i's file does not read back"
done
echo "ok: each fork has its hostname, its MAC (distinct), the source's memory, and only its own file"

# the device's config space shows the clone's MAC: a re-probe of virtio-net reads it there
want=$(mac_of f1)
got=$(cove exec f1 -- sh -c 'd=$(basename "$(readlink /sys/class/net/eth0/device)")
    echo "$d" >/sys/bus/virtio/drivers/virtio_net/unbind && echo "$d" >/sys/bus/virtio/drivers/virtio_net/bind &&
    sleep 0.5 && cat /sys/bus/virtio/devices/"$d"/net/*/address') || fail "cannot re-probe f1's virtio-net"
[ "$got" = "$want" ] || fail "f1's virtio-net config space shows $got, not $want"
echo "ok: f1's virtio-net config space shows its own MAC ($got)"

# a fork's VMM maps only the libraries it uses: libnbd, libcurl, libvncserver (and the ~40
# they pull in) are loaded on first use (src/util/lazy_lib.h), which a VM without NBD disks
# or a display never makes; each cove process starts ~23 ms of CPU faster for it
pid=$(cat "$COVE_HOME/vms/f1/run/pid")
grep -q 'libslirp' "/proc/$pid/maps" || fail "no libslirp in f1's VMM maps: cannot check them"
if grep -E 'libnbd|libcurl|libvncserver' "/proc/$pid/maps" | grep -q .; then
    grep -oE '[^/]*(libnbd|libcurl|libvncserver)[^ ]*' "/proc/$pid/maps" | sort -u
    fail "f1's VMM loaded libraries it does not use"
fi
echo "ok: the forks' VMMs map no libnbd, libcurl or libvncserver"

pss=0
for i in $(seq $N); do
    pid=$(cat "$COVE_HOME/vms/f$i/run/pid")
    kb=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    [ -n "$kb" ] || fail "no Pss for f$i (pid $pid)"
    pss=$((pss + kb))
done
limit=$((N * MEM_MIB * 1024 / 2))
echo "ok: host memory of the $N forks: Pss $((pss / 1024)) MiB in all (limit $((limit / 1024)) MiB; $N x guest = $((N * MEM_MIB)) MiB)"
[ "$pss" -lt "$limit" ] || fail "the forks use $((pss / 1024)) MiB, not well below $((N * MEM_MIB)) MiB"

for i in $(seq $N); do cove stop f$i --timeout 5 >/dev/null 2>&1 & done
wait
pids=()
echo "PASS"
