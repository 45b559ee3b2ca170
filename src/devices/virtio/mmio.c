#include "devices/virtio/mmio_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

static const uint32_t LIVE = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK;

static uint32_t load_status(struct virtio_mmio *t)
{
    return __atomic_load_n(&t->status, __ATOMIC_ACQUIRE);
}

uint32_t virtio_mmio_status(struct virtio_mmio *t) { return load_status(t); }

struct iothread *virtio_mmio_iothread(struct virtio_mmio *t) { return t->io; }

void virtio_mmio_update_irq_locked(struct virtio_mmio *t)
{
    bool level = t->isr != 0;
    if (level != t->irq_level) {
        t->irq_level = level;
        if (t->set_irq)
            t->set_irq(t->irq_opaque, level);
    }
}

static void raise_isr(struct virtio_mmio *t, uint32_t bits)
{
    pthread_mutex_lock(&t->irq_lock);
    t->isr |= bits;
    virtio_mmio_update_irq_locked(t);
    pthread_mutex_unlock(&t->irq_lock);
}

static void ack_isr(struct virtio_mmio *t, uint32_t bits)
{
    pthread_mutex_lock(&t->irq_lock);
    t->isr &= ~bits;
    virtio_mmio_update_irq_locked(t);
    pthread_mutex_unlock(&t->irq_lock);
}

/* The guest broke the protocol: tell the driver (NEEDS_RESET plus a config interrupt
 * once it is running) and say so once in the log. The VMM goes on. */
static void device_violation(struct virtio_mmio *t, const char *why)
{
    uint32_t old = __atomic_fetch_or(&t->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);
    if (old & VIRTIO_STATUS_DRIVER_OK)
        raise_isr(t, VIRTIO_MMIO_INT_CONFIG);
    if (!__atomic_exchange_n(&t->violation_logged, true, __ATOMIC_RELAXED))
        log_warn("virtio-%s: guest error: %s; device needs reset", t->ops->name, why);
    else
        log_debug("virtio-%s: guest error: %s", t->ops->name, why);
}

void virtio_mmio_device_failed(struct virtio_mmio *t, const char *why)
{
    uint32_t old = __atomic_fetch_or(&t->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);
    if (old & VIRTIO_STATUS_DRIVER_OK)
        raise_isr(t, VIRTIO_MMIO_INT_CONFIG);
    log_debug("virtio-%s: %s; device needs reset", t->ops->name, why);
}

void virtio_mmio_interrupt(struct virtio_mmio *t)
{
    raise_isr(t, VIRTIO_MMIO_INT_VRING);
}

int virtio_mmio_queue_info(struct virtio_mmio *t, unsigned qi, struct virtio_queue_info *out)
{
    if (qi >= t->ops->num_queues)
        return -EINVAL;
    struct mmio_queue *q = &t->queues[qi];
    pthread_mutex_lock(&t->lock);
    pthread_mutex_lock(&q->lock);
    *out = (struct virtio_queue_info){
        .ready = q->ready && q->vq.size != 0 && !q->vq.broken,
        .size = q->vq.size,
        .desc = q->vq.desc,
        .avail = q->vq.avail,
        .used = q->vq.used,
    };
    pthread_mutex_unlock(&q->lock);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void virtio_mmio_signal_queue(struct virtio_mmio *t, struct mmio_queue *q)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already pending: the handler will run anyway. */
    if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("virtio-%s: notify: %s", t->ops->name, strerror(errno));
}

int virtio_queue_serve(struct virtq *vq, struct virtq_chain *c, bool (*has_work)(void *dev),
                       virtio_serve_fn serve, void *dev)
{
    for (unsigned done = 0; done < VIRTIO_BUDGET(vq); done++) {
        if (has_work && !has_work(dev))
            return VIRTIO_STOPPED;
        int r = virtq_pop(vq, c);
        if (r <= 0)
            return r;
        if ((r = serve(dev, vq, c)) != 0)
            return r;
    }
    return VIRTIO_MORE_WORK;
}

