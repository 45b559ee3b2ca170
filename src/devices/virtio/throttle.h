/*
 * throttle.h — a rate-limited virtqueue (docs/SECURITY.md, "Rate limits"): the queue's
 * handler asks queue_throttle_admit before it serves each chain; when the limiter's
 * buckets are short, the handler puts the chain back (virtq_unpop) and stops, and a
 * timerfd on the I/O thread runs the queue again once the tokens are there. No busy loop,
 * nothing dropped: the guest's request just waits in its ring (a NIC's received frames
 * wait in the device's bounded pending list, as on a slow link).
 *
 * Without an I/O thread (unit tests, fuzzing) nothing could run the queue later, so a
 * throttle there admits everything.
 */
#ifndef COVE_DEVICES_VIRTIO_THROTTLE_H
#define COVE_DEVICES_VIRTIO_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/config.h>

#include "devices/virtio/virtio_mmio.h"
#include "util/ratelimit.h"

struct queue_throttle {
    struct rate_limiter rl;
    struct virtio_mmio *t;
    unsigned q;
    int tfd; /* -1: no limit (or no I/O thread) */
    struct iothread_watch *watch;
    uint64_t waits; /* times a chain was put back to wait */
};

/* Sets th up for queue q of t with limit r (NULL or no limit: admits everything). Makes a
 * timerfd watched by t's I/O thread. 0, or a negative errno with err set. */
int queue_throttle_start(struct queue_throttle *th, struct virtio_mmio *t, unsigned q,
                         const struct cove_rate_limit *r, struct cove_error *err);

/* On the queue's handler, for a chain of bytes: true, serve it; false, put it back and
 * stop (the timer is armed). */
bool queue_throttle_admit(struct queue_throttle *th, uint64_t bytes);

/* Stops the timer and closes it (before the device is freed). */
void queue_throttle_stop(struct queue_throttle *th);

#endif
