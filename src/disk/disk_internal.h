/*
 * disk_internal.h — what the format drivers (raw, cdisk) share with the dispatcher.
 *
 * disk.c checks bounds, takes the disk's mutex and then calls the driver's ops, so ops
 * never lock and always see in-range requests. A driver embeds struct disk first.
 * readv/writev are optional: a driver that can move a whole iovec array at once (raw: one
 * preadv/pwritev) gives them; without them disk.c calls read/write once per buffer.
 */
#ifndef COVE_DISK_INTERNAL_H
#define COVE_DISK_INTERNAL_H

#include "disk.h"

#include <pthread.h>
#include <sys/types.h>

/* Test hook (tests/unit/disk): cdisk calls it at its crash-relevant points and fails the
 * operation with its negative return, leaving the file as a crash there would. Points:
 * "data-written" (before the data sync of a metadata flush), "map-written" (after the L2
 * entries were written, before the L1 entries). */
typedef int (*disk_fault_hook_fn)(const char *point, void *opaque);
void disk_set_fault_hook(struct disk *d, disk_fault_hook_fn fn, void *opaque);

struct disk_ops {
    int (*read)(struct disk *d, void *buf, size_t len, uint64_t off);
    int (*write)(struct disk *d, const void *buf, size_t len, uint64_t off);
    int (*readv)(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off);
    int (*writev)(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off);
    int (*flush)(struct disk *d);
    int (*discard)(struct disk *d, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct disk *d, uint64_t off, uint64_t len, bool unmap);
    int (*resize)(struct disk *d, uint64_t new_size, struct cove_error *err);
    int (*block_status)(struct disk *d, uint64_t off, uint64_t len, uint64_t *run);
    void (*info)(struct disk *d, struct disk_info *info);
    int (*close)(struct disk *d); /* flushes and frees the driver's state, not fd/path */
};

struct disk {
    const struct disk_ops *ops;
    enum disk_format format;
    char *path;
    int fd;
    bool read_only;
    bool probed;        /* format was detected, not given (raw: guard sector 0) */
    uint64_t size;
    pthread_mutex_t lock;
    int direct_fd;          /* cache=none: O_DIRECT descriptor of the same file; else -1 */
    uint32_t direct_align;  /* its offset and length alignment */
    uint32_t direct_mem_align; /* its buffer alignment */
    disk_fault_hook_fn fault_hook;
    void *fault_opaque;
    disk_fill_fn fill;      /* disk_set_fill; NULL: the file holds all the data */
    void *fill_opaque;
};

/* cdisk.c: an overlay's backing image (NULL when none). */
struct disk *cdisk_backing(struct disk *d);

/* Where an open gets its files (disk_files_open, disk_open_files); NULL: open(2) of each
 * path. keep: open the paths and keep a duplicate of each descriptor in files; else take
 * each from files (a process that may open nothing). */
struct disk_source {
    struct disk_files *files;
    bool keep;
};

/* Drivers: take an open fd (ownership passes on success) and build the disk. depth is
 * the backing-chain depth of this image (0 for the top). */
int raw_open(int fd, const char *path, unsigned flags, struct disk **out,
             struct cove_error *err);
int cdisk_open(int fd, const char *path, unsigned flags, unsigned depth,
               const struct disk_source *src, struct disk **out, struct cove_error *err);
int cdisk_create_file(int fd, const char *path, const struct disk_create_options *opts,
                      struct cove_error *err);

/* Opens a backing image (read-only, shared lock) one level further down the chain. */
int disk_open_backing(const char *path, enum disk_format format, unsigned depth,
                      const struct disk_source *src, struct disk **out, struct cove_error *err);

/* Shared helpers (disk_util.c). */
int disk_pread_full(int fd, void *buf, size_t len, uint64_t off); /* zeros past EOF */
int disk_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* The whole iovec array at off (preadv/pwritev per IOV_MAX buffers); -EIO when short. */
int disk_transfer_vec(int fd, const struct iovec *iov, unsigned n, uint64_t off, bool write);

/* cache=none (disk_direct.c): a second descriptor of the image opened with O_DIRECT,
 * through which the raw driver moves the guest's data; requests that are not aligned to
 * what the file system needs go through an aligned bounce buffer. */
int disk_direct_open(struct disk *d, const struct disk_source *src, struct cove_error *err);
int disk_direct_transfer(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off,
                         bool write);
/* The guest's data at a file offset: through the O_DIRECT descriptor with cache=none,
 * else disk_pread_full/disk_pwrite_full. (Metadata always goes through d->fd.) */
int disk_data_read(struct disk *d, void *buf, size_t len, uint64_t off);
int disk_data_write(struct disk *d, const void *buf, size_t len, uint64_t off);
bool disk_buf_is_zero(const void *buf, size_t len);
/* Resolves a backing path stored in IMAGE against IMAGE's directory. */
int disk_resolve_backing(const char *image, const char *backing, char *out, size_t out_len);
/* Creates "<dir>/.<base>.tmp-XXXXXX" next to PATH; returns the fd and fills tmp. */
int disk_tmp_create(const char *path, char *tmp, size_t tmp_len, struct cove_error *err);
/* fsyncs fd, renames tmp to path without replacing an existing file, fsyncs the dir. */
int disk_tmp_commit(int fd, const char *tmp, const char *path, struct cove_error *err);

#endif
