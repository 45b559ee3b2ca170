#!/bin/bash
# The web console: `cove console NAME --web` on the default guest with a stored display
# (cove create --display vnc). fb-pattern (tests/guest/fb-pattern.c) draws its known pattern;
# headless Chromium opens noVNC (Debian's novnc) from the printed URL's server and its
# screenshot shows the pattern pixel for pixel (tests/tools/screen-pattern.py, over Chromium's DevTools); the serial
# console page's WebSocket carries the console; a wrong or missing token gets 403 and no
# page; a WebSocket of a wrong origin is refused; the server ends when the VM stops; the
# guest's clipboard (a stand-in cove-clipboard) reaches noVNC as UTF-8 (extended clipboard).
. "$(dirname "$0")/lib.sh"
need_guest
NOVNC=${COVE_NOVNC:-/usr/share/novnc}
[ -f "$NOVNC/vnc.html" ] || { echo "skip: no noVNC in $NOVNC (apt-get install novnc)"; exit 77; }
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
    { echo "skip: no chromium (apt-get install chromium)"; exit 77; }
export COVE_HOME=$TMP/home COVE_GUEST_DIR
SHOT=$(dirname "$0")/../tools/screen-pattern.py
runner="" web=""
trap '[ -n "$web" ] && kill $web 2>/dev/null; [ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
gx() { timeout 60 "$COVE" exec wc -- "$@"; }

"$COVE" create wc --memory 256M --display vnc >/dev/null || fail "create --display vnc"
"$COVE" get wc | grep -qE '^display: +vnc, run/vnc.sock when it runs$' || fail "cove get: no stored display"
"$COVE" get wc --format json | python3 -c "import json, sys
d = json.load(sys.stdin)['display']
assert d == {'type': 'vnc', 'socket': None, 'port': None}, d" || fail "cove get --format json: the stored display"
"$COVE" console wc 2>&1 | grep -q 'add --web' || fail "console without --web"
"$COVE" console wc --web --port 0 2>&1 | grep -q "give a TCP port" || fail "console --port 0"
out=$("$COVE" console wc --web 2>&1) && fail "console of a stopped VM: exit 0"
echo "$out" | grep -q "is not running" || fail "console of a stopped VM: $out"

start_vm wc # no --display: the stored one
SOCK=$COVE_HOME/vms/wc/run/vnc.sock
[ -S "$SOCK" ] || fail "the stored display was not served: no $SOCK"
echo "ok: cove run serves the display stored by cove create --display vnc"

"$COVE" console wc --web >"$TMP/url" 2>"$TMP/web.err" &
web=$!
wait_for "$TMP/url" '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$' $web
URL=$(cat "$TMP/url")
BASE=${URL%%/\?*} TOKEN=${URL##*token=}
echo "ok: cove console --web prints $BASE/?token=..."

# --- the token ---------------------------------------------------------------------------
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
[ "$(code "$BASE/vnc.html")" = 403 ] || fail "no token: not 403"
[ "$(code "$BASE/vnc.html?token=00000000000000000000000000000000")" = 403 ] || fail "wrong token: not 403"
grep -q noVNC "$TMP/body" && fail "a wrong token got noVNC's page"
# the token with its last digit changed (a fixed "0" would be the token itself one time in 16)
case $TOKEN in *0) BAD=${TOKEN%?}1 ;; *) BAD=${TOKEN%?}0 ;; esac
[ "$(code -H "Cookie: cove_token=$BAD" "$BASE/app/ui.js")" = 403 ] || fail "wrong cookie: not 403"
[ "$(code "$BASE/?token=$TOKEN")" = 302 ] || fail "the URL does not lead on to noVNC"
[ "$(code "$BASE/vnc.html?token=$TOKEN")" = 200 ] && grep -q noVNC "$TMP/body" || fail "noVNC's page with the token"
[ "$(code -H "Cookie: cove_token=$TOKEN" "$BASE/app/ui.js")" = 200 ] || fail "noVNC's files with the cookie"
[ "$(code -H "Cookie: cove_token=$TOKEN" "$BASE/../../etc/passwd")" != 200 ] || fail "a path out of noVNC's directory was served"
[ "$(code "$BASE/console?token=$TOKEN")" = 200 ] && grep -q "/console-ws?token=" "$TMP/body" ||
    fail "the serial console's page"
[ "$(code "$BASE/console")" = 403 ] || fail "the serial console's page without the token: not 403"
ws_hdr=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' --max-time 2)
[ "$(code "${ws_hdr[@]}" -H "Cookie: cove_token=$TOKEN" "$BASE/websockify")" = 403 ] ||
    fail "a WebSocket without the token in its URL was let in"
[ "$(code "${ws_hdr[@]}" -H 'Origin: http://127.0.0.1:1' "$BASE/websockify?token=$TOKEN")" = 403 ] ||
    fail "a WebSocket from another origin was let in"
echo "ok: a missing or wrong token gets 403, noVNC is served with the right one"

