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

#endif
