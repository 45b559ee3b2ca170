/* An image's chain handed over as descriptors (disk_files_open in one process,
 * disk_open_files in another that may open nothing: a confined VMM and its helper,
 * src/vm/state_helper.c): the whole chain, each file with the access it needs, the locks
 * travelling with the descriptors; a missing or read-only descriptor is refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk_internal.h" /* direct_fd */
#include "../test.h"

#define SIZE (1u << 20)

static char dir[] = "/var/tmp/cove-test-files-XXXXXX";
static char base[128], mid[128], top[128];

static int access_mode(int fd)
{
    return fcntl(fd, F_GETFL) & O_ACCMODE;
}

TEST(chain_handed_over)
{
    struct disk_files f;
    struct cove_error err = {0};
    REQUIRE(disk_files_open(top, 0, &f, &err) == 0);
    CHECK_EQ_U64(f.n, 3);
    CHECK(access_mode(f.fd[0]) == O_RDWR);
    CHECK(access_mode(f.fd[1]) == O_RDONLY && access_mode(f.fd[2]) == O_RDONLY);
    CHECK(f.direct_fd == -1);
    /* the lock went with the descriptors: nobody else may write the image meanwhile */
    struct disk *other;
    CHECK(disk_open_ex(top, DISK_FORMAT_AUTO, 0, &other, &err) == -EBUSY);
    struct disk *d;
    REQUIRE(disk_open_files("given", 0, &f, &d, &err) == 0);
    for (unsigned i = 0; i < 3; i++)
        CHECK(f.fd[i] == -1); /* all taken */
    uint8_t buf[512];
    CHECK(disk_read(d, buf, sizeof buf, 4096) == 0);
    CHECK(buf[0] == 0x5a && buf[511] == 0x5a); /* from the base, two levels down */
    memset(buf, 0xa5, sizeof buf);
    CHECK(disk_write(d, buf, sizeof buf, 8192) == 0);
    disk_close(d);
    disk_files_close(&f);
    /* the write went to the top image; the lock is gone with the disk */
    REQUIRE(disk_open_ex(top, DISK_FORMAT_AUTO, DISK_OPEN_READ_ONLY, &d, &err) == 0);
    memset(buf, 0, sizeof buf);
    CHECK(disk_read(d, buf, sizeof buf, 8192) == 0);
    CHECK(buf[0] == 0xa5);
    disk_close(d);
    REQUIRE(disk_open_ex(mid, DISK_FORMAT_AUTO, DISK_OPEN_READ_ONLY, &d, &err) == 0);
    CHECK(disk_read(d, buf, sizeof buf, 8192) == 0);
    CHECK(buf[0] == 0); /* not in the layer below */
    disk_close(d);
}

TEST(missing_or_read_only_descriptor_refused)
{
    struct disk_files f;
    struct cove_error err = {0};
    struct disk *d;
    REQUIRE(disk_files_open(top, 0, &f, &err) == 0);
    close(f.fd[2]);
    f.fd[2] = -1; /* the base is missing */
    CHECK(disk_open_files("given", 0, &f, &d, &err) == -EBADF);
    CHECK(strstr(err.message, "base.img") != NULL || strstr(err.message, "no readable") != NULL);
    disk_files_close(&f);

    REQUIRE(disk_files_open(top, DISK_OPEN_READ_ONLY, &f, &err) == 0);
    CHECK(access_mode(f.fd[0]) == O_RDONLY);
    CHECK(disk_open_files("given", 0, &f, &d, &err) == -EBADF); /* read-write asked */
    CHECK(strstr(err.message, "no writable descriptor") != NULL);
    disk_files_close(&f);

    struct disk_files none = {.n = 0, .direct_fd = -1};
    CHECK(disk_open_files("given", DISK_OPEN_READ_ONLY, &none, &d, &err) == -EBADF);
}

