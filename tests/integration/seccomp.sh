#!/bin/bash
# The VMM runs confined (docs/SECURITY.md): a running VM's process has no_new_privs and
# one seccomp filter on every thread; exec, a guest reboot and a suspend/resume work under
# it. From outside, gdb makes the running VMM open a host file (a test's own trigger, not
# the product's): to read it fails with ENOENT and the VM goes on; to write it kills the
# run with one line naming openat and exit 159. --no-seccomp and COVE_SECCOMP=0 leave the
# process unfiltered. (tests/unit/vm/test_seccomp checks the filter's list itself.)
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create sc --memory 256M --disk-size 256M >/dev/null || fail "create"

# gdb_call EXPR: what EXPR returns when the VMM evaluates it (gdb attached from outside;
# the host's files for its symbols: a jailed VMM's root holds none)
gdb_call() {
    timeout 60 gdb -p "$(vmm_pid sc)" -batch -nx -ex "set sysroot /" -ex "call (int)$1" 2>&1 |
        sed -n 's/^\$1 = //p'
}

# (a) confined by default, every thread; exec, a guest reboot, suspend and resume work
start_vm sc
[ "$(vmm_status sc Seccomp)" = 2 ] || fail "Seccomp: $(vmm_status sc Seccomp), want 2"
[ "$(vmm_status sc NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(vmm_status sc NoNewPrivs), want 1"
for t in /proc/$(vmm_pid sc)/task/*; do
    grep -q "^Seccomp:[[:space:]]*2" "$t/status" || fail "thread $(cat "$t/comm") is not filtered"
    grep -q "^Seccomp_filters:[[:space:]]*1$" "$t/status" ||
        fail "thread $(cat "$t/comm"): $(grep Seccomp_filters "$t/status"), want 1"
done
[ "$("$COVE" exec sc -- echo hi)" = hi ] || fail "exec under the filter"
"$COVE" exec sc -- sh -c 'touch /root/before; sync; (sleep 0.5; reboot -f) >/dev/null 2>&1 &'
sleep 2
for _ in $(seq 300); do "$COVE" exec sc -- test -e /root/before 2>/dev/null && break; sleep 0.2; done
"$COVE" exec sc -- test -e /root/before || fail "the guest did not come back from its reboot"
kill -0 $runner 2>/dev/null || { cat "$TMP/run-sc.out"; fail "the VMM died on the guest's reboot"; }
"$COVE" suspend sc >/dev/null || { cat "$TMP/run-sc.out"; fail "suspend under the filter"; }
wait $runner || fail "cove run exited $? after suspend"
start_vm sc
"$COVE" exec sc -- test -e /root/before || fail "the resumed guest lost its file"
[ "$(vmm_status sc Seccomp)" = 2 ] || fail "resumed: Seccomp: $(vmm_status sc Seccomp), want 2"
grep -q "seccomp" "$TMP/run-sc.out" && { cat "$TMP/run-sc.out"; fail "the filter said something"; }
echo "ok: Seccomp 2, NoNewPrivs 1, one filter on every thread; exec, reboot, suspend, resume"

# (b) an open of a host file by the running VMM: to read it fails (libraries look for
# optional files at any time), to write it kills the run with the line
if command -v gdb >/dev/null; then
    got=$(gdb_call 'open("/etc/hostname", 0)')
    [ "$got" = -1 ] || fail "the VMM's read-only open of /etc/hostname returned '$got', want -1"
    [ "$(gdb_call '*(int *)__errno_location()')" = 2 ] || fail "errno is not ENOENT"
    [ "$("$COVE" exec sc -- echo alive)" = alive ] || fail "the VM died after a failed open"
    gdb_call 'open("/etc/hostname", 1)' >/dev/null
    for _ in $(seq 100); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
    kill -0 $runner 2>/dev/null && fail "the VMM still runs after opening a host file to write"
    wait $runner
    rc=$?
    runner=""
    [ $rc -eq 159 ] || { cat "$TMP/run-sc.out"; fail "exit $rc after the forbidden open, want 159"; }
    grep -qx "cove: seccomp: the VMM made a system call outside its allow-list: openat (257)" \
        "$TMP/run-sc.out" || { cat "$TMP/run-sc.out"; fail "no line naming openat"; }
    echo "ok: the running VMM's open of /etc/hostname: to read ENOENT, to write exit 159 with the line"
else
    stop_vm sc || fail "exit $? after stop"
    echo "note: no gdb, the open of a host file by the running VMM is not tried"
fi

# (c) DNS through the NAT under the filter: libslirp's proxy (10.0.2.3) forwards a guest's
# query to the host's resolver from /etc/resolv.conf, read before the filter (after it,
# the query would go to 127.0.0.1). strace shows where it goes; the answer does not matter.
ns=$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf 2>/dev/null)
if ! command -v strace >/dev/null || [[ -z "$ns" || "$ns" == 127.* || "$ns" == *:* ]]; then
    echo "note: no strace or no IPv4 resolver other than loopback; DNS forwarding not checked"
else
    START_WRAP=(strace -f -qq -e trace=sendto -o "$TMP/dns.trace")
    start_vm sc
    START_WRAP=()
    "$COVE" exec sc -- sh -c 'udhcpc -i eth0 -n -q -t 3 >/dev/null 2>&1;
        timeout 5 nslookup cove-dns-check.example 10.0.2.3 >/dev/null 2>&1; true'
    stop_vm sc || fail "DNS check: exit $?"
    grep 'cove-dns-check' "$TMP/dns.trace" | grep -qF "sin_port=htons(53), sin_addr=inet_addr(\"$ns\")" ||
        { grep 'htons(53)' "$TMP/dns.trace"; fail "the guest's DNS query did not go to $ns"; }
    echo "ok: a guest's DNS query to 10.0.2.3 goes to the host's resolver $ns under the filter"
fi

# (d) a guest reboot with a shared directory: the new machine's virtiofsd comes from the
# share's keeper (forked before the filter; the VMM may not fork), and the share works
# again after the reboot
if [ "$(id -u)" = 0 ] && [ -x "${COVE_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}" ]; then
    mkdir "$TMP/share"
    echo before >"$TMP/share/f"
    start_vm sc --dir "sh:$TMP/share"
    [ "$(vmm_status sc Seccomp)" = 2 ] || fail "reboot with a share: the VMM is not confined"
    "$COVE" exec sc -- sh -c 'echo guest >/mnt/cove/sh/g; (sleep 0.5; reboot -f) >/dev/null 2>&1 &' ||
        fail "reboot with a share: exec"
    sleep 2
    back=""
    for _ in $(seq 300); do
        kill -0 $runner 2>/dev/null || break
        back=$("$COVE" exec sc -- cat /mnt/cove/sh/f 2>/dev/null) && [ "$back" = before ] && break
        sleep 0.2
    done
    kill -0 $runner 2>/dev/null || { cat "$TMP/run-sc.out"; fail "reboot with a share: the run ended"; }
    [ "$back" = before ] || { cat "$TMP/run-sc.out"; fail "reboot with a share: the share is not back"; }
    [ "$(cat "$TMP/share/g")" = guest ] || fail "reboot with a share: the guest's write is lost"
    "$COVE" exec sc -- sh -c 'echo again >/mnt/cove/sh/g2' || fail "reboot with a share: write"
    [ "$(cat "$TMP/share/g2")" = again ] || fail "reboot with a share: the new write is not on the host"
    grep -q "seccomp: the VMM made" "$TMP/run-sc.out" && fail "reboot with a share: killed"
    # the first machine's RAM is gone: only the VMM and the new daemon map guest RAM (a
    # helper forked with the old mapping kept its pages, charged to the VM's cgroup: a
    # Debian VM with a share was OOM-killed at its reboot)
    vmm=$(vmm_pid sc)
    holders=$(grep -l 'memfd:cove-guest-ram' /proc/[0-9]*/maps 2>/dev/null |
              sed 's|/proc/\([0-9]*\)/maps|\1|' | while read -r p; do
                  pp=$(awk '/^PPid/{print $2}' "/proc/$p/status" 2>/dev/null)
                  gp=$(awk '/^PPid/{print $2}' "/proc/$pp/status" 2>/dev/null)
                  ggp=$(awk '/^PPid/{print $2}' "/proc/$gp/status" 2>/dev/null)
                  [ "$p" = "$vmm" ] || [ "$pp" = "$vmm" ] || [ "$gp" = "$vmm" ] ||
                      [ "$ggp" = "$vmm" ] && echo "$p:$(cat "/proc/$p/comm")"
              done | sort)
    echo "$holders" | grep -v -E ":(cove|virtiofsd)$" | grep . &&
        fail "reboot with a share: a helper maps guest RAM: $holders"
    [ "$(echo "$holders" | grep -c ':cove$')" = 1 ] || fail "reboot with a share: RAM mapped by: $holders"
    [ "$(echo "$holders" | grep -c ':virtiofsd$')" = 1 ] ||
        fail "reboot with a share: guest RAM mapped by more than the new virtiofsd: $holders"
    stop_vm sc || fail "reboot with a share: exit $?"
    echo "ok: a guest reboot with a shared directory: the share's keeper starts virtiofsd again, the share works, the old RAM is gone"
else
    echo "note: no root or no virtiofsd; the reboot with a shared directory is not tried"
fi

# (e) --no-seccomp and COVE_SECCOMP=0: not filtered
start_vm sc --no-seccomp
[ "$(vmm_status sc Seccomp)" = 0 ] || fail "--no-seccomp: Seccomp: $(vmm_status sc Seccomp), want 0"
stop_vm sc || fail "--no-seccomp: exit $?"
COVE_SECCOMP=0 start_vm sc
[ "$(vmm_status sc Seccomp)" = 0 ] || fail "COVE_SECCOMP=0: Seccomp: $(vmm_status sc Seccomp), want 0"
stop_vm sc || fail "COVE_SECCOMP=0: exit $?"
echo "ok: --no-seccomp and COVE_SECCOMP=0: Seccomp 0"
exit 0
