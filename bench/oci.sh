#!/bin/bash
# cove push / pull through a registry against `skopeo copy` moving the same blobs between two
# registries, all on loopback (Debian's docker-registry, plain HTTP). The VM's disk is an
# 4 GiB ext4 image holding real files (/usr/lib/x86_64-linux-gnu of this host, about 1 GiB:
# shared libraries, compressible as a root file system is). Prints, per operation, the wall time
# (median of RUNS), MB/s of disk data (the non-zero chunks' uncompressed bytes), and the
# ratio to skopeo; then the bytes stored in the registry against `zstd -3` of the used data.
# "again": the same push, and the same skopeo copy, repeated (both find every blob there).
# Then the lazy clone (docs/OCI.md, "Lazy pull"): a default-guest VM whose 4 GiB root file
# system also holds a tar of the same files is pushed; from a fresh COVE_HOME each time,
# `cove clone --lazy` then `cove run` to the guest's first console line, and to the end of
# `cove run -- true` (booted to its agent, powered off), against `cove clone` (a full pull)
# then the same (the first build only). LAZY=0 or --no-lazy skips it.
#   bench/oci.sh [--runs N] [--cove [LABEL=]PATH]... [--no-lazy]   (or bench/oci.sh RUNS)
# COVE=build/cove by default; --cove is repeatable (e.g. --cove main=/work/main/build/cove
# --cove new=build/cove compares two builds in one run: each run times every build's push
# to a registry of its own, its pull, then skopeo; each ratio is the median of the ratios
# of the same run, as neighbours in time share a loaded host's load). BENCH_DIR for the
# scratch space.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3 COVES=()
usage() { echo "usage: bench/oci.sh [--runs N] [--cove [LABEL=]PATH]... [--no-lazy]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
    --cove) [ $# -ge 2 ] || usage; COVES+=("$2"); shift 2 ;;
    --no-lazy) LAZY=0; shift ;;
    [0-9]*) RUNS=$1; shift ;;
    *) usage ;;
    esac
