/*
 * Talking to a running VM (run.c runs one): stop, pause, resume, and the live state in
 * get/list.
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
#include "store/snapshot.h"
#include "util/log.h"
#include "vm/vm.h"

#define FORCE_WAIT_MS 5000
/* A running guest's agent answers at once; one that does not (no agent, paused, still
 * booting) is not waited for long before the other ways are tried. */
#define AGENT_STOP_CONNECT_MS 2000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
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

/* A running VM's bundle and control socket; "VM 'x' is not running" otherwise. */
static int running_vm(const char *name, char bundle[PATH_MAX], char sock[PATH_MAX], pid_t *pid,
                      struct cove_error *err)
{
    int rc = sock_path(name, bundle, PATH_MAX, sock, PATH_MAX, err);
    return rc < 0 ? rc : must_run(name, bundle, pid, err);
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
    int rc = running_vm(name, bundle, sock, &pid, err);
    if (rc < 0)
        return rc;
    /* The guest agent first (sync, root read-only, power off, from inside the guest);
     * without an agent, the serial console's SysRq; then by force. The agent is the
     * guest's and may be hostile: its answer has a deadline of its own (3 s), so the
     * other ways always get their turn. */
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

/* The VM process saves its state, answers, and exits: wait for that too. */
int cove_vm_suspend(const char *name, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = running_vm(name, bundle, sock, &pid, err);
    if (rc < 0)
        return rc;
    struct cove_error cerr;
    if ((rc = api_client_suspend(sock, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s' was not suspended: %s", name, cerr.message);
    if (!wait_stopped(bundle, FORCE_WAIT_MS))
        return cove_error_set(err, -ETIMEDOUT, "VM '%s' was saved but its process (pid %d) "
                              "did not exit", name, (int)pid);
    return 0;
}

static int set_state(const char *name, const char *state, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = running_vm(name, bundle, sock, &pid, err);
    if (rc < 0)
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

int cove_vm_get_memory(const char *name, struct cove_vm_memory *out, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    memset(out, 0, sizeof *out);
    int rc = running_vm(name, bundle, sock, &pid, err);
    if (rc < 0)
        return rc;
    struct cove_error cerr;
    if ((rc = api_client_memory(sock, out, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    return 0;
}

int cove_vm_set_memory(const char *name, uint64_t memory_mib, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = running_vm(name, bundle, sock, &pid, err);
    if (rc < 0)
        return rc;
    struct cove_error cerr;
    if ((rc = api_client_set_memory(sock, memory_mib, &cerr)) < 0)
        return cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    return 0;
}

/* --- get and list ---------------------------------------------------------------------- */

/* --- snapshots: the store's when the VM is not running, its own process's when it is -- */

int cove_snapshot_save(const char *name, const char *tag, struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    int rc = sock_path(name, bundle, PATH_MAX, sock, PATH_MAX, err);
    if (rc < 0)
        return rc;
    if (!store_bundle_running(bundle, &pid))
        return store_snapshot_save_stopped(name, tag, err);
    return api_client_snapshot(sock, "save", tag, NULL, NULL, err);
}

int cove_snapshot_restore(const char *name, const char *tag, struct cove_snapshot_restored *out,
                          struct cove_error *err)
{
    char bundle[PATH_MAX], sock[PATH_MAX];
    pid_t pid;
    struct cove_snapshot_restored r = {0};
    int rc = sock_path(name, bundle, PATH_MAX, sock, PATH_MAX, err);
    if (rc < 0)
        return rc;
    if (!store_bundle_running(bundle, &pid)) {
        rc = store_snapshot_restore_stopped(name, tag, &r.running, err);
    } else {
        r.vm_running = true;
        rc = api_client_snapshot(sock, "restore", tag, &r.running, &r.ms, err);
    }
    if (rc == 0 && out)
        *out = r;
    return rc;
}

int cove_snapshot_list(const char *name, struct cove_snapshot_info **out, size_t *count,
                       struct cove_error *err)
{
    return store_snapshot_list(name, out, count, err);
}

int cove_snapshot_delete(const char *name, const char *tag, struct cove_error *err)
{
    return store_snapshot_delete(name, tag, err);
}

static void add_live_state(const struct store *s, struct cove_vm_info *info)
{
    if (info->state != COVE_VM_RUNNING)
        return;
    char sock[PATH_MAX], state[32];
    if (store_path(sock, sizeof sock, "%s/%s/run/api.sock", s->vms, info->name) < 0)
        return;
    if (api_client_state(sock, state, sizeof state, info, NULL) == 0 && !strcmp(state, "paused"))
        info->state = COVE_VM_PAUSED;
}

int cove_vm_get(const char *name, struct cove_vm_info *out, struct cove_error *err)
{
    struct store s;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 || (rc = store_load_info(&s, name, out, err)) < 0)
        return rc;
    add_live_state(&s, out);
    char sock[PATH_MAX];
    if (out->state != COVE_VM_STOPPED &&
        store_path(sock, sizeof sock, "%s/%s/run/api.sock", s.vms, name) == 0)
        api_client_memory(sock, &out->memory, NULL); /* list does without: it waits */
    if (out->state != COVE_VM_STOPPED &&
        store_path(sock, sizeof sock, "%s/%s/run/display", s.vms, name) == 0) {
        FILE *f = fopen(sock, "re");
        char path[sizeof out->vnc_socket];
        int port;
        if (f && fscanf(f, "vnc %107s %d", path, &port) == 2 && port >= 0 && port < 65536) {
            memcpy(out->vnc_socket, path, sizeof path);
            out->vnc_port = port;
        }
        if (f)
            fclose(f);
    }
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
