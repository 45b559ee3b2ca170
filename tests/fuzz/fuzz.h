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

/* The input's next bytes as guest RAM: a 2-byte length, then that many bytes (at most what
 * is left) at the start of ram; the rest of ram is zero. */
static inline void fuzz_load_ram(struct fuzz_input *in, uint8_t *ram, size_t size)
{
    size_t n = (size_t)fuzz_take(in, 2);
    if (n > in->left)
        n = in->left;
    if (n > size)
        n = size;
    memset(ram, 0, size);
    memcpy(ram, in->p, n);
    in->p += n;
    in->left -= n;
}

/* Any host pointer the device got must lie inside guest RAM: the property under test. */
static inline void fuzz_check_inside(const struct guest_ram *ram, const void *p, size_t len)
{
    const uint8_t *b = p;
    if (b < ram->host || b > ram->host + ram->size || len > (size_t)(ram->host + ram->size - b))
        __builtin_trap();
}

/* Guest RAM with a guard page on each side: a device write just outside RAM changes a
 * guard's pattern, caught by fuzz_check_guards even where no sanitizer would see it (the
 * whole block is one object, so ASan alone misses it). */
#define FUZZ_GUARD 4096
#define FUZZ_GUARD_BYTE 0xa5

struct fuzz_guarded_ram {
    uint8_t before[FUZZ_GUARD];
    uint8_t ram[FUZZ_RAM_SIZE];
    uint8_t after[FUZZ_GUARD];
};

static inline void fuzz_set_guards(struct fuzz_guarded_ram *m)
{
    memset(m->before, FUZZ_GUARD_BYTE, FUZZ_GUARD);
    memset(m->after, FUZZ_GUARD_BYTE, FUZZ_GUARD);
}

static inline void fuzz_check_guards(const struct fuzz_guarded_ram *m)
{
    for (size_t i = 0; i < FUZZ_GUARD; i++)
        if (m->before[i] != FUZZ_GUARD_BYTE || m->after[i] != FUZZ_GUARD_BYTE)
            __builtin_trap();
}

#endif
