/* cdisk images: the header, open (with every check a damaged file needs), create,
 * resize, close. */
#include "cdisk_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/log.h"

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t l1_needed(uint64_t size, unsigned cluster_bits)
{
    unsigned span_bits = cluster_bits + (cluster_bits - 3); /* bytes one L2 table maps */
    return div_round_up(size, 1ull << span_bits);
}

static uint32_t header_crc(const unsigned char *buf)
{
    unsigned char copy[CDISK_HEADER_SIZE];
    memcpy(copy, buf, sizeof copy);
    memset(copy + offsetof(struct cdisk_header, header_crc), 0, 4);
    return crc32c(copy, sizeof copy);
}

static void seal_header(unsigned char *buf)
{
    struct cdisk_header *h = (struct cdisk_header *)buf;
    h->header_crc = 0;
    h->header_crc = htole32(header_crc(buf));
}

/* Only the first sector changes after creation: a one-sector write is atomic. */
int cdisk_write_header(struct cdisk *c)
{
    seal_header(c->header);
    return disk_pwrite_full(c->base.fd, c->header, CDISK_HEADER_SECTOR, 0);
}

void cdisk_set_dirty_flag(struct cdisk *c, bool dirty)
{
    struct cdisk_header *h = (struct cdisk_header *)c->header;
    uint64_t flags = le64toh(h->flags);
    flags = dirty ? flags | CDISK_FLAG_DIRTY : flags & ~CDISK_FLAG_DIRTY;
    h->flags = htole64(flags);
}

/* Checks the fixed header fields; fills c's geometry. */
static int check_header(struct cdisk *c, const char *path, uint64_t file_size,
                        struct cove_error *err)
{
    const struct cdisk_header *h = (const struct cdisk_header *)c->header;
    if (memcmp(h->magic, CDISK_MAGIC, CDISK_MAGIC_LEN))
        return cove_error_set(err, -EINVAL, "disk %s: not a cdisk image (bad magic)", path);
    if (le32toh(h->header_crc) != header_crc(c->header))
        return cove_error_set(err, -EINVAL,
                              "disk %s: header checksum mismatch; the header is damaged", path);
    if (le32toh(h->version) != CDISK_VERSION)
        return cove_error_set(err, -ENOTSUP,
                              "disk %s: cdisk version %" PRIu32 " is not supported (this cove "
                              "reads version %d)", path, le32toh(h->version), CDISK_VERSION);
    uint64_t incompat = le64toh(h->incompat_features);
    if (incompat & ~CDISK_INCOMPAT_KNOWN)
        return cove_error_set(err, -ENOTSUP,
                              "disk %s uses features this cove does not know (0x%" PRIx64 ")",
                              path, incompat);
    if (le32toh(h->header_size) != CDISK_HEADER_SIZE)
        return cove_error_set(err, -EINVAL, "disk %s: header size %" PRIu32 " is invalid",
                              path, le32toh(h->header_size));
    unsigned bits = le32toh(h->cluster_bits);
    if (bits < CDISK_MIN_CLUSTER_BITS || bits > CDISK_MAX_CLUSTER_BITS)
        return cove_error_set(err, -EINVAL, "disk %s: cluster size 2^%u is out of range", path,
                              bits);
    c->cluster_bits = bits;
    c->cluster_size = 1ull << bits;
    c->l2_bits = bits - 3;
    uint64_t size = le64toh(h->virtual_size);
    if (size == 0 || size % 512 || size > CDISK_MAX_SIZE)
        return cove_error_set(err, -EINVAL, "disk %s: virtual size %" PRIu64 " is invalid",
                              path, size);
    c->base.size = size;
    c->l1_offset = le64toh(h->l1_offset);
    c->l1_clusters = le32toh(h->l1_clusters);
    c->l1_cap = (uint64_t)c->l1_clusters << (bits - 3);
    uint64_t l1_bytes = (uint64_t)c->l1_clusters << bits;
    if (c->l1_offset < c->cluster_size || (c->l1_offset & (c->cluster_size - 1)) ||
        c->l1_offset > CDISK_MAX_SIZE || c->l1_clusters == 0 || c->l1_clusters > (1u << 24) ||
        l1_needed(size, bits) > c->l1_cap)
        return cove_error_set(err, -EINVAL,
                              "disk %s: cluster map location is impossible (offset %" PRIu64
                              ", %" PRIu32 " clusters)", path, c->l1_offset, c->l1_clusters);
    if (c->l1_offset + l1_bytes > file_size)
        return cove_error_set(err, -EINVAL,
                              "disk %s: cluster map (offset %" PRIu64 ", %" PRIu64 " bytes) "
                              "extends past the end of the file (%" PRIu64 " bytes); the "
                              "image is truncated", path, c->l1_offset, l1_bytes, file_size);
    return 0;
}

