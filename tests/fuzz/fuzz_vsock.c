/* virtio-vsock's packet handling: the input is guest RAM holding the three rings and their
 * buffers, then a sequence of actions: notify the transmit, receive or event queue, or
 * rewrite a byte of RAM between steps (the guest racing the device). Without an I/O
 * thread the device has no host side, so every packet exercises the parser, the checks
 * and the reset path; every buffer the device touches must lie in guest RAM. */
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));

static void set_irq(void *opaque, bool level) {}

static void wr(struct virtio_mmio *t, uint64_t off, uint32_t v) { virtio_mmio_write(t, off, 4, v); }

/* Queue q: descriptors at q * 0x1000, avail at +0x800, used at +0xc00, 8 entries. */
static void queue_setup(struct virtio_mmio *t, unsigned q)
{
    uint64_t base = FUZZ_RAM_BASE + q * 0x1000ull;
    wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
    wr(t, VIRTIO_MMIO_QUEUE_NUM, 8);
    wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
    wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(base >> 32));
    wr(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 0x800));
    wr(t, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((base + 0x800) >> 32));
    wr(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 0xc00));
    wr(t, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((base + 0xc00) >> 32));
    wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR); /* guest errors are expected here */
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    size_t ram_bytes = (size_t)fuzz_take(&in, 2);
    if (ram_bytes > in.left)
        ram_bytes = in.left;
    memset(ram_buf, 0, sizeof ram_buf);
    memcpy(ram_buf, in.p, ram_bytes);
    in.p += ram_bytes;
    in.left -= ram_bytes;

    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = set_irq};
    struct virtio_mmio *t;
    if (virtio_vsock_create(&p, 3, NULL, &t, NULL) < 0)
        abort();

    uint64_t features = (1ull << VIRTIO_F_VERSION_1) | 1;
    if (cfg & 1)
        features |= 1ull << VIRTIO_F_RING_EVENT_IDX;
    if (cfg & 2)
        features |= 1ull << VIRTIO_F_INDIRECT_DESC;
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                  VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 3; q++)
        queue_setup(t, q);
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        switch (op & 3) {
        case 0: wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1); break;
        case 1: wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0); break;
        case 2: wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, (op & 4) ? 2 : 0); break;
        case 3: {
            uint16_t at = (uint16_t)fuzz_take(&in, 2);
            ram_buf[at % FUZZ_RAM_SIZE] = (uint8_t)fuzz_take(&in, 1);
            break;
        }
        }
        if (op & 8) /* a driver reset now and then, with connections' state in flight */
            wr(t, VIRTIO_MMIO_STATUS, 0);
    }
    virtio_mmio_destroy(t);
    return 0;
}
