/*
 * cove_agent_exec: one command in the guest, its stdin/stdout/stderr streamed over the agent
 * connection.
 *
 * A poll loop over the connection, local stdin and the caller's signal pipe. Output is
 * written to the local fds as it comes (blocking there is fine: the connection then fills
 * up and the vsock credit holds the guest back, so nothing piles up here); stdin is only
 * read while the frame queued before it has gone out, so memory stays at two frames
 * whatever the sizes involved.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cove/agent.h>

#include "agent/agent_internal.h"
#include "util/fdio.h"

#define IN_CAP (2 * (AGENT_HDR_SIZE + AGENT_FRAME_MAX))
#define OUT_CAP (AGENT_HDR_SIZE + AGENT_FRAME_MAX + 64)

struct exec_io {
    int fd;
    const struct cove_exec_options *o;
    uint8_t in[IN_CAP];
    size_t in_len;
    uint8_t out[OUT_CAP];     /* frames for the agent */
    size_t out_head, out_len;
    bool stdin_done, have_exit, send_closed;
    long frame_deadline;      /* a frame is partly in: when it must be whole (else 0) */
    long deadline;            /* o->timeout_ms after the start, or AGENT_NEVER */
    struct agent_exec_reply reply;
    char *message;
    size_t message_len;
    struct cove_error *err;
};

static void queue(struct exec_io *x, uint8_t type, uint8_t stream, const void *p, uint32_t len)
{
    if (x->out_head) {
        memmove(x->out, x->out + x->out_head, x->out_len);
        x->out_head = 0;
    }
    uint8_t *h = x->out + x->out_len;
    agent_put_header(h, type, stream, len);
    if (len)
        memcpy(h + AGENT_HDR_SIZE, p, len);
    x->out_len += AGENT_HDR_SIZE + len;
}

static void queue_winsize(struct exec_io *x)
{
    struct winsize ws;
    if (x->o->winsize_fd < 0 || ioctl(x->o->winsize_fd, TIOCGWINSZ, &ws) < 0)
        return;
    uint8_t p[4] = {(uint8_t)ws.ws_row, (uint8_t)(ws.ws_row >> 8), (uint8_t)ws.ws_col,
                    (uint8_t)(ws.ws_col >> 8)};
    queue(x, AGENT_T_WINSIZE, 0, p, 4);
}

/* One frame from the agent (agent_exec_feed says what it may be). */
static int agent_frame(struct exec_io *x, const struct agent_frame *f)
{
    int rc = agent_exec_feed(&x->reply, f, x->message, x->message_len, x->err);
    if (rc == AGENT_FEED_DATA) {
        int fd = f->stream == AGENT_STDERR ? x->o->err_fd : x->o->out_fd;
        if (fd >= 0 && fd_write_all(fd, f->payload, f->len) < 0 && f->stream != AGENT_STDERR)
            return -EPIPE; /* our reader went away: stop, as a pipeline would */
    } else if (rc == AGENT_FEED_DONE) {
        x->have_exit = true;
    }
    return rc < 0 ? rc : 0;
}

