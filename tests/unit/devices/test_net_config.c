/* The network settings' parsers (net_config.c: --net, egress rules), the egress filter
 * (net_egress.c) on frames built here, and the TAP attachments' refusals that need no
 * privileges. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "util/inet_csum.h"
#include "test.h"

TEST(spec_parse)
{
    struct cove_net_spec s;
    struct cove_error err;
    char text[COVE_NET_NAME_MAX + 16];
    static const struct { const char *in; enum cove_net_mode mode; const char *name; } good[] = {
        {"nat", COVE_NET_NAT, ""},          {"none", COVE_NET_NONE, ""},
        {"tap:tap0", COVE_NET_TAP, "tap0"}, {"bridge:br-lan.5", COVE_NET_BRIDGE, "br-lan.5"},
        {"network:lab_1", COVE_NET_NETWORK, "lab_1"},
        {"tap:abcdefghijklmno", COVE_NET_TAP, "abcdefghijklmno"},
    };
    for (unsigned i = 0; i < sizeof good / sizeof *good; i++) {
        CHECK_EQ_U64(net_spec_parse(good[i].in, &s, &err), 0);
        CHECK_EQ_U64(s.mode, good[i].mode);
        CHECK_STR(s.name, good[i].name);
        CHECK_STR(net_spec_text(&s, text, sizeof text), good[i].in);
    }
    static const char *const bad[] = {"", "NAT", "nat:", "none:x", "tap", "tap:", "bridge:a/b",
                                      "bridge:a b", "tap:abcdefghijklmnop", "tap:a:b",
                                      "network:", "network:-x", "network:.x", "network:a/b",
                                      "slirp", "bridge:..", ":br0"};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.message[0] = 0;
        CHECK_EQ_U64(net_spec_parse(bad[i], &s, &err), -EINVAL);
        CHECK(strstr(err.message, "network '") != NULL);
    }
    s = (struct cove_net_spec){COVE_NET_DEFAULT, ""};
    CHECK_STR(net_spec_text(&s, text, sizeof text), "nat");
}

TEST(rule_parse)
{
    struct net_rule r;
    struct cove_error err;
    CHECK_EQ_U64(net_rule_parse("10.0.2.2", true, &r, &err), 0);
    CHECK(r.addr == 0x0a000202u && r.mask == 0xffffffffu && r.port == 0);
    CHECK_EQ_U64(net_rule_parse("192.168.0.0/16:443", true, &r, &err), 0);
    CHECK(r.addr == 0xc0a80000u && r.mask == 0xffff0000u && r.port == 443);
    CHECK_EQ_U64(net_rule_parse("0.0.0.0/0", false, &r, &err), 0);
    CHECK(r.addr == 0 && r.mask == 0);
    static const char *const bad_allow[] = {"", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/",
                                            "10.0.0.0/8:0", "10.0.0.0/8:65536", "10.0.0.0/x",
                                            "10.0.0", "host:80", "10.0.0.0/8:80:81",
                                            "255.255.255.255/32:655350000000"};
    for (unsigned i = 0; i < sizeof bad_allow / sizeof *bad_allow; i++) {
        err.message[0] = 0;
        CHECK_EQ_U64(net_rule_parse(bad_allow[i], true, &r, &err), -EINVAL);
        CHECK(strstr(err.message, "rule '") != NULL);
    }
    CHECK_EQ_U64(net_rule_parse("10.0.0.0/8:80", false, &r, &err), -EINVAL);
    CHECK(strstr(err.message, "a block rule takes no port") != NULL);
}

/* Ethernet + IPv4 + 20 bytes of TCP (or UDP with payload), to dst:dport. */
static size_t ip_frame(uint8_t *f, uint32_t dst, uint8_t proto, uint16_t dport, uint16_t frag)
{
    memset(f, 0, 64);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[9] = proto;
    ip[16] = (uint8_t)(dst >> 24);
    ip[17] = (uint8_t)(dst >> 16);
    ip[18] = (uint8_t)(dst >> 8);
    ip[19] = (uint8_t)dst;
    ip[22] = (uint8_t)(dport >> 8);
    ip[23] = (uint8_t)dport;
    return 14 + 20 + 20; /* a TCP header's length, also a UDP one with payload */
}

