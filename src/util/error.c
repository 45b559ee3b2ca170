#include <cove/error.h>

#include <stdarg.h>
#include <stdio.h>

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
        escape_controls(err->message, sizeof err->message);
        err->code = code;
    }
    return code;
}
