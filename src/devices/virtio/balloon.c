/*
 * virtio-balloon (virtio 1.2, 5.5): guest memory going back to the host.
 *
 * Three ways pages come back: the inflate queue (the host asked for a smaller guest by
 * raising num_pages; the driver hands over 4 KiB page frame numbers), free page reporting
 * (the driver reports free ranges of its own accord, at least a pageblock each) and, for
 * the guest's numbers, the stats queue. Pages are given back with MADV_REMOVE (guest RAM
 * is a shared memfd: only punching a hole frees it) or MADV_DONTNEED where the mapping is
 * private (tests); either way the guest reads zeroes when it uses them again. Deflated
 * pages need nothing (no MUST_TELL_HOST): the next touch faults them in.
 *
 * Every PFN is checked against guest RAM; one outside it is ignored and counted (the
 * driver may be hostile, the VMM never touches what is not RAM). Reported ranges went
 * through virtq_pop's checks already, so they lie inside RAM by construction.
 *
 * The stats queue holds one buffer the driver filled: the device keeps it until it wants
 * fresh numbers, then returns it and the driver sends a new one (5.5.6.3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/virtio_devices.h"
#include "util/log.h"
#include "util/state_format.h"

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_PAGE_REPORTING 5

#define BALLOON_PAGE 4096ull
#define CONFIG_SIZE 16 /* num_pages, actual, free_page_hint_cmd_id, poison_val */
#define STAT_ENTRY 10  /* le16 tag, le64 value, packed */
#define STATS_WAIT_MS 500

enum queue_role { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_REPORTING, Q_NONE };

struct virtio_balloon {
    const struct guest_ram *ram;
    struct virtio_mmio *t;
    struct virtq_chain chain;
    long host_page;
    bool private_ram; /* MADV_REMOVE refused: the mapping is private, DONTNEED frees it */
    uint64_t features; /* negotiated, set at DRIVER_OK */

    pthread_mutex_t lock; /* the fields below */
    pthread_cond_t stats_cond;
    uint32_t num_pages, actual;
    bool stats_held;       /* the driver's stats buffer is ours, head stats_head */
    uint16_t stats_head;
    bool stats_wanted;     /* return the held buffer on the next stats queue run */
    struct virtio_balloon_stats st;
    struct log_ratelimit bad_log;
};

static enum queue_role role_of(uint64_t features, unsigned q)
{
    if (q < 2)
        return q == 0 ? Q_INFLATE : Q_DEFLATE;
    bool stats = features & (1ull << F_STATS_VQ);
    bool rep = features & (1ull << F_PAGE_REPORTING);
    /* Queues that do not exist take no index: reporting follows stats, or takes its place. */
    if (q == 2)
        return stats ? Q_STATS : rep ? Q_REPORTING : Q_NONE;
    return q == 3 && stats && rep ? Q_REPORTING : Q_NONE;
}

/* Gives back the whole host pages inside [p, p + len); returns the bytes given back. */
static uint64_t discard(struct virtio_balloon *b, uint8_t *p, uint64_t len)
{
    uintptr_t mask = (uintptr_t)b->host_page - 1;
    uintptr_t start = ((uintptr_t)p + mask) & ~mask, end = ((uintptr_t)p + len) & ~mask;
    if (end <= start)
        return 0;
    if (!b->private_ram && madvise((void *)start, end - start, MADV_REMOVE) == 0)
        return end - start;
    if (!b->private_ram && errno != EINVAL && errno != EOPNOTSUPP)
        return 0;
    b->private_ram = true;
    return madvise((void *)start, end - start, MADV_DONTNEED) == 0 ? end - start : 0;
}

static void count_bad(struct virtio_balloon *b, uint64_t n, const char *what)
{
    unsigned more;
    pthread_mutex_lock(&b->lock);
    b->st.bad_pfns += n;
    bool say = log_ratelimit(&b->bad_log, 1000, &more);
    pthread_mutex_unlock(&b->lock);
    if (say)
        log_warn("virtio-balloon: the guest gave %s outside its RAM; ignored "
                 "(%u more messages held back)", what, more);
}

/* Inflate: runs of consecutive PFNs are given back with one call each. */
static void inflate_buffer(struct virtio_balloon *b, const uint8_t *buf, size_t len)
{
    uint64_t run_start = 0, run_pages = 0, bad = 0, freed = 0, pages = 0;
    for (size_t i = 0; i + 4 <= len; i += 4) {
        uint32_t pfn;
        memcpy(&pfn, buf + i, 4);
        uint64_t gpa = (uint64_t)pfn * BALLOON_PAGE;
        if (!guest_ram_contains(b->ram, gpa, BALLOON_PAGE)) {
            bad++;
            continue;
        }
        pages++;
        if (run_pages && gpa == run_start + run_pages * BALLOON_PAGE) {
            run_pages++;
            continue;
        }
        if (run_pages)
            freed += discard(b, guest_ram_ptr(b->ram, run_start, run_pages * BALLOON_PAGE),
                             run_pages * BALLOON_PAGE);
        run_start = gpa;
        run_pages = 1;
    }
    if (run_pages)
        freed += discard(b, guest_ram_ptr(b->ram, run_start, run_pages * BALLOON_PAGE),
                         run_pages * BALLOON_PAGE);
    pthread_mutex_lock(&b->lock);
    b->st.inflated_pages += pages;
    b->st.freed_bytes += freed;
    pthread_mutex_unlock(&b->lock);
    if (bad)
        count_bad(b, bad, "page numbers");
}

