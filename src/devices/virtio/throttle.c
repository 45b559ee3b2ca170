/* A rate-limited virtqueue (throttle.h). */
#include "devices/virtio/throttle.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "devices/virtio/mmio_internal.h"
#include "util/log.h"

static void timer_fired(void *opaque, uint32_t events)
{
    (void)events;
    struct queue_throttle *th = opaque;
    uint64_t n;
    if (read(th->tfd, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    virtio_mmio_process_queue(th->t, th->q);
}

int queue_throttle_start(struct queue_throttle *th, struct virtio_mmio *t, unsigned q,
                         const struct cove_rate_limit *r, struct cove_error *err)
{
    *th = (struct queue_throttle){.t = t, .q = q, .tfd = -1};
    struct iothread *io = virtio_mmio_iothread(t);
    if (!r || !cove_rate_limit_on(r) || !io)
        return 0;
    ratelimit_init(&th->rl, r, ratelimit_now_ns());
    th->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (th->tfd < 0)
        return cove_error_set(err, -errno, "virtio-%s: rate limit timer: %s", t->ops->name,
                              strerror(errno));
    int rc = iothread_watch(io, th->tfd, EPOLLIN, timer_fired, th, &th->watch);
    if (rc < 0) {
        close(th->tfd);
        th->tfd = -1;
        return cove_error_set(err, rc, "virtio-%s: rate limit timer: %s", t->ops->name,
                              strerror(-rc));
    }
    return 0;
}

bool queue_throttle_admit(struct queue_throttle *th, uint64_t bytes)
{
    if (th->tfd < 0)
        return true;
    uint64_t now = ratelimit_now_ns();
    if (ratelimit_consume(&th->rl, bytes, now))
        return true;
    uint64_t wait = ratelimit_wait_ns(&th->rl, bytes, now);
    struct itimerspec its = {.it_value = {(time_t)(wait / 1000000000ull),
                                          (long)(wait % 1000000000ull)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1; /* 0 would disarm it */
    if (timerfd_settime(th->tfd, 0, &its, NULL) < 0) {
        log_warn("virtio-%s: rate limit timer: %s; the limit is lifted", th->t->ops->name,
                 strerror(errno));
        iothread_unwatch(th->watch);
        th->watch = NULL;
        close(th->tfd);
        th->tfd = -1;
        return true;
    }
    th->waits++;
    return false;
}

void queue_throttle_stop(struct queue_throttle *th)
{
    if (th->watch)
        iothread_unwatch(th->watch);
    th->watch = NULL;
    if (th->tfd >= 0)
        close(th->tfd);
    th->tfd = -1;
}
