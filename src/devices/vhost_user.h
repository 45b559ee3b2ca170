/*
 * vhost_user.h — the front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst), for devices whose queues a separate daemon serves
 * (virtio-fs with virtiofsd).
 *
 * cove is the front-end: it owns guest RAM (a memfd) and the virtio transport; the daemon
 * (back-end) maps the RAM from the fd it is handed, reads the rings in place, is woken by
 * a "kick" eventfd when the guest notifies a queue and signals a "call" eventfd when it
 * wants the guest interrupted.
 *
 * The daemon is another process and is not trusted to behave: every reply is checked
 * (request id, the reply flag, version, payload size) before its value is used, every
 * read and write on the socket has a deadline, and a daemon that closes the socket or
 * answers wrongly makes the call fail with -EIO / -ETIMEDOUT / -EPROTO; it never blocks
 * cove for longer than the deadline nor crashes it. Not thread-safe: one thread at a time
 * per connection (the device serialises).
 */
#ifndef COVE_DEVICES_VHOST_USER_H
#define COVE_DEVICES_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

/* Requests (front-end to back-end) this front-end sends. */
enum vhost_user_request {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_SET_VRING_ENABLE = 18,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* A virtio feature bit of its own: the back-end speaks GET/SET_PROTOCOL_FEATURES. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3

/* The largest payload of any message here (SET_MEM_TABLE with its 8 regions). */
#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_HDR_SIZE 12u
#define VHOST_USER_MAX_PAYLOAD (8u + 32u * VHOST_USER_MAX_REGIONS)

struct vhost_user_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size; /* payload bytes */
    union {
        uint64_t u64;
        struct { uint32_t index, num; } state;
        struct {
            uint32_t index, flags;
            uint64_t desc_user_addr, used_user_addr, avail_user_addr, log_guest_addr;
        } addr;
        struct {
            uint32_t nregions, padding;
            struct {
                uint64_t guest_phys_addr, memory_size, userspace_addr, mmap_offset;
            } regions[VHOST_USER_MAX_REGIONS];
        } mem;
        uint8_t bytes[VHOST_USER_MAX_PAYLOAD];
    } payload;
} __attribute__((packed));

/* The payload size a reply to `request` must carry: 8 (a u64) for GET_FEATURES,
 * GET_PROTOCOL_FEATURES and REPLY_ACK acknowledgements, 8 (a vring state) for
 * GET_VRING_BASE. */
size_t vhost_user_reply_size(uint32_t request);

/* Checks a reply read off the socket (len bytes in msg, header included) against the
 * request it answers. Returns 0, or -EPROTO with *why naming the problem. Pure, for tests
 * and fuzzing. */
int vhost_user_check_reply(const struct vhost_user_msg *msg, size_t len, uint32_t request,
                           const char **why);

struct vhost_user;

struct vhost_user_region {
    uint64_t guest_phys_addr, size;
    void *host;       /* where cove maps it: the "user address" of rings below */
    int fd;           /* the memory file */
    uint64_t fd_offset;
};

struct vhost_user_ring {
    uint16_t num;
    uint16_t base;             /* the next avail index the daemon takes (0 for a new ring) */
    void *desc, *avail, *used; /* host addresses inside a region of the memory table */
    int kick_fd, call_fd;      /* eventfds handed over (they stay the caller's) */
};

/* Takes a connected stream socket (owned from here on, closed on failure too). Each
 * exchange waits at most timeout_ms for the daemon. */
int vhost_user_open(int sock, int timeout_ms, struct vhost_user **out);
void vhost_user_close(struct vhost_user *vu);
/* The socket, to watch for the daemon hanging up (EPOLLRDHUP). */
int vhost_user_fd(const struct vhost_user *vu);

/* GET_FEATURES, then (when offered) GET/SET_PROTOCOL_FEATURES keeping REPLY_ACK, then
 * SET_OWNER. *features: the daemon's virtio features. */
int vhost_user_handshake(struct vhost_user *vu, uint64_t *features);
/* SET_FEATURES: the driver's negotiated bits (PROTOCOL_FEATURES is added when the daemon
 * offered it). */
int vhost_user_set_features(struct vhost_user *vu, uint64_t features);
int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *r,
                             unsigned n);
/* SET_VRING_ADDR alone: where a stopped ring lies (a daemon maps it again whenever the
 * memory table changes, so it must lie inside the table). */
int vhost_user_set_ring_addr(struct vhost_user *vu, unsigned index,
                             const struct vhost_user_ring *ring);
/* NUM, BASE, ADDR, CALL, KICK, ENABLE for ring index. */
int vhost_user_start_ring(struct vhost_user *vu, unsigned index,
                          const struct vhost_user_ring *ring);
/* Disables the ring and asks where it stopped (GET_VRING_BASE). */
int vhost_user_stop_ring(struct vhost_user *vu, unsigned index, uint32_t *base);

#endif
