/*
 * The one path that runs a VM: a configuration (a bundle's config.json, or one built in
 * memory by `cove run --kernel`) becomes a machine configuration, machine after machine
 * runs until something stops it, and the way it stopped becomes a cove_run_result.
 *
 * A bundle's run also holds the exclusive flock on run/lock for the whole run, writes
 * run/pid, serves run/api.sock and offers the guest agent on run/vsock.sock; an ephemeral
 * run has none of these (its agent socket is the one the caller names).
 *
 * Stopping: cove_vm_runner_shutdown (a signal) asks the guest to power off — through its
 * agent when there is one, else the console's SysRq — and stops it by force when it has
 * not within the shutdown timeout or when asked a second time. cove_vm_runner_stop and the
 * console's Ctrl-A x stop at once. Both only write a byte to a pipe (async-signal-safe);
 * the runner's stopper thread does the work.
 */
#include <cove/cove.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "backends/block.h"
#include "disk/disk.h"
#include "display/clipboard.h"
#include "display/vnc.h"
#include "machine/machine.h"
#include "oci/lazy.h"
#include "store/bundle.h"
#include "store/shares.h"
#include "util/log.h"
#include "vm/autofwd.h"
#include "vm/resume_identity.h"
#include "vm/seccomp.h"
#include "vm/cgroup.h"
#include "vm/jail.h"
#include "vm/state_helper.h"
#include "vm/vm.h"

#define CMDLINE_MAX 4096
#define DEFAULT_SHUTDOWN_MS 20000
/* The agent of a running guest answers at once; one that does not is not waited for. */
#define AGENT_POWEROFF_CONNECT_MS 2000

enum { STOP_SHUTDOWN = 's', STOP_FORCE = 'f', STOP_QUIT = 'q' };

struct cove_vm_runner {
    pthread_mutex_t lock;   /* guards m against destruction while the stopper uses it */
    struct machine *m;      /* the current machine; NULL between two */
    atomic_bool stop;       /* stop for good: no reboot, no next machine */
    atomic_bool shutting_down;
    int pipe[2];            /* requests to the stopper thread, one byte each */
    pthread_t stopper;
    bool stopper_started;
    char vsock[PATH_MAX];   /* the guest agent's socket; "" for none */
    int shutdown_ms;
};

static void request(struct cove_vm_runner *r, char what)
{
    int saved = errno;
    if (write(r->pipe[1], &what, 1) < 0) {
        /* full: earlier requests are still pending, and they stop the VM as well */
    }
    errno = saved;
}

void cove_vm_runner_stop(struct cove_vm_runner *r)
{
    request(r, STOP_FORCE);
}

void cove_vm_runner_shutdown(struct cove_vm_runner *r)
{
    request(r, STOP_SHUTDOWN);
}

static void force_stop(struct cove_vm_runner *r)
{
    atomic_store(&r->stop, true);
    pthread_mutex_lock(&r->lock);
    if (r->m)
        machine_request_stop(r->m);
    pthread_mutex_unlock(&r->lock);
}

/* Asks the guest to power off: its agent first (sync, root read-only, power off from the
 * inside), else the console's SysRq. */
static void ask_guest_to_power_off(struct cove_vm_runner *r)
{
    char vsock[PATH_MAX];
    pthread_mutex_lock(&r->lock);
    snprintf(vsock, sizeof vsock, "%s", r->vsock);
    pthread_mutex_unlock(&r->lock);
    if (vsock[0]) {
        int fd;
        if (cove_agent_connect(vsock, AGENT_POWEROFF_CONNECT_MS, &fd, NULL) == 0) {
            int rc = agent_poweroff(fd, false, NULL);
            close(fd);
            if (rc == 0) {
                log_info("asked the guest agent to power off");
                return;
            }
        }
    }
    pthread_mutex_lock(&r->lock);
    if (r->m) {
        log_info("asking the guest to power off through the console (SysRq)");
        machine_request_poweroff(r->m);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Reads one request, waiting at most timeout_ms (-1: for ever); 0 on timeout. */
static char next_request(struct cove_vm_runner *r, int timeout_ms)
{
    struct pollfd p = {.fd = r->pipe[0], .events = POLLIN};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        char c;
        ssize_t got = read(r->pipe[0], &c, 1);
        if (got == 1)
            return c;
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return STOP_QUIT;
    }
}

static void *stopper_main(void *opaque)
{
    struct cove_vm_runner *r = opaque;
    for (;;) {
        char c = next_request(r, -1);
        if (c == STOP_QUIT)
            return NULL;
        if (c == STOP_FORCE) {
            force_stop(r);
            continue;
        }
        if (c != STOP_SHUTDOWN || atomic_exchange(&r->shutting_down, true)) {
            /* a second shutdown request while the first is under way: force */
            if (c == STOP_SHUTDOWN)
                force_stop(r);
            continue;
        }
        ask_guest_to_power_off(r);
        pthread_mutex_lock(&r->lock);
        int ms = r->shutdown_ms;
        pthread_mutex_unlock(&r->lock);
        c = next_request(r, ms);
        if (c == STOP_QUIT)
            return NULL;
        if (c == 0)
            log_warn("the guest did not power off within %d s; stopping it by force", ms / 1000);
        force_stop(r);
    }
}

struct cove_vm_runner *cove_vm_runner_new(struct cove_error *err)
{
    struct cove_vm_runner *r = calloc(1, sizeof *r);
    if (!r) {
        cove_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->stop, false);
    atomic_init(&r->shutting_down, false);
    r->shutdown_ms = DEFAULT_SHUTDOWN_MS;
    if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        cove_error_set(err, -errno, "cannot create a pipe: %s", strerror(errno));
        r->pipe[0] = r->pipe[1] = -1;
        cove_vm_runner_free(r);
        return NULL;
    }
    int rc = pthread_create(&r->stopper, NULL, stopper_main, r);
    if (rc != 0) {
        cove_error_set(err, -rc, "cannot start a thread: %s", strerror(rc));
        cove_vm_runner_free(r);
        return NULL;
    }
    r->stopper_started = true;
    return r;
}

