/* The virtio-mmio transport and the virtqueue walker, driven through MMIO with rings laid
 * out in fake guest RAM; virtio-rng is the device under test (it only fills buffers). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "vdriver.h"

static void rng_dev(struct vdriver *d, struct iothread *io)
{
    vd_ram_init(d);
    struct virtio_mmio_params p = vd_params(d, io);
    struct cove_error err;
    if (virtio_rng_create(&p, &d->t, &err) < 0) {
        printf("  virtio_rng_create: %s\n", err.message);
        exit(1);
    }
}

/* A running rng with queue 0 of 16 entries. */
static void rng_running(struct vdriver *d, uint64_t features)
{
    rng_dev(d, NULL);
    vd_negotiate(d, features);
    vd_queue_setup(d, 0, 16);
    vd_driver_ok(d);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

TEST(identity_registers)
{
    struct vdriver d;
    rng_dev(&d, NULL);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_VERSION), 2);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_STATUS), 0);
    /* Registers are 32-bit: other widths read 0 and writes are ignored. */
    uint64_t v = 1;
    virtio_mmio_read(d.t, VIRTIO_MMIO_MAGIC_VALUE, 2, &v);
    CHECK_EQ_U64(v, 0);
    vd_free(&d);
}

TEST(feature_negotiation)
{
    struct vdriver d;
    rng_dev(&d, NULL);
    uint64_t f = vd_device_features(&d);
    CHECK(f & (1ull << VIRTIO_F_VERSION_1));
    CHECK(f & (1ull << VIRTIO_F_RING_EVENT_IDX));
    CHECK(f & (1ull << VIRTIO_F_INDIRECT_DESC));
    vd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);

    /* A feature that was not offered: FEATURES_OK does not stick. */
    CHECK(!(vd_negotiate(&d, VD_BASE_FEATURES | (1ull << 40)) & VIRTIO_STATUS_FEATURES_OK));
    /* Legacy (no VERSION_1) is refused too. */
    CHECK(!(vd_negotiate(&d, 0) & VIRTIO_STATUS_FEATURES_OK));
    /* A bit in a third feature word. */
    vd_wr(&d, VIRTIO_MMIO_STATUS, 0);
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    vd_wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK);
    CHECK(!(vd_rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK));
    /* DRIVER_OK without FEATURES_OK does not make the device live. */
    vd_wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_DRIVER_OK);
    CHECK(!(vd_rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK));

    uint32_t st = vd_negotiate(&d, VD_BASE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX));
    CHECK(st & VIRTIO_STATUS_FEATURES_OK);
    /* Features are frozen after FEATURES_OK. */
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vd_wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    vd_wr(&d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
    CHECK(vd_rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    vd_free(&d);
}

static void expect_setup_refused(uint16_t num, uint64_t desc_shift, const char *what)
{
    struct vdriver d;
    rng_dev(&d, NULL);
    vd_negotiate(&d, VD_BASE_FEATURES);
    d.q[0].size = num;
    vd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    vd_wr(&d, VIRTIO_MMIO_QUEUE_NUM, num);
    uint64_t desc = VD_RAM_BASE + desc_shift;
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(VD_RAM_BASE + 0x20000));
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(VD_RAM_BASE >> 32));
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(VD_RAM_BASE + 0x30000));
    vd_wr(&d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(VD_RAM_BASE >> 32));
    vd_wr(&d, VIRTIO_MMIO_QUEUE_READY, 1);
    if (vd_rd(&d, VIRTIO_MMIO_QUEUE_READY) != 0 || !vd_needs_reset(&d)) {
        printf("  setup with %s was accepted\n", what);
        CHECK(0);
    }
    vd_free(&d);
}

TEST(queue_setup_checks)
{
    struct vdriver d;
    rng_dev(&d, NULL);
    vd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
    vd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* no such queue */
    /* Enabling before FEATURES_OK is refused. */
    vd_queue_setup(&d, 0, 16);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
    vd_free(&d);

    expect_setup_refused(12, 0x10000, "size not a power of two");
    expect_setup_refused(128, 0x10000, "size above max");
    expect_setup_refused(0, 0x10000, "size 0");
    expect_setup_refused(16, 0x10008, "misaligned descriptor table");
    expect_setup_refused(16, VD_RAM_SIZE - 64, "table past the end of RAM");
    expect_setup_refused(16, (uint64_t)-VD_RAM_BASE, "table at address 0");

    rng_dev(&d, NULL);
    vd_negotiate(&d, VD_BASE_FEATURES);
    vd_queue_setup(&d, 0, 16);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 1);
    CHECK(!vd_needs_reset(&d));
    /* Layout registers are frozen while the queue is enabled. */
    vd_wr(&d, VIRTIO_MMIO_QUEUE_NUM, 8);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_NUM), 16);
    vd_free(&d);
}

