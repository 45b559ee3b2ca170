/*
 * bundle.h — operations on VM bundles (store box). The public cove_vm_* functions of
 * include/cove/cove.h that need no running VM live here; src/vm adds the state of
 * running ones.
 */
#ifndef COVE_STORE_BUNDLE_H
#define COVE_STORE_BUNDLE_H

#include <cove/cove.h>

#include "store/store.h"

#define BUNDLE_CONFIG "config.json"
#define BUNDLE_DISK "disk.img"
#define BUNDLE_KERNEL "kernel"
#define BUNDLE_INITRD "initrd"
#define BUNDLE_FIRMWARE "firmware" /* OpenSBI fw_dynamic.bin, M-mode */
#define BUNDLE_SEED "seed.img" /* cloud-init NoCloud seed of an image's VM (image_seed.c) */
#define BUNDLE_UBOOT "u-boot"     /* U-Boot qemu-riscv64_smode u-boot.bin, boot.kernel */
#define BUNDLE_STATE_DIR "state"   /* a suspended VM's saved machine (docs/STATE-FORMAT.md) */
#define BUNDLE_STATE_FILE "state/machine"
#define BUNDLE_STATE_MEMORY "state/memory"
#define BUNDLE_STATE_FORK "state/fork"   /* a clone's state: its source's name */
#define BASE_IMAGE "base.img" /* bases/ID/base.img */
#define BUNDLE_SNAPSHOTS "snapshots" /* snapshots/TAG/ (snapshot.c, docs/BUNDLES.md) */
#define DEFAULT_DISK_SIZE (8ull << 30)
#define DEFAULT_MEMORY_MIB 512
#define GUEST_ROOT_CMDLINE "cove.root=/dev/vda"

/* Whether the bundle holds a saved machine (state/machine): a VM that is not running is
 * then suspended, and `cove run` resumes it. */
bool store_bundle_suspended(const char *bundle);

/* Loads vms/NAME/config.json and the disk's size and use; state is STOPPED or RUNNING
 * (from the run lock), pid from run/pid. */
int store_load_info(const struct store *s, const char *name, struct cove_vm_info *out,
                    struct cove_error *err);

/* Every bundle, sorted by name; `live` (may be NULL) refines the state of running ones.
 * A bundle that cannot be read is listed with broken set. */
int store_list(struct cove_vm_info **out, size_t *count,
               void (*live)(const struct store *s, struct cove_vm_info *info),
               struct cove_error *err);

/* bundle_file.c: what a bundle's files may be (whoever can write the bundle may have
 * edited them). A name config.json gives is a plain file name in the bundle: NULL, or
 * why it is not ("an absolute path", "a path through '..'", ...). */
const char *store_file_name_problem(const char *file);

/* bundle/file; a name the rule above refuses is an error ("VM 'x': '/a' is not a file
 * name in the bundle (an absolute path)"), whoever passes it. */
int store_resolve(const char *bundle, const char *file, char *buf, size_t n,
                  struct cove_error *err);

/* store_resolve, and the file is a regular file, not a symbolic link: "VM 'x': disk.img
 * is a symbolic link; cove does not follow links in a bundle". */
int store_bundle_file(const char *bundle, const char *file, char *buf, size_t n,
                      struct cove_error *err);

/* Opens bundle/file with flags | O_NOFOLLOW | O_CLOEXEC: the fd, or the errors above. */
int store_open_bundle_file(const char *bundle, const char *file, int flags,
                           struct cove_error *err);

/* store_bundle_file for a disk, and every image of its backing chain lies in bases/ of
 * the same home (a cdisk header is a bundle file too). */
int store_check_bundle_disk(const char *bundle, const char *file, char *buf, size_t n,
                            struct cove_error *err);

/* Every file cfg names: the disks as above, the boot files as store_bundle_file. */
int store_check_bundle(const char *bundle, const struct cove_config *cfg,
                       struct cove_error *err);

/* Freezes bundle/file (clone.c): it becomes a cdisk overlay over a read-only base in
 * bases/ holding what it holds now (or keeps its base when nothing was written since it
 * was made), and dst a new, empty overlay over that same base. */
int store_freeze_disk(const struct store *s, const char *bundle, const char *file,
                      const char *dst, struct cove_error *err);
/* Deletes bases/ images no bundle (or temporary bundle) refers to. Holds the global lock. */
void store_collect_bases(const struct store *s);

/* network.c: applies create's or set's network options to cfg (see struct
 * cove_vm_settings); cfg is unchanged on error. */
