/*
 * block.h — what a block device attaches to.
 *
 * A block attachment is a byte-addressed disk of a fixed size: read/write whole iovec
 * arrays at an offset (all or nothing: a short transfer is an error), flush (data written
 * before it is durable when it returns), discard (may drop the data, reads then return
 * zeros or the old data) and write_zeroes. Offsets and lengths are checked by the device
 * against size before the call. The iovec arrays passed in may be modified (advanced
 * over partial transfers). Calls come from one thread at a time.
 */
#ifndef COVE_BACKENDS_BLOCK_H
#define COVE_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cove/config.h>
#include <cove/error.h>

#define BLOCK_SERIAL_MAX 20 /* virtio-blk GET_ID */

struct block_attachment;

struct block_attachment_ops {
    int (*readv)(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t offset);
    int (*writev)(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t offset);
    int (*flush)(struct block_attachment *b);
    int (*discard)(struct block_attachment *b, uint64_t offset, uint64_t len);
    int (*write_zeroes)(struct block_attachment *b, uint64_t offset, uint64_t len, bool unmap);
    void (*close)(struct block_attachment *b);
};

struct block_attachment {
    const struct block_attachment_ops *ops;
    uint64_t size;                       /* bytes */
    bool read_only;
    char serial[BLOCK_SERIAL_MAX + 1];   /* NUL-terminated; may be empty */
    char name[256];                      /* for messages: the image's path (may be cut) */
};

/* How a disk is attached: its modes (cove/config.h). */
struct block_options {
    bool read_only;
    enum cove_disk_cache cache; /* image files only */
    enum cove_disk_sync sync;   /* what flush does */
    bool nbd_host_files;        /* an NBD URI may have libnbd read host files (tls-psk-file=,
                                   tls-certificates=): a user's own command line, not a
                                   bundle's config.json */
};

/* A disk image through src/disk: a raw image file or block device, or a cdisk
 * (copy-on-write, with a backing chain), detected from the file's header. Read-write
 * opens take an exclusive lock, read-only ones a shared lock, so two VMs cannot write one
 * image. cache=none moves its data with O_DIRECT. Errors name the path. The serial
 * (GET_ID) is the file's name. */
int block_disk_open(const char *path, const struct block_options *o,
                    struct block_attachment **out, struct cove_error *err);

/* block_disk_open with the image's files given as descriptors (disk/disk.h,
 * disk_open_files: a confined VMM opens nothing); path names it in messages. The other
 * process gets them with block_disk_files_open, the same o. */
struct disk_files;
int block_disk_files_open(const char *path, const struct block_options *o,
                          struct disk_files *files, struct cove_error *err);
int block_disk_open_files(const char *path, const struct block_options *o,
                          struct disk_files *files, struct block_attachment **out,
                          struct cove_error *err);

/* The disk of an attachment block_disk_open made (NULL for any other kind). */
struct disk;
struct disk *block_disk_of(struct block_attachment *b);

/* An NBD export through libnbd (block_nbd.c), uri as cove_disk_check_nbd_uri takes it.
 * Connects before it returns (bounded: BLOCK_NBD_TIMEOUT_MS). read_only, or an export the
 * server offers read-only, makes a read-only attachment. A request fails with -EIO when the
 * server made no progress for BLOCK_NBD_TIMEOUT_MS or the connection broke; the next
 * request reconnects (at most once a second while the server stays away). */
#define BLOCK_NBD_TIMEOUT_MS 5000
int block_nbd_open(const char *uri, const struct block_options *o,
                   struct block_attachment **out, struct cove_error *err);

/* An image file or an NBD export, by the form of path (cove_disk_is_nbd). */
int block_open(const char *path, const struct block_options *o, struct block_attachment **out,
               struct cove_error *err);

/* An attachment that passes everything to inner and whose close leaves inner open
 * (block_borrow.c): a disk kept open across the machines of one run. */
int block_borrow(struct block_attachment *inner, struct block_attachment **out);

/* A disk in host memory (tests, fuzzing). */
int block_mem_create(uint64_t size, bool read_only, struct block_attachment **out);

static inline void block_close(struct block_attachment *b)
{
    if (b)
        b->ops->close(b);
}

#endif
