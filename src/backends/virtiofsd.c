/* Starting and stopping virtiofsd, one per share (see virtiofsd.h). */
#include "backends/virtiofsd.h"
#include "backends/virtiofsd_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "util/confined.h"
#include "util/helper_proc.h"
#include "util/log.h"
#include "util/usock.h"

#define DEFAULT_VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#define DAEMON_FD 3
#define STOP_GRACE_MS 2000

struct virtiofsd {
    pid_t pid;
    int keeper; /* the keeper that started it (index in keepers[]), or -1: cove's own child */
};

int virtiofsd_pid(const struct virtiofsd *d) { return d ? (int)d->pid : -1; }

/* A listening socket in a private directory, and cove's connection to it; the path is
 * gone again when this returns. */
static int make_socket_pair(int *listen_out, int *conn_out, struct cove_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[80];
    if (!tmp || !*tmp || strlen(tmp) > 50)
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/cove-virtiofs-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return cove_error_set(err, -errno, "cannot create a directory in %s for the virtiofsd "
                              "socket: %s", tmp, strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(lfd, 1) < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof sa) < 0)
        rc = cove_error_set(err, -errno, "cannot set up the virtiofsd socket: %s",
                            strerror(errno));
    unlink(sa.sun_path);
    rmdir(dir);
    if (rc < 0) {
        if (lfd >= 0)
            close(lfd);
        if (cfd >= 0)
            close(cfd);
        return rc;
    }
    *listen_out = lfd;
    *conn_out = cfd;
    return 0;
}

/* What the child needs, prepared before fork: after it only system calls run. */
struct child_plan {
    const char *program;
    char *const *argv;
    const char *source;
    bool read_only;
    bool userns;
    char uid_map[64], gid_map[64];
    int listen_fd, report_fd;
    struct sock_fprog filter; /* virtiofsd_filter.h: no device nodes, no set-ID files */
};

/* Reports a failed step to the parent and exits (async-signal-safe). */
static void child_fail(const struct child_plan *p, int step)
{
    int msg[2] = {step, errno};
    if (write(p->report_fd, msg, sizeof msg) < 0) {
        /* The parent then sees the daemon exit instead. */
    }
    _exit(127);
}

static void write_file(const struct child_plan *p, const char *path, const char *text, int step)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        child_fail(p, step);
    close(fd);
}

enum child_step { STEP_FD, STEP_USERNS, STEP_MAPS, STEP_MOUNTNS, STEP_BIND, STEP_RDONLY,
                  STEP_FILTER, STEP_EXEC };

static const char *step_name(int step)
{
    static const char *const names[] = {
        "pass the socket", "create a user namespace", "map the user in its namespace",
        "create a mount namespace", "bind-mount the share", "make the share read-only",
        "install virtiofsd's seccomp filter", "run virtiofsd",
    };
    return step >= 0 && step <= STEP_EXEC ? names[step] : "start virtiofsd";
}

