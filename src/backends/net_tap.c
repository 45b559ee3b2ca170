/*
 * TAP attachments (net.h): `--net tap:IFNAME`, an existing TAP, and `--net bridge:BRIDGE`,
 * a TAP cove creates, adds to a Linux bridge and removes after.
 *
 * The TAP carries Ethernet frames behind a 12-byte virtio-net header (IFF_NO_PI,
 * IFF_VNET_HDR, TUNSETVNETHDRSZ): the guest's partial checksums and 64 KiB TCP segments
 * go to the kernel as they are, and the kernel hands over the same (TUNSETOFFLOAD, set to
 * what the guest's driver takes: tap_set_offload), so a bulk transfer costs one frame per
 * 64 KiB each way instead of one per 1500 bytes, and no pass over the data to checksum it.
 * A kernel that refuses the offloads gets plain frames (the device finishes the checksums,
 * src/devices/virtio/net.c). One thread per
 * attachment polls the TAP and an eventfd that close() signals; send() writes from the
 * device's transmit handler without blocking (a full queue drops the frame, as a wire).
 *
 * A bridged TAP is not persistent, so the kernel removes it when its last descriptor
 * closes, the process's death included. Its name, "cove-" and the owner's pid in hex,
 * says whose it is: net_tap_sweep_stale() removes those whose owner is gone (one left by a
 * descriptor that outlived its process, or made persistent by someone).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/net.h"
#include "util/log.h"

#define TAP_PREFIX "cove-"

struct net_tap {
    struct net_attachment base;
    int fd, stop_fd;
    pthread_t thread;
    bool thread_started;
    net_receive_fn rx;
    void *rx_opaque;
    uint8_t *buf;
    char ifname[IFNAMSIZ];
};

static struct net_tap *to_tap(struct net_attachment *n) { return (struct net_tap *)n; }

static void *tap_thread(void *arg)
{
    struct net_tap *t = arg;
    struct pollfd fds[2] = {{.fd = t->fd, .events = POLLIN}, {.fd = t->stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("net: %s: poll: %s", t->ifname, strerror(errno));
            break;
        }
        if (fds[1].revents)
            break;
        if (!fds[0].revents)
            continue;
        for (;;) {
            ssize_t n = read(t->fd, t->buf, NET_VNET_HDR_LEN + NET_FRAME_MAX);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n < 0) {
                /* the interface is gone (deleted under us): the link is dead, the VM runs on */
                log_error("net: %s: %s; the guest's network stops here", t->ifname,
                          strerror(errno));
                fds[0].fd = -1;
                break;
            }
            if ((size_t)n >= (t->base.vnet_hdr ? NET_VNET_HDR_LEN : 0) + NET_FRAME_MIN)
                t->rx(t->rx_opaque, t->buf, (size_t)n);
        }
    }
    return NULL;
}

static int tap_start(struct net_attachment *n, net_receive_fn fn, void *opaque)
{
    struct net_tap *t = to_tap(n);
    if (t->thread_started)
        return -EBUSY;
    t->rx = fn;
    t->rx_opaque = opaque;
    int r = pthread_create(&t->thread, NULL, tap_thread, t);
    if (r)
        return -r;
    pthread_setname_np(t->thread, "cove-tap");
    t->thread_started = true;
    return 0;
}

static int tap_send(struct net_attachment *n, const void *frame, size_t len)
{
    struct net_tap *t = to_tap(n);
    size_t hdr = n->vnet_hdr ? NET_VNET_HDR_LEN : 0;
    if (len < hdr + NET_FRAME_MIN || len > hdr + NET_FRAME_MAX)
        return -EINVAL;
    ssize_t w;
    do
        w = write(t->fd, frame, len);
    while (w < 0 && errno == EINTR);
    return 0; /* a frame the TAP did not take (queue full, link down) is dropped */
}

