#!/bin/bash
# The display through VNC, cove vs qemu-system-riscv64, on the default guest (same kernel
# and initrd, 512 MiB, 1 vCPU). cove: `cove run --kernel ... --display vnc --vnc-socket
# SOCK`; QEMU: `-device virtio-gpu-device -device virtio-keyboard-device -vnc unix:SOCK`
# (virtio-mmio made virtio 1). The client is tests/tools/vnc-check (libvncclient, lossless
# encodings, over the Unix socket). Three figures per VMM:
#   rate     the guest runs `fb-pattern flood` (tests/guest/fb-pattern.c: the whole
#            1024 x 768 screen redrawn in a new colour, then fsync on /dev/fb0 so the
#            fbdev emulation flushes at once, as fast as the guest can); the client counts
#            for --seconds S (10) the pixels it gets, in full screens per second; the
#            guest's own frames per second beside it
#   latency  the guest runs `fb-pattern keyflip` (a key press fills the top left 128 x 128
#            with the next colour); the client presses 'a' --keys N (20) times, each when
#            the screen has been still for 200 ms, and times the press until the pixel at
#            (0,0) changes: median (min, max) in ms
#   idle     host CPU (utime + stime of the VMM's processes, /proc) over --idle S (10)
#            seconds of an idle guest (a shell sleeping), without a client and then with
#            one connected, in % of one core
# cove and QEMU runs alternate (cove, qemu, cove, ...), so a busy host weighs on both alike.
# Prints each figure and the ratios cove/qemu (rate: higher is better; latency and idle
# CPU: lower is better). A benchmark, not a test: not part of the suite.
#   bench/display.sh [--seconds S] [--keys N] [--idle S] [--runs N]
set -u
cd "$(dirname "$0")/.." || exit 1
SECS=10 KEYS=20 IDLE=10 RUNS=1
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/display.sh [--seconds S] [--keys N] [--idle S] [--runs N]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
VNC_CHECK=${VNC_CHECK:-build/tests/tools/vnc-check}
[ -x "$VNC_CHECK" ] || { echo "bench/display.sh: no $VNC_CHECK (ninja -C build)" >&2; exit 1; }
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
vm=""
stop_vm() {
    [ -n "$vm" ] || return 0
    kill "$vm" 2>/dev/null
    wait "$vm" 2>/dev/null
    vm=""
}
trap 'stop_vm; rm -rf "${TMP:?}"' EXIT
. bench/lib.sh # median

# start_vm VMM COMMAND: boots the guest running COMMAND, its screen on $TMP/vnc.sock, its
# console in $TMP/vm.log; waits (3 minutes at most) for the line $3 on the console.
start_vm() {
    local append="quiet cove.exec=\"$2\""
    rm -f "$TMP/vnc.sock"
    if [ "$1" = cove ]; then
        "$COVE" run --memory 512M --kernel "$G/Image" --initrd "$G/initrd" --display vnc \
            --vnc-socket "$TMP/vnc.sock" --append "$append" </dev/null >"$TMP/vm.log" 2>&1 &
    else
        qemu-system-riscv64 -M virt -m 512M -display none -serial stdio -monitor none \
            -global virtio-mmio.force-legacy=false -kernel "$G/Image" -initrd "$G/initrd" \
            -append "$append" -device virtio-gpu-device -device virtio-keyboard-device \
            -vnc "unix:$TMP/vnc.sock" </dev/null >"$TMP/vm.log" 2>&1 &
    fi
    vm=$!
    for _ in $(seq 1800); do
        tr -d '\r' <"$TMP/vm.log" | grep -q "^$3" && [ -S "$TMP/vnc.sock" ] && return 0
        kill -0 "$vm" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench/display.sh: $1 did not reach '$3':" >&2
    tail -n 20 "$TMP/vm.log" >&2
    stop_vm
    return 1
}

# The clock ticks of PID and its descendants (utime + stime, every thread).
tree_ticks() {
    local p=$1 sum kids c
    sum=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)
    kids=$(cat /proc/"$p"/task/*/children 2>/dev/null)
    for c in $kids; do sum=$((sum + $(tree_ticks "$c"))); done
    echo "$sum"
}
HZ=$(getconf CLK_TCK)
cpu_pct() { # PID SECONDS: % of one core over the next SECONDS
    local a b
    a=$(tree_ticks "$1")
    sleep "$2"
    b=$(tree_ticks "$1")
    awk -v d=$((b - a)) -v hz="$HZ" -v s="$2" 'BEGIN {printf "%.1f\n", d * 100 / hz / s}'
}

declare -A RES
note() { RES[$1 $2]="${RES[$1 $2]:-} $3"; }

run() { # VMM
    local out
    if start_vm "$1" "fb-pattern flood $((SECS + 10))" 'flood start'; then
        out=$("$VNC_CHECK" "$TMP/vnc.sock" rate "$SECS") || out=""
        [ -n "$out" ] && note "$1" rate "$(awk '{print $2}' <<<"$out")"
        for _ in $(seq 300); do grep -q '^flood [0-9]' "$TMP/vm.log" && break; sleep 0.1; done
        note "$1" gfps "$(tr -d '\r' <"$TMP/vm.log" | awk '$1 == "flood" && $2 ~ /^[0-9]/ {printf "%.2f", $2 * 1000 / $5}')"
        stop_vm
    fi
    if start_vm "$1" "fb-pattern keyflip $KEYS 300" 'keyflip ready'; then
        out=$("$VNC_CHECK" "$TMP/vnc.sock" latency "$KEYS") || out=""
        [ -n "$out" ] && note "$1" lat "$(awk '{print $2}' <<<"$out")" &&
            note "$1" latr "$(awk '{print $3 "-" $4}' <<<"$out")"
        stop_vm
    fi
    if start_vm "$1" "echo idle-ready; sleep $((4 * IDLE + 60))" 'idle-ready'; then
        sleep 5 # the boot's last work settles
        note "$1" idle0 "$(cpu_pct "$vm" "$IDLE")"
        "$VNC_CHECK" "$TMP/vnc.sock" sleep $(((IDLE + 4) * 1000)) >/dev/null 2>&1 &
        local client=$!
        sleep 2
        note "$1" idle1 "$(cpu_pct "$vm" "$IDLE")"
        wait $client
        stop_vm
    fi
}

vmms="cove"
command -v qemu-system-riscv64 >/dev/null && vmms="cove qemu"
for r in $(seq "$RUNS"); do
    for v in $vmms; do
        echo "== run $r: $v" >&2
        run "$v"
    done
done
med() { tr ' ' '\n' <<<"${RES[$1 $2]:-}" | grep . | median; }
echo "display through VNC ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)), median of $RUNS run(s):"
for v in $vmms; do
    printf '  %-5s rate %s screens/s (guest %s frames/s)  key-to-screen %s ms (%s)  idle CPU %s%% without a client, %s%% with one\n' \
        "$v" "$(med "$v" rate)" "$(med "$v" gfps)" "$(med "$v" lat)" "${RES[$v latr]:- }" \
        "$(med "$v" idle0)" "$(med "$v" idle1)"
done
if [ "$vmms" = "cove qemu" ]; then
    ratio() { awk -v a="$(med cove "$1")" -v b="$(med qemu "$1")" \
        'BEGIN {if (a != "" && b > 0) printf "%.2f", a / b; else printf "-"}'; }
    echo "  cove/qemu: rate $(ratio rate) (higher is better), latency $(ratio lat), idle CPU with a client $(ratio idle1) (lower is better)"
fi
