/*
 * A block attachment lent to one machine: everything goes to the attachment it wraps,
 * and closing it leaves that one open. A run keeps its disks open across guest reboots
 * this way (each reboot is a fresh machine), so that a run under its system-call filter
 * opens no file when the guest reboots.
 */
#include "block.h"

#include <errno.h>
#include <stdlib.h>

struct block_borrowed {
    struct block_attachment base;
    struct block_attachment *inner;
};

static struct block_attachment *inner_of(struct block_attachment *b)
{
    return ((struct block_borrowed *)b)->inner;
}

static int bb_readv(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return inner_of(b)->ops->readv(inner_of(b), iov, n, off);
}

static int bb_writev(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return inner_of(b)->ops->writev(inner_of(b), iov, n, off);
}

static int bb_flush(struct block_attachment *b)
{
    return inner_of(b)->ops->flush(inner_of(b));
}

static int bb_discard(struct block_attachment *b, uint64_t off, uint64_t len)
{
    return inner_of(b)->ops->discard(inner_of(b), off, len);
}

static int bb_write_zeroes(struct block_attachment *b, uint64_t off, uint64_t len, bool unmap)
{
    return inner_of(b)->ops->write_zeroes(inner_of(b), off, len, unmap);
}

static void bb_close(struct block_attachment *b)
{
    free(b);
}

static const struct block_attachment_ops block_borrowed_ops = {
    bb_readv, bb_writev, bb_flush, bb_discard, bb_write_zeroes, bb_close,
};

int block_borrow(struct block_attachment *inner, struct block_attachment **out)
{
    struct block_borrowed *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->base = *inner;
    b->base.ops = &block_borrowed_ops;
    b->inner = inner;
    *out = &b->base;
    return 0;
}
