/*
 * cove connect: a byte pipe between two local file descriptors (ssh's ProxyCommand gives
 * its pipes) and a connection to a guest vsock port. Each direction ends on its own: the
 * end of in_fd becomes shutdown(SHUT_WR) on the socket, so the guest's program sees its
 * end of input (sshd -i, a command reading stdin to the end) and can still answer; the end
 * of the socket's data ends the other direction. One buffer per direction, read only while
 * it is empty, so memory stays at 128 KiB whatever passes through, and a side that does
 * not read stops the other side (back pressure, no queue).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cove/agent.h>

#define PROXY_BUF (64 * 1024)

struct direction {
    int from, to;
    bool to_is_sock;
    bool open;      /* from has not ended yet */
    char *buf;
    size_t pos, len; /* bytes buf[pos..len) wait to be written */
};

/* Reads once into an empty buffer: 1 data, 0 end of input, negative errno. */
static int fill(struct direction *d, bool from_is_sock)
{
    ssize_t n = from_is_sock ? recv(d->from, d->buf, PROXY_BUF, MSG_DONTWAIT)
                             : read(d->from, d->buf, PROXY_BUF);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -errno;
    d->pos = 0;
    d->len = (size_t)n;
    return n > 0;
}

/* Writes what the buffer holds, as much as goes now: 0, or a negative errno. */
static int drain(struct direction *d)
{
    size_t want = d->len - d->pos;
    ssize_t n = d->to_is_sock ? send(d->to, d->buf + d->pos, want, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(d->to, d->buf + d->pos, want);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    d->pos += (size_t)n;
    if (d->pos == d->len)
        d->pos = d->len = 0;
    return 0;
}

static int proxy_loop(struct direction *up, struct direction *down, int sock,
                      struct cove_error *err)
{
    for (;;) {
        bool up_busy = up->open || up->len, down_busy = down->open || down->len;
        if (!up_busy && !down_busy)
            return 0;
        /* up: in_fd -> sock; down: sock -> out_fd. Read a side only into an empty buffer. */
        short sock_events = (short)((up->len ? POLLOUT : 0) |
                                    (down->open && !down->len ? POLLIN : 0));
        /* With nothing to ask of the socket it is still watched while input may come, to
         * see the guest close it (POLLHUP); not while output waits, as a hang-up reported
         * at every poll would spin until out_fd takes it. */
        bool watch_sock = sock_events || (!down->open && up->open && !up->len);
        struct pollfd p[3] = {
            {.fd = up->open && !up->len ? up->from : -1, .events = POLLIN},
            {.fd = watch_sock ? sock : -1, .events = sock_events},
            {.fd = down->len ? down->to : -1, .events = POLLOUT},
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return cove_error_set(err, -errno, "poll: %s", strerror(errno));
        }
        if (p[0].revents) { /* data, or the end (POLLHUP: read says 0 once drained) */
            int rc = fill(up, false);
            if (rc < 0)
                return cove_error_set(err, rc, "reading the input: %s", strerror(-rc));
            if (rc == 0) {
                up->open = false;
                shutdown(sock, SHUT_WR); /* the guest sees the end of its input */
            }
        }
        if (down->open && !down->len && p[1].revents) {
            int rc = fill(down, true);
            if (rc < 0 && rc != -ECONNRESET)
                return cove_error_set(err, rc, "the connection to the guest: %s",
                                      strerror(-rc));
            if (rc <= 0)
                down->open = false;
        }
        if (up->len && p[1].revents & (POLLOUT | POLLHUP | POLLERR)) {
            int rc = drain(up);
            if (rc < 0) /* the guest closed its side: nothing more can reach it */
                up->open = false, up->len = up->pos = 0;
        }
        if (down->len && p[2].revents) {
            int rc = drain(down);
            if (rc < 0) /* -EPIPE: whoever read the output went away */
                return cove_error_set(err, rc, "writing the output: %s", strerror(-rc));
        }
        /* The guest closed the connection whole (not only its sending side): what is
         * left of the input has nowhere to go. */
        if (!down->open && !down->len && p[1].revents & POLLHUP && !up->len)
            up->open = false;
    }
}

int cove_vsock_proxy(int in_fd, int out_fd, int sock, struct cove_error *err)
{
    char *bufs = malloc(2 * PROXY_BUF);
    if (!bufs)
        return cove_error_set(err, -ENOMEM, "out of memory");
    struct direction up = {.from = in_fd, .to = sock, .to_is_sock = true, .open = true,
                           .buf = bufs};
    struct direction down = {.from = sock, .to = out_fd, .open = true, .buf = bufs + PROXY_BUF};
    int rc = proxy_loop(&up, &down, sock, err);
    free(bufs);
    return rc;
}
