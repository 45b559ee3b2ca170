/*
 * Running a bundle (cove_vm_run) and talking to a running one: stop, pause, resume, and
 * the live state in get/list.
 *
 * A running VM holds the exclusive flock on run/lock for the whole run and writes run/pid;
 * both go when the process does (the lock with it, the pid file is removed on the way out,
 * and a stale one is ignored because the lock decides). A socket whose process died reads
 * as stopped for the same reason.
 */
#include <cove/cove.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "machine/machine.h"
#include "store/bundle.h"
#include "util/log.h"
#include "vm/vm.h"

#define FORCE_WAIT_MS 5000
/* A running guest's agent answers at once; one that does not (no agent, paused, still
 * booting) is not waited for long before the other ways are tried. */
#define AGENT_STOP_CONNECT_MS 2000
#define CMDLINE_MAX 4096

struct cove_vm_runner {
    _Atomic(struct machine *) m;
    atomic_bool stop;
};

void cove_vm_runner_stop(struct cove_vm_runner *r)
{
    atomic_store(&r->stop, true);
    struct machine *m = atomic_load(&r->m);
    if (m)
        machine_request_stop(m);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* --- running --------------------------------------------------------------------------- */

struct run_ctx {
    const char *name;
    char bundle[PATH_MAX];
    char run_dir[PATH_MAX];
    struct cove_config cfg;
    char kernel[PATH_MAX], initrd[PATH_MAX], firmware[PATH_MAX];
    char cmdline[CMDLINE_MAX];
    char disk_paths[COVE_MAX_DISKS][PATH_MAX];
    struct machine_disk disks[MACHINE_MAX_VIRTIO];
    unsigned ndisks;
    struct machine_net net;
    struct net_forward forwards[2 * COVE_MAX_FORWARDS];
    int lock_fd;
    int console_fd;
};

static int resolve_boot(struct run_ctx *c, const struct cove_run_options *o,
                        struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    if (store_resolve(c->bundle, cfg->kernel, c->kernel, sizeof c->kernel) < 0 ||
        (cfg->initrd && store_resolve(c->bundle, cfg->initrd, c->initrd, sizeof c->initrd) < 0) ||
        (cfg->firmware &&
         store_resolve(c->bundle, cfg->firmware, c->firmware, sizeof c->firmware) < 0))
        return cove_error_set(err, -ENAMETOOLONG, "VM '%s': a boot file path is too long",
                              c->name);
    mc->kernel_path = c->kernel;
    mc->initrd_path = cfg->initrd ? c->initrd : NULL;
    mc->firmware_path = cfg->firmware ? c->firmware : NULL;
    int n = snprintf(c->cmdline, sizeof c->cmdline, "%s%s%s", cfg->cmdline ? cfg->cmdline : "",
                     cfg->cmdline && o->append && *o->append ? " " : "",
                     o->append ? o->append : "");
    if (n < 0 || (size_t)n >= sizeof c->cmdline)
        return cove_error_set(err, -E2BIG, "the kernel command line is longer than %d bytes",
                              CMDLINE_MAX - 1);
    mc->cmdline = *c->cmdline ? c->cmdline : NULL;
    return 0;
}

static int resolve_disks(struct run_ctx *c, const struct cove_run_options *o,
                         struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    if (cfg->ndisks + o->nextra_disks > MACHINE_MAX_VIRTIO)
        return cove_error_set(err, -EINVAL, "too many disks (%u); a VM has at most %d",
                              cfg->ndisks + o->nextra_disks, MACHINE_MAX_VIRTIO);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (store_resolve(c->bundle, cfg->disks[i].file, c->disk_paths[i],
                          sizeof c->disk_paths[i]) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "disk path too long");
        c->disks[c->ndisks++] = (struct machine_disk){c->disk_paths[i], cfg->disks[i].read_only};
    }
    for (unsigned i = 0; i < o->nextra_disks; i++)
        c->disks[c->ndisks++] =
            (struct machine_disk){o->extra_disks[i].file, o->extra_disks[i].read_only};
    mc->disks = c->disks;
    mc->ndisks = c->ndisks;
    return 0;
}

