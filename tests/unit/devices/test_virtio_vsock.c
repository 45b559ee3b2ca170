/* virtio-vsock through the transport, on the I/O thread, with real Unix sockets on the
 * host side: host- and guest-initiated connections, data both ways, credit accounting in
 * both directions, resets for unknown ports and bad packets, violations for malformed
 * chains, and a driver reset closing the host sockets. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "util/state_format.h"
#include "vdriver.h"

#define HDR 44
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define GUEST_CID 3
#define GUEST_BUF 4096

struct pkt {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
    uint8_t data[GUEST_BUF];
};

struct env {
    struct iothread *io;
    struct vdriver d;
    char path[64];
    uint64_t rx_bufs[64];
    uint64_t tx_hdr, tx_data; /* one packet at a time: guest_send waits for it */
};

static void put_hdr(uint8_t *p, const struct pkt *k)
{
    memcpy(p, &k->src_cid, 8);
    memcpy(p + 8, &k->dst_cid, 8);
    memcpy(p + 16, &k->src_port, 4);
    memcpy(p + 20, &k->dst_port, 4);
    memcpy(p + 24, &k->len, 4);
    memcpy(p + 28, &k->type, 2);
    memcpy(p + 30, &k->op, 2);
    memcpy(p + 32, &k->flags, 4);
    memcpy(p + 36, &k->buf_alloc, 4);
    memcpy(p + 40, &k->fwd_cnt, 4);
}

static void get_hdr(const uint8_t *p, struct pkt *k)
{
    memcpy(&k->src_cid, p, 8);
    memcpy(&k->dst_cid, p + 8, 8);
    memcpy(&k->src_port, p + 16, 4);
    memcpy(&k->dst_port, p + 20, 4);
    memcpy(&k->len, p + 24, 4);
    memcpy(&k->type, p + 28, 2);
    memcpy(&k->op, p + 30, 2);
    memcpy(&k->flags, p + 32, 4);
    memcpy(&k->buf_alloc, p + 36, 4);
    memcpy(&k->fwd_cnt, p + 40, 4);
}

/* Posts receive buffer i (header + 4 KiB, two descriptors as Linux 6.1 does). */
static void post_rx(struct env *e, unsigned i)
{
    struct vd_buf b[2] = {{e->rx_bufs[i], HDR, true}, {e->rx_bufs[i] + HDR, GUEST_BUF, true}};
    vd_post(&e->d, RXQ, b, 2);
}

