#!/bin/bash
# cove clone --lazy through a real registry (Debian's docker-registry on loopback, started
# and stopped here): a VM with a 4 MiB file on its 2 GiB disk is pushed; a lazy clone in
# another COVE_HOME fetches no disk chunk, boots and reads the file, having fetched only the
# chunks it touched (the registry's access log counts the blob GETs); a second run fetches
# nothing. A byte flipped in the registry's blob of a chunk not yet fetched makes the guest's
# read of that chunk an I/O error, never the wrong data, with the fetcher's line naming the
# digest; `cove image list` shows the image partial, then complete once a VM left running
# has got the rest of it in the background; the push of
# a lazy clone sends the same chunks; with the registry stopped a read of another such
# chunk not yet fetched is an I/O error too, the
# VM keeps running, and the line names the registry.
. "$(dirname "$0")/lib.sh"
for tool in docker-registry curl; do
    command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "${TMP:?}"' EXIT

REG=127.0.0.1:$(free_port)
start_registry plain "${REG#*:}"

"$COVE" create vm --memory 256M --disk-size 2G >/dev/null || fail "create"
timeout 180 "$COVE" run vm -- sh -c 'head -c 4194304 /dev/urandom >/root/big && sync && sha256sum /root/big' \
    </dev/null >"$TMP/sum" || fail "writing the file"
want=$(cut -d' ' -f1 "$TMP/sum")
"$COVE" push vm "$REG/lazy/vm:1" >/dev/null || fail "push"
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REG/v2/lazy/vm/manifests/1" >"$TMP/manifest.json" || fail "getting the manifest"
# the disk's chunks: digest and offset, one a line
python3 -c '
import json, sys
for l in json.load(open(sys.argv[1]))["layers"]:
    if l["mediaType"].endswith("disk.chunk.v1+zstd"):
        print(l["digest"], l["annotations"]["vnd.cove.offset"])' "$TMP/manifest.json" >"$TMP/chunks"
n_chunks=$(wc -l <"$TMP/chunks")
[ "$n_chunks" -ge 4 ] || fail "only $n_chunks disk chunks in the manifest"
# `cove image list --format json`'s pulled image of lazy/vm:1: "partial" or "complete"
image_state() {
    "$COVE" image list --format json | python3 -c '
import json, sys
v = [i for i in json.load(sys.stdin) if i.get("source") == "pulled" and i["ref"].endswith("/lazy/vm:1")]
print(("partial" if v[0]["partial"] else "complete") if len(v) == 1 else "listed %d times" % len(v))'
}
# blob GETs in the registry's log from line $1 on, as sorted digests
gets() { tail -n +"$1" "$TMP/plain.log" | grep -o '"GET /v2/lazy/vm/blobs/sha256:[0-9a-f]*' | sed 's/.*blobs\///' | sort -u; }

# --- clone lazily into another COVE_HOME: nothing of the disk yet ---------------------------
# (no fetching in the background, so that the registry's log shows what the guest read)
export COVE_HOME=$TMP/home2 COVE_LAZY_BACKGROUND=0
n0=$(($(wc -l <"$TMP/plain.log") + 1))
"$COVE" clone --lazy "$REG/lazy/vm:1" vm >"$TMP/clone" || fail "clone --lazy"
grep -q "lazily" "$TMP/clone" || fail "clone --lazy: $(cat "$TMP/clone")"
digest_hex=$(sha256sum <"$TMP/manifest.json" | cut -d' ' -f1)
[ -d "$COVE_HOME/cache/oci/images/$digest_hex.partial" ] || fail "no partial image $digest_hex.partial"
gets "$n0" >"$TMP/got0"
grep -qFf <(cut -d' ' -f1 "$TMP/chunks") "$TMP/got0" && fail "clone --lazy fetched disk chunks"
st=$(image_state)
[ "$st" = partial ] || fail "image list: the lazy clone's image is '$st', not partial"
"$COVE" image list | grep -q "/lazy/vm:1 .* partial$" || fail "image list: $("$COVE" image list)"
echo "ok: clone --lazy fetched the manifest, config and boot files only ($(wc -l <"$TMP/got0") blobs); image list shows its image partial"

# --- boot it: the file is there, only the chunks read were fetched ---------------------------
n1=$(($(wc -l <"$TMP/plain.log") + 1))
got=$(timeout 300 "$COVE" run vm -- sha256sum /root/big </dev/null 2>"$TMP/run1.err") ||
    fail "booting the lazy clone: $(cat "$TMP/run1.err")"
[ "${got%% *}" = "$want" ] || fail "the file read back differs: '$got' (want $want)"
gets "$n1" >"$TMP/got1"
n_fetched=$(grep -cFf <(cut -d' ' -f1 "$TMP/chunks") "$TMP/got1")
[ "$n_fetched" -ge 1 ] && [ "$n_fetched" -lt "$n_chunks" ] ||
    fail "the boot fetched $n_fetched of the $n_chunks chunks"
echo "ok: the lazy clone booted and read its file; it fetched $n_fetched of $n_chunks chunks ($((n_fetched * 64)) MiB of a 2048 MiB disk)"

