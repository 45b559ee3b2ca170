/*
 * The gateway host of a cove network (net_services.h): Ethernet, ARP, IPv4, ICMP echo
 * and UDP framing around the DHCP server (net_dhcp.c) and DNS responder (net_dns.c).
 */
#include "backends/net_services.h"

#include <string.h>

#include "util/be.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define IP_HLEN 20
#define UDP_HLEN 8
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_ 17
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DNS_PORT 53

/* The Internet checksum (RFC 1071) of len bytes. */
static uint16_t inet_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += be_get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

void net_services_init(struct net_services *s, uint32_t net, unsigned prefix,
                       const uint8_t mac[NET_MAC_LEN])
{
    memset(s, 0, sizeof *s);
    memcpy(s->mac, mac, NET_MAC_LEN);
    s->mask = prefix ? ~0u << (32 - prefix) : 0;
    s->net = net & s->mask;
    s->gw = s->net + 1;
    uint32_t bcast = s->net | ~s->mask;
    s->pool_first = s->net + NET_SVC_POOL_OFFSET;
    if (s->pool_first >= bcast) /* a small subnet: all but the gateway */
        s->pool_first = s->net + 2;
    s->pool_last = bcast - 1;
    if (s->pool_last - s->pool_first >= NET_SVC_LEASES)
        s->pool_last = s->pool_first + NET_SVC_LEASES - 1;
}

static struct net_lease *find_entry(struct net_services *s, const uint8_t *mac)
{
    for (unsigned i = 0; i < NET_SVC_LEASES; i++)
        if (s->leases[i].used && !memcmp(s->leases[i].mac, mac, NET_MAC_LEN))
            return &s->leases[i];
    return NULL;
}

static bool ip_leased(const struct net_services *s, uint32_t ip)
{
    for (unsigned i = 0; i < NET_SVC_LEASES; i++)
        if (s->leases[i].used && s->leases[i].ip == ip && ip)
            return true;
    return false;
}

/* The entry of mac (made, without an address, when there is none), or NULL when full. */
static struct net_lease *entry(struct net_services *s, const uint8_t mac[NET_MAC_LEN])
{
    struct net_lease *free_slot = NULL;
    for (unsigned i = 0; i < NET_SVC_LEASES; i++) {
        struct net_lease *l = &s->leases[i];
        if (l->used && !memcmp(l->mac, mac, NET_MAC_LEN))
            return l;
        if (!l->used && !free_slot)
            free_slot = l;
    }
    if (free_slot) {
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->used = true;
        memcpy(free_slot->mac, mac, NET_MAC_LEN);
    }
    return free_slot;
}

bool net_services_claim(struct net_services *s, struct net_lease *l, uint32_t ip)
{
    if (ip == l->ip)
        return true;
    if ((ip & s->mask) != s->net || ip == s->gw || ip == s->net || ip == (s->net | ~s->mask) ||
        ip_leased(s, ip))
        return false;
    l->ip = ip;
    return true;
}

struct net_lease *net_services_lease(struct net_services *s, const uint8_t mac[NET_MAC_LEN])
{
    struct net_lease *l = entry(s, mac);
    if (!l || l->ip)
        return l;
    for (uint32_t ip = s->pool_first; ip <= s->pool_last && ip >= s->pool_first; ip++)
        if (!ip_leased(s, ip)) {
            l->ip = ip;
            return l;
        }
    return NULL;
}

