/*
 * virtio-net (virtio 1.2, 5.1): one receive and one transmit queue over a net attachment.
 *
 * Offered: MAC, STATUS (the attachment's link state: a cove network's goes down while its
 * switch is gone; a change raises the configuration interrupt), MTU (the attachment's; 64 KiB on slirp, see
 * net.h) and CSUM (the guest may leave TCP/UDP checksums to us, which saves a slow guest
 * CPU a pass over every byte it sends). On an attachment that carries vnet headers with
 * checksum and TCP segmentation offloads (a TAP, net_tap.c), also GUEST_CSUM,
 * HOST_TSO4/6 and GUEST_TSO4/6: the guest's header goes to the attachment as it is once
 * checked (tx_hdr_ok), the attachment's to the guest once fitted to what the guest
 * negotiated (rx_hdr_fit), and the attachment hears which receive offloads the guest
 * took (set_offload). A cove network carries partial checksums only (GUEST_CSUM: its
 * 64 KiB MTU leaves nothing to segment). No merged receive buffers, so every frame fits one receive chain
 * (a guest with GUEST_TSO posts 64 KiB chains) and each chain starts with the 12-byte
 * virtio_net_hdr_v1.
 *
 * Receive: the attachment's callback (on its own thread) copies a frame into a bounded
 * pending list and, when the list was empty, signals an eventfd the I/O thread watches;
 * the receive handler then moves frames into guest chains. Frames wait there while the
 * guest has posted no buffers; past the bound they are dropped and counted, as is a
 * frame larger than the chain offered for it. Transmit: each chain is copied out (the
 * guest could rewrite it while the back end reads) and handed to the attachment.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/iov.h"
#include "devices/virtio/mmio_internal.h"
#include "devices/virtio/throttle.h"
#include "devices/virtio/virtio_devices.h"
#include "util/inet_csum.h"
#include "util/state_format.h"
#include "util/log.h"

#define NET_RX 0
#define NET_TX 1
#define NET_QUEUE_SIZE 256

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4

#define NET_CONFIG_SIZE 12 /* mac[6], status, max_virtqueue_pairs, mtu */
#define NET_HDR_SIZE NET_VNET_HDR_LEN /* struct virtio_net_hdr_v1 */

/* What may wait for receive buffers: enough for a TCP window's burst, bounded so a guest
 * that never posts buffers costs little memory. */
#define RX_PENDING_FRAMES 512
#define RX_PENDING_BYTES (4u << 20)

struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};

struct pending_frame {
    size_t len;
    uint8_t *data;
};

struct virtio_net {
    struct virtio_mmio *t;
    struct net_attachment *backend;
    uint8_t mac[NET_MAC_LEN];
    bool keep_mac; /* a restore keeps mac (the configuration's) rather than the saved one */

    pthread_mutex_t rx_lock; /* the pending list and the stats */
    struct pending_frame rx_pending[RX_PENDING_FRAMES];
    unsigned rx_head, rx_count;
    size_t rx_bytes;
    int rx_efd; /* -1 without an I/O thread: the callback runs the queue itself */
    struct iothread_watch *rx_watch;
    struct virtio_net_stats stats;

    struct virtq_chain rx_chain, tx_chain;
    struct queue_throttle rx_throttle, tx_throttle; /* the NIC's rate limit, each way */
    unsigned rx_offload; /* the receive offloads the attachment was last told (rx_lock) */
    uint8_t tx_buf[NET_HDR_SIZE + NET_FRAME_MAX]; /* the header, then the frame */
};

static void count(struct virtio_net *n, uint64_t *field)
{
    pthread_mutex_lock(&n->rx_lock);
    (*field)++;
    pthread_mutex_unlock(&n->rx_lock);
}

/* Receive. */

static void drop_head_locked(struct virtio_net *n)
{
    struct pending_frame *f = &n->rx_pending[n->rx_head];
    n->rx_bytes -= f->len;
    free(f->data);
    f->data = NULL;
    n->rx_head = (n->rx_head + 1) % RX_PENDING_FRAMES;
    n->rx_count--;
}

