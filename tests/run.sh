#!/bin/bash
# The whole test suite: unit tests (every build/tests/**/test_* binary), then integration
# tests (tests/integration/*.sh, which boot the real default guest). Ends with the line
# "N passed, N failed, N skipped". Exit status 0 only when nothing failed.
#   tests/run.sh [PATTERN...]   run only tests whose name contains one of the PATTERNs
#   (names: tests/unit/hv/test_hv_cpu, integration/agent.sh)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
FILTERS=("$@")

passed=0
failed=0
skipped=0
failed_names=()

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || exit 1
ninja -C "$BUILD" >/dev/null || { ninja -C "$BUILD"; echo "0 passed, 1 failed"; exit 1; }

selected() {
    [ "${#FILTERS[@]}" -eq 0 ] && return 0
    local p
    for p in "${FILTERS[@]}"; do [[ "$1" == *"$p"* ]] && return 0; done
    return 1
}

note_fail() { failed=$((failed + 1)); failed_names+=("$1"); }

# --- unit tests: each binary prints its own "N passed, N failed[, N skipped]" line ------
# (tests/unit/test.h); one that could run nothing here exits 77.
while IFS= read -r bin; do
    name=${bin#"$BUILD"/}
    selected "$name" || continue
    echo "== $name"
    out=$(timeout 600 "$bin" 2>&1)
    rc=$?
    echo "$out" | grep -v '^ok ' | tail -n 40
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "   (no summary; exit status $rc)"
        note_fail "$name"
        continue
    fi
    p=${line%% passed*}
    f=${line#*passed, }; f=${f%% failed*}
    s=0
    [[ "$line" =~ failed,\ ([0-9]+)\ skipped ]] && s=${BASH_REMATCH[1]}
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failed_names+=("$name")
    if [ "$rc" -eq 77 ] && [ "$f" -eq 0 ] && [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
        continue
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then note_fail "$name (exit $rc)"; fi
done < <(find "$BUILD/tests" -type f -perm -u+x -name 'test_*' | sort)

# --- integration tests: exit 0 pass, 77 skip, anything else fail -------------------------
export COVE="$ROOT/$BUILD/cove"
if ls tests/integration/*.sh >/dev/null 2>&1; then
    if [ -z "${COVE_GUEST_DIR:-}" ]; then
        echo "== building the default guest (cached after the first time)"
        COVE_GUEST_DIR=$(guest/build.sh) || COVE_GUEST_DIR=""
    fi
    export COVE_GUEST_DIR
    # Distribution images the selected tests need: built once here, with no test's time
    # limit on it (a cold Debian build is ~20 min), cached across runs. A test names them
    # with `need_image NAME` lines, or a line "# image: NAME when VAR=1" for an image built
    # only when the environment says VAR=1 (the desktop image: COVE_TEST_DESKTOP_BUILD).
    export COVE_IMAGES=${COVE_IMAGES:-${COVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove}/images}
    images_of() {
        local name var
        sed -n 's/^need_image \([a-z0-9-]*\)$/\1/p' "$1"
        sed -n 's/^# image: \([a-z0-9-]*\) when \([A-Z_][A-Z0-9_]*\)=1$/\1 \2/p' "$1" |
            while read -r name var; do [ "${!var:-0}" != 1 ] || echo "$name"; done
    }
    for image in $(for t in tests/integration/*.sh; do
                       selected "${t#tests/}" && images_of "$t"
                   done | sort -u); do
        echo "== building image $image (cached after the first time)"
        start=$(date +%s)
        "$COVE" image build "$image" >/dev/null || echo "   (failed: the tests that need it say why)"
        echo "   ($(( $(date +%s) - start )) s)"
    done
    for t in tests/integration/*.sh; do
        [ "$(basename "$t")" = lib.sh ] && continue
        name=${t#tests/}
        selected "$name" || continue
        echo "== $name"
        start=$(date +%s)
        # a test may ask for a longer limit than 15 min: a line "# timeout: SECONDS"
        limit=$(sed -n 's/^# timeout: \([0-9]*\)$/\1/p' "$t" | head -n 1)
        timeout "${limit:-900}" bash "$t"
        rc=$?
        echo "   ($(( $(date +%s) - start )) s)"
        case $rc in
        0) passed=$((passed + 1)) ;;
        77) skipped=$((skipped + 1)); echo "   skipped" ;;
        *) note_fail "$name (exit $rc)" ;;
        esac
    done
fi

echo
[ "${#failed_names[@]}" -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
