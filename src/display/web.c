/*
 * The web console's server (web.h): one child process per connection, forked by a poll
 * loop that also watches the VM. A child reads one request (bounded, 5 s), and answers it:
 * 403 without the token, a file of noVNC's directory, the console page, or a WebSocket
 * (RFC 6455, display/ws.c) that it proxies to the VNC socket or feeds from the console log
 * until either side ends.
 */
#include "display/web.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "display/ws.h"
#include "util/fdio.h"
#include "util/log.h"

#define WEB_MAX_CHILDREN 64
#define WEB_REQUEST_TIMEOUT_MS 5000
#define WEB_FRAME_MAX 65536     /* a client frame's payload */
#define WEB_CONSOLE_BACKLOG 65536 /* bytes of the console log sent first */

int web_make_token(struct web_console *wc)
{
    unsigned char r[WEB_TOKEN_LEN / 2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -errno;
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(wc->token + 2 * i, 3, "%02x", r[i]);
    return 0;
}

static const char console_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cove: serial console</title>\n"
    "<style>body{margin:0;background:#111;color:#ddd}pre{margin:0;padding:8px;"
    "font:13px monospace;white-space:pre-wrap;word-break:break-all}</style></head>\n"
    "<body><pre id=\"out\"></pre>\n<script>\n"
    "const out = document.getElementById('out');\n"
    "const token = new URLSearchParams(location.search).get('token') || '';\n"
    "const ws = new WebSocket('ws://' + location.host + '/console-ws?token=' + "
    "encodeURIComponent(token));\n"
    "ws.binaryType = 'arraybuffer';\n"
    "const dec = new TextDecoder('utf-8');\n"
    "ws.onmessage = (e) => {\n"
    "  const text = typeof e.data === 'string' ? e.data : dec.decode(e.data, {stream: true});\n"
    "  out.textContent += text.replace(/\\x1b\\[[0-9;?]*[A-Za-z]/g, '').replace(/\\r/g, '');\n"
    "  if (out.textContent.length > 400000) out.textContent = out.textContent.slice(-300000);\n"
    "  window.scrollTo(0, document.body.scrollHeight);\n"
    "};\n"
    "ws.onclose = () => { out.textContent += '\\n[cove: the console is closed]\\n'; };\n"
    "</script></body></html>\n";

static void respond(int fd, int status, const char *reason, const char *extra,
                    const char *type, const void *body, size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n%sConnection: close\r\n\r\n",
                     status, reason, type, len, extra ? extra : "");
    if (n > 0 && (size_t)n < sizeof head && sock_send_all(fd, head, (size_t)n) == 0 && len)
        sock_send_all(fd, body, len);
}

static void respond_text(int fd, int status, const char *reason)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    respond(fd, status, reason, NULL, "text/plain; charset=utf-8", body, (size_t)n);
}

static void serve_file(int fd, const struct web_console *wc, const char *file,
                       const char *cookie)
{
    int dir = open(wc->novnc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int f = dir < 0 ? -1 : openat(dir, file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (dir >= 0)
        close(dir);
    if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        if (f >= 0)
            close(f);
        respond_text(fd, 404, "Not Found");
        return;
    }
    char *data = malloc((size_t)st.st_size + 1);
    ssize_t got = data ? pread(f, data, (size_t)st.st_size, 0) : -1;
    close(f);
    if (got != st.st_size)
        respond_text(fd, 500, "Internal Server Error");
    else
        respond(fd, 200, "OK", cookie, web_content_type(file), data, (size_t)got);
    free(data);
}

/* The WebSocket handshake of req: 0 after the 101 response, -1 after an error response. */
static int ws_handshake(int fd, const struct http_message *req, int port)
{
    char upgrade[32], conn[128], version[8], key[64], accept[WS_ACCEPT_LEN + 1];
    char origin[128], protocols[256], want[64];
    if (http_header(req, "Upgrade", upgrade, sizeof upgrade) < 0 ||
        strcasecmp(upgrade, "websocket") ||
        http_header(req, "Connection", conn, sizeof conn) < 0 || !strcasestr(conn, "upgrade") ||
        http_header(req, "Sec-WebSocket-Version", version, sizeof version) < 0 ||
        strcmp(version, "13") || http_header(req, "Sec-WebSocket-Key", key, sizeof key) < 0 ||
        ws_accept_key(key, accept) < 0) {
        respond_text(fd, 400, "Bad Request");
        return -1;
    }
    /* a browser says where the page came from: only this server's own pages */
    snprintf(want, sizeof want, "http://127.0.0.1:%d", port);
    if (http_header(req, "Origin", origin, sizeof origin) == 0 && strcmp(origin, want)) {
        respond_text(fd, 403, "Forbidden");
        return -1;
    }
    bool binary = http_header(req, "Sec-WebSocket-Protocol", protocols, sizeof protocols) == 0 &&
                  strstr(protocols, "binary");
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n", accept,
                     binary ? "Sec-WebSocket-Protocol: binary\r\n" : "");
    return sock_send_all(fd, head, (size_t)n) < 0 ? -1 : 0;
}