bool net_services_set_name(struct net_services *s, const uint8_t mac[NET_MAC_LEN],
                           const char *name, size_t len)
{
    if (!len || len > NET_SVC_NAME_MAX || name[0] == '-' || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    struct net_lease *l = entry(s, mac);
    if (!l)
        return false;
    for (unsigned i = 0; i < NET_SVC_LEASES; i++) /* a name names one address */
        if (&s->leases[i] != l && strlen(s->leases[i].name) == len &&
            !strncasecmp(s->leases[i].name, name, len))
            s->leases[i].name[0] = 0;
    memcpy(l->name, name, len);
    l->name[len] = 0;
    return true;
}

static size_t arp_reply(struct net_services *s, const uint8_t *f, size_t len,
                        uint8_t *out, size_t cap)
{
    const uint8_t *a = f + ETH_HLEN;
    if (len < ETH_HLEN + 28 || cap < ETH_HLEN + 28)
        return 0;
    if (be_get16(a) != 1 || be_get16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
        return 0;
    /* The address a guest uses (static, or leased from a switch that was restarted) is
     * learnt from its ARP, so that its name resolves. */
    struct net_lease *l = memcmp(a + 8, f + 6, 6) ? NULL : find_entry(s, a + 8);
    if (l && !l->ip)
        net_services_claim(s, l, be_get32(a + 14));
    if (be_get16(a + 6) != 1 || be_get32(a + 24) != s->gw)
        return 0;
    memcpy(out, a + 8, 6); /* to the asker's hardware address */
    memcpy(out + 6, s->mac, 6);
    be_put16(out + 12, ETH_P_ARP);
    uint8_t *r = out + ETH_HLEN;
    be_put16(r, 1);
    be_put16(r + 2, ETH_P_IP);
    r[4] = 6;
    r[5] = 4;
    be_put16(r + 6, 2);
    memcpy(r + 8, s->mac, 6);
    be_put32(r + 14, s->gw);
    memcpy(r + 18, a + 8, 10); /* the asker's MAC and address */
    return ETH_HLEN + 28;
}

/* Ethernet and IPv4 headers for a payload of plen bytes; returns the IP header. */
static uint8_t *ip_header(const struct net_services *s, uint8_t *out, const uint8_t *dst_mac,
                          uint32_t dst, uint8_t proto, size_t plen)
{
    memcpy(out, dst_mac, 6);
    memcpy(out + 6, s->mac, 6);
    be_put16(out + 12, ETH_P_IP);
    uint8_t *ip = out + ETH_HLEN;
    memset(ip, 0, IP_HLEN);
    ip[0] = 0x45;
    be_put16(ip + 2, (uint16_t)(IP_HLEN + plen));
    ip[6] = 0x40; /* don't fragment */
    ip[8] = 64;
    ip[9] = proto;
    be_put32(ip + 12, s->gw);
    be_put32(ip + 16, dst);
    be_put16(ip + 10, inet_checksum(ip, IP_HLEN));
    return ip;
}

static size_t icmp_echo_reply(const struct net_services *s, const uint8_t *f,
                              const uint8_t *ip, size_t ip_len, size_t hl, uint8_t *out,
                              size_t cap)
{
    size_t plen = ip_len - hl;
    const uint8_t *icmp = ip + hl;
    if (plen < 8 || icmp[0] != 8 || icmp[1] != 0 || ETH_HLEN + IP_HLEN + plen > cap)
        return 0;
    uint8_t *r = ip_header(s, out, f + 6, be_get32(ip + 12), IPPROTO_ICMP_, plen) + IP_HLEN;
    memcpy(r, icmp, plen);
    r[0] = 0; /* echo reply */
    be_put16(r + 2, 0);
    be_put16(r + 2, inet_checksum(r, plen));
    return ETH_HLEN + IP_HLEN + plen;
}

static size_t udp_reply(const struct net_services *s, const uint8_t *dst_mac, uint32_t dst,
                        uint16_t sport, uint16_t dport, size_t plen, uint8_t *out)
{
    uint8_t *u = ip_header(s, out, dst_mac, dst, IPPROTO_UDP_, UDP_HLEN + plen) + IP_HLEN;
    be_put16(u, sport);
    be_put16(u + 2, dport);
    be_put16(u + 4, (uint16_t)(UDP_HLEN + plen));
    be_put16(u + 6, 0); /* no checksum: allowed over IPv4, and nothing here can corrupt it */
    return ETH_HLEN + IP_HLEN + UDP_HLEN + plen;
}

static size_t udp_answer(struct net_services *s, const uint8_t *f, const uint8_t *ip,
                         size_t ip_len, size_t hl, uint8_t *out, size_t cap)
{
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const size_t head = ETH_HLEN + IP_HLEN + UDP_HLEN;
    const uint8_t *u = ip + hl;
    if (ip_len - hl < UDP_HLEN || cap < head)
        return 0;
    size_t ulen = be_get16(u + 4);
    if (ulen < UDP_HLEN || ulen > ip_len - hl)
        return 0;
    uint16_t sport = be_get16(u), dport = be_get16(u + 2);
    uint32_t src = be_get32(ip + 12), dst = be_get32(ip + 16);
    const uint8_t *msg = u + UDP_HLEN;
    size_t mlen = ulen - UDP_HLEN;
    if (dport == DHCP_SERVER_PORT && sport == DHCP_CLIENT_PORT) {
        uint32_t yiaddr = 0;
        size_t n = net_dhcp_answer(s, f + 6, msg, mlen, out + head, cap - head, &yiaddr);
        /* to the broadcast address: the client has no address yet, or is giving it up */
        return n ? udp_reply(s, broadcast, 0xffffffffu, DHCP_SERVER_PORT, DHCP_CLIENT_PORT,
                             n, out)
                 : 0;
    }
    if (dport == DNS_PORT && dst == s->gw) {
        size_t n = net_dns_answer(s, msg, mlen, out + head, cap - head);
        if (!n) /* not a VM's name: the NAT's resolver asks the host's */
            s->to_uplink = s->uplink && !memcmp(f, s->mac, 6);
        return n ? udp_reply(s, f + 6, src, DNS_PORT, sport, n, out) : 0;
    }
    return 0;
}

size_t net_services_handle(struct net_services *s, const uint8_t *frame, size_t len,
                           uint8_t *out, size_t cap)
{
    s->to_uplink = false;
    if (len < ETH_HLEN || (frame[6] & 1)) /* a multicast source is no host */
        return 0;
    bool to_gw = !memcmp(frame, s->mac, 6); /* unicast to the gateway, not broadcast */
    uint16_t type = be_get16(frame + 12);
    if (type == ETH_P_ARP) {
        /* an answer to the NAT's question (who has the address it sends to) */
        s->to_uplink = s->uplink && to_gw && len >= ETH_HLEN + 28 &&
                       be_get16(frame + ETH_HLEN + 6) == 2;
        return arp_reply(s, frame, len, out, cap);
    }
    if (type != ETH_P_IP || len < ETH_HLEN + IP_HLEN)
        return 0;
    const uint8_t *ip = frame + ETH_HLEN;
    size_t hl = (size_t)(ip[0] & 0xf) * 4, ip_len = be_get16(ip + 2);
    if ((ip[0] >> 4) != 4 || hl < IP_HLEN || ip_len < hl || ip_len > len - ETH_HLEN)
        return 0;
    uint32_t dst = be_get32(ip + 16);
    bool frag = be_get16(ip + 6) & 0x3fff, udp = ip[9] == IPPROTO_UDP_ && ip_len - hl >= UDP_HLEN;
    uint16_t dport = udp ? be_get16(ip + hl + 2) : 0;
    /* The gateway's own: DHCP (to any address), DNS and ping to its address; nothing of
     * that is large enough to come in fragments. The rest, sent to the gateway's MAC, is
     * for the NAT (which reassembles fragments) when there is one. */
    bool own = !frag && ((udp && dport == DHCP_SERVER_PORT) ||
                         (dst == s->gw && ((udp && dport == DNS_PORT) || ip[9] == IPPROTO_ICMP_)));
    if (!own) {
        s->to_uplink = s->uplink && to_gw;
        return 0;
    }
    if (ip[9] == IPPROTO_ICMP_)
        return icmp_echo_reply(s, frame, ip, ip_len, hl, out, cap);
    return udp_answer(s, frame, ip, ip_len, hl, out, cap);
}
