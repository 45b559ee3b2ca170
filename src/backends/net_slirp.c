/*
 * User-mode NAT through libslirp, laid out as QEMU's user networking.
 *
 * slirp runs on a thread of its own with poll(), not on the machine's I/O thread: its fd
 * set changes on every iteration (slirp_pollfds_fill) and it needs timers, neither of
 * which the I/O thread's epoll loop has. libslirp is not thread-safe, so one lock guards
 * every call into it: the slirp thread holds it except while it sleeps in poll(), and
 * the device's transmit handler takes it around slirp_input(). A transmitted frame may
 * create a socket (a new outbound connection), so send() wakes the thread to poll it.
 * The opening handshakes of forwarded connections pass through net_fwd_syn.h, which
 * re-sends a SYN the guest dropped and keeps a repeated SYN-ACK from emptying slirp's
 * buffers, so that a server with a full listen queue does not hang its clients.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "backends/net.h"
#include "backends/net_fwd_syn.h"
#include "util/log.h"

#define SLIRP_NET 0x0a000200u   /* 10.0.2.0/24 */
#define SLIRP_MASK 0xffffff00u
#define SLIRP_HOST 0x0a000202u  /* 10.0.2.2 */
#define SLIRP_DNS 0x0a000203u   /* 10.0.2.3 */
#define SLIRP_GUEST 0x0a00020fu /* 10.0.2.15, the first DHCP address */
#define POLL_MAX_MS 1000u

struct slirp_timer {
    struct net_slirp *s;
    SlirpTimerCb cb;          /* timer_new */
    void *cb_opaque;
    SlirpTimerId id;          /* timer_new_opaque (cb NULL) */
    int64_t expire_ms;        /* -1: not armed */
    struct slirp_timer *next;
};

struct net_slirp {
    struct net_attachment base;
    Slirp *slirp;
    pthread_mutex_t lock;     /* every call into slirp, and the fields below */
    pthread_t thread;
    bool thread_started, stop;
    bool polling, wake_pending;
    int wake_fd;
    net_receive_fn rx;
    void *rx_opaque;
    struct pollfd *fds;
    unsigned nfds, cap;
    struct slirp_timer *timers;
    struct net_fwd_syn fwd_syn;
    struct net_rule *allow, *block; /* the egress rules (copies) */
    struct net_egress egress;
    uint64_t egress_dropped;
};

static struct net_slirp *to_slirp(struct net_attachment *n) { return (struct net_slirp *)n; }

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* slirp callbacks; all run with s->lock held (they are called from inside slirp). */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    if (s->rx && len >= NET_FRAME_MIN && len <= NET_FRAME_MAX) {
        net_egress_inbound(&s->egress, buf, len);
        net_fwd_syn_to_guest(&s->fwd_syn, buf, len, now_ns() / 1000000);
        s->rx(s->rx_opaque, buf, len);
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    log_debug("net: slirp: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque) { return now_ns(); }

static struct slirp_timer *timer_add(struct net_slirp *s)
{
    struct slirp_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL; /* slirp then runs without that timer (only IPv6 RA uses one) */
    t->s = s;
    t->expire_ms = -1;
    t->next = s->timers;
    s->timers = t;
    return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_add(opaque);
    if (t) {
        t->cb = cb;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_add(opaque);
    if (t) {
        t->id = id;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;
    for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *t = timer;
    if (t)
        t->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}

static void wake_locked(struct net_slirp *s)
{
    if (!s->polling || s->wake_pending)
        return;
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) == sizeof one)
        s->wake_pending = true;
}

static void cb_notify(void *opaque) { wake_locked(opaque); }

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* The poll loop. */

static short to_poll_events(int ev)
{
    short r = 0;
    if (ev & SLIRP_POLL_IN) r |= POLLIN;
    if (ev & SLIRP_POLL_OUT) r |= POLLOUT;
    if (ev & SLIRP_POLL_PRI) r |= POLLPRI;
    if (ev & SLIRP_POLL_ERR) r |= POLLERR;
    if (ev & SLIRP_POLL_HUP) r |= POLLHUP;
    return r;
}

static int add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    if (s->nfds == s->cap) {
        unsigned cap = s->cap ? s->cap * 2 : 32;
        struct pollfd *fds = realloc(s->fds, cap * sizeof *fds);
        if (!fds)
            return -1; /* slirp skips a socket it could not register this round */
        s->fds = fds;
        s->cap = cap;
    }
    s->fds[s->nfds] = (struct pollfd){.fd = fd, .events = to_poll_events(events)};
    return (int)s->nfds++;
}

static int get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    if (idx < 1 || (unsigned)idx >= s->nfds)
        return 0;
    short ev = s->fds[idx].revents;
    int r = 0;
    if (ev & POLLIN) r |= SLIRP_POLL_IN;
    if (ev & POLLOUT) r |= SLIRP_POLL_OUT;
    if (ev & POLLPRI) r |= SLIRP_POLL_PRI;
    if (ev & POLLERR) r |= SLIRP_POLL_ERR;
    if (ev & POLLHUP) r |= SLIRP_POLL_HUP;
    return r;
}

