/* Restoring a virtio-mmio transport from a saved state (src/devices/virtio/mmio_state.c),
 * and the state file parser (src/util/state_format.c). A state file comes from disk and
 * whoever can write the bundle may have crafted it: whatever its bytes, the restored
 * queues must stay inside guest RAM, and the device must then serve them as safely as
 * queues a guest set up. The input is one byte of settings (virtio-rng or virtio-blk), the
 * guest RAM contents (2-byte length), then the transport's saved payload. */
#include <stdlib.h>

#include "devices/virtio/virtio_devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"
#include "util/state_format.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct state_file f;
    struct cove_error err;
    if (state_file_parse(data, size, "fuzz", &f, &err) == 0) { /* walk what it accepted */
        char name[STATE_NAME_MAX + 1];
        struct state_reader r;
        uint32_t version;
        for (uint32_t i = 0; state_file_section_at(&f, i, name) == 0; i++)
            if (state_file_section(&f, name, &version, &r) != 0 || r.len > size)
                __builtin_trap();
    }
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    fuzz_load_ram(&in, ram_buf, sizeof ram_buf);
    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};
    struct virtio_mmio_params p = {.ram = &ram, .set_irq = fuzz_set_irq};
    struct virtio_mmio *t;
    int rc;
    if (cfg & 1) {
        rc = virtio_rng_create(&p, &t, NULL);
    } else {
        struct block_attachment *disk;
        if (block_mem_create(16 * 1024, cfg & 2, &disk) < 0)
            abort();
        rc = virtio_blk_create(&p, disk, &t, NULL);
    }
    if (rc < 0)
        abort();
    struct state_reader r = {in.p, in.left, 0, false};
    if (virtio_mmio_load(t, &r, &err) == 0) {
        struct virtio_queue_info qi;
        if (virtio_mmio_queue_info(t, 0, &qi) == 0 && qi.ready) {
            fuzz_check_inside(&ram, qi.desc, 16ull * qi.size);
            fuzz_check_inside(&ram, qi.avail, 6 + 2ull * qi.size);
            fuzz_check_inside(&ram, qi.used, 6 + 8ull * qi.size);
        }
        virtio_mmio_process_queue(t, 0); /* serve what the restored queue holds */
    }
    virtio_mmio_destroy(t);
    return 0;
}