TEST(rng_request_and_interrupt)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES);
    uint64_t buf = vd_alloc(&d, 64);
    struct vd_buf b = {buf, 64, true};
    uint16_t head = vd_post(&d, 0, &b, 1);
    CHECK_EQ_U64(d.irq_level, 0);
    vd_notify(&d, 0);
    uint32_t id = 99, len = 0;
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(id, head);
    CHECK_EQ_U64(len, 64);
    CHECK(!all_zero(vd_ptr(&d, buf), 64));
    CHECK_EQ_U64(d.irq_level, 1);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
    vd_wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    CHECK_EQ_U64(d.irq_level, 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    /* A chain of several buffers, split across descriptors. */
    uint64_t b2 = vd_alloc(&d, 300);
    struct vd_buf bufs[3] = {{b2, 100, true}, {b2 + 100, 100, true}, {b2 + 200, 100, true}};
    vd_post(&d, 0, bufs, 3);
    vd_notify(&d, 0);
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(len, 300);
    CHECK(!all_zero(vd_ptr(&d, b2 + 200), 100));
    vd_free(&d);
}

TEST(reset_quiesces)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES);
    struct vd_buf b = {vd_alloc(&d, 16), 16, true};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK_EQ_U64(d.irq_level, 1);
    vd_wr(&d, VIRTIO_MMIO_STATUS, 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_STATUS), 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    CHECK_EQ_U64(d.irq_level, 0);
    /* A notify after reset does nothing. */
    uint16_t before = vd_used_idx(&d, 0);
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK_EQ_U64(vd_used_idx(&d, 0), before);
    vd_free(&d);
}

TEST(indirect_descriptors)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES | (1ull << VIRTIO_F_INDIRECT_DESC));
    uint64_t table = vd_alloc(&d, 32), data = vd_alloc(&d, 64);
    uint8_t *t = vd_ptr(&d, table);
    uint64_t a0 = data, a1 = data + 32;
    uint32_t l = 32;
    uint16_t f0 = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, f1 = VIRTQ_DESC_F_WRITE, n0 = 1, n1 = 0;
    memcpy(t, &a0, 8); memcpy(t + 8, &l, 4); memcpy(t + 12, &f0, 2); memcpy(t + 14, &n0, 2);
    memcpy(t + 16, &a1, 8); memcpy(t + 24, &l, 4); memcpy(t + 28, &f1, 2); memcpy(t + 30, &n1, 2);
    vd_put_desc(&d, 0, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(&d, 0, 0);
    vd_notify(&d, 0);
    uint32_t id, len;
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(len, 64);
    CHECK(!all_zero(vd_ptr(&d, data + 32), 32));
    CHECK(!vd_needs_reset(&d));
    vd_free(&d);
}

/* Each violation: NEEDS_RESET, a config interrupt, nothing used, and the device works
 * again after a reset. */
typedef void (*violation_fn)(struct vdriver *d);

static void run_violation(const char *name, uint64_t features, violation_fn make)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES | features);
    make(&d);
    vd_notify(&d, 0);
#define VIOLATION_CHECK(cond)                                                             \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("  %s:%d: violation \"%s\": %s failed\n", __FILE__, __LINE__, name,   \
                   #cond);                                                                \
            test_current_failed = 1;                                                      \
        }                                                                                 \
    } while (0)
    VIOLATION_CHECK(vd_needs_reset(&d));
    VIOLATION_CHECK(vd_used_idx(&d, 0) == 0);
    VIOLATION_CHECK(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    VIOLATION_CHECK(d.irq_level);
    /* Further notifies are ignored, the queue stays stopped. */
    vd_notify(&d, 0);
    VIOLATION_CHECK(vd_used_idx(&d, 0) == 0 /* after a second notify */);
    /* Reset and a fresh setup bring the device back. */
    vd_negotiate(&d, VD_BASE_FEATURES);
    memset(vd_ptr(&d, VD_RAM_BASE), 0, 1 << 20);
    vd_queue_setup(&d, 0, 16);
    vd_driver_ok(&d);
    struct vd_buf b = {vd_alloc(&d, 8), 8, true};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    uint32_t id, len = 0;
    VIOLATION_CHECK(!vd_needs_reset(&d) /* after a reset */);
    VIOLATION_CHECK(vd_get_used(&d, 0, &id, &len, 0) /* after a reset */);
    VIOLATION_CHECK(len == 8);
#undef VIOLATION_CHECK
    vd_free(&d);
}