/* Fires expired timers; returns ms until the next one (POLL_MAX_MS when none). */
static uint32_t run_timers(struct net_slirp *s)
{
    int64_t now = now_ns() / 1000000;
    uint32_t next = POLL_MAX_MS;
    bool fired;
    /* Bounded, so a timer that keeps re-arming itself in the past cannot hold the loop. */
    unsigned rounds = 0;
    do {
        fired = false;
        for (struct slirp_timer *t = s->timers; t; t = t->next) {
            if (t->expire_ms < 0)
                continue;
            if (t->expire_ms <= now) {
                t->expire_ms = -1;
                /* The callback may free or re-arm timers: rescan from the start. */
                if (t->cb)
                    t->cb(t->cb_opaque);
                else
                    slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
                fired = true;
                break;
            }
            if (t->expire_ms - now < next)
                next = (uint32_t)(t->expire_ms - now);
        }
    } while (fired && ++rounds < 64);
    return fired ? 0 : next;
}

static void resend_to_guest(void *opaque, const void *frame, size_t len)
{
    struct net_slirp *s = opaque;
    s->rx(s->rx_opaque, frame, len);
}

static void *slirp_thread(void *arg)
{
    /* by itself: naming another thread opens /proc/self/task/TID/comm, which the
     * system-call filter of a confined run forbids (a guest reboot starts this thread) */
    pthread_setname_np(pthread_self(), "cove-slirp");
    struct net_slirp *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        uint32_t timeout = run_timers(s);
        int64_t syn_due = net_fwd_syn_run(&s->fwd_syn, now_ns() / 1000000, resend_to_guest, s);
        if (syn_due >= 0 && (uint64_t)syn_due < timeout)
            timeout = (uint32_t)syn_due;
        s->nfds = 0;
        add_poll(s->wake_fd, SLIRP_POLL_IN, s); /* index 0; the array is never empty */
#if SLIRP_CHECK_VERSION(4, 9, 0) /* the int-fd form is deprecated there (a socket type) */
        slirp_pollfds_fill_socket(s->slirp, &timeout, add_poll, s);
#else
        slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
#endif
        s->polling = true;
        pthread_mutex_unlock(&s->lock);
        int n = poll(s->fds, s->nfds, (int)timeout);
        int poll_errno = errno;
        pthread_mutex_lock(&s->lock);
        s->polling = false;
        if (n < 0 && poll_errno == EINTR)
            n = 0;
        if (s->fds[0].revents & POLLIN) {
            uint64_t v;
            if (read(s->wake_fd, &v, sizeof v) < 0) {
                /* EAGAIN: someone else drained it; the wake-up did its job */
            }
        }
        s->wake_pending = false;
        slirp_pollfds_poll(s->slirp, n < 0, get_revents, s);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* The attachment. */

static int slirp_start(struct net_attachment *n, net_receive_fn fn, void *opaque)
{
    struct net_slirp *s = to_slirp(n);
    if (s->thread_started)
        return -EBUSY;
    s->rx = fn;
    s->rx_opaque = opaque;
    int r = pthread_create(&s->thread, NULL, slirp_thread, s);
    if (r)
        return -r;
    s->thread_started = true;
    return 0;
}

static int slirp_send(struct net_attachment *n, const void *frame, size_t len)
{
    struct net_slirp *s = to_slirp(n);
    if (len < NET_FRAME_MIN || len > NET_FRAME_MAX)
        return -EINVAL;
    pthread_mutex_lock(&s->lock); /* the egress flows change on slirp's thread */
    if (!net_egress_pass(&s->egress, frame, len)) {
        /* dropped; a TCP segment is answered with a reset, so that the connection fails
         * at once (as "connection refused") instead of timing out */
        if (s->egress_dropped++ == 0)
            log_info("net: a packet to a destination the egress rules refuse was dropped");
        uint8_t rst[NET_EGRESS_RST_LEN];
        size_t n = net_egress_reset(frame, len, rst);
        if (n && s->rx)
            s->rx(s->rx_opaque, rst, n);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    uint8_t scratch[NET_FWD_SYN_FRAME_MAX];
    frame = net_fwd_syn_from_guest(&s->fwd_syn, frame, len, scratch);
    slirp_input(s->slirp, frame, (int)len);
    wake_locked(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void slirp_close(struct net_attachment *n)
{
    struct net_slirp *s = to_slirp(n);
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        s->polling = true; /* so that the wake-up is written whatever the thread is doing */
        s->wake_pending = false;
        wake_locked(s);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->slirp)
        slirp_cleanup(s->slirp);
    while (s->timers) {
        struct slirp_timer *t = s->timers;
        s->timers = t->next;
        free(t);
    }
    free(s->fds);
    free(s->allow);
    free(s->block);
    free(s->egress.flows);
    close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const struct net_attachment_ops slirp_ops = {
    .start = slirp_start,
    .send = slirp_send,
    .close = slirp_close,
};

/* libslirp's DNS proxy (10.0.2.3) learns the host's DNS server from /etc/resolv.conf at
 * the first query it forwards, and after that only stat()s the file; a run under its
 * system-call filter (docs/SECURITY.md) may not open it any more. So the NAT forwards one
 * empty datagram to 10.0.2.3:53 as it starts, from an address no guest gets by DHCP
 * (10.0.2.254), before the filter: libslirp reads resolv.conf then (its cache is the
 * process's), the host's resolver gets an empty datagram it ignores, and the guest sees
 * nothing (the NAT's thread has not started). */
#define WARM_SRC 0x0a0002feu /* 10.0.2.254 */
static void learn_dns_server(struct net_slirp *s)
{
    uint8_t f[14 + 20 + 8] = {0};
    static const uint8_t src_mac[6] = {0x52, 0x54, 0x00, 0xff, 0xff, 0xfe};
    memset(f, 0xff, 6); /* broadcast: slirp takes IP frames to any MAC */
    memcpy(f + 6, src_mac, 6);
    f[12] = 0x08; /* IPv4 */
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 28; /* total length: IP + UDP headers, no payload */
    ip[8] = 64; /* TTL */
    ip[9] = 17; /* UDP */
    uint32_t src = htonl(WARM_SRC), dst = htonl(SLIRP_DNS);
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint32_t sum = 0;
    for (unsigned i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = (uint8_t)(~sum >> 8);
    ip[11] = (uint8_t)~sum;
    uint8_t *udp = ip + 20;
    udp[0] = 0xc0; /* source port 49152; no UDP checksum (0: none, IPv4) */
    udp[3] = 53;
    udp[5] = 8; /* length: the header */
    pthread_mutex_lock(&s->lock);
    slirp_input(s->slirp, f, (int)sizeof f);
    pthread_mutex_unlock(&s->lock);
}

static struct in_addr ip4(uint32_t host_order)
{
    return (struct in_addr){.s_addr = htonl(host_order)};
}

static int add_forward(struct net_slirp *s, const struct net_forward *f, uint32_t guest,
                       struct cove_error *err)
{
    errno = 0;
    if (slirp_add_hostfwd(s->slirp, f->udp, ip4(f->host_addr), f->host_port, ip4(guest),
                          f->guest_port) == 0)
        return 0;
    int e = errno ? errno : EADDRINUSE;
    char addr[INET_ADDRSTRLEN];
    struct in_addr a = ip4(f->host_addr);
    inet_ntop(AF_INET, &a, addr, sizeof addr);
    if (e == EADDRINUSE)
        return cove_error_set(err, -e,
                              "%sport %u on %s is already in use; choose another --forward "
                              "host port", f->udp ? "UDP " : "", f->host_port, addr);
    if (e == EADDRNOTAVAIL)
        return cove_error_set(err, -e,
                              "cannot forward port %u: %s is not an address of this host",
                              f->host_port, addr);
    if (e == EACCES)
        return cove_error_set(err, -e,
                              "cannot forward port %u on %s: permission denied (ports below "
                              "1024 need privileges)", f->host_port, addr);
    return cove_error_set(err, -e, "cannot forward port %u on %s: %s", f->host_port, addr,
                          strerror(e));
}

int net_slirp_hostfwd(struct net_attachment *n, bool add, bool udp, uint16_t host_port,
                      uint16_t guest_port)
{
    if (!n || n->ops != &slirp_ops)
        return -EINVAL;
    struct net_slirp *s = to_slirp(n);
    struct in_addr lo = ip4(0x7f000001u);
    pthread_mutex_lock(&s->lock);
    errno = 0;
    int rc = add ? slirp_add_hostfwd(s->slirp, udp, lo, host_port, ip4(SLIRP_GUEST), guest_port)
                 : slirp_remove_hostfwd(s->slirp, udp, lo, host_port);
    int e = errno;
    if (rc == 0)
        wake_locked(s); /* a new listening socket: the thread polls it from now on */
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return 0;
    return add ? -(e ? e : EADDRINUSE) : -ENOENT;
}

int net_slirp_forward_to(struct net_attachment *n, bool add, const struct net_forward *f,
                         uint32_t guest, struct cove_error *err)
{
    if (!n || n->ops != &slirp_ops)
        return cove_error_set(err, -EINVAL, "not a NAT");
    struct net_slirp *s = to_slirp(n);
    pthread_mutex_lock(&s->lock);
    int rc = add ? add_forward(s, f, guest, err)
                 : slirp_remove_hostfwd(s->slirp, f->udp, ip4(f->host_addr), f->host_port) == 0
                       ? 0 : cove_error_set(err, -ENOENT, "no such forward");
    if (rc == 0)
        wake_locked(s); /* the thread polls a new listening socket from now on */
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static struct net_rule *copy_rules(const struct net_rule *r, unsigned n)
{
    struct net_rule *c = malloc((n ? n : 1) * sizeof *c);
    if (c && n)
        memcpy(c, r, n * sizeof *c);
    return c;
}

/* Where slirp is on its network (host byte order): QEMU's layout for a VM's own NAT, a
 * cove network's subnet for its uplink. */
struct slirp_layout {
    uint32_t net, mask, host, dns, dhcp_start;
    bool dhcp;
};

static const struct slirp_layout qemu_layout = {SLIRP_NET, SLIRP_MASK, SLIRP_HOST, SLIRP_DNS,
                                                SLIRP_GUEST, true};

static int open_layout(const struct slirp_layout *at, const struct net_forward *forwards,
                       unsigned nforwards, const struct net_egress *egress,
                       struct net_attachment **out, struct cove_error *err)
{
    struct net_slirp *s = calloc(1, sizeof *s);
    if (!s)
        return cove_error_set(err, -ENOMEM, "net: out of memory");
    if (egress) {
        s->allow = copy_rules(egress->allow, egress->nallow);
        s->block = copy_rules(egress->block, egress->nblock);
        if (!s->allow || !s->block) {
            free(s->allow);
            free(s->block);
            free(s);
            return cove_error_set(err, -ENOMEM, "net: out of memory");
        }
        s->egress = (struct net_egress){s->allow, egress->nallow, s->block, egress->nblock,
                                        NULL, egress->resolver};
        if ((egress->nallow || egress->nblock) && !(s->egress.flows = net_egress_flows_new())) {
            free(s->allow);
            free(s->block);
            free(s);
            return cove_error_set(err, -ENOMEM, "net: out of memory");
        }
    }
    s->base.ops = &slirp_ops;
    s->base.mtu = NET_MTU_SLIRP;
    pthread_mutex_init(&s->lock, NULL);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        int e = errno;
        pthread_mutex_destroy(&s->lock);
        free(s);
        return cove_error_set(err, -e, "net: eventfd: %s", strerror(e));
    }
    SlirpConfig cfg = {
        .version = 4,
        .in_enabled = true,
        .vnetwork = ip4(at->net),
        .vnetmask = ip4(at->mask),
        .vhost = ip4(at->host),
        .vdhcp_start = ip4(at->dhcp_start),
        .vnameserver = ip4(at->dns),
        .disable_dhcp = !at->dhcp,
        .vhostname = "cove",
        .if_mtu = NET_MTU_SLIRP,
        .if_mru = NET_MTU_SLIRP,
    };
    s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
    if (!s->slirp) {
        slirp_close(&s->base);
        return cove_error_set(err, -ENOMEM, "net: cannot start the NAT (libslirp)");
    }
    if (at == &qemu_layout) /* an uplink runs in the switch process, never confined */
        learn_dns_server(s);
    for (unsigned i = 0; i < nforwards; i++) {
        int r = add_forward(s, &forwards[i], SLIRP_GUEST, err);
        if (r < 0) {
            slirp_close(&s->base);
            return r;
        }
    }
    *out = &s->base;
    return 0;
}

int net_slirp_open(const struct net_forward *forwards, unsigned nforwards,
                   const struct net_egress *egress, struct net_attachment **out,
                   struct cove_error *err)
{
    return open_layout(&qemu_layout, forwards, nforwards, egress, out, err);
}

int net_slirp_open_uplink(uint32_t net, uint32_t mask, uint32_t gateway, uint32_t dns,
                          const struct net_egress *egress, struct net_attachment **out,
                          struct cove_error *err)
{
    const struct slirp_layout at = {net, mask, gateway, dns, gateway, false};
    return open_layout(&at, NULL, 0, egress, out, err);
}
