/*
 * The PCIe side of the board: the host bridge (ECAM at 0x3000_0000, BARs in the window at
 * 0x4000_0000, INTA..INTD on PLIC sources 32..35) and one NVMe controller on it, 00:01.0,
 * whose namespaces 1, 2... are the configuration's NVMe disks in order. Machines without
 * a PCI device have neither the bridge nor its device-tree node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iothread.h"
#include "devices/nvme/nvme.h"
#include "machine/machine_internal.h"
#include "machine/pcie_host.h"

_Static_assert(MACHINE_MAX_NVME <= NVME_MAX_NAMESPACES, "NVMe namespaces");
_Static_assert(VIRT_IRQ_PCIE_FIRST + 4 <= PLIC_NDEV, "PCIe INTx lines");

static void pcie_irq(void *opaque, unsigned source, bool level)
{
    struct machine *m = opaque;
    plic_set_level(m->plic, source, level);
}

static int add_bridge(struct machine *m, struct cove_error *err)
{
    static const struct machine_bus_ops ecam_ops = {pcie_host_ecam_read, pcie_host_ecam_write};
    static const struct machine_bus_ops mmio_ops = {pcie_host_mmio_read, pcie_host_mmio_write};
    if (!(m->pcie = malloc(sizeof *m->pcie)))
        return cove_error_set(err, -ENOMEM, "out of memory");
    pcie_host_init(m->pcie, pcie_irq, m);
    int rc = machine_bus_register(m, VIRT_PCIE_ECAM_BASE, VIRT_PCIE_ECAM_SIZE, &ecam_ops, m->pcie);
    if (rc == 0)
        rc = machine_bus_register(m, VIRT_PCIE_MMIO_BASE, VIRT_PCIE_MMIO_SIZE, &mmio_ops, m->pcie);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot place the PCIe host bridge: %s", strerror(-rc));
    m->fdt_params.pcie = true;
    return 0;
}

int machine_add_pci_devices(struct machine *m, const struct machine_config *cfg,
                            struct cove_error *err)
{
    unsigned count = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        count += cfg->disks[i].nvme;
    if (count == 0)
        return 0;
    if (count > MACHINE_MAX_NVME)
        return cove_error_set(err, -EINVAL, "too many NVMe disks (%u); a VM has at most %u",
                              count, MACHINE_MAX_NVME);
    int rc;
    if (!m->io && (rc = iothread_create(&m->io, err)) < 0)
        return rc;
    if ((rc = add_bridge(m, err)) < 0)
        return rc;
    struct block_attachment *disks[MACHINE_MAX_NVME];
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++) {
        const struct machine_disk *d = &cfg->disks[i];
        if (d->nvme && (rc = machine_open_disk(d, &disks[n], err)) == 0)
            n++;
    }
    if (rc < 0) {
        while (n)
            block_close(disks[--n]);
        return rc;
    }
    if ((rc = nvme_create(&m->ram, m->io, disks, n, &m->nvme, err)) < 0)
        return rc;
    if ((rc = pcie_host_plug(m->pcie, nvme_pci_function(m->nvme), NULL)) < 0)
        return cove_error_set(err, rc, "cannot plug the NVMe controller: %s", strerror(-rc));
    rc = machine_rewrite_fdt(m);
    return rc < 0 ? cove_error_set(err, rc, "cannot build the device tree: %s", strerror(-rc)) : 0;
}

void machine_remove_pci_devices(struct machine *m)
{
    nvme_destroy(m->nvme);
    m->nvme = NULL;
    if (m->pcie) {
        pcie_host_fini(m->pcie);
        free(m->pcie);
        m->pcie = NULL;
    }
}
