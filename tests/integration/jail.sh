#!/bin/bash
# The jail (docs/SECURITY.md, "The jail"): a root-run VM's VMM, once set up, has its own
# mount namespace in which only its bundle's run/ is visible (on every thread), runs as an
# unprivileged uid of its own (two VMs: two uids of cove's range, neither can signal the
# other) with no capabilities, and exec, a guest reboot, the control socket and
# suspend/resume still work; the state helper keeps the host's file system. --no-jail
# leaves it in the host's namespace as root; --jail on a VM without a bundle is refused.
. "$(dirname "$0")/lib.sh"
need_guest
[ "$(id -u)" = 0 ] || { echo "skip: the jail needs root"; exit 77; }
unshare -m true 2>/dev/null || { echo "skip: no mount namespaces here"; exit 77; }
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner="" r2=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; [ -n "$r2" ] && kill -9 $r2 2>/dev/null; rm -rf "$TMP"' EXIT

"$COVE" create jv --memory 256M --disk-size 256M >/dev/null || fail "create"
"$COVE" create jv2 --memory 128M --disk-size 256M >/dev/null || fail "create jv2"
BUNDLE=$COVE_HOME/vms/jv
[ -d "$BUNDLE" ] || fail "no bundle at $BUNDLE"

# check_jailed: the VMM's every thread in another mount namespace than ours, seeing only
# the bundle's run/; not root, no capabilities
check_jailed() {
    local pid ns top
    pid=$(vmm_pid jv)
    ns=$(readlink "/proc/$pid/ns/mnt")
    [ "$ns" != "$(readlink /proc/self/ns/mnt)" ] || fail "the VMM is in the host's mount namespace"
    [ "$(vmm_status jv Uid)" != 0 ] || fail "the VMM runs as root: $(grep Uid /proc/$pid/status)"
    [ "$(vmm_status jv Gid)" != 0 ] || fail "the VMM's gid is 0"
    [ "$(vmm_status jv CapEff)" = 0000000000000000 ] || fail "capabilities: $(vmm_status jv CapEff)"
    [ "$(vmm_status jv CapPrm)" = 0000000000000000 ] || fail "permitted capabilities: $(vmm_status jv CapPrm)"
    top=${BUNDLE#/}; top=/${top%%/*}
    for t in /proc/$pid/task/*; do
        [ "$(readlink "$t/ns/mnt")" = "$ns" ] || fail "thread $(cat "$t/comm"): another namespace"
        [ "$(ls -A "$t/root/" | grep -vx etc)" = "${top#/}" ] ||
            fail "thread $(cat "$t/comm") sees $(ls -A "$t/root/" | tr '\n' ' ')at /, want ${top#/}"
        [ -S "$t/root/$BUNDLE/run/api.sock" ] || fail "thread $(cat "$t/comm"): no run/"
        [ ! -e "$t/root/etc/passwd" ] && [ ! -e "$t/root/$COVE" ] && [ ! -e "$t/root/proc/1" ] &&
            [ ! -e "$t/root/$BUNDLE/config.json" ] || fail "thread $(cat "$t/comm") sees host files"
    done
    # nothing beside run/ on its way either
    [ "$(ls -A "/proc/$pid/root/$BUNDLE")" = run ] || fail "the bundle shows more than run/"
    [ "$(ls -A "/proc/$pid/root/$BUNDLE/..")" = jv ] || fail "the bundle's parent shows more"
    # and the host's resolv.conf, read-only (the NAT's DNS proxy stats it)
    [ ! -e /etc/resolv.conf ] || [ "$(ls -A "/proc/$pid/root/etc")" = resolv.conf ] ||
        fail "the jail's /etc holds $(ls -A "/proc/$pid/root/etc" | tr '\n' ' ')"
}

# (a) jailed by default as root; exec, the control socket, a guest reboot, suspend, resume
start_vm jv
check_jailed
echo "ok: jailed: mount namespace $(readlink /proc/$(vmm_pid jv)/ns/mnt), uid $(vmm_status jv Uid), only $BUNDLE/run visible"
[ "$("$COVE" exec jv -- echo hi)" = hi ] || fail "exec in the jail"
"$COVE" get jv | grep -q running || fail "cove get through the control socket"
helper=$(pgrep -P "$(vmm_pid jv)" -x cove-state) || fail "no state helper (cove-state)"
[ "$(readlink /proc/$helper/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] ||
    [ -e "/proc/$helper/root/$COVE" ] || fail "the state helper lost the host's file system"
"$COVE" exec jv -- sh -c 'touch /root/before; sync; (sleep 0.5; reboot -f) >/dev/null 2>&1 &'
sleep 2
for _ in $(seq 300); do "$COVE" exec jv -- test -e /root/before 2>/dev/null && break; sleep 0.2; done
"$COVE" exec jv -- test -e /root/before || { cat "$TMP/run-jv.out"; fail "the guest did not come back from its reboot"; }
kill -0 $runner 2>/dev/null || { cat "$TMP/run-jv.out"; fail "the VMM died on the guest's reboot"; }
echo "ok: exec, cove get and a guest reboot in the jail"

# a uid per VM: a second VM's VMM runs as another uid of cove's range (its gid the same
# number), and neither can signal the other
r1=$runner
start_vm jv2
r2=$runner runner=$r1
u1=$(vmm_status jv Uid) u2=$(vmm_status jv2 Uid) p2=$(vmm_pid jv2)
[ "$u1" != "$u2" ] || fail "two VMs' VMMs run as the same uid $u1"
for u in "$u1" "$u2"; do
    [ "$u" -ge 1600000000 ] && [ "$u" -lt 1600004096 ] || fail "uid $u outside cove's range"
done
[ "$(vmm_status jv Gid)" = "$u1" ] && [ "$(vmm_status jv2 Gid)" = "$u2" ] || fail "gids: not the uids"
setpriv --reuid="$u2" --regid="$u2" --clear-groups kill -0 "$p2" || fail "uid $u2 cannot signal its own VMM: the check below shows nothing"
setpriv --reuid="$u1" --regid="$u1" --clear-groups kill -0 "$p2" 2>/dev/null && fail "jv's uid $u1 can signal jv2's VMM"
"$COVE" stop jv2 >/dev/null || fail "stop jv2"
wait "$r2" || fail "jv2's run exited $?"
r2=""
echo "ok: two jailed VMs run as uids $u1 and $u2 (gids the same), and cannot signal each other"
"$COVE" suspend jv >/dev/null || { cat "$TMP/run-jv.out"; fail "suspend in the jail"; }
wait $runner || { cat "$TMP/run-jv.out"; fail "cove run exited $? after suspend"; }
runner=""
[ -d "$BUNDLE/state" ] || fail "no state/ after suspend"
start_vm jv
"$COVE" exec jv -- test -e /root/before || fail "the resumed guest lost its file"
check_jailed
stop_vm jv || { cat "$TMP/run-jv.out"; fail "cove run exited $? after cove stop"; }
for f in pid api.sock vsock.sock; do
    [ ! -e "$BUNDLE/run/$f" ] || fail "run/$f left behind by a jailed run"
done
echo "ok: suspend, resume (jailed again) and stop; the run files are removed"

# (b) --no-jail: the host's namespace, root
start_vm jv --no-jail
[ "$(readlink /proc/$(vmm_pid jv)/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] ||
    fail "--no-jail: another mount namespace"
[ "$(vmm_status jv Uid)" = 0 ] || fail "--no-jail: uid $(vmm_status jv Uid)"
stop_vm jv || fail "stop (--no-jail)"
echo "ok: --no-jail runs in the host's namespace as root"

# (c) --jail where it cannot serve: refused with one line
run_refused 'without a bundle.*--no-jail' --jail
