#!/bin/bash
# Shared directories: cove run NAME --dir NAME:PATH[:ro] (virtio-fs served by virtiofsd),
# mounted by the default guest at /mnt/cove/NAME. Two shares, one read-only: data both
# ways (a 1 GiB file's checksum from the host, 64 MiB from the guest, 10,000 small files each
# way), rename/unlink/mkdir/chmod seen on the other
# side, a symlink pointing outside the share not followed to the host file, device nodes and
# set-user/group-ID files refused (docs/SECURITY.md, "Shares"), writes to the
# read-only share refused in the guest with the host files unchanged, and virtiofsd
# killed in the middle of a copy: the guest gets I/O errors, cove says so once and stops
# cleanly.
. "$(dirname "$0")/lib.sh"
need_guest
need_virtiofsd
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create ci --memory 256M --disk-size 512M >/dev/null || fail "create"
src=$TMP/src ro=$TMP/ro outside=$TMP/outside
mkdir -p "$src/hostmany" "$ro/sub" "$outside"
echo "host secret" >"$outside/secret"
echo host >"$src/fromhost"
echo gone >"$src/todelete"
echo keep >"$ro/keep"
ln -s "$outside/secret" "$src/escape_abs"
ln -s ../outside/secret "$src/escape_rel"
head -c 1G /dev/urandom >"$src/big"
(cd "$src/hostmany" && seq -f h%g 10000 | xargs touch)
# names, modes, sizes and mtimes under the share (not '..', whose mtime moves with $TMP)
ro_state() { (cd "$ro" && find . -printf '%p %M %s %T@\n' | sort | sha256sum); }
ro_before=$(ro_state)

# --- the guest's side ------------------------------------------------------------------------
cat >"$src/guest.sh" <<'EOF'
cd /mnt/cove/src || exit 90
echo "fromhost=$(cat fromhost)"
echo "big=$(md5sum big | cut -d' ' -f1)"
echo "hostmany=$(ls hostmany | wc -l)"
# virtiofsd holds a file descriptor per inode the guest has cached (FUSE_FORGET releases
# it), and its RLIMIT_NOFILE may be 20000 on a CI host: let the guest forget these first
sync && echo 2 >/proc/sys/vm/drop_caches || echo "no-drop-caches"
echo guest >fromguest
dd if=/dev/urandom of=gbig bs=1M count=64 2>/dev/null
echo "gbig=$(sha256sum gbig | cut -d' ' -f1)"
mkdir many && i=0 && while [ $i -lt 10000 ]; do : >many/g$i; i=$((i + 1)); done
echo "many=$(ls many | wc -l)"
mv fromhost renamed && rm todelete && mkdir newdir && chmod 600 fromguest
# symlinks resolve in the guest: the host's $outside/secret is not reachable through them
cat escape_abs escape_rel 2>/dev/null | grep -q "host secret" && echo "escaped!"
# device nodes and set-user/group-ID files: the daemon's filter refuses them (EPERM)
cp /bin/busybox setid && chmod 755 setid
for op in "mknod blk b 8 0" "mknod chr c 1 3" "chmod 4755 setid" "chmod 2755 setid" \
          "chmod u+s setid" "mknod fifo p"; do
    sh -c "$op" 2>/dev/null && echo "allowed: $op"
done
# the read-only share: every write fails with EROFS (or EACCES)
cd /mnt/cove/ro || exit 91
echo "keep=$(cat keep)"
for op in "echo x >new" "echo x >>keep" "rm keep" "mkdir d" "chmod 777 keep" "mv keep k2" \
          "touch keep" "ln -s keep l" "rmdir sub"; do
    if sh -c "$op" 2>/tmp/err; then echo "ro-write-succeeded: $op"
    else grep -qE "Read-only|Permission denied" /tmp/err || echo "ro-odd-error: $op: $(cat /tmp/err)"; fi
done
echo guest-done
EOF

timeout 600 "$COVE" run ci --dir "src:$src" --dir "$ro:ro" -- sh /mnt/cove/src/guest.sh \
    >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/out" "$TMP/err"; fail "guest script: exit $rc"; }
expect_in "$TMP/out" "^guest-done"
expect_in "$TMP/out" "^fromhost=host$"
expect_in "$TMP/out" "^big=$(md5sum "$src/big" | cut -d' ' -f1)$"
expect_in "$TMP/out" "^hostmany=10000$"
expect_in "$TMP/out" "^many=10000$"
expect_in "$TMP/out" "^keep=keep$"
echo "ok: host data seen in the guest (a 1 GiB checksum, 10,000 files)"

[ "$(cat "$src/fromguest")" = guest ] || fail "the guest's file is not on the host"
grep -q "^gbig=$(sha256sum "$src/gbig" | cut -d' ' -f1)$" "$TMP/out" ||
    fail "the guest's 64 MiB file differs on the host"
