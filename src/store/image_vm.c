/*
 * A VM's disk made from a distribution image (cove create --from NAME) or a pulled OCI
 * image (cove clone REF NAME): a copy-on-write overlay over the image's disk, in constant
 * time.
 *
 * The image's disk.img (read-only, never rewritten: an update renames a new image into
 * place) is hard-linked into the VM store as bases/image-KEY-INO/base.img, so that the rule of
 * docs/BUNDLES.md holds (every disk in a chain lies in bases/) and a VM outlives `cove image
 * rm`. Every VM made from the same image file shares that one base. Where the image store
 * lies on another file system the base is a (reflinked or sparse) copy, made once.
 */
#include "store/bundle.h"

#include <cove/image.h>
#include <cove/size.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* bases/LABEL-INO holding base.img for the image file open as fd: found, or made. */
static int image_base(const struct store *s, const char *label, int fd, const char *image_disk,
                      char *base, size_t n, struct cove_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cove_error_set(err, -errno, "%s: %s", image_disk, strerror(errno));
    char dir[PATH_MAX];
    if (store_path(dir, sizeof dir, "%s/%s-%" PRIx64, s->bases, label, (uint64_t)st.st_ino) < 0 ||
        store_path(base, n, "%s/" BASE_IMAGE, dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    struct stat b;
    if (lstat(base, &b) == 0 && S_ISREG(b.st_mode) && b.st_size == st.st_size)
        return 0; /* made by an earlier create */
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
    unlink(base); /* a partial copy of a killed create */
    char tmp[PATH_MAX];
    if (store_temp_path(dir, "base", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int rc = 0;
    if (linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) < 0 &&
        linkat(AT_FDCWD, image_disk, AT_FDCWD, tmp, 0) < 0) {
        if (errno != EXDEV && errno != EPERM && errno != ENOENT)
            return cove_error_set(err, -errno, "cannot link %s into %s: %s", image_disk, dir,
                                  strerror(errno));
        rc = store_copy_fd(fd, image_disk, tmp, 0400, err);
    }
    if (rc == 0 && rename(tmp, base) < 0)
        rc = cove_error_set(err, -errno, "cannot create %s: %s", base, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    store_sync_dir(dir);
    store_sync_dir(s->bases);
    return 0;
}

int store_disk_over_file(const struct store *s, const char *label, const char *image_disk,
                         const char *disk, uint64_t size, struct cove_error *err)
{
    char base[PATH_MAX];
    int fd = open(image_disk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cove_error_set(err, -errno, "%s: %s", image_disk, strerror(errno));
    /* The global lock keeps a collection of unused bases from taking this one before the
     * overlay names it. */
    int lock;
    int rc = store_lock_global(s, &lock, err);
    if (rc == 0) {
        rc = image_base(s, label, fd, image_disk, base, sizeof base, err);
        if (rc == 0)
            rc = store_disk_overlay(disk, size, base, err);
        close(lock);
    }
    close(fd);
    return rc;
}

int store_disk_from_image(const struct store *s, const struct cove_image_info *img,
                          const char *disk, uint64_t size, struct cove_error *err)
{
    char image_disk[PATH_MAX], label[64];
    if (store_path(image_disk, sizeof image_disk, "%s/disk.img", img->dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", img->dir);
    if (size && size < img->disk_size) {
        char want[32], have[32];
        cove_size_format_short(size, want, sizeof want);
        cove_size_format_short(img->disk_size, have, sizeof have);
        return cove_error_set(err, -EINVAL, "--disk-size %s is smaller than the image's disk "
                              "(%s); give at least %s", want, have, have);
    }
    if (access(image_disk, F_OK) < 0)
        return cove_error_set(err, -errno, "image %s-%s: %s: %s", img->name, img->suite,
                              image_disk, strerror(errno));
    snprintf(label, sizeof label, "image-%s", img->key);
    return store_disk_over_file(s, label, image_disk, disk, size > img->disk_size ? size : 0,
                                err);
}
