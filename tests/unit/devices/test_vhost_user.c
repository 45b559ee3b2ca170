/* Unit tests of the vhost-user front-end against a scripted back-end on a socketpair:
 * message encoding (memory table, rings, fds passed), and replies checked: wrong request,
 * missing reply flag, wrong size, a failed ack, a back-end that hangs up or never answers. */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/vhost_user.h"
#include "devices/virtio/fs_session.h"

enum fake_mode { FAKE_GOOD, FAKE_WRONG_REQUEST, FAKE_NO_REPLY_FLAG, FAKE_BAD_SIZE,
                 FAKE_NACK, FAKE_HANG_UP, FAKE_SILENT };

struct fake {
    int sock;
    enum fake_mode mode;
    unsigned fail_at;            /* the message number the mode applies to (1-based) */
    bool reply_ack;
    /* what it saw */
    unsigned count;
    uint32_t requests[64];
    int fds_seen[64];
    struct vhost_user_msg mem_table;
    uint64_t features_set;
};

static int read_msg(struct fake *f, struct vhost_user_msg *m, int *nfds)
{
    char control[CMSG_SPACE(8 * sizeof(int))];
    struct iovec iov = {m, VHOST_USER_HDR_SIZE};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                        .msg_controllen = sizeof control};
    ssize_t n = recvmsg(f->sock, &mh, 0);
    if (n != VHOST_USER_HDR_SIZE)
        return -1;
    *nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            close(fd);
        }
        *nfds += k;
    }
    if (m->size && read(f->sock, &m->payload, m->size) != (ssize_t)m->size)
        return -1;
    return 0;
}

