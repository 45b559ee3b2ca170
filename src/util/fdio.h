/*
 * fdio.h — whole-buffer writes to a file descriptor or a socket.
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

#endif
