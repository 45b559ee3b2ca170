#include "vm/http.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/fdio.h"

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* A Content-Length value between the colon and the end of its line: optional whitespace,
 * digits, optional whitespace. Too large for a message is -EMSGSIZE, not a number
 * -EBADMSG. */
static int parse_length(const char *p, const char *end, size_t *out)
{
    while (p < end && is_ows(*p))
        p++;
    size_t v = 0, digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        if (v <= HTTP_MAX_MESSAGE) /* stays small: no overflow however many digits */
            v = v * 10 + (size_t)(*p - '0');
    }
    while (p < end && is_ows(*p))
        p++;
    if (!digits || p != end)
        return -EBADMSG;
    if (v > HTTP_MAX_MESSAGE)
        return -EMSGSIZE;
    *out = v;
    return 0;
}

/* The header lines after the start line, in a NUL-terminated block without the final
 * empty line. Every line is "name: value"; Content-Length may repeat only with the same
 * value; bodies are sized by Content-Length only (no Transfer-Encoding). */
static int parse_headers(const char *head, size_t *content_length)
{
    *content_length = 0;
    bool seen = false;
    const char *line = strstr(head, "\r\n");
    for (line = line ? line + 2 : head + strlen(head); *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (memchr(line, '\r', len) || memchr(line, '\n', len) || !colon || colon == line)
            return -EBADMSG;
        for (const char *p = line; p < colon; p++)
            if (is_ows(*p) || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
                return -EBADMSG;
        size_t name_len = (size_t)(colon - line);
        if (name_len == 17 && !strncasecmp(line, "Transfer-Encoding", 17))
            return -EBADMSG;
        if (name_len == 14 && !strncasecmp(line, "Content-Length", 14)) {
            size_t v;
            int rc = parse_length(colon + 1, line + len, &v);
            if (rc < 0)
                return rc;
            if (seen && v != *content_length)
                return -EBADMSG;
            *content_length = v;
            seen = true;
        }
        line += len + (eol ? 2 : 0);
    }
    return 0;
}

/* One token of the start line: up to the next space or the end of the line. */
static const char *start_token(const char *p, char *out, size_t n)
{
    size_t len = strcspn(p, " \r\n");
    if (len == 0 || len >= n)
        return NULL;
    memcpy(out, p, len);
    out[len] = 0;
    return p + len;
}

/* "METHOD SP PATH SP HTTP/1.x" or "HTTP/1.x SP STATUS SP reason", single spaces. */
static int parse_start(struct http_message *msg, int is_request)
{
    const char *p = msg->buf;
    if (is_request) {
        char version[16];
        if (!(p = start_token(p, msg->method, sizeof msg->method)) || *p++ != ' ' ||
            !(p = start_token(p, msg->path, sizeof msg->path)) || *p++ != ' ' ||
            !(p = start_token(p, version, sizeof version)) || (*p && *p != '\r') ||
            strncmp(version, "HTTP/1.", 7))
            return -EBADMSG;
        return 0;
    }
    if (sscanf(msg->buf, "HTTP/1.%*d %d", &msg->status) != 1 || msg->status < 100 ||
        msg->status > 599)
        return -EBADMSG;
    return 0;
}

int http_parse(struct http_message *msg, size_t got, int is_request)
{
    if (got > HTTP_MAX_MESSAGE)
        return -EMSGSIZE;
    msg->buf[got] = 0;
    if (memchr(msg->buf, 0, got))
        return -EBADMSG;
    char *end = strstr(msg->buf, "\r\n\r\n");
    if (!end)
        return got == HTTP_MAX_MESSAGE ? -EMSGSIZE : 0;
    size_t head_len = (size_t)(end - msg->buf) + 4, cl = 0;
    *end = 0; /* the start line and headers as one string, for parsing */
    int rc = parse_start(msg, is_request);
    if (rc == 0)
        rc = parse_headers(msg->buf, &cl);
    *end = '\r';
    if (rc < 0)
        return rc;
    if (cl > HTTP_MAX_MESSAGE - head_len)
        return -EMSGSIZE;
    if (got < head_len + cl)
        return 0;
    msg->buf[head_len + cl] = 0; /* anything after the body is ignored */
    msg->body = msg->buf + head_len;
    msg->body_len = cl;
    return 1;
}

int http_header(const struct http_message *msg, const char *name, char *out, size_t n)
{
    const char *head_end = strstr(msg->buf, "\r\n\r\n");
    const char *line = strstr(msg->buf, "\r\n");
    size_t name_len = strlen(name);
    if (!head_end || !line)
        return -ENOENT;
    for (line += 2; line < head_end + 2;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > name_len && line[name_len] == ':' &&
            !strncasecmp(line, name, name_len)) {
            const char *v = line + name_len + 1, *e = eol;
            while (v < e && is_ows(*v))
                v++;
            while (e > v && is_ows(e[-1]))
                e--;
            if ((size_t)(e - v) >= n)
                return -EMSGSIZE;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = 0;
            return 0;
        }
        line = eol + 2;
    }
    return -ENOENT;
}

