/* cove networks: the switch's forwarding (MAC learning, flooding, duplicate and spoofed
 * MACs), its DHCP/DNS/ARP host, and real switch processes with real attachments
 * (net_network_open) under a private COVE_HOME: frames cross, a second VM with one MAC
 * is refused, a killed switch comes back and the frames flow again. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cove/network.h>

#include "../test.h"
#include "backends/net.h"
#include "backends/net_services.h"
#include "backends/net_switch.h"
#include "util/fdio.h"

static const uint8_t LOCAL[6] = {0x02, 0xc0, 0x7e, 0, 0, 1};
static const uint8_t MAC_A[6] = {0x52, 0x54, 0, 0, 0, 0xa};
static const uint8_t MAC_B[6] = {0x52, 0x54, 0, 0, 0, 0xb};
static const uint8_t MAC_C[6] = {0x52, 0x54, 0, 0, 0, 0xc};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = (uint8_t)(type >> 8);
    f[13] = (uint8_t)type;
    return 14;
}

TEST(unknown_unicast_floods_then_goes_to_the_learnt_port)
{
    static struct net_switch sw;
    net_switch_init(&sw, LOCAL);
    int a = net_switch_join(&sw, MAC_A), b = net_switch_join(&sw, MAC_B),
        c = net_switch_join(&sw, MAC_C);
    REQUIRE(a == 0 && b == 1 && c == 2);
    uint8_t f[64] = {0};
    bool local;
    eth(f, MAC_B, MAC_A, 0x0800);
    CHECK_EQ_U64(net_switch_route(&sw, a, f, 60, 0, &local), (1u << b) | (1u << c));
    CHECK(!local);
    eth(f, MAC_A, MAC_B, 0x0800); /* b answers: a is known now, and b is learnt */
    CHECK_EQ_U64(net_switch_route(&sw, b, f, 60, 1, &local), 1u << a);
    eth(f, MAC_B, MAC_A, 0x0800);
    CHECK_EQ_U64(net_switch_route(&sw, a, f, 60, 2, &local), 1u << b);
    /* an entry older than the ageing time floods again */
    CHECK_EQ_U64(net_switch_route(&sw, c, (eth(f, MAC_B, MAC_C, 0x800), f), 60,
                                  2 + NET_SWITCH_FDB_AGE_MS + 1, &local),
                 (1u << a) | (1u << b));
}

TEST(broadcast_goes_to_every_other_port_and_the_gateway)
{
    static struct net_switch sw;
    net_switch_init(&sw, LOCAL);
    int a = net_switch_join(&sw, MAC_A), b = net_switch_join(&sw, MAC_B);
    uint8_t f[64] = {0};
    bool local;
    eth(f, BCAST, MAC_A, 0x0806);
    CHECK_EQ_U64(net_switch_route(&sw, a, f, 60, 0, &local), 1u << b);
    CHECK(local);
    eth(f, LOCAL, MAC_B, 0x0800); /* for the gateway only */
    CHECK_EQ_U64(net_switch_route(&sw, b, f, 60, 0, &local), 0);
    CHECK(local);
}

TEST(a_mac_in_use_is_refused_and_free_again_after_leave)
{
    static struct net_switch sw;
    net_switch_init(&sw, LOCAL);
    int a = net_switch_join(&sw, MAC_A);
    CHECK(a >= 0);
    CHECK_EQ_U64(net_switch_join(&sw, MAC_A), (uint64_t)-EADDRINUSE);
    CHECK_EQ_U64(net_switch_join(&sw, LOCAL), (uint64_t)-EADDRINUSE);
    CHECK_EQ_U64(net_switch_join(&sw, BCAST), (uint64_t)-EADDRINUSE);
    net_switch_leave(&sw, a);
    CHECK(net_switch_join(&sw, MAC_A) >= 0);
    for (int i = 1; i < NET_SWITCH_PORTS; i++) {
        uint8_t m[6] = {0x52, 0x54, 1, 0, 0, (uint8_t)i};
        CHECK(net_switch_join(&sw, m) >= 0);
    }
    CHECK_EQ_U64(net_switch_join(&sw, MAC_C), (uint64_t)-ENOSPC);
}

