/*
 * The files of a bundle as cove may use them. Whoever can write vms/NAME/ can edit
 * config.json or replace any file there, so nothing a bundle holds may lead cove to a file
 * outside it: a name in config.json is a plain file name (no '/', not "." or ".."), a
 * bundle file is a regular file and never a symbolic link (it is opened with O_NOFOLLOW),
 * and a disk's backing chain stays in bases/ of the same home. A disk from elsewhere is
 * attached per run, explicitly (`cove run NAME --disk PATH`). docs/BUNDLES.md says what is
 * trusted and what is not.
 *
 * Names are single components, so O_NOFOLLOW on the last one is all openat2's
 * RESOLVE_BENEATH would add (Debian 12's kernel has it, its glibc no wrapper).
 */
#include "store/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINK_REFUSED "is a symbolic link; cove does not follow links in a bundle"

/* The VM's name for messages: the bundle directory's last component. */
static const char *vm_name(const char *bundle)
{
    const char *slash = strrchr(bundle, '/');
    return slash ? slash + 1 : bundle;
}

int store_resolve(const char *bundle, const char *file, char *buf, size_t n,
                  struct cove_error *err)
{
    const char *problem = store_file_name_problem(file);
    if (problem)
        return cove_error_set(err, -EINVAL, "VM '%s': '%s' is not a file name in the bundle "
                              "(%s)", vm_name(bundle), file ? file : "", problem);
    if (store_path(buf, n, "%s/%s", bundle, file) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s/%s: path too long", bundle, file);
    return 0;
}

/* What st says about a bundle file: 0 for a regular file, else the error. */
static int check_kind(const char *bundle, const char *file, const struct stat *st,
                      struct cove_error *err)
{
    if (S_ISLNK(st->st_mode))
        return cove_error_set(err, -ELOOP, "VM '%s': %s " LINK_REFUSED, vm_name(bundle), file);
    if (!S_ISREG(st->st_mode))
        return cove_error_set(err, -EINVAL, "VM '%s': %s is not a regular file",
                              vm_name(bundle), file);
    return 0;
}

int store_bundle_file(const char *bundle, const char *file, char *buf, size_t n,
                      struct cove_error *err)
{
    int rc = store_resolve(bundle, file, buf, n, err);
    if (rc < 0)
        return rc;
    struct stat st;
    if (lstat(buf, &st) < 0)
        return cove_error_set(err, -errno, "VM '%s': %s: %s", vm_name(bundle), file,
                              strerror(errno));
    return check_kind(bundle, file, &st, err);
}

int store_open_bundle_file(const char *bundle, const char *file, int flags,
                           struct cove_error *err)
{
    char path[PATH_MAX];
    int rc = store_resolve(bundle, file, path, sizeof path, err);
    if (rc < 0)
        return rc;
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return cove_error_set(err, -ELOOP, "VM '%s': %s " LINK_REFUSED, vm_name(bundle), file);
    if (fd < 0)
        return cove_error_set(err, -errno, "VM '%s': %s: %s", vm_name(bundle), file,
                              strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        rc = cove_error_set(err, -errno, "VM '%s': %s: %s", vm_name(bundle), file,
                            strerror(errno));
    else
        rc = check_kind(bundle, file, &st, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int store_check_bundle_disk(const char *bundle, const char *file, char *buf, size_t n,
                            struct cove_error *err)
{
    int rc = store_bundle_file(bundle, file, buf, n, err);
    if (rc < 0)
        return rc;
    /* bases/ of this home: bundles are vms/NAME/, two levels below it (store.h) */
    char bases[PATH_MAX], cur[PATH_MAX], next[PATH_MAX];
    if (store_path(bases, sizeof bases, "%s/../../bases", bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", bundle);
    store_normalize_path(bases);
    size_t blen = strlen(bases);
    snprintf(cur, sizeof cur, "%s", buf);
    for (int depth = 0; depth <= 32; depth++) {
        struct cove_error derr;
        if (store_disk_info(cur, NULL, NULL, next, sizeof next, &derr) < 0)
            return cove_error_set(err, derr.code, "VM '%s': %s", vm_name(bundle), derr.message);
        if (!next[0])
            return 0;
        if (strncmp(next, bases, blen) || next[blen] != '/')
            return cove_error_set(err, -EINVAL, "VM '%s': %s reads through %s, outside the "
                                  "store's bases/; cove does not follow a bundle out of the "
                                  "store", vm_name(bundle), file, next);
        memcpy(cur, next, sizeof cur);
    }
    return cove_error_set(err, -ELOOP, "VM '%s': %s: backing chain too deep",
                          vm_name(bundle), file);
}

int store_check_bundle(const char *bundle, const struct cove_config *cfg,
                       struct cove_error *err)
{
    char path[PATH_MAX];
    const char *boot[] = {cfg->kernel, cfg->initrd, cfg->firmware};
    int rc = 0;
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++)
        if (!cove_disk_is_nbd(cfg->disks[i].file)) /* an NBD disk is no file of the bundle */
            rc = store_check_bundle_disk(bundle, cfg->disks[i].file, path, sizeof path, err);
    for (unsigned i = 0; i < 3 && rc == 0; i++)
        if (boot[i])
            rc = store_bundle_file(bundle, boot[i], path, sizeof path, err);
    return rc;
}
