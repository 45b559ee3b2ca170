/*
 * The DHCP server of a cove network's switch (RFC 2131, the part a VM's client uses):
 * DISCOVER gets an OFFER of the MAC's lease, REQUEST of that address an ACK, the rest
 * is ignored. A client asking for another free address of the subnet (the one it had
 * before the switch restarted) gets it; one taken by another gets a NAK. A lease lives as long as the switch; the host name
 * option (12) is recorded for the DNS responder. The client's hardware address must be
 * the frame's source, so no VM takes a lease, or a name, for another.
 */
#include "backends/net_services.h"

#include <string.h>

#include "util/be.h"

#define BOOTP_FIXED 236
#define DHCP_MAGIC 0x63825363u
#define DHCP_MIN_REPLY 300 /* BOOTP's minimum message, which old clients expect */

enum { DHCPDISCOVER = 1, DHCPOFFER, DHCPREQUEST, DHCPDECLINE, DHCPACK, DHCPNAK };
enum {
    OPT_PAD = 0, OPT_MASK = 1, OPT_ROUTER = 3, OPT_DNS = 6, OPT_HOSTNAME = 12, OPT_DOMAIN = 15,
    OPT_REQUESTED = 50, OPT_LEASE = 51, OPT_TYPE = 53, OPT_SERVER = 54, OPT_END = 255
};

struct dhcp_request {
    int type;
    uint32_t requested, server;
    const uint8_t *name;
    size_t name_len;
};

/* The options after the magic cookie; false when they run past the message. */
static bool parse_options(const uint8_t *p, size_t len, struct dhcp_request *r)
{
    size_t i = 0;
    while (i < len) {
        uint8_t code = p[i++];
        if (code == OPT_PAD)
            continue;
        if (code == OPT_END)
            return true;
        if (i >= len || p[i] > len - i - 1)
            return false;
        uint8_t n = p[i++];
        const uint8_t *v = p + i;
        i += n;
        if (code == OPT_TYPE && n == 1)
            r->type = v[0];
        else if (code == OPT_REQUESTED && n == 4)
            r->requested = be_get32(v);
        else if (code == OPT_SERVER && n == 4)
            r->server = be_get32(v);
        else if (code == OPT_HOSTNAME && n > 0) {
            r->name = v;
            r->name_len = n;
        }
    }
    return true; /* no END: tolerated, as most servers do */
}

static uint8_t *option(uint8_t *o, uint8_t code, uint8_t len, const void *v)
{
    o[0] = code;
    o[1] = len;
    memcpy(o + 2, v, len);
    return o + 2 + len;
}

static uint8_t *option32(uint8_t *o, uint8_t code, uint32_t v)
{
    uint8_t b[4];
    be_put32(b, v);
    return option(o, code, 4, b);
}

static size_t reply(const struct net_services *s, const uint8_t *msg, int type, uint32_t yiaddr,
                    uint8_t *out, size_t cap)
{
    if (cap < DHCP_MIN_REPLY + 64)
        return 0;
    memset(out, 0, DHCP_MIN_REPLY + 64);
    out[0] = 2; /* BOOTREPLY */
    out[1] = 1;
    out[2] = 6;
    memcpy(out + 4, msg + 4, 4);     /* xid */
    memcpy(out + 10, msg + 10, 2);   /* flags */
    memcpy(out + 24, msg + 24, 4);   /* giaddr */
    memcpy(out + 28, msg + 28, 16);  /* chaddr */
    be_put32(out + 16, yiaddr);
    be_put32(out + 20, s->gw);
    be_put32(out + BOOTP_FIXED, DHCP_MAGIC);
    uint8_t *o = out + BOOTP_FIXED + 4, t = (uint8_t)type;
    o = option(o, OPT_TYPE, 1, &t);
    o = option32(o, OPT_SERVER, s->gw);
    if (type != DHCPNAK) {
        o = option32(o, OPT_LEASE, NET_SVC_LEASE_SECONDS);
        o = option32(o, OPT_MASK, s->mask);
        o = option32(o, OPT_DNS, s->gw);
        /* the search domain: a resolver that sends no single-label name to DNS
         * (systemd-resolved) asks for NAME.cove, which the switch answers too */
        o = option(o, OPT_DOMAIN, 4, "cove");
        if (s->uplink) /* the NAT: the gateway routes to the host and beyond */
            o = option32(o, OPT_ROUTER, s->gw);
    }
    *o++ = OPT_END;
    size_t n = (size_t)(o - out);
    return n < DHCP_MIN_REPLY ? DHCP_MIN_REPLY : n;
}

size_t net_dhcp_answer(struct net_services *s, const uint8_t src[NET_MAC_LEN],
                       const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                       uint32_t *yiaddr)
{
    struct dhcp_request r = {0};
    if (len < BOOTP_FIXED + 4 || msg[0] != 1 || msg[1] != 1 || msg[2] != 6 ||
        be_get32(msg + BOOTP_FIXED) != DHCP_MAGIC || memcmp(msg + 28, src, NET_MAC_LEN))
        return 0;
    if (!parse_options(msg + BOOTP_FIXED + 4, len - BOOTP_FIXED - 4, &r))
        return 0;
    if (r.type != DHCPDISCOVER && r.type != DHCPREQUEST)
        return 0;
    if (r.type == DHCPREQUEST && r.server && r.server != s->gw)
        return 0; /* the client took another server's offer */
    struct net_lease *l = net_services_lease(s, src);
    if (!l)
        return 0; /* the pool is full: no offer, the client keeps asking */
    if (r.name)
        net_services_set_name(s, src, (const char *)r.name, r.name_len);
    if (r.type == DHCPDISCOVER) {
        if (r.requested) /* the address it had: kept when it is free */
            net_services_claim(s, l, r.requested);
        *yiaddr = l->ip;
        return reply(s, msg, DHCPOFFER, l->ip, out, cap);
    }
    uint32_t want = r.requested ? r.requested : be_get32(msg + 12); /* or ciaddr (renewal) */
    if (!net_services_claim(s, l, want))
        return reply(s, msg, DHCPNAK, 0, out, cap);
    *yiaddr = l->ip;
    return reply(s, msg, DHCPACK, l->ip, out, cap);
}