/* Called by the attachment, on its thread, with a frame for the guest. */
static void net_receive(void *opaque, const void *frame, size_t len)
{
    struct virtio_net *n = opaque;
    size_t hdr = n->backend->vnet_hdr ? NET_HDR_SIZE : 0;
    if (len < hdr + NET_FRAME_MIN || len > hdr + NET_FRAME_MAX) {
        count(n, &n->stats.rx_dropped);
        return;
    }
    uint8_t *copy = malloc(len);
    pthread_mutex_lock(&n->rx_lock);
    bool was_empty = n->rx_count == 0;
    if (!copy || n->rx_count == RX_PENDING_FRAMES || n->rx_bytes + len > RX_PENDING_BYTES) {
        n->stats.rx_dropped++;
        pthread_mutex_unlock(&n->rx_lock);
        free(copy);
        return;
    }
    memcpy(copy, frame, len);
    n->rx_pending[(n->rx_head + n->rx_count++) % RX_PENDING_FRAMES] =
        (struct pending_frame){len, copy};
    n->rx_bytes += len;
    pthread_mutex_unlock(&n->rx_lock);
    /* A non-empty list has a handler run coming already (signalled, or waiting for the
     * guest's next buffers, which the guest notifies). */
    if (!was_empty)
        return;
    if (n->rx_efd >= 0) {
        uint64_t one = 1;
        if (write(n->rx_efd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_warn("virtio-net: receive notify: %s", strerror(errno));
    } else {
        virtio_mmio_process_queue(n->t, NET_RX);
    }
}

static void rx_event(void *opaque, uint32_t events)
{
    struct virtio_net *n = opaque;
    uint64_t v;
    if (read(n->rx_efd, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    virtio_mmio_process_queue(n->t, NET_RX);
}

static bool rx_has_frames(void *dev)
{
    struct virtio_net *n = dev;
    return n->rx_count != 0;
}

static bool finish_checksum(uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h);

static bool has(uint64_t features, unsigned bit) { return (features >> bit) & 1; }

/* The offloads a driver with these features takes on receive (NET_OFFLOAD_*). */
static unsigned rx_offloads(uint64_t features)
{
    return (has(features, VIRTIO_NET_F_GUEST_CSUM) ? NET_OFFLOAD_CSUM : 0) |
           (has(features, VIRTIO_NET_F_GUEST_TSO4) ? NET_OFFLOAD_TSO4 : 0) |
           (has(features, VIRTIO_NET_F_GUEST_TSO6) ? NET_OFFLOAD_TSO6 : 0);
}

/* Tells the attachment what the driver takes now, when that changed (rx_lock held). */
static void sync_offload(struct virtio_net *n)
{
    if (!n->backend->vnet_hdr || !n->backend->ops->set_offload)
        return;
    unsigned want = rx_offloads(virtio_mmio_negotiated(n->t)) & n->backend->offloads;
    if (want != n->rx_offload && n->backend->ops->set_offload(n->backend, want) == 0)
        n->rx_offload = want;
}

/* Fits the attachment's header h of a frame to what the driver negotiated: a partial
 * checksum the driver does not take is finished here, DATA_VALID kept only for one that
 * takes checksums, a segmentation type it did not ask for refused (false: the frame is
 * dropped), as is a header whose offsets leave the frame. */
static bool rx_hdr_fit(uint64_t features, struct virtio_net_hdr_v1 *h, uint8_t *frame,
                       size_t len)
{
    bool csum = has(features, VIRTIO_NET_F_GUEST_CSUM);
    uint8_t flags = h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID);
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        size_t start = le16toh(h->csum_start), field = start + le16toh(h->csum_offset);
        if (start >= len || field + 2 > len)
            return false;
        if (!csum && !finish_checksum(frame, len, h))
            return false;
    }
    if (!csum)
        flags = 0;
    switch (h->gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        h->gso_size = h->hdr_len = 0;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
        if (!has(features, h->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 ? VIRTIO_NET_F_GUEST_TSO4
                                                                   : VIRTIO_NET_F_GUEST_TSO6) ||
            !(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || !h->gso_size)
            return false;
        break;
    default:
        return false;
    }
    h->flags = flags;
    if (!(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        h->csum_start = h->csum_offset = 0;
    h->num_buffers = htole16(1); /* one chain per frame */
    return true;
}

/* Delivers the oldest pending frame into c (rx_lock held). */
static int rx_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_net *n = dev;
    /* No offloads from the attachment and one chain per frame: num_buffers (le16) is 1. */
    struct virtio_net_hdr_v1 hdr = {.num_buffers = htole16(1)};
    if (c->in_len < NET_HDR_SIZE)
        return virtq_fail(vq, "virtio-net receive buffer smaller than its header");
    struct pending_frame *f = &n->rx_pending[n->rx_head];
    uint8_t *data = f->data;
    size_t len = f->len;
    if (n->backend->vnet_hdr) {
        memcpy(&hdr, data, NET_HDR_SIZE);
        data += NET_HDR_SIZE;
        len -= NET_HDR_SIZE;
        if (!rx_hdr_fit(virtio_mmio_negotiated(n->t), &hdr, data, len)) {
            virtq_unpop(vq);
            n->stats.rx_dropped++;
            drop_head_locked(n);
            return 0;
        }
        /* kept fitted: a frame the throttle holds back is not finished twice */
        memcpy(f->data, &hdr, NET_HDR_SIZE);
    }
    if (len <= c->in_len - NET_HDR_SIZE && !queue_throttle_admit(&n->rx_throttle, len)) {
        virtq_unpop(vq); /* the frame waits in the pending list for the timer */
        return VIRTIO_STOPPED;
    }
    if (len > c->in_len - NET_HDR_SIZE) {
        /* The chain stays for the next frame; this one cannot be delivered. */
        virtq_unpop(vq);
        n->stats.rx_too_big++;
        n->stats.rx_dropped++;
        drop_head_locked(n);
        return 0;
    }
    const struct iovec *in = c->iov + c->n_out;
    iov_from_buf(in, c->n_in, 0, &hdr, NET_HDR_SIZE);
    iov_from_buf(in, c->n_in, NET_HDR_SIZE, data, len);
    virtq_push(vq, c->head, (uint32_t)(NET_HDR_SIZE + len));
    n->stats.rx_frames++;
    drop_head_locked(n);
    return 0;
}

/* An empty ring leaves the frames waiting: the guest notifies when it posts buffers. */
static int net_rx(struct virtio_net *n, struct virtq *vq)
{
    pthread_mutex_lock(&n->rx_lock);
    sync_offload(n);
    int r = virtio_queue_serve(vq, &n->rx_chain, rx_has_frames, rx_serve, n);
    pthread_mutex_unlock(&n->rx_lock);
    return r;
}

/* Transmit. */

/* VIRTIO_NET_HDR_F_NEEDS_CSUM: the guest left the one's-complement sum from csum_start to
 * the end (seeded with the pseudo-header sum it stored in the checksum field) to us.
 * Returns false when the offsets do not fit the frame. */
static bool finish_checksum(uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h)
{
    return inet_csum_finish(frame, len, le16toh(h->csum_start), le16toh(h->csum_offset));
}

/* Whether the guest's header h, for a frame of len bytes, may go to an attachment with
 * vnet headers, given the features negotiated; rewritten to what the attachment reads
 * (num_buffers 0, flags NEEDS_CSUM or none). Everything in it is the guest's: a
 * segmentation type it did not negotiate, a segment size of 0, a header length or
 * checksum offsets beyond the frame are refused. */
static bool tx_hdr_ok(uint64_t features, struct virtio_net_hdr_v1 *h, size_t len)
{
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        size_t start = le16toh(h->csum_start), field = start + le16toh(h->csum_offset);
        if (!has(features, VIRTIO_NET_F_CSUM) || start >= len || field + 2 > len)
            return false;
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    } else {
        h->flags = 0;
        h->csum_start = h->csum_offset = 0;
    }
    switch (h->gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        h->gso_size = h->hdr_len = 0;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
        if (!has(features, h->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 ? VIRTIO_NET_F_HOST_TSO4
                                                                   : VIRTIO_NET_F_HOST_TSO6) ||
            !h->flags || !h->gso_size || le16toh(h->hdr_len) > len)
            return false;
        break;
    default:
        return false;
    }
    h->num_buffers = 0;
    return true;
}

static void transmit(struct virtio_net *n, const struct virtq_chain *c)
{
    struct virtio_net_hdr_v1 h;
    iov_to_buf(c->iov, c->n_out, 0, &h, NET_HDR_SIZE);
    size_t len = c->out_len - NET_HDR_SIZE;
    bool vnet = n->backend->vnet_hdr;
    if (len < NET_FRAME_MIN || len > NET_FRAME_MAX ||
        (vnet ? !tx_hdr_ok(virtio_mmio_negotiated(n->t), &h, len)
              : h.gso_type != VIRTIO_NET_HDR_GSO_NONE)) {
        count(n, &n->stats.tx_dropped);
        return;
    }
    uint8_t *frame = n->tx_buf + NET_HDR_SIZE;
    iov_to_buf(c->iov, c->n_out, NET_HDR_SIZE, frame, len);
    if (vnet) { /* the attachment finishes the checksum or segments */
        memcpy(n->tx_buf, &h, NET_HDR_SIZE);
        frame = n->tx_buf;
        len += NET_HDR_SIZE;
    } else if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !finish_checksum(frame, len, &h)) {
        count(n, &n->stats.tx_dropped);
        return;
    }
    if (n->backend->ops->send(n->backend, frame, len) < 0)
        count(n, &n->stats.tx_dropped);
    else
        count(n, &n->stats.tx_frames);
}

static int tx_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    if (c->out_len < NET_HDR_SIZE)
        return virtq_fail(vq, "virtio-net transmit chain shorter than its header");
    struct virtio_net *n = dev;
    if (!queue_throttle_admit(&n->tx_throttle, c->out_len - NET_HDR_SIZE)) {
        virtq_unpop(vq); /* it waits in the ring for the timer */
        return VIRTIO_STOPPED;
    }
    transmit(dev, c);
    virtq_push(vq, c->head, 0);
    return 0;
}

static int net_tx(struct virtio_net *n, struct virtq *vq)
{
    pthread_mutex_lock(&n->rx_lock);
    sync_offload(n); /* (a guest that only sends has its offloads set too) */
    pthread_mutex_unlock(&n->rx_lock);
    return virtio_queue_serve(vq, &n->tx_chain, NULL, tx_serve, n);
}

static int net_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct virtio_net *n = dev;
    return q == NET_RX ? net_rx(n, vq) : net_tx(n, vq);
}