done
case $RUNS in '' | *[!0-9]* | 0) echo "bench/oci.sh: --runs needs a positive number, not '$RUNS'" >&2; exit 2 ;; esac
declare -A BIN
. bench/lib.sh # cove_builds, median
cove_builds bench/oci.sh
COVE=${BIN[${LABELS[0]}]}
for t in docker-registry skopeo mkfs.ext4 zstd curl; do
    command -v $t >/dev/null || { echo "oci.sh: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cove-oci.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "${WORK:?}"' EXIT
now_ns() { date +%s%N; }

start_registry() { # NAME -> 127.0.0.1:PORT on stdout
    local port; port=$(free_port)
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$WORK/$1" "$port" >"$WORK/$1.yml"
    docker-registry serve "$WORK/$1.yml" >"$WORK/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
    REG=127.0.0.1:$port
}

export COVE_HOME=$WORK/home
mkfs.ext4 -q -F -d /usr/lib/x86_64-linux-gnu -L bench "$WORK/disk.raw" 4G
"$COVE" create vm --from-disk "$WORK/disk.raw" >/dev/null
rm "$WORK/disk.raw"
used=$(du -sb /usr/lib/x86_64-linux-gnu | cut -f1)

ms() { echo $(( ($2 - $1) / 1000000 )); }
declare -A push_ms pull_ms again_ms push_x pull_x again_x RA
skopeo_ms=() skopeo_again_ms=()
for i in $(seq "$RUNS"); do
    start_registry "b$i"; B=$REG
    for l in "${LABELS[@]}"; do # each build pushes to an empty registry of its own
        start_registry "a$i-$l"; RA[$l]=$REG
        t0=$(now_ns); "${BIN[$l]}" push vm "$REG/bench/vm:1" >/dev/null; t1=$(now_ns)
        push_ms[$l]+=" $(ms "$t0" "$t1")"
        t0=$(now_ns); COVE_HOME=$WORK/pull$i "${BIN[$l]}" pull "$REG/bench/vm:1" >/dev/null; t1=$(now_ns)
        pull_ms[$l]+=" $(ms "$t0" "$t1")"
        rm -rf "${WORK:?}/pull$i"
    done
    A=${RA[${LABELS[0]}]}
    t0=$(now_ns)
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$A/bench/vm:1" "docker://$B/bench/vm:1"
    t1=$(now_ns)
    s=$(ms "$t0" "$t1")
    skopeo_ms+=("$s")
    for l in "${LABELS[@]}"; do
        t0=$(now_ns); "${BIN[$l]}" push vm "${RA[$l]}/bench/vm:1" >/dev/null; t1=$(now_ns)
        again_ms[$l]+=" $(ms "$t0" "$t1")"
    done
    t0=$(now_ns)
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$A/bench/vm:1" "docker://$B/bench/vm:1"
    t1=$(now_ns)
    sg=$(ms "$t0" "$t1")
    skopeo_again_ms+=("$sg")
    for l in "${LABELS[@]}"; do # this run's ratios: skopeo's time over cove's
        p=${push_ms[$l]##* } q=${pull_ms[$l]##* } g=${again_ms[$l]##* }
        push_x[$l]+=" $(awk -v s="$s" -v c="$p" 'BEGIN {printf "%.3f", s / c}')"
        pull_x[$l]+=" $(awk -v s="$s" -v c="$q" 'BEGIN {printf "%.3f", s / c}')"
        again_x[$l]+=" $(awk -v s="$sg" -v c="$g" 'BEGIN {printf "%.3f", s / c}')"
    done
    stored=$(du -sb "$WORK/a$i-${LABELS[0]}/docker/registry/v2/blobs" | cut -f1)
done
# the manifests' layer annotations give the uncompressed bytes moved
data_bytes=$(python3 - "$A" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("http://%s/v2/bench/vm/manifests/1" % sys.argv[1],
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
m = json.load(urllib.request.urlopen(req))
print(sum(int(l["annotations"]["vnd.cove.length"]) for l in m["layers"]))
PY
)
zstd_bytes=$(tar -C /usr/lib -cf - x86_64-linux-gnu 2>/dev/null | zstd -3 -T0 -c | wc -c)
med_of() { printf '%s\n' $1 | median; } # of a list in one word
medf() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
S=$(printf '%s\n' "${skopeo_ms[@]}" | median)
SG=$(printf '%s\n' "${skopeo_again_ms[@]}" | median)
awk -v d="$data_bytes" -v u="$used" -v r="$RUNS" -v s="$S" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
    printf "disk data %.0f MB (used files %.0f MB), median of %d runs; load average now %s\n", d / 1e6, u / 1e6, r, load
    printf "(ratio: the time of skopeo copy over that of cove in the same run, median; above 1, cove is faster)\n"
    printf "skopeo copy          %6d ms  %6.1f MB/s\n", s, d / 1e3 / s
}'
for l in "${LABELS[@]}"; do
    awk -v l="$l" -v p="$(med_of "${push_ms[$l]}")" -v q="$(med_of "${pull_ms[$l]}")" -v g="$(med_of "${again_ms[$l]}")" \
        -v px="$(medf "${push_x[$l]}")" -v qx="$(medf "${pull_x[$l]}")" -v gx="$(medf "${again_x[$l]}")" \
        -v d="$data_bytes" -v sg="$SG" 'BEGIN {
        printf "%-10s push     %6d ms  %6.1f MB/s  %.2fx skopeo copy\n", l, p, d / 1e3 / p, px
        printf "%-10s pull     %6d ms  %6.1f MB/s  %.2fx skopeo copy\n", l, q, d / 1e3 / q, qx
        printf "%-10s push again %4d ms  %.2fx skopeo copy again (%d ms)\n", l, g, gx, sg
    }'
done
awk -v st="$stored" -v z="$zstd_bytes" 'BEGIN {
    printf "registry bytes %.0f MB, zstd -3 of the used files %.0f MB (%.2fx)\n", st / 1e6, z / 1e6, st / z
}'

