#!/bin/bash
# Memory of an idle VM after its guest freed memory: cove vs qemu-system-riscv64 on the
# default guest (1 GiB, 1 vCPU), each with and without its balloon (cove: on by default,
# --no-balloon; QEMU: -device virtio-balloon-device,free-page-reporting=on, or none). The
# guest writes 400 MiB into /tmp (tmpfs), removes it, drops its page cache (echo 3 >
# /proc/sys/vm/drop_caches) and idles; the VMM's VmRSS is read when the guest says it is
# done and again after --idle seconds. Prints MiB (median of the runs) and the ratio
# cove/qemu (lower is better for cove).
#   bench/balloon.sh [--runs N] [--idle S]        (default 1 run, 10 s)
set -u
cd "$(dirname "$0")/.."
RUNS=1 IDLE=10
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    *) echo "usage: bench/balloon.sh [--runs N] [--idle S]" >&2; exit 2 ;;
    esac
done
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
vmm_pid=""
trap '[ -n "$vmm_pid" ] && kill -9 "$vmm_pid" 2>/dev/null; rm -rf "$TMP"' EXIT
. bench/lib.sh # median

GUEST_CMD="dd if=/dev/zero of=/tmp/fill bs=1M count=400 2>/dev/null; rm /tmp/fill; sync; echo 3 > /proc/sys/vm/drop_caches; echo BALLOON-READY; sleep $((IDLE + 60))"
APPEND="quiet cove.exec=\"$GUEST_CMD\""

rss_mib() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$1/status" 2>/dev/null; }

# One run of the VMM given as arguments: prints "RSS_AT_READY RSS_AFTER_IDLE" (MiB).
run_one() {
    "$@" </dev/null >"$TMP/vm.log" 2>&1 &
    vmm_pid=$!
    local _
    for _ in $(seq 1200); do
        grep -q BALLOON-READY "$TMP/vm.log" && break
        kill -0 "$vmm_pid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q BALLOON-READY "$TMP/vm.log"; then
        local ready
        ready=$(rss_mib "$vmm_pid")
        sleep "$IDLE"
        echo "$ready $(rss_mib "$vmm_pid")"
    fi
    kill -9 "$vmm_pid" 2>/dev/null
    wait "$vmm_pid" 2>/dev/null
    vmm_pid=""
}

declare -A idle
for cfg in cove cove-no-balloon qemu qemu-no-balloon; do
    if [[ $cfg = qemu* ]] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    results=()
    for _ in $(seq "$RUNS"); do
        case $cfg in
        cove | cove-no-balloon)
            extra=()
            [ $cfg = cove-no-balloon ] && extra=(--no-balloon)
            r=$(run_one "$COVE" run --memory 1G --kernel "$G/Image" --initrd "$G/initrd" \
                --append "$APPEND" "${extra[@]}") ;;
        qemu | qemu-no-balloon)
            extra=()
            [ $cfg = qemu ] && extra=(-device virtio-balloon-device,free-page-reporting=on)
            r=$(run_one qemu-system-riscv64 -M virt -m 1G -smp 1 -nographic \
                -kernel "$G/Image" -initrd "$G/initrd" -append "$APPEND" "${extra[@]}") ;;
        esac
        if [ -n "$r" ]; then
            results+=("${r#* }")
            echo "$cfg: RSS ${r% *} MiB when the guest was done, ${r#* } MiB after ${IDLE} s idle"
        else
            echo "$cfg: a run failed; log:" >&2
            tail -n 5 "$TMP/vm.log" >&2
        fi
    done
    idle[$cfg]=$(printf '%s\n' "${results[@]}" | median)
done

printf '%-16s %10s\n' "" "idle MiB"
for cfg in cove cove-no-balloon qemu qemu-no-balloon; do
    [ -n "${idle[$cfg]:-}" ] && printf '%-16s %10s\n' "$cfg" "${idle[$cfg]}"
done
if [ -n "${idle[cove]:-}" ] && [ -n "${idle[qemu]:-}" ]; then
    awk -v c="${idle[cove]}" -v q="${idle[qemu]}" \
        'BEGIN { printf "ratio  %10.2f   (cove/qemu with balloons, lower is better)\n", c / q }'
fi