static void net_config_read(void *dev, uint8_t *buf)
{
    struct virtio_net *n = dev;
    bool up = !n->backend->ops->link_up || n->backend->ops->link_up(n->backend);
    uint16_t status = htole16(up ? VIRTIO_NET_S_LINK_UP : 0), pairs = htole16(1),
             mtu = htole16((uint16_t)n->backend->mtu);
    memcpy(buf, n->mac, NET_MAC_LEN);
    memcpy(buf + 6, &status, 2);
    memcpy(buf + 8, &pairs, 2);
    memcpy(buf + 10, &mtu, 2);
}

static void net_link_changed(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_mmio_config_changed(n->t);
}

/* Frames that waited for the old driver mean nothing to the next one. */
static void net_reset(void *dev)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->rx_lock);
    while (n->rx_count)
        drop_head_locked(n);
    pthread_mutex_unlock(&n->rx_lock);
}

static void net_destroy(void *dev)
{
    struct virtio_net *n = dev;
    /* The receive handler's watch first (the transport is going away), then the
     * attachment, after whose close no callback writes the eventfd. */
    iothread_unwatch(n->rx_watch);
    queue_throttle_stop(&n->rx_throttle);
    queue_throttle_stop(&n->tx_throttle);
    net_close(n->backend);
    if (n->rx_efd >= 0)
        close(n->rx_efd);
    net_reset(n);
    pthread_mutex_destroy(&n->rx_lock);
    free(n);
}

