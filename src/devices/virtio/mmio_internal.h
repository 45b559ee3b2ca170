/*
 * mmio_internal.h — the virtio-mmio transport's state, shared by mmio.c (registers, queues,
 * notifications) and mmio_state.c (save and restore). Nothing outside the transport
 * includes it.
 */
#ifndef COVE_DEVICES_VIRTIO_MMIO_INTERNAL_H
#define COVE_DEVICES_VIRTIO_MMIO_INTERNAL_H

#include <pthread.h>

#include "devices/virtio/virtio_mmio.h"

struct mmio_queue {
    struct virtio_mmio *t;
    unsigned index;
    /* Held while the queue handler runs and while the queue is set up or torn down. */
    pthread_mutex_t lock;
    struct virtq vq;
    /* Registers, under the transport lock. */
    uint32_t num;
    bool ready;
    uint64_t desc, driver, device;
    int efd; /* -1 without an I/O thread */
    struct iothread_watch *watch;
};

struct virtio_mmio {
    const struct virtio_device_ops *ops;
    void *dev;
    const struct guest_ram *ram;
    struct iothread *io;
    void (*set_irq)(void *opaque, bool level);
    void *irq_opaque;

    /* Register state; lock order: lock, then a queue lock, then irq_lock. */
    pthread_mutex_t lock;
    uint32_t status; /* atomic: the I/O thread reads it and sets NEEDS_RESET */
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
    uint32_t config_generation;
    uint64_t offered, driver_features, negotiated;
    bool driver_features_invalid; /* a bit written beyond the two feature words */
    bool violation_logged;

    pthread_mutex_t irq_lock;
    uint32_t isr;
    bool irq_level;

    struct mmio_queue *queues;
};

/* irq_lock held: drives the line to match isr. */
void virtio_mmio_update_irq_locked(struct virtio_mmio *t);
/* Queues a run of q's handler on the I/O thread (q->efd >= 0). */
void virtio_mmio_signal_queue(struct virtio_mmio *t, struct mmio_queue *q);

#endif
