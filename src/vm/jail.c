/*
 * The VMM's jail (jail.h). Firecracker's jailer is the model: namespaces, a root holding
 * only what the VM needs, no privileges. Here the VMM jails itself, as it confines itself
 * with seccomp: what it needs is already open.
 *
 * No PID namespace: it only applies to children made afterwards, and a VMM under its filter
 * makes none; entering one would need a fork at the start of the run, making the VMM pid 1
 * of its namespace (other signal rules, another pid in run/pid). What it would hide, the
 * other processes, is mostly out of reach already: no /proc in the jail, no ptrace under
 * the filter; kill() still reaches the processes of the jail's user (another jailed VM:
 * docs/SECURITY.md).
 */
#include "vm/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/confined.h"
#include "util/log.h"

/* Where the jail's root is made, in the VMM's own mount namespace (the host's /tmp is
 * untouched: the tmpfs is mounted over it only there). */
#define JAIL_BASE "/tmp"

bool jail_prepared(void)
{
    return process_jail_ns();
}

static unsigned thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    unsigned n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int cove_jail_prepare(struct cove_error *err)
{
    if (jail_prepared())
        return 0;
    if (geteuid() != 0)
        return cove_error_set(err, -EPERM, "the jail needs root: run cove as root, or run "
                              "without --jail");
    unsigned threads = thread_count();
    if (threads != 1)
        return cove_error_set(err, -EBUSY, "the jail must be prepared while the process has "
                              "one thread (it has %u)", threads);
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        return cove_error_set(err, -errno, "cannot make the jail's namespaces: %s (run with "
                              "--no-jail to go without it)", strerror(errno));
    process_set_jail_ns();
    return 0;
}

void jail_user(uid_t *uid, gid_t *gid, char *name, size_t n)
{
    static const char *const users[] = {"cove", "nobody"};
    for (unsigned i = 0; i < 2; i++) {
        struct passwd *pw = getpwnam(users[i]);
        if (pw && pw->pw_uid != 0) {
            *uid = pw->pw_uid;
            *gid = pw->pw_gid;
            snprintf(name, n, "%s", users[i]);
            return;
        }
    }
    *uid = 65534;
    *gid = 65534;
    snprintf(name, n, "65534");
}

/* The lock of this process's uid slot: held (open, flock) until the process ends. */
static int uid_slot_fd = -1;
static uid_t uid_slot;

