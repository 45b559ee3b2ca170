#!/bin/bash
# Rate limits (docs/SECURITY.md, "Rate limits"): token buckets on a virtio disk and the NIC.
#  - stored: cove set --disk-options N:rate=...,ops=..., create/set --net-rate; cove get
#    (text and JSON, Firecracker's rate_limiter shape) shows them; bad specs refused;
#  - a guest reading 12 MiB from a disk limited to rate=2M/s takes at least ~5 s (the full
#    bucket of 2 MiB goes at once, then 2 MiB/s); asserted: at most 3 MiB/s on average;
#  - ops=25/s: 100 direct 4 KiB reads take at least ~3 s; asserted: at most 40 per second;
#  - the same 12 MiB read without a limit is faster than the limit allows (not limited);
#  - the guest's requests wait, none fails (dd exits 0, the data is whole: sha256).
#  - the NIC: 6 MiB fetched through the NAT under --net-rate rate=1M/s take at least 3.5 s;
#    without a limit, less than half the limited time.
# Under seccomp, as every run. Only upper bounds on rates: a loaded host makes it slower.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR

"$COVE" create rl --memory 256M --disk-size 256M --net-rate rate=1M/s,ops=100/s >/dev/null ||
    fail "create --net-rate"
"$COVE" set rl --disk-options 0:rate=2M/s,ops=500/s,burst=4M || fail "set --disk-options rate"
"$COVE" get rl | grep -qx "disk 0:    disk.img, cache=writeback, sync=fsync, rate=2M/s,ops=500/s,burst=4M" ||
    { "$COVE" get rl; fail "get: the disk's limit"; }
