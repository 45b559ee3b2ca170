/* The slirp attachment against a scripted guest TCP: a --forward connection from the host
 * whose guest drops the first SYN (a full listen queue) or answers it twice (its
 * SYN-ACK retransmitted while the ACK that completes the handshake was dropped). Either
 * way the host's bytes must reach the guest within a few seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "backends/net.h"
#include "backends/net_fwd_syn.h"

static const uint8_t GUEST_MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t GUEST_IP[4] = {10, 0, 2, 15}, HOST_IP[4] = {10, 0, 2, 2};
#define GUEST_PORT 80
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* Frames slirp hands the guest, in order. */
struct inbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint8_t frames[64][256];
    size_t lens[64];
    unsigned head, count;
};

static void inbox_rx(void *opaque, const void *frame, size_t len)
{
    struct inbox *b = opaque;
    pthread_mutex_lock(&b->lock);
    if (b->count < 64 && len <= 256) {
        unsigned i = (b->head + b->count++) % 64;
        memcpy(b->frames[i], frame, len);
        b->lens[i] = len;
        pthread_cond_signal(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
}

struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    size_t dlen;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* The next TCP segment slirp sends the guest within timeout_ms (other frames skipped);
 * false on timeout. */
static bool next_seg(struct inbox *b, int timeout_ms, struct seg *s)
{
    int64_t end = now_ms() + timeout_ms;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (b->count) {
            const uint8_t *f = b->frames[b->head];
            size_t len = b->lens[b->head];
            b->head = (b->head + 1) % 64;
            b->count--;
            if (len < 54 || get16(f + 12) != 0x0800 || f[23] != 6)
                continue;
            const uint8_t *ip = f + 14, *t = ip + (ip[0] & 15) * 4;
            *s = (struct seg){get16(t), get16(t + 2), get32(t + 4), get32(t + 8), t[13],
                              get16(ip + 2) - (size_t)(ip[0] & 15) * 4 - (size_t)(t[12] >> 4) * 4};
            pthread_mutex_unlock(&b->lock);
            return true;
        }
        int64_t left = end - now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&b->cond, &b->lock, &ts);
    }
    pthread_mutex_unlock(&b->lock);
    return false;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

/* The TCP checksum of a frame built below, its checksum field counted as zero. */
static uint16_t tcp_csum(const uint8_t *f)
{
    const uint8_t *ip = f + 14, *t = ip + 20;
    size_t tcplen = get16(ip + 2) - 20u;
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = 6, pseudo[11] = (uint8_t)tcplen;
    uint8_t seg[40];
    memcpy(seg, t, tcplen);
    seg[16] = seg[17] = 0;
    return csum_fold(csum_add(csum_add(0, pseudo, 12), seg, tcplen));
}

/* Builds an Ethernet/IPv4/TCP frame from src to dst (addresses as 4 bytes, ports in host
 * order); SYNs carry MSS 65480. Returns its length. */
static size_t build_tcp(uint8_t f[58], const uint8_t src[4], uint16_t sport,
                        const uint8_t dst[4], uint16_t dport, uint32_t seq, uint32_t ack,
                        uint8_t flags)
{
    size_t tcplen = flags & TH_SYN ? 24 : 20;
    memset(f, 0, 58);
    memcpy(f, (uint8_t[]){0x52, 0x55, 10, 0, 2, 2}, 6);
    memcpy(f + 6, GUEST_MAC, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *t = ip + 20;
    ip[0] = 0x45;
    ip[2] = 0, ip[3] = (uint8_t)(20 + tcplen);
    ip[8] = 64, ip[9] = 6;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint16_t c = csum_fold(csum_add(0, ip, 20));
    ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport;
    t[2] = (uint8_t)(dport >> 8), t[3] = (uint8_t)dport;
    for (int i = 0; i < 4; i++) {
        t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
        t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    }
    t[12] = (uint8_t)((tcplen / 4) << 4);
    t[13] = flags;
    t[14] = 0xfa, t[15] = 0xf0; /* window 64240 */
    if (tcplen == 24)
        memcpy(t + 20, (uint8_t[]){2, 4, 0xff, 0xc8}, 4); /* MSS 65480 */
    c = tcp_csum(f);
    t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c;
    return 14 + 20 + tcplen;
}

/* Sends the guest's segment 10.0.2.15:80 -> 10.0.2.2:dport. */
static void guest_send(struct net_attachment *n, uint16_t dport, uint32_t seq, uint32_t ack,
                       uint8_t flags)
{
    uint8_t f[58];
    n->ops->send(n, f, build_tcp(f, GUEST_IP, GUEST_PORT, HOST_IP, dport, seq, ack, flags));
}

/* An ARP request from the guest, so that slirp knows its MAC. */
static void guest_arp(struct net_attachment *n)
{
    uint8_t f[42] = {0};
    memset(f, 0xff, 6);
    memcpy(f + 6, GUEST_MAC, 6);
    f[12] = 0x08, f[13] = 0x06;
    memcpy(f + 14, (uint8_t[]){0, 1, 8, 0, 6, 4, 0, 1}, 8);
    memcpy(f + 22, GUEST_MAC, 6);
    memcpy(f + 28, GUEST_IP, 4);
    memcpy(f + 38, HOST_IP, 4);
    n->ops->send(n, f, sizeof f);
}

struct fwd {
    struct net_attachment *n;
    struct inbox box;
    int client;
};

/* A slirp attachment with a forward from an ephemeral port, and a host client connected
 * to it; false when that cannot be set up here. */
static bool fwd_open(struct fwd *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->box.lock, NULL);
    pthread_cond_init(&w->box.cond, NULL);
    /* An ephemeral port that is free now. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) < 0)
        return false;
    close(s);
    struct net_forward f = {.host_addr = 0x7f000001, .host_port = ntohs(a.sin_port),
                            .guest_port = GUEST_PORT};
    struct cove_error err;
    if (net_slirp_open(&f, 1, NULL, &w->n, &err) < 0 || w->n->ops->start(w->n, inbox_rx, &w->box) < 0)
        return false;
    guest_arp(w->n);
    w->client = socket(AF_INET, SOCK_STREAM, 0);
    return connect(w->client, (struct sockaddr *)&a, sizeof a) == 0;
}

static void fwd_close(struct fwd *w)
{
    close(w->client);
    net_close(w->n);
}

/* The first TCP segment to the guest whose flags match want (others skipped). */
static bool wait_flags(struct fwd *w, int timeout_ms, uint8_t want, struct seg *s)
{
    int64_t end = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - now_ms());
        if (left <= 0 || !next_seg(&w->box, left, s))
            return false;
        if ((s->flags & (TH_SYN | TH_ACK | TH_FIN | TH_RST)) == want)
            return true;
    }
}

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
#define REQ_LEN (sizeof REQUEST - 1)

