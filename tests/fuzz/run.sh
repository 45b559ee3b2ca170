#!/bin/bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) and runs
# each for a bounded time. A crash leaves its input in tests/fuzz/corpus/<target>/
# (replayed from then on by the unit tests test_fuzz_<target>) and fails this script.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 20 s, all targets)
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-20}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(virtq blk mmio net vsock http fwd_syn egress agent agent_ports vhost_user config balloon disk_spec oci nvme state netsvc gpu web)
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"

LIB_SRCS=(src/devices/*.c src/devices/virtio/*.c src/devices/nvme/*.c src/devices/pci/*.c src/backends/*.c src/disk/*.c src/util/log.c src/util/error.c
          src/util/fdio.c src/util/usock.c src/util/confined.c src/util/crc32c.c src/util/state_format.c src/vm/http.c
          src/agent/agent_frame.c src/store/config.c src/store/share_spec.c src/display/ws.c src/display/web_route.c
          src/oci/manifest.c src/oci/digest.c src/util/size.c)
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

failed=0
for t in "${TARGETS[@]}"; do
    bin="$OUT/fuzz_$t"
    if ! "$CC" "${COMMON[@]}" -fsanitize=fuzzer,address,undefined -o "$bin" \
            "tests/fuzz/fuzz_$t.c" "$OUT/libcove-fuzz.a" $LIBS; then
        echo "fuzz: cannot build $t" >&2
        failed=1
        continue
    fi
    corpus=tests/fuzz/corpus/$t
    work="$OUT/corpus-$t"   # new coverage stays out of the tree; crashes land in $corpus
    mkdir -p "$work" "$corpus"
    echo "== fuzz $t (${SECONDS_EACH}s)"
    if ! "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$corpus/" -print_final_stats=1 "$work" "$corpus" \
            >"$OUT/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $OUT/$t.log; the input is in $corpus/" >&2
        grep -E 'ERROR|SUMMARY|Test unit written' "$OUT/$t.log" | head -n 5 >&2
        failed=1
    else
        grep -E '^stat::number_of_executed_units|cov:' "$OUT/$t.log" | tail -n 2
    fi
done
[ "$failed" -eq 0 ] && echo "fuzz: all targets ran clean"
exit "$failed"
