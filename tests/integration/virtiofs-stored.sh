#!/bin/bash
# Stored shared directories: `cove create/set --dir` write them into config.json with a
# grant (an HMAC under this COVE_HOME's key), every `cove run` attaches them, and the
# default guest mounts them at /mnt/cove/NAME. A share this cove did not grant -- edited in
# config.json, widened from read-only, or from a bundle of another COVE_HOME -- is refused
# before the VM starts; `cove set --dir` grants again, `--no-dirs` removes them, a run's own
# --dir of the same name replaces the stored one, and clone and rename keep them.
. "$(dirname "$0")/lib.sh"
need_guest
need_virtiofsd
export COVE_HOME=$TMP/home COVE_GUEST_DIR
trap 'rm -rf "$TMP"' EXIT
cfg=$COVE_HOME/vms/v/config.json

mkdir -p "$TMP/src" "$TMP/data" "$TMP/other" "$TMP/secret"
echo "from src" >"$TMP/src/hello"
echo "data file" >"$TMP/data/keep"
echo "other" >"$TMP/other/hello"
echo "host secret" >"$TMP/secret/hello"

# bad input first: nothing made
"$COVE" create v --memory 256M --disk-size 256M --dir "src:$TMP/missing" 2>"$TMP/err" &&
    fail "create with a missing directory succeeded"
expect_in "$TMP/err" "--dir $TMP/missing: No such file or directory"
[ ! -e "$COVE_HOME/vms/v" ] || fail "a refused create left a VM"
"$COVE" create v --dir "src:$TMP/src/hello" 2>"$TMP/err" && fail "a file as a share"
expect_in "$TMP/err" "not a directory"

(cd "$TMP" && "$COVE" create v --memory 256M --disk-size 256M --dir src:./src \
    --dir "$TMP/data:ro") >/dev/null || fail "create --dir"
"$COVE" get v >"$TMP/get" || fail "get"
expect_in "$TMP/get" "^dir: +src:$TMP/src\$"
expect_in "$TMP/get" "^dir: +data:$TMP/data:ro\$"
"$COVE" get v --format json | grep -q '"grant": "[0-9a-f]\{64\}"' || fail "no grant in get's JSON"
[ "$(stat -c %a "$COVE_HOME/share.key")" = 600 ] || fail "share.key is not mode 0600"
echo "ok: create --dir stores two granted shares"

# run: both mounted; the read-only one refuses writes (enforced on the host)
out=$("$COVE" run v -- sh -c 'cat /mnt/cove/src/hello /mnt/cove/data/keep;
    echo x >/mnt/cove/data/new 2>/dev/null && echo ro-write-succeeded;
    echo guest >/mnt/cove/src/fromguest' </dev/null 2>"$TMP/err") ||
    { cat "$TMP/err"; fail "run with stored shares"; }
[ "$out" = "from src
data file" ] || fail "the guest saw: $out"
[ "$(cat "$TMP/src/fromguest")" = guest ] || fail "the guest's write did not reach the host"
[ ! -e "$TMP/data/new" ] || fail "a write reached the read-only share"
# the daemons are stopped before their connections close (a jailed VMM asks the shares'
# keepers: it may not signal root's daemons), so none logs the hang-up
if grep -q "virtio_loop\|revents" "$TMP/err"; then cat "$TMP/err"; fail "a virtiofsd saw its connection drop"; fi
echo "ok: run attaches both; src written both ways, data read-only"

# refused: the path pointed elsewhere, read-only widened, a grant removed
cp "$cfg" "$TMP/cfg.good"
refused() { # WHAT: the run must fail before the guest starts, with the grant line
    "$COVE" run v -- echo started </dev/null >"$TMP/out" 2>"$TMP/err" && fail "$1: the VM ran"
    grep -q started "$TMP/out" && fail "$1: the guest ran"
    expect_in "$TMP/err" "was not granted by this cove"
    expect_in "$TMP/err" "cove set v --dir"
    [ "$(wc -l <"$TMP/err")" = 1 ] || { cat "$TMP/err"; fail "$1: more than one line"; }
    cp "$TMP/cfg.good" "$cfg"
    echo "ok: refused: $1"
}
sed -i "s|\"path\": \"$TMP/src\"|\"path\": \"$TMP/secret\"|" "$cfg"
refused "a path edited in config.json"
python3 - "$cfg" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
for s in c["shares"]:
    s["read_only"] = False
json.dump(c, open(sys.argv[1], "w"))
EOF
refused "a read-only share made writable"
python3 - "$cfg" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
del c["shares"][0]["grant"]
json.dump(c, open(sys.argv[1], "w"))
EOF
refused "a share without a grant"

# a bundle of another COVE_HOME (another key): its grants mean nothing here
COVE_HOME=$TMP/home2 "$COVE" create w --memory 256M --disk-size 256M --dir "$TMP/secret" \
    >/dev/null || fail "create in a second COVE_HOME"
cp -a "$TMP/home2/vms/w" "$COVE_HOME/vms/w"
"$COVE" run w -- cat /mnt/cove/secret/hello </dev/null >"$TMP/out" 2>"$TMP/err" &&
    fail "a bundle from another COVE_HOME ran with its share"
expect_in "$TMP/err" "VM 'w': the shared directory 'secret' .* was not granted by this cove"
! grep -q "host secret" "$TMP/out" || fail "the secret leaked"
echo "ok: a bundle copied from another COVE_HOME is refused"
# granting it here makes it run
"$COVE" set w --dir "$TMP/secret:ro" || fail "set --dir grants"
[ "$("$COVE" run w -- cat /mnt/cove/secret/hello </dev/null 2>/dev/null)" = "host secret" ] ||
    fail "a share granted by set did not mount"
echo "ok: set --dir grants it"

# a run's --dir of a stored name replaces it for that run; set replaces; --no-dirs removes
[ "$("$COVE" run v --dir "src:$TMP/other" -- cat /mnt/cove/src/hello </dev/null 2>/dev/null)" = other ] ||
    fail "a run's --dir did not replace the stored share of its name"
"$COVE" set v --dir "$TMP/missing" 2>"$TMP/err" && fail "set --dir of a missing directory"
cmp -s "$cfg" "$TMP/cfg.good" || fail "a refused set changed config.json"
"$COVE" clone v v2 >/dev/null || fail "clone"
"$COVE" rename v2 v3 || fail "rename"
[ "$("$COVE" run v3 -- cat /mnt/cove/src/hello </dev/null 2>/dev/null)" = "from src" ] ||
    fail "a clone (renamed) lost its shares"
echo "ok: a run's --dir replaces a stored one; clone and rename keep them"
"$COVE" set v --no-dirs || fail "set --no-dirs"
! grep -q shares "$cfg" || fail "--no-dirs left shares in config.json"
"$COVE" set v --dir a:/ --no-dirs 2>/dev/null && fail "--dir with --no-dirs accepted"
echo "ok: set --no-dirs removes them"
