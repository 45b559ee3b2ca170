#!/bin/bash
# Distribution images, what goes wrong (docs/IMAGES.md): an unknown template or suite, a
# disk smaller than the image, no SSH key, a user-data file that is not cloud-config, a bad
# user, Ctrl-C during a build: one line on stderr, a non-zero exit, nothing half-made left in
# the image store or in vms/. And the good path of create --from without a build: the seed
# and guest.user, and `cove image list/rm`.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_IMAGES=$TMP/images
export HOME=$TMP/user
mkdir -p "$HOME/.ssh"

# one_line RC CMD...: CMD exits RC with exactly one line on stderr (in $TMP/err)
one_line() {
    local want=$1 rc
    shift
    "$COVE" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq "$want" ] || fail "cove $*: exit $rc, not $want: $(cat "$TMP/err")"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "cove $*: not one line: $(cat "$TMP/err")"
    echo "  cove $*: $(cat "$TMP/err")"
}
nothing_left() {
    [ -z "$(ls -A "$COVE_HOME/vms" 2>/dev/null)" ] || fail "left in vms/: $(ls -A "$COVE_HOME/vms")"
    # the store holds nothing but locks, failure logs and the images put there on purpose
    [ -z "$(ls -A "$COVE_IMAGES" 2>/dev/null | grep -v "^\.lock-\|^\.failed-\|^${KEEP:-/}\$")" ] ||
        fail "left in the image store: $(ls -A "$COVE_IMAGES")"
}

one_line 1 image build nosuch
expect_in "$TMP/err" "no template 'nosuch' \(templates: .*debian"
one_line 1 image build 'Bad/..'
one_line 1 create x --from nosuch
one_line 2 create x --ssh-key "$HOME/.ssh/none.pub"
one_line 1 image rm debian
nothing_left
echo "ok: unknown template, bad names, options without --from"

# An image in the store as the builder leaves one (the default guest's kernel stands in for
# Debian's: these checks are cove's, before anything boots).
IMG=$COVE_IMAGES/debian-sid
KEEP=debian-sid
mkdir -p "$IMG"
cp "$KERNEL" "$IMG/kernel"
cp "$INITRD" "$IMG/initrd"
truncate -s 1G "$IMG/disk.img"
chmod 0400 "$IMG/disk.img"
cat >"$IMG/image.json" <<JSON
{"name": "debian", "suite": "sid", "template_suite": true, "key": "0", "built": "2026-12-05T00:00:00Z",
 "kernel": "test", "archive": "test", "boot": "direct", "cmdline": "root=UUID=0 console=ttyS0",
 "disk_size": 1073741824}
JSON

one_line 1 create x --from debian
expect_in "$TMP/err" "no SSH public key in ~/.ssh; make one with ssh-keygen or pass --ssh-key FILE"
nothing_left
ssh-keygen -q -t ed25519 -N '' -C "test key" -f "$HOME/.ssh/id_ed25519" || fail ssh-keygen
one_line 1 create x --from debian --disk-size 512M
expect_in "$TMP/err" "smaller than the image"
printf 'users: []\n' >"$TMP/ud"
one_line 1 create x --from debian --user-data "$TMP/ud"
expect_in "$TMP/err" "is not cloud-config: its first line must be #cloud-config"
one_line 1 create x --from debian --user root
one_line 1 create x --from debian --user 'Bad User'
one_line 1 create x --from debian --ssh-key "$TMP/nosuch.pub"
nothing_left
echo "ok: no key, a small disk, user-data that is not cloud-config, bad users, a missing key file"

# the good path: the seed cloud-init reads, the user for cove ssh, the overlay
printf '#cloud-config\npackages: [hello]\n' >"$TMP/ud"
"$COVE" create x --from debian --user-data "$TMP/ud" --user dev --disk-size 2G ||
    fail "create --from debian"
B=$COVE_HOME/vms/x
"$COVE" get x --format json >"$TMP/get"
expect_in "$TMP/get" '"user": "dev"'
expect_in "$TMP/get" '"file": "seed.img"'
mlabel -i "$B/seed.img" -s :: | grep -qi cidata || fail "seed.img is not labelled CIDATA"
mtype -i "$B/seed.img" ::meta-data >"$TMP/meta" || fail "no meta-data"
expect_in "$TMP/meta" 'local-hostname: "x"'
mtype -i "$B/seed.img" ::user-data >"$TMP/user-data" || fail "no user-data"
expect_in "$TMP/user-data" 'name: "dev"'
grep -qF "$(cut -d' ' -f2 "$HOME/.ssh/id_ed25519.pub")" "$TMP/user-data" || fail "the key is not in user-data"
# the user's part of the MIME message is their file, byte for byte
python3 - "$TMP/user-data" "$TMP/ud" <<'PY' || fail "the user's cloud-config is not in the seed as given"
import email, sys
msg = email.message_from_bytes(open(sys.argv[1], "rb").read())
parts = [p.get_payload(decode=True) for p in msg.walk() if not p.is_multipart()]
sys.exit(0 if open(sys.argv[2], "rb").read() in parts else 1)
PY
"$COVE" disk info "$B/disk.img" --format json >"$TMP/info"
expect_in "$TMP/info" '"virtual_size": 2147483648'
expect_in "$TMP/info" 'bases/image-'
"$COVE" image list --format json >"$TMP/list"
expect_in "$TMP/list" '"name": "debian"'
# the image goes; the VM keeps its disk (its base is its own link in bases/)
"$COVE" image rm debian:sid || fail "image rm"
[ ! -e "$IMG" ] || fail "image rm left $IMG"
KEEP=
"$COVE" disk check "$B/disk.img" >/dev/null || fail "the VM's disk lost its base with the image"
"$COVE" delete x || fail delete
echo "ok: create --from: seed, user, overlay over the image; image rm keeps VMs whole"

# Building: needs root, binfmt and the archive (an unknown suite fails in mmdebstrap's apt)
if [ "$(id -u)" != 0 ]; then
    echo "skip: builds need root"
    exit 0
fi
one_line 1 image build debian --suite nosuchsuite
expect_in "$TMP/err" "mmdebstrap failed"
nothing_left
[ -f "$COVE_IMAGES/.failed-debian-nosuchsuite.log" ] || fail "no log of the failed build"
echo "ok: an unknown suite: one line, the log kept, nothing else"

# Ctrl-C during a real build: SIGINT to cove alone (a terminal sends it to cove's group; the
# builder has a group of its own, which cove passes it to)
"$COVE" image build debian >"$TMP/out" 2>"$TMP/err" &
pid=$!
# once mmdebstrap has mounted proc, sys and dev/pts in the new root (after its downloads):
# the cleanup must unmount them before it removes anything
for _ in $(seq 900); do
    grep -q " $COVE_IMAGES/.tmp-[^ ]*/root/" /proc/mounts && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
done
grep -q " $COVE_IMAGES/.tmp-[^ ]*/root/" /proc/mounts || fail "the build never mounted anything"
sleep 1
kill -INT $pid
# a user who sees nothing happen presses Ctrl-C again: the builder's children are killed
# outright and the builder still cleans up
again=""
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.2; done
if kill -0 $pid 2>/dev/null; then kill -INT $pid; again=" (after a second Ctrl-C)"; fi
wait $pid
rc=$?
[ $rc -ne 0 ] || fail "an interrupted build exited 0"
expect_in "$TMP/err" "interrupted"
nothing_left
mount | grep -q "$COVE_IMAGES" && fail "mounts left under the image store"
echo "ok: Ctrl-C during a build: exit $rc, nothing left$again"
