#!/bin/bash
# Every libFuzzer target (tests/fuzz/) runs for a bounded time in the suite; a crash fails
# the suite and leaves its input in tests/fuzz/corpus/<target>/ as a regression test.
command -v clang >/dev/null || { echo "no clang"; exit 77; }
exec "$(dirname "$0")/../fuzz/run.sh" "${COVE_FUZZ_SECONDS:-15}"
