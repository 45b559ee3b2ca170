/*
 * virtio_devices.h — the virtio devices, each behind its own virtio-mmio transport.
 *
 * A machine creates one per slot, registers virtio_mmio_read/write for the slot's window
 * (VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE, size VIRTIO_MMIO_SIZE), connects set_irq to
 * PLIC source VIRTIO_MMIO_IRQ_BASE + i, adds a "virtio,mmio" device-tree node, and calls
 * virtio_mmio_destroy() once its vCPUs are stopped.
 */
#ifndef COVE_DEVICES_VIRTIO_DEVICES_H
#define COVE_DEVICES_VIRTIO_DEVICES_H

#include "backends/block.h"
#include "devices/virtio/virtio_mmio.h"

/* virtio-blk on disk; the device owns disk from here on (closed on failure as well). */
int virtio_blk_create(const struct virtio_mmio_params *p, struct block_attachment *disk,
                      struct virtio_mmio **out, struct cove_error *err);

/* virtio-rng fed from getrandom(2). */
int virtio_rng_create(const struct virtio_mmio_params *p, struct virtio_mmio **out,
                      struct cove_error *err);

/* virtio-console, one port (hvc0): guest output is written to out_fd, bytes readable on
 * in_fd (-1: none) go to the guest. Needs an I/O thread (p->io). The fds stay the
 * caller's. */
int virtio_console_create(const struct virtio_mmio_params *p, int in_fd, int out_fd,
                          struct virtio_mmio **out, struct cove_error *err);

#endif
