#!/bin/bash
# virtio-net on slirp NAT with the default guest: DHCP gives 10.0.2.15, the guest fetches
# a page from an HTTP server on the host's 127.0.0.1 (as 10.0.2.2), the host fetches a page
# from busybox httpd in the guest through --forward; a forward port already in use and
# bad --forward/--mac/--net syntax fail with one line and the right exit code.
. "$(dirname "$0")/lib.sh"
need_guest
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT


# 1. DHCP, then the guest fetches from the host.
mkdir -p "$TMP/www"
token="host-page-$RANDOM$RANDOM"
echo "$token" >"$TMP/www/index.html"
hport=$(free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$hport),1)" 2>/dev/null && break; sleep 0.1; done
timeout 120 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net nat \
    --mac 52:54:00:12:34:56 \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 && ip -4 addr show eth0 && cat /etc/resolv.conf && cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu && wget -q -O - http://10.0.2.2:$hport/index.html\"" \
    </dev/null >"$TMP/out1" 2>"$TMP/err1"
rc=$?
[ $rc -eq 0 ] || { tail -n 30 "$TMP/out1" "$TMP/err1"; fail "dhcp/wget: cove exited $rc"; }
expect_in "$TMP/out1" 'lease of 10\.0\.2\.15 obtained'
expect_in "$TMP/out1" 'inet 10\.0\.2\.15/24'
expect_in "$TMP/out1" 'nameserver 10\.0\.2\.3'
expect_in "$TMP/out1" '52:54:00:12:34:56'
expect_in "$TMP/out1" '^65520' # slirp's 64 KiB MTU, offered through VIRTIO_NET_F_MTU
expect_in "$TMP/out1" "^$token"
expect_in "$TMP/out1" 'cove-exec-status: 0'
echo "ok: DHCP lease 10.0.2.15, guest fetched a page from the host"

# 2. The host reaches busybox httpd in the guest through --forward (127.0.0.1 by default).
fport=$(free_port)
gtoken="guest-page-$RANDOM$RANDOM"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --forward "tcp:$fport:80" \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null; mkdir -p /tmp/w; echo $gtoken >/tmp/w/index.html; httpd -f -p 80 -h /tmp/w\"" \
    </dev/null >"$TMP/out2" 2>"$TMP/err2" &
vm=$!
PIDS+=($vm)
got=
for _ in $(seq 120); do
    got=$(python3 - "$fport" <<'EOF' 2>/dev/null
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/index.html" % sys.argv[1], timeout=3).read().decode().strip())
EOF
) && [ -n "$got" ] && break
    kill -0 $vm 2>/dev/null || break
    sleep 0.5
done
kill $vm 2>/dev/null
wait $vm
rc=$?
[ "$got" = "$gtoken" ] || { tail -n 30 "$TMP/out2" "$TMP/err2"; fail "forward: host got '$got', want '$gtoken'"; }
[ $rc -eq 0 ] || fail "forward: cove exited $rc after SIGTERM"
# the forward listens on loopback only
if ss -ltn 2>/dev/null | grep -q "0.0.0.0:$fport "; then fail "forward bound to all addresses"; fi
echo "ok: host fetched a page from the guest through --forward tcp:$fport:80"

# 2b. A UDP forward: datagrams sent to the host port reach nc -u in the guest.
uport=$(free_port)
timeout 60 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --forward "udp:$uport:5000" \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null; timeout 20 nc -u -l -p 5000 | head -n 1\"" \
    </dev/null >"$TMP/out2b" 2>"$TMP/err2b" &
vm=$!
PIDS+=($vm)
for _ in $(seq 80); do
    python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'udp-$uport\n', ('127.0.0.1', $uport))"
    grep -qa "^udp-$uport" "$TMP/out2b" && break
    kill -0 $vm 2>/dev/null || break
    sleep 0.25
done
wait $vm
expect_in "$TMP/out2b" "^udp-$uport"
echo "ok: a datagram reached the guest through --forward udp:$uport:5000"

# 3. A forward port already in use: one line, exit 1, nothing left running.
bport=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $bport)); s.listen(1); time.sleep(60)" &
PIDS+=($!)
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$bport),1)" 2>/dev/null && break; sleep 0.1; done
timeout 30 "$COVE" run --kernel "$KERNEL" --initrd "$INITRD" --forward "tcp:$bport:80" \
    </dev/null >"$TMP/out3" 2>"$TMP/err3"
rc=$?
[ $rc -eq 1 ] || fail "port in use: exit $rc, want 1"
[ "$(cat "$TMP/err3")" = "cove: port $bport on 127.0.0.1 is already in use; choose another --forward host port" ] ||
    fail "port in use: stderr was '$(cat "$TMP/err3")'"
[ ! -s "$TMP/out3" ] || fail "port in use: the guest started"
echo "ok: forward port in use"

# 4. Bad syntax: one line each, exit 2.
for args in "--forward tcp:80" "--forward sctp:1:2" "--forward tcp:1:70000" "--forward tcp:x.y:1:2" \
            "--mac 52:54:00:12:34" "--mac 01:00:5e:00:00:01" "--net bridge" "--net none --forward tcp:1:2"; do
    # shellcheck disable=SC2086
    "$COVE" run --kernel "$KERNEL" $args </dev/null >"$TMP/out4" 2>"$TMP/err4"
    rc=$?
    [ $rc -eq 2 ] || fail "'$args': exit $rc, want 2"
    [ "$(wc -l <"$TMP/err4")" -eq 1 ] && grep -q '^cove: ' "$TMP/err4" ||
        fail "'$args': stderr was '$(cat "$TMP/err4")'"
done
echo "ok: bad --forward/--mac/--net syntax"
