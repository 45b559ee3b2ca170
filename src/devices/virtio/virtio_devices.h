/*
 * virtio_devices.h — the virtio devices, each behind its own virtio-mmio transport.
 *
 * A machine creates one per slot, registers virtio_mmio_read/write for the slot's window
 * (VIRTIO_MMIO_SIZE bytes, placed by the board), connects set_irq to the slot's interrupt
 * line, adds a "virtio,mmio" device-tree node, and calls virtio_mmio_destroy() once its
 * vCPUs are stopped.
 */
#ifndef COVE_DEVICES_VIRTIO_DEVICES_H
#define COVE_DEVICES_VIRTIO_DEVICES_H

#include "backends/block.h"
#include "backends/net.h"
#include "devices/virtio/virtio_mmio.h"

/* virtio-blk on disk; the device owns disk from here on (closed on failure as well). */
int virtio_blk_create(const struct virtio_mmio_params *p, struct block_attachment *disk,
                      struct virtio_mmio **out, struct cove_error *err);
/* Snapshots (machine_disks.c), with the transport quiesced: flushes and closes the
 * disk (the device must not serve a request until virtio_blk_set_disk), then attaches
 * another of the same size. -EINVAL for a device that is not a blk or a size that
 * differs. */
int virtio_blk_close_disk(struct virtio_mmio *t);
/* The disk's rate limit (throttle.h), once, right after create: requests wait for their
 * tokens in the ring. 0, or a negative errno with err set. */
int virtio_blk_set_rate(struct virtio_mmio *t, const struct cove_rate_limit *r,
                        struct cove_error *err);
int virtio_blk_set_disk(struct virtio_mmio *t, struct block_attachment *disk);

/* virtio-rng fed from getrandom(2). */
int virtio_rng_create(const struct virtio_mmio_params *p, struct virtio_mmio **out,
                      struct cove_error *err);

/* virtio-balloon with statistics, free page reporting and deflate-on-OOM. Pages the
 * guest inflates or reports are given back to the host (MADV_REMOVE on a shared memfd,
 * else MADV_DONTNEED). dev_out (optional) is for the calls below and lives as long as
 * the transport. */
struct virtio_balloon;
/* Memory statistics tags (5.5.6.3). */
enum {
    VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_SWAP_OUT, VIRTIO_BALLOON_S_MAJFLT,
    VIRTIO_BALLOON_S_MINFLT, VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT,
    VIRTIO_BALLOON_S_AVAIL, VIRTIO_BALLOON_S_CACHES, VIRTIO_BALLOON_S_HTLB_PGALLOC,
    VIRTIO_BALLOON_S_HTLB_PGFAIL, VIRTIO_BALLOON_S_NR
};
struct virtio_balloon_stats {
    uint64_t ram_bytes;       /* guest RAM */
    uint64_t target_bytes;    /* what the host asks the balloon to hold (num_pages) */
    uint64_t actual_bytes;    /* what the driver says it holds (actual) */
    uint64_t stat[VIRTIO_BALLOON_S_NR]; /* the guest's last statistics, bytes or counts */
    uint32_t stat_valid;      /* bit n: stat[n] was reported */
    uint64_t stats_updates;   /* statistics buffers received */
    uint64_t inflated_pages, deflated_pages; /* 4 KiB pages through the queues */
    uint64_t reported_bytes;  /* free page reporting */
    uint64_t freed_bytes;     /* given back to the host (inflate and reporting) */
    uint64_t bad_pfns;        /* page numbers outside guest RAM, ignored */
};
int virtio_balloon_create(const struct virtio_mmio_params *p, struct virtio_mmio **out,
                          struct virtio_balloon **dev_out, struct cove_error *err);
/* Asks the guest to keep guest_bytes of its RAM (the rest goes into the balloon);
 * -ERANGE above the RAM size. Thread-safe. */
int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes);
/* The counters and the guest's last statistics; with refresh, first asks the driver for
 * fresh ones and waits up to half a second for them (not from the I/O thread). */
void virtio_balloon_get_stats(struct virtio_balloon *b, bool refresh,
                              struct virtio_balloon_stats *out);

/* virtio-console, one port (hvc0): guest output is written to out_fd, bytes readable on
 * in_fd (-1: none) go to the guest. Needs an I/O thread (p->io). The fds stay the
 * caller's. */
int virtio_console_create(const struct virtio_mmio_params *p, int in_fd, int out_fd,
                          struct virtio_mmio **out, struct cove_error *err);

/* virtio-net on a net attachment (owned by the device from here on, closed on failure as
 * well), with the given MAC. A restore (virtio_mmio_load) keeps that MAC when keep_mac,
 * else takes the saved one. dev_out (optional) is for virtio_net_get_stats() and lives
 * as long as the transport. */
struct virtio_net;
struct virtio_net_stats {
    uint64_t tx_frames, tx_dropped;   /* dropped: malformed header, size, back end refused */
    uint64_t rx_frames, rx_dropped;   /* dropped: no room while waiting for buffers, or */
    uint64_t rx_too_big;              /* ... larger than the receive chain offered */
};
int virtio_net_create(const struct virtio_mmio_params *p, struct net_attachment *backend,
                      const uint8_t mac[NET_MAC_LEN], bool keep_mac, struct virtio_mmio **out,
                      struct virtio_net **dev_out, struct cove_error *err);
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);
/* The NIC's rate limit (throttle.h), once, right after create: one limiter per direction
 * with these values. Frames to send wait in the ring; received ones in the pending list
 * (dropped past its bound, as a slow link drops them). */
