#!/bin/bash
# Egress rules on NAT with the default guest: two HTTP servers on the host's 127.0.0.1
# (the guest reaches them as 10.0.2.2). With --net-allow 10.0.2.2:PORT1 and --net-block
# 10.0.2.2 the guest fetches from PORT1 (an allow rule wins) and not from PORT2 (blocked:
# refused at once, the NAT answers a dropped SYN with a reset);
# DHCP still works; a --forward still works. With --net-block alone neither is reachable. Stored rules
# (create/set) are shown by get and enforced by cove run NAME. Bad rules: one line each.
. "$(dirname "$0")/lib.sh"
need_guest
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }


for i in 1 2; do
    mkdir -p "$TMP/www$i"
    echo "page-$i-$RANDOM" >"$TMP/www$i/index.html"
    port[$i]=$(free_port)
    python3 -m http.server "${port[$i]}" --bind 127.0.0.1 --directory "$TMP/www$i" >"$TMP/http$i.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',${port[$i]}),1)" 2>/dev/null && break; sleep 0.1; done
done
p1=${port[1]} p2=${port[2]}
page1=$(cat "$TMP/www1/index.html") page2=$(cat "$TMP/www2/index.html")
fetch="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null && echo dhcp-ok; for p in $p1 $p2; do wget -q -T 3 -O - http://10.0.2.2:\$p/index.html || echo blocked-\$p; done"

# 1. allow PORT1, block the host: PORT1 reachable, PORT2 not.
timeout 120 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --net-allow "10.0.2.2:$p1" --net-block 10.0.2.2/32 --append "quiet cove.exec=\"$fetch\"" \
    </dev/null >"$TMP/out1" 2>"$TMP/err1"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out1" "$TMP/err1"; fail "run 1 exited $rc"; }
expect_in "$TMP/out1" '^dhcp-ok'
expect_in "$TMP/out1" "^$page1"
expect_in "$TMP/out1" "^blocked-$p2"
expect_in "$TMP/out1" 'Connection refused' # the dropped SYN was answered with a reset
grep -q "^$page2" "$TMP/out1" && fail "the guest reached blocked port $p2"
grep -q "^blocked-$p1" "$TMP/out1" && fail "allowed port $p1 was blocked"
echo "ok: --net-allow 10.0.2.2:$p1 --net-block 10.0.2.2/32: $p1 reachable, $p2 not, DHCP works"

# 1b. A forward still works with an allow list that does not name the host: the guest's
# answers on connections the host made pass.
fport=$(free_port)
gtoken="guest-page-$RANDOM$RANDOM"
"$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --forward "tcp:$fport:80" \
    --net-allow 1.2.3.4 --net-block 10.0.2.0/24 \
    --append "quiet cove.exec=\"ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null; mkdir -p /tmp/w; echo $gtoken >/tmp/w/index.html; httpd -f -p 80 -h /tmp/w\"" \
    </dev/null >"$TMP/out1b" 2>"$TMP/err1b" &
vm=$!
PIDS+=($vm)
got=
for _ in $(seq 120); do
    got=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$fport/index.html', timeout=3).read().decode().strip())" 2>/dev/null) &&
        [ -n "$got" ] && break
    kill -0 $vm 2>/dev/null || break
    sleep 0.5
done
kill $vm 2>/dev/null
wait $vm
[ "$got" = "$gtoken" ] || { tail -n 20 "$TMP/out1b" "$TMP/err1b"; fail "forward with egress rules: host got '$got'"; }
echo "ok: --forward works with --net-allow 1.2.3.4 --net-block 10.0.2.0/24 (answers pass)"

# 2. block alone: nothing on 10.0.2.2.
timeout 120 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
    --net-block 10.0.2.0/30 --append "quiet cove.exec=\"$fetch\"" \
    </dev/null >"$TMP/out2" 2>"$TMP/err2"
rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$TMP/out2" "$TMP/err2"; fail "run 2 exited $rc"; }
expect_in "$TMP/out2" '^dhcp-ok'
expect_in "$TMP/out2" "^blocked-$p1"
expect_in "$TMP/out2" "^blocked-$p2"
echo "ok: --net-block 10.0.2.0/30: neither port reachable"

# 3. Stored in the bundle: create/set keep them, get shows them, cove run NAME enforces them.
export COVE_HOME=$TMP/home
"$COVE" create eg --memory 256M --net-allow "10.0.2.2:$p2" >/dev/null || fail "create with --net-allow"
"$COVE" set eg --net-allow "10.0.2.2:$p2" --net-block 10.0.0.0/8 || fail "set with rules"
"$COVE" get eg >"$TMP/get" && expect_in "$TMP/get" "^net-allow: 10\.0\.2\.2:$p2"
expect_in "$TMP/get" '^net-block: 10\.0\.0\.0/8'
"$COVE" get eg --format json | python3 -c '
import json, sys
n = json.load(sys.stdin)["config"]["network"]
assert n["mode"] == "nat" and n["allow"] == ["10.0.2.2:'"$p2"'"] and n["block"] == ["10.0.0.0/8"], n
' || fail "get --format json: rules not in config.network"
timeout 120 "$COVE" run eg -- sh -c "$fetch" >"$TMP/out3" 2>"$TMP/err3"
expect_in "$TMP/out3" "^$page2"
expect_in "$TMP/out3" "^blocked-$p1"
echo "ok: rules stored by create/set, shown by get (text and json), enforced by cove run NAME"
"$COVE" set eg --net none 2>"$TMP/none.err" && fail "set --net none kept the rules"
expect_in "$TMP/none.err" "egress rule\\(s\\), which need a network; pass --no-net-rules"
"$COVE" set eg --net none --no-net-rules || fail "set --net none --no-net-rules"

# 4. Bad rules: one line each.
run_refused "a block rule takes no port" --net-block 10.0.2.2:80
run_refused "bits set past the prefix length" --net-allow 10.0.2.1/24
run_refused "'10.0.300.1' is not an IPv4 address" --net-allow 10.0.300.1
run_refused "--net-allow/--net-block needs a network on NAT" --net bridge:br0 --net-allow 10.0.0.0/8
echo "PASS"
