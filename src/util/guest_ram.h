/*
 * guest_ram.h — the one checked accessor of guest DRAM.
 *
 * Every access the VMM makes to guest memory on the guest's behalf (boot loaders, SBI
 * DBCN buffers, legacy SBI hart masks, virtqueues) goes through guest_ram_ptr(), which
 * returns a host pointer only when the whole range lies inside DRAM. Ranges come from
 * the guest or from files, so the arithmetic is done without overflow. A leaf: the
 * machine owns the RAM, the devices below it reach it only through this view.
 */
#ifndef COVE_UTIL_GUEST_RAM_H
#define COVE_UTIL_GUEST_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_ram {
    uint8_t *host;
    uint64_t base; /* guest-physical address of host[0] */
    uint64_t size;
};

static inline bool guest_ram_contains(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
    if (gpa < ram->base)
        return false;
    uint64_t off = gpa - ram->base;
    return off <= ram->size && len <= ram->size - off;
}

/* Host pointer for [gpa, gpa+len) or NULL when any byte of it is outside DRAM. */
static inline void *guest_ram_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
    if (!guest_ram_contains(ram, gpa, len))
        return NULL;
    return ram->host + (gpa - ram->base);
}

static inline uint64_t guest_ram_end(const struct guest_ram *ram)
{
    return ram->base + ram->size;
}

#endif
