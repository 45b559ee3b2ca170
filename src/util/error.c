#include <cove/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A message is one line of text whatever it quotes (a value from a bundle's file, from the
 * guest): control characters (a newline, an escape sequence) are written as \xNN. */
static void escape_controls(char *msg, size_t size)
{
    char out[sizeof((struct cove_error *)0)->message];
    size_t o = 0;
    for (const char *p = msg; *p && o + 1 < sizeof out; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != 0x7f) {
            out[o++] = (char)c;
            continue;
        }
        if (o + 5 > sizeof out)
            break;
        o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

int cove_error_set(struct cove_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        if (strpbrk(err->message, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
                                  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e"
                                  "\x1f\x7f"))
            escape_controls(err->message, sizeof err->message);
        err->code = code;
    }
    return code;
}
