/* virtio-gpu and virtio-input: the input is a feature choice, guest RAM contents (the
 * rings of the gpu's two queues at RAM + q * 0x1000 and of the tablet's two at RAM +
 * 0x2000 + q * 0x1000, 8 entries each: descriptors, avail at +0x800, used at +0xc00) and a
 * sequence of operations: notify a queue, send host input events, ask for a display size,
 * read and write config space, renegotiate. Guard pages on both sides of guest RAM must
 * keep their pattern; the gpu's host memory must stay within its bound. */
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static struct fuzz_guarded_ram mem __attribute__((aligned(4096)));

static void handshake(struct virtio_mmio *t, uint8_t cfg, unsigned slot0, uint32_t dev_features)
{
    uint32_t lo = (cfg & 1 ? 1u << VIRTIO_F_RING_EVENT_IDX : 0) |
                  (cfg & 2 ? 1u << VIRTIO_F_INDIRECT_DESC : 0) | (dev_features & (cfg >> 2));
    fuzz_wr(t, VIRTIO_MMIO_STATUS, 0);
    fuzz_virtio_handshake_from(t, (1ull << VIRTIO_F_VERSION_1) | lo, 2, slot0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR);
    fuzz_set_guards(&mem);
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, mem.ram, sizeof mem.ram);
    struct guest_ram ram = {.host = mem.ram, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct virtio_mmio *gt, *it;
    struct virtio_gpu *g;
    struct virtio_input *tab;
    if (virtio_gpu_create(&p, 64, 48, &gt, &g, NULL) < 0 ||
        virtio_input_create(&p, VIRTIO_INPUT_TABLET, &it, &tab, NULL) < 0)
        abort();
    handshake(gt, cfg, 0, 2 /* EDID */);
    handshake(it, cfg, 2, 0);
    for (int ops = 0; in.left && ops < 256; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        uint32_t value = (uint32_t)fuzz_take(&in, 4);
        struct virtio_mmio *t = op & 0x80 ? it : gt;
        switch (op & 7) {
        case 0: case 1: case 2: /* the common case: a gpu notification */
            fuzz_wr(gt, VIRTIO_MMIO_QUEUE_NOTIFY, (op >> 3) & 1);
            break;
        case 3:
            fuzz_wr(it, VIRTIO_MMIO_QUEUE_NOTIFY, (op >> 3) & 1);
            break;
        case 4: {
            struct virtio_input_event ev = {(uint16_t)(value & 3), (uint16_t)(value >> 2 & 0x1ff),
                                            (int32_t)(value >> 11)};
            virtio_input_send(tab, &ev, 1);
            break;
        }
        case 5:
            virtio_gpu_request_size(g, value & 0xffff, value >> 16);
            break;
        case 6:
            virtio_mmio_write(t, VIRTIO_MMIO_CONFIG + ((op >> 3) & 15), 1u << ((op >> 5) & 3) % 3,
                              value);
            break;
        case 7: {
            uint64_t v;
            virtio_mmio_read(t, VIRTIO_MMIO_CONFIG + ((op >> 3) & 15), 4, &v);
            fuzz_wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 3);
            if (value & 1)
                handshake(t, (uint8_t)(value >> 8), t == gt ? 0 : 2, t == gt ? 2 : 0);
            break;
        }
        }
        struct virtio_gpu_state st;
        virtio_gpu_get_state(g, &st);
        if (st.host_bytes > VIRTIO_GPU_MAX_HOST_BYTES)
            __builtin_trap();
        fuzz_check_guards(&mem);
    }
    virtio_mmio_destroy(gt);
    virtio_mmio_destroy(it);
    fuzz_check_guards(&mem);
    return 0;
}
