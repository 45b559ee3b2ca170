/* The virtio-mmio register interface: the input is guest RAM contents followed by a
 * sequence of MMIO reads and writes against a virtio-blk (in-memory disk) or virtio-rng
 * transport, with queue notifications handled synchronously. */
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR); /* guest errors are expected here, by the thousand */
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, ram_buf, sizeof ram_buf);
    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct virtio_mmio *t;
    int r;
    if (cfg & 1) {
        r = virtio_rng_create(&p, &t, NULL);
    } else {
        struct block_attachment *disk;
        if (block_mem_create(16 * 1024, cfg & 2, &disk) < 0)
            abort();
        r = virtio_blk_create(&p, disk, &t, NULL);
    }
    if (r < 0)
        abort();
    static const unsigned lens[4] = {1, 2, 4, 8};
    for (int ops = 0; in.left && ops < 4096; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        uint64_t off = fuzz_take(&in, 2) & 0x1ff;
        unsigned len = lens[(op >> 1) & 3];
        if (op & 8) /* most registers are 32-bit and aligned: favour those */
            off &= 0xfc, len = 4;
        uint64_t value = fuzz_take(&in, 4);
        if (op & 16) /* an address inside RAM, for the queue registers */
            value = (FUZZ_RAM_BASE + (value & (FUZZ_RAM_SIZE - 1))) >> (op & 32 ? 32 : 0);
        if (op & 1) {
            virtio_mmio_write(t, off, len, value);
        } else {
            uint64_t v;
            virtio_mmio_read(t, off, len, &v);
        }
    }
    virtio_mmio_destroy(t);
    return 0;
}
