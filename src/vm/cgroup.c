/* A VM's own cgroup (cgroup.h). */
#include "vm/cgroup.h"

#include <errno.h>
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

struct vm_cgroup {
    char dir[PATH_MAX];
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
static const char *unavailable(bool cpu)
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

/* The processes still in dir (a network's switch the run started) go to the cleaner's
 * own cgroup, so that dir can go. */
static void move_out(const char *dir)
{
    char path[PATH_MAX], own[PATH_MAX], line[PATH_MAX - 64];
    FILE *f = fopen("/proc/self/cgroup", "re");
    own[0] = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(own, sizeof own, "%s%s", VM_CGROUP_ROOT, line + 3);
        }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    if (!own[0] || !(f = fopen(path, "re")))
        return;
    while (fgets(line, sizeof line, f))
        write_file(own, "cgroup.procs", line);
    fclose(f);
}

static _Noreturn void clean(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, 0); /* it outlives the run: that is its job */
    char b;
    ssize_t n;
    while ((n = recv(HELPER_FD, &b, 1, 0)) != 0 && !(n < 0 && errno != EINTR)) {
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (int i = 0; i < CLEAN_TRIES; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            _exit(0);
        if (i == CLEAN_TRIES / 2)
            move_out(dir);
        nanosleep(&ts, NULL);
    }
    _exit(1);
}

static int enable(const char *dir, bool cpu)
{
    int rc = write_file(dir, "cgroup.subtree_control", "+memory");
    if (rc == 0 && cpu)
        rc = write_file(dir, "cgroup.subtree_control", "+cpu");
    return rc;
}

static int setup(struct vm_cgroup *g, const char *name, unsigned cpu_limit, uint64_t ram,
                 struct cove_error *err)
{
    const char *base = VM_CGROUP_ROOT "/cove";
    bool cpu = cpu_limit > 0;
    int rc = enable(VM_CGROUP_ROOT, cpu);
    if (rc == 0 && mkdir(base, 0755) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc == 0)
        rc = enable(base, cpu);
    if (rc < 0)
        return cove_error_set(err, rc, "cgroup: cannot enable the controllers in %s: %s", base,
                              strerror(-rc));
    if (snprintf(g->dir, sizeof g->dir, "%s/%s-%d", base, name, (int)getpid()) >=
        (int)sizeof g->dir)
        return cove_error_set(err, -ENAMETOOLONG, "cgroup: name too long");
    if (mkdir(g->dir, 0755) < 0)
        return cove_error_set(err, -errno, "cgroup: cannot create %s: %s", g->dir,
                              strerror(errno));
    char text[64];
    if (cpu) {
        long quota = (long)cpu_limit * (CPU_PERIOD_US / 1000);
        snprintf(text, sizeof text, "%ld %d", quota < 1000 ? 1000 : quota, CPU_PERIOD_US);
        if ((rc = write_file(g->dir, "cpu.max", text)) < 0)
            return cove_error_set(err, rc, "cgroup: cannot write %s/cpu.max: %s", g->dir,
                                  strerror(-rc));
    }
    snprintf(text, sizeof text, "%llu", (unsigned long long)vm_cgroup_memory_max(ram));
    if ((rc = write_file(g->dir, "memory.max", text)) < 0)
        return cove_error_set(err, rc, "cgroup: cannot write %s/memory.max: %s", g->dir,
                              strerror(-rc));
    /* the cleaner first: it must stay outside */
    pid_t pid = helper_fork("cove-cgroup", &g->sock);
    if (pid == 0)
        clean(g->dir);
    if (pid < 0)
        return cove_error_set(err, pid, "cgroup: cannot fork: %s", strerror(-pid));
    g->cleaner = pid;
    snprintf(text, sizeof text, "%d", (int)getpid());
    if ((rc = write_file(g->dir, "cgroup.procs", text)) < 0)
        return cove_error_set(err, rc, "cgroup: cannot move the VMM into %s: %s", g->dir,
                              strerror(-rc));
    log_debug("cgroup %s: cpu.max %s, memory.max %llu", g->dir, cpu ? "set" : "max",
              (unsigned long long)vm_cgroup_memory_max(ram));
    return 0;
}

int vm_cgroup_start(const char *name, unsigned cpu_limit, uint64_t ram,
                    struct vm_cgroup **out, struct cove_error *err)
{
    *out = NULL;
    const char *why = unavailable(cpu_limit > 0);
    if (why && cpu_limit > 0)
        return cove_error_set(err, -ENOTSUP, "a CPU limit (--cpu-limit) needs cgroup v2: %s; "
                              "run without it (cove set NAME --cpu-limit none)", why);
    if (why) {
        log_info("cgroup: the VM runs without a memory limit: %s", why);
        return 0;
    }
    struct vm_cgroup *g = calloc(1, sizeof *g);
    if (!g)
        return cove_error_set(err, -ENOMEM, "out of memory");
    g->sock = -1;
    int rc = setup(g, name, cpu_limit, ram, err);
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
    else if (g->dir[0])
        rmdir(g->dir); /* made, but no cleaner: nothing moved into it yet */
    free(g);
}
