# Shared helpers for integration tests (sourced). Each test is a bash script that exits
# 0 on pass, 77 when it cannot run here, anything else on failure.
COVE=${COVE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/cove}
TMP=$(mktemp -d)
# At exit: the processes a test started in the background (PIDS) killed and waited for,
# each command of AT_EXIT run (cove network delete ...), $TMP removed. A test with more to
# undo adds to them; one with its own EXIT trap replaces this.
PIDS=()
AT_EXIT=()
lib_cleanup() {
    local p c
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ ${#PIDS[@]} -eq 0 ] || wait "${PIDS[@]}" 2>/dev/null
    for c in "${AT_EXIT[@]}"; do eval "$c" >/dev/null 2>&1; done
    rm -rf "${TMP:?}"
}
trap lib_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

need_guest() {
    if [ -z "${COVE_GUEST_DIR:-}" ]; then
        COVE_GUEST_DIR=$("$(dirname "${BASH_SOURCE[0]}")/../../guest/build.sh") ||
            fail "cannot build the default guest"
    fi
    [ -f "$COVE_GUEST_DIR/Image" ] && [ -f "$COVE_GUEST_DIR/initrd" ] ||
        fail "default guest missing in $COVE_GUEST_DIR"
    KERNEL=$COVE_GUEST_DIR/Image
    INITRD=$COVE_GUEST_DIR/initrd
}

# need_virtiofsd: shared directories need virtiofsd (qemu-system-common), run as root here.
need_virtiofsd() {
    [ "$(id -u)" = 0 ] || { echo "skip: virtiofsd needs root here"; exit 77; }
    [ -x "${COVE_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}" ] ||
        { echo "skip: no virtiofsd (qemu-system-common)"; exit 77; }
}

# run_refused PATTERN ARGS...: `cove run --kernel` of the default guest with ARGS must exit
# non-zero with one line on stderr matching PATTERN (grep -E).
run_refused() {
    local pattern=$1; shift
    timeout 60 "$COVE" run --kernel "$KERNEL" --initrd "$INITRD" "$@" </dev/null \
        >"$TMP/bad.out" 2>"$TMP/bad.err"
    local rc=$?
    [ $rc -ne 0 ] || fail "$*: exit status 0"
    [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] || { cat "$TMP/bad.err"; fail "$*: not one line on stderr"; }
    grep -qE -- "$pattern" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "$*: no '$pattern'"; }
    echo "ok: $*: $(cat "$TMP/bad.err")"
}

# expect_in FILE PATTERN: fails the test unless FILE contains PATTERN (grep -E).
expect_in() { grep -qE -- "$2" "$1" || { echo "--- $1:"; tail -n 30 "$1"; fail "no '$2' in output"; }; }

# wait_for FILE PATTERN PID: waits until FILE has a line matching PATTERN (grep -E), at most
# 60 s, and fails the test if it never does or PID exits first.
wait_for() {
    local _
    for _ in $(seq 600); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    expect_in "$1" "$2"
}

# start_vm NAME [RUN-OPTIONS...]: `cove run NAME --no-console` in the background (its pid in
# $runner, its output in $TMP/run-NAME.out; a suspended VM resumes); returns once the guest
# agent answers (two minutes at most), else shows the run's output and console and fails
# the test.
START_WRAP=() # a command start_vm puts before cove run (strace ...), for the next starts
start_vm() {
    local name=$1 _
    shift
    "${START_WRAP[@]}" "$COVE" run "$name" --no-console "$@" </dev/null >"$TMP/run-$name.out" 2>&1 &
    runner=$!
    for _ in $(seq 600); do
        timeout 60 "$COVE" exec "$name" -- true 2>/dev/null && return 0
        kill -0 $runner 2>/dev/null || break
        sleep 0.2
    done
    cat "$TMP/run-$name.out"; tail -n 20 "$COVE_HOME/vms/$name/run/console.log"
    fail "$name: the agent never answered"
}

# vmm_pid NAME: the process running VM NAME; vmm_status NAME KEY: KEY's value in its
# /proc/PID/status (Uid, Seccomp, CapEff ...); stop_vm NAME: cove stop, then the run's exit
# status (start_vm's runner)
vmm_pid() { cat "$COVE_HOME/vms/$1/run/pid"; }
vmm_status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$(vmm_pid "$1")/status"; }
stop_vm() {
    "$COVE" stop "$1" >/dev/null || fail "$1: cove stop"
    wait $runner
    local rc=$?
    runner=""
    return $rc
}

# need_image NAME: the distribution image NAME (images/NAME.conf), built once and cached
# across runs in $COVE_IMAGES (default ~/.cache/cove/images, beside the default guest); its
# directory in IMAGE_DIR. A cached image needs nothing; building one needs root (mmdebstrap).
need_image() {
    export COVE_IMAGES=${COVE_IMAGES:-${COVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove}/images}
    if ! IMAGE_DIR=$("$COVE" image build "$1"); then
        [ "$(id -u)" = 0 ] || { echo "image $1 is not built and building it needs root"; exit 77; }
        fail "cannot build image $1"
    fi
}

# free_port: a TCP port free on 127.0.0.1 now.
# start_lan NS NET: a LAN inside the network namespace NS: bridge br0 at NET.1/24 and
# Debian's dnsmasq on it leasing NET.50-NET.60 (its pid in PIDS; leases, pid and log in
# $TMP/leases, dnsmasq.pid, dnsmasq.log). NET is the first three octets, e.g. 192.168.77.
start_lan() {
    ip netns exec "$1" ip link set lo up
    ip netns exec "$1" ip link add br0 type bridge
    ip netns exec "$1" ip addr add "$2.1/24" dev br0
    ip netns exec "$1" ip link set br0 up
    ip netns exec "$1" dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root --port=0 \
        --interface=br0 --bind-interfaces --dhcp-range="$2.50,$2.60,255.255.255.0,1h" \
        --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" --log-dhcp \
        --log-facility="$TMP/dnsmasq.log" &
    PIDS+=($!)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_registry NAME PORT [EXTRA YAML]: Debian's docker-registry serving $TMP/NAME on
# 127.0.0.1:PORT (its log, with every request, in $TMP/NAME.log); its pid is added to the
# caller's array pids, which the caller's EXIT trap kills
start_registry() {
    cat >"$TMP/$1.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $TMP/$1
http:
  addr: 127.0.0.1:$2
$3
YML
    docker-registry serve "$TMP/$1.yml" >"$TMP/$1.log" 2>&1 &
    pids+=($!)
    local _
    for _ in $(seq 100); do
        curl -sk -o /dev/null "https://127.0.0.1:$2/v2/" && return 0
        curl -s -o /dev/null "http://127.0.0.1:$2/v2/" && return 0
        sleep 0.1
    done
    cat "$TMP/$1.log"
    fail "registry $1 did not start"
}
