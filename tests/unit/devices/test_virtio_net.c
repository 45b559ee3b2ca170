/* virtio-net over the in-memory attachment (config, transmit, checksum offload, receive
 * before and after buffers are posted, oversize and malformed chains, the pending bound,
 * reset), through the I/O thread, the option parsers, and the slirp attachment (ARP and
 * a port already in use). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "util/state_format.h"
#include "vdriver.h"

#define NET_HDR 12
#define F_CSUM (1ull << 0)
#define F_MAC (1ull << 5)
#define F_STATUS (1ull << 16)

static const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

struct env {
    struct vdriver d;
    struct iothread *io;
    struct net_attachment *mem;
    struct virtio_net *dev;
};

static void setup_full(struct env *e, bool with_io, unsigned mem_frames, unsigned vnet_offloads,
                       uint64_t features)
{
    memset(e, 0, sizeof *e);
    struct cove_error err;
    if (with_io && iothread_create(&e->io, &err) < 0)
        exit(1);
    vd_ram_init(&e->d);
    if (net_mem_create(mem_frames, &e->mem) < 0)
        exit(1);
    if (vnet_offloads)
        net_mem_set_vnet(e->mem, vnet_offloads);
    struct virtio_mmio_params p = vd_params(&e->d, e->io);
    if (virtio_net_create(&p, e->mem, MAC, false, &e->d.t, &e->dev, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    vd_negotiate(&e->d, VD_BASE_FEATURES | F_MAC | F_STATUS | F_CSUM | features);
    vd_queue_setup(&e->d, 0, 16);
    vd_queue_setup(&e->d, 1, 16);
    vd_driver_ok(&e->d);
}

static void setup_with(struct env *e, bool with_io, unsigned mem_frames)
{
    setup_full(e, with_io, mem_frames, 0, 0);
}

static void setup(struct env *e) { setup_with(e, false, 64); }

static void teardown(struct env *e)
{
    vd_free(&e->d);
    if (e->io)
        iothread_destroy(e->io);
}

static struct virtio_net_stats stats(struct env *e)
{
    struct virtio_net_stats s;
    virtio_net_get_stats(e->dev, &s);
    return s;
}

/* Posts a transmit chain: header (with flags, gso, csum fields) in its own buffer, the
 * frame split in two. */
static void post_tx(struct env *e, const void *frame, size_t len, uint8_t flags,
                    uint16_t csum_start, uint16_t csum_offset)
{
    uint64_t h = vd_alloc(&e->d, NET_HDR), a = vd_alloc(&e->d, len), b;
    uint8_t hdr[NET_HDR] = {flags};
    memcpy(hdr + 6, &csum_start, 2);
    memcpy(hdr + 8, &csum_offset, 2);
    memcpy(vd_ptr(&e->d, h), hdr, NET_HDR);
    size_t first = len / 2;
    memcpy(vd_ptr(&e->d, a), frame, first);
    b = vd_alloc(&e->d, len - first);
    memcpy(vd_ptr(&e->d, b), (const uint8_t *)frame + first, len - first);
    struct vd_buf bufs[3] = {{h, NET_HDR, false}, {a, (uint32_t)first, false},
                             {b, (uint32_t)(len - first), false}};
    vd_post(&e->d, 1, bufs, 3);
    vd_notify(&e->d, 1);
}

static uint64_t post_rx(struct env *e, uint32_t len)
{
    uint64_t buf = vd_alloc(&e->d, len);
    memset(vd_ptr(&e->d, buf), 0xee, len);
    struct vd_buf b = {buf, len, true};
    vd_post(&e->d, 0, &b, 1);
    vd_notify(&e->d, 0);
    return buf;
}

static void make_frame(uint8_t *f, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed + i * 7);
}