TEST(egress_filter)
{
    uint8_t f[64];
    const uint32_t host = 0x0a000202u, dns = 0x0a000203u, other = 0x08080808u;
    struct net_rule allow[] = {{host, 0xffffffffu, 8080}};
    struct net_rule block[] = {{0x0a000000u, 0xff000000u, 0}};
    struct net_egress none = {0};
    struct net_egress both = {.allow = allow, .nallow = 1, .block = block, .nblock = 1};
    struct net_egress blk = {.block = block, .nblock = 1};
    size_t n = ip_frame(f, host, 6, 80, 0);
    CHECK(net_egress_pass(&none, f, n));
    CHECK(net_egress_pass(NULL, f, n));
    CHECK(!net_egress_pass(&both, f, n));          /* blocked, and not the allowed port */
    CHECK(!net_egress_pass(&blk, f, n));
    n = ip_frame(f, host, 6, 8080, 0);
    CHECK(net_egress_pass(&both, f, n));           /* an allow rule wins over a block */
    CHECK(!net_egress_pass(&blk, f, n));
    n = ip_frame(f, host, 17, 8080, 0);
    CHECK(net_egress_pass(&both, f, n));           /* UDP to the port too */
    n = ip_frame(f, host, 1, 0, 0);
    CHECK(!net_egress_pass(&both, f, n));          /* ICMP has no port */
    n = ip_frame(f, host, 6, 8080, 0x10);
    CHECK(!net_egress_pass(&both, f, n));          /* a later fragment has no port */
    n = ip_frame(f, other, 6, 443, 0);
    CHECK(net_egress_pass(&blk, f, n));            /* outside the block, no allow rules */
    CHECK(!net_egress_pass(&both, f, n));          /* with allow rules: everything else out */
    n = ip_frame(f, dns, 17, 53, 0);
    struct net_egress allow_only = {.allow = allow, .nallow = 1};
    CHECK(net_egress_pass(&allow_only, f, n));     /* DNS through the NAT's resolver */
    n = ip_frame(f, other, 17, 53, 0);
    CHECK(!net_egress_pass(&allow_only, f, n));    /* not another resolver */
    /* a network's uplink: its resolver is its own (the subnet's address), not 10.0.2.3 */
    struct net_egress uplink = {.allow = allow, .nallow = 1, .resolver = 0x0a5d0000u};
    CHECK(!net_egress_pass(&uplink, f, n));
    n = ip_frame(f, 0x0a5d0000u, 17, 53, 0);
    CHECK(net_egress_pass(&uplink, f, n));
    n = ip_frame(f, dns, 17, 53, 0);
    CHECK(!net_egress_pass(&uplink, f, n));
    n = ip_frame(f, 0xffffffffu, 17, 67, 0);
    CHECK(net_egress_pass(&allow_only, f, n));     /* DHCP */
    CHECK(net_egress_pass(&both, f, n));
    memset(f, 0, sizeof f);
    f[12] = 0x08, f[13] = 0x06;
    CHECK(net_egress_pass(&both, f, 42));          /* ARP */
    f[12] = 0x86, f[13] = 0xdd;
    CHECK(!net_egress_pass(&both, f, 60));         /* IPv6: rules cannot apply, dropped */
    CHECK(net_egress_pass(&none, f, 60));
    /* short and lying headers: judged on what is there, never read past the end */
    n = ip_frame(f, host, 6, 8080, 0);
    CHECK(!net_egress_pass(&both, f, 13));
    CHECK(!net_egress_pass(&both, f, 14 + 19));
    CHECK(!net_egress_pass(&both, f, 14 + 22));    /* TCP without its ports: no port */
    f[14] = 0x4f;                                  /* IHL 60 > what is there */
    CHECK(!net_egress_pass(&both, f, 14 + 40));
    f[14] = 0x44;                                  /* IHL 16 < 20 */
    CHECK(!net_egress_pass(&both, f, n));
    f[14] = 0x65;                                  /* version 6 in an IPv4 frame */
    CHECK(!net_egress_pass(&both, f, n));
}

/* A connection the host makes through a forward (slirp's SYN to the guest, from 10.0.2.2)
 * is answered whatever the rules; only that flow, and only what slirp sent teaches it. */
