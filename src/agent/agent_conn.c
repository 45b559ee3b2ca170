/*
 * Connecting to the guest agent through a hybrid-vsock socket, frames, and the small
 * requests (ip, poweroff, clock, ping).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

#include "agent/agent_client.h"
#include "agent/agent_internal.h"
#include "store/store.h"
#include "util/fdio.h"

int cove_agent_exit_code(int rc)
{
    switch (rc) {
    case -ETIMEDOUT: return COVE_EXIT_TIMEOUT;
    case -ECONNRESET:
    case -EPIPE: return COVE_EXIT_LOST;
    case -ESRCH:
    case -ECONNREFUSED: return COVE_EXIT_UNREACHABLE;
    default: return 1;
    }
}

int cove_agent_path(const char *name, char *out, size_t n, struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX];
    pid_t pid;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    if (!store_bundle_running(bundle, &pid))
        return cove_error_set(err, -ESRCH, "VM '%s' is not running; start it with `cove run %s`",
                              name, name);
    if (store_path(out, n, "%s/run/vsock.sock", bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads the "OK <port>\n" line byte by byte, so no stream byte after it is taken. */
static int read_ok_line(int fd, int timeout_ms, const char *path, struct cove_error *err)
{
    long deadline = now_ms() + timeout_ms;
    char line[64];
    size_t n = 0;
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return cove_error_set(err, -ETIMEDOUT, "the guest agent did not answer within "
                                  "%g s (is the guest still booting?)", timeout_ms / 1000.0);
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return cove_error_set(err, -ECONNREFUSED, "no guest agent answers on %s (the guest "
                                  "has not started it, or it has none)", path);
        if (c == '\n')
            break;
        if (n == sizeof line - 1)
            return cove_error_set(err, -EPROTO, "%s: not a vsock socket", path);
        line[n++] = c;
    }
    line[n] = 0;
    if (strncmp(line, "OK ", 3) != 0)
        return cove_error_set(err, -EPROTO, "%s: unexpected answer '%s'", path, line);
    return 0;
}

int cove_agent_connect(const char *vsock_path, int timeout_ms, int *out, struct cove_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(vsock_path) >= sizeof sa.sun_path)
        return cove_error_set(err, -ENAMETOOLONG, "vsock socket path %s is too long", vsock_path);
    strcpy(sa.sun_path, vsock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cove_error_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            return cove_error_set(err, -ESRCH, "the VM is not running (nothing listens on %s)",
                                  vsock_path);
        return cove_error_set(err, -e, "cannot connect to %s: %s", vsock_path, strerror(e));
    }
    char line[32];
    int n = snprintf(line, sizeof line, "CONNECT %d\n", AGENT_PORT);
    int rc = conn_write(fd, line, (size_t)n);
    if (rc < 0) {
        close(fd);
        return cove_error_set(err, -ESRCH, "the VM is not running (%s closed)", vsock_path);
    }
    if ((rc = read_ok_line(fd, timeout_ms, vsock_path, err)) < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

/* --- frames ------------------------------------------------------------------------------ */

int conn_write(int fd, const void *buf, size_t len)
{
    /* Whatever went wrong, for the caller the connection broke. */
    return sock_send_all(fd, buf, len) < 0 ? -ECONNRESET : 0;
}

int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len)
{
    uint8_t h[AGENT_HDR_SIZE];
    agent_put_header(h, type, stream, len);
    int rc = conn_write(fd, h, sizeof h);
    return rc < 0 || !len ? rc : conn_write(fd, payload, len);
}

