#!/bin/bash
# cove push / pull / clone REF through real registries (Debian's docker-registry on loopback,
# started and stopped here): one with htpasswd basic auth over TLS (a CA this test makes,
# given to cove in COVE_REGISTRY_CA), one plain HTTP. A VM with a file on its disk goes up,
# is deleted, comes back by clone and boots with the file; pushing again sends nothing;
# wrong or missing credentials are one line; a push to a second repository of the registry
# mounts the blobs (no blob bytes sent), as does the push of a VM cloned from the registry to
# a third; COVE_REGISTRY_UPLOAD_CHUNK sends blobs in PATCH requests; skopeo copies the artifact to the second
# registry and cove pulls it from there; a byte flipped in the registry's blob store is
# refused, and the pull after the repair resumes from the blobs already verified.
. "$(dirname "$0")/lib.sh"
for tool in docker-registry skopeo htpasswd openssl curl; do
    command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "${TMP:?}"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null ||
    fail "openssl"
htpasswd -Bbc "$TMP/htpasswd" alice s3cret 2>/dev/null || fail "htpasswd"
SECURE=127.0.0.1:$(free_port)
start_registry secure "${SECURE#*:}" "  tls:
    certificate: $TMP/cert.pem
    key: $TMP/key.pem
auth:
  htpasswd:
    realm: cove-test
    path: $TMP/htpasswd"
PLAIN=127.0.0.1:$(free_port)
start_registry plain "${PLAIN#*:}"

# with a stored shared directory: its host path must not travel (nor its grant)
mkdir "$TMP/hostshare"
"$COVE" create vm --memory 256M --disk-size 512M --dir "$TMP/hostshare" >/dev/null ||
    fail "create"
timeout 120 "$COVE" run vm -- sh -c 'echo shipped-by-oci >/root/mark' </dev/null || fail "writing the file"

# --- auth and TLS ---------------------------------------------------------------------------
"$COVE" push vm "$SECURE/team/vm:1" 2>"$TMP/err" && fail "push with an untrusted certificate"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "not trusted.*COVE_REGISTRY_CA" "$TMP/err" ||
    fail "untrusted certificate: $(cat "$TMP/err")"
export COVE_REGISTRY_CA=$TMP/cert.pem
"$COVE" push vm "$SECURE/team/vm:1" 2>"$TMP/err" && fail "push without credentials"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "authentication required; run .cove login" "$TMP/err" ||
    fail "no credentials: $(cat "$TMP/err")"
echo wrong | "$COVE" login "$SECURE" -u alice --password-stdin 2>"$TMP/err" && fail "login with a wrong password"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "authentication failed for user 'alice'" "$TMP/err" ||
    fail "wrong password: $(cat "$TMP/err")"
[ -e "$COVE_HOME/auth.json" ] && fail "a failed login stored credentials"
echo s3cret | "$COVE" login "$SECURE" -u alice --password-stdin >/dev/null || fail "login"
[ "$(stat -c %a "$COVE_HOME/auth.json")" = 600 ] || fail "auth.json is not 0600"
echo "ok: untrusted certificate, no credentials, wrong password: one line each; login stores 0600"

# --- push, push again, delete, clone back, boot ---------------------------------------------
"$COVE" push vm "$SECURE/team/vm:1" >"$TMP/push1" || fail "push"
grep -qE "pushed VM 'vm' .*: [1-9][0-9]* blobs uploaded" "$TMP/push1" || fail "push: $(cat "$TMP/push1")"
n_put=$(grep -c '"PUT /v2/team/vm/blobs/uploads' "$TMP/secure.log")
"$COVE" push vm "$SECURE/team/vm:1" "$SECURE/team/vm:latest" >"$TMP/push2" || fail "push again"
grep -q ": 0 blobs uploaded" "$TMP/push2" || fail "pushing again uploaded: $(cat "$TMP/push2")"
# every chunk known from the first push (its blobs but the config): none compressed again
n_first=$(sed -n 's/.*: \([0-9]*\) blobs uploaded.*/\1/p' "$TMP/push1")
grep -q "($((n_first - 1)) chunks known, not compressed again)" "$TMP/push2" ||
    fail "pushing again compressed chunks again: $(cat "$TMP/push2")"
