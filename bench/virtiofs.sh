#!/bin/bash
# virtio-fs throughput and metadata speed, cove vs qemu-system-riscv64, on the default guest
# with the same kernel and initrd and the same daemon (/usr/lib/qemu/virtiofsd, cache=auto,
# --thread-pool-size=0, as cove starts it). cove: `cove run --dir src:DIR`; QEMU: a
# memfd-backed RAM shared with the daemon and vhost-user-fs-device (the virtio-mmio
# variant the riscv virt board takes, made virtio 1: libvhost-user has no legacy). Inside the guest, on the share mounted at
# /mnt/cove/src:
#   write  dd of MIB MiB from /dev/zero, then sync (the guest's page cache dropped before)
#   read   dd to /dev/null of a MIB MiB file the host wrote before the boot (so no cache
#          of the guest holds it: dropping the caches does not reliably drop a file the
#          guest has just written)
#   create N empty files (a shell redirect each: no fork), then sync
#   stat   the caches dropped, ls -l of them (a LOOKUP and GETATTR each)
#   untar  a tar of a source-like tree (--tree N files, default 50,000: small files of the
#          host's /usr/share, /usr/include and Python library, each under 16 KiB, with
#          their directories; made once and cached in ~/.cache/cove/bench) read from the
#          share and unpacked into it by busybox tar, then sync
#   find   the caches dropped, `find | xargs stat` over the unpacked tree
#          (during both, a loop in the guest drops its dentry and inode caches every 0.5 s:
#          virtiofsd holds a descriptor per inode the guest caches, and 50,000 of them
#          exceed a 20,000 RLIMIT_NOFILE, which the daemon cannot raise in a container)
# timed with /proc/uptime (10 ms). cove and QEMU runs alternate (cove, qemu, cove, ...), so
# a busy host weighs on both alike. Prints MiB/s and files/s (median of the runs) for both
# and the ratios cove/qemu (higher is better). Needs root (virtiofsd). A benchmark, not a
# test: not part of the suite.
#   bench/virtiofs.sh [--mib N] [--files N] [--tree N] [--runs N]
#   (defaults 256 MiB, 5000, 50000, 1; --tree 0 leaves the tree out)
set -u
cd "$(dirname "$0")/.." || exit 1
MIB=256 FILES=5000 TREE=50000 RUNS=1
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --tree) TREE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/virtiofs.sh [--mib N] [--files N] [--tree N] [--runs N]" >&2; exit 2 ;;
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

# The tree: the first TREE small files (plain names only) of the host's /usr/share,
# /usr/include and Python library, in name order, as one tar made once per size.
tree_tar() {
    local cache=${XDG_CACHE_HOME:-$HOME/.cache}/cove/bench tar
    tar=$cache/tree-$TREE.tar
    [ -s "$tar" ] && { echo "$tar"; return; }
    mkdir -p "$cache" || return 1
    find /usr/share /usr/include /usr/lib/python3* -type f -size -16k 2>/dev/null |
        grep -E '^[A-Za-z0-9._/+-]+$' | LC_ALL=C sort | head -n "$TREE" >"$cache/list.$$"
    [ "$(wc -l <"$cache/list.$$")" = "$TREE" ] ||
        { echo "bench/virtiofs.sh: the host has fewer than $TREE small files" >&2; return 1; }
    tar -cf "$tar.tmp.$$" -T "$cache/list.$$" 2>/dev/null && mv "$tar.tmp.$$" "$tar" &&
        rm -f "$cache/list.$$" && echo "$tar"
}

# The guest's side, from the share itself (in a directory the file count does not see).
mkdir -p "$TMP/share/.bench"
if [ "$TREE" -gt 0 ]; then
    tar=$(tree_tar) || exit 1
    cp "$tar" "$TMP/share/.bench/tree.tar" || exit 1
