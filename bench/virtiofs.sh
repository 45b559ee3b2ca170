#!/bin/bash
# virtio-fs throughput and metadata speed, cove vs qemu-system-riscv64, on the default guest
# with the same kernel and initrd and the same daemon (/usr/lib/qemu/virtiofsd, cache=auto,
# --thread-pool-size=0, as cove starts it). cove: `cove run --dir src:DIR`; QEMU: a
# memfd-backed RAM shared with the daemon and vhost-user-fs-device (the virtio-mmio
# variant the riscv virt board takes, made virtio 1: libvhost-user has no legacy). Inside the guest, on the share mounted at
# /mnt/cove/src:
#   write  dd of MIB MiB from /dev/zero, then sync (the guest's page cache dropped before)
#   read   the caches dropped, dd of the file to /dev/null
#   create N empty files (a shell redirect each: no fork), then sync
#   stat   the caches dropped, ls -l of them (a LOOKUP and GETATTR each)
# timed with /proc/uptime (10 ms). Prints MiB/s and files/s (median of the runs) for both
# and the ratios cove/qemu (higher is better). Needs root (virtiofsd). A benchmark, not a
# test: not part of the suite.
#   bench/virtiofs.sh [--mib N] [--files N] [--runs N]   (default 256 MiB, 5000, 1)
set -u
cd "$(dirname "$0")/.." || exit 1
MIB=256 FILES=5000 RUNS=1
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/virtiofs.sh [--mib N] [--files N] [--runs N]" >&2; exit 2 ;;
    esac
done
VIRTIOFSD=${COVE_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ -x "$VIRTIOFSD" ] || { echo "bench/virtiofs.sh: no $VIRTIOFSD (qemu-system-common)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/virtiofs.sh: virtiofsd needs root" >&2; exit 1; }
COVE=${COVE:-build/cove}
G=${COVE_GUEST_DIR:-$(guest/build.sh)} || exit 1
TMP=$(mktemp -d)
daemon=""
trap '[ -n "$daemon" ] && kill $daemon 2>/dev/null; rm -rf "$TMP"' EXIT

# The guest's side, from the share itself (in a directory the file count does not see).
mkdir -p "$TMP/share/.bench"
cat >"$TMP/share/.bench/run.sh" <<EOF
up() { cut -d' ' -f1 /proc/uptime; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
d=/mnt/cove/src/w
mkdir -p \$d
drop
t0=\$(up); dd if=/dev/zero of=\$d/big bs=1M count=$MIB 2>/dev/null; sync; t1=\$(up)
drop
t2=\$(up); dd if=\$d/big of=/dev/null bs=1M 2>/dev/null; t3=\$(up)
rm \$d/big
drop
t4=\$(up); i=0; while [ \$i -lt $FILES ]; do : >\$d/f\$i; i=\$((i + 1)); done; sync; t5=\$(up)
drop
t6=\$(up); n=\$(ls -l \$d | grep -c ' f[0-9]'); t7=\$(up)
echo "FS-RESULT \$t0 \$t1 \$t2 \$t3 \$t4 \$t5 \$t6 \$t7 \$n"
EOF
APPEND="quiet cove.exec=\"sh /mnt/cove/src/.bench/run.sh\""

. bench/lib.sh # median

# One run of the VMM given as arguments; sets w r c s (MiB/s, MiB/s, files/s, files/s).
run_one() {
    rm -rf "$TMP/share/w"
    timeout 1200 "$@" </dev/null >"$TMP/vm.log" 2>&1
    read -r w r c s < <(tr -d '\r' <"$TMP/vm.log" | awk -v mib="$MIB" -v files="$FILES" '
        function dt(a, b) { return b - a > 0.01 ? b - a : 0.01 }
        $1 == "FS-RESULT" && $10 == files {
            printf "%.1f %.1f %.0f %.0f\n", mib / dt($2, $3), mib / dt($4, $5),
                files / dt($6, $7), files / dt($8, $9) }')
}

declare -A W R C S
for vmm in cove qemu; do
    if [ $vmm = qemu ] && ! command -v qemu-system-riscv64 >/dev/null; then
        continue
    fi
    ws=() rs=() cs=() ss=()
    for _ in $(seq "$RUNS"); do
        w="" r="" c="" s=""
        if [ $vmm = cove ]; then
            run_one "$COVE" run --memory 512M --kernel "$G/Image" --initrd "$G/initrd" \
                --dir "src:$TMP/share" --append "$APPEND"
        else
            rm -f "$TMP/vfs.sock"
            "$VIRTIOFSD" --socket-path="$TMP/vfs.sock" -o source="$TMP/share" -o cache=auto \
                -o log_level=err --thread-pool-size=0 &
            daemon=$!
            for _ in $(seq 50); do [ -S "$TMP/vfs.sock" ] && break; sleep 0.1; done
            # virtio-mmio is legacy by default in QEMU 7.2, which libvhost-user refuses
            run_one qemu-system-riscv64 -M virt,memory-backend=mem -m 512M -nographic \
                -global virtio-mmio.force-legacy=false \
                -object memory-backend-memfd,id=mem,size=512M,share=on \
                -kernel "$G/Image" -initrd "$G/initrd" \
                -append "$APPEND cove.shares=src" \
                -chardev socket,id=c,path="$TMP/vfs.sock" \
                -device vhost-user-fs-device,chardev=c,tag=src
            kill $daemon 2>/dev/null
            wait $daemon 2>/dev/null
            daemon=""
        fi
        if [ -n "$s" ]; then
            ws+=("$w") rs+=("$r") cs+=("$c") ss+=("$s")
        else
            echo "$vmm: a run failed; log:" >&2
            tail -n 5 "$TMP/vm.log" >&2
        fi
    done
    W[$vmm]=$(printf '%s\n' "${ws[@]}" | median)
    R[$vmm]=$(printf '%s\n' "${rs[@]}" | median)
    C[$vmm]=$(printf '%s\n' "${cs[@]}" | median)
    S[$vmm]=$(printf '%s\n' "${ss[@]}" | median)
    echo "$vmm: write ${ws[*]:-none} MiB/s; read ${rs[*]:-none} MiB/s;" \
        "create ${cs[*]:-none} files/s; stat ${ss[*]:-none} files/s"
done

printf '%-6s %10s %10s %12s %12s   (%s MiB, %s files, 1 vCPU)\n' "" "write MiB/s" "read MiB/s" \
    "create/s" "stat/s" "$MIB" "$FILES"
for vmm in cove qemu; do
    [ -n "${W[$vmm]:-}" ] && printf '%-6s %10s %10s %12s %12s\n' "$vmm" "${W[$vmm]}" \
        "${R[$vmm]}" "${C[$vmm]}" "${S[$vmm]}"
done
if [ -n "${W[cove]:-}" ] && [ -n "${W[qemu]:-}" ]; then
    awk -v a="${W[cove]}" -v b="${W[qemu]}" -v c="${R[cove]}" -v d="${R[qemu]}" \
        -v e="${C[cove]}" -v f="${C[qemu]}" -v g="${S[cove]}" -v h="${S[qemu]}" \
        'BEGIN { printf "ratio  %10.2f %10.2f %12.2f %12.2f   (cove/qemu, higher is better)\n",
                 a / b, c / d, e / f, g / h }'
fi
