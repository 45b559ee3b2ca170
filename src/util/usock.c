#include "usock.h"

#include "util/confined.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int usock_listen_private(const struct sockaddr_un *addr, int type_flags, int backlog)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | type_flags, 0);
    if (fd < 0)
        return -errno;
    /* Linux creates the path with the socket inode's mode less the umask: 0600 at most. */
    if (fchmod(fd, 0600) < 0 || bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 ||
        listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

bool usock_peer_is_owner(int fd, uid_t *peer_uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    *peer_uid = (uid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred)
        return false;
    *peer_uid = cred.uid;
    return cred.uid == process_owner() || cred.pid == getpid();
}

ssize_t usock_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(USOCK_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > USOCK_MAX_FDS)
        return -EINVAL;
    if (nfds) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n >= 0 || errno != EINTR)
            return n < 0 ? -errno : n;
    }
}

ssize_t usock_recv_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
                       unsigned max)
{
    union {
        char buf[CMSG_SPACE(USOCK_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    ssize_t n;
    *nfds = 0;
    while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < got; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < max)
                fds[(*nfds)++] = fd;
            else
                close(fd);
        }
    }
    return n;
}
