/* A VM's own cgroup (cgroup.h). */
#include "vm/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "util/helper_proc.h"
#include "util/log.h"

#define CPU_PERIOD_US 100000
#define CLEAN_TRIES 250 /* 20 ms apart: the run's process and its children exiting */
#define MAX_DIRS 2      /* v1: the cpu and the memory hierarchies' cgroups */

/* One cgroup of the VM: dir, in the hierarchy mounted at root, whose controller (v1)
 * names its line in /proc/self/cgroup ("" for v2's "0::"). */
struct cg_dir {
    char dir[PATH_MAX];
    char root[64];
    const char *controller;
};

struct vm_cgroup {
    struct cg_dir dirs[MAX_DIRS];
    unsigned ndirs;
    int sock;     /* to the cleaner: closed when the run ends */
    pid_t cleaner;
};

uint64_t vm_cgroup_memory_max(uint64_t ram)
{
    return ram + (256ull << 20) + ram / 8;
}

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int rc = n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    return rc;
}

/* Whether dir/cgroup.controllers names controller (a whole word). */
static bool has_controller(const char *dir, const char *controller)
{
    char path[PATH_MAX], line[512];
    snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool found = false;
    if (fgets(line, sizeof line, f))
        for (char *save, *w = strtok_r(line, " \n", &save); w && !found;
             w = strtok_r(NULL, " \n", &save))
            found = !strcmp(w, controller);
    fclose(f);
    return found;
}

/* Why cgroup v2 cannot hold this VM, or NULL. */
static const char *unavailable_v2(bool cpu)
{
    struct statfs s;
    if (statfs(VM_CGROUP_ROOT, &s) < 0 || s.f_type != CGROUP2_SUPER_MAGIC)
        return VM_CGROUP_ROOT " is not a cgroup v2 file system";
    if (access(VM_CGROUP_ROOT, W_OK) < 0)
        return VM_CGROUP_ROOT " is not writable (run as root)";
    if (!has_controller(VM_CGROUP_ROOT, "memory"))
        return "the memory controller is not available in " VM_CGROUP_ROOT;
    if (cpu && !has_controller(VM_CGROUP_ROOT, "cpu"))
        return "the cpu controller is not available in " VM_CGROUP_ROOT;
    return NULL;
}

/* cgroup v1: the hierarchy of controller (/sys/fs/cgroup/cpu or /sys/fs/cgroup/cpu,cpuacct)
 * with file in it, writable; 0 or -ENOENT/-EACCES. */
static int v1_root(const char *controller, const char *file, char *out, size_t len)
{
    static const char *const forms[] = {"%s/%s", "%s/%s,cpuacct", "%s/cpuacct,%s"};
    int rc = -ENOENT;
    for (unsigned i = 0; i < sizeof forms / sizeof forms[0] && rc == -ENOENT; i++) {
        char path[PATH_MAX];
        struct statfs s;
        snprintf(out, len, forms[i], VM_CGROUP_ROOT, controller);
        snprintf(path, sizeof path, "%s/%s", out, file);
        if (statfs(out, &s) < 0 || s.f_type != CGROUP_SUPER_MAGIC || access(path, F_OK) < 0)
            continue;
        rc = access(path, W_OK) < 0 ? -EACCES : 0;
    }
    return rc;
}

/* Why cgroup v1 cannot hold this VM, or NULL; the hierarchies' roots in mem and cpu_root. */
static const char *unavailable_v1(bool cpu, char *mem, char *cpu_root, size_t len)
{
    int rc = v1_root("memory", "memory.limit_in_bytes", mem, len);
    if (rc == -EACCES)
        return VM_CGROUP_ROOT "/memory is not writable (run as root)";
    if (rc < 0)
        return "neither cgroup v2 nor a cgroup v1 memory hierarchy at " VM_CGROUP_ROOT "/memory";
    rc = cpu ? v1_root("cpu", "cpu.cfs_quota_us", cpu_root, len) : 0;
    if (rc == -EACCES)
        return VM_CGROUP_ROOT "/cpu is not writable (run as root)";
    if (rc < 0)
        return "no cgroup v1 cpu hierarchy with cpu.cfs_quota_us at " VM_CGROUP_ROOT "/cpu";
    return NULL;
}

