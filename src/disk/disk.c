/* The disk dispatcher: format detection, bounds checks, locking, creation. */
#include "disk_internal.h"
#include "cdisk_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *disk_format_name(enum disk_format format)
{
    switch (format) {
    case DISK_FORMAT_RAW:
        return "raw";
    case DISK_FORMAT_CDISK:
        return "cdisk";
    default:
        return "auto";
    }
}

int disk_format_parse(const char *name, enum disk_format *out)
{
    if (!strcmp(name, "raw"))
        *out = DISK_FORMAT_RAW;
    else if (!strcmp(name, "cdisk"))
        *out = DISK_FORMAT_CDISK;
    else if (!strcmp(name, "auto"))
        *out = DISK_FORMAT_AUTO;
    else
        return -EINVAL;
    return 0;
}

static int open_error(const char *path, int e, struct cove_error *err)
{
    if (e == ENOENT)
        return cove_error_set(err, -e, "disk %s: no such file", path);
    if (e == EISDIR)
        return cove_error_set(err, -e, "disk %s is a directory", path);
    if (e == ELOOP)
        return cove_error_set(err, -e, "disk %s is a symbolic link (not followed here)", path);
    return cove_error_set(err, -e, "disk %s: %s", path, strerror(e));
}

static int detect_format(int fd, const char *path, enum disk_format *out,
                         struct cove_error *err)
{
    char magic[CDISK_MAGIC_LEN];
    ssize_t r = pread(fd, magic, sizeof magic, 0);
    if (r < 0)
        return cove_error_set(err, -errno, "disk %s: cannot read: %s", path, strerror(errno));
    *out = r == (ssize_t)sizeof magic && !memcmp(magic, CDISK_MAGIC, CDISK_MAGIC_LEN)
               ? DISK_FORMAT_CDISK
               : DISK_FORMAT_RAW;
    return 0;
}

