/*
 * The switch process of a cove network (net_switch.h): its socket, its ports' addresses,
 * its NAT uplink (slirp, net_uplink.c) when it has one, and the loop that moves frames
 * between them. It starts forked from the first VMM that
 * attaches (net_switch_spawn) and ends when no VM has been attached for a few seconds.
 */
#include "backends/net_switch.h"

#include <cove/network.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/net_services.h"
#include "util/be.h"
#include "util/inet_csum.h"
#include "util/confined.h"
#include "util/fdio.h"
#include "util/log.h"

#define SOCK_BUF_BYTES (4 << 20)
/* How long a frame may wait for room at its receiver. A Unix datagram socket holds only
 * net.unix.max_dgram_qlen datagrams (10) or its sender's send buffer (wmem_max, about
 * 200 KiB: three 64 KiB frames) and cannot be made larger without privilege; dropping
 * every frame past that would cut TCP to a crawl. A short wait in the sender's send()
 * instead slows the faster side to the slower, as a switch's flow control would. */
#define SEND_WAIT_MS 20

struct port_addr {
    struct sockaddr_un addr;
    socklen_t len;
    long long seen_ms;
    struct net_forward fwd[NET_SWITCH_FORWARDS]; /* the uplink's forwards to it */
    unsigned nfwd;
    bool vnet; /* it takes 'V' frames (it said so: 'O' 'V') */
};

/* Forwards of ports that left, for the main thread to remove from slirp (never under
 * lock: slirp's thread holds slirp's lock when it takes ours). */
#define GONE_FORWARDS (NET_SWITCH_PORTS * NET_SWITCH_FORWARDS)

/* The loop runs on the process's main thread; with a NAT uplink, slirp's thread hands
 * its frames to the network too (uplink_rx): lock guards everything below but buf, the
 * main thread's, and is never held while calling into slirp (whose own lock is held
 * around uplink_rx). */
struct switch_proc {
    int fd;
    pthread_mutex_t lock;
    struct net_switch sw;
    struct net_services svc;
    struct port_addr addrs[NET_SWITCH_PORTS];
    struct net_attachment *uplink; /* slirp (net_slirp_open_uplink), or NULL */
    struct net_rule allow[COVE_NETWORK_RULES], block[COVE_NETWORK_RULES]; /* its rules */
    struct net_forward gone[GONE_FORWARDS], gone_work[GONE_FORWARDS];
    unsigned ngone;
    struct net_forward hello_fwd[NET_SWITCH_FORWARDS]; /* the main thread's */
    uint8_t buf[1 + NET_VNET_HDR_LEN + NET_FRAME_MAX + 1];
    uint8_t reply[1 + NET_FRAME_MAX];
    uint8_t up_buf[NET_FRAME_MAX];
    unsigned long long full_drops; /* frames dropped: their receiver stayed full */
};

