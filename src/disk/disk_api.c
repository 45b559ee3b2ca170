/* The public disk API (<cove/disk.h>): the library's disk layer (disk.h) for tools. */
#include <cove/disk.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "disk/disk.h"

_Static_assert((int)COVE_DISK_AUTO == (int)DISK_FORMAT_AUTO &&
                   (int)COVE_DISK_RAW == (int)DISK_FORMAT_RAW &&
                   (int)COVE_DISK_CDISK == (int)DISK_FORMAT_CDISK,
               "public and internal disk formats are one enumeration");
_Static_assert(COVE_DISK_PATH_MAX == DISK_PATH_MAX, "backing path room");

const char *cove_disk_format_name(enum cove_disk_format format)
{
    return disk_format_name((enum disk_format)format);
}

int cove_disk_format_parse(const char *name, enum cove_disk_format *out)
{
    enum disk_format f;
    int rc = disk_format_parse(name, &f);
    if (rc == 0)
        *out = (enum cove_disk_format)f;
    return rc;
}

int cove_disk_create(const char *path, const struct cove_disk_create_options *opts,
                     struct cove_error *err)
{
    struct disk_create_options o = {
        .format = (enum disk_format)opts->format,
        .size = opts->size,
        .backing = opts->backing,
    };
    return disk_create_ex(path, &o, err);
}

int cove_disk_info(const char *path, struct cove_disk_info *out, struct cove_error *err)
{
    struct disk *d;
    /* No lock: inspecting the disk of a running VM is fine. */
    int rc = disk_open_ex(path, DISK_FORMAT_AUTO, DISK_OPEN_READ_ONLY | DISK_OPEN_NO_LOCK, &d,
                          err);
    if (rc < 0)
        return rc;
    struct disk_info info;
    rc = disk_info(d, &info);
    disk_close(d);
    if (rc < 0)
        return cove_error_set(err, rc, "disk %s: %s", path, strerror(-rc));
    *out = (struct cove_disk_info){
        .format = (enum cove_disk_format)info.format,
        .virtual_size = info.virtual_size,
        .allocated = info.allocated,
        .file_size = info.file_size,
        .cluster_size = info.cluster_size,
        .dirty = info.dirty,
        .backing_format = (enum cove_disk_format)info.backing_format,
    };
    memcpy(out->backing, info.backing, sizeof out->backing);
    return 0;
}

int cove_disk_resize(const char *path, uint64_t size, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open(path, false, &d, err);
    if (rc < 0)
        return rc;
    rc = disk_resize(d, size, err);
    int crc = disk_close(d);
    if (rc == 0 && crc < 0)
        rc = cove_error_set(err, crc, "disk %s: %s", path, strerror(-crc));
    return rc;
}

int cove_disk_convert(const char *src, const char *dst, enum cove_disk_format to,
                      cove_disk_progress_fn progress, void *opaque, struct cove_error *err)
{
    return disk_convert(src, dst, (enum disk_format)to, progress, opaque, err);
}
