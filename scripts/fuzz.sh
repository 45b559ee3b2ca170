#!/bin/bash
# Fuzzing at length (docs/SECURITY.md, "Fuzzing at length"): runs every libFuzzer target of
# tests/fuzz (or the ones named) for HOURS each, one after another or JOBS at once, keeps
# what they grew in tests/fuzz/corpus/<target> (only inputs that add coverage), and records
# per target the hours, executions, corpus size and result in docs/SECURITY.md's table.
#   scripts/fuzz.sh [-j JOBS] HOURS [TARGET...]      (HOURS may be a fraction: 0.05 = 3 min)
# A crash fails the run; its input is in tests/fuzz/corpus/<target>/ (a regression seed,
# replayed by the unit tests test_fuzz_<target>). Commit the corpora and the table.
set -u
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/fuzz.sh [-j JOBS] HOURS [TARGET...]" >&2; exit 2; }
JOBS=1
if [ "${1:-}" = -j ]; then
    [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: -j needs a number of targets at once, got '${2:-}'" >&2; exit 2; }
    JOBS=$2
    shift 2
fi
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
FUZZ_JOBS=$JOBS FUZZ_KEEP=1 FUZZ_STATS=$STATS tests/fuzz/run.sh "$SECS" "$@"
rc=$?

# the table: one row per target, this run's replacing the target's last
python3 - "$STATS" docs/SECURITY.md "$(date -u +%Y-%m-%d)" "$(nproc)" "$JOBS" <<'PY'
import sys, re
stats, doc, day, cpus, jobs = sys.argv[1:]
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
    t, secs, execs, files, result = line.split()
    rows[t] = [t, day, "%.2f" % (int(secs) / 3600), "{:,}".format(int(execs)), files,
               result, "%s CPUs, %s at once" % (cpus, jobs)]
out = ["", "| target | date | hours | executions | corpus (files) | result | host |",
       "|---|---|---|---|---|---|---|"]
out += ["| " + " | ".join(rows[k]) + " |" for k in sorted(rows)]
open(doc + ".tmp", "w").write(head + begin + "\n".join(out) + "\n" + end + tail)
PY
[ $? -eq 0 ] && mv docs/SECURITY.md.tmp docs/SECURITY.md
echo "fuzz.sh: figures in docs/SECURITY.md (\"Fuzzing at length\"); corpora in tests/fuzz/corpus/"
exit $rc
