/* Disk modes in src/disk: cache=none (DISK_OPEN_DIRECT: O_DIRECT with aligned bounce
 * buffers for unaligned requests) and disk_flush_full. On ext4/xfs (O_DIRECT works); a
 * file system without O_DIRECT (tmpfs before Linux 6.6) skips. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk_internal.h" /* direct_fd */
#include "../test.h"

#define SIZE (1u << 20)

static char dir[] = "/var/tmp/cove-test-modes-XXXXXX";
static char raw[128], cdisk[128];

static void file_read(const char *path, void *buf, size_t len, off_t off)
{
    int fd = open(path, O_RDONLY);
    if (pread(fd, buf, len, off) != (ssize_t)len)
        memset(buf, 0xee, len);
    close(fd);
}

static bool direct_supported(void)
{
    int fd = open(raw, O_RDONLY | O_DIRECT);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

TEST(direct_unaligned_and_aligned_round_trip)
{
    struct disk *d;
    struct cove_error err = {0};
    REQUIRE(disk_open_ex(raw, DISK_FORMAT_RAW, DISK_OPEN_DIRECT, &d, &err) == 0);
    static uint8_t pat[10000], back[10000], host[10000];
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = (uint8_t)(i * 7 + 1);
    /* unaligned offset, length and buffer: the bounce path, read-modify-write ends */
    CHECK(disk_write(d, pat + 1, 3001, 513) == 0);
    CHECK(disk_read(d, back + 1, 3001, 513) == 0);
    CHECK(!memcmp(back + 1, pat + 1, 3001));
    file_read(raw, host, 3001, 513);
    CHECK(!memcmp(host, pat + 1, 3001));
    file_read(raw, host, 1, 512);
    CHECK_EQ_U64(host[0], 0); /* the byte before stayed */
    /* aligned buffers and offsets: straight through */
    uint8_t *al = aligned_alloc(4096, 8192);
    REQUIRE(al != NULL);
    memset(al, 0x3c, 8192);
    struct iovec v[2] = {{al, 4096}, {al + 4096, 4096}};
    CHECK(disk_writev(d, v, 2, 65536) == 0);
    CHECK(disk_flush_full(d) == 0);
    file_read(raw, host, 8192, 65536);
    CHECK(host[0] == 0x3c && host[8191] == 0x3c);
    memset(al, 0, 8192);
    CHECK(disk_readv(d, v, 2, 65536) == 0);
    CHECK(al[0] == 0x3c && al[8191] == 0x3c);
    free(al);
    disk_close(d);
}

/* A cdisk's data clusters through O_DIRECT, its maps through the page cache: what one
 * wrote, a buffered open reads. */
TEST(direct_cdisk_round_trip)
{
    struct disk *d;
    struct cove_error err = {0};
    REQUIRE(disk_open_ex(cdisk, DISK_FORMAT_AUTO, DISK_OPEN_DIRECT, &d, &err) == 0);
    REQUIRE(d->direct_fd >= 0);
    static uint8_t pat[70000], back[70000];
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = (uint8_t)(i * 13 + 5);
    CHECK(disk_write(d, pat + 3, 5000, 1536) == 0);            /* unaligned, one cluster */
    CHECK(disk_write(d, pat, sizeof pat, 200 * 1024) == 0);    /* across clusters */
    CHECK(disk_read(d, back, 5000, 1536) == 0);
    CHECK(!memcmp(back, pat + 3, 5000));
    CHECK(disk_read(d, back, 512, 0) == 0);
    CHECK_EQ_U64(back[0], 0);
    CHECK(disk_flush_full(d) == 0);
    disk_close(d);
    REQUIRE(disk_open(cdisk, false, &d, &err) == 0);
    CHECK(disk_read(d, back, sizeof pat, 200 * 1024) == 0);
    CHECK(!memcmp(back, pat, sizeof pat));
    CHECK(disk_read(d, back, 5000, 1536) == 0);
    CHECK(!memcmp(back, pat + 3, 5000));
    disk_close(d);
}

TEST(direct_refuses_odd_size)
{
    char odd[160];
    snprintf(odd, sizeof odd, "%s/odd.img", dir);
    int fd = open(odd, O_CREAT | O_RDWR, 0600);
    REQUIRE(fd >= 0 && ftruncate(fd, 4096 * 3 + 512) == 0);
    close(fd);
    struct disk *d;
    struct cove_error err = {0};
    int rc = disk_open_ex(odd, DISK_FORMAT_RAW, DISK_OPEN_DIRECT, &d, &err);
    if (rc == 0) { /* a file system with 512-byte direct I/O: fine too */
        disk_close(d);
    } else {
        CHECK(rc == -EINVAL);
        CHECK(strstr(err.message, "multiple of") != NULL);
    }
    unlink(odd);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(raw, sizeof raw, "%s/raw.img", dir);
    snprintf(cdisk, sizeof cdisk, "%s/c.cdisk", dir);
    int fd = open(raw, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, SIZE) < 0)
        return 1;
    close(fd);
    struct cove_error err = {0};
    if (disk_create(cdisk, SIZE, NULL, &err) < 0) {
        printf("%s\n", err.message);
        return 1;
    }
    if (direct_supported()) {
        RUN(direct_unaligned_and_aligned_round_trip);
        RUN(direct_cdisk_round_trip);
        RUN(direct_refuses_odd_size);
    } else {
        test_skip("the file system of /var/tmp has no O_DIRECT");
    }
    unlink(raw);
    unlink(cdisk);
    rmdir(dir);
    return test_summary();
}
