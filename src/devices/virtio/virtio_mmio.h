/*
 * virtio_mmio.h — the virtio-mmio transport (virtio 1.2, 4.2; modern, Version 2, only).
 *
 * The transport owns everything the guest can get wrong in common: the status handshake,
 * feature negotiation (FEATURES_OK is refused for features not offered or without
 * VERSION_1), queue setup and its checks, notifications, the interrupt line and reset.
 * A device is a small ops table: its ID, features, config space and a queue handler.
 *
 * Threads: virtio_mmio_read/write are the MMIO callbacks (shaped like machine_bus_ops)
 * and are called concurrently from vCPU threads. With an I/O thread, QueueNotify only
 * signals the queue's eventfd and the device's queue handler runs on the I/O thread;
 * without one (tests, fuzzing) it runs synchronously in the notifying thread. A queue
 * handler runs with that queue's lock held; a reset (status 0) waits for it to finish.
 * Guest protocol violations set DEVICE_NEEDS_RESET, raise a configuration-change
 * interrupt, log once, and stop the queue; the VMM keeps running.
 */
#ifndef COVE_DEVICES_VIRTIO_MMIO_H
#define COVE_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

#include "devices/iothread.h"
#include "devices/virtio/virtq.h"
#include "util/guest_ram.h"

/* The register window a transport decodes; where windows go is the machine's business. */
#define VIRTIO_MMIO_SIZE 0x1000ull

/* Registers (4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x45564f43u /* "COVE" */

