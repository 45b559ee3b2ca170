/* The vhost-user front-end: messages out, checked replies back (see vhost_user.h). */
#include "devices/vhost_user.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/fdio.h"

#define MAX_FDS 8

struct vhost_user {
    int sock;
    int timeout_ms;
    uint64_t features;          /* the daemon's */
    bool protocol_features;     /* VHOST_USER_F_PROTOCOL_FEATURES offered (and used) */
    bool reply_ack;             /* REPLY_ACK negotiated: every request is acknowledged */
};

size_t vhost_user_reply_size(uint32_t request)
{
    switch (request) {
    case VHOST_USER_GET_VRING_BASE: return 8; /* struct { u32 index, num } */
    default: return 8;                        /* a u64: features, or an ack's status */
    }
}

int vhost_user_check_reply(const struct vhost_user_msg *msg, size_t len, uint32_t request,
                           const char **why)
{
    if (len < VHOST_USER_HDR_SIZE) {
        *why = "short reply header";
        return -EPROTO;
    }
    if (msg->size > VHOST_USER_MAX_PAYLOAD || len != VHOST_USER_HDR_SIZE + msg->size) {
        *why = "reply size does not match its header";
        return -EPROTO;
    }
    if (msg->request != request) {
        *why = "reply to another request";
        return -EPROTO;
    }
    if (!(msg->flags & VHOST_USER_FLAG_REPLY) ||
        (msg->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
        *why = "reply without the reply flag or of another protocol version";
        return -EPROTO;
    }
    if (msg->size != vhost_user_reply_size(request)) {
        *why = "reply payload of the wrong size";
        return -EPROTO;
    }
    return 0;
}

/* Waits for events on the socket until the deadline: 0, -ETIMEDOUT or -EIO (hung up). */
static int wait_for(struct vhost_user *vu, short events, long long deadline)
{
    int r = fd_wait(vu->sock, events, deadline);
    if (r <= 0)
        return r == 0 ? -ETIMEDOUT : r;
    if (r & events)
        return 0;
    return -EIO; /* POLLHUP/POLLERR without data: the daemon is gone */
}

static int send_msg(struct vhost_user *vu, const struct vhost_user_msg *msg, const int *fds,
                    unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)msg, VHOST_USER_HDR_SIZE + msg->size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > MAX_FDS)
        return -EINVAL;
    if (nfds) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    long long deadline = monotonic_ms() + vu->timeout_ms;
    /* The fds travel with the first byte; a short write sends the rest without them. */
    size_t total = iov.iov_len, sent = 0;
    while (sent < total) {
        int r = wait_for(vu, POLLOUT, deadline);
        if (r < 0)
            return r;
        iov.iov_base = (char *)msg + sent;
        iov.iov_len = total - sent;
        ssize_t n = sendmsg(vu->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return errno == EPIPE || errno == ECONNRESET ? -EIO : -errno;
        }
        sent += (size_t)n;
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
    }
    return 0;
}

/* Reads exactly len bytes; fds the daemon sends along are closed (none is expected). */
static int recv_exact(struct vhost_user *vu, void *buf, size_t len, long long deadline)
{
    size_t got = 0;
    while (got < len) {
        int r = wait_for(vu, POLLIN, deadline);
        if (r < 0)
            return r;
        union {
            char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
            struct cmsghdr align;
        } control;
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(vu->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return errno == ECONNRESET ? -EIO : -errno;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
        if (n == 0)
            return -EIO; /* the daemon closed the connection */
        got += (size_t)n;
    }
    return 0;
}

static int recv_reply(struct vhost_user *vu, uint32_t request, struct vhost_user_msg *reply)
{
    long long deadline = monotonic_ms() + vu->timeout_ms;
    int r = recv_exact(vu, reply, VHOST_USER_HDR_SIZE, deadline);
    if (r < 0)
        return r;
    /* Read no more than the expected payload: a lying size is caught by the check below,
     * and the connection is not used again after a protocol error. */
    size_t want = reply->size == vhost_user_reply_size(request) ? reply->size : 0;
    if (want && (r = recv_exact(vu, &reply->payload, want, deadline)) < 0)
        return r;
    const char *why;
    if (vhost_user_check_reply(reply, VHOST_USER_HDR_SIZE + want, request, &why) < 0)
        return -EPROTO;
    return 0;
}

/* Sends a request; with a reply expected (a GET_* or an acknowledged SET_*), reads and
 * checks it. An acknowledgement carrying a non-zero status is -EIO. */
static int exchange(struct vhost_user *vu, struct vhost_user_msg *msg, const int *fds,
                    unsigned nfds, bool has_reply, struct vhost_user_msg *reply)
{
    bool ack = !has_reply && vu->reply_ack;
    msg->flags = VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0);
    int r = send_msg(vu, msg, fds, nfds);
    if (r < 0 || (!has_reply && !ack))
        return r;
    struct vhost_user_msg local;
    if (!reply)
        reply = &local;
    if ((r = recv_reply(vu, msg->request, reply)) < 0)
        return r;
    if (ack && reply->payload.u64 != 0)
        return -EIO;
    return 0;
}

static int request_u64(struct vhost_user *vu, uint32_t request, uint64_t *value)
{
    struct vhost_user_msg msg = {.request = request, .size = 0}, reply;
    int r = exchange(vu, &msg, NULL, 0, true, &reply);
    if (r == 0)
        *value = reply.payload.u64;
    return r;
}

