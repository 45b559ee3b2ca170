/*
 * virtio-vsock (virtio 1.2, 5.10): stream sockets between the guest and host programs,
 * bridged to Unix sockets as Firecracker's "hybrid vsock" does.
 *
 * Host to guest: a host program connects to the Unix socket PATH, writes "CONNECT <port>\n"
 * and, once the guest accepted, reads "OK <hostport>\n"; from then on the Unix stream is
 * the guest connection. Guest to host: a guest connect() to host port P (CID 2) becomes a
 * connection to the Unix socket "PATH_P".
 *
 * Flow control is the protocol's credit scheme in both directions, so host memory stays
 * bounded whatever the guest does: guest data is written straight into the host socket and
 * only what the socket does not take is kept, at most HOST_BUF_ALLOC bytes a connection
 * (the buf_alloc we advertise; a guest that sends past it loses the connection). Host data
 * is read from the socket directly into the guest's receive buffers, and only while the
 * guest's advertised credit allows, so nothing of it is buffered here at all.
 *
 * Everything runs on the I/O thread: the transmit queue handler (guest packets), the
 * receive queue handler (packets to the guest, pulled from per-connection state and a
 * bounded ring of resets), and the socket watches. One device lock guards the connection
 * table; it is never held while a queue is kicked, so the lock order stays queue lock ->
 * device lock. Every field of a guest packet is checked: a chain too short for its header
 * or its stated length is a violation (NEEDS_RESET); a packet that makes no sense for its
 * connection (unknown ports, wrong type, credit overrun) is answered with a reset.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/iov.h"
#include "devices/virtio/vsock_internal.h"
#include "util/log.h"
#include "util/state_format.h"
#include "util/usock.h"

/* --- headers --------------------------------------------------------------------------- */

static void hdr_encode(const struct vsock_hdr *h, uint8_t *p)
{
    uint64_t q;
    uint32_t l;
    uint16_t s;
    q = htole64(h->src_cid), memcpy(p + 0, &q, 8);
    q = htole64(h->dst_cid), memcpy(p + 8, &q, 8);
    l = htole32(h->src_port), memcpy(p + 16, &l, 4);
    l = htole32(h->dst_port), memcpy(p + 20, &l, 4);
    l = htole32(h->len), memcpy(p + 24, &l, 4);
    s = htole16(h->type), memcpy(p + 28, &s, 2);
    s = htole16(h->op), memcpy(p + 30, &s, 2);
    l = htole32(h->flags), memcpy(p + 32, &l, 4);
    l = htole32(h->buf_alloc), memcpy(p + 36, &l, 4);
    l = htole32(h->fwd_cnt), memcpy(p + 40, &l, 4);
}

static void hdr_decode(const uint8_t *p, struct vsock_hdr *h)
{
    uint64_t q;
    uint32_t l;
    uint16_t s;
    memcpy(&q, p + 0, 8), h->src_cid = le64toh(q);
    memcpy(&q, p + 8, 8), h->dst_cid = le64toh(q);
    memcpy(&l, p + 16, 4), h->src_port = le32toh(l);
    memcpy(&l, p + 20, 4), h->dst_port = le32toh(l);
    memcpy(&l, p + 24, 4), h->len = le32toh(l);
    memcpy(&s, p + 28, 2), h->type = le16toh(s);
    memcpy(&s, p + 30, 2), h->op = le16toh(s);
    memcpy(&l, p + 32, 4), h->flags = le32toh(l);
    memcpy(&l, p + 36, 4), h->buf_alloc = le32toh(l);
    memcpy(&l, p + 40, 4), h->fwd_cnt = le32toh(l);
}

/* A header from the host side of c (or of a bare port pair for resets). */
static struct vsock_hdr host_hdr(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port,
                                 uint16_t op)
{
    return (struct vsock_hdr){
        .src_cid = VSOCK_HOST_CID,
        .dst_cid = v->guest_cid,
        .src_port = host_port,
        .dst_port = guest_port,
        .type = VSOCK_TYPE_STREAM,
        .op = op,
        .buf_alloc = HOST_BUF_ALLOC,
    };
}

