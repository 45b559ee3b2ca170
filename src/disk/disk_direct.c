/*
 * cache=none: the guest's data moves through an O_DIRECT descriptor of the image, past
 * the host's page cache (a host with many VMs keeps its memory; the guest's own cache is
 * the only one). O_DIRECT wants offsets, lengths and buffers aligned to what the file
 * system asks (statx's STATX_DIOALIGN, else the block size); a request that is not goes
 * through an aligned bounce buffer, read-modify-write at its unaligned ends. The buffered
 * descriptor stays for metadata (a cdisk's header and maps, the raw probe guard): Linux
 * keeps the two coherent (a direct write drops the cached pages it covers), and data and
 * metadata never share a block.
 */
#include "disk_internal.h"
#include "devices/iov.h"
#include "util/confined.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define DIRECT_FALLBACK_ALIGN 4096u
#define BOUNCE_BYTES (1u << 20)

/* The alignment the file system asks of offsets/lengths and of buffers. */
static void direct_alignment(int fd, uint32_t *align, uint32_t *mem_align)
{
    *align = *mem_align = DIRECT_FALLBACK_ALIGN;
#ifdef STATX_DIOALIGN
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
        *align = stx.stx_dio_offset_align;
        *mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : *align;
        return;
    }
#endif
    /* (a confined VMM may not make this ioctl: the fallback, which any device takes) */
    int ssz;
    if (!process_confined() && ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && ssz <= 65536)
        *align = *mem_align = (uint32_t)ssz;
}

int disk_direct_open(struct disk *d, const struct disk_source *src, struct cove_error *err)
{
    int fd;
    if (src && !src->keep) { /* given, as the image's own (disk_files) */
        fd = src->files->direct_fd;
        src->files->direct_fd = -1;
        int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
        if (fl < 0 || !(fl & O_DIRECT)) {
            if (fd >= 0)
                close(fd);
            return cove_error_set(err, -EBADF, "disk %s: no O_DIRECT descriptor was given for "
                                  "it (cache=none)", d->path);
        }
    } else {
        /* The same open file, not whatever the path names now. */
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", d->fd);
        fd = open(self, (d->read_only ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
        if (fd >= 0 && src && (src->files->direct_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    if (fd < 0)
        return cove_error_set(err, -errno, "disk %s: cannot open for cache=none (O_DIRECT): "
                              "%s; use cache=writeback", d->path,
                              errno == EINVAL ? "the file system does not support it"
                                              : strerror(errno));
    direct_alignment(fd, &d->direct_align, &d->direct_mem_align);
    if (d->direct_mem_align < sizeof(void *))
        d->direct_mem_align = sizeof(void *);
    /* A raw image's last block is the file's: its size must be whole blocks. A cdisk's
     * clusters (4 KiB at least) are aligned wherever they lie. */
    if (d->direct_align > BOUNCE_BYTES / 2 || (d->direct_align & (d->direct_align - 1)) ||
        (d->format == DISK_FORMAT_RAW && d->size % d->direct_align)) {
        close(fd);
        return cove_error_set(err, -EINVAL, "disk %s: cache=none needs a size that is a "
                              "multiple of %u bytes (the file system's direct I/O block); "
                              "use cache=writeback", d->path, d->direct_align);
    }
    d->direct_fd = fd;
    return 0;
}

static bool is_aligned(const struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
    if (off % d->direct_align)
        return false;
    for (unsigned i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % d->direct_mem_align || iov[i].iov_len % d->direct_align)
            return false;
    return true;
}

/* Zeros from byte `from` of the iovec array on. */
static void zero_iov_from(const struct iovec *iov, unsigned n, size_t from)
{
    for (unsigned i = 0; i < n; i++) {
        if (from >= iov[i].iov_len) {
            from -= iov[i].iov_len;
            continue;
        }
        memset((char *)iov[i].iov_base + from, 0, iov[i].iov_len - from);
        from = 0;
    }
}

/* An aligned read. A direct read is short only at the end of the file (it cannot go on
 * from an unaligned offset): the rest reads zeros, as a cdisk cluster's unwritten tail
 * past EOF does (disk_pread_full). */
static int direct_read(int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
    while (n) {
        unsigned cnt = n < IOV_MAX ? n : IOV_MAX;
        size_t want = 0;
        for (unsigned i = 0; i < cnt; i++)
            want += iov[i].iov_len;
        ssize_t got;
        do
            got = preadv(fd, iov, (int)cnt, (off_t)off);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return -errno;
        if ((size_t)got < want) {
            zero_iov_from(iov, n, (size_t)got);
            return 0;
        }
        iov += cnt;
        n -= cnt;
        off += want;
    }
    return 0;
}

int disk_direct_transfer(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off,
                         bool write)
{
    if (is_aligned(d, iov, n, off))
        return write ? disk_transfer_vec(d->direct_fd, iov, n, off, true)
                     : direct_read(d->direct_fd, iov, n, off);
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    size_t a = d->direct_align;
    uint8_t *buf = aligned_alloc(a > d->direct_mem_align ? a : d->direct_mem_align, BOUNCE_BYTES);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    size_t done = 0;
    while (r == 0 && done < total) {
        uint64_t pos = off + done, start = pos / a * a;
        size_t head = (size_t)(pos - start);
        size_t chunk = total - done < BOUNCE_BYTES - head ? total - done : BOUNCE_BYTES - head;
        size_t span = (head + chunk + a - 1) / a * a;
        bool partial = head || span != head + chunk;
        if (!write || partial)
            r = direct_read(d->direct_fd, &(struct iovec){buf, span}, 1, start);
        if (r == 0 && write) {
            iov_to_buf(iov, n, done, buf + head, chunk);
            r = disk_pwrite_full(d->direct_fd, buf, span, start);
        } else if (r == 0) {
            iov_from_buf(iov, n, done, buf + head, chunk);
        }
        done += chunk;
    }
    free(buf);
    return r;
}

int disk_data_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
    if (d->direct_fd < 0)
        return disk_pread_full(d->fd, buf, len, off);
    return disk_direct_transfer(d, &(struct iovec){buf, len}, 1, off, false);
}

int disk_data_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
    if (d->direct_fd < 0)
        return disk_pwrite_full(d->fd, buf, len, off);
    return disk_direct_transfer(d, &(struct iovec){(void *)buf, len}, 1, off, true);
}
