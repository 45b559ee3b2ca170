/*
 * net.h — what a network device attaches to.
 *
 * A net attachment carries whole Ethernet frames (no FCS; no virtio header unless it sets
 * vnet_hdr, below) both ways.
 * send() hands it one frame from the guest; it is called from one thread at a time (the
 * device's transmit handler) and never blocks on the network: a frame that cannot go out
 * is dropped, as a wire would. Frames for the guest come through the receive callback
 * given to start(), from any thread the attachment runs (slirp and TAP: their own thread;
 * slirp also the thread inside send() for an immediate reply such as ARP; a cove network's
 * port: the device's I/O thread, io below), so the callback
 * copies the frame and returns at once. After close() returns the callback is not running and will
 * not run again.
 */
#ifndef COVE_BACKENDS_NET_H
#define COVE_BACKENDS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cove/config.h>
#include <cove/error.h>

#define NET_MAC_LEN 6
/* The largest frame either way: a 64 KiB IP packet plus an Ethernet header with a VLAN
 * tag. Without segmentation offloads a guest sends MTU-sized frames; anything above
 * this is dropped and counted. */
#define NET_FRAME_MAX (65535 + 18)
#define NET_FRAME_MIN 14 /* an Ethernet header */
/* The virtio-net header (struct virtio_net_hdr_v1, virtio 1.2 5.1.6): what an attachment
 * with vnet_hdr puts before every frame, both ways (a TAP with IFF_VNET_HDR). */
#define NET_VNET_HDR_LEN 12
/* The offloads such an attachment carries (its offloads field, set_offload's argument). */
#define NET_OFFLOAD_CSUM 1u /* partial checksums (NEEDS_CSUM) */
#define NET_OFFLOAD_TSO4 2u /* TCP segmentation, IPv4 */
#define NET_OFFLOAD_TSO6 4u /* TCP segmentation, IPv6 */

typedef void (*net_receive_fn)(void *opaque, const void *frame, size_t len);

struct net_attachment;
struct iothread;

struct net_attachment_ops {
    /* Starts delivering frames for the guest to fn(opaque, ...). Called once. */
    int (*start)(struct net_attachment *n, net_receive_fn fn, void *opaque);
    /* One frame from the guest, NET_FRAME_MIN..NET_FRAME_MAX bytes (after its header
     * with vnet_hdr; then the attachment may also write into it, to finish a checksum). */
    int (*send)(struct net_attachment *n, const void *frame, size_t len);
    void (*close)(struct net_attachment *n);
    /* Optional (NULL: the link is always up): whether frames flow now. */
    bool (*link_up)(struct net_attachment *n);
    /* Optional, with vnet_hdr: the offloads the guest takes on receive (NET_OFFLOAD_*
     * bits, within offloads); frames for the guest use no others from then on. Called by
     * the device's handlers (one at a time) when what the driver negotiated changes. */
    int (*set_offload)(struct net_attachment *n, unsigned offloads);
};

struct net_attachment {
    const struct net_attachment_ops *ops;
    /* The largest IP packet the attachment carries; the device tells the guest (virtio's
     * MTU feature). slirp takes 64 KiB packets, so a guest sends and receives 64 KiB
     * frames instead of 1500-byte ones: one pass through its network stack per 64 KiB,
     * which is what bounds a guest on a software CPU (slirp4netns does the same). */
    unsigned mtu;
    /* Set by the device before start() (or left NULL): called, from a thread of the
     * attachment, each time link_up() changes, so the device tells its driver. */
    void (*link_changed)(void *opaque);
    void *link_opaque;
    /* Set by the device before start() (or left NULL): its I/O thread. An attachment may
     * watch its socket there and call the receive callback on that thread instead of a
     * thread of its own (a cove network's port: one wakeup less per frame). */
    struct iothread *io;
    /* Set by the attachment: every frame, both ways, starts with a NET_VNET_HDR_LEN-byte
     * virtio-net header (send()'s len and the callback's include it), and it carries the
     * offloads in offloads (NET_OFFLOAD_* bits) in both directions. Frames to the guest
     * use only those set_offload() allowed; the device checks what the guest sends
     * (virtio-net's tx_hdr_ok) before send(). */
    bool vnet_hdr;
    unsigned offloads;
};

#define NET_MTU_DEFAULT 1500
#define NET_MTU_SLIRP 65520
/* A cove network carries 64 KiB frames too: every VM on it is a cove VM told this MTU. */
#define NET_MTU_NETWORK 65520

