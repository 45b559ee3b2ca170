/* The egress rules of the NAT (src/backends/net_egress.c) and their parsers
 * (net_config.c): the input starts with a byte of length and that many bytes of rule
 * text, parsed as an allow rule and as a block rule (text from a config.json is anyone's),
 * then one byte choosing the rule set (bit 3: then two bytes of length and a frame to the
 * guest, learnt as an inbound flow); the rest is a frame from the guest, judged against
 * the rules and answered with a reset. The filter must stay inside the frame whatever its
 * headers say. The --net
 * parser gets the rule text too. */
#include <stdlib.h>

#include "fuzz.h"
#include "backends/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    size_t tlen = (size_t)fuzz_take(&in, 1);
    if (tlen > in.left)
        tlen = in.left;
    char text[256];
    memcpy(text, in.p, tlen);
    text[tlen] = 0;
    in.p += tlen;
    in.left -= tlen;
    struct cove_error err;
    struct net_rule parsed[2] = {{0}};
    struct cove_net_spec spec;
    if (net_rule_parse(text, true, &parsed[0], &err) == 0 && (parsed[0].addr & ~parsed[0].mask))
        __builtin_trap();
    if (net_rule_parse(text, false, &parsed[1], &err) == 0 && parsed[1].port)
        __builtin_trap();
    if (net_spec_parse(text, &spec, &err) == 0 && strlen(spec.name) > COVE_NET_NAME_MAX)
        __builtin_trap();

    unsigned choice = (unsigned)fuzz_take(&in, 1);
    static const struct net_rule allow[] = {
        {0x0a000202u, 0xffffffffu, 8080}, /* 10.0.2.2:8080 */
        {0xc0a80100u, 0xffffff00u, 0},    /* 192.168.1.0/24 */
    };
    static const struct net_rule block[] = {
        {0x0a000000u, 0xff000000u, 0}, /* 10.0.0.0/8 */
        {0, 0, 0},                     /* everything */
    };
    struct net_egress_flows *flows = net_egress_flows_new();
    if (!flows)
        abort();
    struct net_egress e = {
        .allow = choice & 1 ? allow : NULL, .nallow = choice & 1 ? 2 : 0,
        .block = choice & 2 ? block : NULL, .nblock = choice & 2 ? 2 : 0,
        .flows = choice & 8 ? flows : NULL,
    };
    if (choice & 4) { /* the parsed rule as the only one */
        e.allow = &parsed[0], e.nallow = 1;
        e.block = &parsed[1], e.nblock = 1;
    }
    /* a frame to the guest first (bit 3), as slirp sends it: learnt as a flow */
    if (choice & 8) {
        size_t ilen = (size_t)fuzz_take(&in, 2);
        if (ilen > in.left)
            ilen = in.left;
        uint8_t *inbound = malloc(ilen ? ilen : 1);
        if (!inbound)
            abort();
        memcpy(inbound, in.p, ilen);
        net_egress_inbound(&e, inbound, ilen);
        free(inbound);
        in.p += ilen;
        in.left -= ilen;
    }
    /* the frame in a buffer of its own size, so that reading past it shows under ASan */
    uint8_t *frame = malloc(in.left ? in.left : 1);
    if (!frame)
        abort();
    memcpy(frame, in.p, in.left);
    bool pass = net_egress_pass(&e, frame, in.left);
    uint8_t rst[NET_EGRESS_RST_LEN];
    size_t rn = net_egress_reset(frame, in.left, rst);
    if (rn != 0 && rn != NET_EGRESS_RST_LEN)
        __builtin_trap();
    if (!e.nallow && !e.nblock && !pass)
        __builtin_trap(); /* no rules: everything passes */
    free(frame);
    free(flows);
    return 0;
}
