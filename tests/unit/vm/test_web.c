/* The web console's pieces without a VM: WebSocket framing and the handshake's key
 * (src/display/ws.c, RFC 6455's own example), and which request gets what
 * (src/display/web_route.c): no token, a wrong one, a cookie, paths out of noVNC's
 * directory. */
#include <errno.h>
#include <string.h>

#include "../test.h"
#include "display/web.h"
#include "display/ws.h"

static const char token[] = "0123456789abcdef0123456789abcdef";

TEST(accept_key)
{
    char out[WS_ACCEPT_LEN + 1];
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out) == 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out) == -EINVAL);
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZ!==", out) == -EINVAL);
    CHECK(ws_accept_key("", out) == -EINVAL);
}

TEST(frames)
{
    struct ws_frame f;
    /* masked "Hello" (RFC 6455 5.7) */
    uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK(ws_parse_header(hello, 1, 100, &f) == 0);
    CHECK(ws_parse_header(hello, 5, 100, &f) == 0);
    REQUIRE(ws_parse_header(hello, sizeof hello, 100, &f) == 1);
    CHECK(f.fin && f.opcode == WS_OP_TEXT && f.len == 5 && f.header_len == 6);
    ws_unmask(hello + 6, 5, f.mask, 0);
    CHECK(!memcmp(hello + 6, "Hello", 5));
    CHECK(ws_parse_header(hello, sizeof hello, 4, &f) == -EMSGSIZE);
    uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    CHECK(ws_parse_header(unmasked, sizeof unmasked, 100, &f) == -EBADMSG);
    uint8_t rsv[] = {0xc1, 0x80, 0, 0, 0, 0};
    CHECK(ws_parse_header(rsv, sizeof rsv, 100, &f) == -EBADMSG);
    uint8_t opcode3[] = {0x83, 0x80, 0, 0, 0, 0};
    CHECK(ws_parse_header(opcode3, sizeof opcode3, 100, &f) == -EBADMSG);
    uint8_t long_ping[] = {0x89, 0xfe, 0x00, 0x80, 0, 0, 0, 0};
    CHECK(ws_parse_header(long_ping, sizeof long_ping, 1000, &f) == -EBADMSG);
    uint8_t split_close[] = {0x08, 0x80, 0, 0, 0, 0};
    CHECK(ws_parse_header(split_close, sizeof split_close, 100, &f) == -EBADMSG);
    uint8_t not_shortest[] = {0x82, 0xfe, 0x00, 0x10, 0, 0, 0, 0};
    CHECK(ws_parse_header(not_shortest, sizeof not_shortest, 100, &f) == -EBADMSG);
    uint8_t huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(ws_parse_header(huge, sizeof huge, UINT64_MAX, &f) == -EBADMSG);
    /* the server's headers: 2, 4 and 10 bytes */
    uint8_t h[WS_MAX_HEADER];
    CHECK(ws_header_encode(h, WS_OP_BINARY, 125) == 2 && h[0] == 0x82 && h[1] == 125);
    CHECK(ws_header_encode(h, WS_OP_BINARY, 126) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK(ws_header_encode(h, WS_OP_BINARY, 70000) == 10 && h[1] == 127 && h[7] == 0x01);
    /* fragments */
    struct ws_stream s = {0};
    struct ws_frame first = {.fin = false, .opcode = WS_OP_BINARY};
    struct ws_frame cont = {.fin = true, .opcode = WS_OP_CONTINUATION};
    struct ws_frame ping = {.fin = true, .opcode = WS_OP_PING};
    CHECK(ws_stream_next(&s, &cont) == -EBADMSG);
    CHECK(ws_stream_next(&s, &first) == 0);
    CHECK(ws_stream_next(&s, &ping) == 0);
    CHECK(ws_stream_next(&s, &first) == -EBADMSG);
    CHECK(ws_stream_next(&s, &cont) == 0);
    CHECK(!s.in_message);
}

static enum web_route route(const char *request, struct web_request *r)
{
    static struct http_message msg;
    http_message_reset(&msg);
    snprintf(msg.buf, sizeof msg.buf, "%s", request);
    if (http_parse(&msg, strlen(msg.buf), 1) != 1)
        return 0; /* no route: the CHECK fails */
    web_route(&msg, token, r);
    return r->route;
}

TEST(routes)
{
    struct web_request r;
    char req[512];
    CHECK(route("GET /vnc.html HTTP/1.1\r\n\r\n", &r) == WEB_FORBIDDEN);
    CHECK(route("GET /vnc.html?token=0123456789abcdef0123456789abcdee HTTP/1.1\r\n\r\n", &r) ==
          WEB_FORBIDDEN);
    CHECK(route("GET /vnc.html?token=0123456789abcdef0123456789abcdef0 HTTP/1.1\r\n\r\n", &r) ==
          WEB_FORBIDDEN);
    CHECK(route("GET /?token=0123456789abcdef0123456789abcdef HTTP/1.1\r\n\r\n", &r) == WEB_INDEX);
    CHECK(r.token_in_query);
    CHECK(route("GET /vnc.html?a=1&token=0123456789abcdef0123456789abcdef&b HTTP/1.1\r\n\r\n",
                &r) == WEB_FILE);
    CHECK_STR(r.file, "vnc.html");
    snprintf(req, sizeof req, "GET /app/ui.js HTTP/1.1\r\nCookie: x=1; cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_FILE && !r.token_in_query);
    CHECK_STR(r.file, "app/ui.js");
    snprintf(req, sizeof req, "GET /app/../../etc/passwd HTTP/1.1\r\nCookie: cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_NOT_FOUND);
    snprintf(req, sizeof req, "GET /app//ui.js HTTP/1.1\r\nCookie: cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_NOT_FOUND);
    snprintf(req, sizeof req, "GET /.hidden HTTP/1.1\r\nCookie: cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_NOT_FOUND);
    snprintf(req, sizeof req, "GET /app/%%2e%%2e/x HTTP/1.1\r\nCookie: cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_NOT_FOUND);
    /* WebSockets: the token in the URL, a cookie is not enough */
    snprintf(req, sizeof req, "GET /websockify HTTP/1.1\r\nCookie: cove_token=%s\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_FORBIDDEN);
    snprintf(req, sizeof req, "GET /websockify?token=%s HTTP/1.1\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_WS_VNC);
    snprintf(req, sizeof req, "GET /console-ws?token=%s HTTP/1.1\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_WS_CONSOLE);
    snprintf(req, sizeof req, "GET /console?token=%s HTTP/1.1\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_CONSOLE_PAGE);
    snprintf(req, sizeof req, "POST /?token=%s HTTP/1.1\r\n\r\n", token);
    CHECK(route(req, &r) == WEB_METHOD);
    CHECK_STR(web_content_type("app/ui.js"), "text/javascript; charset=utf-8");
    CHECK_STR(web_content_type("x"), "application/octet-stream");
}

TEST(headers)
{
    static struct http_message msg;
    http_message_reset(&msg);
    snprintf(msg.buf, sizeof msg.buf, "GET / HTTP/1.1\r\nUPGRADE:  websocket \r\nX: 1\r\n\r\n");
    REQUIRE(http_parse(&msg, strlen(msg.buf), 1) == 1);
    char v[16];
    CHECK(http_header(&msg, "Upgrade", v, sizeof v) == 0);
    CHECK_STR(v, "websocket");
    CHECK(http_header(&msg, "X", v, sizeof v) == 0);
    CHECK_STR(v, "1");
    CHECK(http_header(&msg, "Cookie", v, sizeof v) == -ENOENT);
    CHECK(http_header(&msg, "Upgrade", v, 5) == -EMSGSIZE);
}

int main(void)
{
    RUN(accept_key);
    RUN(frames);
    RUN(routes);
    RUN(headers);
    return test_summary();
}
