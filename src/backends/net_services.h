/*
 * net_services.h — what a cove network's switch answers itself.
 *
 * The switch is a host on its network at the gateway address (the subnet's first
 * address) with a MAC of its own. It answers ARP for that address, ICMP echo to it,
 * DHCP (a lease per MAC from the subnet, kept while the switch runs; the client's host
 * name option, or the name its VM registered with, is recorded; the address a guest uses
 * is also learnt from its ARP, for static addresses and after a restart of the switch) and DNS (A records for
 * those names, so VMs on one network reach each other by name). Every frame comes from a
 * guest: all of it is checked, and a frame that is not understood gets no answer.
 * Addresses are IPv4 in host byte order.
 */
#ifndef COVE_BACKENDS_NET_SERVICES_H
#define COVE_BACKENDS_NET_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/net.h"

#define NET_SVC_LEASES 256
#define NET_SVC_NAME_MAX 63
#define NET_SVC_LEASE_SECONDS 3600
#define NET_SVC_POOL_OFFSET 10 /* .2 to .9 stay free for static addresses */

struct net_lease {
    bool used;
    uint8_t mac[NET_MAC_LEN];
    uint32_t ip; /* 0: none yet (a name registered before any DHCP or ARP) */
    char name[NET_SVC_NAME_MAX + 1]; /* "" when none is known */
};

struct net_services {
    uint8_t mac[NET_MAC_LEN]; /* the gateway's */
    uint32_t net, mask, gw;
    uint32_t pool_first, pool_last;
    struct net_lease leases[NET_SVC_LEASES];
    /* The network has a NAT uplink (`cove network create --nat`, net_uplink.c): DHCP
     * offers the gateway as router, and what the gateway does not answer itself goes up. */
    bool uplink;
    /* Set by net_services_handle when uplink is on and the frame is for the NAT: a unicast
     * IPv4 packet to the gateway's MAC that the gateway does not answer itself (to the
     * internet, to the host at the gateway address, a DNS query for a name that is not a
     * VM's), or an ARP reply to the gateway (the NAT asked who has an address). */
    bool to_uplink;
};

/* net/prefix must be a subnet of 8..30 bits (the CLI checks it). */
void net_services_init(struct net_services *s, uint32_t net, unsigned prefix,
                       const uint8_t mac[NET_MAC_LEN]);

/* The lease of mac, made when there is none (NULL when the pool is full). */
struct net_lease *net_services_lease(struct net_services *s, const uint8_t mac[NET_MAC_LEN]);

/* Moves lease l to ip when ip is a free host address of the subnet (a client asking for
 * the address it had, from a switch since restarted). Whether l has ip now. */
bool net_services_claim(struct net_services *s, struct net_lease *l, uint32_t ip);

/* Records name (a host name: letters, digits, '-', '.'; others are refused) for mac's
 * lease entry, made (without an address) if needed. A name held by another lease moves to this one. */
bool net_services_set_name(struct net_services *s, const uint8_t mac[NET_MAC_LEN],
                           const char *name, size_t len);

/* One frame for the gateway's MAC or broadcast: the reply frame (at most cap bytes) in
 * out and its length, or 0 for none (then to_uplink says whether it goes to the NAT). */
size_t net_services_handle(struct net_services *s, const uint8_t *frame, size_t len,
                           uint8_t *out, size_t cap);

/* The UDP payloads, for net_services.c: a DHCP message from client MAC src (its reply in
 * out, *broadcast when it must go to the broadcast address) and a DNS query. Each returns
 * the reply's length, 0 for none. */
size_t net_dhcp_answer(struct net_services *s, const uint8_t src[NET_MAC_LEN],
                       const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                       uint32_t *yiaddr);
size_t net_dns_answer(const struct net_services *s, const uint8_t *msg, size_t len,
                      uint8_t *out, size_t cap);

/* The NAT uplink's rewrites (net_uplink.c), in place. slirp serves the network with the
 * gateway as its host address (so the host's 127.0.0.1 is the gateway address to the
 * VMs) and its DNS proxy at the subnet's network address, which no VM uses; the VMs see
 * only the gateway. to_slirp: a frame net_services_handle passed up; a DNS query to the
 * gateway goes to the proxy's address. from_slirp: a frame slirp sends; its Ethernet
 * source (an ARP's sender too) becomes the gateway's MAC, an answer from the proxy comes
 * from the gateway. Frames of any content and length are safe. */
uint32_t net_uplink_dns_addr(const struct net_services *s);
void net_uplink_to_slirp(const struct net_services *s, uint8_t *frame, size_t len);
void net_uplink_from_slirp(const struct net_services *s, uint8_t *frame, size_t len);

#endif