static void tap_close(struct net_attachment *n)
{
    struct net_tap *t = to_tap(n);
    if (t->thread_started) {
        uint64_t one = 1;
        if (write(t->stop_fd, &one, sizeof one) != sizeof one)
            log_error("net: %s: cannot stop its thread", t->ifname);
        pthread_join(t->thread, NULL);
    }
    if (t->fd >= 0)
        close(t->fd); /* a TAP cove created goes away with it */
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    free(t->buf);
    free(t);
}

/* NET_OFFLOAD_* as TUN_F_* (what the kernel may hand this TAP's reader). */
static unsigned tun_flags(unsigned offloads)
{
    return (offloads & NET_OFFLOAD_CSUM ? TUN_F_CSUM : 0) |
           (offloads & NET_OFFLOAD_TSO4 ? TUN_F_TSO4 : 0) |
           (offloads & NET_OFFLOAD_TSO6 ? TUN_F_TSO6 : 0);
}

static int tap_set_offload(struct net_attachment *n, unsigned offloads)
{
    struct net_tap *t = to_tap(n);
    /* segmentation needs checksums: TUN_F_TSO* without TUN_F_CSUM is refused */
    if (!(offloads & NET_OFFLOAD_CSUM))
        offloads = 0;
    if (ioctl(t->fd, TUNSETOFFLOAD, tun_flags(offloads)) < 0) {
        int e = errno;
        log_warn("net: %s: TUNSETOFFLOAD: %s", t->ifname, strerror(e));
        return -e;
    }
    return 0;
}

static const struct net_attachment_ops tap_ops = {
    .start = tap_start,
    .send = tap_send,
    .close = tap_close,
    .set_offload = tap_set_offload,
};

/* The vnet header (always: the TAP is opened with IFF_VNET_HDR) and the offloads the
 * kernel takes on this TAP: all of them, or none (then the guest is offered none and the
 * device finishes its checksums). Offloads start off: the guest's driver turns them on
 * (tap_set_offload). */
static int tap_offloads(struct net_tap *t)
{
    const unsigned all = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6;
    int hdr = NET_VNET_HDR_LEN;
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0)
        return -errno;
    t->base.vnet_hdr = true;
    if (ioctl(t->fd, TUNSETOFFLOAD, tun_flags(all)) == 0 && ioctl(t->fd, TUNSETOFFLOAD, 0) == 0)
        t->base.offloads = all;
    else
        log_info("net: %s: the kernel takes no offloads on it (%s); plain frames", t->ifname,
                 strerror(errno));
    return 0;
}

/* SIOCGIFMTU / SIOCSIFMTU / SIOCGIFFLAGS ... on a throw-away socket: 0 or -errno. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    int rc = ioctl(s, req, ifr) < 0 ? -errno : 0;
    close(s);
    return rc;
}

static int if_mtu(const char *name, unsigned *mtu)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    int rc = if_ioctl(SIOCGIFMTU, &ifr);
    if (rc == 0)
        *mtu = (unsigned)ifr.ifr_mtu;
    return rc;
}

static int if_up(const char *name)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    int rc = if_ioctl(SIOCGIFFLAGS, &ifr);
    if (rc < 0 || (ifr.ifr_flags & IFF_UP))
        return rc;
    ifr.ifr_flags |= IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

static bool sys_class_net_has(const char *ifname, const char *entry)
{
    char path[128];
    struct stat st;
    if (snprintf(path, sizeof path, "/sys/class/net/%s/%s", ifname, entry) >= (int)sizeof path)
        return false;
    return stat(path, &st) == 0;
}

/* Attaches a new struct net_tap to the TAP ifname (creating it when it does not exist,
 * which needs CAP_NET_ADMIN). what names the option in messages. */
