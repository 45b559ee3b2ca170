/* Disk format tests: cdisk semantics, sparseness, growth, backing chains, discard,
 * damaged images, conversion. Crash consistency lives in test_disk_crash.c. */
#include "../test.h"
#include "disk_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>

#include "disk/disk.h"
#include "cdisk_format.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct disk *open_rw(const char *path)
{
    struct disk *d = NULL;
    struct cove_error err = {0};
    if (disk_open(path, false, &d, &err) < 0)
        printf("  open %s: %s\n", path, err.message);
    return d;
}

/* A new zero-filled raw image in the scratch dir, opened read-write with its format
 * probed; NULL (with a line saying why) when that fails. */
static struct disk *fresh_raw(const char *name, uint64_t size)
{
    const char *p = scratch_path(name);
    struct cove_error err = {0};
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = size};
    if (disk_create_ex(p, &o, &err) < 0) {
        printf("  create %s: %s\n", p, err.message);
        return NULL;
    }
    return open_rw(p);
}

static bool reads_zero(struct disk *d, uint64_t off, size_t len)
{
    char *buf = malloc(len);
    bool ok = buf && disk_read(d, buf, len, off) == 0 && buf_zero(buf, len);
    free(buf);
    return ok;
}

TEST(fresh_image_reads_zeros)
{
    const char *p = scratch_path("fresh.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 64 * MiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    CHECK(d);
    if (!d)
        return;
    CHECK_EQ_U64(disk_size(d), 64 * MiB);
    CHECK(disk_get_format(d) == DISK_FORMAT_CDISK);
    CHECK(reads_zero(d, 0, 1 * MiB));
    CHECK(reads_zero(d, 64 * MiB - 4096, 4096));
    char b;
    CHECK(disk_read(d, &b, 1, 64 * MiB) == -EINVAL);
    CHECK(disk_close(d) == 0);
    CHECK(disk_create(p, 64 * MiB, NULL, &err) == -EEXIST);
}

/* Random writes at odd offsets and lengths against an in-memory model, with cluster
 * sizes small enough that every write crosses clusters; checked live and after reopen. */
static void model_check(uint32_t cluster_size)
{
    const uint64_t size = 4 * MiB;
    char name[64];
    snprintf(name, sizeof name, "model-%u.cdisk", cluster_size);
    const char *p = scratch_path(name);
    struct disk_create_options o = {.format = DISK_FORMAT_CDISK, .size = size,
                                    .cluster_size = cluster_size};
    struct cove_error err;
    CHECK(disk_create_ex(p, &o, &err) == 0);
    unsigned char *model = calloc(1, size), *buf = malloc(size);
    struct disk *d = open_rw(p);
    CHECK(d && model && buf);
    if (!d || !model || !buf)
        return;
    uint64_t s = 88172645463325252ull + cluster_size;
    for (int i = 0; i < 300; i++) {
        uint64_t off = rng_next(&s) % size;
        uint64_t len = 1 + rng_next(&s) % (3 * cluster_size);
        if (len > size - off)
            len = size - off;
        fill_pattern(model + off, len, off, (uint32_t)i);
        CHECK(disk_write(d, model + off, len, off) == 0);
        if (i % 37 == 0)
            CHECK(disk_flush(d) == 0);
        uint64_t roff = rng_next(&s) % size;
        uint64_t rlen = 1 + rng_next(&s) % (2 * cluster_size);
        if (rlen > size - roff)
            rlen = size - roff;
        CHECK(disk_read(d, buf, rlen, roff) == 0);
        CHECK(memcmp(buf, model + roff, rlen) == 0);
    }
    CHECK(disk_read(d, buf, size, 0) == 0);
    CHECK(memcmp(buf, model, size) == 0);
    CHECK(disk_close(d) == 0);
    d = open_rw(p);
    CHECK(d);
    if (d) {
        memset(buf, 0xaa, size);
        CHECK(disk_read(d, buf, size, 0) == 0);
        CHECK(memcmp(buf, model, size) == 0);
        disk_close(d);
    }
    free(model);
    free(buf);
}

TEST(round_trip_unaligned_4k_clusters)
{
    model_check(4096);
}

TEST(round_trip_unaligned_64k_clusters)
{
    model_check(64 << 10);
}

TEST(writev_readv_round_trip)
{
    const char *p = scratch_path("iov.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 8 * MiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char a[3000], b[70000], c[10];
    fill_pattern(a, sizeof a, 1, 1);
    fill_pattern(b, sizeof b, 2, 2);
    fill_pattern(c, sizeof c, 3, 3);
    struct iovec w[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    CHECK(disk_writev(d, w, 3, 65536 - 1000) == 0);
    char ra[3000], rb[70000], rc[10];
    struct iovec r[3] = {{ra, sizeof ra}, {rb, sizeof rb}, {rc, sizeof rc}};
    CHECK(disk_readv(d, r, 3, 65536 - 1000) == 0);
    CHECK(!memcmp(a, ra, sizeof a) && !memcmp(b, rb, sizeof b) && !memcmp(c, rc, sizeof c));
    CHECK(disk_writev(d, w, 3, 8 * MiB - 100) == -EINVAL);
    disk_close(d);
}

/* Raw images take the driver's vectored path: more buffers than one preadv takes (IOV_MAX),
 * empty ones among them, and the read side sees exactly what was written. */
TEST(raw_writev_readv_many_buffers)
{
    struct disk *d = fresh_raw("iov.raw", 1 * MiB);
    REQUIRE(d);
    enum { N = 2500, LEN = 7 };
    static char data[N * LEN], back[N * LEN];
    static struct iovec iov[N];
    fill_pattern(data, sizeof data, 5, 5);
    for (unsigned i = 0; i < N; i++)
        iov[i] = (struct iovec){data + i * LEN, i % 100 == 1 ? 0 : LEN};
    CHECK(disk_writev(d, iov, N, 4096) == 0);
    uint64_t total = 0;
    for (unsigned i = 0; i < N; i++) {
        iov[i].iov_base = back + total;
        total += iov[i].iov_len;
    }
    CHECK(disk_readv(d, iov, N, 4096) == 0);
    char want[N * LEN];
    uint64_t w = 0;
    for (unsigned i = 0; i < N; i++)
        if (i % 100 != 1) {
            memcpy(want + w, data + i * LEN, LEN);
            w += LEN;
        }
    CHECK_EQ_U64(w, total);
    CHECK(!memcmp(back, want, w));
    char file[64];
    CHECK(disk_read(d, file, sizeof file, 4096) == 0);
    CHECK(!memcmp(file, want, sizeof file));
    disk_close(d);
}

TEST(host_space_follows_data_not_size)
{
    const char *p = scratch_path("big.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 64 * GiB, NULL, &err) == 0);
    CHECK(host_bytes(p) < 256 * 1024);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char *buf = malloc(MiB);
    fill_pattern(buf, MiB, 0, 7);
    /* 1 MiB in four places far apart: four L2 tables, still small. */
    for (int i = 0; i < 4; i++)
        CHECK(disk_write(d, buf + i * 256 * 1024, 256 * 1024, (uint64_t)i * 16 * GiB + 12345) == 0);
    CHECK(disk_close(d) == 0);
    uint64_t used = host_bytes(p);
    printf("  64 GiB image with 1 MiB written: %llu bytes on the host\n",
           (unsigned long long)used);
    CHECK(used < 2 * MiB);
    d = open_rw(p);
    if (d) {
        char *r = malloc(256 * 1024);
        CHECK(disk_read(d, r, 256 * 1024, 3 * 16 * GiB + 12345) == 0);
        CHECK(!memcmp(r, buf + 3 * 256 * 1024, 256 * 1024));
        CHECK(reads_zero(d, 60 * GiB, MiB));
        free(r);
        disk_close(d);
    }
    free(buf);
}

TEST(grow_keeps_data_and_reads_zeros)
{
    const char *p = scratch_path("grow.cdisk");
    struct cove_error err;
    /* 4 KiB clusters: one L1 cluster maps 1 GiB, so growing to 3 GiB moves the L1. */
    struct disk_create_options o = {.format = DISK_FORMAT_CDISK, .size = 512 * MiB,
                                    .cluster_size = 4096};
    CHECK(disk_create_ex(p, &o, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char buf[10000], r[10000];
    fill_pattern(buf, sizeof buf, 0, 11);
    CHECK(disk_write(d, buf, sizeof buf, 512 * MiB - 10000) == 0);
    CHECK(disk_resize(d, 1 * GiB, &err) == 0);
    CHECK_EQ_U64(disk_size(d), 1 * GiB);
    CHECK(disk_write(d, buf, sizeof buf, 1 * GiB - 10000) == 0);
    CHECK(disk_resize(d, 3 * GiB, &err) == 0);
    CHECK(reads_zero(d, 2 * GiB, 65536));
    CHECK(disk_write(d, buf, sizeof buf, 3 * GiB - 10000) == 0);
    CHECK(disk_close(d) == 0);
    d = open_rw(p);
    if (!d)
        return;
    CHECK_EQ_U64(disk_size(d), 3 * GiB);
    CHECK(disk_read(d, r, sizeof r, 512 * MiB - 10000) == 0 && !memcmp(r, buf, sizeof r));
    CHECK(disk_read(d, r, sizeof r, 1 * GiB - 10000) == 0 && !memcmp(r, buf, sizeof r));
    CHECK(disk_read(d, r, sizeof r, 3 * GiB - 10000) == 0 && !memcmp(r, buf, sizeof r));
    CHECK(reads_zero(d, 1 * GiB, 65536));
    disk_close(d);
}

TEST(shrink_is_refused_naming_the_size)
{
    const char *p = scratch_path("shrink.cdisk");
    struct cove_error err = {0};
    REQUIRE(disk_create(p, 2 * GiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    CHECK(disk_resize(d, 1 * GiB, &err) == -EINVAL);
    CHECK(strstr(err.message, "2 GiB") != NULL);
    CHECK(strstr(err.message, p) != NULL);
    CHECK_EQ_U64(disk_size(d), 2 * GiB);
    disk_close(d);
    /* raw too */
    const char *q = scratch_path("shrink.raw");
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = 4 * MiB};
    CHECK(disk_create_ex(q, &o, &err) == 0);
    d = open_rw(q);
    if (!d)
        return;
    CHECK(disk_resize(d, 2 * MiB, &err) == -EINVAL);
    CHECK(disk_resize(d, 8 * MiB, &err) == 0);
    CHECK_EQ_U64(disk_size(d), 8 * MiB);
    disk_close(d);
}

static uint64_t file_checksum(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint64_t h = 1469598103934665603ull;
    int ch;
    if (!f)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        h = (h ^ (unsigned)ch) * 1099511628211ull;
    fclose(f);
    return h;
}

/* base.raw (pattern) <- mid.cdisk (some clusters) <- top.cdisk, relative names. */
TEST(backing_chain_reads_and_cow)
{
    const uint64_t size = 4 * MiB;
    const char *base = scratch_path("base.raw");
    const char *mid = scratch_path("mid.cdisk");
    const char *top = scratch_path("top.cdisk");
    struct cove_error err = {0};
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = size};
    CHECK(disk_create_ex(base, &o, &err) == 0);
    unsigned char *want = malloc(size), *buf = malloc(size);
    fill_pattern(want, size, 0, 42);
    struct disk *d = open_rw(base);
    if (!d)
        return;
    CHECK(disk_write(d, want, size, 0) == 0);
    disk_close(d);
    REQUIRE(disk_create(mid, 0, "base.raw", &err) == 0);
    d = open_rw(mid);
    if (!d)
        return;
    CHECK_EQ_U64(disk_size(d), size);
    fill_pattern(want + MiB + 100, 5000, MiB + 100, 43);
    CHECK(disk_write(d, want + MiB + 100, 5000, MiB + 100) == 0);
    disk_close(d);
    REQUIRE(disk_create(top, 8 * MiB, "mid.cdisk", &err) == 0);
    uint64_t base_sum = file_checksum(base), mid_sum = file_checksum(mid);
    d = open_rw(top);
    if (!d)
        return;
    struct disk_info info;
    CHECK(disk_info(d, &info) == 0);
    CHECK_STR(info.backing, "mid.cdisk");
    CHECK(info.backing_format == DISK_FORMAT_CDISK);
    CHECK(disk_read(d, buf, size, 0) == 0 && !memcmp(buf, want, size));
    CHECK(reads_zero(d, size, 4 * MiB)); /* past the backing's end */
    /* Partial-cluster write: the rest of its cluster still reads the backing data. */
    fill_pattern(want + 3 * MiB + 7, 100, 3 * MiB + 7, 44);
    CHECK(disk_write(d, want + 3 * MiB + 7, 100, 3 * MiB + 7) == 0);
    CHECK(disk_flush(d) == 0);
    CHECK(disk_read(d, buf, size, 0) == 0 && !memcmp(buf, want, size));
    disk_close(d);
    d = open_rw(top);
    if (d) {
        CHECK(disk_read(d, buf, size, 0) == 0 && !memcmp(buf, want, size));
        disk_close(d);
    }
    CHECK_EQ_U64(file_checksum(base), base_sum);
    CHECK_EQ_U64(file_checksum(mid), mid_sum);
    free(want);
    free(buf);
}

TEST(backing_is_locked_read_only_and_smaller_size_refused)
{
    const char *base = scratch_path("lockbase.cdisk");
    const char *top = scratch_path("locktop.cdisk");
    struct cove_error err = {0};
    REQUIRE(disk_create(base, 4 * MiB, NULL, &err) == 0);
    REQUIRE(disk_create(top, 0, base, &err) == 0); /* absolute backing path */
    CHECK(disk_create(scratch_path("small.cdisk"), 2 * MiB, base, &err) == -EINVAL);
    struct disk *t = open_rw(top);
    if (!t)
        return;
    struct disk *b = NULL;
    CHECK(disk_open(base, false, &b, &err) == -EBUSY); /* the top holds a shared lock */
    CHECK(strstr(err.message, "in use") != NULL);
    REQUIRE(disk_open(base, true, &b, &err) == 0);
    disk_close(b);
    disk_close(t);
}

TEST(backing_loop_is_refused)
{
    const char *a = scratch_path("loop-a.cdisk");
    const char *b = scratch_path("loop-b.cdisk");
    const char *b2 = scratch_path("loop-b2.cdisk");
    struct cove_error err = {0};
    REQUIRE(disk_create(b, 1 * MiB, NULL, &err) == 0);
    REQUIRE(disk_create(a, 1 * MiB, "loop-b.cdisk", &err) == 0);
    REQUIRE(disk_create(b2, 1 * MiB, "loop-a.cdisk", &err) == 0);
    CHECK(rename(b2, b) == 0);
    struct disk *d = NULL;
    CHECK(disk_open(a, true, &d, &err) == -ELOOP);
    CHECK(strstr(err.message, "loop") != NULL);
}

TEST(discard_frees_space_and_reads_zeros)
{
    const char *p = scratch_path("discard.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 64 * MiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char *buf = malloc(8 * MiB);
    fill_pattern(buf, 8 * MiB, 0, 5);
    CHECK(disk_write(d, buf, 8 * MiB, 0) == 0);
    CHECK(disk_flush(d) == 0);
    uint64_t before = host_bytes(p);
    CHECK(disk_discard(d, 1 * MiB, 6 * MiB) == 0);
    CHECK(disk_flush(d) == 0);
    uint64_t after = host_bytes(p);
    printf("  host bytes before discard %llu, after %llu\n", (unsigned long long)before,
           (unsigned long long)after);
    CHECK(after + 5 * MiB < before);
    CHECK(reads_zero(d, 1 * MiB, 6 * MiB));
    char r[4096];
    CHECK(disk_read(d, r, sizeof r, MiB - sizeof r) == 0 && !memcmp(r, buf + MiB - sizeof r, sizeof r));
    CHECK(disk_read(d, r, sizeof r, 7 * MiB) == 0 && !memcmp(r, buf + 7 * MiB, sizeof r));
    /* Rewriting a discarded cluster works and does not disturb its neighbours. */
    CHECK(disk_write(d, buf + 2 * MiB, 4096, 2 * MiB) == 0);
    CHECK(disk_read(d, r, sizeof r, 2 * MiB) == 0 && !memcmp(r, buf + 2 * MiB, sizeof r));
    CHECK(reads_zero(d, 2 * MiB + 4096, 60000));
    disk_close(d);
    d = open_rw(p);
    if (d) {
        CHECK(reads_zero(d, 3 * MiB, 4 * MiB));
        CHECK(disk_read(d, r, sizeof r, 2 * MiB) == 0 && !memcmp(r, buf + 2 * MiB, sizeof r));
        disk_close(d);
    }
    free(buf);
}

TEST(discard_over_backing_reads_zeros)
{
    const char *base = scratch_path("dbase.raw");
    const char *top = scratch_path("dtop.cdisk");
    struct cove_error err;
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = 2 * MiB};
    CHECK(disk_create_ex(base, &o, &err) == 0);
    char *buf = malloc(2 * MiB);
    fill_pattern(buf, 2 * MiB, 0, 9);
    struct disk *d = open_rw(base);
    if (!d)
        return;
    CHECK(disk_write(d, buf, 2 * MiB, 0) == 0);
    disk_close(d);
    REQUIRE(disk_create(top, 0, "dbase.raw", &err) == 0);
    d = open_rw(top);
    if (!d)
        return;
    CHECK(disk_write(d, buf, 65536, 0) == 0); /* one allocated cluster */
    CHECK(disk_discard(d, 0, MiB) == 0);      /* allocated and backing-only clusters */
    CHECK(reads_zero(d, 0, MiB));
    CHECK(disk_write_zeroes(d, MiB + 1000, 3000, true) == 0); /* partial: COW + zeros */
    char r[8192];
    CHECK(disk_read(d, r, sizeof r, MiB) == 0);
    CHECK(!memcmp(r, buf + MiB, 1000) && buf_zero(r + 1000, 3000) &&
          !memcmp(r + 4000, buf + MiB + 4000, sizeof r - 4000));
    disk_close(d);
    d = open_rw(top);
    if (d) {
        CHECK(reads_zero(d, 0, MiB));
        CHECK(disk_read(d, r, sizeof r, MiB) == 0 && buf_zero(r + 1000, 3000));
        disk_close(d);
    }
    free(buf);
}

TEST(write_zeroes_whole_and_partial)
{
    const char *p = scratch_path("wz.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 4 * MiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char *buf = malloc(4 * MiB), *r = malloc(4 * MiB);
    fill_pattern(buf, 4 * MiB, 0, 3);
    CHECK(disk_write(d, buf, 4 * MiB, 0) == 0);
    CHECK(disk_write_zeroes(d, 100, 300000, false) == 0);
    memset(buf + 100, 0, 300000);
    CHECK(disk_write_zeroes(d, 4 * MiB - 10, 10, true) == 0);
    memset(buf + 4 * MiB - 10, 0, 10);
    CHECK(disk_read(d, r, 4 * MiB, 0) == 0 && !memcmp(r, buf, 4 * MiB));
    disk_close(d);
    free(buf);
    free(r);
}

static int open_error(const char *path, char *msg, size_t len)
{
    struct disk *d = NULL;
    struct cove_error err = {0};
    int r = disk_open(path, true, &d, &err);
    if (r == 0)
        disk_close(d);
    snprintf(msg, len, "%s", err.message);
    return r;
}

static void poke(const char *path, uint64_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, data, len, (off_t)off) == (ssize_t)len);
    close(fd);
}

TEST(damaged_images_are_refused_clearly)
{
    const char *p = scratch_path("dmg.cdisk");
    struct cove_error err;
    char msg[COVE_ERROR_MAX];
    REQUIRE(disk_create(p, 1 * GiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char buf[65536];
    fill_pattern(buf, sizeof buf, 0, 1);
    CHECK(disk_write(d, buf, sizeof buf, 0) == 0);
    disk_close(d);
    CHECK(open_error(p, msg, sizeof msg) == 0);

    /* A flipped bit in the virtual size: checksum. */
    char save[8], bad = 0x41;
    int fd = open(p, O_RDONLY);
    CHECK(pread(fd, save, 8, 24) == 8);
    close(fd);
    poke(p, 27, &bad, 1);
    CHECK(open_error(p, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, p) && strstr(msg, "checksum"));
    poke(p, 24, save, 8);
    CHECK(open_error(p, msg, sizeof msg) == 0);

    /* Truncated inside the cluster map. */
    CHECK(truncate(p, 65536 + 4096) == 0);
    CHECK(open_error(p, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, p) && strstr(msg, "truncated"));

    /* Too short for a header. */
    CHECK(truncate(p, 100) == 0);
    d = NULL;
    CHECK(disk_open_ex(p, DISK_FORMAT_CDISK, DISK_OPEN_READ_ONLY, &d, &err) == -EINVAL);
    CHECK(strstr(err.message, "too small") != NULL);
}

TEST(damaged_map_entries_are_refused)
{
    const char *p = scratch_path("dmg2.cdisk");
    struct cove_error err;
    char msg[COVE_ERROR_MAX];
    REQUIRE(disk_create(p, 1 * GiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char buf[4096] = {1};
    CHECK(disk_write(d, buf, sizeof buf, 0) == 0);
    disk_close(d);
    /* L1 entry 0 (at 64 KiB) pointing far past the end of the file. */
    uint64_t far = 1ull << 40;
    poke(p, 65536, &far, 8);
    CHECK(open_error(p, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, p) && strstr(msg, "outside"));
    /* An L1 entry pointing at the L1 table itself (aliasing the map): refused too. */
    uint64_t self = 65536;
    poke(p, 65536, &self, 8);
    CHECK(open_error(p, msg, sizeof msg) == -EINVAL);
    CHECK(strstr(msg, "outside") != NULL);
}

TEST(damaged_l2_entry_reads_eio)
{
    const char *p = scratch_path("dmg3.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 1 * GiB, NULL, &err) == 0);
    struct disk *d = open_rw(p);
    if (!d)
        return;
    char buf[4096] = {1};
    CHECK(disk_write(d, buf, sizeof buf, 0) == 0);
    disk_close(d);
    uint64_t l2;
    int fd = open(p, O_RDONLY);
    CHECK(pread(fd, &l2, 8, 65536) == 8);
    close(fd);
    uint64_t evil = 1ull << 45;
    poke(p, l2, &evil, 8);
    REQUIRE(disk_open(p, true, &d, &err) == 0);
    if (d) {
        char r[512];
        CHECK(disk_read(d, r, sizeof r, 0) == -EIO);
        disk_close(d);
    }
}

TEST(probed_raw_cannot_become_cdisk)
{
    struct disk *d = fresh_raw("probe.raw", 1 * MiB);
    REQUIRE(d);
    CHECK(disk_get_format(d) == DISK_FORMAT_RAW);
    char sector[512] = {0};
    memcpy(sector, CDISK_MAGIC, CDISK_MAGIC_LEN);
    CHECK(disk_write(d, sector, sizeof sector, 0) == -EPERM);
    CHECK(disk_write(d, sector + 4, 4, 4) == 0); /* "Disk" alone is harmless */
    /* The vectored path, the magic split across buffers: refused before anything is
     * written. */
    CHECK(disk_write(d, "xxxx", 4, 4) == 0);
    struct iovec split[3] = {{sector, 2}, {sector + 2, 4}, {sector + 6, sizeof sector - 6}};
    CHECK(disk_writev(d, split, 3, 0) == -EPERM);
    char head[8];
    CHECK(disk_read(d, head, sizeof head, 0) == 0);
    CHECK(!memcmp(head, "\0\0\0\0xxxx", 8));
    disk_close(d);
    struct cove_error err;
    REQUIRE(disk_open_ex(scratch_path("probe.raw"), DISK_FORMAT_RAW, 0, &d, &err) == 0);
    CHECK(disk_write(d, sector, sizeof sector, 0) == 0); /* format given: allowed */
    disk_close(d);
}

TEST(create_leaves_no_temporary_files)
{
    const char *p = scratch_path("atomic.cdisk");
    struct cove_error err;
    CHECK(disk_create(p, 1 * MiB, "does-not-exist.raw", &err) == -ENOENT);
    CHECK(strstr(err.message, "does-not-exist") != NULL);
    CHECK(access(p, F_OK) != 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp-", scratch_dir);
    CHECK(system(cmd) != 0);
    CHECK(disk_create(p, 1000, NULL, &err) == -EINVAL); /* not a multiple of 512 */
    CHECK(strstr(err.message, "512") != NULL);
}

static void note_progress(uint64_t done, uint64_t total, void *opaque)
{
    uint64_t *last = opaque;
    if (done < *last || done > total)
        *last = UINT64_MAX;
    else
        *last = done;
}

static bool files_equal(const char *a, const char *b)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

TEST(convert_round_trip_is_identical_and_sparse)
{
    const char *raw = scratch_path("conv.raw");
    const char *cd = scratch_path("conv.cdisk");
    const char *back = scratch_path("conv-back.raw");
    struct cove_error err = {0};
    const uint64_t size = 256 * MiB;
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = size};
    CHECK(disk_create_ex(raw, &o, &err) == 0);
    struct disk *d = open_rw(raw);
    if (!d)
        return;
    char *buf = malloc(3 * MiB);
    fill_pattern(buf, 3 * MiB, 0, 77);
    CHECK(disk_write(d, buf, 3 * MiB, 5 * MiB + 123) == 0);
    CHECK(disk_write(d, buf, 1000, 100 * MiB) == 0);
    CHECK(disk_write(d, buf, 4096, size - 4096) == 0);
    disk_close(d);
    uint64_t progress = 0;
    CHECK(disk_convert(raw, cd, DISK_FORMAT_AUTO, note_progress, &progress, &err) == 0);
    CHECK_EQ_U64(progress, size);
    CHECK(disk_convert(cd, back, DISK_FORMAT_RAW, NULL, NULL, &err) == 0);
    CHECK(files_equal(raw, back));
    printf("  host bytes: raw %llu, cdisk %llu, back %llu\n",
           (unsigned long long)host_bytes(raw), (unsigned long long)host_bytes(cd),
           (unsigned long long)host_bytes(back));
    CHECK(host_bytes(cd) < 5 * MiB);
    CHECK(host_bytes(back) <= host_bytes(raw) + 128 * 1024);
    CHECK(disk_convert(cd, back, DISK_FORMAT_RAW, NULL, NULL, &err) == -EEXIST);
    /* A cdisk over a backing image converts to one flat image. */
    const char *top = scratch_path("conv-top.cdisk");
    const char *flat = scratch_path("conv-flat.raw");
    REQUIRE(disk_create(top, 0, "conv.cdisk", &err) == 0);
    d = open_rw(top);
    if (d) {
        CHECK(disk_write(d, buf, 5000, 50 * MiB) == 0);
        disk_close(d);
    }
    CHECK(disk_convert(top, flat, DISK_FORMAT_RAW, NULL, NULL, &err) == 0);
    d = open_rw(flat);
    if (d) {
        char *r = malloc(3 * MiB);
        CHECK(disk_read(d, r, 3 * MiB, 5 * MiB + 123) == 0 && !memcmp(r, buf, 3 * MiB));
        CHECK(disk_read(d, r, 5000, 50 * MiB) == 0 && !memcmp(r, buf, 5000));
        free(r);
        disk_close(d);
    }
    free(buf);
}

TEST(info_reports_format_size_and_space)
{
    const char *p = scratch_path("info.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(p, 10 * GiB, NULL, &err) == 0);
    struct disk *d = NULL;
    CHECK(disk_open_ex(p, DISK_FORMAT_AUTO, DISK_OPEN_NO_LOCK, &d, &err) == 0);
    if (!d)
        return;
    struct disk_info info;
    CHECK(disk_info(d, &info) == 0);
    CHECK(info.format == DISK_FORMAT_CDISK);
    CHECK_EQ_U64(info.virtual_size, 10 * GiB);
    CHECK_EQ_U64(info.cluster_size, 65536);
    CHECK(info.allocated < MiB);
    CHECK(info.backing[0] == 0);
    CHECK(!info.dirty);
    disk_close(d);
}

int main(void)
{
    scratch_init();
    RUN(fresh_image_reads_zeros);
    RUN(round_trip_unaligned_4k_clusters);
    RUN(round_trip_unaligned_64k_clusters);
    RUN(writev_readv_round_trip);
    RUN(raw_writev_readv_many_buffers);
    RUN(host_space_follows_data_not_size);
    RUN(grow_keeps_data_and_reads_zeros);
    RUN(shrink_is_refused_naming_the_size);
    RUN(backing_chain_reads_and_cow);
    RUN(backing_is_locked_read_only_and_smaller_size_refused);
    RUN(backing_loop_is_refused);
    RUN(discard_frees_space_and_reads_zeros);
    RUN(discard_over_backing_reads_zeros);
    RUN(write_zeroes_whole_and_partial);
    RUN(damaged_images_are_refused_clearly);
    RUN(damaged_map_entries_are_refused);
    RUN(damaged_l2_entry_reads_eio);
    RUN(probed_raw_cannot_become_cdisk);
    RUN(create_leaves_no_temporary_files);
    RUN(convert_round_trip_is_identical_and_sparse);
    RUN(info_reports_format_size_and_space);
    scratch_cleanup();
    return test_summary();
}
