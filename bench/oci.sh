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
# then the same. LAZY=0 skips it.
#   bench/oci.sh [RUNS]     COVE=build/cove by default; BENCH_DIR for the scratch space
set -euo pipefail
cd "$(dirname "$0")/.."
COVE=${COVE:-$PWD/build/cove}
RUNS=${1:-3}
for t in docker-registry skopeo mkfs.ext4 zstd curl; do
    command -v $t >/dev/null || { echo "oci.sh: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cove-oci.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "${WORK:?}"' EXIT
. bench/lib.sh # median
now_ns() { date +%s%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

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
push_ms=() pull_ms=() skopeo_ms=() again_ms=() skopeo_again_ms=()
for i in $(seq "$RUNS"); do
    start_registry "a$i"; A=$REG
    start_registry "b$i"; B=$REG
    t0=$(now_ns); "$COVE" push vm "$A/bench/vm:1" >"$WORK/push.out"; t1=$(now_ns)
    push_ms+=("$(ms "$t0" "$t1")")
    t0=$(now_ns); COVE_HOME=$WORK/pull$i "$COVE" pull "$A/bench/vm:1" >/dev/null; t1=$(now_ns)
    pull_ms+=("$(ms "$t0" "$t1")")
    t0=$(now_ns)
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$A/bench/vm:1" "docker://$B/bench/vm:1"
    t1=$(now_ns)
    skopeo_ms+=("$(ms "$t0" "$t1")")
    t0=$(now_ns); "$COVE" push vm "$A/bench/vm:1" >/dev/null; t1=$(now_ns)
    again_ms+=("$(ms "$t0" "$t1")")
    t0=$(now_ns)
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$A/bench/vm:1" "docker://$B/bench/vm:1"
    t1=$(now_ns)
    skopeo_again_ms+=("$(ms "$t0" "$t1")")
    stored=$(du -sb "$WORK/a$i/docker/registry/v2/blobs" | cut -f1)
    rm -rf "${WORK:?}/pull$i"
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
P=$(printf '%s\n' "${push_ms[@]}" | median)
L=$(printf '%s\n' "${pull_ms[@]}" | median)
S=$(printf '%s\n' "${skopeo_ms[@]}" | median)
G=$(printf '%s\n' "${again_ms[@]}" | median)
SG=$(printf '%s\n' "${skopeo_again_ms[@]}" | median)
awk -v p="$P" -v l="$L" -v s="$S" -v g="$G" -v sg="$SG" -v d="$data_bytes" -v st="$stored" -v z="$zstd_bytes" -v u="$used" -v r="$RUNS" 'BEGIN {
    printf "disk data %.0f MB (used files %.0f MB), median of %d runs\n", d / 1e6, u / 1e6, r
    printf "(ratio: the time of skopeo copy over that of cove; above 1, cove is faster)\n"
    printf "cove push     %6d ms  %6.1f MB/s  %.2fx skopeo copy\n", p, d / 1e3 / p, s / p
    printf "cove pull     %6d ms  %6.1f MB/s  %.2fx skopeo copy\n", l, d / 1e3 / l, s / l
    printf "skopeo copy   %6d ms  %6.1f MB/s\n", s, d / 1e3 / s
    printf "cove push again    %6d ms  %.2fx skopeo copy again (%d ms)\n", g, sg / g, sg
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
