/*
 * The NAT uplink of a cove network (net_services.h, `cove network create --nat`): the
 * rewrites between the network and the libslirp instance the switch runs as its uplink.
 * slirp is configured on the network's subnet with the gateway as its host address and
 * its DNS proxy at the subnet's network address; the VMs only ever see the gateway, one
 * MAC and one address, whether the switch answers (ARP, ping, DHCP, VM names) or slirp
 * does (everything else). Every frame is checked before it is touched.
 */
#include "backends/net_services.h"

#include <string.h>

#include "util/be.h"
#include "util/inet_csum.h"

#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8

uint32_t net_uplink_dns_addr(const struct net_services *s) { return s->net; }

/* The UDP header of an unfragmented IPv4 datagram in frame, or NULL. */
static uint8_t *udp_of(uint8_t *frame, size_t len)
{
    if (len < ETH_HLEN + IP_HLEN + UDP_HLEN || be_get16(frame + 12) != 0x0800)
        return NULL;
    uint8_t *ip = frame + ETH_HLEN;
    size_t hl = (size_t)(ip[0] & 0xf) * 4;
    if ((ip[0] >> 4) != 4 || hl < IP_HLEN || ip[9] != 17 || (be_get16(ip + 6) & 0x3fff) ||
        len < ETH_HLEN + hl + UDP_HLEN)
        return NULL;
    return ip + hl;
}

/* Sets one of the IPv4 header's addresses (at offset 12 or 16) and its checksum; the UDP
 * checksum, which covers the address too, becomes 0 (none, allowed over IPv4). */
static void set_addr(uint8_t *frame, size_t off, uint32_t addr, uint8_t *udp)
{
    uint8_t *ip = frame + ETH_HLEN;
    size_t hl = (size_t)(ip[0] & 0xf) * 4;
    be_put32(ip + off, addr);
    be_put16(ip + 10, 0);
    be_put16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, hl)));
    be_put16(udp + 6, 0);
}

void net_uplink_to_slirp(const struct net_services *s, uint8_t *frame, size_t len)
{
    uint8_t *udp = udp_of(frame, len);
    if (udp && be_get16(udp + 2) == 53 && be_get32(frame + ETH_HLEN + 16) == s->gw)
        set_addr(frame, 16, net_uplink_dns_addr(s), udp);
}

void net_uplink_from_slirp(const struct net_services *s, uint8_t *frame, size_t len)
{
    if (len < ETH_HLEN)
        return;
    memcpy(frame + 6, s->mac, NET_MAC_LEN);
    if (be_get16(frame + 12) == 0x0806) { /* ARP: the sender's hardware address */
        if (len >= ETH_HLEN + 14 && be_get16(frame + ETH_HLEN) == 1 &&
            be_get16(frame + ETH_HLEN + 2) == 0x0800 && frame[ETH_HLEN + 4] == 6)
            memcpy(frame + ETH_HLEN + 8, s->mac, NET_MAC_LEN);
        return;
    }
    uint8_t *udp = udp_of(frame, len);
    if (udp && be_get16(udp) == 53 && be_get32(frame + ETH_HLEN + 12) == net_uplink_dns_addr(s))
        set_addr(frame, 12, s->gw, udp);
}
