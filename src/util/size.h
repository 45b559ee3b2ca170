/*
 * size.h — the library's own name for the size parser of <cove/size.h>, for code not yet
 * switched to the public name (cove run's options). One parser: this forwards to it.
 */
#ifndef COVE_UTIL_SIZE_H
#define COVE_UTIL_SIZE_H

#include <cove/size.h>

static inline int size_parse(const char *text, uint64_t default_unit, uint64_t *out)
{
    return cove_size_parse(text, default_unit, out);
}

#endif
