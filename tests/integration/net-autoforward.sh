#!/bin/bash
# Automatic port forwarding on NAT (docs/NETWORK.md): busybox httpd started in the guest
# is reachable on the host's 127.0.0.1 at the same port (polled; fails after 10 s) and is
# listed by `cove get --format json`; killed, the forward goes (connection refused); a
# port taken on the host gets the next free one; a UDP listener is forwarded too; port 80 is not forwarded by default;
# with `cove set --no-auto-forward` (stored in config.json) nothing is; asking for it
# without NAT or without the agent's socket is refused.
. "$(dirname "$0")/lib.sh"
need_guest
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { "$COVE" "$@"; }
runner=""
holder=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; [ -n "$holder" ] && kill $holder 2>/dev/null; rm -rf "$TMP"' EXIT

port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
# get URL -> the page, or nothing (refused, reset, timeout)
get() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "$1" 2>/dev/null; }
# the automatic forward of guest port $1 (tcp) in `cove get --format json`: its host port
auto_host_port() {
    cove get af --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in d.get("network", {}).get("auto_forwards", []):
    if f["protocol"] == "tcp" and f["guest_port"] == int(sys.argv[1]):
        print(f["host_port"])' "$1"
}

# the brief's port 8080, unless this host uses it (then another pair of free ports)
P=8080
if ! port_free $P || ! port_free $((P + 1)); then
    for P in $(seq 18080 18180); do port_free $P && port_free $((P + 1)) && break; done
fi
Q=$((P + 10))

# asked for where it cannot be: one line, non-zero, nothing made
run_refused "auto-forward-privileged needs a network on NAT" --auto-forward-privileged
run_refused "auto-forward needs the guest agent: give --vsock" --net nat --auto-forward
if cove create bad --net none --auto-forward >"$TMP/out" 2>"$TMP/err"; then fail "create --net none --auto-forward: exit 0"; fi
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "needs a network on NAT" "$TMP/err" ||
    { cat "$TMP/err"; fail "create --net none --auto-forward: message"; }
[ ! -e "$COVE_HOME/vms/bad" ] || fail "create --net none --auto-forward left a bundle"
echo "ok: create --net none --auto-forward: $(cat "$TMP/err")"

cove create af --memory 256M --disk-size 1G >/dev/null || fail "create"
start_vm af
cove ip af --wait 30 >/dev/null || cove exec af -- udhcpc -i eth0 -n -q >/dev/null 2>&1 ||
    fail "the guest has no address"
cove exec af -- sh -c 'mkdir -p /tmp/w && echo page-$(hostname) >/tmp/w/index.html' ||
    fail "exec"

# 1. httpd on P: reachable at 127.0.0.1:P, listed with its host port
# one process starts httpd in the guest (cove exec returns once it listens) and then polls
# every 20 ms, for 10 s at most: the page, and how long it took
out=$(python3 - "$COVE" af $P <<'PY'
import subprocess, sys, time, urllib.request
cove, vm, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if subprocess.run([cove, "exec", vm, "--", "busybox", "httpd", "-p", str(port), "-h", "/tmp/w"]).returncode:
    sys.exit("httpd did not start")
t0 = time.monotonic()
while time.monotonic() - t0 < 10:
    try:
        page = urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port, timeout=2).read()
        print("%s %d" % (page.decode().strip(), (time.monotonic() - t0) * 1000))
        break
    except OSError:
        time.sleep(0.02)