TEST(config_and_features)
{
    struct env e;
    setup(&e);
    uint64_t f = vd_device_features(&e.d);
    CHECK(f & F_MAC);
    CHECK(f & F_STATUS);
    CHECK(f & F_CSUM);
    CHECK(f & (1ull << VIRTIO_F_VERSION_1));
    CHECK_EQ_U64(vd_rd(&e.d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
    for (unsigned i = 0; i < 6; i++) {
        uint64_t v = 0;
        virtio_mmio_read(e.d.t, VIRTIO_MMIO_CONFIG + i, 1, &v);
        CHECK_EQ_U64(v, MAC[i]);
    }
    uint64_t st = 0;
    virtio_mmio_read(e.d.t, VIRTIO_MMIO_CONFIG + 6, 2, &st);
    CHECK_EQ_U64(st, 1); /* link up */
    CHECK(f & (1ull << 3)); /* MTU: the attachment's */
    uint64_t mtu = 0;
    virtio_mmio_read(e.d.t, VIRTIO_MMIO_CONFIG + 10, 2, &mtu);
    CHECK_EQ_U64(mtu, NET_MTU_DEFAULT);
    teardown(&e);
}

TEST(tx_reaches_backend)
{
    struct env e;
    setup(&e);
    uint8_t frame[200], got[300];
    make_frame(frame, sizeof frame, 3);
    post_tx(&e, frame, sizeof frame, 0, 0, 0);
    uint32_t id = 0, len = 0;
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    CHECK_EQ_U64(len, 0);
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), sizeof frame);
    CHECK(!memcmp(got, frame, sizeof frame));
    CHECK_EQ_U64(stats(&e).tx_frames, 1);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

/* A rate-limited NIC (throttle.c): 5 frames sent at once (15 descriptors of the 16) under
 * ops=2 per 100 ms all reach the back end, none dropped; the last ones wait for the timer
 * (one token per 50 ms: the 5th after 150 ms; a lower bound only). */
TEST(tx_rate_limit_waits_for_tokens)
{
    struct env e;
    setup_with(&e, true, 64);
    struct cove_rate_limit rate = {.ops = {2, 100, 0}};
    struct cove_error err;
    REQUIRE(virtio_net_set_rate(e.d.t, &rate, &err) == 0);
    uint8_t frame[200];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint8_t i = 0; i < 5; i++) {
        make_frame(frame, sizeof frame, i);
        post_tx(&e, frame, sizeof frame, 0, 0, 0);
    }
    unsigned done = 0;
    uint32_t id, len;
    while (done < 5 && vd_get_used(&e.d, 1, &id, &len, 10000))
        done++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(done == 5);
    CHECK_EQ_U64(net_mem_sent(e.mem), 5);
    CHECK_EQ_U64(stats(&e).tx_frames, 5);
    CHECK_EQ_U64(stats(&e).tx_dropped, 0);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= 140);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

/* Independent reference: the UDP checksum over the pseudo-header and the datagram. */
static uint16_t udp_checksum_ref(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
    uint32_t sum = 0;
    for (int i = 12; i < 20; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    sum += 17 + (uint32_t)udp_len;
    for (size_t i = 0; i < udp_len; i += 2) {
        if (i == 6)
            continue; /* the checksum field itself counts as zero */
        sum += (uint32_t)udp[i] << 8 | (i + 1 < udp_len ? udp[i + 1] : 0);
    }
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum ? (uint16_t)~sum : 0xffff;
}

TEST(tx_checksum_offload)
{
    struct env e;
    setup(&e);
    /* Ethernet + IPv4 + UDP with an odd payload length. */
    uint8_t f[14 + 20 + 8 + 33] = {0};
    memset(f, 0xff, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *udp = ip + 20;
    ip[0] = 0x45;
    ip[9] = 17;
    memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15, 10, 0, 2, 2}, 8);
    size_t udp_len = 8 + 33;
    udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35;
    udp[4] = (uint8_t)(udp_len >> 8), udp[5] = (uint8_t)udp_len;
    for (unsigned i = 0; i < 33; i++)
        udp[8 + i] = (uint8_t)(i * 13 + 1);
    /* The guest stores the (uncomplemented) pseudo-header sum in the checksum field. */
    uint32_t ph = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + (uint32_t)udp_len;
    while (ph >> 16)
        ph = (ph & 0xffff) + (ph >> 16);
    udp[6] = (uint8_t)(ph >> 8), udp[7] = (uint8_t)ph;
    post_tx(&e, f, sizeof f, 1 /* NEEDS_CSUM */, 14 + 20, 6);
    uint32_t id = 0, len = 0;
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    uint8_t got[sizeof f];
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), sizeof f);
    uint16_t want = udp_checksum_ref(ip, udp, udp_len);
    CHECK_EQ_U64((uint16_t)(got[14 + 20 + 6] << 8 | got[14 + 20 + 7]), want);
    CHECK(!memcmp(got + 42, f + 42, 33)); /* payload untouched */

    /* Checksum offsets outside the frame: dropped, counted, the device goes on. */
    post_tx(&e, f, sizeof f, 1, 14 + 20, 100);
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), -EAGAIN);
    CHECK_EQ_U64(stats(&e).tx_dropped, 1);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

