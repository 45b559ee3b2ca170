#!/bin/bash
# The display: `cove run NAME --display vnc --vnc-port PORT` on the default guest.
# fb-pattern (tests/guest/fb-pattern.c) draws a known pattern on /dev/fb0 (virtio-gpu
# through the kernel's fbdev emulation); a real VNC client (tests/tools/vnc-check on
# libvncclient) reads the screen over the Unix socket run/vnc.sock and every pixel matches;
# keys and pointer moves sent through VNC arrive in the guest's evdev devices in order, the
# relative mouse is there (its own slot: the balloon keeps its) and gets none of them; the
# TCP port takes the password from the bundle's vnc-password and refuses a wrong one; a
# client sending garbage, or going away mid-handshake, leaves the server serving; a resize
# request (ExtendedDesktopSize) reaches the guest as a display change; virtio-attack gpu
# (a hostile driver in the guest) gets the virtio-gpu error responses and NEEDS_RESET; cove get shows the
# socket and the port while the VM runs, and no display once it stopped.
. "$(dirname "$0")/lib.sh"
need_guest
export COVE_HOME=$TMP/home COVE_GUEST_DIR
VNC_CHECK=$(dirname "$COVE")/tests/tools/vnc-check
[ -x "$VNC_CHECK" ] || fail "no $VNC_CHECK (ninja -C build)"
runner=""
trap '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$TMP"' EXIT
gx() { timeout 60 "$COVE" exec dv -- "$@"; }

run_refused 'needs --vnc-socket PATH' --display vnc
run_refused "'vnx': use vnc or none" --display vnx
run_refused 'needs a VM name' --display vnc --vnc-socket "$TMP/s" --vnc-port 5999

# --- a hostile guest driver (tests/guest/virtio-attack.c): an ephemeral VM, its socket given
timeout 300 "$COVE" run --memory 256M --kernel "$KERNEL" --initrd "$INITRD" --display vnc \
    --vnc-socket "$TMP/eph.sock" \
    --append 'quiet cove.exec="virtio-attack gpu && ls /sys/bus/virtio/drivers/virtio_gpu | grep -c virtio && fb-pattern mode"' \
    </dev/null 2>&1 | tr -d '\r' >"$TMP/attack" || { tail -n 30 "$TMP/attack"; fail "cove run (attack) failed"; }
grep FAIL "$TMP/attack" && fail "a virtio-gpu attack case failed"
expect_in "$TMP/attack" '^virtio-attack: [1-9][0-9]* passed, 0 failed$'
expect_in "$TMP/attack" '^virtio-attack: gpu: scanout of a freed resource: ok'
expect_in "$TMP/attack" '^mode 1024 768 32 4096$' # the kernel's driver took the device back
[ ! -e "$TMP/eph.sock" ] || fail "the ephemeral VM's VNC socket is left behind"
echo "ok: virtio-attack gpu: $(grep -c ': ok' "$TMP/attack") cases answered right; the kernel takes the device back"

"$COVE" create dv --memory 256M >/dev/null || fail "create"
port=$(free_port)
"$COVE" run dv --no-console --display vnc --vnc-port "$port" </dev/null >"$TMP/run.out" 2>&1 &
runner=$!
for _ in $(seq 240); do
    gx true 2>/dev/null && break
    kill -0 $runner 2>/dev/null || { cat "$TMP/run.out"; fail "cove run exited"; }
    sleep 0.5
done
gx true || fail "the agent never answered"
SOCK=$COVE_HOME/vms/dv/run/vnc.sock
[ -S "$SOCK" ] || fail "no VNC socket at $SOCK"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "the VNC socket is mode $(stat -c %a "$SOCK"), not 600"

# --- cove get shows where the screen is ---------------------------------------------------
"$COVE" get dv >"$TMP/get" || fail "get"
expect_in "$TMP/get" "^display: +vnc, $SOCK, 127\.0\.0\.1:$port \(password in vnc-password\)\$"
"$COVE" get dv --format json | python3 -c "import json, sys
d = json.load(sys.stdin)['display']
assert d == {'type': 'vnc', 'socket': sys.argv[1], 'port': int(sys.argv[2])}, d" "$SOCK" "$port" ||
    fail "cove get --format json has no display"
echo "ok: cove get shows the VNC socket and port"

# --- the screen -----------------------------------------------------------------------------
gx fb-pattern draw >"$TMP/draw" 2>&1 || { cat "$TMP/draw"; fail "fb-pattern draw"; }
read -r _ W H BPP _ <"$TMP/draw"
echo "ok: the guest's framebuffer is ${W}x${H}, $BPP bits per pixel"
"$VNC_CHECK" "$SOCK" pattern >"$TMP/check" 2>&1 || { cat "$TMP/check"; fail "the pattern over VNC"; }
expect_in "$TMP/check" "^pattern ok ${W}x${H}\$"
echo "ok: every pixel of the pattern arrives over the Unix socket"