static int tap_attach(const char *ifname, const char *what, struct net_tap **out,
                      struct cove_error *err)
{
    struct net_tap *t = calloc(1, sizeof *t);
    if (!t || !(t->buf = malloc(NET_VNET_HDR_LEN + NET_FRAME_MAX))) {
        free(t);
        return cove_error_set(err, -ENOMEM, "net: out of memory");
    }
    t->base.ops = &tap_ops;
    t->fd = t->stop_fd = -1;
    snprintf(t->ifname, sizeof t->ifname, "%s", ifname);
    int e = 0;
    t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (t->fd < 0) {
        e = errno;
        tap_close(&t->base);
        if (e == EACCES || e == EPERM)
            return cove_error_set(err, -e, "%s: cannot open /dev/net/tun: permission denied; "
                                  "TAP networking needs CAP_NET_ADMIN (run cove as root)", what);
        return cove_error_set(err, -e, "%s: cannot open /dev/net/tun: %s (is the tun module "
                              "loaded?)", what, strerror(e));
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        e = errno;
        tap_close(&t->base);
        if (e == EPERM || e == EACCES)
            return cove_error_set(err, -e, "%s: permission denied on TAP '%s'; this needs "
                                  "CAP_NET_ADMIN (run cove as root), or a TAP made for your "
                                  "user (ip tuntap add dev %s mode tap user USER)", what,
                                  ifname, ifname);
        if (e == EBUSY)
            return cove_error_set(err, -e, "%s: TAP '%s' is in use by another process", what,
                                  ifname);
        if (e == EINVAL)
            return cove_error_set(err, -e, "%s: '%s' is not a single-queue TAP (a TUN device?); "
                                  "make one with ip tuntap add dev %s mode tap", what, ifname,
                                  ifname);
        return cove_error_set(err, -e, "%s: cannot attach TAP '%s': %s", what, ifname,
                              strerror(e));
    }
    if ((e = -tap_offloads(t)) != 0) {
        tap_close(&t->base);
        return cove_error_set(err, -e, "%s: TAP '%s' takes no virtio-net header "
                              "(TUNSETVNETHDRSZ: %s)", what, ifname, strerror(e));
    }
    unsigned mtu = NET_MTU_DEFAULT;
    if (if_mtu(ifname, &mtu) < 0 || mtu < 68 || mtu > NET_FRAME_MAX - 18)
        mtu = NET_MTU_DEFAULT;
    t->base.mtu = mtu;
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->stop_fd < 0) {
        e = errno;
        tap_close(&t->base);
        return cove_error_set(err, -e, "net: eventfd: %s", strerror(e));
    }
    *out = t;
    return 0;
}

int net_tap_open(const char *ifname, struct net_attachment **out, struct cove_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "tap:%s", ifname);
    /* TUNSETIFF would create a missing one: "an existing TAP" is checked first */
    if (!if_nametoindex(ifname))
        return cove_error_set(err, -ENODEV, "%s: there is no interface '%s'; create the TAP "
                              "first (ip tuntap add dev %s mode tap user USER)", what, ifname,
                              ifname);
    if (!sys_class_net_has(ifname, "tun_flags"))
        return cove_error_set(err, -EINVAL, "%s: '%s' is not a TAP; make one with ip tuntap "
                              "add dev %s mode tap", what, ifname, ifname);
    struct net_tap *t;
    int rc = tap_attach(ifname, what, &t, err);
    if (rc < 0)
        return rc;
    if (if_up(ifname) < 0) /* best effort: setting it up is the owner's job without privileges */
        log_debug("net: %s: cannot set it up; bring it up yourself (ip link set %s up)",
                  ifname, ifname);
    *out = &t->base;
    return 0;
}

/* Deletes interface ifname through rtnetlink (RTM_DELLINK): 0 or -errno. */
static int link_delete(const char *ifname)
{
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        return -errno;
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0)
        return -errno;
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = {
        .nh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_DELLINK,
               .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1},
        .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)idx},
    };
    int rc = 0;
    if (send(s, &req, sizeof req, 0) < 0) {
        rc = -errno;
    } else {
        union {
            struct nlmsghdr nh;
            char bytes[512];
        } ack;
        ssize_t n = recv(s, &ack, sizeof ack, 0);
        if (n < 0)
            rc = -errno;
        else if ((size_t)n >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
                 ack.nh.nlmsg_type == NLMSG_ERROR)
            rc = ((struct nlmsgerr *)NLMSG_DATA(&ack.nh))->error;
    }
    close(s);
    return rc;
}

