/*
 * virtio-vsock connections: the table, flow control of guest data towards the host
 * sockets, and the host side (the listening Unix socket, "CONNECT <port>" lines, socket
 * watches). See vsock.c for the whole picture.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/iov.h"
#include "devices/virtio/vsock_internal.h"
#include "util/confined.h"
#include "util/log.h"
#include "util/usock.h"

static void sock_handler(void *opaque, uint32_t events);

/* --- the connection table -------------------------------------------------------------- */

struct conn *vsock_conn_find(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port)
{
    for (unsigned i = 0; i < v->nconns; i++) {
        struct conn *c = v->conns[i];
        if (c->state != C_LINE && c->host_port == host_port && c->guest_port == guest_port)
            return c;
    }
    return NULL;
}

void vsock_queue_rst(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port)
{
    if (v->rst_count == RST_RING) {
        log_debug("virtio-vsock: reset ring full; dropping a reset");
        return;
    }
    v->rst[(v->rst_head + v->rst_count++) % RST_RING] = (struct rst_entry){host_port, guest_port};
    v->kick = true;
}

uint32_t vsock_peer_credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* What the socket watch should wait for, given the connection's state. */
void vsock_conn_update_watch(struct conn *c)
{
    uint32_t ev = 0;
    switch (c->state) {
    case C_LINE: ev = EPOLLIN; break;
    case C_CONNECTING: ev = EPOLLRDHUP; break; /* the client giving up */
    case C_ESTABLISHED:
        if (!c->host_eof && !c->readable && vsock_peer_credit(c) > 0)
            ev |= EPOLLIN;
        if (c->buf_len)
            ev |= EPOLLOUT;
        break;
    }
    if (ev != c->events && iothread_watch_set_events(c->w, ev) == 0)
        c->events = ev;
}

/* Takes c out of the table; with rst, the guest is told the connection is gone. Called
 * with the lock held, on the I/O thread (iothread_unwatch then does not wait). */
void vsock_conn_close(struct conn *c, bool rst)
{
    struct vsock_dev *v = c->v;
    for (unsigned i = 0; i < v->nconns; i++) {
        if (v->conns[i] == c) {
            v->conns[i] = v->conns[--v->nconns];
            break;
        }
    }
    if (rst && c->state != C_LINE && (c->state == C_ESTABLISHED || c->request_sent))
        vsock_queue_rst(v, c->host_port, c->guest_port);
    iothread_unwatch(c->w);
    close(c->fd);
    free(c->buf);
    free(c);
}


