/* FUSE_INIT replayed to a fresh virtiofsd through a ring of cove's own (fs_session.h). */
#include "devices/virtio/fs_session.h"

#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/fdio.h"

/* What Linux (fs/fuse/inode.c, fuse_send_init) offers a virtio-fs daemon, without DAX. The
 * daemon keeps what it supports and its options allow, as it did for the guest's own
 * FUSE_INIT. */
#define LINUX_INIT_FLAGS                                                                   \
    (FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |      \
     FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |             \
     FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA |     \
     FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE | \
     FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL | \
     FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT |   \
     FUSE_EXPLICIT_INVAL_DATA | FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT |             \
     FUSE_INIT_EXT | FUSE_SUBMOUNTS)
#define LINUX_MAX_READAHEAD (128u * 1024)

_Static_assert(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in) ==
               FS_INIT_REQUEST_SIZE, "FUSE_INIT request layout");

/* The private region: one page of rings and buffers. */
#define RING_NUM 8u
#define DESC_OFF 0u
#define AVAIL_OFF 256u
#define USED_OFF 512u
#define REQ_OFF 1024u
#define REPLY_OFF 2048u
#define INIT_UNIQUE 0xc0e1u
_Static_assert(REPLY_OFF - REQ_OFF == FS_PRIVATE_REQUEST_MAX &&
               FS_PRIVATE_REGION_SIZE - REPLY_OFF == FS_PRIVATE_REPLY_MAX, "private region");

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct used_elem { uint32_t id, len; };
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

void virtio_fs_init_request(uint8_t *buf, uint64_t unique)
{
    struct fuse_in_header h = {
        .len = FS_INIT_REQUEST_SIZE, .opcode = FUSE_INIT, .unique = unique,
    };
    uint64_t flags = LINUX_INIT_FLAGS;
    struct fuse_init_in in = {
        .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION,
        .max_readahead = LINUX_MAX_READAHEAD, .flags = (uint32_t)flags,
        .flags2 = (uint32_t)(flags >> 32),
    };
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, &in, sizeof in);
}

int virtio_fs_check_init_reply(const uint8_t *buf, uint32_t len, uint64_t unique,
                               const char **why)
{
    struct fuse_out_header h;
    struct fuse_init_out out;
    if (len < sizeof h) {
        *why = "its FUSE_INIT reply is shorter than a FUSE header";
        return -EPROTO;
    }
    memcpy(&h, buf, sizeof h);
    if (h.unique != unique || h.len != len) {
        *why = "its FUSE_INIT reply does not match the request";
        return -EPROTO;
    }
    if (h.error != 0) {
        *why = "it refused FUSE_INIT";
        return h.error < 0 && h.error > -4096 ? h.error : -EPROTO;
    }
    if (len < sizeof h + 8) {
        *why = "its FUSE_INIT reply is too short";
        return -EPROTO;
    }
    memcpy(&out, buf + sizeof h, len - sizeof h < sizeof out ? len - sizeof h : sizeof out);
    if (out.major != FUSE_KERNEL_VERSION) {
        *why = "it speaks another FUSE major version";
        return -EPROTO;
    }
    return 0;
}

/* Waits until the daemon used the one request (used->idx 1): the call eventfd wakes this
 * up; the index is looked at every 50 ms too, in case a signal was suppressed. */
static int wait_used(volatile uint16_t *used_idx, int call, int timeout_ms)
{
    long long deadline = monotonic_ms() + timeout_ms;
    while (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == 0) {
        long long left = deadline - monotonic_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = call, .events = POLLIN};
        if (poll(&p, 1, left < 50 ? (int)left : 50) > 0) {
            uint64_t v;
            if (read(call, &v, sizeof v) < 0 && errno != EAGAIN)
                return -errno;
        }
    }
    return 0;
}

/* Lays out the request: two descriptors (the request, then room for the reply), made
 * available as a fresh ring's first entry. */
static void post_request(uint8_t *mem, uint64_t gpa, const void *req, uint32_t len)
{
    memset(mem, 0, REQ_OFF);
    struct desc d[2] = {
        {gpa + REQ_OFF, len, DESC_F_NEXT, 1},
        {gpa + REPLY_OFF, FS_PRIVATE_REPLY_MAX, DESC_F_WRITE, 0},
    };
    memcpy(mem + DESC_OFF, d, sizeof d);
    memcpy(mem + REQ_OFF, req, len);
    uint16_t *avail = (uint16_t *)(mem + AVAIL_OFF);
    avail[2] = 0; /* ring[0]: descriptor 0 */
    __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
}

