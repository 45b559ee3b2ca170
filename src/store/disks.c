/*
 * A bundle's disks as `cove set` changes them: their options (read-only, cache, sync, interface), and
 * NBD exports added and removed. A bundle's image files are its own (created with it,
 * cloned with it), so set neither adds nor removes those; a file from elsewhere is
 * attached for one run (`cove run NAME --disk PATH`).
 */
#include "store/bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_index(const struct cove_config *cfg, unsigned n, const char *what,
                       struct cove_error *err)
{
    if (n > cfg->ndisks)
        return cove_error_set(err, -EINVAL, "%s: the VM has no disk %u; it has %u (0..%u, "
                              "see cove get NAME)", what, n - 1, cfg->ndisks,
                              cfg->ndisks ? cfg->ndisks - 1 : 0);
    return 0;
}

int store_set_disks(struct cove_config *cfg, const struct cove_vm_settings *set,
                    struct cove_error *err)
{
    int rc;
    if (set->disk_options) {
        if ((rc = check_index(cfg, set->disk_options, "--disk-options", err)) < 0)
            return rc;
        struct cove_disk_config *d = &cfg->disks[set->disk_options - 1];
        if (cove_disk_is_nbd(d->file) && set->disk_modes.cache != COVE_DISK_CACHE_WRITEBACK)
            return cove_error_set(err, -EINVAL, "--disk-options: disk %u is the NBD export %s; "
                                  "cache=none is for image files", set->disk_options - 1,
                                  d->file);
        d->read_only = set->disk_modes.read_only;
        d->cache = set->disk_modes.cache;
        d->sync = set->disk_modes.sync;
        d->nvme = set->disk_modes.nvme;
        d->rate = set->disk_modes.rate;
    }
    if (set->remove_disk) {
        if ((rc = check_index(cfg, set->remove_disk, "--remove-disk", err)) < 0)
            return rc;
        unsigned i = set->remove_disk - 1;
        if (!cove_disk_is_nbd(cfg->disks[i].file))
            return cove_error_set(err, -EINVAL, "--remove-disk: disk %u is the VM's image %s; "
                                  "cove set removes NBD disks only", i, cfg->disks[i].file);
        free(cfg->disks[i].file);
        memmove(&cfg->disks[i], &cfg->disks[i + 1], (cfg->ndisks - i - 1) * sizeof *cfg->disks);
        cfg->disks[--cfg->ndisks] = (struct cove_disk_config){0};
    }
    for (unsigned i = 0; i < set->nadd_disks; i++) {
        const struct cove_disk_config *d = &set->add_disks[i];
        if (!cove_disk_is_nbd(d->file))
            return cove_error_set(err, -EINVAL, "--add-disk '%s': a VM stores NBD disks only "
                                  "(its images are its own); attach a file for one run with "
                                  "cove run NAME --disk PATH", d->file);
        if ((rc = cove_disk_check_nbd_uri(d->file, err)) < 0)
            return rc;
        if (cove_disk_nbd_host_file(d->file))
            return cove_error_set(err, -EINVAL, "--add-disk '%s': %s= names a host file, which "
                                  "a VM's config.json may not (docs/BUNDLES.md); give the URI "
                                  "for one run with cove run NAME --disk URI", d->file,
                                  cove_disk_nbd_host_file(d->file));
        if (cfg->ndisks == COVE_MAX_DISKS)
            return cove_error_set(err, -EINVAL, "--add-disk: a VM has at most %d disks",
                                  COVE_MAX_DISKS);
        struct cove_disk_config *to = &cfg->disks[cfg->ndisks];
        *to = *d;
        if (!(to->file = strdup(d->file)))
            return cove_error_set(err, -ENOMEM, "out of memory");
        cfg->ndisks++;
    }
    return 0;
}
