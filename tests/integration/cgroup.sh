#!/bin/bash
# Limits through cgroup v2 (docs/SECURITY.md, "Limits"): `cove run --cpu-limit 0.5` puts the
# VMM in /sys/fs/cgroup/cove/NAME-PID with cpu.max "50000 100000" and memory.max = RAM +
# 256 MiB + RAM/8; a guest spinning on both CPUs gets about half a CPU (cpu.stat's
# usage_usec over a few seconds, generous bounds); the cgroup is gone after the run.
# The limit is stored: cove create/set --cpu-limit, cove get (text and JSON) show it.
# Without cgroup v2, --cpu-limit is refused with one line (and this test checks only that
# and the stored limit).
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

# stored: create, get, set, get --format json
"$COVE" create cg --cpus 2 --memory 256M --disk-size 256M --cpu-limit 0.5 >/dev/null || fail "create"
"$COVE" get cg | grep -qx "cpu limit: 0.5 CPUs" || { "$COVE" get cg; fail "get does not show the limit"; }
"$COVE" set cg --cpu-limit none || fail "set --cpu-limit none"
"$COVE" get cg --format json | grep -q '"cpu_limit": null' || fail "the limit is still there"
"$COVE" set cg --cpu-limit 0 2>/dev/null && fail "--cpu-limit 0 taken"
"$COVE" set cg --cpu-limit 0.5 || fail "set --cpu-limit 0.5"
"$COVE" get cg --format json | grep -q '"cpu_limit": 0.5' || fail "get --format json: no cpu_limit 0.5"
echo "ok: the CPU limit is stored by create and set, shown by get"

if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] || [ "$(id -u)" != 0 ] ||
   ! grep -qw cpu /sys/fs/cgroup/cgroup.controllers ||
   ! grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    run_refused 'CPU limit .*needs cgroup v2' --cpu-limit 0.5
    timeout 60 "$COVE" run cg --no-console </dev/null >/dev/null 2>"$TMP/cg.err" && fail "a stored limit without cgroup v2 ran"
    grep -q "needs cgroup v2.*cove set NAME --cpu-limit none" "$TMP/cg.err" || { cat "$TMP/cg.err"; fail "the stored limit's refusal"; }
    echo "ok: without cgroup v2 a VM with a stored limit is refused: $(cat "$TMP/cg.err")"
    echo "skip: no writable cgroup v2 with cpu and memory here"
    exit 77
fi

"$COVE" run cg --no-console </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
for _ in $(seq 300); do
    "$COVE" exec cg -- true 2>/dev/null && break
    kill -0 $runner 2>/dev/null || { cat "$TMP/run.out"; fail "cove run ended"; }
    sleep 0.2
done
pid=$(cat "$COVE_HOME/vms/cg/run/pid")
dir=/sys/fs/cgroup/cove/cg-$pid
[ -d "$dir" ] || fail "no cgroup $dir"
grep -qx "0::/cove/cg-$pid" "/proc/$pid/cgroup" || fail "the VMM is not in $dir: $(cat /proc/$pid/cgroup)"
[ "$(cat "$dir/cpu.max")" = "50000 100000" ] || fail "cpu.max: $(cat "$dir/cpu.max")"
want=$(( (256 << 20) + (256 << 20) + (256 << 20) / 8 ))
[ "$(cat "$dir/memory.max")" = "$want" ] || fail "memory.max: $(cat "$dir/memory.max"), want $want"
echo "ok: $dir: cpu.max $(cat "$dir/cpu.max"), memory.max $(cat "$dir/memory.max")"

# both vCPUs busy: without the limit the VMM would use about 2 CPUs
"$COVE" exec cg -- sh -c '(while :; do :; done) & (while :; do :; done) & sleep 30' >/dev/null 2>&1 &
sleep 3
u0=$(awk '$1 == "usage_usec" {print $2}' "$dir/cpu.stat"); t0=$(date +%s%N)
sleep 5
u1=$(awk '$1 == "usage_usec" {print $2}' "$dir/cpu.stat"); t1=$(date +%s%N)
share=$(( (u1 - u0) * 1000 * 100 / (t1 - t0) ))  # percent of one CPU
[ "$share" -ge 25 ] && [ "$share" -le 70 ] || fail "the VM used ${share}% of a CPU with --cpu-limit 0.5"
echo "ok: a busy 2-CPU guest with --cpu-limit 0.5 used ${share}% of one CPU"

"$COVE" stop cg >/dev/null || fail "stop"
wait $runner; runner=""
for _ in $(seq 50); do [ -d "$dir" ] || break; sleep 0.2; done
[ ! -d "$dir" ] || fail "$dir left after the run"
echo "ok: the cgroup is removed after the run"
