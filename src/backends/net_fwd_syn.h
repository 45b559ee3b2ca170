/*
 * net_fwd_syn.h — the opening handshake of forwarded connections, made robust to a guest
 * whose listen queue overflows.
 *
 * For a --forward, slirp accepts the host's connection and opens one to the guest with a
 * SYN. A server whose accept queue is full (busybox httpd listens with a backlog of 9)
 * makes Linux drop, and count as ListenOverflows, either that SYN or the ACK that
 * completes the handshake together with the request behind it. Both hang the host's
 * client, under QEMU's user networking (the same libslirp) as under cove:
 *
 * - A dropped SYN: slirp's BSD-derived TCP retransmits it only after 6 s and then every
 *   12 s (initial RTO 3 s * 2, capped at 12 s), and the SYNs dropped from one burst come
 *   back together to overflow the queue again (6, 18, 30 s). A Linux client waits 1 s.
 *   So every SYN slirp hands the guest is remembered and handed again every
 *   NET_FWD_SYN_RESEND_MS until the guest answers. A duplicate SYN is ordinary TCP.
 * - A dropped ACK: the guest retransmits its SYN-ACK, with its MSS option. libslirp
 *   (4.7) passes every MSS option of a SYN segment to tcp_mss(), whose sbreserve()
 *   empties the socket's buffers: the request slirp already sent but the guest dropped
 *   is gone, its retransmission finds nothing, and the client waits for the server's
 *   own timeout (busybox httpd: 60 s). So a repeated SYN-ACK (same 4-tuple and sequence
 *   number as the first) reaches slirp with its MSS option turned into NOPs: slirp keeps
 *   the MSS the first one gave, and still answers it with the ACK the guest waits for.
 *
 * A connection is tracked from slirp's SYN until the guest sends a segment without SYN
 * (its handshake is complete) or RST, and at most NET_FWD_SYN_LIMIT_MS. Bounded: a fixed
 * table; a connection past it keeps slirp's own behaviour. Frames from the guest are
 * parsed with every length checked; anything but IPv4 TCP is left alone. Not
 * thread-safe: the caller locks.
 */
#ifndef COVE_BACKENDS_NET_FWD_SYN_H
#define COVE_BACKENDS_NET_FWD_SYN_H

#include <stddef.h>
#include <stdint.h>

#define NET_FWD_SYN_SLOTS 128
#define NET_FWD_SYN_FRAME_MAX 128 /* a SYN: 14 + 20 + 20 + at most 40 bytes of options */
#define NET_FWD_SYN_RESEND_MS 1000
#define NET_FWD_SYN_LIMIT_MS 75000 /* slirp's connection-establishment limit */

struct net_fwd_syn_slot {
    uint32_t host_addr, guest_addr; /* as on the wire (network order) */
    uint16_t host_port, guest_port;
    uint32_t syn_seq;               /* slirp's */
    uint32_t syn_ack_seq;           /* the guest's, once answered */
    int64_t first_ms, next_ms;      /* next_ms 0: answered, no more re-sends */
    uint8_t state;                  /* 0 free, 1 waiting for the guest, 2 answered */
    uint8_t len;
    uint8_t frame[NET_FWD_SYN_FRAME_MAX];
};

struct net_fwd_syn {
    struct net_fwd_syn_slot slots[NET_FWD_SYN_SLOTS];
    uint64_t syn_resent, mss_stripped; /* for tests and logs */
};

/* A frame on its way to the guest: a SYN without ACK starts (or restarts) tracking. */
void net_fwd_syn_to_guest(struct net_fwd_syn *t, const void *frame, size_t len,
                          int64_t now_ms);

/* A frame from the guest, before slirp sees it. Returns the frame to hand slirp: frame
 * itself, or scratch holding a repeated SYN-ACK without its MSS option. */
const void *net_fwd_syn_from_guest(struct net_fwd_syn *t, const void *frame, size_t len,
                                   uint8_t scratch[NET_FWD_SYN_FRAME_MAX]);

typedef void (*net_fwd_syn_send_fn)(void *opaque, const void *frame, size_t len);

/* Hands every SYN that is due again to send(opaque, ...); returns the ms until the next
 * one is due, or -1 when none waits. */
int64_t net_fwd_syn_run(struct net_fwd_syn *t, int64_t now_ms, net_fwd_syn_send_fn send,
                        void *opaque);

#endif
