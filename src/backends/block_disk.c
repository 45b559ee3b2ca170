/*
 * Disk images through src/disk (raw or cdisk, detected from the header): what lets a VM
 * boot a copy-on-write overlay made by `cove clone`.
 */
#include "block.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"

struct block_disk {
    struct block_attachment base;
    struct disk *disk;
    enum cove_disk_sync sync;
};

static struct disk *disk_of(struct block_attachment *b)
{
    return ((struct block_disk *)b)->disk;
}

static int bd_readv(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return disk_readv(disk_of(b), iov, n, off);
}

static int bd_writev(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return disk_writev(disk_of(b), iov, n, off);
}

/* What a guest's flush does on the host: the disk's sync mode (cove/config.h). */
static int bd_flush(struct block_attachment *b)
{
    switch (((struct block_disk *)b)->sync) {
    case COVE_DISK_SYNC_NONE: return 0;
    case COVE_DISK_SYNC_FULL: return disk_flush_full(disk_of(b));
    default: return disk_flush(disk_of(b));
    }
}

static int bd_discard(struct block_attachment *b, uint64_t off, uint64_t len)
{
    return disk_discard(disk_of(b), off, len);
}

static int bd_write_zeroes(struct block_attachment *b, uint64_t off, uint64_t len, bool unmap)
{
    return disk_write_zeroes(disk_of(b), off, len, unmap);
}

static void bd_close(struct block_attachment *b)
{
    disk_close(disk_of(b));
    free(b);
}

static const struct block_attachment_ops block_disk_ops = {
    bd_readv, bd_writev, bd_flush, bd_discard, bd_write_zeroes, bd_close,
};

static unsigned open_flags(const struct block_options *o)
{
    return (o->read_only ? DISK_OPEN_READ_ONLY : 0) |
           (o->cache == COVE_DISK_CACHE_NONE ? DISK_OPEN_DIRECT : 0);
}

/* files: NULL opens path, else the chain's descriptors (disk_open_files). */
static int open_disk(const char *path, const struct block_options *o, struct disk_files *files,
                     struct block_attachment **out, struct cove_error *err)
{
    struct block_disk *b = calloc(1, sizeof *b);
    if (!b)
        return cove_error_set(err, -ENOMEM, "out of memory");
    unsigned flags = open_flags(o);
    int rc = files ? disk_open_files(path, flags, files, &b->disk, err)
                   : disk_open_ex(path, DISK_FORMAT_AUTO, flags, &b->disk, err);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->base.ops = &block_disk_ops;
    b->base.size = disk_size(b->disk);
    b->base.read_only = o->read_only;
    b->sync = o->sync;
    snprintf(b->base.name, sizeof b->base.name, "%s", path);
    /* GET_ID's serial: the image's file name */
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(b->base.serial, sizeof b->base.serial, "%s", basename(copy));
    *out = &b->base;
    return 0;
}

int block_disk_open(const char *path, const struct block_options *o,
                    struct block_attachment **out, struct cove_error *err)
{
    return open_disk(path, o, NULL, out, err);
}

int block_disk_open_files(const char *path, const struct block_options *o,
                          struct disk_files *files, struct block_attachment **out,
                          struct cove_error *err)
{
    return open_disk(path, o, files, out, err);
}

int block_disk_files_open(const char *path, const struct block_options *o,
                          struct disk_files *files, struct cove_error *err)
{
    return disk_files_open(path, open_flags(o), files, err);
}

struct disk *block_disk_of(struct block_attachment *b)
{
    return b && b->ops == &block_disk_ops ? disk_of(b) : NULL;
}
