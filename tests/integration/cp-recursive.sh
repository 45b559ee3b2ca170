#!/bin/bash
# cove cp -r both ways through the guest agent on a VM of the default guest: a tree with
# nested directories, an empty directory and an empty file, modes (0755 and 0700
# directories, a 0600 file, an executable) and symbolic links inside the tree, copied in
# and back out, compared entry by entry (type, mode, md5, link target). A host link that
# points out of the tree goes as a link (not followed); getting it back is refused, as
# any link out of the tree from a guest. An existing destination is refused and left as
# it was; nothing half-copied (*.cove*) is left on either side.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { "$COVE" "$@"; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
umask 022

# The entries under a directory, one line each, the same on both sides.
manifest='cd "$1" && find . | LC_ALL=C sort | while read -r p; do
    if [ -L "$p" ]; then echo "$p l $(readlink "$p")";
    elif [ -d "$p" ]; then echo "$p d $(stat -c %a "$p")";
    else echo "$p f $(stat -c %a "$p") $(md5sum <"$p" | cut -d" " -f1)"; fi; done'

cove create cr --memory 256M >/dev/null || fail "create"
"$COVE" run cr --no-console </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
up=""
for _ in $(seq 300); do
    if cove exec cr -- true 2>/dev/null; then up=1; break; fi
    sleep 0.5
done
[ -n "$up" ] || { cat "$TMP/run.out"; fail "the agent never answered"; }

T=$TMP/tree
mkdir -p "$T/a/b/c" "$T/empty" "$T/private"
head -c 300000 /dev/urandom >"$T/a/b/c/big.bin"
echo secret >"$T/private/key" && chmod 600 "$T/private/key"
printf '#!/bin/sh\necho hi\n' >"$T/a/run.sh" && chmod 755 "$T/a/run.sh"
: >"$T/a/b/empty-file"
ln -s b/c/big.bin "$T/a/link"
ln -s ../a/run.sh "$T/private/up"
chmod 700 "$T/private"
chmod 755 "$T" "$T/a"
want=$(bash -c "$manifest" _ "$T")

# --- in --------------------------------------------------------------------------------------
cove exec cr -- mkdir -p /root/in || fail "mkdir in the guest"
cove cp -r "$T" cr:/root/in/ || fail "cp -r in"
got=$(cove exec cr -- sh -c "$manifest" _ /root/in/tree)
[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got"); fail "cp -r in: the trees differ"; }
[ "$(cove exec cr -- /root/in/tree/a/run.sh)" = hi ] || fail "cp -r in: the executable"
echo "ok: cp -r in: $(echo "$want" | wc -l) entries, modes, links and contents the same"

# --- out -------------------------------------------------------------------------------------
mkdir "$TMP/back"
cove cp -r cr:/root/in/tree "$TMP/back/" || fail "cp -r out"
got=$(bash -c "$manifest" _ "$TMP/back/tree")
[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got"); fail "cp -r out: the trees differ"; }
echo "ok: cp -r out: the same tree back"

# --- an existing destination: one line, exit 1, untouched ---------------------------------------
before=$(bash -c "$manifest" _ "$TMP/back")
"$COVE" cp -r cr:/root/in/tree "$TMP/back/" 2>"$TMP/err" && fail "cp -r over an existing tree"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "already exists" "$TMP/err" ||
    fail "cp -r out over an existing tree: $(cat "$TMP/err")"
[ "$(bash -c "$manifest" _ "$TMP/back")" = "$before" ] || fail "cp -r out changed an existing tree"
"$COVE" cp -r "$T" cr:/root/in/ 2>"$TMP/err" && fail "cp -r in over an existing tree"
grep -q "already exists" "$TMP/err" || fail "cp -r in over an existing tree: $(cat "$TMP/err")"
"$COVE" cp "$T" cr:/root/ 2>"$TMP/err" && fail "cp of a directory without -r"
grep -q "cove cp -r" "$TMP/err" || fail "cp of a directory without -r: $(cat "$TMP/err")"
echo "ok: an existing destination is refused and left as it was; a directory needs -r"

# --- a host link out of the tree goes as a link; back from the guest it is refused --------------
mkdir "$TMP/out"
ln -s /etc/hostname "$TMP/out/ext"
cove cp -r "$TMP/out" cr:/root/ || fail "cp -r in of a link out"
[ "$(cove exec cr -- readlink /root/out/ext)" = /etc/hostname ] || fail "the link was followed"
"$COVE" cp -r cr:/root/out "$TMP/back/" 2>"$TMP/err"
rc=$?
[ $rc -eq 123 ] && grep -q "pointing out of the tree" "$TMP/err" ||
    fail "a link out of the tree from the guest: exit $rc, $(cat "$TMP/err")"
[ ! -e "$TMP/back/out" ] || fail "a refused tree was left behind"
echo "ok: a link out goes in as a link, and is refused coming out ($(cat "$TMP/err"))"

left=$(cove exec cr -- sh -c 'ls -a /root /root/in' | grep -c '\.cove')
[ "$left" -eq 0 ] && [ -z "$(ls -a "$TMP/back" | grep '\.cove')" ] || fail "temporary directories left"
"$COVE" stop cr >/dev/null 2>&1
wait $runner
runner=""
echo "cp-recursive: all passed"
