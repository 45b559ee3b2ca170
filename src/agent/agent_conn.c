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
    case -EPROTO:
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

/* Who answers on a port, for messages: the agent, or whatever listens there. */
static void listener_name(unsigned port, char *buf, size_t n)
{
    if (port == AGENT_PORT)
        snprintf(buf, n, "the guest agent");
    else
        snprintf(buf, n, "the guest's vsock port %u", port);
}

/* Reads the "OK <port>\n" line byte by byte, so no stream byte after it is taken. */
static int read_ok_line(int fd, unsigned port, int timeout_ms, const char *path,
                        struct cove_error *err)
{
    long deadline = agent_now_ms() + timeout_ms;
    char line[64], who[48];
    size_t n = 0;
    listener_name(port, who, sizeof who);
    for (;;) {
        long left = deadline - agent_now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return cove_error_set(err, -ETIMEDOUT, "%s did not answer within %g s (is the "
                                  "guest still booting?)", who, timeout_ms / 1000.0);
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 && port == AGENT_PORT)
            return cove_error_set(err, -ECONNREFUSED, "no guest agent answers on %s (the guest "
                                  "has not started it, or it has none)", path);
        if (r <= 0) /* the guest refused: docs/AGENT.md, the socket closes without a line */
            return cove_error_set(err, -ECONNREFUSED, "nothing listens on %s: the guest "
                                  "refused the connection", who);
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

int cove_vsock_connect(const char *vsock_path, unsigned port, int timeout_ms, int *out,
                       struct cove_error *err)
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
    int n = snprintf(line, sizeof line, "CONNECT %u\n", port);
    int rc = conn_write(fd, line, (size_t)n, agent_deadline(agent_now_ms(), timeout_ms));
    if (rc < 0) {
        close(fd);
        return cove_error_set(err, -ESRCH, "the VM is not running (%s closed)", vsock_path);
    }
    if ((rc = read_ok_line(fd, port, timeout_ms, vsock_path, err)) < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int cove_agent_connect(const char *vsock_path, int timeout_ms, int *out, struct cove_error *err)
{
    return cove_vsock_connect(vsock_path, AGENT_PORT, timeout_ms, out, err);
}

/* --- frames ------------------------------------------------------------------------------ */

long agent_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long agent_deadline(long from, long ms)
{
    return ms < 0 || from > AGENT_NEVER - ms ? AGENT_NEVER : from + ms;
}

/* Waits for events on fd until deadline: 1 ready, 0 at the deadline, -errno. */
static int wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline == AGENT_NEVER ? -1 : deadline - agent_now_ms();
        if (deadline != AGENT_NEVER && left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int pr = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -errno;
        if (pr > 0)
            return 1;
    }
}

int conn_write(int fd, const void *buf, size_t len, long deadline)
{
    const char *p = buf;
    while (len) {
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w == 0)
            return -ETIMEDOUT;
        if (w < 0)
            return -ECONNRESET;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) /* whatever went wrong, for the caller the connection broke */
            return -ECONNRESET;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len,
               long deadline)
{
    uint8_t h[AGENT_HDR_SIZE];
    agent_put_header(h, type, stream, len);
    int rc = conn_write(fd, h, sizeof h, deadline);
    return rc < 0 || !len ? rc : conn_write(fd, payload, len, deadline);
}

