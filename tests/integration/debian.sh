#!/bin/bash
# A Debian VM from Debian's own archive, end to end (docs/IMAGES.md): the image built by
# images/build.sh (cached across runs), `cove create --from debian`, booted through OpenSBI ->
# U-Boot -> GRUB -> Debian's kernel, systemd, cloud-init's user with the host user's key,
# the agent (exec, stop), ssh over vsock, apt through NAT, a grown root, a clean e2fsck after
# `cove stop`, and a second create in constant time.
. "$(dirname "$0")/lib.sh"
need_image debian
export COVE_HOME=$TMP/home
# The "host user" of this test: its own HOME with its own key.
REAL_HOME=$HOME
export HOME=$TMP/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C cove-test -f "$HOME/.ssh/id_ed25519" || fail "ssh-keygen"

"$COVE" create d --from debian --disk-size 6G --cpus 2 --memory 1G >"$TMP/create" 2>&1 ||
    { cat "$TMP/create"; fail "create --from debian"; }
LOG=$COVE_HOME/vms/d/run/console.log
"$COVE" run d --no-console >"$TMP/run.out" 2>&1 &
pid=$!
cleanup_vm() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }
trap 'cleanup_vm; rm -rf "$TMP"' EXIT

# The agent answers once systemd started it.
t0=$(date +%s)
"$COVE" exec d --timeout 900 -- true || { tail -n 40 "$LOG"; fail "the agent never answered"; }
echo "agent after $(($(date +%s) - t0)) s"
expect_in "$LOG" 'OpenSBI'
expect_in "$LOG" 'U-Boot'
expect_in "$LOG" 'GRUB|grub'
expect_in "$LOG" 'Linux version'
echo "ok: OpenSBI -> U-Boot -> GRUB -> Debian's kernel"

state=$("$COVE" exec d -- systemctl is-system-running --wait) || true
echo "system: $state"
if [ "$state" != running ]; then
    "$COVE" exec d -- systemctl --failed --no-legend
    [ "$state" = degraded ] || fail "systemctl is-system-running: $state"
fi
[ "$("$COVE" exec d -- hostname)" = d ] || fail "hostname is not d"
echo "ok: systemd $state, hostname d"
size=$("$COVE" exec d -- df -B1 --output=size / | tail -n 1)
[ "$size" -gt $((5 * 1024 * 1024 * 1024)) ] || fail "root is $size bytes, not grown to ~6G"
echo "ok: root grown to $size bytes"
