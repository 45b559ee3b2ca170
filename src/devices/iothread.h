/*
 * iothread.h — the I/O thread: one host thread running an epoll loop.
 *
 * Device work runs here, off the vCPU threads: a vCPU's QueueNotify only signals an
 * eventfd that this loop watches, so a slow disk never stalls a vCPU. Handlers run one
 * at a time on the I/O thread. Watches may be added, changed and removed from any
 * thread; once iothread_unwatch() or iothread_watch_set_events(w, 0) returns on another
 * thread, that watch's handler is not running and will not run again (until re-enabled);
 * called from a handler on the I/O thread, the same holds for every later dispatch.
 */
#ifndef COVE_DEVICES_IOTHREAD_H
#define COVE_DEVICES_IOTHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/error.h>

struct iothread;
struct iothread_watch;

/* events: the EPOLLIN/EPOLLOUT/EPOLLHUP... bits that fired. */
typedef void (*iothread_handler)(void *opaque, uint32_t events);

int iothread_create(struct iothread **out, struct cove_error *err);
/* Stops and joins the thread and frees every watch still registered. */
void iothread_destroy(struct iothread *io);

/* Watches fd (level-triggered) for events; 0 events registers it disabled. */
int iothread_watch(struct iothread *io, int fd, uint32_t events, iothread_handler fn,
                   void *opaque, struct iothread_watch **out);
int iothread_watch_set_events(struct iothread_watch *w, uint32_t events);
void iothread_unwatch(struct iothread_watch *w);

bool iothread_is_current(const struct iothread *io);

#endif
