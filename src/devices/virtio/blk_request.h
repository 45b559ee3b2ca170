/*
 * blk_request.h — the virtio-blk request parser (virtio 1.2, 5.2.6), apart from the queue
 * so that it can be tested and fuzzed on its own.
 *
 * A request is a chain: a 16-byte header (type, reserved, sector) in the device-readable
 * part, then data (readable for writes, writable for reads), and a status byte as the
 * last writable byte. Requests outside the disk, misaligned lengths or writes to a
 * read-only disk get an error status; a chain with no room for the header or the status
 * is a protocol violation.
 */
#ifndef COVE_DEVICES_BLK_REQUEST_H
#define COVE_DEVICES_BLK_REQUEST_H

#include "backends/block.h"
#include "devices/virtio/virtq.h"

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_MAX_DISCARD_SEG 32u
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)

struct blk_request_ctx {
    struct block_attachment *disk;
    bool host_error_told;   /* a host I/O error was logged (once per device) */
    struct iovec scratch[VIRTQ_MAX_SIZE];
};

/* Handles one chain. Returns 0 with *written (bytes of the writable part the device
 * wrote, status included), or -EIO when the chain cannot carry a request at all. */
int blk_handle_request(struct blk_request_ctx *ctx, const struct virtq_chain *c,
                       uint32_t *written);

#endif
