/*
 * Save and restore of a virtio-mmio transport: its registers, every queue as the driver
 * set it up and how far the device got in it, then the device's own state (ops->save).
 * A restored queue is set up again through virtq_setup, so a state file gets exactly the
 * checks a guest's QueueReady write gets.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/mmio_internal.h"
#include "util/log.h"
#include "util/state_format.h"

bool virtio_mmio_can_save(struct virtio_mmio *t)
{
    return t->ops->save != NULL;
}

const char *virtio_mmio_name(struct virtio_mmio *t)
{
    return t->ops->name;
}

int virtio_save_nothing(void *dev, struct state_writer *w)
{
    return 0;
}

int virtio_load_nothing(void *dev, struct state_reader *r, struct cove_error *err)
{
    return 0;
}

uint32_t virtio_mmio_device_id(struct virtio_mmio *t)
{
    return t->ops->device_id;
}

uint64_t virtio_mmio_negotiated(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t f = t->negotiated;
    pthread_mutex_unlock(&t->lock);
    return f;
}

void virtio_mmio_quiesce(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->ops->num_queues; i++)
        pthread_mutex_lock(&t->queues[i].lock);
    if (t->ops->quiesce)
        t->ops->quiesce(t->dev);
}

void virtio_mmio_unquiesce(struct virtio_mmio *t)
{
    for (unsigned i = t->ops->num_queues; i-- > 0;)
        pthread_mutex_unlock(&t->queues[i].lock);
    pthread_mutex_unlock(&t->lock);
    if (t->ops->unquiesce)
        t->ops->unquiesce(t->dev);
}

int virtio_mmio_save(struct virtio_mmio *t, struct state_writer *w)
{
    if (!t->ops->save)
        return -ENOTSUP;
    state_put_u32(w, t->ops->device_id);
    state_put_u32(w, t->ops->num_queues);
    state_put_u32(w, __atomic_load_n(&t->status, __ATOMIC_ACQUIRE));
    state_put_u32(w, t->dev_features_sel);
    state_put_u32(w, t->drv_features_sel);
    state_put_u32(w, t->queue_sel);
    state_put_u32(w, t->config_generation);
    state_put_u64(w, t->driver_features);
    state_put_u64(w, t->negotiated);
    state_put_u8(w, t->driver_features_invalid);
    pthread_mutex_lock(&t->irq_lock);
    state_put_u32(w, t->isr);
    pthread_mutex_unlock(&t->irq_lock);
    for (unsigned i = 0; i < t->ops->num_queues; i++) {
        struct mmio_queue *q = &t->queues[i];
        /* A queue another process serves (ops->notify): cove's indices were not kept, the
         * ring's used index is where it stands (the device's quiesce stopped the server,
         * which answered what it took), and a restore writes it back. */
        if (t->ops->notify && q->ready && q->vq.size)
            virtq_take_over(&q->vq);
        state_put_u32(w, q->num);
        state_put_u8(w, q->ready);
        state_put_u64(w, q->desc);
        state_put_u64(w, q->driver);
        state_put_u64(w, q->device);
        state_put_u32(w, q->vq.last_avail);
        state_put_u32(w, q->vq.used_idx);
        state_put_u32(w, q->vq.signalled_used);
        state_put_u8(w, q->vq.broken);
    }
    return t->ops->save(t->dev, w);
}

static int load_queue(struct virtio_mmio *t, unsigned i, struct state_reader *r, uint32_t status,
                      struct cove_error *err)
{
    struct mmio_queue *q = &t->queues[i];
    q->num = state_get_u32(r);
    bool ready = state_get_u8(r) != 0;
    q->desc = state_get_u64(r);
    q->driver = state_get_u64(r);
    q->device = state_get_u64(r);
    uint32_t last_avail = state_get_u32(r), used_idx = state_get_u32(r);
    uint32_t signalled = state_get_u32(r);
    bool broken = state_get_u8(r) != 0;
    if (r->bad)
        return -EINVAL;
    if (!ready)
        return 0;
    const char *why = "queue enabled before FEATURES_OK";
    int rc = -EINVAL;
    if (last_avail > 0xffff || used_idx > 0xffff || signalled > 0xffff)
        why = "ring index out of range";
    else if (q->num > t->ops->queue_max)
        why = "queue size above QueueNumMax";
    else if (status & VIRTIO_STATUS_FEATURES_OK)
        rc = virtq_setup(&q->vq, t->ram, (uint16_t)q->num, q->desc, q->driver, q->device,
                         t->negotiated & (1ull << VIRTIO_F_RING_EVENT_IDX),
                         t->negotiated & (1ull << VIRTIO_F_INDIRECT_DESC), &why);
    if (rc < 0)
        return cove_error_set(err, -EINVAL, "virtio-%s queue %u: %s", t->ops->name, i, why);
    virtq_restore(&q->vq, (uint16_t)last_avail, (uint16_t)used_idx, (uint16_t)signalled);
    if (broken) {
        q->vq.broken = true;
        q->vq.error = "broken before the VM was suspended";
    }
    q->ready = true;
    return 0;
}

int virtio_mmio_load(struct virtio_mmio *t, struct state_reader *r, struct cove_error *err)
{
    uint32_t id = state_get_u32(r), nq = state_get_u32(r);
    if (id != t->ops->device_id || nq != t->ops->num_queues)
        return cove_error_set(err, -EINVAL, "the saved device is not a virtio-%s",
                              t->ops->name);
    uint32_t status = state_get_u32(r) & 0xff;
    t->dev_features_sel = state_get_u32(r);
    t->drv_features_sel = state_get_u32(r);
    t->queue_sel = state_get_u32(r);
    t->config_generation = state_get_u32(r);
    t->driver_features = state_get_u64(r);
    t->negotiated = state_get_u64(r);
    t->driver_features_invalid = state_get_u8(r) != 0;
    uint32_t isr = state_get_u32(r) & (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
    if (r->bad)
        return cove_error_set(err, -EINVAL, "virtio-%s: the saved state is cut short",
                              t->ops->name);
    if ((t->negotiated & ~t->offered) ||
        ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK)))
        return cove_error_set(err, -EINVAL, "virtio-%s: the saved status or features are "
                              "not possible", t->ops->name);
    __atomic_store_n(&t->status, status, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < nq; i++) {
        int rc = load_queue(t, i, r, status, err);
        if (rc < 0)
            return r->bad ? cove_error_set(err, -EINVAL, "virtio-%s: the saved state is cut "
                                           "short", t->ops->name)
                          : rc;
    }
    int rc = t->ops->load ? t->ops->load(t->dev, r, err) : -ENOTSUP;
    if (rc < 0)
        return rc == -ENOTSUP ? cove_error_set(err, rc, "virtio-%s cannot be restored",
                                               t->ops->name)
                              : rc;
    if (!state_reader_done(r))
        return cove_error_set(err, -EINVAL, "virtio-%s: the saved state has the wrong length",
                              t->ops->name);
    pthread_mutex_lock(&t->irq_lock);
    t->isr = isr;
    t->irq_level = isr == 0; /* so that the update drives the line either way */
    virtio_mmio_update_irq_locked(t);
    pthread_mutex_unlock(&t->irq_lock);
    for (unsigned i = 0; i < nq; i++)
        if (t->queues[i].ready && t->queues[i].efd >= 0)
            virtio_mmio_signal_queue(t, &t->queues[i]);
    return 0;
}
