/* Raw images: the guest's sectors are the file's bytes. */
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct block_raw {
    struct block_attachment base;
    int fd;
};

static int raw_fd(struct block_attachment *b)
{
    return ((struct block_raw *)b)->fd;
}

/* Moves iov past done bytes; returns the new start. */
static struct iovec *advance(struct iovec *iov, unsigned *n, size_t done)
{
    while (*n && done >= iov->iov_len) {
        done -= iov->iov_len;
        iov++;
        (*n)--;
    }
    if (*n) {
        iov->iov_base = (char *)iov->iov_base + done;
        iov->iov_len -= done;
    }
    return iov;
}

static int transfer(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off,
                    bool write)
{
    while (n) {
        if (iov->iov_len == 0) {
            iov++;
            n--;
            continue;
        }
        unsigned cnt = n > IOV_MAX ? IOV_MAX : n;
        ssize_t r = write ? pwritev(raw_fd(b), iov, (int)cnt, (off_t)off)
                          : preadv(raw_fd(b), iov, (int)cnt, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO; /* the file shrank under us */
        off += (uint64_t)r;
        iov = advance(iov, &n, (size_t)r);
    }
    return 0;
}

static int raw_readv(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer(b, iov, n, off, false);
}

static int raw_writev(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return transfer(b, iov, n, off, true);
}

static int raw_flush(struct block_attachment *b)
{
    return fdatasync(raw_fd(b)) < 0 ? -errno : 0;
}

static int raw_discard(struct block_attachment *b, uint64_t off, uint64_t len)
{
    if (fallocate(raw_fd(b), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0 && errno != EOPNOTSUPP)
        return -errno;
    return 0; /* discard is a hint: a file system without holes just keeps the data */
}

static int write_zero_buffers(struct block_attachment *b, uint64_t off, uint64_t len)
{
    static const char zeros[65536];
    while (len) {
        size_t chunk = len < sizeof zeros ? (size_t)len : sizeof zeros;
        struct iovec iov = {.iov_base = (void *)zeros, .iov_len = chunk};
        int r = transfer(b, &iov, 1, off, true);
        if (r < 0)
            return r;
        off += chunk;
        len -= chunk;
    }
    return 0;
}

static int raw_write_zeroes(struct block_attachment *b, uint64_t off, uint64_t len, bool unmap)
{
    int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(raw_fd(b), mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != EINVAL)
        return -errno;
    return write_zero_buffers(b, off, len);
}

static void raw_close(struct block_attachment *b)
{
    close(raw_fd(b));
    free(b);
}

static const struct block_attachment_ops raw_ops = {
    .readv = raw_readv,
    .writev = raw_writev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
};

static int raw_size(int fd, const struct stat *st, uint64_t *size)
{
    if (S_ISREG(st->st_mode)) {
        *size = (uint64_t)st->st_size;
        return 0;
    }
    if (S_ISBLK(st->st_mode))
        return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
    return -EINVAL;
}

static void default_serial(const char *path, char *serial)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(serial, BLOCK_SERIAL_MAX + 1, "%s", basename(copy));
}

int block_raw_open(const char *path, bool read_only, struct block_attachment **out,
                   struct cove_error *err)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return cove_error_set(err, -e, "disk %s: no such file", path);
        if (e == EISDIR)
            return cove_error_set(err, -e, "disk %s is a directory", path);
        return cove_error_set(err, -e, "disk %s: %s", path, strerror(e));
    }
    struct stat st;
    uint64_t size = 0;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = cove_error_set(err, -errno, "disk %s: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        r = cove_error_set(err, -EISDIR, "disk %s is a directory", path);
    } else if (raw_size(fd, &st, &size) < 0) {
        r = cove_error_set(err, -EINVAL, "disk %s is not a regular file or block device",
                           path);
    } else if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            r = cove_error_set(err, -EBUSY, "disk %s is in use by another VM", path);
        else
            r = cove_error_set(err, -errno, "disk %s: cannot lock: %s", path, strerror(errno));
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    struct block_raw *b = calloc(1, sizeof *b);
    if (!b) {
        close(fd);
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory", path);
    }
    b->base.ops = &raw_ops;
    b->base.size = size;
    b->base.read_only = read_only;
    snprintf(b->base.name, sizeof b->base.name, "%s", path);
    default_serial(path, b->base.serial);
    b->fd = fd;
    *out = &b->base;
    return 0;
}
