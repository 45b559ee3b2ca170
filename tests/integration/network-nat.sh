#!/bin/bash
# A cove network with a NAT uplink (`cove network create --nat`), with the default guest:
# a VM on it gets a default route to the gateway, fetches 4 MiB from an HTTP server the
# test runs on the host's 127.0.0.1 (the gateway address is the host's loopback to the
# VMs) with matching checksums, and resolves both a VM's name (the switch's DNS) and a
# host name (passed on to the host's resolver through slirp's DNS proxy). A VM on a
# network without --nat has no route, does not reach the server and does not resolve the
# host name. As root the test runs in network and mount namespaces of its own, with
# Debian's dnsmasq on their 127.0.0.1 as the host's resolver, so that nothing leaves the
# machine; otherwise the host-name lookup is not checked.
if [ "$(id -u)" = 0 ] && [ -z "${COVE_NAT_NS:-}" ] && command -v dnsmasq >/dev/null &&
    unshare --net --mount true 2>/dev/null; then
    COVE_NAT_NS=1 exec unshare --net --mount -- bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_guest

AT_EXIT+=('[ -n "${COVE_HOME:-}" ] && "$COVE" network delete up' '[ -n "${COVE_HOME:-}" ] && "$COVE" network delete closed')
export COVE_HOME=$TMP/home # short: the network's sockets live under it

HOSTNAME_CHECK=
if [ -n "${COVE_NAT_NS:-}" ]; then
    ip link set lo up || fail "lo up in the namespace"
    echo "nameserver 127.0.0.1" >"$TMP/resolv.conf"
    mount --bind "$TMP/resolv.conf" /etc/resolv.conf || fail "bind resolv.conf"
    dnsmasq --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts \
        --listen-address=127.0.0.1 --bind-interfaces --user=root \
        --address=/host.test/192.0.2.7 2>"$TMP/dnsmasq.err" &
    PIDS+=($!)
    HOSTNAME_CHECK=1
else
    echo "note: not root (or no dnsmasq/unshare): the host-name lookup is not checked"
fi

mkdir -p "$TMP/www"
head -c 4194304 /dev/urandom >"$TMP/www/blob"
sum=$(md5sum <"$TMP/www/blob" | cut -d' ' -f1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$port" >"$TMP/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done

"$COVE" network create up --subnet 10.91.0.0/24 --nat >/dev/null || fail "network create --nat"
"$COVE" network create closed --subnet 10.92.0.0/24 >/dev/null || fail "network create"
[ "$("$COVE" network get up --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nat"])')" = True ] ||
    fail "network get --format json: nat is not true"
"$COVE" network get closed | grep -qE '^nat: +no$' || fail "network get closed: no 'nat: no'"
"$COVE" network list | grep -qE '^up +10\.91\.0\.0/24 +10\.91\.0\.1 +yes ' || fail "network list: no NAT column"
grep -q '"nat": true' "$COVE_HOME/networks/up.json" || fail "networks/up.json has no nat"
echo "ok: network up created with --nat (get, list, json)"

# NAME NET GATEWAY OUT: a VM on network NET that tries the host's server and both names
run_vm() {
    local script="ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -x hostname:$1 >/dev/null 2>&1"
    script+="; ip -4 addr show eth0; ip route; wget -q -T 5 -O - http://$3:$port/blob | md5sum"
    script+="; ping -c 1 -W 2 $1; ping -c 1 -W 2 host.test; echo ALL-DONE"
    "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net "network:$2" \
        --append "quiet cove.exec=\"$script\"" </dev/null >"$TMP/$4.out" 2>"$TMP/$4.err" &
    PIDS+=($!)
}
run_vm alpha up 10.91.0.1 alpha
alpha=${PIDS[-1]}
run_vm beta closed 10.92.0.1 beta
beta=${PIDS[-1]}

wait_for "$TMP/alpha.out" 'inet 10\.91\.0\.' "$alpha"
wait_for "$TMP/alpha.out" '^ALL-DONE' "$alpha"
expect_in "$TMP/alpha.out" '^default via 10\.91\.0\.1 '
expect_in "$TMP/alpha.out" "^$sum"
echo "ok: alpha (--nat) has a default route and fetched 4 MiB from the host's 127.0.0.1:$port, md5 $sum"
expect_in "$TMP/alpha.out" '^PING alpha \(10\.91\.0\.'
echo "ok: alpha resolved its VM name through the switch"
if [ -n "$HOSTNAME_CHECK" ]; then
    expect_in "$TMP/alpha.out" '^PING host\.test \(192\.0\.2\.7\)'
    echo "ok: alpha resolved host.test through the NAT's resolver (dnsmasq on the host)"
fi

wait_for "$TMP/beta.out" 'inet 10\.92\.0\.' "$beta"
wait_for "$TMP/beta.out" '^ALL-DONE' "$beta"
grep -q '^default via' "$TMP/beta.out" && fail "beta (no --nat) has a default route"
grep -q "^$sum" "$TMP/beta.out" && fail "beta (no --nat) reached the host's server"
expect_in "$TMP/beta.out" '^PING beta \(10\.92\.0\.'
grep -q '^PING host\.test' "$TMP/beta.out" && fail "beta (no --nat) resolved host.test"
echo "ok: beta (no --nat) has no route, does not reach the host and does not resolve host.test"

wait $alpha || fail "alpha exited $?"
wait $beta || fail "beta exited $?"
"$COVE" network delete up && "$COVE" network delete closed || fail "network delete"
echo "ok: networks deleted"