static int check_backing_fields(struct cdisk *c, const char *path, struct cove_error *err)
{
    const struct cdisk_header *h = (const struct cdisk_header *)c->header;
    uint32_t fmt = le32toh(h->backing_format);
    uint32_t off = le32toh(h->backing_offset), len = le32toh(h->backing_length);
    if (fmt == CDISK_BACKING_NONE) {
        if (len)
            return cove_error_set(err, -EINVAL,
                                  "disk %s: backing path without a backing format", path);
        return 0;
    }
    if (fmt != CDISK_BACKING_RAW && fmt != CDISK_BACKING_CDISK)
        return cove_error_set(err, -EINVAL, "disk %s: unknown backing format %" PRIu32, path,
                              fmt);
    if (off < sizeof(struct cdisk_header) || len == 0 || len >= DISK_PATH_MAX ||
        off > CDISK_HEADER_SIZE || len > CDISK_HEADER_SIZE - off ||
        memchr(c->header + off, 0, len))
        return cove_error_set(err, -EINVAL, "disk %s: backing path field is damaged", path);
    memcpy(c->backing_name, c->header + off, len);
    c->backing_name[len] = 0;
    c->backing_format = fmt == CDISK_BACKING_RAW ? DISK_FORMAT_RAW : DISK_FORMAT_CDISK;
    return 0;
}

int cdisk_parse_header(struct cdisk *c, const char *path, uint64_t file_size,
                       struct cove_error *err)
{
    int r = check_header(c, path, file_size, err);
    if (r < 0)
        return r;
    c->file_end = div_round_up(file_size, c->cluster_size) * c->cluster_size;
    return check_backing_fields(c, path, err);
}

static int load_l1(struct cdisk *c, const char *path, struct cove_error *err)
{
    c->l1 = calloc(c->l1_cap, sizeof *c->l1);
    c->l2 = calloc(c->l1_cap, sizeof *c->l2);
    if (!c->l1 || !c->l2)
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory for the cluster map",
                              path);
    int r = disk_pread_full(c->base.fd, c->l1, c->l1_cap * 8, c->l1_offset);
    if (r < 0)
        return cove_error_set(err, r, "disk %s: cannot read the cluster map: %s", path,
                              strerror(-r));
    /* The file's size after reading the map: an unlocked reader (info on a running VM's
     * disk) may see entries the writer linked after our first look at the size. */
    struct stat st;
    if (fstat(c->base.fd, &st) == 0 && (uint64_t)st.st_size > c->file_end)
        c->file_end = div_round_up((uint64_t)st.st_size, c->cluster_size) * c->cluster_size;
    uint64_t l1_end = c->l1_offset + ((uint64_t)c->l1_clusters << c->cluster_bits);
    for (uint64_t i = 0; i < c->l1_cap; i++) {
        uint64_t e = le64toh(c->l1[i]);
        c->l1[i] = e;
        if (!e)
            continue;
        if ((e & (c->cluster_size - 1)) || e < c->cluster_size ||
            (e >= c->l1_offset && e < l1_end) || e + c->cluster_size > c->file_end ||
            i >= l1_needed(c->base.size, c->cluster_bits))
            return cove_error_set(err, -EINVAL,
                                  "disk %s: cluster map entry %" PRIu64 " points outside the "
                                  "file (offset %" PRIu64 ")", path, i, e);
    }
    return 0;
}

