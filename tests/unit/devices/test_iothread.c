/* The I/O thread: handlers run on it, disabled watches stay quiet even for a hung-up fd,
 * unwatch from another thread waits for a running handler. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "devices/iothread.h"

struct counter {
    struct iothread *io;
    int fd;
    int calls;
    int on_thread;
    int sleep_ms;
};

static void count_event(void *opaque, uint32_t events)
{
    struct counter *c = opaque;
    char buf[64];
    if (events & EPOLLIN) {
        if (read(c->fd, buf, sizeof buf) < 0) {
            /* EOF or nothing: counted all the same */
        }
    }
    if (iothread_is_current(c->io))
        __atomic_fetch_add(&c->on_thread, 1, __ATOMIC_SEQ_CST);
    if (c->sleep_ms)
        usleep((useconds_t)c->sleep_ms * 1000);
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_SEQ_CST);
}

static int calls(struct counter *c) { return __atomic_load_n(&c->calls, __ATOMIC_SEQ_CST); }

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(handler_runs_on_the_thread)
{
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    struct counter c = {.io = io, .fd = p[0]};
    struct iothread_watch *w;
    REQUIRE(iothread_watch(io, p[0], EPOLLIN, count_event, &c, &w) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    for (int i = 0; i < 2000 && calls(&c) == 0; i++)
        usleep(1000);
    CHECK_EQ_U64(calls(&c), 1);
    CHECK_EQ_U64(c.on_thread, 1);
    CHECK(!iothread_is_current(io));
    iothread_unwatch(w);
    CHECK(write(p[1], "y", 1) == 1);
    usleep(20000);
    CHECK_EQ_U64(calls(&c), 1); /* unwatched: no more calls */
    close(p[0]);
    close(p[1]);
    iothread_destroy(io);
}

TEST(disabled_watch_ignores_hangup)
{
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    struct counter c = {.io = io, .fd = p[0]};
    struct iothread_watch *w;
    REQUIRE(iothread_watch(io, p[0], 0, count_event, &c, &w) == 0);
    close(p[1]); /* hung up: epoll reports EPOLLHUP whatever the mask */
    double cpu0 = cpu_seconds();
    usleep(100000);
    CHECK_EQ_U64(calls(&c), 0);
    CHECK(cpu_seconds() - cpu0 < 0.01);
    CHECK(iothread_watch_set_events(w, EPOLLIN) == 0);
    for (int i = 0; i < 2000 && calls(&c) == 0; i++)
        usleep(1000);
    CHECK(calls(&c) >= 1);
    CHECK(iothread_watch_set_events(w, 0) == 0);
    int n = calls(&c);
    usleep(50000);
    CHECK_EQ_U64(calls(&c), n);
    iothread_unwatch(w);
    close(p[0]);
    iothread_destroy(io);
}

TEST(unwatch_waits_for_running_handler)
{
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    struct counter c = {.io = io, .fd = p[0], .sleep_ms = 100};
    struct iothread_watch *w;
    REQUIRE(iothread_watch(io, p[0], EPOLLIN, count_event, &c, &w) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    usleep(30000); /* the handler is sleeping now */
    iothread_unwatch(w);
    CHECK_EQ_U64(calls(&c), 1); /* it finished before unwatch returned */
    close(p[0]);
    close(p[1]);
    iothread_destroy(io);
}

TEST(regular_files_cannot_be_watched)
{
    struct iothread *io;
    REQUIRE(iothread_create(&io, NULL) == 0);
    char path[] = "/tmp/cove-test-io-XXXXXX";
    int fd = mkstemp(path);
    struct counter c = {.io = io, .fd = fd};
    struct iothread_watch *w;
    CHECK(iothread_watch(io, fd, 0, count_event, &c, &w) == -EPERM);
    close(fd);
    unlink(path);
    iothread_destroy(io);
}

int main(void)
{
    RUN(handler_runs_on_the_thread);
    RUN(disabled_watch_ignores_hangup);
    RUN(unwatch_waits_for_running_handler);
    RUN(regular_files_cannot_be_watched);
    return test_summary();
}
