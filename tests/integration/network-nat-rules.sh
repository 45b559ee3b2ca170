#!/bin/bash
# Port forwards and egress rules on a cove network with a NAT uplink, with the default
# guest. The network is made with `--nat --net-allow GW:PORT1 --net-block SUBNET`: its VM
# fetches from the host's 127.0.0.1:PORT1 through the gateway (allowed) and is refused at
# PORT2 at once (a reset from the rules, not a timeout). The VM runs with `--forward
# tcp:HOSTPORT:8080` and serves busybox httpd on 8080: the host reaches it at
# 127.0.0.1:HOSTPORT whatever the rules (the answers of a forwarded connection pass), a
# second VM asking for the same host port is refused with one line, and the port is free
# again once the VM stopped. A forward on a network without --nat, and rules on a network
# without --nat or on a VM of a network, are refused with one line. As root the test runs
# in network and mount namespaces of its own, so that nothing leaves the machine.
if [ "$(id -u)" = 0 ] && [ -z "${COVE_RULES_NS:-}" ] && unshare --net --mount true 2>/dev/null; then
    COVE_RULES_NS=1 exec unshare --net --mount -- bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_guest
[ -n "${COVE_RULES_NS:-}" ] && { ip link set lo up || fail "lo up in the namespace"; }

AT_EXIT+=('[ -n "${COVE_HOME:-}" ] && "$COVE" network delete ruled' '[ -n "${COVE_HOME:-}" ] && "$COVE" network delete shut')
export COVE_HOME=$TMP/home # short: the network's sockets live under it

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve() { # DIR PORT: an HTTP server on the host's 127.0.0.1
    python3 -m http.server --bind 127.0.0.1 --directory "$1" "$2" >"$TMP/http-$2.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$2))" 2>/dev/null && return; sleep 0.1; done
    fail "http server on $2 did not start"
}
mkdir -p "$TMP/open" "$TMP/shut"
echo OPEN-DOOR >"$TMP/open/f"
echo SHUT-DOOR >"$TMP/shut/f"
p1=$(free_port) p2=$(free_port) hp=$(free_port)
serve "$TMP/open" "$p1"
serve "$TMP/shut" "$p2"

# Refusals, one line each.
"$COVE" network create shut --subnet 10.94.0.0/24 >/dev/null || fail "network create shut"
refused() { # PATTERN COMMAND...: exits non-zero with one line on stderr matching PATTERN
    local pattern=$1; shift
    "$@" </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err" && fail "$*: exit status 0"
    [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] || { cat "$TMP/bad.err"; fail "$*: not one line on stderr"; }
    grep -qE -- "$pattern" "$TMP/bad.err" || { cat "$TMP/bad.err"; fail "$*: no '$pattern'"; }
    echo "ok: refused: $(cat "$TMP/bad.err")"
}
refused 'need a network with a NAT uplink \(--nat\)' "$COVE" network create x --net-allow 10.0.0.0/8
refused "bits set past the prefix" "$COVE" network create x --nat --net-block 10.0.0.1/8
refused "has no NAT uplink, which port forwards need" timeout 60 "$COVE" run --kernel "$KERNEL" \
    --initrd "$INITRD" --net network:shut --forward "tcp:$hp:8080"
refused "egress rules are the network's" "$COVE" create vmx --kernel "$KERNEL" --net network:shut \
    --net-allow 10.0.0.0/8

"$COVE" network create ruled --subnet 10.93.0.0/24 --nat --net-allow "10.93.0.1:$p1" \
    --net-block 10.93.0.0/24 >/dev/null || fail "network create --net-allow"
"$COVE" network get ruled | grep -qx "net-allow: 10.93.0.1:$p1" || fail "network get: no net-allow line"
[ "$("$COVE" network get ruled --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["allow"], d["block"])')" = "['10.93.0.1:$p1'] ['10.93.0.0/24']" ] ||
    fail "network get --format json: allow/block"
echo "ok: network ruled: rules stored and shown (get, json)"

script="ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 >/dev/null 2>&1; ip -4 addr show eth0"
script+="; mkdir /tmp/w; echo FORWARDED-OK >/tmp/w/i; httpd -p 8080 -h /tmp/w"
script+="; wget -q -T 5 -O - http://10.93.0.1:$p1/f; wget -q -T 20 -O - http://10.93.0.1:$p2/f 2>&1"
script+="; echo FETCHES-DONE; sleep 600"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net network:ruled \
    --forward "tcp:$hp:8080" --append "quiet cove.exec=\"$script\"" </dev/null >"$TMP/vm.out" 2>"$TMP/vm.err" &
vm=$!
PIDS+=($vm)
wait_for "$TMP/vm.out" '^FETCHES-DONE' "$vm"
expect_in "$TMP/vm.out" '^OPEN-DOOR'
grep -q '^SHUT-DOOR' "$TMP/vm.out" && fail "the VM reached 127.0.0.1:$p2, which the rules block"
expect_in "$TMP/vm.out" '[Cc]onnection refused'
echo "ok: the VM reached the allowed 10.93.0.1:$p1 and was refused at once at :$p2"

got=
for _ in $(seq 100); do
    got=$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$hp/i', timeout=5).read().decode().strip())" 2>/dev/null) && break
    sleep 0.2
done
[ "$got" = FORWARDED-OK ] || fail "host 127.0.0.1:$hp did not reach the VM's httpd through --forward (got '$got')"
echo "ok: the host reached the VM's httpd at 127.0.0.1:$hp (--forward on a --nat network, under an allow list)"

refused "port $hp on 127.0.0.1 is already in use" timeout 60 "$COVE" run --kernel "$KERNEL" \
    --initrd "$INITRD" --net network:ruled --forward "tcp:$hp:8080"

kill "$vm"
wait "$vm" 2>/dev/null
for _ in $(seq 30); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$hp))" 2>/dev/null || break
    sleep 0.2
done
python3 -c "import socket; socket.create_connection(('127.0.0.1',$hp))" 2>/dev/null &&
    fail "127.0.0.1:$hp still forwarded after the VM stopped"
echo "ok: the forward went away with the VM"
