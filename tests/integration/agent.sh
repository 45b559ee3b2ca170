#!/bin/bash
# The guest agent end to end on a VM bundle of the default guest: exec with stdin piped in
# (checksum), exit statuses (0, 3, 126, 127, signals), 10 concurrent execs, cove ip against
# the guest's own DHCP address, a 50 MiB cp round trip with its mode, 100 MiB of output
# streamed with bounded host memory, a graceful stop through the agent that leaves the
# file system clean, and the faults: no VM (125), an agent that does not answer (124), a
# connection that breaks mid-command (123), a paused VM (124, said so, after --timeout).
# Commands start with no signal ignored, and SIGINT stops them; -t implies -i; the guest is
# named by cove.hostname=; a disk grown by `cove set --disk-size` has its file system
# grown at the next boot.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { "$COVE" "$@"; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

# expect_rc RC ARGS...: cove ARGS exits with RC.
expect_rc() {
    local want=$1; shift
    timeout 120 "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq "$want" ] || { cat "$TMP/out" "$TMP/err"; fail "cove $*: exit $rc, want $want"; }
}

cove create ag --memory 384M --disk-size 1G >/dev/null || fail "create"

# --- a stopped VM ---------------------------------------------------------------------------
expect_rc 125 exec ag -- true
grep -q "is not running" "$TMP/err" || fail "exec on a stopped VM: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "exec on a stopped VM: not one line"
expect_rc 125 ip ag
expect_rc 125 cp ag:/etc/passwd "$TMP/x"
echo "ok: a stopped VM: 125 and one line"

# (cove.hostname=ag: what cove run adds for a named VM, said here too until it does)
"$COVE" run ag --no-console --append cove.hostname=ag </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
up=""
for _ in $(seq 300); do
    if cove exec ag -- true 2>/dev/null; then up=1; break; fi
    sleep 0.5
done
[ -n "$up" ] || { cat "$TMP/run.out" "$COVE_HOME/vms/ag/run/console.log"; fail "the agent never answered"; }
echo "ok: the agent answers"
[ "$(cove exec ag -- hostname)" = ag ] || fail "hostname: $(cove exec ag -- hostname)"
echo "ok: the guest is named ag"

