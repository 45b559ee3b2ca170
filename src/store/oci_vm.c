/*
 * A VM from a pulled OCI image (cove clone REF NAME): the image directory's vm.json becomes
 * the bundle's config.json (with a new MAC), each disk a copy-on-write overlay over the
 * image's (image_vm.c: bases/oci-KEY-INO, so the VM outlives the cached image), each boot
 * file a hard link (a copy across file systems). The bundle is made under a temporary name
 * and renamed into place: constant time, whatever the disk's size.
 */
#include "store/bundle.h"
#include "store/shares.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int load_vm(const char *image_dir, struct cove_config *cfg, struct cove_error *err)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/vm.json", image_dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    struct cove_error cerr;
    int rc = cove_config_load(path, cfg, &cerr);
    return rc < 0 ? cove_error_set(err, rc, "pulled image %s: %s", image_dir, cerr.message) : 0;
}

static int link_file(const char *image_dir, const char *tmp, const char *file,
                     struct cove_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (!file)
        return 0;
    if (store_path(src, sizeof src, "%s/%s", image_dir, file) < 0 ||
        store_path(dst, sizeof dst, "%s/%s", tmp, file) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (link(src, dst) == 0)
        return 0;
    return store_copy_file(src, dst, 0400, err);
}

/* A suspended VM's image holds its saved state: the new VM is suspended there too, a fork
 * (docs/STATE-FORMAT.md) whose first resume gives the guest its own hostname and MAC. The
 * machine file is copied, the memory file shared with the image as the disks are (a hard
 * link; a copy across file systems): read-only, never written (a restore maps it
 * MAP_PRIVATE). state/fork names the image. */
static int pulled_state(const char *image_dir, const char *key, const char *tmp,
                        struct cove_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (store_path(src, sizeof src, "%s/" BUNDLE_STATE_FILE, image_dir) < 0 ||
        store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_DIR, tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(src, F_OK) < 0)
        return 0; /* a stopped VM's image */
    if (mkdir(dst, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", dst, strerror(errno));
    if (store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_FILE, tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int rc = store_copy_file(src, dst, 0600, err);
    if (rc == 0)
        rc = link_file(image_dir, tmp, BUNDLE_STATE_MEMORY, err);
    if (rc < 0)
        return rc;
    char line[128];
    int len = snprintf(line, sizeof line, "oci-%.64s\n", key);
    if (store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_FORK, tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = store_write_atomic(dst, line, (size_t)len, 0600, err)) < 0)
        return rc;
    if (store_path(dst, sizeof dst, "%s/" BUNDLE_STATE_DIR, tmp) == 0)
        store_sync_dir(dst);
    return 0;
}

static int fill(const struct store *s, const char *image_dir, const char *key, const char *tmp,
                struct cove_config *cfg, struct cove_error *err)
{
    int rc = 0;
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++) {
        char src[PATH_MAX], dst[PATH_MAX], label[64];
        snprintf(label, sizeof label, "oci-%.16s-%u", key, i);
        if (store_path(src, sizeof src, "%s/%s", image_dir, cfg->disks[i].file) < 0 ||
            store_path(dst, sizeof dst, "%s/%s", tmp, cfg->disks[i].file) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        rc = store_disk_over_file(s, label, src, dst, 0, err);
    }
    if (rc == 0)
        rc = link_file(image_dir, tmp, cfg->kernel, err);
    if (rc == 0)
        rc = link_file(image_dir, tmp, cfg->initrd, err);
    if (rc == 0)
        rc = link_file(image_dir, tmp, cfg->firmware, err);
    if (rc == 0)
        rc = pulled_state(image_dir, key, tmp, err);
    if (rc == 0) {
        if (cfg->has_network)
            cove_config_random_mac(cfg->mac); /* the pushed VM may still run elsewhere */
        store_drop_shares(cfg); /* another machine's host paths (push leaves them out) */
        char *json = cove_config_to_json(cfg), path[PATH_MAX];
        if (!json)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
        else if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, tmp) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        else
            rc = store_write_atomic(path, json, strlen(json), 0600, err);
        free(json);
    }
    return rc;
}

int store_create_from_pulled(const char *name, const char *image_dir, const char *key,
                             const char *lazy, struct cove_error *err)
{
    struct store s;
    char dst[PATH_MAX], tmp[PATH_MAX];
    struct cove_config cfg;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0)
        return rc;
    if (store_bundle_path(&s, name, dst, sizeof dst) < 0 ||
        store_temp_path(s.vms, "pull", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(dst, F_OK) == 0)
        return cove_error_set(err, -EEXIST, "VM '%s' already exists", name);
    if ((rc = load_vm(image_dir, &cfg, err)) < 0)
        return rc;
    store_sweep_temps(s.vms);
    if (mkdir(tmp, 0700) < 0)
        rc = cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = fill(&s, image_dir, key, tmp, &cfg, err);
    char path[PATH_MAX];
    if (rc == 0 && lazy && store_path(path, sizeof path, "%s/" BUNDLE_LAZY, tmp) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0 && lazy)
        rc = store_write_atomic(path, lazy, strlen(lazy), 0600, err);
    if (rc == 0)
        rc = store_publish(&s, tmp, name, err);
    if (rc < 0)
        store_remove_tree(tmp);
    cove_config_free(&cfg);
    return rc;
}