/* One run of the handler; returns VIRTIO_MORE_WORK when it stopped at its budget. */
static int run_handler(struct virtio_mmio *t, unsigned qi)
{
    struct mmio_queue *q = &t->queues[qi];
    pthread_mutex_lock(&q->lock);
    uint32_t st = load_status(t);
    if ((st & LIVE) != LIVE || (st & VIRTIO_STATUS_FAILED) || q->vq.size == 0 || q->vq.broken) {
        pthread_mutex_unlock(&q->lock);
        return -EAGAIN;
    }
    int r = t->ops->queue_handler(t->dev, qi, &q->vq);
    if (q->vq.broken)
        device_violation(t, q->vq.error ? q->vq.error : "queue error");
    bool notify = virtq_need_interrupt(&q->vq);
    pthread_mutex_unlock(&q->lock);
    if (notify)
        raise_isr(t, VIRTIO_MMIO_INT_VRING);
    return r == VIRTIO_MORE_WORK && !q->vq.broken ? VIRTIO_MORE_WORK : 0;
}

int virtio_mmio_process_queue(struct virtio_mmio *t, unsigned qi)
{
    if (qi >= t->ops->num_queues)
        return -EINVAL;
    struct mmio_queue *q = &t->queues[qi];
    int r;
    /* With an I/O thread, leftover work goes to the back of its line (the eventfd);
     * without one there is nobody else to be fair to. */
    while ((r = run_handler(t, qi)) == VIRTIO_MORE_WORK && q->efd < 0)
        ;
    if (r == VIRTIO_MORE_WORK)
        virtio_mmio_signal_queue(t, q);
    return r < 0 ? r : 0;
}

/* A QueueNotify: run the handler on the I/O thread, or right here without one. */
static void notify_queue(struct virtio_mmio *t, unsigned qi)
{
    struct mmio_queue *q = &t->queues[qi];
    if (t->ops->notify)
        t->ops->notify(t->dev, qi);
    else if (q->efd < 0)
        virtio_mmio_process_queue(t, qi);
    else
        virtio_mmio_signal_queue(t, q);
}

