/*
 * The store's view of disk images, through src/disk: sizes, growing, overlays, and the
 * backing chains that decide which bases/ images are still in use.
 */
#include "store/bundle.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/disk.h>

#include "disk/disk.h"

/* Overlays name their backing image relative to their own directory (as qcow2 does), so
 * that a COVE_HOME moved or copied elsewhere keeps working. Paths here are lexical: the
 * store builds them all from one root, so "a/vms/x/../../bases/b" is "a/bases/b". */

/* Collapses "." and "dir/.." components and repeated slashes, in place. */
void store_normalize_path(char *path)
{
    bool abs = path[0] == '/';
    char *out = path + abs, *in = path + abs;
    size_t kept = 0; /* components in out that a ".." may remove */
    bool last = !*in;
    while (!last) {
        char *end = strchrnul(in, '/');
        size_t len = (size_t)(end - in);
        /* read before writing: the slash written after the last component may land on
         * the NUL at end */
        last = !*end;
        if (len == 0 || (len == 1 && in[0] == '.')) {
            /* nothing */
        } else if (len == 2 && in[0] == '.' && in[1] == '.' && kept > 0) {
            out--; /* the slash after the last kept component */
            while (out > path + abs && out[-1] != '/')
                out--;
            kept--;
        } else {
            bool dotdot = len == 2 && in[0] == '.' && in[1] == '.';
            memmove(out, in, len);
            out += len;
            *out++ = '/';
            if (!dotdot)
                kept++;
        }
        in = end + 1;
    }
    if (out > path + abs)
        out--; /* the trailing slash */
    *out = 0;
    if (!path[0])
        strcpy(path, abs ? "/" : ".");
}

/* The backing path an overlay at `path` stores for `backing`: relative to path's
 * directory when both lie under a common directory, else backing as it is. */
static int relative_backing(const char *path, const char *backing, char *out, size_t len)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (store_path(a, sizeof a, "%s", path) < 0 || store_path(b, sizeof b, "%s", backing) < 0)
        return -ENAMETOOLONG;
    store_normalize_path(a);
    store_normalize_path(b);
    if ((a[0] == '/') != (b[0] == '/') || strstr(a, "..") || strstr(b, ".."))
        return store_path(out, len, "%s", backing);
    /* the longest common directory prefix */
    size_t common = 0;
    for (size_t i = 0; a[i] && a[i] == b[i]; i++)
        if (a[i] == '/')
            common = i + 1;
    if (common == 0 || (common == 1 && a[0] == '/'))
        return store_path(out, len, "%s", backing);
    size_t o = 0;
    for (const char *p = a + common; (p = strchr(p, '/')); p++) {
        if (o + 3 >= len)
            return -ENAMETOOLONG;
        memcpy(out + o, "../", 3);
        o += 3;
    }
    return store_path(out + o, len - o, "%s", b + common);
}

/* The backing path of the overlay at `path` as the store compares it: relative names
 * resolved against path's directory, then normalized. */
static int resolve_backing(const char *path, const char *name, char *out, size_t len)
{
    int rc;
    if (name[0] == '/') {
        rc = store_path(out, len, "%s", name);
    } else {
        const char *slash = strrchr(path, '/');
        int dir = slash ? (int)(slash - path) : 1;
        rc = store_path(out, len, "%.*s/%s", dir, slash ? path : ".", name);
    }
    if (rc == 0)
        store_normalize_path(out);
    return rc;
}

int store_disk_info(const char *path, uint64_t *size, uint64_t *allocated, char *backing,
                    size_t backing_len, struct cove_error *err)
{
    struct disk *d;
    /* every path here is a bundle's or a base's file: never through a link */
    int rc = disk_open_ex(path, DISK_FORMAT_AUTO,
                          DISK_OPEN_READ_ONLY | DISK_OPEN_NO_LOCK | DISK_OPEN_NO_FOLLOW, &d, err);
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
        if (info.backing[0] && resolve_backing(path, info.backing, backing, backing_len) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "%s: backing path too long", path);
    }
    return 0;
}

int store_disk_grow(const char *path, uint64_t size, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open_ex(path, DISK_FORMAT_AUTO, DISK_OPEN_NO_FOLLOW, &d, err);
    if (rc < 0)
        return rc;
    rc = disk_resize(d, size, err);
    int crc = disk_close(d);
    if (rc == 0 && crc < 0)
        rc = cove_error_set(err, crc, "disk %s: %s", path, strerror(-crc));
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
    char rel[PATH_MAX];
    if (relative_backing(path, backing, rel, sizeof rel) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: backing path too long", path);
    return disk_create(path, size, rel, err);
}