static struct vsock_hdr conn_hdr(struct conn *c, uint16_t op)
{
    struct vsock_hdr h = host_hdr(c->v, c->host_port, c->guest_port, op);
    h.fwd_cnt = c->fwd_cnt;
    c->fwd_cnt_told = c->fwd_cnt;
    return h;
}

/* --- packets from the guest (transmit queue) -------------------------------------------- */

/* The guest connects to host port h->dst_port. */
static void guest_request(struct vsock_dev *v, const struct vsock_hdr *h)
{
    int fd = vsock_connect_host_port(v, h->dst_port);
    struct conn *c = fd < 0 ? NULL : vsock_conn_new(v, fd, C_ESTABLISHED);
    if (!c) {
        if (fd >= 0)
            close(fd);
        vsock_queue_rst(v, h->dst_port, h->src_port);
        return;
    }
    c->host_port = h->dst_port;
    c->guest_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->pending |= P_RESPONSE;
    v->kick = true;
    vsock_conn_update_watch(c);
}

/* The guest accepted a host-initiated connection: tell the host program. */
static void guest_response(struct conn *c)
{
    char ok[32];
    int n = snprintf(ok, sizeof ok, "OK %" PRIu32 "\n", c->host_port);
    /* The socket is fresh and empty, so a short line always fits its buffer. */
    if (write(c->fd, ok, (size_t)n) != n) {
        vsock_conn_close(c, true);
        return;
    }
    c->state = C_ESTABLISHED;
    c->v->kick = true;
    vsock_conn_update_watch(c);
}

static void guest_shutdown(struct conn *c, uint32_t flags)
{
    if (flags & VSOCK_SHUTDOWN_SEND)
        c->guest_shut_send = true;
    if (flags & VSOCK_SHUTDOWN_RCV)
        c->guest_shut_rcv = true;
    if (vsock_after_flush(c))
        vsock_conn_update_watch(c);
}

/* A control packet for an existing connection (RW is handled by the caller). */
static void conn_packet(struct conn *c, const struct vsock_hdr *h)
{
    if (h->op == OP_RST) {
        vsock_flush_quietly(c);
        vsock_conn_close(c, false);
        return;
    }
    if (c->state == C_CONNECTING) {
        if (h->op == OP_RESPONSE && c->request_sent)
            guest_response(c);
        else
            vsock_conn_close(c, true);
        return;
    }
    switch (h->op) {
    case OP_SHUTDOWN: guest_shutdown(c, h->flags); return;
    case OP_CREDIT_UPDATE: break;
    case OP_CREDIT_REQUEST:
        c->pending |= P_CREDIT_UPDATE;
        c->v->kick = true;
        break;
    default: /* RESPONSE or RW out of place */
        vsock_conn_close(c, true);
        return;
    }
    if (c->readable && vsock_peer_credit(c) > 0)
        c->v->kick = true;
    vsock_conn_update_watch(c);
}

/* Checks one transmit chain and acts on it; returns -EIO for a violation. */
static int guest_packet(struct vsock_dev *v, struct virtq *vq, const struct virtq_chain *ch)
{
    uint8_t raw[VSOCK_HDR_SIZE];
    struct vsock_hdr h;
    if (ch->out_len < VSOCK_HDR_SIZE)
        return virtq_fail(vq, "virtio-vsock packet shorter than its header");
    iov_to_buf(ch->iov, ch->n_out, 0, raw, VSOCK_HDR_SIZE);
    hdr_decode(raw, &h);
    if (h.len > VSOCK_MAX_PAYLOAD || h.len > ch->out_len - VSOCK_HDR_SIZE)
        return virtq_fail(vq, "virtio-vsock packet length beyond its buffers");
    if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID)
        return 0; /* not from this guest, or not for us: nobody to answer */
    if (h.type != VSOCK_TYPE_STREAM || h.op < OP_REQUEST || h.op > OP_CREDIT_REQUEST ||
        (h.len && h.op != OP_RW)) {
        if (h.op != OP_RST)
            vsock_queue_rst(v, h.dst_port, h.src_port);
        return 0;
    }
    struct conn *c = vsock_conn_find(v, h.dst_port, h.src_port);
    if (!c) {
        if (h.op == OP_REQUEST)
            guest_request(v, &h);
        else if (h.op != OP_RST)
            vsock_queue_rst(v, h.dst_port, h.src_port);
        return 0;
    }
    if (h.op == OP_REQUEST) {
        vsock_conn_close(c, true); /* a second request on a live pair: start over */
        return 0;
    }
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
    if (h.op == OP_RW && c->state == C_ESTABLISHED) {
        /* The payload, past the header, cut to the stated length. */
        size_t got;
        unsigned k = iov_slice(ch->iov, ch->n_out, VSOCK_HDR_SIZE, h.len, v->tx_part,
                               VIRTQ_MAX_SIZE, &got);
        if (!vsock_guest_data(c, v->tx_part, k, got))
            return 0;
        if (c->readable && vsock_peer_credit(c) > 0)
            v->kick = true;
        vsock_conn_update_watch(c);
        return 0;
    }
    conn_packet(c, &h);
    return 0;
}

