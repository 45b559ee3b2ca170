/*
 * Bundle lifecycle: create, delete, rename, set, and reading a bundle's information.
 * Each change ends in a single rename(2) (see store.h).
 */
#include "store/bundle.h"
#include "store/shares.h"

#include <cove/image.h>
#include <cove/size.h>

#include "machine/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_DISK_SIZE (64ull << 20)
#define MAX_DISK_SIZE (16ull << 40)

int cove_name_check(const char *name, struct cove_error *err)
{
    return store_check_name(name, err);
}

const char *cove_vm_state_name(enum cove_vm_state state)
{
    switch (state) {
    case COVE_VM_STOPPED: return "stopped";
    case COVE_VM_RUNNING: return "running";
    case COVE_VM_PAUSED: return "paused";
    case COVE_VM_SUSPENDED: return "suspended";
    }
    return "unknown";
}

void cove_vm_info_free(struct cove_vm_info *info)
{
    cove_config_free(&info->config);
    for (unsigned i = 0; i < info->nrun_forwards; i++)
        free(info->run_forwards[i]);
    info->nrun_forwards = 0;
}

static int check_ranges(unsigned cpus, uint64_t memory_mib, uint64_t disk_size,
                        struct cove_error *err)
{
    if (cpus && cpus > COVE_MAX_CPUS)
        return cove_error_set(err, -EINVAL, "cpus %u is out of range; use 1 to %d", cpus,
                              COVE_MAX_CPUS);
    if (memory_mib && (memory_mib < COVE_MIN_MEMORY_MIB || memory_mib > COVE_MAX_MEMORY_MIB))
        return cove_error_set(err, -EINVAL, "memory %" PRIu64 " MiB is out of range; use %d MiB "
                              "to %d GiB", memory_mib, COVE_MIN_MEMORY_MIB,
                              COVE_MAX_MEMORY_MIB / 1024);
    if (disk_size && (disk_size < MIN_DISK_SIZE || disk_size > MAX_DISK_SIZE ||
                      disk_size % 512)) {
        char h[32];
        cove_size_format(disk_size, h, sizeof h);
        return cove_error_set(err, -EINVAL, "disk size %s is out of range; use 64 MiB to 16 TiB "
                              "in whole 512-byte sectors", h);
    }
    return 0;
}

/* Host bytes of the clone bases (bases/) a disk reads through, starting at its backing. A
 * base is shared: every clone over it counts it in full, since deleting the others would
 * leave it all to this one. */
static uint64_t bases_used(const struct store *s, const char *backing)
{
    char cur[PATH_MAX], next[PATH_MAX];
    size_t n = strlen(s->bases);
    uint64_t total = 0;
    snprintf(cur, sizeof cur, "%s", backing);
    for (int depth = 0; cur[0] && depth < 32; depth++) {
        uint64_t used;
        if (strncmp(cur, s->bases, n) || cur[n] != '/' ||
            store_disk_info(cur, NULL, &used, next, sizeof next, NULL) < 0)
            break;
        total += used;
        memcpy(cur, next, sizeof cur);
    }
    return total;
}

bool store_bundle_suspended(const char *bundle)
{
    char path[PATH_MAX];
    struct stat st;
    return store_path(path, sizeof path, "%s/" BUNDLE_STATE_FILE, bundle) == 0 &&
           lstat(path, &st) == 0;
}