int virtio_fs_private_open(struct fs_private_ring *p, uint64_t gpa)
{
    p->gpa = gpa;
    p->mem = MAP_FAILED;
    p->fd = memfd_create("cove-fs-ring", MFD_CLOEXEC);
    if (p->fd < 0 || ftruncate(p->fd, FS_PRIVATE_REGION_SIZE) < 0 ||
        (p->mem = mmap(NULL, FS_PRIVATE_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                       p->fd, 0)) == MAP_FAILED) {
        int e = errno;
        if (p->fd >= 0)
            close(p->fd);
        p->fd = -1;
        return -e;
    }
    return 0;
}

void virtio_fs_private_close(struct fs_private_ring *p)
{
    if (p->mem != MAP_FAILED)
        munmap(p->mem, FS_PRIVATE_REGION_SIZE);
    if (p->fd >= 0)
        close(p->fd);
    p->mem = MAP_FAILED;
    p->fd = -1;
}

struct vhost_user_region virtio_fs_private_region(const struct fs_private_ring *p)
{
    return (struct vhost_user_region){.guest_phys_addr = p->gpa,
                                      .size = FS_PRIVATE_REGION_SIZE, .host = p->mem,
                                      .fd = p->fd};
}

int virtio_fs_private_request(struct vhost_user *vu, unsigned queue, struct fs_private_ring *p,
                              const void *req, uint32_t len, const uint8_t **reply,
                              uint32_t *reply_len, int timeout_ms, const char **why)
{
    if (len > FS_PRIVATE_REQUEST_MAX) {
        *why = "the request is too long for cove's ring";
        return -E2BIG;
    }
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = kick < 0 || call < 0 ? -errno : 0;
    *why = "no eventfd";
    if (r == 0) {
        post_request(p->mem, p->gpa, req, len);
        struct vhost_user_ring ring = {
            .num = RING_NUM, .base = 0, .desc = p->mem + DESC_OFF,
            .avail = p->mem + AVAIL_OFF, .used = p->mem + USED_OFF, .kick_fd = kick,
            .call_fd = call,
        };
        uint64_t one = 1;
        *why = "it refused cove's ring";
        if ((r = vhost_user_start_ring(vu, queue, &ring)) == 0 &&
            write(kick, &one, sizeof one) != (ssize_t)sizeof one)
            r = -errno;
    }
    if (r == 0) {
        *why = "it did not answer the request";
        r = wait_used((volatile uint16_t *)(p->mem + USED_OFF + 2), call, timeout_ms);
    }
    if (r == 0) {
        struct used_elem e;
        memcpy(&e, p->mem + USED_OFF + 4, sizeof e);
        if (e.id != 0 || e.len > FS_PRIVATE_REPLY_MAX) {
            *why = "its used ring entry is not the request's";
            r = -EPROTO;
        } else {
            *reply = p->mem + REPLY_OFF;
            *reply_len = e.len;
        }
    }
    uint32_t base;
    int s = vhost_user_stop_ring(vu, queue, &base);
    if (r == 0 && s < 0) {
        *why = "it did not let go of cove's ring";
        r = s;
    }
    if (kick >= 0)
        close(kick);
    if (call >= 0)
        close(call);
    return r;
}

int virtio_fs_replay_init(struct vhost_user *vu, const struct vhost_user_region *ram,
                          unsigned queue, const struct vhost_user_ring *guest_ring,
                          int timeout_ms, const char **why)
{
    /* Right above guest RAM, 2 MiB aligned, beside it in the daemon's table. The guest's
     * rings are not the daemon's while the region is in the table (they are handed over
     * after), so no guest descriptor can reach it. */
    struct fs_private_ring p;
    int r = virtio_fs_private_open(
        &p, (ram->guest_phys_addr + ram->size + (2u << 20) - 1) & ~((2ull << 20) - 1));
    if (r < 0) {
        *why = "no memory for cove's ring";
        return r;
    }
    struct vhost_user_region regions[2] = {*ram, virtio_fs_private_region(&p)};
    r = vhost_user_set_mem_table(vu, regions, 2);
    if (r < 0) {
        *why = "it refused cove's memory region";
    } else {
        uint8_t req[FS_INIT_REQUEST_SIZE];
        const uint8_t *reply;
        uint32_t len;
        virtio_fs_init_request(req, INIT_UNIQUE);
        r = virtio_fs_private_request(vu, queue, &p, req, sizeof req, &reply, &len,
                                      timeout_ms, why);
        if (r == -ETIMEDOUT)
            *why = "it did not answer FUSE_INIT";
        if (r == 0)
            r = virtio_fs_check_init_reply(reply, len, INIT_UNIQUE, why);
    }
    int s = vhost_user_set_ring_addr(vu, queue, guest_ring);
    if (s == 0)
        s = vhost_user_set_mem_table(vu, ram, 1);
    if (r == 0 && s < 0) {
        *why = "it refused guest memory alone";
        r = s;
    }
    virtio_fs_private_close(&p);
    return r;
}