#define VIRTIO_MMIO_INT_VRING 1u
#define VIRTIO_MMIO_INT_CONFIG 2u

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* Transport feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device IDs (5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_GPU 16
#define VIRTIO_ID_INPUT 18
#define VIRTIO_ID_FS 26

#define VIRTIO_CONFIG_MAX 256

/* What queue handlers return besides 0 and negative errnos: VIRTIO_MORE_WORK, the budget
 * (VIRTIO_BUDGET chains per run) is spent and chains may be left; VIRTIO_STOPPED, the
 * device has nothing to put in a chain or cannot take one now (the same as 0 to the
 * transport). */
#define VIRTIO_MORE_WORK 1
#define VIRTIO_STOPPED 2
#define VIRTIO_BUDGET(vq) ((unsigned)(vq)->size)

struct virtio_mmio;
struct state_writer;
struct state_reader;

struct virtio_device_ops {
    const char *name;        /* "blk", used in log lines */
    uint32_t device_id;
    uint64_t features;       /* device-specific bits; the transport adds its own */
    unsigned num_queues;
    uint16_t queue_max;      /* power of two, <= VIRTQ_MAX_SIZE */
    size_t config_size;      /* <= VIRTIO_CONFIG_MAX */
    /* Copies the whole device config space into buf (called with the transport lock). */
    void (*config_read)(void *dev, uint8_t *buf);
    /* Optional: a driver write into config space. */
    void (*config_write)(void *dev, uint64_t offset, unsigned len, uint64_t value);
    /* Handles queue q after a notification: pops chains and pushes them back, usually
     * through virtio_queue_serve(). Returns 0 or VIRTIO_STOPPED, VIRTIO_MORE_WORK after
     * VIRTIO_BUDGET(vq) chains with more pending (the transport calls it again later, so a
     * guest that keeps its queue full cannot monopolise the I/O thread), or a negative
     * errno after virtq_fail() for a device-level protocol error. Runs with the queue lock
     * held, only while the device is live. */
    int (*queue_handler)(void *dev, unsigned q, struct virtq *vq);
    /* Optional: the driver reset the device; queues are already quiesced. */
    void (*reset)(void *dev);
    /* Frees the device state (the transport is going away). */
    void (*destroy)(void *dev);
    /* Optional, for devices whose queues another process serves (vhost-user), or whose
     * queue layout depends on the features (balloon). start runs
     * when the driver sets DRIVER_OK, on the vCPU thread and outside the transport lock,
     * before any queue handler, with the negotiated features; the device reads the queues with
     * virtio_mmio_queue_info(). A negative errno (after the device logged why) makes the
     * device need a reset. notify,
     * when set, replaces running queue_handler on a QueueNotify; it runs on the vCPU
     * thread and must not block. */
    int (*start)(void *dev, uint64_t features);
    void (*notify)(void *dev, unsigned q);
    /* Save and restore of what the device keeps beyond its queues and the transport's
     * registers (the transport saves those). A device without save cannot be suspended.
     * save runs with every queue quiesced (virtio_mmio_quiesce); load runs before any
     * vCPU does, after the transport restored its queues, and returns -EINVAL (after
     * cove_error_set) when the state does not fit this device (its disk changed size). */
    int (*save)(void *dev, struct state_writer *w);
    int (*load)(void *dev, struct state_reader *r, struct cove_error *err);
    /* Optional, for devices whose queues another process serves: quiesce runs at the end
     * of virtio_mmio_quiesce (every lock held) and makes that process let go of the rings,
     * so that guest memory and the rings hold still for a save; unquiesce runs after
     * virtio_mmio_unquiesce let the locks go and hands the rings back. */
    void (*quiesce)(void *dev);
    void (*unquiesce)(void *dev);
};

struct virtio_mmio_params {
    const struct guest_ram *ram;   /* must outlive the transport */
    struct iothread *io;           /* NULL: queue handlers run in the notifying thread */
    void (*set_irq)(void *opaque, bool level); /* level-triggered interrupt line */
    void *irq_opaque;
};

/* Creates a transport for a device; on success the transport owns dev (ops->destroy).
 * On failure ops->destroy(dev) has been called too, so callers clean up in one place. */
int virtio_mmio_create(const struct virtio_mmio_params *p, const struct virtio_device_ops *ops,
                       void *dev, struct virtio_mmio **out, struct cove_error *err);
/* Call only once no vCPU can reach the window; frees the device too. */
void virtio_mmio_destroy(struct virtio_mmio *t);

/* The MMIO callbacks (offset inside the 0x1000 window, len 1/2/4/8). */
int virtio_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int virtio_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

/* For devices: run queue q's handler now (e.g. host input arrived for a receive queue).
 * Returns 0, or -EAGAIN when the queue is not live (no DRIVER_OK, not ready, broken). */
int virtio_mmio_process_queue(struct virtio_mmio *t, unsigned q);

/* The loop every queue handler shares. Until the budget (VIRTIO_BUDGET(vq) chains) is
 * spent: asks has_work (optional) whether the device has something to put in a chain,
 * pops one into *c, and hands it to serve, which pushes it back (virtq_push) or returns
 * it to the ring (virtq_unpop), and returns 0 to go on, VIRTIO_STOPPED, or a negative
 * errno after virtq_fail(). Returns 0 when the ring is empty, VIRTIO_MORE_WORK when the
 * budget is spent, VIRTIO_STOPPED when has_work or serve stopped, or the negative errno
 * (virtq_pop's -EIO included). */
typedef int (*virtio_serve_fn)(void *dev, struct virtq *vq, struct virtq_chain *c);
int virtio_queue_serve(struct virtq *vq, struct virtq_chain *c, bool (*has_work)(void *dev),
                       virtio_serve_fn serve, void *dev);

/* For devices: the config space changed; bumps ConfigGeneration and interrupts. */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/* A queue as the driver set it up (checked by the transport when it was enabled). */
struct virtio_queue_info {
    bool ready;
    uint16_t size;
    void *desc, *avail, *used; /* host views of the rings inside guest RAM */
};
int virtio_mmio_queue_info(struct virtio_mmio *t, unsigned q, struct virtio_queue_info *out);

/* For devices served elsewhere: raises the used-buffer interrupt (the back end decided
 * the driver wants one). */
void virtio_mmio_interrupt(struct virtio_mmio *t);

/* For devices: the device itself failed (its back end went away): DEVICE_NEEDS_RESET and
 * a configuration-change interrupt. The device tells the user why (why is a debug line). */
void virtio_mmio_device_failed(struct virtio_mmio *t, const char *why);

/* Save and restore (machine_state.c). quiesce waits for running queue handlers and keeps
 * every queue handler from running (and so from touching guest memory or the back end)
 * until unquiesce. virtio_mmio_save (quiesced; -ENOTSUP when the device cannot be saved)
 * writes the registers, every queue's setup and position, and the device's own state.
 * virtio_mmio_load (before the machine runs) checks and restores them, re-drives the
 * interrupt line and queues a run of every live queue, so that buffers the driver posted
 * before the save are served. */
bool virtio_mmio_can_save(struct virtio_mmio *t);
/* ops->save/load for devices whose whole state is their queues and registers. */
int virtio_save_nothing(void *dev, struct state_writer *w);
int virtio_load_nothing(void *dev, struct state_reader *r, struct cove_error *err);
const char *virtio_mmio_name(struct virtio_mmio *t);
uint32_t virtio_mmio_device_id(struct virtio_mmio *t);
/* The features the driver and the device agreed on (0 before FEATURES_OK). */
uint64_t virtio_mmio_negotiated(struct virtio_mmio *t);
void virtio_mmio_quiesce(struct virtio_mmio *t);
void virtio_mmio_unquiesce(struct virtio_mmio *t);
int virtio_mmio_save(struct virtio_mmio *t, struct state_writer *w);
int virtio_mmio_load(struct virtio_mmio *t, struct state_reader *r, struct cove_error *err);

/* Test and debug helpers. */
uint32_t virtio_mmio_status(struct virtio_mmio *t);
struct iothread *virtio_mmio_iothread(struct virtio_mmio *t);

#endif
