/*
 * net_switch.h — the switch of a cove network (`cove network create`).
 *
 * One process per network joins its VMs on one Ethernet segment. Each VM's attachment
 * (net_network.c) binds a Unix datagram socket of its own in the network's run
 * directory, $COVE_HOME/run/networks/NAME/, and registers with the switch's socket there
 * (switch.sock); no privilege is needed. The switch learns which port each source MAC is
 * behind, sends a frame for a known MAC to that port only and floods broadcast, multicast
 * and unknown destinations; it is itself a host on the network (net_services.h: ARP,
 * ping, DHCP, DNS at the gateway address).
 *
 * The wire protocol, one datagram per message, the first byte its kind:
 *   'H' MAC[6] NAME... [0 FWD[9]...]
 *                        a port registers (again every second: its keepalive); NAME,
 *                        maybe empty, is the VM's host name for DNS; each FWD (protocol
 *                        0 TCP or 1 UDP, host address be32, host port be16, guest port
 *                        be16) is a host port the NAT uplink forwards to the VM's leased
 *                        address while the port is attached (taken at its first 'H')
 *   'A' ['V']            the switch accepts it (the answer to every 'H'); with 'V' it
 *                        takes 'V' frames
 *   'O' 'V'              the port takes 'V' frames (sent after each 'H'; a switch that
 *                        does not know it ignores it and sends the port 'F' only)
 *   'R' TEXT             the switch refuses it (TEXT says why: its MAC is in use, a
 *                        forward's host port is, the network has no NAT for forwards)
 *   'F' FRAME            an Ethernet frame, either way
 *   'V' HDR[12] FRAME    a frame whose TCP/UDP checksum is partial, behind its virtio-net
 *                        header (flags NEEDS_CSUM, csum_start/csum_offset inside the frame,
 *                        no segmentation), either way between a port and a switch that
 *                        both take them: the sender's VMM does not sum the frame and the
 *                        receiving guest (GUEST_CSUM) does not check it. The switch
 *                        finishes the checksum for a port that does not take them, and for
 *                        its own host and NAT uplink.
 *   'B'                  the port leaves
 * A port not heard from for NET_SWITCH_PORT_TIMEOUT_MS is dropped, as is one whose socket
 * refuses a datagram (its VMM is gone). The switch exits once it has had no port for
 * NET_SWITCH_IDLE_MS; the next VM to attach starts it again.
 */
#ifndef COVE_BACKENDS_NET_SWITCH_H
#define COVE_BACKENDS_NET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>
#include <cove/network.h>

#include "backends/net.h"

#define NET_SWITCH_PORTS 64 /* one bit each in a uint64_t */
#define NET_SWITCH_FDB 1024
#define NET_SWITCH_FDB_AGE_MS 300000
#define NET_SWITCH_PORT_TIMEOUT_MS 5000
#define NET_SWITCH_KEEPALIVE_MS 1000
#define NET_SWITCH_IDLE_MS 5000

#define NET_SWITCH_FORWARDS 128 /* per port: a VM's stored forwards and its run's */
#define NET_SWITCH_FWD_LEN 9
#define NET_SWITCH_MSG_HELLO 'H'
#define NET_SWITCH_MSG_ACCEPT 'A'
#define NET_SWITCH_MSG_REFUSE 'R'
#define NET_SWITCH_MSG_FRAME 'F'
#define NET_SWITCH_MSG_BYE 'B'
#define NET_SWITCH_MSG_VFRAME 'V'
#define NET_SWITCH_MSG_OFFLOAD 'O'

/* Whether a 'V' message's header (NET_VNET_HDR_LEN bytes, as it came) fits a frame of len
 * bytes: NEEDS_CSUM alone, no segmentation, the checksum inside the frame. Both ends check
 * it: a VMM's guest may have written it. */
bool net_switch_vhdr_ok(const uint8_t *hdr, size_t len);

struct net_switch_port {
    bool used;
    uint8_t mac[NET_MAC_LEN]; /* the MAC it registered with */
};

struct net_switch_fdb_entry {
    bool used;
    uint8_t mac[NET_MAC_LEN];
    int port;
    int64_t seen_ms;
};

struct net_switch {
    uint8_t local_mac[NET_MAC_LEN]; /* the switch's own host (the gateway) */
    struct net_switch_port ports[NET_SWITCH_PORTS];
    struct net_switch_fdb_entry fdb[NET_SWITCH_FDB];
};

void net_switch_init(struct net_switch *sw, const uint8_t local_mac[NET_MAC_LEN]);

/* A new port for mac: its index, -EADDRINUSE when a port holds mac (or mac is the
 * switch's own, or multicast), -ENOSPC when every port is taken. */
int net_switch_join(struct net_switch *sw, const uint8_t mac[NET_MAC_LEN]);
/* The port is gone; what was learnt behind it is forgotten. */
void net_switch_leave(struct net_switch *sw, int port);
/* The port that registered mac, or -1. */
int net_switch_port_of(const struct net_switch *sw, const uint8_t mac[NET_MAC_LEN]);

/* A frame from port in (at least NET_FRAME_MIN bytes): learns its source and returns the
 * ports it goes to, one bit each; *local says whether the switch's own host gets it too.
 * A frame whose source is multicast, the switch's MAC or another port's registered MAC
 * goes nowhere (a guest cannot take another's traffic). */
uint64_t net_switch_route(struct net_switch *sw, int in, const uint8_t *frame, size_t len,
                          int64_t now_ms, bool *local);

/* Where a frame the switch itself sends (its NAT uplink's) goes: the port behind its
 * destination MAC, else (broadcast, multicast, unknown) every port. */
uint64_t net_switch_route_local(const struct net_switch *sw, const uint8_t *frame,
                                int64_t now_ms);

/* A datagram socket as the switch and its ports use (send waits briefly for room at the
 * receiver: see net_switch_daemon.c). The fd or a negative errno. */
int net_switch_socket(void);

/* What a switch serves: its run directory, the subnet net/prefix (host byte order), and
 * whether it has a NAT uplink (net_uplink.c, `cove network create --nat`). */
struct net_switch_config {
    const char *dir;
    uint32_t net;
    unsigned prefix;
    bool nat;
    /* The NAT's egress rules as given (cove/network.h); NULL: none. */
    const struct cove_network_egress *egress;
};

/* The switch process of a network: forks, and the child (in a session of its own, its
 * standard streams on dir/switch.log; when this program is the cove command, exec'd afresh
 * as `cove network-switch`) serves until idle. Returns once the child is forked; a second
 * switch for one directory exits at once (dir/switch.lock). */
int net_switch_spawn(const struct net_switch_config *c, struct cove_error *err);

/* The loop of the switch process itself: returns when idle (0) or on a failure. */
int net_switch_serve(const struct net_switch_config *c, struct cove_error *err);

#endif
