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
#   snapshots       cove snapshot save of the running VM (it runs on) / restore in place
#                   (the command's return, then until the agent answers), against QEMU's
#                   HMP savevm / loadvm (over a Unix socket) of the same guest with a qcow2
#                   disk, 1 GiB too, the same 256 MiB filled: the two run side by side and
#                   the measurements alternate (cove save, QEMU save, cove restore, QEMU
#                   restore); size: host space of the snapshot (cove: snapshots/TAG; QEMU:
#                   what the qcow2 file grew by)
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
# (the VM runs on, 256 MiB filled, for the snapshots below)

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
# --- snapshots of a running VM: cove snapshot and QEMU savevm/loadvm, interleaved -------------
hmp() { # hmp SOCKET COMMAND: runs one monitor command, prints its output
    python3 - "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        d = s.recv(65536)
        if not d: break
        buf += d
    return buf.decode(errors="replace")
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
print(until_prompt())
EOF
}
: >"$WORK/ss"; : >"$WORK/sr"; : >"$WORK/sa"; : >"$WORK/sb"
: >"$WORK/vs"; : >"$WORK/vr"; : >"$WORK/vb"
QEMU_SNAP=false
if command -v qemu-system-riscv64 >/dev/null && command -v qemu-img >/dev/null; then
    QEMU_SNAP=true
    qemu-img create -q -f qcow2 "$WORK/q.qcow2" 1G
    qemu_start "$WORK/qs.sock" -append "console=ttyS0 cove.exec=\"$FILL; echo filled; sleep 100000\"" \
        -monitor "unix:$WORK/hmp.sock,server=on,wait=off" \
        -drive "file=$WORK/q.qcow2,if=none,id=d0,format=qcow2" -device virtio-blk-device,drive=d0
    for _ in $(seq 1200); do grep -qs '^filled' "$WORK/qemu.log" && break; sleep 0.1; done
fi
for i in $(seq "$RUNS"); do
    t0=$(now_ms); "$COVE" snapshot sb save "b$i" >/dev/null; t1=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/ss"
    du -B1 -s "$COVE_HOME/vms/sb/snapshots/b$i" | awk '{print $1}' >>"$WORK/sb"
    if $QEMU_SNAP; then
        b0=$(stat -c %b "$WORK/q.qcow2")
        t0=$(now_ms); hmp "$WORK/hmp.sock" "savevm q$i" >"$WORK/hmp.out"; t1=$(now_ms)
        grep -qi error "$WORK/hmp.out" && { cat "$WORK/hmp.out" >&2; exit 1; }
        echo $((t1 - t0)) >>"$WORK/vs"
        echo $(( ($(stat -c %b "$WORK/q.qcow2") - b0) * 512 )) >>"$WORK/vb"
    fi
    t0=$(now_ms); "$COVE" snapshot sb restore "b$i" >/dev/null; t1=$(now_ms); wait_agent; t2=$(now_ms)
    echo $((t1 - t0)) >>"$WORK/sr"
    echo $((t2 - t0)) >>"$WORK/sa"
    if $QEMU_SNAP; then
        t0=$(now_ms); hmp "$WORK/hmp.sock" "loadvm q$i" >"$WORK/hmp.out"
        until hmp "$WORK/hmp.sock" "info status" | grep -q running; do sleep 0.01; done
        t1=$(now_ms)
        grep -qi error "$WORK/hmp.out" && { cat "$WORK/hmp.out" >&2; exit 1; }
        echo $((t1 - t0)) >>"$WORK/vr"
    fi
done
"$COVE" stop sb >/dev/null
if $QEMU_SNAP; then
    kill -9 $QPID; wait $QPID 2>/dev/null || true
    QPID=""
fi

: >"$WORK/qs"; : >"$WORK/qr"; : >"$WORK/qb"
rm -f "$WORK/qemu.log"
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
printf '\nsnapshots of the running VM, median of %s runs, interleaved\n' "$RUNS"
printf '%-20s %8s %9s %22s\n' "" "save ms" "size MiB" "restore ms"
printf '%-20s %8s %9s %22s\n' "cove snapshot" "$(median <"$WORK/ss")" "$(mib <"$WORK/sb")" \
    "$(median <"$WORK/sr") ($(median <"$WORK/sa") to agent)"
if [ -s "$WORK/vs" ]; then
    printf '%-20s %8s %9s %22s\n' "qemu savevm/loadvm" "$(median <"$WORK/vs")" "$(mib <"$WORK/vb")" \
        "$(median <"$WORK/vr")"
    awk -v a="$(median <"$WORK/ss")" -v b="$(median <"$WORK/vs")" -v c="$(median <"$WORK/sr")" \
        -v d="$(median <"$WORK/vr")" 'BEGIN {printf "%-20s %8.2f %9s %22.2f\n", "cove/qemu", a / b, "", c / d}'
fi
