/*
 * vm.h — the vm box's internal contract: the control socket of a running VM.
 *
 * The server is one thread of the `cove run` process serving run/api.sock (HTTP/1.1 over a
 * Unix socket, JSON bodies; docs/API.md): GET /vm, PUT /vm/state, PUT /vm/stop, GET and
 * PUT /vm/memory, PUT /vm/suspend, PUT /vm/snapshot. The run
 * loop tells it which machine is current (a guest reboot makes a new one); requests that
 * arrive between two machines see the state "running" and a stop request is remembered.
 */
#ifndef COVE_VM_VM_H
#define COVE_VM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cove/error.h>

struct machine;
struct api_server;

struct api_server_info {
    const char *name;
    pid_t pid;
    unsigned cpus;
    uint64_t memory_mib;
    /* The network this run uses (stored settings plus the run's own): "" and none when it
     * has no network. The strings must outlive the server. */
    const char *mac;
    const char *const *forwards;
    unsigned nforwards;
    /* PUT /vm/suspend: saves machine m (paused meanwhile) and stops it; on failure the VM
     * runs on as before and err says why. NULL: this VM cannot be suspended. Called on
     * the server thread while m is current. */
    int (*suspend)(void *opaque, struct machine *m, struct cove_error *err);
    void *suspend_opaque;
    /* PUT /vm/snapshot (run.c; same thread and opaque as suspend). save: the snapshot
     * is saved and m runs on (0). restore: checked, then m is asked to stop and 1 is
     * returned; snapshot_wait then blocks, without the server's lock, until the run loop
     * has restarted the machine from the snapshot, and says how it went. */
    int (*snapshot)(void *opaque, struct machine *m, bool restore, const char *tag,
                    bool *running, struct cove_error *err);
    int (*snapshot_wait)(void *opaque, double *ms, struct cove_error *err);
    /* The run's automatic port forwarding (GET /vm lists its forwards), or NULL. */
    struct autofwd *autofwd;
};

int api_server_start(const char *sock_path, const struct api_server_info *info,
                     struct api_server **out, struct cove_error *err);
/* Sets (or clears, with NULL) the machine requests act on. Blocks while a request uses
 * the previous one. */
void api_server_set_machine(struct api_server *s, struct machine *m);
/* Whether a stop was requested through the socket (the run loop must not reboot). */
bool api_server_stop_requested(struct api_server *s);
void api_server_stop(struct api_server *s); /* joins the thread, removes the socket */

/* Client side: the state of a running VM ("running"/"paused"/"stopping") by GET /vm; with
 * info, also the network the run uses (info->run_mac, run_forwards). */
struct cove_vm_info;
int api_client_state(const char *sock_path, char *state, size_t n, struct cove_vm_info *info,
                     struct cove_error *err);
int api_client_set_state(const char *sock_path, const char *state, struct cove_error *err);
int api_client_stop(const char *sock_path, bool force, struct cove_error *err);
/* GET and PUT /vm/memory. */
struct cove_vm_memory;
int api_client_memory(const char *sock_path, struct cove_vm_memory *out, struct cove_error *err);
int api_client_set_memory(const char *sock_path, uint64_t memory_mib, struct cove_error *err);
/* PUT /vm/suspend: returns once the state is saved (the VM then stops). */
int api_client_suspend(const char *sock_path, struct cove_error *err);
/* PUT /vm/snapshot: action "save" or "restore"; returns once done (a restore: once the
 * machine runs again), with whether the snapshot holds a machine and the restart's time. */
int api_client_snapshot(const char *sock_path, const char *action, const char *tag,
                        bool *running, double *ms, struct cove_error *err);

#endif
