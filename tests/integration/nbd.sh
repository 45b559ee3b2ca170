#!/bin/bash
# NBD disks against a real nbdkit (Debian's, file plugin), started and stopped here on a
# Unix socket and on loopback TCP, and the real default guest:
#  - the guest makes ext4 on the NBD disk and writes a file; the file is in nbdkit's
#    backing file (debugfs on the host); a second boot over TCP reads it back;
#  - nbdkit killed in the middle of the guest's writes: they fail with I/O errors, cove
#    stays up, and once nbdkit is back the guest's writes land in the backing file again;
#  - a read-only export, and ,ro on a writable one: the guest sees read-only disks;
#  - nbds:// (TLS with a pre-shared key) works; plain nbd:// to a TLS-only server fails;
#  - a VM bundle stores an NBD disk (cove set --add-disk), cove get shows it, cove run
#    attaches it; cove set changes its options and removes it;
#  - bad input: malformed URIs, an unreachable server: one line, non-zero exit.
. "$(dirname "$0")/lib.sh"
need_guest
command -v nbdkit >/dev/null || { echo "SKIP: nbdkit not installed"; exit 77; }
command -v debugfs >/dev/null || { echo "SKIP: debugfs (e2fsprogs) not installed"; exit 77; }

one_line() { echo "$1" | tr '\n' ' ' | tr -s ' '; }

EXPORT=$TMP/export.img
SOCK=$TMP/nbd.sock
UNIX_URI="nbd+unix:///?socket=$SOCK"
truncate -s 64M "$EXPORT"

