#!/bin/bash
# The Debian VM's boot (`cove create --from debian`, docs/IMAGES.md), cove vs
# qemu-system-riscv64 (TCG) on the same disk, firmware, CPUs and memory, in one run.
#
# Both boot OpenSBI (the bundle's `firmware`, fw_dynamic.bin) -> U-Boot (`u-boot`,
# qemu-riscv64_smode) -> GRUB from the disk's ESP -> Debian's kernel -> systemd, with the
# bundle's cloud-init seed (seed.img) as a second, read-only disk. cove boots the VM's own
# cdisk overlay; QEMU a qcow2 overlay of the same virtual size over the same raw base file
# (the image's disk.img, hard-linked into the store). Each sample is a fresh VM and a fresh
# overlay, booted twice, alternating: cove first boot, QEMU first boot (cloud-init runs:
# user, SSH host keys, the root file system grown to the disk), cove second boot, QEMU second
# boot. Between boots each guest powers off cleanly (cove stop; QEMU: sudo poweroff over ssh).
#
# Times are seconds of wall time from starting the VMM, read off the serial console (ttyS0)
# by polling it every 0.25 s:
#   kernel      "Linux version" (the kernel's serial console is up: firmware, U-Boot and
#               GRUB are behind it, and the kernel's first second or so)
#   login:      serial-getty's login prompt
#   answers     cove: `cove exec NAME -- true` succeeds (the agent, over vsock);
#               QEMU: `ssh ... true` succeeds (TCP 22 forwarded by -netdev user); not the
#               same thing (sshd waits for cloud-init's host keys), so no ratio
# and systemd-analyze's own figures from inside once boot has finished (cove: cove exec;
# QEMU: over ssh): kernel, initrd, userspace, total, and multi-user.target's time in
# userspace. (systemd's "Reached target multi-user" is not a console marker: once a getty
# owns ttyS0 systemd stops printing its status there.) Ratios are cove/QEMU, lower is better.
# Medians of the samples. Needs the image (`cove image build debian`, ~20 min, root) unless
# the store ($COVE_IMAGES) has it. A sample takes about 15 minutes on a 2-core host.
#   bench/debian-boot.sh [--samples N] [--cpus N] [--memory SIZE] [--disk-size SIZE]
#                        [--timeout S]     (default 1 sample, 2 CPUs, 1G, 8G, 900 s a boot)
set -u
cd "$(dirname "$0")/.." || exit 1
SAMPLES=1 CPUS=2 MEMORY=1G DISK_SIZE=8G BOOT_TIMEOUT=900
usage() {
    echo "usage: bench/debian-boot.sh [--samples N] [--cpus N] [--memory SIZE] [--disk-size SIZE] [--timeout S]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
    --samples) SAMPLES=$2 ;;
    --cpus) CPUS=$2 ;;
    --memory) MEMORY=$2 ;;
    --disk-size) DISK_SIZE=$2 ;;
    --timeout) BOOT_TIMEOUT=$2 ;;
    *) usage ;;
    esac
    shift 2
done
for n in "$SAMPLES" "$CPUS" "$BOOT_TIMEOUT"; do
    case $n in '' | *[!0-9]* | 0) echo "debian-boot.sh: '$n' is not a positive number" >&2; exit 2 ;; esac
done
COVE=${COVE:-$PWD/build/cove}
[ -x "$COVE" ] || { echo "debian-boot.sh: no $COVE; build cove first (make)" >&2; exit 1; }
for t in ssh ssh-keygen python3; do
    command -v $t >/dev/null || { echo "debian-boot.sh: '$t' not found" >&2; exit 1; }
done
QEMU=1
if ! command -v qemu-system-riscv64 >/dev/null || ! command -v qemu-img >/dev/null; then
    echo "debian-boot.sh: no qemu-system-riscv64/qemu-img: cove only" >&2
    QEMU=0
fi

