#!/bin/bash
# cove networks with the default guest: two VMs on `cove network create lab` each get an
# address from the switch's DHCP, one pings the other by address and by name, sends it
# 256 MiB over TCP (busybox nc) whose checksums must match; the switch is then killed
# with SIGKILL: both VMMs keep running, the guest sees its link (carrier) go down and come
# back, the attachments start a new switch and TCP works again. A second VM with a MAC in use, an unknown network, a name in use, an
# overlapping subnet and deleting a network in use are refused with one line.
# (1 GiB takes about two minutes on the soft CPU: 256 MiB keeps the test short;
# COVE_NETWORK_MIB=1024 runs the issue's 1 GiB.)
. "$(dirname "$0")/lib.sh"
need_guest

AT_EXIT+=('[ -n "${COVE_HOME:-}" ] && "$COVE" network delete lab')
export COVE_HOME=$TMP/home # short: the network's sockets live under it
MIB=${COVE_NETWORK_MIB:-256} # the issue's 1 GiB: COVE_NETWORK_MIB=1024 (out of CI: docs/NETWORK.md)

refused() { # PATTERN CMD...: CMD fails with one line matching PATTERN
    local pattern=$1; shift
    "$@" >"$TMP/r.out" 2>"$TMP/r.err" && fail "$*: exit status 0"
    [ "$(wc -l <"$TMP/r.err")" -eq 1 ] || { cat "$TMP/r.err"; fail "$*: not one line"; }
    grep -qE -- "$pattern" "$TMP/r.err" || { cat "$TMP/r.err"; fail "$*: no '$pattern'"; }
    echo "ok: $*: $(cat "$TMP/r.err")"
}

"$COVE" network create lab --subnet 10.89.0.0/24 >/dev/null || fail "network create"
refused "already exists" "$COVE" network create lab
refused "overlaps network 'lab'" "$COVE" network create lab2 --subnet 10.89.0.128/25
refused "host bits set" "$COVE" network create lab2 --subnet 10.90.0.1/24
run_refused "network 'nope' does not exist" --net network:nope
[ "$("$COVE" network get lab --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["subnet"])')" = 10.89.0.0/24 ] ||
    fail "network get --format json"

up="ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -x hostname"
run_vm() { # NAME MAC OUT SCRIPT
    "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net network:lab \
        --mac "$2" --append "quiet cove.exec=\"$up:$1 >/dev/null 2>&1; $4\"" \
        </dev/null >"$TMP/$3.out" 2>"$TMP/$3.err" &
    PIDS+=($!)
}
run_vm beta 52:54:00:89:00:02 beta "ip -4 addr show eth0; nc -l -p 5000 </dev/null | md5sum; nc -l -p 5001 </dev/null; echo BETA-DONE"
beta=${PIDS[-1]}
wait_for "$TMP/beta.out" 'inet 10\.89\.0\.' "$beta"
bip=$(grep -oE 'inet 10\.89\.0\.[0-9]+' "$TMP/beta.out" | cut -d' ' -f2)
echo "ok: beta has $bip from the switch's DHCP"

refused "52:54:00:89:00:02 is in use by another VM" timeout 60 "$COVE" run --kernel "$KERNEL" \
    --initrd "$INITRD" --net network:lab --mac 52:54:00:89:00:02
refused "1 VM\(s\) attached" "$COVE" network delete lab

