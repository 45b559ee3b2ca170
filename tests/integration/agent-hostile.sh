#!/bin/bash
# The host against a hostile guest agent: the default guest booted with
# cove.agent=hostile-agent runs tests/guest/hostile-agent.c on the agent's vsock port, and
# `cove exec VM -- hostile-mode MODE` picks its misbehaviour. Every host command must end
# within its deadline with one line on stderr (no escape sequence from the guest in it) and
# a distinct exit code, write only what was asked (permission bits under the umask, the
# size announced) and leave no file behind: unknown frames, a drip, silence (exec
# --exec-timeout, a second signal, ip, stop), a setuid file, a flood, an impossible exit
# value, output on a stream that does not exist, escape sequences, cp killed mid-copy;
# cp -r of a tree with a name "..", a name with '/', a link out, too many entries.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
DL=$TMP/dl
mkdir -p "$DL"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# within S RC ARGS...: cove ARGS ends within S seconds with exit RC and one clean line on
# stderr. A hang is caught by timeout(1), 30 s past S.
within() {
    local secs=$1 want=$2 t0 rc ms
    shift 2
    t0=$(now_ms)
    timeout -k 5 $((secs + 30)) "$COVE" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    ms=$(($(now_ms) - t0))
    [ $rc -eq "$want" ] || { cat "$TMP/err"; fail "cove $* ($mode): exit $rc, want $want"; }
    [ $ms -le $((secs * 1000)) ] || fail "cove $* ($mode): took $ms ms, more than $secs s"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat -v "$TMP/err"; fail "cove $* ($mode): not one line on stderr"; }
    if LC_ALL=C grep -q '[[:cntrl:]]' "$TMP/err"; then
        cat -v "$TMP/err"; fail "cove $* ($mode): a control byte from the guest on stderr"
    fi
    echo "ok: $mode: cove $* -> $rc in $ms ms: $(cat "$TMP/err")"
}

nothing_left() {
    [ -z "$(ls -A "$DL")" ] || { ls -la "$DL"; fail "$mode: files left behind: $(ls -A "$DL")"; }
}

set_mode() {
    mode=$1
    timeout 30 "$COVE" exec hv -- hostile-mode "$mode" || fail "cannot set the mode $mode"
}

"$COVE" create hv --memory 256M >/dev/null || fail "create"
"$COVE" run hv --no-console --append cove.agent=hostile-agent </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
up=""
for _ in $(seq 300); do
    if timeout 20 "$COVE" exec hv -- hostile-mode ok 2>/dev/null; then up=1; break; fi
    kill -0 $runner 2>/dev/null || break
    sleep 0.5
done
[ -n "$up" ] || { cat "$TMP/run.out" "$COVE_HOME/vms/hv/run/console.log"; fail "the hostile agent never answered"; }
mode=ok
[ "$("$COVE" ip hv)" = 10.0.2.15 ] || fail "the hostile agent in mode ok: no address"
"$COVE" cp hv:/x "$DL/ok" && [ "$(cat "$DL/ok")" = hello ] || fail "a well-behaved get"
rm -f "$DL/ok"
echo "ok: the hostile agent answers, well in mode ok"

# --- unknown frames: a protocol error at once -------------------------------------------------
set_mode unknown
within 5 123 exec hv -- true
grep -q "broke the protocol" "$TMP/err" || fail "unknown: $(cat "$TMP/err")"
within 5 123 ip hv
within 5 123 cp hv:/x "$DL/x"
nothing_left

# --- a byte every 2 s: the frame (exec, cp) or the whole answer (ip) has a deadline ------------
set_mode drip
within 15 124 exec hv -- true
grep -q "did not finish it within" "$TMP/err" || fail "drip: $(cat "$TMP/err")"
within 15 124 ip hv
within 15 124 cp hv:/x "$DL/x"
nothing_left

