#include "fdio.h"

#include <errno.h>
#include <poll.h>
#include <limits.h>
#include <sys/socket.h>
#include <time.h>
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

long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fd_wait(int fd, short events, long long deadline_ms)
{
    for (;;) {
        long long left = -1;
        if (deadline_ms != FD_NO_DEADLINE) {
            left = deadline_ms - monotonic_ms();
            if (left <= 0)
                return 0;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r > 0)
            return p.revents;
    }
}
