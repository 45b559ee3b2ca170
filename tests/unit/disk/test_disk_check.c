/* cove_disk_check (src/disk/cdisk_check.c): images damaged in each way the check knows,
 * found, and repaired where the repair is safe. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <cove/disk.h>

#include "../test.h"
#include "cdisk_format.h"
#include "disk.h"
#include "disk_test_util.h"

#define CS 65536ull

static char last_finding[512];
static unsigned findings;

static void remember(const struct cove_disk_finding *f, void *opaque)
{
    (void)opaque;
    snprintf(last_finding, sizeof last_finding, "%s", f->what);
    findings++;
}

static int check(const char *path, bool repair, struct cove_disk_check_report *rep)
{
    struct cove_error err = {0};
    last_finding[0] = 0;
    findings = 0;
    int r = cove_disk_check(path, repair, remember, NULL, rep, &err);
    if (r < 0)
        printf("  cove_disk_check: %s\n", err.message);
    return r;
}

/* A 64 MiB cdisk with clusters 0..n-1 written and closed cleanly. */
static const char *make_image(const char *name, unsigned n)
{
    const char *path = scratch_path(name);
    struct cove_error err;
    struct disk *d;
    if (disk_create(path, 64 << 20, NULL, &err) < 0 || disk_open(path, false, &d, &err) < 0) {
        printf("  %s\n", err.message);
        return path;
    }
    static unsigned char buf[CS];
    for (unsigned i = 0; i < n; i++) {
        fill_pattern(buf, sizeof buf, i * CS, 1);
        disk_write(d, buf, sizeof buf, i * CS);
    }
    disk_close(d);
    return path;
}

static uint64_t read_u64(const char *path, uint64_t off)
{
    uint64_t v = 0;
    int fd = open(path, O_RDONLY);
    if (pread(fd, &v, 8, (off_t)off) != 8)
        v = ~0ull;
    close(fd);
    return le64toh(v);
}

static void write_u64(const char *path, uint64_t off, uint64_t v)
{
    int fd = open(path, O_WRONLY);
    v = htole64(v);
    if (pwrite(fd, &v, 8, (off_t)off) != 8)
        printf("  pwrite failed\n");
    close(fd);
}

/* Where the L2 entry of virtual cluster vc (< 8192) lives: L1 is at CS (a fresh image). */
static uint64_t l2_entry_at(const char *path, uint64_t vc)
{
    return read_u64(path, CS) + 8 * vc;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

TEST(clean_image_has_no_problems)
{
    const char *p = make_image("clean.cdisk", 4);
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.format, COVE_DISK_CDISK);
    CHECK_EQ_U64(r.problems, 0);
    CHECK_EQ_U64(r.tables, 1);
    CHECK_EQ_U64(r.data_clusters, 4);
    CHECK_EQ_U64(r.leaked_clusters, 0);
    CHECK(!r.dirty);
}

TEST(raw_image_is_checked_by_size_only)
{
    const char *p = scratch_path("raw.img");
    struct cove_error err;
    REQUIRE(disk_create_ex(p, &(struct disk_create_options){.format = DISK_FORMAT_RAW,
                                                             .size = 1 << 20}, &err) == 0);
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.format, COVE_DISK_RAW);
    CHECK_EQ_U64(r.file_size, 1 << 20);
    CHECK_EQ_U64(r.problems, 0);
}

TEST(damaged_header_checksum_is_found)
{
    const char *p = make_image("crc.cdisk", 1);
    write_u64(p, 200, 0x1234); /* reserved bytes, covered by the checksum */
    struct cove_disk_check_report r;
    REQUIRE(check(p, true, &r) == 0);
    CHECK_EQ_U64(r.problems, 1);
    CHECK_EQ_U64(r.repaired, 0);
    CHECK(strstr(last_finding, "checksum") != NULL);
}

TEST(dirty_flag_after_a_crash_is_found_and_cleared)
{
    const char *p = make_image("dirty.cdisk", 1);
    pid_t pid = fork();
    if (pid == 0) { /* a writer that dies without closing */
        struct cove_error err;
        struct disk *d;
        static unsigned char buf[CS];
        if (disk_open(p, false, &d, &err) < 0)
            _exit(1);
        memset(buf, 7, sizeof buf);
        disk_write(d, buf, sizeof buf, 5 * CS);
        disk_flush(d);
        _exit(0);
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK(r.dirty);
    CHECK_EQ_U64(r.problems, 1);
    CHECK(strstr(last_finding, "dirty") != NULL);
    CHECK_EQ_U64(r.data_clusters, 2);
    REQUIRE(check(p, true, &r) == 0);
    CHECK_EQ_U64(r.problems, 0);
    CHECK_EQ_U64(r.repaired, 1);
    REQUIRE(check(p, false, &r) == 0);
    CHECK(!r.dirty);
    CHECK_EQ_U64(r.problems, 0);
}

TEST(entry_past_the_end_is_dropped_by_repair)
{
    const char *p = make_image("eof.cdisk", 3);
    uint64_t size = file_size(p);
    write_u64(p, l2_entry_at(p, 1), (size + 16 * CS) & ~(CS - 1));
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 1);
    CHECK(strstr(last_finding, "past the end") != NULL);
    CHECK(strstr(last_finding, "virtual cluster 1 ") != NULL);
    REQUIRE(check(p, true, &r) == 0);
    CHECK_EQ_U64(r.problems, 0);
    CHECK_EQ_U64(r.repaired, 1);
    CHECK_EQ_U64(read_u64(p, l2_entry_at(p, 1)), 0);
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 0);
    /* It opens again, the cluster reads zeros, its neighbours kept their data. */
    struct cove_error err;
    struct disk *d;
    REQUIRE(disk_open(p, true, &d, &err) == 0);
    static unsigned char got[CS], want[CS];
    CHECK(disk_read(d, got, CS, CS) == 0);
    memset(want, 0, CS);
    CHECK(!memcmp(got, want, CS));
    fill_pattern(want, CS, 2 * CS, 1);
    CHECK(disk_read(d, got, CS, 2 * CS) == 0 && !memcmp(got, want, CS));
    disk_close(d);
}