/* The host's request to the guest, with the time the guest saw it (its first copy after
 * a dropped one); -1 when it never came within timeout_ms. */
static int64_t wait_data(struct fwd *w, int timeout_ms, uint32_t seq, struct seg *s)
{
    int64_t t0 = now_ms();
    while (now_ms() - t0 < timeout_ms) {
        if (!next_seg(&w->box, (int)(timeout_ms - (now_ms() - t0)), s))
            break;
        if (s->dlen == REQ_LEN && s->seq == seq)
            return now_ms() - t0;
    }
    return -1;
}

/* The guest drops the first SYN (as Linux does with a full accept queue): the next one
 * must come well before slirp's own retransmission, 6 s later. */
TEST(forward_syn_dropped_is_sent_again)
{
    struct fwd w;
    if (!fwd_open(&w)) {
        printf("  skip: no loopback forward here\n");
        return;
    }
    struct seg syn = {0}, again = {0};
    CHECK(wait_flags(&w, 3000, TH_SYN, &syn));
    int64_t t0 = now_ms();
    CHECK(wait_flags(&w, 3000, TH_SYN, &again));
    CHECK(now_ms() - t0 < 2500);
    CHECK_EQ_U64(again.seq, syn.seq);
    CHECK_EQ_U64(again.sport, syn.sport);
    /* Answered now: the connection carries the host's bytes, and no SYN follows. */
    guest_send(w.n, syn.sport, 5000, syn.seq + 1, TH_SYN | TH_ACK);
    CHECK(write(w.client, REQUEST, REQ_LEN) == (ssize_t)REQ_LEN);
    struct seg d;
    CHECK(wait_data(&w, 3000, syn.seq + 1, &d) >= 0);
    guest_send(w.n, syn.sport, 5001, syn.seq + 1 + REQ_LEN, TH_ACK);
    CHECK(!wait_flags(&w, 1500, TH_SYN, &again));
    fwd_close(&w);
}

/* The guest took the SYN but dropped the ACK that completed the handshake and the
 * request after it (its accept queue was full); it retransmits its SYN-ACK, slirp
 * answers with an ACK, and the request must come again. libslirp 4.7 loses it: the
 * MSS option of the repeated SYN-ACK makes tcp_mss() re-reserve (and empty) the send
 * buffer, so its retransmission finds nothing to send. */
TEST(forward_request_survives_repeated_syn_ack)
{
    struct fwd w;
    if (!fwd_open(&w)) {
        printf("  skip: no loopback forward here\n");
        return;
    }
    struct seg syn = {0}, s;
    CHECK(wait_flags(&w, 3000, TH_SYN, &syn));
    guest_send(w.n, syn.sport, 7000, syn.seq + 1, TH_SYN | TH_ACK);
    CHECK(write(w.client, REQUEST, REQ_LEN) == (ssize_t)REQ_LEN);
    CHECK(wait_data(&w, 3000, syn.seq + 1, &s) >= 0); /* dropped by the guest */
    guest_send(w.n, syn.sport, 7000, syn.seq + 1, TH_SYN | TH_ACK);
    int64_t t = wait_data(&w, 8000, syn.seq + 1, &s);
    printf("  request again after %lld ms\n", (long long)t);
    CHECK(t >= 0);
    fwd_close(&w);
}

