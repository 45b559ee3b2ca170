/*
 * pcie_host.h — the PCI Express host bridge of the virt board, QEMU's "gpex" in shape:
 * an ECAM configuration window (bus 0 only is populated), one 32-bit MMIO window that
 * Linux assigns BARs from, and INTA..INTD on four PLIC sources with the usual swizzle
 * (slot s, pin p -> line (s + p - 1) % 4), described by the device tree's interrupt-map.
 *
 * Functions are plugged in while the machine is built; device n sits at 00:n.0. Guest
 * accesses come from every vCPU at once: config cycles and BAR lookups take the bridge's
 * lock, the BAR access itself runs outside it (a device may block on its own lock).
 */
#ifndef COVE_MACHINE_PCIE_HOST_H
#define COVE_MACHINE_PCIE_HOST_H

#include <pthread.h>
#include <stdint.h>

#include "devices/pci/pci_function.h"

#define PCIE_MAX_DEVICES 8 /* slots 1..8 of bus 0 */

typedef void (*pcie_irq_fn)(void *opaque, unsigned source, bool level);

struct pcie_host {
    pthread_mutex_t lock;
    struct pci_function *slot[PCIE_MAX_DEVICES + 1]; /* [0]: empty */
    struct pcie_intx {
        struct pcie_host *host;
        unsigned slot;
    } intx[PCIE_MAX_DEVICES + 1];
    pthread_mutex_t irq_lock;
    unsigned line_count[4]; /* functions holding INTA+n high */
    pcie_irq_fn set_irq;    /* PLIC source, level */
    void *irq_opaque;
};

void pcie_host_init(struct pcie_host *h, pcie_irq_fn set_irq, void *irq_opaque);
void pcie_host_fini(struct pcie_host *h);
/* Plugs f into the next free slot; -ENOSPC when full. */
int pcie_host_plug(struct pcie_host *h, struct pci_function *f, unsigned *slot_out);

/* machine_bus_ops for the ECAM window and the MMIO window (offsets from their bases). */
int pcie_host_ecam_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int pcie_host_ecam_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);
int pcie_host_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int pcie_host_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

#endif
