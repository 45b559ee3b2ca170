/*
 * The forwarding logic of a cove network's switch (net_switch.h): ports, the table of
 * learnt MACs, and where a frame goes. No sockets here; net_switch_daemon.c moves the
 * frames.
 */
#include "backends/net_switch.h"

#include <errno.h>
#include <string.h>

static bool is_multicast(const uint8_t *mac) { return mac[0] & 1; }

void net_switch_init(struct net_switch *sw, const uint8_t local_mac[NET_MAC_LEN])
{
    memset(sw, 0, sizeof *sw);
    memcpy(sw->local_mac, local_mac, NET_MAC_LEN);
}

int net_switch_port_of(const struct net_switch *sw, const uint8_t mac[NET_MAC_LEN])
{
    for (int i = 0; i < NET_SWITCH_PORTS; i++)
        if (sw->ports[i].used && !memcmp(sw->ports[i].mac, mac, NET_MAC_LEN))
            return i;
    return -1;
}

int net_switch_join(struct net_switch *sw, const uint8_t mac[NET_MAC_LEN])
{
    if (is_multicast(mac) || !memcmp(mac, sw->local_mac, NET_MAC_LEN) ||
        net_switch_port_of(sw, mac) >= 0)
        return -EADDRINUSE;
    for (int i = 0; i < NET_SWITCH_PORTS; i++) {
        if (!sw->ports[i].used) {
            sw->ports[i].used = true;
            memcpy(sw->ports[i].mac, mac, NET_MAC_LEN);
            return i;
        }
    }
    return -ENOSPC;
}

void net_switch_leave(struct net_switch *sw, int port)
{
    if (port < 0 || port >= NET_SWITCH_PORTS)
        return;
    sw->ports[port].used = false;
    for (unsigned i = 0; i < NET_SWITCH_FDB; i++)
        if (sw->fdb[i].used && sw->fdb[i].port == port)
            sw->fdb[i].used = false;
}

static void learn(struct net_switch *sw, const uint8_t *mac, int port, int64_t now)
{
    struct net_switch_fdb_entry *slot = NULL;
    for (unsigned i = 0; i < NET_SWITCH_FDB; i++) {
        struct net_switch_fdb_entry *e = &sw->fdb[i];
        if (e->used && !memcmp(e->mac, mac, NET_MAC_LEN)) {
            slot = e;
            break;
        }
        if (!slot || (slot->used && (!e->used || e->seen_ms < slot->seen_ms)))
            slot = e; /* a free entry, else the oldest */
    }
    slot->used = true;
    memcpy(slot->mac, mac, NET_MAC_LEN);
    slot->port = port;
    slot->seen_ms = now;
}

static int lookup(const struct net_switch *sw, const uint8_t *mac, int64_t now)
{
    for (unsigned i = 0; i < NET_SWITCH_FDB; i++) {
        const struct net_switch_fdb_entry *e = &sw->fdb[i];
        if (e->used && !memcmp(e->mac, mac, NET_MAC_LEN))
            return now - e->seen_ms <= NET_SWITCH_FDB_AGE_MS ? e->port : -1;
    }
    return -1;
}

static uint64_t all_ports_but(const struct net_switch *sw, int in)
{
    uint64_t out = 0;
    for (int i = 0; i < NET_SWITCH_PORTS; i++)
        if (sw->ports[i].used && i != in)
            out |= 1ull << i;
    return out;
}

uint64_t net_switch_route(struct net_switch *sw, int in, const uint8_t *frame, size_t len,
                          int64_t now_ms, bool *local)
{
    *local = false;
    if (in < 0 || in >= NET_SWITCH_PORTS || !sw->ports[in].used || len < NET_FRAME_MIN)
        return 0;
    const uint8_t *dst = frame, *src = frame + NET_MAC_LEN;
    int owner = net_switch_port_of(sw, src);
    if (is_multicast(src) || !memcmp(src, sw->local_mac, NET_MAC_LEN) ||
        (owner >= 0 && owner != in))
        return 0;
    learn(sw, src, in, now_ms);
    if (is_multicast(dst)) {
        *local = true;
        return all_ports_but(sw, in);
    }
    if (!memcmp(dst, sw->local_mac, NET_MAC_LEN)) {
        *local = true;
        return 0;
    }
    int to = lookup(sw, dst, now_ms);
    if (to >= 0 && sw->ports[to].used)
        return to == in ? 0 : 1ull << to;
    return all_ports_but(sw, in);
}

uint64_t net_switch_route_local(const struct net_switch *sw, const uint8_t *frame,
                                int64_t now_ms)
{
    int to = is_multicast(frame) ? -1 : lookup(sw, frame, now_ms);
    return to >= 0 && sw->ports[to].used ? 1ull << to : all_ports_but(sw, -1);
}

bool net_switch_vhdr_ok(const uint8_t *h, size_t len)
{
    size_t start = (size_t)(h[6] | h[7] << 8), field = start + (size_t)(h[8] | h[9] << 8);
    return h[0] == 1 /* NEEDS_CSUM */ && h[1] == 0 /* no GSO */ && start >= NET_FRAME_MIN &&
           start < len && field + 2 <= len;
}
