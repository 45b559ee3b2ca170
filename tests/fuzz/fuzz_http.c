/* The control socket's HTTP parser (src/vm/http.c) as the server runs it: bytes arrive in
 * pieces and http_parse sees each longer prefix until it decides. The input is one byte of
 * settings (request or response; a seed for the piece sizes) then the message. Whatever
 * the bytes, the parser must stay inside its buffer, and a message it accepts must be
 * consistent: the body inside the buffer, as long as announced, NUL-terminated. */
#include <errno.h>
#include <stdlib.h>

#include "fuzz.h"
#include "vm/http.h"

static struct http_message msg;

static void check_accepted(size_t got)
{
    const char *buf = msg.buf;
    if (msg.body < buf || msg.body > buf + got || msg.body_len > (size_t)(buf + got - msg.body))
        __builtin_trap();
    if (msg.body[msg.body_len] != 0 || strlen(msg.body) != msg.body_len)
        __builtin_trap();
    if (strnlen(msg.method, sizeof msg.method) == sizeof msg.method ||
        strnlen(msg.path, sizeof msg.path) == sizeof msg.path)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    int is_request = !(cfg & 1);
    unsigned seed = cfg >> 1;
    size_t len = in.left < HTTP_MAX_MESSAGE ? in.left : HTTP_MAX_MESSAGE;

    http_message_reset(&msg);
    size_t got = 0;
    int rc = 0;
    while (got < len && rc == 0) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 64;
        if (piece > len - got)
            piece = len - got;
        memcpy(msg.buf + got, in.p + got, piece);
        got += piece;
        rc = http_parse(&msg, got, is_request);
    }
    if (rc > 1 || (rc < 0 && rc != -EBADMSG && rc != -EMSGSIZE))
        __builtin_trap();
    if (rc == 1)
        check_accepted(got);
    /* The same bytes in one piece decide the same way. */
    if (rc != 0) {
        static struct http_message whole;
        http_message_reset(&whole);
        memcpy(whole.buf, in.p, got);
        int again = http_parse(&whole, got, is_request);
        if (again != rc || (rc == 1 && whole.body_len != msg.body_len))
            __builtin_trap();
    }
    return 0;
}
