/*
 * cdisk_format.h — the on-disk layout of a cdisk image (docs/DISK-FORMAT.md is the spec;
 * keep the two in step). All integers are little-endian.
 *
 *   cluster 0        header: fixed fields in bytes 0-511, backing path in 512-4095
 *   l1_offset        L1 table: l1_clusters clusters of u64 entries, one per L2 table
 *   anywhere after   L2 tables (one cluster each) and data clusters, cluster-aligned
 */
#ifndef COVE_CDISK_FORMAT_H
#define COVE_CDISK_FORMAT_H

#include <stdint.h>

#define CDISK_MAGIC "CoveDisk"
#define CDISK_MAGIC_LEN 8
#define CDISK_VERSION 1
#define CDISK_HEADER_SIZE 4096u     /* covered by the checksum */
#define CDISK_HEADER_SECTOR 512u    /* what an update rewrites: one sector, atomic */
#define CDISK_MIN_CLUSTER_BITS 12
#define CDISK_MAX_CLUSTER_BITS 21
#define CDISK_MAX_SIZE (1ull << 52) /* 4 PiB: keeps every offset far below 2^63 */

/* Header flags. */
#define CDISK_FLAG_DIRTY 0x1ull /* open read-write, or not closed cleanly: may leak clusters */

/* No incompatible features exist yet; an image with any bit set is refused. */
#define CDISK_INCOMPAT_KNOWN 0x0ull

/* Backing formats stored in the header: never probed, so a raw backing image cannot
 * pose as a cdisk. */
#define CDISK_BACKING_NONE 0
#define CDISK_BACKING_RAW 1
#define CDISK_BACKING_CDISK 2

/* Map entries (L1 and L2). 0: unallocated (L2: read the backing image, or zeros).
 * Otherwise a cluster-aligned host offset, or for L2 the ZERO marker alone. */
#define CDISK_ENTRY_ZERO 0x1ull            /* L2 only: reads zeros, hides the backing */
#define CDISK_ENTRY_OFFSET_MASK 0x00fffffffffffe00ull
#define CDISK_ENTRY_RESERVED_MASK 0xff000000000001feull

struct cdisk_header {
    char magic[8];                 /*  0 */
    uint32_t version;              /*  8 */
    uint32_t header_size;          /* 12: CDISK_HEADER_SIZE */
    uint32_t cluster_bits;         /* 16 */
    uint32_t l1_clusters;          /* 20: room reserved for the L1 table */
    uint64_t virtual_size;         /* 24: bytes, multiple of 512 */
    uint64_t l1_offset;            /* 32 */
    uint64_t incompat_features;    /* 40 */
    uint64_t compat_features;      /* 48 */
    uint64_t flags;                /* 56 */
    uint32_t backing_format;       /* 64 */
    uint32_t backing_offset;       /* 68: within the header, >= 512 */
    uint32_t backing_length;       /* 72: bytes, no NUL */
    uint32_t header_crc;           /* 76: CRC-32C of bytes 0-4095 with this field 0 */
} __attribute__((packed));

_Static_assert(sizeof(struct cdisk_header) == 80, "cdisk header layout");

#endif
