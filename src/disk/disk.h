/*
 * disk.h — disk images: raw files and cove's sparse copy-on-write format "cdisk".
 *
 * A struct disk is a byte-addressed disk of a fixed virtual size (it only grows, through
 * disk_resize). disk_open detects the format from the file's first bytes; a cdisk may
 * name a read-only backing image (raw or cdisk) that supplies every cluster the image
 * itself never wrote. docs/DISK-FORMAT.md specifies the on-disk layout and the crash
 * guarantees; in short: after disk_flush returns, every write that completed before it is
 * durable, and a crash at any moment never makes a cluster read anything but data the
 * guest wrote there (or zeros, or the backing's data, for writes that were not flushed).
 *
 * Read-write opens take an exclusive flock, read-only ones a shared one, so two VMs never
 * write one image. One mutex per disk makes every call thread-safe. Functions return 0 or
 * a negative errno; those a user reads fill a struct cove_error naming the file.
 */
#ifndef COVE_DISK_H
#define COVE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cove/error.h>

enum disk_format {
    DISK_FORMAT_AUTO = 0, /* detect from the file's header (open only) */
    DISK_FORMAT_RAW,
    DISK_FORMAT_CDISK,
};

#define DISK_CLUSTER_SIZE_DEFAULT (64u << 10)
#define DISK_MAX_BACKING_DEPTH 16

struct disk;

/* Returns "raw", "cdisk" or "auto"; disk_format_parse accepts the same names. */
const char *disk_format_name(enum disk_format format);
int disk_format_parse(const char *name, enum disk_format *out);

/* Opens PATH, detecting its format. A read-write open of a cdisk marks it dirty until
 * disk_close. */
int disk_open(const char *path, bool read_only, struct disk **out, struct cove_error *err);

/* Open flags for disk_open_ex. */
#define DISK_OPEN_READ_ONLY 0x1u
#define DISK_OPEN_NO_LOCK 0x2u /* read-only inspection of an image a VM may be running */
/* PATH itself must not be a symbolic link (a VM bundle's files, see src/store): -ELOOP.
 * Backing images are opened as their overlay names them. */
#define DISK_OPEN_NO_FOLLOW 0x4u
/* cache=none: the guest's data bypasses the host page cache (O_DIRECT; a cdisk's maps
 * still go through it). A raw image's size must be a multiple of the file system's direct
 * I/O block (-EINVAL); a file system without O_DIRECT is an error too. */
#define DISK_OPEN_DIRECT 0x8u

int disk_open_ex(const char *path, enum disk_format format, unsigned flags, struct disk **out,
                 struct cove_error *err);

/* An image's files as descriptors, for a process that may open nothing (a confined VMM,
 * docs/SECURITY.md): another process opens them (disk_files_open) and hands them over,
 * this one builds the disk from them (disk_open_files). fd[0] is the image, fd[i] the
 * backing image i levels below it; direct_fd the image opened with O_DIRECT
 * (DISK_OPEN_DIRECT), else -1. The locks go with the descriptors. */
struct disk_files {
    int fd[DISK_MAX_BACKING_DEPTH + 1];
    unsigned n;
    int direct_fd;
};

/* Opens PATH's chain as disk_open_ex(PATH, AUTO, flags) does (checks, locks) and keeps
 * each file's descriptor in *files (close them with disk_files_close). */
int disk_files_open(const char *path, unsigned flags, struct disk_files *files,
                    struct cove_error *err);

/* disk_open_ex(PATH, AUTO, flags), each file taken from files instead of opened: files
 * must hold the chain PATH's header names, in its order, with the access flags asks
 * (else -EBADF). Each descriptor taken is set to -1 in files (the disk owns it now);
 * PATH only names the image in messages. */
int disk_open_files(const char *path, unsigned flags, struct disk_files *files,
                    struct disk **out, struct cove_error *err);

/* Closes the descriptors left in files (those not taken) and empties it. */
void disk_files_close(struct disk_files *files);

/* Creates a cdisk of SIZE bytes (a multiple of 512). With BACKING (a path, relative ones
 * resolved against PATH's directory), SIZE 0 means the backing image's size. The image is
 * built under a temporary name and renamed into place: PATH never exists half-written,
 * and an existing PATH is an error (-EEXIST). */
int disk_create(const char *path, uint64_t size, const char *backing, struct cove_error *err);

