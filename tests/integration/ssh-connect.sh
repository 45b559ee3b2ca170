#!/bin/bash
# cove connect, cove ssh and cove ssh-config against the default guest, which has no sshd
# but whose agent listens on vsock port 1024: a port where nothing listens fails with one
# line (125); port 1024 connects, carries an agent ping and its answer both ways, and ends
# when stdin ends; cove ssh refuses a VM without a login user (guest.user), a stopped and a
# paused VM with one line, and runs ssh with our ProxyCommand (ssh's own arguments checked
# through a stand-in, then the real ssh reaching the guest's port 22 through it); the
# ssh-config block parses with `ssh -G`. ssh into a real sshd: the Debian image's tests.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
cove() { "$COVE" "$@"; }
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT

# expect_rc RC ARGS...: cove ARGS (stdin from /dev/null) exits with RC.
expect_rc() {
    local want=$1; shift
    timeout 60 "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq "$want" ] || { cat "$TMP/out" "$TMP/err"; fail "cove $*: exit $rc, want $want"; }
}
# one_line PATTERN: the last command's stderr is one line matching PATTERN.
one_line() {
    grep -qE -- "$1" "$TMP/err" || fail "stderr lacks '$1': $(cat "$TMP/err")"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "not one line: $(cat "$TMP/err")"
}

cove create s --memory 256M --disk-size 256M >/dev/null || fail "create"
cfg=$COVE_HOME/vms/s/config.json

# --- no login user, then guest.user ---------------------------------------------------------
expect_rc 1 ssh s -- id
one_line "^cove: VM 's' has no login user \(it was not created from an image\); use -l USER$"
expect_rc 1 ssh-config s
one_line "no login user"
expect_rc 2 ssh s -l 'Bad User'
one_line "is not a Linux user name"
cp "$cfg" "$TMP/cfg.orig"
sed '$ s/^}$/, "guest": {"user": "Root"}}/' "$TMP/cfg.orig" >"$cfg"
expect_rc 1 get s
one_line "config.json: key 'guest.user': must be a Linux user name \(\[a-z_\]\[a-z0-9_-\]\{0,31\}\), got \"Root\""
sed '$ s/^}$/, "guest": {"user": "tester"}}/' "$TMP/cfg.orig" >"$cfg"
cove get s | grep -qx 'user:      tester' || fail "cove get: no user line: $(cove get s)"
cove get s --format json | grep -A2 '"guest"' | grep -q '"user": "tester"' ||
    fail "cove get --format json: no config.guest.user"
cove set s --cpus 2 && cove clone s s2 >/dev/null || fail "set, clone"
cove get s | grep -qx 'user:      tester' || fail "cove set lost guest.user"
cove get s2 | grep -qx 'user:      tester' || fail "cove clone lost guest.user"
cove delete s2 >/dev/null || fail "delete"
echo "ok: no login user: one line; guest.user checked and shown, kept by set and clone"

# --- a stopped VM ---------------------------------------------------------------------------
expect_rc 1 ssh s -- id
one_line "^cove: VM 's' is not running; start it with \`cove run s\`$"
expect_rc 125 connect s 1024
one_line "is not running"
expect_rc 1 connect nosuch 22
one_line "VM 'nosuch' does not exist"
expect_rc 2 connect s 0
one_line "port '0' is not a vsock port"
expect_rc 2 connect s 22x
expect_rc 2 connect s
one_line "missing PORT"
echo "ok: a stopped VM, bad arguments: one line each"

# --- ssh-config -----------------------------------------------------------------------------
cove ssh-config s >"$TMP/ssh_config" 2>"$TMP/err" || fail "ssh-config: $(cat "$TMP/err")"
expect_in "$TMP/ssh_config" "^Host cove-s$"
expect_in "$TMP/ssh_config" "^  HostName cove-s$"
expect_in "$TMP/ssh_config" "^  User tester$"
expect_in "$TMP/ssh_config" "^  ProxyCommand env COVE_HOME='[^']*' '$COVE' connect --wait 120 's' 22$"
expect_in "$TMP/ssh_config" "^  UserKnownHostsFile \"$COVE_HOME/vms/s/ssh_known_hosts\"$"
expect_in "$TMP/ssh_config" "^  StrictHostKeyChecking accept-new$"
expect_in "$TMP/ssh_config" "^  HostKeyAlias cove-s$"
[ "$(stat -c %a "$COVE_HOME/vms/s/ssh_known_hosts")" = 600 ] || fail "ssh_known_hosts not 0600"
cove ssh-config s -l other | grep -qx '  User other' || fail "ssh-config -l"
# a relative COVE_HOME: the block still works from anywhere (absolute paths)
(cd "$TMP" && COVE_HOME=home "$COVE" ssh-config s) >"$TMP/rel" || fail "ssh-config, relative home"
expect_in "$TMP/rel" "^  UserKnownHostsFile \"$COVE_HOME/vms/s/ssh_known_hosts\"$"
expect_in "$TMP/rel" "^  ProxyCommand env COVE_HOME='$COVE_HOME' "
if command -v ssh >/dev/null; then
    ssh -G -F "$TMP/ssh_config" cove-s >"$TMP/G" 2>&1 || fail "ssh -G: $(cat "$TMP/G")"
    expect_in "$TMP/G" "^user tester$"
    expect_in "$TMP/G" "^hostkeyalias cove-s$"
    expect_in "$TMP/G" "^userknownhostsfile $COVE_HOME/vms/s/ssh_known_hosts$"
    expect_in "$TMP/G" "^stricthostkeychecking accept-new$"
    expect_in "$TMP/G" "^proxycommand env COVE_HOME=.* connect --wait 120 's' 22$"
    echo "ok: ssh-config, and ssh -G parses it"