[ "$(grep -c '"PUT /v2/team/vm/blobs/uploads' "$TMP/secure.log")" = "$n_put" ] ||
    fail "the registry received blob uploads on the second push"
echo "ok: push; pushing again uploads nothing ($n_put blob uploads in the registry's log, then none) and compresses nothing"

# --- another repository of the same registry: mounted, no blob bytes sent ---------------------
"$COVE" push vm "$SECURE/team/vm:1" "$SECURE/other/vm:1" >"$TMP/push3" || fail "push to a second repository"
grep -qE ": 0 blobs uploaded \(0B\), [1-9][0-9]* mounted from another repository" "$TMP/push3" ||
    fail "the second repository's push: $(cat "$TMP/push3")"
n_mount=$(grep -c '"POST /v2/other/vm/blobs/uploads/?mount=sha256' "$TMP/secure.log")
[ "$n_mount" -ge 1 ] || fail "no mount request in the registry's log"
grep -qE '"(PUT|PATCH) /v2/other/vm/blobs/uploads' "$TMP/secure.log" &&
    fail "the registry received blob bytes for the second repository"
echo "ok: pushing to another repository of the registry mounts ($n_mount mounts), no blob bytes sent"

# --- chunked uploads (PATCH) --------------------------------------------------------------------
# forget what was pushed (pushed.json), else the blobs are mounted from team/vm, not sent
rm -f "$COVE_HOME/cache/oci/pushed.json"
COVE_REGISTRY_UPLOAD_CHUNK=64K "$COVE" push vm "$SECURE/chunked/vm:1" >"$TMP/push4" || fail "chunked push"
n_blobs=$(sed -n 's/.*: \([0-9]*\) blobs uploaded.*/\1/p' "$TMP/push4")
n_patch=$(grep -c '"PATCH /v2/chunked/vm/blobs/uploads' "$TMP/secure.log")
[ "$n_patch" -gt "${n_blobs:-0}" ] || fail "$n_patch PATCH requests for $n_blobs blobs: $(cat "$TMP/push4")"
mkdir -p "$TMP/home5" && cp "$COVE_HOME/auth.json" "$TMP/home5/"
COVE_HOME=$TMP/home5 "$COVE" pull "$SECURE/chunked/vm:1" >/dev/null || fail "pull of the chunked push"
COVE_REGISTRY_UPLOAD_CHUNK=lots "$COVE" push vm "$SECURE/chunked/vm:2" >/dev/null 2>"$TMP/err" &&
    fail "a bad COVE_REGISTRY_UPLOAD_CHUNK was taken"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "COVE_REGISTRY_UPLOAD_CHUNK" "$TMP/err" ||
    fail "bad COVE_REGISTRY_UPLOAD_CHUNK: $(cat "$TMP/err")"
echo "ok: COVE_REGISTRY_UPLOAD_CHUNK=64K: $n_blobs blobs in $n_patch PATCH requests, pulled back verified"

"$COVE" delete vm >/dev/null || fail "delete"
"$COVE" clone "$SECURE/team/vm:1" vm >"$TMP/clone" || fail "clone REF"
grep -q "(pulled)" "$TMP/clone" || fail "clone did not pull: $(cat "$TMP/clone")"
"$COVE" image list --format json | grep -q "\"ref\": \"$SECURE/team/vm:1\"" || fail "image list lacks the pull"
got=$(timeout 120 "$COVE" run vm -- cat /root/mark </dev/null) || fail "booting the clone"
[ "$got" = shipped-by-oci ] || fail "the file on the cloned disk: '$got'"
"$COVE" clone "$SECURE/team/vm:1" vm2 >"$TMP/clone2" || fail "second clone"
grep -q "(pulled)" "$TMP/clone2" && fail "the second clone pulled again"
grep -rqF "$TMP/hostshare" "$TMP/secure" && fail "the registry holds the VM's stored share path"
"$COVE" get vm | grep -q "^dir:" && fail "the clone has the pushed VM's stored share"
echo "ok: deleted, cloned back from the registry, booted: the file is there; a second clone uses the cache; no stored share travelled"
"$COVE" push vm "$SECURE/third/vm:1" >"$TMP/push5" || fail "push of the clone"
grep -qE "[1-9][0-9]* mounted from another repository" "$TMP/push5" ||
    fail "the clone's push mounted nothing from the repository it was pulled from: $(cat "$TMP/push5")"
echo "ok: a VM cloned from team/vm pushed to third/vm mounts its unchanged blobs: $(cat "$TMP/push5")"

# --- skopeo to the plain registry, pull from there --------------------------------------------
skopeo copy -q --src-creds alice:s3cret --src-tls-verify=false \
    --dest-tls-verify=false "docker://$SECURE/team/vm:1" "docker://$PLAIN/copy/vm:1" ||
    fail "skopeo copy"
digest=$(sed -n 's/.*; \(sha256:[0-9a-f]*\)$/\1/p' "$TMP/push3") # team/vm:1 as last pushed
COVE_HOME=$TMP/home2 "$COVE" pull "$PLAIN/copy/vm:1" >"$TMP/pull" || fail "pull after skopeo copy"
grep -q "$digest" "$TMP/pull" || fail "the copy's digest differs: $(cat "$TMP/pull")"
echo "ok: skopeo copy to a plain registry; cove pulls the same digest from there"

# --- a container image is refused by name ----------------------------------------------------
lay=$TMP/layout
mkdir -p "$lay/blobs/sha256"
put_blob() { local d; d=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1); printf '%s' "$1" >"$lay/blobs/sha256/$d"; echo "$d"; }
cfg='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
cd_=$(put_blob "$cfg")
man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$cd_'","size":'${#cfg}'},"layers":[]}'
md=$(put_blob "$man")
echo '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
echo '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'$md'","size":'${#man}',"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' >"$lay/index.json"
skopeo copy -q --dest-tls-verify=false "oci:$lay:1" "docker://$PLAIN/ctr:1" || fail "skopeo copy of a container image"
COVE_HOME=$TMP/home4 "$COVE" pull "$PLAIN/ctr:1" 2>"$TMP/err" && fail "a container image was pulled"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "is not a cove VM" "$TMP/err" || fail "container image: $(cat "$TMP/err")"
echo "ok: a container image is refused: $(cat "$TMP/err")"

# --- a corrupt blob in the registry is refused; the next pull resumes -------------------------
blob=$(find "$TMP/plain/docker/registry/v2/blobs" -name data -size +100k | head -n 1)
[ -n "$blob" ] || fail "no chunk blob in the registry's store"
cp "$blob" "$TMP/good"
printf '\xff' | dd of="$blob" bs=1 seek=200 conv=notrunc 2>/dev/null
cmp -s "$blob" "$TMP/good" && printf '\x00' | dd of="$blob" bs=1 seek=200 conv=notrunc 2>/dev/null
COVE_HOME=$TMP/home3 "$COVE" pull "$PLAIN/copy/vm:1" >/dev/null 2>"$TMP/err" && fail "a corrupt blob was accepted"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "does not match its digest" "$TMP/err" ||
    fail "corrupt blob: $(cat "$TMP/err")"
ls "$TMP/home3/cache/oci/images" | grep -q . && fail "an image was installed from a corrupt blob"
cp "$TMP/good" "$blob"
COVE_HOME=$TMP/home3 "$COVE" pull "$PLAIN/copy/vm:1" >"$TMP/pull3" || fail "pull after the repair"
grep -qE "[1-9][0-9]* already here" "$TMP/pull3" || fail "the pull did not resume: $(cat "$TMP/pull3")"
echo "ok: a flipped byte in the registry's blob is refused, nothing installed; the next pull resumes"

# --- prune: the cache empties, the VMs cloned from it keep working ---------------------------
"$COVE" prune >"$TMP/prune" || fail "prune"
grep -qE "pruned 0 images and [1-9][0-9]* blobs" "$TMP/prune" || fail "prune: $(cat "$TMP/prune")"
"$COVE" prune --older-than 0 >"$TMP/prune" || fail "prune --older-than 0"
grep -q "pruned 1 images" "$TMP/prune" || fail "prune --older-than 0: $(cat "$TMP/prune")"
"$COVE" image list --format json | grep -q '"pulled"' && fail "image list after prune: still a pulled image"
"$COVE" prune --older-than soon 2>"$TMP/err" && fail "prune --older-than soon"
got=$(timeout 120 "$COVE" run vm2 -- cat /root/mark </dev/null) || fail "booting a clone after prune"
[ "$got" = shipped-by-oci ] || fail "the clone's file after prune: '$got'"
echo "ok: prune removes blobs, then images; a VM cloned from a pruned image still boots with its file"

# --- logout ---------------------------------------------------------------------------------
"$COVE" logout "$SECURE" >/dev/null || fail "logout"
"$COVE" logout "$SECURE" 2>"$TMP/err" && fail "logout twice"
grep -q "not logged in" "$TMP/err" || fail "logout twice: $(cat "$TMP/err")"
echo "ok: logout"