# --- keys and pointer -----------------------------------------------------------------------
timeout 60 "$COVE" exec dv -- fb-pattern events 8 30 >"$TMP/ev" 2>&1 &
evpid=$!
wait_for "$TMP/ev" '^ready$' $evpid
# a, Return: press and release each; the pointer to (100,200) with the left button, then up
"$VNC_CHECK" "$SOCK" key a key 0xff0d pointer 100 200 1 pointer 100 200 0 sleep 300 ||
    fail "vnc-check could not send the events"
wait $evpid || { cat "$TMP/ev"; fail "fb-pattern did not get 8 events"; }
kbd=$(awk '$1 == "device" && /cove keyboard/ {print $2}' "$TMP/ev")
tab=$(awk '$1 == "device" && /cove tablet/ {print $2}' "$TMP/ev")
[ -n "$kbd" ] && [ -n "$tab" ] || { cat "$TMP/ev"; fail "no cove keyboard or tablet in the guest"; }
ax=$((100 * 32767 / (W - 1))) ay=$((200 * 32767 / (H - 1)))
got_k=$(awk -v d="$kbd" '$1 == d {printf "%s %s %s;", $2, $3, $4}' "$TMP/ev")
got_t=$(awk -v d="$tab" '$1 == d {printf "%s %s %s;", $2, $3, $4}' "$TMP/ev")
[ "$got_k" = "1 30 1;1 30 0;1 28 1;1 28 0;" ] || { cat "$TMP/ev"; fail "keyboard events: $got_k"; }
[ "$got_t" = "3 0 $ax;3 1 $ay;1 272 1;1 272 0;" ] || { cat "$TMP/ev"; fail "tablet events: $got_t"; }
echo "ok: keys (a, Return) and the pointer (move, click) arrive in the guest's evdev in order"
# the relative mouse: there (a slot is left), REL_X, REL_Y and the wheel, and nothing from VNC
mouse=$(awk '$1 == "device" && /cove mouse/ {print $2}' "$TMP/ev")
[ -n "$mouse" ] || { cat "$TMP/ev"; fail "no cove mouse in the guest"; }
[ -z "$(awk -v d="$mouse" '$1 == d' "$TMP/ev")" ] || { cat "$TMP/ev"; fail "the mouse got VNC's absolute pointer"; }
rel=$(gx cat "/sys/class/input/$mouse/device/capabilities/rel")
[ "$rel" = 103 ] || fail "the mouse's relative axes are $rel, not 103 (REL_X, REL_Y, REL_WHEEL)"
key=$(gx cat "/sys/class/input/$mouse/device/capabilities/key")
[ "$key" = "70000 0 0 0 0" ] || fail "the mouse's buttons are $key, not left, right, middle"
nb=$(gx sh -c 'ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio')
[ "$nb" = 1 ] || fail "the mouse took the balloon's slot (balloons: $nb)"
echo "ok: the relative mouse is there (REL_X, REL_Y, wheel, 3 buttons, its own slot) and VNC's pointer goes to the tablet only"

# --- cove clipboard: the default guest has no X, so no clipboard, and says so --------------
if "$COVE" clipboard dv get >"$TMP/clip" 2>&1; then fail "cove clipboard get on a VM without X succeeded"; fi
expect_in "$TMP/clip" "^cove: VM 'dv' has no clipboard: only an image with a desktop has one"
echo "ok: cove clipboard on a VM without a desktop: $(cat "$TMP/clip")"
# The host side of the clipboard end to end: cove clipboard and a VNC client's cut text
# reach the guest's `cove-clipboard` through the agent. The default guest has no X, so a
# stand-in keeps the text in a file (the desktop image's is xclip: images/desktop/setup.sh).
# Each `get` leaves a line in /tmp/gets (the VNC server's reads of the guest's clipboard).
printf '#!/bin/sh\ncase $1 in get) echo >>/tmp/gets; cat /tmp/clip ;; set) cat >/tmp/clip ;; *) exit 2 ;; esac\n' |
    timeout 60 "$COVE" exec -i dv -- sh -c 'cat >/usr/bin/cove-clipboard && chmod 755 /usr/bin/cove-clipboard' ||
    fail "could not install the stand-in cove-clipboard"
printf 'caf\xc3\xa9 from the host' | "$COVE" clipboard dv set || fail "cove clipboard set"
[ "$("$COVE" clipboard dv get)" = "café from the host" ] || fail "cove clipboard get: $("$COVE" clipboard dv get)"
head -c 1048577 /dev/zero | tr '\0' x | "$COVE" clipboard dv set 2>"$TMP/big" && fail "1 MiB + 1 was taken"
expect_in "$TMP/big" "over 1048576 bytes"
[ "$("$COVE" clipboard dv get)" = "café from the host" ] || fail "a refused text changed the clipboard"
"$VNC_CHECK" "$SOCK" cut "$(printf 'na\xefve from VNC')" sleep 200 || fail "vnc-check cut"
for _ in $(seq 60); do
    [ "$(gx cat /tmp/clip)" = "naïve from VNC" ] && break
    sleep 0.5
