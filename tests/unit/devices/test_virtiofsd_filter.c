/* The seccomp filter a share's virtiofsd runs under (src/backends/virtiofsd_filter.c): in
 * a child that installed it, creating a block or character device, setting S_ISUID or
 * S_ISGID by chmod, or creating a file with them fails with EPERM, while ordinary files,
 * FIFOs and modes work; without the filter (as root) the same calls succeed, so each
 * check can fail. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/virtiofsd_filter.h"
#include "test.h"

enum { OP_BLOCK, OP_CHAR, OP_SUID_CHMOD, OP_SGID_FCHMOD, OP_SUID_CREATE, OP_SGID_MKNOD_REG,
       OP_PLAIN_CREATE, OP_FIFO, OP_CHMOD_755, N_OPS };

/* 0 or the errno of one operation in dir. */
static int do_op(const char *dir, int op)
{
    int d = open(dir, O_DIRECTORY | O_PATH);
    if (d < 0)
        return -1;
    int rc = 0, fd;
    switch (op) {
    case OP_BLOCK: rc = mknodat(d, "blk", S_IFBLK | 0600, makedev(8, 0)); break;
    case OP_CHAR: rc = mknodat(d, "chr", S_IFCHR | 0600, makedev(1, 3)); break;
    case OP_SUID_CHMOD:
        if ((fd = openat(d, "f1", O_CREAT | O_WRONLY, 0755)) >= 0)
            close(fd);
        rc = fchmodat(d, "f1", 04755, 0);
        break;
    case OP_SGID_FCHMOD:
        if ((fd = openat(d, "f2", O_CREAT | O_WRONLY, 0755)) < 0)
            return -2;
        rc = fchmod(fd, 02755);
        close(fd);
        break;
    case OP_SUID_CREATE:
        rc = (fd = openat(d, "f3", O_CREAT | O_WRONLY, 04755)) < 0 ? -1 : close(fd);
        break;
    case OP_SGID_MKNOD_REG: rc = mknodat(d, "f4", S_IFREG | 02755, 0); break;
    case OP_PLAIN_CREATE:
        rc = (fd = openat(d, "f5", O_CREAT | O_WRONLY, 0644)) < 0 ? -1 : close(fd);
        break;
    case OP_FIFO: rc = mknodat(d, "fifo", S_IFIFO | 0600, 0); break;
    case OP_CHMOD_755:
        if ((fd = openat(d, "f6", O_CREAT | O_WRONLY, 0600)) >= 0)
            close(fd);
        rc = fchmodat(d, "f6", 0755, 0);
        break;
    }
    int e = rc < 0 ? errno : 0;
    close(d);
    return e;
}

/* Runs every operation in a fresh directory in a child, with or without the filter;
 * results[op] = 0 or errno. */
static int run_ops(const struct sock_fprog *filter, int results[N_OPS])
{
    for (int op = 0; op < N_OPS; op++) {
        char dir[] = "/tmp/cove-vfs-filter-XXXXXX";
        if (!mkdtemp(dir))
            return -1;
        pid_t pid = fork();
        if (pid == 0) {
            if (filter && virtiofsd_filter_install(filter) < 0)
                _exit(250);
            umask(0);
            int e = do_op(dir, op);
            _exit(e < 0 ? 251 : e);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        results[op] = WIFEXITED(status) ? WEXITSTATUS(status) : 252;
        char cmd[80];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

TEST(filter_refuses_devices_and_set_id_modes)
{
    struct sock_fprog prog;
    struct cove_error err = {0};
    REQUIRE(virtiofsd_filter_make(&prog, &err) == 0);
    REQUIRE(prog.len > 0 && prog.filter);
    int with[N_OPS], without[N_OPS];
    REQUIRE(run_ops(&prog, with) == 0);
    virtiofsd_filter_free(&prog);
    CHECK_EQ_U64(with[OP_BLOCK], EPERM);
    CHECK_EQ_U64(with[OP_CHAR], EPERM);
    CHECK_EQ_U64(with[OP_SUID_CHMOD], EPERM);
    CHECK_EQ_U64(with[OP_SGID_FCHMOD], EPERM);
    CHECK_EQ_U64(with[OP_SUID_CREATE], EPERM);
    CHECK_EQ_U64(with[OP_SGID_MKNOD_REG], EPERM);
    CHECK_EQ_U64(with[OP_PLAIN_CREATE], 0);
    CHECK_EQ_U64(with[OP_FIFO], 0);
    CHECK_EQ_U64(with[OP_CHMOD_755], 0);
    /* the control: the same calls without the filter */
    REQUIRE(run_ops(NULL, without) == 0);
    for (int op = OP_SUID_CHMOD; op < N_OPS; op++)
        CHECK_EQ_U64(without[op], 0);
    if (geteuid() == 0) {
        CHECK_EQ_U64(without[OP_BLOCK], 0);
        CHECK_EQ_U64(without[OP_CHAR], 0);
    }
}

int main(void)
{
    RUN(filter_refuses_devices_and_set_id_modes);
    return test_summary();
}
