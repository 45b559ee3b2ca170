#include "fdio.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* The one loop behind both: retries EINTR and short writes, waits for POLLOUT on EAGAIN. */
static int write_loop(int fd, const void *buf, size_t len, bool sock)
{
    const char *p = buf;
    while (len) {
        ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, -1);
            continue;
        }
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, false);
}

int sock_send_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, true);
}