static void queue_event(void *opaque, uint32_t events)
{
    struct mmio_queue *q = opaque;
    uint64_t v;
    if (read(q->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    virtio_mmio_process_queue(q->t, q->index);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    t->config_generation++;
    pthread_mutex_unlock(&t->lock);
    if (load_status(t) & VIRTIO_STATUS_DRIVER_OK)
        raise_isr(t, VIRTIO_MMIO_INT_CONFIG);
}

/* Status 0: quiesce every queue (waiting for a running handler), forget the driver. */
static void device_reset(struct virtio_mmio *t)
{
    for (unsigned i = 0; i < t->ops->num_queues; i++) {
        struct mmio_queue *q = &t->queues[i];
        pthread_mutex_lock(&q->lock);
        virtq_reset(&q->vq);
        pthread_mutex_unlock(&q->lock);
        q->num = 0;
        q->ready = false;
        q->desc = q->driver = q->device = 0;
    }
    if (t->ops->reset)
        t->ops->reset(t->dev);
    t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
    t->driver_features = t->negotiated = 0;
    t->driver_features_invalid = false;
    __atomic_store_n(&t->status, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&t->irq_lock);
    t->isr = 0;
    virtio_mmio_update_irq_locked(t);
    pthread_mutex_unlock(&t->irq_lock);
}

/* Returns true when the driver just set DRIVER_OK (queues may hold buffers already). */
static bool write_status(struct virtio_mmio *t, uint32_t v)
{
    if (v == 0) {
        device_reset(t);
        return false;
    }
    v &= 0xff & ~VIRTIO_STATUS_NEEDS_RESET; /* only the device sets NEEDS_RESET */
    bool features_acceptable = !t->driver_features_invalid &&
                               !(t->driver_features & ~t->offered) &&
                               (t->driver_features & (1ull << VIRTIO_F_VERSION_1));
    uint32_t old = load_status(t), nv;
    do {
        nv = v | (old & VIRTIO_STATUS_NEEDS_RESET);
        if ((nv & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
            !features_acceptable)
            nv &= ~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back and gives up */
        /* A driver cannot take FEATURES_OK back; running needs it. */
        if (old & VIRTIO_STATUS_FEATURES_OK)
            nv |= VIRTIO_STATUS_FEATURES_OK;
        if (!(nv & VIRTIO_STATUS_FEATURES_OK))
            nv &= ~VIRTIO_STATUS_DRIVER_OK;
    } while (!__atomic_compare_exchange_n(&t->status, &old, nv, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    if ((nv & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK))
        t->negotiated = t->driver_features;
    else if ((v & VIRTIO_STATUS_FEATURES_OK) && !(nv & VIRTIO_STATUS_FEATURES_OK))
        log_debug("virtio-%s: driver features 0x%llx refused", t->ops->name,
                  (unsigned long long)t->driver_features);
    return (nv & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK);
}

static void write_queue_ready(struct virtio_mmio *t, struct mmio_queue *q, uint32_t v)
{
    if (v == 0 || q->ready) {
        if (v == 0 && q->ready) {
            pthread_mutex_lock(&q->lock);
            virtq_reset(&q->vq);
            pthread_mutex_unlock(&q->lock);
            q->ready = false;
        }
        return;
    }
    const char *why = NULL;
    int r = -EINVAL;
    if (!(load_status(t) & VIRTIO_STATUS_FEATURES_OK)) {
        why = "queue enabled before FEATURES_OK";
    } else if (q->num > t->ops->queue_max) {
        why = "queue size above QueueNumMax";
    } else {
        pthread_mutex_lock(&q->lock);
        r = virtq_setup(&q->vq, t->ram, (uint16_t)q->num, q->desc, q->driver, q->device,
                        t->negotiated & (1ull << VIRTIO_F_RING_EVENT_IDX),
                        t->negotiated & (1ull << VIRTIO_F_INDIRECT_DESC), &why);
        pthread_mutex_unlock(&q->lock);
    }
    if (r < 0) {
        device_violation(t, why);
        return;
    }
    q->ready = true;
}

static void set_low(uint64_t *reg, uint32_t v) { *reg = (*reg & ~0xffffffffull) | v; }
static void set_high(uint64_t *reg, uint32_t v) { *reg = (*reg & 0xffffffffull) | ((uint64_t)v << 32); }

/* Returns the queue to notify after unlocking, or -1. */
static int write_register(struct virtio_mmio *t, uint64_t offset, uint32_t v, bool *kick_all)
{
    struct mmio_queue *q = t->queue_sel < t->ops->num_queues ? &t->queues[t->queue_sel] : NULL;
    /* Queue layout registers are frozen while the queue is enabled. */
    struct mmio_queue *qw = q && !q->ready ? q : NULL;
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->dev_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->drv_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (load_status(t) & VIRTIO_STATUS_FEATURES_OK)
            break;
        if (t->drv_features_sel == 0)
            set_low(&t->driver_features, v);
        else if (t->drv_features_sel == 1)
            set_high(&t->driver_features, v);
        else if (v)
            t->driver_features_invalid = true;
        break;
    case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = v; break;
    case VIRTIO_MMIO_QUEUE_NUM: if (qw) qw->num = v; break;
    case VIRTIO_MMIO_QUEUE_READY: if (q) write_queue_ready(t, q, v); break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        return (v & 0xffff) < t->ops->num_queues ? (int)(v & 0xffff) : -1;
    case VIRTIO_MMIO_INTERRUPT_ACK: ack_isr(t, v); break;
    case VIRTIO_MMIO_STATUS: *kick_all = write_status(t, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: if (qw) set_low(&qw->desc, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: if (qw) set_high(&qw->desc, v); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW: if (qw) set_low(&qw->driver, v); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: if (qw) set_high(&qw->driver, v); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW: if (qw) set_low(&qw->device, v); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: if (qw) set_high(&qw->device, v); break;
    default: break; /* read-only or unknown: ignored */
    }
    return -1;
}

static uint32_t read_register(struct virtio_mmio *t, uint64_t offset)
{
    struct mmio_queue *q = t->queue_sel < t->ops->num_queues ? &t->queues[t->queue_sel] : NULL;
    uint64_t features = t->offered;
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return t->dev_features_sel == 0   ? (uint32_t)features
               : t->dev_features_sel == 1 ? (uint32_t)(features >> 32)
                                          : 0;
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? t->ops->queue_max : 0;
    case VIRTIO_MMIO_QUEUE_NUM: return q ? q->num : 0;
    case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return __atomic_load_n(&t->isr, __ATOMIC_ACQUIRE);
    case VIRTIO_MMIO_STATUS: return load_status(t);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH: return 0xffffffffu; /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
    default: return 0;
    }
}

static uint64_t read_config(struct virtio_mmio *t, uint64_t off, unsigned len)
{
    uint8_t buf[VIRTIO_CONFIG_MAX] = {0};
    if (off >= t->ops->config_size || len > t->ops->config_size - off)
        return 0;
    t->ops->config_read(t->dev, buf);
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)buf[off + i] << (8 * i);
    return v;
}

int virtio_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    struct virtio_mmio *t = opaque;
    *value = 0;
    if ((len != 1 && len != 2 && len != 4 && len != 8) || offset >= VIRTIO_MMIO_SIZE)
        return 0;
    pthread_mutex_lock(&t->lock);
    if (offset >= VIRTIO_MMIO_CONFIG)
        *value = read_config(t, offset - VIRTIO_MMIO_CONFIG, len);
    else if (len == 4 && !(offset & 3))
        *value = read_register(t, offset);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int virtio_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct virtio_mmio *t = opaque;
    if ((len != 1 && len != 2 && len != 4 && len != 8) || offset >= VIRTIO_MMIO_SIZE)
        return 0;
    int notify = -1;
    bool kick_all = false;
    pthread_mutex_lock(&t->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (t->ops->config_write && off < t->ops->config_size &&
            len <= t->ops->config_size - off)
            t->ops->config_write(t->dev, off, len, value);
    } else if (len == 4 && !(offset & 3)) {
        notify = write_register(t, offset, (uint32_t)value, &kick_all);
    }
    pthread_mutex_unlock(&t->lock);
    /* Handlers run outside the register lock, so a slow one never blocks other harts'
     * register accesses. */
    if (notify >= 0)
        notify_queue(t, (unsigned)notify);
    if (kick_all && t->ops->start) {
        int r = t->ops->start(t->dev, t->negotiated);
        if (r < 0) {
            virtio_mmio_device_failed(t, "its back end could not start"); /* it said why */
            return 0;
        }
    }
    if (kick_all)
        for (unsigned i = 0; i < t->ops->num_queues; i++)
            notify_queue(t, i);
    return 0;
}

static void free_queues(struct virtio_mmio *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct mmio_queue *q = &t->queues[i];
        iothread_unwatch(q->watch);
        if (q->efd >= 0)
            close(q->efd);
        pthread_mutex_destroy(&q->lock);
    }
    free(t->queues);
}

static int init_queue(struct virtio_mmio *t, unsigned i)
{
    struct mmio_queue *q = &t->queues[i];
    q->t = t;
    q->index = i;
    q->efd = -1;
    pthread_mutex_init(&q->lock, NULL);
    if (!t->io)
        return 0;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0)
        return -errno;
    return iothread_watch(t->io, q->efd, EPOLLIN, queue_event, q, &q->watch);
}

int virtio_mmio_create(const struct virtio_mmio_params *p, const struct virtio_device_ops *ops,
                       void *dev, struct virtio_mmio **out, struct cove_error *err)
{
    if (ops->num_queues == 0 || ops->queue_max == 0 || ops->queue_max > VIRTQ_MAX_SIZE ||
        (ops->queue_max & (ops->queue_max - 1)) || ops->config_size > VIRTIO_CONFIG_MAX) {
        ops->destroy(dev);
        return cove_error_set(err, -EINVAL, "virtio-%s: bad device description", ops->name);
    }
    struct virtio_mmio *t = calloc(1, sizeof *t);
    struct mmio_queue *queues = calloc(ops->num_queues, sizeof *queues);
    if (!t || !queues) {
        free(t);
        free(queues);
        ops->destroy(dev);
        return cove_error_set(err, -ENOMEM, "virtio-%s: out of memory", ops->name);
    }
    *t = (struct virtio_mmio){.ops = ops, .dev = dev, .ram = p->ram, .io = p->io,
                              .set_irq = p->set_irq, .irq_opaque = p->irq_opaque,
                              .queues = queues};
    t->offered = ops->features | (1ull << VIRTIO_F_VERSION_1) |
                 (1ull << VIRTIO_F_RING_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->irq_lock, NULL);
    for (unsigned i = 0; i < ops->num_queues; i++) {
        int r = init_queue(t, i);
        if (r < 0) {
            free_queues(t, i + 1);
            pthread_mutex_destroy(&t->lock);
            pthread_mutex_destroy(&t->irq_lock);
            free(t);
            ops->destroy(dev);
            return cove_error_set(err, r, "virtio-%s: queue notifier: %s", ops->name,
                                  strerror(-r));
        }
    }
    *out = t;
    return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
    if (!t)
        return;
    /* Queue handlers first (unwatch waits for a running one), then the device, which
     * removes its own watches, then the queues its handlers used. */
    for (unsigned i = 0; i < t->ops->num_queues; i++) {
        iothread_unwatch(t->queues[i].watch);
        t->queues[i].watch = NULL;
    }
    t->ops->destroy(t->dev);
    free_queues(t, t->ops->num_queues);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->irq_lock);
    free(t);
}
