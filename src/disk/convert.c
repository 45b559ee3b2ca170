/* disk_convert: copy any image (flattening its backing chain) into a new raw or cdisk
 * image, leaving runs of zeros as holes or unallocated clusters. */
#include "disk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)
#define ZERO_GRAIN 4096u

struct copy {
    struct disk *src, *dst;
    char *buf;
    disk_progress_fn progress;
    void *opaque;
    uint64_t total, done;
};

/* Copies [off, off+len) of data; 4 KiB blocks of zeros inside it stay holes (the file
 * system's block size), nonzero blocks next to each other go in one write. */
static int copy_data(struct copy *cp, uint64_t off, uint64_t len)
{
    int r = disk_read(cp->src, cp->buf, (size_t)len, off);
    if (r < 0)
        return r;
    uint64_t start = 0, g = 0;
    for (; g < len; g += ZERO_GRAIN) {
        size_t n = len - g < ZERO_GRAIN ? (size_t)(len - g) : ZERO_GRAIN;
        if (!disk_buf_is_zero(cp->buf + g, n))
            continue;
        if (g > start && (r = disk_write(cp->dst, cp->buf + start, g - start, off + start)) < 0)
            return r;
        start = g + n;
    }
    if (len > start)
        r = disk_write(cp->dst, cp->buf + start, len - start, off + start);
    return r;
}

static int copy_all(struct copy *cp)
{
    uint64_t off = 0, size = cp->total, last_report = 0;
    while (off < size) {
        uint64_t want = size - off < COPY_CHUNK ? size - off : COPY_CHUNK;
        uint64_t run;
        int st = disk_block_status(cp->src, off, want, &run);
        if (st < 0)
            return st;
        if (st == 1) {
            int r = copy_data(cp, off, run);
            if (r < 0)
                return r;
        }
        off += run;
        if (cp->progress && (off - last_report >= (64u << 20) || off == size)) {
            cp->progress(off, size, cp->opaque);
            last_report = off;
        }
    }
    return disk_flush(cp->dst);
}

int disk_convert(const char *src, const char *dst, enum disk_format format,
                 disk_progress_fn progress, void *opaque, struct cove_error *err)
{
    struct copy cp = {.progress = progress, .opaque = opaque};
    int r = disk_open(src, true, &cp.src, err);
    if (r < 0)
        return r;
    if (format == DISK_FORMAT_AUTO)
        format = disk_get_format(cp.src) == DISK_FORMAT_RAW ? DISK_FORMAT_CDISK
                                                            : DISK_FORMAT_RAW;
    cp.total = disk_size(cp.src);
    char tmp[PATH_MAX];
    int fd = -1;
    if (access(dst, F_OK) == 0) {
        r = cove_error_set(err, -EEXIST, "disk %s already exists", dst);
        goto out;
    }
    uint64_t size = cp.total;
    if (format == DISK_FORMAT_CDISK && size % 512)
        size = (size + 511) / 512 * 512; /* the tail reads zeros, as past a raw file's end */
    fd = disk_tmp_create(dst, tmp, sizeof tmp, err);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    struct disk_create_options opts = {.format = format, .size = size};
    r = format == DISK_FORMAT_RAW ? (ftruncate(fd, (off_t)size) < 0 ? -errno : 0)
                                  : cdisk_create_file(fd, dst, &opts, err);
    if (r < 0) {
        if (format == DISK_FORMAT_RAW)
            cove_error_set(err, r, "disk %s: %s", dst, strerror(-r));
        goto out_tmp;
    }
    struct cove_error inner;
    r = disk_open_ex(tmp, format, 0, &cp.dst, &inner);
    if (r < 0) {
        cove_error_set(err, r, "disk %s: %s", dst, inner.message);
        goto out_tmp;
    }
    cp.buf = malloc(COPY_CHUNK);
    r = cp.buf ? copy_all(&cp) : -ENOMEM;
    int rc = disk_close(cp.dst);
    if (r == 0)
        r = rc;
    free(cp.buf);
    if (r < 0) {
        cove_error_set(err, r, "converting %s to %s: %s", src, dst, strerror(-r));
        goto out_tmp;
    }
    r = disk_tmp_commit(fd, tmp, dst, err);
    goto out;
out_tmp:
    unlink(tmp);
out:
    if (fd >= 0)
        close(fd);
    disk_close(cp.src);
    return r;
}