static int open_backing(struct cdisk *c, const char *path, unsigned depth,
                        const struct disk_source *src, struct cove_error *err)
{
    if (!c->backing_name[0])
        return 0;
    char full[DISK_PATH_MAX];
    if (disk_resolve_backing(path, c->backing_name, full, sizeof full) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "disk %s: backing path too long", path);
    struct cove_error inner;
    int r = disk_open_backing(full, c->backing_format, depth + 1, src, &c->backing, &inner);
    if (r < 0)
        return cove_error_set(err, r, "disk %s: backing image: %s", path, inner.message);
    return 0;
}

static void cdisk_destroy(struct cdisk *c)
{
    cdisk_free_tables(c);
    disk_close(c->backing);
    free(c->bounce);
}

int cdisk_open(int fd, const char *path, unsigned flags, unsigned depth,
               const struct disk_source *src, struct disk **out, struct cove_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cove_error_set(err, -errno, "disk %s: %s", path, strerror(errno));
    uint64_t file_size = (uint64_t)st.st_size;
    if (file_size < CDISK_HEADER_SIZE)
        return cove_error_set(err, -EINVAL,
                              "disk %s: too small (%" PRIu64 " bytes) to hold a cdisk header",
                              path, file_size);
    struct cdisk *c = calloc(1, sizeof *c);
    if (!c)
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory", path);
    c->base.ops = &cdisk_ops;
    c->base.fd = fd; /* the dispatcher sets it too; needed by the loads below */
    int r = disk_pread_full(fd, c->header, CDISK_HEADER_SIZE, 0);
    if (r < 0)
        r = cove_error_set(err, r, "disk %s: cannot read the header: %s", path, strerror(-r));
    if (r == 0)
        r = cdisk_parse_header(c, path, file_size, err);
    if (r == 0)
        r = load_l1(c, path, err);
    if (r == 0)
        r = open_backing(c, path, depth, src, err);
    if (r == 0 && !(c->bounce = malloc(c->cluster_size)))
        r = cove_error_set(err, -ENOMEM, "disk %s: out of memory", path);
    if (r < 0) {
        cdisk_destroy(c);
        free(c);
        return r;
    }
    c->max_loaded = (unsigned)((32u << 20) >> c->cluster_bits);
    if (c->max_loaded < 16)
        c->max_loaded = 16;
    c->was_dirty = le64toh(((struct cdisk_header *)c->header)->flags) & CDISK_FLAG_DIRTY;
    if (c->was_dirty && !(flags & DISK_OPEN_READ_ONLY))
        log_info("disk %s was not closed cleanly; a few clusters may be leaked", path);
    if (!(flags & DISK_OPEN_READ_ONLY)) {
        cdisk_set_dirty_flag(c, true);
        r = cdisk_write_header(c);
        if (r < 0) {
            cdisk_destroy(c);
            free(c);
            return cove_error_set(err, r, "disk %s: cannot write the header: %s", path,
                                  strerror(-r));
        }
    }
    *out = &c->base;
    return 0;
}

int cdisk_close_impl(struct disk *d)
{
    struct cdisk *c = to_cdisk(d);
    int r = 0;
    if (!d->read_only && d->fd >= 0) {
        r = cdisk_sync_meta(c, true);
        if (r == 0) {
            cdisk_set_dirty_flag(c, false);
            r = cdisk_write_header(c);
            if (r == 0 && fdatasync(d->fd) < 0)
                r = -errno;
        }
    }
    cdisk_destroy(c);
    return r;
}

/* Growing past the reserved L1 region moves the L1 table to the end of the file; the
 * header switches to it in one sector write once the copy is durable. */