static int serve_inflate(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_balloon *b = dev;
    for (unsigned i = 0; i < c->n_out; i++)
        inflate_buffer(b, c->iov[i].iov_base, c->iov[i].iov_len);
    virtq_push(vq, c->head, 0);
    return 0;
}

static int serve_deflate(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_balloon *b = dev;
    uint64_t pages = 0;
    for (unsigned i = 0; i < c->n_out; i++)
        pages += c->iov[i].iov_len / 4;
    pthread_mutex_lock(&b->lock);
    b->st.deflated_pages += pages;
    pthread_mutex_unlock(&b->lock);
    virtq_push(vq, c->head, 0);
    return 0;
}

/* Free page reporting: every buffer of the chain is a free range (Linux posts them
 * device-writable; either direction is taken). */
static int serve_reporting(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_balloon *b = dev;
    uint64_t freed = 0, reported = 0;
    for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
        reported += c->iov[i].iov_len;
        freed += discard(b, c->iov[i].iov_base, c->iov[i].iov_len);
    }
    pthread_mutex_lock(&b->lock);
    b->st.reported_bytes += reported;
    b->st.freed_bytes += freed;
    pthread_mutex_unlock(&b->lock);
    virtq_push(vq, c->head, 0);
    return 0;
}

static void read_stats(struct virtio_balloon *b, const struct virtq_chain *c)
{
    struct virtio_balloon_stats *st = &b->st;
    uint8_t entry[STAT_ENTRY];
    size_t have = 0;
    for (unsigned i = 0; i < c->n_out; i++) {
        const uint8_t *p = c->iov[i].iov_base;
        for (size_t k = 0; k < c->iov[i].iov_len; k++) { /* entries may straddle buffers */
            entry[have++] = p[k];
            if (have < STAT_ENTRY)
                continue;
            have = 0;
            uint16_t tag;
            uint64_t val;
            memcpy(&tag, entry, 2);
            memcpy(&val, entry + 2, 8);
            if (tag < VIRTIO_BALLOON_S_NR) {
                st->stat[tag] = val;
                st->stat_valid |= 1u << tag;
            }
        }
    }
    st->stats_updates++;
}

static int serve_stats(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    if (b->stats_held && b->stats_head < vq->size) /* a second buffer: the old one is done */
        virtq_push(vq, b->stats_head, 0);
    read_stats(b, c);
    b->stats_held = true;
    b->stats_head = c->head;
    pthread_cond_broadcast(&b->stats_cond);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int balloon_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct virtio_balloon *b = dev;
    uint64_t features = __atomic_load_n(&b->features, __ATOMIC_ACQUIRE);
    if (!features)
        return 0; /* DRIVER_OK is being set: start() comes, then every queue is run */
    switch (role_of(features, q)) {
    case Q_INFLATE: return virtio_queue_serve(vq, &b->chain, NULL, serve_inflate, b);
    case Q_DEFLATE: return virtio_queue_serve(vq, &b->chain, NULL, serve_deflate, b);
    case Q_REPORTING: return virtio_queue_serve(vq, &b->chain, NULL, serve_reporting, b);
    case Q_STATS:
        pthread_mutex_lock(&b->lock);
        if (b->stats_wanted && b->stats_held && b->stats_head < vq->size) {
            virtq_push(vq, b->stats_head, 0); /* asks the driver for fresh numbers */
            b->stats_held = false;
        }
        b->stats_wanted = false;
        pthread_mutex_unlock(&b->lock);
        return virtio_queue_serve(vq, &b->chain, NULL, serve_stats, b);
    case Q_NONE: break;
    }
    int r = virtq_pop(vq, &b->chain);
    return r <= 0 ? r : virtq_fail(vq, "buffers on a balloon queue that was not negotiated");
}

static void balloon_config_read(void *dev, uint8_t *buf)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    memcpy(buf, &b->num_pages, 4);
    memcpy(buf + 4, &b->actual, 4);
    memset(buf + 8, 0, CONFIG_SIZE - 8);
    pthread_mutex_unlock(&b->lock);
}

/* Only `actual` (bytes 4..7) is the driver's to write; partial writes merge. */
static void balloon_config_write(void *dev, uint64_t offset, unsigned len, uint64_t value)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    uint8_t bytes[4];
    memcpy(bytes, &b->actual, 4);
    for (unsigned i = 0; i < len; i++) {
        uint64_t at = offset + i;
        if (at >= 4 && at < 8)
            bytes[at - 4] = (uint8_t)(value >> (8 * i));
    }
    memcpy(&b->actual, bytes, 4);
    pthread_mutex_unlock(&b->lock);
}

