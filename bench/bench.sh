#!/bin/sh
# Runs cove and qemu-system-riscv64 side by side on the default guest; prints ratios.
# Usage: bench/bench.sh [--runs N] [--cpus N] [--loop N] [--append ARGS]
exec python3 "$(dirname "$0")/bench.py" "$@"
