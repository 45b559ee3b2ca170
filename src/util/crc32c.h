/*
 * crc32c.h — CRC-32C (Castagnoli), the one checksum of cove's on-disk formats (the cdisk
 * header, the sections of a saved machine state). Table-driven, byte at a time: fast
 * enough for headers and state sections, which are kilobytes.
 */
#ifndef COVE_UTIL_CRC32C_H
#define COVE_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *buf, size_t len);
/* The CRC of the concatenation: crc32c_extend(crc32c(a), b) == crc32c(a || b), and
 * crc32c_extend(0, ...) == crc32c(...). */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

#endif