/* NAT networking as the bundle asks, with the run's extra forwards. */
static int resolve_network(struct run_ctx *c, const struct cove_run_options *o,
                           struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    if (!cfg->has_network || !cfg->nat) {
        if (o->nforwards)
            return cove_error_set(err, -EINVAL, "VM '%s' has no network; --forward needs one",
                                  c->name);
        return 0;
    }
    int rc;
    if (cfg->mac[0]) {
        struct cove_error merr;
        if ((rc = net_mac_parse(cfg->mac, c->net.mac, &merr)) < 0)
            return cove_error_set(err, rc, "VM '%s': network.mac: %s", c->name, merr.message);
    } else {
        net_mac_random(c->net.mac);
    }
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->nforwards; i++)
        if ((rc = net_forward_parse(cfg->forwards[i], &c->forwards[n++], err)) < 0)
            return rc;
    for (unsigned i = 0; i < o->nforwards && n < 2 * COVE_MAX_FORWARDS; i++)
        if ((rc = net_forward_parse(o->forwards[i], &c->forwards[n++], err)) < 0)
            return rc;
    c->net.forwards = c->forwards;
    c->net.nforwards = n;
    mc->nets = &c->net;
    mc->nnets = 1;
    return 0;
}

/* Takes the run lock and checks that it is the lock of the bundle still at that name
 * (a delete or rename may have moved the directory between our open and our flock). */
static int take_run_lock(struct run_ctx *c, struct cove_error *err)
{
    pid_t holder = 0;
    int rc = store_lock_bundle(c->bundle, c->name, &c->lock_fd, &holder, err);
    if (rc == -EBUSY) {
        if (holder)
            return cove_error_set(err, rc, "VM '%s' is already running (pid %d)", c->name,
                                  (int)holder);
        return cove_error_set(err, rc, "VM '%s' is already running", c->name);
    }
    if (rc < 0)
        return rc;
    char path[PATH_MAX];
    struct stat a, b;
    if (store_path(path, sizeof path, "%s/lock", c->run_dir) < 0 || fstat(c->lock_fd, &a) < 0 ||
        stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        store_unlock_bundle(c->lock_fd);
        c->lock_fd = -1;
        return cove_error_set(err, -ENOENT, "VM '%s' was deleted or renamed", c->name);
    }
    return 0;
}

