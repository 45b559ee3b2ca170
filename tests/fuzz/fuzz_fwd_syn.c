/* The forwarded-handshake tracker (src/backends/net_fwd_syn.c) sees every frame the guest
 * sends before slirp does. The input is a sequence of records: one byte of kind and length
 * (bit 7: the frame goes to the guest, as slirp's SYNs do, else it comes from the guest;
 * bits 0-6: a clock step in 100 ms units), a byte of length, then the frame. Whatever the
 * frames, the tracker must stay inside them, hand back either the frame itself or a
 * rewritten one no longer than the frame, and re-send only frames it stored whole. */
#include <stdlib.h>

#include "fuzz.h"
#include "backends/net_fwd_syn.h"

static struct net_fwd_syn table;

static void check_sent(void *opaque, const void *frame, size_t len)
{
    (void)opaque;
    if (len > NET_FWD_SYN_FRAME_MAX)
        __builtin_trap();
    /* every byte is read, so that a frame stored short shows up under ASan */
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += ((const uint8_t *)frame)[i];
    __asm__ volatile("" : : "r"(sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    memset(&table, 0, sizeof table);
    int64_t now = 1000;
    while (in.left >= 2) {
        uint8_t kind = (uint8_t)fuzz_take(&in, 1);
        size_t len = (size_t)fuzz_take(&in, 1);
        if (len > in.left)
            len = in.left;
        /* a private copy, exactly as long as the frame, so reads past it are caught */
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame)
            return 0;
        memcpy(frame, in.p, len);
        in.p += len;
        in.left -= len;
        now += (int64_t)(kind & 0x7f) * 100;
        if (kind & 0x80) {
            net_fwd_syn_to_guest(&table, frame, len, now);
        } else {
            uint8_t scratch[NET_FWD_SYN_FRAME_MAX];
            const void *out = net_fwd_syn_from_guest(&table, frame, len, scratch);
            if (out != frame && (out != scratch || len > NET_FWD_SYN_FRAME_MAX))
                __builtin_trap();
        }
        net_fwd_syn_run(&table, now, check_sent, NULL);
        free(frame);
    }
    return 0;
}