static int move_l1(struct cdisk *c, uint64_t need, uint64_t *old_off, uint64_t *old_bytes,
                   struct cove_error *err)
{
    int r = cdisk_sync_meta(c, false);
    if (r < 0)
        return cove_error_set(err, r, "disk %s: %s", c->base.path, strerror(-r));
    uint64_t bytes = div_round_up(need * 8, c->cluster_size) * c->cluster_size;
    if (bytes < 2ull * c->l1_clusters * c->cluster_size)
        bytes = 2ull * c->l1_clusters * c->cluster_size;
    uint64_t cap = bytes / 8;
    uint64_t *l1 = calloc(cap, 8);
    struct l2_table **l2 = calloc(cap, sizeof *l2);
    if (!l1 || !l2) {
        free(l1);
        free(l2);
        return cove_error_set(err, -ENOMEM, "disk %s: out of memory", c->base.path);
    }
    for (uint64_t i = 0; i < c->l1_cap; i++)
        l1[i] = htole64(c->l1[i]);
    uint64_t host = c->file_end;
    r = disk_pwrite_full(c->base.fd, l1, bytes, host);
    if (r == 0 && fdatasync(c->base.fd) < 0)
        r = -errno;
    if (r < 0) {
        free(l1);
        free(l2);
        return cove_error_set(err, r, "disk %s: cannot grow the cluster map: %s",
                              c->base.path, strerror(-r));
    }
    for (uint64_t i = 0; i < cap; i++)
        l1[i] = le64toh(l1[i]);
    memcpy(l2, c->l2, c->l1_cap * sizeof *l2);
    *old_off = c->l1_offset;
    *old_bytes = (uint64_t)c->l1_clusters << c->cluster_bits;
    free(c->l1);
    free(c->l2);
    c->l1 = l1;
    c->l2 = l2;
    c->l1_cap = cap;
    c->l1_offset = host;
    c->l1_clusters = (uint32_t)(bytes >> c->cluster_bits);
    c->file_end = host + bytes;
    struct cdisk_header *h = (struct cdisk_header *)c->header;
    h->l1_offset = htole64(host);
    h->l1_clusters = htole32(c->l1_clusters);
    return 0;
}

int cdisk_resize_impl(struct disk *d, uint64_t new_size, struct cove_error *err)
{
    struct cdisk *c = to_cdisk(d);
    if (new_size % 512 || new_size > CDISK_MAX_SIZE)
        return cove_error_set(err, -EINVAL,
                              "disk %s: size %" PRIu64 " must be a multiple of 512 and at "
                              "most 4 PiB", d->path, new_size);
    uint64_t need = l1_needed(new_size, c->cluster_bits);
    uint64_t old_off = 0, old_bytes = 0;
    if (need > c->l1_cap) {
        int r = move_l1(c, need, &old_off, &old_bytes, err);
        if (r < 0)
            return r;
    }
    struct cdisk_header *h = (struct cdisk_header *)c->header;
    h->virtual_size = htole64(new_size);
    int r = cdisk_write_header(c);
    if (r == 0 && fdatasync(d->fd) < 0)
        r = -errno;
    if (r < 0) {
        h->virtual_size = htole64(d->size);
        return cove_error_set(err, r, "disk %s: cannot write the header: %s", d->path,
                              strerror(-r));
    }
    d->size = new_size;
    /* The header no longer points at the old table: give its space back. */
    if (old_bytes)
        fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)old_off,
                  (off_t)old_bytes);
    return 0;
}

void cdisk_info_impl(struct disk *d, struct disk_info *info)
{
    struct cdisk *c = to_cdisk(d);
    info->cluster_size = (uint32_t)c->cluster_size;
    info->dirty = c->was_dirty;
    snprintf(info->backing, sizeof info->backing, "%s", c->backing_name);
    info->backing_format = c->backing_name[0] ? c->backing_format : DISK_FORMAT_AUTO;
}

/* --- creation ------------------------------------------------------------------------ */

