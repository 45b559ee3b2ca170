/*
 * cove/disk.h — disk images for tools: create, inspect, grow and convert raw images and
 * cdisk, cove's sparse copy-on-write format (docs/DISK-FORMAT.md).
 *
 * Every function returns 0 or a negative errno and fills the cove_error with one line
 * naming the file ("disk /x.img: size 100 is not a multiple of 512"). New images are
 * built under a temporary name and renamed into place: a path never exists half-written,
 * and an existing one is an error (-EEXIST). An image a VM runs on is locked: resize and
 * convert's destination refuse it; info does not lock (inspecting a running VM's disk is
 * fine).
 */
#ifndef COVE_DISK_API_H
#define COVE_DISK_API_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/error.h>

enum cove_disk_format {
    COVE_DISK_AUTO = 0, /* detect (info, convert's source); as a target: the other format */
    COVE_DISK_RAW,
    COVE_DISK_CDISK,
};

/* "raw", "cdisk" or "auto"; cove_disk_format_parse takes the same names (-EINVAL). */
const char *cove_disk_format_name(enum cove_disk_format format);
int cove_disk_format_parse(const char *name, enum cove_disk_format *out);

struct cove_disk_create_options {
    enum cove_disk_format format; /* RAW or CDISK (AUTO: CDISK) */
    uint64_t size;                /* bytes, a multiple of 512; 0 with a backing: its size */
    const char *backing;          /* cdisk only, NULL for none; relative to path's directory */
};
int cove_disk_create(const char *path, const struct cove_disk_create_options *opts,
                     struct cove_error *err);

#define COVE_DISK_PATH_MAX 4096

struct cove_disk_info {
    enum cove_disk_format format;
    uint64_t virtual_size;
    uint64_t allocated;   /* bytes the file occupies on the host */
    uint64_t file_size;
    uint32_t cluster_size; /* 0 for raw */
    bool dirty;            /* cdisk: in use, or not closed cleanly */
    char backing[COVE_DISK_PATH_MAX]; /* as stored in the image; empty for none */
    enum cove_disk_format backing_format;
};
int cove_disk_info(const char *path, struct cove_disk_info *out, struct cove_error *err);

/* Grows the virtual size; a smaller size is refused with a message naming the current one. */
int cove_disk_resize(const char *path, uint64_t size, struct cove_error *err);

/* Copies src (a backing chain flattened) to a new image dst of format `to` (AUTO: the
 * other format than src's); zeros stay holes. progress, if given, gets bytes done/total. */
typedef void (*cove_disk_progress_fn)(uint64_t done, uint64_t total, void *opaque);
int cove_disk_convert(const char *src, const char *dst, enum cove_disk_format to,
                      cove_disk_progress_fn progress, void *opaque, struct cove_error *err);

#endif
