/*
 * cove clone: copy-on-write copies of a bundle, in constant time.
 *
 * Per disk inside the bundle, FICLONE (a reflink) where the file system has it (btrfs,
 * XFS). Elsewhere the source's disk becomes a read-only base, shared through cdisk
 * overlays:
 *   1. link(SRC/disk.img, bases/ID/base.img)     the base is the very same inode
 *   2. overlay over the base -> SRC/.tmp-...; rename over SRC/disk.img
 *   3. overlay over the base in the new bundle (a temporary directory, renamed at the end)
 * At every instant SRC/disk.img is either the old file or an overlay over an identical
 * base; a base left unreferenced by a killed clone is removed by the next collection.
 * Overlays name their base relative to their own directory (disk_image.c), and the one
 * inode of step 1 is reached from two directories, SRC and bases/ID: both lie two levels
 * below COVE_HOME, so a name it holds ("../../bases/OTHER/base.img" when SRC was itself an
 * overlay) means the same file from either. That is why each base has a directory of its
 * own rather than sitting in bases/ itself. (COVE_HOMEs made before kept bases/ID.img:
 * still read, still collected.)
 * The global lock keeps collections out while a clone has references in flight.
 */
#include "store/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BASES 4096

static int reflink(int in, const char *dst)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return -errno;
    int rc = ioctl(out, FICLONE, in) < 0 ? -errno : 0;
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    close(out);
    if (rc < 0)
        unlink(dst);
    return rc;
}

/* Hard-links src, which must still be the file open as fd, to dst. link(2) never follows
 * a symbolic link at src; the comparison catches a file swapped since it was opened. */
static int link_same(int fd, const char *src, const char *dst)
{
    if (linkat(AT_FDCWD, src, AT_FDCWD, dst, 0) < 0)
        return -errno;
    struct stat a, b;
    if (fstat(fd, &a) == 0 && lstat(dst, &b) == 0 && S_ISREG(b.st_mode) &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return 0;
    unlink(dst);
    return -ESTALE;
}

/* bases/ID/base.img: the directory in dir, the image in base. */
static int new_base_path(const struct store *s, char *dir, char *base, size_t n)
{
    uint8_t id[8];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id)
        return -EIO;
    if (store_path(dir, n, "%s/%02x%02x%02x%02x%02x%02x%02x%02x", s->bases, id[0], id[1], id[2],
                   id[3], id[4], id[5], id[6], id[7]) < 0)
        return -ENAMETOOLONG;
    return store_path(base, n, "%s/" BASE_IMAGE, dir);
}

