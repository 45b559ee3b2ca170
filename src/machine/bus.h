/*
 * bus.h — the MMIO bus: guest-physical windows mapped to device callbacks.
 *
 * Registration happens while the machine is built (single-threaded); dispatch runs on
 * every vCPU thread at once and only reads the table, so it takes no lock. An access
 * that hits no device completes as an access fault in the guest.
 */
#ifndef COVE_MACHINE_BUS_H
#define COVE_MACHINE_BUS_H

#include <stdint.h>

#include "hv/hv.h"
#include "machine/machine.h"

#define BUS_MAX_REGIONS 32

struct bus_region {
    uint64_t base, size;
    const struct machine_bus_ops *ops;
    void *opaque;
};

struct mmio_bus {
    struct bus_region regions[BUS_MAX_REGIONS]; /* sorted by base */
    unsigned count;
};

/* -EINVAL for an empty or wrapping window, -EEXIST on overlap, -ENOSPC when full. */
int bus_register(struct mmio_bus *bus, uint64_t base, uint64_t size,
                 const struct machine_bus_ops *ops, void *opaque);

/* Completes an HV_EXIT_MMIO: fills mmio->data for reads, or sets mmio->fault. */
void bus_dispatch(const struct mmio_bus *bus, uint64_t addr, uint8_t len, bool is_write,
                  uint64_t *data, bool *fault);

#endif
