#!/bin/bash
# Suspend and resume of a 1 GiB default-guest VM holding 256 MiB of data in memory, cove
# against QEMU (qemu-system-riscv64 -M virt, same kernel and initrd) saving to a file with
# `migrate "exec:cat > FILE"` and restoring with `-incoming "exec:cat FILE"`. Prints, as
# medians of RUNS:
#   suspend ms      cove suspend until it returns (state on disk, fsynced, process gone) /
#                   QMP migrate until query-migrate says completed
#   state MiB       host space of the saved state (cove: sparse memory file + machine file)
#   resume ms       cove run NAME until the guest agent answers a command (the guest runs
#                   and talks to the host again) / QEMU start with -incoming until the
#                   restored VM runs (query-status "running" after cont)
#   snapshot ms     cove snapshot save of the running VM (it runs on) / restore in place
#                   until the agent answers (cove only: QEMU's savevm needs a qcow2 disk)
#   bench/suspend.sh [RUNS]     COVE=build/cove by default; needs the default guest
set -euo pipefail
cd "$(dirname "$0")/.."
COVE=${COVE:-$PWD/build/cove}
RUNS=${1:-5}
G=${COVE_GUEST_DIR:-$(guest/build.sh)}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cove-suspend.XXXXXX")
QPID=""
trap '[ -n "$QPID" ] && kill -9 $QPID 2>/dev/null; "$COVE" stop sb >/dev/null 2>&1 || true; rm -rf "${WORK:?}"' EXIT
export COVE_HOME=$WORK/home COVE_GUEST_DIR=$G
. bench/lib.sh # median
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
FILL='dd if=/dev/urandom of=/run/fill bs=1M count=256 2>/dev/null'

# --- cove ---------------------------------------------------------------------------------
wait_agent() {
    local _
    for _ in $(seq 600); do "$COVE" exec sb -- true 2>/dev/null && return 0; sleep 0.05; done
    echo "the agent never answered" >&2; exit 1
}
"$COVE" create sb --memory 1G >/dev/null
"$COVE" run sb --no-console </dev/null >/dev/null 2>&1 &
wait_agent
"$COVE" exec sb -- sh -c "$FILL"
: >"$WORK/cs"; : >"$WORK/cr"; : >"$WORK/cb"
for _ in $(seq "$RUNS"); do
    t0=$(now_ms); "$COVE" suspend sb >/dev/null; t1=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/cs"
    du -B1 -s "$COVE_HOME/vms/sb/state" | awk '{print $1}' >>"$WORK/cb"
    t0=$(now_ms)
    "$COVE" run sb --no-console </dev/null >/dev/null 2>&1 &
    wait_agent
    t1=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/cr"
done
# snapshots of the running VM (cove snapshot): save (it runs on), and restore in place until
# the agent answers again
: >"$WORK/ss"; : >"$WORK/sr"
for i in $(seq "$RUNS"); do
    t0=$(now_ms); "$COVE" snapshot sb save "b$i" >/dev/null; t1=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/ss"
    t0=$(now_ms); "$COVE" snapshot sb restore "b$i" >/dev/null; wait_agent; t1=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/sr"
done
"$COVE" stop sb >/dev/null

# --- QEMU ---------------------------------------------------------------------------------
qmp() { # qmp SOCKET JSON...: runs the commands, prints the last answer
    python3 - "$@" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
out = None
for cmd in ["{\"execute\": \"qmp_capabilities\"}"] + sys.argv[2:]:
    f.write(cmd + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            out = m; break
print(json.dumps(out))
EOF
}
qemu_start() { # qemu_start SOCKET [ARGS...]
    local sock=$1; shift
    qemu-system-riscv64 -M virt -m 1G -display none -serial "file:$WORK/qemu.log" \
        -kernel "$G/Image" -initrd "$G/initrd" -qmp "unix:$sock,server=on,wait=off" "$@" &
    QPID=$!
    for _ in $(seq 200); do [ -S "$sock" ] && return 0; sleep 0.05; done
}
: >"$WORK/qs"; : >"$WORK/qr"; : >"$WORK/qb"
if command -v qemu-system-riscv64 >/dev/null; then
    qemu_start "$WORK/q.sock" -append "console=ttyS0 cove.exec=\"$FILL; echo filled; sleep 100000\""
    for _ in $(seq 1200); do grep -qs '^filled' "$WORK/qemu.log" && break; sleep 0.1; done
    for _ in $(seq "$RUNS"); do
        rm -f "$WORK/q.state"
        t0=$(now_ms)
        qmp "$WORK/q.sock" "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"exec:cat > $WORK/q.state\"}}" >/dev/null
        until qmp "$WORK/q.sock" '{"execute": "query-migrate"}' | grep -q '"completed"'; do sleep 0.01; done
        t1=$(now_ms)
        echo $((t1 - t0)) >>"$WORK/qs"
        du -B1 "$WORK/q.state" | awk '{print $1}' >>"$WORK/qb"
        kill -9 $QPID; wait $QPID 2>/dev/null || true
        rm -f "$WORK/q.sock"
        t0=$(now_ms)
        qemu_start "$WORK/q.sock" -append "console=ttyS0" -incoming "exec:cat $WORK/q.state"
        until qmp "$WORK/q.sock" '{"execute": "query-migrate"}' | grep -q '"completed"'; do sleep 0.01; done
        qmp "$WORK/q.sock" '{"execute": "cont"}' >/dev/null
        until qmp "$WORK/q.sock" '{"execute": "query-status"}' | grep -q '"running"'; do sleep 0.01; done
        t1=$(now_ms)
        echo $((t1 - t0)) >>"$WORK/qr"
    done
    kill -9 $QPID; wait $QPID 2>/dev/null || true
    QPID=""
fi

mib() { median | awk '{printf "%.0f", $1 / 1048576}'; }
printf '1 GiB VM, 256 MiB filled in the guest, median of %s runs\n' "$RUNS"
printf '%-10s %12s %10s %10s\n' "" "suspend ms" "state MiB" "resume ms"
printf '%-10s %12s %10s %10s\n' cove "$(median <"$WORK/cs")" "$(mib <"$WORK/cb")" "$(median <"$WORK/cr")"
if [ -s "$WORK/qs" ]; then
    printf '%-10s %12s %10s %10s\n' qemu "$(median <"$WORK/qs")" "$(mib <"$WORK/qb")" "$(median <"$WORK/qr")"
    awk -v a="$(median <"$WORK/cs")" -v b="$(median <"$WORK/qs")" -v c="$(median <"$WORK/cr")" \
        -v d="$(median <"$WORK/qr")" 'BEGIN {printf "cove/qemu  %12.2f %10s %10.2f\n", a / b, "", c / d}'
fi
printf 'cove snapshot of the running VM: save %s ms, restore %s ms\n' "$(median <"$WORK/ss")" \
    "$(median <"$WORK/sr")"