static int probe_backing(const char *path, const struct disk_create_options *opts,
                         uint64_t *size, enum disk_format *fmt, struct cove_error *err)
{
    char full[DISK_PATH_MAX];
    if (strlen(opts->backing) >= CDISK_HEADER_SIZE - sizeof(struct cdisk_header) ||
        disk_resolve_backing(path, opts->backing, full, sizeof full) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "disk %s: backing path too long", path);
    struct disk *b;
    struct cove_error inner;
    int r = disk_open_backing(full, opts->backing_format, 1, NULL, &b, &inner);
    if (r < 0)
        return cove_error_set(err, r, "disk %s: backing image: %s", path, inner.message);
    *size = disk_size(b);
    *fmt = disk_get_format(b);
    disk_close(b);
    return 0;
}

static int check_create_size(const char *path, uint64_t size, uint64_t backing_size,
                             bool has_backing, struct cove_error *err)
{
    if (size == 0)
        return cove_error_set(err, -EINVAL, "disk %s: size must be greater than 0", path);
    if (size % 512)
        return cove_error_set(err, -EINVAL,
                              "disk %s: size %" PRIu64 " is not a multiple of 512", path, size);
    if (size > CDISK_MAX_SIZE)
        return cove_error_set(err, -EINVAL, "disk %s: size %" PRIu64 " exceeds 4 PiB", path,
                              size);
    if (has_backing && size < backing_size)
        return cove_error_set(err, -EINVAL,
                              "disk %s: size %" PRIu64 " is smaller than its backing image "
                              "(%" PRIu64 " bytes)", path, size, backing_size);
    return 0;
}

int cdisk_create_file(int fd, const char *path, const struct disk_create_options *opts,
                      struct cove_error *err)
{
    uint32_t cs = opts->cluster_size ? opts->cluster_size : DISK_CLUSTER_SIZE_DEFAULT;
    unsigned bits = (unsigned)__builtin_ctz(cs);
    if ((cs & (cs - 1)) || bits < CDISK_MIN_CLUSTER_BITS || bits > CDISK_MAX_CLUSTER_BITS)
        return cove_error_set(err, -EINVAL,
                              "disk %s: cluster size %" PRIu32 " must be a power of two "
                              "from 4 KiB to 2 MiB", path, cs);
    uint64_t size = opts->size, bsize = 0;
    enum disk_format bfmt = DISK_FORMAT_AUTO;
    bool has_backing = opts->backing && opts->backing[0];
    if (has_backing) {
        int r = probe_backing(path, opts, &bsize, &bfmt, err);
        if (r < 0)
            return r;
        if (size == 0)
            size = (bsize + 511) / 512 * 512;
    }
    int r = check_create_size(path, size, bsize, has_backing, err);
    if (r < 0)
        return r;
    unsigned char buf[CDISK_HEADER_SIZE] = {0};
    struct cdisk_header *h = (struct cdisk_header *)buf;
    uint64_t need = l1_needed(size, bits);
    uint32_t l1_clusters = (uint32_t)div_round_up(need * 8, cs);
    memcpy(h->magic, CDISK_MAGIC, CDISK_MAGIC_LEN);
    h->version = htole32(CDISK_VERSION);
    h->header_size = htole32(CDISK_HEADER_SIZE);
    h->cluster_bits = htole32(bits);
    h->l1_clusters = htole32(l1_clusters);
    h->virtual_size = htole64(size);
    h->l1_offset = htole64(cs);
    if (has_backing) {
        size_t len = strlen(opts->backing);
        h->backing_format =
            htole32(bfmt == DISK_FORMAT_RAW ? CDISK_BACKING_RAW : CDISK_BACKING_CDISK);
        h->backing_offset = htole32(CDISK_HEADER_SECTOR);
        h->backing_length = htole32((uint32_t)len);
        memcpy(buf + CDISK_HEADER_SECTOR, opts->backing, len);
    }
    seal_header(buf);
    /* The L1 table is all zeros: a hole until tables are linked. */
    r = disk_pwrite_full(fd, buf, sizeof buf, 0);
    if (r == 0 && ftruncate(fd, (off_t)(cs + (uint64_t)l1_clusters * cs)) < 0)
        r = -errno;
    if (r < 0)
        return cove_error_set(err, r, "disk %s: cannot write: %s", path, strerror(-r));
    return 0;
}
