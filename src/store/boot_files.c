/*
 * The boot files a create copies into a bundle: a kernel and initrd for direct boot, or
 * the firmware pair that boots a disk "as hardware boots" (OpenSBI's fw_dynamic in M-mode,
 * then U-Boot in S-mode, whose distro boot finds the disk's extlinux.conf or EFI loader).
 * Each is a copy, read-only, so that clones hard-link it and a host package upgrade never
 * changes how an existing VM boots.
 */
#include "store/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Debian's files (packages opensbi and u-boot-qemu); the environment may name others. */
#define DEBIAN_OPENSBI "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
#define DEBIAN_UBOOT "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"

int store_add_boot_file(const char *src, const char *dir, const char *as, char **field,
                        struct cove_error *err)
{
    char dst[PATH_MAX];
    if (store_path(dst, sizeof dst, "%s/%s", dir, as) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    int rc = store_copy_file(src, dst, 0400, err);
    if (rc < 0)
        return rc;
    char *name = strdup(as);
    if (!name)
        return cove_error_set(err, -ENOMEM, "out of memory");
    free(*field);
    *field = name;
    return 0;
}

/* The path of one firmware file, and that it is a readable regular file; otherwise one
 * line saying which package provides it. */
static int firmware_file(const char *what, const char *env, const char *debian,
                         const char *package, const char **path, struct cove_error *err)
{
    const char *p = getenv(env);
    *path = p && *p ? p : debian;
    int fd = open(*path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int e = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (fd >= 0)
        close(fd);
    if (e)
        return cove_error_set(err, -e, "%s %s: %s; install Debian's %s package (or name "
                              "another file in %s)", what, *path,
                              e == EINVAL ? "not a regular file" : strerror(e), package, env);
    return 0;
}

int store_add_firmware_boot(const char *dir, struct cove_config *cfg, struct cove_error *err)
{
    const char *fw, *uboot;
    int rc = firmware_file("OpenSBI firmware", "COVE_OPENSBI", DEBIAN_OPENSBI, "opensbi", &fw,
                           err);
    if (rc == 0)
        rc = firmware_file("U-Boot", "COVE_UBOOT", DEBIAN_UBOOT, "u-boot-qemu", &uboot, err);
    if (rc == 0)
        rc = store_add_boot_file(fw, dir, BUNDLE_FIRMWARE, &cfg->firmware, err);
    if (rc == 0)
        rc = store_add_boot_file(uboot, dir, BUNDLE_UBOOT, &cfg->kernel, err);
    if (rc < 0)
        return rc;
    /* U-Boot's boot configuration on the disk sets the kernel's; an initrd or command line
     * of cove's would only confuse whoever reads config.json. */
    free(cfg->initrd);
    free(cfg->cmdline);
    cfg->initrd = cfg->cmdline = NULL;
    return 0;
}
