/*
 * Egress rules of the NAT (net.h, struct net_egress): which frames from the guest slirp
 * gets. The frame is the guest's, so every length is checked before a header is read;
 * what cannot be parsed is judged by what was read (an IPv4 fragment after the first has
 * no ports: it passes only where its address passes without a port).
 */
#include <string.h>

#include "backends/net.h"

#define ETH_HDR 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define PROTO_TCP 6
#define PROTO_UDP 17
#define NAT_DNS 0x0a000203u /* slirp's resolver, 10.0.2.3 */
#define PORT_DNS 53
#define PORT_DHCP_SERVER 67

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* port 0: the packet has none (not TCP or UDP, or a later fragment). */
static bool matches(const struct net_rule *r, unsigned n, uint32_t dst, uint16_t port)
{
    for (unsigned i = 0; i < n; i++)
        if ((dst & r[i].mask) == r[i].addr && (!r[i].port || r[i].port == port))
            return true;
    return false;
}

bool net_egress_pass(const struct net_egress *e, const void *frame, size_t len)
{
    if (!e || (!e->nallow && !e->nblock))
        return true;
    const uint8_t *f = frame;
    if (len < ETH_HDR)
        return false;
    uint16_t type = be16(f + 12);
    size_t off = ETH_HDR;
    if (type == ETHERTYPE_VLAN) {
        if (len < ETH_HDR + 4)
            return false;
        type = be16(f + 16);
        off += 4;
    }
    if (type == ETHERTYPE_ARP)
        return true; /* slirp answers ARP itself; it reaches nothing outside */
    if (type != ETHERTYPE_IPV4)
        return false; /* IPv6 and the rest: the rules cannot be applied */
    const uint8_t *ip = f + off;
    size_t iplen = len - off;
    if (iplen < 20 || ip[0] >> 4 != 4)
        return false;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if (ihl < 20 || ihl > iplen)
        return false;
    uint32_t dst = be32(ip + 16);
    uint8_t proto = ip[9];
    bool first_fragment = (be16(ip + 6) & 0x1fff) == 0;
    uint16_t port = 0;
    if (first_fragment && (proto == PROTO_TCP || proto == PROTO_UDP) && iplen >= ihl + 4)
        port = be16(ip + ihl + 2);
    if (matches(e->allow, e->nallow, dst, port))
        return true;
    if (matches(e->block, e->nblock, dst, 0) || matches(e->block, e->nblock, dst, port))
        return false;
    if (!e->nallow)
        return true;
    /* With allow rules: DHCP and DNS through the NAT's resolver still work. */
    if (proto == PROTO_UDP && port == PORT_DHCP_SERVER)
        return true;
    return dst == NAT_DNS && port == PORT_DNS && (proto == PROTO_UDP || proto == PROTO_TCP);
}
