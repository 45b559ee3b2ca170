/*
 * Latin-1 <-> UTF-8 for RFB's cut text (latin1.h). The decoder is strict (RFC 3629): the
 * shortest form only, no surrogates, nothing past U+10FFFF.
 */
#include <stdint.h>

#include "display/latin1.h"

/* The sequence at p (n bytes left): its length, with its code point in *cp; 0 when the
 * first byte does not begin a well-formed sequence. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0)
        len = 2, v = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, v = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

size_t latin1_to_utf8(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)in[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xc0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    return o;
}

size_t utf8_to_latin1(const char *in, size_t n, char *out)
{
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        if (!len) {
            out[o++] = '?';
            i++;
            continue;
        }
        out[o++] = cp <= 0xff ? (char)cp : '?';
        i += len;
    }
    return o;
}

size_t utf8_sanitize(const char *in, size_t n, char *out)
{
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        if (!len) {
            out[o++] = (char)0xef, out[o++] = (char)0xbf, out[o++] = (char)0xbd;
            i++;
            continue;
        }
        for (size_t k = 0; k < len; k++)
            out[o++] = in[i + k];
        i += len;
    }
    return o;
}
