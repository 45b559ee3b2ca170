/*
 * The VMM's system-call allow-list (seccomp.h). One list for every thread: the vCPUs, the
 * I/O thread, the control socket's server, the vsock bridges and the stopper run in one
 * address space, so a thread with a wider list would be the way out for the others.
 *
 * What each group is for is said beside it; a call that is not here was not seen in the
 * integration tests of a running VM (strace -f, docs/SECURITY.md says how to redo that).
 * Arguments are checked where it is cheap and worth it: clone only makes threads (no
 * fork), socket() only the families the NAT and the Unix sockets use, ioctl only the
 * terminal's, FIONBIO/FIONREAD and a TAP's TUNSETOFFLOAD, prctl only thread names.
 */
#include "vm/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "util/confined.h"
#include "util/log.h"

/* The plain allowed calls. */
static const char *const allowed[] = {
    /* memory: guest RAM, the JIT's code buffers (mprotect), the balloon (madvise) */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "memfd_create", "membarrier",
    /* threads and their synchronisation (clone is checked below) */
    "futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
    "gettid", "getpid", "getppid", "tgkill", "exit", "exit_group", "restart_syscall",
    /* time: the timer, timeouts, the RTC; timerfds for vsock's hold of host connections
     * after a restore and for a throttled queue (rate limits), made with each machine: a
     * reboot's or a snapshot restore's comes after the filter */
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /* signals (the stop requests, the vCPU kicks, this filter's SIGSYS) */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
    "kill",
    /* descriptors already open: disks, the console, pipes, eventfds, sockets */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "close", "dup", "dup2", "dup3", "fcntl", "fstat", "newfstatat",
    "statx", "fstatfs", "fsync", "fdatasync", "fallocate", "ftruncate", "flock",
    "pipe2", "eventfd2", "fchmod",
    "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2",
    /* virtiofsd and the vsock bridges' children are reaped; entropy for virtio-rng */
    "wait4", "waitid", "getrandom",
    /* sockets of the NAT, the control socket, the vsock bridges (socket() checked below) */
    "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "shutdown",
    /* the run files a run removes on its way out (run/pid, api.sock, vsock.sock) */
    "unlink",
    /* who a client of the control socket is (SO_PEERCRED compares uids) */
    "getuid", "geteuid", "getgid", "getegid",
};

static const int socket_families[] = {AF_UNIX, AF_INET, AF_INET6};
/* TUNSETOFFLOAD: virtio-net tells its TAP which receive offloads the guest's driver
 * took, when the driver starts (net_tap.c); it changes nothing but that TAP's offloads. */
static const unsigned long ioctls[] = {TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ,
                                       FIONBIO, FIONREAD, TUNSETOFFLOAD};

/* The names of the system calls, looked up before the filter: the SIGSYS handler may
 * call nothing that allocates. Written once, before the filter, read only after. */
#define NAMES_MAX 512
static const char *syscall_names[NAMES_MAX];

static size_t put(char *buf, size_t at, size_t n, const char *s)
{
    while (*s && at < n)
        buf[at++] = *s++;
    return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)ctx;
    int nr = si->si_syscall;
    char num[16], buf[200];
    size_t i = sizeof num;
    num[--i] = 0;
    unsigned v = nr < 0 ? 0 : (unsigned)nr;
    do
        num[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    const char *name = nr >= 0 && nr < NAMES_MAX && syscall_names[nr] ? syscall_names[nr] : "?";
    size_t n = put(buf, 0, sizeof buf - 2,
                   "cove: seccomp: the VMM made a system call outside its allow-list: ");
    n = put(buf, n, sizeof buf - 2, name);
    n = put(buf, n, sizeof buf - 2, " (");
    n = put(buf, n, sizeof buf - 2, num + i);
    n = put(buf, n, sizeof buf - 1, ")");
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {
        /* nothing left to tell it to */
    }
    _exit(VMM_SECCOMP_EXIT);
}

static void resolve_names(void)
{
    for (int nr = 0; nr < NAMES_MAX; nr++)
        if (!syscall_names[nr])
            syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

/* SCMP_A*(SCMP_CMP_EQ, v) with every field given (clang's -Wmissing-field-initializers) */
static struct scmp_arg_cmp arg_eq(unsigned arg, scmp_datum_t v)
{
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0};
}