static void child_main(const struct child_plan *p)
{
    /* Its own process group: a terminal's ^C is cove's to handle, not the daemon's. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0 && devnull != 0)
        dup2(devnull, 0);
    /* dup2 onto itself keeps FD_CLOEXEC: a listening socket that is already DAEMON_FD
     * (a process with few descriptors open) would close at the exec */
    if (p->listen_fd == DAEMON_FD ? fcntl(DAEMON_FD, F_SETFD, 0) < 0
                                  : dup2(p->listen_fd, DAEMON_FD) < 0)
        child_fail(p, STEP_FD);
    if (p->userns) {
        if (unshare(CLONE_NEWUSER) < 0)
            child_fail(p, STEP_USERNS);
        write_file(p, "/proc/self/setgroups", "deny", STEP_MAPS);
        write_file(p, "/proc/self/uid_map", p->uid_map, STEP_MAPS);
        write_file(p, "/proc/self/gid_map", p->gid_map, STEP_MAPS);
    }
    if (p->read_only) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            child_fail(p, STEP_MOUNTNS);
        if (mount(p->source, p->source, NULL, MS_BIND, NULL) < 0)
            child_fail(p, STEP_BIND);
        if (mount(NULL, p->source, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
            child_fail(p, STEP_RDONLY);
    }
    int rc = virtiofsd_filter_install(&p->filter);
    if (rc < 0) {
        errno = -rc;
        child_fail(p, STEP_FILTER);
    }
    execv(p->program, p->argv);
    child_fail(p, STEP_EXEC);
}

/* Waits for the child's report: 0 once it exec'd (the pipe closes empty). */
static int child_outcome(pid_t pid, int report_fd, const struct child_plan *p,
                         struct cove_error *err)
{
    int msg[2];
    ssize_t n;
    while ((n = read(report_fd, msg, sizeof msg)) < 0 && errno == EINTR) {
    }
    if (n == 0)
        return 0;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (n != (ssize_t)sizeof msg)
        return cove_error_set(err, -EIO, "virtiofsd for %s did not start", p->source);
    if (msg[0] == STEP_EXEC && msg[1] == ENOENT)
        return cove_error_set(err, -ENOENT, "%s not found: install qemu-system-common (it "
                              "ships virtiofsd) or set COVE_VIRTIOFSD", p->program);
    return cove_error_set(err, -msg[1], "cannot %s for the share %s: %s%s",
                          step_name(msg[0]), p->source, strerror(msg[1]),
                          msg[1] == EPERM ? " (shares need root or user namespaces)" : "");
}

static int start_daemon(const char *source, bool read_only, struct virtiofsd **out, int *sock,
                        struct cove_error *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(source, real) || stat(real, &st) < 0)
        return cove_error_set(err, -errno, "cannot share %s: %s", source, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cove_error_set(err, -ENOTDIR, "cannot share %s: not a directory", source);
    const char *program = getenv("COVE_VIRTIOFSD");
    if (!program || !*program)
        program = DEFAULT_VIRTIOFSD;

    struct virtiofsd *d = calloc(1, sizeof *d);
    char *src_opt = NULL, *fd_opt = NULL;
    if (!d || asprintf(&src_opt, "source=%s", real) < 0 ||
        asprintf(&fd_opt, "--fd=%d", DAEMON_FD) < 0) {
        free(d);
        free(src_opt);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    /* thread-pool-size=0: each queue is served in order by one thread, so when the
     * daemon dies cove knows which requests it left unanswered (see virtio/fs.c). */
    char *const argv[] = {(char *)program, fd_opt, "-o", src_opt, "-o", "cache=auto",
                          "-o", "log_level=err", "--thread-pool-size=0", NULL};
    struct child_plan plan = {.program = program, .argv = argv, .source = real,
                              .read_only = read_only, .userns = geteuid() != 0};
    snprintf(plan.uid_map, sizeof plan.uid_map, "0 %u 1", (unsigned)geteuid());
    snprintf(plan.gid_map, sizeof plan.gid_map, "0 %u 1", (unsigned)getegid());

    int lfd = -1, cfd = -1, report[2] = {-1, -1};
    int rc = virtiofsd_filter_make(&plan.filter, err);
    if (rc < 0)
        goto out;
    rc = make_socket_pair(&lfd, &cfd, err);
    if (rc < 0)
        goto out;
    if (pipe2(report, O_CLOEXEC) < 0) {
        rc = cove_error_set(err, -errno, "pipe: %s", strerror(errno));
        goto out;
    }
    plan.listen_fd = lfd;
    plan.report_fd = report[1];
    pid_t pid = fork();
    if (pid < 0) {
        rc = cove_error_set(err, -errno, "cannot start virtiofsd: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_main(&plan);
    close(report[1]);
    report[1] = -1;
    if ((rc = child_outcome(pid, report[0], &plan, err)) < 0)
        goto out;
    d->pid = pid;
    d->keeper = -1;
    log_debug("virtiofsd (pid %d) serves %s%s", (int)pid, real, read_only ? " read-only" : "");
    *out = d;
    *sock = cfd;
    cfd = -1;
    d = NULL;
out:
    for (int i = 0; i < 2; i++)
        if (report[i] >= 0)
            close(report[i]);
    if (lfd >= 0)
        close(lfd);
    if (cfd >= 0)
        close(cfd);
    free(d);
    free(src_opt);
    free(fd_opt);
    virtiofsd_filter_free(&plan.filter);
    return rc;
}

/* --- keepers: starting and stopping virtiofsd for a confined VMM -------------------------
 *
 * A guest reboot is a new machine, whose shares need new virtiofsd processes (each exits
 * with its vhost-user connection), but a VMM under its seccomp filter may not fork. So the
 * first start of a share's daemon, before the filter, also forks a keeper for that share:
 * a process that starts the daemon again when asked and hands back cove's end of the
 * vhost-user connection and the daemon's pid. It knows only that one directory and mode,
 * fixed at its fork, keeps only its socket and stderr, and dies with the VMM.
 *
 * It also stops daemons: a jailed VMM runs under a uid of its own and may not signal the
 * root daemons, and it cannot reap the keeper's. A daemon must be stopped before its
 * connection closes (a hang-up makes it log an error), so the VMM asks the keeper: 'T'
 * stops one of the keeper's own daemons (SIGTERM, SIGKILL after the grace, reaped), 'K'
 * sends a signal to one it knows (the first daemon, the VMM's child, which the VMM reaps).
 * The keeper signals only those pids: the first daemon's, given at its fork, and its own
 * children, which stay zombies (their pids not reusable) until it reaps them here. */

#define MAX_KEEPERS 16
#define KEEPER_DAEMONS 64

struct keeper {
    char source[PATH_MAX];
    bool read_only;
    int fd;
};

struct keeper_request {
    char op;    /* 'S' start a daemon, 'T' stop one of the keeper's, 'K' signal one */
    int pid;    /* 'T', 'K' */
    int sig;    /* 'K' */
};

struct keeper_answer {
    int rc;
    int pid;
    char text[COVE_ERROR_MAX];
};

static struct keeper keepers[MAX_KEEPERS];
static unsigned nkeepers;
static pthread_mutex_t keepers_lock = PTHREAD_MUTEX_INITIALIZER;

static bool reaped_within(pid_t pid, int ms);

/* The keeper's daemons: its children (reaped only here) and the VMM's first one. */
struct keeper_pids {
    pid_t first;
    pid_t child[KEEPER_DAEMONS];
    unsigned n;
};

static void keeper_reap(struct keeper_pids *kp)
{
    for (unsigned i = 0; i < kp->n;) {
        pid_t r = waitpid(kp->child[i], NULL, WNOHANG);
        if (r == kp->child[i] || (r < 0 && errno == ECHILD))
            kp->child[i] = kp->child[--kp->n];
        else
            i++;
    }
}

static int keeper_child(const struct keeper_pids *kp, pid_t pid)
{
    for (unsigned i = 0; i < kp->n; i++)
        if (kp->child[i] == pid)
            return (int)i;
    return -1;
}

static void keeper_serve(int sock, const char *source, bool read_only, pid_t first)
{
    struct keeper_pids kp = {.first = first};
    struct keeper_request req;
    for (;;) {
        ssize_t n = recv(sock, &req, sizeof req, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof req)
            break;
        keeper_reap(&kp);
        struct keeper_answer a = {0};
        int fd = -1;
        if (req.op == 'S' && kp.n == KEEPER_DAEMONS) {
            a.rc = -EAGAIN;
            snprintf(a.text, sizeof a.text, "cannot start virtiofsd for %s: %d daemons of "
                     "this share are still running", source, KEEPER_DAEMONS);
        } else if (req.op == 'S') {
            struct cove_error e = {0};
            struct virtiofsd *d = NULL;
            a.rc = start_daemon(source, read_only, &d, &fd, &e);
            if (a.rc < 0)
                snprintf(a.text, sizeof a.text, "%s", e.message);
            else
                a.pid = kp.child[kp.n++] = d->pid;
            free(d); /* the keeper stops it when the VMM asks ('T') */
        } else if (req.op == 'T' && keeper_child(&kp, req.pid) >= 0) {
            if (!reaped_within(req.pid, 0)) {
                kill(req.pid, SIGTERM);
                if (!reaped_within(req.pid, STOP_GRACE_MS)) {
                    kill(req.pid, SIGKILL);
                    reaped_within(req.pid, STOP_GRACE_MS);
                }
            }
            keeper_reap(&kp);
        } else if (req.op == 'K' && (req.sig == SIGTERM || req.sig == SIGKILL) &&
                   (req.pid == kp.first || keeper_child(&kp, req.pid) >= 0)) {
            a.rc = kill(req.pid, req.sig) < 0 ? -errno : 0;
        } else {
            a.rc = -EINVAL;
            snprintf(a.text, sizeof a.text, "not a daemon of this share");
        }
        usock_send_fds(sock, &a, sizeof a, &fd, fd >= 0 ? 1 : 0);
        if (fd >= 0)
            close(fd);
    }
    /* The VMM is gone: its daemons go too (they would exit with their connections). */
    for (unsigned i = 0; i < kp.n; i++)
        kill(kp.child[i], SIGTERM);
}

static int keeper_find(const char *source, bool read_only)
{
    for (unsigned i = 0; i < nkeepers; i++)
        if (!strcmp(keepers[i].source, source) && keepers[i].read_only == read_only)
            return (int)i;
    return -1;
}

/* Forks the share's keeper after its first daemon d started (nothing if it has one). */
static void keeper_fork(const char *source, bool read_only, struct virtiofsd *d)
{
    pthread_mutex_lock(&keepers_lock);
    if (keeper_find(source, read_only) >= 0) {
        pthread_mutex_unlock(&keepers_lock);
        return;
    }
    int fd = -1;
    pid_t pid = nkeepers < MAX_KEEPERS && strlen(source) < PATH_MAX
                    ? helper_fork("cove-fskeeper", &fd) : -ENOSPC;
    if (pid == 0) {
        keeper_serve(HELPER_FD, source, read_only, d->pid);
        _exit(0);
    }
    if (pid > 0) {
        struct keeper *k = &keepers[nkeepers];
        snprintf(k->source, sizeof k->source, "%s", source);
        k->read_only = read_only;
        k->fd = fd;
        d->keeper = (int)nkeepers++;
    }
    pthread_mutex_unlock(&keepers_lock);
}

/* One request to keeper k and its answer (and a descriptor with it); under keepers_lock. */
static int keeper_ask(int k, const struct keeper_request *req, struct keeper_answer *a,
                      int *fd, unsigned *nfds)
{
    *nfds = 0;
    if (send(keepers[k].fd, req, sizeof *req, MSG_NOSIGNAL) != (ssize_t)sizeof *req ||
        usock_recv_fds(keepers[k].fd, a, sizeof *a, fd, nfds, fd ? 1 : 0) !=
            (ssize_t)sizeof *a)
        return -EPIPE;
    a->text[sizeof a->text - 1] = 0;
    return 0;
}

/* Asks the share's keeper for a new daemon (a confined VMM). */
static int keeper_start(const char *source, bool read_only, struct virtiofsd **out, int *sock,
                        struct cove_error *err)
{
    pthread_mutex_lock(&keepers_lock);
    int k = keeper_find(source, read_only);
    int rc;
    struct keeper_answer a = {0};
    int fd = -1;
    unsigned nfds = 0;
    struct keeper_request req = {.op = 'S'};
    if (k < 0)
        rc = cove_error_set(err, -EPERM, "cannot start virtiofsd for the share %s: the VMM "
                            "is confined and no helper serves this share", source);
    else if (keeper_ask(k, &req, &a, &fd, &nfds) < 0)
        rc = cove_error_set(err, -EPIPE, "cannot start virtiofsd for the share %s: its helper "
                            "process is gone", source);
    else if (a.rc < 0 || nfds != 1)
        rc = cove_error_set(err, a.rc < 0 ? a.rc : -EIO, "%s", a.rc < 0 ? a.text : "no socket");
    else
        rc = 0;
    pthread_mutex_unlock(&keepers_lock);
    struct virtiofsd *d = rc == 0 ? calloc(1, sizeof *d) : NULL;
    if (rc == 0 && !d)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc < 0) {
        if (nfds == 1 && fd >= 0)
            close(fd);
        return rc;
    }
    d->pid = a.pid;
    d->keeper = k;
    log_debug("virtiofsd (pid %d, started by its keeper) serves %s", a.pid, source);
    *out = d;
    *sock = fd;
    return 0;
}

/* A request that wants no descriptor back (stop, signal), under keepers_lock. */
static void keeper_tell(int k, const struct keeper_request *req)
{
    struct keeper_answer a;
    unsigned nfds;
    pthread_mutex_lock(&keepers_lock);
    keeper_ask(k, req, &a, NULL, &nfds);
    pthread_mutex_unlock(&keepers_lock);
}

/* Sends sig to the daemon: itself, or through its share's keeper where the VMM may not (a
 * jailed VMM's uid is not the daemon's). */
static void daemon_signal(const struct virtiofsd *d, int sig)
{
    if (kill(d->pid, sig) == 0 || errno != EPERM || d->keeper < 0)
        return;
    keeper_tell(d->keeper, &(struct keeper_request){.op = 'K', .pid = d->pid, .sig = sig});
}

/* A share's later daemons come from its keeper whenever it has one: a confined VMM may
 * not fork, and a jailed one (filter or not) no longer sees the shared directory. */
int virtiofsd_start(const char *source, bool read_only, struct virtiofsd **out, int *sock,
                    struct cove_error *err)
{
    pthread_mutex_lock(&keepers_lock);
    bool have = keeper_find(source, read_only) >= 0;
    pthread_mutex_unlock(&keepers_lock);
    if (process_confined() || have)
        return keeper_start(source, read_only, out, sock, err);
    int rc = start_daemon(source, read_only, out, sock, err);
    if (rc == 0)
        keeper_fork(source, read_only, *out);
    return rc;
}

static bool reaped_within(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

void virtiofsd_kill(struct virtiofsd *d)
{
    /* Not reaped before virtiofsd_stop(), so the pid cannot have been reused. */
    if (d)
        daemon_signal(d, SIGKILL);
}

void virtiofsd_stop(struct virtiofsd *d)
{
    if (!d)
        return;
    if (d->keeper >= 0 && waitpid(d->pid, NULL, WNOHANG) < 0 && errno == ECHILD) {
        /* One of the keeper's: it stops and reaps it. */
        keeper_tell(d->keeper, &(struct keeper_request){.op = 'T', .pid = d->pid});
    } else if (!reaped_within(d->pid, 0)) {
        daemon_signal(d, SIGTERM);
        if (!reaped_within(d->pid, STOP_GRACE_MS)) {
            daemon_signal(d, SIGKILL);
            reaped_within(d->pid, STOP_GRACE_MS);
        }
    }
    free(d);
}