/* The disk changes of set (cove_vm_settings) on cfg: 0, or -EINVAL with one line. */
int store_set_disks(struct cove_config *cfg, const struct cove_vm_settings *set,
                    struct cove_error *err);
struct store_net_change {
    struct cove_net_spec net; /* mode DEFAULT: unchanged (create: NAT) */
    bool set_forwards;
    const char *const *forwards;
    unsigned nforwards;
    const char *mac;          /* NULL: unchanged */
    bool set_rules;           /* replace the egress rules by these */
    const struct cove_net_rule *rules;
    unsigned nrules;
    enum cove_auto_forward auto_forward; /* DEFAULT: unchanged */
};
int store_set_network(struct cove_config *cfg, const struct store_net_change *ch,
                      struct cove_error *err);

/* disk_image.c: thin wrappers over src/disk, for the store's own files: none follows a
 * symbolic link at path. */
int store_disk_info(const char *path, uint64_t *size, uint64_t *allocated, char *backing,
                    size_t backing_len, struct cove_error *err);
int store_disk_grow(const char *path, uint64_t size, struct cove_error *err);
int store_disk_create_raw(const char *path, uint64_t size, struct cove_error *err);
/* A cdisk over backing (absolute path; the image names it relative to itself, see
 * disk_image.c); size 0: the backing's size. */
int store_disk_overlay(const char *path, uint64_t size, const char *backing,
                       struct cove_error *err);
/* Collapses "." and "dir/.." components and repeated slashes, in place (lexically). */
void store_normalize_path(char *path);

/* boot_files.c: copies src into dir as the file `as` (0400: clones hard-link it) and
 * sets *field (a config's boot file, freed first) to that name. */
int store_add_boot_file(const char *src, const char *dir, const char *as, char **field,
                        struct cove_error *err);
/* Firmware boot in the bundle being made in dir: copies OpenSBI's fw_dynamic.bin
 * (COVE_OPENSBI, else Debian's opensbi package's) as boot.firmware and U-Boot's
 * qemu-riscv64_smode u-boot.bin (COVE_UBOOT, else u-boot-qemu's) as boot.kernel; clears
 * boot.initrd and boot.cmdline (the disk's boot configuration sets the kernel's). A
 * missing file is one line naming the package. */
int store_add_firmware_boot(const char *dir, struct cove_config *cfg, struct cove_error *err);

/* import_disk.c: copies the disk image src (format "raw", "qcow2", "cdisk", or NULL:
 * from its header) to the new file dst, raw or cdisk, grown to size (0: the image's
 * size; smaller than the image: -EINVAL). */
int store_import_disk(const char *src, const char *format, uint64_t size, const char *dst,
                      struct cove_error *err);

/* rootfs.c: an ext4 file system of `size` bytes in a new raw image at disk_path, holding
 * the contents of the cpio archive initrd (made in work_dir, which must be empty and is
 * left with scratch files). */
/* disk: a cdisk overlay over the image's disk (image_vm.c), size 0 or >= the image's. */
struct cove_image_info;
/* The same over any read-only image file (a pulled OCI image's disk): its base is
 * bases/LABEL-INO. */
int store_disk_over_file(const struct store *s, const char *label, const char *image_disk,
                         const char *disk, uint64_t size, struct cove_error *err);
int store_disk_from_image(const struct store *s, const struct cove_image_info *img,
                          const char *disk, uint64_t size, struct cove_error *err);

/* The NoCloud seed (seed.img, read-only, after the disks) and guest.user of a VM made from
 * a distribution image, named `name` (image_seed.c). */
int store_add_seed(const char *tmp, const char *name, const struct cove_create_options *o,
                   struct cove_config *cfg, struct cove_error *err);

/* oci_vm.c: a new VM name from a pulled image's directory (vm.json and its files, see
 * src/oci/cache.c): disks as copy-on-write overlays over the image's (bases/oci-KEY-...),
 * boot files linked, a new MAC. lazy (may be NULL): the text of the bundle's
 * BUNDLE_LAZY, written before the bundle is published (a lazy clone, src/oci/lazy.h). */
#define BUNDLE_LAZY "lazy.json"
int store_create_from_pulled(const char *name, const char *image_dir, const char *key,
                             const char *lazy,
                             struct cove_error *err);

int store_make_rootfs(const char *initrd, const char *disk_path, uint64_t size,
                      const char *work_dir, struct cove_error *err);

/* Renames the new bundle tmp (fully written, in vms/) to vms/NAME, refusing a name in use
 * ("VM 'x' already exists"): the one step that makes a created, cloned or pulled VM appear. */
int store_publish(const struct store *s, const char *tmp, const char *name,
                  struct cove_error *err);
#endif