/* A host port forwarded to a guest port: host_addr:host_port -> 10.0.2.15:guest_port. */
struct net_forward {
    bool udp;
    uint32_t host_addr; /* IPv4, host byte order; 127.0.0.1 unless given */
    uint16_t host_port;
    uint16_t guest_port;
};

/* Parses [tcp|udp]:[ADDR:]HOSTPORT:GUESTPORT (the protocol is required). One line in err
 * on failure (-EINVAL), naming the value, not an option: config.json's validation
 * (src/store/config.c) calls this too, so the two never disagree. */
int net_forward_parse(const char *spec, struct net_forward *out, struct cove_error *err);

/* Parses xx:xx:xx:xx:xx:xx; a multicast address is refused (-EINVAL). */
int net_mac_parse(const char *text, uint8_t mac[NET_MAC_LEN], struct cove_error *err);

/* Parses --net's text, nat|none|tap:IFNAME|bridge:BRIDGE|network:NAME (an interface name
 * is 1..15 characters without '/', ':' or white space; a network name 1..63 of
 * [A-Za-z0-9._-], not starting with '.' or '-'). -EINVAL with one line on failure. */
int net_spec_parse(const char *text, struct cove_net_spec *out, struct cove_error *err);
const char *net_spec_text(const struct cove_net_spec *spec, char *buf, size_t len);

/* An egress rule: IPv4 destinations addr/prefix, and with port != 0 only TCP and UDP to
 * that port. */
struct net_rule {
    uint32_t addr, mask; /* host byte order; addr has no bits outside mask */
    uint16_t port;       /* 0: any */
};
/* Parses CIDR[:PORT] (allow) or CIDR (block; with_port false); a bare address is /32.
 * -EINVAL with one line naming the value. */
int net_rule_parse(const char *spec, bool with_port, struct net_rule *out,
                   struct cove_error *err);

/* What a guest may reach through the NAT (net_egress.c). A frame to an address an allow
 * rule matches passes; else one a block rule matches is dropped; else, when there are
 * allow rules, everything is dropped but ARP, DHCP and DNS to the NAT's resolver. No rules:
 * everything passes. */
struct net_egress {
    const struct net_rule *allow;
    unsigned nallow;
    const struct net_rule *block;
    unsigned nblock;
    /* Connections made to the guest from outside (a --forward's SYN, a UDP datagram), as
     * net_egress_inbound() saw them; NULL: none kept. The guest's answers on them pass
     * whatever the rules: a forward still works on a VM with an allow list. */
    struct net_egress_flows *flows;
    /* The NAT's resolver, which an allow list leaves open for DNS (host byte order);
     * 0: slirp's 10.0.2.3. */
    uint32_t resolver;
};
/* Whether the frame from the guest (any length, any content) may go out. */
bool net_egress_pass(const struct net_egress *e, const void *frame, size_t len);
/* The answer to a TCP segment the rules dropped: a reset from its destination, so that
 * the guest's connection fails at once instead of timing out. Its length (at most
 * NET_EGRESS_RST_LEN) in out, or 0 when frame is no TCP segment to answer (a reset, a
 * fragment, not TCP, malformed). */
#define NET_EGRESS_RST_LEN 54
size_t net_egress_reset(const void *frame, size_t len, uint8_t out[NET_EGRESS_RST_LEN]);
/* Notes a frame on its way to the guest: a TCP SYN without ACK or a UDP datagram is a
 * flow the guest may answer (its source as the destination, from the port it went to).
 * The last NET_EGRESS_FLOWS are kept. */
#define NET_EGRESS_FLOWS 256
void net_egress_inbound(struct net_egress *e, const void *frame, size_t len);
struct net_egress_flows *net_egress_flows_new(void);

/* A random locally administered unicast MAC, 52:54:00:xx:xx:xx. */
void net_mac_random(uint8_t mac[NET_MAC_LEN]);

/* User-mode NAT through libslirp, laid out as QEMU's user networking: network
 * 10.0.2.0/24, gateway and host 10.0.2.2, DNS 10.0.2.3 (forwarded to the host's
 * resolver), DHCP hands out 10.0.2.15. Forwards are bound here, so a host port already
 * in use fails the open with one line naming it. slirp runs on its own thread. */
int net_slirp_open(const struct net_forward *forwards, unsigned nforwards,
                   const struct net_egress *egress, struct net_attachment **out,
                   struct cove_error *err);

