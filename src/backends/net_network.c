/*
 * The attachment to a cove network (net.h, net_network_open): a Unix datagram socket of
 * this VMM's own in the network's run directory, registered with the network's switch
 * (net_switch.h), which it starts when none answers. The device's I/O thread receives
 * the switch's messages (the socket is in its epoll: a frame wakes that thread alone,
 * which moves it into the receive ring; without an I/O thread, the port's thread does),
 * and a thread of the port's own sends the keepalive; when the switch stops answering, the link is down (the
 * device is told: virtio-net's link status) and frames from the guest are dropped, and the
 * thread starts a switch again (a killed one comes back within a few seconds, with the
 * same gateway MAC and an empty table that refills as the guests talk); a confined VMM,
 * which may not fork, asks its keeper process to (below).
 *
 * Frames carry virtio-net's header to and from the device (vnet_hdr, with the checksum
 * offload only: the network's 64 KiB MTU leaves nothing to segment): a frame whose
 * checksum the guest left partial crosses as a 'V' message when the switch takes those,
 * so neither this VMM nor the receiving guest sums it; otherwise it is finished here.
 */
#include "backends/net.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cove/network.h>

#include "backends/net_switch.h"
#include "devices/iothread.h"
#include "util/be.h"
#include "util/inet_csum.h"
#include "util/fdio.h"
#include "util/confined.h"
#include "util/helper_proc.h"
#include "util/log.h"

#define LINK_TIMEOUT_MS 3000 /* no answer to keepalives for this long: the link is down */
#define RESPAWN_MS 2000      /* the least time between two starts of the switch */
#define OPEN_TIMEOUT_MS 5000

struct net_network {
    struct net_attachment base;
    int fd, stop_efd;
    char name[65], dir[PATH_MAX];
    struct net_switch_config cfg; /* cfg.dir is dir, cfg.egress &egress */
    struct cove_network_egress egress;
    struct sockaddr_un sw, own;
    uint8_t hello[1 + NET_MAC_LEN + 64 + 1 + NET_SWITCH_FORWARDS * NET_SWITCH_FWD_LEN];
    size_t hello_len;
    net_receive_fn fn;
    void *opaque;
    pthread_t thread;
    struct iothread_watch *watch; /* the socket in the device's I/O thread (or NULL) */
    bool started;
    atomic_bool link_up;
    _Atomic long long last_ack_ms; /* written by whichever thread receives */
    long long last_spawn_ms;
    bool told_confined; /* said once that the switch cannot be started from here */
    pid_t keeper;       /* the process that starts the switch for a confined VMM (or 0) */
    int keeper_fd;      /* its socket: one byte asks for a start */
    char refused[256]; /* the switch's reason, when it refused this port */
    atomic_bool switch_vnet; /* the switch takes 'V' frames (its last 'A' said so) */
    /* A message is received at buf + NET_VNET_HDR_LEN, so that an 'F' frame gets a zero
     * header in front of it in place: the device takes header and frame in one piece. */
    uint8_t buf[NET_VNET_HDR_LEN + 1 + NET_VNET_HDR_LEN + NET_FRAME_MAX + 1];
};

