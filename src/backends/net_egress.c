/*
 * Egress rules of the NAT (net.h, struct net_egress): which frames from the guest slirp
 * gets. The frame is the guest's, so every length is checked before a header is read;
 * what cannot be parsed is judged by what was read (an IPv4 fragment after the first has
 * no ports: it passes only where its address passes without a port). The guest's answers
 * on connections made to it from outside (--forward) pass whatever the rules; the flows
 * are learnt from what slirp sends the guest, never from what the guest sends. A dropped
 * TCP segment gets a reset (net_egress_reset), built here from the segment's own fields.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "util/be.h"
#include "util/inet_csum.h"

#define ETH_HDR 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define PROTO_TCP 6
#define PROTO_UDP 17
#define NAT_DNS 0x0a000203u /* slirp's resolver, 10.0.2.3 */
#define PORT_DNS 53
#define PORT_DHCP_SERVER 67


/* port 0: the packet has none (not TCP or UDP, or a later fragment). */
static bool matches(const struct net_rule *r, unsigned n, uint32_t dst, uint16_t port)
{
    for (unsigned i = 0; i < n; i++)
        if ((dst & r[i].mask) == r[i].addr && (!r[i].port || r[i].port == port))
            return true;
    return false;
}

struct flow {
    uint32_t addr;     /* the remote end: the guest's answers go there */
    uint16_t port;
    uint16_t guest_port;
    uint8_t proto;
    bool used;
};

struct net_egress_flows {
    struct flow f[NET_EGRESS_FLOWS];
    unsigned next;
};

struct net_egress_flows *net_egress_flows_new(void)
{
    return calloc(1, sizeof(struct net_egress_flows));
}

/* An IPv4 packet in frame: its header and the TCP/UDP ports when it has them. */
struct ip_view {
    uint32_t src, dst;
    uint8_t proto;
    bool ports;        /* TCP or UDP, first fragment, ports present */
    uint16_t sport, dport;
    uint8_t tcp_flags; /* TCP with its flags byte present, else 0 */
};

/* 1: IPv4 (v filled); 0: ARP; -1: anything else or malformed. */
static int view(const uint8_t *f, size_t len, struct ip_view *v)
{
    if (len < ETH_HDR)
        return -1;
    uint16_t type = be_get16(f + 12);
    size_t off = ETH_HDR;
    if (type == ETHERTYPE_VLAN) {
        if (len < ETH_HDR + 4)
            return -1;
        type = be_get16(f + 16);
        off += 4;
    }
    if (type == ETHERTYPE_ARP)
        return 0;
    if (type != ETHERTYPE_IPV4)
        return -1;
    const uint8_t *ip = f + off;
    size_t iplen = len - off;
    if (iplen < 20 || ip[0] >> 4 != 4)
        return -1;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if (ihl < 20 || ihl > iplen)
        return -1;
    *v = (struct ip_view){.src = be_get32(ip + 12), .dst = be_get32(ip + 16), .proto = ip[9]};
    bool first_fragment = (be_get16(ip + 6) & 0x1fff) == 0;
    if (first_fragment && (v->proto == PROTO_TCP || v->proto == PROTO_UDP) && iplen >= ihl + 4) {
        v->ports = true;
        v->sport = be_get16(ip + ihl);
        v->dport = be_get16(ip + ihl + 2);
        if (v->proto == PROTO_TCP && iplen >= ihl + 14)
            v->tcp_flags = ip[ihl + 13];
    }
    return 1;
}

void net_egress_inbound(struct net_egress *e, const void *frame, size_t len)
{
    struct ip_view v;
    if (!e || !e->flows || view(frame, len, &v) != 1 || !v.ports)
        return;
    bool syn = v.proto == PROTO_TCP && (v.tcp_flags & 0x12) == 0x02;
    if (!syn && v.proto != PROTO_UDP)
        return;
    struct net_egress_flows *t = e->flows;
    struct flow nf = {v.src, v.sport, v.dport, v.proto, true};
    for (unsigned i = 0; i < NET_EGRESS_FLOWS; i++)
        if (t->f[i].used && !memcmp(&t->f[i], &nf, sizeof nf))
            return;
    t->f[t->next] = nf;
    t->next = (t->next + 1) % NET_EGRESS_FLOWS;
}

