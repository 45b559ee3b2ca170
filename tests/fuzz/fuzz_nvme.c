/* The NVMe controller as a hostile driver sees it: the input is guest RAM contents (queues,
 * commands, PRP lists, data) followed by a sequence of PCI config accesses, controller
 * register accesses and doorbells. Commands run synchronously in the doorbell write. The
 * first byte: bit 0 a read-only disk, bit 1 a prelude that enables the controller with
 * the admin queues at RAM+0 (SQ, 16 entries) and RAM+0x1000 (CQ), so that commands in the
 * RAM image run as soon as a doorbell rings, bit 2 a second namespace (NSID 2, 32 KiB, of
 * another size than NSID 1's 64 KiB), bit 3 that one read-only. */
#include <stdlib.h>

#include "devices/nvme/nvme.h"
#include "fuzz.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));

static void set_intx(void *opaque, bool level) {}

static void reg_write(struct pci_function *f, uint64_t off, unsigned len, uint64_t v)
{
    f->ops->bar_write(f->dev, 0, off, len, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, ram_buf, sizeof ram_buf);
    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct block_attachment *disks[2];
    unsigned ns = cfg & 4 ? 2 : 1;
    struct nvme_ctrl *c;
    if (block_mem_create(64 * 1024, cfg & 1, &disks[0]) < 0 ||
        (ns == 2 && block_mem_create(32 * 1024, cfg & 8, &disks[1]) < 0) ||
        nvme_create(&ram, NULL, disks, ns, &c, NULL) < 0)
        abort();
    struct pci_function *f = nvme_pci_function(c);
    f->set_intx = set_intx;
    if (cfg & 2) {
        pci_function_config_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        reg_write(f, 0x24, 4, 0x000f000f);
        reg_write(f, 0x28, 8, FUZZ_RAM_BASE);
        reg_write(f, 0x30, 8, FUZZ_RAM_BASE + 0x1000);
        reg_write(f, 0x14, 4, 1 | 6 << 16 | 4 << 20);
    }
    static const unsigned lens[4] = {1, 2, 4, 8};
    for (int ops = 0; in.left && ops < 1024; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        uint64_t off = fuzz_take(&in, 2);
        unsigned len = lens[(op >> 2) & 3];
        uint64_t value = fuzz_take(&in, 4);
        if (op & 16) /* an address inside RAM, for ASQ/ACQ */
            value = FUZZ_RAM_BASE + (value & (FUZZ_RAM_SIZE - 1));
        uint64_t v;
        switch (op & 3) {
        case 0: /* a register; mostly aligned dwords */
            f->ops->bar_write(f->dev, 0, op & 32 ? off % NVME_BAR0_SIZE : off & 0x3c,
                              op & 32 ? len : 4, value);
            break;
        case 1: /* a doorbell: queues 0..15, SQ tail or CQ head */
            reg_write(f, 0x1000 + (off & 0x7f) * 4, 4, value & (op & 64 ? 0xffff : 0x1f));
            break;
        case 2:
            pci_function_config_write(f, off & 0xfff, len > 4 ? 4 : len, (uint32_t)value);
            break;
        default:
            f->ops->bar_read(f->dev, 0, off % NVME_BAR0_SIZE, len, &v);
            pci_function_config_read(f, off & 0xfff, len > 4 ? 4 : len);
            break;
        }
    }
    nvme_destroy(c);
    return 0;
}
