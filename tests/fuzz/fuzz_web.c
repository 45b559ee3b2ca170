/* The web console's input side (`cove console --web`): the request as the server parses and
 * routes it (src/vm/http.c, src/display/web_route.c), then WebSocket frames from the client
 * (src/display/ws.c). The input is a 2-byte length, that many bytes of HTTP request, and the
 * rest as the client's frames. Whatever the bytes: nothing is routed past the token without
 * the token in the request, a file path stays inside noVNC's directory (no '/' first, no
 * empty component, none starting with '.'), header values are bounded and one line, and the
 * frame parser stays inside its input and its bounds. */
#include <errno.h>
#include <stdlib.h>

#include "display/web.h"
#include "display/ws.h"
#include "fuzz.h"

static const char token[] = "0123456789abcdef0123456789abcdef";
static struct http_message msg;

static void check_request(void)
{
    struct web_request r;
    web_route(&msg, token, &r);
    if (r.route < WEB_FORBIDDEN || r.route > WEB_WS_CONSOLE)
        __builtin_trap();
    if (r.route != WEB_FORBIDDEN && !strstr(msg.buf, token))
        __builtin_trap();
    if ((r.route == WEB_WS_VNC || r.route == WEB_WS_CONSOLE) && !strstr(msg.path, token))
        __builtin_trap();
    if (r.route == WEB_FILE) {
        const char *f = r.file;
        size_t n = strnlen(f, sizeof r.file);
        if (n == 0 || n == sizeof r.file || f[0] == '/' || f[0] == '.' || strstr(f, "//") ||
            strstr(f, "/.") || f[n - 1] == '/')
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", f[i]))
                __builtin_trap();
        web_content_type(f);
    }
    static const char *const names[] = {"Cookie", "Upgrade", "Connection", "Sec-WebSocket-Key",
                                        "Origin", "Sec-WebSocket-Protocol"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char v[64];
        int rc = http_header(&msg, names[i], v, sizeof v);
        if (rc == 0 && (strnlen(v, sizeof v) == sizeof v || strpbrk(v, "\r\n")))
            __builtin_trap();
        if (rc == 0 && !strcmp(names[i], "Sec-WebSocket-Key")) {
            char accept[WS_ACCEPT_LEN + 1];
            if (ws_accept_key(v, accept) == 0 && strlen(accept) != WS_ACCEPT_LEN)
                __builtin_trap();
        }
    }
}

static void check_frames(const uint8_t *p, size_t n)
{
    static uint8_t copy[1 << 16];
    struct ws_stream s = {0};
    while (n) {
        struct ws_frame f;
        int rc = ws_parse_header(p, n, 4096, &f);
        if (rc < 0 && rc != -EBADMSG && rc != -EMSGSIZE)
            __builtin_trap();
        if (rc <= 0)
            return;
        if (f.header_len < 6 || f.header_len > WS_MAX_HEADER || f.header_len > n || f.len > 4096 ||
            (f.opcode >= WS_OP_CLOSE && (f.len > 125 || !f.fin)) || !f.masked)
            __builtin_trap();
        if (f.len > n - f.header_len)
            return; /* the server waits for more */
        memcpy(copy, p + f.header_len, (size_t)f.len);
        ws_unmask(copy, (size_t)f.len, f.mask, 0);
        if (ws_stream_next(&s, &f) < 0)
            return;
        p += f.header_len + f.len;
        n -= f.header_len + (size_t)f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    size_t len = (size_t)fuzz_take(&in, 2);
    if (len > in.left)
        len = in.left;
    if (len > HTTP_MAX_MESSAGE)
        len = HTTP_MAX_MESSAGE;
    http_message_reset(&msg);
    memcpy(msg.buf, in.p, len);
    if (http_parse(&msg, len, 1) == 1)
        check_request();
    check_frames(in.p + len, in.left - len);
    /* the server's own frame headers round-trip through a client's view (masked) */
    uint8_t h[WS_MAX_HEADER + 4];
    uint64_t flen = size * 977u;
    size_t hl = ws_header_encode(h, WS_OP_BINARY, flen);
    h[1] |= 0x80;
    memset(h + hl, 0, 4);
    struct ws_frame f;
    if (ws_parse_header(h, hl + 4, UINT64_MAX >> 1, &f) != 1 || f.len != flen || f.header_len != hl + 4)
        __builtin_trap();
    return 0;
}
