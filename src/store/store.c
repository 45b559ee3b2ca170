/*
 * The store's plumbing: where things are, names, atomic writes, stale temporaries, locks,
 * copies and helper programs. See store.h for the rules.
 */
#include "store/store.h"
#include "util/fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME_MAX_LEN 64
#define TEMP_PREFIX ".tmp-"

int store_path(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int store_mkdir_p(const char *path, struct cove_error *err)
{
    char tmp[PATH_MAX];
    if (store_path(tmp, sizeof tmp, "%s", path) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

int store_open(struct store *s, struct cove_error *err)
{
    const char *home = getenv("COVE_HOME");
    int rc;
    if (home && *home) {
        rc = store_path(s->home, sizeof s->home, "%s", home);
    } else {
        const char *h = getenv("HOME");
        if (!h || !*h)
            return cove_error_set(err, -ENOENT, "neither COVE_HOME nor HOME is set");
        rc = store_path(s->home, sizeof s->home, "%s/.cove", h);
    }
    if (rc < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = store_mkdir_p(s->home, err)) < 0)
        return rc;
    /* Paths are compared and made relative lexically (disk_image.c): one canonical root,
     * independent of the cwd. */
    char real[PATH_MAX];
    if (!realpath(s->home, real))
        return cove_error_set(err, -errno, "%s: %s", s->home, strerror(errno));
    if (store_path(s->home, sizeof s->home, "%s", real) < 0 ||
        store_path(s->vms, sizeof s->vms, "%s/vms", s->home) < 0 ||
        store_path(s->bases, sizeof s->bases, "%s/bases", s->home) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = store_mkdir_p(s->vms, err)) < 0 || (rc = store_mkdir_p(s->bases, err)) < 0)
        return rc;
    return 0;
}

int store_check_label(const char *what, const char *name, struct cove_error *err)
{
    if (!name || !*name)
        return cove_error_set(err, -EINVAL, "a %s cannot be empty", what);
    if (strchr(name, '/'))
        return cove_error_set(err, -EINVAL, "%s '%s' contains '/'; use letters, digits, "
                              "'.', '_' and '-'", what, name);
    if (name[0] == '.')
        return cove_error_set(err, -EINVAL, "%s '%s' starts with '.'; a name starts with "
                              "a letter or digit", what, name);
    size_t len = strlen(name);
    if (len > NAME_MAX_LEN)
        return cove_error_set(err, -EINVAL, "%s '%.20s...' is %zu characters long; the "
                              "limit is %d", what, name, len, NAME_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return cove_error_set(err, -EINVAL, "%s '%s' contains '%c'; use letters, "
                                  "digits, '.', '_' and '-' (not first)", what,
                                  name, (c >= 0x20 && c < 0x7f) ? c : '?');
    }
    return 0;
}

int store_check_name(const char *name, struct cove_error *err)
{
    return store_check_label("VM name", name, err);
}

int store_bundle_path(const struct store *s, const char *name, char *buf, size_t n)
{
    return store_path(buf, n, "%s/%s", s->vms, name);
}

int store_find(const struct store *s, const char *name, char *buf, size_t n,
               struct cove_error *err)
{
    int rc = store_check_name(name, err);
    if (rc < 0)
        return rc;
    if (store_bundle_path(s, name, buf, n) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    struct stat st;
    if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
        return cove_error_set(err, -ENOENT, "VM '%s' does not exist; see `cove list`", name);
    return 0;
}

int store_temp_path(const char *dir, const char *tag, char *buf, size_t n)
{
    return store_temp_path_of(dir, getpid(), tag, buf, n);
}

int store_temp_path_of(const char *dir, pid_t pid, const char *tag, char *buf, size_t n)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) < 0)
        r = (uint32_t)rand();
    return store_path(buf, n, "%s/" TEMP_PREFIX "%d-%s-%08x", dir, (int)pid, tag, r);
}

int store_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *dir, size_t n)
{
    snprintf(dir, n, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    else if (slash)
        slash[1] = 0;
    else
        snprintf(dir, n, ".");
}

int store_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct cove_error *err)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    if (store_temp_path(dir, "write", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return cove_error_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
    int rc = fd_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return cove_error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    }
    store_sync_dir(dir);
    return 0;
}

static int remove_at(int parent, const char *name)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int r = remove_at(dirfd(d), e->d_name);
        if (r < 0 && !rc)
            rc = r;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

int store_remove_tree(const char *path)
{
    return remove_at(AT_FDCWD, path);
}

void store_sweep_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)))
            continue;
        long pid = strtol(e->d_name + strlen(TEMP_PREFIX), NULL, 10);
        if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        remove_at(dirfd(d), e->d_name);
    }
    closedir(d);
}

static pid_t read_pid(const char *bundle)
{
    char path[PATH_MAX], buf[32] = {0};
    if (store_path(path, sizeof path, "%s/run/pid", bundle) < 0)
        return 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? (pid_t)strtol(buf, NULL, 10) : 0;
}

static int open_lock(const char *bundle)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/run", bundle) < 0)
        return -ENAMETOOLONG;
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    /* whoever can write the bundle may have made run/ or run/lock a link: never followed
     * (O_CREAT would make a file wherever it points) */
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return errno == ENOTDIR ? -ELOOP : -errno;
    int fd = openat(dir, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = errno;
    close(dir);
    return fd < 0 ? -e : fd;
}

