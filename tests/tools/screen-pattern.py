#!/usr/bin/env python3
"""screen-pattern.py PNG W H
   screen-pattern.py --browser CHROMIUM URL W H PNG [SECONDS]

Checks that a screenshot shows fb-pattern's W x H test pattern (tests/guest/fb-pattern.c)
somewhere, pixel for pixel (unscaled): of the file PNG, or (--browser) of URL in headless
Chromium, driven over its DevTools protocol: a screenshot every second, in real time, until
one shows the pattern or SECONDS (40) pass; the last one is left in PNG. A small PNG
decoder (8-bit RGB/RGBA, not interlaced: what Chromium writes) on python3's zlib, and a
small WebSocket client: nothing beyond python3.
SCREEN_PATTERN_TOLERANCE=N lets each colour channel differ by N (a lossy encoding: noVNC
asks for Tight with JPEG). Prints "pattern ok WxH at X,Y" and exits 0, or lines on stderr and exits 1.
SCREEN_PATTERN_CLIPBOARD=TEXT (--browser): then also waits (30 s) until noVNC's clipboard
(its text area, which its clipboard events fill) holds TEXT; prints "clipboard ok"."""
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError(f"unsupported PNG: depth {depth}, color type {ctype}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def pattern(x, y, w, h):
    right, bottom = x >= w // 2, y >= h // 2
    if not right and not bottom:
        return (255, 0, 0)
    if right and not bottom:
        return (0, 255, 0)
    if not right and bottom:
        return (0, 0, 255)
    return (x & 255, y & 255, (x ^ y) & 255)


TOLERANCE = int(os.environ.get("SCREEN_PATTERN_TOLERANCE", "0"))


def close(got, want):
    return all(abs(g - w) <= TOLERANCE for g, w in zip(got, want))


def check(path, W, H):
    """None when the PNG shows the pattern (printed), else why not."""
    w, h, bpp, rows = decode(path)
    px = lambda x, y: tuple(rows[y][x * bpp:x * bpp + 3])
    # the pattern's origin: the first pure red pixel, row by row, whose right neighbours
    # stay red (the top left quadrant)
    origin = None
    for y in range(h):
        for x in range(w - 8):
            if px(x, y) == (255, 0, 0) and all(px(x + i, y) == (255, 0, 0) for i in range(8)):
                origin = (x, y)
                break
        if origin:
            break
    if not origin:
        return f"no red quadrant in the {w}x{h} screenshot"
    ox, oy = origin
    if ox + W > w or oy + H > h:
        return f"the pattern at {ox},{oy} does not fit the {w}x{h} screenshot"
    bad, first = 0, ""
    # every 7th pixel of every 5th row (all four quadrants and the gradient's bits)
    for y in range(0, H, 5):
        for x in range(0, W, 7):
            if not close(px(ox + x, oy + y), pattern(x, y, W, H)):
                if not bad:
                    first = f" (at {x},{y}: {px(ox + x, oy + y)}, want {pattern(x, y, W, H)})"
                bad += 1
    if bad:
        return f"{bad} pixels differ{first}"
    print(f"pattern ok {W}x{H} at {ox},{oy}" + (f" (within {TOLERANCE})" if TOLERANCE else ""))
    return None


class DevTools:
    """One page's DevTools WebSocket: masked client frames, unfragmented server frames."""

    def __init__(self, ws_url):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        self.s = socket.create_connection((m.group(1), int(m.group(2))), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\n"
                        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode(errors="replace"))
        self.next_id = 0

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise RuntimeError("DevTools closed")
            b += c
        return b

    def call(self, method, **params):
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0xfe]) + struct.pack(">H", n)
                                  if n < 65536 else bytes([0xff]) + struct.pack(">Q", n))
        self.s.sendall(head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(data)))
        while True:
            b0, b1 = self._recv(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack(">H", self._recv(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv(8))[0]
            msg = json.loads(self._recv(n))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]


def browser(chromium, url, W, H, out, seconds):
    # (Chromium's helper processes may still be writing the profile as it goes: its
    # removal must not fail the check)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        p = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                              "--hide-scrollbars", "--remote-debugging-port=0",
                              f"--user-data-dir={profile}", f"--window-size={W + 200},{H + 200}",
                              "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            port = None
            for line in p.stderr:
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
                    break
            if not port:
                return "Chromium did not start its DevTools"
            req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
            target = json.load(urllib.request.urlopen(req, timeout=30))
            page = DevTools(target["webSocketDebuggerUrl"])
            page.call("Page.enable")
            page.call("Page.navigate", url=url)
            why, end = "no screenshot", time.time() + seconds
            while time.time() < end:
                time.sleep(1)
                shot = page.call("Page.captureScreenshot", format="png")
                with open(out, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                why = check(out, W, H)
                if why is None:
                    break
            if why is not None:
                return why
            want = os.environ.get("SCREEN_PATTERN_CLIPBOARD")
            if want is None:
                return None
            got, end = None, time.time() + 30
            while time.time() < end:
                r = page.call("Runtime.evaluate", returnByValue=True,
                              expression="document.getElementById('noVNC_clipboard_text').value")
                got = r["result"].get("value")
                if got == want:
                    print("clipboard ok")
                    return None
                time.sleep(0.5)
            return f"noVNC's clipboard holds {got!r}, not {want!r}"
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the browser and its helper processes
            except ProcessLookupError:
                pass
            p.wait()


def main():
    if sys.argv[1] == "--browser":
        chromium, url, W, H, out = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        why = browser(chromium, url, W, H, out, float(sys.argv[7]) if len(sys.argv) > 7 else 40)
    else:
        why = check(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    if why:
        sys.exit(print(f"screen-pattern: {why}", file=sys.stderr) or 1)


if __name__ == "__main__":
    main()