static int path_in(char *buf, size_t n, const char *dir, const char *name)
{
    int len = snprintf(buf, n, "%s/%s", dir, name);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

static void mac_text(const uint8_t *m, char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int port_by_addr(const struct switch_proc *p, const struct sockaddr_un *a, socklen_t len)
{
    for (int i = 0; i < NET_SWITCH_PORTS; i++)
        if (p->sw.ports[i].used && p->addrs[i].len == len && !memcmp(&p->addrs[i].addr, a, len))
            return i;
    return -1;
}

/* One message to an address, data after a header of hlen bytes (maybe 0); -errno when its
 * socket is gone (or full: EAGAIN). */
static int send_hdr_to(struct switch_proc *p, const struct sockaddr_un *a, socklen_t alen,
                       char kind, const void *hdr, size_t hlen, const void *data, size_t len)
{
    struct iovec iov[3] = {{&kind, 1}, {(void *)hdr, hlen}, {(void *)data, len}};
    struct msghdr m = {.msg_name = (void *)a, .msg_namelen = alen, .msg_iov = iov,
                       .msg_iovlen = 3};
    return sendmsg(p->fd, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int send_to(struct switch_proc *p, const struct sockaddr_un *a, socklen_t alen, char kind,
                   const void *data, size_t len)
{
    return send_hdr_to(p, a, alen, kind, NULL, 0, data, len);
}

/* The answer to a hello: accepted, and 'V' frames are welcome. */
static void accept_port(struct switch_proc *p, const struct sockaddr_un *a, socklen_t alen)
{
    send_to(p, a, alen, NET_SWITCH_MSG_ACCEPT, "V", 1);
}

static void drop_port(struct switch_proc *p, int port, const char *why)
{
    char mac[18];
    mac_text(p->sw.ports[port].mac, mac);
    log_info("network switch: port %s left (%s)", mac, why);
    if (strcmp(why, "its VM stopped")) /* a killed VMM leaves its socket file behind */
        unlink(p->addrs[port].addr.sun_path);
    struct port_addr *pa = &p->addrs[port];
    for (unsigned i = 0; i < pa->nfwd && p->ngone < GONE_FORWARDS; i++)
        p->gone[p->ngone++] = pa->fwd[i];
    pa->nfwd = 0;
    net_switch_leave(&p->sw, port);
}

/* Main thread, lock not held: removes the forwards of ports that left. */
static void sweep_forwards(struct switch_proc *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = p->ngone;
    memcpy(p->gone_work, p->gone, n * sizeof p->gone[0]);
    p->ngone = 0;
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < n; i++) {
        struct cove_error e = {0};
        net_slirp_forward_to(p->uplink, false, &p->gone_work[i], 0, &e);
    }
}

/* The forwards a port asked for in its hello (after its name and a 0), decoded into
 * fwd; -1 when malformed or too many. */
static int hello_forwards(const uint8_t *msg, size_t len, struct net_forward *fwd)
{
    size_t name_len = strnlen((const char *)msg + 1 + NET_MAC_LEN, len - 1 - NET_MAC_LEN);
    size_t at = 1 + NET_MAC_LEN + name_len + 1;
    if (at > len)
        return 0;
    size_t rest = len - at;
    if (rest % NET_SWITCH_FWD_LEN || rest / NET_SWITCH_FWD_LEN > NET_SWITCH_FORWARDS)
        return -1;
    unsigned n = 0;
    for (const uint8_t *f = msg + at; f < msg + len; f += NET_SWITCH_FWD_LEN) {
        if (f[0] > 1 || !be_get16(f + 5) || !be_get16(f + 7))
            return -1;
        fwd[n++] = (struct net_forward){f[0] == 1, be_get32(f + 1), be_get16(f + 5),
                                        be_get16(f + 7)};
    }
    return (int)n;
}

/* Main thread, lock not held: the forwards of a port that just joined go to the uplink,
 * all or none; on failure the port leaves again and is told why. */
static void install_forwards(struct switch_proc *p, int port, const struct sockaddr_un *a,
                             socklen_t alen, const struct net_forward *fwd, unsigned n,
                             uint32_t guest)
{
    struct cove_error e = {0};
    unsigned done = 0;
    sweep_forwards(p); /* a VM started again takes its host ports back */
    if (!p->uplink)
        cove_error_set(&e, -ENOTSUP, "the network has no NAT uplink, which port forwards "
                       "need (create it with --nat)");
    else if (!guest)
        cove_error_set(&e, -ENOSPC, "the network has no free address for this VM");
    else
        while (done < n && net_slirp_forward_to(p->uplink, true, &fwd[done], guest, &e) == 0)
            done++;
    if (done == n && p->uplink && guest) {
        pthread_mutex_lock(&p->lock);
        memcpy(p->addrs[port].fwd, fwd, n * sizeof *fwd);
        p->addrs[port].nfwd = n;
        pthread_mutex_unlock(&p->lock);
        accept_port(p, a, alen);
        return;
    }
    for (unsigned i = 0; i < done; i++) {
        struct cove_error ignored = {0};
        net_slirp_forward_to(p->uplink, false, &fwd[i], 0, &ignored);
    }
    pthread_mutex_lock(&p->lock);
    if (p->sw.ports[port].used && port_by_addr(p, a, alen) == port)
        net_switch_leave(&p->sw, port);
    pthread_mutex_unlock(&p->lock);
    log_warn("network switch: refused a port: %s", e.message);
    send_to(p, a, alen, NET_SWITCH_MSG_REFUSE, e.message, strlen(e.message));
}

/* A frame to a port (behind its vnet header: hdr, or NULL): a socket that is gone takes
 * its port with it; a full one drops the frame, as a congested wire would. */
static void deliver_hdr(struct switch_proc *p, int port, const uint8_t *hdr, const void *frame,
                        size_t len)
{
    int rc = send_hdr_to(p, &p->addrs[port].addr, p->addrs[port].len,
                         hdr ? NET_SWITCH_MSG_VFRAME : NET_SWITCH_MSG_FRAME, hdr,
                         hdr ? NET_VNET_HDR_LEN : 0, frame, len);
    if (rc == -ECONNREFUSED || rc == -ENOENT)
        drop_port(p, port, "its socket is gone");
    else if ((rc == -EAGAIN || rc == -EWOULDBLOCK) && (p->full_drops++ & 1023) == 0)
        log_warn("network switch: %llu frame(s) dropped so far: a receiving VM stayed full "
                 "for %d ms", p->full_drops, SEND_WAIT_MS);
}

static void deliver(struct switch_proc *p, int port, const void *frame, size_t len)
{
    deliver_hdr(p, port, NULL, frame, len);
}

/* A port's hello (lock held). A new port that asks for forwards is left unanswered and
 * returned, with its forwards in fwd, *nfwd and the address leased to it in *guest, for
 * install_forwards; otherwise -1. */
static int hello(struct switch_proc *p, const struct sockaddr_un *a, socklen_t alen,
                 const uint8_t *msg, size_t len, long long now, struct net_forward *fwd,
                 unsigned *nfwd, uint32_t *guest)
{
    int port = port_by_addr(p, a, alen);
    if (port >= 0) {
        p->addrs[port].seen_ms = now;
        accept_port(p, a, alen);
        return -1;
    }
    if (len < 1 + NET_MAC_LEN)
        return -1;
    int n = hello_forwards(msg, len, fwd);
    if (n < 0) {
        static const char bad[] = "a malformed registration (forwards)";
        send_to(p, a, alen, NET_SWITCH_MSG_REFUSE, bad, sizeof bad - 1);
        return -1;
    }
    const uint8_t *mac = msg + 1;
    char text[18], why[128];
    mac_text(mac, text);
    int holder = net_switch_port_of(&p->sw, mac);
    if (holder >= 0) { /* a VMM killed and started again: is the old one still there? */
        int rc = send_to(p, &p->addrs[holder].addr, p->addrs[holder].len,
                         NET_SWITCH_MSG_ACCEPT, NULL, 0);
        if (rc == -ECONNREFUSED || rc == -ENOENT)
            drop_port(p, holder, "its socket is gone");
    }
    port = net_switch_join(&p->sw, mac);
    if (port < 0) {
        if (port == -ENOSPC)
            snprintf(why, sizeof why, "the network has no free port (%d VMs are on it)",
                     NET_SWITCH_PORTS);
        else
            snprintf(why, sizeof why, "MAC %s is in use by another VM on the network; give "
                     "this VM another (cove set NAME --mac)", text);
        log_warn("network switch: refused a port: %s", why);
        send_to(p, a, alen, NET_SWITCH_MSG_REFUSE, why, strlen(why));
        return -1;
    }
    p->addrs[port].addr = *a;
    p->addrs[port].len = alen;
    p->addrs[port].seen_ms = now;
    p->addrs[port].nfwd = 0;
    p->addrs[port].vnet = false;
    size_t name_len = strnlen((const char *)msg + 1 + NET_MAC_LEN, len - 1 - NET_MAC_LEN);
    if (name_len)
        net_services_set_name(&p->svc, mac, (const char *)msg + 1 + NET_MAC_LEN, name_len);
    log_info("network switch: port %s joined%s", text, n ? " with port forwards" : "");
    if (n) {
        struct net_lease *l = net_services_lease(&p->svc, mac);
        *guest = l ? l->ip : 0;
        *nfwd = (unsigned)n;
        return port;
    }
    accept_port(p, a, alen);
    return -1;
}

/* A frame from port in (with a partial checksum behind hdr, checked, or hdr NULL); whether
 * it goes on to the NAT uplink. The ports that take partial checksums get it as it is;
 * the checksum is finished in frame for the others, the switch's host and the uplink. */
static bool frame_in(struct switch_proc *p, int in, const uint8_t *hdr, uint8_t *frame,
                     size_t len, long long now)
{
    bool local;
    uint64_t out = net_switch_route(&p->sw, in, frame, len, now, &local);
    if (hdr) {
        for (int i = 0; i < NET_SWITCH_PORTS; i++)
            if (((out >> i) & 1) && p->sw.ports[i].used && p->addrs[i].vnet) {
                deliver_hdr(p, i, hdr, frame, len);
                out &= ~(1ull << i);
            }
        if (out || local)
            inet_csum_finish(frame, len, (size_t)(hdr[6] | hdr[7] << 8),
                             (size_t)(hdr[8] | hdr[9] << 8));
    }
    for (int i = 0; out; i++, out >>= 1)
        if ((out & 1) && p->sw.ports[i].used)
            deliver(p, i, frame, len);
    if (local) {
        size_t n = net_services_handle(&p->svc, frame, len, p->reply, sizeof p->reply);
        if (n && p->sw.ports[in].used)
            deliver(p, in, p->reply, n);
    }
    return local && p->svc.to_uplink && p->uplink;
}

/* A frame from slirp (on its thread, or inside the uplink's send on the main thread),
 * made the gateway's and switched to the VMs. */
static void uplink_rx(void *opaque, const void *frame, size_t len)
{
    struct switch_proc *p = opaque;
    if (len < NET_FRAME_MIN || len > sizeof p->up_buf)
        return;
    pthread_mutex_lock(&p->lock);
    memcpy(p->up_buf, frame, len);
    net_uplink_from_slirp(&p->svc, p->up_buf, len);
    uint64_t out = net_switch_route_local(&p->sw, p->up_buf, monotonic_ms());
    for (int i = 0; out; i++, out >>= 1)
        if ((out & 1) && p->sw.ports[i].used)
            deliver(p, i, p->up_buf, len);
    pthread_mutex_unlock(&p->lock);
}

static void receive(struct switch_proc *p, long long now)
{
    struct sockaddr_un a;
    for (;;) {
        socklen_t alen = sizeof a;
        ssize_t n = recvfrom(p->fd, p->buf, sizeof p->buf, MSG_DONTWAIT, (struct sockaddr *)&a,
                             &alen);
        if (n <= 0)
            return;
        if (a.sun_family != AF_UNIX || alen <= offsetof(struct sockaddr_un, sun_path))
            continue; /* an unbound sender cannot be answered */
        pthread_mutex_lock(&p->lock);
        int port = port_by_addr(p, &a, alen), joined = -1;
        unsigned nfwd = 0;
        uint32_t guest = 0;
        bool up = false;
        size_t frame_at = 1;
        switch (p->buf[0]) {
        case NET_SWITCH_MSG_HELLO:
            joined = hello(p, &a, alen, p->buf, (size_t)n, now, p->hello_fwd, &nfwd, &guest);
            break;
        case NET_SWITCH_MSG_FRAME:
            if (port >= 0 && n - 1 >= NET_FRAME_MIN && n - 1 <= NET_FRAME_MAX) {
                p->addrs[port].seen_ms = now;
                up = frame_in(p, port, NULL, p->buf + 1, (size_t)n - 1, now);
                if (up)
                    net_uplink_to_slirp(&p->svc, p->buf + 1, (size_t)n - 1);
            }
            break;
        case NET_SWITCH_MSG_VFRAME:
            if (port >= 0 && n - 1 - NET_VNET_HDR_LEN >= NET_FRAME_MIN &&
                n - 1 - NET_VNET_HDR_LEN <= NET_FRAME_MAX &&
                net_switch_vhdr_ok(p->buf + 1, (size_t)n - 1 - NET_VNET_HDR_LEN)) {
                p->addrs[port].seen_ms = now;
                frame_at = 1 + NET_VNET_HDR_LEN;
                up = frame_in(p, port, p->buf + 1, p->buf + frame_at, (size_t)n - frame_at, now);
                if (up)
                    net_uplink_to_slirp(&p->svc, p->buf + frame_at, (size_t)n - frame_at);
            }
            break;
        case NET_SWITCH_MSG_OFFLOAD:
            if (port >= 0 && n >= 2 && p->buf[1] == 'V')
                p->addrs[port].vnet = true;
            break;
        case NET_SWITCH_MSG_BYE:
            if (port >= 0)
                drop_port(p, port, "its VM stopped");
            break;
        default:
            break;
        }
        pthread_mutex_unlock(&p->lock);
        if (joined >= 0)
            install_forwards(p, joined, &a, alen, p->hello_fwd, nfwd, guest);
        if (up)
            p->uplink->ops->send(p->uplink, p->buf + frame_at, (size_t)n - frame_at);
    }
}

static bool any_port(const struct switch_proc *p)
{
    for (int i = 0; i < NET_SWITCH_PORTS; i++)
        if (p->sw.ports[i].used)
            return true;
    return false;
}

int net_switch_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int size = SOCK_BUF_BYTES;
    struct timeval wait = {0, SEND_WAIT_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size); /* as far as allowed */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    return fd;
}

static int open_socket(const char *dir, int *fd_out, struct cove_error *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (path_in(a.sun_path, sizeof a.sun_path, dir, "switch.sock") < 0)
        return cove_error_set(err, -ENAMETOOLONG, "the network's directory %s is too long for "
                              "a socket path; use a shorter COVE_HOME", dir);
    int fd = net_switch_socket();
    if (fd < 0)
        return cove_error_set(err, fd, "socket: %s", strerror(-fd));
    unlink(a.sun_path); /* a dead switch's; the lock says none runs */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc < 0) {
        rc = -errno;
        close(fd);
        return cove_error_set(err, rc, "cannot bind %s: %s", a.sun_path, strerror(-rc));
    }
    *fd_out = fd;
    return 0;
}

/* slirp on the network, started (its thread) once the switch is set up. */
static int start_uplink(struct switch_proc *p, const struct cove_network_egress *rules,
                        struct cove_error *err)
{
    struct net_services *v = &p->svc;
    struct net_egress e = {p->allow, 0, p->block, 0, NULL, net_uplink_dns_addr(v)};
    for (unsigned i = 0; rules && i < rules->nallow && i < COVE_NETWORK_RULES; i++)
        if (net_rule_parse(rules->allow[i], true, &p->allow[e.nallow], err) < 0)
            return -EINVAL;
        else
            e.nallow++;
    for (unsigned i = 0; rules && i < rules->nblock && i < COVE_NETWORK_RULES; i++)
        if (net_rule_parse(rules->block[i], false, &p->block[e.nblock], err) < 0)
            return -EINVAL;
        else
            e.nblock++;
    int rc = net_slirp_open_uplink(v->net, v->mask, v->gw, net_uplink_dns_addr(v), &e,
                                   &p->uplink, err);
    if (rc < 0)
        return rc;
    v->uplink = true;
    rc = p->uplink->ops->start(p->uplink, uplink_rx, p);
    if (rc < 0) {
        p->uplink->ops->close(p->uplink);
        p->uplink = NULL;
        return cove_error_set(err, rc, "cannot start the network's NAT: %s", strerror(-rc));
    }
    return 0;
}

int net_switch_serve(const struct net_switch_config *c, struct cove_error *err)
{
    const char *dir = c->dir;
    uint32_t net = c->net;
    unsigned prefix = c->prefix;
    char lock_path[PATH_MAX], sock_path[PATH_MAX];
    if (path_in(lock_path, sizeof lock_path, dir, "switch.lock") < 0 ||
        path_in(sock_path, sizeof sock_path, dir, "switch.sock") < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", lock_path, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock);
        return 0; /* another switch serves this network */
    }
    struct switch_proc *p = calloc(1, sizeof *p);
    if (!p) {
        close(lock);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    int rc = open_socket(dir, &p->fd, err);
    if (rc < 0) {
        free(p);
        close(lock);
        return rc;
    }
    /* The gateway's MAC follows from its address, so the guests' ARP caches stay right
     * across a restart of the switch. */
    uint32_t gw = (net & (prefix ? ~0u << (32 - prefix) : 0)) + 1;
    uint8_t mac[NET_MAC_LEN] = {0x02, 0xc0, 0x7e, (uint8_t)(gw >> 16), (uint8_t)(gw >> 8),
                                (uint8_t)gw};
    net_switch_init(&p->sw, mac);
    net_services_init(&p->svc, net, prefix, mac);
    pthread_mutex_init(&p->lock, NULL);
    if (c->nat && (rc = start_uplink(p, c->egress, err)) < 0) {
        unlink(sock_path);
        close(p->fd);
        pthread_mutex_destroy(&p->lock);
        free(p);
        close(lock);
        return rc;
    }
    if (ftruncate(lock, 0) == 0)
        dprintf(lock, "%d\n", (int)getpid());
    log_info("network switch for %s started (pid %d)%s%s", dir, (int)getpid(),
             c->nat ? ", with a NAT uplink" : "",
             c->egress && c->egress->nallow + c->egress->nblock ? " and egress rules" : "");
    long long idle_since = monotonic_ms();
    for (;;) {
        struct pollfd pfd = {p->fd, POLLIN, 0};
        if (poll(&pfd, 1, NET_SWITCH_KEEPALIVE_MS) < 0 && errno != EINTR)
            break;
        long long now = monotonic_ms();
        receive(p, now);
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < NET_SWITCH_PORTS; i++)
            if (p->sw.ports[i].used && now - p->addrs[i].seen_ms > NET_SWITCH_PORT_TIMEOUT_MS)
                drop_port(p, i, "no keepalive");
        bool busy = any_port(p);
        pthread_mutex_unlock(&p->lock);
        if (p->uplink)
            sweep_forwards(p);
        if (busy)
            idle_since = now;
        else if (now - idle_since > NET_SWITCH_IDLE_MS)
            break;
    }
    log_info("network switch for %s stopped: no VM attached (%llu frame(s) dropped at full "
             "receivers)", dir, p->full_drops);
    unlink(sock_path);
    if (p->uplink)
        p->uplink->ops->close(p->uplink); /* joins slirp's thread */
    close(p->fd);
    pthread_mutex_destroy(&p->lock);
    free(p);
    if (ftruncate(lock, 0) < 0) { /* the pid is no longer this switch's */
    }
    close(lock);
    return 0;
}

/* A switch forked from a VMM would keep the VMM's mappings (guest RAM included) for as
 * long as it runs, which can be long after that VM stopped: when this program is the cove
 * command, the child starts afresh as `cove network-switch DIR NET PREFIX` instead. Other
 * programs (the unit tests) serve in the forked child. Returns only when exec failed or
 * is not possible. */
static void exec_cove(const struct net_switch_config *c)
{
    char self[PATH_MAX], net_text[16], prefix_text[8];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = 0;
    const char *base = strrchr(self, '/');
    if (strcmp(base ? base + 1 : self, "cove"))
        return;
    snprintf(net_text, sizeof net_text, "%u", c->net);
    snprintf(prefix_text, sizeof prefix_text, "%u", c->prefix);
    /* allow=RULE and block=RULE after "nat": the rules are short (COVE_NETWORK_RULE_LEN) */
    char *argv[7 + COVE_NETWORK_RULES] = {"cove", "network-switch", (char *)c->dir, net_text,
                                          prefix_text, c->nat ? "nat" : NULL};
    char rules[COVE_NETWORK_RULES][COVE_NETWORK_RULE_LEN + 8];
    unsigned at = 6;
    const struct cove_network_egress *e = c->nat ? c->egress : NULL;
    for (unsigned i = 0; e && i < e->nallow + e->nblock && i < COVE_NETWORK_RULES; i++) {
        bool allow = i < e->nallow;
        snprintf(rules[i], sizeof rules[i], "%s=%s", allow ? "allow" : "block",
                 allow ? e->allow[i] : e->block[i - e->nallow]);
        argv[at++] = rules[i];
    }
    argv[at] = NULL;
    execv(self, argv);
}

/* allow=RULE / block=RULE arguments into e; false on anything else. */
static bool parse_rule_args(int argc, char **argv, struct cove_network_egress *e)
{
    for (int i = 0; i < argc; i++) {
        bool allow = !strncmp(argv[i], "allow=", 6);
        if ((!allow && strncmp(argv[i], "block=", 6)) ||
            e->nallow + e->nblock >= COVE_NETWORK_RULES ||
            strlen(argv[i] + 6) >= COVE_NETWORK_RULE_LEN)
            return false;
        snprintf(allow ? e->allow[e->nallow++] : e->block[e->nblock++], COVE_NETWORK_RULE_LEN,
                 "%s", argv[i] + 6);
    }
    return true;
}

int cove_network_switch_main(int argc, char **argv)
{
    static struct cove_network_egress rules;
    bool nat = argc >= 5 && !strcmp(argv[4], "nat");
    if (argc < 4 || (argc > 4 && !nat) ||
        !parse_rule_args(argc > 5 ? argc - 5 : 0, argv + 5, &rules)) {
        fprintf(stderr, "usage: cove network-switch DIR NET PREFIX [nat [allow=RULE|"
                "block=RULE]...] (started by cove itself)\n");
        return 2;
    }
    prctl(PR_SET_NAME, "cove-switch");
    struct cove_error e = {0};
    const struct net_switch_config c = {argv[1], (uint32_t)strtoul(argv[2], NULL, 10),
                                        (unsigned)strtoul(argv[3], NULL, 10), nat, &rules};
    int rc = net_switch_serve(&c, &e);
    if (rc < 0)
        log_error("network switch: %s", e.message);
    return rc < 0 ? 1 : 0;
}

int net_switch_spawn(const struct net_switch_config *c, struct cove_error *err)
{
    const char *dir = c->dir;
    char log_path[PATH_MAX];
    if (path_in(log_path, sizeof log_path, dir, "switch.log") < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
    pid_t child = fork();
    if (child < 0)
        return cove_error_set(err, -errno, "cannot start the network's switch: fork: %s",
                              strerror(errno));
    if (child == 0) {
        /* Only this thread exists here: nothing of the VMM is touched, and the grandchild
         * (no longer the VMM's child, so never a zombie of it) serves. */
        setsid();
        if (process_child_leave_jail_ns() < 0)
            _exit(1);
        if (fork() != 0)
            _exit(0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_IGN); /* a ^C at the terminal of the VM that started it */
        signal(SIGHUP, SIG_IGN);
        int in = open("/dev/null", O_RDONLY);
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        close_range(3, ~0u, 0);
        exec_cove(c);
        prctl(PR_SET_NAME, "cove-switch"); /* what ps and top show */
        struct cove_error e = {0};
        int rc = net_switch_serve(c, &e);
        if (rc < 0)
            log_error("network switch: %s", e.message);
        _exit(rc < 0 ? 1 : 0);
    }
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    return 0;
}
