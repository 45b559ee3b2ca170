/*
 * The VMM's jail (src/vm/jail.c), each case in a child process (the jail is for good; root
 * only, else skipped): after it the process sees only the given directory (and
 * /etc/resolv.conf), runs as another uid without capabilities, can bind and connect in the
 * directory, and its control-socket check still takes its owner (uid 0) and itself; a
 * helper forked between prepare and enter keeps the host's files. Prepare refuses a process
 * with two threads.
 */
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "util/helper_proc.h"
#include "util/usock.h"
#include "vm/jail.h"

static char dir[64];

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* No effective nor permitted capability (capget: the jail has no /proc). */
static bool capabilities_empty(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{0}};
    if (syscall(SYS_capget, &h, d) < 0)
        return false;
    return !d[0].effective && !d[1].effective && !d[0].permitted && !d[1].permitted;
}

/* Exit status 0: all held; else the number of the first check that failed. */
static int jailed_child(void)
{
    struct cove_error err = {0};
    char path[100];
    if (cove_jail_prepare(&err) < 0)
        return 2;
    int sock;
    pid_t helper = helper_fork("test-helper", &sock);
    if (helper == 0) /* outside: the host's files, whatever the VMM does later */
        _exit(recv(HELPER_FD, path, 1, 0) >= 0 && access("/etc/passwd", F_OK) == 0 ? 0 : 1);
    snprintf(path, sizeof path, "%s/api.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int lfd = usock_listen_private(&sa, SOCK_CLOEXEC, 4);
    if (lfd < 0 || capabilities_empty()) /* root has them before */
        return 3;
    const char *writable[] = {path}; /* as run/vsock.sock: the VMM connects to it */
    if (jail_enter(dir, writable, 1, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 4;
    }
    if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || !capabilities_empty())
        return 5;
    if (access("/etc/passwd", F_OK) == 0 || access("/proc/self", F_OK) == 0)
        return 6;
    struct stat st;
    if (stat(dir, &st) < 0 || st.st_uid != geteuid())
        return 7; /* visible, and the jail's user's */
    /* its own socket: this process may connect, and is accepted as the owner */
    int cfd = connect_to(path);
    int afd = cfd >= 0 ? accept(lfd, NULL, NULL) : -1;
    uid_t peer;
    if (afd < 0 || !usock_peer_is_owner(afd, &peer))
        return 8;
    /* a new socket in the directory, as a guest reboot binds vsock.sock again */
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/vsock.sock", dir);
    int vfd = usock_listen_private(&sa, SOCK_CLOEXEC, 4);
    if (vfd < 0 || unlink(sa.sun_path) < 0)
        return 9;
    /* the file system is read-only outside it */
    if (mkdir("/x", 0700) == 0 || errno != EROFS)
        return 10;
    close(sock); /* the helper answers by exiting */
    int hs;
    if (waitpid(helper, &hs, 0) != helper || !WIFEXITED(hs) || WEXITSTATUS(hs) != 0)
        return 11;
    return 0;
}

TEST(jail_shows_only_the_directory)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(jailed_child());
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    if (WEXITSTATUS(st))
        printf("  jailed child: check %d failed\n", WEXITSTATUS(st));
    CHECK(WEXITSTATUS(st) == 0);
    /* the host's side: the directory's owner changed, nothing else */
    struct stat s;
    REQUIRE(stat(dir, &s) == 0);
    CHECK(s.st_uid != 0);
}

static void *idle(void *arg)
{
    pause();
    return arg;
}

TEST(prepare_refuses_threads)
{
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        struct cove_error err = {0};
        if (pthread_create(&t, NULL, idle, NULL) != 0)
            _exit(2);
        _exit(cove_jail_prepare(&err) == -EBUSY && strstr(err.message, "one thread") ? 0 : 3);
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    if (geteuid() != 0) {
        test_skip("the jail needs root");
        return test_summary();
    }
    snprintf(dir, sizeof dir, "/tmp/cove-test-jail-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(jail_shows_only_the_directory);
    RUN(prepare_refuses_threads);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return test_summary();
}
