/* virtio-console on the I/O thread with pipes for the host side: guest output reaches
 * the output fd, host input reaches the guest's receive buffers (also when it arrives
 * before any buffer is posted), EOF stops input, a reset does not spin the I/O thread. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "../test.h"
#include "devices/virtio/virtio_devices.h"
#include "vdriver.h"

struct env {
    struct iothread *io;
    struct vdriver d;
    int in[2], out[2]; /* in: test -> guest, out: guest -> test */
};

static void setup(struct env *e)
{
    struct cove_error err;
    if (iothread_create(&e->io, &err) < 0 || pipe(e->in) < 0 || pipe(e->out) < 0)
        exit(1);
    vd_ram_init(&e->d);
    struct virtio_mmio_params p = vd_params(&e->d, e->io);
    if (virtio_console_create(&p, e->in[0], e->out[1], &e->d.t, &err) < 0) {
        printf("  %s\n", err.message);
        exit(1);
    }
    vd_negotiate(&e->d, VD_BASE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX));
    vd_queue_setup(&e->d, 0, 16);
    vd_queue_setup(&e->d, 1, 16);
    vd_driver_ok(&e->d);
}

static void teardown(struct env *e)
{
    vd_free(&e->d);
    iothread_destroy(e->io);
    close(e->in[0]);
    if (e->in[1] >= 0)
        close(e->in[1]);
    close(e->out[0]);
    close(e->out[1]);
}

static size_t read_out(struct env *e, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd pfd = {.fd = e->out[0], .events = POLLIN};
        if (poll(&pfd, 1, 2000) <= 0)
            break;
        ssize_t n = read(e->out[0], buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

TEST(transmit)
{
    struct env e;
    setup(&e);
    uint64_t a = vd_alloc(&e.d, 16), b = vd_alloc(&e.d, 16);
    memcpy(vd_ptr(&e.d, a), "hello, ", 7);
    memcpy(vd_ptr(&e.d, b), "host\n", 5);
    struct vd_buf bufs[2] = {{a, 7, false}, {b, 5, false}};
    vd_post(&e.d, 1, bufs, 2);
    vd_notify(&e.d, 1);
    char out[32] = {0};
    CHECK_EQ_U64(read_out(&e, out, 12), 12);
    CHECK_STR(out, "hello, host\n");
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, 1, &id, &len, 2000));
    teardown(&e);
}

TEST(receive)
{
    struct env e;
    setup(&e);
    uint64_t buf = vd_alloc(&e.d, 64);
    struct vd_buf b = {buf, 64, true};
    vd_post(&e.d, 0, &b, 1);
    vd_notify(&e.d, 0);
    CHECK(write(e.in[1], "abc", 3) == 3);
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, 0, &id, &len, 2000));
    CHECK_EQ_U64(len, 3);
    CHECK(memcmp(vd_ptr(&e.d, buf), "abc", 3) == 0);
    CHECK(__atomic_load_n(&e.d.irq_raises, __ATOMIC_SEQ_CST) >= 1);

    /* Input first, buffers later: it waits in the pipe. */
    CHECK(write(e.in[1], "xyz", 3) == 3);
    usleep(20000);
    uint64_t buf2 = vd_alloc(&e.d, 64);
    struct vd_buf b2 = {buf2, 64, true};
    vd_post(&e.d, 0, &b2, 1);
    vd_notify(&e.d, 0);
    CHECK(vd_get_used(&e.d, 0, &id, &len, 2000));
    CHECK_EQ_U64(len, 3);
    CHECK(memcmp(vd_ptr(&e.d, buf2), "xyz", 3) == 0);
    teardown(&e);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(input_eof_and_reset)
{
    struct env e;
    setup(&e);
    /* Input arriving while the device is reset: nothing is consumed, nothing spins. */
    usleep(20000); /* the receive queue is idle, input watched */
    vd_wr(&e.d, VIRTIO_MMIO_STATUS, 0);
    double cpu0 = cpu_seconds();
    CHECK(write(e.in[1], "q", 1) == 1);
    usleep(200000);
    CHECK(cpu_seconds() - cpu0 < 0.05);
    struct pollfd pfd = {.fd = e.in[0], .events = POLLIN};
    CHECK(poll(&pfd, 1, 0) == 1); /* still unread */
    vd_negotiate(&e.d, VD_BASE_FEATURES);
    vd_queue_setup(&e.d, 0, 16);
    vd_queue_setup(&e.d, 1, 16);
    vd_driver_ok(&e.d);
    uint64_t buf = vd_alloc(&e.d, 8);
    struct vd_buf b = {buf, 8, true};
    vd_post(&e.d, 0, &b, 1);
    vd_notify(&e.d, 0);
    uint32_t id, len;
    CHECK(vd_get_used(&e.d, 0, &id, &len, 2000));
    CHECK_EQ_U64(len, 1);
    /* EOF: the posted buffer stays with the device, unused. */
    close(e.in[1]);
    e.in[1] = -1;
    double cpu1 = cpu_seconds();
    vd_post(&e.d, 0, &b, 1);
    vd_notify(&e.d, 0);
    CHECK(!vd_get_used(&e.d, 0, &id, &len, 200));
    /* A hung-up input must not spin the loop: a spin burns the whole 200 ms; the margin is
     * for a sanitizer build on a loaded machine. */
    CHECK(cpu_seconds() - cpu1 < 0.05);
    CHECK(!vd_needs_reset(&e.d));
    teardown(&e);
}

TEST(emergency_write)
{
    struct env e;
    setup(&e);
    virtio_mmio_write(e.d.t, VIRTIO_MMIO_CONFIG + 8, 4, '!');
    char c = 0;
    CHECK_EQ_U64(read_out(&e, &c, 1), 1);
    CHECK_EQ_U64(c, '!');
    uint64_t v;
    virtio_mmio_read(e.d.t, VIRTIO_MMIO_CONFIG + 4, 4, &v);
    CHECK_EQ_U64(v, 1); /* max_nr_ports */
    teardown(&e);
}

TEST(needs_iothread)
{
    struct vdriver d;
    vd_ram_init(&d);
    struct virtio_mmio_params p = vd_params(&d, NULL);
    struct cove_error err;
    CHECK(virtio_console_create(&p, 0, 1, &d.t, &err) == -EINVAL);
    free(d.ram.host);
}

int main(void)
{
    RUN(transmit);
    RUN(receive);
    RUN(input_eof_and_reset);
    RUN(emergency_write);
    RUN(needs_iothread);
    return test_summary();
}