static int tx_serve(void *dev, struct virtq *vq, struct virtq_chain *ch)
{
    int r = guest_packet(dev, vq, ch);
    if (r < 0)
        return r;
    virtq_push(vq, ch->head, 0);
    return 0;
}

static int vsock_tx(struct vsock_dev *v, struct virtq *vq)
{
    pthread_mutex_lock(&v->lock);
    int r = virtio_queue_serve(vq, &v->tx_chain, NULL, tx_serve, v);
    pthread_mutex_unlock(&v->lock);
    vsock_kick_rx(v);
    return r;
}

/* --- packets to the guest (receive queue) ------------------------------------------------ */

static bool conn_has_work(const struct conn *c)
{
    if (c->pending == P_REQUEST && c->v->hold_requests)
        return false; /* held until the driver has taken the transport reset */
    if (c->pending)
        return true;
    return c->state == C_ESTABLISHED && c->readable && !c->host_eof && vsock_peer_credit(c) > 0;
}

static struct conn *next_conn_with_work(struct vsock_dev *v)
{
    for (unsigned i = 0; i < v->nconns; i++) {
        unsigned at = (v->rr + i) % v->nconns;
        if (conn_has_work(v->conns[at])) {
            v->rr = at + 1; /* the others go first next time */
            return v->conns[at];
        }
    }
    return NULL;
}

/* Reads host data for c straight into the chain's buffers, after the header. Returns the
 * header to send, or op 0 when there is nothing after all (c may then be closed). */
static struct vsock_hdr conn_data(struct vsock_dev *v, struct conn *c, const struct virtq_chain *ch)
{
    size_t cap = ch->in_len - VSOCK_HDR_SIZE, credit = vsock_peer_credit(c);
    if (cap > credit)
        cap = credit;
    if (cap > VSOCK_MAX_PAYLOAD)
        cap = VSOCK_MAX_PAYLOAD;
    size_t got;
    unsigned k = iov_slice(ch->iov + ch->n_out, ch->n_in, VSOCK_HDR_SIZE, cap, v->rx_part,
                           IOV_MAX, &got);
    ssize_t n;
    do
        n = readv(c->fd, v->rx_part, (int)k);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        struct vsock_hdr h = conn_hdr(c, OP_RW);
        h.len = (uint32_t)n;
        c->tx_cnt += (uint32_t)n;
        return h;
    }
    if (n == 0) { /* the host program will send nothing more */
        c->host_eof = true;
        c->readable = false;
        vsock_conn_update_watch(c);
        struct vsock_hdr h = conn_hdr(c, OP_SHUTDOWN);
        h.flags = VSOCK_SHUTDOWN_SEND;
        return h;
    }
    if (errno == EAGAIN) {
        c->readable = false;
        vsock_conn_update_watch(c);
    } else {
        vsock_conn_close(c, true);
    }
    return (struct vsock_hdr){0};
}

