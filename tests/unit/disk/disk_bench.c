/*
 * disk_bench — sequential write then read of a fresh image through the disk API, for
 * bench/disk.sh.
 *   disk_bench PATH raw|cdisk SIZE_MIB [BLOCK_KIB]
 * The write phase ends with disk_flush (durable); before the read phase the file's page
 * cache is dropped (posix_fadvise DONTNEED), so reads come from the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: disk_bench PATH raw|cdisk SIZE_MIB [BLOCK_KIB]\n");
        return 2;
    }
    const char *path = argv[1];
    struct disk_create_options o = {.format = DISK_FORMAT_CDISK};
    if (disk_format_parse(argv[2], &o.format) < 0)
        return 2;
    uint64_t mib = strtoull(argv[3], NULL, 10);
    size_t block = (argc > 4 ? strtoull(argv[4], NULL, 10) : 1024) << 10;
    o.size = mib << 20;
    struct cove_error err;
    unlink(path);
    if (disk_create_ex(path, &o, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    struct disk *d;
    if (disk_open(path, false, &d, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    char *buf = aligned_alloc(4096, block);
    for (size_t i = 0; i < block; i++)
        buf[i] = (char)(i * 131 + 7);
    double t0 = now();
    for (uint64_t off = 0; off < o.size; off += block)
        if (disk_write(d, buf, block, off) < 0)
            return 1;
    if (disk_flush(d) < 0)
        return 1;
    double t1 = now();
    drop_cache(path);
    double t2 = now();
    for (uint64_t off = 0; off < o.size; off += block)
        if (disk_read(d, buf, block, off) < 0)
            return 1;
    double t3 = now();
    for (uint64_t off = 0; off < o.size; off += block)
        if (disk_read(d, buf, block, off) < 0)
            return 1;
    double t4 = now();
    disk_close(d);
    double mb = (double)o.size / 1e6;
    printf("%s %.0f %.0f %.0f\n", argv[2], mb / (t1 - t0), mb / (t3 - t2), mb / (t4 - t3));
    unlink(path);
    free(buf);
    return 0;
}