TEST(a_frame_with_another_ports_mac_goes_nowhere)
{
    static struct net_switch sw;
    net_switch_init(&sw, LOCAL);
    int a = net_switch_join(&sw, MAC_A), b = net_switch_join(&sw, MAC_B);
    uint8_t f[64] = {0};
    bool local;
    eth(f, BCAST, MAC_A, 0x0800); /* b pretends to be a */
    CHECK_EQ_U64(net_switch_route(&sw, b, f, 60, 0, &local), 0);
    CHECK(!local);
    eth(f, BCAST, LOCAL, 0x0800);
    CHECK_EQ_U64(net_switch_route(&sw, b, f, 60, 0, &local), 0);
    eth(f, MAC_A, BCAST, 0x0800); /* a multicast source */
    CHECK_EQ_U64(net_switch_route(&sw, b, f, 60, 0, &local), 0);
    CHECK_EQ_U64(net_switch_route(&sw, a, f, 13, 0, &local), 0); /* too short */
}

/* A DHCP message from mac: type, requested address (0: none), host name (NULL: none). */
static size_t dhcp_frame(uint8_t *f, const uint8_t *mac, int type, uint32_t want,
                         const char *name)
{
    memset(f, 0, 600);
    size_t n = eth(f, BCAST, mac, 0x0800);
    uint8_t *ip = f + n, *udp = ip + 20, *m = udp + 8;
    m[0] = 1, m[1] = 1, m[2] = 6;
    m[4] = 0x12, m[5] = 0x34;
    memcpy(m + 28, mac, 6);
    m[236] = 99, m[237] = 130, m[238] = 83, m[239] = 99;
    uint8_t *o = m + 240;
    *o++ = 53, *o++ = 1, *o++ = (uint8_t)type;
    if (want) {
        uint32_t w = htonl(want);
        *o++ = 50, *o++ = 4;
        memcpy(o, &w, 4);
        o += 4;
    }
    if (name) {
        *o++ = 12, *o++ = (uint8_t)strlen(name);
        memcpy(o, name, strlen(name));
        o += strlen(name);
    }
    *o++ = 255;
    size_t mlen = (size_t)(o - m), ulen = 8 + mlen;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + ulen) >> 8), ip[3] = (uint8_t)(20 + ulen);
    ip[8] = 64, ip[9] = 17;
    memset(ip + 16, 0xff, 4);
    udp[1] = 68, udp[3] = 67;
    udp[4] = (uint8_t)(ulen >> 8), udp[5] = (uint8_t)ulen;
    return n + 20 + ulen;
}

static int dhcp_type(const uint8_t *r, size_t n, uint32_t *yiaddr)
{
    if (n < 14 + 28 + 240 + 3)
        return -1;
    const uint8_t *m = r + 14 + 28;
    *yiaddr = (uint32_t)m[16] << 24 | m[17] << 16 | m[18] << 8 | m[19];
    return m[240] == 53 ? m[242] : -1;
}

TEST(dhcp_offers_acks_and_naks)
{
    static struct net_services s;
    net_services_init(&s, 0x0a580000, 24, LOCAL);
    uint8_t f[600], r[1500];
    uint32_t yi = 0;
    size_t n = net_services_handle(&s, f, dhcp_frame(f, MAC_A, 1, 0, "alpha"), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 2); /* OFFER */
    CHECK_EQ_U64(yi, 0x0a58000a);          /* 10.88.0.10 */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_A, 3, 0x0a58000a, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 5); /* ACK */
    CHECK_EQ_U64(yi, 0x0a58000a);
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_B, 1, 0, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 2);
    CHECK_EQ_U64(yi, 0x0a58000b); /* the next address */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_B, 3, 0x0a58000a, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 6); /* NAK: a's address */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_B, 3, 0xc0a80105, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 6); /* NAK: not of the subnet */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_B, 3, 0x0a580001, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 6); /* NAK: the gateway's */
    /* the address c had before the switch restarted, still free: c keeps it */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_C, 3, 0x0a580063, NULL), r, sizeof r);
    CHECK_EQ_U64(dhcp_type(r, n, &yi), 5);
    CHECK_EQ_U64(yi, 0x0a580063);
    /* the chaddr must be the frame's source */
    dhcp_frame(f, MAC_C, 1, 0, NULL);
    memcpy(f + 6, MAC_B, 6);
    CHECK_EQ_U64(net_services_handle(&s, f, 342, r, sizeof r), 0);
}

