#!/bin/bash
# What other local users can reach of a VM: nothing, whatever the umask. Under umask 000 a
# bundle's directories are 0700 and its files 0600 (the boot files 0400), and a running
# VM's sockets are 0600: run/api.sock controls the VM, run/vsock.sock reaches the guest
# agent (root in the guest). Then the control socket must answer `cove get` promptly while
# 50 connections that send nothing are open (one slow client at a time used to starve it).
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner="" stallers=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; [ -n "$stallers" ] && kill $stallers 2>/dev/null
      rm -rf "$TMP"' EXIT
umask 000

# want MODE PATH: PATH exists with exactly these permission bits.
want() {
    [ -e "$2" ] || fail "$2 does not exist"
    local m; m=$(stat -c %a "$2")
    [ "$m" = "$1" ] || fail "$2 has mode $m, not $1"
    echo "ok: $1 ${2#$COVE_HOME/}"
}
# nothing under COVE_HOME that group or others may read, write or enter
private_tree() {
    local open; open=$(find "$COVE_HOME" ! -type l -perm /077 -printf '%m %p\n')
    [ -z "$open" ] || { echo "$open"; fail "$1: files open to other users"; }
    echo "ok: $1: nothing under COVE_HOME open to group or others"
}

"$COVE" create m --disk-size 512M >/dev/null || fail "create"
b=$COVE_HOME/vms/m
want 700 "$COVE_HOME"; want 700 "$COVE_HOME/vms"; want 700 "$b"
want 600 "$b/config.json"; want 600 "$b/disk.img"; want 400 "$b/kernel"; want 400 "$b/initrd"
private_tree "created"

"$COVE" run m --no-console --append 'cove.exec="sleep 600"' >"$TMP/runner.out" 2>&1 &
runner=$!
for _ in $(seq 600); do
    [ -S "$b/run/api.sock" ] && [ -S "$b/run/vsock.sock" ] && break
    kill -0 $runner 2>/dev/null || { cat "$TMP/runner.out"; fail "cove run exited"; }
    sleep 0.1
done
want 700 "$b/run"; want 600 "$b/run/api.sock"; want 600 "$b/run/vsock.sock"
want 600 "$b/run/console.log"; want 600 "$b/run/pid"; want 600 "$b/run/lock"
private_tree "running"

# --- 50 clients that connect and say nothing, then a well-behaved one ---------------------
python3 - "$b/run/api.sock" >"$TMP/stall.out" <<'PY' &
import socket, sys, threading, time
# Blocking connects, each in its thread, as separate client programs would: those that
# find the backlog full wait in connect() and then hold their connection too.
def stall():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sys.argv[1])
    time.sleep(120)
for _ in range(50):
    threading.Thread(target=stall, daemon=True).start()
time.sleep(0.5)
print("holding", flush=True)
time.sleep(120)
PY
stallers=$!
for _ in $(seq 100); do grep -q holding "$TMP/stall.out" && break; sleep 0.1; done
grep -q holding "$TMP/stall.out" || fail "the stalled clients did not connect"
start=$(date +%s%N)
state=$(timeout 30 "$COVE" get m --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$state" = running ] || fail "cove get behind 50 stalled clients: state '$state' after $took ms"
[ "$took" -lt 5000 ] || fail "cove get took $took ms behind 50 stalled clients (bound: 5000)"
echo "ok: cove get answered in $took ms behind 50 stalled clients"
kill $stallers 2>/dev/null; wait $stallers 2>/dev/null; stallers=""

"$COVE" stop m --timeout 20 || fail "stop"
wait $runner || fail "cove run exited $? after stop"
runner=""
private_tree "stopped"
exit 0
