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

/* Checking an image (cove disk check). A finding is one line; a repair also says what it
 * gave up. Findings come in the order they are found. */
enum cove_disk_finding_kind {
    COVE_DISK_PROBLEM,  /* found and left as it is */
    COVE_DISK_REPAIRED, /* found and repaired (with repair set) */
};
struct cove_disk_finding {
    enum cove_disk_finding_kind kind;
    const char *what; /* "L2 entry of virtual cluster 7 points past the end of the file" */
    const char *loss; /* REPAIRED: what the repair lost ("nothing"); else NULL */
};
typedef void (*cove_disk_finding_fn)(const struct cove_disk_finding *f, void *opaque);

struct cove_disk_check_report {
    enum cove_disk_format format;
    uint64_t virtual_size;    /* 0 when the header could not be read */
    uint64_t file_size;
    uint32_t cluster_size;    /* 0 for raw */
    bool dirty;               /* the dirty flag as found */
    uint64_t tables;          /* L2 tables in use */
    uint64_t data_clusters;   /* clusters holding data */
    uint64_t leaked_clusters; /* holding bytes nobody points at (not a problem: convert
                                 compacts them) */
    unsigned problems;        /* found and not repaired */
    unsigned repaired;
};

/* Checks path: a cdisk's header checksum and fields, that every map entry points inside
 * the file, clear of the metadata and of every other entry's cluster, that the backing
 * chain opens, and the dirty flag; a raw image only by its size. With repair, what is
 * safe is fixed in place: a stale dirty flag is cleared, a map entry pointing past the
 * end of the file is dropped (its clusters read unallocated). Returns 0 when the check
 * ran (report->problems says what it found), or a negative errno when it could not (no
 * such file, in use by a VM: -EBUSY). fn may be NULL. */
int cove_disk_check(const char *path, bool repair, cove_disk_finding_fn fn, void *opaque,
                    struct cove_disk_check_report *report, struct cove_error *err);

#endif
