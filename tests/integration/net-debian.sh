#!/bin/bash
# A Debian VM (the cached image: systemd-networkd, the cove agent) bridged and then on NAT
# with automatic port forwarding, all inside a network namespace of the test's own.
# 1. `--net bridge:br0` on a Linux bridge with Debian's dnsmasq as the LAN's DHCP server:
#    the VM takes its lease from dnsmasq, answers ping and TCP (its sshd) from the namespace,
#    and its TAP is gone after `cove stop`.
# 2. `cove set --net nat`, run again: a server started in the guest (perl, as the image has
#    no python3 or busybox) on port 8080 is reachable at the namespace's 127.0.0.1:8080
#    (polled; the time it took is printed, the test fails after 10 s), is listed by
#    `cove get`, and is no longer forwarded once it exits.
# Two boots of the Debian VM: a few minutes on a quiet host, up to ~20 on a loaded one.
# timeout: 2400
. "$(dirname "$0")/lib.sh"
need_image debian
[ "$(id -u)" = 0 ] || { echo "skip: the namespace and the bridge need root"; exit 77; }
command -v ip >/dev/null || { echo "skip: no ip (iproute2)"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun (TAP devices) on this host"; exit 77; }
for t in dnsmasq ping python3 ssh-keygen; do command -v $t >/dev/null || fail "no $t (scripts/install-deps.sh)"; done
export COVE_HOME=$TMP/home
export HOME=$TMP/user # cove create --from wants the user's key: this test's own
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C cove-test -f "$HOME/.ssh/id_ed25519" || fail "ssh-keygen"

NS=cove-deb-$$
ip netns add "$NS" 2>"$TMP/netns.err" || { cat "$TMP/netns.err"; echo "skip: ip netns unavailable"; exit 77; }
AT_EXIT+=("ip netns del $NS") # after lib.sh killed the PIDS
nsx() { ip netns exec "$NS" "$@"; }
start_lan "$NS" 192.168.78

# run_deb: `cove run deb` in the namespace, in the background (its pid in $deb)
run_deb() {
    ip netns exec "$NS" "$COVE" run deb --no-console </dev/null >>"$TMP/run.out" 2>&1 &
    deb=$!
    PIDS+=($deb)
}
LOG=$COVE_HOME/vms/deb/run/console.log
stop_deb() {
    "$COVE" stop deb --timeout 120 >/dev/null || fail "cove stop deb"
    wait "$deb" || fail "cove run deb exited $?"
}

# 1. bridged: the lease from dnsmasq, ping and TCP from the namespace
MAC=52:54:00:78:00:01
"$COVE" create deb --from debian --net bridge:br0 --mac $MAC --cpus 2 --memory 1G >"$TMP/create" 2>&1 ||
    { cat "$TMP/create"; fail "create --from debian --net bridge:br0"; }
run_deb
addr=
for _ in $(seq 1800); do # the first boot runs cloud-init: minutes (up to ~20) on a loaded host
    addr=$(grep -i " $MAC " "$TMP/leases" 2>/dev/null | cut -d' ' -f3)
    [ -n "$addr" ] && break
    kill -0 $deb 2>/dev/null || break
    sleep 1
done
[ -n "$addr" ] || { tail -n 30 "$LOG" "$TMP/run.out"; fail "no lease from dnsmasq for $MAC"; }
echo "ok: the Debian VM took $addr from dnsmasq"
nsx ping -c 3 -W 5 "$addr" >"$TMP/ping" 2>&1 || { cat "$TMP/ping"; fail "no ping reply from $addr"; }
echo "ok: $addr answers ping from the namespace"
banner=
for _ in $(seq 60); do # sshd starts after networkd
    banner=$(nsx python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1],22),5); print(s.recv(64).decode().strip())' "$addr" 2>/dev/null)
    [[ $banner == SSH-2.0-* ]] && break
    sleep 2
done
[[ $banner == SSH-2.0-* ]] || fail "no TCP answer (sshd) from $addr:22 in the namespace: '$banner'"
echo "ok: TCP from the namespace to $addr:22: $banner"
stop_deb
nsx ip -o link show | grep -q 'cove-' && { nsx ip -o link show; fail "a cove TAP is left after cove stop"; }
echo "ok: stopped, no TAP left"

# 2. NAT with automatic port forwarding: a server in the guest on 8080
"$COVE" set deb --net nat >/dev/null || fail "cove set deb --net nat"
run_deb
for _ in $(seq 300); do
    "$COVE" exec deb --timeout 10 -- true 2>/dev/null && break
    kill -0 $deb 2>/dev/null || break
    sleep 2
done
"$COVE" exec deb --timeout 10 -- true || { tail -n 30 "$LOG"; fail "the agent of deb never answered"; }
out=$(nsx python3 - "$COVE" <<'PY'
import subprocess, sys, time, urllib.request
cove = sys.argv[1]
server = ("use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5,"
          " ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c \"HTTP/1.0 200 OK\\r\\n"
          "\\r\\ndeb-page\\n\"; close $c }")
if subprocess.run([cove, "exec", "deb", "--", "systemd-run", "--unit=cove-srv", "perl", "-e",
                   server]).returncode:
    sys.exit("the server did not start")
t0 = time.monotonic()
while time.monotonic() - t0 < 10:
    try:
        page = urllib.request.urlopen("http://127.0.0.1:8080/", timeout=2).read()
        print("%s %d" % (page.decode().strip(), (time.monotonic() - t0) * 1000))
        break
    except OSError:
        time.sleep(0.02)
PY
)
[ "${out% *}" = deb-page ] || { tail -n 20 "$TMP/run.out"; fail "127.0.0.1:8080 did not serve the guest's page within 10 s ('$out')"; }
echo "ok: the guest's server on 8080 reachable at 127.0.0.1:8080 ${out#* } ms after systemd-run returned"
"$COVE" get deb | grep -q '^auto-forward: tcp:127.0.0.1:8080:8080$' || { "$COVE" get deb; fail "get: no auto-forward line"; }
"$COVE" exec deb -- systemctl stop cove-srv || fail "systemctl stop cove-srv"
gone=
for _ in $(seq 100); do
    nsx python3 -c 'import socket; socket.create_connection(("127.0.0.1",8080),1)' 2>/dev/null || { gone=1; break; }
    sleep 0.1
done
[ -n "$gone" ] || fail "127.0.0.1:8080 still accepts connections 10 s after the server exited"
# (the image's other listeners stay forwarded: systemd-resolved's LLMNR on 5355, tcp and udp)
"$COVE" get deb | grep -q '^auto-forward: tcp:127.0.0.1:8080:' && { "$COVE" get deb; fail "get still lists 8080"; }
echo "ok: the server stopped: 127.0.0.1:8080 refused, no longer listed"
stop_deb
echo "PASS"
