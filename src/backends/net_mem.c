/* A net attachment in memory, for tests and fuzzing: a bounded queue of the frames the
 * guest sent, and injection of frames for the guest. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"

struct mem_frame {
    size_t len;
    uint8_t *data;
};

struct net_mem {
    struct net_attachment base;
    pthread_mutex_t lock;
    net_receive_fn rx;
    void *rx_opaque;
    struct mem_frame *frames;
    unsigned max, head, count, sent;
    unsigned offload; /* the last set_offload() */
};

static struct net_mem *to_mem(struct net_attachment *n) { return (struct net_mem *)n; }

static int mem_start(struct net_attachment *n, net_receive_fn fn, void *opaque)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    m->rx = fn;
    m->rx_opaque = opaque;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mem_send(struct net_attachment *n, const void *frame, size_t len)
{
    struct net_mem *m = to_mem(n);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, frame, len);
    pthread_mutex_lock(&m->lock);
    int r = 0;
    if (m->count == m->max) {
        free(copy);
        r = -ENOBUFS;
    } else {
        m->frames[(m->head + m->count++) % m->max] = (struct mem_frame){len, copy};
        m->sent++;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

int net_mem_take(struct net_attachment *n, void *buf, size_t cap)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    if (!m->count) {
        pthread_mutex_unlock(&m->lock);
        return -EAGAIN;
    }
    struct mem_frame f = m->frames[m->head];
    m->head = (m->head + 1) % m->max;
    m->count--;
    pthread_mutex_unlock(&m->lock);
    memcpy(buf, f.data, f.len < cap ? f.len : cap);
    free(f.data);
    return (int)f.len;
}

unsigned net_mem_sent(struct net_attachment *n)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    unsigned v = m->sent;
    pthread_mutex_unlock(&m->lock);
    return v;
}

int net_mem_inject(struct net_attachment *n, const void *frame, size_t len)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    net_receive_fn fn = m->rx;
    void *opaque = m->rx_opaque;
    pthread_mutex_unlock(&m->lock);
    if (!fn)
        return -EAGAIN;
    fn(opaque, frame, len);
    return 0;
}

static void mem_close(struct net_attachment *n)
{
    struct net_mem *m = to_mem(n);
    for (unsigned i = 0; i < m->count; i++)
        free(m->frames[(m->head + i) % m->max].data);
    free(m->frames);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int mem_set_offload(struct net_attachment *n, unsigned offloads)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    m->offload = offloads;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static const struct net_attachment_ops mem_ops = {
    .start = mem_start,
    .send = mem_send,
    .close = mem_close,
    .set_offload = mem_set_offload,
};

void net_mem_set_vnet(struct net_attachment *n, unsigned offloads)
{
    n->vnet_hdr = true;
    n->offloads = offloads;
}

unsigned net_mem_offload(struct net_attachment *n)
{
    struct net_mem *m = to_mem(n);
    pthread_mutex_lock(&m->lock);
    unsigned o = m->offload;
    pthread_mutex_unlock(&m->lock);
    return o;
}

int net_mem_create(unsigned max_frames, struct net_attachment **out)
{
    if (max_frames == 0)
        return -EINVAL;
    struct net_mem *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->frames = calloc(max_frames, sizeof *m->frames);
    if (!m->frames) {
        free(m);
        return -ENOMEM;
    }
    m->base.ops = &mem_ops;
    m->base.mtu = NET_MTU_DEFAULT;
    m->max = max_frames;
    pthread_mutex_init(&m->lock, NULL);
    *out = &m->base;
    return 0;
}
