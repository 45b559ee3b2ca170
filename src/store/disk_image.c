/*
 * The store's view of disk images, through src/disk: sizes, growing, overlays, and the
 * backing chains that decide which bases/ images are still in use.
 */
#include "store/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"

int store_disk_info(const char *path, uint64_t *size, uint64_t *allocated, char *backing,
                    size_t backing_len, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open_ex(path, DISK_FORMAT_AUTO, DISK_OPEN_READ_ONLY | DISK_OPEN_NO_LOCK, &d,
                          err);
    if (rc < 0)
        return rc;
    struct disk_info info;
    rc = disk_info(d, &info);
    disk_close(d);
    if (rc < 0)
        return cove_error_set(err, rc, "%s: %s", path, strerror(-rc));
    if (size)
        *size = info.virtual_size;
    if (allocated)
        *allocated = info.allocated;
    if (backing && backing_len) {
        backing[0] = 0;
        if (info.backing[0] && store_path(backing, backing_len, "%s", info.backing) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "%s: backing path too long", path);
    }
    return 0;
}

int store_disk_grow(const char *path, uint64_t size, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open(path, false, &d, err);
    if (rc < 0)
        return rc;
    rc = disk_resize(d, size, err);
    int crc = disk_close(d);
    if (rc == 0 && crc < 0)
        rc = cove_error_set(err, crc, "%s: %s", path, strerror(-crc));
    return rc;
}

int store_disk_create_raw(const char *path, uint64_t size, struct cove_error *err)
{
    struct disk_create_options o = {.format = DISK_FORMAT_RAW, .size = size};
    return disk_create_ex(path, &o, err);
}

int store_disk_overlay(const char *path, uint64_t size, const char *backing,
                       struct cove_error *err)
{
    return disk_create(path, size, backing, err);
}
