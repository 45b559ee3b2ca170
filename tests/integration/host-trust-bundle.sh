#!/bin/bash
# Hostile bundles (issue 19, items 4 and 5): whoever can write vms/NAME/ must not make cove
# touch a file outside the bundle. A disk.img or kernel that is a symbolic link, and
# config.json naming a disk or kernel by an absolute path or through "..", are refused by
# clone, set, run and get with one line; the outside file keeps its mode, size and
# content, and nothing is linked into bases/. `cove list` shows such a VM as broken.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home
cove() { "$COVE" "$@"; }

# bad PATTERN -- ARGS: the command fails (before any boot) with one line matching PATTERN.
bad() {
    local pattern=$1; shift 2
    timeout 30 "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$TMP/out" "$TMP/err" | tail -5; fail "cove $*: exit status $rc"; }
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "cove $*: not one line on stderr"; }
    grep -qE -- "$pattern" "$TMP/err" || { cat "$TMP/err"; fail "cove $*: no '$pattern'"; }
    echo "ok: cove $*: $(cat "$TMP/err")"
}

# The outside file: a raw image with known content, mode 0644, 64 MiB.
OUT=$TMP/outside
make_outside() {
    rm -f "$1"
    printf 'precious outside data\n' >"$1"
    truncate -s 64M "$1"
    chmod 0644 "$1"
    sha256sum <"$1" >"$1.sum"
}
# unchanged FILE: mode, size and content as make_outside left them.
unchanged() {
    [ "$(stat -c '%a %s %h' "$1")" = "644 67108864 1" ] ||
        fail "$1 changed: $(stat -c '%a %s %h' "$1")"
    sha256sum <"$1" | cmp -s - "$1.sum" || fail "$1: content changed"
}
no_bases() {
    [ -z "$(ls -A "$COVE_HOME/bases")" ] || { ls -lR "$COVE_HOME/bases"; fail "something in bases/"; }
}
# set_json NAME PYTHON: edits vms/NAME/config.json (d is the parsed object).
set_json() {
    python3 - "$COVE_HOME/vms/$1/config.json" "$2" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
exec(sys.argv[2])
json.dump(d, open(p, "w"))
EOF
}

cove create v --kernel "$KERNEL" --initrd "$INITRD" --disk-size 64M >/dev/null || fail "create"
make_outside "$OUT"
LINK_MSG="VM 'v': disk.img is a symbolic link; cove does not follow links in a bundle"

# --- 4. disk.img is a symbolic link to a file elsewhere ---------------------------------
ln -sf "$OUT" "$COVE_HOME/vms/v/disk.img"
bad "$LINK_MSG" -- clone v w
unchanged "$OUT"
no_bases
[ ! -e "$COVE_HOME/vms/w" ] || fail "clone left VM 'w'"
bad "$LINK_MSG" -- set v --disk-size 1G
unchanged "$OUT"
bad "$LINK_MSG" -- run v
unchanged "$OUT"
bad "$LINK_MSG" -- get v
cove list --format json >"$TMP/list.json" || fail "list"
python3 - "$TMP/list.json" <<'EOF' || { cat "$TMP/list.json"; fail "list: v not broken"; }
import json, sys
v = [x for x in json.load(open(sys.argv[1])) if x["name"] == "v"][0]
assert v["state"] == "broken" and "symbolic link" in v["error"], v
EOF
echo "ok: list shows v broken"
# a hard link in bases/ would share the outside inode: none was made
unchanged "$OUT"

# --- the kernel as a symbolic link ---------------------------------------------------------
cove delete v || fail "delete v"
unchanged "$OUT"
cove create v --kernel "$KERNEL" --initrd "$INITRD" --disk-size 64M >/dev/null || fail "create"
cp "$KERNEL" "$TMP/kernel.outside"
ln -sf "$TMP/kernel.outside" "$COVE_HOME/vms/v/kernel"
bad "VM 'v': kernel is a symbolic link; cove does not follow links in a bundle" -- run v
bad "VM 'v': kernel is a symbolic link" -- clone v w
[ ! -e "$COVE_HOME/vms/w" ] || fail "clone left VM 'w'"
cove delete v || fail "delete v"

# --- 5. config.json names a disk outside the bundle ----------------------------------------
cove create v --kernel "$KERNEL" --initrd "$INITRD" --disk-size 64M >/dev/null || fail "create"
set_json v "d['disks'][0]['file'] = '$OUT'"
DISK_MSG="VM 'v': config.json: key 'disks\[0\].file': must be a file name in the bundle"
bad "$DISK_MSG.*cove run NAME --disk PATH" -- set v --disk-size 1G
unchanged "$OUT"
bad "$DISK_MSG" -- run v
unchanged "$OUT"
bad "$DISK_MSG" -- clone v w
unchanged "$OUT"
no_bases
bad "$DISK_MSG" -- get v