static int read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    char *p = buf;
    while (len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -ECONNRESET;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int recv_frame(int fd, uint8_t *type, uint8_t *stream, uint8_t *buf, uint32_t *len, int timeout_ms)
{
    uint8_t h[AGENT_HDR_SIZE];
    int rc = read_exact(fd, h, sizeof h, timeout_ms);
    if (rc < 0)
        return rc;
    uint32_t n = agent_get_u32(h + 2);
    if (n > AGENT_FRAME_MAX)
        return -ECONNRESET;
    if (n && (rc = read_exact(fd, buf, n, timeout_ms)) < 0)
        return rc;
    *type = h[0];
    *stream = h[1];
    *len = n;
    return 0;
}

void req_add(struct agent_req *r, const char *key, const char *value)
{
    size_t k = strlen(key) + 1, v = strlen(value) + 1;
    if (r->len + k + v > sizeof r->buf) {
        r->overflow = true;
        return;
    }
    memcpy(r->buf + r->len, key, k);
    memcpy(r->buf + r->len + k, value, v);
    r->len += (uint32_t)(k + v);
}

int req_send(int fd, const struct agent_req *r, struct cove_error *err)
{
    if (r->overflow)
        return cove_error_set(err, -E2BIG, "the request (command, arguments, environment) is "
                              "longer than %u bytes", AGENT_FRAME_MAX);
    if (send_frame(fd, AGENT_T_REQUEST, 0, r->buf, r->len) < 0)
        return cove_error_set(err, -ECONNRESET, "the connection to the guest agent broke");
    return 0;
}

/* An E frame's text as the error message (kind byte first). */
static int agent_error(const uint8_t *buf, uint32_t len, struct cove_error *err)
{
    int kind = len ? buf[0] : 0;
    return cove_error_set(err, kind == AGENT_ERR_REQUEST ? -EINVAL : -EIO, "guest: %.*s",
                          len > 1 ? (int)(len - 1) : 0, (const char *)buf + 1);
}

int finish_request(int fd, uint8_t *buf, char *result, size_t result_len, uint32_t *result_got,
                   struct cove_error *err)
{
    bool failed = false;
    for (;;) {
        uint8_t type, stream;
        uint32_t len;
        int rc = recv_frame(fd, &type, &stream, buf, &len, AGENT_ANSWER_TIMEOUT_MS);
        if (rc < 0)
            return cove_error_set(err, rc, rc == -ETIMEDOUT ? "the guest agent stopped answering"
                                  : "the connection to the guest agent broke");
        if (type == AGENT_T_ERROR) {
            agent_error(buf, len, err);
            failed = true;
        } else if (type == AGENT_T_RESULT && result) {
            uint32_t n = len < result_len ? len : (uint32_t)result_len;
            memcpy(result, buf, n);
            *result_got = n;
        } else if (type == AGENT_T_EXIT && len == 5) {
            uint32_t v = agent_get_u32(buf + 1);
            if (failed)
                return err ? err->code : -EIO;
            return v > 255 ? 255 : (int)v;
        }
    }
}

/* --- the small requests ------------------------------------------------------------------- */

static int simple(int fd, const char *op, struct agent_req *r, char *result, size_t n,
                  uint32_t *got, struct cove_error *err)
{
    static __thread uint8_t buf[AGENT_FRAME_MAX];
    req_add(r, "op", op);
    int rc = req_send(fd, r, err);
    if (rc < 0)
        return rc;
    rc = finish_request(fd, buf, result, n, got, err);
    if (rc > 0)
        return cove_error_set(err, -EIO, "guest: %s failed (status %d)", op, rc);
    return rc;
}

int cove_agent_ip(int fd, char *out, size_t n, struct cove_error *err)
{
    struct agent_req *r = calloc(1, sizeof *r);
    char res[4096];
    uint32_t got = 0;
    if (!r)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = simple(fd, "ip", r, res, sizeof res, &got, err);
    free(r);
    if (rc < 0)
        return rc;
    /* "if\0eth0\0addr\010.0.2.15/24\0" pairs -> "eth0 10.0.2.15/24\n" lines */
    size_t o = 0;
    const char *ifname = "";
    out[0] = 0;
    for (uint32_t at = 0; at < got;) {
        const char *k = res + at;
        const char *ke = memchr(k, 0, got - at);
        if (!ke || (uint32_t)(ke - res) + 1 >= got)
            break;
        const char *v = ke + 1;
        const char *ve = memchr(v, 0, got - (uint32_t)(v - res));
        if (!ve)
            break;
        at = (uint32_t)(ve - res) + 1;
        if (!strcmp(k, "if"))
            ifname = v;
        else if (!strcmp(k, "addr")) {
            int w = snprintf(out + o, n - o, "%s %s\n", ifname, v);
            if (w < 0 || (size_t)w >= n - o)
                break;
            o += (size_t)w;
        }
    }
    return 0;
}

int agent_poweroff(int fd, bool reboot, struct cove_error *err)
{
    struct agent_req r = {.len = 0};
    return simple(fd, reboot ? "reboot" : "poweroff", &r, NULL, 0, NULL, err);
}

int agent_set_clock(int fd, struct cove_error *err)
{
    struct agent_req r = {.len = 0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char sec[32], nsec[16];
    snprintf(sec, sizeof sec, "%lld", (long long)ts.tv_sec);
    snprintf(nsec, sizeof nsec, "%ld", ts.tv_nsec);
    req_add(&r, "sec", sec);
    req_add(&r, "nsec", nsec);
    return simple(fd, "clock", &r, NULL, 0, NULL, err);
}

int agent_ping(int fd, struct cove_error *err)
{
    struct agent_req r = {.len = 0};
    return simple(fd, "ping", &r, NULL, 0, NULL, err);
}

static int by_name(const char *name, int timeout_ms, int (*fn)(int, struct cove_error *),
                   struct cove_error *err)
{
    int fd;
    int rc = cove_agent_open(name, timeout_ms, &fd, err);
    if (rc < 0)
        return rc;
    rc = fn(fd, err);
    close(fd);
    return rc;
}

static int poweroff_fn(int fd, struct cove_error *err) { return agent_poweroff(fd, false, err); }

int agent_request_poweroff(const char *name, int timeout_ms, struct cove_error *err)
{
    return by_name(name, timeout_ms, poweroff_fn, err);
}

int agent_request_set_clock(const char *name, int timeout_ms, struct cove_error *err)
{
    return by_name(name, timeout_ms, agent_set_clock, err);
}