int store_load_info(const struct store *s, const char *name, struct cove_vm_info *out,
                    struct cove_error *err)
{
    memset(out, 0, sizeof *out);
    char bundle[PATH_MAX], path[PATH_MAX];
    int rc = store_find(s, name, bundle, sizeof bundle, err);
    if (rc < 0)
        return rc;
    snprintf(out->name, sizeof out->name, "%s", name);
    if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", bundle);
    struct cove_error cerr;
    if ((rc = cove_config_load(path, &out->config, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    pid_t pid;
    out->state = store_bundle_running(bundle, &pid) ? COVE_VM_RUNNING
                 : store_bundle_suspended(bundle)   ? COVE_VM_SUSPENDED
                                                    : COVE_VM_STOPPED;
    out->pid = out->state == COVE_VM_RUNNING ? pid : 0;
    /* what run and clone would refuse shows here first (list: a broken VM); nothing below
     * follows a link out of the bundle */
    if ((rc = store_check_bundle(bundle, &out->config, err)) < 0) {
        cove_vm_info_free(out);
        return rc;
    }
    for (unsigned i = 0; i < out->config.ndisks; i++) {
        uint64_t size = 0, used = 0;
        char backing[PATH_MAX];
        if (cove_disk_is_nbd(out->config.disks[i].file))
            continue; /* on a server: not the host's space, nor known without connecting */
        if ((rc = store_resolve(bundle, out->config.disks[i].file, path, sizeof path, err)) < 0) {
            cove_vm_info_free(out);
            return rc;
        }
        if ((rc = store_disk_info(path, &size, &used, backing, sizeof backing, &cerr)) < 0) {
            cove_vm_info_free(out);
            return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
        }
        if (i == 0)
            out->disk_size = size;
        out->disk_used += used;
        out->disk_shared += bases_used(s, backing);
    }
    out->disk_used += out->disk_shared;
    return 0;
}

/* The kernel and initrd a direct-boot create copies: the default guest's Image and
 * initrd, or the ones given (*initrd may be NULL). kernel/initrd are PATH_MAX buffers for
 * the former. */
static int boot_files(const struct cove_create_options *o, char *kernel, char *initrd,
                      const char **k, const char **i, struct cove_error *err)
{
    *k = o->kernel;
    *i = o->initrd;
    if (o->image_dir) {
        if (store_path(kernel, PATH_MAX, "%s/kernel", o->image_dir) < 0 ||
            store_path(initrd, PATH_MAX, "%s/initrd", o->image_dir) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", o->image_dir);
        *k = kernel;
        *i = initrd;
        return 0;
    }
    if (!o->guest_dir)
        return 0;
    if (store_path(kernel, PATH_MAX, "%s/Image", o->guest_dir) < 0 ||
        store_path(initrd, PATH_MAX, "%s/initrd", o->guest_dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", o->guest_dir);
    *k = kernel;
    *i = initrd;
    return 0;
}

/* Boot files first: they are small, and a missing firmware package stops a create
 * before a long import. */
static int add_boot(const char *tmp, const struct cove_create_options *o, enum cove_boot boot,
                    const struct cove_image_info *img, struct cove_config *cfg,
                    struct cove_error *err)
{
    if (boot == COVE_BOOT_FIRMWARE)
        return store_add_firmware_boot(tmp, cfg, err);
    char kernel[PATH_MAX], initrd[PATH_MAX];
    const char *k, *i;
    int rc = boot_files(o, kernel, initrd, &k, &i, err);
    if (rc == 0)
        rc = store_add_boot_file(k, tmp, BUNDLE_KERNEL, &cfg->kernel, err);
    if (rc == 0 && i)
        rc = store_add_boot_file(i, tmp, BUNDLE_INITRD, &cfg->initrd, err);
    if (rc < 0)
        return rc;
    char cmdline[4096] = "";
    if (img)
        snprintf(cmdline, sizeof cmdline, "%s", img->cmdline);
    else if (o->guest_dir)
        snprintf(cmdline, sizeof cmdline, "%s", GUEST_ROOT_CMDLINE);
    if (o->cmdline && *o->cmdline)
        snprintf(cmdline + strlen(cmdline), sizeof cmdline - strlen(cmdline), "%s%s",
                 *cmdline ? " " : "", o->cmdline);
    if (*cmdline && !(cfg->cmdline = strdup(cmdline)))
        return cove_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* disk.img: an overlay over a distribution image's disk, the imported image, the default
 * guest's root file system, or empty. */
static int add_disk(const struct store *s, const char *tmp, const struct cove_create_options *o,
                    const struct cove_image_info *img, struct cove_config *cfg,
                    struct cove_error *err)
{
    char disk[PATH_MAX], work[PATH_MAX], initrd[PATH_MAX];
    uint64_t size = o->disk_size ? o->disk_size : DEFAULT_DISK_SIZE;
    int rc;
    if (img && !o->disk_size && size < img->disk_size)
        size = img->disk_size;
    if (store_path(disk, sizeof disk, "%s/" BUNDLE_DISK, tmp) < 0 ||
        store_path(work, sizeof work, "%s/.rootfs", tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", tmp);
    if (img) {
        rc = store_disk_from_image(s, img, disk, size, err);
    } else if (o->from_disk) {
        rc = store_import_disk(o->from_disk, o->disk_format, o->disk_size, disk, err);
    } else if (o->guest_dir) {
        if (store_path(initrd, sizeof initrd, "%s/initrd", o->guest_dir) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", o->guest_dir);
        if (mkdir(work, 0700) < 0)
            return cove_error_set(err, -errno, "cannot create %s: %s", work, strerror(errno));
        rc = store_make_rootfs(initrd, disk, size, work, err);
        store_remove_tree(work);
    } else {
        rc = store_disk_create_raw(disk, size, err);
    }
    if (rc < 0)
        return rc;
    if (!(cfg->disks[0].file = strdup(BUNDLE_DISK)))
        return cove_error_set(err, -ENOMEM, "out of memory");
    cfg->ndisks = 1;
    return 0;
}

static int fill_new_bundle(const struct store *s, const char *tmp, const char *name,
                           const struct cove_create_options *o, enum cove_boot boot,
                           struct cove_config *cfg, struct cove_error *err)
{
    struct cove_image_info info, *img = NULL;
    int rc = 0;
    if (o->image_dir && (rc = cove_image_get(o->image_dir, &info, err)) == 0)
        img = &info;
    if (rc == 0)
        rc = add_boot(tmp, o, boot, img, cfg, err);
    if (rc == 0)
        rc = add_disk(s, tmp, o, img, cfg, err);
    if (rc == 0 && img)
        rc = store_add_seed(tmp, name, o, cfg, err);
    if (rc < 0)
        return rc;
    char *json = cove_config_to_json(cfg);
    if (!json)
        return cove_error_set(err, -ENOMEM, "out of memory");
    char path[PATH_MAX];
    rc = store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, tmp);
    if (rc == 0)
        rc = store_write_atomic(path, json, strlen(json), 0600, err);
    else
        cove_error_set(err, rc, "%s: path too long", tmp);
    free(json);
    return rc;
}

/* Puts the finished temporary bundle in place; fails if the name was taken meanwhile. */
int store_publish(const struct store *s, const char *tmp, const char *name,
                  struct cove_error *err)
{
    char dst[PATH_MAX];
    if (store_bundle_path(s, name, dst, sizeof dst) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    store_sync_dir(tmp);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            return cove_error_set(err, -EEXIST, "VM '%s' already exists", name);
        return cove_error_set(err, -errno, "cannot create %s: %s", dst, strerror(errno));
    }
    store_sync_dir(s->vms);
    return 0;
}

static int check_new_name(const struct store *s, const char *name, struct cove_error *err)
{
    int rc = store_check_name(name, err);
    if (rc < 0)
        return rc;
    char path[PATH_MAX];
    struct stat st;
    if (store_bundle_path(s, name, path, sizeof path) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (lstat(path, &st) == 0)
        return cove_error_set(err, -EEXIST, "VM '%s' already exists", name);
    return 0;
}

/* How the VM boots (see enum cove_boot), and the combinations that make no sense. */
static int resolve_boot(const struct cove_create_options *o, enum cove_boot *boot,
                        struct cove_error *err)
{
    *boot = COVE_BOOT_DIRECT;
    /* a distribution image says how it boots by default (image.json "boot") */
    struct cove_image_info img;
    bool image_firmware = false;
    if (o->image_dir) {
        int rc = cove_image_get(o->image_dir, &img, err);
        if (rc < 0)
            return rc;
        image_firmware = !strcmp(img.boot, "firmware");
        if (o->from_disk || o->guest_dir || o->kernel)
            return cove_error_set(err, -EINVAL, "a distribution image brings its disk and "
                                  "kernel; drop --from-disk, --kernel and the default guest");
    }
    *boot = o->boot ? o->boot
                    : (o->from_disk && !o->kernel) || image_firmware ? COVE_BOOT_FIRMWARE
                                                                     : COVE_BOOT_DIRECT;
    if (o->from_disk && o->guest_dir)
        return cove_error_set(err, -EINVAL, "the default guest and an imported disk "
                              "(--from-disk) exclude each other; pass one");
    if (o->disk_format && !o->from_disk)
        return cove_error_set(err, -EINVAL, "a disk format is for an imported disk; pass "
                              "--from-disk FILE with it");
    if (*boot == COVE_BOOT_FIRMWARE) {
        if (!o->from_disk && !o->image_dir)
            return cove_error_set(err, -EINVAL, "firmware boot needs a disk with a boot "
                                  "loader; import one with --from-disk FILE");
        if (o->kernel || o->initrd)
            return cove_error_set(err, -EINVAL, "firmware boot runs the disk's own boot "
                                  "loader and takes no --kernel; pass --boot direct to "
                                  "boot that kernel");
        if (o->cmdline)
            return cove_error_set(err, -EINVAL, "with firmware boot the disk's boot loader "
                                  "sets the kernel command line; drop --append, or boot a "
                                  "kernel with --boot direct --kernel PATH");
        return 0;
    }
    if (!o->guest_dir && !o->kernel && !o->image_dir)
        return cove_error_set(err, -EINVAL, o->from_disk
                              ? "direct boot needs a kernel; pass --kernel PATH (cove does "
                                "not read one from the imported disk) or boot it through "
                                "firmware (--boot firmware)"
                              : "no guest given; use the default guest or a kernel");
    return 0;
}

/* What `cove run` would refuse in the boot files, refused now rather than at the first
 * boot: the same checks (src/machine/boot.c), the same messages. */
static int check_boot_files(const struct cove_create_options *o, enum cove_boot boot,
                            struct cove_error *err)
{
    char kernel[PATH_MAX], initrd[PATH_MAX];
    const char *k, *i;
    if (boot == COVE_BOOT_FIRMWARE)
        return 0; /* store_add_firmware_boot checks its files */
    int rc = boot_files(o, kernel, initrd, &k, &i, err);
    if (rc == 0)
        rc = boot_check_kernel(k, err);
    if (rc == 0 && i)
        rc = boot_check_file("initrd", i, err);
    return rc;
}

int cove_vm_create(const char *name, const struct cove_create_options *o, struct cove_error *err)
{
    struct store s;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = check_ranges(o->cpus, o->memory_mib, o->disk_size, err)) < 0)
        return rc;
    enum cove_boot boot;
    if ((rc = resolve_boot(o, &boot, err)) < 0 || (rc = check_boot_files(o, boot, err)) < 0 ||
        (rc = store_open(&s, err)) < 0)
        return rc;
    store_sweep_temps(s.vms);
    if ((rc = check_new_name(&s, name, err)) < 0)
        return rc;
    struct cove_config cfg = {
        .cpus = o->cpus ? o->cpus : 1,
        .memory_mib = o->memory_mib ? o->memory_mib : DEFAULT_MEMORY_MIB,
        .cpu_limit_milli = o->cpu_limit_milli,
        .has_network = true,
        .net = {.mode = COVE_NET_NAT},
        .display_vnc = o->display_vnc,
        .vnc_port = o->display_vnc ? o->vnc_port : 0,
        .net_rate = o->net_rate,
    };
    if (o->vnc_port && !o->display_vnc)
        return cove_error_set(err, -EINVAL, "a VNC port needs a display: add --display vnc");
    struct store_net_change ch = {o->net, o->nforwards > 0, o->forwards, o->nforwards, o->mac,
                                  o->nnet_rules > 0, o->net_rules, o->nnet_rules,
                                  o->auto_forward};
    if ((rc = store_set_network(&cfg, &ch, err)) < 0 ||
        (rc = store_set_shares(&s, &cfg, o->shares, o->nshares, err)) < 0) {
        cove_config_free(&cfg);
        return rc;
    }
    char tmp[PATH_MAX];
    if (store_temp_path(s.vms, "create", tmp, sizeof tmp) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    else if (mkdir(tmp, 0700) < 0)
        rc = cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    if (rc < 0) {
        cove_config_free(&cfg);
        return rc;
    }
    rc = fill_new_bundle(&s, tmp, name, o, boot, &cfg, err);
    cove_config_free(&cfg);
    if (rc == 0)
        rc = store_publish(&s, tmp, name, err);
    if (rc < 0)
        store_remove_tree(tmp);
    return rc;
}

int cove_vm_delete(const char *name, struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX], tmp[PATH_MAX];
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    int lock = -1;
    /* A bundle whose run/ or run/lock is a link (planted: cove never makes one) has no
     * lock cove could hold or a run could have taken; it can still be deleted, and the
     * removal below follows no link. */
    if ((rc = store_lock_bundle(bundle, name, &lock, NULL, err)) < 0 && rc != -ELOOP)
        return rc;
    if (store_temp_path(s.vms, "delete", tmp, sizeof tmp) < 0) {
        store_unlock_bundle(lock);
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    }
    /* One rename makes the VM disappear; the tree goes afterwards (or by the sweep of a
     * later command if this one is killed). */
    if (rename(bundle, tmp) < 0) {
        rc = -errno;
        store_unlock_bundle(lock);
        return cove_error_set(err, rc, "cannot delete VM '%s': %s", name, strerror(-rc));
    }
    store_sync_dir(s.vms);
    store_unlock_bundle(lock);
    store_remove_tree(tmp);
    store_collect_bases(&s);
    return 0;
}

int cove_vm_rename(const char *old_name, const char *new_name, struct cove_error *err)
{
    struct store s;
    char from[PATH_MAX], to[PATH_MAX];
    int rc = store_check_name(old_name, err);
    if (rc < 0 || (rc = store_check_name(new_name, err)) < 0 ||
        (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, old_name, from, sizeof from, err)) < 0 ||
        (rc = check_new_name(&s, new_name, err)) < 0)
        return rc;
    if (store_bundle_path(&s, new_name, to, sizeof to) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int lock;
    if ((rc = store_lock_bundle(from, old_name, &lock, NULL, err)) < 0)
        return rc;
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
        rc = -errno;
        store_unlock_bundle(lock);
        if (rc == -EEXIST)
            return cove_error_set(err, rc, "VM '%s' already exists", new_name);
        return cove_error_set(err, rc, "cannot rename VM '%s': %s", old_name, strerror(-rc));
    }
    store_sync_dir(s.vms);
    store_unlock_bundle(lock);
    return 0;
}

static int grow_disk(const char *bundle, const struct cove_config *cfg, uint64_t size,
                     struct cove_error *err)
{
    char path[PATH_MAX];
    uint64_t cur;
    if (cfg->ndisks == 0)
        return cove_error_set(err, -EINVAL, "the VM has no disk to resize");
    if (cove_disk_is_nbd(cfg->disks[0].file))
        return cove_error_set(err, -EINVAL, "the VM's disk is the NBD export %s; resize it on "
                              "its server", cfg->disks[0].file);
    int rc = store_check_bundle_disk(bundle, cfg->disks[0].file, path, sizeof path, err);
    if (rc == 0)
        rc = store_disk_info(path, &cur, NULL, NULL, 0, err);
    if (rc < 0)
        return rc;
    if (size == cur)
        return 0;
    if (size < cur) {
        char h[32];
        cove_size_format(cur, h, sizeof h);
        return cove_error_set(err, -EINVAL, "disk is %s; shrinking is not supported", h);
    }
    return store_disk_grow(path, size, err);
}

static int set_display(struct cove_config *cfg, const struct cove_vm_settings *set,
                       struct cove_error *err)
{
    if (set->set_display) {
        cfg->display_vnc = set->display_vnc;
        if (!cfg->display_vnc)
            cfg->vnc_port = 0;
    }
    if (set->vnc_port && !cfg->display_vnc)
        return cove_error_set(err, -EINVAL, "a VNC port needs a display: add --display vnc");
    if (set->vnc_port)
        cfg->vnc_port = set->vnc_port;
    return 0;
}

int cove_vm_set(const char *name, const struct cove_vm_settings *set, struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX], path[PATH_MAX];
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = check_ranges(set->cpus, set->memory_mib, set->disk_size, err)) < 0 ||
        (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    int lock;
    if ((rc = store_lock_bundle(bundle, name, &lock, NULL, err)) < 0)
        return rc;
    store_sweep_temps(bundle);
    struct cove_config cfg;
    struct cove_error cerr;
    if (store_bundle_suspended(bundle)) {
        store_unlock_bundle(lock);
        return cove_error_set(err, -EBUSY, "VM '%s' is suspended: its saved state needs the "
                              "settings it has; resume it (cove run %s) and stop it first",
                              name, name);
    }
    if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, bundle) < 0) {
        rc = cove_error_set(err, -ENAMETOOLONG, "%s: path too long", bundle);
    } else if ((rc = cove_config_load(path, &cfg, &cerr)) < 0) {
        cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    } else {
        /* The network in memory first, then the disk (its size is not in config.json),
         * then the file: a refused setting or shrink leaves everything unchanged. */
        bool network = set->net.mode || set->set_forwards || set->mac || set->set_net_rules ||
                       set->auto_forward;
        struct store_net_change ch = {set->net, set->set_forwards, set->forwards,
                                      set->nforwards, set->mac, set->set_net_rules,
                                      set->net_rules, set->nnet_rules, set->auto_forward};
        if (network)
            rc = store_set_network(&cfg, &ch, err);
        if (rc == 0 && set->set_shares)
            rc = store_set_shares(&s, &cfg, set->shares, set->nshares, err);
        bool disks = set->disk_options || set->remove_disk || set->nadd_disks;
        if (rc == 0 && disks)
            rc = store_set_disks(&cfg, set, err);
        if (rc == 0 && set->disk_size)
            rc = grow_disk(bundle, &cfg, set->disk_size, err);
        bool display = set->set_display || set->vnc_port;
        if (rc == 0 && display)
            rc = set_display(&cfg, set, err);
        if (rc == 0 && (set->cpus || set->memory_mib || network || set->set_shares || disks ||
                        display || set->set_cpu_limit || set->set_net_rate)) {
            if (set->set_net_rate)
                cfg.net_rate = set->net_rate;
            if (set->cpus)
                cfg.cpus = set->cpus;
            if (set->set_cpu_limit)
                cfg.cpu_limit_milli = set->cpu_limit_milli;
            if (set->memory_mib)
                cfg.memory_mib = set->memory_mib;
            char *json = cove_config_to_json(&cfg);
            rc = json ? store_write_atomic(path, json, strlen(json), 0600, err)
                      : cove_error_set(err, -ENOMEM, "out of memory");
            free(json);
        }
        cove_config_free(&cfg);
    }
    store_unlock_bundle(lock);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct cove_vm_info *)a)->name, ((const struct cove_vm_info *)b)->name);
}

int store_list(struct cove_vm_info **out, size_t *count,
               void (*live)(const struct store *s, struct cove_vm_info *info),
               struct cove_error *err)
{
    struct store s;
    int rc = store_open(&s, err);
    if (rc < 0)
        return rc;
    store_sweep_temps(s.vms);
    DIR *d = opendir(s.vms);
    if (!d)
        return cove_error_set(err, -errno, "%s: %s", s.vms, strerror(errno));
    struct cove_vm_info *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (store_check_name(e->d_name, NULL) < 0)
            continue; /* ".", "..", temporaries */
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct cove_vm_info *bigger = realloc(list, cap * sizeof *list);
            if (!bigger) {
                rc = cove_error_set(err, -ENOMEM, "out of memory");
                break;
            }
            list = bigger;
        }
        struct cove_vm_info *info = &list[n];
        struct cove_error lerr;
        if (store_load_info(&s, e->d_name, info, &lerr) < 0) {
            if (lerr.code == -ENOENT && !strstr(lerr.message, "config.json"))
                continue; /* went away meanwhile */
            char bundle[PATH_MAX];
            pid_t pid = 0;
            memset(info, 0, sizeof *info);
            snprintf(info->name, sizeof info->name, "%.64s", e->d_name);
            info->broken = true;
            snprintf(info->problem, sizeof info->problem, "%s", lerr.message);
            if (store_bundle_path(&s, e->d_name, bundle, sizeof bundle) == 0 &&
                store_bundle_running(bundle, &pid))
                info->state = COVE_VM_RUNNING, info->pid = pid;
        } else if (live) {
            live(&s, info);
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            cove_vm_info_free(&list[i]);
        free(list);
        return rc;
    }
    if (n)
        qsort(list, n, sizeof *list, by_name);
    *out = list;
    *count = n;
    return 0;
}