int virtio_net_set_rate(struct virtio_mmio *t, const struct cove_rate_limit *r,
                        struct cove_error *err);

/* virtio-vsock with the given guest CID (3 and up), bridged to Unix sockets as
 * Firecracker's hybrid vsock: host programs connect to uds_path and write
 * "CONNECT <port>\n" (answer "OK <hostport>\n"); guest connections to host port P go to
 * the socket "<uds_path>_P". Creates (replacing a stale socket) and later removes
 * uds_path. Without an I/O thread (p->io NULL: tests, fuzzing) there is no host side:
 * uds_path is ignored and every connection is refused. */
int virtio_vsock_create(const struct virtio_mmio_params *p, uint64_t guest_cid,
                        const char *uds_path, struct virtio_mmio **out, struct cove_error *err);

/* virtio-fs: the directory share->path, served by its own virtiofsd over vhost-user
 * (backends/virtiofsd.h), seen by the guest as the file system tagged share->tag
 * (mount -t virtiofs TAG DIR). Guest RAM must be the memfd mem_fd (mapped at p->ram);
 * needs an I/O thread. The tag is 1..36 bytes (the
 * CLI restricts names further: cove_share_name_valid()). */
#define VIRTIO_FS_TAG_MAX 36
struct virtio_fs_share {
    const char *tag;
    const char *path;
    bool read_only;
};
int virtio_fs_create(const struct virtio_mmio_params *p, const struct virtio_fs_share *share,
                     int mem_fd, struct virtio_mmio **out, struct cove_error *err);

/* virtio-gpu 2D with one scanout (gpu.c says what is checked). width x height is the mode
 * the display offers first. Resources hold at most VIRTIO_GPU_MAX_HOST_BYTES of host
 * memory together. dev_out (optional) lives as long as the transport. */
#define VIRTIO_GPU_MAX_HOST_BYTES (256ull << 20)
struct virtio_gpu;
struct virtio_gpu_rect {
    uint32_t x, y, width, height;
};
struct virtio_gpu_cursor {
    uint32_t x, y, resource_id, hot_x, hot_y;
    uint64_t updates;
};
/* The display side (the VNC server). Both run on the thread serving the control queue,
 * with the device's lock held: they must not call back into the device. resize gives the
 * new surface (width * height words 0x00RRGGBB, NULL and 0 x 0 when there is none); the
 * previous surface stays valid until the next resize. update says which rectangle of the
 * surface the guest flushed. */
struct virtio_gpu_listener {
    void (*resize)(void *opaque, const uint32_t *surface, uint32_t width, uint32_t height);
    void (*update)(void *opaque, uint32_t x, uint32_t y, uint32_t width, uint32_t height);
};
struct virtio_gpu_state {
    uint32_t width, height;     /* the surface: the scanout's size, 0 x 0 when disabled */
    uint32_t scanout_resource;
    uint64_t host_bytes;        /* held by resources */
    struct virtio_gpu_cursor cursor;
};
int virtio_gpu_create(const struct virtio_mmio_params *p, uint32_t width, uint32_t height,
                      struct virtio_mmio **out, struct virtio_gpu **dev_out,
                      struct cove_error *err);
void virtio_gpu_set_listener(struct virtio_gpu *g, const struct virtio_gpu_listener *l,
                             void *opaque);
/* The host's display wants width x height: display info and EDID say so from now on and
 * the driver gets a display-change config event. Sizes outside 1..16384 are ignored. */
void virtio_gpu_request_size(struct virtio_gpu *g, uint32_t width, uint32_t height);
void virtio_gpu_get_state(struct virtio_gpu *g, struct virtio_gpu_state *out);
/* One pixel of the surface (0x00RRGGBB); false outside it. */
bool virtio_gpu_pixel(struct virtio_gpu *g, uint32_t x, uint32_t y, uint32_t *rgb);
/* Copies the whole surface into dst when it is width x height; false (dst untouched) when
 * the surface has another size or there is none. */
bool virtio_gpu_copy_surface(struct virtio_gpu *g, uint32_t *dst, uint32_t width, uint32_t height);

/* virtio-input: a keyboard (EV_KEY 1..255), an absolute tablet (ABS_X/ABS_Y in
 * 0..VIRTIO_INPUT_ABS_MAX, three buttons, wheel) or a relative mouse (REL_X/REL_Y, three
 * buttons, wheel). dev_out (optional) lives as long as the transport. */
enum virtio_input_kind { VIRTIO_INPUT_KEYBOARD, VIRTIO_INPUT_TABLET, VIRTIO_INPUT_MOUSE };
#define VIRTIO_INPUT_ABS_MAX 32767
#define VIRTIO_INPUT_PENDING_MAX 1024
struct virtio_input;
struct virtio_input_event {
    uint16_t type, code;
    int32_t value;
};
int virtio_input_create(const struct virtio_mmio_params *p, enum virtio_input_kind kind,
                        struct virtio_mmio **out, struct virtio_input **dev_out,
                        struct cove_error *err);
/* Queues n events (include the EV_SYN) and hands what fits to the driver now; -ENOSPC (all
 * n dropped) when the driver has left VIRTIO_INPUT_PENDING_MAX undelivered. Thread-safe. */
int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n);
uint64_t virtio_input_dropped(struct virtio_input *in);

#endif
