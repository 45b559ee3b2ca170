#include "usock.h"

#include <errno.h>
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
    return cred.uid == geteuid();
}
