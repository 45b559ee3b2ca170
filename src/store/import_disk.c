/*
 * An existing disk image becomes a bundle's disk (cove create --from-disk). Raw images are
 * copied (a reflink where the file system has it, else sparse), cdisk images converted
 * into a new cdisk that flattens any backing chain (a bundle's disk may only back onto
 * bases/), qcow2 images converted to raw by qemu-img (Debian's qemu-utils). The copy is
 * the caller's to place: it is written into the temporary bundle, so a killed import
 * leaves nothing behind.
 */
#include "store/bundle.h"

#include <cove/disk.h>
#include <cove/size.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"

enum import_format { IMPORT_AUTO, IMPORT_RAW, IMPORT_QCOW2, IMPORT_CDISK };

#define QCOW2_MAGIC "QFI\xfb"
#define QCOW2_SIZE_OFFSET 24 /* big-endian u64, the virtual size */
#define CDISK_MAGIC "CoveDisk"

static int parse_format(const char *name, enum import_format *out, struct cove_error *err)
{
    static const char *const names[] = {"raw", "qcow2", "cdisk"};
    if (!name) {
        *out = IMPORT_AUTO;
        return 0;
    }
    for (unsigned i = 0; i < 3; i++) {
        if (!strcmp(name, names[i])) {
            *out = (enum import_format)(IMPORT_RAW + i);
            return 0;
        }
    }
    return cove_error_set(err, -EINVAL, "disk format '%s' is not known; use raw, qcow2 or cdisk",
                          name);
}

/* The format from the first bytes (qcow2 and cdisk say so; anything else is raw) and the
 * virtual size as far as the header tells it (qcow2 and raw; 0 when unknown). */
static int probe(int fd, const char *src, enum import_format *format, uint64_t *vsize,
                 struct cove_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cove_error_set(err, -errno, "disk image %s: %s", src, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cove_error_set(err, -EINVAL, "disk image %s: not a regular file", src);
    if (st.st_size == 0)
        return cove_error_set(err, -EINVAL, "disk image %s is empty", src);
    uint8_t head[32] = {0};
    ssize_t n = pread(fd, head, sizeof head, 0);
    if (n < 0)
        return cove_error_set(err, -errno, "disk image %s: %s", src, strerror(errno));
    bool qcow2 = n >= (ssize_t)sizeof head && !memcmp(head, QCOW2_MAGIC, 4);
    if (*format == IMPORT_AUTO)
        *format = qcow2 ? IMPORT_QCOW2 : n >= 8 && !memcmp(head, CDISK_MAGIC, 8) ? IMPORT_CDISK
                                                                                : IMPORT_RAW;
    *vsize = 0;
    if (*format == IMPORT_RAW) {
        *vsize = (uint64_t)st.st_size;
        if (*vsize % 512)
            return cove_error_set(err, -EINVAL, "disk image %s: size %" PRIu64 " is not a "
                                  "multiple of 512 bytes; is it a disk image?", src, *vsize);
    } else if (*format == IMPORT_QCOW2 && qcow2) {
        uint64_t be;
        memcpy(&be, head + QCOW2_SIZE_OFFSET, sizeof be);
        *vsize = be64toh(be);
    }
    return 0;
}

static int check_size(const char *src, uint64_t vsize, uint64_t size, struct cove_error *err)
{
    if (!size || !vsize || size >= vsize)
        return 0;
    char want[32], have[32];
    cove_size_format(size, want, sizeof want);
    cove_size_format(vsize, have, sizeof have);
    return cove_error_set(err, -EINVAL, "disk size %s is smaller than the image %s (%s); "
                          "pass at least %s or leave --disk-size out", want, src, have, have);
}

static int convert_qcow2(const char *src, const char *dst, struct cove_error *err)
{
    char *argv[] = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw",
                    (char *)src, (char *)dst, NULL};
    struct cove_error qerr = {0};
    int rc = store_spawn(argv, NULL, NULL, &qerr);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot import %s: %s%s", src, qerr.message,
                              strstr(qerr.message, "not found") ? "; install Debian's "
                              "qemu-utils package" : "");
    return 0;
}

/* Private as every bundle file (qemu-img made it after the umask), and on disk. */
static int finish_file(const char *path, struct cove_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cove_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

int store_import_disk(const char *src, const char *format, uint64_t size, const char *dst,
                      struct cove_error *err)
{
    enum import_format f = IMPORT_AUTO;
    uint64_t vsize = 0;
    int rc = parse_format(format, &f, err);
    if (rc < 0)
        return rc;
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cove_error_set(err, -errno, "disk image %s: %s", src, strerror(errno));
    rc = probe(fd, src, &f, &vsize, err);
    if (rc == 0 && f == IMPORT_CDISK) {
        /* the user's file: a link to it is fine (store_disk_info would refuse one) */
        struct cove_disk_info info;
        rc = cove_disk_info(src, &info, err);
        if (rc == 0 && info.format != COVE_DISK_CDISK)
            rc = cove_error_set(err, -EINVAL, "disk image %s is not a cdisk image (no cdisk "
                                "header); pass the right --format or leave it out", src);
        if (rc == 0)
            vsize = info.virtual_size;
    }
    if (rc == 0)
        rc = check_size(src, vsize, size, err);
    if (rc == 0) {
        switch (f) {
        case IMPORT_RAW: rc = store_copy_fd(fd, src, dst, 0600, err); break;
        case IMPORT_CDISK:
            rc = disk_convert(src, dst, DISK_FORMAT_CDISK, NULL, NULL, err);
            break;
        default: rc = convert_qcow2(src, dst, err); break;
        }
    }
    close(fd);
    if (rc < 0)
        return rc;
    if ((rc = store_disk_info(dst, &vsize, NULL, NULL, 0, err)) < 0 ||
        (rc = check_size(src, vsize, size, err)) < 0)
        return rc;
    if (size > vsize && (rc = store_disk_grow(dst, size, err)) < 0)
        return rc;
    return finish_file(dst, err);
}
