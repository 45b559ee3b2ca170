/*
 * vdriver.h — a tiny virtio-mmio driver for the device tests: fake guest RAM, the
 * register handshake, split rings laid out as Linux would, and helpers to post chains
 * and wait for them to come back. Everything goes through the transport's MMIO
 * callbacks, as a guest's accesses would.
 */
#ifndef COVE_TEST_VDRIVER_H
#define COVE_TEST_VDRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio/virtio_mmio.h"

#define VD_RAM_BASE 0x80000000ull
#define VD_RAM_SIZE (4ull << 20)
#define VD_MAX_QUEUES 4

struct vd_buf {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
};

struct vd_queue {
    uint16_t size;
    uint64_t desc, avail, used;
    uint16_t avail_idx, used_seen, next_desc;
};

struct vdriver {
    struct guest_ram ram;
    struct virtio_mmio *t;
    int irq_level, irq_raises;
    uint64_t heap;
    struct vd_queue q[VD_MAX_QUEUES];
};

static void vd_set_irq(void *opaque, bool level)
{
    struct vdriver *d = opaque;
    __atomic_store_n(&d->irq_level, level, __ATOMIC_SEQ_CST);
    if (level)
        __atomic_fetch_add(&d->irq_raises, 1, __ATOMIC_SEQ_CST);
}

static inline void vd_ram_init(struct vdriver *d)
{
    memset(d, 0, sizeof *d);
    d->ram.host = aligned_alloc(4096, VD_RAM_SIZE);
    memset(d->ram.host, 0, VD_RAM_SIZE);
    d->ram.base = VD_RAM_BASE;
    d->ram.size = VD_RAM_SIZE;
    d->heap = VD_RAM_BASE + (1 << 20); /* rings below, buffers above */
}

static inline struct virtio_mmio_params vd_params(struct vdriver *d, struct iothread *io)
{
    return (struct virtio_mmio_params){.ram = &d->ram, .io = io, .set_irq = vd_set_irq,
                                       .irq_opaque = d};
}

static inline void vd_free(struct vdriver *d)
{
    virtio_mmio_destroy(d->t);
    free(d->ram.host);
}

static inline void *vd_ptr(struct vdriver *d, uint64_t gpa) { return d->ram.host + (gpa - d->ram.base); }

static inline uint64_t vd_alloc(struct vdriver *d, uint64_t len)
{
    uint64_t gpa = d->heap;
    d->heap += (len + 15) & ~15ull;
    return gpa;
}

static inline uint32_t vd_rd(struct vdriver *d, uint64_t off)
{
    uint64_t v = 0;
    virtio_mmio_read(d->t, off, 4, &v);
    return (uint32_t)v;
}

static inline void vd_wr(struct vdriver *d, uint64_t off, uint32_t v)
{
    virtio_mmio_write(d->t, off, 4, v);
}

static inline uint64_t vd_device_features(struct vdriver *d)
{
    vd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = vd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
    vd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)vd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns the status read back. */
static inline uint32_t vd_negotiate(struct vdriver *d, uint64_t features)
{
    vd_wr(d, VIRTIO_MMIO_STATUS, 0);
    vd_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    vd_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    vd_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                     VIRTIO_STATUS_FEATURES_OK);
    return vd_rd(d, VIRTIO_MMIO_STATUS);
}

/* Lays out queue qi's rings in the low MiB (64 KiB per queue) and enables it. */
static inline void vd_queue_setup(struct vdriver *d, unsigned qi, uint16_t size)
{
    struct vd_queue *q = &d->q[qi];
    memset(q, 0, sizeof *q);
    q->size = size;
    q->desc = VD_RAM_BASE + 0x10000ull * (qi + 1);
    q->avail = q->desc + 16ull * size;
    q->used = (q->avail + 6 + 2ull * size + 4095) & ~4095ull;
    vd_wr(d, VIRTIO_MMIO_QUEUE_SEL, qi);
    vd_wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
    vd_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
    vd_wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
    vd_wr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
    vd_wr(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
    vd_wr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
    vd_wr(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
    vd_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

static inline void vd_driver_ok(struct vdriver *d)
{
    vd_wr(d, VIRTIO_MMIO_STATUS, vd_rd(d, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static inline void vd_put_desc(struct vdriver *d, unsigned qi, uint16_t i, uint64_t addr,
                               uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = vd_ptr(d, d->q[qi].desc + 16ull * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

/* Makes head available (no notify). */
static inline void vd_avail(struct vdriver *d, unsigned qi, uint16_t head)
{
    struct vd_queue *q = &d->q[qi];
    uint16_t *ring = vd_ptr(d, q->avail + 4);
    ring[q->avail_idx % q->size] = head;
    q->avail_idx++;
    __atomic_store_n((uint16_t *)vd_ptr(d, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

static inline void vd_notify(struct vdriver *d, unsigned qi)
{
    vd_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* Posts a chain of direct descriptors (from the queue's next free slots); returns head. */
static inline uint16_t vd_post(struct vdriver *d, unsigned qi, const struct vd_buf *bufs,
                               unsigned n)
{
    struct vd_queue *q = &d->q[qi];
    uint16_t head = q->next_desc % q->size;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((q->next_desc + i) % q->size);
        uint16_t next = (uint16_t)((idx + 1) % q->size);
        uint16_t flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
                         (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        vd_put_desc(d, qi, idx, bufs[i].gpa, bufs[i].len, flags, next);
    }
    q->next_desc = (uint16_t)(q->next_desc + n);
    vd_avail(d, qi, head);
    return head;
}

static inline uint16_t vd_used_idx(struct vdriver *d, unsigned qi)
{
    return __atomic_load_n((uint16_t *)vd_ptr(d, d->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

/* Takes the next used element, waiting up to timeout_ms for it; false on timeout. */
static inline bool vd_get_used(struct vdriver *d, unsigned qi, uint32_t *id, uint32_t *len,
                               int timeout_ms)
{
    struct vd_queue *q = &d->q[qi];
    for (int waited = 0; vd_used_idx(d, qi) == q->used_seen; waited++) {
        if (waited >= timeout_ms)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    uint8_t *e = vd_ptr(d, q->used + 4 + 8ull * (q->used_seen % q->size));
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    q->used_seen++;
    return true;
}

static inline bool vd_needs_reset(struct vdriver *d)
{
    return vd_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

#define VD_BASE_FEATURES (1ull << VIRTIO_F_VERSION_1)

#endif