/* The vnet-header offloads (an attachment that carries them, as a TAP). */
#define F_GUEST_CSUM (1ull << 1)
#define F_GUEST_TSO4 (1ull << 7)
#define F_GUEST_TSO6 (1ull << 8)
#define F_HOST_TSO4 (1ull << 11)
#define F_HOST_TSO6 (1ull << 12)
#define ALL_OFFLOADS (NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6)

struct vhdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

/* A transmit chain with the whole header h (little-endian host assumed, as the rest). */
static void post_tx_hdr(struct env *e, const struct vhdr *h, const void *frame, size_t len)
{
    uint64_t a = vd_alloc(&e->d, NET_HDR), b = vd_alloc(&e->d, len);
    memcpy(vd_ptr(&e->d, a), h, NET_HDR);
    memcpy(vd_ptr(&e->d, b), frame, len);
    struct vd_buf bufs[2] = {{a, NET_HDR, false}, {b, (uint32_t)len, false}};
    vd_post(&e->d, 1, bufs, 2);
    vd_notify(&e->d, 1);
    uint32_t id = 0, used = 0;
    CHECK(vd_get_used(&e->d, 1, &id, &used, 1000));
}

TEST(offloads_offered_and_passed_on)
{
    struct env e;
    /* Plain attachments offer none of them. */
    setup(&e);
    uint64_t f = vd_device_features(&e.d);
    CHECK(!(f & (F_GUEST_CSUM | F_GUEST_TSO4 | F_HOST_TSO4 | F_HOST_TSO6)));
    teardown(&e);
    /* One with all of them: offered; what the driver took on receive reaches it. */
    setup_full(&e, false, 64, ALL_OFFLOADS, F_GUEST_CSUM | F_GUEST_TSO4 | F_HOST_TSO4);
    f = vd_device_features(&e.d);
    CHECK((f & (F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6)) ==
          (F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6));
    post_rx(&e, 2048);
    CHECK_EQ_U64(net_mem_offload(e.mem), NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
    teardown(&e);
}

TEST(tx_vnet_header_checked)
{
    struct env e;
    setup_full(&e, false, 64, ALL_OFFLOADS, F_HOST_TSO4);
    uint8_t f[14 + 20 + 20 + 3000] = {0}, got[NET_HDR + sizeof f];
    make_frame(f, sizeof f, 9);
    /* A TSO frame: header and frame reach the attachment as they are (num_buffers 0). */
    struct vhdr ok = {1, 1 /* TCPV4 */, 54, 1448, 34, 16, 7};
    post_tx_hdr(&e, &ok, f, sizeof f);
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), NET_HDR + sizeof f);
    struct vhdr want = ok;
    want.num_buffers = 0;
    CHECK(!memcmp(got, &want, NET_HDR));
    CHECK(!memcmp(got + NET_HDR, f, sizeof f));
    /* Each hostile field: dropped and counted, the device goes on. */
    struct vhdr bad[] = {
        {1, 1, 54, 0, 34, 16, 0},        /* segment size 0 */
        {1, 1, 60000, 1448, 34, 16, 0},  /* header length beyond the frame */
        {1, 1, 54, 1448, 3060, 16, 0},   /* checksum start beyond it */
        {1, 1, 54, 1448, 34, 65535, 0},  /* checksum field beyond it */
        {0, 1, 54, 1448, 0, 0, 0},       /* TSO without a partial checksum */
        {1, 4, 54, 1448, 34, 16, 0},     /* TCPV6: not negotiated */
        {1, 3, 54, 1448, 34, 16, 0},     /* UDP fragmentation: never offered */
        {1, 0x81, 54, 1448, 34, 16, 0},  /* ECN: never offered */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        post_tx_hdr(&e, &bad[i], f, sizeof f);
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), -EAGAIN);
    CHECK_EQ_U64(stats(&e).tx_dropped, sizeof bad / sizeof bad[0]);
    CHECK(!vd_needs_reset(&e.d));
    /* Unknown flags and a GSO-less header's leftovers are cleared. */
    struct vhdr junk = {0xfe, 0, 999, 999, 999, 999, 999};
    post_tx_hdr(&e, &junk, f, 60);
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), NET_HDR + 60);
    static const uint8_t zero[NET_HDR];
    CHECK(!memcmp(got, zero, NET_HDR));
    teardown(&e);
}