static int send_kind(struct net_network *nn, char kind, const void *data, size_t len)
{
    struct iovec iov[2] = {{&kind, 1}, {(void *)data, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    return sendmsg(nn->fd, &m, MSG_NOSIGNAL) < 0 ? -errno : 0; /* waits briefly for room */
}

/* The link's new state; the device hears of a change once it started the attachment. */
static void set_link(struct net_network *nn, bool up)
{
    if (atomic_exchange(&nn->link_up, up) == up)
        return;
    if (nn->started)
        log_warn("network %s: link %s", nn->name, up ? "up" : "down: its switch is gone "
                 "(starting another) or refused this VM");
    if (nn->started && nn->base.link_changed)
        nn->base.link_changed(nn->base.link_opaque);
}

/* The keeper: a process forked when the VM joins (before its VMM is confined, which then
 * may not fork) that starts this network's switch again when asked, one byte on its
 * socket per request; it knows only this network, so a compromised VMM can make it do
 * nothing else. It ends with its socket (the VMM gone or done). */
static void keeper_serve(int sock, const struct net_switch_config *cfg)
{
    char req;
    for (;;) {
        ssize_t n = recv(sock, &req, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        struct cove_error e = {0};
        if (net_switch_spawn(cfg, &e) < 0)
            log_warn("network switch keeper: %s", e.message);
    }
}

static void keeper_start(struct net_network *nn)
{
    int fd = -1;
    pid_t pid = helper_fork("cove-netkeeper", &fd);
    if (pid == 0) {
        keeper_serve(HELPER_FD, &nn->cfg);
        _exit(0);
    }
    if (pid < 0) {
        log_warn("network %s: no process to restart its switch (fork: %s)", nn->name,
                 strerror((int)-pid));
        return;
    }
    nn->keeper = pid;
    nn->keeper_fd = fd;
}

static void keeper_stop(struct net_network *nn)
{
    if (nn->keeper_fd >= 0)
        close(nn->keeper_fd);
    nn->keeper_fd = -1;
    if (nn->keeper > 0)
        while (waitpid(nn->keeper, NULL, 0) < 0 && errno == EINTR) {
        }
    nn->keeper = 0;
}

/* (Re)connects to the switch's socket (a restarted switch is a new socket at the same
 * path) and says hello; starts a switch when none is there. */
static void say_hello(struct net_network *nn, long long now)
{
    int rc = connect(nn->fd, (struct sockaddr *)&nn->sw, sizeof nn->sw) < 0 ? -errno : 0;
    if (rc == 0)
        rc = send_kind(nn, NET_SWITCH_MSG_HELLO, nn->hello + 1, nn->hello_len - 1);
    if (rc == 0) /* ignored by a switch that does not know it */
        send_kind(nn, NET_SWITCH_MSG_OFFLOAD, "V", 1);
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        set_link(nn, false); /* no switch there */
    if ((rc == -ENOENT || rc == -ECONNREFUSED) && now - nn->last_spawn_ms >= RESPAWN_MS) {
        struct cove_error e = {0};
        nn->last_spawn_ms = now;
        if (process_confined()) { /* no fork under the filter: the keeper starts it */
            char one = 'S';
            if ((nn->keeper_fd < 0 || send(nn->keeper_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) &&
                !nn->told_confined) {
                log_warn("network %s: its switch is gone, and this confined VM cannot start "
                         "it; the next VM started on the network does", nn->name);
                nn->told_confined = true;
            }
        } else if (net_switch_spawn(&nn->cfg, &e) < 0)
            log_warn("network %s: %s", nn->name, e.message);
    }
}

/* One message from the switch, at m (in buf). */
static void message(struct net_network *nn, size_t n, long long now)
{
    uint8_t *m = nn->buf + NET_VNET_HDR_LEN;
    switch (m[0]) {
    case NET_SWITCH_MSG_FRAME:
        if (n - 1 >= NET_FRAME_MIN && n - 1 <= NET_FRAME_MAX && nn->fn &&
            atomic_load(&nn->link_up)) {
            memset(m + 1 - NET_VNET_HDR_LEN, 0, NET_VNET_HDR_LEN); /* no offloads */
            nn->fn(nn->opaque, m + 1 - NET_VNET_HDR_LEN, NET_VNET_HDR_LEN + n - 1);
        }
        break;
    case NET_SWITCH_MSG_VFRAME: /* (the device checks the header against the frame) */
        if (n - 1 >= NET_VNET_HDR_LEN + NET_FRAME_MIN &&
            n - 1 <= NET_VNET_HDR_LEN + NET_FRAME_MAX && nn->fn && atomic_load(&nn->link_up))
            nn->fn(nn->opaque, m + 1, n - 1);
        break;
    case NET_SWITCH_MSG_ACCEPT:
        atomic_store(&nn->switch_vnet, n >= 2 && m[1] == 'V');
        nn->last_ack_ms = now;
        nn->refused[0] = 0;
        set_link(nn, true);
        break;
    case NET_SWITCH_MSG_REFUSE:
        snprintf(nn->refused, sizeof nn->refused, "%.*s", (int)(n - 1), (char *)m + 1);
        if (atomic_load(&nn->link_up))
            log_warn("network %s: the switch refused this VM: %s", nn->name, nn->refused);
        set_link(nn, false);
        break;
    default:
        break;
    }
}

/* Receives what is there, at most max messages (the I/O thread serves others too). */
static void drain(struct net_network *nn, unsigned max)
{
    long long now = monotonic_ms();
    for (unsigned i = 0; i < max; i++) {
        ssize_t n = recv(nn->fd, nn->buf + NET_VNET_HDR_LEN,
                         sizeof nn->buf - NET_VNET_HDR_LEN, MSG_DONTWAIT);
        if (n <= 0)
            break;
        message(nn, (size_t)n, now);
    }
}

/* Waits up to wait_ms; receives what came unless the I/O thread does. */
static void pump(struct net_network *nn, int wait_ms)
{
    struct pollfd p[2] = {{nn->stop_efd, POLLIN, 0}, {nn->fd, POLLIN, 0}};
    poll(p, nn->watch ? 1 : 2, wait_ms);
    if (!nn->watch)
        drain(nn, ~0u);
    if (monotonic_ms() - atomic_load(&nn->last_ack_ms) > LINK_TIMEOUT_MS)
        set_link(nn, false);
}

/* The socket is readable (on the device's I/O thread). The receive callback queues each
 * frame and signals the device's receive eventfd, which this same thread serves next:
 * no other thread wakes between the switch and the receive ring. */
static void port_readable(void *opaque, uint32_t events)
{
    (void)events;
    drain(opaque, 64);
}

static void *keepalive_thread(void *arg)
{
    struct net_network *nn = arg;
    long long next_hello = 0;
    for (;;) {
        struct pollfd stop = {nn->stop_efd, POLLIN, 0};
        if (poll(&stop, 1, 0) > 0)
            return NULL;
        long long now = monotonic_ms();
        if (now >= next_hello) {
            say_hello(nn, now);
            next_hello = now + NET_SWITCH_KEEPALIVE_MS;
        }
        pump(nn, (int)(next_hello - now));
    }
}

static int network_start(struct net_attachment *n, net_receive_fn fn, void *opaque)
{
    struct net_network *nn = (struct net_network *)n;
    nn->fn = fn;
    nn->opaque = opaque;
    nn->started = true;
    if (n->io) {
        int r = iothread_watch(n->io, nn->fd, EPOLLIN, port_readable, nn, &nn->watch);
        if (r < 0) {
            nn->watch = NULL;
            log_warn("network %s: receiving on a thread of its own (I/O thread: %s)",
                     nn->name, strerror(-r));
        }
    }
    int rc = pthread_create(&nn->thread, NULL, keepalive_thread, nn);
    if (rc) {
        iothread_unwatch(nn->watch);
        nn->watch = NULL;
        nn->started = false;
    }
    return -rc;
}

/* frame: the device's header (checked: flags NEEDS_CSUM or none, no segmentation), then
 * the Ethernet frame. */
static int network_send(struct net_attachment *n, const void *frame, size_t len)
{
    struct net_network *nn = (struct net_network *)n;
    if (!atomic_load(&nn->link_up))
        return 0; /* link down: dropped, as a wire would */
    uint8_t *h = (uint8_t *)frame, *f = h + NET_VNET_HDR_LEN; /* (net.h: ours to write) */
    size_t flen = len - NET_VNET_HDR_LEN;
    if (!(h[0] & 1)) /* a whole checksum */
        send_kind(nn, NET_SWITCH_MSG_FRAME, f, flen);
    else if (atomic_load(&nn->switch_vnet) && net_switch_vhdr_ok(h, flen))
        send_kind(nn, NET_SWITCH_MSG_VFRAME, h, len);
    else if (inet_csum_finish(f, flen, (size_t)(h[6] | h[7] << 8), (size_t)(h[8] | h[9] << 8)))
        send_kind(nn, NET_SWITCH_MSG_FRAME, f, flen);
    return 0;
}

static void network_close(struct net_attachment *n)
{
    struct net_network *nn = (struct net_network *)n;
    if (nn->started) {
        iothread_unwatch(nn->watch);
        uint64_t one = 1;
        if (write(nn->stop_efd, &one, sizeof one) < 0) {
        }
        pthread_join(nn->thread, NULL);
    }
    send_kind(nn, NET_SWITCH_MSG_BYE, NULL, 0);
    keeper_stop(nn);
    close(nn->fd);
    close(nn->stop_efd);
    unlink(nn->own.sun_path);
    free(nn);
}

static bool network_link_up(struct net_attachment *n)
{
    return atomic_load(&((struct net_network *)n)->link_up);
}

static const struct net_attachment_ops network_ops = {
    .start = network_start,
    .send = network_send,
    .close = network_close,
    .link_up = network_link_up,
};

static int bind_own(struct net_network *nn, struct cove_error *err)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) < 0)
        r = (uint32_t)monotonic_ms();
    nn->own.sun_family = AF_UNIX;
    nn->sw.sun_family = AF_UNIX;
    int a = snprintf(nn->own.sun_path, sizeof nn->own.sun_path, "%s/port-%d-%u.sock", nn->dir,
                     (int)getpid(), r);
    int b = snprintf(nn->sw.sun_path, sizeof nn->sw.sun_path, "%s/switch.sock", nn->dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof nn->own.sun_path ||
        (size_t)b >= sizeof nn->sw.sun_path)
        return cove_error_set(err, -ENAMETOOLONG, "network '%s': its directory %s is too long "
                              "for a socket path; use a shorter COVE_HOME", nn->name, nn->dir);
    nn->fd = net_switch_socket();
    if (nn->fd < 0)
        return cove_error_set(err, nn->fd, "socket: %s", strerror(-nn->fd));
    mode_t old = umask(0177);
    int rc = bind(nn->fd, (struct sockaddr *)&nn->own, sizeof nn->own) < 0 ? -errno : 0;
    umask(old);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot bind %s: %s", nn->own.sun_path, strerror(-rc));
    return 0;
}

/* Registers with the switch (starting it), waiting for its answer. */
static int join(struct net_network *nn, struct cove_error *err)
{
    long long deadline = monotonic_ms() + OPEN_TIMEOUT_MS;
    nn->last_spawn_ms = -RESPAWN_MS;
    while (monotonic_ms() < deadline) {
        long long now = monotonic_ms();
        say_hello(nn, now);
        pump(nn, 200);
        if (atomic_load(&nn->link_up))
            return 0;
        if (nn->refused[0])
            return cove_error_set(err, -EADDRINUSE, "network '%s': %s", nn->name, nn->refused);
    }
    return cove_error_set(err, -ETIMEDOUT, "network '%s': its switch did not answer within "
                          "%d s (see %s/switch.log)", nn->name, OPEN_TIMEOUT_MS / 1000, nn->dir);
}

/* The registration: 'H', the MAC, the host name, and the forwards after a 0. */
static void build_hello(struct net_network *nn, const uint8_t mac[NET_MAC_LEN],
                        const char *hostname, const struct net_forward *fwd, unsigned nfwd)
{
    uint8_t *h = nn->hello;
    h[0] = NET_SWITCH_MSG_HELLO;
    memcpy(h + 1, mac, NET_MAC_LEN);
    size_t at = 1 + NET_MAC_LEN, hl = hostname ? strnlen(hostname, 64) : 0;
    if (hl) /* (memcpy from NULL is undefined even for 0 bytes: UBSan in check-sanitize) */
        memcpy(h + at, hostname, hl);
    at += hl;
    if (nfwd)
        h[at++] = 0;
    for (unsigned i = 0; i < nfwd; i++, at += NET_SWITCH_FWD_LEN) {
        h[at] = fwd[i].udp;
        be_put32(h + at + 1, fwd[i].host_addr);
        be_put16(h + at + 5, fwd[i].host_port);
        be_put16(h + at + 7, fwd[i].guest_port);
    }
    nn->hello_len = at;
}

int net_network_open_named(const char *name, const uint8_t mac[NET_MAC_LEN],
                           const char *hostname, struct net_attachment **out,
                           struct cove_error *err)
{
    return net_network_open_forwarded(name, mac, hostname, NULL, 0, out, err);
}

int net_network_open_forwarded(const char *name, const uint8_t mac[NET_MAC_LEN],
                               const char *hostname, const struct net_forward *forwards,
                               unsigned nforwards, struct net_attachment **out,
                               struct cove_error *err)
{
    if (nforwards > NET_SWITCH_FORWARDS)
        return cove_error_set(err, -EINVAL, "network '%s': %u port forwards; at most %d",
                              name, nforwards, NET_SWITCH_FORWARDS);
    struct cove_network_info info;
    int rc = cove_network_get(name, &info, err);
    if (rc < 0)
        return rc;
    struct net_network *nn = calloc(1, sizeof *nn);
    if (!nn)
        return cove_error_set(err, -ENOMEM, "out of memory");
    nn->base.ops = &network_ops;
    nn->base.mtu = NET_MTU_NETWORK;
    nn->base.vnet_hdr = true;
    nn->base.offloads = NET_OFFLOAD_CSUM;
    nn->fd = -1;
    nn->keeper_fd = -1;
    nn->egress = info.egress;
    nn->cfg = (struct net_switch_config){nn->dir, info.net, info.prefix, info.nat, &nn->egress};
    snprintf(nn->name, sizeof nn->name, "%s", name);
    build_hello(nn, mac, hostname, forwards, nforwards);
    nn->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (nn->stop_efd < 0)
        rc = cove_error_set(err, -errno, "eventfd: %s", strerror(errno));
    else if ((rc = cove_network_run_dir(name, nn->dir, sizeof nn->dir, err)) == 0 &&
             (rc = bind_own(nn, err)) == 0 && (rc = join(nn, err)) == 0)
        keeper_start(nn);
    if (rc < 0) {
        if (nn->fd >= 0) {
            close(nn->fd);
            unlink(nn->own.sun_path);
        }
        if (nn->stop_efd >= 0)
            close(nn->stop_efd);
        free(nn);
        return rc;
    }
    *out = &nn->base;
    return 0;
}

int net_network_open(const char *name, const uint8_t mac[NET_MAC_LEN],
                     struct net_attachment **out, struct cove_error *err)
{
    return net_network_open_named(name, mac, NULL, out, err);
}