# the same file through "..": vms/v/../../outside is $COVE_HOME/outside
make_outside "$COVE_HOME/outside"
set_json v "d['disks'][0]['file'] = '../../outside'"
bad "$DISK_MSG" -- set v --disk-size 1G
unchanged "$COVE_HOME/outside"
bad "$DISK_MSG" -- run v
unchanged "$COVE_HOME/outside"
bad "$DISK_MSG" -- clone v w
unchanged "$COVE_HOME/outside"
no_bases

# boot files by absolute path or through a directory
set_json v "d['disks'][0]['file'] = 'disk.img'; d['boot']['kernel'] = '$KERNEL'"
bad "VM 'v': config.json: key 'boot.kernel': must be a file name in the bundle" -- run v
set_json v "d['boot']['kernel'] = 'kernel'; d['boot']['initrd'] = 'run/../initrd'"
bad "VM 'v': config.json: key 'boot.initrd': must be a file name in the bundle" -- run v

# --- a disk.img that is an overlay over a file outside the store's bases/ ----------------
set_json v "d['boot']['initrd'] = 'initrd'"
rm "$COVE_HOME/vms/v/disk.img"
"$COVE" disk create "$COVE_HOME/vms/v/disk.img" --backing "$OUT" >/dev/null || fail "disk create"
CHAIN_MSG="VM 'v': disk.img reads through $OUT, outside the store's bases/"
bad "$CHAIN_MSG" -- run v
bad "$CHAIN_MSG" -- clone v w
no_bases
bad "$CHAIN_MSG" -- set v --disk-size 1G
unchanged "$OUT"
rm "$COVE_HOME/vms/v/disk.img"
"$COVE" disk create "$COVE_HOME/vms/v/disk.img" 64M --format raw >/dev/null || fail "disk create"

# --- config.json, run/ and run/console.log as links ----------------------------------------
mv "$COVE_HOME/vms/v/config.json" "$TMP/config.json"
ln -s "$TMP/config.json" "$COVE_HOME/vms/v/config.json"
bad "VM 'v': config.json is a symbolic link; cove does not follow links in a bundle" -- run v
rm "$COVE_HOME/vms/v/config.json"
mv "$TMP/config.json" "$COVE_HOME/vms/v/config.json"
mkdir -p "$TMP/rundir"
rm -rf "$COVE_HOME/vms/v/run"
ln -s "$TMP/rundir" "$COVE_HOME/vms/v/run"
bad "VM 'v': run/ or run/lock is a symbolic link" -- run v
bad "VM 'v': run/ or run/lock is a symbolic link" -- set v --cpus 2
[ -z "$(ls -A "$TMP/rundir")" ] || fail "a file was made through the run/ link"
rm "$COVE_HOME/vms/v/run"
mkdir "$COVE_HOME/vms/v/run"
# such a VM can still be deleted, and delete follows no link
cove clone v w >/dev/null || fail "clone v w"
rm -rf "$COVE_HOME/vms/w/run"
ln -s "$TMP/rundir" "$COVE_HOME/vms/w/run"
touch "$TMP/rundir/keep"
cove delete w >/dev/null || fail "delete of a VM whose run/ is a link"
[ -f "$TMP/rundir/keep" ] || fail "delete followed the run/ link"
echo "ok: delete of a VM whose run/ is a link"
ln -s "$OUT" "$COVE_HOME/vms/v/run/console.log"
timeout 30 "$COVE" run v --no-console --append quiet </dev/null >"$TMP/out" 2>&1 &&
    fail "run with run/console.log a link: exit status 0"
unchanged "$OUT"
echo "ok: run/console.log as a link: not followed"
rm "$COVE_HOME/vms/v/run/console.log"

# --- the explicit way still works: a disk from elsewhere, per run --------------------------
cove set v --disk-size 128M || fail "set on a sound bundle"
make_outside "$OUT"
timeout 120 "$COVE" run v --disk "$OUT" --append "quiet cove.exec=\"head -c 22 /dev/vdb\"" \
    </dev/null >"$TMP/run.out" 2>&1 || { tail -20 "$TMP/run.out"; fail "run --disk"; }
expect_in "$TMP/run.out" 'precious outside data'
echo "ok: run --disk PATH attaches a disk from elsewhere"
echo "host-trust-bundle: all passed"