# a chunk the boot did not fetch, and another
grep -vFf "$TMP/got1" "$TMP/chunks" | sed -n 1p >"$TMP/bad"
grep -vFf "$TMP/got1" "$TMP/chunks" | sed -n 2p >"$TMP/gone"
read -r bad_digest bad_off <"$TMP/bad"
read -r gone_digest gone_off <"$TMP/gone"
[ -n "$bad_digest" ] && [ -n "$gone_digest" ] || fail "fewer than two chunks left unfetched"

# --- run again: nothing fetched but the chunk made corrupt, which reads as an I/O error ------
blob=$TMP/plain/docker/registry/v2/blobs/sha256/${bad_digest:7:2}/${bad_digest#sha256:}/data
[ -f "$blob" ] || fail "no blob $blob in the registry's store"
cp "$blob" "$TMP/good"
printf '\xff' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
cmp -s "$blob" "$TMP/good" && printf '\x00' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
n2=$(($(wc -l <"$TMP/plain.log") + 1))
# the middle of the chunk, in 4 KiB blocks
skip=$(((bad_off + 32 * 1048576) / 4096))
got=$(timeout 300 "$COVE" run vm -- sh -c "sha256sum /root/big
dd if=/dev/vda of=/dev/null bs=4096 skip=$skip count=16 2>/dev/null && echo READ-OK || echo READ-FAILED" \
    </dev/null 2>"$TMP/run2.err") || fail "the second run: $(cat "$TMP/run2.err")"
[ "$(echo "$got" | head -n 1 | cut -d' ' -f1)" = "$want" ] || fail "the second run read: $got"
echo "$got" | grep -q READ-FAILED || fail "a corrupt chunk was read: $got"
grep -q "does not match its digest" "$TMP/run2.err" || fail "no line about the digest: $(cat "$TMP/run2.err")"
gets "$n2" >"$TMP/got2"
[ "$(grep -cv "$bad_digest" "$TMP/got2")" = 0 ] || fail "the second run fetched again: $(cat "$TMP/got2")"
echo "ok: a second run fetched nothing; the corrupt chunk was an I/O error: $(grep -m1 'does not match' "$TMP/run2.err")"
cp "$TMP/good" "$blob"

# --- in the background: a VM left running gets the rest of its image ---------------------------
COVE_HOME=$TMP/home3 "$COVE" clone --lazy "$REG/lazy/vm:1" vm >/dev/null || fail "clone --lazy (home3)"
COVE_HOME=$TMP/home3 COVE_LAZY_BACKGROUND=1 timeout 300 "$COVE" run vm -- sleep 200 \
    </dev/null >/dev/null 2>"$TMP/run4.err" &
run4=$!
for _ in $(seq 120); do
    [ -d "$TMP/home3/cache/oci/images/$digest_hex" ] && break
    sleep 1
done
COVE_HOME=$TMP/home3 "$COVE" stop vm >/dev/null 2>&1
wait "$run4" || true
[ -d "$TMP/home3/cache/oci/images/$digest_hex" ] ||
    fail "the image did not complete in the background: $(ls "$TMP/home3/cache/oci/images") $(cat "$TMP/run4.err")"
st=$(COVE_HOME=$TMP/home3 image_state)
[ "$st" = complete ] || fail "image list: the completed image is '$st'"
echo "ok: a lazy clone left running fetched the rest of its image in the background; the image is complete (image list too)"

# --- a lazy clone pushed (its image complete): the same chunks ---------------------------------
COVE_HOME=$TMP/home4 "$COVE" clone --lazy "$REG/lazy/vm:1" vm >/dev/null || fail "clone --lazy (home4)"
COVE_HOME=$TMP/home4 COVE_LAZY_BACKGROUND=0 "$COVE" push vm "$REG/lazy/vm:2" >"$TMP/push2" 2>&1 || fail "push of a lazy clone: $(cat "$TMP/push2")"
# the same disk: every chunk already in the repository, only the config (a new MAC) is new
grep -q ": 1 blobs uploaded" "$TMP/push2" || fail "the lazy clone's push: $(cat "$TMP/push2")"
ls "$TMP/home4/cache/oci/images" | grep -qx "${digest_hex:?}" ||
    fail "the image is not complete after every chunk was read: $(ls "$TMP/home4/cache/oci/images")"
echo "ok: a lazy clone pushed reads every chunk through its fetcher: the same chunks ($(cat "$TMP/push2")); its image is complete"

# --- the registry gone: an I/O error, the VM runs on -------------------------------------------
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()
skip=$(((gone_off + 32 * 1048576) / 4096))
got=$(timeout 300 "$COVE" run vm -- sh -c "dd if=/dev/vda of=/dev/null bs=4096 skip=$skip count=16 2>/dev/null && echo READ-OK || echo READ-FAILED
echo still-running" </dev/null 2>"$TMP/run3.err") || fail "the run without the registry: $(cat "$TMP/run3.err")"
echo "$got" | grep -q READ-FAILED || fail "a chunk was read without the registry: $got"
echo "$got" | grep -q still-running || fail "the VM did not go on: $got"
grep -q "cannot reach the registry" "$TMP/run3.err" || fail "no line naming the registry: $(cat "$TMP/run3.err")"
echo "ok: registry stopped: an I/O error in the guest, the VM went on: $(grep -m1 'cannot reach' "$TMP/run3.err")"