/* The NAT uplink of a cove network (net_uplink.c), run by its switch: slirp on subnet
 * net/mask (host byte order) with the gateway as its host address (the host's 127.0.0.1
 * to the VMs), its DNS proxy at dns, and no DHCP of its own (the switch serves leases). */
int net_slirp_open_uplink(uint32_t net, uint32_t mask, uint32_t gateway, uint32_t dns,
                          const struct net_egress *egress, struct net_attachment **out,
                          struct cove_error *err);

/* While the NAT n runs: adds (add) or removes the forward 127.0.0.1:host_port ->
 * 10.0.2.15:guest_port (automatic port forwarding, src/vm/autofwd.c). 0, or a negative
 * errno: -EADDRINUSE when the host port is taken, -EACCES below 1024 without privileges,
 * -ENOENT when removing one that is not there, -EINVAL when n is no NAT. */
int net_slirp_hostfwd(struct net_attachment *n, bool add, bool udp, uint16_t host_port,
                      uint16_t guest_port);

/* While the NAT n runs (a network's uplink): adds (add) or removes the forward f to the
 * guest address guest (host byte order) instead of 10.0.2.15. 0, or a negative errno with
 * one line in err (a host port in use: -EADDRINUSE, naming it). */
int net_slirp_forward_to(struct net_attachment *n, bool add, const struct net_forward *f,
                         uint32_t guest, struct cove_error *err);

/* An existing TAP interface ifname (net_tap.c): frames go to and come from it as they
 * are. Opening one the user does not own needs CAP_NET_ADMIN. The MTU is the TAP's. */
int net_tap_open(const char *ifname, struct net_attachment **out, struct cove_error *err);
/* A TAP cove creates ("cove-" and the owner's pid in hex), adds to the Linux bridge
 * bridge and sets up; it goes away on close (and with the process: the kernel removes a
 * TAP that is not persistent when its last descriptor closes). Before creating it,
 * removes cove TAPs whose owner process is gone. Needs CAP_NET_ADMIN. */
int net_bridge_open(const char *bridge, struct net_attachment **out, struct cove_error *err);
/* Removes the TAPs named cove-PID whose PID is not running (or is this process): the
 * number removed. */
int net_tap_sweep_stale(void);

/* A cove network (cove/network.h, `--net network:NAME`): one Ethernet segment with the
 * other VMs attached to it, through the network's switch process (net_switch.h), which
 * this starts when it is not running. Fails with one line when the network does not
 * exist, or when another VM on it uses mac (-EADDRINUSE). The link goes down while the
 * switch is gone (frames are dropped) and comes back when it is restarted. */
int net_network_open(const char *name, const uint8_t mac[NET_MAC_LEN],
                     struct net_attachment **out, struct cove_error *err);
/* The same, registering hostname (NULL: none) for the network's DNS, so that other VMs
 * reach this one by name even when its DHCP client sends no host name. */
int net_network_open_named(const char *name, const uint8_t mac[NET_MAC_LEN],
                           const char *hostname, struct net_attachment **out,
                           struct cove_error *err);
/* The same with host port forwards to this VM, which the network's NAT uplink keeps
 * while the VM is attached (to the address the switch's DHCP leases it); refused with
 * one line when the network has no NAT or a host port is in use. At most
 * NET_SWITCH_FORWARDS. */
int net_network_open_forwarded(const char *name, const uint8_t mac[NET_MAC_LEN],
                               const char *hostname, const struct net_forward *forwards,
                               unsigned nforwards, struct net_attachment **out,
                               struct cove_error *err);

/* An attachment in memory (tests, fuzzing): frames sent are kept, in order, for
 * net_mem_take(); net_mem_inject() delivers a frame to the receive callback. */
int net_mem_create(unsigned max_frames, struct net_attachment **out);
/* Copies the oldest sent frame into buf (at most cap bytes) and returns its full length,
 * or -EAGAIN when there is none. */
int net_mem_take(struct net_attachment *n, void *buf, size_t cap);
/* The number of frames sent and kept so far (a full queue refuses more: -ENOBUFS). */
unsigned net_mem_sent(struct net_attachment *n);
int net_mem_inject(struct net_attachment *n, const void *frame, size_t len);
/* Makes it carry vnet headers with the given offloads (before the device is created); the
 * last set_offload() value is net_mem_offload()'s. */
void net_mem_set_vnet(struct net_attachment *n, unsigned offloads);
unsigned net_mem_offload(struct net_attachment *n);

static inline void net_close(struct net_attachment *n)
{
    if (n)
        n->ops->close(n);
}

#endif
