/* virtio-blk (virtio 1.2, 5.2): one request queue over a block attachment. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk_request.h"
#include "devices/virtio/mmio_internal.h"
#include "devices/virtio/throttle.h"
#include "devices/virtio/virtio_devices.h"
#include "util/state_format.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* 1024 (QEMU offers 256): with seg_max = 1022 a 1 MiB O_DIRECT request of 4 KiB pages is
 * one request instead of two, which saves the guest ~5% of its instructions per MiB. */
#define BLK_QUEUE_SIZE 1024
#define BLK_CONFIG_SIZE 60

struct vblk {
    struct blk_request_ctx ctx;
    struct virtq_chain chain;
    uint8_t config[BLK_CONFIG_SIZE];
    uint64_t size; /* the disk's, also while a snapshot swaps it (ctx.disk NULL) */
    struct queue_throttle throttle; /* the disk's rate limit (virtio_blk_set_rate) */
};

static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

/* Config layout (5.2.4): capacity, size_max, seg_max, geometry, blk_size, topology,
 * writeback, num_queues, then the discard and write-zeroes limits. */
static void fill_config(struct vblk *b)
{
    uint8_t *c = b->config;
    put64(c + 0, b->ctx.disk->size / VIRTIO_BLK_SECTOR);
    put32(c + 12, BLK_QUEUE_SIZE - 2); /* seg_max: header and status take two */
    put32(c + 20, VIRTIO_BLK_SECTOR);  /* blk_size */
    put32(c + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c + 40, VIRTIO_BLK_MAX_DISCARD_SEG);
    put32(c + 44, 8); /* discard_sector_alignment: 4 KiB, the host's hole granularity */
    put32(c + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c + 52, VIRTIO_BLK_MAX_DISCARD_SEG);
    c[56] = 1; /* write_zeroes_may_unmap */
}

static void blk_config_read(void *dev, uint8_t *buf)
{
    struct vblk *b = dev;
    memcpy(buf, b->config, sizeof b->config);
}

static int blk_serve(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    struct vblk *b = dev;
    uint32_t written;
    /* the data's bytes, whichever way they go (a flush: 0) */
    uint64_t bytes = (c->out_len > 16 ? c->out_len - 16 : 0) + (c->in_len > 1 ? c->in_len - 1 : 0);
    if (!queue_throttle_admit(&b->throttle, bytes)) {
        virtq_unpop(vq); /* it waits in the ring for the timer */
        return VIRTIO_STOPPED;
    }
    if (blk_handle_request(&b->ctx, c, &written) < 0)
        return virtq_fail(vq, "virtio-blk request without header or status byte");
    virtq_push(vq, c->head, written);
    return 0;
}

static int blk_queue(void *dev, unsigned q, struct virtq *vq)
{
    struct vblk *b = dev;
    if (!b->ctx.disk) /* lost in a snapshot's swap (machine_disks.c): the VM is stopping */
        return 0;
    return virtio_queue_serve(vq, &b->chain, NULL, blk_serve, b);
}

static void blk_destroy(void *dev)
{
    struct vblk *b = dev;
    queue_throttle_stop(&b->throttle);
    block_close(b->ctx.disk);
    free(b);
}

/* Requests complete inside the queue handler, so a quiesced device has none in flight:
 * its state is the disk's size, which must not have changed under the guest. */
static int blk_save(void *dev, struct state_writer *w)
{
    struct vblk *b = dev;
    state_put_u64(w, b->size);
    return 0;
}

static int blk_load(void *dev, struct state_reader *r, struct cove_error *err)
{
    struct vblk *b = dev;
    uint64_t size = state_get_u64(r);
    if (!r->bad && size != b->size)
        return cove_error_set(err, -EINVAL, "a disk changed size since the VM was suspended "
                              "(%llu bytes then, %llu now)", (unsigned long long)size,
                              (unsigned long long)b->size);
    return 0;
}

static const struct virtio_device_ops blk_ops_rw = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |
                (1ull << VIRTIO_BLK_F_WRITE_ZEROES),
    .num_queues = 1,
    .queue_max = BLK_QUEUE_SIZE,
    .config_size = BLK_CONFIG_SIZE,
    .config_read = blk_config_read,
    .queue_handler = blk_queue,
    .destroy = blk_destroy,
    .save = blk_save,
    .load = blk_load,
};

static const struct virtio_device_ops blk_ops_ro = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_RO),
    .num_queues = 1,
    .queue_max = BLK_QUEUE_SIZE,
    .config_size = BLK_CONFIG_SIZE,
    .config_read = blk_config_read,
    .queue_handler = blk_queue,
    .destroy = blk_destroy,
    .save = blk_save,
    .load = blk_load,
};

int virtio_blk_create(const struct virtio_mmio_params *p, struct block_attachment *disk,
                      struct virtio_mmio **out, struct cove_error *err)
{
    struct vblk *b = calloc(1, sizeof *b);
    if (!b) {
        block_close(disk);
        return cove_error_set(err, -ENOMEM, "virtio-blk: out of memory");
    }
    b->ctx.disk = disk;
    b->size = disk->size;
    b->throttle.tfd = -1;
    fill_config(b);
    return virtio_mmio_create(p, disk->read_only ? &blk_ops_ro : &blk_ops_rw, b, out, err);
}

int virtio_blk_set_rate(struct virtio_mmio *t, const struct cove_rate_limit *r,
                        struct cove_error *err)
{
    struct vblk *b = t->dev;
    if (t->ops->device_id != VIRTIO_ID_BLOCK)
        return cove_error_set(err, -EINVAL, "not a virtio-blk device");
    return queue_throttle_start(&b->throttle, t, 0, r, err);
}

int virtio_blk_close_disk(struct virtio_mmio *t)
{
    struct vblk *b = t->dev;
    if (t->ops->device_id != VIRTIO_ID_BLOCK || !b->ctx.disk)
        return -EINVAL;
    int rc = b->ctx.disk->read_only ? 0 : b->ctx.disk->ops->flush(b->ctx.disk);
    block_close(b->ctx.disk);
    b->ctx.disk = NULL;
    return rc;
}

int virtio_blk_set_disk(struct virtio_mmio *t, struct block_attachment *disk)
{
    struct vblk *b = t->dev;
    if (t->ops->device_id != VIRTIO_ID_BLOCK || b->ctx.disk || disk->size != b->size)
        return -EINVAL;
    b->ctx.disk = disk;
    return 0;
}