struct disk_create_options {
    enum disk_format format;    /* RAW or CDISK (AUTO means CDISK) */
    uint64_t size;              /* bytes; 0 with a backing image: its size */
    const char *backing;        /* cdisk only; NULL for none */
    enum disk_format backing_format; /* AUTO: detected when the image is created */
    uint32_t cluster_size;      /* 0: DISK_CLUSTER_SIZE_DEFAULT; a power of two, 4K-2M */
};

int disk_create_ex(const char *path, const struct disk_create_options *opts,
                   struct cove_error *err);

/* Flushes and closes; returns the flush's result (the disk is closed either way). */
int disk_close(struct disk *disk);

/* All or nothing: offset + len must lie within disk_size (else -EINVAL); a short transfer
 * is -EIO. */
int disk_read(struct disk *disk, void *buf, size_t len, uint64_t offset);
int disk_write(struct disk *disk, const void *buf, size_t len, uint64_t offset);
int disk_readv(struct disk *disk, const struct iovec *iov, unsigned n, uint64_t offset);
int disk_writev(struct disk *disk, const struct iovec *iov, unsigned n, uint64_t offset);

/* Makes every completed write durable (fdatasync: the data, and what reading it needs). */
int disk_flush(struct disk *disk);
/* disk_flush, then fsync(2) of the image file: its inode's metadata (times, size) too. */
int disk_flush_full(struct disk *disk);

/* Drops the data of the whole clusters inside the range (and frees their host space);
 * they then read zeros, also over a backing image. Partial clusters keep their data:
 * discard is a hint. */
int disk_discard(struct disk *disk, uint64_t offset, uint64_t len);

/* The range reads zeros afterwards. UNMAP allows freeing the host space. */
int disk_write_zeroes(struct disk *disk, uint64_t offset, uint64_t len, bool unmap);

uint64_t disk_size(const struct disk *disk);
bool disk_read_only(const struct disk *disk);
enum disk_format disk_get_format(const struct disk *disk);
const char *disk_path(const struct disk *disk);

/* Grows the virtual size; a smaller size is refused with a message naming the current
 * size. The new space reads zeros (also where a backing image is larger). */
int disk_resize(struct disk *disk, uint64_t new_size, struct cove_error *err);

#define DISK_PATH_MAX 4096

/* A fill hook (a lazily pulled image, src/oci/lazy.c): called before every read and
 * block-status query of the disk it is set on, outside the disk's lock, with the range
 * about to be read; it makes those bytes present in the file (fetching them) or fails
 * with a negative errno, which the read then returns without touching the file. */
typedef int (*disk_fill_fn)(void *opaque, uint64_t offset, uint64_t len);
void disk_set_fill(struct disk *disk, disk_fill_fn fn, void *opaque);

/* The last image of disk's backing chain (disk itself when it has no backing). */
struct disk *disk_chain_bottom(struct disk *disk);

/* The device and inode of the disk's file (which file it is, whatever its path). */
int disk_file_id(struct disk *disk, uint64_t *dev, uint64_t *ino);

struct disk_info {
    enum disk_format format;
    uint64_t virtual_size;
    uint64_t allocated;      /* bytes the file occupies on the host (st_blocks * 512) */
    uint64_t file_size;      /* st_size */
    uint32_t cluster_size;   /* 0 for raw */
    bool dirty;              /* cdisk: not closed cleanly (may have leaked clusters) */
    char backing[DISK_PATH_MAX];   /* as stored in the image; empty for none */
    enum disk_format backing_format;
};

int disk_info(struct disk *disk, struct disk_info *info);

/* Whether [offset, offset+len) starts with data (1) or with a run that reads zeros (0);
 * *run is the length of that run (> 0, <= len). Zero runs are what the image knows to be
 * zero (holes, unallocated clusters); data runs may still contain zeros. */
int disk_block_status(struct disk *disk, uint64_t offset, uint64_t len, uint64_t *run);

/* Copies SRC (any format; a backing chain is flattened) to a new image DST of FORMAT
 * (AUTO: the other format than SRC's). Runs of zeros stay holes / unallocated clusters.
 * DST is built under a temporary name and renamed into place (-EEXIST if it exists).
 * PROGRESS, if given, is called with bytes done and total. */
typedef void (*disk_progress_fn)(uint64_t done, uint64_t total, void *opaque);

int disk_convert(const char *src, const char *dst, enum disk_format format,
                 disk_progress_fn progress, void *opaque, struct cove_error *err);

#endif