static size_t dns_frame(uint8_t *f, const uint8_t *mac, const char *name, uint16_t qtype)
{
    memset(f, 0, 600);
    size_t n = eth(f, LOCAL, mac, 0x0800);
    uint8_t *ip = f + n, *udp = ip + 20, *m = udp + 8;
    m[0] = 0xab, m[1] = 0xcd, m[2] = 1, m[5] = 1;
    uint8_t *q = m + 12;
    for (const char *p = name; *p;) {
        size_t l = strcspn(p, ".");
        *q++ = (uint8_t)l;
        memcpy(q, p, l);
        q += l;
        p += l + (p[l] == '.');
    }
    *q++ = 0;
    *q++ = 0, *q++ = (uint8_t)qtype, *q++ = 0, *q++ = 1;
    size_t ulen = 8 + (size_t)(q - m);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + ulen) >> 8), ip[3] = (uint8_t)(20 + ulen);
    ip[8] = 64, ip[9] = 17;
    ip[12] = 10, ip[13] = 88, ip[14] = 0, ip[15] = 10;
    ip[16] = 10, ip[17] = 88, ip[18] = 0, ip[19] = 1;
    udp[0] = 0x80, udp[3] = 53;
    udp[4] = (uint8_t)(ulen >> 8), udp[5] = (uint8_t)ulen;
    return n + 20 + ulen;
}

TEST(dns_answers_the_names_of_leases)
{
    static struct net_services s;
    net_services_init(&s, 0x0a580000, 24, LOCAL);
    uint8_t f[600], r[1500];
    uint32_t yi;
    size_t n = net_services_handle(&s, f, dhcp_frame(f, MAC_A, 1, 0, "alpha"), r, sizeof r);
    REQUIRE(dhcp_type(r, n, &yi) == 2);
    CHECK(net_services_set_name(&s, MAC_B, "beta", 4)); /* a name registered by its VM */
    CHECK(!net_services_set_name(&s, MAC_C, "bad name", 8));
    n = net_services_handle(&s, f, dns_frame(f, MAC_A, "beta", 1), r, sizeof r);
    CHECK(n > 0 && (r[14 + 28 + 3] & 0xf) == 3); /* no address yet */
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_B, 1, 0, NULL), r, sizeof r);
    REQUIRE(dhcp_type(r, n, &yi) == 2);
    n = net_services_handle(&s, f, dns_frame(f, MAC_A, "beta", 1), r, sizeof r);
    REQUIRE(n > 14 + 28 + 12);
    const uint8_t *m = r + 14 + 28;
    CHECK(m[0] == 0xab && m[1] == 0xcd && (m[3] & 0xf) == 0 && m[7] == 1);
    CHECK(!memcmp(r + n - 4, "\x0a\x58\x00\x0b", 4)); /* beta: 10.88.0.11 */
    n = net_services_handle(&s, f, dns_frame(f, MAC_B, "ALPHA.cove", 1), r, sizeof r);
    CHECK(n > 0 && !memcmp(r + n - 4, "\x0a\x58\x00\x0a", 4));
    n = net_services_handle(&s, f, dns_frame(f, MAC_A, "gamma", 1), r, sizeof r);
    REQUIRE(n > 14 + 28 + 12);
    CHECK_EQ_U64(r[14 + 28 + 3] & 0xf, 3); /* NXDOMAIN */
    /* a static address is learnt from the guest's ARP */
    CHECK(net_services_set_name(&s, MAC_C, "gamma", 5));
    memset(f, 0, sizeof f);
    size_t k = eth(f, BCAST, MAC_C, 0x0806);
    uint8_t *a = f + k;
    a[1] = 1, a[2] = 8, a[4] = 6, a[5] = 4, a[7] = 1;
    memcpy(a + 8, MAC_C, 6);
    memcpy(a + 14, "\x0a\x58\x00\x32", 4);
    memcpy(a + 24, "\x0a\x58\x00\x0a", 4);
    CHECK_EQ_U64(net_services_handle(&s, f, k + 28, r, sizeof r), 0); /* not for the gateway */
    n = net_services_handle(&s, f, dns_frame(f, MAC_A, "gamma", 1), r, sizeof r);
    CHECK(n > 0 && !memcmp(r + n - 4, "\x0a\x58\x00\x32", 4));
}

TEST(the_gateway_answers_arp_and_ping)
{
    static struct net_services s;
    net_services_init(&s, 0x0a580000, 24, LOCAL);
    uint8_t f[128] = {0}, r[1500];
    size_t n = eth(f, BCAST, MAC_A, 0x0806);
    uint8_t *a = f + n;
    a[1] = 1, a[2] = 8, a[4] = 6, a[5] = 4, a[7] = 1;
    memcpy(a + 8, MAC_A, 6);
    memcpy(a + 14, "\x0a\x58\x00\x0a", 4);
    memcpy(a + 24, "\x0a\x58\x00\x01", 4);
    n = net_services_handle(&s, f, n + 28, r, sizeof r);
    REQUIRE(n == 42);
    CHECK(!memcmp(r, MAC_A, 6) && r[21] == 2 && !memcmp(r + 22, LOCAL, 6));
    memset(f, 0, sizeof f);
    n = eth(f, LOCAL, MAC_A, 0x0800);
    uint8_t *ip = f + n;
    ip[0] = 0x45, ip[3] = 28, ip[8] = 64, ip[9] = 1;
    memcpy(ip + 12, "\x0a\x58\x00\x0a\x0a\x58\x00\x01", 8);
    ip[20] = 8; /* echo request */
    n = net_services_handle(&s, f, n + 28, r, sizeof r);
    REQUIRE(n == 42);
    CHECK(r[14 + 20] == 0 && !memcmp(r + 14 + 16, "\x0a\x58\x00\x0a", 4));
}