/* The tracker alone: only a repeated SYN-ACK of a tracked connection loses its MSS option
 * (with a checksum that still holds); the first passes as it is, and so does everything
 * after the guest's handshake is complete. */
static void count_send(void *opaque, const void *frame, size_t len)
{
    (void)frame, (void)len;
    (*(unsigned *)opaque)++;
}

TEST(fwd_syn_strips_mss_of_repeated_syn_ack_only)
{
    static struct net_fwd_syn t;
    memset(&t, 0, sizeof t);
    uint8_t syn[58], synack[58], ack[58], scratch[NET_FWD_SYN_FRAME_MAX];
    size_t n = build_tcp(syn, HOST_IP, 40000, GUEST_IP, 80, 100, 0, TH_SYN);
    net_fwd_syn_to_guest(&t, syn, n, 1000);
    unsigned sent = 0;
    CHECK_EQ_U64(net_fwd_syn_run(&t, 1500, count_send, &sent), 500);
    CHECK_EQ_U64(net_fwd_syn_run(&t, 2000, count_send, &sent), 1000);
    CHECK_EQ_U64(sent, 1);
    size_t m = build_tcp(synack, GUEST_IP, 80, HOST_IP, 40000, 900, 101, TH_SYN | TH_ACK);
    CHECK(net_fwd_syn_from_guest(&t, synack, m, scratch) == synack);
    CHECK_EQ_U64(net_fwd_syn_run(&t, 5000, count_send, &sent), (uint64_t)-1); /* answered */
    const uint8_t *again = net_fwd_syn_from_guest(&t, synack, m, scratch);
    CHECK(again == scratch);
    CHECK(!memcmp(again + 54, (uint8_t[]){1, 1, 1, 1}, 4));
    CHECK_EQ_U64(get16(again + 50), tcp_csum(again));
    CHECK_EQ_U64(t.mss_stripped, 1);
    /* another connection's SYN-ACK, and the first one's after its handshake: untouched */
    uint8_t other[58];
    size_t o = build_tcp(other, GUEST_IP, 80, HOST_IP, 40001, 900, 101, TH_SYN | TH_ACK);
    CHECK(net_fwd_syn_from_guest(&t, other, o, scratch) == other);
    size_t k = build_tcp(ack, GUEST_IP, 80, HOST_IP, 40000, 901, 101, TH_ACK);
    CHECK(net_fwd_syn_from_guest(&t, ack, k, scratch) == ack);
    CHECK(net_fwd_syn_from_guest(&t, synack, m, scratch) == synack);
    /* slirp's SYN is given up with slirp's own limit */
    net_fwd_syn_to_guest(&t, syn, n, 10000);
    CHECK(net_fwd_syn_run(&t, 10000 + NET_FWD_SYN_LIMIT_MS, count_send, &sent) == -1);
}

/* Truncated and malformed frames from the guest are left alone and read nothing past
 * their end (run under ASan in CI). */
TEST(fwd_syn_ignores_malformed_frames)
{
    static struct net_fwd_syn t;
    memset(&t, 0, sizeof t);
    uint8_t syn[58], synack[58], scratch[NET_FWD_SYN_FRAME_MAX];
    size_t n = build_tcp(syn, HOST_IP, 40000, GUEST_IP, 80, 100, 0, TH_SYN);
    net_fwd_syn_to_guest(&t, syn, n, 0);
    size_t m = build_tcp(synack, GUEST_IP, 80, HOST_IP, 40000, 900, 101, TH_SYN | TH_ACK);
    CHECK(net_fwd_syn_from_guest(&t, synack, m, scratch) == synack);
    for (size_t len = 0; len < m; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, synack, len);
        CHECK(net_fwd_syn_from_guest(&t, cut, len, scratch) == cut);
        free(cut);
    }
    uint8_t bad[58];
    memcpy(bad, synack, m);
    bad[14 + 20 + 12] = 0xf0; /* data offset 60 past the segment */
    CHECK(net_fwd_syn_from_guest(&t, bad, m, scratch) == bad);
    memcpy(bad, synack, m);
    bad[14] = 0x4f; /* IP header of 60 bytes */
    CHECK(net_fwd_syn_from_guest(&t, bad, m, scratch) == bad);
    memcpy(bad, synack, m);
    bad[14 + 20 + 21] = 40; /* an option running past the header */
    CHECK(net_fwd_syn_from_guest(&t, bad, m, scratch) == scratch);
    CHECK(!memcmp(scratch + 54, bad + 54, 4)); /* left as it was */
}

int main(void)
{
    RUN(fwd_syn_strips_mss_of_repeated_syn_ack_only);
    RUN(fwd_syn_ignores_malformed_frames);
    RUN(forward_syn_dropped_is_sent_again);
    RUN(forward_request_survives_repeated_syn_ack);
    return test_summary();
}
