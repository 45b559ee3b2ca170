/*
 * fuzz.h — shared bits of the libFuzzer targets: a small guest RAM and a byte reader.
 * The same targets are built without libFuzzer as replay tests (replay.c) that run every
 * saved input under tests/fuzz/corpus/<target>/.
 */
#ifndef COVE_FUZZ_H
#define COVE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/guest_ram.h"

#define FUZZ_RAM_BASE 0x80000000ull
#define FUZZ_RAM_SIZE 0x10000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_input {
    const uint8_t *p;
    size_t left;
};

static inline uint64_t fuzz_take(struct fuzz_input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && in->left; i++, in->p++, in->left--)
        v |= (uint64_t)*in->p << (8 * i);
    return v;
}

/* Any host pointer the device got must lie inside guest RAM: the property under test. */
static inline void fuzz_check_inside(const struct guest_ram *ram, const void *p, size_t len)
{
    const uint8_t *b = p;
    if (b < ram->host || b > ram->host + ram->size || len > (size_t)(ram->host + ram->size - b))
        __builtin_trap();
}

#endif