# nbdkit instances (pid files), killed however the test ends; a VM in the background too.
PIDS=()
BG=""
cleanup() {
    local p
    for p in "${PIDS[@]}"; do [ -s "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
    [ -n "$BG" ] && kill -9 "$BG" 2>/dev/null
    rm -rf "${TMP:?}"
}
trap cleanup EXIT

# start_nbdkit NAME ARGS...: nbdkit ARGS file $SERVED (default EXPORT), ready when its pid
# file is written.
start_nbdkit() {
    local pidfile=$TMP/$1.pid
    shift
    rm -f "$pidfile"
    PIDS+=("$pidfile")
    nbdkit -P "$pidfile" "$@" file "${SERVED:-$EXPORT}" 2>>"$TMP/nbdkit.err" ||
        fail "nbdkit $* did not start"
    for _ in $(seq 100); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
    fail "nbdkit $* wrote no pid file"
}
stop_nbdkit() { kill -9 "$(cat "$TMP/$1.pid")" 2>/dev/null; rm -f "$TMP/$1.pid"; }
unix_server() { rm -f "$SOCK"; start_nbdkit unix -U "$SOCK" "$@"; }

# boot NAME COMMAND [cove run options...]: as in blk.sh
boot() {
    local name=$1 cmd
    cmd=$(one_line "$2")
    shift 2
    timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" "$@" \
        --append "quiet cove.exec=\"$cmd\"" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    tr -d '\r' <"$TMP/$name.out" >"$TMP/$name.log"
    [ $rc -eq 0 ] || { tail -n 30 "$TMP/$name.log" "$TMP/$name.err"; fail "$name: cove exited $rc"; }
    expect_in "$TMP/$name.log" '^cove-exec-status: 0$'
}
guest_sum() { sed -n "s|^\([0-9a-f]\{64\}\)  $2\$|\1|p" "$1" | tail -n 1; }

# --- ext4 on the NBD disk, the data in nbdkit's backing file ------------------------------
unix_server
boot format 'mkfs.ext4 -q -L nbdtest /dev/vda && mount /dev/vda /mnt &&
    dd if=/dev/urandom of=/mnt/f bs=1M count=4 2>/dev/null && sha256sum /mnt/f && sync &&
    umount /mnt' --disk "$UNIX_URI"
sum=$(guest_sum "$TMP/format.log" /mnt/f)
[ -n "$sum" ] || { tail -n 20 "$TMP/format.log"; fail "format: no checksum from the guest"; }
stop_nbdkit unix
debugfs -R "dump /f $TMP/f" "$EXPORT" 2>"$TMP/debugfs.err" || fail "debugfs cannot read the export"
[ "$(sha256sum "$TMP/f" | cut -c1-64)" = "$sum" ] ||
    fail "ext4: nbdkit's backing file holds another file than the guest wrote"
e2fsck -fn "$EXPORT" >"$TMP/fsck.out" 2>&1 || { cat "$TMP/fsck.out"; fail "host fsck finds errors"; }
echo "ok: ext4 made on nbd+unix://, the file is in nbdkit's backing file (sha256 $sum)"

PORT=$((20000 + RANDOM % 20000))
start_nbdkit tcp -i 127.0.0.1 -p "$PORT"
boot reread 'e2fsck -fn /dev/vda && mount /dev/vda /mnt && sha256sum /mnt/f && umount /mnt' \
    --disk "nbd://127.0.0.1:$PORT/,sync=none"
[ "$(guest_sum "$TMP/reread.log" /mnt/f)" = "$sum" ] || fail "TCP: another checksum"
stop_nbdkit tcp
echo "ok: a second boot over nbd://127.0.0.1:$PORT reads the same file"

# --- nbdkit killed mid-write, then back --------------------------------------------------
# The guest writes (and flushes) in a loop; it stops at the first write that works after
# one that failed, then stamps block 100 with Z's. On a scratch export: the ext4 one is
# used again below.
SERVED=$TMP/scratch.img
truncate -s 64M "$SERVED"
unix_server
loop='i=0; err=0; back=0; while [ $i -lt 300 ]; do i=$((i+1));
    if dd if=/dev/urandom of=/dev/vda bs=64k count=4 seek=$((i % 64)) conv=fsync 2>/dev/null;
    then echo w-ok-$i; if [ $err -gt 0 ]; then back=1; break; fi;
    else echo w-err-$i; err=$((err+1)); fi; sleep 0.2; done;
    [ $back = 1 ] && head -c 4096 /dev/zero | tr [:cntrl:] Z | dd of=/dev/vda bs=4096 seek=100
    conv=fsync 2>/dev/null && echo stamped'
timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --disk "$UNIX_URI" \
    --append "quiet cove.exec=\"$(one_line "$loop")\"" </dev/null >"$TMP/kill.out" 2>"$TMP/kill.err" &
BG=$!
wait_for "$TMP/kill.out" '^w-ok-' "$BG"
stop_nbdkit unix
wait_for "$TMP/kill.out" '^w-err-' "$BG"
echo "ok: nbdkit killed: the guest's writes fail"
unix_server
wait "$BG"
rc=$?
BG=""
tr -d '\r' <"$TMP/kill.out" >"$TMP/kill.log"
[ $rc -eq 0 ] || { tail -n 30 "$TMP/kill.log" "$TMP/kill.err"; fail "kill/restart: cove exited $rc"; }
expect_in "$TMP/kill.log" '^stamped'
expect_in "$TMP/kill.log" '^cove-exec-status: 0$'
[ "$(dd if="$SERVED" bs=4096 skip=100 count=1 2>/dev/null | tr -d Z | wc -c)" = 0 ] ||
    fail "kill/restart: the write after the restart is not in the backing file"
expect_in "$TMP/kill.err" 'guest I/O fails until the server is back'
expect_in "$TMP/kill.err" 'the server is back; guest I/O works again'
stop_nbdkit unix
unset SERVED
echo "ok: nbdkit back: the guest's writes land in the backing file again"

# --- read-only: an export served read-only, and ,ro ------------------------------------
before=$(sha256sum <"$EXPORT")
unix_server -r
start_nbdkit tcp -i 127.0.0.1 -p "$PORT"
boot readonly 'cat /sys/block/vda/ro /sys/block/vdb/ro;
    if dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>/dev/null; then echo vda-written;
    else echo vda-refused; fi; if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync
    2>/dev/null; then echo vdb-written; else echo vdb-refused; fi' \
    --disk "$UNIX_URI" --disk "nbd://127.0.0.1:$PORT/,ro"
[ "$(grep -cx 1 "$TMP/readonly.log")" = 2 ] || { cat "$TMP/readonly.log"; fail "read-only: the disks are not read-only"; }
expect_in "$TMP/readonly.log" '^vda-refused'
expect_in "$TMP/readonly.log" '^vdb-refused'
[ "$(sha256sum <"$EXPORT")" = "$before" ] || fail "read-only: the export changed"
stop_nbdkit tcp
echo "ok: a read-only export and ,ro: the guest cannot write"

# --- TLS: nbds:// with a pre-shared key ------------------------------------------------------
PSK=$TMP/keys.psk
echo "alice:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$PSK"
TLS_URI="nbds://alice@127.0.0.1:$PORT/?tls-psk-file=$PSK"
start_nbdkit tcp -i 127.0.0.1 -p "$PORT" --tls=require --tls-psk="$PSK"
boot tls 'echo label=$(dd if=/dev/vda bs=1 skip=1144 count=7 2>/dev/null)' --disk "$TLS_URI,ro"
expect_in "$TMP/tls.log" '^label=nbdtest$'
timeout 60 "$COVE" run --kernel "$KERNEL" --initrd "$INITRD" --disk "nbd://127.0.0.1:$PORT/" \
    </dev/null >/dev/null 2>"$TMP/notls.err" && fail "plain nbd:// to a TLS-only server: exit 0"
[ "$(wc -l <"$TMP/notls.err")" = 1 ] && grep -q 'cannot connect to the NBD server' "$TMP/notls.err" ||
    { cat "$TMP/notls.err"; fail "plain nbd:// to a TLS-only server: not one clear line"; }
stop_nbdkit tcp
echo "ok: nbds:// with a PSK reads the export; plain nbd:// to it: $(cat "$TMP/notls.err")"

# --- stored in a bundle -------------------------------------------------------------------
export COVE_HOME=$TMP/home
"$COVE" create nbdvm --kernel "$KERNEL" --initrd "$INITRD" --disk-size 64M >/dev/null ||
    fail "create"
"$COVE" set nbdvm --add-disk "$UNIX_URI,ro,sync=none" || fail "set --add-disk"
"$COVE" get nbdvm --format json >"$TMP/get.json" || fail "get"
python3 - "$TMP/get.json" "$UNIX_URI" <<'EOF' || fail "cove get: the NBD disk is not shown"
import json, sys
d = json.load(open(sys.argv[1]))["config"]["disks"]
assert d[1] == {"nbd": sys.argv[2], "read_only": True, "cache": "writeback", "sync": "none"}, d
EOF
# the ext4 label, 16 bytes at 0x78 into the superblock (at 1024)
"$COVE" run nbdvm --append "quiet cove.exec=\"cat /sys/block/vdb/ro; echo label=\$(dd if=/dev/vdb bs=1 skip=1144 count=7 2>/dev/null)\"" \
    </dev/null >"$TMP/bundle.out" 2>&1 || { tail -n 20 "$TMP/bundle.out"; fail "run nbdvm"; }
expect_in "$TMP/bundle.out" '^label=nbdtest'
expect_in "$TMP/bundle.out" '^1'$'\r''?$'
stop_nbdkit unix
echo "ok: a bundle stores the NBD disk, cove get shows it, cove run attaches it"

# set_bad PATTERN ARGS...: cove set nbdvm ARGS fails with one line matching PATTERN
set_bad() {
    local pattern=$1; shift
    "$COVE" set nbdvm "$@" >/dev/null 2>"$TMP/set.err" && fail "set $*: exit status 0"
    [ "$(wc -l <"$TMP/set.err")" -eq 1 ] && grep -qE -- "$pattern" "$TMP/set.err" ||
        { cat "$TMP/set.err"; fail "set $*: not one line with '$pattern'"; }
}
"$COVE" set nbdvm --disk-options 1:sync=full || fail "set --disk-options"
"$COVE" get nbdvm | grep -qx "disk 1:    $UNIX_URI, cache=writeback, sync=full" ||
    { "$COVE" get nbdvm; fail "get: disk 1 is not rw, sync=full"; }
set_bad "cache=none is for image files" --disk-options 1:cache=none
set_bad "removes NBD disks only" --remove-disk 0
set_bad "stores NBD disks only" --add-disk "$TMP/x.img"
set_bad "no disk 5" --remove-disk 5
set_bad "tls-psk-file= names a host file" --add-disk "$TLS_URI"
"$COVE" set nbdvm --remove-disk 1 || fail "set --remove-disk"
[ "$("$COVE" get nbdvm --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["config"]["disks"]))')" = 1 ] ||
    fail "set --remove-disk: the disk is still there"
echo "ok: cove set --disk-options, --remove-disk; what set refuses is one line"

# --- bad input ----------------------------------------------------------------------------
run_refused 'no socket; add \?socket=PATH' --disk 'nbd+unix:///x'
run_refused "port must be a number 1..65535, got '0'" --disk 'nbd://127.0.0.1:0/x'
run_refused 'no host' --disk 'nbd:///x'
run_refused "unknown sync mode 'always'" --disk "nbd://127.0.0.1/x,sync=always"
run_refused 'cannot connect to the NBD server' --disk "nbd://127.0.0.1:$PORT/x"
run_refused 'cannot connect to the NBD server' --disk "nbd+unix:///x?socket=$TMP/none.sock"
echo "PASS"
