#!/bin/bash
# Resume to guest code running, and forks, cove against QEMU (qemu-system-riscv64 -M virt,
# same kernel and initrd, state saved with `migrate "exec:cat > FILE"`, restored with
# `-incoming "exec:cat FILE"` + `cont`). Prints:
#   resume ms   a suspended 1 GiB VM holding 256 MiB of data, whose guest writes a line to
#               the console every millisecond: from starting `cove run NAME` (QEMU: the
#               restoring qemu-system-riscv64) until the console log grows (the guest runs
#               its own code again); median of RUNS. cove's own log line says how much of it
#               the restore (state file, memory mapping, devices) took.
#   N forks     N clones of one suspended 256 MiB VM (cove clone; QEMU: N processes
#               restoring the one saved file) started at once: ms until all N run guest
#               code (console grows) and, for cove, until all N answer `cove exec -- true`
#               (QEMU has no agent here); host memory of the N: sum of Pss and of Rss
#               (/proc/PID/smaps_rollup).
#   N idle      N clones of one suspended idle 256 MiB VM (no console loop: an idle guest,
#               the issue's case) started at once, each waited for as a user would: its
#               agent socket appears, then one `cove exec --timeout 60 -- true`: ms until all
#               N answered, and the CPU time (utime + stime, /proc/PID/stat) all N VMMs had
#               used by then, a figure the other load of a shared host moves less.
#   bench/fork.sh [RUNS] [N]     COVE=build/cove by default; needs the default guest;
#                                QEMU=0 leaves QEMU out (cove before/after on one host)
set -euo pipefail
cd "$(dirname "$0")/.."
COVE=${COVE:-$PWD/build/cove}
RUNS=${1:-5}
N=${2:-20}
G=${COVE_GUEST_DIR:-$(guest/build.sh)}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cove-fork.XXXXXX")
QPIDS=""
cleanup() {
    [ -n "$QPIDS" ] && kill -9 $QPIDS 2>/dev/null || true
    for d in "$COVE_HOME"/vms/*/; do "$COVE" stop "$(basename "$d")" --timeout 3 >/dev/null 2>&1 || true; done
    rm -rf "${WORK:?}"
}
trap cleanup EXIT
export COVE_HOME=$WORK/home COVE_GUEST_DIR=$G
. bench/lib.sh # median
FILL='dd if=/dev/urandom of=/run/fill bs=1M count=256 2>/dev/null'
TICK='while :; do echo tick; usleep 1000; done'

wait_agent() { # NAME
    local _
    for _ in $(seq 1200); do "$COVE" exec "$1" -- true 2>/dev/null && return 0; sleep 0.05; done
    echo "$1: the agent never answered" >&2; exit 1
}

# grows CMD_FILE LOG...: starts each line of CMD_FILE (a command) at once and prints the
# ms until every LOG has grown past its size at the start, then until the last command
# that is a `cove exec` loop ends. Python: a 0.2 ms poll of the sizes.
grows() {
    python3 - "$@" <<'EOF'
import os, subprocess, sys, time
cmds = [l for l in open(sys.argv[1]).read().splitlines() if l]
logs = sys.argv[2:]
size = lambda p: os.stat(p).st_size if os.path.exists(p) else 0
start = [size(p) for p in logs]
t0 = time.monotonic()
procs = [subprocess.Popen(c, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) for c in cmds]
left = set(range(len(logs)))
while left:
    for i in list(left):
        if size(logs[i]) > start[i]:
            left.discard(i)
    if time.monotonic() - t0 > 300:
        sys.exit("%d of the guests did not run within 300 s" % len(left))
    time.sleep(0.0002)
print("%.1f" % ((time.monotonic() - t0) * 1e3))
EOF
}

pss_rss() { # PID...: "PSS_MiB RSS_MiB" summed
    local p pss=0 rss=0
    for p in "$@"; do
        pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
        rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
    done
    echo "$((pss / 1024)) $((rss / 1024))"
}

echo "cove: resume of a 1 GiB VM" >&2
# --- cove: resume of a 1 GiB VM -------------------------------------------------------------
"$COVE" create r1 --memory 1G >/dev/null
"$COVE" run r1 --no-console </dev/null >"$WORK/r1.out" 2>&1 &
wait_agent r1
"$COVE" exec r1 -- sh -c "$FILL"
"$COVE" exec r1 -- sh -c "setsid sh -c '$TICK' </dev/null >/dev/console 2>&1 &"
: >"$WORK/cr"; : >"$WORK/cm"
for _ in $(seq "$RUNS"); do
    "$COVE" suspend r1 >/dev/null
    state_mib=$(du -m -s "$COVE_HOME/vms/r1/state" | cut -f1)
    echo "$COVE -v run r1 --no-console >>$WORK/r1.out 2>&1" >"$WORK/cmd"
    grows "$WORK/cmd" "$COVE_HOME/vms/r1/run/console.log" >>"$WORK/cr"
    wait_agent r1
    { grep -o "machine restored in [0-9.]* ms" "$WORK/r1.out" || true; } | tail -n 1 | awk "{print \$4}" >>"$WORK/cm"
done
"$COVE" stop r1 --timeout 5 >/dev/null 2>&1 || true

echo "cove: $N forks" >&2
# --- cove: N forks --------------------------------------------------------------------------
"$COVE" create src --memory 256M >/dev/null
"$COVE" run src --no-console </dev/null >/dev/null 2>&1 &
wait_agent src
"$COVE" exec src -- sh -c "setsid sh -c '$TICK' </dev/null >/dev/console 2>&1 &"
"$COVE" suspend src >/dev/null
fork_mib=$(du -m "$COVE_HOME/vms/src/state/memory" | cut -f1)
: >"$WORK/cmd"; logs=()
for i in $(seq "$N"); do
    "$COVE" clone src f$i >/dev/null
    echo "$COVE run f$i --no-console" >>"$WORK/cmd"
    logs+=("$COVE_HOME/vms/f$i/run/console.log")
done
t0=$(date +%s%N)
cove_fork_run=$(grows "$WORK/cmd" "${logs[@]}")
for i in $(seq "$N"); do wait_agent f$i & done
wait
cove_fork_exec=$(( ($(date +%s%N) - t0) / 1000000 ))
pids=(); for i in $(seq "$N"); do pids+=("$(cat "$COVE_HOME/vms/f$i/run/pid")"); done
read -r cove_pss cove_rss < <(pss_rss "${pids[@]}")
for i in $(seq "$N"); do "$COVE" stop f$i --timeout 3 >/dev/null 2>&1 & done
wait

echo "cove: $N forks of an idle VM" >&2
# --- cove: N forks of an idle VM, each waited for once --------------------------------------
exec_once() { # NAME: its agent socket, then cove exec (again only if the connection was
    # caught by the reset the restored vsock device sends, docs/STATE-FORMAT.md)
    local _ s=$COVE_HOME/vms/$1/run/vsock.sock
    for _ in $(seq 6000); do [ -S "$s" ] && break; sleep 0.01; done
    for _ in $(seq 20); do "$COVE" exec --timeout 60 "$1" -- true 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
"$COVE" create idle --memory 256M >/dev/null
"$COVE" run idle --no-console </dev/null >/dev/null 2>&1 &
wait_agent idle
"$COVE" suspend idle >/dev/null
for i in $(seq "$N"); do "$COVE" clone idle g$i >/dev/null; done
t0=$(date +%s%N)
for i in $(seq "$N"); do "$COVE" run g$i --no-console </dev/null >/dev/null 2>&1 & done
waiters=()
for i in $(seq "$N"); do exec_once g$i & waiters+=($!); done
for p in "${waiters[@]}"; do wait "$p" || { echo "a fork did not answer" >&2; exit 1; }; done
idle_exec=$(( ($(date +%s%N) - t0) / 1000000 ))
ticks=0
for i in $(seq "$N"); do
    read -r -a st <"/proc/$(cat "$COVE_HOME/vms/g$i/run/pid")/stat"
    ticks=$((ticks + st[13] + st[14]))
done
idle_cpu=$((ticks * 1000 / $(getconf CLK_TCK)))
idle_load=$(cut -d' ' -f1 /proc/loadavg)
for i in $(seq "$N"); do "$COVE" stop g$i --timeout 3 >/dev/null 2>&1 & done
wait

# --- QEMU -----------------------------------------------------------------------------------
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
qemu_cmd() { # MEM LOG SOCK [ARGS...]: the command line
    local mem=$1 log=$2 sock=$3; shift 3
    echo "qemu-system-riscv64 -M virt -m $mem -display none -serial file:$log -kernel $G/Image" \
         "-initrd $G/initrd -qmp unix:$sock,server=on,wait=off $*"
}
qemu_save() { # MEM STATE FILL: boots, fills, starts the ticker, saves to STATE
    local mem=$1 state=$2 fill=$3
    qemu-system-riscv64 -M virt -m "$mem" -display none -serial "file:$WORK/qsave.log" \
        -kernel "$G/Image" -initrd "$G/initrd" -qmp "unix:$WORK/qsave.sock,server=on,wait=off" \
        -append "console=ttyS0 cove.exec=\"$fill echo filled; $TICK\"" &
    QPIDS=$!
    for _ in $(seq 6000); do grep -qs '^tick' "$WORK/qsave.log" && break; sleep 0.1; done
    grep -qs '^tick' "$WORK/qsave.log" || { echo "QEMU's guest did not fill its memory in 10 min" >&2; exit 1; }
    qmp "$WORK/qsave.sock" "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"exec:cat > $state\"}}" >/dev/null
    until qmp "$WORK/qsave.sock" '{"execute": "query-migrate"}' | grep -q '"completed"'; do sleep 0.05; done
    kill -9 $QPIDS; wait $QPIDS 2>/dev/null || true; QPIDS=""; rm -f "$WORK/qsave.sock"
}
# qemu_restore COUNT STATE MEM: COUNT QEMUs restore STATE at once (QEMU starts the guest
# by itself once the incoming migration completed: no -S); prints ms until all consoles
# grew. Leaves them running.
qemu_restore() {
    local n=$1 state=$2 mem=$3 i logs=()
    : >"$WORK/qcmd"
    for i in $(seq "$n"); do
        : >"$WORK/q$i.log"; rm -f "$WORK/q$i.sock"
        echo "$(qemu_cmd "$mem" "$WORK/q$i.log" "$WORK/q$i.sock") -append console=ttyS0 -incoming 'exec:cat $state' & echo \$! >$WORK/q$i.pid; wait" >>"$WORK/qcmd"
        logs+=("$WORK/q$i.log")
    done
    grows "$WORK/qcmd" "${logs[@]}"
    QPIDS=$(cat "$WORK"/q*.pid | tr '\n' ' ')
}
: >"$WORK/qr"
if [ "${QEMU:-1}" != 0 ] && command -v qemu-system-riscv64 >/dev/null; then
    echo "qemu: resume of a 1 GiB VM" >&2
    qemu_save 1G "$WORK/q1g.state" "$FILL;"
    q1g_mib=$(du -m "$WORK/q1g.state" | cut -f1)
    for _ in $(seq "$RUNS"); do
        qemu_restore 1 "$WORK/q1g.state" 1G >>"$WORK/qr"
        kill -9 $QPIDS; QPIDS=""; rm -f "$WORK"/q*.pid
    done
    echo "qemu: $N restores at once" >&2
    qemu_save 256M "$WORK/q256.state" ""
    q256_mib=$(du -m "$WORK/q256.state" | cut -f1)
    qemu_restore "$N" "$WORK/q256.state" 256M >"$WORK/qf" # not in $(): it sets QPIDS
    qemu_fork_run=$(cat "$WORK/qf")
    # shellcheck disable=SC2086
    read -r qemu_pss qemu_rss < <(pss_rss $QPIDS)
    kill -9 $QPIDS; QPIDS=""
fi

printf 'resume of a suspended 1 GiB VM (256 MiB of data) to guest code running, median of %s\n' "$RUNS"
printf '%-6s %10s %14s %10s\n' "" "resume ms" "of it restore" "state MiB"
printf '%-6s %10s %14s %10s\n' cove "$(median <"$WORK/cr")" "$(median <"$WORK/cm")" "${state_mib:-?}"
[ -s "$WORK/qr" ] && printf '%-6s %10s %14s %10s\n' qemu "$(median <"$WORK/qr")" "" "$q1g_mib"
printf '\n%s forks of one suspended 256 MiB VM (%s MiB saved), started at once\n' "$N" "$fork_mib"
printf '%-6s %12s %14s %10s %10s\n' "" "all run ms" "all exec ms" "Pss MiB" "Rss MiB"
printf '%-6s %12s %14s %10s %10s\n' cove "$cove_fork_run" "$cove_fork_exec" "$cove_pss" "$cove_rss"
[ -n "${qemu_fork_run:-}" ] && printf '%-6s %12s %14s %10s %10s\n' qemu "$qemu_fork_run" "-" "$qemu_pss" "$qemu_rss"
printf '\n%s forks of one suspended idle 256 MiB VM, started at once, each waited for once\n' "$N"
printf '%-6s %14s %16s %14s %6s\n' "" "all exec ms" "VMM CPU ms" "per fork" "load"
printf '%-6s %14s %16s %14s %6s\n' cove "$idle_exec" "$idle_cpu" "$((idle_cpu / N))" "$idle_load"
true