struct conn *vsock_conn_new(struct vsock_dev *v, int fd, enum conn_state state)
{
    if (!v->io)
        return NULL; /* no host side (fuzzing): every connection is refused */
    if (v->nconns == MAX_CONNS) {
        unsigned more;
        if (log_ratelimit(&v->refusal_log, 1000, &more))
            log_warn("virtio-vsock: %d connections open; refusing another (and %u more since "
                     "the last warning)", MAX_CONNS, more);
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->v = v;
    c->fd = fd;
    c->state = state;
    if (iothread_watch(v->io, fd, 0, sock_handler, c, &c->w) < 0) {
        free(c);
        return NULL;
    }
    v->conns[v->nconns++] = c;
    return c;
}

/* --- guest -> host data ------------------------------------------------------------------ */

static void maybe_credit_update(struct conn *c)
{
    uint32_t guest_view_free = HOST_BUF_ALLOC - (c->rx_cnt - c->fwd_cnt_told);
    if (c->fwd_cnt != c->fwd_cnt_told && guest_view_free < CREDIT_LOW_WATER) {
        c->pending |= P_CREDIT_UPDATE;
        c->v->kick = true;
    }
}

/* After data left the ring: a guest that shut down sending gets its half-close, and one
 * that closed both ways gets the reset that completes a Linux close. Returns false when
 * c is gone. */
bool vsock_after_flush(struct conn *c)
{
    if (c->buf_len)
        return true;
    if (c->guest_shut_send && c->guest_shut_rcv) {
        vsock_conn_close(c, true);
        return false;
    }
    if (c->guest_shut_send && !c->shut_wr_done) {
        shutdown(c->fd, SHUT_WR);
        c->shut_wr_done = true;
    }
    return true;
}

/* Writes the ring to the socket; false when c had to be closed. */
static bool flush_buf(struct conn *c)
{
    while (c->buf_len) {
        uint32_t first = HOST_BUF_ALLOC - c->buf_head;
        if (first > c->buf_len)
            first = c->buf_len;
        struct iovec iov[2] = {{c->buf + c->buf_head, first},
                               {c->buf, c->buf_len - first}};
        ssize_t n = writev(c->fd, iov, iov[1].iov_len ? 2 : 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            vsock_conn_close(c, true);
            return false;
        }
        c->buf_head = (c->buf_head + (uint32_t)n) % HOST_BUF_ALLOC;
        c->buf_len -= (uint32_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    maybe_credit_update(c);
    return vsock_after_flush(c);
}

/* RW from the guest: straight into the socket while it takes it, the rest into the ring.
 * Returns false when c was closed. */
bool vsock_guest_data(struct conn *c, const struct iovec *iov, unsigned n, size_t len)
{
    if (c->guest_shut_send || c->buf_len + len > HOST_BUF_ALLOC) {
        log_debug("virtio-vsock: guest port %" PRIu32 " sent past its credit or shutdown",
                  c->guest_port);
        vsock_conn_close(c, true);
        return false;
    }
    c->rx_cnt += (uint32_t)len;
    size_t off = 0;
    if (c->buf_len == 0) {
        while (off < len) {
            struct iovec part[64];
            size_t got;
            unsigned k = iov_slice(iov, n, off, len - off, part, 64, &got);
            ssize_t w = writev(c->fd, part, (int)k);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno == EAGAIN)
                break;
            if (w <= 0) {
                vsock_conn_close(c, true);
                return false;
            }
            off += (size_t)w;
            c->fwd_cnt += (uint32_t)w;
        }
    }
    if (off < len) {
        if (!c->buf && !(c->buf = malloc(HOST_BUF_ALLOC))) {
            vsock_conn_close(c, true);
            return false;
        }
        while (off < len) {
            uint32_t tail = (c->buf_head + c->buf_len) % HOST_BUF_ALLOC;
            uint32_t room = HOST_BUF_ALLOC - tail;
            size_t chunk = len - off < room ? len - off : room;
            iov_to_buf(iov, n, off, c->buf + tail, chunk);
            c->buf_len += (uint32_t)chunk;
            off += chunk;
        }
    }
    maybe_credit_update(c);
    return true;
}

int vsock_connect_host_port(struct vsock_dev *v, uint32_t port)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s_%" PRIu32, v->path, port);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whatever the socket takes now of what is left; for a connection about to go. */
void vsock_flush_quietly(struct conn *c)
{
    while (c->buf_len) {
        uint32_t first = HOST_BUF_ALLOC - c->buf_head;
        if (first > c->buf_len)
            first = c->buf_len;
        ssize_t n = write(c->fd, c->buf + c->buf_head, first);
        if (n <= 0)
            return;
        c->buf_head = (c->buf_head + (uint32_t)n) % HOST_BUF_ALLOC;
        c->buf_len -= (uint32_t)n;
    }
}

/* --- host sockets ------------------------------------------------------------------------ */

static uint32_t alloc_host_port(struct vsock_dev *v)
{
    for (;;) {
        uint32_t p = v->next_host_port++;
        if (p < HOST_PORT_FIRST) {
            v->next_host_port = HOST_PORT_FIRST + 1;
            p = HOST_PORT_FIRST;
        }
        bool used = false;
        for (unsigned i = 0; i < v->nconns && !used; i++)
            used = v->conns[i]->state != C_LINE && v->conns[i]->host_port == p;
        if (!used)
            return p;
    }
}

/* "CONNECT <port>": digits only, a 32-bit port. */
static bool parse_connect(const char *line, uint32_t *port)
{
    if (strncmp(line, "CONNECT ", 8) != 0)
        return false;
    const char *d = line + 8;
    uint64_t v = 0;
    size_t n = 0;
    for (; d[n] >= '0' && d[n] <= '9'; n++) {
        v = v * 10 + (uint64_t)(d[n] - '0');
        if (v > UINT32_MAX)
            return false;
    }
    if (n == 0 || (d[n] && strcmp(d + n, "\r") != 0))
        return false;
    *port = (uint32_t)v;
    return true;
}

/* Reads the connect line byte by byte: whatever follows it is stream data, for later. */
static void read_connect_line(struct conn *c)
{
    for (;;) {
        char ch;
        ssize_t n = read(c->fd, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0 || (ch != '\n' && c->line_len == CONNECT_LINE_MAX - 1)) {
            vsock_conn_close(c, false);
            return;
        }
        if (ch != '\n') {
            c->line[c->line_len++] = ch;
            continue;
        }
        c->line[c->line_len] = 0;
        uint32_t port;
        if (!parse_connect(c->line, &port)) {
            log_debug("virtio-vsock: bad connect line from a host program");
            vsock_conn_close(c, false);
            return;
        }
        c->guest_port = port;
        c->host_port = alloc_host_port(c->v);
        c->state = C_CONNECTING;
        c->pending |= P_REQUEST;
        c->v->kick = true;
        vsock_conn_update_watch(c);
        return;
    }
}

static void sock_handler(void *opaque, uint32_t events)
{
    struct conn *c = opaque;
    struct vsock_dev *v = c->v;
    pthread_mutex_lock(&v->lock);
    if (c->dead) {
        pthread_mutex_unlock(&v->lock);
        return;
    }
    switch (c->state) {
    case C_LINE: read_connect_line(c); break;
    case C_CONNECTING:
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            vsock_conn_close(c, true); /* the host program gave up waiting */
        break;
    case C_ESTABLISHED:
        if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->buf_len && !flush_buf(c))
            break;
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->host_eof) {
            c->readable = true;
            v->kick = true;
        }
        vsock_conn_update_watch(c);
        break;
    }
    pthread_mutex_unlock(&v->lock);
    vsock_kick_rx(v);
}