/* The cleaner's own cgroup in d's hierarchy, from /proc/self/cgroup. */
static bool own_cgroup(const struct cg_dir *d, char *own, size_t len)
{
    char line[PATH_MAX - 64];
    FILE *f = fopen("/proc/self/cgroup", "re");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
        if (!p)
            continue;
        *p = 0;
        bool match = !d->controller[0] ? !c[1] : false;
        for (char *save, *w = strtok_r(c + 1, ",", &save); w && d->controller[0] && !match;
             w = strtok_r(NULL, ",", &save))
            match = !strcmp(w, d->controller);
        if (match)
            found = snprintf(own, len, "%s%s", d->root, p + 1) < (int)len;
    }
    if (f)
        fclose(f);
    return found;
}

/* The processes still in d (a network's switch the run started) go to the cleaner's own
 * cgroup of that hierarchy, so that d can go. */
static void move_out(const struct cg_dir *d)
{
    char path[PATH_MAX + 16], own[PATH_MAX], line[64];
    FILE *f;
    snprintf(path, sizeof path, "%s/cgroup.procs", d->dir);
    if (!own_cgroup(d, own, sizeof own) || !(f = fopen(path, "re")))
        return;
    while (fgets(line, sizeof line, f))
        write_file(own, "cgroup.procs", line);
    fclose(f);
}

static _Noreturn void clean(const struct vm_cgroup *g)
{
    prctl(PR_SET_PDEATHSIG, 0); /* it outlives the run: that is its job */
    char b;
    ssize_t n;
    while ((n = recv(HELPER_FD, &b, 1, 0)) != 0 && !(n < 0 && errno != EINTR)) {
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    bool gone[MAX_DIRS] = {false};
    for (int i = 0; i < CLEAN_TRIES; i++) {
        unsigned left = 0;
        for (unsigned k = 0; k < g->ndirs; k++) {
            if (!gone[k])
                gone[k] = rmdir(g->dirs[k].dir) == 0 || errno == ENOENT;
            if (!gone[k] && i == CLEAN_TRIES / 2)
                move_out(&g->dirs[k]);
            left += !gone[k];
        }
        if (!left)
            _exit(0);
        nanosleep(&ts, NULL);
    }
    _exit(1);
}

/* Removes the cgroups under base of runs whose process is gone (NAME-PID: a cleaner that
 * was killed too); those still holding processes stay. */
static void sweep(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *dash = strrchr(e->d_name, '-');
        char *end;
        long pid = dash ? strtol(dash + 1, &end, 10) : 0;
        if (e->d_type != DT_DIR || pid <= 0 || *end || (kill((pid_t)pid, 0) < 0 ? errno != ESRCH
                                                                                 : true))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", base, e->d_name) < (int)sizeof path &&
            rmdir(path) == 0)
            log_debug("cgroup: removed %s, left by a run that was killed", path);
    }
    if (d)
        closedir(d);
}

static int enable(const char *dir, bool cpu)
{
    int rc = write_file(dir, "cgroup.subtree_control", "+memory");
    if (rc == 0 && cpu)
        rc = write_file(dir, "cgroup.subtree_control", "+cpu");
    return rc;
}

/* Makes root/cove/NAME-PID (and root/cove, with enable for v2) into a new entry of g. */
static int make_dir(struct vm_cgroup *g, const char *root, const char *controller,
                    const char *name, bool v2, bool cpu, struct cove_error *err)
{
    char base[PATH_MAX];
    struct cg_dir *d = &g->dirs[g->ndirs];
    snprintf(base, sizeof base, "%s/cove", root);
    int rc = v2 ? enable(root, cpu) : 0;
    if (rc == 0 && mkdir(base, 0755) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc == 0 && v2)
        rc = enable(base, cpu);
    if (rc < 0)
        return cove_error_set(err, rc, "cgroup: cannot %s %s: %s",
                              v2 ? "enable the controllers in" : "create", base, strerror(-rc));
    sweep(base);
    if (snprintf(d->dir, sizeof d->dir, "%s/%s-%d", base, name, (int)getpid()) >=
        (int)sizeof d->dir)
        return cove_error_set(err, -ENAMETOOLONG, "cgroup: name too long");
    snprintf(d->root, sizeof d->root, "%s", root);
    d->controller = controller;
    if (mkdir(d->dir, 0755) < 0)
        return cove_error_set(err, -errno, "cgroup: cannot create %s: %s", d->dir,
                              strerror(errno));
    g->ndirs++;
    return 0;
}

static int put(const char *dir, const char *file, const char *text, struct cove_error *err)
{
    int rc = write_file(dir, file, text);
    return rc < 0 ? cove_error_set(err, rc, "cgroup: cannot write %s/%s: %s", dir, file,
                                   strerror(-rc))
                  : 0;
}