static uint16_t ip_sum(const uint8_t *ip)
{
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

TEST(a_nat_uplink_gets_what_the_gateway_does_not_answer)
{
    static struct net_services s;
    net_services_init(&s, 0x0a580000, 24, LOCAL);
    uint8_t f[600], r[1500];
    uint32_t yi;
    /* without an uplink: no router, NXDOMAIN, nothing goes up */
    size_t n = net_services_handle(&s, f, dhcp_frame(f, MAC_A, 1, 0, "alpha"), r, sizeof r);
    REQUIRE(dhcp_type(r, n, &yi) == 2);
    CHECK(!memmem(r + 14 + 28 + 240, n - 14 - 28 - 240, "\x03\x04\x0a\x58\x00\x01", 6));
    CHECK(memmem(r + 14 + 28 + 240, n - 14 - 28 - 240, "\x0f\x04" "cove", 6)); /* search */
    n = net_services_handle(&s, f, dns_frame(f, MAC_A, "example.org", 1), r, sizeof r);
    CHECK(n > 0 && (r[14 + 28 + 3] & 0xf) == 3 && !s.to_uplink);
    s.uplink = true;
    n = net_services_handle(&s, f, dhcp_frame(f, MAC_A, 1, 0, "alpha"), r, sizeof r);
    REQUIRE(dhcp_type(r, n, &yi) == 2);
    CHECK(memmem(r + 14 + 28 + 240, n - 14 - 28 - 240, "\x03\x04\x0a\x58\x00\x01", 6));
    CHECK(!s.to_uplink); /* DHCP is the gateway's */
    /* a VM's name is answered here; another name goes up, to slirp's resolver address */
    n = net_services_handle(&s, f, dns_frame(f, MAC_B, "alpha", 1), r, sizeof r);
    CHECK(n > 0 && !s.to_uplink && !memcmp(r + n - 4, "\x0a\x58\x00\x0a", 4));
    size_t len = dns_frame(f, MAC_B, "example.org", 1);
    CHECK_EQ_U64(net_services_handle(&s, f, len, r, sizeof r), 0);
    CHECK(s.to_uplink);
    net_uplink_to_slirp(&s, f, len);
    CHECK(!memcmp(f + 14 + 16, "\x0a\x58\x00\x00", 4) && ip_sum(f + 14) == 0xffff);
    CHECK(f[14 + 26] == 0 && f[14 + 27] == 0); /* no UDP checksum */
    /* its answer, from the resolver address, comes from the gateway */
    memcpy(f + 14 + 16, "\x0a\x58\x00\x0b", 4);
    memcpy(f + 14 + 12, "\x0a\x58\x00\x00", 4);
    f[14 + 20] = 0, f[14 + 21] = 53, f[14 + 22] = 0x80, f[14 + 23] = 0;
    memcpy(f + 6, "\x52\x55\x0a\x58\x00\x01", 6);
    net_uplink_from_slirp(&s, f, len);
    CHECK(!memcmp(f + 6, LOCAL, 6) && !memcmp(f + 14 + 12, "\x0a\x58\x00\x01", 4));
    CHECK(ip_sum(f + 14) == 0xffff);
    /* TCP to the gateway (the host's loopback) and anything to the internet go up, a
     * broadcast never; ping to the gateway is answered here */
    memset(f, 0, sizeof f);
    n = eth(f, LOCAL, MAC_A, 0x0800);
    uint8_t *ip = f + n;
    ip[0] = 0x45, ip[3] = 40, ip[8] = 64, ip[9] = 6;
    memcpy(ip + 12, "\x0a\x58\x00\x0a\x0a\x58\x00\x01", 8);
    CHECK(net_services_handle(&s, f, n + 40, r, sizeof r) == 0 && s.to_uplink);
    memcpy(ip + 16, "\xc0\x00\x02\x07", 4);
    ip[9] = 1;
    CHECK(net_services_handle(&s, f, n + 40, r, sizeof r) == 0 && s.to_uplink);
    memcpy(ip + 16, "\x0a\x58\x00\x01", 4);
    ip[3] = 28, ip[20] = 8;
    CHECK(net_services_handle(&s, f, n + 28, r, sizeof r) == 42 && !s.to_uplink);
    ip[3] = 40;
    memcpy(f, BCAST, 6);
    ip[9] = 6;
    CHECK(net_services_handle(&s, f, n + 40, r, sizeof r) == 0 && !s.to_uplink);
    /* an ARP reply to the gateway (slirp asked) goes up; a request is answered here */
    memset(f, 0, sizeof f);
    n = eth(f, LOCAL, MAC_A, 0x0806);
    uint8_t *a = f + n;
    a[1] = 1, a[2] = 8, a[4] = 6, a[5] = 4, a[7] = 2;
    memcpy(a + 8, MAC_A, 6);
    memcpy(a + 14, "\x0a\x58\x00\x0a", 4);
    memcpy(a + 24, "\x0a\x58\x00\x01", 4);
    CHECK(net_services_handle(&s, f, n + 28, r, sizeof r) == 0 && s.to_uplink);
    a[7] = 1;
    CHECK(net_services_handle(&s, f, n + 28, r, sizeof r) == 42 && !s.to_uplink);
    /* slirp's own ARP request says the gateway's MAC */
    memcpy(f + 6, "\x52\x55\x0a\x58\x00\x01", 6);
    memcpy(a + 8, "\x52\x55\x0a\x58\x00\x01", 6);
    net_uplink_from_slirp(&s, f, n + 28);
    CHECK(!memcmp(f + 6, LOCAL, 6) && !memcmp(a + 8, LOCAL, 6));
    /* short or odd frames are left alone */
    uint8_t tiny[10] = {0};
    net_uplink_from_slirp(&s, tiny, sizeof tiny);
    net_uplink_to_slirp(&s, tiny, sizeof tiny);
    CHECK(!tiny[6]);
}

TEST(frames_of_the_gateway_go_to_the_learnt_port_or_flood)
{
    static struct net_switch sw;
    net_switch_init(&sw, LOCAL);
    int a = net_switch_join(&sw, MAC_A), b = net_switch_join(&sw, MAC_B);
    uint8_t f[64] = {0};
    bool local;
    eth(f, MAC_A, LOCAL, 0x0800);
    CHECK_EQ_U64(net_switch_route_local(&sw, f, 0), (1u << a) | (1u << b)); /* unknown */
    eth(f, LOCAL, MAC_A, 0x0800);
    net_switch_route(&sw, a, f, 60, 0, &local);
    eth(f, MAC_A, LOCAL, 0x0800);
    CHECK_EQ_U64(net_switch_route_local(&sw, f, 1), 1u << a);
    eth(f, BCAST, LOCAL, 0x0806);
    CHECK_EQ_U64(net_switch_route_local(&sw, f, 1), (1u << a) | (1u << b));
}

/* Frames a real attachment received (behind their virtio-net header: hdr). */
struct inbox {
    pthread_mutex_t lock;
    unsigned count;
    uint8_t last[128];
    uint8_t hdr[NET_VNET_HDR_LEN];
};

static void inbox_rx(void *opaque, const void *frame, size_t len)
{
    struct inbox *b = opaque;
    if (len < NET_VNET_HDR_LEN + NET_FRAME_MIN)
        abort();
    pthread_mutex_lock(&b->lock);
    b->count++;
    memcpy(b->hdr, frame, NET_VNET_HDR_LEN);
    len -= NET_VNET_HDR_LEN;
    memcpy(b->last, (const uint8_t *)frame + NET_VNET_HDR_LEN, len < 128 ? len : 128);
    pthread_mutex_unlock(&b->lock);
}

static atomic_uint link_changes;
static void count_link_change(void *opaque)
{
    (void)opaque;
    atomic_fetch_add(&link_changes, 1);
}

static unsigned inbox_count(struct inbox *b)
{
    pthread_mutex_lock(&b->lock);
    unsigned n = b->count;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* Sends a broadcast from n until b has seen one more frame (or ms pass). */
static bool crosses(struct net_attachment *n, struct inbox *b, int ms)
{
    uint8_t f[NET_VNET_HDR_LEN + 60] = {0}; /* (a header of zeros: no offloads) */
    eth(f + NET_VNET_HDR_LEN, BCAST, MAC_A, 0x88b5);
    unsigned before = inbox_count(b);
    for (long long end = monotonic_ms() + ms; monotonic_ms() < end;) {
        n->ops->send(n, f, sizeof f);
        usleep(50000);
        if (inbox_count(b) > before)
            return true;
    }
    return false;
}

TEST(real_switch_joins_refuses_and_comes_back)
{
    char home[] = "/tmp/cove-netsw-XXXXXX";
    REQUIRE(mkdtemp(home));
    setenv("COVE_HOME", home, 1);
    struct cove_error err = {0};
    struct cove_network_info info;
    REQUIRE(cove_network_create("lab", NULL, false, NULL, &info, &err) == 0);
    /* egress rules: only with a NAT, each checked, kept in the definition */
    static struct cove_network_egress rules = {.allow = {"10.1.0.0/16:443"}, .nallow = 1,
                                               .block = {"192.0.2.0/24"}, .nblock = 1};
    CHECK(cove_network_create("ruled", NULL, false, &rules, &info, &err) == -EINVAL);
    CHECK(strstr(err.message, "--nat") != NULL);
    snprintf(rules.block[0], sizeof rules.block[0], "192.0.2.1/24");
    CHECK(cove_network_create("ruled", NULL, true, &rules, &info, &err) == -EINVAL);
    snprintf(rules.block[0], sizeof rules.block[0], "192.0.2.0/24");
    REQUIRE(cove_network_create("ruled", NULL, true, &rules, &info, &err) == 0);
    struct cove_network_info ruled;
    REQUIRE(cove_network_get("ruled", &ruled, &err) == 0);
    CHECK(ruled.nat && ruled.egress.nallow == 1 && ruled.egress.nblock == 1);
    CHECK_STR(ruled.egress.allow[0], "10.1.0.0/16:443");
    CHECK_STR(ruled.egress.block[0], "192.0.2.0/24");
    /* one writer of its JSON: the definition file is cove_network_to_json's text, and
     * with its state the same keys and the switch's and VMs' */
    char *def = cove_network_to_json(&ruled, false), *shown = cove_network_to_json(&ruled, true);
    char path[600], file[1024] = {0};
    snprintf(path, sizeof path, "%s/networks/ruled.json", home);
    FILE *fp = fopen(path, "r");
    REQUIRE(def && shown && fp);
    CHECK(fread(file, 1, sizeof file - 1, fp) > 0);
    fclose(fp);
    CHECK_STR(file, def);
    CHECK(strstr(def, "\"10.1.0.0/16:443\"") && strstr(def, "\"192.0.2.0/24\""));
    CHECK(!strstr(def, "switch_pid") && strstr(shown, "\"switch_pid\": 0"));
    CHECK(!strncmp(shown, def, strlen(def) - 2)); /* the same keys first, then the state */
    free(def);
    free(shown);
    CHECK(cove_network_delete("ruled", &err) == 0);
    struct net_attachment *a = NULL, *b = NULL, *c = NULL;
    static struct inbox ia = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}},
                        ib = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}};
    REQUIRE(net_network_open_named("lab", MAC_A, "alpha", &a, &err) == 0);
    REQUIRE(net_network_open("lab", MAC_B, &b, &err) == 0);
    CHECK(a->mtu == NET_MTU_NETWORK);
    a->link_changed = count_link_change;
    a->ops->start(a, inbox_rx, &ia);
    CHECK(a->ops->link_up(a));
    b->ops->start(b, inbox_rx, &ib);
    CHECK(crosses(a, &ib, 2000));
    CHECK(!memcmp(ib.last + 6, MAC_A, 6));
    /* a second VM with a's MAC */
    CHECK_EQ_U64(net_network_open("lab", MAC_A, &c, &err), (uint64_t)-EADDRINUSE);
    CHECK(strstr(err.message, "52:54:00:00:00:0a is in use") != NULL);
    CHECK(net_network_open("nope", MAC_C, &c, &err) == -ENOENT);
    REQUIRE(cove_network_get("lab", &info, &err) == 0);
    CHECK_EQ_U64(info.vms, 2);
    CHECK(cove_network_delete("lab", &err) == -EBUSY);
    /* the switch is killed: the attachments start another and frames cross again */
    REQUIRE(info.switch_pid > 0);
    kill(info.switch_pid, SIGKILL);
    usleep(100000);
    CHECK(crosses(a, &ib, 8000));
    /* down, then up: the device was told (just after the link came up: wait a little) */
    for (int i = 0; i < 100 && atomic_load(&link_changes) < 2; i++)
        usleep(10000);
    CHECK(atomic_load(&link_changes) >= 2);
    CHECK(a->ops->link_up(a));
    struct cove_network_info again;
    for (int i = 0; i < 100; i++) { /* its pid is written just after it takes the lock */
        CHECK(cove_network_get("lab", &again, &err) == 0);
        if (again.switch_pid > 0)
            break;
        usleep(10000);
    }
    CHECK(again.switch_pid > 0 && again.switch_pid != info.switch_pid);
    net_close(a);
    net_close(b);
    /* the switch stops by itself once idle; delete works and leaves nothing */
    CHECK(cove_network_delete("lab", &err) == 0);
    CHECK(cove_network_get("lab", &info, &err) == -ENOENT);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
}

