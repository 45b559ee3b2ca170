#!/bin/bash
# Bridged networking (--net bridge:BR) with the default guest, all inside a network
# namespace of the test's own: a Linux bridge br0 (192.168.77.1/24) with Debian's dnsmasq
# serving DHCP on it as the LAN's DHCP server. The guest gets its lease from dnsmasq, answers
# ping and serves a page over TCP to the namespace; 8 MiB cross each way over TCP with
# their md5 checked, with the vnet-header offloads (checksum, TSO) the guest negotiated on
# the TAP (its virtio features say so). After a kill -9 of cove run its TAP is
# gone, and a stale cove TAP of a dead process is removed by the next start. tap:IFNAME
# attaches an existing TAP; a missing bridge or TAP, and a bridge or a TAP not made for an
# ordinary user (run as nobody), fail with one line and leave no TAP.
. "$(dirname "$0")/lib.sh"
need_guest
command -v ip >/dev/null || { echo "skip: no ip (iproute2)"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun (TAP devices) on this host"; exit 77; }
for t in dnsmasq ping python3; do command -v $t >/dev/null || fail "no $t (scripts/install-deps.sh)"; done

NS=cove-test-$$
# (not root: no namespace either)
ip netns add "$NS" 2>"$TMP/netns.err" || { cat "$TMP/netns.err"; echo "skip: ip netns unavailable"; exit 77; }
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "${TMP:?}"
}
trap cleanup EXIT
nsx() { ip netns exec "$NS" "$@"; }

start_lan "$NS" 192.168.77

# 1. A bridged guest: DHCP from dnsmasq, ping and HTTP from the namespace.
MAC=52:54:00:77:00:01
token="bridged-page-$RANDOM$RANDOM"
# ip netns exec execs cove: $! is cove's pid, which names its TAP
ip netns exec "$NS" "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net bridge:br0 --mac $MAC \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 && ip -4 addr show eth0; cat /sys/class/net/eth0/mtu; echo features=\$(cat /sys/class/net/eth0/device/features); mkdir -p /tmp/w; echo $token >/tmp/w/index.html; head -c 8388608 /dev/urandom >/tmp/w/blob; echo blob=\$(md5sum </tmp/w/blob); (nc -l -p 5000 | md5sum >/tmp/w/rx) & echo guest-serving; httpd -f -p 80 -h /tmp/w\"" \
    </dev/null >"$TMP/out1" 2>"$TMP/err1" &
vm=$!
PIDS+=($vm)
wait_for "$TMP/out1" '^guest-serving' $vm
expect_in "$TMP/out1" 'lease of 192\.168\.77\.(5[0-9]|60) obtained'
addr=$(grep -oE 'inet 192\.168\.77\.[0-9]+' "$TMP/out1" | head -n 1 | cut -d' ' -f2)
[ -n "$addr" ] || fail "no address on the guest's eth0"
expect_in "$TMP/out1" '^1500' # the TAP's MTU, the bridge's
grep -qi "$MAC $addr" "$TMP/leases" || { cat "$TMP/leases"; fail "dnsmasq's lease file has no $MAC $addr"; }
echo "ok: the guest got $addr from dnsmasq (lease file: $(cut -d' ' -f2,3 "$TMP/leases"))"

tap=$(nsx ip -o link show master br0 | grep -oE 'cove-[0-9a-f]+(-[0-9]+)?' | head -n 1)
[ "$tap" = "cove-$(printf %x $vm)" ] || { nsx ip -o link show; fail "no TAP cove-$(printf %x $vm) on br0 (got '$tap')"; }
echo "ok: cove's TAP $tap is on br0"

nsx ping -c 3 -W 2 "$addr" >"$TMP/ping" 2>&1 || { cat "$TMP/ping"; fail "no ping reply from $addr"; }
echo "ok: $addr answers ping from the namespace"

got=$(nsx python3 - "$addr" <<'EOF' 2>&1
import sys, urllib.request
print(urllib.request.urlopen("http://%s/index.html" % sys.argv[1], timeout=5).read().decode().strip())
EOF
)
[ "$got" = "$token" ] || fail "HTTP from the namespace got '$got', want '$token'"
echo "ok: the namespace fetched a page from the guest over TCP"

# The offloads: virtio-net features 1 (GUEST_CSUM), 7/8 (GUEST_TSO4/6), 11/12 (HOST_TSO4/6)
# negotiated (the guest's sysfs string has one digit per feature bit, bit 0 first).
feat=$(sed -n 's/^features=//p' "$TMP/out1" | head -n 1)
for b in 0 1 7 8 11 12; do
    [ "${feat:$b:1}" = 1 ] || fail "virtio-net feature bit $b not negotiated on the TAP (features '$feat')"
done
echo "ok: the guest negotiated CSUM, GUEST_CSUM, GUEST_TSO4/6 and HOST_TSO4/6 on the TAP"
# 8 MiB each way over TCP, md5 on both ends: the guest's 64 KiB segments with partial
# checksums go out through the TAP, the kernel's come in the same way.
want=$(sed -n 's/^blob=\([0-9a-f]*\).*/\1/p' "$TMP/out1" | head -n 1)
res=$(nsx python3 - "$addr" <<'EOF' 2>&1
import hashlib, os, socket, sys, time, urllib.request
addr = sys.argv[1]
blob = urllib.request.urlopen("http://%s/blob" % addr, timeout=60).read()
print("down", len(blob), hashlib.md5(blob).hexdigest())
data = os.urandom(8 << 20)
s = socket.create_connection((addr, 5000), timeout=60)
s.sendall(data)
s.close()
for _ in range(120):
    got = urllib.request.urlopen("http://%s/rx" % addr, timeout=10).read().decode().split()
    if got:
        break
    time.sleep(0.5)
print("up", hashlib.md5(data).hexdigest(), got[0] if got else "none")
EOF
)
echo "$res" | grep -qx "down 8388608 $want" || fail "8 MiB from the guest: $res (guest's md5 $want)"
echo "$res" | grep -qE '^up ([0-9a-f]{32}) \1$' || fail "8 MiB to the guest: $res"
echo "ok: 8 MiB each way between the guest and the namespace over TCP, md5 equal"

