/*
 * cove_vsock_proxy (cove connect, ssh's ProxyCommand) between two pipes and one end of a
 * socketpair; a thread on the other end plays the guest's program. Each direction must
 * end on its own: the end of the input reaches the guest as the end of its input, and it
 * may still answer; a guest that closes its sending side may still be sent to; a guest
 * that closes the whole connection ends both; a reader of the output that went away is
 * -EPIPE. Megabytes both ways at once, with back pressure, must not deadlock. An alarm
 * turns a hang into a failure.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cove/agent.h>

#include "../test.h"

#define BIG (4 * 1024 * 1024)

struct rig {
    int in_r, in_w, out_r, out_w, sock, guest;
    pthread_t proxy;
    int rc;
};

static void *run_proxy(void *arg)
{
    struct rig *r = arg;
    struct cove_error err = {0};
    r->rc = cove_vsock_proxy(r->in_r, r->out_w, r->sock, &err);
    close(r->out_w); /* as cove connect exiting would: the reader sees the end */
    return NULL;
}

static void rig_start(struct rig *r)
{
    int in[2], out[2], sp[2];
    if (pipe(in) < 0 || pipe(out) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
        abort();
    *r = (struct rig){.in_r = in[0], .in_w = in[1], .out_r = out[0], .out_w = out[1],
                      .sock = sp[0], .guest = sp[1], .rc = 1};
    pthread_create(&r->proxy, NULL, run_proxy, r);
}

static void rig_finish(struct rig *r)
{
    pthread_join(r->proxy, NULL);
    close(r->in_r);
    close(r->sock);
    if (r->in_w >= 0)
        close(r->in_w);
    if (r->out_r >= 0)
        close(r->out_r);
    if (r->guest >= 0)
        close(r->guest);
}

/* Reads fd to its end into buf (at most n): the count. */
static size_t read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0 || (got += (size_t)k) == n)
            return got;
    }
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

/* --- both ways at once ---------------------------------------------------------------- */

static char *pattern;

static void *echo_guest(void *arg)
{
    int fd = *(int *)arg;
    char buf[8192];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0)
        write_all(fd, buf, (size_t)k);
    write_all(fd, "END", 3); /* after the end of its input: it can still answer */
    close(fd);
    return NULL;
}

static void *feed(void *arg)
{
    struct rig *r = arg;
    write_all(r->in_w, pattern, BIG);
    close(r->in_w);
    r->in_w = -1;
    return NULL;
}

TEST(echoes_megabytes_and_passes_the_end_on)
{
    struct rig r;
    rig_start(&r);
    pthread_t guest, feeder;
    pthread_create(&guest, NULL, echo_guest, &r.guest);
    pthread_create(&feeder, NULL, feed, &r);
    char *out = malloc(BIG + 16);
    size_t got = read_all(r.out_r, out, BIG + 16);
    pthread_join(feeder, NULL);
    pthread_join(guest, NULL);
    r.guest = -1; /* closed by the guest */
    rig_finish(&r);
    CHECK_EQ_U64(got, BIG + 3);
    CHECK(memcmp(out, pattern, BIG) == 0);
    CHECK(memcmp(out + BIG, "END", 3) == 0);
    CHECK(r.rc == 0);
    free(out);
}

/* --- the guest ends first --------------------------------------------------------------- */

TEST(a_guest_that_closes_ends_both_directions)
{
    struct rig r;
    rig_start(&r);
    write_all(r.guest, "bye", 3);
    close(r.guest);
    r.guest = -1;
    char out[16];
    size_t got = read_all(r.out_r, out, sizeof out); /* stdin stays open and silent */
    rig_finish(&r);
    CHECK_EQ_U64(got, 3);
    CHECK(memcmp(out, "bye", 3) == 0);
    CHECK(r.rc == 0);
}

TEST(a_guest_that_stops_sending_can_still_be_sent_to)
{
    struct rig r;
    rig_start(&r);
    write_all(r.guest, "hello", 5);
    shutdown(r.guest, SHUT_WR);
    char out[16];
    size_t got = read_all(r.out_r, out, 5);
    CHECK_EQ_U64(got, 5);
    write_all(r.in_w, "ping", 4);
    close(r.in_w);
    r.in_w = -1;
    char in[16];
    size_t in_got = read_all(r.guest, in, sizeof in); /* up to the end passed on */
    CHECK_EQ_U64(in_got, 4);
    CHECK(memcmp(in, "ping", 4) == 0);
    rig_finish(&r); /* returns: both directions ended, the guest still open */
    CHECK(r.rc == 0);
}

TEST(a_reader_gone_is_epipe)
{
    struct rig r;
    rig_start(&r);
    close(r.out_r);
    r.out_r = -1;
    write_all(r.guest, "x", 1);
    rig_finish(&r);
    CHECK(r.rc == -EPIPE);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(60);
    pattern = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        pattern[i] = (char)(i * 2654435761u >> 13);
    RUN(echoes_megabytes_and_passes_the_end_on);
    RUN(a_guest_that_closes_ends_both_directions);
    RUN(a_guest_that_stops_sending_can_still_be_sent_to);
    RUN(a_reader_gone_is_epipe);
    free(pattern);
    return test_summary();
}
