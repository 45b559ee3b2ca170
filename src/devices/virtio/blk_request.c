#include "blk_request.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "devices/iov.h"
#include "util/log.h"

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct blk_segment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

#define SEGMENT_F_UNMAP 1u

static bool sectors_inside(const struct block_attachment *disk, uint64_t sector, uint64_t count)
{
    uint64_t capacity = disk->size / VIRTIO_BLK_SECTOR;
    return sector <= capacity && count <= capacity - sector;
}

/* A host-side failure (a full or failing host disk) is the user's to fix, not the guest's:
 * say so once, with the image's name; the guest gets VIRTIO_BLK_S_IOERR. */
static uint8_t host_error(struct blk_request_ctx *ctx, const char *what, int r)
{
    if (!ctx->host_error_told) {
        ctx->host_error_told = true;
        log_warn("disk %s: %s failed on the host: %s; the guest sees I/O errors%s",
                 ctx->disk->name[0] ? ctx->disk->name : "(memory)", what, strerror(-r),
                 r == -ENOSPC || r == -EDQUOT ? " (free space on the host's file system)" : "");
    }
    return VIRTIO_BLK_S_IOERR;
}

/* Data transfer: the readable bytes after the header (OUT) or the writable bytes before
 * the status (IN). */
static uint8_t do_rw(struct blk_request_ctx *ctx, const struct virtq_chain *c, uint64_t sector,
                     bool write)
{
    struct block_attachment *disk = ctx->disk;
    size_t len = write ? c->out_len - sizeof(struct blk_header) : c->in_len - 1;
    if (write && disk->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (len % VIRTIO_BLK_SECTOR || !sectors_inside(disk, sector, len / VIRTIO_BLK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    if (len == 0)
        return VIRTIO_BLK_S_OK;
    size_t got;
    unsigned n = write ? iov_slice(c->iov, c->n_out, sizeof(struct blk_header), len,
                                   ctx->scratch, VIRTQ_MAX_SIZE, &got)
                       : iov_slice(c->iov + c->n_out, c->n_in, 0, len, ctx->scratch,
                                   VIRTQ_MAX_SIZE, &got);
    if (got != len)
        return VIRTIO_BLK_S_IOERR;
    uint64_t off = sector * VIRTIO_BLK_SECTOR;
    int r = write ? disk->ops->writev(disk, ctx->scratch, n, off)
                  : disk->ops->readv(disk, ctx->scratch, n, off);
    return r < 0 ? host_error(ctx, write ? "a write" : "a read", r) : VIRTIO_BLK_S_OK;
}

static uint8_t do_discard(struct blk_request_ctx *ctx, const struct virtq_chain *c, bool zeroes)
{
    struct block_attachment *disk = ctx->disk;
    size_t bytes = c->out_len - sizeof(struct blk_header);
    if (disk->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (bytes == 0 || bytes % sizeof(struct blk_segment) ||
        bytes / sizeof(struct blk_segment) > VIRTIO_BLK_MAX_DISCARD_SEG)
        return VIRTIO_BLK_S_UNSUPP;
    unsigned nseg = (unsigned)(bytes / sizeof(struct blk_segment));
    struct blk_segment segs[VIRTIO_BLK_MAX_DISCARD_SEG];
    iov_to_buf(c->iov, c->n_out, sizeof(struct blk_header), segs, bytes);
    /* All segments are checked before any is carried out. */
    for (unsigned i = 0; i < nseg; i++) {
        uint32_t flags = le32toh(segs[i].flags), num = le32toh(segs[i].num_sectors);
        if (flags & ~SEGMENT_F_UNMAP || (!zeroes && (flags & SEGMENT_F_UNMAP)))
            return VIRTIO_BLK_S_UNSUPP;
        if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
            !sectors_inside(disk, le64toh(segs[i].sector), num))
            return VIRTIO_BLK_S_IOERR;
    }
    for (unsigned i = 0; i < nseg; i++) {
        uint64_t off = le64toh(segs[i].sector) * VIRTIO_BLK_SECTOR;
        uint64_t len = (uint64_t)le32toh(segs[i].num_sectors) * VIRTIO_BLK_SECTOR;
        if (len == 0)
            continue;
        int r = zeroes ? disk->ops->write_zeroes(disk, off, len,
                                                 le32toh(segs[i].flags) & SEGMENT_F_UNMAP)
                       : disk->ops->discard(disk, off, len);
        if (r < 0)
            return host_error(ctx, zeroes ? "write-zeroes" : "discard", r);
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t do_get_id(struct blk_request_ctx *ctx, const struct virtq_chain *c)
{
    char id[BLOCK_SERIAL_MAX] = {0};
    memcpy(id, ctx->disk->serial, strnlen(ctx->disk->serial, BLOCK_SERIAL_MAX));
    size_t room = c->in_len - 1;
    iov_from_buf(c->iov + c->n_out, c->n_in, 0, id, room < sizeof id ? room : sizeof id);
    return VIRTIO_BLK_S_OK;
}

int blk_handle_request(struct blk_request_ctx *ctx, const struct virtq_chain *c,
                       uint32_t *written)
{
    struct blk_header h;
    if (c->out_len < sizeof h || c->in_len < 1 || c->in_len > UINT32_MAX)
        return -EIO;
    iov_to_buf(c->iov, c->n_out, 0, &h, sizeof h);
    uint64_t sector = le64toh(h.sector);
    uint8_t status;
    switch (le32toh(h.type)) {
    case VIRTIO_BLK_T_IN: status = do_rw(ctx, c, sector, false); break;
    case VIRTIO_BLK_T_OUT: status = do_rw(ctx, c, sector, true); break;
    case VIRTIO_BLK_T_FLUSH: {
        int r = ctx->disk->read_only ? 0 : ctx->disk->ops->flush(ctx->disk);
        status = r == 0 ? VIRTIO_BLK_S_OK : host_error(ctx, "a flush", r);
        break;
    }
    case VIRTIO_BLK_T_GET_ID: status = do_get_id(ctx, c); break;
    case VIRTIO_BLK_T_DISCARD: status = do_discard(ctx, c, false); break;
    case VIRTIO_BLK_T_WRITE_ZEROES: status = do_discard(ctx, c, true); break;
    default: status = VIRTIO_BLK_S_UNSUPP; break;
    }
    iov_from_buf(c->iov + c->n_out, c->n_in, c->in_len - 1, &status, 1);
    /* The status is the last writable byte, so everything before it counts as written. */
    *written = (uint32_t)c->in_len;
    return 0;
}