TEST(rx_vnet_header_fitted)
{
    /* A UDP frame with a partial checksum from the attachment. */
    uint8_t in[NET_HDR + 14 + 20 + 8 + 33] = {0}, *fr = in + NET_HDR;
    struct vhdr h = {1 /* NEEDS_CSUM */, 0, 0, 0, 34, 6, 0};
    memcpy(in, &h, NET_HDR);
    fr[12] = 0x08;
    uint8_t *ip = fr + 14, *udp = ip + 20;
    ip[0] = 0x45, ip[9] = 17;
    memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15, 10, 0, 2, 2}, 8);
    udp[5] = 8 + 33;
    for (unsigned i = 0; i < 33; i++)
        udp[8 + i] = (uint8_t)(i * 5 + 3);
    uint32_t ph = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + 41;
    udp[6] = (uint8_t)(ph >> 8), udp[7] = (uint8_t)ph;
    uint32_t id = 0, len = 0;
    struct env e;
    /* A driver with GUEST_CSUM gets it as it is (num_buffers 1). */
    setup_full(&e, false, 64, ALL_OFFLOADS, F_GUEST_CSUM);
    uint64_t b = post_rx(&e, 2048);
    CHECK_EQ_U64(net_mem_inject(e.mem, in, sizeof in), 0);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    CHECK_EQ_U64(len, sizeof in);
    struct vhdr want = h;
    want.num_buffers = 1;
    CHECK(!memcmp(vd_ptr(&e.d, b), &want, NET_HDR));
    CHECK(!memcmp((uint8_t *)vd_ptr(&e.d, b) + NET_HDR, fr, sizeof in - NET_HDR));
    /* Segmented frames it did not ask for, offsets outside the frame: dropped. */
    struct vhdr gso = {1, 1, 54, 1448, 34, 6, 0}, off = {1, 0, 0, 0, 90, 6, 0};
    memcpy(in, &gso, NET_HDR);
    CHECK_EQ_U64(net_mem_inject(e.mem, in, sizeof in), 0);
    memcpy(in, &off, NET_HDR);
    CHECK_EQ_U64(net_mem_inject(e.mem, in, sizeof in), 0);
    post_rx(&e, 2048); /* (they wait for a buffer; then both are dropped, and it stays) */
    CHECK_EQ_U64(stats(&e).rx_dropped, 2);
    CHECK(!vd_get_used(&e.d, 0, &id, &len, 10));
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
    /* A driver without it gets the checksum finished and a header of zeros. */
    memcpy(in, &h, NET_HDR);
    setup_full(&e, false, 64, ALL_OFFLOADS, 0);
    b = post_rx(&e, 2048);
    CHECK_EQ_U64(net_mem_inject(e.mem, in, sizeof in), 0);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    CHECK_EQ_U64(len, sizeof in);
    const uint8_t *p = vd_ptr(&e.d, b);
    static const uint8_t plain[NET_HDR] = {[10] = 1};
    CHECK(!memcmp(p, plain, NET_HDR));
    CHECK_EQ_U64((uint16_t)(p[NET_HDR + 40] << 8 | p[NET_HDR + 41]),
                 udp_checksum_ref(ip, udp, 41));
    CHECK_EQ_U64(net_mem_offload(e.mem), 0);
    teardown(&e);
}