# --- exec ----------------------------------------------------------------------------------
head -c 5000000 /dev/urandom >"$TMP/in.bin"
want=$(md5sum <"$TMP/in.bin" | cut -d' ' -f1)
got=$(cove exec ag -i -- md5sum <"$TMP/in.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "stdin checksum: $got != $want"
echo "ok: 5 MB through stdin, same md5"

[ "$(cove exec ag -e GREETING=hi -w /tmp -- sh -c 'echo $GREETING $(pwd)')" = "hi /tmp" ] ||
    fail "env/workdir"
# the environment a command starts with: root's HOME, a PATH with /usr/local first
env_got=$(cove exec ag -- sh -c 'echo "$HOME $PATH"')
[ "$env_got" = "/root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ] ||
    fail "default environment: $env_got"
cove exec ag -- sh -c 'echo out; echo err >&2' >"$TMP/o" 2>"$TMP/e"
[ "$(cat "$TMP/o")" = out ] && [ "$(cat "$TMP/e")" = err ] || fail "stdout/stderr apart"
expect_rc 0 exec ag -- true
expect_rc 3 exec ag -- sh -c 'exit 3'
expect_rc 127 exec ag -- no-such-command
grep -q "no-such-command: command not found" "$TMP/err" || fail "127 message: $(cat "$TMP/err")"
expect_rc 126 exec ag -- /etc/passwd
expect_rc 126 exec ag -w /no/such/dir -- true
expect_rc 137 exec ag -- sh -c 'kill -9 $$'
echo "ok: exit statuses 0, 3, 127, 126, 137"

# SIGTERM to cove exec reaches the command
"$COVE" exec ag -- sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 1; done' \
    >"$TMP/sig.out" 2>&1 &
sig_pid=$!
for _ in $(seq 50); do grep -q ready "$TMP/sig.out" && break; sleep 0.2; done
kill -TERM $sig_pid
wait $sig_pid
rc=$?
[ $rc -eq 7 ] && grep -q got-term "$TMP/sig.out" || fail "signal forwarding: rc $rc, $(cat "$TMP/sig.out")"
echo "ok: SIGTERM forwarded"

# A command starts with no signal ignored nor blocked (the agent, started with `&` by
# init, ignores SIGINT and SIGQUIT), so a forwarded SIGINT ends it: 130, at once.
sigs=$(cove exec ag -- grep -E '^Sig(Ign|Blk)' /proc/self/status)
[ "$(echo "$sigs" | grep -c ':[[:space:]]*0*$')" = 2 ] || fail "exec'd command: $sigs"
"$COVE" exec ag -- sh -c 'echo ready; exec sleep 100' >"$TMP/int.out" 2>&1 &
sig_pid=$!
for _ in $(seq 50); do grep -q ready "$TMP/int.out" && break; sleep 0.2; done
t0=$(date +%s)
kill -INT $sig_pid
for _ in $(seq 100); do kill -0 $sig_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $sig_pid 2>/dev/null && { kill -9 $sig_pid; fail "SIGINT did not stop sleep 100"; }
wait $sig_pid
rc=$?
[ $rc -eq 130 ] || fail "sleep 100 after SIGINT: rc $rc, $(cat "$TMP/int.out")"
echo "ok: SigIgn/SigBlk 0 in the guest; SIGINT ends sleep 100 with 130 in $(($(date +%s) - t0)) s"

# -t without -i forwards the keys anyway (no raw terminal whose keys go nowhere)
printf 'typed-line\n' | timeout 60 script -qec \
    "$COVE exec ag -t -- sh -c 'read -r x; echo got-\$x'" /dev/null >"$TMP/tty.out" 2>&1
rc=$?
[ $rc -eq 0 ] || { cat -v "$TMP/tty.out"; fail "exec -t without -i: exit $rc"; }
grep -q 'got-typed-line' "$TMP/tty.out" || { cat -v "$TMP/tty.out"; fail "exec -t: no input"; }
echo "ok: exec -t implies -i"

pids=()
for i in $(seq 10); do
    "$COVE" exec ag -- sh -c "sleep 1; echo run-$i; exit $i" >"$TMP/c.$i" 2>&1 &
    pids+=($!)
done
for i in $(seq 10); do
    wait "${pids[$((i - 1))]}"
    rc=$?
    [ $rc -eq "$i" ] && [ "$(cat "$TMP/c.$i")" = "run-$i" ] ||
        fail "concurrent exec $i: rc $rc, $(cat "$TMP/c.$i")"
done
echo "ok: 10 concurrent execs"

# the agent's connection process dies mid-command: 123; a paused VM does not answer: 124
expect_rc 123 exec ag -- sh -c 'echo partial; kill -9 $PPID; sleep 5'
grep -q "broke" "$TMP/err" || fail "123 message: $(cat "$TMP/err")"
cove pause ag || fail "pause"
t0=$(date +%s.%N)
expect_rc 124 exec ag --timeout 3 -- true
t1=$(date +%s.%N)
grep -q "did not answer within 3 s: VM 'ag' is paused; resume it with \`cove resume ag\`" \
    "$TMP/err" || fail "124 message: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "paused: not one line"
[ "$(echo "$t1 - $t0 >= 2.9 && $t1 - $t0 < 8" | bc)" = 1 ] ||
    fail "exec --timeout 3 on a paused VM took $(echo "$t1 - $t0" | bc) s"
cove resume ag || fail "resume"
expect_rc 0 exec ag -- true
echo "ok: connection lost mid-command: 123; paused VM: 124"

# --- ip ------------------------------------------------------------------------------------
addr=$(cove ip ag --wait 60) || fail "cove ip: $addr"
guest=$(cove exec ag -- ip -4 -o addr show eth0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
[ -n "$addr" ] && [ "$addr" = "$guest" ] || fail "cove ip says '$addr', the guest '$guest'"
echo "ok: cove ip = $addr, as the guest sees it"

# --- cp ------------------------------------------------------------------------------------
head -c 52428800 /dev/urandom >"$TMP/big"
chmod 751 "$TMP/big"
want=$(md5sum <"$TMP/big" | cut -d' ' -f1)
t0=$(date +%s.%N)
cove cp "$TMP/big" ag:/root/ || fail "cp in"
t1=$(date +%s.%N)
[ "$(cove exec ag -- md5sum /root/big | cut -d' ' -f1)" = "$want" ] || fail "cp in: checksum"
[ "$(cove exec ag -- stat -c %a /root/big)" = 751 ] || fail "cp in: mode"
mkdir "$TMP/back"
t2=$(date +%s.%N)
cove cp ag:/root/big "$TMP/back/" || fail "cp out"
t3=$(date +%s.%N)
[ "$(md5sum <"$TMP/back/big" | cut -d' ' -f1)" = "$want" ] || fail "cp out: checksum"
[ "$(stat -c %a "$TMP/back/big")" = 751 ] || fail "cp out: mode"
expect_rc 1 cp ag:/no/such/file "$TMP/back/x"
grep -q "No such file" "$TMP/err" || fail "cp of a missing file: $(cat "$TMP/err")"
[ ! -e "$TMP/back/x" ] || fail "a failed cp left a file"
echo "ok: 50 MiB cp round trip (in $(echo "$t1 - $t0" | bc) s, out $(echo "$t3 - $t2" | bc) s), mode kept"

# --- 100 MiB of output ----------------------------------------------------------------------
want=$( (cat "$TMP/big" "$TMP/big") | md5sum | cut -d' ' -f1)
/usr/bin/time -f %M -o "$TMP/rss" "$COVE" exec ag -- cat /root/big /root/big | md5sum >"$TMP/sum"
[ "$(cut -d' ' -f1 "$TMP/sum")" = "$want" ] || fail "100 MiB output: checksum"
rss=$(cat "$TMP/rss")
# streamed, not buffered: at most 16 MiB above what a `cove exec` that prints nothing uses
# (that baseline differs between builds: ASan's shadow memory, the libraries linked)
/usr/bin/time -f %M -o "$TMP/rss0" "$COVE" exec ag -- true || fail "exec true"
base=$(cat "$TMP/rss0")
[ "$rss" -lt $((base + 16384)) ] ||
    fail "100 MiB output: cove exec used $rss KiB, $((rss - base)) KiB above an idle exec"
echo "ok: 100 MiB streamed out, same md5, cove exec peak RSS $rss KiB ($base KiB idle)"

# --- graceful stop through the agent --------------------------------------------------------
cove exec ag -- sh -c 'echo persisted >/root/marker' || fail "marker"
t0=$(date +%s)
cove stop ag --timeout 60 || fail "stop"
t1=$(date +%s)
wait $runner
runner=""
grep -q "reboot: Power down" "$COVE_HOME/vms/ag/run/console.log" || fail "no clean power down"
dumpe2fs -h "$COVE_HOME/vms/ag/disk.img" 2>/dev/null | grep -q "Filesystem state: *clean" ||
    fail "the file system is not clean after stop"
e2fsck -fn "$COVE_HOME/vms/ag/disk.img" >"$TMP/fsck" 2>&1 || { cat "$TMP/fsck"; fail "fsck"; }
debugfs -R 'cat /root/marker' "$COVE_HOME/vms/ag/disk.img" 2>/dev/null | grep -q persisted ||
    fail "the marker written before stop is not on the disk"
echo "ok: graceful stop in $((t1 - t0)) s, file system clean, data on disk"
expect_rc 125 exec ag -- true
echo "ok: exec after stop: 125"

# --- a grown disk; a running VM whose agent is gone: 125, stop falls back to the console ---
cove set ag --disk-size 2G || fail "set --disk-size 2G"
"$COVE" run ag --no-console </dev/null >"$TMP/run2.out" 2>&1 &
runner=$!
for _ in $(seq 300); do cove exec ag -- true 2>/dev/null && break; sleep 0.5; done
# df's total leaves out the inode tables and the journal: 1 GiB gives ~0.95, 2 GiB ~1.95
kib=$(cove exec ag -- df -k / | awk 'NR == 2 { print $2 }')
[ -n "$kib" ] && [ "$kib" -gt $((1900 * 1024)) ] && [ "$kib" -le $((2048 * 1024)) ] ||
    { cat "$COVE_HOME/vms/ag/run/console.log"; fail "the root file system is $kib KiB after growing the disk to 2G"; }
grep -q "growing the root file system on /dev/vda to 2048 MiB" "$COVE_HOME/vms/ag/run/console.log" ||
    fail "no word of growing the file system on the console"
echo "ok: disk grown to 2G, the file system with it ($kib KiB)"
cove exec ag -- sh -c 'for p in $(pidof cove-agent); do [ "$p" = "$PPID" ] || kill "$p"; done'
expect_rc 125 exec ag -- true
grep -q "no guest agent answers" "$TMP/err" || fail "no agent: $(cat "$TMP/err")"
cove stop ag --timeout 30 || fail "stop without an agent"
wait $runner
runner=""
grep -q "sysrq: Power Off" "$COVE_HOME/vms/ag/run/console.log" || fail "no SysRq fallback"
echo "ok: no agent: 125; stop fell back to SysRq"