PY
)
page=${out% *}
ms=${out#* }
[ "$page" = page-af ] || { cat "$TMP/run-af.out"; fail "127.0.0.1:$P did not serve the guest's page within 10 s"; }
echo "ok: guest httpd on $P reachable at 127.0.0.1:$P after ${ms} ms"
[ "$(auto_host_port $P)" = $P ] || { cove get af --format json; fail "get: no auto forward $P -> $P"; }
cove get af | grep -q "^auto-forward: tcp:127.0.0.1:$P:$P$" || { cove get af; fail "get: no auto-forward line"; }
echo "ok: cove get lists it (text and json)"

# 2. httpd killed: the forward goes
cove exec af -- pkill -f "httpd -p $P" || fail "pkill httpd"
gone=""
for _ in $(seq 100); do
    if ! python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' $P 2>/dev/null; then
        gone=1; break
    fi
    sleep 0.1
done
[ -n "$gone" ] || fail "127.0.0.1:$P still accepts connections 10 s after httpd exited"
[ -z "$(auto_host_port $P)" ] || fail "get still lists $P"
echo "ok: httpd killed, 127.0.0.1:$P refused and no longer listed"

# 3. a host port taken: the next free one
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(600)' $Q &
holder=$!
for _ in $(seq 50); do port_free $Q || break; sleep 0.1; done
cove exec af -- busybox httpd -p $Q -h /tmp/w || fail "httpd -p $Q"
hp=""
for _ in $(seq 100); do hp=$(auto_host_port $Q); [ -n "$hp" ] && break; sleep 0.1; done
[ -n "$hp" ] && [ "$hp" != $Q ] || { cove get af --format json; fail "guest port $Q (taken on the host): host port '$hp'"; }
[ "$(get "http://127.0.0.1:$hp/index.html")" = page-af ] || fail "127.0.0.1:$hp does not serve guest port $Q"
echo "ok: host port $Q taken: guest port $Q forwarded from 127.0.0.1:$hp"
cove exec af -- pkill -f "httpd -p $Q"

# 4. UDP: a bound, unconnected socket in the guest (nc -u -l) is forwarded as well
U=$((P + 20))
timeout 30 "$COVE" exec af -- sh -c "setsid sh -c 'busybox nc -u -l -p $U >/tmp/udp.out' </dev/null >/dev/null 2>&1 &" ||
    fail "nc -u -l"
uh=""
for _ in $(seq 100); do
    uh=$(cove get af --format json | python3 -c '
import json, sys
for f in json.load(sys.stdin)["network"]["auto_forwards"]:
    if f["protocol"] == "udp" and f["guest_port"] == int(sys.argv[1]):
        print(f["host_port"])' $U)
    [ -n "$uh" ] && break
    sleep 0.1
done
[ -n "$uh" ] || { cove get af --format json; fail "UDP port $U not forwarded"; }
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"udp-hello\n", ("127.0.0.1", int(sys.argv[1])))' "$uh"
got=""
for _ in $(seq 50); do
    got=$(cove exec af -- cat /tmp/udp.out 2>/dev/null)
    [ "$got" = udp-hello ] && break
    sleep 0.2
done
[ "$got" = udp-hello ] || fail "the datagram sent to 127.0.0.1:$uh did not reach nc in the guest (got '$got')"
cove exec af -- pkill -f "nc -u -l -p $U"
echo "ok: UDP port $U forwarded from 127.0.0.1:$uh, a datagram went through"

# 5. port 80 is not forwarded by default
cove exec af -- busybox httpd -p 80 -h /tmp/w || fail "httpd -p 80"
sleep 3 # six polls
[ -z "$(auto_host_port 80)" ] || fail "port 80 was forwarded without --auto-forward-privileged"
echo "ok: guest port 80 not forwarded"

# 6. --no-auto-forward, stored: nothing is forwarded
cove stop af >/dev/null || fail "stop"
wait $runner 2>/dev/null
runner=""
cove set af --no-auto-forward || fail "set --no-auto-forward"
grep -q '"auto_forward": "off"' "$COVE_HOME/vms/af/config.json" || fail "config.json: no auto_forward off"
cove get af | grep -q '^auto-forwarding: off$' || { cove get af; fail "get: not off"; }
start_vm af
cove ip af --wait 30 >/dev/null || cove exec af -- udhcpc -i eth0 -n -q >/dev/null 2>&1
cove exec af -- sh -c "mkdir -p /tmp/w && echo x >/tmp/w/index.html && busybox httpd -p $P -h /tmp/w" ||
    fail "httpd after set"
sleep 3
[ -z "$(get "http://127.0.0.1:$P/index.html")" ] || fail "--no-auto-forward: $P forwarded"
[ "$(cove get af --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["network"]["auto_forwards"]))')" = 0 ] ||
    fail "--no-auto-forward: get lists forwards"
echo "ok: --no-auto-forward: nothing forwarded"
cove stop af >/dev/null
wait $runner 2>/dev/null
runner=""
echo "PASS"
