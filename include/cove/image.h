/*
 * cove/image.h — distribution images: built from a template (images/NAME.conf) by the
 * image builder (images/build.sh), cached in the image store, and the base of VMs made with
 * `cove create --from NAME`.
 *
 * The store is $COVE_IMAGES, else $COVE_HOME/images, else ~/.cove/images; an image is the
 * directory STORE/NAME-SUITE with disk.img (raw, read-only: VMs are copy-on-write overlays
 * over it), kernel, initrd (for --boot direct), image.json and build.log.
 */
#ifndef COVE_IMAGE_H
#define COVE_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

struct cove_image_info {
    char name[64];       /* the template */
    char suite[64];
    bool template_suite; /* built for the template's own suite (what NAME alone means) */
    char dir[PATH_MAX];  /* the image's directory */
    char key[32];        /* hash of the build's inputs */
    char built[32];      /* UTC, ISO 8601 */
    char kernel[128];    /* the kernel version inside */
    char archive[256];   /* mirror, suite and the date of its Release file */
    char boot[16];       /* how VMs made from it boot by default: firmware | direct */
    char cmdline[512];   /* the kernel command line (root=UUID=...) for --boot direct */
    uint64_t disk_size;  /* the image disk's virtual size */
    uint64_t disk_used;  /* host bytes it takes */
};

/* The image store's directory (see above) into buf. */
int cove_image_store(char *buf, size_t n, struct cove_error *err);

/*
 * Builds the image of template NAME (SUITE: NULL for the template's own), or finds it in the
 * store when its inputs have not changed (update: rebuild from the archive as it is now).
 * BUILDER is the image builder script (images/build.sh of the installed or source tree).
 * progress: let the builder's progress lines through to stderr (a terminal); otherwise it is
 * quiet and a failure is one line in err. The image's directory goes into dir. The builder
 * runs in a process group of its own; SIGINT and SIGTERM to the caller are passed to that
 * whole group while it runs (this installs handlers for them, then puts back the old ones),
 * the builder removes its temporary files, and an interrupted build leaves nothing in the
 * store.
 */
int cove_image_build(const char *builder, const char *name, const char *suite, bool update,
                     bool progress, char *dir, size_t n, struct cove_error *err);

/* The image of template NAME in the store, as it is (its inputs are not checked: that is
 * cove_image_build's job): of SUITE, or (suite NULL) of the template's own suite. 0 with its
 * directory in dir, -ENOENT when the store has none. */
int cove_image_find(const char *name, const char *suite, char *dir, size_t n,
                    struct cove_error *err);

/* Reads an image's image.json. */
int cove_image_get(const char *dir, struct cove_image_info *out, struct cove_error *err);

/* All images in the store, sorted; free with free(). */
int cove_image_list(struct cove_image_info **out, size_t *count, struct cove_error *err);

/* Removes NAME-SUITE (suite NULL: every suite of NAME) from the store. VMs made from it keep
 * their disks: they hold the image's disk through their own link in the VM store. */
int cove_image_remove(const char *name, const char *suite, struct cove_error *err);

#endif