int jail_uid_take(uid_t *uid, struct cove_error *err)
{
    if (uid_slot_fd >= 0) { /* this process has its uid already */
        *uid = uid_slot;
        return 0;
    }
    if (mkdir("/run/cove", 0755) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, "/run/cove: %s", strerror(errno));
    if (mkdir(JAIL_UID_DIR, 0700) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, JAIL_UID_DIR ": %s", strerror(errno));
    struct stat st;
    if (lstat(JAIL_UID_DIR, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        (st.st_mode & 022))
        return cove_error_set(err, -EPERM, JAIL_UID_DIR " is not a directory of root's that "
                              "only root can write");
    for (unsigned i = 0; i < JAIL_UID_COUNT; i++) {
        char path[64];
        snprintf(path, sizeof path, JAIL_UID_DIR "/%u", JAIL_UID_BASE + i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            uid_slot_fd = fd;
            *uid = uid_slot = JAIL_UID_BASE + i;
            return 0;
        }
        close(fd);
    }
    return cove_error_set(err, -EBUSY, "all %u uids of the range are taken", JAIL_UID_COUNT);
}

static int fail(struct cove_error *err, const char *what, const char *path)
{
    int e = errno;
    return cove_error_set(err, -e, "jail: cannot %s %s: %s (run with --no-jail to go "
                          "without it)", what, path, strerror(e));
}

/* mkdir -p of path's components under base (all 0755, root's). */
static int make_dirs(const char *base, const char *path, struct cove_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s%s", base, path) >= (int)sizeof buf)
        return cove_error_set(err, -ENAMETOOLONG, "jail: path too long: %s", path);
    for (char *p = buf + strlen(base) + 1; ; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return fail(err, "make", buf);
        if (!c)
            return 0;
        *p = c;
    }
}

/* The host's /etc/resolv.conf, read-only at its path: libslirp's DNS proxy reads it before
 * the filter, then stat()s it before each forwarded query, and a failed stat sends the
 * query to 127.0.0.1 instead (net_slirp.c, learn_dns_server). */
static int show_resolv_conf(struct cove_error *err)
{
    static const char *const host = "/etc/resolv.conf";
    static const char *const jail = JAIL_BASE "/etc/resolv.conf";
    if (access(host, F_OK) < 0)
        return 0;
    int fd;
    if (mkdir(JAIL_BASE "/etc", 0755) < 0 && errno != EEXIST)
        return fail(err, "make", JAIL_BASE "/etc");
    if ((fd = open(jail, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return fail(err, "make", jail);
    close(fd);
    if (mount(host, jail, NULL, MS_BIND, NULL) < 0)
        return fail(err, "bind-mount", host);
    if (mount(NULL, jail, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
              MS_NOEXEC, NULL) < 0)
        return fail(err, "make read-only", jail);
    return 0;
}

/* The new root: a small tmpfs with dir bind-mounted at its own path. */
static int make_root(const char *dir, struct cove_error *err)
{
    int bfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0)
        return fail(err, "open", dir);
    char src[64], dst[PATH_MAX];
    snprintf(src, sizeof src, "/proc/self/fd/%d", bfd);
    snprintf(dst, sizeof dst, "%s%s", JAIL_BASE, dir);
    int rc = 0;
    /* nothing done here may reach the host's namespace */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        rc = fail(err, "make private", "/");
    else if (mount("cove-jail", JAIL_BASE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0755,size=1m") < 0)
        rc = fail(err, "mount a tmpfs on", JAIL_BASE);
    else if ((rc = make_dirs(JAIL_BASE, dir, err)) < 0)
        ;
    else if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        rc = fail(err, "bind-mount", dir);
    else if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   NULL) < 0)
        rc = fail(err, "remount nosuid,nodev,noexec", dir);
    else
        rc = show_resolv_conf(err);
    close(bfd);
    return rc;
}

/* Into the new root, every thread at once: they share the namespace and the root that
 * pivot_root replaces; the old root is then detached. */
static int switch_root(struct cove_error *err)
{
    if (chdir(JAIL_BASE) < 0)
        return fail(err, "enter", JAIL_BASE);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return fail(err, "pivot_root into", JAIL_BASE);
    if (umount2(".", MNT_DETACH) < 0)
        return fail(err, "detach", "the old root");
    if (chdir("/") < 0)
        return fail(err, "enter", "/");
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
              MS_NOEXEC, NULL) < 0)
        return fail(err, "make read-only", "the jail's root");
    return 0;
}

static int give(const char *path, uid_t uid, gid_t gid, struct cove_error *err)
{
    if (path && fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
        return fail(err, "give the jail's user", path);
    return 0;
}

/* Every thread (glibc makes each set*id call on all of them); from root to another uid
 * the kernel clears the capabilities. */
static int drop_uid(uid_t uid, gid_t gid, struct cove_error *err)
{
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return cove_error_set(err, -errno, "jail: cannot drop to uid %u: %s", (unsigned)uid,
                              strerror(errno));
    if (setresuid(0, 0, 0) == 0) /* a way back would be no drop at all */
        return cove_error_set(err, -EPERM, "jail: uid 0 could be taken back");
    return 0;
}

int jail_enter(const char *dir, const char *const *writable, unsigned nwritable,
               struct cove_error *err)
{
    if (!jail_prepared())
        return cove_error_set(err, -EINVAL, "jail: not prepared (cove_jail_prepare)");
    if (dir[0] != '/')
        return cove_error_set(err, -EINVAL, "jail: the path is not absolute: %s (give "
                              "COVE_HOME as an absolute path)", dir);
    uid_t uid;
    gid_t gid;
    char name[32];
    /* a uid of its own (and the same gid), so that no other VM's VMM can signal it */
    struct cove_error why = {0};
    if (jail_uid_take(&uid, &why) == 0) {
        gid = (gid_t)uid;
        snprintf(name, sizeof name, "%u", (unsigned)uid);
    } else {
        jail_user(&uid, &gid, name, sizeof name); /* /etc/passwd: before the root goes */
        log_warn("jail: no uid of its own for this VM (%s); running as %s, shared with "
                 "other jailed VMs", why.message[0] ? why.message : "?", name);
    }
    uid_t owner = geteuid();
    int rc = make_root(dir, err);
    if (rc == 0)
        rc = switch_root(err);
    if (rc == 0)
        rc = give(dir, uid, gid, err);
    for (unsigned i = 0; rc == 0 && i < nwritable; i++)
        rc = give(writable[i], uid, gid, err);
    if (rc < 0)
        return rc;
    process_set_owner(owner);
    if ((rc = drop_uid(uid, gid, err)) < 0)
        return rc;
    log_debug("jail: only %s is visible; running as %s (uid %u, gid %u)", dir, name,
              (unsigned)uid, (unsigned)gid);
    return 0;
}