static void reply(struct fake *f, const struct vhost_user_msg *req, uint64_t value)
{
    struct vhost_user_msg r = {.request = req->request,
                               .flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, .size = 8};
    r.payload.u64 = value;
    if (req->request == VHOST_USER_GET_VRING_BASE) {
        r.payload.state.index = req->payload.state.index;
        r.payload.state.num = 7;
    }
    bool fail = f->count == f->fail_at;
    if (fail && f->mode == FAKE_WRONG_REQUEST)
        r.request++;
    if (fail && f->mode == FAKE_NO_REPLY_FLAG)
        r.flags = VHOST_USER_VERSION;
    if (fail && f->mode == FAKE_BAD_SIZE)
        r.size = 4;
    if (fail && f->mode == FAKE_NACK)
        r.payload.u64 = 1;
    if (write(f->sock, &r, VHOST_USER_HDR_SIZE + 8) < 0)
        return;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    struct vhost_user_msg m;
    int nfds;
    while (read_msg(f, &m, &nfds) == 0 && f->count < 64) {
        f->requests[f->count] = m.request;
        f->fds_seen[f->count] = nfds;
        f->count++;
        bool fail = f->count == f->fail_at;
        if (fail && f->mode == FAKE_HANG_UP)
            break;
        if (fail && f->mode == FAKE_SILENT)
            continue;
        if (m.request == VHOST_USER_SET_MEM_TABLE)
            f->mem_table = m;
        if (m.request == VHOST_USER_SET_FEATURES)
            f->features_set = m.payload.u64;
        if (m.request == VHOST_USER_SET_PROTOCOL_FEATURES)
            f->reply_ack = m.payload.u64 & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
        switch (m.request) {
        case VHOST_USER_GET_FEATURES:
            reply(f, &m, (1ull << 32) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
            break;
        case VHOST_USER_GET_PROTOCOL_FEATURES:
            reply(f, &m, (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | 1ull);
            break;
        case VHOST_USER_GET_VRING_BASE: reply(f, &m, 0); break;
        default:
            if (m.flags & VHOST_USER_FLAG_NEED_REPLY)
                reply(f, &m, 0);
        }
    }
    close(f->sock);
    return NULL;
}

struct rig {
    struct fake f;
    pthread_t thread;
    struct vhost_user *vu;
};

static void rig_start(struct rig *r, enum fake_mode mode, unsigned fail_at)
{
    int sv[2];
    memset(r, 0, sizeof *r);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    r->f.sock = sv[1];
    r->f.mode = mode;
    r->f.fail_at = fail_at;
    pthread_create(&r->thread, NULL, fake_main, &r->f);
    vhost_user_open(sv[0], 300, &r->vu);
}

static void rig_stop(struct rig *r)
{
    vhost_user_close(r->vu); /* the fake sees EOF and ends */
    pthread_join(r->thread, NULL);
}

TEST(check_reply_rules)
{
    const char *why;
    struct vhost_user_msg m = {.request = VHOST_USER_GET_FEATURES,
                               .flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, .size = 8};
    CHECK(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, &why) == 0);
    CHECK(vhost_user_check_reply(&m, 20, VHOST_USER_SET_OWNER, &why) == -EPROTO);
    CHECK(vhost_user_check_reply(&m, 11, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
    CHECK(vhost_user_check_reply(&m, 19, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
    m.flags = VHOST_USER_VERSION;
    CHECK(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
    m.flags = 2 | VHOST_USER_FLAG_REPLY;
    CHECK(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
    m.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
    m.size = 4;
    CHECK(vhost_user_check_reply(&m, 16, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
    m.size = 0xffffffffu;
    CHECK(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, &why) == -EPROTO);
}

TEST(handshake_memory_and_rings)
{
    struct rig r;
    rig_start(&r, FAKE_GOOD, 0);
    REQUIRE(r.vu);
    uint64_t features = 0;
    CHECK(vhost_user_handshake(r.vu, &features) == 0);
    CHECK(features & (1ull << 32));
    CHECK(vhost_user_set_features(r.vu, 1ull << 32) == 0);
    int memfd = memfd_create("t", MFD_CLOEXEC);
    REQUIRE(memfd >= 0 && ftruncate(memfd, 1 << 20) == 0);
    uint8_t *host = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    REQUIRE(host != MAP_FAILED);
    struct vhost_user_region reg = {.guest_phys_addr = 0x80000000, .size = 1 << 20,
                                    .host = host, .fd = memfd};
    CHECK(vhost_user_set_mem_table(r.vu, &reg, 1) == 0);
    int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
    struct vhost_user_ring ring = {.num = 64, .desc = host, .avail = host + 1024,
                                   .used = host + 2048, .kick_fd = kick, .call_fd = call};
    CHECK(vhost_user_start_ring(r.vu, 1, &ring) == 0);
    uint32_t base = 0;
    CHECK(vhost_user_stop_ring(r.vu, 1, &base) == 0);
    CHECK_EQ_U64(base, 7);
    rig_stop(&r);

    static const uint32_t want[] = {
        VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES,
        VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_SET_OWNER, VHOST_USER_SET_FEATURES,
        VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
        VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_KICK,
        VHOST_USER_SET_VRING_ENABLE, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_GET_VRING_BASE,
    };
    CHECK_EQ_U64(r.f.count, sizeof want / sizeof want[0]);
    for (unsigned i = 0; i < r.f.count && i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_U64(r.f.requests[i], want[i]);
    CHECK(r.f.reply_ack);
    /* PROTOCOL_FEATURES goes along with the driver's bits */
    CHECK_EQ_U64(r.f.features_set, (1ull << 32) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
    CHECK_EQ_U64(r.f.mem_table.payload.mem.nregions, 1);
    CHECK_EQ_U64(r.f.mem_table.payload.mem.regions[0].guest_phys_addr, 0x80000000);
    CHECK_EQ_U64(r.f.mem_table.payload.mem.regions[0].memory_size, 1 << 20);
    CHECK_EQ_U64(r.f.mem_table.payload.mem.regions[0].userspace_addr, (uintptr_t)host);
    CHECK_EQ_U64(r.f.fds_seen[5], 1);  /* the memfd */
    CHECK_EQ_U64(r.f.fds_seen[9], 1);  /* call */
    CHECK_EQ_U64(r.f.fds_seen[10], 1); /* kick */
    munmap(host, 1 << 20);
    close(memfd);
    close(kick);
    close(call);
}

/* Each kind of bad answer to GET_FEATURES (message 1) or to the acked SET_OWNER (4). */
TEST(bad_replies_fail_cleanly)
{
    static const struct { enum fake_mode mode; unsigned at; int want; } cases[] = {
        {FAKE_WRONG_REQUEST, 1, -EPROTO}, {FAKE_NO_REPLY_FLAG, 1, -EPROTO},
        {FAKE_BAD_SIZE, 1, -EPROTO},      {FAKE_NACK, 4, -EIO},
        {FAKE_HANG_UP, 1, -EIO},          {FAKE_HANG_UP, 4, -EIO},
        {FAKE_SILENT, 1, -ETIMEDOUT},     {FAKE_WRONG_REQUEST, 4, -EPROTO},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig r;
        rig_start(&r, cases[i].mode, cases[i].at);
        REQUIRE(r.vu);
        uint64_t features;
        int rc = vhost_user_handshake(r.vu, &features);
        if (rc != cases[i].want)
            printf("  case %u: got %d, want %d\n", i, rc, cases[i].want);
        CHECK(rc == cases[i].want);
        rig_stop(&r);
    }
}

/* The FUSE_INIT cove replays for a resumed guest, and the checks of its reply. */
TEST(fuse_init_request_and_reply)
{
    uint8_t req[FS_INIT_REQUEST_SIZE];
    virtio_fs_init_request(req, 42);
    uint32_t len, opcode, major, minor;
    uint64_t unique;
    memcpy(&len, req, 4);
    memcpy(&opcode, req + 4, 4);
    memcpy(&unique, req + 8, 8);
    memcpy(&major, req + 40, 4);
    memcpy(&minor, req + 44, 4);
    CHECK_EQ_U64(len, FS_INIT_REQUEST_SIZE);
    CHECK_EQ_U64(opcode, 26); /* FUSE_INIT */
    CHECK_EQ_U64(unique, 42);
    CHECK_EQ_U64(major, 7);
    CHECK(minor >= 31);

    uint8_t reply[80] = {0};
    uint32_t rlen = sizeof reply, rmajor = 7;
    int32_t error = 0;
    memcpy(reply, &rlen, 4);
    memcpy(reply + 4, &error, 4);
    memcpy(reply + 8, &unique, 8);
    memcpy(reply + 16, &rmajor, 4);
    const char *why = NULL;
    CHECK(virtio_fs_check_init_reply(reply, sizeof reply, 42, &why) == 0);
    CHECK(virtio_fs_check_init_reply(reply, sizeof reply, 43, &why) == -EPROTO); /* unique */
    CHECK(virtio_fs_check_init_reply(reply, 12, 42, &why) == -EPROTO);           /* short */
    CHECK(virtio_fs_check_init_reply(reply, 60, 42, &why) == -EPROTO);  /* len mismatch */
    error = -EACCES;
    memcpy(reply + 4, &error, 4);
    CHECK(virtio_fs_check_init_reply(reply, sizeof reply, 42, &why) == -EACCES);
    error = 1; /* not an errno */
    memcpy(reply + 4, &error, 4);
    CHECK(virtio_fs_check_init_reply(reply, sizeof reply, 42, &why) == -EPROTO);
    error = 0;
    rmajor = 8;
    memcpy(reply + 4, &error, 4);
    memcpy(reply + 16, &rmajor, 4);
    CHECK(virtio_fs_check_init_reply(reply, sizeof reply, 42, &why) == -EPROTO);
}

/* A daemon that never serves cove's ring: the replay gives up at its deadline, takes the
 * ring back, points it at the guest's ring and leaves guest RAM alone in the table. */
TEST(fuse_init_replay_times_out_cleanly)
{
    struct rig r;
    rig_start(&r, FAKE_GOOD, 0);
    REQUIRE(r.vu);
    uint64_t features = 0;
    CHECK(vhost_user_handshake(r.vu, &features) == 0);
    int memfd = memfd_create("t", MFD_CLOEXEC);
    REQUIRE(memfd >= 0 && ftruncate(memfd, 1 << 20) == 0);
    uint8_t *host = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    REQUIRE(host != MAP_FAILED);
    struct vhost_user_region reg = {.guest_phys_addr = 0x80000000, .size = 1 << 20,
                                    .host = host, .fd = memfd};
    struct vhost_user_ring guest = {.num = 64, .desc = host, .avail = host + 1024,
                                    .used = host + 2048, .kick_fd = -1, .call_fd = -1};
    unsigned before = r.f.count;
    const char *why = NULL;
    CHECK(virtio_fs_replay_init(r.vu, &reg, 1, &guest, 100, &why) == -ETIMEDOUT);
    CHECK(why && strstr(why, "FUSE_INIT"));
    rig_stop(&r);
    static const uint32_t want[] = {
        VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
        VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_KICK,
        VHOST_USER_SET_VRING_ENABLE, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_GET_VRING_BASE,
        VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_MEM_TABLE,
    };
    CHECK_EQ_U64(r.f.count - before, sizeof want / sizeof want[0]);
    for (unsigned i = 0; before + i < r.f.count && i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_U64(r.f.requests[before + i], want[i]);
    CHECK_EQ_U64(r.f.fds_seen[before], 2); /* guest RAM and cove's page */
    CHECK_EQ_U64(r.f.mem_table.payload.mem.nregions, 1);
    CHECK_EQ_U64(r.f.mem_table.payload.mem.regions[0].userspace_addr, (uintptr_t)host);
    munmap(host, 1 << 20);
    close(memfd);
}

int main(void)
{
    RUN(check_reply_rules);
    RUN(handshake_memory_and_rings);
    RUN(bad_replies_fail_cleanly);
    RUN(fuse_init_request_and_reply);
    RUN(fuse_init_replay_times_out_cleanly);
    return test_summary();
}
