/*
 * The default guest's root file system on a bundle's disk: the initrd's files, unpacked
 * with cpio and written into a new ext4 image by mke2fs -d (e2fsprogs), so nothing needs
 * root's mount(2). The inode tables and journal are left lazy: the image is a sparse file
 * whose holes already read as zeros, and the guest mounts it with noinit_itable.
 */
#include "store/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_make_rootfs(const char *initrd, const char *disk_path, uint64_t size,
                      const char *work_dir, struct cove_error *err)
{
    char root[PATH_MAX], init[PATH_MAX];
    if (store_path(root, sizeof root, "%s/root", work_dir) < 0 ||
        store_path(init, sizeof init, "%s/init", root) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", work_dir);
    if (mkdir(root, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", root, strerror(errno));
    if (access(initrd, R_OK) < 0)
        return cove_error_set(err, -errno, "initrd %s: %s", initrd, strerror(errno));
    char *cpio[] = {"cpio", "-idm", "--quiet", "--no-absolute-filenames", NULL};
    struct cove_error cerr = {0};
    int rc = store_spawn(cpio, initrd, root, &cerr);
    /* Without root, cpio cannot make /dev/console and fails; the kernel's devtmpfs
     * provides it in the guest, so only a missing /init is fatal. */
    if (access(init, X_OK) < 0)
        return cove_error_set(err, rc < 0 ? rc : -EINVAL, "%s: not the default guest's "
                              "initrd (no /init)%s%s", initrd, rc < 0 ? ": " : "",
                              rc < 0 ? cerr.message : "");
    int fd = open(disk_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", disk_path, strerror(errno));
    rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0)
        return cove_error_set(err, rc, "%s: %s", disk_path, strerror(-rc));
    char *mke2fs[] = {"mke2fs", "-q", "-F", "-t", "ext4", "-L", "cove-root",
                      "-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", root,
                      (char *)disk_path, NULL};
    rc = store_spawn(mke2fs, NULL, NULL, err);
    if (rc < 0)
        return rc;
    fd = open(disk_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) < 0)
            rc = cove_error_set(err, -errno, "%s: fsync: %s", disk_path, strerror(errno));
        close(fd);
    }
    return rc;
}