/* The next packet c owes the guest, written into ch; returns its length or 0. */
static uint32_t conn_fill(struct vsock_dev *v, struct conn *c, const struct virtq_chain *ch)
{
    struct vsock_hdr h;
    if (c->pending & P_REQUEST) {
        h = conn_hdr(c, OP_REQUEST);
        c->request_sent = true;
    } else if (c->pending & P_RESPONSE) {
        h = conn_hdr(c, OP_RESPONSE);
    } else if (c->state == C_ESTABLISHED && c->readable && !c->host_eof && vsock_peer_credit(c)) {
        h = conn_data(v, c, ch);
        if (h.op == 0)
            return 0;
    } else if (c->pending & P_CREDIT_UPDATE) {
        h = conn_hdr(c, OP_CREDIT_UPDATE);
    } else {
        c->pending = 0;
        return 0;
    }
    /* Every header carries fwd_cnt, so any packet is also a credit update. */
    c->pending &= ~(P_REQUEST | P_RESPONSE | P_CREDIT_UPDATE);
    uint8_t raw[VSOCK_HDR_SIZE];
    hdr_encode(&h, raw);
    iov_from_buf(ch->iov + ch->n_out, ch->n_in, 0, raw, VSOCK_HDR_SIZE);
    return VSOCK_HDR_SIZE + h.len;
}

/* Resets go first; then the next connection with work, round robin (into v->rx_conn). */
static bool rx_has_work(void *dev)
{
    struct vsock_dev *v = dev;
    v->rx_conn = v->rst_count ? NULL : next_conn_with_work(v);
    return v->rst_count || v->rx_conn;
}

static int rx_serve(void *dev, struct virtq *vq, struct virtq_chain *ch)
{
    struct vsock_dev *v = dev;
    if (ch->in_len < VSOCK_HDR_SIZE)
        return virtq_fail(vq, "virtio-vsock receive buffer shorter than a header");
    uint32_t len;
    if (!v->rx_conn) {
        struct rst_entry e = v->rst[v->rst_head];
        v->rst_head = (v->rst_head + 1) % RST_RING;
        v->rst_count--;
        struct vsock_hdr h = host_hdr(v, e.host_port, e.guest_port, OP_RST);
        uint8_t raw[VSOCK_HDR_SIZE];
        hdr_encode(&h, raw);
        iov_from_buf(ch->iov + ch->n_out, ch->n_in, 0, raw, VSOCK_HDR_SIZE);
        len = VSOCK_HDR_SIZE;
    } else if ((len = conn_fill(v, v->rx_conn, ch)) == 0) {
        virtq_unpop(vq);
        return 0;
    }
    virtq_push(vq, ch->head, len);
    return 0;
}

/* An empty ring leaves the work waiting: the driver notifies when it posts more. */
static int vsock_rx(struct vsock_dev *v, struct virtq *vq)
{
    pthread_mutex_lock(&v->lock);
    v->kick = false;
    int r = virtio_queue_serve(vq, &v->rx_chain, rx_has_work, rx_serve, v);
    pthread_mutex_unlock(&v->lock);
    return r;
}

/* The only event is TRANSPORT_RESET, after a restore: the guest's connections did not
 * survive (their host sockets were closed at the save), and the driver resets them all
 * and reads the CID again. Other event buffers stay posted.
 *
 * A host-initiated connection must not reach the guest before the driver has acted on the
 * reset: Linux handles events and received packets in separate work items, so a REQUEST
 * served first is accepted and then reset with the others (a `cove exec` right after a
 * resume failed once). So REQUESTs are held from the restore until the driver has handed
 * the event buffer back: Linux re-posts it only after resetting its sockets, and then
 * notifies the event queue (asked for with EVENT_IDX). A driver that never does (no event
 * buffers, a hung guest) gets them after HOLD_DEADLINE_MS anyway. */
#define VSOCK_EVENT_TRANSPORT_RESET 0
#define HOLD_DEADLINE_MS 3000

/* Lets held REQUESTs go; with the lock held. */
static void release_requests(struct vsock_dev *v)
{
    if (!v->hold_requests)
        return;
    v->hold_requests = false;
    if (v->hold_timer >= 0)
        timerfd_settime(v->hold_timer, 0, &(struct itimerspec){0}, NULL);
    for (unsigned i = 0; i < v->nconns; i++)
        if (v->conns[i]->pending & P_REQUEST)
            v->kick = true;
}