static int send_u64(struct vhost_user *vu, uint32_t request, uint64_t value, const int *fds,
                    unsigned nfds)
{
    struct vhost_user_msg msg = {.request = request, .size = 8};
    msg.payload.u64 = value;
    return exchange(vu, &msg, fds, nfds, false, NULL);
}

static int send_state(struct vhost_user *vu, uint32_t request, unsigned index, uint32_t num)
{
    struct vhost_user_msg msg = {.request = request, .size = 8};
    msg.payload.state.index = index;
    msg.payload.state.num = num;
    return exchange(vu, &msg, NULL, 0, false, NULL);
}

int vhost_user_open(int sock, int timeout_ms, struct vhost_user **out)
{
    struct vhost_user *vu = calloc(1, sizeof *vu);
    if (!vu) {
        close(sock);
        return -ENOMEM;
    }
    vu->sock = sock;
    vu->timeout_ms = timeout_ms;
    *out = vu;
    return 0;
}

void vhost_user_close(struct vhost_user *vu)
{
    if (!vu)
        return;
    close(vu->sock);
    free(vu);
}

int vhost_user_fd(const struct vhost_user *vu) { return vu->sock; }

int vhost_user_handshake(struct vhost_user *vu, uint64_t *features)
{
    int r = request_u64(vu, VHOST_USER_GET_FEATURES, &vu->features);
    if (r < 0)
        return r;
    if (vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
        uint64_t proto = 0;
        if ((r = request_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto)) < 0)
            return r;
        uint64_t want = proto & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
        if ((r = send_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, want, NULL, 0)) < 0)
            return r;
        vu->protocol_features = true;
        vu->reply_ack = want != 0;
    }
    struct vhost_user_msg owner = {.request = VHOST_USER_SET_OWNER, .size = 0};
    if ((r = exchange(vu, &owner, NULL, 0, false, NULL)) < 0)
        return r;
    *features = vu->features;
    return 0;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features)
{
    if (vu->protocol_features)
        features |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
    return send_u64(vu, VHOST_USER_SET_FEATURES, features, NULL, 0);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *r,
                             unsigned n)
{
    if (n == 0 || n > VHOST_USER_MAX_REGIONS)
        return -EINVAL;
    struct vhost_user_msg msg = {.request = VHOST_USER_SET_MEM_TABLE, .size = 8 + 32 * n};
    int fds[VHOST_USER_MAX_REGIONS];
    msg.payload.mem.nregions = n;
    for (unsigned i = 0; i < n; i++) {
        msg.payload.mem.regions[i].guest_phys_addr = r[i].guest_phys_addr;
        msg.payload.mem.regions[i].memory_size = r[i].size;
        msg.payload.mem.regions[i].userspace_addr = (uint64_t)(uintptr_t)r[i].host;
        msg.payload.mem.regions[i].mmap_offset = r[i].fd_offset;
        fds[i] = r[i].fd;
    }
    return exchange(vu, &msg, fds, n, false, NULL);
}

int vhost_user_set_ring_addr(struct vhost_user *vu, unsigned index,
                             const struct vhost_user_ring *ring)
{
    struct vhost_user_msg msg = {.request = VHOST_USER_SET_VRING_ADDR, .size = 40};
    msg.payload.addr.index = index;
    msg.payload.addr.desc_user_addr = (uint64_t)(uintptr_t)ring->desc;
    msg.payload.addr.avail_user_addr = (uint64_t)(uintptr_t)ring->avail;
    msg.payload.addr.used_user_addr = (uint64_t)(uintptr_t)ring->used;
    return exchange(vu, &msg, NULL, 0, false, NULL);
}

int vhost_user_start_ring(struct vhost_user *vu, unsigned index,
                          const struct vhost_user_ring *ring)
{
    int r;
    if ((r = send_state(vu, VHOST_USER_SET_VRING_NUM, index, ring->num)) < 0 ||
        (r = send_state(vu, VHOST_USER_SET_VRING_BASE, index, ring->base)) < 0)
        return r;
    if ((r = vhost_user_set_ring_addr(vu, index, ring)) < 0)
        return r;
    /* The call fd before the kick: the daemon may serve (and signal) from its first kick. */
    if ((r = send_u64(vu, VHOST_USER_SET_VRING_CALL, index, &ring->call_fd, 1)) < 0 ||
        (r = send_u64(vu, VHOST_USER_SET_VRING_KICK, index, &ring->kick_fd, 1)) < 0)
        return r;
    /* Without protocol features a ring is enabled by its kick fd already. */
    if (vu->protocol_features)
        r = send_state(vu, VHOST_USER_SET_VRING_ENABLE, index, 1);
    return r;
}

int vhost_user_stop_ring(struct vhost_user *vu, unsigned index, uint32_t *base)
{
    int r;
    if (vu->protocol_features && (r = send_state(vu, VHOST_USER_SET_VRING_ENABLE, index, 0)) < 0)
        return r;
    struct vhost_user_msg msg = {.request = VHOST_USER_GET_VRING_BASE, .size = 8}, reply;
    msg.payload.state.index = index;
    if ((r = exchange(vu, &msg, NULL, 0, true, &reply)) < 0)
        return r;
    if (reply.payload.state.index != index)
        return -EPROTO;
    *base = reply.payload.state.num;
    return 0;
}