static int ws_send(int fd, uint8_t opcode, const void *data, size_t len)
{
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_header_encode(h, opcode, len);
    int rc = sock_send_all(fd, h, hl);
    return rc < 0 ? rc : sock_send_all(fd, data, len);
}

/* Reads what the client sent into buf (*have bytes) and hands each whole data frame's
 * payload to sink (NULL: dropped); answers pings and a close. 1 to go on, 0 when the
 * client closed or broke the protocol (the connection ends). */
struct ws_in {
    uint8_t buf[WS_MAX_HEADER + WEB_FRAME_MAX];
    size_t have;
    struct ws_stream stream;
};

static int ws_pump_in(int fd, struct ws_in *in, int sink)
{
    ssize_t n = recv(fd, in->buf + in->have, sizeof in->buf - in->have, 0);
    if (n < 0 && errno == EINTR)
        return 1;
    if (n <= 0)
        return 0;
    in->have += (size_t)n;
    for (;;) {
        struct ws_frame f;
        int rc = ws_parse_header(in->buf, in->have, WEB_FRAME_MAX, &f);
        if (rc < 0) {
            uint8_t code[2] = {0x03, rc == -EMSGSIZE ? 0xf1 : 0xea}; /* 1009, 1002 */
            ws_send(fd, WS_OP_CLOSE, code, 2);
            return 0;
        }
        if (rc == 0 || in->have < f.header_len + f.len)
            return 1;
        uint8_t *payload = in->buf + f.header_len;
        ws_unmask(payload, (size_t)f.len, f.mask, 0);
        if (ws_stream_next(&in->stream, &f) < 0)
            return 0;
        if (f.opcode == WS_OP_CLOSE) {
            ws_send(fd, WS_OP_CLOSE, payload, f.len >= 2 ? 2 : 0);
            return 0;
        }
        if (f.opcode == WS_OP_PING)
            ws_send(fd, WS_OP_PONG, payload, (size_t)f.len);
        else if (f.opcode <= WS_OP_BINARY && sink >= 0 && f.len &&
                 fd_write_all(sink, payload, (size_t)f.len) < 0)
            return 0;
        size_t used = f.header_len + (size_t)f.len;
        memmove(in->buf, in->buf + used, in->have - used);
        in->have -= used;
    }
}

static int connect_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (http_unix_addr(path, &addr, &dirfd) < 0)
        return -1;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(s);
        s = -1;
    }
    if (dirfd >= 0)
        close(dirfd);
    return s;
}

/* Bytes between the browser's WebSocket and the VM's VNC socket, both ways. */
static void proxy_vnc(int fd, const struct web_console *wc)
{
    int vnc = connect_unix(wc->vnc_socket);
    if (vnc < 0) {
        uint8_t code[2] = {0x03, 0xf3}; /* 1011 */
        ws_send(fd, WS_OP_CLOSE, code, 2);
        return;
    }
    struct ws_in *in = calloc(1, sizeof *in);
    uint8_t *out = malloc(65536);
    for (; in && out;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {vnc, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents && ws_pump_in(fd, in, vnc) == 0)
            break;
        if (p[1].revents) {
            ssize_t n = read(vnc, out, 65536);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || ws_send(fd, WS_OP_BINARY, out, (size_t)n) < 0)
                break;
        }
    }
    free(in);
    free(out);
    close(vnc);
}

/* The console log to the browser as it grows: its last WEB_CONSOLE_BACKLOG bytes, then
 * what comes (read every 100 ms). Read-only: what the browser sends is dropped. */
static void feed_console(int fd, const struct web_console *wc)
{
    int log = wc->console_log ? open(wc->console_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (log < 0) {
        static const char msg[] = "[cove: this VM's console is not in run/console.log: it is on "
                                  "the terminal of its `cove run` (start it with --no-console "
                                  "to see it here)]\n";
        ws_send(fd, WS_OP_TEXT, msg, sizeof msg - 1);
    } else {
        off_t end = lseek(log, 0, SEEK_END);
        lseek(log, end > WEB_CONSOLE_BACKLOG ? end - WEB_CONSOLE_BACKLOG : 0, SEEK_SET);
    }
    struct ws_in *in = calloc(1, sizeof *in);
    uint8_t out[16384];
    for (bool gone = false; in && !gone;) {
        ssize_t n;
        while (log >= 0 && !gone && (n = read(log, out, sizeof out)) > 0)
            gone = ws_send(fd, WS_OP_BINARY, out, (size_t)n) < 0;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && ws_pump_in(fd, in, -1) == 0)
            break;
    }
    free(in);
    if (log >= 0)
        close(log);
}