. bench/lib.sh # median

TMP=$(mktemp -d) || exit 1
export COVE_HOME=$TMP/home
runner="" qemu_pid="" waiter="" running_vm=""
cleanup() {
    [ -n "$waiter" ] && kill "$waiter" 2>/dev/null
    [ -n "$running_vm" ] && "$COVE" stop "$running_vm" --timeout 20 >/dev/null 2>&1
    [ -n "$runner" ] && kill -9 "$runner" 2>/dev/null
    [ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "${TMP:?}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N "" -C debian-boot -f "$TMP/key" || exit 1
SSH=(ssh -i "$TMP/key" -o BatchMode=yes -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR -l cove)

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A background loop that writes the time at which CMD... first succeeds into FILE.
# (cove exec waits for the agent by itself, but exits at once while the VM is not yet
# registered as running; ssh fails at once until sshd listens.)
answer_waiter() {
    local file=$1
    shift
    (
        trap - EXIT
        until "$@" </dev/null >/dev/null 2>&1; do sleep 0.5; done
        echo "$EPOCHREALTIME" >"$file"
    ) &
    waiter=$!
}

# watch_boot LOG T0 PID ANSWERFILE: polls the console LOG until the login prompt and the
# answer are both seen (or systemd gave up on the serial getty), PID exits or BOOT_TIMEOUT
# passes; sets t_kernel t_login
# t_answer (seconds since T0; "" when not seen). Returns 1 on a timeout or exit.
watch_boot() {
    local log=$1 t0=$2 pid=$3 afile=$4 el no_getty=0
    t_kernel="" t_login="" t_answer=""
    while :; do
        el=$(since "$t0")
        if [ -f "$log" ]; then
            [ -z "$t_kernel" ] && grep -aq "Linux version" "$log" && t_kernel=$el
            [ -z "$t_login" ] && grep -aq " login: " "$log" && t_login=$el
            # systemd gives up on /dev/ttyS0 when udev has not announced it within 90 s
            # (a slow, loaded host): no serial getty, so no prompt to wait for.
            [ -z "$t_login" ] && [ $no_getty = 0 ] &&
                grep -aq "Dependency failed for.*Serial Getty on ttyS0" "$log" && no_getty=1 &&
                echo "debian-boot.sh: systemd gave up waiting for ttyS0: no serial getty, no login prompt" >&2
        fi
        [ -z "$t_answer" ] && [ -s "$afile" ] &&
            t_answer=$(awk -v a="$t0" '{ printf "%.1f\n", $1 - a }' "$afile")
        { [ -n "$t_login" ] || [ $no_getty = 1 ]; } && [ -n "$t_answer" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "debian-boot.sh: the VMM exited during boot" >&2; return 1; }
        awk -v e="$el" -v l="$BOOT_TIMEOUT" 'BEGIN { exit !(e > l) }' &&
            { echo "debian-boot.sh: no login prompt and answer after $BOOT_TIMEOUT s" >&2; return 1; }
        sleep 0.25
    done
}

# systemd-analyze through CMD... (retried while boot is "not yet finished"), as
# "kernel initrd userspace total multi-user" in seconds ("-" for a part it does not name).
analyze() {
    local out i
    for i in $(seq 120); do
        out=$("$@" systemd-analyze 2>/dev/null </dev/null) && [[ $out == *"Startup finished"* ]] && break
        out=""
        sleep 2
    done
    [ -n "${out:-}" ] || return 1
    echo "$out" >&2
    echo "$out" | awk '
    function secs(s,   n, t, i, v) {
        n = split(s, t, " "); v = 0
        for (i = 1; i <= n; i++) {
            if (t[i] ~ /ms$/) v += t[i] / 1000
            else if (t[i] ~ /(us|µs)$/) v += t[i] / 1000000
            else if (t[i] ~ /min$/) v += t[i] * 60
            else if (t[i] ~ /h$/) v += t[i] * 3600
            else if (t[i] ~ /s$/) v += t[i]
        }
        return v
    }
    /reached after/ {
        sub(/.*reached after /, ""); sub(/ in userspace.*/, ""); f["multi-user"] = sprintf("%.1f", secs($0))
    }
    /^Startup finished in / {
        sub(/^Startup finished in /, "")
        n = split($0, part, / \+ | = /)
        for (i = 1; i <= n; i++) {
            p = part[i]; label = "total"
            if (match(p, /\([a-z]+\)/)) { label = substr(p, RSTART + 1, RLENGTH - 2); p = substr(p, 1, RSTART - 1) }
            f[label] = sprintf("%.1f", secs(p))
        }
    }
    END {
        split("kernel initrd userspace total multi-user", want, " ")
        for (i = 1; i <= 5; i++) printf "%s%s", (want[i] in f ? f[want[i]] : "-"), (i < 5 ? " " : "\n")
    }'
}

declare -A R # R[vmm,boot,figure] = the samples, one a line
record() { # vmm boot figure value
    [ -n "$4" ] && [ "$4" != - ] && R[$1,$2,$3]+="$4"$'\n'
}
record_boot() { # vmm boot, from t_* and the analyze line in $sa
    record "$1" "$2" kernel "$t_kernel"
    record "$1" "$2" login "$t_login"
    record "$1" "$2" answers "$t_answer"
    local k i u t m
    read -r k i u t m <<<"${sa:-}"
    record "$1" "$2" sa-kernel "${k:-}"
    record "$1" "$2" sa-initrd "${i:-}"
    record "$1" "$2" sa-userspace "${u:-}"
    record "$1" "$2" sa-total "${t:-}"
    record "$1" "$2" sa-multi-user "${m:-}"
    echo "$1 $2 boot: kernel ${t_kernel:--} login ${t_login:--}" \
        "answers ${t_answer:--} systemd-analyze ${sa:--}" >&2
}

cove_boot() { # NAME BOOT(first|second)
    local vm=$1 log=$COVE_HOME/vms/$1/run/console.log t0 ok=0
    rm -f "$log" "$TMP/answer"
    t0=$EPOCHREALTIME
    "$COVE" run "$vm" --no-console </dev/null >"$TMP/run.log" 2>&1 &
    runner=$! running_vm=$vm
    answer_waiter "$TMP/answer" "$COVE" exec "$vm" --timeout 30 -- true
    watch_boot "$log" "$t0" "$runner" "$TMP/answer" && ok=1
    kill "$waiter" 2>/dev/null
    wait "$waiter" 2>/dev/null
    waiter="" sa=""
    [ -n "$t_answer" ] && sa=$(analyze "$COVE" exec "$vm" --)
    record_boot cove "$2"
    "$COVE" stop "$vm" --timeout 60 >/dev/null || echo "debian-boot.sh: cove stop $vm failed" >&2
    wait "$runner"
    runner="" running_vm=""
    [ $ok = 1 ] || { tail -n 20 "$log" "$TMP/run.log" >&2; return 1; }
}

qemu_boot() { # BUNDLE OVERLAY BOOT(first|second)
    local b=$1 log=$TMP/qemu.log port t0 ok=0 i
    port=$(free_port) || return 1
    rm -f "$TMP/answer"
    t0=$EPOCHREALTIME
    qemu-system-riscv64 -M virt -smp "$CPUS" -m "$MEMORY" -nographic \
        -bios "$b/firmware" -kernel "$b/u-boot" -global virtio-mmio.force-legacy=false \
        -drive file="$2",if=none,id=d0,format=qcow2 -device virtio-blk-device,drive=d0 \
        -drive file="$b/seed.img",if=none,id=d1,format=raw,readonly=on \
        -device virtio-blk-device,drive=d1 \
        -netdev user,id=n0,hostfwd=tcp:127.0.0.1:"$port"-:22 \
        -device virtio-net-device,netdev=n0 -device virtio-rng-device \
        </dev/null >"$log" 2>&1 &
    qemu_pid=$!
    answer_waiter "$TMP/answer" "${SSH[@]}" -p "$port" 127.0.0.1 true
    watch_boot "$log" "$t0" "$qemu_pid" "$TMP/answer" && ok=1
    kill "$waiter" 2>/dev/null
    wait "$waiter" 2>/dev/null
    waiter="" sa=""
    [ -n "$t_answer" ] && sa=$(analyze "${SSH[@]}" -p "$port" 127.0.0.1)
    record_boot qemu "$3"
    "${SSH[@]}" -p "$port" 127.0.0.1 sudo systemctl poweroff </dev/null >/dev/null 2>&1
    for i in $(seq 240); do
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$qemu_pid" 2>/dev/null &&
        { echo "debian-boot.sh: QEMU did not power off; killed" >&2; kill "$qemu_pid"; }
    wait "$qemu_pid"
    qemu_pid=""
    [ $ok = 1 ] || { tail -n 20 "$log" >&2; return 1; }
}

for s in $(seq "$SAMPLES"); do
    vm=deb$s
    "$COVE" create "$vm" --from debian --cpus "$CPUS" --memory "$MEMORY" --disk-size "$DISK_SIZE" \
        --user cove --ssh-key "$TMP/key.pub" >/dev/null || exit 1
    bundle=$COVE_HOME/vms/$vm
    if [ $QEMU = 1 ]; then
        # The cove disk's backing file (relative to the disk) and size, for QEMU's overlay.
        read -r base size < <("$COVE" disk info "$bundle/disk.img" --format json | python3 -c '
import json, sys; d = json.load(sys.stdin)
print(d["backing"]["path"], d["virtual_size"])') || exit 1
        case $base in /*) ;; *) base=$(realpath "$bundle/$base") ;; esac
        overlay=$TMP/qemu-$s.qcow2
        qemu-img create -q -f qcow2 -F raw -b "$base" "$overlay" "$size" || exit 1
    fi
    for boot in first second; do
        cove_boot "$vm" $boot
        [ $QEMU = 1 ] && qemu_boot "$bundle" "$overlay" $boot
    done
    "$COVE" delete "$vm" >/dev/null
    [ $QEMU = 1 ] && rm -f "$overlay"
done

echo
echo "Debian $(
    "$COVE" image list --format json |
        python3 -c 'import json, sys; i = json.load(sys.stdin)[0]; print(i["suite"], "kernel", i["kernel"])'
) ($CPUS CPUs, $MEMORY, disk $DISK_SIZE; median of $SAMPLES; seconds, lower is better)"
printf '%-40s %9s %9s %10s\n' "" cove qemu cove/qemu
label() {
    case $1 in
    kernel) echo "kernel console up" ;;
    login) echo "login: prompt (console)" ;;
    answers) echo "answers (cove exec / ssh)" ;;
    sa-multi-user) echo "systemd-analyze multi-user (userspace)" ;;
    sa-*) echo "systemd-analyze ${1#sa-}" ;;
    esac
}
for boot in first second; do
    echo "$boot boot"
    for f in kernel login answers sa-kernel sa-initrd sa-userspace sa-total sa-multi-user; do
        c=$(printf '%s' "${R[cove,$boot,$f]:-}" | median)
        q=$(printf '%s' "${R[qemu,$boot,$f]:-}" | median)
        ratio=-
        if [ -n "$c" ] && [ -n "$q" ] && [ "$f" != answers ]; then
            ratio=$(awk -v c="$c" -v q="$q" 'BEGIN { if (q > 0) printf "%.2f", c / q; else print "-" }')
        fi
        printf '  %-38s %9s %9s %10s\n' "$(label $f)" "${c:--}" "${q:--}" "$ratio"
    done
done
