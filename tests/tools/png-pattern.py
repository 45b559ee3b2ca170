#!/usr/bin/env python3
"""png-pattern.py PNG W H: checks that the screenshot PNG shows fb-pattern's W x H test
pattern (tests/guest/fb-pattern.c) somewhere, pixel for pixel (unscaled). A small PNG
decoder (8-bit RGB/RGBA, not interlaced: what Chromium writes) on python3's zlib.
Prints "pattern ok WxH at X,Y" and exits 0, or one line on stderr and exits 1."""
import struct
import sys
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


def main():
    path, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
        sys.exit(print(f"png-pattern: no red quadrant in the {w}x{h} screenshot", file=sys.stderr) or 1)
    ox, oy = origin
    if ox + W > w or oy + H > h:
        sys.exit(print(f"png-pattern: the pattern at {ox},{oy} does not fit the {w}x{h} screenshot",
                       file=sys.stderr) or 1)
    bad = 0
    # every 7th pixel of every 5th row (all four quadrants and the gradient's bits)
    for y in range(0, H, 5):
        for x in range(0, W, 7):
            if px(ox + x, oy + y) != pattern(x, y, W, H):
                if bad < 3:
                    print(f"png-pattern: at {x},{y}: {px(ox + x, oy + y)}, want {pattern(x, y, W, H)}",
                          file=sys.stderr)
                bad += 1
    if bad:
        sys.exit(print(f"png-pattern: {bad} pixels differ", file=sys.stderr) or 1)
    print(f"pattern ok {W}x{H} at {ox},{oy}")


if __name__ == "__main__":
    main()