# --- the screen in Chromium ------------------------------------------------------------------
gx fb-pattern draw >"$TMP/draw" 2>&1 || { cat "$TMP/draw"; fail "fb-pattern draw"; }
read -r _ W H _ <"$TMP/draw"
# The guest's clipboard reaches noVNC, a client of the extended clipboard, as UTF-8 (a
# classic client would get '?' for the euro sign): a stand-in cove-clipboard (the default
# guest has no X; display.sh tests the rest of the path) holds the text.
printf '#!/bin/sh\ncase $1 in get) cat /tmp/clip ;; set) cat >/tmp/clip ;; *) exit 2 ;; esac\n' |
    timeout 60 "$COVE" exec -i wc -- sh -c 'cat >/usr/bin/cove-clipboard && chmod 755 /usr/bin/cove-clipboard' ||
    fail "could not install the stand-in cove-clipboard"
printf '\xe2\x82\xac 5 from the guest' | timeout 60 "$COVE" exec -i wc -- sh -c 'cat >/tmp/clip' ||
    fail "could not set the guest's clipboard"
# noVNC asks for Tight encoding with JPEG (quality 6): the gradient comes within a few levels
SCREEN_PATTERN_CLIPBOARD="€ 5 from the guest" SCREEN_PATTERN_TOLERANCE=12 "$SHOT" --browser "$CHROMIUM" \
    "$BASE/vnc.html?token=$TOKEN&autoconnect=true&resize=off&path=websockify%3Ftoken%3D$TOKEN" \
    "$W" "$H" "$TMP/shot.png" 60 >"$TMP/png" 2>&1 ||
    { cat "$TMP/png"; cp "$TMP/shot.png" /tmp/web-console-shot.png 2>/dev/null
      fail "Chromium's screenshot does not show the pattern (the last one: /tmp/web-console-shot.png)"; }
echo "ok: headless Chromium shows the guest's pattern through noVNC: $(head -n 1 "$TMP/png")"
expect_in "$TMP/png" '^clipboard ok$'
echo "ok: the guest's clipboard reaches noVNC as UTF-8 (the extended clipboard)"

# --- the serial console's WebSocket ----------------------------------------------------------
gx sh -c 'echo web-console-marker-42 >/dev/console' || fail "cannot write to the guest's console"
python3 - "$BASE" "$TOKEN" <<'PY' || fail "the console's WebSocket"
import base64, os, socket, sys, time
host, port = sys.argv[1][len("http://"):].split(":")
s = socket.create_connection((host, int(port)), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /console-ws?token={sys.argv[2]} HTTP/1.1\r\nHost: {host}:{port}\r\n"
           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
data, end = b"", time.time() + 10
while b"web-console-marker-42" not in data and time.time() < end:
    data += s.recv(65536)
assert data.startswith(b"HTTP/1.1 101 "), data[:80]
assert b"web-console-marker-42" in data, "no marker"
s.sendall(b"\x88\x82abcd" + bytes(a ^ b for a, b in zip(b"\x03\xe8", b"ab")))  # close, masked
PY
echo "ok: the serial console's WebSocket carries the guest's console"

# a second console at once, with its own token, until Ctrl-C (SIGINT)
"$COVE" console wc --web >"$TMP/url2" 2>/dev/null &
web2=$!
wait_for "$TMP/url2" '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$' $web2
URL2=$(cat "$TMP/url2")
[ "${URL2##*token=}" != "$TOKEN" ] || fail "two consoles got the same token"
[ "$(code "${URL2%%/\?*}/vnc.html?token=$TOKEN")" = 403 ] || fail "one console's token opens another"
kill -INT $web2
wait $web2 || fail "cove console --web exited non-zero on Ctrl-C"
curl -s --max-time 2 "$URL2" >/dev/null && fail "the console still serves after Ctrl-C"
echo "ok: a second console has its own token and stops on Ctrl-C"

"$COVE" stop wc >/dev/null || fail "stop"
wait $runner
runner=""
for _ in $(seq 50); do kill -0 $web 2>/dev/null || break; sleep 0.2; done
kill -0 $web 2>/dev/null && fail "cove console --web still serves after the VM stopped"
wait $web || { cat "$TMP/web.err"; fail "cove console --web exited non-zero"; }
web=""
"$COVE" set wc --display none >/dev/null || fail "set --display none"
"$COVE" get wc | grep -qE '^display: +none$' || fail "cove get after set --display none"
timeout 30 "$COVE" run wc --no-console --vnc-port 5999 </dev/null 2>"$TMP/err" &&
    fail "run --vnc-port of a VM without a display: exit 0"
grep -q 'a VNC port needs a display' "$TMP/err" || fail "run --vnc-port without a display: $(cat "$TMP/err")"
"$COVE" set wc --vnc-port 5999 2>"$TMP/err" && fail "set --vnc-port without a display: exit 0"
grep -q 'a VNC port needs a display' "$TMP/err" || fail "set --vnc-port without a display: $(cat "$TMP/err")"
"$COVE" set wc --display vnc --vnc-port 5999 >/dev/null || fail "set --display vnc --vnc-port"
"$COVE" get wc | grep -qE '^display: +vnc, run/vnc.sock and 127\.0\.0\.1:5999 when it runs$' ||
    fail "cove get after set --display vnc --vnc-port"
echo "ok: cove set --display/--vnc-port change the stored display, cove get shows it"
echo "ok: web-console"
