/* cove_disk_check: verifies an image without trusting it (cdisk_open refuses a damaged
 * file; this reads it field by field and says what is wrong) and repairs what is safe.
 *
 * Every host cluster gets one owner (header, L1, an L2 table, one data cluster); a second
 * claim is a problem. Repairs are in-place writes that each keep the file valid after a
 * crash: an 8-byte map entry store, then one header sector (the dirty flag) last, after an
 * fdatasync, so a repair interrupted half-way leaves the flag set and the next check finds
 * the rest. */
#include <cove/disk.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdisk_internal.h"

enum owner { FREE, META, TABLE, DATA };

struct checker {
    const char *path;
    int fd;
    bool repair;
    cove_disk_finding_fn fn;
    void *opaque;
    struct cove_disk_check_report *rep;
    struct cdisk *c;
    uint8_t *owner;   /* per host cluster below c->file_end */
    uint64_t *tables; /* host offset of each L2 table in use (0: none), l1_cap entries */
};

static void say(struct checker *k, const char *loss, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* loss != NULL: repaired, losing that. */
static void say(struct checker *k, const char *loss, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (loss)
        k->rep->repaired++;
    else
        k->rep->problems++;
    struct cove_disk_finding f = {loss ? COVE_DISK_REPAIRED : COVE_DISK_PROBLEM, what, loss};
    if (k->fn)
        k->fn(&f, k->opaque);
}

static uint64_t cluster_of(const struct checker *k, uint64_t off)
{
    return off >> k->c->cluster_bits;
}

/* Why an offset from the map cannot be a cluster of this file, or NULL. */
static const char *bad_offset(const struct checker *k, uint64_t off)
{
    const struct cdisk *c = k->c;
    uint64_t l1_end = c->l1_offset + ((uint64_t)c->l1_clusters << c->cluster_bits);
    if (off & (c->cluster_size - 1))
        return "is not cluster-aligned";
    if (off < c->cluster_size)
        return "points into the header";
    if (off >= c->l1_offset && off < l1_end)
        return "points into the L1 table";
    return NULL;
}

static int store_entry(struct checker *k, uint64_t at, uint64_t value)
{
    uint64_t le = htole64(value);
    return disk_pwrite_full(k->fd, &le, sizeof le, at);
}

static int check_l1(struct checker *k, const uint64_t *l1)
{
    struct cdisk *c = k->c;
    uint64_t span_bits = c->cluster_bits + c->l2_bits;
    uint64_t needed = (c->base.size + (1ull << span_bits) - 1) >> span_bits;
    for (uint64_t i = 0; i < c->l1_cap; i++) {
        uint64_t e = le64toh(l1[i]), at = c->l1_offset + 8 * i;
        if (!e)
            continue;
        const char *why = bad_offset(k, e);
        if (i >= needed) {
            if (!k->repair) {
                say(k, NULL, "L1 entry %" PRIu64 " is set but maps nothing (past the virtual "
                    "size)", i);
                continue;
            }
            int r = store_entry(k, at, 0);
            if (r < 0)
                return r;
            say(k, "nothing: it mapped no part of the disk",
                "L1 entry %" PRIu64 " was set past the virtual size; cleared", i);
        } else if (why) {
            say(k, NULL, "L1 entry %" PRIu64 " (offset %" PRIu64 ") %s", i, e, why);
        } else if (e + c->cluster_size > c->file_end) {
            uint64_t first = i << c->l2_bits, last = first + (1ull << c->l2_bits) - 1;
            if (!k->repair) {
                say(k, NULL, "L1 entry %" PRIu64 " points past the end of the file (offset %"
                    PRIu64 ", file %" PRIu64 " bytes): virtual clusters %" PRIu64 "-%" PRIu64
                    " cannot be read", i, e, k->rep->file_size, first, last);
                continue;
            }
            int r = store_entry(k, at, 0);
            if (r < 0)
                return r;
            char loss[200];
            snprintf(loss, sizeof loss, "virtual clusters %" PRIu64 "-%" PRIu64 " now read as "
                     "unallocated (the backing image, else zeros); their table was not in "
                     "the file", first, last);
            say(k, loss, "L1 entry %" PRIu64 " pointed past the end of the file; cleared", i);
        } else if (k->owner[cluster_of(k, e)] != FREE) {
            say(k, NULL, "L2 table of L1 entry %" PRIu64 " (offset %" PRIu64 ") overlaps "
                "another table or the metadata", i, e);
        } else {
            k->owner[cluster_of(k, e)] = TABLE;
            k->tables[i] = e;
            k->rep->tables++;
        }
    }
    return 0;
}

static int check_l2_entry(struct checker *k, uint64_t vc, uint64_t e, uint64_t at)
{
    struct cdisk *c = k->c;
    if (e == 0 || e == CDISK_ENTRY_ZERO)
        return 0;
    uint64_t off = e & CDISK_ENTRY_OFFSET_MASK;
    const char *why = (e & (CDISK_ENTRY_RESERVED_MASK | CDISK_ENTRY_ZERO))
                          ? "has reserved bits set"
                          : bad_offset(k, off);
    if (why) {
        say(k, NULL, "map entry of virtual cluster %" PRIu64 " (0x%" PRIx64 ") %s", vc, e, why);
    } else if (off >= c->file_end) {
        if (!k->repair) {
            say(k, NULL, "map entry of virtual cluster %" PRIu64 " points past the end of the "
                "file (offset %" PRIu64 ", file %" PRIu64 " bytes)", vc, off,
                k->rep->file_size);
            return 0;
        }
        int r = store_entry(k, at, 0);
        if (r < 0)
            return r;
        char loss[200];
        snprintf(loss, sizeof loss, "virtual cluster %" PRIu64 " now reads as unallocated "
                 "(the backing image, else zeros); its data was never in the file", vc);
        say(k, loss, "map entry of virtual cluster %" PRIu64 " pointed past the end of the "
            "file; dropped", vc);
    } else if (k->owner[cluster_of(k, off)] != FREE) {
        say(k, NULL, "map entry of virtual cluster %" PRIu64 " points at host offset %" PRIu64
            ", which %s also uses", vc, off,
            k->owner[cluster_of(k, off)] == TABLE ? "an L2 table" : "another entry");
    } else {
        k->owner[cluster_of(k, off)] = DATA;
        k->rep->data_clusters++;
    }
    return 0;
}

static int check_tables(struct checker *k)
{
    struct cdisk *c = k->c;
    uint64_t n = 1ull << c->l2_bits;
    uint64_t *t = malloc(c->cluster_size);
    if (!t)
        return -ENOMEM;
    int r = 0;
    for (uint64_t i = 0; i < c->l1_cap && r == 0; i++) {
        if (!k->tables[i])
            continue;
        r = disk_pread_full(k->fd, t, c->cluster_size, k->tables[i]);
        for (uint64_t j = 0; j < n && r == 0; j++)
            r = check_l2_entry(k, i * n + j, le64toh(t[j]), k->tables[i] + 8 * j);
    }
    free(t);
    return r;
}

static void check_backing(struct checker *k)
{
    struct cdisk *c = k->c;
    if (!c->backing_name[0])
        return;
    char full[DISK_PATH_MAX];
    struct disk *b;
    struct cove_error inner = {0};
    if (disk_resolve_backing(k->path, c->backing_name, full, sizeof full) < 0) {
        say(k, NULL, "backing path %s is too long", c->backing_name);
        return;
    }
    if (disk_open_backing(full, c->backing_format, 1, NULL, &b, &inner) < 0) {
        say(k, NULL, "backing image does not open: %s", inner.message);
        return;
    }
    disk_close(b);
}

/* Clusters holding bytes that nothing points at: what a crash between a data write and
 * the next metadata flush leaves behind. */
static void count_leaks(struct checker *k)
{
    struct cdisk *c = k->c;
    off_t pos = 0;
    for (;;) {
        off_t data = lseek(k->fd, pos, SEEK_DATA);
        if (data < 0)
            return;
        off_t hole = lseek(k->fd, data, SEEK_HOLE);
        if (hole < 0)
            return;
        for (uint64_t cl = cluster_of(k, (uint64_t)data);
             (cl << c->cluster_bits) < (uint64_t)hole && (cl << c->cluster_bits) < c->file_end;
             cl++)
            k->rep->leaked_clusters += k->owner[cl] == FREE;
        pos = hole;
    }
}

static int check_dirty(struct checker *k)
{
    struct cdisk *c = k->c;
    if (!k->rep->dirty)
        return 0;
    /* We hold the lock: no VM has it open, so the flag is stale. */
    if (!k->repair || k->rep->problems) {
        say(k, NULL, "the dirty flag is set: the image was not closed cleanly%s",
            k->repair ? " (left set while other problems remain)"
                      : " (--repair clears it)");
        return 0;
    }
    if (fdatasync(k->fd) < 0)
        return -errno;
    cdisk_set_dirty_flag(c, false);
    int r = cdisk_write_header(c);
    if (r == 0 && fdatasync(k->fd) < 0)
        r = -errno;
    if (r < 0)
        return r;
    say(k, "nothing; clusters it leaked stay leaked (cove disk convert compacts them)",
        "the dirty flag was set (not closed cleanly); cleared");
    return 0;
}

static int check_cdisk(struct checker *k)
{
    struct cdisk *c = k->c;
    struct cove_error inner = {0};
    c->base.fd = k->fd;
    int r = disk_pread_full(k->fd, c->header, CDISK_HEADER_SIZE, 0);
    if (r < 0)
        return r;
    if (cdisk_parse_header(c, k->path, k->rep->file_size, &inner) < 0) {
        say(k, NULL, "%s", inner.message); /* nothing after it can be trusted */
        return 0;
    }
    k->rep->virtual_size = c->base.size;
    k->rep->cluster_size = (uint32_t)c->cluster_size;
    k->rep->dirty = le64toh(((struct cdisk_header *)c->header)->flags) & CDISK_FLAG_DIRTY;
    uint64_t nclusters = c->file_end >> c->cluster_bits;
    uint64_t *l1 = calloc(c->l1_cap, 8);
    k->owner = calloc(nclusters, 1);
    k->tables = calloc(c->l1_cap, 8);
    if (!l1 || !k->owner || !k->tables) {
        free(l1);
        return -ENOMEM;
    }
    memset(k->owner, META, 1 + c->l1_clusters > nclusters ? nclusters : 1);
    memset(k->owner + cluster_of(k, c->l1_offset), META, c->l1_clusters);
    r = disk_pread_full(k->fd, l1, c->l1_cap * 8, c->l1_offset);
    if (r == 0)
        r = check_l1(k, l1);
    free(l1);
    if (r == 0)
        r = check_tables(k);
    if (r < 0)
        return r;
    check_backing(k);
    count_leaks(k);
    return check_dirty(k);
}

static int open_locked(const char *path, bool repair, struct cove_error *err)
{
    int fd = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return cove_error_set(err, -e, "disk %s: no such file", path);
        return cove_error_set(err, -e, "disk %s: %s", path, strerror(e));
    }
    if (flock(fd, (repair ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return cove_error_set(err, -EBUSY, "disk %s is in use by a VM; stop it before "
                                  "checking", path);
        return cove_error_set(err, -e, "disk %s: cannot lock: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cove_error_set(err, -EINVAL, "disk %s is not a regular file", path);
    }
    return fd;
}

int cove_disk_check(const char *path, bool repair, cove_disk_finding_fn fn, void *opaque,
                    struct cove_disk_check_report *report, struct cove_error *err)
{
    *report = (struct cove_disk_check_report){.format = COVE_DISK_RAW};
    int fd = open_locked(path, repair, err);
    if (fd < 0)
        return fd;
    struct stat st;
    fstat(fd, &st);
    report->file_size = (uint64_t)st.st_size;
    char magic[CDISK_MAGIC_LEN] = {0};
    int r = disk_pread_full(fd, magic, sizeof magic, 0);
    if (r == 0 && (report->file_size < sizeof magic || memcmp(magic, CDISK_MAGIC, sizeof magic))) {
        /* Raw: every byte is the guest's; there is nothing to check but the size. */
        report->virtual_size = report->file_size;
        close(fd);
        return 0;
    }
    report->format = COVE_DISK_CDISK;
    struct checker k = {.path = path, .fd = fd, .repair = repair, .fn = fn, .opaque = opaque,
                        .rep = report, .c = calloc(1, sizeof(struct cdisk))};
    r = k.c ? (r < 0 ? r : check_cdisk(&k)) : -ENOMEM;
    free(k.owner);
    free(k.tables);
    free(k.c);
    close(fd);
    if (r < 0)
        return cove_error_set(err, r, "disk %s: cannot check: %s", path, strerror(-r));
    return 0;
}