/* A UDP broadcast from MAC_A (10.89.0.5 -> .255, 41 bytes of UDP) whose checksum is
 * partial: the pseudo-header sum in its field, header NEEDS_CSUM at 34 + 6. */
static void partial_udp(uint8_t *m)
{
    static const uint8_t hdr[NET_VNET_HDR_LEN] = {1, 0, 0, 0, 0, 0, 34, 0, 6, 0};
    memcpy(m, hdr, sizeof hdr);
    uint8_t *f = m + NET_VNET_HDR_LEN, *ip = f + 14, *udp = ip + 20;
    eth(f, BCAST, MAC_A, 0x0800);
    ip[0] = 0x45, ip[3] = 20 + 41, ip[8] = 64, ip[9] = 17;
    memcpy(ip + 12, (uint8_t[]){10, 89, 0, 5, 10, 89, 0, 255}, 8);
    udp[0] = 0x30, udp[3] = 0x35, udp[5] = 41;
    for (int i = 0; i < 33; i++)
        udp[8 + i] = (uint8_t)(i * 11 + 5);
    uint32_t ph = 0x0a59 + 0x0005 + 0x0a59 + 0x00ff + 17 + 41;
    udp[6] = (uint8_t)(ph >> 8), udp[7] = (uint8_t)ph;
}