static void serve_request(int fd, const struct web_console *wc, int port,
                          struct http_message *msg);

/* One connection: one request (a child process serves it). */
static void serve_connection(int fd, const struct web_console *wc, int port)
{
    struct http_message *msg = malloc(sizeof *msg);
    if (!msg) {
        respond_text(fd, 500, "Internal Server Error");
        return;
    }
    serve_request(fd, wc, port, msg);
    free(msg);
}

static void serve_request(int fd, const struct web_console *wc, int port,
                          struct http_message *msg)
{
    int rc = http_read(fd, 1, WEB_REQUEST_TIMEOUT_MS, msg);
    if (rc < 0) {
        if (rc != -ETIMEDOUT)
            respond_text(fd, rc == -EMSGSIZE ? 431 : 400,
                         rc == -EMSGSIZE ? "Request Header Fields Too Large" : "Bad Request");
        return;
    }
    struct web_request r;
    web_route(msg, wc->token, &r);
    char cookie[128] = "";
    if (r.token_in_query)
        snprintf(cookie, sizeof cookie,
                 "Set-Cookie: cove_token=%s; Path=/; HttpOnly; SameSite=Strict\r\n", wc->token);
    switch (r.route) {
    case WEB_FORBIDDEN: respond_text(fd, 403, "Forbidden"); return;
    case WEB_METHOD: respond_text(fd, 405, "Method Not Allowed"); return;
    case WEB_NOT_FOUND: respond_text(fd, 404, "Not Found"); return;
    case WEB_FILE: serve_file(fd, wc, r.file, cookie); return;
    case WEB_CONSOLE_PAGE:
        respond(fd, 200, "OK", cookie, "text/html; charset=utf-8", console_page,
                sizeof console_page - 1);
        return;
    case WEB_INDEX: {
        /* noVNC's page, connecting at once, scaled to the window, through /websockify */
        char extra[512];
        snprintf(extra, sizeof extra,
                 "%sLocation: /vnc.html?autoconnect=true&reconnect=true&resize=scale&"
                 "path=websockify%%3Ftoken%%3D%s\r\n", cookie, wc->token);
        respond(fd, 302, "Found", extra, "text/plain; charset=utf-8", "", 0);
        return;
    }
    case WEB_WS_VNC:
    case WEB_WS_CONSOLE:
        if (ws_handshake(fd, msg, port) < 0)
            return;
        if (r.route == WEB_WS_VNC)
            proxy_vnc(fd, wc);
        else
            feed_console(fd, wc);
        return;
    }
}

static bool vm_alive(const struct web_console *wc)
{
    return wc->vm_pid <= 0 || kill(wc->vm_pid, 0) == 0 || errno == EPERM;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || ss.ss_family != AF_INET)
        return 0;
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int web_console_serve(const struct web_console *wc, int lfd, volatile int *stop)
{
    pid_t children[WEB_MAX_CHILDREN];
    unsigned nchildren = 0;
    int port = local_port(lfd);
    pid_t parent = getpid();
    int rc = 0;
    while (!*stop && vm_alive(wc)) {
        for (unsigned i = 0; i < nchildren;) { /* reap */
            if (waitpid(children[i], NULL, WNOHANG) == children[i])
                children[i] = children[--nchildren];
            else
                i++;
        }
        struct pollfd p = {lfd, POLLIN, 0};
        int r = poll(&p, 1, 250);
        if (r < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (r <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (nchildren == WEB_MAX_CHILDREN) {
            respond_text(fd, 503, "Service Unavailable");
            close(fd);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(0);
            signal(SIGINT, SIG_IGN);
            signal(SIGTERM, SIG_DFL);
            signal(SIGPIPE, SIG_IGN);
            close(lfd);
            serve_connection(fd, wc, port);
            close(fd);
            _exit(0);
        }
        if (pid > 0)
            children[nchildren++] = pid;
        else
            log_warn("web console: fork: %s", strerror(errno));
        close(fd);
    }
    for (unsigned i = 0; i < nchildren; i++)
        kill(children[i], SIGTERM);
    for (unsigned i = 0; i < nchildren; i++)
        waitpid(children[i], NULL, 0);
    return rc;
}
