/* The virtqueue walker: the input is a queue configuration and then guest RAM holding
 * the rings, descriptors and indirect tables. Every chain handed out must lie inside
 * RAM and respect the readable-before-writable order; nothing may crash or hang. */
#include <stdlib.h>

#include "devices/virtio/virtq.h"
#include "fuzz.h"

static uint8_t ram_buf[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
static struct virtq_chain chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t cfg = (uint8_t)fuzz_take(&in, 1);
    uint16_t qsize = (uint16_t)(1u << (cfg & 7));      /* 1..128 */
    uint16_t start = (uint16_t)fuzz_take(&in, 2);      /* driver/device index start */
    memset(ram_buf, 0, sizeof ram_buf);
    memcpy(ram_buf, in.p, in.left < sizeof ram_buf ? in.left : sizeof ram_buf);
    struct guest_ram ram = {.host = ram_buf, .base = FUZZ_RAM_BASE, .size = FUZZ_RAM_SIZE};

    struct virtq vq;
    const char *why;
    /* Rings at fixed places; the descriptor contents and indices are the input's. */
    uint64_t desc = FUZZ_RAM_BASE, avail = FUZZ_RAM_BASE + 0x800, used = FUZZ_RAM_BASE + 0xc00;
    if (cfg & 0x80) /* sometimes let the rings overlap everything */
        avail = used = desc;
    if (virtq_setup(&vq, &ram, qsize, desc, avail, used, cfg & 8, cfg & 16, &why) < 0)
        return 0;
    vq.last_avail = vq.used_idx = vq.signalled_used = start;
    for (int round = 0; round < 4 * VIRTQ_MAX_SIZE; round++) {
        int r = virtq_pop(&vq, &chain);
        if (r <= 0)
            break;
        size_t in_len = 0;
        for (unsigned i = 0; i < chain.n_out + chain.n_in; i++) {
            fuzz_check_inside(&ram, chain.iov[i].iov_base, chain.iov[i].iov_len);
            if (i >= chain.n_out)
                in_len += chain.iov[i].iov_len;
        }
        if (chain.n_out + chain.n_in > VIRTQ_MAX_SIZE || chain.head >= qsize ||
            in_len != chain.in_len)
            __builtin_trap();
        /* A device writes its writable buffers. */
        for (unsigned i = chain.n_out; i < chain.n_out + chain.n_in; i++)
            memset(chain.iov[i].iov_base, 0x5a, chain.iov[i].iov_len);
        virtq_push(&vq, chain.head, (uint32_t)chain.in_len);
        virtq_need_interrupt(&vq);
    }
    return 0;
}
