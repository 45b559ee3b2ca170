#include "iothread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

struct iothread_watch {
    struct iothread *io;
    int fd;
    uint32_t events; /* 0: disabled, and then not in the epoll set at all */
    iothread_handler fn;
    void *opaque;
    bool dead;
    struct iothread_watch *next; /* in io->watches or io->zombies */
};

struct iothread {
    int epfd;
    int wake_fd;
    pthread_t thread;
    /* Held by the loop while it dispatches a batch, so another thread that takes it
     * knows no handler is running. */
    pthread_mutex_t lock;
    bool stop;
    struct iothread_watch *watches;
    /* Removed watches whose memory must outlive the batch that may still name them. */
    struct iothread_watch *zombies;
};

bool iothread_is_current(const struct iothread *io)
{
    return pthread_equal(pthread_self(), io->thread);
}

static void lock_unless_current(struct iothread *io)
{
    if (!iothread_is_current(io))
        pthread_mutex_lock(&io->lock);
}

static void unlock_unless_current(struct iothread *io)
{
    if (!iothread_is_current(io))
        pthread_mutex_unlock(&io->lock);
}

static void free_zombies(struct iothread *io)
{
    while (io->zombies) {
        struct iothread_watch *w = io->zombies;
        io->zombies = w->next;
        free(w);
    }
}

static void *loop(void *arg)
{
    /* by itself: naming another thread opens /proc/self/task/TID/comm, which the
     * system-call filter of a confined run forbids (a guest reboot starts this thread) */
    pthread_setname_np(pthread_self(), "cove-io");
    struct iothread *io = arg;
    struct epoll_event evs[64];
    pthread_mutex_lock(&io->lock);
    while (!io->stop) {
        pthread_mutex_unlock(&io->lock);
        int n = epoll_wait(io->epfd, evs, 64, -1);
        pthread_mutex_lock(&io->lock);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("iothread: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n && !io->stop; i++) {
            struct iothread_watch *w = evs[i].data.ptr;
            if (!w) {
                uint64_t v;
                if (read(io->wake_fd, &v, sizeof v) < 0) {
                    /* nothing to do: the stop flag is what matters */
                }
                continue;
            }
            /* The batch may predate an unwatch or a disable done while we waited for
             * the lock. */
            if (!w->dead && w->events)
                w->fn(w->opaque, evs[i].events);
        }
        free_zombies(io);
    }
    pthread_mutex_unlock(&io->lock);
    return NULL;
}

int iothread_create(struct iothread **out, struct cove_error *err)
{
    struct iothread *io = calloc(1, sizeof *io);
    if (!io)
        return cove_error_set(err, -ENOMEM, "iothread: out of memory");
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    io->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = 0;
    if (io->epfd < 0 || io->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->wake_fd, &ev) < 0) {
        r = -errno;
        goto fail;
    }
    pthread_mutex_init(&io->lock, NULL);
    r = -pthread_create(&io->thread, NULL, loop, io);
    if (r < 0) {
        pthread_mutex_destroy(&io->lock);
        goto fail;
    }
    *out = io;
    return 0;
fail:
    if (io->epfd >= 0)
        close(io->epfd);
    if (io->wake_fd >= 0)
        close(io->wake_fd);
    free(io);
    return cove_error_set(err, r, "iothread: %s", strerror(-r));
}

void iothread_destroy(struct iothread *io)
{
    if (!io)
        return;
    pthread_mutex_lock(&io->lock);
    io->stop = true;
    pthread_mutex_unlock(&io->lock);
    uint64_t one = 1;
    if (write(io->wake_fd, &one, sizeof one) < 0)
        log_warn("iothread: cannot wake the loop: %s", strerror(errno));
    pthread_join(io->thread, NULL);
    free_zombies(io);
    while (io->watches) {
        struct iothread_watch *w = io->watches;
        io->watches = w->next;
        free(w);
    }
    pthread_mutex_destroy(&io->lock);
    close(io->epfd);
    close(io->wake_fd);
    free(io);
}

/* epoll reports EPOLLHUP and EPOLLERR whatever the mask says, so a disabled watch
 * (events 0) leaves the epoll set; otherwise a hung-up fd would spin the loop. */
static int apply_events(struct iothread_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    int r = 0;
    if (events && w->events)
        r = epoll_ctl(w->io->epfd, EPOLL_CTL_MOD, w->fd, &ev);
    else if (events)
        r = epoll_ctl(w->io->epfd, EPOLL_CTL_ADD, w->fd, &ev);
    else if (w->events)
        r = epoll_ctl(w->io->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    if (r < 0)
        return -errno;
    w->events = events;
    return 0;
}

int iothread_watch(struct iothread *io, int fd, uint32_t events, iothread_handler fn,
                   void *opaque, struct iothread_watch **out)
{
    struct iothread_watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    *w = (struct iothread_watch){.io = io, .fd = fd, .fn = fn, .opaque = opaque};
    lock_unless_current(io);
    /* Check that epoll can watch fd at all (regular files cannot), even when disabled. */
    struct epoll_event probe = {.events = 0, .data.ptr = w};
    int r = epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &probe) < 0 ? -errno : 0;
    if (r == 0) {
        epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
        r = apply_events(w, events);
    }
    if (r == 0) {
        w->next = io->watches;
        io->watches = w;
    }
    unlock_unless_current(io);
    if (r < 0) {
        free(w);
        return r;
    }
    *out = w;
    return 0;
}

int iothread_watch_set_events(struct iothread_watch *w, uint32_t events)
{
    struct iothread *io = w->io;
    lock_unless_current(io);
    int r = w->events == events ? 0 : apply_events(w, events);
    unlock_unless_current(io);
    return r;
}

void iothread_unwatch(struct iothread_watch *w)
{
    if (!w)
        return;
    struct iothread *io = w->io;
    lock_unless_current(io);
    if (w->events)
        epoll_ctl(io->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    for (struct iothread_watch **p = &io->watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->dead = true;
    w->next = io->zombies;
    io->zombies = w;
    unlock_unless_current(io);
}
