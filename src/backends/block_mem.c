/* A disk in host memory, for tests and fuzzing. */
#include "block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct block_mem {
    struct block_attachment base;
    uint8_t *data;
};

static uint8_t *mem_at(struct block_attachment *b, uint64_t off)
{
    return ((struct block_mem *)b)->data + off;
}

static int mem_check(struct block_attachment *b, uint64_t off, uint64_t len)
{
    return off <= b->size && len <= b->size - off ? 0 : -EIO;
}

static int mem_transfer(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off,
                        bool write)
{
    for (unsigned i = 0; i < n; i++) {
        if (mem_check(b, off, iov[i].iov_len) < 0)
            return -EIO;
        if (write)
            memcpy(mem_at(b, off), iov[i].iov_base, iov[i].iov_len);
        else
            memcpy(iov[i].iov_base, mem_at(b, off), iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int mem_readv(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return mem_transfer(b, iov, n, off, false);
}

static int mem_writev(struct block_attachment *b, struct iovec *iov, unsigned n, uint64_t off)
{
    return mem_transfer(b, iov, n, off, true);
}

static int mem_flush(struct block_attachment *b) { return 0; }

static int mem_zero(struct block_attachment *b, uint64_t off, uint64_t len)
{
    if (mem_check(b, off, len) < 0)
        return -EIO;
    memset(mem_at(b, off), 0, len);
    return 0;
}

static int mem_write_zeroes(struct block_attachment *b, uint64_t off, uint64_t len, bool unmap)
{
    return mem_zero(b, off, len);
}

static void mem_close(struct block_attachment *b)
{
    free(((struct block_mem *)b)->data);
    free(b);
}

static const struct block_attachment_ops mem_ops = {
    .readv = mem_readv,
    .writev = mem_writev,
    .flush = mem_flush,
    .discard = mem_zero,
    .write_zeroes = mem_write_zeroes,
    .close = mem_close,
};

int block_mem_create(uint64_t size, bool read_only, struct block_attachment **out)
{
    struct block_mem *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->data = calloc(1, size ? size : 1);
    if (!b->data) {
        free(b);
        return -ENOMEM;
    }
    b->base.ops = &mem_ops;
    b->base.size = size;
    b->base.read_only = read_only;
    *out = &b->base;
    return 0;
}