static void v_loop(struct vdriver *d)
{
    uint64_t b = vd_alloc(d, 16);
    vd_put_desc(d, 0, 0, b, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    vd_put_desc(d, 0, 1, b, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    vd_avail(d, 0, 0);
}

static void v_self_loop(struct vdriver *d)
{
    vd_put_desc(d, 0, 3, vd_alloc(d, 8), 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    vd_avail(d, 0, 3);
}

static void v_head_out_of_range(struct vdriver *d) { vd_avail(d, 0, 16); }

static void v_next_out_of_range(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, vd_alloc(d, 8), 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0xffff);
    vd_avail(d, 0, 0);
}

static void v_addr_outside(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, 0x1000, 8, VIRTQ_DESC_F_WRITE, 0);
    vd_avail(d, 0, 0);
}

static void v_oversize(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, VD_RAM_BASE + VD_RAM_SIZE - 8, 4096, VIRTQ_DESC_F_WRITE, 0);
    vd_avail(d, 0, 0);
}

static void v_wrapping_length(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, ~0ull - 3, 0xffffffff, VIRTQ_DESC_F_WRITE, 0);
    vd_avail(d, 0, 0);
}

static void v_indirect_bad_len(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, vd_alloc(d, 64), 24, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(d, 0, 0);
}

/* A well-formed indirect table (one writable 8-byte buffer): wrong only when
 * INDIRECT_DESC was not negotiated. */
