#!/bin/bash
# Fuzzing at length (docs/SECURITY.md, "Fuzzing at length"): runs every libFuzzer target of
# tests/fuzz (or the ones named) for HOURS each, one after another or JOBS at once, keeps
# what they grew in tests/fuzz/corpus/<target> (only inputs that add coverage), and records
# per target the hours, executions, corpus size and result in docs/SECURITY.md's table.
#   scripts/fuzz.sh [-j JOBS] [--cpu] HOURS [TARGET...]  (HOURS may be a fraction: 0.05 = 3 min)
# --cpu: HOURS of each fuzzer's own CPU time, not of the clock: the fuzzers run at nice 19
# and take only what other work on the host leaves them (a run can then span sessions).
# A crash fails the run; its input is in tests/fuzz/corpus/<target>/ (a regression seed,
# replayed by the unit tests test_fuzz_<target>). Commit the corpora and the table.
set -u
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/fuzz.sh [-j JOBS] [--cpu] HOURS [TARGET...]" >&2; exit 2; }
JOBS=1 CPU=0
while [ $# -gt 0 ]; do
    case $1 in
    -j)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: -j needs a number of targets at once, got '${2:-}'" >&2; exit 2; }
        JOBS=$2
        shift 2 ;;
    --cpu) CPU=1; shift ;;
    -*) usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
HOURS=$1
shift
[[ "$HOURS" =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v h="$HOURS" 'BEGIN {exit !(h > 0 && h <= 1000)}' ||
    { echo "fuzz.sh: HOURS must be a number of hours per target above 0 (e.g. 1 or 0.05), got '$HOURS'" >&2; exit 2; }
SECS=$(awk -v h="$HOURS" 'BEGIN {s = int(h * 3600 + 0.5); print s < 1 ? 1 : s}')
for t in "$@"; do
    [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no fuzz target '$t' (tests/fuzz/fuzz_$t.c)" >&2; exit 2; }
done

STATS=$(mktemp)
trap 'rm -f "$STATS"' EXIT
FUZZ_JOBS=$JOBS FUZZ_CPU=$CPU FUZZ_KEEP=1 FUZZ_STATS=$STATS tests/fuzz/run.sh "$SECS" "$@"
rc=$?

# the table: one row per target, this run's replacing the target's last (under a lock: two
# runs of this script on other targets, each with its own FUZZ_BUILD, may end at once)
exec 9>"${TMPDIR:-/tmp}/cove-fuzz-table.lock"
flock 9
python3 - "$STATS" docs/SECURITY.md "$(date -u +%Y-%m-%d)" "$(nproc)" "$JOBS" "$CPU" <<'PY'
import sys, re
stats, doc, day, cpus, jobs, cpu = sys.argv[1:]
begin, end = "<!-- fuzz-table:begin -->", "<!-- fuzz-table:end -->"
text = open(doc).read()
if begin not in text or end not in text:
    sys.exit("fuzz.sh: docs/SECURITY.md has no fuzz table markers")
head, rest = text.split(begin, 1)
table, tail = rest.split(end, 1)
rows = {}
for line in table.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 7 and cells[0] not in ("target", "---"):
        rows[cells[0]] = cells
for line in open(stats):
    t, secs, execs, files, result, wall = line.split()
    host = "%s CPUs, %s at once" % (cpus, jobs)
    if cpu == "1":
        host += ", CPU time at nice 19 beside other work (%.1f h of wall time)" % (int(wall) / 3600)
    rows[t] = [t, day, "%.2f" % (int(secs) / 3600), "{:,}".format(int(execs)), files,
               result, host]
out = ["", "| target | date | hours | executions | corpus (files) | result | host |",
       "|---|---|---|---|---|---|---|"]
out += ["| " + " | ".join(rows[k]) + " |" for k in sorted(rows)]
open(doc + ".tmp", "w").write(head + begin + "\n".join(out) + "\n" + end + tail)
PY
[ $? -eq 0 ] && mv docs/SECURITY.md.tmp docs/SECURITY.md
echo "fuzz.sh: figures in docs/SECURITY.md (\"Fuzzing at length\"); corpora in tests/fuzz/corpus/"
exit $rc
