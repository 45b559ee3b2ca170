/* The opening handshake of forwarded connections; see net_fwd_syn.h for why. */
#include <stdbool.h>
#include <string.h>

#include "backends/net_fwd_syn.h"
#include "util/be.h"
#include "util/inet_csum.h"

#define ETH_HLEN 14
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2

enum { SLOT_FREE, SLOT_WAITING, SLOT_ANSWERED };

/* An unfragmented IPv4 TCP segment in an Ethernet frame, every length checked against
 * the frame. Addresses and ports stay in network order (they are only compared). */
struct tcp_seg {
    size_t ip, tcp, tcp_len, hdr_len; /* offsets into the frame; lengths */
    uint32_t saddr, daddr, seq;
    uint16_t sport, dport;
    uint8_t flags;
};


static bool parse_tcp(const uint8_t *f, size_t len, struct tcp_seg *s)
{
    if (len < ETH_HLEN + 20 || be_get16(f + 12) != 0x0800)
        return false;
    const uint8_t *ip = f + ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4, total = be_get16(ip + 2);
    if (ip[0] >> 4 != 4 || ihl < 20 || ip[9] != 6 /* TCP */ ||
        (be_get16(ip + 6) & 0x3fff) /* MF or an offset: a fragment */ ||
        total < ihl + 20 || ETH_HLEN + total > len)
        return false;
    const uint8_t *tcp = ip + ihl;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > total - ihl)
        return false;
    s->ip = ETH_HLEN;
    s->tcp = ETH_HLEN + ihl;
    s->tcp_len = total - ihl;
    s->hdr_len = doff;
    memcpy(&s->saddr, ip + 12, 4);
    memcpy(&s->daddr, ip + 16, 4);
    memcpy(&s->sport, tcp, 2);
    memcpy(&s->dport, tcp + 2, 2);
    memcpy(&s->seq, tcp + 4, 4);
    s->flags = tcp[13];
    return true;
}

/* The slot of a connection, its ends given as the guest sees them. */
static struct net_fwd_syn_slot *find(struct net_fwd_syn *t, uint32_t host_addr,
                                     uint16_t host_port, uint32_t guest_addr,
                                     uint16_t guest_port)
{
    for (unsigned i = 0; i < NET_FWD_SYN_SLOTS; i++) {
        struct net_fwd_syn_slot *s = &t->slots[i];
        if (s->state != SLOT_FREE && s->host_addr == host_addr && s->host_port == host_port &&
            s->guest_addr == guest_addr && s->guest_port == guest_port)
            return s;
    }
    return NULL;
}

void net_fwd_syn_to_guest(struct net_fwd_syn *t, const void *frame, size_t len,
                          int64_t now_ms)
{
    struct tcp_seg g;
    if (len > NET_FWD_SYN_FRAME_MAX || !parse_tcp(frame, len, &g) ||
        (g.flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
        return;
    struct net_fwd_syn_slot *s = find(t, g.saddr, g.sport, g.daddr, g.dport);
    if (!s || s->syn_seq != g.seq) {
        if (!s)
            for (unsigned i = 0; i < NET_FWD_SYN_SLOTS && !s; i++)
                if (t->slots[i].state == SLOT_FREE)
                    s = &t->slots[i];
        if (!s)
            return; /* full: this connection keeps slirp's own timing */
        *s = (struct net_fwd_syn_slot){.host_addr = g.saddr, .host_port = g.sport,
                                       .guest_addr = g.daddr, .guest_port = g.dport,
                                       .syn_seq = g.seq, .first_ms = now_ms};
    }
    /* slirp's own retransmission of a SYN still unanswered restarts the schedule. */
    s->state = SLOT_WAITING;
    s->next_ms = now_ms + NET_FWD_SYN_RESEND_MS;
    s->len = (uint8_t)len;
    memcpy(s->frame, frame, len);
}

/* Turns the MSS option into NOPs and recomputes the TCP checksum (the frame's checksum
 * is complete here: the device finished any the guest left to it). */
static void strip_mss(uint8_t *f, const struct tcp_seg *g)
{
    uint8_t *tcp = f + g->tcp;
    for (size_t i = 20; i < g->hdr_len;) {
        uint8_t kind = tcp[i];
        if (kind == TCPOPT_EOL)
            break;
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= g->hdr_len || tcp[i + 1] < 2 || i + tcp[i + 1] > g->hdr_len)
            break;
        size_t olen = tcp[i + 1];
        if (kind == TCPOPT_MSS)
            memset(tcp + i, TCPOPT_NOP, olen);
        i += olen;
    }
    uint32_t sum = 6 + (uint32_t)g->tcp_len; /* pseudo-header: protocol, TCP length */
    sum = inet_csum_add(sum, f + g->ip + 12, 8); /* and the addresses */
    tcp[16] = tcp[17] = 0;
    uint16_t c = inet_csum_fold(inet_csum_add(sum, tcp, g->tcp_len));
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
}

const void *net_fwd_syn_from_guest(struct net_fwd_syn *t, const void *frame, size_t len,
                                   uint8_t scratch[NET_FWD_SYN_FRAME_MAX])
{
    struct tcp_seg g;
    if (!parse_tcp(frame, len, &g))
        return frame;
    struct net_fwd_syn_slot *s = find(t, g.daddr, g.dport, g.saddr, g.sport);
    if (!s)
        return frame;
    if ((g.flags & (TCP_SYN | TCP_ACK | TCP_RST)) != (TCP_SYN | TCP_ACK)) {
        s->state = SLOT_FREE; /* established (or reset): no SYN-ACK will come again */
        return frame;
    }
    if (s->state == SLOT_WAITING) {
        s->state = SLOT_ANSWERED;
        s->syn_ack_seq = g.seq;
        s->next_ms = 0;
        return frame;
    }
    if (g.seq != s->syn_ack_seq || len > NET_FWD_SYN_FRAME_MAX)
        return frame;
    memcpy(scratch, frame, len);
    strip_mss(scratch, &g);
    t->mss_stripped++;
    return scratch;
}

int64_t net_fwd_syn_run(struct net_fwd_syn *t, int64_t now_ms, net_fwd_syn_send_fn send,
                        void *opaque)
{
    int64_t next = -1;
    for (unsigned i = 0; i < NET_FWD_SYN_SLOTS; i++) {
        struct net_fwd_syn_slot *s = &t->slots[i];
        if (s->state == SLOT_FREE)
            continue;
        if (now_ms - s->first_ms >= NET_FWD_SYN_LIMIT_MS) {
            s->state = SLOT_FREE; /* slirp and the guest have both given up by now */
            continue;
        }
        if (s->state != SLOT_WAITING)
            continue;
        if (s->next_ms <= now_ms) {
            s->next_ms = now_ms + NET_FWD_SYN_RESEND_MS;
            t->syn_resent++;
            send(opaque, s->frame, s->len);
        }
        if (next < 0 || s->next_ms - now_ms < next)
            next = s->next_ms - now_ms;
    }
    return next;
}