TEST(egress_inbound_flows)
{
    uint8_t f[64];
    const uint32_t host = 0x0a000202u, guest = 0x0a00020fu;
    struct net_rule allow[] = {{0x01020304u, 0xffffffffu, 0}};
    struct net_egress e = {.allow = allow, .nallow = 1, .flows = net_egress_flows_new()};
    REQUIRE(e.flows);
    /* the guest answering from port 22 to 10.0.2.2:40000: nothing learnt yet */
    size_t n = ip_frame(f, host, 6, 40000, 0);
    f[14 + 20] = 0, f[14 + 21] = 22; /* source port 22 */
    CHECK(!net_egress_pass(&e, f, n));
    /* slirp's SYN from 10.0.2.2:40000 to the guest's port 22 */
    uint8_t syn[64];
    size_t sn = ip_frame(syn, guest, 6, 22, 0);
    syn[14 + 12] = 10, syn[14 + 13] = 0, syn[14 + 14] = 2, syn[14 + 15] = 2; /* source */
    syn[14 + 20] = 40000 >> 8, syn[14 + 21] = 40000 & 0xff;
    syn[14 + 20 + 13] = 0x12; /* SYN-ACK: an answer to the guest, learns nothing */
    net_egress_inbound(&e, syn, sn);
    CHECK(!net_egress_pass(&e, f, n));
    syn[14 + 20 + 13] = 0x02; /* SYN */
    net_egress_inbound(&e, syn, sn);
    CHECK(net_egress_pass(&e, f, n));
    f[14 + 23] ^= 1;          /* another remote port */
    CHECK(!net_egress_pass(&e, f, n));
    f[14 + 23] ^= 1;
    f[14 + 21] = 23;          /* another guest port */
    CHECK(!net_egress_pass(&e, f, n));
    free(e.flows);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A dropped TCP segment is answered by a reset from its destination (RFC 793's rules for
 * its sequence numbers), with valid checksums; nothing else is answered. */
TEST(egress_reset)
{
    uint8_t f[64], r[NET_EGRESS_RST_LEN];
    size_t n = ip_frame(f, 0x0a000202u, 6, 80, 0);
    memcpy(f, "\x52\x55\x0a\x00\x02\x02\x52\x54\x00\x12\x34\x56", 12);
    f[14 + 2] = 0, f[14 + 3] = 40;                            /* total length */
    f[14 + 12] = 10, f[14 + 13] = 0, f[14 + 14] = 2, f[14 + 15] = 15; /* from 10.0.2.15 */
    uint8_t *tcp = f + 14 + 20;
    tcp[0] = 40000 >> 8, tcp[1] = 40000 & 0xff;
    tcp[4] = 0, tcp[5] = 0, tcp[6] = 0x03, tcp[7] = 0xe8;     /* seq 1000 */
    tcp[12] = 5 << 4, tcp[13] = 0x02;                        /* SYN */
    REQUIRE(net_egress_reset(f, n, r) == NET_EGRESS_RST_LEN);
    CHECK(!memcmp(r, f + 6, 6) && !memcmp(r + 6, f, 6));     /* MACs swapped */
    const uint8_t *rip = r + 14, *rtcp = rip + 20;
    CHECK_EQ_U64(get32(rip + 12), 0x0a000202u);
    CHECK_EQ_U64(get32(rip + 16), 0x0a00020fu);
    CHECK_EQ_U64(rtcp[0] << 8 | rtcp[1], 80);
    CHECK_EQ_U64(rtcp[2] << 8 | rtcp[3], 40000);
    CHECK_EQ_U64(rtcp[13], 0x14);                            /* RST|ACK */
    CHECK_EQ_U64(get32(rtcp + 4), 0);
    CHECK_EQ_U64(get32(rtcp + 8), 1001);                     /* SYN counts one */
    CHECK_EQ_U64(inet_csum_fold(inet_csum_add(0, rip, 20)), 0);
    uint32_t pseudo = inet_csum_add(6 + 20, rip + 12, 8);
    CHECK_EQ_U64(inet_csum_fold(inet_csum_add(pseudo, rtcp, 20)), 0);
    /* an ACK with 5 bytes of data: the reset takes its ACK number as sequence number */
    f[14 + 3] = 45;
    tcp[13] = 0x18;
    tcp[8] = 0, tcp[9] = 0, tcp[10] = 0x15, tcp[11] = 0xb3;  /* ack 5555 */
    REQUIRE(net_egress_reset(f, n + 5, r) == NET_EGRESS_RST_LEN);
    CHECK_EQ_U64(rtcp[13], 0x04);
    CHECK_EQ_U64(get32(rtcp + 4), 5555);
    tcp[13] = 0x04;                                          /* a reset: no answer */
    CHECK_EQ_U64(net_egress_reset(f, n, r), 0);
    n = ip_frame(f, 0x0a000202u, 17, 53, 0);                 /* UDP: none */
    CHECK_EQ_U64(net_egress_reset(f, n, r), 0);
    CHECK_EQ_U64(net_egress_reset(f, 20, r), 0);
}

/* What needs no privileges: a missing interface and one that is not a TAP or a bridge are
 * refused with one line naming them (net-bridge.sh does the rest as root). */
TEST(tap_refusals)
{
    struct net_attachment *n = NULL;
    struct cove_error err;
    CHECK_EQ_U64(net_tap_open("cove-none-x", &n, &err), -ENODEV);
    CHECK(strstr(err.message, "there is no interface 'cove-none-x'") != NULL);
    CHECK_EQ_U64(net_tap_open("lo", &n, &err), -EINVAL);
    CHECK(strstr(err.message, "'lo' is not a TAP") != NULL);
    CHECK_EQ_U64(net_bridge_open("nobridge0", &n, &err), -ENODEV);
    CHECK(strstr(err.message, "create the bridge first") != NULL);
    CHECK_EQ_U64(net_bridge_open("lo", &n, &err), -EINVAL);
    CHECK(strstr(err.message, "'lo' is not a Linux bridge") != NULL);
    uint8_t mac[NET_MAC_LEN] = {0x52, 0x54, 0, 1, 2, 3};
    CHECK(net_network_open("lab", mac, &n, &err) < 0);
    CHECK(n == NULL);
}

int main(void)
{
    RUN(spec_parse);
    RUN(rule_parse);
    RUN(egress_filter);
    RUN(egress_inbound_flows);
    RUN(egress_reset);
    RUN(tap_refusals);
    return test_summary();
}