void cove_vm_runner_free(struct cove_vm_runner *r)
{
    if (!r)
        return;
    if (r->stopper_started) {
        char q = STOP_QUIT;
        /* the pipe is non-blocking for the signal handlers; the stopper drains it */
        while (write(r->pipe[1], &q, 1) < 0 && errno == EAGAIN)
            sched_yield();
        pthread_join(r->stopper, NULL);
    }
    if (r->pipe[0] >= 0) {
        close(r->pipe[0]);
        close(r->pipe[1]);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* What a run tells its runner before the first machine: where the agent is, how long a
 * shutdown may take. */
static void runner_prepare(struct cove_vm_runner *r, const char *vsock, int shutdown_ms)
{
    pthread_mutex_lock(&r->lock);
    snprintf(r->vsock, sizeof r->vsock, "%s", vsock ? vsock : "");
    r->shutdown_ms = shutdown_ms > 0 ? shutdown_ms : DEFAULT_SHUTDOWN_MS;
    pthread_mutex_unlock(&r->lock);
}

static void runner_set_machine(struct cove_vm_runner *r, struct machine *m)
{
    pthread_mutex_lock(&r->lock);
    r->m = m;
    pthread_mutex_unlock(&r->lock);
}

/* --- from configuration to machine configuration ---------------------------------------- */

struct run_ctx {
    const char *name;          /* NULL: an ephemeral VM */
    char bundle[PATH_MAX];     /* "" for an ephemeral VM */
    char run_dir[PATH_MAX];
    struct cove_config cfg;
    char kernel[PATH_MAX], initrd[PATH_MAX], firmware[PATH_MAX];
    char cmdline[CMDLINE_MAX];
    char disk_paths[COVE_MAX_DISKS][PATH_MAX];
    struct machine_disk disks[MACHINE_MAX_VIRTIO + MACHINE_MAX_NVME];
    unsigned ndisks;
    struct machine_share shares[COVE_MAX_SHARES];
    unsigned nshares;
    struct machine_net net;
    struct net_forward forwards[COVE_MAX_FORWARDS];
    const char *forward_specs[COVE_MAX_FORWARDS]; /* their text, for the control socket */
    struct net_rule allow[COVE_MAX_NET_RULES], block[COVE_MAX_NET_RULES];
    char mac[COVE_MAC_LEN + 1];                   /* the MAC in use, as text */
    char vsock[PATH_MAX];
    int lock_fd;
    int console_fd;
    int kernel_fd, initrd_fd, firmware_fd; /* the boot files, open for the whole run */
    char state_dir[PATH_MAX];  /* the bundle's state/ ("" for an ephemeral VM) */
    struct state_helper *state_helper; /* makes state/ on a suspend (a bundle's run) */
    struct clipboard_helper *clipboard; /* a VNC client's cut text into the guest */
    struct oci_lazy *lazy;     /* a lazy clone's fetcher (oci/lazy.h), or NULL */
    bool resume;               /* state/ holds a suspended machine: restore it */
    atomic_bool suspended;     /* the machine was saved and stopped */
    /* A snapshot restore into this run (PUT /vm/snapshot): asked on the control socket's
     * thread, done by the run loop between two machines, waited for by the socket. */
    pthread_mutex_t snap_lock;
    pthread_cond_t snap_cond;
    bool snap_pending, snap_running, snap_done;
    char snap_dir[PATH_MAX];   /* for messages */
    int snap_state_fd, snap_memory_fd; /* a running snapshot's files (from the helper) */
    int snap_rc;
    struct cove_error snap_err;
    struct timespec snap_t0;
    double snap_ms;
    struct resume_identity identity; /* after a resume: the clock, a fork's hostname/MAC */
    char resuming[PATH_MAX];          /* run/resuming while the identity is set ("": none) */
    struct autofwd *autofwd;         /* automatic port forwarding (NAT), or NULL */
    struct vm_cgroup *cgroup;        /* the VM's own cgroup (cgroup.h), or NULL */
    bool jail;                       /* to be jailed (jail.h) once set up */
    atomic_bool jailed;              /* it is: only the bundle visible, another uid */
};

/* The run's attachments of the configuration's writable disks (those a snapshot covers),
 * closed: their files are about to change. */
static void release_disks(struct run_ctx *c)
{
    for (unsigned i = 0; i < c->cfg.ndisks; i++)
        if (!c->disks[i].read_only && c->disks[i].open) {
            block_close(c->disks[i].open);
            c->disks[i].open = NULL;
        }
}

/* A lazy clone's disk i: its image's chunks fetched as the guest reads them. */
static int attach_lazy(struct run_ctx *c, unsigned i, struct cove_error *err)
{
    struct disk *d = c->lazy && i < c->cfg.ndisks ? block_disk_of(c->disks[i].open) : NULL;
    int rc = d ? oci_lazy_attach(c->lazy, d, c->cfg.disks[i].file) : 0;
    return rc < 0 ? cove_error_set(err, rc, "disk %s: %s", c->disks[i].path, strerror(-rc)) : 0;
}

/* The run's own attachment of each disk (machine_disk.open; the machines borrow them),
 * opened at the start of the run. */
static int open_disks(struct run_ctx *c, struct cove_error *err)
{
    for (unsigned i = 0; i < c->ndisks; i++) {
        struct machine_disk *d = &c->disks[i];
        struct block_options bo = {d->read_only, d->cache, d->sync, d->nbd_host_files};
        int rc = block_open(d->path, &bo, &d->open, err);
        if (rc == 0)
            rc = attach_lazy(c, i, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The attachments release_disks closed, opened again on the files a snapshot (save or
 * restore) put at their paths: the run's helper opens them (state_helper.h), as a
 * confined VMM opens nothing. */
static int reopen_disks(struct run_ctx *c, struct cove_error *err)
{
    for (unsigned i = 0; i < c->cfg.ndisks; i++) {
        struct machine_disk *d = &c->disks[i];
        if (d->read_only)
            continue;
        block_close(d->open);
        d->open = NULL;
        struct block_options bo = {false, d->cache, d->sync, false};
        struct disk_files files;
        int rc = state_helper_open_disk(c->state_helper, i, &files, err);
        if (rc < 0)
            return rc;
        rc = block_disk_open_files(d->path, &bo, &files, &d->open, err);
        disk_files_close(&files);
        if (rc == 0)
            rc = attach_lazy(c, i, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A file named by the configuration. In a bundle: a file of the bundle, never a link and
 * never elsewhere, a disk's backing chain in bases/ (store_check_bundle_disk; whoever
 * wrote the bundle may not be who runs it). For an ephemeral VM: as given, the paths are
 * the user's own from the command line. */
static int resolve_file(const struct run_ctx *c, const char *file, bool disk, char *buf,
                        size_t n, struct cove_error *err)
{
    if (c->bundle[0])
        return disk ? store_check_bundle_disk(c->bundle, file, buf, n, err)
                    : store_bundle_file(c->bundle, file, buf, n, err);
    if (snprintf(buf, n, "%s", file) >= (int)n)
        return cove_error_set(err, -ENAMETOOLONG, "path too long: %s", file);
    return 0;
}

/* Errors about the file's content are the machine's to give; this only opens it. */
static int open_boot_file(const char *path, int *fd, struct cove_error *err)
{
    if (!path)
        return 0;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    return 0;
}

static int resolve_boot(struct run_ctx *c, const struct cove_run_options *o,
                        struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    int rc;
    if ((rc = resolve_file(c, cfg->kernel, false, c->kernel, sizeof c->kernel, err)) < 0 ||
        (cfg->initrd &&
         (rc = resolve_file(c, cfg->initrd, false, c->initrd, sizeof c->initrd, err)) < 0) ||
        (cfg->firmware &&
         (rc = resolve_file(c, cfg->firmware, false, c->firmware, sizeof c->firmware, err)) < 0))
        return rc;
    mc->kernel_path = c->kernel;
    mc->initrd_path = cfg->initrd ? c->initrd : NULL;
    mc->firmware_path = cfg->firmware ? c->firmware : NULL;
    /* Open for the whole run: a guest reboot (a new machine) reads them again without
     * opening anything, which a confined run could not. */
    if ((rc = open_boot_file(mc->kernel_path, &c->kernel_fd, err)) < 0 ||
        (rc = open_boot_file(mc->initrd_path, &c->initrd_fd, err)) < 0 ||
        (rc = open_boot_file(mc->firmware_path, &c->firmware_fd, err)) < 0)
        return rc;
    mc->kernel_fd = c->kernel_fd;
    mc->initrd_fd = c->initrd_fd;
    mc->firmware_fd = c->firmware_fd;
    /* The stored command line, the VM's name for the guest (the default guest makes it
     * its hostname), the shares' names (it mounts each at /mnt/cove/NAME: Linux 6.1 has
     * no way to list virtio-fs tags), then what this run adds. */
    const char *parts[] = {cfg->cmdline, NULL, NULL, o->append};
    char host[COVE_NAME_MAX + 32];
    if (c->name) {
        snprintf(host, sizeof host, "cove.hostname=%s", c->name);
        parts[1] = host;
    }
    char shares[32 + COVE_MAX_SHARES * (COVE_SHARE_NAME_MAX + 1)] = "cove.shares=";
    for (unsigned i = 0; i < c->nshares && i < COVE_MAX_SHARES; i++) {
        if (i)
            strcat(shares, ",");
        strncat(shares, c->shares[i].tag, COVE_SHARE_NAME_MAX);
    }
    if (c->nshares)
        parts[2] = shares;
    size_t len = 0;
    c->cmdline[0] = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        int n = snprintf(c->cmdline + len, sizeof c->cmdline - len, "%s%s", len ? " " : "",
                         parts[i]);
        if (n < 0 || (size_t)n >= sizeof c->cmdline - len)
            return cove_error_set(err, -E2BIG, "the kernel command line is longer than %d bytes",
                                  CMDLINE_MAX - 1);
        len += (size_t)n;
    }
    mc->cmdline = len ? c->cmdline : NULL;
    return 0;
}

static int resolve_disks(struct run_ctx *c, const struct cove_run_options *o,
                         struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    unsigned nvme = 0, all = cfg->ndisks + o->nextra_disks;
    if (all > MACHINE_MAX_VIRTIO + MACHINE_MAX_NVME)
        return cove_error_set(err, -EINVAL, "too many disks (%u); a VM has at most %d", all,
                              MACHINE_MAX_VIRTIO + MACHINE_MAX_NVME);
    for (unsigned i = 0; i < all; i++)
        nvme += i < cfg->ndisks ? cfg->disks[i].nvme : o->extra_disks[i - cfg->ndisks].nvme;
    if (all - nvme > MACHINE_MAX_VIRTIO || nvme > MACHINE_MAX_NVME)
        return cove_error_set(err, -EINVAL,
                              "too many disks (%u virtio, %u NVMe); a VM has at most %d of each",
                              all - nvme, nvme, MACHINE_MAX_VIRTIO);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct cove_disk_config *d = &cfg->disks[i];
        const char *path = d->file;
        if (!cove_disk_is_nbd(d->file)) {
            int rc = resolve_file(c, d->file, true, c->disk_paths[i], sizeof c->disk_paths[i],
                                  err);
            if (rc < 0)
                return rc;
            path = c->disk_paths[i];
        }
        /* a bundle's URIs read no host files; an ephemeral VM's come from its command line */
        c->disks[c->ndisks++] =
            (struct machine_disk){path, d->read_only, d->cache, d->sync, !c->name, d->nvme, NULL,
                                  d->rate};
    }
    for (unsigned i = 0; i < o->nextra_disks; i++) {
        const struct cove_disk_config *d = &o->extra_disks[i];
        c->disks[c->ndisks++] =
            (struct machine_disk){d->file, d->read_only, d->cache, d->sync, true, d->nvme, NULL,
                                  d->rate};
    }
    /* a lazy clone's fetcher: forked now, before the jail and the filter */
    int rc = c->bundle[0] ? oci_lazy_start(c->bundle, &c->lazy, err) : 0;
    /* Open (and locked) for the whole run, as the boot files are: each machine borrows
     * them (machine_disk.open), and an NBD export keeps its connection across reboots. */
    if (rc == 0)
        rc = open_disks(c, err);
    if (rc < 0)
        return rc;
    mc->disks = c->disks;
    mc->ndisks = c->ndisks;
    return 0;
}

static const char *vm_label(const struct run_ctx *c)
{
    return c->name ? c->name : "this";
}

/* The shared directories: the stored ones (each only with this COVE_HOME's grant:
 * src/store/shares.c), then the run's own; a run's share of a stored one's name replaces it
 * for this run. A run's names must differ (each is a mount point's name). */
static int resolve_shares(struct run_ctx *c, const struct cove_run_options *o,
                          struct machine_config *mc, struct cove_error *err)
{
    if (o->nshares > COVE_MAX_SHARES)
        return cove_error_set(err, -EINVAL, "too many shared directories (%u); at most %d",
                              o->nshares, COVE_MAX_SHARES);
    for (unsigned i = 0; i < o->nshares; i++) {
        const struct cove_share_config *s = &o->shares[i];
        if (!s->name || !cove_share_name_valid(s->name) || !s->path || !*s->path)
            return cove_error_set(err, -EINVAL, "bad shared directory '%s'",
                                  s->name ? s->name : "");
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(o->shares[j].name, s->name))
                return cove_error_set(err, -EINVAL, "two shared directories are named '%s'; "
                                      "give each its own: --dir NAME:PATH", s->name);
    }
    struct store st;
    int rc;
    if (c->cfg.nshares && (rc = store_open(&st, err)) < 0)
        return rc;
    for (unsigned i = 0; i < c->cfg.nshares; i++) {
        const struct cove_share_config *s = &c->cfg.shares[i];
        bool replaced = false;
        for (unsigned j = 0; j < o->nshares; j++)
            replaced = replaced || !strcmp(o->shares[j].name, s->name);
        if (replaced)
            continue;
        if ((rc = store_share_check(&st, vm_label(c), s, err)) < 0)
            return rc;
        c->shares[c->nshares++] = (struct machine_share){s->name, s->path, s->read_only};
    }
    for (unsigned i = 0; i < o->nshares; i++) {
        if (c->nshares == COVE_MAX_SHARES)
            return cove_error_set(err, -EINVAL, "too many shared directories with the stored "
                                  "ones; at most %d", COVE_MAX_SHARES);
        const struct cove_share_config *s = &o->shares[i];
        c->shares[c->nshares++] = (struct machine_share){s->name, s->path, s->read_only};
    }
    mc->shares = c->shares;
    mc->nshares = c->nshares;
    return 0;
}

/* NAT networking as the configuration asks, with the run's extra forwards; the MAC is
 * drawn once per run when the configuration has none, so a guest reboot keeps it. */
static int resolve_network(struct run_ctx *c, const struct cove_run_options *o,
                           struct machine_config *mc, struct cove_error *err)
{
    const struct cove_config *cfg = &c->cfg;
    if (!cove_config_has_net(cfg)) {
        if (o->nforwards)
            return cove_error_set(err, -EINVAL, "VM '%s' has no network; --forward needs one",
                                  vm_label(c));
        return 0;
    }
    c->net.spec = cfg->net;
    c->net.rate = o->set_net_rate ? o->net_rate : cfg->net_rate;
    c->net.hostname = c->name; /* what other VMs on a cove network call it */
    /* A cove network's NAT uplink forwards too (its switch keeps them); its egress rules
     * are the network's. */
    bool forwards_ok = cfg->net.mode == COVE_NET_NAT || cfg->net.mode == COVE_NET_NETWORK;
    if (cfg->net.mode != COVE_NET_NAT &&
        (cfg->nnet_rules || (!forwards_ok && (cfg->nforwards || o->nforwards)))) {
        char text[COVE_NET_NAME_MAX + 16];
        return cove_error_set(err, -EINVAL, "VM '%s': %s need --net nat, not %s", vm_label(c),
                              cfg->nnet_rules ? "egress rules" : "port forwards",
                              cove_net_spec_text(&cfg->net, text, sizeof text));
    }
    c->net.egress = (struct net_egress){.allow = c->allow, .block = c->block};
    for (unsigned i = 0; i < cfg->nnet_rules && i < COVE_MAX_NET_RULES; i++) {
        const struct cove_net_rule *r = &cfg->net_rules[i];
        struct net_egress *e = &c->net.egress;
        struct net_rule *slot = r->allow ? &c->allow[e->nallow++] : &c->block[e->nblock++];
        int rc = net_rule_parse(r->spec, r->allow, slot, err);
        if (rc < 0)
            return rc;
    }
    if (cfg->nforwards + o->nforwards > COVE_MAX_FORWARDS)
        return cove_error_set(err, -EINVAL, "too many port forwards (%u); at most %d",
                              cfg->nforwards + o->nforwards, COVE_MAX_FORWARDS);
    int rc;
    if (cfg->mac[0]) {
        struct cove_error merr;
        if ((rc = net_mac_parse(cfg->mac, c->net.mac, &merr)) < 0)
            return cove_error_set(err, rc, "VM '%s': network.mac: %s", vm_label(c), merr.message);
        c->net.mac_configured = true;
    } else {
        net_mac_random(c->net.mac);
    }
    const uint8_t *m = c->net.mac;
    snprintf(c->mac, sizeof c->mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
             m[5]);
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->nforwards + o->nforwards; i++) {
        const char *spec = i < cfg->nforwards ? cfg->forwards[i] : o->forwards[i - cfg->nforwards];
        c->forward_specs[n] = spec;
        if ((rc = net_forward_parse(spec, &c->forwards[n++], err)) < 0)
            return rc;
    }
    c->net.forwards = c->forwards;
    c->net.nforwards = n;
    mc->nets = &c->net;
    mc->nnets = 1;
    return 0;
}

/* --- a bundle's run files ---------------------------------------------------------------- */

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
    return store_write_atomic(path, text, strlen(text), 0600, err);
}

static void remove_run_file(struct run_ctx *c, const char *file)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", c->run_dir, file) == 0)
        unlink(path);
}

static int open_bundle(struct run_ctx *c, const char *name, struct cove_error *err)
{
    struct store s;
    char path[PATH_MAX];
    struct cove_error cerr;
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
    remove_run_file(c, "resuming"); /* one a killed run left */
    return 0;
}

static int open_console_log(struct run_ctx *c, struct cove_error *err)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/console.log", c->run_dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long");
    /* O_NOFOLLOW: a link planted in run/ must not truncate a file elsewhere. A resumed
     * guest's console goes on where it was. */
    c->console_fd = open(path, O_WRONLY | O_CREAT | (c->resume ? 0 : O_TRUNC) | O_APPEND |
                         O_NOFOLLOW | O_CLOEXEC, 0600);
    if (c->console_fd >= 0 && fchmod(c->console_fd, 0600) < 0) { /* a log from an older cove */
        close(c->console_fd);
        c->console_fd = -1;
    }
    if (c->console_fd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    return 0;
}

