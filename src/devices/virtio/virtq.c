#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Ring layouts (virtio 1.2, 2.7.5-2.7.8): avail = flags, idx, ring[size], used_event;
 * used = flags, idx, ring[size] of {id, len}, avail_event. All little-endian. */
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static uint16_t load16_acquire(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static uint16_t load16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static void store16(uint8_t *p, uint16_t v, int order)
{
    __atomic_store_n((uint16_t *)p, htole16(v), order);
}

static uint8_t *avail_used_event(struct virtq *vq)
{
    return vq->avail + AVAIL_RING + 2u * vq->size;
}

static uint8_t *used_avail_event(struct virtq *vq)
{
    return vq->used + USED_RING + (size_t)USED_ELEM_SIZE * vq->size;
}

int virtq_setup(struct virtq *vq, const struct guest_ram *ram, uint16_t size, uint64_t desc,
                uint64_t avail, uint64_t used, bool event_idx, bool indirect, const char **why)
{
    virtq_reset(vq);
    if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1))) {
        *why = "queue size is not a power of two within the maximum";
        return -EINVAL;
    }
    if ((desc & 15) || (avail & 1) || (used & 3)) {
        *why = "queue ring address misaligned";
        return -EINVAL;
    }
    /* The event fields are always part of the ring's footprint, negotiated or not. */
    uint8_t *d = guest_ram_ptr(ram, desc, (uint64_t)VIRTQ_DESC_SIZE * size);
    uint8_t *a = guest_ram_ptr(ram, avail, AVAIL_RING + 2ull * size + 2);
    uint8_t *u = guest_ram_ptr(ram, used, USED_RING + (uint64_t)USED_ELEM_SIZE * size + 2);
    if (!d || !a || !u) {
        *why = "queue ring outside guest RAM";
        return -EINVAL;
    }
    vq->ram = ram;
    vq->size = size;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    /* The driver may have zeroed the used ring or not; the device owns used->idx. */
    store16(u + USED_IDX, 0, __ATOMIC_RELEASE);
    return 0;
}

void virtq_take_over(struct virtq *vq)
{
    if (vq->size == 0)
        return;
    uint16_t used = load16_acquire(vq->used + USED_IDX);
    vq->last_avail = vq->used_idx = vq->signalled_used = used;
}

void virtq_restore(struct virtq *vq, uint16_t last_avail, uint16_t used_idx,
                   uint16_t signalled_used)
{
    vq->last_avail = last_avail;
    vq->used_idx = used_idx;
    vq->signalled_used = signalled_used;
    store16(vq->used + USED_IDX, used_idx, __ATOMIC_RELEASE);
}

void virtq_reset(struct virtq *vq)
{
    memset(vq, 0, sizeof *vq);
}

int virtq_fail(struct virtq *vq, const char *why)
{
    vq->broken = true;
    vq->error = why;
    return -EIO;
}

static void read_desc(const uint8_t *table, unsigned i, struct desc *d)
{
    /* One copy, then only the copy is looked at: the guest may change the table. */
    uint8_t raw[VIRTQ_DESC_SIZE];
    memcpy(raw, table + (size_t)i * VIRTQ_DESC_SIZE, sizeof raw);
    __asm__ volatile("" ::: "memory");
    memcpy(&d->addr, raw, 8);
    memcpy(&d->len, raw + 8, 4);
    memcpy(&d->flags, raw + 12, 2);
    memcpy(&d->next, raw + 14, 2);
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

/* Number of new entries in the avail ring, or -EIO when the index moved impossibly far. */
static int avail_pending(struct virtq *vq)
{
    uint16_t idx = load16_acquire(vq->avail + AVAIL_IDX);
    uint16_t n = (uint16_t)(idx - vq->last_avail);
    if (n > vq->size)
        return virtq_fail(vq, "avail index moved by more than the queue size");
    return n;
}

static int add_buffer(struct virtq *vq, struct virtq_chain *c, const struct desc *d)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    if (!writable && c->n_in)
        return virtq_fail(vq, "device-readable descriptor after a device-writable one");
    if (c->n_out + c->n_in >= VIRTQ_MAX_SIZE)
        return virtq_fail(vq, "descriptor chain too long");
    void *p = guest_ram_ptr(vq->ram, d->addr, d->len);
    if (!p)
        return virtq_fail(vq, "descriptor buffer outside guest RAM");
    struct iovec *iov = &c->iov[c->n_out + c->n_in];
    iov->iov_base = p;
    iov->iov_len = d->len;
    if (writable) {
        c->n_in++;
        c->in_len += d->len;
    } else {
        c->n_out++;
        c->out_len += d->len;
    }
    return 0;
}

