/* virtio-net's queues (transmit above all): the input is guest RAM holding both rings and
 * their buffers, then a sequence of actions: notify the transmit or receive queue, inject
 * a frame from the back end, or rewrite a byte of RAM between steps. The handshake is
 * done by the harness so every input reaches the queue handlers. The in-memory back end
 * checks that every frame it gets has a size the device may send. */
#include <errno.h>
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
static uint8_t frame[NET_FRAME_MAX];

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
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                  VIRTIO_STATUS_FEATURES_OK);
    queue_setup(t, 0);
    queue_setup(t, 1);
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        switch (op & 3) {
        case 0: wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1); break;
        case 1: wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0); break;
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
