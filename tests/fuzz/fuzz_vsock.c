/* virtio-vsock's packet handling: the input is guest RAM holding the three rings and their
 * buffers, then a sequence of actions: notify the transmit, receive or event queue, or
 * rewrite a byte of RAM between steps (the guest racing the device). Without an I/O
 * thread the device has no host side, so every packet exercises the parser, the checks
 * and the reset path; every buffer the device touches must lie in guest RAM. */
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR); /* guest errors are expected here */
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, ram_buf, sizeof ram_buf);

    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct virtio_mmio *t;
    if (virtio_vsock_create(&p, 3, NULL, &t, NULL) < 0)
        abort();

    uint64_t features = (1ull << VIRTIO_F_VERSION_1) | 1;
    if (cfg & 1)
        features |= 1ull << VIRTIO_F_RING_EVENT_IDX;
    if (cfg & 2)
        features |= 1ull << VIRTIO_F_INDIRECT_DESC;
    fuzz_virtio_handshake(t, features, 3);

    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        switch (op & 3) {
        case 0: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1); break;
        case 1: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0); break;
        case 2: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, (op & 4) ? 2 : 0); break;
        case 3: {
            uint16_t at = (uint16_t)fuzz_take(&in, 2);
            ram_buf[at % FUZZ_RAM_SIZE] = (uint8_t)fuzz_take(&in, 1);
            break;
        }
        }
        if (op & 8) /* a driver reset now and then, with connections' state in flight */
            fuzz_wr(t, VIRTIO_MMIO_STATUS, 0);
    }
    virtio_mmio_destroy(t);
    return 0;
}