static int write_pid(struct run_ctx *c, struct cove_error *err)
{
    char path[PATH_MAX], text[32];
    if (store_path(path, sizeof path, "%s/pid", c->run_dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long");
    snprintf(text, sizeof text, "%d\n", (int)getpid());
    return store_write_atomic(path, text, strlen(text), 0644, err);
}

static void remove_run_file(struct run_ctx *c, const char *file)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", c->run_dir, file) == 0)
        unlink(path);
}

static int prepare(struct run_ctx *c, const char *name, struct cove_error *err)
{
    struct store s;
    char path[PATH_MAX];
    struct cove_error cerr;
    c->name = name;
    c->lock_fd = c->console_fd = -1;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, c->bundle, sizeof c->bundle, err)) < 0)
        return rc;
    if (store_path(c->run_dir, sizeof c->run_dir, "%s/run", c->bundle) < 0 ||
        store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, c->bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = take_run_lock(c, err)) < 0)
        return rc;
    if ((rc = cove_config_load(path, &c->cfg, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    store_sweep_temps(c->bundle);
    store_sweep_temps(c->run_dir);
    return 0;
}

static int open_console_log(struct run_ctx *c, const char *file, struct cove_error *err)
{
    c->console_fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (c->console_fd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", file, strerror(errno));
    return 0;
}

/* Machine after machine (a guest reboot is a fresh machine), until something stops it. */
static int run_loop(struct run_ctx *c, const struct machine_config *mc, struct api_server *api,
                    struct cove_vm_runner *runner, const struct cove_run_options *o,
                    enum cove_run_result *result, struct cove_error *err)
{
    bool started = false;
    for (;;) {
        struct machine *m;
        int rc = machine_create(mc, &m, err);
        if (rc < 0)
            return rc;
        atomic_store(&runner->m, m);
        api_server_set_machine(api, m);
        if (atomic_load(&runner->stop) || api_server_stop_requested(api))
            machine_request_stop(m);
        if (!started && o->on_started && (rc = o->on_started(o->opaque, runner)) < 0) {
            api_server_set_machine(api, NULL);
            atomic_store(&runner->m, NULL);
            machine_destroy(m);
            return cove_error_set(err, rc, "cannot start the console: %s", strerror(-rc));
        }
        started = true;
        enum machine_stop_reason why = 0;
        rc = machine_run(m, &why, err);
        api_server_set_machine(api, NULL);
        atomic_store(&runner->m, NULL);
        machine_destroy(m);
        if (rc < 0)
            return rc;
        switch (why) {
        case MACHINE_STOP_REBOOT:
            if (atomic_load(&runner->stop) || api_server_stop_requested(api)) {
                *result = COVE_RUN_STOPPED;
                return 0;
            }
            continue;
        case MACHINE_STOP_POWEROFF: *result = COVE_RUN_POWEROFF; return 0;
        case MACHINE_STOP_REQUESTED: *result = COVE_RUN_STOPPED; return 0;
        case MACHINE_STOP_GUEST_ERROR: *result = COVE_RUN_GUEST_ERROR; return 0;
        case MACHINE_STOP_GUEST_PANIC: *result = COVE_RUN_GUEST_PANIC; return 0;
        }
        return cove_error_set(err, -EIO, "the machine stopped for no known reason");
    }
}

int cove_vm_run(const char *name, const struct cove_run_options *o,
                enum cove_run_result *result, struct cove_error *err)
{
    struct run_ctx *c = calloc(1, sizeof *c);
    struct cove_vm_runner runner;
    atomic_init(&runner.m, NULL);
    atomic_init(&runner.stop, false);
    struct api_server *api = NULL;
    if (!c)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = prepare(c, name, err);
    struct machine_config mc = {
        .cpus = c->cfg.cpus,
        .memory_bytes = c->cfg.memory_mib << 20,
        .console_in_fd = o->console_to_log ? -1 : o->console_in_fd,
        .console_out_fd = o->console_out_fd,
        .console_escape = !o->console_to_log && o->console_escape,
        .console = o->virtio_console ? MACHINE_CONSOLE_VIRTIO : MACHINE_CONSOLE_SERIAL,
        .rng = true,
    };
    char path[PATH_MAX];
    if (rc == 0)
        rc = resolve_boot(c, o, &mc, err);
    if (rc == 0)
        rc = resolve_disks(c, o, &mc, err);
    if (rc == 0)
        rc = resolve_network(c, o, &mc, err);
    if (rc == 0 && o->console_to_log) {
        if (store_path(path, sizeof path, "%s/console.log", c->run_dir) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "path too long");
        else
            rc = open_console_log(c, path, err);
        mc.console_out_fd = c->console_fd;
    }
    /* The guest agent's way in (cove exec/ip/cp): run/vsock.sock, hybrid vsock. A Unix
     * socket path has 108 bytes, and the device needs room for "_PORT" after it. */
    char vsock[PATH_MAX];
    if (rc == 0 && store_path(vsock, sizeof vsock, "%s/vsock.sock", c->run_dir) == 0) {
        if (strlen(vsock) + 12 <= 108)
            mc.vsock_path = vsock;
        else
            log_warn("%s is too long for a Unix socket; the VM runs without its guest "
                     "agent (set COVE_HOME to a shorter path)", vsock);
    }
    if (rc == 0)
        rc = write_pid(c, err);
    if (rc == 0 && store_path(path, sizeof path, "%s/api.sock", c->run_dir) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "path too long");
    if (rc == 0) {
        struct api_server_info info = {name, getpid(), c->cfg.cpus, c->cfg.memory_mib};
        rc = api_server_start(path, &info, &api, err);
    }
    if (rc == 0)
        rc = run_loop(c, &mc, api, &runner, o, result, err);
    api_server_stop(api);
    if (c->lock_fd >= 0) {
        remove_run_file(c, "pid");
        store_unlock_bundle(c->lock_fd);
    }
    if (c->console_fd >= 0)
        close(c->console_fd);
    cove_config_free(&c->cfg);
    free(c);
    return rc;
}

/* --- clients of a running VM ----------------------------------------------------------- */

static int sock_path(const char *name, char *bundle, size_t bn, char *sock, size_t sn,
                     struct cove_error *err)
{
    struct store s;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 || (rc = store_find(&s, name, bundle, bn, err)) < 0)
        return rc;
    if (store_path(sock, sn, "%s/run/api.sock", bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return 0;
}

static int must_run(const char *name, const char *bundle, pid_t *pid, struct cove_error *err)
{
    if (!store_bundle_running(bundle, pid))
        return cove_error_set(err, -ESRCH, "VM '%s' is not running", name);
    return 0;
}

static bool wait_stopped(const char *bundle, long timeout_ms)
{
    pid_t pid;
    for (long waited = 0;; waited += 20) {
        if (!store_bundle_running(bundle, &pid))
            return true;
        if (waited >= timeout_ms)
            return false;
        sleep_ms(20);
    }
}

int cove_vm_stop(const char *name, int timeout_ms, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = sock_path(name, bundle, sizeof bundle, sock, sizeof sock, err);
    if (rc < 0 || (rc = must_run(name, bundle, &pid, err)) < 0)
        return rc;
    /* The guest agent first (sync, root read-only, power off, from inside the guest);
     * without an agent, the serial console's SysRq; then by force. */
    if (agent_request_poweroff(name, AGENT_STOP_CONNECT_MS, NULL) == 0 &&
        wait_stopped(bundle, timeout_ms))
        return 0;
    if (api_client_stop(sock, false, NULL) == 0 && wait_stopped(bundle, timeout_ms))
        return 0;
    if (api_client_stop(sock, true, NULL) == 0 && wait_stopped(bundle, FORCE_WAIT_MS))
        return 0;
    if (pid > 0 && kill(pid, SIGTERM) == 0 && wait_stopped(bundle, FORCE_WAIT_MS))
        return 0;
    if (pid > 0 && kill(pid, SIGKILL) == 0 && wait_stopped(bundle, FORCE_WAIT_MS))
        return 0;
    return cove_error_set(err, -ETIMEDOUT, "VM '%s' (pid %d) did not stop", name, (int)pid);
}

static int set_state(const char *name, const char *state, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = sock_path(name, bundle, sizeof bundle, sock, sizeof sock, err);
    if (rc < 0 || (rc = must_run(name, bundle, &pid, err)) < 0)
        return rc;
    struct cove_error cerr;
    if ((rc = api_client_set_state(sock, state, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    return 0;
}

int cove_vm_pause(const char *name, struct cove_error *err)
{
    return set_state(name, "paused", err);
}

int cove_vm_resume(const char *name, struct cove_error *err)
{
    return set_state(name, "running", err);
}

/* --- get and list ---------------------------------------------------------------------- */

static void add_live_state(const struct store *s, struct cove_vm_info *info)
{
    if (info->state != COVE_VM_RUNNING)
        return;
    char sock[PATH_MAX], state[32];
    if (store_path(sock, sizeof sock, "%s/%s/run/api.sock", s->vms, info->name) < 0)
        return;
    if (api_client_state(sock, state, sizeof state, NULL) == 0 && !strcmp(state, "paused"))
        info->state = COVE_VM_PAUSED;
}

int cove_vm_get(const char *name, struct cove_vm_info *out, struct cove_error *err)
{
    struct store s;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 || (rc = store_load_info(&s, name, out, err)) < 0)
        return rc;
    add_live_state(&s, out);
    return 0;
}

int cove_vm_list(struct cove_vm_info **out, size_t *count, struct cove_error *err)
{
    return store_list(out, count, add_live_state, err);
}

void cove_vm_list_free(struct cove_vm_info *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        cove_vm_info_free(&list[i]);
    free(list);
}
