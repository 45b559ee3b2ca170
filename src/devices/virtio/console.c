/*
 * virtio-console (virtio 1.2, 5.3), a single port without MULTIPORT: receiveq0 carries
 * host input to the guest, transmitq0 guest output to the host. Everything here runs on
 * the I/O thread: the input fd's watch is enabled only while the guest has posted receive
 * buffers, so input waits in the host fd (no copy, no unbounded buffer) until it has.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/virtio/virtio_devices.h"
#include "util/log.h"

#define CONSOLE_RX 0
#define CONSOLE_TX 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define CONSOLE_CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */
#define CONSOLE_EMERG_WR 8

struct vconsole {
    struct virtio_mmio *t;
    int in_fd, out_fd;
    bool in_open;
    struct iothread_watch *in_watch;
    struct virtq_chain rx_chain, tx_chain;
};

static void want_input(struct vconsole *con, bool on)
{
    if (con->in_watch)
        iothread_watch_set_events(con->in_watch, on ? EPOLLIN : 0);
}

static bool input_ready(struct vconsole *con)
{
    struct pollfd pfd = {.fd = con->in_fd, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
}

static void close_input(struct vconsole *con)
{
    con->in_open = false;
    want_input(con, false);
}

static bool rx_has_work(void *dev)
{
    struct vconsole *con = dev;
    if (!con->in_open)
        return false;
    if (!input_ready(con)) {
        want_input(con, true);
        return false;
    }
    return true;
}

static int rx_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct vconsole *con = dev;
    if (c->in_len == 0) {
        virtq_push(vq, c->head, 0);
        return 0;
    }
    ssize_t n = readv(con->in_fd, c->iov + c->n_out, c->n_in > IOV_MAX ? IOV_MAX : (int)c->n_in);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        virtq_unpop(vq);
        want_input(con, true);
        return VIRTIO_STOPPED;
    }
    if (n <= 0) {
        virtq_unpop(vq);
        close_input(con);
        return VIRTIO_STOPPED;
    }
    virtq_push(vq, c->head, (uint32_t)n);
    return 0;
}

static int console_rx(struct vconsole *con, struct virtq *vq)
{
    int r = virtio_queue_serve(vq, &con->rx_chain, rx_has_work, rx_serve, con);
    if (r == 0)
        want_input(con, false); /* the ring ran dry: until the guest posts and notifies */
    return r;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the host side went away: guest output is dropped */
        p += n;
        len -= (size_t)n;
    }
}

static int tx_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct vconsole *con = dev;
    for (unsigned i = 0; i < c->n_out; i++)
        write_all(con->out_fd, c->iov[i].iov_base, c->iov[i].iov_len);
    virtq_push(vq, c->head, 0);
    return 0;
}

static int console_tx(struct vconsole *con, struct virtq *vq)
{
    return virtio_queue_serve(vq, &con->tx_chain, NULL, tx_serve, con);
}

static int console_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct vconsole *con = dev;
    return q == CONSOLE_RX ? console_rx(con, vq) : console_tx(con, vq);
}

static void input_event(void *opaque, uint32_t events)
{
    struct vconsole *con = opaque;
    /* Not live (before DRIVER_OK, after a reset): stop watching until the guest posts
     * receive buffers again, or the level-triggered watch would spin. */
    if (virtio_mmio_process_queue(con->t, CONSOLE_RX) < 0)
        want_input(con, false);
}

static void console_config_read(void *dev, uint8_t *buf)
{
    uint32_t ports = htole32(1);
    memset(buf, 0, CONSOLE_CONFIG_SIZE);
    memcpy(buf + 4, &ports, 4);
}

static void console_config_write(void *dev, uint64_t off, unsigned len, uint64_t value)
{
    struct vconsole *con = dev;
    if (off == CONSOLE_EMERG_WR && len == 4) {
        char ch = (char)value;
        write_all(con->out_fd, &ch, 1);
    }
}

static void console_destroy(void *dev)
{
    struct vconsole *con = dev;
    iothread_unwatch(con->in_watch);
    free(con);
}

static const struct virtio_device_ops console_ops = {
    .name = "console",
    .device_id = VIRTIO_ID_CONSOLE,
    .features = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE,
    .num_queues = 2,
    .queue_max = 128,
    .config_size = CONSOLE_CONFIG_SIZE,
    .config_read = console_config_read,
    .config_write = console_config_write,
    .queue_handler = console_queue,
    .destroy = console_destroy,
    .save = virtio_save_nothing, /* input waits in the host fd, output is written out */
    .load = virtio_load_nothing,
};

int virtio_console_create(const struct virtio_mmio_params *p, int in_fd, int out_fd,
                          struct virtio_mmio **out, struct cove_error *err)
{
    if (!p->io)
        return cove_error_set(err, -EINVAL, "virtio-console needs an I/O thread");
    struct vconsole *con = calloc(1, sizeof *con);
    if (!con)
        return cove_error_set(err, -ENOMEM, "virtio-console: out of memory");
    con->in_fd = in_fd;
    con->out_fd = out_fd;
    con->in_open = in_fd >= 0;
    struct virtio_mmio *t;
    int r = virtio_mmio_create(p, &console_ops, con, &t, err);
    if (r < 0)
        return r;
    con->t = t;
    if (con->in_open) {
        r = iothread_watch(p->io, in_fd, 0, input_event, con, &con->in_watch);
        /* Files cannot be watched (EPERM) but are always readable: without a watch,
         * input is still read whenever the guest posts buffers. */
        if (r < 0 && r != -EPERM) {
            virtio_mmio_destroy(t);
            return cove_error_set(err, r, "virtio-console: cannot watch input: %s",
                                  strerror(-r));
        }
    }
    *out = t;
    return 0;
}
