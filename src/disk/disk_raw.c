/* Raw images: the disk's bytes are the file's bytes (or a block device's). */
#include "disk_internal.h"
#include "cdisk_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int raw_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
    if (d->direct_fd >= 0)
        return disk_direct_transfer(d, &(struct iovec){buf, len}, 1, off, false);
    return disk_pread_full(d->fd, buf, len, off);
}

/* A probed raw image must not turn itself into a cdisk: the guest would then choose the
 * image's backing file, i.e. read any host file (the classic format-probing hole). */
static bool writes_cdisk_magic(const struct disk *d, const void *buf, size_t len,
                               uint64_t off)
{
    if (!d->probed || off >= CDISK_MAGIC_LEN)
        return false;
    char head[CDISK_MAGIC_LEN];
    if (disk_pread_full(d->fd, head, sizeof head, 0) < 0)
        return true;
    size_t n = len < CDISK_MAGIC_LEN - off ? len : CDISK_MAGIC_LEN - off;
    memcpy(head + off, buf, n);
    return !memcmp(head, CDISK_MAGIC, CDISK_MAGIC_LEN);
}

static int raw_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
    if (writes_cdisk_magic(d, buf, len, off))
        return -EPERM;
    if (d->direct_fd >= 0)
        return disk_direct_transfer(d, &(struct iovec){(void *)buf, len}, 1, off, true);
    return disk_pwrite_full(d->fd, buf, len, off);
}

static int raw_readv(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
    if (d->direct_fd >= 0)
        return disk_direct_transfer(d, iov, n, off, false);
    return disk_transfer_vec(d->fd, iov, n, off, false);
}

static int raw_writev(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
    /* The magic guard looks at what the request puts into the magic's bytes, whichever
     * buffers carry them. */
    if (d->probed && off < CDISK_MAGIC_LEN) {
        char head[CDISK_MAGIC_LEN];
        size_t len = 0;
        for (unsigned i = 0; i < n && len < CDISK_MAGIC_LEN - off; i++) {
            size_t take = CDISK_MAGIC_LEN - off - len;
            if (take > iov[i].iov_len)
                take = iov[i].iov_len;
            memcpy(head + len, iov[i].iov_base, take);
            len += take;
        }
        if (writes_cdisk_magic(d, head, len, off))
            return -EPERM;
    }
    if (d->direct_fd >= 0)
        return disk_direct_transfer(d, iov, n, off, true);
    return disk_transfer_vec(d->fd, iov, n, off, true);
}

static int raw_flush(struct disk *d)
{
    return fdatasync(d->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
    if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
            0 &&
        errno != EOPNOTSUPP)
        return -errno;
    return 0; /* a hint: a file system without holes keeps the data */
}

static int raw_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
    int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != EINVAL)
        return -errno;
    static const char zeros[65536];
    while (len) {
        size_t chunk = len < sizeof zeros ? (size_t)len : sizeof zeros;
        int r = disk_pwrite_full(d->fd, zeros, chunk, off);
        if (r < 0)
            return r;
        off += chunk;
        len -= chunk;
    }
    return 0;
}

static int raw_resize(struct disk *d, uint64_t new_size, struct cove_error *err)
{
    struct stat st;
    if (fstat(d->fd, &st) == 0 && S_ISBLK(st.st_mode))
        return cove_error_set(err, -ENOTSUP, "disk %s is a block device; it cannot be resized",
                              d->path);
    if (ftruncate(d->fd, (off_t)new_size) < 0 || fdatasync(d->fd) < 0)
        return cove_error_set(err, -errno, "disk %s: cannot resize: %s", d->path,
                              strerror(errno));
    d->size = new_size;
    return 0;
}

/* Holes read zeros; SEEK_DATA/SEEK_HOLE find them without reading. */
static int raw_block_status(struct disk *d, uint64_t off, uint64_t len, uint64_t *run)
{
    off_t data = lseek(d->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
        *run = len; /* only a hole up to EOF */
        return 0;
    }
    if (data < 0) {
        *run = len; /* no hole support: everything is data */
        return 1;
    }
    if ((uint64_t)data > off) {
        uint64_t hole = (uint64_t)data - off;
        *run = hole < len ? hole : len;
        return 0;
    }
    off_t hole = lseek(d->fd, (off_t)off, SEEK_HOLE);
    uint64_t n = hole < 0 || (uint64_t)hole <= off ? len : (uint64_t)hole - off;
    *run = n < len ? n : len;
    return 1;
}

static void raw_info(struct disk *d, struct disk_info *info)
{
}

static int raw_close(struct disk *d)
{
    return d->read_only ? 0 : raw_flush(d);
}

static const struct disk_ops raw_ops = {
    .read = raw_read,
    .write = raw_write,
    .readv = raw_readv,
    .writev = raw_writev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .resize = raw_resize,
    .block_status = raw_block_status,
    .info = raw_info,
    .close = raw_close,
};

int raw_open(int fd, const char *path, unsigned flags, struct disk **out,
             struct cove_error *err)
{
    struct stat st;
    uint64_t size;
    if (fstat(fd, &st) < 0)
        return cove_error_set(err, -errno, "disk %s: %s", path, strerror(errno));
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
            return cove_error_set(err, -errno, "disk %s: %s", path, strerror(errno));
    } else {
        size = (uint64_t)st.st_size;
    }
    struct disk *d = calloc(1, sizeof *d);
    if (!d)
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory", path);
    d->ops = &raw_ops;
    d->size = size;
    d->fd = -1;
    *out = d;
    return 0;
}