fi
head -c "${MIB}M" /dev/urandom >"$TMP/share/.bench/rd" || exit 1
cat >"$TMP/share/.bench/run.sh" <<EOF
up() { cut -d' ' -f1 /proc/uptime; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
d=/mnt/cove/src/w
mkdir -p \$d
drop
t0=\$(up); dd if=/dev/zero of=\$d/big bs=1M count=$MIB 2>/dev/null; sync; t1=\$(up)
drop
t2=\$(up); dd if=/mnt/cove/src/.bench/rd of=/dev/null bs=1M 2>/dev/null; t3=\$(up)
rm \$d/big
drop
t4=\$(up); i=0; while [ \$i -lt $FILES ]; do : >\$d/f\$i; i=\$((i + 1)); done; sync; t5=\$(up)
drop
t6=\$(up); n=\$(ls -l \$d | grep -c ' f[0-9]'); t7=\$(up)
t8=0 t9=0 t10=0 t11=0 n2=0
if [ $TREE -gt 0 ]; then
    mkdir \$d/t
    (while :; do echo 2 >/proc/sys/vm/drop_caches; sleep 0.5; done) &
    dropper=\$!
    drop
    t8=\$(up); tar -xf /mnt/cove/src/.bench/tree.tar -C \$d/t; sync; t9=\$(up)
    drop
    t10=\$(up); find \$d/t -type f | xargs stat >/dev/null; t11=\$(up)
    n2=\$(find \$d/t -type f | wc -l)
    kill \$dropper
fi
echo "FS-RESULT \$t0 \$t1 \$t2 \$t3 \$t4 \$t5 \$t6 \$t7 \$n \$t8 \$t9 \$t10 \$t11 \$n2"
EOF
APPEND="quiet cove.exec=\"sh /mnt/cove/src/.bench/run.sh\""

. bench/lib.sh # median

# One run of the VMM given as arguments; sets w r c s u f (MiB/s twice, then files/s).
run_one() {
    rm -rf "$TMP/share/w"
    timeout 3600 "$@" </dev/null >"$TMP/vm.log" 2>&1
    read -r w r c s u f < <(tr -d '\r' <"$TMP/vm.log" | awk -v mib="$MIB" -v files="$FILES" \
        -v tree="$TREE" '
        function dt(a, b) { return b - a > 0.01 ? b - a : 0.01 }
        $1 == "FS-RESULT" && $10 == files && $15 == tree {
            printf "%.1f %.1f %.0f %.0f %.0f %.0f\n", mib / dt($2, $3), mib / dt($4, $5),
                files / dt($6, $7), files / dt($8, $9),
                tree ? tree / dt($11, $12) : 0, tree ? tree / dt($13, $14) : 0 }')
}

run_cove() {
    run_one "$COVE" run --memory 512M --kernel "$G/Image" --initrd "$G/initrd" \
        --dir "src:$TMP/share" --append "$APPEND"
}

run_qemu() {
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
}

vmms="cove"
command -v qemu-system-riscv64 >/dev/null && vmms="cove qemu"
declare -A RES # "VMM KIND" -> the runs' values
for _ in $(seq "$RUNS"); do
    for vmm in $vmms; do
        w="" r="" c="" s="" u="" f=""
        run_$vmm
        if [ -n "$f" ]; then
            echo "$vmm: write $w MiB/s; read $r MiB/s; create $c/s; stat $s/s;" \
                "untar $u files/s; find+stat $f files/s"
            for k in w r c s u f; do RES[$vmm $k]+="${!k} "; done
        else
            echo "$vmm: a run failed; log:" >&2
            tail -n 5 "$TMP/vm.log" >&2
        fi
    done
done

med() { printf '%s\n' ${RES[$1 $2]:-} | median; }
printf '%-6s %9s %9s %9s %9s %9s %9s   (%s MiB, %s files, tree %s, 1 vCPU)\n' "" \
    "write" "read" "create/s" "stat/s" "untar/s" "find/s" "$MIB" "$FILES" "$TREE"
for vmm in $vmms; do
    [ -n "${RES[$vmm w]:-}" ] && printf '%-6s %9s %9s %9s %9s %9s %9s\n' "$vmm" \
        "$(med $vmm w)" "$(med $vmm r)" "$(med $vmm c)" "$(med $vmm s)" "$(med $vmm u)" \
        "$(med $vmm f)"
done
if [ -n "${RES[cove w]:-}" ] && [ -n "${RES[qemu w]:-}" ]; then
    printf 'ratio '
    for k in w r c s u f; do
        awk -v a="$(med cove $k)" -v b="$(med qemu $k)" \
            'BEGIN { if (b > 0) printf " %9.2f", a / b; else printf " %9s", "-" }'
    done
    echo "   (cove/qemu, higher is better)"
fi