# --- silence: exec waits for ever unless told; a second signal ends it here --------------------
set_mode silent
within 5 124 exec hv --exec-timeout 2 -- true
t0=$(now_ms)
"$COVE" exec hv -- sleep 100 </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
(sleep 30; kill -9 $pid 2>/dev/null) &
guard=$!
sleep 1
kill -INT $pid
sleep 0.5
kill -0 $pid 2>/dev/null || fail "the first SIGINT ended cove exec (it should only be forwarded)"
kill -INT $pid
wait $pid
rc=$?
ms=$(($(now_ms) - t0))
kill $guard 2>/dev/null
[ $rc -eq 130 ] && [ $ms -lt 5000 ] || fail "a second SIGINT: exit $rc after $ms ms, want 130 at once"
grep -q "second signal" "$TMP/err" || fail "a second SIGINT: $(cat "$TMP/err")"
echo "ok: silent: a second SIGINT ends cove exec (130) in $ms ms"
within 15 124 ip hv

# --- get: permission bits under the umask, the announced size, the exit value -----------------
set_mode setuid
(umask 027 && "$COVE" cp hv:/x "$DL/suid") || fail "setuid: the copy failed"
[ "$(stat -c %a "$DL/suid")" = 750 ] || fail "setuid: mode $(stat -c %a "$DL/suid"), want 750"
[ "$(stat -c %s "$DL/suid")" = 5 ] || fail "setuid: size $(stat -c %s "$DL/suid")"
echo "ok: setuid: mode 6777 from the guest lands as 750 under umask 027"
rm -f "$DL/suid"
set_mode flood
within 5 123 cp hv:/x "$DL/x"
grep -q "more data than" "$TMP/err" || fail "flood: $(cat "$TMP/err")"
nothing_left
set_mode exit-high
within 5 123 cp hv:/x "$DL/x"
nothing_left
within 5 123 exec hv -- true

# --- exec: output on stream 7; escape sequences in an error ------------------------------------
set_mode stream
within 5 123 exec hv -- true
[ ! -s "$TMP/out" ] || fail "stream 7 reached stdout: $(cat "$TMP/out")"
set_mode escape
within 5 126 exec hv -- true
grep -qF 'x1b]0;pwned' "$TMP/err" || fail "escape: the text is not shown escaped: $(cat -v "$TMP/err")"
within 5 1 cp hv:/x "$DL/x"
within 5 1 ip hv
nothing_left

# --- cp -r: names and links that would leave the tree, too many entries ------------------------
for m in tree-dotdot tree-slash tree-abslink tree-many; do
    set_mode $m
    within 120 123 cp -r hv:/x "$DL/t"
    grep -q "broke the protocol" "$TMP/err" || fail "$m: $(cat "$TMP/err")"
    nothing_left
done

# --- cp killed mid-copy: the temporary file goes too --------------------------------------------
set_mode slow
# (the file being written is unnamed, O_TMPFILE, in $DL: /proc shows it as "$DL/#N")
copying() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q -- "$DL/#"; }
for sig in TERM INT KILL; do
    "$COVE" cp hv:/x "$DL/slow" </dev/null 2>"$TMP/err" &
    pid=$!
    for _ in $(seq 50); do copying $pid && break; sleep 0.1; done
    copying $pid || fail "slow: cp is not writing into $DL"
    kill -$sig $pid
    wait $pid
    rc=$?
    want=$((128 + $(kill -l $sig)))
    [ $rc -eq $want ] || fail "cp killed by SIG$sig: exit $rc, want $want"
    nothing_left
    echo "ok: cp killed by SIG$sig: exit $rc, nothing left ($(cat "$TMP/err"))"
done

# --- stop: the agent dribbles; the console's SysRq still powers the guest off ----------------------
set_mode drip
t0=$(now_ms)
timeout -k 5 60 "$COVE" stop hv --timeout 5 || fail "stop with a dripping agent failed"
ms=$(($(now_ms) - t0))
[ $ms -lt 20000 ] || fail "stop with a dripping agent took $ms ms"
wait $runner
runner=""
echo "ok: stop with a dripping agent in $ms ms"
echo "agent-hostile: all passed"