/* Walks one table (the ring's or an indirect one) from index i. A chain visits each
 * entry at most once, so more steps than entries means a loop. */
static int walk_table(struct virtq *vq, struct virtq_chain *c, const uint8_t *table,
                      unsigned entries, unsigned i, bool nested)
{
    for (unsigned steps = 0;; steps++) {
        if (steps >= entries)
            return virtq_fail(vq, "descriptor chain loops or is longer than its table");
        struct desc d;
        read_desc(table, i, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect)
                return virtq_fail(vq, "indirect descriptor without INDIRECT_DESC");
            if (nested)
                return virtq_fail(vq, "nested indirect descriptor");
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return virtq_fail(vq, "indirect descriptor with NEXT");
            if (d.len == 0 || d.len % VIRTQ_DESC_SIZE ||
                d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SIZE)
                return virtq_fail(vq, "bad indirect table length");
            const uint8_t *ind = guest_ram_ptr(vq->ram, d.addr, d.len);
            if (!ind)
                return virtq_fail(vq, "indirect table outside guest RAM");
            return walk_table(vq, c, ind, d.len / VIRTQ_DESC_SIZE, 0, true);
        }
        int r = add_buffer(vq, c, &d);
        if (r < 0)
            return r;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= entries)
            return virtq_fail(vq, "descriptor next index out of range");
        i = d.next;
    }
}

uint16_t virtq_avail_idx_notify_next(struct virtq *vq)
{
    if (vq->size == 0 || vq->broken)
        return 0;
    uint16_t idx = load16_acquire(vq->avail + AVAIL_IDX);
    if (vq->event_idx) {
        /* As in virtq_pop: publish, then look again for a buffer added meanwhile. */
        store16(used_avail_event(vq), idx, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        idx = load16_acquire(vq->avail + AVAIL_IDX);
    }
    return idx;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
    if (vq->broken)
        return -EIO;
    if (vq->size == 0)
        return 0;
    int n = avail_pending(vq);
    if (n == 0 && vq->event_idx) {
        /* Ask for a notification on the next buffer, then look again: the driver may
         * have added one before it could see the new avail_event. */
        store16(used_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        n = avail_pending(vq);
    }
    if (n <= 0)
        return n;
    uint16_t head = load16(vq->avail + AVAIL_RING + 2u * (vq->last_avail & (vq->size - 1)));
    if (head >= vq->size)
        return virtq_fail(vq, "avail ring head index out of range");
    c->head = head;
    c->n_out = c->n_in = 0;
    c->out_len = c->in_len = 0;
    int r = walk_table(vq, c, vq->desc, vq->size, head, false);
    if (r < 0)
        return r;
    vq->last_avail++;
    return 1;
}

void virtq_unpop(struct virtq *vq)
{
    vq->last_avail--;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
    if (vq->broken || vq->size == 0)
        return;
    uint8_t *elem = vq->used + USED_RING + (size_t)USED_ELEM_SIZE * (vq->used_idx & (vq->size - 1));
    uint32_t id = htole32(head), len = htole32(written);
    memcpy(elem, &id, 4);
    memcpy(elem + 4, &len, 4);
    vq->used_idx++;
    /* The element must be visible before the index that hands it over. */
    store16(vq->used + USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_need_interrupt(struct virtq *vq)
{
    if (vq->size == 0)
        return false;
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    if (old == now)
        return false;
    vq->signalled_used = now;
    /* Our used->idx store must be ordered before reading the driver's suppression
     * state, or both sides could decide the other one will act. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx)
        return !(load16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t event = load16(avail_used_event(vq));
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
