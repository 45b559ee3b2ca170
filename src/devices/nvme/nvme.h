/*
 * nvme.h — an NVM Express 1.4 controller on a PCI Express function with up to
 * NVME_MAX_NAMESPACES namespaces (NSIDs 1..n, all active), each over a block attachment of
 * its own: its own size and read-only flag.
 *
 * BAR0 holds the controller registers and the doorbells (stride 4). The admin queue and
 * up to NVME_MAX_IO_QUEUES I/O queue pairs run on the I/O thread: a doorbell write from a
 * vCPU only records the new tail and signals an eventfd, so disk I/O never runs on a vCPU.
 * Interrupts are INTx (pin A), level: high while an interrupt-enabled completion queue
 * holds entries the host has not consumed and INTMS does not mask vector 0.
 *
 * Guest input is hostile: queue sizes, queue and PRP addresses (each translated through
 * the guest RAM view, length checked), doorbell values and command fields are checked;
 * a bad command completes with an error status, bad admin queue registers set CSTS.CFS
 * (controller fatal) until the host resets the controller; bad doorbells are ignored.
 */
#ifndef COVE_DEVICES_NVME_H
#define COVE_DEVICES_NVME_H

#include <cove/error.h>

#include "backends/block.h"
#include "devices/pci/pci_function.h"
#include "util/guest_ram.h"

#define NVME_MAX_IO_QUEUES 8
#define NVME_BAR0_SIZE 0x4000u
#define NVME_MAX_NAMESPACES 8

struct iothread;
struct nvme_ctrl;

/* io NULL: commands run in the vCPU thread that rings the doorbell (tests, fuzzing).
 * disks[i] is namespace i + 1 (1 <= ndisks <= NVME_MAX_NAMESPACES); the controller owns
 * them from here on (closed on failure as well). */
int nvme_create(const struct guest_ram *ram, struct iothread *io,
                struct block_attachment *const *disks, unsigned ndisks, struct nvme_ctrl **out,
                struct cove_error *err);
/* Once no vCPU can reach the device; before the I/O thread goes. */
void nvme_destroy(struct nvme_ctrl *c);

/* The PCI function to plug into a host bridge. */
struct pci_function *nvme_pci_function(struct nvme_ctrl *c);

#endif
