/* The egress rules of the NAT (src/backends/net_egress.c) and their parsers
 * (net_config.c): the input starts with a byte of length and that many bytes of rule
 * text, parsed as an allow rule and as a block rule (text from a config.json is anyone's),
 * then one byte choosing the rule set; the rest is a frame from the guest, judged against
 * the rules. The filter must stay inside the frame whatever its headers say. The --net
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
    struct net_egress e = {
        choice & 1 ? allow : NULL, choice & 1 ? 2 : 0,
        choice & 2 ? block : NULL, choice & 2 ? 2 : 0,
    };
    if (choice & 4) { /* the parsed rule as the only one */
        e = (struct net_egress){&parsed[0], 1, &parsed[1], 1};
    }
    /* the frame in a buffer of its own size, so that reading past it shows under ASan */
    uint8_t *frame = malloc(in.left ? in.left : 1);
    if (!frame)
        return 0;
    memcpy(frame, in.p, in.left);
    bool pass = net_egress_pass(&e, frame, in.left);
    if (!e.nallow && !e.nblock && !pass)
        __builtin_trap(); /* no rules: everything passes */
    free(frame);
    return 0;
}