"$COVE" get rl | grep -qx "net rate:  rate=1M/s,ops=100/s" || { "$COVE" get rl; fail "get: the NIC's limit"; }
"$COVE" get rl --format json | python3 -c '
import json, sys
c = json.load(sys.stdin)["config"]
assert c["disks"][0]["rate_limit"] == {"bandwidth": {"size": 2 << 20, "refill_time": 1000, "one_time_burst": 4 << 20}, "ops": {"size": 500, "refill_time": 1000}}, c["disks"][0]
assert c["network"]["rate_limit"] == {"bandwidth": {"size": 1 << 20, "refill_time": 1000}, "ops": {"size": 100, "refill_time": 1000}}, c["network"]
' || fail "get --format json: rate_limit"
"$COVE" set rl --net-rate none --disk-options 0:sync=fsync || fail "set --net-rate none"
"$COVE" get rl --format json | grep -q rate_limit && fail "the limits are still stored"
for bad in rate=5M rate=5M/h ops=1.5/s burst=1M speed=1/s ""; do
    "$COVE" set rl --net-rate "$bad" 2>"$TMP/err" && fail "--net-rate '$bad' taken"
    [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q -- "--net-rate" "$TMP/err" || { cat "$TMP/err"; fail "--net-rate '$bad': not one line"; }
done
"$COVE" set rl --disk-options 0:rate=1M 2>"$TMP/err" && fail "rate=1M taken"
grep -q "bad rate '1M'" "$TMP/err" || { cat "$TMP/err"; fail "rate=1M: $(cat "$TMP/err")"; }
echo "ok: limits stored by create/set, shown by get (text and JSON), bad ones refused"

dd if=/dev/urandom of="$TMP/d.img" bs=1M count=16 status=none
want=$(head -c $((12 << 20)) "$TMP/d.img" | sha256sum | cut -c1-64)

# read_disk NAME OPTIONS [4k]: boots an ephemeral guest with the disk (OPTIONS after ro),
# reads 12 MiB of it (then checks their sha256) or 100 direct 4 KiB blocks (4k); the
# guest's seconds for the reads in $secs
read_disk() {
    local name=$1 opts=$2 cmd
    if [ "$3" = 4k ]; then
        cmd='cat /proc/uptime; dd if=/dev/vda of=/dev/null bs=4k count=100 iflag=direct && cat /proc/uptime && echo read-ok'
    else
        cmd='cat /proc/uptime; dd if=/dev/vda of=/dev/null bs=1M count=12 && cat /proc/uptime && head -c 12582912 /dev/vda | sha256sum && echo read-ok'
    fi
    timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
        --disk "$TMP/d.img,ro$opts" --append "quiet cove.exec=\"$cmd\"" </dev/null \
        >"$TMP/$name.out" 2>"$TMP/$name.err" || { tail "$TMP/$name.out" "$TMP/$name.err"; fail "$name: cove run"; }
    tr -d '\r' <"$TMP/$name.out" >"$TMP/$name.log"
    expect_in "$TMP/$name.log" '^read-ok$'
    [ "$3" = 4k ] || expect_in "$TMP/$name.log" "^$want "
    secs=$(awk '/^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+$/ {t[n++] = $1} END {printf "%.2f", t[n-1] - t[0]}' "$TMP/$name.log")
}

read_disk limited ",rate=2M/s"
lim=$secs
awk -v s="$lim" 'BEGIN {exit !(s >= 4.0)}' || fail "12 MiB under rate=2M/s took ${lim}s (>= 4 s expected: at most 3 MiB/s)"
echo "ok: 12 MiB under rate=2M/s: ${lim} s (expected about 5 s), data whole"

read_disk ops ",ops=25/s" 4k
ops=$secs
awk -v s="$ops" 'BEGIN {exit !(s >= 2.5)}' || fail "100 reads under ops=25/s took ${ops}s (>= 2.5 s expected)"
echo "ok: 100 direct 4 KiB reads under ops=25/s: ${ops} s (expected about 3 s)"

read_disk free ""
free=$secs
awk -v s="$free" 'BEGIN {exit !(s < 3.0)}' || fail "12 MiB without a limit took ${free}s: limited?"
echo "ok: 12 MiB without a limit: ${free} s"

# the NIC: the guest fetches 6 MiB from the host through the NAT, limited to rate=1M/s
# (each direction: the frames it receives wait for their tokens), then without a limit
mkdir -p "$TMP/www"
head -c $((6 << 20)) /dev/urandom >"$TMP/www/blob"
blob=$(sha256sum <"$TMP/www/blob" | cut -c1-64)
hport=$(free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$hport),1)" 2>/dev/null && break; sleep 0.1; done
fetch() { # NAME [RUN-OPTIONS...]: the guest's seconds for the fetch in $secs
    local name=$1
    shift
    local cmd="ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 >/dev/null && cat /proc/uptime && wget -q -O /tmp/blob http://10.0.2.2:$hport/blob && cat /proc/uptime && sha256sum /tmp/blob && echo fetch-ok"
    timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --net nat "$@" \
        --append "quiet cove.exec=\"$cmd\"" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" ||
        { tail "$TMP/$name.out" "$TMP/$name.err"; fail "$name: cove run"; }
    tr -d '\r' <"$TMP/$name.out" >"$TMP/$name.log"
    expect_in "$TMP/$name.log" '^fetch-ok$'
    expect_in "$TMP/$name.log" "^$blob "
    secs=$(awk '/^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+$/ {t[n++] = $1} END {printf "%.2f", t[n-1] - t[0]}' "$TMP/$name.log")
}
fetch netlimited --net-rate rate=1M/s
nlim=$secs
awk -v s="$nlim" 'BEGIN {exit !(s >= 3.5)}' || fail "6 MiB under --net-rate rate=1M/s took ${nlim}s (>= 3.5 s expected)"
echo "ok: 6 MiB through the NAT under --net-rate rate=1M/s: ${nlim} s (expected about 5 s), data whole"
fetch netfree
awk -v s="$secs" -v l="$nlim" 'BEGIN {exit !(s < l / 2)}' || fail "6 MiB without a limit took ${secs}s (limited: ${nlim}s)"
echo "ok: 6 MiB through the NAT without a limit: ${secs} s"
