#!/bin/bash
# kill -9 of create, clone, set and delete at random moments: afterwards `cove list` must
# show each VM either in its old state or its new one, never a half bundle, and the data
# of the source of a clone must be intact.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
ROUNDS=${ROUNDS:-12}

# list_check: the list parses, nothing is broken, no temporary survives a list (it sweeps
# those of dead processes); prints "name:cpus" lines.
list_check() {
    # a helper (mke2fs) of a killed create may take a moment to die: one more sweep then
    if ls -A "$COVE_HOME/vms" | grep -q '^\.tmp-'; then
        "$COVE" list >/dev/null 2>&1
        sleep 0.1
    fi
    "$COVE" list --format json >"$TMP/list.json" 2>"$TMP/list.err" || { cat "$TMP/list.err"; fail "list failed"; }
    python3 - "$TMP/list.json" <<'PY' || fail "inconsistent list after a kill: $(cat "$TMP/list.json")"
import json, sys
vms = json.load(open(sys.argv[1]))
for v in vms:
    if v["state"] == "broken":
        sys.exit("broken: %s: %s" % (v["name"], v.get("error")))
    print("%s:%s" % (v["name"], v["cpus"]))
PY
    if ls -A "$COVE_HOME/vms" | grep -q '^\.tmp-'; then
        fail "temporaries left in vms/: $(ls -A "$COVE_HOME/vms")"
    fi
}

# killed CMD...: runs the command and kills it with SIGKILL after 0-80 ms (or lets it end).
killed() {
    "$COVE" "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "0.0$((RANDOM % 9))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
}

"$COVE" create src --disk-size 1G >/dev/null || fail "create src"
"$COVE" run src --append 'quiet cove.exec="echo precious >/root/data"' </dev/null >"$TMP/boot" 2>&1 ||
    fail "first boot"
expect_in "$TMP/boot" 'cove-exec-status: 0'

for i in $(seq "$ROUNDS"); do
    killed create "new$i" --disk-size 1G
    list_check >"$TMP/names"
    killed clone src "cl$i"
    list_check >"$TMP/names"
    grep -q '^src:' "$TMP/names" || fail "round $i: the clone's source vanished"
    killed set src --cpus $((i % 4 + 1))
    list_check >"$TMP/names"
    cpus=$(sed -n 's/^src://p' "$TMP/names")
    [ "$cpus" -ge 1 ] && [ "$cpus" -le 4 ] || fail "round $i: src has $cpus cpus"
    killed delete "cl$i"
    list_check >/dev/null
done
echo "ok: $ROUNDS rounds of kill -9 left consistent bundles"

# The source and a surviving clone still boot and hold the data.
list_check >"$TMP/names"
"$COVE" run src --append 'quiet cove.exec="cat /root/data"' </dev/null >"$TMP/boot" 2>&1
expect_in "$TMP/boot" '^precious'
clone=$(grep -m1 '^cl' "$TMP/names" | cut -d: -f1)
if [ -n "$clone" ]; then
    "$COVE" run "$clone" --append 'quiet cove.exec="cat /root/data"' </dev/null >"$TMP/boot" 2>&1
    expect_in "$TMP/boot" '^precious'
    echo "ok: source and clone $clone boot with their data"
fi

# Deleting everything leaves no base behind.
for v in $(cut -d: -f1 "$TMP/names"); do "$COVE" delete "$v" >/dev/null || fail "delete $v"; done
list_check >/dev/null
[ -z "$(ls -A "$COVE_HOME/bases")" ] || fail "bases left: $(ls -A "$COVE_HOME/bases")"
echo "ok: no bases left"