static void hold_timer_handler(void *opaque, uint32_t events)
{
    (void)events;
    struct vsock_dev *v = opaque;
    uint64_t n;
    if (read(v->hold_timer, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&v->lock);
    if (v->hold_requests)
        log_debug("virtio-vsock: the driver did not take the transport reset within %d ms; "
                  "host connections go ahead", HOLD_DEADLINE_MS);
    release_requests(v);
    pthread_mutex_unlock(&v->lock);
    vsock_kick_rx(v);
}

/* A notify while REQUESTs are held: has the driver put a buffer back since the reset? */
static void check_reset_taken(struct vsock_dev *v, struct virtq *vq)
{
    uint16_t idx = virtq_avail_idx_notify_next(vq);
    pthread_mutex_lock(&v->lock);
    if (v->hold_requests && !v->reset_event && idx != v->ev_avail)
        release_requests(v);
    pthread_mutex_unlock(&v->lock);
    vsock_kick_rx(v);
}

static int vsock_event(struct vsock_dev *v, struct virtq *vq)
{
    pthread_mutex_lock(&v->lock);
    bool send = v->reset_event, held = v->hold_requests;
    pthread_mutex_unlock(&v->lock);
    if (!send) {
        if (held)
            check_reset_taken(v, vq);
        return 0;
    }
    struct virtq_chain *c = &v->ev_chain;
    int r = virtq_pop(vq, c);
    if (r <= 0)
        return r; /* no buffer yet: sent when the driver posts one and notifies */
    uint32_t id = htole32(VSOCK_EVENT_TRANSPORT_RESET);
    if (c->in_len < sizeof id) {
        virtq_push(vq, c->head, 0);
        return virtq_fail(vq, "vsock event buffer shorter than an event");
    }
    iov_from_buf(c->iov + c->n_out, c->n_in, 0, &id, sizeof id);
    virtq_push(vq, c->head, sizeof id);
    uint16_t idx = virtq_avail_idx_notify_next(vq);
    pthread_mutex_lock(&v->lock);
    v->reset_event = false;
    v->ev_avail = idx;
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static int vsock_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct vsock_dev *v = dev;
    if (q == VSOCK_RX)
        return vsock_rx(v, vq);
    if (q == VSOCK_TX)
        return vsock_tx(v, vq);
    return vsock_event(v, vq);
}

/* Runs the receive queue if something set v->kick; call without the lock. */
void vsock_kick_rx(struct vsock_dev *v)
{
    pthread_mutex_lock(&v->lock);
    bool kick = v->kick;
    v->kick = false;
    pthread_mutex_unlock(&v->lock);
    if (kick)
        virtio_mmio_process_queue(v->t, VSOCK_RX);
}

/* --- lifecycle ----------------------------------------------------------------------------- */

/* The guest's connections died with its driver; host programs see their sockets close. */
void vsock_reset(void *dev)
{
    struct vsock_dev *v = dev;
    vsock_drop_all(v);
    pthread_mutex_lock(&v->lock);
    v->reset_event = false;
    release_requests(v); /* a fresh driver has no old connections to reset */
    v->kick = false;
    pthread_mutex_unlock(&v->lock);
}

static void vsock_config_read(void *dev, uint8_t *buf)
{
    struct vsock_dev *v = dev;
    uint64_t cid = htole64(v->guest_cid);
    memcpy(buf, &cid, 8);
}

static void vsock_destroy(void *dev)
{
    struct vsock_dev *v = dev;
    if (v->listen_w)
        iothread_unwatch(v->listen_w);
    if (v->hold_w)
        iothread_unwatch(v->hold_w);
    if (v->hold_timer >= 0)
        close(v->hold_timer);
    vsock_drop_all(v);
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
        unlink(v->path);
    }
    pthread_mutex_destroy(&v->lock);
    free(v);
}

/* Connections are not saved: their host ends close when the VM stops, and a restored
 * device tells the driver with a transport reset. */
static int vsock_save(void *dev, struct state_writer *w)
{
    struct vsock_dev *v = dev;
    state_put_u64(w, v->guest_cid);
    return 0;
}

