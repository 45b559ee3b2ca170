/* A cove network's switch (src/backends/net_switch.c) and the host inside it
 * (net_services.c: ARP, ICMP echo, DHCP, DNS) take every frame a guest sends. The input
 * is a sequence of records: a byte whose low 2 bits pick the sending port (of 3) and a
 * two-byte length, then the frame. Each frame is routed by the switch and, when it is for
 * the gateway, answered by the services with the state (leases, names) kept across the
 * records; with the NAT uplink on (odd sizes), a frame the services pass up is rewritten
 * for slirp, and every frame is also rewritten as if slirp had sent it. Whatever the frames: no read outside them, a reply that fits the buffer and is
 * wholly written, and ports only of those that exist. */
#include <stdlib.h>

#include "fuzz.h"
#include "backends/net_services.h"
#include "backends/net_switch.h"

static struct net_switch sw;
static struct net_services svc;
static uint8_t reply[NET_FRAME_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t gw_mac[6] = {0x02, 0xc0, 0x7e, 0x58, 0x00, 0x01};
    static const uint8_t macs[3][6] = {{0x52, 0x54, 0, 0, 0, 1}, {0x52, 0x54, 0, 0, 0, 2},
                                       {0x52, 0x54, 0, 0, 0, 3}};
    struct fuzz_input in = {data, size};
    net_switch_init(&sw, gw_mac);
    net_services_init(&svc, 0x0a580000, 24 + (unsigned)(size % 7), gw_mac);
    int ports[3];
    for (int i = 0; i < 3; i++)
        ports[i] = net_switch_join(&sw, macs[i]);
    net_services_set_name(&svc, macs[0], "alpha", 5);
    svc.uplink = size & 1;
    int64_t now = 0;
    while (in.left >= 3) {
        unsigned sel = (unsigned)fuzz_take(&in, 1);
        size_t len = (size_t)fuzz_take(&in, 2);
        if (len > in.left)
            len = in.left;
        uint8_t *frame = malloc(len ? len : 1); /* exactly as long: ASan sees overreads */
        if (!frame)
            return 0;
        memcpy(frame, in.p, len);
        in.p += len;
        in.left -= len;
        now += 1000;
        int port = ports[sel % 3];
        bool local = false;
        uint64_t out = len >= NET_FRAME_MIN ? net_switch_route(&sw, port, frame, len, now, &local) : 0;
        if (out & ~7ull)
            __builtin_trap(); /* a port that was never made */
        if (sel & 4)
            net_switch_leave(&sw, port), ports[sel % 3] = net_switch_join(&sw, macs[sel % 3]);
        size_t n = net_services_handle(&svc, frame, len, reply, sizeof reply);
        if (n > sizeof reply)
            __builtin_trap();
        uint8_t sum = 0;
        for (size_t i = 0; i < n; i++) /* every byte written: MSan/valgrind would see a hole */
            sum += reply[i];
        __asm__ volatile("" : : "r"(sum));
        if (svc.to_uplink)
            net_uplink_to_slirp(&svc, frame, len);
        net_uplink_from_slirp(&svc, frame, len);
        if (len >= NET_FRAME_MIN && (net_switch_route_local(&sw, frame, now) & ~7ull))
            __builtin_trap();
        free(frame);
    }
    return 0;
}