static int setup(struct vm_cgroup *g, const char *name, unsigned cpu_limit, uint64_t ram,
                 const char *v1_mem, const char *v1_cpu, struct cove_error *err)
{
    bool cpu = cpu_limit > 0, v2 = !v1_mem;
    long quota = (long)cpu_limit * (CPU_PERIOD_US / 1000);
    char text[64];
    int rc;
    snprintf(text, sizeof text, "%llu", (unsigned long long)vm_cgroup_memory_max(ram));
    if (v2) {
        if ((rc = make_dir(g, VM_CGROUP_ROOT, "", name, true, cpu, err)) < 0)
            return rc;
        if ((rc = put(g->dirs[0].dir, "memory.max", text, err)) < 0)
            return rc;
        snprintf(text, sizeof text, "%ld %d", quota < 1000 ? 1000 : quota, CPU_PERIOD_US);
        if (cpu && (rc = put(g->dirs[0].dir, "cpu.max", text, err)) < 0)
            return rc;
    } else {
        if ((rc = make_dir(g, v1_mem, "memory", name, false, false, err)) < 0 ||
            (rc = put(g->dirs[0].dir, "memory.limit_in_bytes", text, err)) < 0)
            return rc;
        if (cpu) {
            if ((rc = make_dir(g, v1_cpu, "cpu", name, false, false, err)) < 0)
                return rc;
            snprintf(text, sizeof text, "%d", CPU_PERIOD_US);
            if ((rc = put(g->dirs[1].dir, "cpu.cfs_period_us", text, err)) < 0)
                return rc;
            snprintf(text, sizeof text, "%ld", quota < 1000 ? 1000 : quota);
            if ((rc = put(g->dirs[1].dir, "cpu.cfs_quota_us", text, err)) < 0)
                return rc;
        }
    }
    /* the cleaner first: it must stay outside */
    pid_t pid = helper_fork("cove-cgroup", &g->sock);
    if (pid == 0)
        clean(g);
    if (pid < 0)
        return cove_error_set(err, pid, "cgroup: cannot fork: %s", strerror(-pid));
    g->cleaner = pid;
    snprintf(text, sizeof text, "%d", (int)getpid());
    for (unsigned k = 0; k < g->ndirs; k++)
        if ((rc = write_file(g->dirs[k].dir, "cgroup.procs", text)) < 0)
            return cove_error_set(err, rc, "cgroup: cannot move the VMM into %s: %s",
                                  g->dirs[k].dir, strerror(-rc));
    log_debug("cgroup %s (v%d): cpu %s, memory %llu", g->dirs[0].dir, v2 ? 2 : 1,
              cpu ? "limited" : "unlimited", (unsigned long long)vm_cgroup_memory_max(ram));
    return 0;
}

int vm_cgroup_start(const char *name, unsigned cpu_limit, uint64_t ram,
                    struct vm_cgroup **out, struct cove_error *err)
{
    *out = NULL;
    char mem[64] = "", cpu[64] = "";
    const char *why2 = unavailable_v2(cpu_limit > 0);
    const char *why = why2 ? unavailable_v1(cpu_limit > 0, mem, cpu, sizeof mem) : NULL;
    if (why && cpu_limit > 0)
        return cove_error_set(err, -ENOTSUP, "a CPU limit (--cpu-limit) needs cgroups: %s "
                              "(and %s); run without it (cove set NAME --cpu-limit none)",
                              why2, why);
    if (why) {
        log_info("cgroup: the VM runs without a memory limit: %s; %s", why2, why);
        return 0;
    }
    struct vm_cgroup *g = calloc(1, sizeof *g);
    if (!g)
        return cove_error_set(err, -ENOMEM, "out of memory");
    g->sock = -1;
    int rc = setup(g, name, cpu_limit, ram, why2 ? mem : NULL, why2 ? cpu : NULL, err);
    if (rc < 0) {
        vm_cgroup_stop(g);
        if (cpu_limit > 0)
            return rc;
        /* the default memory limit only: the VM runs without it */
        log_warn("%s; the VM runs without a memory limit", err->message);
        return 0;
    }
    *out = g;
    return 0;
}

void vm_cgroup_stop(struct vm_cgroup *g)
{
    if (!g)
        return;
    if (g->sock >= 0)
        close(g->sock);
    else /* made, but no cleaner: nothing moved into them yet */
        for (unsigned k = 0; k < g->ndirs; k++)
            rmdir(g->dirs[k].dir);
    free(g);
}
