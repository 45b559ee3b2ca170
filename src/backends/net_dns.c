/*
 * The DNS responder of a cove network's switch (RFC 1035): one question of class IN per
 * query; a name a lease holds (net_services.h), alone or followed by ".cove", gets its A
 * record, another type of that name an empty answer, any other name NXDOMAIN (or, on a
 * network with a NAT uplink, no answer here: the query goes on to the NAT's resolver).
 * Compression pointers are not followed in a question (clients never send them), so a
 * query cannot make the responder loop.
 */
#include "backends/net_services.h"

#include <strings.h>
#include <string.h>

#include "util/be.h"

#define DNS_HLEN 12
#define DNS_NAME_MAX 255
#define QTYPE_A 1
#define QTYPE_ANY 255
#define QCLASS_IN 1
#define RCODE_NXDOMAIN 3
#define FLAG_QR 0x8000
#define FLAG_AA 0x0400
#define FLAG_RD 0x0100
#define TTL_SECONDS 30

/* The question's name as dotted text into name; its length on the wire, or 0. */
static size_t read_name(const uint8_t *p, size_t len, char name[DNS_NAME_MAX + 1])
{
    size_t i = 0, n = 0;
    for (;;) {
        if (i >= len)
            return 0;
        uint8_t l = p[i++];
        if (!l)
            break;
        if (l > 63 || l > len - i || n + l + 1 > DNS_NAME_MAX)
            return 0; /* a pointer, a bad length, or past the end */
        if (n)
            name[n++] = '.';
        memcpy(name + n, p + i, l);
        n += l;
        i += l;
    }
    name[n] = 0;
    if (memchr(name, 0, n))
        return 0;
    return i;
}

static const struct net_lease *find(const struct net_services *s, const char *name)
{
    size_t n = strlen(name);
    if (n > 5 && !strcasecmp(name + n - 5, ".cove"))
        n -= 5;
    for (unsigned i = 0; i < NET_SVC_LEASES; i++) {
        const struct net_lease *l = &s->leases[i];
        if (l->used && l->ip && l->name[0] && strlen(l->name) == n && !strncasecmp(l->name, name, n))
            return l;
    }
    return NULL;
}

size_t net_dns_answer(const struct net_services *s, const uint8_t *msg, size_t len,
                      uint8_t *out, size_t cap)
{
    char name[DNS_NAME_MAX + 1];
    if (len < DNS_HLEN)
        return 0;
    uint16_t flags = be_get16(msg + 2);
    if ((flags & FLAG_QR) || (flags & 0x7800) || be_get16(msg + 4) != 1)
        return 0; /* a reply, an opcode other than QUERY, or not one question */
    size_t nlen = read_name(msg + DNS_HLEN, len - DNS_HLEN, name);
    if (!nlen || len - DNS_HLEN - nlen < 4)
        return 0;
    size_t qlen = nlen + 4;
    const uint8_t *q = msg + DNS_HLEN;
    uint16_t qtype = be_get16(q + nlen), qclass = be_get16(q + nlen + 2);
    if (qclass != QCLASS_IN || cap < DNS_HLEN + qlen + 16)
        return 0;
    const struct net_lease *l = find(s, name);
    if (!l && s->uplink)
        return 0; /* the NAT's resolver asks the host's (net_services.c passes it on) */
    bool answer = l && (qtype == QTYPE_A || qtype == QTYPE_ANY);
    memset(out, 0, DNS_HLEN);
    memcpy(out, msg, 2); /* id */
    be_put16(out + 2, (uint16_t)(FLAG_QR | FLAG_AA | (flags & FLAG_RD) | (l ? 0 : RCODE_NXDOMAIN)));
    be_put16(out + 4, 1);
    be_put16(out + 6, answer ? 1 : 0);
    memcpy(out + DNS_HLEN, q, qlen);
    size_t n = DNS_HLEN + qlen;
    if (answer) {
        uint8_t *a = out + n;
        be_put16(a, 0xc000 | DNS_HLEN); /* the question's name */
        be_put16(a + 2, QTYPE_A);
        be_put16(a + 4, QCLASS_IN);
        be_put16(a + 6, 0);
        be_put16(a + 8, TTL_SECONDS);
        be_put16(a + 10, 4);
        be_put16(a + 12, (uint16_t)(l->ip >> 16));
        be_put16(a + 14, (uint16_t)l->ip);
        n += 16;
    }
    return n;
}
