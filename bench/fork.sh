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
#               N answered, the CPU time (utime + stime, /proc/PID/stat) each VMM had used
#               when its own answer came, summed (a figure the other load of a shared host
#               moves less; the forks that answered first idle on until the last), their
#               host memory (Pss and Rss summed) and the load average. Done RUNS times for
#               each --cove build, the builds interleaved (a round: each build's N forks in
#               turn); medians.
#   bench/fork.sh [RUNS] [N] [--cove [LABEL=]PATH]... [--only idle]
#       COVE=build/cove by default; needs the default guest; QEMU=0 leaves QEMU out (cove
#       before/after on one host). --cove is repeatable (--cove base=/tmp/cove-old --cove
#       new=build/cove compares two builds in the same run: the idle forks for each, the
#       other parts with the first); --only idle runs the idle forks alone.
set -euo pipefail
cd "$(dirname "$0")/.."
COVES=() ONLY="" ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
    --cove) [ $# -ge 2 ] || { echo "bench/fork.sh: --cove needs [LABEL=]PATH" >&2; exit 2; }
        COVES+=("$2"); shift 2 ;;
    --only) [ "${2:-}" = idle ] || { echo "bench/fork.sh: --only takes 'idle'" >&2; exit 2; }
        ONLY=idle; shift 2 ;;
    -*) echo "usage: bench/fork.sh [RUNS] [N] [--cove [LABEL=]PATH]... [--only idle]" >&2; exit 2 ;;
    *) ARGS+=("$1"); shift ;;
    esac
done
RUNS=${ARGS[0]:-5}
N=${ARGS[1]:-20}
for v in "$RUNS" "$N"; do
    case $v in '' | *[!0-9]* | 0) echo "bench/fork.sh: RUNS and N are positive numbers, not '$v'" >&2; exit 2 ;; esac
done
. bench/lib.sh # median, cove_builds
declare -A BIN
cove_builds bench/fork.sh
for l in "${LABELS[@]}"; do BIN[$l]=$(realpath "${BIN[$l]}"); done
COVE=${BIN[${LABELS[0]}]}
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

if [ -z "$ONLY" ]; then
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

fi # ONLY

echo "cove: $N forks of an idle VM, $RUNS rounds of ${LABELS[*]}" >&2
# --- cove: N forks of an idle VM, each waited for once, each build in turn ------------------
exec_once() { # COVE NAME: its agent socket, then cove exec (again only if the connection was
    # caught by the reset the restored vsock device sends, docs/STATE-FORMAT.md); once it
    # answered, appends the CPU ticks its VMM had used (utime + stime) to $WORK/ticks
    local _ s=$COVE_HOME/vms/$2/run/vsock.sock st
    for _ in $(seq 6000); do [ -S "$s" ] && break; sleep 0.01; done
    for _ in $(seq 20); do
        if "$1" exec --timeout 60 "$2" -- true 2>/dev/null; then
            read -r -a st <"/proc/$(cat "$COVE_HOME/vms/$2/run/pid")/stat"
            echo $((st[13] + st[14])) >>"$WORK/ticks"
            return 0
        fi
        sleep 0.1
    done
    return 1
}
# idle_round LABEL ROUND: N clones of idle started at once with LABEL's build; appends
# "all_exec_ms vmm_cpu_ms pss_mib rss_mib load" to $WORK/idle-LABEL, then stops and deletes them
idle_round() {
    local l=$1 r=$2 c=${BIN[$1]} i t0 ms ticks=0 pids=() waiters=() p
    for i in $(seq "$N"); do "$c" clone idle "g$r-$i" >/dev/null; done
    : >"$WORK/ticks"
    t0=$(date +%s%N)
    for i in $(seq "$N"); do "$c" run "g$r-$i" --no-console </dev/null >/dev/null 2>&1 & done
    for i in $(seq "$N"); do exec_once "$c" "g$r-$i" & waiters+=($!); done
    for p in "${waiters[@]}"; do wait "$p" || { echo "a fork did not answer" >&2; exit 1; }; done
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    for i in $(seq "$N"); do pids+=("$(cat "$COVE_HOME/vms/g$r-$i/run/pid")"); done
    for p in $(cat "$WORK/ticks"); do ticks=$((ticks + p)); done
    echo "$ms $((ticks * 1000 / $(getconf CLK_TCK))) $(pss_rss "${pids[@]}") $(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/idle-$l"
    for i in $(seq "$N"); do "$c" stop "g$r-$i" --timeout 3 >/dev/null 2>&1 & done
    wait
    for i in $(seq "$N"); do "$c" delete "g$r-$i" >/dev/null; done
}
"$COVE" create idle --memory 256M >/dev/null
"$COVE" run idle --no-console </dev/null >/dev/null 2>&1 &
wait_agent idle
"$COVE" suspend idle >/dev/null
for r in $(seq "$RUNS"); do
    for l in "${LABELS[@]}"; do : >>"$WORK/idle-$l"; idle_round "$l" "$r"; done
done

if [ -z "$ONLY" ]; then
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

fi # ONLY
if [ -z "$ONLY" ]; then
    printf 'resume of a suspended 1 GiB VM (256 MiB of data) to guest code running, median of %s\n' "$RUNS"
    printf '%-6s %10s %14s %10s\n' "" "resume ms" "of it restore" "state MiB"
    printf '%-6s %10s %14s %10s\n' cove "$(median <"$WORK/cr")" "$(median <"$WORK/cm")" "${state_mib:-?}"
    [ -s "$WORK/qr" ] && printf '%-6s %10s %14s %10s\n' qemu "$(median <"$WORK/qr")" "" "$q1g_mib"
    printf '\n%s forks of one suspended 256 MiB VM (%s MiB saved), started at once\n' "$N" "$fork_mib"
    printf '%-6s %12s %14s %10s %10s\n' "" "all run ms" "all exec ms" "Pss MiB" "Rss MiB"
    printf '%-6s %12s %14s %10s %10s\n' cove "$cove_fork_run" "$cove_fork_exec" "$cove_pss" "$cove_rss"
    [ -n "${qemu_fork_run:-}" ] && printf '%-6s %12s %14s %10s %10s\n' qemu "$qemu_fork_run" "-" "$qemu_pss" "$qemu_rss"
    echo
fi
col() { awk -v k="$1" '{print $k}' "$2" | median; } # col K FILE: median of column K
printf '%s forks of one suspended idle 256 MiB VM, started at once, each waited for once; medians of %s\n' "$N" "$RUNS"
printf '%-8s %12s %12s %10s %9s %9s %12s\n' "" "all exec ms" "VMM CPU ms" "per fork" "Pss MiB" "Rss MiB" "load"
for l in "${LABELS[@]}"; do
    f=$WORK/idle-$l
    printf '%-8s %12s %12s %10s %9s %9s %12s\n' "$l" "$(col 1 "$f")" "$(col 2 "$f")" \
        "$(( $(col 2 "$f") / N ))" "$(col 3 "$f")" "$(col 4 "$f")" "$(awk '{print $5}' "$f" | sort -n | sed -n '1p;$p' | paste -sd-)"
done
true
