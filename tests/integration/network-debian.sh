#!/bin/bash
# A Debian VM (the cached image, systemd-networkd and systemd-resolved) and a default guest
# on one cove network: both get their addresses from the switch's DHCP, each pings the
# other by address and by name (NAME.cove from Debian: its systemd-resolved sends a single
# label to DNS only with a search domain, which the image's networkd does not take yet; the
# default guest's busybox asks for NAME), and the Debian VM sends 16 MiB over TCP to the
# default guest, checksums equal. About 2 minutes on an idle host (the Debian VM's first boot).
. "$(dirname "$0")/lib.sh"
need_guest
need_image debian
export COVE_HOME=$TMP/home # short: the network's sockets live under it
export HOME=$TMP/user # cove create --from wants the user's key: this test's own
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C cove-test -f "$HOME/.ssh/id_ed25519" || fail "ssh-keygen"

AT_EXIT+=('[ -n "${COVE_HOME:-}" ] && "$COVE" network delete deblab')

"$COVE" network create deblab --subnet 10.93.0.0/24 >/dev/null || fail "network create"
"$COVE" create deb --from debian --net network:deblab --cpus 2 --memory 1G >"$TMP/create" 2>&1 ||
    { cat "$TMP/create"; fail "create --from debian --net network:deblab"; }
"$COVE" run deb --no-console >"$TMP/deb.run" 2>&1 &
PIDS+=($!)
deb=${PIDS[-1]}

# the default guest: its address, then (once Debian's name resolves) pings it by name and
# takes one TCP stream, printing its checksum
script="ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -x hostname:bb >/dev/null 2>&1"
script+="; ip -4 addr show eth0; i=0; while [ \$i -lt 600 ] && ! ping -c 1 -W 1 deb >/dev/null 2>&1"
script+="; do i=\$((i+1)); sleep 1; done; ping -c 2 -W 2 deb; nc -l -p 5000 </dev/null | md5sum"
script+="; echo BB-DONE"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net network:deblab \
    --append "quiet cove.exec=\"$script\"" </dev/null >"$TMP/bb.out" 2>"$TMP/bb.err" &
PIDS+=($!)
bb=${PIDS[-1]}
wait_for "$TMP/bb.out" 'inet 10\.93\.0\.' "$bb"
bip=$(grep -oE 'inet 10\.93\.0\.[0-9]+' "$TMP/bb.out" | cut -d' ' -f2)
echo "ok: the default guest has $bip from the switch's DHCP"

for _ in $(seq 150); do
    "$COVE" exec deb --timeout 10 -- true 2>/dev/null && break
    kill -0 "$deb" 2>/dev/null || break
    sleep 2
done
# networkd starts after cloud-init's local stage: minutes on a loaded host
dip=
for _ in $(seq 60); do
    dip=$("$COVE" ip deb --wait 10 2>/dev/null) && [[ $dip =~ ^10\.93\. ]] && break
    kill -0 "$deb" 2>/dev/null || break
done
[ -n "$dip" ] || { tail -n 30 "$COVE_HOME/vms/deb/run/console.log"; fail "cove ip deb"; }
[[ $dip =~ ^10\.93\.0\.[0-9]+$ ]] || fail "the Debian VM's address is '$dip', not of 10.93.0.0/24"
echo "ok: the Debian VM has $dip from the switch's DHCP (systemd-networkd)"

"$COVE" exec deb -- ping -c 2 -W 5 "$bip" >"$TMP/p1" 2>&1 || { cat "$TMP/p1"; fail "deb: ping $bip"; }
"$COVE" exec deb -- ping -c 2 -W 5 bb.cove >"$TMP/p2" 2>&1 || { cat "$TMP/p2"; fail "deb: ping bb.cove"; }
expect_in "$TMP/p2" "^PING bb\.cove \($bip\)"
echo "ok: the Debian VM pinged the default guest by address and by name"
wait_for "$TMP/bb.out" '2 packets received' "$bb"
expect_in "$TMP/bb.out" "^PING deb \($dip\)"
echo "ok: the default guest pinged the Debian VM by name ($dip)"

sum=$("$COVE" exec deb -- bash -c 'head -c 16777216 /dev/urandom >/tmp/r && md5sum </tmp/r &&
    for i in $(seq 30); do cat /tmp/r >/dev/tcp/bb.cove/5000 2>/dev/null && exit 0; sleep 1; done; exit 1' |
    cut -d' ' -f1) || fail "deb: sending 16 MiB to bb.cove:5000"
[[ $sum =~ ^[0-9a-f]{32}$ ]] || fail "no checksum from the Debian VM: '$sum'"
wait_for "$TMP/bb.out" '^BB-DONE' "$bb"
expect_in "$TMP/bb.out" "^$sum"
echo "ok: 16 MiB from the Debian VM to the default guest over TCP, md5 $sum on both sides"

wait "$bb" || fail "the default guest exited $?"
"$COVE" stop deb --timeout 120 >/dev/null || fail "cove stop deb"
wait "$deb" || fail "cove run deb exited $?"
echo "ok: both stopped"