static void setup(struct env *e)
{
    struct cove_error err;
    if (iothread_create(&e->io, &err) < 0)
        exit(1);
    snprintf(e->path, sizeof e->path, "/tmp/cove-test-vsock-%d.sock", (int)getpid());
    vd_ram_init(&e->d);
    struct virtio_mmio_params p = vd_params(&e->d, e->io);
    if (virtio_vsock_create(&p, GUEST_CID, e->path, &e->d.t, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    vd_negotiate(&e->d, VD_BASE_FEATURES | 1);
    for (unsigned q = 0; q < 3; q++)
        vd_queue_setup(&e->d, q, 64);
    vd_driver_ok(&e->d);
    for (unsigned i = 0; i < 32; i++) {
        e->rx_bufs[i] = vd_alloc(&e->d, HDR + GUEST_BUF);
        post_rx(e, i);
    }
    vd_notify(&e->d, RXQ);
    e->tx_hdr = vd_alloc(&e->d, HDR);
    e->tx_data = vd_alloc(&e->d, 65536);
}

static void teardown(struct env *e)
{
    vd_free(&e->d);
    iothread_destroy(e->io);
    unlink(e->path);
}

/* The guest sends a packet (header and payload in separate descriptors). */
static void guest_send(struct env *e, struct pkt k, const void *data, uint32_t len)
{
    if (!k.src_cid)
        k.src_cid = GUEST_CID;
    if (!k.dst_cid)
        k.dst_cid = 2;
    if (!k.type)
        k.type = 1;
    if (!k.buf_alloc)
        k.buf_alloc = 256 * 1024;
    k.len = len;
    uint64_t h = e->tx_hdr, d = e->tx_data;
    put_hdr(vd_ptr(&e->d, h), &k);
    if (len)
        memcpy(vd_ptr(&e->d, d), data, len);
    struct vd_buf b[2] = {{h, HDR, false}, {d, len, false}};
    vd_post(&e->d, TXQ, b, len ? 2 : 1);
    vd_notify(&e->d, TXQ);
    uint32_t id, used;
    vd_get_used(&e->d, TXQ, &id, &used, 2000);
}

/* The next packet for the guest; false when none came. The buffer is posted again. */
static bool guest_recv(struct env *e, struct pkt *k, int timeout_ms)
{
    uint32_t id, len;
    if (!vd_get_used(&e->d, RXQ, &id, &len, timeout_ms))
        return false;
    /* Find the buffer by its head descriptor's address, and post it again. */
    uint8_t *desc = vd_ptr(&e->d, e->d.q[RXQ].desc + 16ull * id);
    uint64_t addr;
    memcpy(&addr, desc, 8);
    get_hdr(vd_ptr(&e->d, addr), k);
    if (k->len <= GUEST_BUF)
        memcpy(k->data, vd_ptr(&e->d, addr + HDR), k->len);
    for (unsigned i = 0; i < 32; i++)
        if (e->rx_bufs[i] == addr)
            post_rx(e, i);
    vd_notify(&e->d, RXQ);
    return true;
}

static int host_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t host_read(int fd, void *buf, size_t n, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    return read(fd, buf, n);
}

/* A host-initiated connection to guest port 1024, accepted; returns the host fd. */
static int establish(struct env *e, uint32_t *host_port)
{
    int fd = host_connect(e->path);
    if (fd < 0 || write(fd, "CONNECT 1024\n", 13) != 13)
        return -1;
    struct pkt k;
    if (!guest_recv(e, &k, 2000) || k.op != OP_REQUEST || k.dst_port != 1024)
        return -1;
    *host_port = k.src_port;
    guest_send(e, (struct pkt){.src_port = 1024, .dst_port = k.src_port, .op = OP_RESPONSE},
               NULL, 0);
    char line[32] = {0};
    if (host_read(fd, line, sizeof line - 1, 2000) <= 0 || strncmp(line, "OK ", 3) != 0)
        return -1;
    return fd;
}

TEST(config_and_features)
{
    struct env e;
    setup(&e);
    uint64_t v = 0;
    virtio_mmio_read(e.d.t, VIRTIO_MMIO_DEVICE_ID, 4, &v);
    CHECK_EQ_U64(v, 19);
    virtio_mmio_read(e.d.t, VIRTIO_MMIO_CONFIG, 8, &v);
    CHECK_EQ_U64(v, GUEST_CID);
    teardown(&e);
}

TEST(host_connect_data_both_ways)
{
    struct env e;
    setup(&e);
    uint32_t hp = 0;
    int fd = establish(&e, &hp);
    CHECK(fd >= 0);
    CHECK(hp >= (1u << 30));
    CHECK(write(fd, "ping", 4) == 4);
    struct pkt k;
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_RW);
    CHECK_EQ_U64(k.len, 4);
    CHECK(!memcmp(k.data, "ping", 4));
    CHECK_EQ_U64(k.src_cid, 2);
    CHECK_EQ_U64(k.dst_cid, GUEST_CID);
    CHECK_EQ_U64(k.buf_alloc, 256 * 1024);
    guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = hp, .op = OP_RW}, "pong!", 5);
    char buf[16] = {0};
    CHECK(host_read(fd, buf, sizeof buf, 2000) == 5);
    CHECK(!memcmp(buf, "pong!", 5));
    /* fwd_cnt counts what reached the host socket; the next packet says so. */
    CHECK(write(fd, "x", 1) == 1);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.fwd_cnt, 5);
    /* Host half-close: the guest is told the host sends no more. */
    shutdown(fd, SHUT_WR);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_SHUTDOWN);
    CHECK_EQ_U64(k.flags, 2);
    /* Guest closes both ways: the host sees EOF, the guest gets the closing RST. */
    guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = hp, .op = OP_SHUTDOWN, .flags = 3},
               NULL, 0);
    CHECK(host_read(fd, buf, sizeof buf, 2000) == 0);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_RST);
    close(fd);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(guest_connect_to_host_port)
{
    struct env e;
    setup(&e);
    char lpath[80];
    snprintf(lpath, sizeof lpath, "%s_5000", e.path);
    unlink(lpath);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", lpath);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 4) == 0);
    guest_send(&e, (struct pkt){.src_port = 40000, .dst_port = 5000, .op = OP_REQUEST}, NULL, 0);
    struct pkt k;
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_RESPONSE);
    CHECK_EQ_U64(k.dst_port, 40000);
    CHECK_EQ_U64(k.src_port, 5000);
    int fd = accept(l, NULL, NULL);
    CHECK(fd >= 0);
    guest_send(&e, (struct pkt){.src_port = 40000, .dst_port = 5000, .op = OP_RW}, "hello", 5);
    char buf[8] = {0};
    CHECK(host_read(fd, buf, sizeof buf, 2000) == 5 && !memcmp(buf, "hello", 5));
    CHECK(write(fd, "back", 4) == 4);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK(k.op == OP_RW && k.len == 4 && !memcmp(k.data, "back", 4));
    /* A port nobody listens on: reset. */
    guest_send(&e, (struct pkt){.src_port = 40001, .dst_port = 5001, .op = OP_REQUEST}, NULL, 0);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_RST);
    CHECK_EQ_U64(k.dst_port, 40001);
    close(fd);
    close(l);
    unlink(lpath);
    teardown(&e);
}