size_t net_egress_reset(const void *frame, size_t len, uint8_t out[NET_EGRESS_RST_LEN])
{
    const uint8_t *f = frame;
    struct ip_view v;
    if (len < ETH_HDR || be_get16(f + 12) != ETHERTYPE_IPV4 || view(f, len, &v) != 1 ||
        v.proto != PROTO_TCP || !v.ports)
        return 0;
    const uint8_t *ip = f + ETH_HDR;
    size_t iplen = len - ETH_HDR, ihl = (size_t)(ip[0] & 15) * 4;
    if (iplen < ihl + 20)
        return 0;
    const uint8_t *tcp = ip + ihl;
    uint8_t flags = tcp[13];
    if (flags & 0x04)
        return 0; /* never answer a reset */
    size_t doff = (size_t)(tcp[12] >> 4) * 4, total = be_get16(ip + 2);
    if (total > iplen || total < ihl + doff || doff < 20)
        total = ihl + (doff < 20 ? 20 : doff); /* lying lengths: no payload counted */
    uint32_t seg_len = (uint32_t)(total - ihl - (doff < 20 ? 20 : doff)) + !!(flags & 0x02) +
                       !!(flags & 0x01);
    memset(out, 0, NET_EGRESS_RST_LEN);
    memcpy(out, f + 6, 6);     /* to the guest's MAC */
    memcpy(out + 6, f, 6);     /* from the MAC it sent to */
    be_put16(out + 12, ETHERTYPE_IPV4);
    uint8_t *rip = out + ETH_HDR, *rtcp = rip + 20;
    rip[0] = 0x45;
    be_put16(rip + 2, 40);
    be_put16(rip + 6, 0x4000);    /* DF */
    rip[8] = 64;
    rip[9] = PROTO_TCP;
    be_put32(rip + 12, v.dst);
    be_put32(rip + 16, v.src);
    be_put16(rip + 10, inet_csum_fold(inet_csum_add(0, rip, 20)));
    be_put16(rtcp, v.dport);
    be_put16(rtcp + 2, v.sport);
    if (flags & 0x10) {        /* RFC 793: seq from its ACK */
        memcpy(rtcp + 4, tcp + 8, 4);
        rtcp[13] = 0x04;
    } else {                   /* seq 0, ACK of what it sent */
        be_put32(rtcp + 8, be_get32(tcp + 4) + seg_len);
        rtcp[13] = 0x14;
    }
    rtcp[12] = 5 << 4;
    uint32_t sum = inet_csum_add(PROTO_TCP + 20, rip + 12, 8);
    be_put16(rtcp + 16, inet_csum_fold(inet_csum_add(sum, rtcp, 20)));
    return NET_EGRESS_RST_LEN;
}

static bool answers_inbound(const struct net_egress *e, const struct ip_view *v)
{
    if (!e->flows || !v->ports)
        return false;
    for (unsigned i = 0; i < NET_EGRESS_FLOWS; i++) {
        const struct flow *f = &e->flows->f[i];
        if (f->used && f->proto == v->proto && f->addr == v->dst && f->port == v->dport &&
            f->guest_port == v->sport)
            return true;
    }
    return false;
}

bool net_egress_pass(const struct net_egress *e, const void *frame, size_t len)
{
    if (!e || (!e->nallow && !e->nblock))
        return true;
    struct ip_view v;
    int kind = view(frame, len, &v);
    if (kind == 0)
        return true; /* ARP: slirp answers it itself; it reaches nothing outside */
    if (kind < 0)
        return false; /* IPv6, the rest, the malformed: the rules cannot be applied */
    uint16_t port = v.ports ? v.dport : 0;
    if (matches(e->allow, e->nallow, v.dst, port) || answers_inbound(e, &v))
        return true;
    if (matches(e->block, e->nblock, v.dst, 0) || matches(e->block, e->nblock, v.dst, port))
        return false;
    if (!e->nallow)
        return true;
    /* With allow rules: DHCP and DNS through the NAT's resolver still work. */
    if (v.proto == PROTO_UDP && port == PORT_DHCP_SERVER)
        return true;
    return v.dst == (e->resolver ? e->resolver : NAT_DNS) && port == PORT_DNS && (v.proto == PROTO_UDP || v.proto == PROTO_TCP);
}
