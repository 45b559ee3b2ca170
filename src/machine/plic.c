#include "machine/plic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/state_format.h"

#define PLIC_WORDS ((PLIC_NDEV + 1 + 31) / 32)

#define PLIC_PRIORITY_BASE 0x0
#define PLIC_PENDING_BASE 0x1000
#define PLIC_ENABLE_BASE 0x2000
#define PLIC_ENABLE_STRIDE 0x80
#define PLIC_CONTEXT_BASE 0x200000
#define PLIC_CONTEXT_STRIDE 0x1000

struct plic_context {
    uint32_t enable[PLIC_WORDS];
    uint32_t threshold;
    bool output;
};

struct plic {
    pthread_mutex_t lock;
    plic_output_fn output_fn;
    void *opaque;
    unsigned ncontexts;
    uint32_t priority[PLIC_NDEV + 1];
    uint32_t level[PLIC_WORDS];   /* device lines */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS]; /* in service: the gateway holds the line off */
    struct plic_context ctx[];
};

static bool bit_get(const uint32_t *w, unsigned n) { return (w[n / 32] >> (n % 32)) & 1; }

static void bit_set(uint32_t *w, unsigned n, bool v)
{
    if (v)
        w[n / 32] |= 1u << (n % 32);
    else
        w[n / 32] &= ~(1u << (n % 32));
}

int plic_create(unsigned contexts, plic_output_fn output, void *opaque, struct plic **out)
{
    if (!contexts || contexts > 15872 || !output)
        return -EINVAL;
    struct plic *p = calloc(1, sizeof *p + contexts * sizeof p->ctx[0]);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->output_fn = output;
    p->opaque = opaque;
    p->ncontexts = contexts;
    *out = p;
    return 0;
}

void plic_destroy(struct plic *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Highest-priority source deliverable to ctx (ties go to the lowest id), or 0. */
static unsigned best_source(const struct plic *p, const struct plic_context *c)
{
    unsigned best = 0;
    uint32_t best_prio = c->threshold;
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        uint32_t cand = p->pending[w] & c->enable[w];
        while (cand) {
            unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if (src == 0 || src > PLIC_NDEV)
                continue;
            if (p->priority[src] > best_prio) {
                best_prio = p->priority[src];
                best = src;
            }
        }
    }
    return best;
}

static void update_outputs(struct plic *p)
{
    for (unsigned i = 0; i < p->ncontexts; i++) {
        struct plic_context *c = &p->ctx[i];
        bool level = best_source(p, c) != 0;
        if (level != c->output) {
            c->output = level;
            p->output_fn(p->opaque, i, level);
        }
    }
}

/* The gateway: a high line makes its source pending unless it is being serviced. */
static void gateway(struct plic *p, unsigned src)
{
    if (bit_get(p->level, src) && !bit_get(p->claimed, src))
        bit_set(p->pending, src, true);
    else if (!bit_get(p->level, src))
        bit_set(p->pending, src, false);
}

void plic_set_level(struct plic *p, unsigned source, bool level)
{
    if (source == 0 || source > PLIC_NDEV)
        return;
    pthread_mutex_lock(&p->lock);
    if (bit_get(p->level, source) != level) {
        bit_set(p->level, source, level);
        gateway(p, source);
        update_outputs(p);
    }
    pthread_mutex_unlock(&p->lock);
}

static uint32_t claim(struct plic *p, struct plic_context *c)
{
    unsigned src = best_source(p, c);
    if (src) {
        bit_set(p->pending, src, false);
        bit_set(p->claimed, src, true);
        update_outputs(p);
    }
    return src;
}

static void complete(struct plic *p, struct plic_context *c, uint32_t src)
{
    /* The spec ignores completions of sources not enabled for this context. */
    if (src == 0 || src > PLIC_NDEV || !bit_get(c->enable, src))
        return;
    bit_set(p->claimed, src, false);
    gateway(p, src);
    update_outputs(p);
}

