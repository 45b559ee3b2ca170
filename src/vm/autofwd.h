/*
 * autofwd.h — automatic port forwarding (docs/NETWORK.md): while a VM on NAT runs, a
 * thread asks its guest agent for the listening ports (the request "ports", docs/AGENT.md)
 * about twice a second and keeps one libslirp host forward 127.0.0.1:PORT -> guest PORT
 * for each (the next free host port when PORT is taken), removing it when the guest stops
 * listening. Ports below 1024 only when asked; a guest port an explicit --forward already
 * serves is left to it. At most AUTOFWD_MAX forwards, whatever the guest reports.
 */
#ifndef COVE_VM_AUTOFWD_H
#define COVE_VM_AUTOFWD_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/error.h>

#include "backends/net.h"

#define AUTOFWD_MAX 256
/* How far above a taken host port the next free one is looked for. */
#define AUTOFWD_TRIES 32
#define AUTOFWD_POLL_MS 500

struct autofwd_entry {
    bool udp;
    uint16_t guest_port, host_port; /* host_port on 127.0.0.1 */
};

struct autofwd_options {
    const char *vsock_path;             /* the guest agent's hybrid-vsock socket */
    bool privileged;                    /* ports below 1024 too */
    const struct net_forward *explicit; /* the run's --forward entries: they win */
    unsigned nexplicit;
};

struct autofwd;

/* Starts the thread (before the seccomp filter: it only connects to vsock_path and asks
 * libslirp for forwards afterwards). It forwards nothing until autofwd_set_nat. */
int autofwd_start(const struct autofwd_options *o, struct autofwd **out, struct cove_error *err);
/* The NAT of the current machine, or NULL before it is destroyed: its forwards go with it
 * (the next machine's NAT starts without any). Blocks while the thread uses the old one. */
void autofwd_set_nat(struct autofwd *a, struct net_attachment *nat);
/* The forwards active now, at most max of them: how many were written. */
unsigned autofwd_list(struct autofwd *a, struct autofwd_entry *out, unsigned max);
/* Ends the thread; NULL is fine. */
void autofwd_stop(struct autofwd *a);

/* The reconciling step, without threads or I/O (unit tested): given the ports the guest
 * listens on, removes the active entries it no longer reports and adds the new ones
 * through add(udp, host_port, guest_port) -> 0 or -errno, trying the next host port on
 * -EADDRINUSE; remove(udp, host_port) is called for each entry dropped. */
struct agent_port;
struct autofwd_state {
    struct autofwd_entry active[AUTOFWD_MAX];
    unsigned nactive;
};
typedef int (*autofwd_add_fn)(void *opaque, bool udp, uint16_t host_port, uint16_t guest_port);
typedef void (*autofwd_remove_fn)(void *opaque, bool udp, uint16_t host_port);
void autofwd_reconcile(struct autofwd_state *s, const struct autofwd_options *o,
                       const struct agent_port *ports, unsigned nports, autofwd_add_fn add,
                       autofwd_remove_fn remove, void *opaque);

#endif