[ "$(ls "$src/many" | wc -l)" = 10000 ] || fail "the guest's 10,000 files: $(ls "$src/many" | wc -l)"
[ -f "$src/renamed" ] && [ ! -e "$src/fromhost" ] || fail "rename not seen on the host"
[ ! -e "$src/todelete" ] || fail "unlink not seen on the host"
[ -d "$src/newdir" ] || fail "mkdir not seen on the host"
[ "$(stat -c %a "$src/fromguest")" = 600 ] || fail "chmod not seen on the host"
echo "ok: guest data seen on the host (a 64 MiB checksum, 10,000 files, rename/unlink/mkdir/chmod)"

grep -q "escaped!" "$TMP/out" && fail "a symlink in the share reached a host file outside it"
echo "ok: symlinks pointing outside the share do not reach the host's files"

expect_in "$TMP/out" "^allowed: mknod fifo p$"
grep -E "^allowed: (mknod [bc]|chmod)" "$TMP/out" && fail "the guest made a device node or a set-ID file"
setid=$(find "$src" \( -type b -o -type c -o -perm /6000 \) -printf '%M %p\n')
[ -z "$setid" ] || fail "device nodes or set-ID files in the share on the host: $setid"
[ "$(stat -c %a "$src/setid")" = 755 ] || fail "the guest's file changed mode: $(stat -c %a "$src/setid")"
echo "ok: no device nodes and no set-user/group-ID files from the guest (a FIFO is fine)"

grep -E "^ro-" "$TMP/out" && fail "a write to the read-only share did not fail with EROFS/EACCES"
[ "$(ro_state)" = "$ro_before" ] || fail "the read-only share changed"
[ "$(cat "$ro/keep")" = keep ] || fail "the read-only share's file changed"
echo "ok: the read-only share refuses every write (host files unchanged)"

# --- host-side changes seen by the next guest ------------------------------------------------
mv "$src/renamed" "$src/renamed2"; rm "$src/fromguest"; mkdir "$src/hostdir"; chmod 640 "$src/big"
timeout 300 "$COVE" run ci --dir "src:$src" -- sh -c \
    'cd /mnt/cove/src && ls -d renamed2 hostdir && [ ! -e fromguest ] && stat -c %a big' \
    >"$TMP/out2" 2>&1 </dev/null || { cat "$TMP/out2"; fail "host changes: exit $?"; }
expect_in "$TMP/out2" "^640$"
echo "ok: rename/unlink/mkdir/chmod on the host seen in the guest"

# --- bad options ---------------------------------------------------------------------------------
"$COVE" run ci --dir "$TMP/nonexistent" -- true >"$TMP/bad" 2>&1 </dev/null && fail "a missing directory was accepted"
expect_in "$TMP/bad" "cove: .*nonexistent"
"$COVE" run ci --dir "a:$src" --dir "a:$ro" -- true >"$TMP/bad" 2>&1 </dev/null && fail "two shares named a"
expect_in "$TMP/bad" "two shares are named 'a'"
echo "ok: a missing directory and a duplicate name are refused with one line"

# --- virtiofsd killed in the middle of a copy ------------------------------------------------
"$COVE" run ci --dir "src:$src" -- sh -c 'cd /mnt/cove/src || exit 9; while dd if=/dev/zero of=w bs=1M count=8 conv=fsync 2>/dev/null; do echo copy-round; done; echo copy-failed; ls /mnt/cove/src >/dev/null 2>&1 || echo ls-failed' \
    >"$TMP/kill.out" 2>"$TMP/kill.err" </dev/null &
runner=$!
wait_for "$TMP/kill.out" copy-round $runner
daemon=$(pgrep -o -f "virtiofsd .*source=$src")
[ -n "$daemon" ] || fail "no virtiofsd for the share"
kill -9 "$daemon"
for _ in $(seq 600); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
kill -0 $runner 2>/dev/null && { tail -n 3 "$TMP/kill.out"; cat "$TMP/kill.err"; fail "cove did not stop after its virtiofsd died"; }
wait $runner
rc=$?
runner=""
[ $rc -eq 0 ] || { cat "$TMP/kill.out" "$TMP/kill.err"; fail "exit $rc after its virtiofsd died"; }
expect_in "$TMP/kill.out" "^copy-failed"
expect_in "$TMP/kill.out" "^ls-failed"
[ "$(grep -c "file server" "$TMP/kill.err")" = 1 ] ||
    { cat "$TMP/kill.err"; fail "want one host-side message about the file server"; }
echo "ok: virtiofsd killed mid-copy: I/O errors in the guest, one message, a clean stop"
