/* virtio-balloon: the input is a feature choice, guest RAM contents (the rings of four
 * queues of 8 entries at RAM + q * 0x1000: descriptors, avail at +0x800, used at +0xc00)
 * and a sequence of operations: notify a queue, move the target, read the statistics,
 * write config space, reset and renegotiate. Pages the device gives back are discarded
 * for real (MADV_DONTNEED here); guard pages on both sides of guest RAM must keep their
 * pattern, so a discard outside RAM is caught even where no sanitizer would see it. */
#include <stdlib.h>
#include <sys/mman.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

static struct fuzz_guarded_ram mem __attribute__((aligned(4096)));

static void handshake(struct virtio_mmio *t, uint8_t cfg)
{
    /* cfg bits: 1 stats, 2 reporting, 4 deflate-on-OOM, 8 event idx, 16 indirect */
    uint32_t lo = (cfg & 1 ? 1u << 1 : 0) | (cfg & 2 ? 1u << 5 : 0) | (cfg & 4 ? 1u << 2 : 0) |
                  (cfg & 8 ? 1u << VIRTIO_F_RING_EVENT_IDX : 0) |
                  (cfg & 16 ? 1u << VIRTIO_F_INDIRECT_DESC : 0);
    fuzz_wr(t, VIRTIO_MMIO_STATUS, 0);
    unsigned nq = cfg & 32 ? 4 : 2 + !!(cfg & 1) + !!(cfg & 2); /* or every queue */
    fuzz_virtio_handshake(t, (1ull << VIRTIO_F_VERSION_1) | lo, nq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR); /* guest errors are expected here, by the thousand */
    fuzz_set_guards(&mem);
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, mem.ram, sizeof mem.ram);
    struct guest_ram ram = {.host = mem.ram, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct virtio_mmio *t;
    struct virtio_balloon *b;
    if (virtio_balloon_create(&p, &t, &b, NULL) < 0)
        abort();
    handshake(t, cfg);
    for (int ops = 0; in.left && ops < 1024; ops++) {
        uint8_t op = (uint8_t)fuzz_take(&in, 1);
        uint32_t value = (uint32_t)fuzz_take(&in, 4);
        struct virtio_balloon_stats st;
        switch (op & 7) {
        case 0: case 1: case 2: /* the common case: a queue notification */
            fuzz_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, (op >> 3) & 3);
            break;
        case 3:
            virtio_balloon_set_target(b, (uint64_t)value * 4096);
            break;
        case 4:
            virtio_balloon_get_stats(b, false, &st);
            if (st.freed_bytes % 4096 || st.target_bytes > st.ram_bytes)
                __builtin_trap();
            break;
        case 5:
            virtio_mmio_write(t, VIRTIO_MMIO_CONFIG + ((op >> 3) & 15), 1u << ((op >> 6) & 3), value);
            break;
        case 6: {
            uint64_t v;
            virtio_mmio_read(t, VIRTIO_MMIO_CONFIG + ((op >> 3) & 15), 4, &v);
            fuzz_wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 3);
            break;
        }
        case 7:
            handshake(t, (uint8_t)value);
            break;
        }
        fuzz_check_guards(&mem);
    }
    virtio_mmio_destroy(t);
    fuzz_check_guards(&mem);
    return 0;
}
