/* virtio-net's queues (transmit above all): the input is guest RAM holding both rings and
 * their buffers, then a sequence of actions: notify the transmit or receive queue, inject
 * a frame from the back end, or rewrite a byte of RAM between steps. The handshake is
 * done by the harness so every input reaches the queue handlers. The in-memory back end
 * checks that every frame it gets has a size the device may send. */
#include <errno.h>
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
static uint8_t frame[NET_FRAME_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR); /* guest errors are expected here */
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, ram_buf, sizeof ram_buf);

    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct net_attachment *mem;
    struct virtio_mmio *t;
    static const uint8_t mac[NET_MAC_LEN] = {0x52, 0x54, 0, 1, 2, 3};
    if (net_mem_create(4, &mem) < 0 || virtio_net_create(&p, mem, mac, false, &t, NULL, NULL) < 0)
        abort();

    uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << 5) | (1ull << 16);
    if (cfg & 1)
        features |= 1ull << VIRTIO_F_RING_EVENT_IDX;
    if (cfg & 2)
        features |= 1ull << VIRTIO_F_INDIRECT_DESC;
    if (cfg & 4)
        features |= 1ull << 0; /* CSUM */
    fuzz_virtio_handshake(t, features, 2);

    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        switch (op & 3) {
        case 0: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1); break;
        case 1: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0); break;
        case 2: {
            size_t len = (size_t)fuzz_take(&in, 2) + ((op & 4) ? 65536 - 4096 : 0);
            if (len > sizeof frame)
                len = sizeof frame;
            memset(frame, op, len);
            net_mem_inject(mem, frame, len);
            break;
        }
        case 3: {
            uint16_t at = (uint16_t)fuzz_take(&in, 2);
            ram_buf[at % FUZZ_RAM_SIZE] = (uint8_t)fuzz_take(&in, 1);
            break;
        }
        }
        /* What reached the back end must be a frame the device is allowed to send. */
        int n;
        while ((n = net_mem_take(mem, frame, sizeof frame)) != -EAGAIN)
            if (n < NET_FRAME_MIN || n > NET_FRAME_MAX)
                __builtin_trap();
    }
    virtio_mmio_destroy(t);
    return 0;
}
