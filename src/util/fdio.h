/*
 * fdio.h — whole-buffer writes to a file descriptor or a socket, and waiting on one with a
 * deadline on the monotonic clock.
 */
#ifndef COVE_FDIO_H
#define COVE_FDIO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes, retrying on EINTR and short writes; on a non-blocking fd it waits
 * for POLLOUT on EAGAIN. Returns 0 or a negative errno. */
int fd_write_all(int fd, const void *buf, size_t len);

/* The same on a socket, with send(MSG_NOSIGNAL): a peer that went away is -EPIPE, not a
 * SIGPIPE. */
int sock_send_all(int fd, const void *buf, size_t len);

/* Milliseconds of CLOCK_MONOTONIC: what deadlines are measured in. */
long long monotonic_ms(void);

/* Waits until fd reports one of events (or an error or hang-up) or until deadline_ms (of
 * monotonic_ms; FD_NO_DEADLINE: no deadline), retrying on EINTR. Returns the revents (> 0),
 * 0 at the deadline, or a negative errno. */
#define FD_NO_DEADLINE (-1LL)
int fd_wait(int fd, short events, long long deadline_ms);

#endif