/* Steps 1 and 2: SRC's disk becomes an overlay over a new base, whose path is returned. */
static int make_base(const struct store *s, int src_fd, const char *src_disk,
                     const char *src_bundle, char *base, size_t n, struct cove_error *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (new_base_path(s, dir, base, n) < 0 ||
        store_temp_path(src_bundle, "overlay", tmp, sizeof tmp))
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (mkdir(dir, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
    int rc = link_same(src_fd, src_disk, base);
    if (rc < 0) {
        rmdir(dir);
        return cove_error_set(err, rc, "cannot link %s to %s: %s", src_disk, base,
                              rc == -ESTALE ? "replaced meanwhile" : strerror(-rc));
    }
    store_sync_dir(dir);
    store_sync_dir(s->bases);
    rc = store_disk_overlay(tmp, 0, base, err);
    if (rc == 0 && rename(tmp, src_disk) < 0)
        rc = cove_error_set(err, -errno, "cannot replace %s: %s", src_disk, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        unlink(base);
        rmdir(dir);
        return rc;
    }
    store_sync_dir(src_bundle);
    /* Only now: before the rename the base was also SRC's live disk. The file opened,
     * never a name that may have become a link since. */
    fchmod(src_fd, 0400);
    return 0;
}

/* When SRC is an overlay over a base and has not been written since (no cluster of its
 * own: its file is as long as a fresh overlay's), DST can share that base directly, which
 * keeps backing chains short when one VM is cloned many times. 1 if done, 0 if not. */
static int share_base(const struct store *s, const char *src, const char *dst, uint64_t size,
                      const char *backing, struct cove_error *err)
{
    size_t n = strlen(s->bases);
    if (strncmp(backing, s->bases, n) || backing[n] != '/')
        return 0;
    int rc = store_disk_overlay(dst, size, backing, err);
    if (rc < 0)
        return rc;
    struct stat a, b;
    if (lstat(src, &a) == 0 && lstat(dst, &b) == 0 && a.st_size == b.st_size)
        return 1;
    unlink(dst);
    return 0;
}

/* The disk src (open as fd) of bundle is frozen: from now on it reads through a base that
 * holds what it holds now, and dst becomes a new overlay over that base. A src with
 * nothing written since its base was made shares that base (share_base); else steps 1
 * and 2. Clone's DST disk and a snapshot's record of a disk (snapshot.c) are made so. */
static int freeze_fd(const struct store *s, int fd, const char *src, const char *bundle,
                     const char *dst, struct cove_error *err)
{
    /* Validate the source image before touching it: a damaged header stops here. */
    char backing[PATH_MAX], base[PATH_MAX];
    uint64_t size;
    int rc;
    if ((rc = store_disk_info(src, &size, NULL, backing, sizeof backing, err)) == 0 &&
        (rc = share_base(s, src, dst, size, backing, err)) == 0 &&
        (rc = make_base(s, fd, src, bundle, base, sizeof base, err)) == 0)
        rc = store_disk_overlay(dst, 0, base, err);
    return rc < 0 ? rc : 0;
}

int store_freeze_disk(const struct store *s, const char *bundle, const char *file,
                      const char *dst, struct cove_error *err)
{
    char src[PATH_MAX];
    int rc = store_resolve(bundle, file, src, sizeof src, err);
    if (rc < 0)
        return rc;
    int fd = store_open_bundle_file(bundle, file, O_RDONLY, err);
    if (fd < 0)
        return fd;
    rc = freeze_fd(s, fd, src, bundle, dst, err);
    close(fd);
    return rc;
}

/* Every name and file was checked by store_check_bundle; each file is opened again here
 * without following links, so that one replaced meanwhile is refused too. */
static int clone_disk(const struct store *s, const char *src_bundle, const char *tmp_bundle,
                      const struct cove_disk_config *d, struct cove_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (cove_disk_is_nbd(d->file))
        return 0; /* the clone names the same export (docs/BUNDLES.md) */
    int rc = store_resolve(src_bundle, d->file, src, sizeof src, err);
    if (rc < 0 || (rc = store_resolve(tmp_bundle, d->file, dst, sizeof dst, err)) < 0)
        return rc;
    int fd = store_open_bundle_file(src_bundle, d->file, O_RDONLY, err);
    if (fd < 0)
        return fd;
    rc = reflink(fd, dst);
    if (rc == 0) {
        close(fd);
        return 0;
    }
    if (rc != -EOPNOTSUPP && rc != -EXDEV && rc != -EINVAL && rc != -ENOTTY && rc != -ENOSYS) {
        close(fd);
        return cove_error_set(err, rc, "cannot clone %s: %s", src, strerror(-rc));
    }
    rc = freeze_fd(s, fd, src, src_bundle, dst, err);
    close(fd);
    return rc;
}

/* Boot files are read-only: a hard link shares them; a copy where links cannot go. */
static int clone_boot_file(const char *src_bundle, const char *tmp_bundle, const char *file,
                           struct cove_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (!file)
        return 0;
    int rc = store_resolve(src_bundle, file, src, sizeof src, err);
    if (rc < 0 || (rc = store_resolve(tmp_bundle, file, dst, sizeof dst, err)) < 0)
        return rc;
    int fd = store_open_bundle_file(src_bundle, file, O_RDONLY, err);
    if (fd < 0)
        return fd;
    rc = link_same(fd, src, dst);
    if (rc < 0)
        rc = store_copy_fd(fd, src, dst, 0400, err);
    close(fd);
    return rc;
}

/* A suspended VM's clone is suspended too, in the same place: a fork. The machine file
 * (kilobytes) is copied; the memory file is shared, never copied: a hard link (a reflink
 * where links cannot go), which the file's mode keeps read-only and which nothing writes
 * (a restore maps it MAP_PRIVATE, a suspend writes a new file), so the forks' page caches
 * are one and deleting or resuming any of them leaves the others' link in place.
 * state/fork, naming the source, tells the clone's first resume to give the guest its
 * own identity (hostname, MAC, docs/STATE-FORMAT.md). */
static int clone_state(const char *src_bundle, const char *tmp_bundle, const char *src_name,
                       struct cove_error *err)
{
    if (!store_bundle_suspended(src_bundle))
        return 0;
    char dir[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
    if (store_path(dir, sizeof dir, "%s/" BUNDLE_STATE_DIR, tmp_bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (mkdir(dir, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
    if (store_path(src, sizeof src, "%s/" BUNDLE_STATE_FILE, src_bundle) < 0 ||
        store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_FILE, tmp_bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int rc = store_copy_file(src, dst, 0600, err);
    if (rc < 0)
        return rc;
    if (store_path(src, sizeof src, "%s/" BUNDLE_STATE_MEMORY, src_bundle) < 0 ||
        store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_MEMORY, tmp_bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", src, strerror(errno));
    rc = link_same(fd, src, dst);
    if (rc < 0 && rc != -ESTALE)
        rc = reflink(fd, dst);
    close(fd);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot share the saved memory %s with the clone (no "
                              "hard link, no reflink: %s); resume '%s' and clone it stopped",
                              src, strerror(-rc), src_name);
    if (store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_FORK, tmp_bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    char line[COVE_NAME_MAX + 2];
    int len = snprintf(line, sizeof line, "%s\n", src_name);
    if ((rc = store_write_atomic(dst, line, (size_t)len, 0600, err)) < 0)
        return rc;
    store_sync_dir(dir);
    return 0;
}

/* A lazy clone's note naming its image (src/oci/lazy.h): the copy's disks end in the same
 * image file, filled by the same kind of fetcher. */
static int clone_lazy(const char *src_bundle, const char *tmp, struct cove_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (store_path(src, sizeof src, "%s/" BUNDLE_LAZY, src_bundle) < 0 ||
        store_path(dst, sizeof dst, "%s/" BUNDLE_LAZY, tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return access(src, F_OK) == 0 ? store_copy_file(src, dst, 0600, err) : 0;
}

static int clone_into(const struct store *s, const char *src_bundle, const char *tmp,
                      const char *src_name, struct cove_error *err)
{
    char path[PATH_MAX];
    struct cove_config cfg;
    struct cove_error cerr;
    if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, src_bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int rc = cove_config_load(path, &cfg, &cerr);
    if (rc < 0)
        return cove_error_set(err, rc, "VM '%s': %s", src_name, cerr.message);
    /* all refusals before the first change to SRC (make_base turns its disk into an
     * overlay) */
    rc = store_check_bundle(src_bundle, &cfg, err);
    for (unsigned i = 0; i < cfg.ndisks && rc == 0; i++)
        rc = clone_disk(s, src_bundle, tmp, &cfg.disks[i], err);
    if (rc == 0)
        rc = clone_boot_file(src_bundle, tmp, cfg.kernel, err);
    if (rc == 0)
        rc = clone_boot_file(src_bundle, tmp, cfg.initrd, err);
    if (rc == 0)
        rc = clone_boot_file(src_bundle, tmp, cfg.firmware, err);
    if (rc == 0)
        rc = clone_state(src_bundle, tmp, src_name, err);
    if (rc == 0)
        rc = clone_lazy(src_bundle, tmp, err);
    if (rc == 0) {
        if (cfg.has_network)
            cove_config_random_mac(cfg.mac); /* two VMs on one network need two addresses */
        char *json = cove_config_to_json(&cfg);
        if (!json)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
        else if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, tmp) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        else
            rc = store_write_atomic(path, json, strlen(json), 0600, err);
        free(json);
    }
    cove_config_free(&cfg);
    return rc;
}

int cove_vm_clone(const char *src_name, const char *dst_name, struct cove_error *err)
{
    struct store s;
    char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX];
    int rc = store_check_name(src_name, err);
    if (rc < 0 || (rc = store_check_name(dst_name, err)) < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, src_name, src, sizeof src, err)) < 0)
        return rc;
    if (store_bundle_path(&s, dst_name, dst, sizeof dst) < 0 ||
        store_temp_path(s.vms, "clone", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(dst, F_OK) == 0)
        return cove_error_set(err, -EEXIST, "VM '%s' already exists", dst_name);
    int glock, lock;
    if ((rc = store_lock_global(&s, &glock, err)) < 0)
        return rc;
    if ((rc = store_lock_bundle(src, src_name, &lock, NULL, err)) < 0) {
        store_unlock_bundle(glock);
        return rc;
    }
    store_sweep_temps(s.vms);
    store_sweep_temps(src);
    if (mkdir(tmp, 0700) < 0)
        rc = cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = clone_into(&s, src, tmp, src_name, err);
    if (rc == 0)
        rc = store_publish(&s, tmp, dst_name, err);
    if (rc < 0)
        store_remove_tree(tmp);
    store_unlock_bundle(lock);
    store_unlock_bundle(glock);
    return rc;
}

/* --- collecting unused bases ----------------------------------------------------------- */

struct base_set {
    char *names[MAX_BASES]; /* entries of bases/: ID directories (and older ID.img files) */
    bool used[MAX_BASES];
    size_t n;
};

/* Marks the chain of backing images of `image` that lie in bases/. */
static void mark_chain(const struct store *s, struct base_set *set, const char *image)
{
    char cur[PATH_MAX], backing[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", image);
    size_t base_len = strlen(s->bases);
    for (int depth = 0; depth < 32; depth++) {
        if (store_disk_info(cur, NULL, NULL, backing, sizeof backing, NULL) < 0 || !backing[0])
            return;
        if (strncmp(backing, s->bases, base_len) || backing[base_len] != '/')
            return;
        /* the entry of bases/ it lies in: "ID" of ID/base.img, or an older "ID.img" */
        const char *entry = backing + base_len + 1;
        size_t len = strcspn(entry, "/");
        for (size_t i = 0; i < set->n; i++)
            if (strlen(set->names[i]) == len && !strncmp(set->names[i], entry, len))
                set->used[i] = true;
        snprintf(cur, sizeof cur, "%s", backing);
    }
}

/* Every regular file in a bundle (or a temporary one) may be an overlay. */
static void mark_bundle(const struct store *s, struct base_set *set, const char *bundle)
{
    DIR *d = opendir(bundle);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if ((e->d_type != DT_REG && e->d_type != DT_UNKNOWN) ||
            !strcmp(e->d_name, BUNDLE_CONFIG) || !strcmp(e->d_name, BUNDLE_KERNEL) ||
            !strcmp(e->d_name, BUNDLE_INITRD) || !strcmp(e->d_name, BUNDLE_FIRMWARE))
            continue;
        if (store_path(path, sizeof path, "%s/%s", bundle, e->d_name) == 0)
            mark_chain(s, set, path);
    }
    closedir(d);
}

/* A bundle's own files, and those of each of its snapshots (and of a snapshot being
 * saved): a snapshot keeps the disk layers it records (snapshot.c). */
static void mark_bundle_and_snapshots(const struct store *s, struct base_set *set,
                                      const char *bundle)
{
    mark_bundle(s, set, bundle);
    char dir[PATH_MAX], path[PATH_MAX];
    if (store_path(dir, sizeof dir, "%s/" BUNDLE_SNAPSHOTS, bundle) < 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            store_path(path, sizeof path, "%s/%s", dir, e->d_name) == 0)
            mark_bundle(s, set, path);
    }
    closedir(d);
}

static void load_bases(const struct store *s, struct base_set *set)
{
    DIR *d = opendir(s->bases);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && set->n < MAX_BASES) {
        size_t len = strlen(e->d_name);
        bool old_file = len > 4 && !strcmp(e->d_name + len - 4, ".img");
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN && !old_file))
            continue;
        if ((set->names[set->n] = strdup(e->d_name)))
            set->n++;
    }
    closedir(d);
}

void store_collect_bases(const struct store *s)
{
    int glock;
    if (store_lock_global(s, &glock, NULL) < 0)
        return;
    store_sweep_temps(s->vms);
    store_sweep_temps(s->bases);
    struct base_set *set = calloc(1, sizeof *set);
    if (!set) {
        store_unlock_bundle(glock);
        return;
    }
    load_bases(s, set);
    DIR *d = set->n ? opendir(s->vms) : NULL;
    struct dirent *e;
    char path[PATH_MAX];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (store_path(path, sizeof path, "%s/%s", s->vms, e->d_name) == 0)
            mark_bundle_and_snapshots(s, set, path);
    }
    if (d)
        closedir(d);
    /* A base used only by another base is kept by the chain walk from the bundles. */
    for (size_t i = 0; i < set->n; i++) {
        if (!set->used[i] && store_path(path, sizeof path, "%s/%s", s->bases, set->names[i]) == 0)
            store_remove_tree(path);
        free(set->names[i]);
    }
    free(set);
    store_unlock_bundle(glock);
}
