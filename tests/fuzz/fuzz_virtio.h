/*
 * fuzz_virtio.h — the driver side of a virtio-mmio handshake for the device fuzz targets:
 * every target lays its queues out the same way in the fuzz RAM (fuzz.h), so that the
 * input's bytes land in rings and buffers the device reads.
 */
#ifndef COVE_FUZZ_VIRTIO_H
#define COVE_FUZZ_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/virtio_mmio.h"
#include "fuzz.h"

static inline void fuzz_set_irq(void *opaque, bool level)
{
    (void)opaque, (void)level;
}

static inline void fuzz_wr(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    virtio_mmio_write(t, off, 4, v);
}

/* Queue q: 8 entries in the 4 KiB slot `slot` of the fuzz RAM: descriptors at its start,
 * avail ring at +0x800, used ring at +0xc00. */
static inline void fuzz_queue_setup(struct virtio_mmio *t, unsigned q, unsigned slot)
{
    uint64_t base = FUZZ_RAM_BASE + slot * 0x1000ull;
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_NUM, 8);
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(base >> 32));
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 0x800));
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((base + 0x800) >> 32));
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 0xc00));
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((base + 0xc00) >> 32));
    fuzz_wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* ACKNOWLEDGE, DRIVER, the features, FEATURES_OK, queues 0..nq-1 in slots slot0.., then
 * DRIVER_OK. */
static inline void fuzz_virtio_handshake_from(struct virtio_mmio *t, uint64_t features,
                                              unsigned nq, unsigned slot0)
{
    const uint32_t ad = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    fuzz_wr(t, VIRTIO_MMIO_STATUS, ad);
    fuzz_wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    fuzz_wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    fuzz_wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    fuzz_wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    fuzz_wr(t, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < nq; q++)
        fuzz_queue_setup(t, q, slot0 + q);
    fuzz_wr(t, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* The same with queue q in slot q. */
static inline void fuzz_virtio_handshake(struct virtio_mmio *t, uint64_t features, unsigned nq)
{
    fuzz_virtio_handshake_from(t, features, nq, 0);
}

#endif