static int balloon_start(void *dev, uint64_t features)
{
    struct virtio_balloon *b = dev;
    __atomic_store_n(&b->features, features, __ATOMIC_RELEASE);
    return 0;
}

static void balloon_reset(void *dev)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    b->stats_held = b->stats_wanted = false;
    b->actual = 0; /* a new driver starts with an empty balloon */
    __atomic_store_n(&b->features, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
}

static void balloon_destroy(void *dev)
{
    struct virtio_balloon *b = dev;
    pthread_cond_destroy(&b->stats_cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Suspend and resume (docs/STATE-FORMAT.md): the target, what the driver said it holds,
 * the negotiated features (which name the queues) and the stats buffer the device holds;
 * the counters start again. */
static int balloon_save(void *dev, struct state_writer *w)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    state_put_u32(w, b->num_pages);
    state_put_u32(w, b->actual);
    state_put_u64(w, __atomic_load_n(&b->features, __ATOMIC_ACQUIRE));
    state_put_u8(w, b->stats_held);
    state_put_u32(w, b->stats_head);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int balloon_load(void *dev, struct state_reader *r, struct cove_error *err)
{
    struct virtio_balloon *b = dev;
    uint32_t num_pages = state_get_u32(r), actual = state_get_u32(r);
    uint64_t features = state_get_u64(r);
    bool held = state_get_u8(r) != 0;
    uint32_t head = state_get_u32(r);
    if (r->bad)
        return cove_error_set(err, -EINVAL, "virtio-balloon: the saved state is cut short");
    /* any features value is safe (it only names queues); the rest is checked */
    if (head > UINT16_MAX || (uint64_t)num_pages * BALLOON_PAGE > b->ram->size)
        return cove_error_set(err, -EINVAL, "virtio-balloon: the saved state is not valid");
    pthread_mutex_lock(&b->lock);
    b->num_pages = num_pages;
    b->actual = actual;
    b->stats_held = held;
    b->stats_head = (uint16_t)head;
    b->stats_wanted = false;
    pthread_mutex_unlock(&b->lock);
    __atomic_store_n(&b->features, features, __ATOMIC_RELEASE);
    return 0;
}

static const struct virtio_device_ops balloon_ops = {
    .name = "balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .features = (1ull << F_STATS_VQ) | (1ull << F_DEFLATE_ON_OOM) | (1ull << F_PAGE_REPORTING),
    .num_queues = 4,
    .queue_max = 128,
    .config_size = CONFIG_SIZE,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .queue_handler = balloon_queue,
    .reset = balloon_reset,
    .destroy = balloon_destroy,
    .start = balloon_start,
    .save = balloon_save,
    .load = balloon_load,
};

int virtio_balloon_create(const struct virtio_mmio_params *p, struct virtio_mmio **out,
                          struct virtio_balloon **dev_out, struct cove_error *err)
{
    struct virtio_balloon *b = calloc(1, sizeof *b);
    if (!b)
        return cove_error_set(err, -ENOMEM, "virtio-balloon: out of memory");
    b->ram = p->ram;
    b->host_page = sysconf(_SC_PAGESIZE);
    if (b->host_page <= 0)
        b->host_page = 4096;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->stats_cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = virtio_mmio_create(p, &balloon_ops, b, out, err);
    if (rc < 0)
        return rc;
    b->t = *out;
    if (dev_out)
        *dev_out = b;
    return 0;
}

int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes)
{
    if (guest_bytes > b->ram->size)
        return -ERANGE;
    uint64_t pages = (b->ram->size - guest_bytes) / BALLOON_PAGE;
    pthread_mutex_lock(&b->lock);
    b->num_pages = (uint32_t)pages;
    pthread_mutex_unlock(&b->lock);
    virtio_mmio_config_changed(b->t);
    return 0;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, bool refresh,
                              struct virtio_balloon_stats *out)
{
    unsigned q = 2; /* the stats queue, when negotiated, is always the third */
    bool ask = refresh && (__atomic_load_n(&b->features, __ATOMIC_ACQUIRE) & (1ull << F_STATS_VQ));
    pthread_mutex_lock(&b->lock);
    uint64_t seen = b->st.stats_updates;
    if (ask && b->stats_held)
        b->stats_wanted = true;
    else
        ask = false;
    pthread_mutex_unlock(&b->lock);
    if (ask && virtio_mmio_process_queue(b->t, q) == 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += STATS_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&b->lock);
        while (b->st.stats_updates == seen &&
               pthread_cond_timedwait(&b->stats_cond, &b->lock, &until) == 0) {
        }
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_lock(&b->lock);
    *out = b->st;
    out->ram_bytes = b->ram->size;
    out->target_bytes = (uint64_t)b->num_pages * BALLOON_PAGE;
    out->actual_bytes = (uint64_t)b->actual * BALLOON_PAGE;
    pthread_mutex_unlock(&b->lock);
}