[ "${LAZY:-1}" = 1 ] || exit 0
# --- lazy clone against a full pull, then run ------------------------------------------------
command -v debugfs >/dev/null || { echo "oci.sh: debugfs is missing (e2fsprogs)" >&2; exit 1; }
"$COVE" create guest --memory 256M --disk-size 4G >/dev/null
tar -C /usr/lib -cf "$WORK/libs.tar" x86_64-linux-gnu 2>/dev/null
debugfs -w -R "write $WORK/libs.tar root/libs.tar" "$COVE_HOME/vms/guest/disk.img" >/dev/null 2>&1
rm "$WORK/libs.tar"
"$COVE" push guest "$A/bench/guest:1" >/dev/null
# COVE_HOME's VM vm booted: ms to its first console line (then stopped)
first_line_ms() {
    local t0 t1 pid
    rm -f "$WORK/console"
    t0=$(now_ns)
    "$COVE" run vm </dev/null >"$WORK/console" 2>/dev/null &
    pid=$!
    while ! [ -s "$WORK/console" ]; do sleep 0.02; done
    t1=$(now_ns)
    kill "$pid"; wait "$pid" || true
    ms "$t0" "$t1"
}
cmd_ms() { local t0 t1; t0=$(now_ns); "$COVE" run vm -- true </dev/null >/dev/null 2>&1; t1=$(now_ns); ms "$t0" "$t1"; }
lz_clone=() lz_first=() lz_cmd=() full_clone=() full_first=() full_cmd=()
for i in $(seq "$RUNS"); do
    export COVE_HOME=$WORK/lazy$i
    t0=$(now_ns); "$COVE" clone --lazy "$A/bench/guest:1" vm >/dev/null; t1=$(now_ns)
    lz_clone+=("$(ms "$t0" "$t1")")
    lz_first+=("$(first_line_ms)")
    rm -rf "${COVE_HOME:?}"
    "$COVE" clone --lazy "$A/bench/guest:1" vm >/dev/null
    lz_cmd+=("$(cmd_ms)")
    rm -rf "${COVE_HOME:?}"
    export COVE_HOME=$WORK/full$i
    t0=$(now_ns); "$COVE" clone "$A/bench/guest:1" vm >/dev/null; t1=$(now_ns)
    full_clone+=("$(ms "$t0" "$t1")")
    full_first+=("$(first_line_ms)")
    "$COVE" delete vm >/dev/null && "$COVE" clone "$A/bench/guest:1" vm >/dev/null # the cached image
    full_cmd+=("$(cmd_ms)")
    rm -rf "${COVE_HOME:?}"
done
med() { printf '%s\n' "$@" | median; }
LC=$(med "${lz_clone[@]}") LF=$(med "${lz_first[@]}") LX=$(med "${lz_cmd[@]}")
FC=$(med "${full_clone[@]}") FF=$(med "${full_first[@]}") FX=$(med "${full_cmd[@]}")
awk -v lc="$LC" -v lf="$LF" -v lx="$LX" -v fc="$FC" -v ff="$FF" -v fx="$FX" -v r="$RUNS" 'BEGIN {
    printf "lazy clone of a default-guest VM (4 GiB disk, a tar of the same files on it), median of %d runs\n", r
    printf "                                  clone   + run to the first console line   + run -- true\n"
    printf "cove clone --lazy, then run    %6d ms   %6d ms (%6d ms in all)   %6d ms (%6d ms in all)\n", lc, lf, lc + lf, lx, lc + lx
    printf "cove clone (full pull), then   %6d ms   %6d ms (%6d ms in all)   %6d ms (%6d ms in all)\n", fc, ff, fc + ff, fx, fc + fx
    printf "to the first console line: lazy %.1fx faster; to a command run: %.1fx\n", (fc + ff) / (lc + lf), (fc + fx) / (lc + lx)
}'