int store_lock_bundle(const char *bundle, const char *name, int *fd, pid_t *holder_pid,
                      struct cove_error *err)
{
    int lfd = open_lock(bundle);
    if (lfd == -ELOOP)
        return cove_error_set(err, lfd, "VM '%s': run/ or run/lock is a symbolic link; cove "
                              "does not follow links in a bundle", name);
    if (lfd < 0)
        return cove_error_set(err, lfd, "cannot open the lock of VM '%s': %s", name,
                              strerror(-lfd));
    if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(lfd);
        pid_t pid = read_pid(bundle);
        if (holder_pid)
            *holder_pid = pid;
        if (e == EWOULDBLOCK)
            return cove_error_set(err, -EBUSY, "VM '%s' is running; stop it first", name);
        return cove_error_set(err, -e, "cannot lock VM '%s': %s", name, strerror(e));
    }
    *fd = lfd;
    return 0;
}

void store_unlock_bundle(int fd)
{
    if (fd >= 0)
        close(fd);
}

bool store_bundle_running(const char *bundle, pid_t *pid)
{
    char path[PATH_MAX];
    *pid = 0;
    if (store_path(path, sizeof path, "%s/run/lock", bundle) < 0)
        return false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    if (held)
        *pid = read_pid(bundle);
    return held;
}

int store_lock_global(const struct store *s, int *fd, struct cove_error *err)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/.lock", s->home) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    while (flock(lfd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(lfd);
            return cove_error_set(err, -e, "cannot lock %s: %s", path, strerror(e));
        }
    }
    *fd = lfd;
    return 0;
}

/* Copies data extents only, so that a sparse image stays sparse. */
static int copy_sparse(int in, int out, off_t size)
{
    off_t pos = 0;
    static char buf[1 << 16];
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: only a hole remains */
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            hole = size;
        for (off_t at = data; at < hole;) {
            size_t want = (size_t)(hole - at) < sizeof buf ? (size_t)(hole - at) : sizeof buf;
            ssize_t n = pread(in, buf, want, at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = pwrite(out, buf + done, (size_t)(n - done), at + done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0)
                    return -errno;
                done += w;
            }
            at += n;
        }
        pos = hole;
    }
    return ftruncate(out, size) < 0 ? -errno : 0;
}

int store_copy_file(const char *src, const char *dst, mode_t mode, struct cove_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cove_error_set(err, -errno, "%s: %s", src, strerror(errno));
    int rc = store_copy_fd(in, src, dst, mode, err);
    close(in);
    return rc;
}

int store_copy_fd(int in, const char *src, const char *dst, mode_t mode,
                  struct cove_error *err)
{
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
        return cove_error_set(err, -EINVAL, "%s: not a regular file", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", dst, strerror(errno));
    int rc = 0;
    if (ioctl(out, FICLONE, in) < 0)
        rc = copy_sparse(in, out, st.st_size);
    if (rc == 0 && fchmod(out, mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    close(out);
    if (rc < 0) {
        unlink(dst);
        return cove_error_set(err, rc, "cannot copy %s to %s: %s", src, dst, strerror(-rc));
    }
    return 0;
}

/* store_spawn and store_spawn_timed: stdout goes with stderr into the message or away. */
static int spawn(char *const argv[], const char *in_path, const char *cwd, int timeout_ms,
                 bool stderr_only, struct cove_error *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return cove_error_set(err, -errno, "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return cove_error_set(err, -e, "cannot run %s: %s", argv[0], strerror(e));
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. The helper dies with us, so that a
         * killed command leaves nothing writing into its temporary directory. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = stderr_only ? open("/dev/null", O_WRONLY | O_CLOEXEC) : pipefd[1];
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(pipefd[1], 2) < 0 || (cwd && chdir(cwd) < 0))
            _exit(127);
        execvp(argv[0], argv);
        static const char msg[] = "not found (is it installed?)\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
            /* nothing left to tell anyone */
        }
        _exit(127);
    }
    close(pipefd[1]);
    char out[512];
    size_t got = 0;
    long long deadline = timeout_ms < 0 ? FD_NO_DEADLINE : monotonic_ms() + timeout_ms;
    bool late = false;
    for (;;) {
        /* the output closes when the command exits: a command that hangs is killed */
        int ready = fd_wait(pipefd[0], POLLIN, deadline);
        if (ready == 0) {
            late = true;
            kill(pid, SIGKILL);
            break;
        }
        if (ready < 0)
            break;
        char buf[512];
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got < sizeof out - 1; i++)
            out[got++] = buf[i];
    }
    close(pipefd[0]);
    out[got] = 0;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return cove_error_set(err, -errno, "waitpid: %s", strerror(errno));
    }
    if (late)
        return cove_error_set(err, -ETIMEDOUT, "%s did not finish within %d s; stopped it",
                              argv[0], (timeout_ms + 999) / 1000);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
    return cove_error_set(err, -EIO, "%s failed: %s", argv[0], *out ? out : "(no message)");
}

int store_spawn(char *const argv[], const char *in_path, const char *cwd, struct cove_error *err)
{
    return spawn(argv, in_path, cwd, -1, false, err);
}

int store_spawn_timed(char *const argv[], const char *in_path, const char *cwd, int timeout_ms,
                      struct cove_error *err)
{
    return spawn(argv, in_path, cwd, timeout_ms, true, err);
}
