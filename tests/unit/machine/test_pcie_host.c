/* The PCIe host bridge: ECAM decoding (absent functions read all ones), BAR sizing and
 * BAR dispatch through the MMIO window, and INTx lines shared between slots (wired-OR)
 * with the swizzle the device tree describes. An NVMe controller is the function. */
#include <stdlib.h>

#include "../test.h"
#include "devices/nvme/nvme.h"
#include "machine/memmap.h"
#include "machine/pcie_host.h"

static int levels[64];

static void set_irq(void *opaque, unsigned source, bool level)
{
    if (source < 64)
        levels[source] += level ? 1 : -1;
}

static uint64_t ecam(struct pcie_host *h, unsigned dev, unsigned reg, unsigned len)
{
    uint64_t v = 0;
    pcie_host_ecam_read(h, (uint64_t)dev << 15 | reg, len, &v);
    return v;
}

static void ecam_w(struct pcie_host *h, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
    pcie_host_ecam_write(h, (uint64_t)dev << 15 | reg, len, v);
}

TEST(bridge)
{
    static uint8_t ram_host[1 << 16];
    struct guest_ram ram = {ram_host, 0x80000000, sizeof ram_host};
    struct pcie_host h;
    pcie_host_init(&h, set_irq, NULL);
    struct nvme_ctrl *c[5];
    struct block_attachment *d;
    for (unsigned i = 0; i < 5; i++) {
        REQUIRE(block_mem_create(1 << 20, false, &d) == 0);
        REQUIRE(nvme_create(&ram, NULL, &d, 1, &c[i], NULL) == 0);
        unsigned slot = 0;
        REQUIRE(pcie_host_plug(&h, nvme_pci_function(c[i]), &slot) == 0);
        CHECK_EQ_U64(slot, i + 1);
    }
    CHECK_EQ_U64(ecam(&h, 0, 0, 4), 0xffffffff);  /* no host bridge function */
    CHECK_EQ_U64(ecam(&h, 1, 0, 4), 0x00101b36);
    CHECK_EQ_U64(ecam(&h, 1, 0, 2), 0x1b36);
    CHECK_EQ_U64(ecam(&h, 6, 0, 4), 0xffffffff);  /* empty slot */
    CHECK_EQ_U64(ecam(&h, 31, 0, 4), 0xffffffff);
    uint64_t v = 0;
    pcie_host_ecam_read(&h, 1ull << 20 | 1 << 15, 4, &v); /* bus 1 */
    CHECK_EQ_U64(v, 0xffffffff);
    pcie_host_ecam_read(&h, 1 << 15 | 1 << 12, 4, &v); /* function 1 */
    CHECK_EQ_U64(v, 0xffffffff);
    CHECK_EQ_U64(ecam(&h, 1, 0x3c, 1), 33);       /* Interrupt Line: slot 1 INTA */
    /* Size BAR0 and place it; the window finds it only with memory decoding on. */
    ecam_w(&h, 2, 0x10, 4, 0xffffffff);
    ecam_w(&h, 2, 0x14, 4, 0xffffffff);
    CHECK_EQ_U64(ecam(&h, 2, 0x10, 4), 0xffffc004);
    ecam_w(&h, 2, 0x10, 4, (uint32_t)VIRT_PCIE_MMIO_BASE + 0x8000);
    ecam_w(&h, 2, 0x14, 4, 0);
    CHECK(pcie_host_mmio_read(&h, 0x8008, 4, &v) < 0);
    ecam_w(&h, 2, 0x04, 2, PCI_COMMAND_MEMORY);
    CHECK(pcie_host_mmio_read(&h, 0x8008, 4, &v) == 0);
    CHECK_EQ_U64(v, 0x00010400);                  /* NVMe VS */
    CHECK(pcie_host_mmio_read(&h, 0x8000 + NVME_BAR0_SIZE - 4, 8, &v) < 0); /* straddles */
    CHECK(pcie_host_mmio_read(&h, 0x4000, 4, &v) < 0);                      /* nothing */
    CHECK(pcie_host_mmio_write(&h, 0x8000 + NVME_BAR0_SIZE, 4, 0) < 0);
    /* INTx: slots 1 and 5 share INTA's line 33, slot 2 has 34. */
    pci_function_set_intx(nvme_pci_function(c[0]), true);
    pci_function_set_intx(nvme_pci_function(c[4]), true);
    CHECK_EQ_U64(levels[VIRT_IRQ_PCIE_FIRST + 1], 1);
    pci_function_set_intx(nvme_pci_function(c[0]), false);
    CHECK_EQ_U64(levels[VIRT_IRQ_PCIE_FIRST + 1], 1); /* slot 5 still holds it */
    pci_function_set_intx(nvme_pci_function(c[4]), false);
    CHECK_EQ_U64(levels[VIRT_IRQ_PCIE_FIRST + 1], 0);
    pci_function_set_intx(nvme_pci_function(c[1]), true);
    CHECK_EQ_U64(levels[VIRT_IRQ_PCIE_FIRST + 2], 1);
    pci_function_set_intx(nvme_pci_function(c[1]), false);
    for (unsigned i = 0; i < 5; i++)
        nvme_destroy(c[i]);
    pcie_host_fini(&h);
}

int main(void)
{
    RUN(bridge);
    return test_summary();
}