TEST(tx_bad_frames_dropped)
{
    struct env e;
    setup(&e);
    uint8_t small[10] = {0}, got[64];
    post_tx(&e, small, sizeof small, 0, 0, 0); /* below an Ethernet header */
    uint32_t id = 0, len = 0;
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    /* GSO was not offered */
    uint64_t h = vd_alloc(&e.d, NET_HDR + 60);
    memset(vd_ptr(&e.d, h), 0, NET_HDR + 60);
    ((uint8_t *)vd_ptr(&e.d, h))[1] = 1; /* GSO_TCPV4 */
    struct vd_buf b = {h, NET_HDR + 60, false};
    vd_post(&e.d, 1, &b, 1);
    vd_notify(&e.d, 1);
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), -EAGAIN);
    CHECK_EQ_U64(stats(&e).tx_dropped, 2);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(tx_backend_full_counts_drop)
{
    struct env e;
    setup_with(&e, false, 1);
    uint8_t frame[60] = {0};
    uint32_t id = 0, len = 0;
    post_tx(&e, frame, sizeof frame, 0, 0, 0);
    post_tx(&e, frame, sizeof frame, 0, 0, 0);
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    CHECK(vd_get_used(&e.d, 1, &id, &len, 1000));
    CHECK_EQ_U64(stats(&e).tx_frames, 1);
    CHECK_EQ_U64(stats(&e).tx_dropped, 1);
    teardown(&e);
}

static void check_rx(struct env *e, uint64_t buf, const uint8_t *frame, size_t flen,
                     uint32_t used_len)
{
    CHECK_EQ_U64(used_len, NET_HDR + flen);
    const uint8_t *p = vd_ptr(&e->d, buf);
    static const uint8_t hdr[NET_HDR] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    CHECK(!memcmp(p, hdr, NET_HDR)); /* num_buffers = 1, nothing else */
    CHECK(!memcmp(p + NET_HDR, frame, flen));
}

TEST(rx_before_and_after_buffers)
{
    struct env e;
    setup(&e);
    uint8_t f1[100], f2[1514];
    make_frame(f1, sizeof f1, 1);
    make_frame(f2, sizeof f2, 2);
    /* No buffers yet: the frame waits. */
    CHECK_EQ_U64(net_mem_inject(e.mem, f1, sizeof f1), 0);
    uint32_t id = 0, len = 0;
    CHECK(!vd_get_used(&e.d, 0, &id, &len, 10));
    uint64_t b1 = post_rx(&e, 2048);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    check_rx(&e, b1, f1, sizeof f1, len);
    /* A buffer waits for the frame. */
    uint64_t b2 = post_rx(&e, 2048);
    vd_wr(&e.d, VIRTIO_MMIO_INTERRUPT_ACK, vd_rd(&e.d, VIRTIO_MMIO_INTERRUPT_STATUS));
    int raises = e.d.irq_raises;
    CHECK_EQ_U64(net_mem_inject(e.mem, f2, sizeof f2), 0);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    check_rx(&e, b2, f2, sizeof f2, len);
    CHECK(e.d.irq_raises > raises);
    CHECK_EQ_U64(stats(&e).rx_frames, 2);
    teardown(&e);
}