TEST(rst_for_unknown_and_bad_packets)
{
    struct env e;
    setup(&e);
    struct pkt k;
    /* Data on a connection that does not exist. */
    guest_send(&e, (struct pkt){.src_port = 1, .dst_port = 2, .op = OP_RW}, "zz", 2);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_RST);
    /* An unknown op, and a type other than stream. */
    guest_send(&e, (struct pkt){.src_port = 1, .dst_port = 2, .op = 99}, NULL, 0);
    CHECK(guest_recv(&e, &k, 2000) && k.op == OP_RST);
    guest_send(&e, (struct pkt){.src_port = 1, .dst_port = 2, .op = OP_REQUEST, .type = 2},
               NULL, 0);
    CHECK(guest_recv(&e, &k, 2000) && k.op == OP_RST);
    /* An RST for nothing gets no answer. */
    guest_send(&e, (struct pkt){.src_port = 1, .dst_port = 2, .op = OP_RST}, NULL, 0);
    CHECK(!guest_recv(&e, &k, 100));
    /* A bad connect line closes the host socket without a word to the guest. */
    int fd = host_connect(e.path);
    CHECK(write(fd, "CONNECT x\n", 10) == 10);
    char c;
    CHECK(host_read(fd, &c, 1, 2000) == 0);
    close(fd);
    CHECK(!guest_recv(&e, &k, 100));
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(host_respects_guest_credit)
{
    struct env e;
    setup(&e);
    uint32_t hp;
    int fd = establish(&e, &hp);
    CHECK(fd >= 0);
    /* The guest has room for 1000 bytes only. */
    guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = hp, .op = OP_CREDIT_UPDATE,
                                .buf_alloc = 1000},
               NULL, 0);
    static char big[20000];
    memset(big, 'a', sizeof big);
    CHECK(write(fd, big, sizeof big) == (ssize_t)sizeof big);
    struct pkt k;
    uint32_t got = 0;
    while (guest_recv(&e, &k, 300))
        if (k.op == OP_RW)
            got += k.len;
    CHECK_EQ_U64(got, 1000);
    /* The guest consumed it all: 1000 more. */
    guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = hp, .op = OP_CREDIT_UPDATE,
                                .buf_alloc = 1000, .fwd_cnt = 1000},
               NULL, 0);
    got = 0;
    while (guest_recv(&e, &k, 300))
        if (k.op == OP_RW)
            got += k.len;
    CHECK_EQ_U64(got, 1000);
    close(fd);
    teardown(&e);
}

TEST(guest_past_host_credit_is_reset)
{
    struct env e;
    setup(&e);
    uint32_t hp;
    int fd = establish(&e, &hp);
    CHECK(fd >= 0);
    /* The host never reads: the socket fills, then our 256 KiB, then the guest overruns. */
    static char chunk[GUEST_BUF];
    struct pkt k;
    bool reset = false;
    for (int i = 0; i < 1024 && !reset; i++) {
        guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = hp, .op = OP_RW}, chunk,
                   sizeof chunk);
        while (guest_recv(&e, &k, 0))
            reset |= k.op == OP_RST;
    }
    if (!reset)
        reset = guest_recv(&e, &k, 1000) && k.op == OP_RST;
    CHECK(reset);
    CHECK(!vd_needs_reset(&e.d));
    close(fd);
    teardown(&e);
}

