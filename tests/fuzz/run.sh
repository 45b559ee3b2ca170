#!/bin/bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) and runs
# each for a bounded time. A crash leaves its input in tests/fuzz/corpus/<target>/
# (replayed from then on by the unit tests test_fuzz_<target>) and fails this script.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 20 s, all targets)
# For long runs (scripts/fuzz.sh): FUZZ_JOBS=N runs N targets at once (default 1);
# FUZZ_KEEP=1 merges what a clean run grew into tests/fuzz/corpus/<target> (libFuzzer's
# -merge=1: only inputs that add coverage); FUZZ_STATS=FILE appends a line per target:
# "TARGET SECONDS EXECUTIONS CORPUS_FILES ok|FAILED WALL_SECONDS".
# FUZZ_CPU=1: SECONDS_PER_TARGET is CPU time, not wall time: each fuzzer runs at nice 19 (it
# takes only what other work leaves) and is stopped (SIGINT: libFuzzer prints its final
# stats and exits 72) once its own CPU time reaches it; SECONDS in the stats is CPU time.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-20}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(virtq blk mmio net vsock http fwd_syn egress agent agent_ports vhost_user config balloon disk_spec oci nvme state netsvc gpu web cuttext)
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"

LIB_SRCS=(src/devices/*.c src/devices/virtio/*.c src/devices/nvme/*.c src/devices/pci/*.c src/backends/*.c src/disk/*.c src/util/log.c src/util/error.c
          src/util/fdio.c src/util/usock.c src/util/confined.c src/util/crc32c.c src/util/state_format.c src/vm/http.c
          src/agent/agent_frame.c src/store/config.c src/store/share_spec.c src/display/ws.c src/display/web_route.c src/display/latin1.c
          src/oci/manifest.c src/oci/digest.c src/util/size.c src/util/ratelimit.c)
COMMON=(-std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Isrc -Wall -Wextra -Werror
        -Wno-unused-parameter -fno-sanitize-recover=undefined -fno-omit-frame-pointer -pthread)
LIBS=$(pkg-config --libs slirp jansson libnbd libcrypto)

# The code under test is compiled once (coverage-instrumented, without libFuzzer's main)
# into one archive that every target links: not once per target.
rm -rf "${OUT:?}/obj"
mkdir -p "$OUT/obj"
export CC OUT
printf '%s\n' "${LIB_SRCS[@]}" |
    xargs -P "$(nproc)" -I{} sh -c 'exec "$CC" "$@" -c -o "$OUT/obj/$(echo {} | tr / _).o" {}' \
        sh "${COMMON[@]}" -fsanitize=fuzzer-no-link,address,undefined ||
    { echo "fuzz: cannot build the code under test" >&2; exit 1; }
rm -f "$OUT/libcove-fuzz.a"
ar rcs "$OUT/libcove-fuzz.a" "$OUT"/obj/*.o

# runs a fuzzer (its arguments) for SECONDS_EACH: wall time, or with FUZZ_CPU=1 its own CPU
# time at nice 19 (the CPU seconds it used are left in $OUT/<target>.cpu)
fuzz_for() {
    if [ "${FUZZ_CPU:-0}" != 1 ]; then
        "$@" -max_total_time="$SECONDS_EACH"
        return
    fi
    local name pid cpu=0 tck rc stopped=0
    name=$(basename "$1") tck=$(getconf CLK_TCK)
    nice -n 19 "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        # utime + stime: fields 14 and 15 of /proc/PID/stat (after the ")" of the name)
        cpu=$(awk -v t="$tck" '{sub(/.*\) /, ""); printf "%d", ($12 + $13) / t}' "/proc/$pid/stat" 2>/dev/null) || break
        echo "${cpu:-0}" >"$OUT/${name#fuzz_}.cpu"
        if [ "${cpu:-0}" -ge "$SECONDS_EACH" ]; then
            kill -INT "$pid" 2>/dev/null
            stopped=1
            break
        fi
    done
    wait "$pid"
    rc=$?
    # libFuzzer's exit after SIGINT (-interrupted_exit_code, 72 by default) is the end we asked for
    [ "$stopped" = 1 ] && [ "$rc" = 72 ] && rc=0
    return "$rc"
}

# one target's run (after its build): its result in $OUT/$t.rc, its figures in FUZZ_STATS
run_one() {
    local t=$1 bin="$OUT/fuzz_$1" corpus=tests/fuzz/corpus/$1 work="$OUT/corpus-$1" rc=0 t0 t1
    mkdir -p "$work" "$corpus"  # new coverage stays out of the tree; crashes land in $corpus
    echo "== fuzz $t (${SECONDS_EACH}s)"
    t0=$(date +%s)
    if ! fuzz_for "$bin" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$corpus/" -print_final_stats=1 "$work" "$corpus" \
            >"$OUT/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $OUT/$t.log; the input is in $corpus/" >&2
        grep -E 'ERROR|SUMMARY|Test unit written' "$OUT/$t.log" | head -n 5 >&2
        rc=1
    else
        grep -E '^stat::number_of_executed_units|cov:' "$OUT/$t.log" | tail -n 2
        if [ "${FUZZ_KEEP:-0}" = 1 ]; then
            "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus" "$work" >"$OUT/$t.merge.log" 2>&1 ||
                { echo "fuzz: $t: merging the corpus failed; see $OUT/$t.merge.log" >&2; rc=1; }
        fi
    fi
    t1=$(date +%s)
    if [ -n "${FUZZ_STATS:-}" ]; then
        local execs files
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -n 1)
        files=$(find "$corpus" -maxdepth 1 -type f | wc -l)
        local secs=$((t1 - t0))
        [ "${FUZZ_CPU:-0}" = 1 ] && secs=$(cat "$OUT/$t.cpu" 2>/dev/null || echo 0)
        echo "$t $secs ${execs:-0} $files $([ $rc = 0 ] && echo ok || echo FAILED) $((t1 - t0))" >>"$FUZZ_STATS"
    fi
    echo $rc >"$OUT/$t.rc"
}

failed=0
built=()
for t in "${TARGETS[@]}"; do
    bin="$OUT/fuzz_$t"
    if ! "$CC" "${COMMON[@]}" -fsanitize=fuzzer,address,undefined -o "$bin" \
            "tests/fuzz/fuzz_$t.c" "$OUT/libcove-fuzz.a" $LIBS; then
        echo "fuzz: cannot build $t" >&2
        failed=1
        continue
    fi
    built+=("$t")
done
running=0
for t in "${built[@]}"; do
    rm -f "$OUT/$t.rc"
    if [ "${FUZZ_JOBS:-1}" -le 1 ]; then
        run_one "$t"
        continue
    fi
    [ "$running" -lt "$FUZZ_JOBS" ] || { wait -n; running=$((running - 1)); }
    run_one "$t" &
    running=$((running + 1))
done
wait
for t in "${built[@]}"; do
    [ "$(cat "$OUT/$t.rc" 2>/dev/null)" = 0 ] || failed=1
done
[ "$failed" -eq 0 ] && echo "fuzz: all targets ran clean"
exit "$failed"
