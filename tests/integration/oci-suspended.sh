#!/bin/bash
# A suspended VM travels through a registry (Debian's docker-registry on loopback, plain
# HTTP, started and stopped here): a guest process counting in memory, cove suspend, cove
# push (the manifest holds the saved machine state and the memory in chunks, each with its
# own media type, all-zero memory chunks left out), the VM deleted, cove clone REF from the
# registry into a fresh COVE_HOME: the clone is suspended, cove run resumes it and the count
# goes on from where it was; cove exec works. The same with cove clone --lazy into another.
. "$(dirname "$0")/lib.sh"
for tool in docker-registry curl python3; do
    command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
pids=()
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "${TMP:?}"' EXIT
cove() { timeout 120 "$COVE" "$@"; }
REG=127.0.0.1:$(free_port)
start_registry reg "${REG#*:}"

cove create sus --memory 512M --disk-size 512M >/dev/null || fail "create"
start_vm sus
# (each count is written to a new file and renamed over /run/count: a reader never sees
# the file emptied by '>' before the number is in it)
counter='i=0; while :; do i=$((i+1)); echo $i >/run/count.new; mv /run/count.new /run/count; sleep 0.2; done'
cove exec sus -- sh -c "setsid sh -c '$counter' </dev/null >/dev/null 2>&1 &" ||
    fail "cannot start the counter"
sleep 2
c1=$(cove exec sus -- cat /run/count)
[ "${c1:-0}" -gt 3 ] || fail "the counter does not count: '$c1'"
cove suspend sus >"$TMP/suspend.out" 2>&1 || { cat "$TMP/suspend.out"; fail "suspend"; }
wait $runner || { cat "$TMP/run-sus.out"; fail "the suspended run exited $?"; }
runner=""
mem=$COVE_HOME/vms/sus/state/memory
# 64 MiB chunks of the memory file that hold any data (the others must not travel)
data_chunks=$(python3 - "$mem" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; C = 64 << 20; n = 0
for off in range(0, size, C):
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    n += d < off + C
print(n)
EOF
)

mem_used=$(( $(stat -c %b "$mem") * 512 ))
cove push sus "$REG/team/sus:1" >"$TMP/push" || fail "push of a suspended VM"
curl -s -H "Accept: application/vnd.oci.image.manifest.v1+json" \
    "http://$REG/v2/team/sus/manifests/1" >"$TMP/manifest" || fail "no manifest"
read -r n_state n_mem mem_len < <(python3 - "$TMP/manifest" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
st = [l for l in m["layers"] if l["mediaType"] == "application/vnd.cove.state.machine.v1+zstd"]
me = [l for l in m["layers"] if l["mediaType"] == "application/vnd.cove.state.memory.chunk.v1+zstd"]
assert all(l["annotations"]["vnd.cove.file"] == "state/machine" for l in st)
assert all(l["annotations"]["vnd.cove.file"] == "state/memory" for l in me)
print(len(st), len(me), sum(int(l["annotations"]["vnd.cove.length"]) for l in me))
EOF
) || fail "the manifest: $(cat "$TMP/manifest")"
[ "$n_state" = 1 ] || fail "$n_state machine state layers"
[ "$n_mem" -ge 1 ] && [ "$n_mem" -le "$data_chunks" ] ||
    fail "$n_mem memory layers for $data_chunks chunks of the memory file with data"
echo "ok: pushed suspended at count $c1: 1 machine state layer, $n_mem memory chunks ($((mem_len >> 20)) MiB) of $(( $(stat -c %s "$mem") >> 26 )) ($data_chunks with data)"

cove delete sus >/dev/null || fail "delete"
export COVE_HOME=$TMP/home2
cove clone "$REG/team/sus:1" sus >"$TMP/clone" || fail "clone from the registry: $(cat "$TMP/clone")"
cove list | grep -qE '^sus +suspended' || { cove list; fail "the clone is not suspended"; }
used=$(cove image list --format json | python3 -c 'import json,sys; print([i for i in json.load(sys.stdin) if i.get("source") == "pulled"][0]["disk_used"])')
[ "$used" -ge "$mem_used" ] || fail "image list: the pulled image's disk_used ($used) leaves out its saved memory ($mem_used)"
[ -f "$COVE_HOME/vms/sus/state/fork" ] || fail "the clone has no state/fork"
start_vm sus
c2=$(cove exec sus -- cat /run/count) || fail "exec after the resume"
[ "${c2:-0}" -ge "$c1" ] || fail "the count went back: $c1 before, '$c2' after"
sleep 1.5
c3=$(cove exec sus -- cat /run/count) || { cat "$TMP/run-sus.out"; tail -n 20 "$COVE_HOME/vms/sus/run/console.log"; fail "exec after the resume (2)"; }
[ "${c3:-0}" -gt "$c2" ] || fail "the counter stopped after the resume: $c2, then '$c3'"
[ -e "$COVE_HOME/vms/sus/state" ] && fail "the state was not discarded after the resume"
echo "ok: cloned from the registry into another COVE_HOME, resumed: count $c1 -> $c2 -> $c3; exec works"
cove stop sus >/dev/null 2>&1
wait $runner 2>/dev/null
runner=""

# --- the same image cloned lazily: the saved state comes whole, the disk as it is read -----
export COVE_HOME=$TMP/home3
cove clone --lazy "$REG/team/sus:1" sus >/dev/null || fail "clone --lazy of a suspended VM"
cove list | grep -qE '^sus +suspended' || { cove list; fail "the lazy clone is not suspended"; }
start_vm sus
c4=$(cove exec sus -- cat /run/count) || fail "exec after the lazy clone's resume"
[ "${c4:-0}" -ge "$c1" ] || fail "the lazy clone's count went back: $c1 before, '$c4' after"
echo "ok: a lazy clone of the suspended VM resumed: count $c1 -> $c4"
cove stop sus >/dev/null 2>&1
wait $runner 2>/dev/null
runner=""
