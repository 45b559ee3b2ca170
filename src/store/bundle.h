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
#define BUNDLE_FIRMWARE "firmware"
#define BASE_IMAGE "base.img" /* bases/ID/base.img */
#define DEFAULT_DISK_SIZE (8ull << 30)
#define DEFAULT_MEMORY_MIB 512
#define GUEST_ROOT_CMDLINE "cove.root=/dev/vda"

/* Loads vms/NAME/config.json and the disk's size and use; state is STOPPED or RUNNING
 * (from the run lock), pid from run/pid. */
int store_load_info(const struct store *s, const char *name, struct cove_vm_info *out,
                    struct cove_error *err);

/* Every bundle, sorted by name; `live` (may be NULL) refines the state of running ones.
 * A bundle that cannot be read is listed with broken set. */
int store_list(struct cove_vm_info **out, size_t *count,
               void (*live)(const struct store *s, struct cove_vm_info *info),
               struct cove_error *err);

/* A bundle-relative file name as an absolute path (absolute ones are kept). */
int store_resolve(const char *bundle, const char *file, char *buf, size_t n);

/* Deletes bases/ images no bundle (or temporary bundle) refers to. Holds the global lock. */
void store_collect_bases(const struct store *s);

/* network.c: applies create's or set's network options to cfg (see struct
 * cove_vm_settings); cfg is unchanged on error. */
int store_set_network(struct cove_config *cfg, enum cove_net_mode net, bool set_forwards,
                      const char *const *forwards, unsigned nforwards, const char *mac,
                      struct cove_error *err);

/* disk_image.c: thin wrappers over src/disk. */
int store_disk_info(const char *path, uint64_t *size, uint64_t *allocated, char *backing,
                    size_t backing_len, struct cove_error *err);
int store_disk_grow(const char *path, uint64_t size, struct cove_error *err);
int store_disk_create_raw(const char *path, uint64_t size, struct cove_error *err);
/* A cdisk over backing (absolute path; the image names it relative to itself, see
 * disk_image.c); size 0: the backing's size. */
int store_disk_overlay(const char *path, uint64_t size, const char *backing,
                       struct cove_error *err);

/* rootfs.c: an ext4 file system of `size` bytes in a new raw image at disk_path, holding
 * the contents of the cpio archive initrd (made in work_dir, which must be empty and is
 * left with scratch files). */
int store_make_rootfs(const char *initrd, const char *disk_path, uint64_t size,
                      const char *work_dir, struct cove_error *err);

#endif