static int allow(scmp_filter_ctx f, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a call of this architecture (e.g. an older one's) */
    return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
}

static int add_rules(scmp_filter_ctx f)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof allowed / sizeof allowed[0]; i++)
        rc = allow(f, allowed[i]);
    for (size_t i = 0; rc == 0 && i < sizeof socket_families / sizeof socket_families[0]; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                              arg_eq(0, (scmp_datum_t)socket_families[i]));
    for (size_t i = 0; rc == 0 && i < sizeof ioctls / sizeof ioctls[0]; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              arg_eq(1, ioctls[i]));
    /* threads only: a thread shares the filter, a forked process could exec nothing either,
     * but it has no business here */
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    /* glibc tries clone3 first and takes clone on ENOSYS: clone3's flags are in memory,
     * where a filter cannot look */
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Every open fails. A plain read-only one (O_RDONLY, with or without O_CLOEXEC) fails
     * with ENOENT instead of killing: that is how libraries look for a file they can do
     * without, and do so at any moment -- glibc's malloc (/proc/sys/vm/overcommit_memory,
     * the first time a thread's heap shrinks), glib's g_rand_new (/dev/urandom, in
     * libslirp on a guest reboot), libslirp's DNS proxy (/etc/resolv.conf). Any other
     * open (to write, to create) kills, with the line. */
    const scmp_datum_t quiet[] = {O_RDONLY, O_RDONLY | O_CLOEXEC};
    for (size_t i = 0; rc == 0 && i < 2; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(openat), 1,
                              arg_eq(2, quiet[i]));
    /* Probes for a file answer "no such file", as read-only opens do: libgcrypt (under
     * libvncserver) asks for /etc/gcrypt/fips_enabled at the first VNC client. */
    const char *const probes[] = {"access", "faccessat", "faccessat2"};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        int nr = seccomp_syscall_resolve_name(probes[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOENT), nr, 0);
    }
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                              arg_eq(0, PR_SET_NAME));
    /* reading this process's own limits, never setting them: libvncserver compares its
     * clients with RLIMIT_NOFILE at each new connection (getrlimit is prlimit64 in glibc) */
    if (rc == 0)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, arg_eq(0, 0),
                              arg_eq(2, 0));
    if (rc == 0)
        rc = allow(f, "getrlimit");
    return rc;
}

/* The filter, its rules and attributes set; NULL on failure (*rc says why). */
static scmp_filter_ctx make_filter(int *rc)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
    if (!f) {
        *rc = -ENOMEM;
        return NULL;
    }
    *rc = add_rules(f);
    if (*rc == 0)
        *rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1);
    if (*rc == 0)
        *rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    if (*rc < 0) {
        seccomp_release(f);
        return NULL;
    }
    return f;
}

int vmm_seccomp_export(int fd, struct cove_error *err)
{
    int rc;
    scmp_filter_ctx f = make_filter(&rc);
    if (f) {
        rc = seccomp_export_pfc(f, fd);
        seccomp_release(f);
    }
    if (rc < 0)
        return cove_error_set(err, rc, "seccomp: cannot export the filter: %s", strerror(-rc));
    return 0;
}

int vmm_seccomp_install(struct cove_error *err)
{
#ifdef __SANITIZE_ADDRESS__
    /* LeakSanitizer's check at exit clones a tracer that ptraces the threads and reads
     * /proc: under the filter it is killed (or, given those calls, hangs). An ASan build
     * (make check-sanitize) runs unconfined. */
    log_info("seccomp: not in an AddressSanitizer build; the VMM runs unconfined");
    (void)err;
    return 0;
#endif
    resolve_names();
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return cove_error_set(err, -errno, "seccomp: cannot catch SIGSYS: %s", strerror(errno));
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);

    int rc;
    scmp_filter_ctx f = make_filter(&rc);
    if (f) {
        rc = seccomp_load(f);
        seccomp_release(f);
    }
    if (rc < 0)
        return cove_error_set(err, rc, "seccomp: cannot install the system-call filter: %s "
                              "(run with --no-seccomp to go without it)", strerror(-rc));
    process_set_confined();
    log_debug("seccomp: the system-call filter is on");
    return 0;
}