/* The guest agent's way in (cove exec/ip/cp): run/vsock.sock, hybrid vsock. A Unix socket
 * path has 108 bytes, and the device needs room for "_PORT" after it. */
static const char *bundle_vsock(struct run_ctx *c)
{
    if (store_path(c->vsock, sizeof c->vsock, "%s/vsock.sock", c->run_dir) < 0 ||
        strlen(c->vsock) + 12 > 108) {
        log_warn("%s/vsock.sock is too long for a Unix socket; the VM runs without its guest "
                 "agent (set COVE_HOME to a shorter path)", c->run_dir);
        return NULL;
    }
    return c->vsock;
}

/* --- suspend and resume ------------------------------------------------------------------ */

/* Whether the bundle holds a suspended machine (state/machine); the store treats the
 * same file as "suspended". */
static void find_state(struct run_ctx *c)
{
    if (store_path(c->state_dir, sizeof c->state_dir, "%s/" BUNDLE_STATE_DIR, c->bundle) < 0)
        c->state_dir[0] = 0;
    else
        c->resume = store_bundle_suspended(c->bundle);
    /* cove exec & co. wait while run/resuming is there (resume_identity.c), so that a
     * command sees the resumed guest's clock and a fork's own hostname and MAC: made
     * before the agent's socket can take a connection, removed by the identity thread
     * once it is done (or at the end of the run) */
    c->resuming[0] = '\0';
    if (c->resume && c->vsock[0] &&
        store_path(c->resuming, sizeof c->resuming, "%s/resuming", c->run_dir) == 0) {
        int fd = open(c->resuming, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        else
            c->resuming[0] = '\0';
    }
}

/* PUT /vm/suspend (the control socket's thread): the state goes to a temporary directory
 * in the bundle, renamed to state/ once both files are synced, so a crash mid-save
 * leaves no state/ (and the sweep removes the temporary one). The files are made and
 * moved by the run's helper process (state_helper.h): a confined VMM opens nothing. */
static int suspend_machine(void *opaque, struct machine *m, struct cove_error *err)
{
    struct run_ctx *c = opaque;
    char tmp[PATH_MAX];
    bool was_paused = machine_paused(m);
    int rc = machine_can_save(m, err);
    if (rc < 0)
        return rc;
    if (c->resume || !c->state_dir[0] || !c->state_helper)
        return cove_error_set(err, -EEXIST, "VM '%s' already has a saved state", c->name);
    struct machine_save_files f = {-1, -1, tmp};
    rc = state_helper_create(c->state_helper, &f.state_fd, &f.memory_fd, tmp, sizeof tmp, err);
    if (rc == 0)
        rc = machine_save(m, &f, err);
    if (f.state_fd >= 0)
        close(f.state_fd);
    if (f.memory_fd >= 0)
        close(f.memory_fd);
    if (rc == 0)
        rc = state_helper_commit(c->state_helper, err);
    if (rc < 0) {
        state_helper_abort(c->state_helper);
        if (!was_paused)
            machine_resume(m);
        log_error("VM '%s' was not suspended: %s; it keeps running", c->name, err->message);
        return rc;
    }
    atomic_store(&c->suspended, true);
    machine_request_stop(m);
    log_info("VM '%s' suspended", c->name);
    return 0;
}

/* After a successful restore the saved state is gone: the guest has moved on from it, and
 * resuming it a second time would run the guest twice from one past (its disk has moved
 * on too). The rename first, so that a crash here leaves a temporary the sweep removes. */
static void discard_state(struct run_ctx *c)
{
    char tmp[PATH_MAX];
    if (store_temp_path(c->bundle, "old-state", tmp, sizeof tmp) < 0 ||
        rename(c->state_dir, tmp) < 0) {
        log_warn("cannot remove the saved state %s: %s", c->state_dir, strerror(errno));
        return;
    }
    store_sync_dir(c->bundle);
    c->resume = false;
    store_remove_tree(tmp);
}

/* Once restored, the guest agent sets the guest's clock and, for a fork (a clone of a
 * suspended VM), gives it its own hostname and MAC (resume_identity.c). */
static int restore_machine(struct run_ctx *c, struct machine *m, struct cove_error *err)
{
    struct cove_error lerr;
    char fork_path[PATH_MAX];
    bool fork = store_path(fork_path, sizeof fork_path, "%s/" BUNDLE_STATE_FORK, c->bundle) == 0 &&
                access(fork_path, F_OK) == 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = machine_load(m, c->state_dir, &lerr);
    if (rc < 0)
        return cove_error_set(err, rc, "VM '%s' cannot be resumed: %s; it stays suspended",
                              c->name, lerr.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    discard_state(c);
    log_info("VM '%s' resumed%s: machine restored in %.1f ms", c->name, fork ? " (a fork)" : "",
             (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    resume_identity_start(&c->identity, c->vsock[0] ? c->vsock : NULL, c->name, c->mac, fork,
                          c->resuming);
    return 0;
}

/* --- snapshots (store/snapshot.h, through the run's helper) ------------------------------ */

/* Between closing the machine's disks and opening them again: the helper freezes them
 * (each becomes an overlay over a new base), the run opens the overlays. */
static int freeze_disks(void *opaque, struct cove_error *err)
{
    struct run_ctx *c = opaque;
    release_disks(c); /* the machine let go of them: so does the run */
    int rc = state_helper_snapshot_freeze(c->state_helper, err);
    struct cove_error oerr;
    int orc = reopen_disks(c, &oerr); /* the new overlays (or, failed, the old files) */
    if (orc < 0 && rc == 0)
        rc = cove_error_set(err, orc, "%s", oerr.message);
    return rc;
}

/* Save: the machine is paused and saved into the snapshot's temporary directory (its
 * files made by the run's helper), its disks are frozen under it (closed, turned into
 * overlays over a base, opened again), the snapshot is published and the machine runs
 * on. */
static int save_snapshot(struct run_ctx *c, struct machine *m, const char *tag,
                         struct cove_error *err)
{
    char tmp[PATH_MAX] = "";
    bool was_paused = machine_paused(m);
    struct machine_save_files f = {-1, -1, tmp};
    int rc = machine_can_save(m, err);
    if (rc == 0)
        rc = state_helper_snapshot_begin(c->state_helper, tag, &f.state_fd, &f.memory_fd, tmp,
                                         sizeof tmp, err);
    if (rc < 0)
        return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool lost = false; /* a disk could not be opened again: the machine stops */
    rc = machine_save(m, &f, err);
    close(f.state_fd);
    close(f.memory_fd);
    if (rc == 0) {
        rc = machine_swap_disks(m, c->disks, c->cfg.ndisks, freeze_disks, c, err);
        lost = rc == -EIO;
    }
    if (rc == 0)
        rc = state_helper_snapshot_publish(c->state_helper, err);
    if (rc < 0) {
        struct cove_error why = *err;
        cove_error_set(err, rc, "VM '%s': snapshot '%s' was not saved: %s%s", c->name, tag,
                       why.message, lost ? "" : "; it keeps running");
        state_helper_snapshot_discard(c->state_helper);
    }
    if (!was_paused && !lost)
        machine_resume(m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0)
        log_info("VM '%s': saved snapshot '%s' in %.0f ms", c->name, tag,
                 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    return rc;
}

static void close_snap_files(struct run_ctx *c)
{
    if (c->snap_state_fd >= 0)
        close(c->snap_state_fd);
    if (c->snap_memory_fd >= 0)
        close(c->snap_memory_fd);
    c->snap_state_fd = c->snap_memory_fd = -1;
}

/* PUT /vm/snapshot (the control socket's thread, m current). */
static int snapshot_machine(void *opaque, struct machine *m, bool restore, const char *tag,
                            bool *running, struct cove_error *err)
{
    struct run_ctx *c = opaque;
    if (!c->state_helper)
        return cove_error_set(err, -ENAMETOOLONG, "VM '%s': its bundle's path is too long for "
                              "snapshots", c->name);
    if (!restore) {
        *running = true;
        return save_snapshot(c, m, tag, err);
    }
    char dir[PATH_MAX];
    int state_fd, memory_fd;
    int rc = state_helper_restore_find(c->state_helper, tag, running, &state_fd, &memory_fd,
                                       dir, sizeof dir, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->snap_lock);
    close_snap_files(c);
    c->snap_state_fd = state_fd;
    c->snap_memory_fd = memory_fd;
    snprintf(c->snap_dir, sizeof c->snap_dir, "%s", dir);
    c->snap_running = *running;
    c->snap_pending = true;
    c->snap_done = false;
    clock_gettime(CLOCK_MONOTONIC, &c->snap_t0);
    pthread_mutex_unlock(&c->snap_lock);
    machine_request_stop(m);
    return 1;
}

static int snapshot_wait(void *opaque, double *ms, struct cove_error *err)
{
    struct run_ctx *c = opaque;
    pthread_mutex_lock(&c->snap_lock);
    while (!c->snap_done)
        pthread_cond_wait(&c->snap_cond, &c->snap_lock);
    int rc = c->snap_rc;
    *ms = c->snap_ms;
    if (rc < 0)
        cove_error_set(err, rc, "%s", c->snap_err.message);
    pthread_mutex_unlock(&c->snap_lock);
    return rc;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void snapshot_done(struct run_ctx *c, int rc, const struct cove_error *err)
{
    double ms = ms_since(&c->snap_t0);
    pthread_mutex_lock(&c->snap_lock);
    close_snap_files(c);
    c->snap_pending = false;
    c->snap_done = true;
    c->snap_rc = rc;
    if (rc < 0)
        c->snap_err = *err;
    c->snap_ms = ms;
    pthread_cond_broadcast(&c->snap_cond);
    pthread_mutex_unlock(&c->snap_lock);
}

/* The next machine of a run whose previous one stopped for a snapshot restore: the disks
 * point at the snapshot's layers, and a running snapshot's machine is loaded. A failure
 * here ends the run (the old machine is gone): the waiting client hears why. */
static int restart_from_snapshot(struct run_ctx *c, const struct machine_config *mc,
                                 struct machine **out, struct cove_error *err)
{
    struct machine *m = NULL;
    double t[4];
    t[0] = ms_since(&c->snap_t0);
    release_disks(c); /* the old machine is gone: nothing holds the old files */
    int rc = state_helper_restore_disks(c->state_helper, err);
    struct cove_error oerr; /* the machines borrow the run's disks: those at the paths now */
    int orc = reopen_disks(c, &oerr);
    if (orc < 0 && rc == 0)
        rc = cove_error_set(err, orc, "%s", oerr.message);
    t[1] = ms_since(&c->snap_t0);
    struct machine_config loaded = *mc;
    loaded.memory_from_state = c->snap_running;
    if (rc == 0)
        rc = machine_create(&loaded, &m, err);
    t[2] = ms_since(&c->snap_t0);
    if (rc == 0 && c->snap_running) {
        struct machine_save_files f = {c->snap_state_fd, c->snap_memory_fd, c->snap_dir};
        c->snap_state_fd = c->snap_memory_fd = -1; /* machine_load_files takes them */
        if ((rc = machine_load_files(m, &f, err)) < 0) {
            machine_destroy(m);
            m = NULL;
        }
    }
    t[3] = ms_since(&c->snap_t0);
    log_debug("snapshot restore: machine stopped at %.1f ms, disks at %.1f, machine made at "
              "%.1f, loaded at %.1f", t[0], t[1], t[2], t[3]);
    if (rc < 0) {
        struct cove_error why = *err;
        cove_error_set(err, rc, "VM '%s' stopped: the snapshot could not be restored: %s",
                       c->name, why.message);
    }
    snapshot_done(c, rc, err);
    if (rc == 0)
        log_info("VM '%s': restored a snapshot in %.0f ms", c->name, c->snap_ms);
    if (rc == 0 && c->snap_running) { /* the guest's clock is the snapshot's: set it */
        resume_identity_join(&c->identity);
        resume_identity_start(&c->identity, c->vsock[0] ? c->vsock : NULL, c->name, c->mac, false,
                              NULL);
    }
    *out = m;
    return rc;
}

/* --- running ----------------------------------------------------------------------------- */

/* The display's password (bundles with a VNC port): BUNDLE/vnc-password, made on first
 * use from 8 random letters and digits, mode 0600. */
static int vnc_password(struct run_ctx *c, char *pw, size_t n, struct cove_error *err)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/vnc-password", c->bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long");
    FILE *f = fopen(path, "re");
    if (f) {
        bool ok = fgets(pw, (int)n, f) != NULL;
        fclose(f);
        pw[strcspn(pw, "\n")] = 0;
        if (ok && pw[0])
            return 0;
        return cove_error_set(err, -EINVAL, "%s is empty; remove it and run again to get a new "
                              "password", path);
    }
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint8_t r[VNC_PASSWORD_MAX];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return cove_error_set(err, -EIO, "getrandom failed");
    for (unsigned i = 0; i < VNC_PASSWORD_MAX && i + 1 < n; i++)
        pw[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    pw[VNC_PASSWORD_MAX < n - 1 ? VNC_PASSWORD_MAX : n - 1] = 0;
    char line[VNC_PASSWORD_MAX + 2];
    int len = snprintf(line, sizeof line, "%s\n", pw);
    return store_write_atomic(path, line, (size_t)len, 0600, err);
}

/* The VNC server of one machine (each reboot's machine gets its own). */
static int start_vnc(struct run_ctx *c, struct machine *m, const struct cove_run_options *o,
                     struct vnc_server **out, struct cove_error *err)
{
    *out = NULL;
    if (!o->display_vnc)
        return 0;
    char sock[PATH_MAX], pw[VNC_PASSWORD_MAX + 1] = "";
    const char *path = o->vnc_socket;
    if (c->bundle[0]) {
        if (store_path(sock, sizeof sock, "%s/vnc.sock", c->run_dir) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "path too long");
        path = sock;
    }
    if (!path)
        return cove_error_set(err, -EINVAL, "a display needs a socket: give --vnc-socket PATH");
    if (o->vnc_port && !c->bundle[0])
        return cove_error_set(err, -EINVAL, "a VNC port needs a VM with a bundle (its password "
                              "is kept there); use the socket (--vnc-socket)");
    int rc;
    if (o->vnc_port && (rc = vnc_password(c, pw, sizeof pw, err)) < 0)
        return rc;
    struct machine_display d;
    machine_get_display(m, &d);
    struct vnc_options vo = {path, o->vnc_port, pw, 0, 0, c->clipboard};
    if ((rc = vnc_server_start(&d, &vo, out, err)) < 0 || !c->bundle[0])
        return rc;
    /* for cove get: run/display, "vnc SOCKET PORT" */
    char file[PATH_MAX], line[PATH_MAX + 32];
    int len = snprintf(line, sizeof line, "vnc %s %d\n", path, o->vnc_port);
    struct cove_error werr;
    if (store_path(file, sizeof file, "%s/display", c->run_dir) < 0 ||
        store_write_atomic(file, line, (size_t)len, 0600, &werr) < 0)
        log_warn("cannot record the display in run/display; cove get will not show it");
    return 0;
}

static bool stop_wanted(struct cove_vm_runner *r, struct api_server *api)
{
    return atomic_load(&r->stop) || atomic_load(&r->shutting_down) ||
           (api && api_server_stop_requested(api));
}

/* Machine after machine (a guest reboot is a fresh machine), until something stops it. */
static int run_loop(struct run_ctx *c, const struct machine_config *mc, struct api_server *api,
                    struct cove_vm_runner *runner, const struct cove_run_options *o,
                    enum cove_run_result *result, struct cove_error *err)
{
    bool started = false, confined = false;
    for (;;) {
        struct machine *m;
        struct machine_config resumed = *mc; /* the first machine of a resume */
        resumed.memory_from_state = !started && c->resume;
        int rc = c->snap_pending ? restart_from_snapshot(c, mc, &m, err)
                                 : machine_create(&resumed, &m, err);
        if (rc < 0)
            return rc;
        struct vnc_server *vnc = NULL;
        if ((!started && c->resume && (rc = restore_machine(c, m, err)) < 0) ||
            (rc = start_vnc(c, m, o, &vnc, err)) < 0) {
            machine_destroy(m);
            return rc;
        }
        runner_set_machine(runner, m);
        if (api)
            api_server_set_machine(api, m);
        if (atomic_load(&runner->stop) || (api && api_server_stop_requested(api)))
            machine_request_stop(m);
        if (!started && o->on_started && (rc = o->on_started(o->opaque, runner)) < 0) {
            if (api)
                api_server_set_machine(api, NULL);
            runner_set_machine(runner, NULL);
            vnc_server_stop(vnc);
            machine_destroy(m);
            return cove_error_set(err, rc, "cannot start the console: %s", strerror(-rc));
        }
        started = true;
        /* Everything the run needs is open now: the disks and boot files (kept for the
         * machines after this one), the console, the control socket, the NAT, virtiofsd,
         * the agent's socket, the suspend helper. The jail, then the filter (which forbids
         * what the jail does). */
        if (c->jail && !atomic_load(&c->jailed)) {
            const char *writable[] = {c->vsock[0] ? c->vsock : NULL};
            if ((rc = jail_enter(c->run_dir, writable, 1, err)) < 0) {
                if (api)
                    api_server_set_machine(api, NULL);
                runner_set_machine(runner, NULL);
                vnc_server_stop(vnc);
                machine_destroy(m);
                return rc;
            }
            atomic_store(&c->jailed, true);
        }
        if (o->seccomp && !confined) {
            if ((rc = vmm_seccomp_install(err)) < 0) {
                if (api)
                    api_server_set_machine(api, NULL);
                runner_set_machine(runner, NULL);
                machine_destroy(m);
                return rc;
            }
            confined = true;
        }
        enum machine_stop_reason why = 0;
        autofwd_set_nat(c->autofwd, machine_nat(m));
        rc = machine_run(m, &why, err);
        autofwd_set_nat(c->autofwd, NULL); /* its forwards go with the machine's NAT */
        if (api)
            api_server_set_machine(api, NULL);
        runner_set_machine(runner, NULL);
        vnc_server_stop(vnc);
        machine_destroy(m);
        if (c->snap_pending && (rc < 0 || stop_wanted(runner, api))) {
            /* the run ends instead: the waiting client must hear it */
            struct cove_error serr;
            cove_error_set(&serr, -ECANCELED, "the VM stopped before the snapshot was restored");
            snapshot_done(c, -ECANCELED, &serr);
        }
        if (rc < 0)
            return rc;
        if (atomic_load(&c->suspended)) {
            *result = COVE_RUN_SUSPENDED;
            return 0;
        }
        if (c->snap_pending)
            continue; /* restart_from_snapshot above */
        switch (why) {
        case MACHINE_STOP_REBOOT:
            if (stop_wanted(runner, api)) {
                *result = COVE_RUN_STOPPED;
                return 0;
            }
            /* (a confined VMM's new virtiofsd come from their keepers: virtiofsd.c) */
            continue;
        case MACHINE_STOP_POWEROFF:
            *result = atomic_load(&runner->shutting_down) ? COVE_RUN_STOPPED : COVE_RUN_POWEROFF;
            return 0;
        case MACHINE_STOP_REQUESTED: *result = COVE_RUN_STOPPED; return 0;
        case MACHINE_STOP_GUEST_ERROR: *result = COVE_RUN_GUEST_ERROR; return 0;
        case MACHINE_STOP_GUEST_PANIC: *result = COVE_RUN_GUEST_PANIC; return 0;
        }
        return cove_error_set(err, -EIO, "the machine stopped for no known reason");
    }
}

/* Automatic port forwarding (autofwd.h): on a NAT with a guest agent's socket, unless the
 * run or the configuration turns it off. */
static int start_autofwd(struct run_ctx *c, const struct cove_run_options *o,
                         const struct machine_config *mc, struct cove_error *err)
{
    enum cove_auto_forward a = o->auto_forward ? o->auto_forward : c->cfg.auto_forward;
    bool nat = mc->nnets && c->net.spec.mode == COVE_NET_NAT;
    bool asked = o->auto_forward == COVE_AUTOFWD_ON || o->auto_forward == COVE_AUTOFWD_ALL;
    const char *opt = o->auto_forward == COVE_AUTOFWD_ALL ? "--auto-forward-privileged"
                                                          : "--auto-forward";
    if (asked && !nat) {
        char text[COVE_NET_NAME_MAX + 16] = "none";
        if (mc->nnets)
            cove_net_spec_text(&c->net.spec, text, sizeof text);
        return cove_error_set(err, -EINVAL, "VM '%s': %s needs a network on NAT (--net nat), "
                              "not %s; other modes reach the guest at its own address",
                              vm_label(c), opt, text);
    }
    if (asked && !mc->vsock_path)
        return cove_error_set(err, -EINVAL, "%s needs the guest agent: give --vsock PATH", opt);
    if (!nat || !mc->vsock_path || a == COVE_AUTOFWD_OFF)
        return 0;
    struct autofwd_options ao = {mc->vsock_path, a == COVE_AUTOFWD_ALL, c->forwards,
                                 c->net.nforwards};
    return autofwd_start(&ao, &c->autofwd, err);
}

/* Whether this run is jailed: as asked, when the jail can serve it. An ephemeral VM has no
 * bundle to show; a VM on a cove network connects to its switch's socket again when the
 * switch restarts, which is outside the bundle and root's. */
static int decide_jail(struct run_ctx *c, const struct cove_run_options *o,
                       struct cove_error *err)
{
    c->jail = false;
    if (!o->jail)
        return 0;
    const char *why = !c->bundle[0] ? "a VM without a bundle has nothing to show in a jail"
                      : c->cfg.net.mode == COVE_NET_NETWORK
                          ? "a VM on a cove network reconnects to its switch outside the bundle"
                          : NULL;
#ifdef __SANITIZE_ADDRESS__
    /* LeakSanitizer's check at exit reads /proc, which the jail does not show (as with
     * the seccomp filter, seccomp.c: make check-sanitize runs unconfined) */
    why = "an AddressSanitizer build runs without a jail (LeakSanitizer reads /proc at exit)";
#endif
    if (why && o->jail_auto) {
        log_info("the VMM runs without a jail: %s", why);
        return 0;
    }
    if (why)
        return cove_error_set(err, -EINVAL, "--jail: %s; run it with --no-jail", why);
    if (!jail_prepared())
        return cove_error_set(err, -EINVAL, "--jail: the jail was not prepared "
                              "(cove_jail_prepare)");
    c->jail = true;
    return 0;
}

/* Builds the machine configuration from c->cfg and runs it; for a bundle also its lock
 * (taken by the caller), pid file and control socket. */
static int run_ctx(struct run_ctx *c, const struct cove_run_options *o,
                   enum cove_run_result *result, struct cove_error *err)
{
    bool bundle = c->bundle[0] != 0;
    bool to_log = bundle && o->console_to_log;
    struct machine_config mc = {
        .cpus = c->cfg.cpus,
        .memory_bytes = c->cfg.memory_mib << 20,
        .console_in_fd = to_log ? -1 : o->console_in_fd,
        .console_out_fd = o->console_out_fd,
        .console_escape = !to_log && o->console_escape,
        .console = o->virtio_console ? MACHINE_CONSOLE_VIRTIO : MACHINE_CONSOLE_SERIAL,
        .rng = !o->no_rng,
        .balloon = !o->no_balloon,
        .vsock_path = bundle ? bundle_vsock(c) : o->vsock_path,
        .display = o->display_vnc,
    };
    if (bundle)
        find_state(c);
    int rc = decide_jail(c, o, err);
    /* first: the processes the run forks (virtiofsd, the helpers) go into it too */
    if (rc == 0)
        rc = vm_cgroup_start(c->name ? c->name : "run",
                             o->cpu_limit_milli ? o->cpu_limit_milli : c->cfg.cpu_limit_milli,
                             c->cfg.memory_mib << 20, &c->cgroup, err);
    if (rc < 0)
        return rc;
    /* the shares first: the kernel command line names them */
    rc = resolve_shares(c, o, &mc, err);
    if (rc == 0)
        rc = resolve_boot(c, o, &mc, err);
    if (rc == 0)
        rc = resolve_disks(c, o, &mc, err);
    if (rc == 0)
        rc = resolve_network(c, o, &mc, err);
    if (rc == 0 && to_log && (rc = open_console_log(c, err)) == 0)
        mc.console_out_fd = c->console_fd;
    if (rc < 0)
        return rc;

    struct cove_vm_runner *runner = o->runner ? o->runner : cove_vm_runner_new(err);
    if (!runner)
        return -ENOMEM;
    runner_prepare(runner, mc.vsock_path, o->shutdown_timeout_ms);
    struct api_server *api = NULL;
    char path[PATH_MAX];
    if (bundle)
        rc = write_pid(c, err);
    if (rc == 0 && bundle && c->state_dir[0])
        rc = state_helper_start(c->bundle, c->name, &c->cfg, c->state_dir, &c->state_helper,
                                err);
    /* before the seccomp filter: the helper runs the agent's exec for a client's cut text */
    if (rc == 0 && o->display_vnc && mc.vsock_path)
        rc = clipboard_helper_start(mc.vsock_path, &c->clipboard, err);
    if (rc == 0)
        rc = start_autofwd(c, o, &mc, err);
    if (rc == 0 && bundle) {
        if (store_path(path, sizeof path, "%s/api.sock", c->run_dir) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "path too long");
        struct api_server_info info = {c->name,           getpid(),          c->cfg.cpus,
                                       c->cfg.memory_mib, c->mac,            c->forward_specs,
                                       c->net.nforwards,  suspend_machine,   c,
                                       snapshot_machine,  snapshot_wait,     c->autofwd};
        if (rc == 0)
            rc = api_server_start(path, &info, &api, err);
    }
    if (rc == 0)
        rc = run_loop(c, &mc, api, runner, o, result, err);
    resume_identity_join(&c->identity); /* the machine is gone: it ends at once */
    if (api)
        api_server_stop(api);
    autofwd_stop(c->autofwd);
    c->autofwd = NULL;
    state_helper_stop(c->state_helper);
    c->state_helper = NULL;
    clipboard_helper_stop(c->clipboard);
    c->clipboard = NULL;
    vm_cgroup_stop(c->cgroup);
    c->cgroup = NULL;
    if (runner != o->runner)
        cove_vm_runner_free(runner);
    if (bundle) {
        remove_run_file(c, "display");
        remove_run_file(c, "resuming");
        remove_run_file(c, "pid");
    }
    return rc;
}

static void ctx_free(struct run_ctx *c)
{
    vm_cgroup_stop(c->cgroup); /* a run that failed before its end */
    if (c->lock_fd >= 0)
        store_unlock_bundle(c->lock_fd);
    if (c->console_fd >= 0)
        close(c->console_fd);
    int fds[] = {c->kernel_fd, c->initrd_fd, c->firmware_fd};
    for (unsigned i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (unsigned i = 0; i < c->ndisks; i++)
        block_close(c->disks[i].open);
    oci_lazy_stop(c->lazy); /* after the disks it hooks */
    close_snap_files(c);
    cove_config_free(&c->cfg);
    pthread_mutex_destroy(&c->snap_lock);
    pthread_cond_destroy(&c->snap_cond);
    free(c);
}

static struct run_ctx *ctx_new(struct cove_error *err)
{
    struct run_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        cove_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    c->lock_fd = c->console_fd = c->kernel_fd = c->initrd_fd = c->firmware_fd = -1;
    c->snap_state_fd = c->snap_memory_fd = -1;
    pthread_mutex_init(&c->snap_lock, NULL);
    pthread_cond_init(&c->snap_cond, NULL);
    return c;
}

/* The display of this run: the options' when they say one (display_set), else the
 * bundle's stored one; the port of the options, else the stored one. */
static int bundle_display(const struct run_ctx *c, struct cove_run_options *o,
                          struct cove_error *err)
{
    if (!o->display_set)
        o->display_vnc = c->cfg.display_vnc;
    if (o->display_vnc && !o->vnc_port)
        o->vnc_port = c->cfg.vnc_port;
    if (o->vnc_port && !o->display_vnc)
        return cove_error_set(err, -EINVAL, "a VNC port needs a display: add --display vnc "
                              "(or store one: cove set %s --display vnc)", c->name);
    return 0;
}

int cove_vm_run(const char *name, const struct cove_run_options *o,
                enum cove_run_result *result, struct cove_error *err)
{
    struct run_ctx *c = ctx_new(err);
    if (!c)
        return -ENOMEM;
    c->name = name;
    struct cove_run_options eff = *o;
    int rc = open_bundle(c, name, err);
    if (rc == 0)
        rc = bundle_display(c, &eff, err);
    if (rc == 0)
        rc = run_ctx(c, &eff, result, err);
    ctx_free(c);
    return rc;
}

int cove_run_config(const struct cove_config *cfg, const struct cove_run_options *o,
                    enum cove_run_result *result, struct cove_error *err)
{
    int rc = cove_config_validate(cfg, "the configuration", err);
    if (rc < 0)
        return rc;
    struct run_ctx *c = ctx_new(err);
    if (!c)
        return -ENOMEM;
    if ((rc = cove_config_copy(cfg, &c->cfg)) < 0)
        cove_error_set(err, rc, "out of memory");
    else
        rc = run_ctx(c, o, result, err);
    ctx_free(c);
    return rc;
}