void http_message_reset(struct http_message *msg)
{
    msg->buf[0] = 0;
    msg->method[0] = msg->path[0] = 0;
    msg->status = 0;
    msg->body = "";
    msg->body_len = 0;
}

int http_read(int fd, int is_request, int timeout_ms, struct http_message *msg)
{
    http_message_reset(msg);
    long long deadline = monotonic_ms() + timeout_ms;
    size_t got = 0;
    for (;;) {
        int r = fd_wait(fd, POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
        ssize_t n = recv(fd, msg->buf + got, HTTP_MAX_MESSAGE - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG; /* closed before the message was complete */
        got += (size_t)n;
        int rc = http_parse(msg, got, is_request);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
}

int http_write_request(int fd, const char *method, const char *path, const char *body)
{
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", method, path, blen);
    if (n < 0 || (size_t)n >= sizeof head)
        return -ENAMETOOLONG;
    int rc = sock_send_all(fd, head, (size_t)n);
    return rc < 0 ? rc : sock_send_all(fd, body ? body : "", blen);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    default: return "Internal Server Error";
    }
}

char *http_response_text(int status, const char *body, size_t *len)
{
    size_t blen = body ? strlen(body) : 0;
    char *text = NULL;
    int n = asprintf(&text, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason(status), blen, body ? body : "");
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return text;
}

int http_write_response(int fd, int status, const char *body)
{
    size_t len;
    char *text = http_response_text(status, body, &len);
    if (!text)
        return -ENOMEM;
    int rc = sock_send_all(fd, text, len);
    free(text);
    return rc;
}

int http_unix_addr(const char *path, struct sockaddr_un *addr, int *dirfd)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    *dirfd = -1;
    if (strlen(path) < sizeof addr->sun_path) {
        memcpy(addr->sun_path, path, strlen(path) + 1);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        return -ENAMETOOLONG;
    char dir[4096];
    size_t dlen = (size_t)(slash - path);
    if (dlen >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, dlen);
    dir[dlen] = 0;
    int fd = open(dlen ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int n = snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", fd, slash + 1);
    if (n < 0 || (size_t)n >= sizeof addr->sun_path) {
        close(fd);
        return -ENAMETOOLONG;
    }
    *dirfd = fd;
    return 0;
}

int http_call(const char *sock_path, const char *method, const char *path, const char *body,
              int timeout_ms, struct http_message *resp)
{
    struct sockaddr_un addr;
    int dirfd;
    int rc = http_unix_addr(sock_path, &addr, &dirfd);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
    } else if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        rc = -errno;
    } else {
        rc = http_write_request(fd, method, path, body);
        if (rc == 0)
            rc = http_read(fd, 0, timeout_ms, resp);
    }
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}