/* The MAC the driver knows (a run without a configured MAC draws a new one, so a restore
 * takes the saved one back; a configured MAC wins: a clone of a suspended VM has its own,
 * which the config space shows from the restore on, docs/STATE-FORMAT.md); frames
 * waiting for receive buffers are dropped, as a network may drop them. The NAT's
 * connections are not saved: the guest's TCP connections through it time out. */
static int net_save(void *dev, struct state_writer *w)
{
    struct virtio_net *n = dev;
    state_put_bytes(w, n->mac, NET_MAC_LEN);
    return 0;
}

static int net_load(void *dev, struct state_reader *r, struct cove_error *err)
{
    struct virtio_net *n = dev;
    uint8_t saved[NET_MAC_LEN];
    state_get_bytes(r, saved, NET_MAC_LEN);
    if (!n->keep_mac)
        memcpy(n->mac, saved, NET_MAC_LEN);
    return 0;
}

#define NET_FEATURES                                                                     \
    ((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_NET_F_MAC) | \
     (1ull << VIRTIO_NET_F_STATUS))
#define NET_TSO_FEATURES                                                                   \
    ((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |               \
     (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6))
#define NET_OPS(feat)                                                                      \
    .name = "net", .device_id = VIRTIO_ID_NET, .features = (feat), .num_queues = 2,        \
    .queue_max = NET_QUEUE_SIZE, .config_size = NET_CONFIG_SIZE,                          \
    .config_read = net_config_read, .queue_handler = net_queue, .reset = net_reset,        \
    .destroy = net_destroy, .save = net_save, .load = net_load

/* Plain frames; frames with partial checksums both ways (a cove network); and with TCP
 * segmentation too (a TAP), on attachments that carry them. */
static const struct virtio_device_ops net_ops = {NET_OPS(NET_FEATURES)};
static const struct virtio_device_ops net_ops_csum = {
    NET_OPS(NET_FEATURES | (1ull << VIRTIO_NET_F_GUEST_CSUM))};
static const struct virtio_device_ops net_ops_offload = {
    NET_OPS(NET_FEATURES | (1ull << VIRTIO_NET_F_GUEST_CSUM) | NET_TSO_FEATURES)};

int virtio_net_create(const struct virtio_mmio_params *p, struct net_attachment *backend,
                      const uint8_t mac[NET_MAC_LEN], bool keep_mac, struct virtio_mmio **out,
                      struct virtio_net **dev_out, struct cove_error *err)
{
    struct virtio_net *n = NULL;
    if (backend->mtu < 68 || backend->mtu > NET_FRAME_MAX - 18) {
        net_close(backend);
        return cove_error_set(err, -EINVAL, "virtio-net: MTU %u out of range", backend->mtu);
    }
    n = calloc(1, sizeof *n);
    if (!n) {
        net_close(backend);
        return cove_error_set(err, -ENOMEM, "virtio-net: out of memory");
    }
    n->backend = backend;
    n->rx_efd = -1;
    n->rx_throttle.tfd = n->tx_throttle.tfd = -1;
    memcpy(n->mac, mac, NET_MAC_LEN);
    n->keep_mac = keep_mac;
    pthread_mutex_init(&n->rx_lock, NULL);
    if (p->io) {
        n->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = n->rx_efd < 0 ? -errno : iothread_watch(p->io, n->rx_efd, EPOLLIN, rx_event, n,
                                                         &n->rx_watch);
        if (r < 0) {
            net_destroy(n);
            return cove_error_set(err, r, "virtio-net: receive notifier: %s", strerror(-r));
        }
    }
    struct virtio_mmio *t;
    const unsigned all = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6;
    unsigned o = backend->vnet_hdr ? backend->offloads : 0;
    const struct virtio_device_ops *ops = (o & all) == all      ? &net_ops_offload
                                          : o & NET_OFFLOAD_CSUM ? &net_ops_csum
                                                                 : &net_ops;
    int r = virtio_mmio_create(p, ops, n, &t, err);
    if (r < 0)
        return r;
    n->t = t;
    backend->link_changed = net_link_changed;
    backend->link_opaque = n;
    backend->io = p->io;
    r = backend->ops->start(backend, net_receive, n);
    if (r < 0) {
        virtio_mmio_destroy(t);
        return cove_error_set(err, r, "virtio-net: cannot start the network: %s", strerror(-r));
    }
    *out = t;
    if (dev_out)
        *dev_out = n;
    return 0;
}

int virtio_net_set_rate(struct virtio_mmio *t, const struct cove_rate_limit *r,
                        struct cove_error *err)
{
    struct virtio_net *n = t->dev;
    if (t->ops->device_id != VIRTIO_ID_NET)
        return cove_error_set(err, -EINVAL, "not a virtio-net device");
    int rc = queue_throttle_start(&n->rx_throttle, t, NET_RX, r, err);
    return rc < 0 ? rc : queue_throttle_start(&n->tx_throttle, t, NET_TX, r, err);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
    pthread_mutex_lock(&n->rx_lock);
    *out = n->stats;
    pthread_mutex_unlock(&n->rx_lock);
}