# 2. kill -9: the kernel removes the TAP with its last descriptor; a stale cove TAP whose
# owner is gone (here made persistent by hand) is removed by the next start.
kill -9 $vm
wait $vm 2>/dev/null
for _ in $(seq 50); do nsx ip link show "$tap" >/dev/null 2>&1 || break; sleep 0.1; done
nsx ip link show "$tap" >/dev/null 2>&1 && fail "TAP $tap still there after kill -9 of cove run"
echo "ok: TAP $tap gone after kill -9"
stale=cove-$(printf %x $vm)
nsx ip tuntap add dev "$stale" mode tap
nsx ip link set "$stale" master br0
timeout 120 ip netns exec "$NS" "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --net bridge:br0 --append "quiet cove.exec=true" </dev/null >"$TMP/out2" 2>"$TMP/err2"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out2" "$TMP/err2"; fail "second bridged run exited $rc"; }
nsx ip link show "$stale" >/dev/null 2>&1 && fail "stale TAP $stale not removed by the next start"
nsx ip -o link show | grep -q 'cove-' && { nsx ip -o link show; fail "a cove TAP is left after a clean exit"; }
echo "ok: the next start removed the stale TAP $stale; nothing left after a clean exit"

# 3. tap:IFNAME: an existing TAP (on the bridge), DHCP through it.
nsx ip tuntap add dev tap7 mode tap
nsx ip link set tap7 master br0
nsx ip link set tap7 up
timeout 120 ip netns exec "$NS" "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --net tap:tap7 --mac 52:54:00:77:00:02 \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 10\"" \
    </dev/null >"$TMP/out3" 2>"$TMP/err3"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out3" "$TMP/err3"; fail "tap:tap7 run exited $rc"; }
expect_in "$TMP/out3" 'lease of 192\.168\.77\.(5[0-9]|60) obtained'
nsx ip link show tap7 >/dev/null 2>&1 || fail "the user's TAP tap7 was removed"
echo "ok: --net tap:tap7 got a lease through an existing TAP, which stays"

# 4. Bad input: one line each.
run_refused "there is no interface 'nobr0'" --net bridge:nobr0
run_refused "'lo' is not a Linux bridge" --net bridge:lo
run_refused "there is no interface 'notap9'" --net tap:notap9
run_refused "cove networks are not available in this build|network 'lab'" --net network:lab
run_refused "interface name is 1 to 15" --net bridge:a-very-long-bridge-name
if command -v capsh >/dev/null; then
    nsx capsh --drop=cap_net_admin -- -c "exec '$COVE' run --kernel '$KERNEL' --initrd '$INITRD' --net bridge:br0" \
        </dev/null >"$TMP/cap.out" 2>"$TMP/cap.err" && fail "bridged run without CAP_NET_ADMIN: exit 0"
    [ "$(wc -l <"$TMP/cap.err")" -eq 1 ] && grep -q "needs CAP_NET_ADMIN" "$TMP/cap.err" ||
        { cat "$TMP/cap.err"; fail "without CAP_NET_ADMIN: not one line naming it"; }
    echo "ok: without CAP_NET_ADMIN: $(cat "$TMP/cap.err")"
fi
# an ordinary user (nobody): no bridged TAP, and no TAP that is not made for that user
mkdir -p "$TMP/pub" && cp "$KERNEL" "$INITRD" "$TMP/pub/" && chmod 755 "$TMP" "$TMP/pub" &&
    chmod 644 "$TMP/pub/"* || fail "a copy of the guest for nobody"
as_nobody() { # NET PATTERN: cove run --net NET as nobody fails with one line matching PATTERN
    nsx setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMP/pub" \
        "$COVE" run --kernel "$TMP/pub/Image" --initrd "$TMP/pub/initrd" --net "$1" \
        </dev/null >"$TMP/nobody.out" 2>"$TMP/nobody.err" && fail "--net $1 as nobody: exit 0"
    [ "$(wc -l <"$TMP/nobody.err")" -eq 1 ] && grep -qE "$2" "$TMP/nobody.err" ||
        { cat "$TMP/nobody.err"; fail "--net $1 as nobody: not one line with '$2'"; }
    echo "ok: --net $1 as nobody: $(cat "$TMP/nobody.err")"
}
as_nobody bridge:br0 "bridge:br0: creating a TAP for the bridge needs CAP_NET_ADMIN"
nsx ip tuntap add dev tap8 mode tap user root # (a TAP with no owner is open to every user)
as_nobody tap:tap8 "tap:tap8: permission denied on TAP 'tap8'; this needs CAP_NET_ADMIN"
nsx ip -o link show | grep -q 'cove-' && { nsx ip -o link show; fail "a refused run left a cove TAP"; }
echo "PASS"
