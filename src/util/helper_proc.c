/* Forking a helper process (helper_proc.h). */
#include "util/helper_proc.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/confined.h"

pid_t helper_fork(const char *name, int *sock)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char ready = 0;
        if (getppid() != parent || process_child_leave_jail_ns() < 0 ||
            send(sv[1], &ready, 1, MSG_NOSIGNAL) != 1)
            _exit(1);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
        for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_IGN);
        prctl(PR_SET_NAME, name);
        if (dup2(sv[1], HELPER_FD) < 0)
            _exit(1);
        close_range(HELPER_FD + 1, ~0u, 0);
        return 0;
    }
    int e = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -e;
    }
    /* Out of the jail's namespace before the parent goes on: else a jail entered right
     * after the fork could pivot first, and the helper would copy the jail's root. */
    char b;
    ssize_t n;
    do
        n = recv(sv[0], &b, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n != 1) {
        close(sv[0]);
        waitpid(pid, NULL, 0);
        return -ECHILD;
    }
    *sock = sv[0];
    return pid;
}