/* Its finished checksum, summed here word by word. */
static uint16_t partial_udp_sum(const uint8_t *f)
{
    const uint8_t *ip = f + 14, *udp = ip + 20;
    uint32_t sum = 17 + 41;
    for (int i = 12; i < 20; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    for (int i = 0; i < 41; i += 2)
        if (i != 6)
            sum += (uint32_t)udp[i] << 8 | (i + 1 < 41 ? udp[i + 1] : 0);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Partial checksums cross between two VMMs' ports as they are ('V'); a port that did not
 * say it takes them (here a bare socket speaking the protocol, as an older VMM) gets the
 * frame with its checksum finished by the switch; a bad header goes nowhere. */
TEST(real_switch_carries_partial_checksums)
{
    char home[] = "/tmp/cove-netpc-XXXXXX";
    REQUIRE(mkdtemp(home));
    setenv("COVE_HOME", home, 1);
    struct cove_error err = {0};
    struct cove_network_info info;
    REQUIRE(cove_network_create("pc", "10.89.0.0/24", false, NULL, &info, &err) == 0);
    struct net_attachment *a = NULL, *b = NULL;
    static struct inbox ia = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}},
                        ib = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}};
    REQUIRE(net_network_open("pc", MAC_A, &a, &err) == 0);
    REQUIRE(net_network_open("pc", MAC_B, &b, &err) == 0);
    CHECK(a->vnet_hdr && a->offloads == NET_OFFLOAD_CSUM);
    a->ops->start(a, inbox_rx, &ia);
    b->ops->start(b, inbox_rx, &ib);
    char dir[PATH_MAX];
    REQUIRE(cove_network_run_dir("pc", dir, sizeof dir, &err) == 0);
    struct sockaddr_un own = {.sun_family = AF_UNIX}, sw = {.sun_family = AF_UNIX};
    REQUIRE(strlen(dir) + sizeof "/port-test.sock" <= sizeof own.sun_path);
    memcpy(own.sun_path, dir, strlen(dir));
    memcpy(sw.sun_path, dir, strlen(dir));
    strcat(own.sun_path, "/port-test.sock");
    strcat(sw.sun_path, "/switch.sock");
    int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(c >= 0 && bind(c, (struct sockaddr *)&own, sizeof own) == 0 &&
            connect(c, (struct sockaddr *)&sw, sizeof sw) == 0);
    uint8_t hello[7] = {'H'}, m[1 + NET_VNET_HDR_LEN + 128];
    memcpy(hello + 1, MAC_C, 6);
    REQUIRE(send(c, hello, sizeof hello, 0) == sizeof hello);
    struct timeval tv = {0, 100000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(recv(c, m, sizeof m, 0) >= 1 && m[0] == 'A');
    /* the ports learn that the switch takes 'V' from its answers to their hellos (1 s) */
    uint8_t sent[NET_VNET_HDR_LEN + 14 + 20 + 41];
    ssize_t got = 0;
    unsigned before = inbox_count(&ib);
    bool carried = false;
    for (long long end = monotonic_ms() + 4000; !carried && monotonic_ms() < end;) {
        partial_udp(sent);
        a->ops->send(a, sent, sizeof sent);
        usleep(50000);
        pthread_mutex_lock(&ib.lock);
        carried = ib.count > before && ib.hdr[0] == 1;
        pthread_mutex_unlock(&ib.lock);
    }
    CHECK(carried); /* b got the header and the frame as a sent them */
    partial_udp(sent);
    CHECK(!memcmp(ib.hdr, sent, NET_VNET_HDR_LEN));
    CHECK(!memcmp(ib.last, sent + NET_VNET_HDR_LEN, sizeof sent - NET_VNET_HDR_LEN));
    /* the bare port got plain frames, the last one finished */
    for (;;) {
        ssize_t n = recv(c, m, sizeof m, 0);
        if (n <= 0)
            break;
        if (m[0] == 'F')
            got = n;
        CHECK(m[0] != 'V');
    }
    REQUIRE(got == (ssize_t)(1 + sizeof sent - NET_VNET_HDR_LEN));
    CHECK_EQ_U64((uint16_t)(m[1 + 40] << 8 | m[1 + 41]), partial_udp_sum(m + 1));
    /* a checksum field past the frame: neither b nor the bare port gets it */
    before = inbox_count(&ib);
    partial_udp(sent);
    sent[8] = 200;
    a->ops->send(a, sent, sizeof sent);
    usleep(200000);
    CHECK_EQ_U64(inbox_count(&ib), before);
    CHECK(recv(c, m, sizeof m, 0) < 0);
    close(c);
    unlink(own.sun_path);
    net_close(a);
    net_close(b);
    for (int i = 0; i < 800 && (cove_network_delete("pc", &err) < 0); i++)
        usleep(10000);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
}

