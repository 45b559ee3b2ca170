#include "vm/http.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/fdio.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Content-Length, or 0; -EBADMSG when present but not a number. */
static long content_length(const char *headers)
{
    for (const char *line = strstr(headers, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15))
            continue;
        char *end;
        long v = strtol(h + 15, &end, 10);
        if (end == h + 15 || v < 0 || (*end != '\r' && *end != ' '))
            return -EBADMSG;
        return v;
    }
    return 0;
}

static int parse_start(struct http_message *msg, int is_request)
{
    if (is_request) {
        char version[16];
        if (sscanf(msg->buf, "%7s %127s %15s", msg->method, msg->path, version) != 3 ||
            strncmp(version, "HTTP/1.", 7))
            return -EBADMSG;
        return 0;
    }
    if (sscanf(msg->buf, "HTTP/1.%*d %d", &msg->status) != 1 || msg->status < 100 ||
        msg->status > 599)
        return -EBADMSG;
    return 0;
}

int http_read(int fd, int is_request, int timeout_ms, struct http_message *msg)
{
    msg->buf[0] = 0;
    msg->method[0] = msg->path[0] = 0;
    msg->status = 0;
    msg->body = "";
    msg->body_len = 0;
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;
    long need = -1; /* total bytes once the headers are in */
    size_t head_len = 0;
    while (need < 0 || got < (size_t)need) {
        if (got >= HTTP_MAX_MESSAGE)
            return -EMSGSIZE;
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        ssize_t n = recv(fd, msg->buf + got, HTTP_MAX_MESSAGE - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG; /* closed before the message was complete */
        got += (size_t)n;
        msg->buf[got] = 0;
        if (memchr(msg->buf, 0, got))
            return -EBADMSG;
        if (need < 0) {
            char *end = strstr(msg->buf, "\r\n\r\n");
            if (!end)
                continue;
            head_len = (size_t)(end - msg->buf) + 4;
            *end = 0; /* the header block as a string, for parsing */
            long cl = content_length(msg->buf);
            int rc = cl < 0 ? (int)cl : parse_start(msg, is_request);
            *end = '\r';
            if (rc < 0)
                return rc;
            if (cl > HTTP_MAX_MESSAGE || head_len + (size_t)cl > HTTP_MAX_MESSAGE)
                return -EMSGSIZE;
            need = (long)head_len + cl;
        }
    }
    msg->buf[need] = 0;
    msg->body = msg->buf + head_len;
    msg->body_len = (size_t)need - head_len;
    return 0;
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

int http_write_response(int fd, int status, const char *body)
{
    char head[256];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, reason(status), blen);
    int rc = sock_send_all(fd, head, (size_t)n);
    return rc < 0 ? rc : sock_send_all(fd, body ? body : "", blen);
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