TEST(direct_descriptor)
{
    struct disk_files f;
    struct cove_error err = {0};
    struct disk *d;
    int probe = open(top, O_RDONLY | O_DIRECT);
    if (probe < 0) {
        test_skip("the file system of /var/tmp has no O_DIRECT");
        return;
    }
    close(probe);
    REQUIRE(disk_files_open(top, DISK_OPEN_DIRECT, &f, &err) == 0);
    REQUIRE(f.direct_fd >= 0);
    CHECK(fcntl(f.direct_fd, F_GETFL) & O_DIRECT);
    REQUIRE(disk_open_files("given", DISK_OPEN_DIRECT, &f, &d, &err) == 0);
    CHECK(d->direct_fd >= 0 && f.direct_fd == -1);
    disk_close(d);
    disk_files_close(&f);
    REQUIRE(disk_files_open(top, 0, &f, &err) == 0); /* no O_DIRECT one */
    CHECK(disk_open_files("given", DISK_OPEN_DIRECT, &f, &d, &err) == -EBADF);
    CHECK(strstr(err.message, "O_DIRECT") != NULL);
    disk_files_close(&f);
}

/* The fill hook (disk_set_fill, a lazy clone's image): set on the bottom of the chain, it
 * sees every read that reaches the base, before the base's bytes are read; its error is
 * the read's, and the bytes are not read then. Reads the top holds never reach it. */
struct fill_log {
    unsigned calls;
    uint64_t off, len;
    int fail;
};

static int fill_hook(void *opaque, uint64_t off, uint64_t len)
{
    struct fill_log *l = opaque;
    l->calls++;
    l->off = off;
    l->len = len;
    return l->fail;
}

TEST(fill_hook_on_the_chain_bottom)
{
    struct disk *d;
    struct cove_error err = {0};
    REQUIRE(disk_open(top, false, &d, &err) == 0);
    struct disk *bottom = disk_chain_bottom(d);
    CHECK(bottom != d && disk_get_format(bottom) == DISK_FORMAT_RAW);
    CHECK(strstr(disk_path(bottom), "base.img") != NULL);
    uint64_t dev, ino;
    struct stat st;
    CHECK(disk_file_id(bottom, &dev, &ino) == 0 && stat(base, &st) == 0 &&
          ino == (uint64_t)st.st_ino && dev == (uint64_t)st.st_dev);
    struct fill_log log = {0};
    disk_set_fill(bottom, fill_hook, &log);
    /* (chain_handed_over wrote the top's first cluster: 128 KiB is in none but the base) */
    uint8_t buf[512];
    CHECK(disk_read(d, buf, sizeof buf, 131072) == 0);
    CHECK(log.calls >= 1 && log.off <= 131072 && log.off + log.len >= 131072 + sizeof buf);
    log.fail = -EIO;
    CHECK(disk_read(d, buf, sizeof buf, 131072) == -EIO);
    struct iovec v = {buf, sizeof buf};
    CHECK(disk_readv(d, &v, 1, 131072) == -EIO);
    /* what the top image holds itself does not reach the base */
    log.fail = 0;
    memset(buf, 0x77, sizeof buf);
    REQUIRE(disk_write(d, buf, sizeof buf, 65536 * 4) == 0);
    log.calls = 0;
    CHECK(disk_read(d, buf, sizeof buf, 65536 * 4) == 0 && buf[0] == 0x77);
    CHECK(log.calls == 0);
    disk_close(d);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(base, sizeof base, "%s/base.img", dir);
    snprintf(mid, sizeof mid, "%s/mid.cdisk", dir);
    snprintf(top, sizeof top, "%s/top.cdisk", dir);
    int fd = open(base, O_CREAT | O_RDWR, 0600);
    uint8_t pat[512];
    memset(pat, 0x5a, sizeof pat);
    if (fd < 0 || ftruncate(fd, SIZE) < 0 || pwrite(fd, pat, sizeof pat, 4096) != sizeof pat)
        return 1;
    close(fd);
    struct cove_error err = {0};
    if (disk_create(mid, 0, "base.img", &err) < 0 || disk_create(top, 0, "mid.cdisk", &err) < 0) {
        printf("%s\n", err.message);
        return 1;
    }
    RUN(chain_handed_over);
    RUN(missing_or_read_only_descriptor_refused);
    RUN(direct_descriptor);
    RUN(fill_hook_on_the_chain_bottom);
    unlink(top);
    unlink(mid);
    unlink(base);
    rmdir(dir);
    return test_summary();
}
