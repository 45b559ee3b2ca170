/*
 * cove/size.h — sizes as people write and read them: "512M", "2G", "1.5 GiB".
 */
#ifndef COVE_SIZE_H
#define COVE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parses a whole number with an optional K/M/G/T suffix (binary units; "iB" or "B" may
 * follow). A bare number counts in default_unit (1: bytes; 1 << 20 for "--memory 512").
 * Returns 0, -EINVAL (not a size) or -ERANGE (above 2^64-1 bytes). */
int cove_size_parse(const char *text, uint64_t default_unit, uint64_t *out);

/* For messages and reports: "512 bytes", "8 GiB", "1.5 GiB" (one decimal unless whole). */
void cove_size_format(uint64_t bytes, char *buf, size_t len);

/* For tables: "512B", "8.0G", "1.5G", "12K" (at most 5 characters below 1 EiB). */
void cove_size_format_short(uint64_t bytes, char *buf, size_t len);

#endif
