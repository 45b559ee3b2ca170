#include "machine/bus.h"

#include <errno.h>
#include <inttypes.h>

#include "util/log.h"

int bus_register(struct mmio_bus *bus, uint64_t base, uint64_t size,
                 const struct machine_bus_ops *ops, void *opaque)
{
    if (!size || base + size < base || !ops)
        return -EINVAL;
    if (bus->count == BUS_MAX_REGIONS)
        return -ENOSPC;
    unsigned pos = 0;
    while (pos < bus->count && bus->regions[pos].base < base)
        pos++;
    /* Neighbours are the only regions that can overlap in a sorted, disjoint table. */
    if (pos > 0) {
        const struct bus_region *prev = &bus->regions[pos - 1];
        if (prev->base + prev->size > base)
            return -EEXIST;
    }
    if (pos < bus->count && base + size > bus->regions[pos].base)
        return -EEXIST;
    for (unsigned i = bus->count; i > pos; i--)
        bus->regions[i] = bus->regions[i - 1];
    bus->regions[pos] = (struct bus_region){base, size, ops, opaque};
    bus->count++;
    return 0;
}

static const struct bus_region *bus_find(const struct mmio_bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const struct bus_region *r = &bus->regions[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

void bus_dispatch(const struct mmio_bus *bus, uint64_t addr, uint8_t len, bool is_write,
                  uint64_t *data, bool *fault)
{
    const struct bus_region *r = bus_find(bus, addr);
    *fault = false;
    if (!r || len == 0 || len > 8 || addr - r->base > r->size - len) {
        log_debug("mmio %s of %u bytes at 0x%" PRIx64 " hits no device",
                  is_write ? "write" : "read", len, addr);
        *fault = true;
        if (!is_write)
            *data = 0;
        return;
    }
    uint64_t off = addr - r->base;
    int rc;
    if (is_write) {
        uint64_t v = len == 8 ? *data : *data & ((1ull << (len * 8)) - 1);
        rc = r->ops->write ? r->ops->write(r->opaque, off, len, v) : -EACCES;
    } else {
        uint64_t v = 0;
        rc = r->ops->read ? r->ops->read(r->opaque, off, len, &v) : -EACCES;
        *data = len == 8 ? v : v & ((1ull << (len * 8)) - 1);
    }
    if (rc < 0) {
        log_debug("mmio %s of %u bytes at 0x%" PRIx64 " refused by the device (%d)",
                  is_write ? "write" : "read", len, addr, rc);
        *fault = true;
    }
}
