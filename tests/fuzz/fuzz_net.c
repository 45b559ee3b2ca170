/* virtio-net's queues (transmit above all): the input is guest RAM holding both rings and
 * their buffers, then a sequence of actions: notify the transmit or receive queue, inject
 * a frame from the back end, or rewrite a byte of RAM between steps. The handshake is
 * done by the harness so every input reaches the queue handlers. The in-memory back end
 * checks that every frame it gets has a size the device may send. With the first byte's
 * bit 3 the back end carries vnet headers with every offload (a TAP's), bits 4-6 pick the
 * offloads the driver takes, injected frames get a header from the input, and every
 * header the device passes on must be one a TAP may read: a known segmentation type
 * with a segment size, checksum offsets and header length inside the frame. */
#include <errno.h>
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
static uint8_t frame[NET_VNET_HDR_LEN + NET_FRAME_MAX];

/* A header the device handed the back end, for a frame of len bytes after it. */
static void check_hdr(const uint8_t *h, size_t len)
{
    uint16_t hdr_len = (uint16_t)(h[2] | h[3] << 8), gso_size = (uint16_t)(h[4] | h[5] << 8);
    size_t start = (size_t)(h[6] | h[7] << 8), field = start + (size_t)(h[8] | h[9] << 8);
    if (h[0] & ~1u || (h[0] & 1 && (start >= len || field + 2 > len)) || h[10] || h[11])
        __builtin_trap();
    if (h[1] != 0 && (!(h[1] == 1 || h[1] == 4) || !gso_size || hdr_len > len || !(h[0] & 1)))
        __builtin_trap();
}

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
    bool vnet = cfg & 8;
    if (net_mem_create(4, &mem) < 0)
        abort();
    if (vnet)
        net_mem_set_vnet(mem, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6);
    if (virtio_net_create(&p, mem, mac, false, &t, NULL, NULL) < 0)
        abort();

    uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << 5) | (1ull << 16);
    if (cfg & 1)
        features |= 1ull << VIRTIO_F_RING_EVENT_IDX;
    if (cfg & 2)
        features |= 1ull << VIRTIO_F_INDIRECT_DESC;
    if (cfg & 4)
        features |= 1ull << 0; /* CSUM */
    if (vnet && (cfg & 0x10))
        features |= 1ull << 1; /* GUEST_CSUM */
    if (vnet && (cfg & 0x20))
        features |= (1ull << 7) | (1ull << 8); /* GUEST_TSO4/6 */
    if (vnet && (cfg & 0x40))
        features |= (1ull << 11) | (1ull << 12); /* HOST_TSO4/6 */
    fuzz_virtio_handshake(t, features, 2);

    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        switch (op & 3) {
        case 0: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 1); break;
        case 1: fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0); break;
        case 2: {
            size_t hdr = vnet ? NET_VNET_HDR_LEN : 0;
            size_t len = (size_t)fuzz_take(&in, 2) + ((op & 4) ? 65536 - 4096 : 0);
            if (len > sizeof frame)
                len = sizeof frame;
            memset(frame, op, len);
            for (size_t i = 0; i < hdr && i < len; i++)
                frame[i] = (uint8_t)fuzz_take(&in, 1);
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
        while ((n = net_mem_take(mem, frame, sizeof frame)) != -EAGAIN) {
            int hdr = vnet ? NET_VNET_HDR_LEN : 0;
            if (n < hdr + NET_FRAME_MIN || n > hdr + NET_FRAME_MAX)
                __builtin_trap();
            if (vnet)
                check_hdr(frame, (size_t)(n - hdr));
        }
    }
    virtio_mmio_destroy(t);
    return 0;
}
