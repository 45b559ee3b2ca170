/*
 * size.h — parsing of user-given sizes ("512M", "2G", "1048576").
 */
#ifndef COVE_SIZE_H
#define COVE_SIZE_H

#include <stdint.h>

/* Parses a size with an optional K/M/G/T suffix (binary units, optional trailing "iB"
 * or "B"). A bare number is bytes unless default_unit says otherwise (e.g. 1<<20 for
 * "--memory 512"). Returns 0 or -EINVAL / -ERANGE. */
int size_parse(const char *text, uint64_t default_unit, uint64_t *out);

#endif
