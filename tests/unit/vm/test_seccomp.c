/*
 * The VMM's system-call filter (src/vm/seccomp.c), each case in a child process (the
 * filter is for good): what a running VM needs still works, a read-only open fails with
 * ENOENT, an open to write and a fork kill the process with exit 159 and the line naming
 * the call on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "vm/seccomp.h"

enum { ALLOWED_WORK, OPEN_READ, OPEN_WRITE, FORK, EXECVE };

static void *thread_main(void *arg)
{
    return arg;
}

/* Exit status 0: what was expected of the case happened. */
static int child_case(int what)
{
    struct cove_error err = {0};
    if (vmm_seccomp_install(&err) < 0)
        return 2;
    switch (what) {
    case ALLOWED_WORK: {
        /* a thread, JIT-like memory, a socket of the NAT's family, a pipe */
        pthread_t t;
        int token;
        void *ret = NULL;
        if (pthread_create(&t, NULL, thread_main, &token) != 0 || pthread_join(t, &ret) != 0 ||
            ret != &token)
            return 3;
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0)
            return 4;
        int s = socket(AF_INET, SOCK_DGRAM, 0), fds[2];
        if (s < 0 || pipe2(fds, O_CLOEXEC) < 0 || write(fds[1], "x", 1) != 1)
            return 5;
        return 0;
    }
    case OPEN_READ:
        return open("/etc/hostname", O_RDONLY | O_CLOEXEC) < 0 && errno == ENOENT ? 0 : 6;
    case OPEN_WRITE:
        open("/etc/hostname", O_WRONLY | O_CLOEXEC);
        return 7; /* not reached: killed */
    case FORK:
        if (fork() == 0)
            _exit(0);
        return 8;
    case EXECVE: {
        char *argv[] = {"/bin/true", NULL};
        execv(argv[0], argv);
        return 9;
    }
    }
    return 10;
}

/* Runs a case; *status: its exit status; stderr_out: what it wrote to stderr. */
static void run_case(int what, int *status, char *stderr_out, size_t n)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        _exit(child_case(what));
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fds[0], stderr_out + got, n - 1 - got)) > 0)
        got += (size_t)r;
    stderr_out[got] = 0;
    close(fds[0]);
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

TEST(allowed_work_runs)
{
    int st;
    char out[512];
    run_case(ALLOWED_WORK, &st, out, sizeof out);
    CHECK(st == 0);
    CHECK_STR(out, "");
}

TEST(read_only_open_fails)
{
    int st;
    char out[512];
    run_case(OPEN_READ, &st, out, sizeof out);
    CHECK(st == 0);
}

TEST(open_to_write_kills_with_the_line)
{
    int st;
    char out[512];
    run_case(OPEN_WRITE, &st, out, sizeof out);
    CHECK(st == VMM_SECCOMP_EXIT);
    CHECK_STR(out, "cove: seccomp: the VMM made a system call outside its allow-list: "
                   "openat (257)\n");
}

TEST(fork_and_exec_kill)
{
    int st;
    char out[512];
    run_case(FORK, &st, out, sizeof out);
    CHECK(st == VMM_SECCOMP_EXIT);
    CHECK(strstr(out, ": clone (56)") != NULL);
    run_case(EXECVE, &st, out, sizeof out);
    CHECK(st == VMM_SECCOMP_EXIT);
    CHECK(strstr(out, ": execve (59)") != NULL);
}

/* The exported filter (PFC text), malloc'd; NULL on failure. */
static char *export_filter(void)
{
    FILE *f = tmpfile();
    struct cove_error err = {0};
    char *buf = NULL;
    off_t n;
    if (f && vmm_seccomp_export(fileno(f), &err) == 0 &&
        (n = lseek(fileno(f), 0, SEEK_END)) > 0 && (buf = calloc(1, (size_t)n + 1)) &&
        pread(fileno(f), buf, (size_t)n, 0) != n) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

/* The text of the block of call name in the PFC ("" when the filter does not name it: the
 * default action, the trap, applies), up to the next call's block. */
static const char *block_of(const char *pfc, const char *name, char *out, size_t n)
{
    char head[96];
    snprintf(head, sizeof head, "# filter for syscall \"%s\" ", name);
    const char *s = strstr(pfc, head);
    out[0] = 0;
    if (!s)
        return out;
    const char *e = strstr(s + 1, "# filter for syscall ");
    size_t len = e ? (size_t)(e - s) : strlen(s);
    snprintf(out, n, "%.*s", (int)len, s);
    return out;
}

TEST(exported_filter_allows_no_exec_fork_or_path_changes)
{
    char *pfc = export_filter();
    REQUIRE(pfc != NULL);
    char b[4096];
    /* what a running VM needs is there, so the parsing below sees the real thing */
    const char *needed[] = {"read", "write", "futex", "ppoll", "pwrite64", "sendmsg"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        CHECK(strstr(block_of(pfc, needed[i], b, sizeof b), "ALLOW") != NULL);
    CHECK(strstr(pfc, "action TRAP") != NULL); /* the default: trap, the line, exit 159 */
    /* never: programs, processes, other processes' memory, privileges, namespaces, the
     * kernel, file names (create, change, remove but unlink: docs/SECURITY.md) */
    const char *never[] = {
        "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv",
        "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
        "bpf", "init_module", "finit_module", "delete_module", "kexec_load",
        "kexec_file_load", "reboot", "setuid", "setgid", "setresuid", "capset", "open",
        "creat", "open_by_handle_at", "openat2", "truncate", "chmod", "fchmodat", "chown",
        "fchownat", "mkdir", "mkdirat", "mknod", "mknodat", "rename", "renameat",
        "renameat2", "link", "linkat", "symlink", "symlinkat", "rmdir", "unlinkat",
        "perf_event_open", "io_uring_setup", "userfaultfd", "personality", "seccomp"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        if (block_of(pfc, never[i], b, sizeof b)[0]) {
            fprintf(stderr, "allowed: %s\n%s", never[i], b);
            CHECK(0);
        }
    }
    /* openat: never allowed; a plain read-only one fails with ENOENT, others trap */
    block_of(pfc, "openat", b, sizeof b);
    CHECK(b[0] != 0);
    CHECK(strstr(b, "ALLOW") == NULL);
    CHECK(strstr(b, "ERRNO(2)") != NULL);
    /* clone only with CLONE_THREAD (a masked check of its first argument) */
    block_of(pfc, "clone", b, sizeof b);
    CHECK(strstr(b, "ALLOW") != NULL && strstr(b, "& 0x00010000") != NULL);
    free(pfc);
}

int main(void)
{
#ifdef __SANITIZE_ADDRESS__
    test_skip("an AddressSanitizer build installs no filter (LeakSanitizer needs ptrace)");
    return test_summary();
#endif
    RUN(exported_filter_allows_no_exec_fork_or_path_changes);
    RUN(allowed_work_runs);
    RUN(read_only_open_fails);
    RUN(open_to_write_kills_with_the_line);
    RUN(fork_and_exec_kill);
    return test_summary();
}