TEST(malformed_chains_need_reset)
{
    struct env e;
    setup(&e);
    /* A header cut short. */
    uint64_t h = vd_alloc(&e.d, HDR);
    struct vd_buf b = {h, 20, false};
    vd_post(&e.d, TXQ, &b, 1);
    vd_notify(&e.d, TXQ);
    usleep(100000);
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);

    setup(&e);
    /* A length beyond the buffers. */
    struct pkt k = {.src_cid = GUEST_CID, .dst_cid = 2, .type = 1, .op = OP_RW, .len = 5000};
    h = vd_alloc(&e.d, HDR + 8);
    put_hdr(vd_ptr(&e.d, h), &k);
    b = (struct vd_buf){h, HDR + 8, false};
    vd_post(&e.d, TXQ, &b, 1);
    vd_notify(&e.d, TXQ);
    usleep(100000);
    CHECK(vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(listen_socket_is_private)
{
    /* Whoever can connect reaches the guest agent, root in the guest: never other users. */
    mode_t old = umask(0);
    struct env e;
    setup(&e);
    umask(old);
    struct stat st;
    CHECK(stat(e.path, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ_U64(st.st_mode & 07777, 0600);
    teardown(&e);
}

TEST(refusals_past_the_table_warn_once_a_second)
{
    struct env e;
    setup(&e);
    int open_fds[128], n_open = 0;
    for (; n_open < 128; n_open++)
        open_fds[n_open] = host_connect(e.path); /* each waits for its CONNECT line */
    /* The warnings go to stderr: catch them in a file. */
    fflush(stderr);
    FILE *log = tmpfile();
    int saved = dup(2);
    dup2(fileno(log), 2);
    int refused = 0;
    for (int i = 0; i < 100; i++) {
        int fd = host_connect(e.path);
        char c;
        if (fd >= 0 && host_read(fd, &c, 1, 2000) == 0)
            refused++;
        if (fd >= 0)
            close(fd);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_EQ_U64(refused, 100);
    rewind(log);
    char line[512];
    int warnings = 0;
    while (fgets(line, sizeof line, log))
        warnings += strstr(line, "refusing another") != NULL;
    fclose(log);
    if (warnings > 3)
        printf("  %d warnings for 100 refusals\n", warnings);
    CHECK(warnings >= 1 && warnings <= 3); /* one a second; the loop takes well under 3 s */
    for (int i = 0; i < n_open; i++)
        close(open_fds[i]);
    teardown(&e);
}

/* In a child running as nobody: connect and ask for a guest port; exit 0 if the
 * connection was closed without a byte, 1 if anything came back, 2 if connect failed. */
static int connect_as_nobody(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        int fd = host_connect(path);
        if (fd < 0)
            _exit(2);
        signal(SIGPIPE, SIG_IGN); /* the server may close before the write */
        (void)!write(fd, "CONNECT 1024\n", 13);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c;
        _exit(poll(&p, 1, 2000) == 1 && read(fd, &c, 1) <= 0 ? 0 : 1); /* EOF or reset */
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The socket's mode keeps other users out but not root: the peer's uid is checked too.
 * The mode is opened up here so that only that check stands between nobody and the guest. */
TEST(only_the_owner_uid_reaches_the_guest)
{
    if (geteuid() != 0) {
        test_skip("needs root to run a peer as another uid");
        return;
    }
    struct env e;
    setup(&e);
    CHECK(chmod(e.path, 0666) == 0);
    fflush(stderr);
    FILE *log = tmpfile();
    int saved = dup(2);
    dup2(fileno(log), 2);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U64(connect_as_nobody(e.path), 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct pkt k;
    CHECK(!guest_recv(&e, &k, 200)); /* the guest never heard of them */
    rewind(log);
    char line[512];
    int warnings = 0;
    while (fgets(line, sizeof line, log))
        warnings += strstr(line, "refused a connection from uid 65534") != NULL;
    fclose(log);
    CHECK(warnings >= 1 && warnings <= 2); /* one a second, not one per refusal */
    uint32_t port;
    int fd = establish(&e, &port);
    CHECK(fd >= 0); /* the owner is served */
    if (fd >= 0)
        close(fd);
    teardown(&e);
}

TEST(driver_reset_closes_host_sockets)
{
    struct env e;
    setup(&e);
    uint32_t hp;
    int fd = establish(&e, &hp);
    CHECK(fd >= 0);
    vd_wr(&e.d, VIRTIO_MMIO_STATUS, 0);
    char c;
    CHECK(host_read(fd, &c, 1, 2000) == 0);
    close(fd);
    /* The listener outlives the reset. */
    fd = host_connect(e.path);
    CHECK(fd >= 0);
    close(fd);
    teardown(&e);
}

/* Saves the device and restores it into a new one on the same guest memory, as a resume
 * does: the driver's rings and buffers stay where they were. */
static bool restore(struct env *e)
{
    struct state_writer w;
    struct state_file f;
    struct state_reader r;
    struct cove_error err;
    uint32_t version;
    state_writer_init(&w);
    state_writer_section(&w, "virtio.0", 1);
    virtio_mmio_quiesce(e->d.t);
    bool ok = virtio_mmio_save(e->d.t, &w) == 0;
    virtio_mmio_destroy(e->d.t);
    e->d.t = NULL;
    ok = ok && state_writer_finish(&w) == 0 &&
         state_file_parse(w.data, w.len, "test", &f, &err) == 0 &&
         state_file_section(&f, "virtio.0", &version, &r) == 0;
    struct virtio_mmio_params p = vd_params(&e->d, e->io);
    ok = ok && virtio_vsock_create(&p, GUEST_CID, e->path, &e->d.t, &err) == 0 &&
         virtio_mmio_load(e->d.t, &r, &err) == 0;
    if (!ok)
        printf("  restore: %s\n", err.message);
    state_writer_free(&w);
    return ok;
}

static void post_event(struct env *e, uint64_t buf)
{
    struct vd_buf b = {buf, 4, true};
    vd_post(&e->d, EVQ, &b, 1);
}

/* After a restore the device sends TRANSPORT_RESET; a host connection made before the
 * driver took it waits (its REQUEST would be reset with the old connections), and goes to
 * the guest once the driver hands the event buffer back. */
TEST(restore_holds_host_connections_until_reset_taken)
{
    struct env e;
    setup(&e);
    uint64_t ev[4];
    for (unsigned i = 0; i < 4; i++)
        post_event(&e, ev[i] = vd_alloc(&e.d, 4));
    vd_notify(&e.d, EVQ);
    CHECK(restore(&e));
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, EVQ, &id, &len, 2000));
    CHECK_EQ_U64(len, 4);
    uint32_t event;
    memcpy(&event, vd_ptr(&e.d, ev[id < 4 ? id : 0]), 4);
    CHECK_EQ_U64(event, 0); /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
    int fd = host_connect(e.path);
    CHECK(fd >= 0 && write(fd, "CONNECT 1024\n", 13) == 13);
    struct pkt k;
    CHECK(!guest_recv(&e, &k, 300)); /* held */
    /* A notify without a new buffer is not the sign. */
    vd_notify(&e.d, EVQ);
    CHECK(!guest_recv(&e, &k, 300));
    post_event(&e, ev[0]);
    vd_notify(&e.d, EVQ);
    CHECK(guest_recv(&e, &k, 2000));
    CHECK_EQ_U64(k.op, OP_REQUEST);
    CHECK_EQ_U64(k.dst_port, 1024);
    guest_send(&e, (struct pkt){.src_port = 1024, .dst_port = k.src_port, .op = OP_RESPONSE},
               NULL, 0);
    char line[32] = {0};
    CHECK(host_read(fd, line, sizeof line - 1, 2000) > 0 && !strncmp(line, "OK ", 3));
    close(fd);
    CHECK(guest_recv(&e, &k, 2000)); /* the host closed: its shutdown */
    CHECK_EQ_U64(k.op, OP_SHUTDOWN);
    while (guest_recv(&e, &k, 300))
        ;
    /* Later connections are not held. */
    uint32_t hp;
    fd = establish(&e, &hp);
    CHECK(fd >= 0);
    close(fd);
    teardown(&e);
}

/* A driver that never hands the event buffer back gets held connections after the
 * deadline (3 s) all the same. */
TEST(restore_hold_ends_at_deadline)
{
    struct env e;
    setup(&e);
    post_event(&e, vd_alloc(&e.d, 4));
    CHECK(restore(&e));
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, EVQ, &id, &len, 2000));
    int fd = host_connect(e.path);
    CHECK(fd >= 0 && write(fd, "CONNECT 1024\n", 13) == 13);
    struct pkt k;
    CHECK(!guest_recv(&e, &k, 1000));
    CHECK(guest_recv(&e, &k, 5000));
    CHECK_EQ_U64(k.op, OP_REQUEST);
    close(fd);
    teardown(&e);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(config_and_features);
    RUN(host_connect_data_both_ways);
    RUN(guest_connect_to_host_port);
    RUN(rst_for_unknown_and_bad_packets);
    RUN(host_respects_guest_credit);
    RUN(guest_past_host_credit_is_reset);
    RUN(malformed_chains_need_reset);
    RUN(driver_reset_closes_host_sockets);
    RUN(listen_socket_is_private);
    RUN(refusals_past_the_table_warn_once_a_second);
    RUN(only_the_owner_uid_reaches_the_guest);
    RUN(restore_holds_host_connections_until_reset_taken);
    RUN(restore_hold_ends_at_deadline);
    return test_summary();
}