static int lock_file(int fd, const char *path, unsigned flags, struct cove_error *err)
{
    if (flags & DISK_OPEN_NO_LOCK)
        return 0;
    if (flock(fd, ((flags & DISK_OPEN_READ_ONLY) ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        return cove_error_set(err, -EBUSY, "disk %s is in use by another VM", path);
    return cove_error_set(err, -errno, "disk %s: cannot lock: %s", path, strerror(errno));
}

/* The descriptor of the image at depth: opened, or taken from src (disk_source). */
static int get_fd(const char *path, unsigned flags, unsigned depth, const struct disk_source *src,
                  int *out, struct cove_error *err)
{
    bool ro = flags & DISK_OPEN_READ_ONLY;
    if (src && !src->keep) {
        struct disk_files *f = src->files;
        int fd = depth < f->n ? f->fd[depth] : -1;
        int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
        if (fl < 0 || (!ro && (fl & O_ACCMODE) != O_RDWR))
            return cove_error_set(err, -EBADF, "disk %s: no %s descriptor was given for it",
                                  path, ro ? "readable" : "writable");
        f->fd[depth] = -1;
        *out = fd;
        return 0;
    }
    int nofollow = (flags & DISK_OPEN_NO_FOLLOW) ? O_NOFOLLOW : 0;
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | nofollow | O_CLOEXEC);
    if (fd < 0)
        return open_error(path, errno, err);
    if (src) {
        struct disk_files *f = src->files;
        int copy = depth <= DISK_MAX_BACKING_DEPTH ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (copy < 0) {
            int e = depth <= DISK_MAX_BACKING_DEPTH ? errno : ELOOP;
            close(fd);
            return cove_error_set(err, -e, "disk %s: %s", path, strerror(e));
        }
        f->fd[depth] = copy;
        if (f->n < depth + 1)
            f->n = depth + 1;
    }
    *out = fd;
    return 0;
}

static int open_depth(const char *path, enum disk_format format, unsigned flags,
                      unsigned depth, const struct disk_source *src, struct disk **out,
                      struct cove_error *err)
{
    if (flags & DISK_OPEN_NO_LOCK)
        flags |= DISK_OPEN_READ_ONLY;
    bool ro = flags & DISK_OPEN_READ_ONLY;
    int fd = -1;
    int r = get_fd(path, flags, depth, src, &fd, err);
    if (r < 0)
        return r;
    struct stat st;
    if (fstat(fd, &st) < 0)
        r = open_error(path, errno, err);
    else if (S_ISDIR(st.st_mode))
        r = open_error(path, EISDIR, err);
    else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        r = cove_error_set(err, -EINVAL, "disk %s is not a regular file or block device", path);
    if (r == 0)
        r = lock_file(fd, path, flags, err);
    bool probed = format == DISK_FORMAT_AUTO;
    if (r == 0 && probed)
        r = detect_format(fd, path, &format, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    struct disk *d = NULL;
    if (format == DISK_FORMAT_CDISK)
        r = cdisk_open(fd, path, flags, depth, src, &d, err);
    else
        r = raw_open(fd, path, flags, &d, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    d->format = format;
    d->read_only = ro;
    d->probed = probed;
    d->fd = fd;
    d->direct_fd = -1;
    d->path = strdup(path);
    pthread_mutex_init(&d->lock, NULL);
    if (!d->path) {
        disk_close(d);
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory", path);
    }
    if ((flags & DISK_OPEN_DIRECT) && (r = disk_direct_open(d, src, err)) < 0) {
        disk_close(d);
        return r;
    }
    *out = d;
    return 0;
}

int disk_open_ex(const char *path, enum disk_format format, unsigned flags, struct disk **out,
                 struct cove_error *err)
{
    return open_depth(path, format, flags, 0, NULL, out, err);
}

int disk_open(const char *path, bool read_only, struct disk **out, struct cove_error *err)
{
    return open_depth(path, DISK_FORMAT_AUTO, read_only ? DISK_OPEN_READ_ONLY : 0, 0, NULL, out,
                      err);
}

int disk_open_backing(const char *path, enum disk_format format, unsigned depth,
                      const struct disk_source *src, struct disk **out, struct cove_error *err)
{
    if (depth > DISK_MAX_BACKING_DEPTH)
        return cove_error_set(err, -ELOOP,
                              "disk %s: backing chain deeper than %d images (a loop?)", path,
                              DISK_MAX_BACKING_DEPTH);
    return open_depth(path, format, DISK_OPEN_READ_ONLY, depth, src, out, err);
}

static void files_init(struct disk_files *files)
{
    for (unsigned i = 0; i <= DISK_MAX_BACKING_DEPTH; i++)
        files->fd[i] = -1;
    files->n = 0;
    files->direct_fd = -1;
}

void disk_files_close(struct disk_files *files)
{
    for (unsigned i = 0; i < files->n && i <= DISK_MAX_BACKING_DEPTH; i++)
        if (files->fd[i] >= 0)
            close(files->fd[i]);
    if (files->direct_fd >= 0)
        close(files->direct_fd);
    files_init(files);
}

/* The disk is opened and closed again: its descriptors' copies keep the files (and, as
 * flock's locks belong to the open file, the locks). A writable cdisk's dirty flag is
 * set and cleared meanwhile. */
int disk_files_open(const char *path, unsigned flags, struct disk_files *files,
                    struct cove_error *err)
{
    files_init(files);
    struct disk_source src = {files, true};
    struct disk *d;
    int r = open_depth(path, DISK_FORMAT_AUTO, flags, 0, &src, &d, err);
    if (r == 0 && (r = disk_close(d)) < 0)
        cove_error_set(err, r, "disk %s: %s", path, strerror(-r));
    if (r < 0)
        disk_files_close(files);
    return r;
}

int disk_open_files(const char *path, unsigned flags, struct disk_files *files,
                    struct disk **out, struct cove_error *err)
{
    struct disk_source src = {files, false};
    return open_depth(path, DISK_FORMAT_AUTO, flags, 0, &src, out, err);
}

int disk_close(struct disk *d)
{
    if (!d)
        return 0;
    int r = d->ops->close(d);
    if (d->fd >= 0)
        close(d->fd);
    if (d->direct_fd >= 0)
        close(d->direct_fd);
    pthread_mutex_destroy(&d->lock);
    free(d->path);
    free(d);
    return r;
}

void disk_set_fault_hook(struct disk *d, disk_fault_hook_fn fn, void *opaque)
{
    d->fault_hook = fn;
    d->fault_opaque = opaque;
}

static bool in_range(const struct disk *d, uint64_t off, uint64_t len)
{
    return off <= d->size && len <= d->size - off;
}

void disk_set_fill(struct disk *d, disk_fill_fn fn, void *opaque)
{
    d->fill = fn;
    d->fill_opaque = opaque;
}

struct disk *disk_chain_bottom(struct disk *d)
{
    for (unsigned depth = 0; d->format == DISK_FORMAT_CDISK && depth < DISK_MAX_BACKING_DEPTH;
         depth++) {
        struct disk *b = cdisk_backing(d);
        if (!b)
            break;
        d = b;
    }
    return d;
}

int disk_file_id(struct disk *d, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (fstat(d->fd, &st) < 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

/* The fill hook's part of a read: the range made present, or its error. */
static int fill(struct disk *d, uint64_t off, uint64_t len)
{
    return d->fill && len ? d->fill(d->fill_opaque, off, len) : 0;
}

int disk_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
    if (!in_range(d, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    int r = fill(d, off, len);
    if (r < 0)
        return r;
    pthread_mutex_lock(&d->lock);
    r = d->ops->read(d, buf, len, off);
    pthread_mutex_unlock(&d->lock);
    return r;
}

int disk_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
    if (d->read_only)
        return -EROFS;
    if (!in_range(d, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    pthread_mutex_lock(&d->lock);
    int r = d->ops->write(d, buf, len, off);
    pthread_mutex_unlock(&d->lock);
    return r;
}

static uint64_t iov_total(const struct iovec *iov, unsigned n, bool *overflow)
{
    uint64_t total = 0;
    *overflow = false;
    for (unsigned i = 0; i < n; i++) {
        if (iov[i].iov_len > UINT64_MAX - total)
            *overflow = true;
        total += iov[i].iov_len;
    }
    return total;
}

/* Both directions: the driver's vectored op under the lock when it has one, else one
 * disk_read/disk_write per buffer. */
static int transfer_vec(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off,
                        bool write)
{
    bool overflow;
    uint64_t total = iov_total(iov, n, &overflow);
    if (overflow || !in_range(d, off, total))
        return -EINVAL;
    if (write && d->read_only)
        return -EROFS;
    int f = write ? 0 : fill(d, off, total);
    if (f < 0)
        return f;
    int (*vec)(struct disk *, const struct iovec *, unsigned, uint64_t) =
        write ? d->ops->writev : d->ops->readv;
    if (vec && total) {
        pthread_mutex_lock(&d->lock);
        int r = vec(d, iov, n, off);
        pthread_mutex_unlock(&d->lock);
        return r;
    }
    for (unsigned i = 0; i < n; i++) {
        int r = write ? disk_write(d, iov[i].iov_base, iov[i].iov_len, off)
                      : disk_read(d, iov[i].iov_base, iov[i].iov_len, off);
        if (r < 0)
            return r;
        off += iov[i].iov_len;
    }
    return 0;
}

int disk_readv(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer_vec(d, iov, n, off, false);
}

int disk_writev(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer_vec(d, iov, n, off, true);
}

int disk_flush(struct disk *d)
{
    if (d->read_only)
        return 0;
    pthread_mutex_lock(&d->lock);
    int r = d->ops->flush(d);
    pthread_mutex_unlock(&d->lock);
    return r;
}

int disk_flush_full(struct disk *d)
{
    int r = disk_flush(d);
    if (r == 0 && !d->read_only && fsync(d->fd) < 0)
        r = -errno;
    return r;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
    if (d->read_only)
        return -EROFS;
    if (!in_range(d, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    pthread_mutex_lock(&d->lock);
    int r = d->ops->discard(d, off, len);
    pthread_mutex_unlock(&d->lock);
    return r;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
    if (d->read_only)
        return -EROFS;
    if (!in_range(d, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    pthread_mutex_lock(&d->lock);
    int r = d->ops->write_zeroes(d, off, len, unmap);
    pthread_mutex_unlock(&d->lock);
    return r;
}

uint64_t disk_size(const struct disk *d)
{
    return d->size;
}

bool disk_read_only(const struct disk *d)
{
    return d->read_only;
}

enum disk_format disk_get_format(const struct disk *d)
{
    return d->format;
}

const char *disk_path(const struct disk *d)
{
    return d->path;
}

static void format_size(uint64_t bytes, char *out, size_t len)
{
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;
    uint64_t whole = bytes;
    while (whole >= 1024 && whole % 1024 == 0 && u + 1 < sizeof units / sizeof *units) {
        whole /= 1024;
        u++;
    }
    snprintf(out, len, "%llu %s", (unsigned long long)whole, units[u]);
}

int disk_resize(struct disk *d, uint64_t new_size, struct cove_error *err)
{
    char cur[32];
    format_size(d->size, cur, sizeof cur);
    if (d->read_only)
        return cove_error_set(err, -EROFS, "disk %s is open read-only", d->path);
    if (new_size < d->size)
        return cove_error_set(err, -EINVAL,
                              "disk %s: cannot shrink from its current size %s (%llu bytes) "
                              "to %llu bytes; disks only grow",
                              d->path, cur, (unsigned long long)d->size,
                              (unsigned long long)new_size);
    if (new_size == d->size)
        return 0;
    pthread_mutex_lock(&d->lock);
    int r = d->ops->resize(d, new_size, err);
    pthread_mutex_unlock(&d->lock);
    return r;
}

int disk_info(struct disk *d, struct disk_info *info)
{
    memset(info, 0, sizeof *info);
    struct stat st;
    if (fstat(d->fd, &st) < 0)
        return -errno;
    pthread_mutex_lock(&d->lock);
    info->format = d->format;
    info->virtual_size = d->size;
    info->allocated = (uint64_t)st.st_blocks * 512;
    info->file_size = (uint64_t)st.st_size;
    d->ops->info(d, info);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int disk_block_status(struct disk *d, uint64_t off, uint64_t len, uint64_t *run)
{
    if (!in_range(d, off, len) || !len)
        return -EINVAL;
    int r = fill(d, off, len);
    if (r < 0)
        return r;
    pthread_mutex_lock(&d->lock);
    r = d->ops->block_status(d, off, len, run);
    pthread_mutex_unlock(&d->lock);
    if (r >= 0 && (*run == 0 || *run > len))
        r = -EIO; /* a driver bug must not make callers loop forever */
    return r;
}

static int create_raw(int fd, const char *path, const struct disk_create_options *opts,
                      struct cove_error *err)
{
    if (opts->backing)
        return cove_error_set(err, -EINVAL,
                              "disk %s: a raw image cannot have a backing image; use cdisk",
                              path);
    if (ftruncate(fd, (off_t)opts->size) < 0)
        return cove_error_set(err, -errno, "disk %s: %s", path, strerror(errno));
    return 0;
}

int disk_create_ex(const char *path, const struct disk_create_options *opts,
                   struct cove_error *err)
{
    if (access(path, F_OK) == 0)
        return cove_error_set(err, -EEXIST, "disk %s already exists", path);
    if (opts->size > (uint64_t)INT64_MAX)
        return cove_error_set(err, -EINVAL, "disk %s: size too large", path);
    char tmp[PATH_MAX];
    int fd = disk_tmp_create(path, tmp, sizeof tmp, err);
    if (fd < 0)
        return fd;
    int r = opts->format == DISK_FORMAT_RAW ? create_raw(fd, path, opts, err)
                                            : cdisk_create_file(fd, path, opts, err);
    if (r == 0)
        r = disk_tmp_commit(fd, tmp, path, err);
    else
        unlink(tmp);
    close(fd);
    return r;
}

int disk_create(const char *path, uint64_t size, const char *backing, struct cove_error *err)
{
    struct disk_create_options opts = {
        .format = DISK_FORMAT_CDISK, .size = size, .backing = backing};
    return disk_create_ex(path, &opts, err);
}