static bool port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(0x7f000001u)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001u)};
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A VM's forwards on a --nat network: bound by the switch's NAT while the VM is attached,
 * a host port in use refused, nothing on a network without a NAT. */
TEST(real_switch_forwards_to_a_vm)
{
    char home[] = "/tmp/cove-netfw-XXXXXX";
    REQUIRE(mkdtemp(home));
    setenv("COVE_HOME", home, 1);
    struct cove_error err = {0};
    struct cove_network_info info;
    REQUIRE(cove_network_create("up", NULL, true, NULL, &info, &err) == 0);
    REQUIRE(cove_network_create("closed", NULL, false, NULL, &info, &err) == 0);
    uint16_t port = free_port();
    REQUIRE(port != 0);
    struct net_forward fwd = {false, 0x7f000001u, port, 80};
    struct net_attachment *a = NULL, *b = NULL;
    CHECK(net_network_open_forwarded("closed", MAC_A, NULL, &fwd, 1, &a, &err) < 0);
    CHECK(strstr(err.message, "no NAT uplink") != NULL);
    REQUIRE(net_network_open_forwarded("up", MAC_A, "alpha", &fwd, 1, &a, &err) == 0);
    CHECK(port_open(port));
    CHECK(net_network_open_forwarded("up", MAC_B, NULL, &fwd, 1, &b, &err) == -EADDRINUSE);
    CHECK(strstr(err.message, "already in use") != NULL);
    net_close(a);
    bool freed = false;
    for (int i = 0; i < 300 && !freed; i++) { /* the switch sweeps within its poll */
        freed = !port_open(port);
        if (!freed)
            usleep(10000);
    }
    CHECK(freed);
    /* the same host port for another VM now */
    REQUIRE(net_network_open_forwarded("up", MAC_B, NULL, &fwd, 1, &b, &err) == 0);
    CHECK(port_open(port));
    net_close(b);
    for (int i = 0; i < 800 && (cove_network_delete("up", &err) < 0); i++)
        usleep(10000);
    CHECK(cove_network_delete("closed", &err) == 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(unknown_unicast_floods_then_goes_to_the_learnt_port);
    RUN(broadcast_goes_to_every_other_port_and_the_gateway);
    RUN(a_mac_in_use_is_refused_and_free_again_after_leave);
    RUN(a_frame_with_another_ports_mac_goes_nowhere);
    RUN(dhcp_offers_acks_and_naks);
    RUN(dns_answers_the_names_of_leases);
    RUN(the_gateway_answers_arp_and_ping);
    RUN(a_nat_uplink_gets_what_the_gateway_does_not_answer);
    RUN(frames_of_the_gateway_go_to_the_learnt_port_or_flood);
    RUN(real_switch_joins_refuses_and_comes_back);
    RUN(real_switch_forwards_to_a_vm);
    RUN(real_switch_carries_partial_checksums);
    return test_summary();
}
