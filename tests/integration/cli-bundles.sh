#!/bin/bash
# VM bundles end to end: create, list/get (text and JSON), set, run (persistence on the
# disk), clone (independence both ways), the control socket (state, pause/resume, graceful
# stop), rename, delete, and the bad inputs: each one line on stderr and a non-zero exit.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { "$COVE" "$@"; }
runner=""
# a failing check must not leave a VM running (it would hold the output pipe open)
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

# bad NAME PATTERN -- ARGS: the command fails with exactly one line matching PATTERN.
bad() {
    local pattern=$1; shift 2
    timeout 60 "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -ne 0 ] || fail "cove $*: exit status 0"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "cove $*: not one line on stderr"; }
    grep -qiE -- "$pattern" "$TMP/err" || { cat "$TMP/err"; fail "cove $*: no '$pattern'"; }
    echo "ok: cove $*: $(cat "$TMP/err")"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# exec_in NAME COMMAND: runs COMMAND in the guest, prints its output (quiet boot)
exec_in() {
    cove run "$1" --append "quiet cove.exec=\"$2\"" </dev/null >"$TMP/exec.out" 2>&1 ||
        { cat "$TMP/exec.out"; fail "run $1 failed"; }
    expect_in "$TMP/exec.out" 'cove-exec-status: 0'
    grep -v -e 'cove-exec-status' -e 'reboot: Power down' -e 'EXT4-fs' "$TMP/exec.out" | tr -d '\r'
}

# --- create, list, get -------------------------------------------------------------------
cove create dev --cpus 2 --memory 256M --disk-size 1G >/dev/null || fail "create"
[ -f "$COVE_HOME/vms/dev/config.json" ] || fail "no config.json"
bad 'already exists' -- create dev
bad "contains '/'" -- create a/b
bad "starts with '\\.'" -- create .hidden
bad 'cpus 0 is out of range' -- create x --cpus 0
bad 'cpus 64 is out of range' -- create x --cpus 64
bad 'memory 8M is out of range' -- create x --memory 8M
bad 'not a size' -- create x --memory lots
# the boot files are checked at create, as `cove run` checks them
bad 'kernel /bin/true: not a RISC-V Linux Image or ELF' -- create x --kernel /bin/true
bad 'initrd /nonexistent: No such file' -- create x --kernel "$COVE_GUEST_DIR/Image" --initrd /nonexistent
bad "forward 'tcp:127.000.0.1:80:80': '127.000.0.1' is not an IPv4 address" -- \
    create x --kernel "$COVE_GUEST_DIR/Image" --forward tcp:127.000.0.1:80:80
bad '--forward needs a network' -- create x --net none --forward tcp:1:2
bad 'multicast' -- create x --mac 01:00:5e:00:00:01
bad 'use the same host port' -- create x --forward tcp:2222:22 --forward tcp:0.0.0.0:2222:23
bad 'does not exist' -- get nope
bad 'does not exist' -- run nope
bad 'does not exist' -- delete nope
bad 'does not exist' -- stop nope
[ ! -e "$COVE_HOME/vms/x" ] || fail "a failed create left a bundle"

cove list --format json >"$TMP/list.json" || fail "list"
[ "$(json 'len(d)' <"$TMP/list.json")" = 1 ] || fail "list: not one VM"
[ "$(json 'd[0]["name"], d[0]["state"], d[0]["cpus"], d[0]["memory"], d[0]["disk_size"]' <"$TMP/list.json")" = \
  "dev stopped 2 256 1073741824" ] || { cat "$TMP/list.json"; fail "list: wrong fields"; }
cove get dev --format json | json 'd["config"]["boot"]["cmdline"]' | grep -q 'cove.root=/dev/vda' ||
    fail "get: no root on disk in cmdline"
cove list | grep -qE '^dev +stopped +2 ' || fail "list text"

# --- set ---------------------------------------------------------------------------------
cove set dev --cpus 1 --memory 192M || fail "set"
[ "$(cove get dev --format json | json 'd["cpus"], d["memory"]')" = "1 192" ] || fail "set not applied"
bad 'disk is 1 GiB; shrinking is not supported' -- set dev --disk-size 512M
cove set dev --disk-size 2G || fail "grow disk"
[ "$(cove get dev --format json | json 'd["disk_size"]')" = 2147483648 ] || fail "disk not grown"
bad 'cpus 33 is out of range' -- set dev --cpus 33

# --- the network in the bundle: create and set write it, get shows it ---------------------
net() { python3 -c "import json,sys; n=json.load(open(sys.argv[1]))['network']; print(n['mode'], n.get('mac'), ' '.join(n['forwards']))" "$COVE_HOME/vms/$1/config.json"; }
cove create nt --kernel "$COVE_GUEST_DIR/Image" --forward tcp:2222:22 --forward udp:127.0.0.1:5353:53 \
    --mac 52:54:00:aa:bb:cc >/dev/null || fail "create with forwards"
[ "$(net nt)" = "nat 52:54:00:aa:bb:cc tcp:2222:22 udp:127.0.0.1:5353:53" ] || fail "create: network $(net nt)"
cove get nt | grep -qx 'forward:   udp:127.0.0.1:5353:53' || { cove get nt; fail "get: no forward"; }
cove set nt --forward tcp:8080:80 || fail "set --forward"
[ "$(net nt)" = "nat 52:54:00:aa:bb:cc tcp:8080:80" ] || fail "set --forward did not replace the list: $(net nt)"
bad 'need a network; pass --no-forwards' -- set nt --net none
bad 'exclude each other' -- set nt --no-forwards --forward tcp:1:2
bad "is not an IPv4 address" -- set nt --forward tcp:127.000.0.1:80:80
cove set nt --net none --no-forwards || fail "set --net none"
[ "$(net nt)" = "none 52:54:00:aa:bb:cc " ] || fail "set --net none: $(net nt)"
cove get nt | grep -qx 'network:   none' || fail "get: network not none"
cove set nt --net nat --mac 52:54:00:dd:ee:ff || fail "set --net nat"
[ "$(net nt)" = "nat 52:54:00:dd:ee:ff " ] || fail "set --net nat: $(net nt)"
cove set nt --net bridge:br0 || fail "set --net bridge:br0"
[ "$(net nt)" = "bridge:br0 52:54:00:dd:ee:ff " ] || fail "set --net bridge:br0: $(net nt)"
cove get nt | grep -qx 'network:   bridge:br0, mac 52:54:00:dd:ee:ff' || { cove get nt; fail "get: not bridge:br0"; }
bad "forwards need a network on NAT, not bridge:br0" -- set nt --forward tcp:1:2
cove delete nt >/dev/null || fail "delete nt"
echo "ok: forwards, NAT and MAC stored by create and set"

# --- persistence: a file written in one boot is there in the next ------------------------
exec_in dev 'echo persisted >/root/note' >/dev/null
[ "$(exec_in dev 'cat /root/note')" = persisted ] || fail "file did not survive a reboot"
echo "ok: a file persists across two runs"

# --- clone independence ------------------------------------------------------------------
cove clone dev ci >/dev/null || fail "clone"
bad 'already exists' -- clone dev ci
bad 'does not exist' -- clone nope x
exec_in ci 'echo from-clone >/root/clone-only; echo changed >/root/note' >/dev/null
exec_in dev 'echo from-source >/root/source-only' >/dev/null
[ "$(exec_in dev 'cat /root/note; ls /root | cat')" = "$(printf 'persisted\nnote\nsource-only')" ] ||
    fail "the clone's writes show in the source"
[ "$(exec_in ci 'cat /root/note; ls /root | cat')" = "$(printf 'changed\nclone-only\nnote')" ] ||
    fail "the source's writes show in the clone"
echo "ok: clone and source are independent"

# re-cloning after writes: the source's overlay becomes a base in turn, and so does a
# booted clone's (its relative base name must hold from bases/ as from the bundle)
cove clone dev dev2 >/dev/null || fail "clone of a source written since its first clone"
cove clone ci ci2 >/dev/null || fail "clone of a booted clone"
[ "$(exec_in dev2 'cat /root/note; ls /root | cat')" = "$(printf 'persisted\nnote\nsource-only')" ] ||
    fail "the second clone of dev does not see dev's later writes"
[ "$(exec_in ci2 'cat /root/note')" = changed ] || fail "the clone of a clone lost its writes"
cove delete dev2 >/dev/null && cove delete ci2 >/dev/null || fail "delete the re-clones"
[ "$(exec_in dev 'cat /root/note')" = persisted ] || fail "dev broke when its clone was deleted"
echo "ok: a VM re-cloned after writes, a booted clone cloned"

# a moved COVE_HOME keeps working: overlays name their base relative to themselves
grep -qa "$COVE_HOME" "$COVE_HOME"/vms/*/disk.img && fail "an overlay names its base by absolute path"
mv "$COVE_HOME" "$TMP/moved"
COVE_HOME=$TMP/moved
[ "$(exec_in ci 'cat /root/note')" = changed ] || fail "the clone does not boot from a moved COVE_HOME"
mv "$COVE_HOME" "$TMP/home"
COVE_HOME=$TMP/home
echo "ok: clones work from a moved COVE_HOME"

# list counts the bases a clone reads through: dev's data now lies in a base
cove list --format json >"$TMP/list.json" || fail "list"
python3 - "$TMP/list.json" <<'PY' || { cat "$TMP/list.json"; fail "list: disk_used/disk_shared"; }
import json, sys
for v in json.load(open(sys.argv[1])):
    assert v["disk_shared"] > 1_000_000, v      # the ext4 root file system, in bases/
    assert v["disk_used"] > v["disk_shared"], v  # plus the VM's own overlay
PY
[ "$(cove list | awk '$1 == "dev" { print $7 }')" != - ] || fail "list text: no SHARED for dev: $(cove list)"
echo "ok: list counts the shared bases"

# --- a running VM: state, lock, pause/resume, graceful stop -------------------------------
# a forward stored in the bundle is bound by the run and shown by get
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fport=$(freeport)
rport=$(freeport)
cove set dev --forward "tcp:$fport:80" || fail "set a forward on dev"
"$COVE" run dev --no-console --forward "tcp:$rport:81" --append 'cove.exec="i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"' >"$TMP/runner.out" 2>&1 &
runner=$!
log=$COVE_HOME/vms/dev/run/console.log
for _ in $(seq 100); do grep -q 'tick 3' "$log" 2>/dev/null && break; sleep 0.1; done
grep -q 'tick 3' "$log" || fail "the VM did not start ticking"
[ "$(cove get dev --format json | json 'd["state"], d["pid"]')" = "running $runner" ] ||
    fail "get: not running with the runner's pid"
[ -S "$COVE_HOME/vms/dev/run/api.sock" ] || fail "no control socket"
cove get dev | grep -qx "forward:   tcp:$fport:80" || { cove get dev; fail "get: the stored forward"; }
python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 5).close()" "$fport" ||
    fail "the stored forward is not bound on 127.0.0.1:$fport"
echo "ok: the stored forward tcp:$fport:80 is bound while the VM runs"
# the run's own forward is shown too while it runs (and the MAC the run uses), not stored
cove get dev | grep -qx "forward:   tcp:$rport:81" || { cove get dev; fail "get: the run's forward"; }
[ "$(cove get dev --format json | json '" ".join(d["network"]["forwards"])')" = "tcp:$fport:80 tcp:$rport:81" ] ||
    fail "get json: the run's forwards: $(cove get dev --format json)"
cove get dev --format json | json 'd["network"]["mac"]' | grep -qE '^52:54:00(:[0-9a-f]{2}){3}$' ||
    fail "get json: the run's MAC"
grep -q "$rport" "$COVE_HOME/vms/dev/config.json" && fail "the run's forward was stored"
echo "ok: get shows the run's own forward tcp:$rport:81 and MAC while it runs"
bad "already running \\(pid $runner\\)" -- run dev
bad 'is running; stop it first' -- delete dev
bad 'is running; stop it first' -- set dev --cpus 2
bad 'is running; stop it first' -- clone dev other
bad 'is running; stop it first' -- rename dev other
cove pause dev || fail "pause"
[ "$(cove list --format json | json '[v["state"] for v in d if v["name"]=="dev"][0]')" = paused ] ||
    fail "list: not paused"
sleep 0.3
a=$(grep -c tick "$log"); sleep 1; b=$(grep -c tick "$log")
[ "$a" = "$b" ] || fail "the guest made progress while paused ($a -> $b ticks)"
cove resume dev || fail "resume"
sleep 1; c=$(grep -c tick "$log")
[ "$c" -gt "$b" ] || fail "the guest did not go on after resume"
echo "ok: paused at $a ticks, $c after resume"
cove stop dev --timeout 20 || fail "stop"
wait $runner || fail "cove run exited $? after a graceful stop"
expect_in "$log" 'sysrq: Power Off|reboot: Power down'  # agent first, else SysRq
[ "$(cove get dev --format json | json 'd["state"]')" = stopped ] || fail "not stopped after stop"
bad 'is not running' -- stop dev
bad 'is not running' -- pause dev

# a VM killed hard: its stale socket and pid file read as stopped
"$COVE" run ci --no-console --append 'cove.exec="sleep 100"' >"$TMP/runner.out" 2>&1 &
runner=$!
for _ in $(seq 100); do [ -S "$COVE_HOME/vms/ci/run/api.sock" ] && break; sleep 0.05; done
kill -9 $runner; wait $runner 2>/dev/null
[ "$(cove get ci --format json | json 'd["state"]')" = stopped ] || fail "killed VM not stopped"
echo "ok: a stale socket reads as stopped"

# --- corrupt files -----------------------------------------------------------------------
cp "$COVE_HOME/vms/ci/config.json" "$TMP/config.good"
sed -i 's/"cpus": 1/"cpus": "two"/' "$COVE_HOME/vms/ci/config.json"
bad "config.json: key 'cpus': must be an integer 1..32, got \"two\"" -- get ci
bad "key 'cpus'" -- run ci
cove list | grep -qE '^ci +broken' || fail "list does not flag the broken VM"
cp "$TMP/config.good" "$COVE_HOME/vms/ci/config.json"
cp "$COVE_HOME/vms/ci/disk.img" "$TMP/disk.good"
printf "garbage!garbage!" | dd of="$COVE_HOME/vms/ci/disk.img" bs=1 seek=8 conv=notrunc status=none
bad 'disk.img' -- run ci
bad 'disk.img' -- clone ci ci2
[ ! -e "$COVE_HOME/vms/ci2" ] || fail "a failed clone left a bundle"
cp "$TMP/disk.good" "$COVE_HOME/vms/ci/disk.img"

# --- rename, delete ----------------------------------------------------------------------
cove rename ci ci-renamed >/dev/null || fail "rename"
bad 'already exists' -- rename dev ci-renamed
[ "$(exec_in ci-renamed 'cat /root/note')" = changed ] || fail "renamed VM lost its disk"
# a guest kernel panic ends `cove run NAME` with exit 4 and one line
timeout 60 "$COVE" run ci-renamed --no-console --append 'cove.exec="echo c >/proc/sysrq-trigger"' \
    </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 4 ] && grep -q 'guest kernel panicked' "$TMP/err" ||
    { cat "$TMP/err"; fail "panic in a named VM: exit $rc"; }
expect_in "$COVE_HOME/vms/ci-renamed/run/console.log" 'Kernel panic'
echo "ok: a panic in a named VM: exit 4"
cove delete ci-renamed >/dev/null || fail "delete"
cove delete dev >/dev/null || fail "delete"
[ "$(cove list --format json | json 'len(d)')" = 0 ] || fail "list not empty"
[ -z "$(ls -A "$COVE_HOME/bases")" ] || fail "bases left after deleting every VM: $(ls "$COVE_HOME/bases")"
[ -z "$(ls -A "$COVE_HOME/vms")" ] || fail "leftovers in vms/: $(ls -A "$COVE_HOME/vms")"
echo "ok: all commands"