static void v_indirect_well_formed(struct vdriver *d)
{
    uint64_t t = vd_alloc(d, 16), b = vd_alloc(d, 8);
    uint8_t *p = vd_ptr(d, t);
    uint32_t l = 8;
    uint16_t f = VIRTQ_DESC_F_WRITE, n = 0;
    memcpy(p, &b, 8); memcpy(p + 8, &l, 4); memcpy(p + 12, &f, 2); memcpy(p + 14, &n, 2);
    vd_put_desc(d, 0, 0, t, 16, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(d, 0, 0);
}

static void v_indirect_outside(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, VD_RAM_BASE + VD_RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(d, 0, 0);
}

static void v_indirect_nested(struct vdriver *d)
{
    uint64_t t = vd_alloc(d, 16);
    uint8_t *p = vd_ptr(d, t);
    uint64_t a = t;
    uint32_t l = 16;
    uint16_t f = VIRTQ_DESC_F_INDIRECT, n = 0;
    memcpy(p, &a, 8); memcpy(p + 8, &l, 4); memcpy(p + 12, &f, 2); memcpy(p + 14, &n, 2);
    vd_put_desc(d, 0, 0, t, 16, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(d, 0, 0);
}

static void v_indirect_loop(struct vdriver *d)
{
    uint64_t t = vd_alloc(d, 32), b = vd_alloc(d, 8);
    uint8_t *p = vd_ptr(d, t);
    uint32_t l = 8;
    uint16_t f = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, n0 = 1, n1 = 0;
    memcpy(p, &b, 8); memcpy(p + 8, &l, 4); memcpy(p + 12, &f, 2); memcpy(p + 14, &n0, 2);
    memcpy(p + 16, &b, 8); memcpy(p + 24, &l, 4); memcpy(p + 28, &f, 2); memcpy(p + 30, &n1, 2);
    vd_put_desc(d, 0, 0, t, 32, VIRTQ_DESC_F_INDIRECT, 0);
    vd_avail(d, 0, 0);
}

static void v_indirect_with_next(struct vdriver *d)
{
    vd_put_desc(d, 0, 0, vd_alloc(d, 16), 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    vd_avail(d, 0, 0);
}

static void v_avail_jump(struct vdriver *d)
{
    d->q[0].avail_idx = 17; /* more than the 16 entries of the ring */
    vd_avail(d, 0, 0);
}

static void v_readable_after_writable(struct vdriver *d)
{
    uint64_t b = vd_alloc(d, 16);
    struct vd_buf bufs[2] = {{b, 8, true}, {b + 8, 8, false}};
    vd_post(d, 0, bufs, 2);
}

TEST(violations_need_reset)
{
    run_violation("descriptor loop", 0, v_loop);
    run_violation("descriptor pointing at itself", 0, v_self_loop);
    run_violation("head index out of range", 0, v_head_out_of_range);
    run_violation("next index out of range", 0, v_next_out_of_range);
    run_violation("address outside RAM", 0, v_addr_outside);
    run_violation("length past the end of RAM", 0, v_oversize);
    run_violation("address + length wraps", 0, v_wrapping_length);
    run_violation("indirect table length not a multiple of 16", 1ull << VIRTIO_F_INDIRECT_DESC,
                  v_indirect_bad_len);
    run_violation("indirect table outside RAM", 1ull << VIRTIO_F_INDIRECT_DESC,
                  v_indirect_outside);
    run_violation("nested indirect", 1ull << VIRTIO_F_INDIRECT_DESC, v_indirect_nested);
    run_violation("loop inside an indirect table", 1ull << VIRTIO_F_INDIRECT_DESC,
                  v_indirect_loop);
    run_violation("indirect with NEXT", 1ull << VIRTIO_F_INDIRECT_DESC, v_indirect_with_next);
    run_violation("indirect not negotiated", 0, v_indirect_well_formed);
    run_violation("avail index jump", 0, v_avail_jump);
    run_violation("readable after writable", 0, v_readable_after_writable);
}

/* The control for "indirect not negotiated": with the feature the same table is served. */
TEST(well_formed_indirect_is_served)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES | (1ull << VIRTIO_F_INDIRECT_DESC));
    v_indirect_well_formed(&d);
    vd_notify(&d, 0);
    uint32_t id, len = 0;
    CHECK(!vd_needs_reset(&d));
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(len, 8);
    vd_free(&d);
}

static uint16_t *used_event(struct vdriver *d) { return vd_ptr(d, d->q[0].avail + 4 + 2 * 16); }
static uint16_t *avail_event(struct vdriver *d) { return vd_ptr(d, d->q[0].used + 4 + 8 * 16); }

TEST(event_idx_suppression)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX));
    struct vd_buf b = {vd_alloc(&d, 8), 8, true};
    uint32_t id, len;
    *used_event(&d) = 1; /* interrupt only once used->idx passes 1 */
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(d.irq_raises, 0);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    /* The device asked to be notified at the next avail index. */
    CHECK_EQ_U64(*avail_event(&d), 1);
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(d.irq_raises, 1);
    CHECK_EQ_U64(*avail_event(&d), 2);
    vd_free(&d);
}

TEST(no_interrupt_flag)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES);
    *(uint16_t *)vd_ptr(&d, d.q[0].avail) = VIRTQ_AVAIL_F_NO_INTERRUPT;
    struct vd_buf b = {vd_alloc(&d, 8), 8, true};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    uint32_t id, len;
    CHECK(vd_get_used(&d, 0, &id, &len, 0));
    CHECK_EQ_U64(d.irq_raises, 0);
    vd_free(&d);
}

TEST(notify_before_driver_ok_waits)
{
    struct vdriver d;
    rng_dev(&d, NULL);
    vd_negotiate(&d, VD_BASE_FEATURES);
    vd_queue_setup(&d, 0, 16);
    struct vd_buf b = {vd_alloc(&d, 8), 8, true};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK_EQ_U64(vd_used_idx(&d, 0), 0);
    vd_driver_ok(&d); /* buffers posted before DRIVER_OK are taken now */
    CHECK_EQ_U64(vd_used_idx(&d, 0), 1);
    vd_free(&d);
}

TEST(iothread_runs_queue)
{
    struct iothread *io;
    struct cove_error err;
    REQUIRE(iothread_create(&io, &err) == 0);
    struct vdriver d;
    rng_dev(&d, io);
    vd_negotiate(&d, VD_BASE_FEATURES);
    vd_queue_setup(&d, 0, 16);
    vd_driver_ok(&d);
    for (int i = 0; i < 40; i++) {
        struct vd_buf b = {vd_alloc(&d, 32), 32, true};
        vd_post(&d, 0, &b, 1);
        vd_notify(&d, 0);
        uint32_t id, len;
        if (!vd_get_used(&d, 0, &id, &len, 2000) || len != 32) {
            CHECK(0);
            break;
        }
    }
    vd_free(&d);
    iothread_destroy(io);
}