done
[ "$(gx cat /tmp/clip)" = "naïve from VNC" ] || fail "a VNC client's cut text did not reach the guest: $(gx cat /tmp/clip)"
echo "ok: cove clipboard set/get and a VNC client's cut text (Latin-1, as UTF-8) reach the guest's cove-clipboard"
# The other way: while a client is connected, the guest's clipboard is read (every second)
# and sent to it (ServerCutText, Latin-1: a character past U+00FF becomes '?'); a client
# gets the current text when it connects; with no client nothing reads it.
gets() { gx sh -c 'cat /tmp/gets 2>/dev/null | wc -l'; }
sleep 2; g0=$(gets); sleep 3; g1=$(gets) # (after a read the last client may have begun)
[ "$g0" = "$g1" ] || fail "the guest's clipboard was read with no VNC client connected ($g0 -> $g1 reads)"
VNC_CHECK_CUT_WAIT=60 "$VNC_CHECK" "$SOCK" servercut "$(printf 'na\xefve from VNC')" \
    servercut "$(printf 'gr\xfc\xdfe ? from the guest')" >"$TMP/scut" 2>&1 &
cutpid=$!
wait_for "$TMP/scut" '^servercut ok$' $cutpid
printf 'gr\xc3\xbc\xc3\x9fe \xe2\x82\xac from the guest' | timeout 60 "$COVE" exec -i dv -- sh -c 'cat >/tmp/clip' ||
    fail "could not change the guest's clipboard"
wait $cutpid || { cat "$TMP/scut"; fail "the guest's clipboard did not reach the VNC client"; }
[ "$(grep -c '^servercut ok$' "$TMP/scut")" = 2 ] || { cat "$TMP/scut"; fail "servercut"; }
[ "$(gets)" -gt "$g1" ] || fail "no read of the guest's clipboard while a client was connected"
echo "ok: the guest's clipboard reaches a VNC client (on connecting, then its change; UTF-8 as Latin-1), read only while a client is connected"

# --- the TCP port and its password --------------------------------------------------------
PW_FILE=$COVE_HOME/vms/dv/vnc-password
[ -f "$PW_FILE" ] && [ "$(stat -c %a "$PW_FILE")" = 600 ] || fail "no vnc-password of mode 600"
"$VNC_CHECK" "127.0.0.1:$port" -p "$(cat "$PW_FILE")" pattern >"$TMP/tcp" 2>&1 ||
    { cat "$TMP/tcp"; fail "the pattern over TCP with the password"; }
expect_in "$TMP/tcp" "^pattern ok ${W}x${H}\$"
if "$VNC_CHECK" "127.0.0.1:$port" -p wrong-pw size "$W" "$H" >"$TMP/bad" 2>&1; then
    fail "a wrong password was let in"
fi
echo "ok: 127.0.0.1:$port serves the screen with the password, refuses a wrong one"

# --- hostile clients ------------------------------------------------------------------------
python3 - "$SOCK" "$port" <<'EOF' || fail "the garbage clients could not connect"
import os, socket, sys
for i in range(3):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.recv(12)
    s.sendall(b"RFB 003.008\n" + os.urandom(4096) if i else os.urandom(64))
    s.close()
t = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
t.recv(12)
t.sendall(b"RFB 003.008\n\x02" + os.urandom(7))  # VNC auth, half a response
t.close()
EOF
kill -0 $runner || fail "cove died of garbage clients"
"$VNC_CHECK" "$SOCK" pattern >/dev/null 2>&1 || fail "the server stopped serving after garbage"
echo "ok: garbage and clients that leave mid-handshake leave the server serving"

# --- resize -------------------------------------------------------------------------------------
"$VNC_CHECK" "$SOCK" resize 800 600 size 800 600 >"$TMP/resize" 2>&1 ||
    { cat "$TMP/resize"; fail "resize to 800x600"; }
mode=$(gx sh -c 'head -n 1 /sys/class/drm/card0-*/modes')
[ "$mode" = 800x600 ] || fail "the guest's preferred mode is $mode after the resize, not 800x600"
echo "ok: a client's resize request changes the guest's mode to 800x600 and the screen follows"

"$COVE" stop dv >/dev/null || fail "stop"
wait $runner
rc=$?
runner=""
[ $rc -eq 0 ] || { cat "$TMP/run.out"; fail "cove run exited $rc"; }
[ ! -e "$SOCK" ] || fail "the VNC socket is left behind"
"$COVE" get dv | grep -qE '^display: +none$' || fail "cove get of a stopped VM without a stored display does not say none"
echo "ok: display"