/* The owner pid in a cove TAP's name "cove-HEX" or "cove-HEX-N", or 0. */
static pid_t tap_owner(const char *name)
{
    if (strncmp(name, TAP_PREFIX, strlen(TAP_PREFIX)))
        return 0;
    const char *p = name + strlen(TAP_PREFIX);
    char *end;
    if (!isxdigit((unsigned char)*p))
        return 0;
    unsigned long pid = strtoul(p, &end, 16);
    if (*end == '-' && isdigit((unsigned char)end[1]))
        for (end++; isdigit((unsigned char)*end); end++) {
        }
    if (*end || pid == 0 || pid > 0x7fffffff)
        return 0;
    return (pid_t)pid;
}

static bool pid_running(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/* The names this process gave its TAPs so far: a name with its pid that it has not
 * created yet is another's, left by an earlier process with the same pid. */
static atomic_uint taps_made;

int net_tap_sweep_stale(void)
{
    DIR *d = opendir("/sys/class/net");
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = tap_owner(e->d_name);
        if (!pid || !sys_class_net_has(e->d_name, "tun_flags"))
            continue;
        if (pid == getpid() || pid_running(pid))
            continue; /* ours (live), or its owner's */
        int rc = link_delete(e->d_name);
        if (rc == 0) {
            log_info("net: removed TAP %s left by process %d", e->d_name, (int)pid);
            removed++;
        } else {
            log_info("net: cannot remove TAP %s left by process %d: %s", e->d_name, (int)pid,
                     strerror(-rc));
        }
    }
    closedir(d);
    return removed;
}

int net_bridge_open(const char *bridge, struct net_attachment **out, struct cove_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "bridge:%s", bridge);
    unsigned br_index = if_nametoindex(bridge);
    if (!br_index)
        return cove_error_set(err, -ENODEV, "%s: there is no interface '%s'; create the bridge "
                              "first (ip link add %s type bridge)", what, bridge, bridge);
    if (!sys_class_net_has(bridge, "bridge"))
        return cove_error_set(err, -EINVAL, "%s: '%s' is not a Linux bridge", what, bridge);
    net_tap_sweep_stale();
    char name[IFNAMSIZ];
    unsigned k = atomic_fetch_add(&taps_made, 1);
    if (k)
        snprintf(name, sizeof name, TAP_PREFIX "%x-%u", (unsigned)getpid(), k % 1000);
    else
        snprintf(name, sizeof name, TAP_PREFIX "%x", (unsigned)getpid());
    if (if_nametoindex(name) && link_delete(name) == 0) /* an earlier process with our pid */
        log_info("net: removed TAP %s left by an earlier process", name);
    /* Creating a TAP takes CAP_NET_ADMIN: said in one line before anything is made. */
    struct net_tap *t;
    int rc = tap_attach(name, what, &t, err);
    if (rc == -EPERM || rc == -EACCES)
        return cove_error_set(err, rc, "%s: creating a TAP for the bridge needs CAP_NET_ADMIN; "
                              "run cove as root (or with that capability)", what);
    if (rc < 0)
        return rc;
    struct ifreq ifr = {0};
    unsigned br_mtu;
    if (if_mtu(bridge, &br_mtu) == 0 && br_mtu != t->base.mtu && br_mtu >= 68 &&
        br_mtu <= NET_FRAME_MAX - 18) {
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        ifr.ifr_mtu = (int)br_mtu;
        if (if_ioctl(SIOCSIFMTU, &ifr) == 0)
            t->base.mtu = br_mtu;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", bridge);
    ifr.ifr_ifindex = (int)if_nametoindex(name);
    if ((rc = if_ioctl(SIOCBRADDIF, &ifr)) < 0 || (rc = if_up(name)) < 0) {
        tap_close(&t->base);
        return cove_error_set(err, rc, "%s: cannot add TAP %s to the bridge: %s%s", what, name,
                              strerror(-rc),
                              rc == -EPERM ? " (this needs CAP_NET_ADMIN; run cove as root)" : "");
    }
    log_info("net: %s on bridge %s", name, bridge);
    *out = &t->base;
    return 0;
}