TEST(rx_through_iothread)
{
    struct env e;
    setup_with(&e, true, 64);
    uint64_t bufs[8];
    for (int i = 0; i < 8; i++)
        bufs[i] = post_rx(&e, 1600);
    uint8_t f[8][300];
    for (int i = 0; i < 8; i++) {
        make_frame(f[i], 60 + 30 * (size_t)i, (uint8_t)(i * 5));
        net_mem_inject(e.mem, f[i], 60 + 30 * (size_t)i);
    }
    for (int i = 0; i < 8; i++) {
        uint32_t id = 0, len = 0;
        CHECK(vd_get_used(&e.d, 0, &id, &len, 2000));
        check_rx(&e, bufs[i], f[i], 60 + 30 * (size_t)i, len);
    }
    /* and transmit on the I/O thread */
    post_tx(&e, f[0], 60, 0, 0, 0);
    uint32_t id = 0, len = 0;
    CHECK(vd_get_used(&e.d, 1, &id, &len, 2000));
    uint8_t got[64];
    CHECK_EQ_U64(net_mem_take(e.mem, got, sizeof got), 60);
    teardown(&e);
}

TEST(rx_frame_too_large_dropped)
{
    struct env e;
    setup(&e);
    uint64_t b = post_rx(&e, NET_HDR + 64);
    uint8_t big[200], small[64];
    make_frame(big, sizeof big, 9);
    make_frame(small, sizeof small, 4);
    net_mem_inject(e.mem, big, sizeof big);
    uint32_t id = 0, len = 0;
    CHECK(!vd_get_used(&e.d, 0, &id, &len, 10));
    CHECK_EQ_U64(stats(&e).rx_too_big, 1);
    CHECK_EQ_U64(stats(&e).rx_dropped, 1);
    /* The chain was kept for the next frame, which fits exactly. */
    net_mem_inject(e.mem, small, sizeof small);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 1000));
    check_rx(&e, b, small, sizeof small, len);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(rx_pending_is_bounded_and_reset_drops_it)
{
    struct env e;
    setup(&e);
    uint8_t f[64] = {0};
    for (int i = 0; i < 600; i++)
        net_mem_inject(e.mem, f, sizeof f);
    CHECK_EQ_U64(stats(&e).rx_dropped, 600 - 512);
    /* A driver reset forgets what waited; the next driver starts clean. */
    vd_negotiate(&e.d, VD_BASE_FEATURES | F_MAC);
    vd_queue_setup(&e.d, 0, 16);
    vd_queue_setup(&e.d, 1, 16);
    vd_driver_ok(&e.d);
    post_rx(&e, 128);
    uint32_t id = 0, len = 0;
    CHECK(!vd_get_used(&e.d, 0, &id, &len, 10));
    teardown(&e);
}

TEST(malformed_tx_chain_needs_reset)
{
    struct env e;
    setup(&e);
    uint64_t h = vd_alloc(&e.d, 8);
    struct vd_buf b = {h, 8, false}; /* shorter than the header */
    vd_post(&e.d, 1, &b, 1);
    vd_notify(&e.d, 1);
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);

    setup(&e);
    struct vd_buf out = {VD_RAM_BASE + VD_RAM_SIZE - 8, 64, false}; /* past RAM's end */
    vd_post(&e.d, 1, &out, 1);
    vd_notify(&e.d, 1);
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(malformed_rx_chain_needs_reset)
{
    struct env e;
    setup(&e);
    uint8_t f[60] = {0};
    net_mem_inject(e.mem, f, sizeof f);
    post_rx(&e, 8); /* no room for the header */
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);

    setup(&e);
    struct vd_buf ro = {vd_alloc(&e.d, 2048), 2048, false}; /* readable: nothing to write */
    vd_post(&e.d, 0, &ro, 1);
    vd_notify(&e.d, 0);
    net_mem_inject(e.mem, f, sizeof f);
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(forward_parse)
{
    struct net_forward f;
    struct cove_error err;
    CHECK_EQ_U64(net_forward_parse("tcp:8080:80", &f, &err), 0);
    CHECK(!f.udp);
    CHECK_EQ_U64(f.host_addr, 0x7f000001);
    CHECK_EQ_U64(f.host_port, 8080);
    CHECK_EQ_U64(f.guest_port, 80);
    CHECK_EQ_U64(net_forward_parse("udp:5353:53", &f, &err), 0);
    CHECK(f.udp);
    CHECK_EQ_U64(net_forward_parse("tcp:0.0.0.0:2222:22", &f, &err), 0);
    CHECK_EQ_U64(f.host_addr, 0);
    CHECK_EQ_U64(f.host_port, 2222);
    const char *bad[] = {"", "tcp", "tcp:80", "sctp:1:2", "tcp:0:80", "tcp:80:65536",
                         "tcp:80:x", "tcp:1.2.3:80:80", "tcp:a:b:c:d", "tcp:80:80:", "tcp::80",
                         "tcp:-1:80", "tcp: 80:80"};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.message[0] = 0;
        CHECK_EQ_U64(net_forward_parse(bad[i], &f, &err), -EINVAL);
        CHECK(strstr(err.message, "tcp:HOSTPORT:GUESTPORT") != NULL);
    }
}

