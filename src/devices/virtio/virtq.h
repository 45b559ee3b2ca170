/*
 * virtq.h — split virtqueues (virtio 1.2, 2.7), walked without trusting the guest.
 *
 * The rings live in guest RAM and the guest may rewrite them at any moment from another
 * host thread. So every descriptor is copied out once before it is checked, every buffer
 * is translated through guest_ram_ptr() with its length, a chain visits at most as many
 * descriptors as its table holds (loops end), indirect tables are checked (size, place,
 * no nesting) and device-readable buffers must precede device-writable ones. Ring indices
 * are read with acquire and published with release ordering.
 *
 * A violation marks the queue broken (vq->broken, vq->error says why) and the queue is
 * not touched again until it is set up anew; the transport turns that into
 * DEVICE_NEEDS_RESET. One thread at a time works on a queue (the transport's queue lock).
 */
#ifndef COVE_DEVICES_VIRTQ_H
#define COVE_DEVICES_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/guest_ram.h"

/* The largest queue size, and the most buffers one chain may have (indirect included). */
#define VIRTQ_MAX_SIZE 1024

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_DESC_SIZE 16

struct virtq {
    const struct guest_ram *ram;
    uint16_t size;             /* power of two; 0 while the queue is not set up */
    bool event_idx;            /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;             /* VIRTIO_F_INDIRECT_DESC negotiated */
    bool broken;
    const char *error;         /* why it broke (static string) */
    uint8_t *desc, *avail, *used; /* host views of the three rings, checked at setup */
    uint16_t last_avail;       /* next avail ring slot the device takes */
    uint16_t used_idx;         /* device's copy of used->idx */
    uint16_t signalled_used;   /* used->idx when the driver was last interrupted */
};

/* One chain: iov[0, n_out) are device-readable, iov[n_out, n_out + n_in) device-writable. */
struct virtq_chain {
    uint16_t head;
    unsigned n_out, n_in;
    size_t out_len, in_len;
    struct iovec iov[VIRTQ_MAX_SIZE];
};

/* Checks and maps the rings. Returns 0, or -EINVAL with *why set (queue left unset). */
int virtq_setup(struct virtq *vq, const struct guest_ram *ram, uint16_t size, uint64_t desc,
                uint64_t avail, uint64_t used, bool event_idx, bool indirect, const char **why);
void virtq_reset(struct virtq *vq);

/* After virtq_setup of a queue restored from a saved state: the device's positions as they
 * were saved, and used->idx in guest memory back to the saved one (setup zeroes it). */
void virtq_restore(struct virtq *vq, uint16_t last_avail, uint16_t used_idx,
                   uint16_t signalled_used);

/* Takes the next available chain: 1 and *c filled, 0 when the ring is empty, -EIO when
 * the guest broke the rules (vq->broken is then set). With EVENT_IDX, an empty ring
 * publishes avail_event so the driver notifies on its next buffer. */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);

/* The driver's avail index as it is now, without taking anything; with EVENT_IDX the
 * driver is also asked to notify when it adds its next buffer. A device that waits for
 * the driver to hand a buffer back (vsock's event queue after a transport reset) compares
 * the index of two calls. */
uint16_t virtq_avail_idx_notify_next(struct virtq *vq);

/* Gives the chain taken last back to the ring (it will be popped again). */
void virtq_unpop(struct virtq *vq);

/* Returns a chain to the driver with the number of bytes written into it. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* Whether the driver wants an interrupt for what was pushed since the last one (used
 * event index or NO_INTERRUPT); remembers the answer, so call once per batch. */
bool virtq_need_interrupt(struct virtq *vq);

/* Takes over a queue that another implementation served until now (a vhost-user daemon
 * that went away): the next chain popped is the first the driver has not got back, and
 * pushes continue after the last used entry. */
void virtq_take_over(struct virtq *vq);

/* Marks the queue broken for a device-level protocol error; returns -EIO. */
int virtq_fail(struct virtq *vq, const char *why);

#endif