static int vsock_load(void *dev, struct state_reader *r, struct cove_error *err)
{
    struct vsock_dev *v = dev;
    uint64_t cid = state_get_u64(r);
    if (!r->bad && cid != v->guest_cid)
        return cove_error_set(err, -EINVAL, "the vsock CID changed since the VM was "
                              "suspended (%llu then, %llu now)", (unsigned long long)cid,
                              (unsigned long long)v->guest_cid);
    pthread_mutex_lock(&v->lock);
    v->reset_event = true;
    v->hold_requests = true;
    if (v->hold_timer >= 0) {
        struct itimerspec at = {.it_value = {.tv_sec = HOLD_DEADLINE_MS / 1000,
                                             .tv_nsec = HOLD_DEADLINE_MS % 1000 * 1000000L}};
        timerfd_settime(v->hold_timer, 0, &at, NULL);
    }
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static const struct virtio_device_ops vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .features = 1ull << 0, /* VIRTIO_VSOCK_F_STREAM */
    .num_queues = 3,
    .queue_max = VSOCK_QUEUE_SIZE,
    .config_size = VSOCK_CONFIG_SIZE,
    .config_read = vsock_config_read,
    .queue_handler = vsock_queue,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
    .save = vsock_save,
    .load = vsock_load,
};

static int listen_on(struct vsock_dev *v, struct cove_error *err)
{
    struct stat st;
    if (lstat(v->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return cove_error_set(err, -EEXIST, "vsock socket %s: the path exists and is not "
                                  "a socket", v->path);
        unlink(v->path); /* left by a VM that was killed */
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, v->path, strlen(v->path) + 1);
    /* Whoever connects gets the guest's vsock ports (the agent runs commands as root). */
    int fd = usock_listen_private(&sa, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    if (fd < 0)
        return cove_error_set(err, fd, "vsock socket %s: %s", v->path, strerror(-fd));
    v->listen_fd = fd;
    int rc = iothread_watch(v->io, v->listen_fd, EPOLLIN, vsock_listen_handler, v, &v->listen_w);
    if (rc < 0)
        return cove_error_set(err, rc, "vsock socket %s: cannot watch it: %s", v->path,
                              strerror(-rc));
    v->hold_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (v->hold_timer < 0)
        return cove_error_set(err, -errno, "virtio-vsock: timerfd: %s", strerror(errno));
    rc = iothread_watch(v->io, v->hold_timer, EPOLLIN, hold_timer_handler, v, &v->hold_w);
    if (rc < 0)
        return cove_error_set(err, rc, "virtio-vsock: cannot watch its timer: %s",
                              strerror(-rc));
    return 0;
}

int virtio_vsock_create(const struct virtio_mmio_params *p, uint64_t guest_cid,
                        const char *uds_path, struct virtio_mmio **out, struct cove_error *err)
{
    if (guest_cid < 3 || guest_cid >= UINT32_MAX)
        return cove_error_set(err, -EINVAL, "vsock guest CID %" PRIu64 " is out of range "
                              "(3 to 4294967294)", guest_cid);
    /* Room for "_<port>" (guest-initiated connections) after the path. */
    if (p->io && (!uds_path || !*uds_path || strlen(uds_path) + 12 > UDS_PATH_MAX))
        return cove_error_set(err, -ENAMETOOLONG, "vsock socket path '%s' is empty or longer "
                              "than %zu bytes", uds_path ? uds_path : "",
                              UDS_PATH_MAX - 12);
    struct vsock_dev *v = calloc(1, sizeof *v);
    if (!v)
        return cove_error_set(err, -ENOMEM, "virtio-vsock: out of memory");
    v->io = p->io;
    v->guest_cid = guest_cid;
    v->listen_fd = -1;
    v->hold_timer = -1;
    v->next_host_port = HOST_PORT_FIRST;
    if (p->io)
        strcpy(v->path, uds_path);
    pthread_mutex_init(&v->lock, NULL);
    struct virtio_mmio *t;
    int rc = virtio_mmio_create(p, &vsock_ops, v, &t, err);
    if (rc < 0)
        return rc;
    v->t = t;
    if (p->io && (rc = listen_on(v, err)) < 0) {
        virtio_mmio_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}
