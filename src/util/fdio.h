/*
 * fdio.h — whole-buffer writes to a file descriptor.
 */
#ifndef COVE_FDIO_H
#define COVE_FDIO_H

#include <stddef.h>

/* Writes all len bytes, retrying on EINTR and short writes; on a non-blocking fd it waits
 * for POLLOUT on EAGAIN. Returns 0 or a negative errno. */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