struct notifier {
    struct vdriver *d;
    bool stop;
};

static void *notify_loop(void *arg)
{
    struct notifier *n = arg;
    while (!__atomic_load_n(&n->stop, __ATOMIC_RELAXED))
        vd_notify(n->d, 0);
    return NULL;
}

/* Another hart hammers QueueNotify while the driver resets and re-initialises the
 * device over and over: no crash, no hang, and the device still works at the end. */
TEST(concurrent_notify_and_reset)
{
    struct iothread *io;
    struct cove_error err;
    REQUIRE(iothread_create(&io, &err) == 0);
    struct vdriver d;
    rng_dev(&d, io);
    struct notifier n = {.d = &d};
    pthread_t th;
    pthread_create(&th, NULL, notify_loop, &n);
    for (int i = 0; i < 200; i++) {
        vd_negotiate(&d, VD_BASE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX));
        memset(vd_ptr(&d, VD_RAM_BASE), 0, 1 << 20);
        vd_queue_setup(&d, 0, 16);
        vd_driver_ok(&d);
        struct vd_buf b = {vd_alloc(&d, 8), 8, true};
        vd_post(&d, 0, &b, 1);
        if (i % 2)
            vd_wr(&d, VIRTIO_MMIO_STATUS, 0); /* possibly while the handler runs */
        d.heap = VD_RAM_BASE + (1 << 20);
    }
    __atomic_store_n(&n.stop, true, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    vd_negotiate(&d, VD_BASE_FEATURES);
    memset(vd_ptr(&d, VD_RAM_BASE), 0, 1 << 20);
    vd_queue_setup(&d, 0, 16);
    vd_driver_ok(&d);
    struct vd_buf b = {vd_alloc(&d, 8), 8, true};
    vd_post(&d, 0, &b, 1);
    vd_notify(&d, 0);
    CHECK(!vd_needs_reset(&d));
    uint32_t id, len = 0;
    CHECK(vd_get_used(&d, 0, &id, &len, 2000));
    CHECK_EQ_U64(len, 8);
    vd_free(&d);
    iothread_destroy(io);
}

/* More chains than one handler run takes (its budget is the queue size): with and
 * without an I/O thread, every chain comes back. */
static void full_ring(struct iothread *io)
{
    struct vdriver d;
    rng_dev(&d, io);
    vd_negotiate(&d, VD_BASE_FEATURES);
    vd_queue_setup(&d, 0, 16);
    vd_driver_ok(&d);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 16; i++) {
            struct vd_buf b = {vd_alloc(&d, 8), 8, true};
            vd_post(&d, 0, &b, 1);
        }
        vd_notify(&d, 0);
        for (int i = 0; i < 16; i++) {
            uint32_t id, len;
            if (!vd_get_used(&d, 0, &id, &len, 2000)) {
                printf("  round %d: chain %d never came back\n", round, i);
                CHECK(0);
                break;
            }
        }
    }
    vd_free(&d);
}

TEST(full_ring_in_one_notify)
{
    full_ring(NULL);
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    full_ring(io);
    iothread_destroy(io);
}

TEST(config_generation)
{
    struct vdriver d;
    rng_running(&d, VD_BASE_FEATURES);
    uint32_t g = vd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION);
    virtio_mmio_config_changed(d.t);
    CHECK_EQ_U64(vd_rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), g + 1);
    CHECK(vd_rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    vd_free(&d);
}

int main(void)
{
    RUN(identity_registers);
    RUN(feature_negotiation);
    RUN(queue_setup_checks);
    RUN(rng_request_and_interrupt);
    RUN(reset_quiesces);
    RUN(indirect_descriptors);
    RUN(violations_need_reset);
    RUN(well_formed_indirect_is_served);
    RUN(event_idx_suppression);
    RUN(no_interrupt_flag);
    RUN(notify_before_driver_ok_waits);
    RUN(iothread_runs_queue);
    RUN(concurrent_notify_and_reset);
    RUN(full_ring_in_one_notify);
    RUN(config_generation);
    return test_summary();
}