TEST(l1_entry_past_the_end_is_dropped_by_repair)
{
    const char *p = make_image("l1eof.cdisk", 1);
    write_u64(p, CS, (file_size(p) + 4 * CS) & ~(CS - 1));
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 1);
    CHECK(strstr(last_finding, "L1 entry 0 points past the end") != NULL);
    REQUIRE(check(p, true, &r) == 0);
    CHECK_EQ_U64(r.problems, 0);
    CHECK_EQ_U64(r.repaired, 1);
    CHECK_EQ_U64(r.tables, 0);
}

TEST(two_entries_on_one_cluster_are_found)
{
    const char *p = make_image("dup.cdisk", 2);
    write_u64(p, l2_entry_at(p, 1), read_u64(p, l2_entry_at(p, 0)));
    struct cove_disk_check_report r;
    REQUIRE(check(p, true, &r) == 0);
    CHECK_EQ_U64(r.problems, 1);
    CHECK_EQ_U64(r.repaired, 0);
    CHECK(strstr(last_finding, "another entry") != NULL);
}

TEST(entries_into_the_metadata_are_found)
{
    const char *p = make_image("meta.cdisk", 3);
    write_u64(p, l2_entry_at(p, 0), CS);                   /* the L1 table */
    write_u64(p, l2_entry_at(p, 1), read_u64(p, CS));      /* its own L2 table */
    write_u64(p, l2_entry_at(p, 2), 3 * CS + 512);         /* not aligned */
    struct cove_disk_check_report r;
    REQUIRE(check(p, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 3);
    REQUIRE(check(p, false, &r) == 0);
    CHECK(strstr(last_finding, "not cluster-aligned") != NULL);
    write_u64(p, l2_entry_at(p, 2), 0);
    write_u64(p, l2_entry_at(p, 1), 0);
    REQUIRE(check(p, false, &r) == 0);
    CHECK(strstr(last_finding, "L1 table") != NULL);
    write_u64(p, l2_entry_at(p, 0), 0);
    write_u64(p, l2_entry_at(p, 1), read_u64(p, CS));
    REQUIRE(check(p, false, &r) == 0);
    CHECK(strstr(last_finding, "an L2 table") != NULL);
}

TEST(missing_backing_image_is_found)
{
    const char *base = make_image("base.cdisk", 1);
    const char *top = scratch_path("top.cdisk");
    struct cove_error err;
    REQUIRE(disk_create(top, 0, "base.cdisk", &err) == 0);
    struct cove_disk_check_report r;
    REQUIRE(check(top, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 0);
    unlink(base);
    REQUIRE(check(top, false, &r) == 0);
    CHECK_EQ_U64(r.problems, 1);
    CHECK(strstr(last_finding, "backing image") != NULL);
}

TEST(image_in_use_is_refused)
{
    const char *p = make_image("busy.cdisk", 1);
    struct cove_error err;
    struct disk *d;
    REQUIRE(disk_open(p, false, &d, &err) == 0);
    struct cove_disk_check_report r;
    CHECK(cove_disk_check(p, false, NULL, NULL, &r, &err) == -EBUSY);
    CHECK(strstr(err.message, "in use") != NULL);
    CHECK(cove_disk_check(p, true, NULL, NULL, &r, &err) == -EBUSY);
    disk_close(d);
}

int main(void)
{
    scratch_init();
    RUN(clean_image_has_no_problems);
    RUN(raw_image_is_checked_by_size_only);
    RUN(damaged_header_checksum_is_found);
    RUN(dirty_flag_after_a_crash_is_found_and_cleared);
    RUN(entry_past_the_end_is_dropped_by_repair);
    RUN(l1_entry_past_the_end_is_dropped_by_repair);
    RUN(two_entries_on_one_cluster_are_found);
    RUN(entries_into_the_metadata_are_found);
    RUN(missing_backing_image_is_found);
    RUN(image_in_use_is_refused);
    scratch_cleanup();
    return test_summary();
}
