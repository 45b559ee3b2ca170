/*
 * cdisk reads, writes, discard and block status.
 *
 * Writes to an allocated cluster go in place. A write to an unallocated cluster takes a
 * new cluster at the end of the file, writes the data there (with the rest of the cluster
 * copied from the backing image when there is one; otherwise the rest stays a hole and
 * reads zeros), and only then points the in-memory map at it. Clusters next to each other
 * in the guest and in the file are moved with one system call.
 */
#include "cdisk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_CLUSTERS 64 /* a write maps at most this many clusters before committing */
#define EXTEND_STEP (1u << 20)

/* Grows the file ahead of allocation, in steps: a write past the end of the file would
 * otherwise update the file's size on every small write (costly on ext4). The grown tail
 * is a hole; it takes no host space and is never referenced until allocated. */
static int extend_file(struct cdisk *c, uint64_t end)
{
    if (end <= c->size_hint)
        return 0;
    uint64_t want = (end + EXTEND_STEP - 1) / EXTEND_STEP * EXTEND_STEP;
    struct stat st;
    if (fstat(c->base.fd, &st) < 0)
        return -errno;
    /* Never shrink: metadata flushes write L2 tables past our last look at the size. */
    if ((uint64_t)st.st_size < want && ftruncate(c->base.fd, (off_t)want) < 0)
        return -errno;
    c->size_hint = (uint64_t)st.st_size > want ? (uint64_t)st.st_size : want;
    return 0;
}

static bool is_allocated(uint64_t e)
{
    return e != 0 && e != CDISK_ENTRY_ZERO;
}

/* A pending contiguous host transfer. */
struct run {
    uint64_t host;
    char *buf;
    size_t len;
};

static int run_flush(struct cdisk *c, struct run *run, bool write)
{
    int r = 0;
    if (run->len)
        r = write ? disk_data_write(&c->base, run->buf, run->len, run->host)
                  : disk_data_read(&c->base, run->buf, run->len, run->host);
    run->len = 0;
    return r;
}

/* Adds [host, host+len) <- buf to the run, flushing it first if not contiguous. */
static int run_add(struct cdisk *c, struct run *run, uint64_t host, char *buf, size_t len,
                   bool write)
{
    if (run->len && run->host + run->len == host && run->buf + run->len == buf) {
        run->len += len;
        return 0;
    }
    int r = run_flush(c, run, write);
    *run = (struct run){.host = host, .buf = buf, .len = len};
    return r;
}

/* Reads the backing image's bytes for [off, off+len); zeros past its end. */
static int read_backing(struct cdisk *c, void *buf, size_t len, uint64_t off)
{
    uint64_t bsize = c->backing ? disk_size(c->backing) : 0;
    size_t n = off >= bsize ? 0 : (bsize - off < len ? (size_t)(bsize - off) : len);
    if (n) {
        int r = disk_read(c->backing, buf, n, off);
        if (r < 0)
            return r;
    }
    memset((char *)buf + n, 0, len - n);
    return 0;
}

static int cdisk_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
    struct cdisk *c = to_cdisk(d);
    struct run run = {0};
    char *p = buf;
    int r = 0;
    while (len && r == 0) {
        uint64_t vc = off >> c->cluster_bits;
        uint64_t in = off & (c->cluster_size - 1);
        size_t n = c->cluster_size - in < len ? (size_t)(c->cluster_size - in) : len;
        uint64_t e;
        r = cdisk_lookup(c, vc, &e);
        if (r < 0)
            break;
        if (is_allocated(e)) {
            r = run_add(c, &run, (e & CDISK_ENTRY_OFFSET_MASK) + in, p, n, false);
        } else if (e == 0 && c->backing) {
            r = read_backing(c, p, n, off);
        } else {
            memset(p, 0, n);
        }
        p += n;
        off += n;
        len -= n;
    }
    int f = run_flush(c, &run, false);
    return r < 0 ? r : f;
}