static uint32_t read32(struct plic *p, uint64_t off)
{
    if (off < PLIC_PENDING_BASE) {
        unsigned src = (unsigned)(off / 4);
        return src <= PLIC_NDEV ? p->priority[src] : 0;
    }
    if (off < PLIC_ENABLE_BASE) {
        unsigned w = (unsigned)((off - PLIC_PENDING_BASE) / 4);
        return w < PLIC_WORDS ? p->pending[w] : 0;
    }
    if (off < PLIC_CONTEXT_BASE) {
        uint64_t ci = (off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        unsigned w = (unsigned)((off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE / 4);
        if (ci >= p->ncontexts || w >= PLIC_WORDS)
            return 0;
        return p->ctx[ci].enable[w];
    }
    uint64_t ci = (off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
    uint64_t reg = (off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
    if (ci >= p->ncontexts)
        return 0;
    if (reg == 0)
        return p->ctx[ci].threshold;
    if (reg == 4)
        return claim(p, &p->ctx[ci]);
    return 0;
}

static void write32(struct plic *p, uint64_t off, uint32_t v)
{
    if (off < PLIC_PENDING_BASE) {
        unsigned src = (unsigned)(off / 4);
        if (src >= 1 && src <= PLIC_NDEV) {
            p->priority[src] = v & PLIC_PRIORITY_MASK;
            update_outputs(p);
        }
        return;
    }
    if (off < PLIC_ENABLE_BASE)
        return; /* pending bits are read-only */
    if (off < PLIC_CONTEXT_BASE) {
        uint64_t ci = (off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        unsigned w = (unsigned)((off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE / 4);
        if (ci >= p->ncontexts || w >= PLIC_WORDS)
            return;
        if (w == 0)
            v &= ~1u; /* source 0 does not exist */
        if (w == PLIC_WORDS - 1 && (PLIC_NDEV + 1) % 32)
            v &= (1u << ((PLIC_NDEV + 1) % 32)) - 1;
        p->ctx[ci].enable[w] = v;
        update_outputs(p);
        return;
    }
    uint64_t ci = (off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
    uint64_t reg = (off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
    if (ci >= p->ncontexts)
        return;
    if (reg == 0) {
        p->ctx[ci].threshold = v & PLIC_PRIORITY_MASK;
        update_outputs(p);
    } else if (reg == 4) {
        complete(p, &p->ctx[ci], v);
    }
}

/* Registers are 32 bits wide; an 8-byte access is taken as its two halves, which is what
 * a 64-bit load of two neighbouring registers means. Narrower accesses are refused. */
int plic_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    struct plic *p = opaque;
    if ((len != 4 && len != 8) || offset % 4)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    uint64_t v = read32(p, offset);
    if (len == 8)
        v |= (uint64_t)read32(p, offset + 4) << 32;
    pthread_mutex_unlock(&p->lock);
    *value = v;
    return 0;
}

int plic_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct plic *p = opaque;
    if ((len != 4 && len != 8) || offset % 4)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    write32(p, offset, (uint32_t)value);
    if (len == 8)
        write32(p, offset + 4, (uint32_t)(value >> 32));
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* --- save and restore ---------------------------------------------------------------- */

void plic_save(struct plic *p, struct state_writer *w)
{
    pthread_mutex_lock(&p->lock);
    state_put_u32(w, p->ncontexts);
    for (unsigned i = 0; i <= PLIC_NDEV; i++)
        state_put_u32(w, p->priority[i]);
    for (unsigned i = 0; i < PLIC_WORDS; i++) {
        state_put_u32(w, p->level[i]);
        state_put_u32(w, p->pending[i]);
        state_put_u32(w, p->claimed[i]);
    }
    for (unsigned c = 0; c < p->ncontexts; c++) {
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            state_put_u32(w, p->ctx[c].enable[i]);
        state_put_u32(w, p->ctx[c].threshold);
    }
    pthread_mutex_unlock(&p->lock);
}

int plic_load(struct plic *p, struct state_reader *r)
{
    if (state_get_u32(r) != p->ncontexts)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i <= PLIC_NDEV; i++)
        p->priority[i] = state_get_u32(r) & PLIC_PRIORITY_MASK;
    p->priority[0] = 0;
    for (unsigned i = 0; i < PLIC_WORDS; i++) {
        p->level[i] = state_get_u32(r);
        p->pending[i] = state_get_u32(r);
        p->claimed[i] = state_get_u32(r);
    }
    for (unsigned c = 0; c < p->ncontexts; c++) {
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            p->ctx[c].enable[i] = state_get_u32(r);
        p->ctx[c].threshold = state_get_u32(r) & PLIC_PRIORITY_MASK;
    }
    /* Source 0 and the bits past the last source do not exist. */
    uint32_t last = (PLIC_NDEV + 1) % 32 ? (1u << ((PLIC_NDEV + 1) % 32)) - 1 : ~0u;
    for (uint32_t *a[] = {p->level, p->pending, p->claimed}, **x = a; x < a + 3; x++) {
        (*x)[0] &= ~1u;
        (*x)[PLIC_WORDS - 1] &= last;
    }
    for (unsigned c = 0; c < p->ncontexts; c++) {
        p->ctx[c].enable[0] &= ~1u;
        p->ctx[c].enable[PLIC_WORDS - 1] &= last;
        p->ctx[c].output = false;
    }
    update_outputs(p);
    pthread_mutex_unlock(&p->lock);
    return state_reader_done(r) ? 0 : -EINVAL;
}