# After sending, alpha waits until its link has gone down and come back (the kernel counts
# carrier transitions, so a quick drop is seen too), or 10 s: the drop is seen only by a VMM
# that reaches the switch while none is there, and the other VMM may start the new one
# first (docs/NETWORK.md). The count is taken before SENT, so before the kill.
cc=/sys/class/net/eth0/carrier_changes
w="i=0; while [ \$(cat $cc) -lt \$((c0 + 2)) ] && [ \$i -lt 200 ]; do i=\$((i+1)); sleep 0.05; done; echo carrier-changes=\$((\$(cat $cc) - c0))"
run_vm alpha 52:54:00:89:00:01 alpha "ip -4 addr show eth0; ping -c 2 -W 5 $bip && ping -c 2 -W 5 beta && head -c 1048576 /dev/urandom >/tmp/r && seq $MIB | while read i; do cat /tmp/r; done | md5sum && seq $MIB | while read i; do cat /tmp/r; done | nc -w 2 beta 5000; c0=\$(cat $cc); echo SENT; $w; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo after-restart | nc -w 2 $bip 5001 && break; sleep 1; done"
alpha=${PIDS[-1]}
wait_for "$TMP/alpha.out" 'inet 10\.89\.0\.' "$alpha"
wait_for "$TMP/alpha.out" "2 packets transmitted, 2 packets received" "$alpha"
wait_for "$TMP/alpha.out" '^--- beta ping statistics' "$alpha"
expect_in "$TMP/alpha.out" '^PING beta \(10\.89'
for _ in $(seq 50); do [ "$(grep -c '2 packets received' "$TMP/alpha.out")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c '2 packets received' "$TMP/alpha.out")" -ge 2 ] || { cat "$TMP/alpha.out"; fail "ping beta by name"; }
echo "ok: alpha pinged beta by address and by name"

for _ in $(seq $((60 + MIB / 2))); do grep -q '^SENT' "$TMP/alpha.out" && break; kill -0 $alpha || break; sleep 1; done
expect_in "$TMP/alpha.out" '^SENT'
sum=$(grep -oE '^[0-9a-f]{32}' "$TMP/alpha.out" | head -1)
[ -n "$sum" ] || fail "alpha printed no checksum"
wait_for "$TMP/beta.out" "^$sum" "$beta"
echo "ok: $MIB MiB from alpha to beta over TCP, md5 $sum on both sides"

spid=$("$COVE" network get lab --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["switch_pid"])')
[ "$spid" -gt 0 ] || fail "no switch pid"
kill -9 "$spid"
# alpha waits for its link to go down and come back before it sends again
wait_for "$TMP/beta.out" '^after-restart' "$beta"
echo "ok: alpha sent again after the kill ($(grep -o '^carrier-changes=[0-9]*' "$TMP/alpha.out"))"
spid2=$("$COVE" network get lab --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["switch_pid"])')
[ "$spid2" -gt 0 ] && [ "$spid2" != "$spid" ] || fail "no new switch ($spid2)"
echo "ok: switch $spid killed, the VMs kept running and reached each other through switch $spid2"

wait $alpha || fail "alpha exited $?"
wait $beta || fail "beta exited $?"
expect_in "$TMP/beta.out" 'BETA-DONE'

# Named VMs (cove create --net network:lab) are known by their names without any DHCP
# host name: each registers its VM name with the switch.
export COVE_GUEST_DIR
"$COVE" create n1 --net network:lab >/dev/null && "$COVE" create n2 --net network:lab >/dev/null ||
    fail "create --net network:lab"
"$COVE" run n2 --no-console </dev/null >"$TMP/n2.out" 2>&1 &
PIDS+=($!)
timeout 100 "$COVE" run n1 -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 2 n2 && exit 0; sleep 1; done; exit 1' \
    >"$TMP/n1.out" 2>&1 || { cat "$TMP/n1.out" "$TMP/n2.out"; fail "n1 could not ping n2 by name"; }
expect_in "$TMP/n1.out" '^PING n2 \(10\.89\.0\.'
"$COVE" stop n2 >/dev/null || fail "stop n2"
echo "ok: named VM n1 pinged n2 by its VM name"
"$COVE" network delete lab || fail "network delete after the VMs stopped"
[ "$("$COVE" network list --format json)" = "[]" ] || fail "network list not empty after delete"
[ ! -e "$COVE_HOME/run/networks/lab" ] || fail "run/networks/lab left behind"
echo "ok: network deleted, nothing left"