/* Reads len bytes by deadline: 0, -ETIMEDOUT, -ECONNRESET. */
static int read_exact(int fd, uint8_t *p, size_t len, long deadline)
{
    while (len) {
        int w = wait_fd(fd, POLLIN, deadline);
        if (w == 0)
            return -ETIMEDOUT;
        if (w < 0)
            return -ECONNRESET;
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

int recv_frame(int fd, struct agent_frame *f, uint8_t *buf, long idle_ms, long deadline,
               struct cove_error *err)
{
    uint8_t h[AGENT_HDR_SIZE];
    long first = agent_deadline(agent_now_ms(), idle_ms);
    int rc = read_exact(fd, h, 1, first < deadline ? first : deadline);
    if (rc == 0) {
        /* Once a frame began, all of it must come soon: a byte now and then is no answer. */
        long whole = agent_deadline(agent_now_ms(), AGENT_FRAME_TIMEOUT_MS);
        if (whole > deadline)
            whole = deadline;
        rc = read_exact(fd, h + 1, sizeof h - 1, whole);
        uint32_t n = agent_get_u32(h + 2);
        if (rc == 0 && n > AGENT_FRAME_MAX)
            return cove_error_set(err, -EPROTO, "the guest agent broke the protocol (a frame "
                                  "of %u bytes); gave up on the request", n);
        if (rc == 0 && n)
            rc = read_exact(fd, buf, n, whole);
        if (rc == -ETIMEDOUT && whole < deadline)
            return cove_error_set(err, rc, "the guest agent began a frame and did not finish "
                                  "it within %d s; gave up on the request",
                                  AGENT_FRAME_TIMEOUT_MS / 1000);
        f->type = h[0];
        f->stream = h[1];
        f->len = n;
        f->payload = buf;
    }
    if (rc == -ETIMEDOUT)
        return cove_error_set(err, rc, "the guest agent did not answer in time; gave up on the "
                              "request");
    if (rc < 0)
        return cove_error_set(err, rc, "the connection to the guest agent broke");
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

int req_send(int fd, const struct agent_req *r, long deadline, struct cove_error *err)
{
    if (r->overflow)
        return cove_error_set(err, -E2BIG, "the request (command, arguments, environment) is "
                              "longer than %u bytes", AGENT_FRAME_MAX);
    int rc = send_frame(fd, AGENT_T_REQUEST, 0, r->buf, r->len, deadline);
    if (rc == -ETIMEDOUT)
        return cove_error_set(err, rc, "the guest agent did not take the request in time");
    if (rc < 0)
        return cove_error_set(err, -ECONNRESET, "the connection to the guest agent broke");
    return 0;
}

int read_reply(int fd, uint8_t *buf, struct agent_reply *r, char *result, size_t result_len,
               uint32_t *result_got, long deadline, struct cove_error *err)
{
    for (;;) {
        struct agent_frame f;
        int rc = recv_frame(fd, &f, buf, AGENT_NEVER_MS, deadline, err);
        if (rc == 0)
            rc = agent_reply_feed(r, &f, err);
        if (rc < 0)
            return rc;
        if (rc == AGENT_FEED_RESULT && result) {
            uint32_t n = f.len < result_len ? f.len : (uint32_t)result_len;
            memcpy(result, f.payload, n);
            *result_got = n;
        } else if (rc == AGENT_FEED_DONE) {
            return r->have_error ? r->error_code : r->status;
        }
    }
}

/* --- the small requests ------------------------------------------------------------------- */

/* One request whose whole answer must come within timeout_ms. */
static int simple(int fd, const char *op, struct agent_req *r, enum agent_reply_kind kind,
                  char *result, size_t n, uint32_t *got, long timeout_ms, struct cove_error *err)
{
    static __thread uint8_t buf[AGENT_FRAME_MAX];
    long deadline = agent_deadline(agent_now_ms(), timeout_ms);
    struct agent_reply reply = {.kind = kind};
    req_add(r, "op", op);
    int rc = req_send(fd, r, deadline, err);
    if (rc < 0)
        return rc;
    rc = read_reply(fd, buf, &reply, result, n, got, deadline, err);
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
    int rc = simple(fd, "ip", r, AGENT_REPLY_RESULT, res, sizeof res, &got,
                    AGENT_REQUEST_TIMEOUT_MS, err);
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
        if (!strcmp(k, "if")) {
            ifname = v;
        } else if (!strcmp(k, "addr")) {
            /* printed on the user's terminal: the guest's text made harmless */
            char ifsafe[64], addrsafe[64];
            agent_text(ifsafe, sizeof ifsafe, (const uint8_t *)ifname, strlen(ifname));
            agent_text(addrsafe, sizeof addrsafe, (const uint8_t *)v, strlen(v));
            int w = snprintf(out + o, n - o, "%s %s\n", ifsafe, addrsafe);
            if (w < 0 || (size_t)w >= n - o)
                break;
            o += (size_t)w;
        }
    }
    return 0;
}

int agent_ports(int fd, struct agent_port *out, unsigned *n, int timeout_ms,
                struct cove_error *err)
{
    struct agent_req *r = calloc(1, sizeof *r);
    char *res = malloc(AGENT_FRAME_MAX);
    uint32_t got = 0;
    *n = 0;
    int rc = r && res ? simple(fd, "ports", r, AGENT_REPLY_RESULT, res, AGENT_FRAME_MAX, &got,
                               timeout_ms, err)
                      : cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0)
        rc = agent_ports_parse((const uint8_t *)res, got, out, n, err);
    free(r);
    free(res);
    return rc;
}

int agent_poweroff(int fd, bool reboot, struct cove_error *err)
{
    struct agent_req r = {.len = 0};
    return simple(fd, reboot ? "reboot" : "poweroff", &r, AGENT_REPLY_PLAIN, NULL, 0, NULL,
                  AGENT_POWEROFF_TIMEOUT_MS, err);
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
    return simple(fd, "clock", &r, AGENT_REPLY_PLAIN, NULL, 0, NULL, AGENT_REQUEST_TIMEOUT_MS,
                  err);
}

int agent_ping(int fd, int timeout_ms, struct cove_error *err)
{
    struct agent_req r = {.len = 0};
    return simple(fd, "ping", &r, AGENT_REPLY_PLAIN, NULL, 0, NULL, timeout_ms, err);
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
