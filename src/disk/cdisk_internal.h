/*
 * cdisk_internal.h — the in-memory state of an open cdisk, shared by its files:
 * cdisk_open.c (header, open, create, resize), cdisk_map.c (L1/L2 tables, the metadata
 * flush that orders them after the data) and cdisk.c (reads, writes, discard).
 *
 * The map lives in memory: L1 entirely, L2 tables loaded on demand and kept in their
 * on-disk (little-endian) form so that a dirty range is written as it is. An entry is
 * changed in memory only after the data it points to was written; it reaches the file
 * only after that data is durable (cdisk_sync_meta).
 */
#ifndef COVE_CDISK_INTERNAL_H
#define COVE_CDISK_INTERNAL_H

#include "cdisk_format.h"
#include "disk_internal.h"

struct l2_table {
    uint64_t *entries;      /* little-endian, as on disk */
    uint64_t host;          /* where the table lives in the file */
    uint32_t dirty_lo, dirty_hi; /* entries [lo, hi) differ from the file */
    bool unlinked;          /* its L1 entry is not in the file yet */
    uint64_t last_use;
};

struct cdisk {
    struct disk base;
    unsigned cluster_bits;
    uint64_t cluster_size;
    unsigned l2_bits;       /* log2 of entries per L2 table */
    uint64_t l1_offset;
    uint32_t l1_clusters;
    uint64_t l1_cap;        /* entries the reserved L1 region holds */
    uint64_t *l1;           /* host byte order, l1_cap entries */
    struct l2_table **l2;   /* l1_cap slots, NULL when not loaded */
    unsigned loaded, max_loaded;
    uint64_t use_clock;
    uint64_t file_end;      /* next free cluster-aligned offset */
    uint64_t size_hint;     /* the file is at least this long */
    bool meta_dirty;
    bool was_dirty;         /* the header's dirty flag when opened */
    unsigned char header[CDISK_HEADER_SIZE]; /* as in the file */
    struct disk *backing;
    enum disk_format backing_format;
    char backing_name[DISK_PATH_MAX]; /* as stored */
    unsigned char *bounce;  /* one cluster, for copy-on-write from the backing */
};

static inline struct cdisk *to_cdisk(struct disk *d)
{
    return (struct cdisk *)d;
}

/* The L2 entry of virtual cluster vc, or 0 when its table does not exist. */
int cdisk_lookup(struct cdisk *c, uint64_t vc, uint64_t *entry);
/* Sets the entry of vc (host order), creating its L2 table if needed. */
int cdisk_set_entry(struct cdisk *c, uint64_t vc, uint64_t entry);
/* Loads (or with create, makes) the L2 table of L1 index i; *t is NULL if absent. */
int cdisk_get_table(struct cdisk *c, uint64_t i, bool create, struct l2_table **t);
/* Writes the dirty map after an fdatasync of the data; then_sync: fdatasync at the end. */
int cdisk_sync_meta(struct cdisk *c, bool then_sync);
void cdisk_free_tables(struct cdisk *c);
int cdisk_hook(struct cdisk *c, const char *point);

/* cdisk_open.c: the header and the ops that are about the file as a whole. */
int cdisk_write_header(struct cdisk *c);
void cdisk_set_dirty_flag(struct cdisk *c, bool dirty);
/* Checks c->header (read from a file of file_size bytes) and fills the geometry, file_end
 * and the backing fields; the message names what is wrong. */
int cdisk_parse_header(struct cdisk *c, const char *path, uint64_t file_size,
                       struct cove_error *err);
int cdisk_close_impl(struct disk *d);
int cdisk_resize_impl(struct disk *d, uint64_t new_size, struct cove_error *err);
void cdisk_info_impl(struct disk *d, struct disk_info *info);

extern const struct disk_ops cdisk_ops; /* cdisk.c */

#endif