TEST(mac_parse)
{
    uint8_t mac[6];
    struct cove_error err;
    CHECK_EQ_U64(net_mac_parse("52:54:00:aB:cd:EF", mac, &err), 0);
    CHECK(!memcmp(mac, MAC, 6));
    const char *bad[] = {"52:54:00:ab:cd", "52:54:00:ab:cd:ef:00", "52-54-00-ab-cd-ef",
                         "52:54:00:ab:cd:eg", "01:00:5e:00:00:01", " 2:54:00:ab:cd:ef"};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_U64(net_mac_parse(bad[i], mac, &err), -EINVAL);
    uint8_t a[6], b[6];
    net_mac_random(a);
    net_mac_random(b);
    CHECK(a[0] == 0x52 && a[1] == 0x54 && a[2] == 0x00);
    CHECK(memcmp(a, b, 6) != 0);
}

/* slirp: an ARP request for the gateway gets an answer from the slirp thread or inline. */
struct arp_wait {
    pthread_mutex_t lock;
    uint8_t frame[128];
    size_t len;
};

static void arp_rx(void *opaque, const void *frame, size_t len)
{
    struct arp_wait *w = opaque;
    pthread_mutex_lock(&w->lock);
    if (!w->len && len <= sizeof w->frame) {
        memcpy(w->frame, frame, len);
        w->len = len;
    }
    pthread_mutex_unlock(&w->lock);
}

TEST(slirp_answers_arp)
{
    struct net_attachment *n;
    struct cove_error err;
    CHECK_EQ_U64(net_slirp_open(NULL, 0, NULL, &n, &err), 0);
    struct arp_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER};
    CHECK_EQ_U64(n->ops->start(n, arp_rx, &w), 0);
    uint8_t f[42] = {0};
    memset(f, 0xff, 6);
    memcpy(f + 6, MAC, 6);
    f[12] = 0x08, f[13] = 0x06;                        /* ARP */
    memcpy(f + 14, (uint8_t[]){0, 1, 8, 0, 6, 4, 0, 1}, 8); /* Ethernet/IPv4, request */
    memcpy(f + 22, MAC, 6);
    memcpy(f + 28, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(f + 38, (uint8_t[]){10, 0, 2, 2}, 4);
    CHECK_EQ_U64(n->ops->send(n, f, sizeof f), 0);
    size_t got = 0;
    for (int i = 0; i < 2000 && !got; i++) {
        pthread_mutex_lock(&w.lock);
        got = w.len;
        pthread_mutex_unlock(&w.lock);
        if (!got)
            usleep(1000);
    }
    CHECK(got >= 42);
    CHECK(!memcmp(w.frame, MAC, 6));                   /* to us */
    CHECK(w.frame[12] == 0x08 && w.frame[13] == 0x06 && w.frame[21] == 2); /* ARP reply */
    CHECK(!memcmp(w.frame + 28, (uint8_t[]){10, 0, 2, 2}, 4));
    net_close(n);
}