else
    echo "ok: ssh-config (no ssh here to parse it)"
fi
rm "$COVE_HOME/vms/s/ssh_known_hosts"
ln -s /etc/passwd "$COVE_HOME/vms/s/ssh_known_hosts"
expect_rc 1 ssh-config s
one_line "ssh_known_hosts is a symbolic link; cove does not follow links in a bundle"
rm "$COVE_HOME/vms/s/ssh_known_hosts"
echo "ok: a link as ssh_known_hosts: refused"

# --- running --------------------------------------------------------------------------------
"$COVE" run s --no-console </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
up=""
for _ in $(seq 300); do
    if cove exec s -- true 2>/dev/null; then up=1; break; fi
    sleep 0.5
done
[ -n "$up" ] || { cat "$TMP/run.out"; fail "the agent never answered"; }

# nothing listens on 22 in the default guest: the guest refuses, one line, 125
expect_rc 125 connect s 22
one_line "^cove: nothing listens on the guest's vsock port 22: the guest refused the connection$"
# --wait: tries again while nothing listens, then gives up the same way
expect_rc 125 connect --wait 2 s 22
one_line "^cove: nothing listens on the guest's vsock port 22: the guest refused the connection$"
# the agent's port: connects; stdin ends at once, so does the connection (the agent reads
# the end of its input, with no request: nothing comes back)
expect_rc 0 connect s 1024
[ ! -s "$TMP/out" ] && [ ! -s "$TMP/err" ] || fail "connect 1024: output $(cat "$TMP/out" "$TMP/err")"
# a ping request ([Q][0][len 8 LE]op\0ping\0) goes in; the agent's exit frame X, status 0
# ([X][0][len 4 LE][0 0 0 0]... docs/AGENT.md) comes back, after the end of stdin
printf 'Q\0\010\0\0\0op\0ping\0' >"$TMP/ping"
timeout 30 "$COVE" connect s 1024 <"$TMP/ping" >"$TMP/pong" 2>"$TMP/err" || fail "connect ping: $(cat "$TMP/err")"
[ "$(head -c 1 "$TMP/pong")" = X ] || fail "no exit frame: $(od -c "$TMP/pong")"
timeout 30 "$COVE" connect --vsock "$COVE_HOME/vms/s/run/vsock.sock" 1024 <"$TMP/ping" \
    >"$TMP/pong2" 2>"$TMP/err" || fail "connect --vsock: $(cat "$TMP/err")"
cmp -s "$TMP/pong" "$TMP/pong2" || fail "connect --vsock: another answer"
echo "ok: connect: port 22 refused (125, one line); port 1024 carries a ping and its answer"

# cove ssh execs ssh with these arguments (a stand-in ssh prints them) ...
mkdir "$TMP/bin"
printf '#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done\n' >"$TMP/bin/ssh"
chmod +x "$TMP/bin/ssh"
PATH=$TMP/bin:$PATH "$COVE" ssh s -i "$TMP/key" -- echo "two words" >"$TMP/args" 2>"$TMP/err" ||
    fail "cove ssh (stand-in): $(cat "$TMP/err")"
printf '%s\n' -o "ProxyCommand='$COVE' connect --wait 120 's' 22" \
    -o "UserKnownHostsFile=\"$COVE_HOME/vms/s/ssh_known_hosts\"" \
    -o StrictHostKeyChecking=accept-new -o HostKeyAlias=cove-s -l tester -i "$TMP/key" \
    -- cove-s echo "two words" >"$TMP/want"
diff "$TMP/want" "$TMP/args" >&2 || fail "cove ssh: ssh's arguments differ"
PATH=$TMP/bin:$PATH "$COVE" ssh s -l alice >"$TMP/args" || fail "cove ssh -l"
grep -qx alice "$TMP/args" && ! grep -qx tester "$TMP/args" || fail "cove ssh -l: not alice"
echo "ok: cove ssh gives ssh our ProxyCommand, known-hosts file, alias, user, key, command"
# ... and the real ssh runs that ProxyCommand, which reaches the guest's port 22
if command -v ssh >/dev/null; then
    timeout 60 "$COVE" ssh s --wait 1 -- id </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 255 ] || fail "ssh with nothing on port 22: exit $rc: $(cat "$TMP/err")"
    expect_in "$TMP/err" "^cove: nothing listens on the guest's vsock port 22"
    echo "ok: ssh runs cove connect as its ProxyCommand"
fi

cove pause s || fail "pause"
expect_rc 1 ssh s -- id
one_line "^cove: VM 's' is paused; resume it with \`cove resume s\`$"
cove resume s || fail "resume"
echo "ok: a paused VM: one line"

cove stop s --timeout 60 >/dev/null || fail "stop"
wait $runner
runner=""
echo "ok: ssh-connect"
