/*
 * The cluster map of a cdisk: loading and checking L2 tables, creating them, evicting
 * clean ones, and the metadata flush whose ordering is the crash guarantee:
 *   1. fdatasync          every data cluster (and COW copy) written so far is durable
 *   2. write L2 entries   now they may point at that data; each is an aligned 8-byte
 *                         store inside one sector, so a torn write leaves old or new
 *   3. fdatasync          new L2 tables are durable ...
 *   4. write L1 entries   ... before an L1 entry makes them reachable
 * A crash anywhere leaves a map whose entries point only at durable data; clusters
 * written after the last completed step are leaked (space, never garbage).
 */
#include "cdisk_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cdisk_hook(struct cdisk *c, const char *point)
{
    return c->base.fault_hook ? c->base.fault_hook(point, c->base.fault_opaque) : 0;
}

static uint64_t l2_count(const struct cdisk *c)
{
    return 1ull << c->l2_bits;
}

/* A loaded table from a damaged (or hostile) file must not make us read or write
 * outside the file's data area. */
static int check_table(struct cdisk *c, const struct l2_table *t)
{
    uint64_t l1_end = c->l1_offset + (uint64_t)c->l1_clusters * c->cluster_size;
    for (uint64_t i = 0; i < l2_count(c); i++) {
        uint64_t e = le64toh(t->entries[i]);
        if (e == 0 || e == CDISK_ENTRY_ZERO)
            continue;
        uint64_t off = e & CDISK_ENTRY_OFFSET_MASK;
        if ((e & CDISK_ENTRY_RESERVED_MASK) || (e & CDISK_ENTRY_ZERO) ||
            (off & (c->cluster_size - 1)) || off < c->cluster_size ||
            (off >= c->l1_offset && off < l1_end) || off >= c->file_end)
            return -EIO;
    }
    return 0;
}

static void free_table(struct l2_table *t)
{
    if (t) {
        free(t->entries);
        free(t);
    }
}

static int evict_one(struct cdisk *c)
{
    struct l2_table *victim = NULL;
    uint64_t vi = 0;
    for (int pass = 0; pass < 2 && !victim; pass++) {
        for (uint64_t i = 0; i < c->l1_cap; i++) {
            struct l2_table *t = c->l2[i];
            if (t && t->dirty_lo == t->dirty_hi && !t->unlinked &&
                (!victim || t->last_use < victim->last_use)) {
                victim = t;
                vi = i;
            }
        }
        if (!victim && pass == 0) {
            int r = cdisk_sync_meta(c, false); /* makes every table clean */
            if (r < 0)
                return r;
        }
    }
    if (victim) {
        free_table(victim);
        c->l2[vi] = NULL;
        c->loaded--;
    }
    return 0;
}

static struct l2_table *new_table(struct cdisk *c)
{
    struct l2_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->entries = calloc(l2_count(c), sizeof *t->entries);
    if (!t->entries) {
        free(t);
        return NULL;
    }
    return t;
}

int cdisk_get_table(struct cdisk *c, uint64_t i, bool create, struct l2_table **out)
{
    *out = NULL;
    if (i >= c->l1_cap)
        return -EIO;
    struct l2_table *t = c->l2[i];
    if (t) {
        t->last_use = ++c->use_clock;
        *out = t;
        return 0;
    }
    if (!c->l1[i] && !create)
        return 0;
    if (c->loaded >= c->max_loaded) {
        int r = evict_one(c);
        if (r < 0)
            return r;
    }
    t = new_table(c);
    if (!t)
        return -ENOMEM;
    if (c->l1[i]) {
        t->host = c->l1[i];
        int r = disk_pread_full(c->base.fd, t->entries, c->cluster_size, t->host);
        if (r == 0)
            r = check_table(c, t);
        if (r < 0) {
            free_table(t);
            return r;
        }
    } else {
        /* Its space is taken now; the table reaches the file in the next metadata flush. */
        t->host = c->file_end;
        c->file_end += c->cluster_size;
        t->unlinked = true;
        t->dirty_lo = 0;
        t->dirty_hi = (uint32_t)l2_count(c);
        c->meta_dirty = true;
    }
    t->last_use = ++c->use_clock;
    c->l2[i] = t;
    c->loaded++;
    *out = t;
    return 0;
}

int cdisk_lookup(struct cdisk *c, uint64_t vc, uint64_t *entry)
{
    struct l2_table *t;
    int r = cdisk_get_table(c, vc >> c->l2_bits, false, &t);
    if (r < 0)
        return r;
    *entry = t ? le64toh(t->entries[vc & (l2_count(c) - 1)]) : 0;
    return 0;
}

int cdisk_set_entry(struct cdisk *c, uint64_t vc, uint64_t entry)
{
    struct l2_table *t;
    int r = cdisk_get_table(c, vc >> c->l2_bits, true, &t);
    if (r < 0)
        return r;
    uint32_t k = (uint32_t)(vc & (l2_count(c) - 1));
    t->entries[k] = htole64(entry);
    if (t->dirty_lo == t->dirty_hi) {
        t->dirty_lo = k;
        t->dirty_hi = k + 1;
    } else {
        if (k < t->dirty_lo)
            t->dirty_lo = k;
        if (k + 1 > t->dirty_hi)
            t->dirty_hi = k + 1;
    }
    c->meta_dirty = true;
    return 0;
}

static int datasync(struct cdisk *c)
{
    return fdatasync(c->base.fd) < 0 ? -errno : 0;
}

static int write_l2_tables(struct cdisk *c, bool *any_unlinked)
{
    *any_unlinked = false;
    for (uint64_t i = 0; i < c->l1_cap; i++) {
        struct l2_table *t = c->l2[i];
        if (!t)
            continue;
        if (t->unlinked)
            *any_unlinked = true;
        if (t->dirty_lo == t->dirty_hi)
            continue;
        int r = disk_pwrite_full(c->base.fd, t->entries + t->dirty_lo,
                                 (size_t)(t->dirty_hi - t->dirty_lo) * 8,
                                 t->host + (uint64_t)t->dirty_lo * 8);
        if (r < 0)
            return r;
        t->dirty_lo = t->dirty_hi = 0;
    }
    return 0;
}

static int link_new_tables(struct cdisk *c)
{
    for (uint64_t i = 0; i < c->l1_cap; i++) {
        struct l2_table *t = c->l2[i];
        if (!t || !t->unlinked)
            continue;
        uint64_t le = htole64(t->host);
        int r = disk_pwrite_full(c->base.fd, &le, 8, c->l1_offset + i * 8);
        if (r < 0)
            return r;
        c->l1[i] = t->host;
        t->unlinked = false;
    }
    return 0;
}

int cdisk_sync_meta(struct cdisk *c, bool then_sync)
{
    int r;
    if (c->meta_dirty) {
        bool any_unlinked;
        if ((r = cdisk_hook(c, "data-written")) < 0 || (r = datasync(c)) < 0 ||
            (r = write_l2_tables(c, &any_unlinked)) < 0 ||
            (r = cdisk_hook(c, "map-written")) < 0)
            return r;
        if (any_unlinked && ((r = datasync(c)) < 0 || (r = link_new_tables(c)) < 0))
            return r;
        c->meta_dirty = false;
    }
    return then_sync ? datasync(c) : 0;
}

void cdisk_free_tables(struct cdisk *c)
{
    if (c->l2)
        for (uint64_t i = 0; i < c->l1_cap; i++)
            free_table(c->l2[i]);
    free(c->l2);
    free(c->l1);
    c->l2 = NULL;
    c->l1 = NULL;
}