/* Where one cluster of a write goes. */
struct slot {
    uint64_t vc;
    uint64_t host;      /* cluster start in the file */
    bool fresh;         /* newly allocated: commit its entry after the data is written */
};

/* Writes one new, partially covered cluster over a backing image: the whole cluster,
 * so that its untouched part keeps reading the backing's data. */
static int write_cow(struct cdisk *c, const struct slot *s, const char *p, uint64_t in,
                     size_t n)
{
    int r = read_backing(c, c->bounce, c->cluster_size, s->vc << c->cluster_bits);
    if (r < 0)
        return r;
    memcpy(c->bounce + in, p, n);
    return disk_data_write(&c->base, c->bounce, c->cluster_size, s->host);
}

/* Maps up to CHUNK_CLUSTERS clusters, writes their data, then commits new entries. A
 * failure leaves new clusters unreferenced (leaked), never half-referenced. */
static int write_chunk(struct cdisk *c, const char *p, size_t len, uint64_t off,
                       size_t *done)
{
    struct slot slots[CHUNK_CLUSTERS];
    unsigned ns = 0;
    struct run run = {0};
    size_t pos = 0;
    int r = 0;
    while (pos < len && ns < CHUNK_CLUSTERS) {
        uint64_t at = off + pos;
        uint64_t in = at & (c->cluster_size - 1);
        size_t n = c->cluster_size - in < len - pos ? (size_t)(c->cluster_size - in)
                                                    : len - pos;
        uint64_t e;
        struct slot *s = &slots[ns++];
        s->vc = at >> c->cluster_bits;
        if ((r = cdisk_lookup(c, s->vc, &e)) < 0)
            break;
        s->fresh = !is_allocated(e);
        if (s->fresh) {
            s->host = c->file_end;
            c->file_end += c->cluster_size;
            if ((r = extend_file(c, c->file_end)) < 0)
                break;
        } else {
            s->host = e & CDISK_ENTRY_OFFSET_MASK;
        }
        if (s->fresh && e == 0 && c->backing && n < c->cluster_size) {
            if ((r = run_flush(c, &run, true)) < 0 ||
                (r = write_cow(c, s, p + pos, in, n)) < 0)
                break;
        } else if ((r = run_add(c, &run, s->host + in, (char *)p + pos, n, true)) < 0) {
            break;
        }
        pos += n;
    }
    if (r == 0)
        r = run_flush(c, &run, true);
    for (unsigned i = 0; i < ns && r == 0; i++)
        if (slots[i].fresh)
            r = cdisk_set_entry(c, slots[i].vc, slots[i].host);
    *done = pos;
    return r;
}

static int cdisk_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
    struct cdisk *c = to_cdisk(d);
    const char *p = buf;
    while (len) {
        size_t done;
        int r = write_chunk(c, p, len, off, &done);
        if (r < 0)
            return r;
        p += done;
        off += done;
        len -= done;
    }
    return 0;
}

static int cdisk_flush(struct disk *d)
{
    return cdisk_sync_meta(to_cdisk(d), true);
}

/* Makes whole cluster vc read zeros and frees its host space. */
static int zero_cluster(struct cdisk *c, uint64_t vc)
{
    uint64_t e;
    int r = cdisk_lookup(c, vc, &e);
    if (r < 0)
        return r;
    uint64_t want = c->backing ? CDISK_ENTRY_ZERO : 0;
    if (e == want)
        return 0;
    if (is_allocated(e)) {
        /* Before the map changes: a crash in between leaves the old entry pointing at a
         * hole, which reads zeros, as the discard asked. Host clusters are never reused,
         * so nothing else can land in that hole. */
        if (fallocate(c->base.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(e & CDISK_ENTRY_OFFSET_MASK), (off_t)c->cluster_size) < 0 &&
            errno != EOPNOTSUPP)
            return -errno;
    }
    return cdisk_set_entry(c, vc, want);
}