static int read_agent(struct exec_io *x)
{
    ssize_t n = read(x->fd, x->in + x->in_len, sizeof x->in - x->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return cove_error_set(x->err, -ECONNRESET, "the connection to the guest agent broke "
                              "before the command finished");
    x->in_len += (size_t)n;
    size_t at = 0;
    while (!x->have_exit) {
        struct agent_frame f;
        long k = agent_frame_split(x->in + at, x->in_len - at, &f);
        if (k < 0)
            return cove_error_set(x->err, -EPROTO, "the guest agent broke the protocol (an "
                                  "oversized frame); gave up on the command");
        if (k == 0)
            break;
        int rc = agent_frame(x, &f);
        if (rc < 0)
            return rc;
        at += (size_t)k;
    }
    memmove(x->in, x->in + at, x->in_len - at);
    x->in_len -= at;
    /* What is left is the start of a frame: the rest must follow soon. */
    if (!x->in_len)
        x->frame_deadline = 0;
    else if (at || !x->frame_deadline)
        x->frame_deadline = agent_deadline(agent_now_ms(), AGENT_FRAME_TIMEOUT_MS);
    return 0;
}

static void read_stdin(struct exec_io *x)
{
    uint8_t buf[AGENT_FRAME_MAX];
    ssize_t n = read(x->o->in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        queue(x, AGENT_T_DATA, AGENT_STDIN, NULL, 0);
        x->stdin_done = true;
        return;
    }
    queue(x, AGENT_T_DATA, AGENT_STDIN, buf, (uint32_t)n);
}

static void read_signals(struct exec_io *x)
{
    uint8_t sigs[16];
    ssize_t n = read(x->o->signal_fd, sigs, sizeof sigs);
    for (ssize_t i = 0; i < n; i++) {
        if (sigs[i] == SIGWINCH) {
            queue_winsize(x);
        } else if (x->out_len + 2 * AGENT_HDR_SIZE + 8 <= OUT_CAP - x->out_head) {
            uint8_t p[4] = {sigs[i], 0, 0, 0};
            queue(x, AGENT_T_SIGNAL, 0, p, 4);
        }
    }
}

static int send_exec_request(int fd, const struct cove_exec_options *o, struct cove_error *err)
{
    struct agent_req *r = calloc(1, sizeof *r);
    if (!r)
        return cove_error_set(err, -ENOMEM, "out of memory");
    char num[16];
    req_add(r, "op", "exec");
    for (const char *const *a = o->argv; *a; a++)
        req_add(r, "arg", *a);
    for (const char *const *e = o->env; e && *e; e++)
        req_add(r, "env", *e);
    if (o->cwd)
        req_add(r, "cwd", o->cwd);
    req_add(r, "tty", o->tty ? "1" : "0");
    req_add(r, "stdin", o->stdin_open ? "1" : "0");
    if (o->tty && o->rows && o->cols) {
        snprintf(num, sizeof num, "%u", o->rows);
        req_add(r, "rows", num);
        snprintf(num, sizeof num, "%u", o->cols);
        req_add(r, "cols", num);
    }
    int rc = req_send(fd, r, agent_deadline(agent_now_ms(), AGENT_REQUEST_TIMEOUT_MS), err);
    free(r);
    return rc;
}

static int exec_loop(struct exec_io *x)
{
    const struct cove_exec_options *o = x->o;
    while (!x->have_exit) {
        struct pollfd p[3] = {{.fd = x->fd, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
        if (x->out_len)
            p[0].events |= POLLOUT;
        /* The next stdin chunk only once the last one went out. */
        if (!x->stdin_done && !x->send_closed && x->out_len == 0)
            p[1] = (struct pollfd){.fd = o->in_fd, .events = POLLIN};
        if (o->signal_fd >= 0 && !x->send_closed && x->out_len + 64 <= OUT_CAP)
            p[2] = (struct pollfd){.fd = o->signal_fd, .events = POLLIN};
        long until = x->frame_deadline && x->frame_deadline < x->deadline ? x->frame_deadline
                                                                          : x->deadline;
        long left = until == AGENT_NEVER ? -1 : until - agent_now_ms();
        int pr = left < 0 && until != AGENT_NEVER ? 0
                 : poll(p, 3, left > INT_MAX ? INT_MAX : (int)left);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return cove_error_set(x->err, -errno, "poll: %s", strerror(errno));
        }
        if (pr == 0 && until != AGENT_NEVER && agent_now_ms() >= until) {
            if (until == x->deadline)
                return cove_error_set(x->err, -ETIMEDOUT, "the command did not finish within "
                                      "%g s; gave up on it", o->timeout_ms / 1000.0);
            return cove_error_set(x->err, -ETIMEDOUT, "the guest agent began a frame and did "
                                  "not finish it within %d s; gave up on the command",
                                  AGENT_FRAME_TIMEOUT_MS / 1000);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            int rc = read_agent(x);
            if (rc < 0)
                return rc;
            if (x->have_exit)
                break;
        }
        if ((p[0].revents & POLLOUT) && x->out_len) {
            ssize_t n = send(x->fd, x->out + x->out_head, x->out_len, MSG_NOSIGNAL);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                /* The agent stopped reading (the command is over): what it sends until
                 * the end still counts, and an end without an exit frame is the error. */
                x->send_closed = true;
                x->out_len = x->out_head = 0;
                continue;
            }
            if (n > 0) {
                x->out_head += (size_t)n;
                x->out_len -= (size_t)n;
                if (!x->out_len)
                    x->out_head = 0;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            read_stdin(x);
        if (p[2].revents & POLLIN)
            read_signals(x);
    }
    return 0;
}

int cove_agent_exec(int fd, const struct cove_exec_options *o, int *status, char *message,
               size_t message_len, struct cove_error *err)
{
    struct exec_io *x = calloc(1, sizeof *x);
    if (!x)
        return cove_error_set(err, -ENOMEM, "out of memory");
    x->fd = fd;
    x->o = o;
    x->message = message;
    x->message_len = message_len;
    x->err = err;
    x->deadline = o->timeout_ms > 0 ? agent_deadline(agent_now_ms(), o->timeout_ms) : AGENT_NEVER;
    if (message_len)
        message[0] = 0;
    int rc = send_exec_request(fd, o, err);
    if (rc == 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (!o->stdin_open) {
            queue(x, AGENT_T_DATA, AGENT_STDIN, NULL, 0);
            x->stdin_done = true;
        }
        rc = exec_loop(x);
        if (rc == -EPIPE)
            rc = cove_error_set(err, rc, "the output went away; the command was stopped");
        else if (rc == 0)
            *status = x->reply.status;
    }
    free(x);
    return rc;
}
