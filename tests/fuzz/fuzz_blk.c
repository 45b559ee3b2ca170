/* The virtio-blk request parser: the input describes a chain (how many readable and
 * writable buffers, their lengths) and its bytes, over an in-memory disk. */
#include <stdlib.h>

#include "devices/virtio/blk_request.h"
#include "fuzz.h"

#define DISK_SIZE (64 * 1024)

static uint8_t ram_buf[FUZZ_RAM_SIZE];
static struct virtq_chain chain;
static struct blk_request_ctx ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct block_attachment *disk_rw, *disk_ro;
    if (!disk_rw && (block_mem_create(DISK_SIZE, false, &disk_rw) < 0 ||
                     block_mem_create(DISK_SIZE, true, &disk_ro) < 0))
        abort();
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    unsigned n_out = (cfg & 7), n_in = (cfg >> 3) & 7;
    ctx.disk = cfg & 0x80 ? disk_ro : disk_rw;
    memcpy(ctx.disk->serial, "fuzz", 5);

    size_t used = 0;
    chain.n_out = n_out;
    chain.n_in = n_in;
    chain.out_len = chain.in_len = 0;
    for (unsigned i = 0; i < n_out + n_in; i++) {
        size_t len = (size_t)fuzz_take(&in, 2) % 2048;
        if (len > FUZZ_RAM_SIZE - used)
            len = FUZZ_RAM_SIZE - used;
        chain.iov[i].iov_base = ram_buf + used;
        chain.iov[i].iov_len = len;
        used += len;
        if (i < n_out)
            chain.out_len += len;
        else
            chain.in_len += len;
    }
    memset(ram_buf, 0, used);
    memcpy(ram_buf, in.p, in.left < used ? in.left : used);
    uint32_t written = 0;
    if (blk_handle_request(&ctx, &chain, &written) == 0 && written > chain.in_len)
        __builtin_trap();
    return 0;
}