static int zero_whole_clusters(struct cdisk *c, uint64_t off, uint64_t len, uint64_t *first,
                               uint64_t *end)
{
    uint64_t mask = c->cluster_size - 1;
    uint64_t a = (off + mask) & ~mask;
    uint64_t b = (off + len) & ~mask;
    if (off + len == c->base.size)
        b = (off + len + mask) & ~mask; /* the last cluster may be partial in the disk */
    *first = a;
    *end = b;
    for (uint64_t x = a; x < b; x += c->cluster_size) {
        int r = zero_cluster(c, x >> c->cluster_bits);
        if (r < 0)
            return r;
    }
    return 0;
}

static int cdisk_discard(struct disk *d, uint64_t off, uint64_t len)
{
    uint64_t a, b;
    return zero_whole_clusters(to_cdisk(d), off, len, &a, &b);
}

/* Zeros [off, off+len) through the write path, skipping clusters that read zeros. */
static int zero_by_writing(struct cdisk *c, uint64_t off, uint64_t len)
{
    static const char zeros[65536];
    while (len) {
        uint64_t e;
        int r = cdisk_lookup(c, off >> c->cluster_bits, &e);
        if (r < 0)
            return r;
        uint64_t in = off & (c->cluster_size - 1);
        uint64_t n = c->cluster_size - in < len ? c->cluster_size - in : len;
        if (n > sizeof zeros)
            n = sizeof zeros;
        if (!(e == CDISK_ENTRY_ZERO || (e == 0 && !c->backing)) &&
            (r = cdisk_write(&c->base, zeros, (size_t)n, off)) < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

static int cdisk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
    struct cdisk *c = to_cdisk(d);
    uint64_t a, b, end = off + len;
    int r = zero_whole_clusters(c, off, len, &a, &b);
    if (r < 0)
        return r;
    if (a >= b)
        return zero_by_writing(c, off, len);
    if ((r = zero_by_writing(c, off, a - off)) < 0)
        return r;
    return b < end ? zero_by_writing(c, b, end - b) : 0;
}

/* Status of one run starting at off: whole L2 tables and clusters of one kind merge. */
static int cdisk_block_status(struct disk *d, uint64_t off, uint64_t len, uint64_t *run)
{
    struct cdisk *c = to_cdisk(d);
    uint64_t pos = off, end = off + len;
    int kind = -1; /* 1 data, 0 zero, 2 backing */
    while (pos < end) {
        uint64_t vc = pos >> c->cluster_bits;
        uint64_t cl_end = (vc + 1) << c->cluster_bits;
        uint64_t e;
        int r = cdisk_lookup(c, vc, &e);
        if (r < 0)
            return r;
        int k = is_allocated(e) ? 1 : (e == 0 && c->backing ? 2 : 0);
        if (kind >= 0 && k != kind)
            break;
        kind = k;
        if (k == 2) {
            uint64_t bsize = disk_size(c->backing);
            uint64_t n = (cl_end < end ? cl_end : end) - pos;
            if (pos >= bsize) {
                kind = 0;
                pos += n;
                break;
            }
            if (n > bsize - pos)
                n = bsize - pos;
            return disk_block_status(c->backing, pos, n, run);
        }
        /* An absent L2 table: its whole span is unallocated. */
        uint64_t l2_span = 1ull << (c->cluster_bits + c->l2_bits);
        if (e == 0 && !c->l2[vc >> c->l2_bits] && !c->l1[vc >> c->l2_bits])
            cl_end = (pos | (l2_span - 1)) + 1;
        pos = cl_end < end ? cl_end : end;
    }
    *run = pos - off;
    return kind == 1;
}

const struct disk_ops cdisk_ops = {
    .read = cdisk_read,
    .write = cdisk_write,
    .flush = cdisk_flush,
    .discard = cdisk_discard,
    .write_zeroes = cdisk_write_zeroes,
    .resize = cdisk_resize_impl,
    .block_status = cdisk_block_status,
    .info = cdisk_info_impl,
    .close = cdisk_close_impl,
};

struct disk *cdisk_backing(struct disk *d)
{
    return d->format == DISK_FORMAT_CDISK ? to_cdisk(d)->backing : NULL;
}