/* Only the VM's own uid may reach the guest's ports (root included: the socket's 0600
 * does not stop root, this does). */
static bool peer_allowed(struct vsock_dev *v, int fd)
{
    uid_t uid;
    if (usock_peer_is_owner(fd, &uid))
        return true;
    unsigned more;
    pthread_mutex_lock(&v->lock);
    bool say = log_ratelimit(&v->peer_refusal_log, 1000, &more);
    pthread_mutex_unlock(&v->lock);
    if (say)
        log_warn("virtio-vsock: refused a connection from uid %d (only uid %u may connect; "
                 "%u more refused since the last warning)", (int)uid, (unsigned)process_owner(), more);
    return false;
}

void vsock_listen_handler(void *opaque, uint32_t events)
{
    struct vsock_dev *v = opaque;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (!peer_allowed(v, fd)) {
            close(fd);
            continue;
        }
        pthread_mutex_lock(&v->lock);
        struct conn *c = vsock_conn_new(v, fd, C_LINE);
        if (c)
            vsock_conn_update_watch(c);
        else
            close(fd);
        pthread_mutex_unlock(&v->lock);
    }
}

/* Closes every connection. From any thread: the table is emptied under the lock (a
 * handler that runs meanwhile sees its connection dead), the watches are removed outside
 * it (iothread_unwatch waits for a running handler, which needs the lock to finish). */
void vsock_drop_all(struct vsock_dev *v)
{
    struct conn *gone[MAX_CONNS];
    pthread_mutex_lock(&v->lock);
    unsigned n = v->nconns;
    memcpy(gone, v->conns, n * sizeof gone[0]);
    for (unsigned i = 0; i < n; i++)
        gone[i]->dead = true;
    v->nconns = 0;
    v->rst_count = 0;
    v->kick = false;
    pthread_mutex_unlock(&v->lock);
    for (unsigned i = 0; i < n; i++) {
        iothread_unwatch(gone[i]->w);
        close(gone[i]->fd);
        free(gone[i]->buf);
        free(gone[i]);
    }
}