TEST(slirp_forward_port_in_use)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 1) == 0);
    getsockname(s, (struct sockaddr *)&a, &alen);
    unsigned port = ntohs(a.sin_port);
    struct net_forward f = {.host_addr = 0x7f000001, .host_port = (uint16_t)port, .guest_port = 80};
    struct net_attachment *n = NULL;
    struct cove_error err = {0};
    CHECK_EQ_U64(net_slirp_open(&f, 1, NULL, &n, &err), -EADDRINUSE);
    char want[128];
    snprintf(want, sizeof want,
             "port %u on 127.0.0.1 is already in use; choose another --forward host port", port);
    CHECK_STR(err.message, want);
    close(s);
    /* Free now: the same forward binds, and is released on close. */
    CHECK_EQ_U64(net_slirp_open(&f, 1, NULL, &n, &err), 0);
    net_close(n);
    CHECK_EQ_U64(net_slirp_open(&f, 1, NULL, &n, &err), 0);
    net_close(n);
}

/* A restore takes the saved MAC back when the run drew one (no MAC configured) and keeps
 * the configured one otherwise: a clone of a suspended VM shows its own MAC. */
static void restore_mac(struct env *e, const struct state_file *f, bool keep,
                        const uint8_t want[6])
{
    static const uint8_t other[6] = {0x52, 0x54, 0x00, 0x11, 0x22, 0x33};
    struct net_attachment *mem;
    struct virtio_mmio *t;
    struct cove_error err;
    struct state_reader r;
    uint32_t version;
    CHECK_EQ_U64(net_mem_create(4, &mem), 0);
    struct virtio_mmio_params p = vd_params(&e->d, NULL);
    CHECK_EQ_U64(virtio_net_create(&p, mem, other, keep, &t, NULL, &err), 0);
    CHECK_EQ_U64(state_file_section(f, "virtio.0", &version, &r), 0);
    CHECK_EQ_U64(virtio_mmio_load(t, &r, &err), 0);
    for (unsigned i = 0; i < 6; i++) {
        uint64_t v = 0;
        virtio_mmio_read(t, VIRTIO_MMIO_CONFIG + i, 1, &v);
        CHECK_EQ_U64(v, want[i]);
    }
    virtio_mmio_destroy(t);
}

TEST(restore_keeps_configured_mac)
{
    static const uint8_t other[6] = {0x52, 0x54, 0x00, 0x11, 0x22, 0x33};
    struct env e;
    setup(&e);
    struct state_writer w;
    state_writer_init(&w);
    state_writer_section(&w, "virtio.0", 1);
    virtio_mmio_quiesce(e.d.t);
    CHECK_EQ_U64(virtio_mmio_save(e.d.t, &w), 0);
    virtio_mmio_unquiesce(e.d.t);
    CHECK_EQ_U64(state_writer_finish(&w), 0);
    struct state_file f;
    struct cove_error err;
    CHECK_EQ_U64(state_file_parse(w.data, w.len, "test", &f, &err), 0);
    restore_mac(&e, &f, false, MAC);
    restore_mac(&e, &f, true, other);
    state_writer_free(&w);
    teardown(&e);
}

int main(void)
{
    RUN(config_and_features);
    RUN(tx_reaches_backend);
    RUN(tx_rate_limit_waits_for_tokens);
    RUN(tx_checksum_offload);
    RUN(tx_bad_frames_dropped);
    RUN(offloads_offered_and_passed_on);
    RUN(tx_vnet_header_checked);
    RUN(rx_vnet_header_fitted);
    RUN(tx_backend_full_counts_drop);
    RUN(rx_before_and_after_buffers);
    RUN(rx_through_iothread);
    RUN(rx_frame_too_large_dropped);
    RUN(rx_pending_is_bounded_and_reset_drops_it);
    RUN(malformed_tx_chain_needs_reset);
    RUN(malformed_rx_chain_needs_reset);
    RUN(forward_parse);
    RUN(mac_parse);
    RUN(slirp_answers_arp);
    RUN(slirp_forward_port_in_use);
    RUN(restore_keeps_configured_mac);
    return test_summary();
}
