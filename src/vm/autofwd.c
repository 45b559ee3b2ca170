/*
 * Automatic port forwarding (autofwd.h, docs/NETWORK.md): a thread of the `cove run`
 * process asks the guest agent for its listening ports and keeps libslirp's forwards in
 * step. It starts before the seccomp filter; afterwards it only connects to the agent's
 * Unix socket and has libslirp bind and close sockets on 127.0.0.1, which the filter
 * allows (socket, bind, listen: docs/SECURITY.md).
 */
#include "vm/autofwd.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

#include "agent/agent_client.h"
#include "agent/agent_frame.h"
#include "util/log.h"

/* An agent too old to know "ports" (protocol version 1) is asked again this seldom: it may
 * be upgraded in the guest while the VM runs. */
#define OLD_AGENT_POLL_MS 10000
/* An agent that answers late or outside the rules is asked less and less often (twice the
 * interval after each such answer, up to this), so a hostile or hung guest costs the host
 * little; a good answer brings the interval back to AUTOFWD_POLL_MS. */
#define BACKOFF_MAX_MS 10000
/* (A guest that does not take the connection at all -- booting, paused -- costs one Unix
 * connection and CONNECT_MS of waiting per poll, and is asked again at the usual pace.) */
#define CONNECT_MS 1000
#define ANSWER_MS 2000

struct autofwd {
    struct autofwd_options o;
    struct net_forward *explicit; /* a copy */
    pthread_mutex_t lock;         /* nat and st */
    pthread_cond_t cond;
    bool stop;
    struct net_attachment *nat;
    struct autofwd_state st;
    pthread_t thread;
    struct agent_port ports[AGENT_PORTS_OUT_MAX];
    struct log_ratelimit warn_rl;
};

static bool wanted(const struct autofwd_options *o, const struct agent_port *p)
{
    if (p->port < 1024 && !o->privileged)
        return false;
    for (unsigned i = 0; i < o->nexplicit; i++)
        if (o->explicit[i].udp == p->udp && o->explicit[i].guest_port == p->port)
            return false;
    return true;
}

void autofwd_reconcile(struct autofwd_state *s, const struct autofwd_options *o,
                       const struct agent_port *ports, unsigned nports, autofwd_add_fn add,
                       autofwd_remove_fn remove, void *opaque)
{
    /* gone: the guest no longer listens there */
    for (unsigned i = 0; i < s->nactive;) {
        const struct autofwd_entry *e = &s->active[i];
        bool listed = false;
        for (unsigned j = 0; j < nports && !listed; j++)
            listed = ports[j].udp == e->udp && ports[j].port == e->guest_port;
        if (!listed) {
            remove(opaque, e->udp, e->host_port);
            log_info("auto-forward: the guest stopped listening on %s port %u; 127.0.0.1:%u "
                     "is no longer forwarded", e->udp ? "UDP" : "TCP", e->guest_port,
                     e->host_port);
            s->active[i] = s->active[--s->nactive];
            continue;
        }
        i++;
    }
    /* new */
    for (unsigned j = 0; j < nports && s->nactive < AUTOFWD_MAX; j++) {
        const struct agent_port *p = &ports[j];
        bool have = false;
        for (unsigned i = 0; i < s->nactive && !have; i++)
            have = s->active[i].udp == p->udp && s->active[i].guest_port == p->port;
        if (have || !wanted(o, p))
            continue;
        for (unsigned k = 0; k < AUTOFWD_TRIES && p->port + k <= 65535; k++) {
            uint16_t host = (uint16_t)(p->port + k);
            int rc = add(opaque, p->udp, host, p->port);
            if (rc == -EADDRINUSE)
                continue;
            if (rc == 0) {
                s->active[s->nactive++] = (struct autofwd_entry){p->udp, p->port, host};
                log_info("auto-forward: 127.0.0.1:%u -> guest %s port %u", host,
                         p->udp ? "UDP" : "TCP", p->port);
            }
            break; /* another error (EACCES below 1024): tried again at the next poll */
        }
    }
}

/* --- the thread ---------------------------------------------------------------------------- */

static int add_fwd(void *opaque, bool udp, uint16_t host_port, uint16_t guest_port)
{
    return net_slirp_hostfwd(opaque, true, udp, host_port, guest_port);
}

static void remove_fwd(void *opaque, bool udp, uint16_t host_port)
{
    net_slirp_hostfwd(opaque, false, udp, host_port, 0);
}

/* Waits ms (or until stopped) with the lock held: false when stopped. */
static bool sleep_locked(struct autofwd *a, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!a->stop && pthread_cond_timedwait(&a->cond, &a->lock, &until) != ETIMEDOUT) {
    }
    return !a->stop;
}

/* One question to the agent: 0 with *n ports, or a negative errno; *connected says whether
 * the agent took the connection (a guest still booting or paused does not). */
static int ask(struct autofwd *a, unsigned *n, bool *connected, struct cove_error *err)
{
    int fd;
    *connected = false;
    int rc = cove_agent_connect(a->o.vsock_path, CONNECT_MS, &fd, err);
    if (rc < 0)
        return rc;
    *connected = true;
    rc = agent_ports(fd, a->ports, n, ANSWER_MS, err);
    close(fd);
    return rc;
}

static void *autofwd_main(void *opaque)
{
    struct autofwd *a = opaque;
    long interval = AUTOFWD_POLL_MS;
    bool told_old = false;
    pthread_mutex_lock(&a->lock);
    while (sleep_locked(a, interval)) {
        struct net_attachment *nat = a->nat;
        if (!nat)
            continue;
        pthread_mutex_unlock(&a->lock);
        unsigned n = 0;
        struct cove_error err = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool connected;
        int rc = ask(a, &n, &connected, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        log_debug("auto-forward: asked the agent: %d port(s), rc %d, %ld ms (next in %ld ms)", n,
                  rc, (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000,
                  interval);
        pthread_mutex_lock(&a->lock);
        if (connected && (rc == -ETIMEDOUT || rc == -EPROTO || rc == -ECONNRESET))
            interval = interval * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : interval * 2;
        else
            interval = AUTOFWD_POLL_MS; /* answered, or no agent yet (booting): soon again */
        if (rc == -EINVAL) { /* "unknown request": an agent of protocol version 1 */
            if (!told_old)
                log_info("auto-forward: the guest agent does not report ports (an agent "
                         "older than protocol version 2); nothing is forwarded automatically");
            told_old = true;
            interval = OLD_AGENT_POLL_MS;
            continue;
        }
        if (rc == -EPROTO) {
            unsigned suppressed;
            if (log_ratelimit(&a->warn_rl, 10000, &suppressed))
                log_warn("auto-forward: %s", err.message);
            continue; /* the forwards stay as they were */
        }
        if (rc < 0 || a->nat != nat || a->stop)
            continue; /* no agent yet (booting), paused, or the machine changed meanwhile */
        autofwd_reconcile(&a->st, &a->o, a->ports, n, add_fwd, remove_fwd, nat);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int autofwd_start(const struct autofwd_options *o, struct autofwd **out, struct cove_error *err)
{
    struct autofwd *a = calloc(1, sizeof *a);
    if (!a || !(a->o.vsock_path = strdup(o->vsock_path)) ||
        !(a->explicit = calloc(o->nexplicit ? o->nexplicit : 1, sizeof *a->explicit))) {
        if (a)
            free((char *)a->o.vsock_path);
        free(a);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (o->nexplicit)
        memcpy(a->explicit, o->explicit, o->nexplicit * sizeof *a->explicit);
    a->o.privileged = o->privileged;
    a->o.explicit = a->explicit;
    a->o.nexplicit = o->nexplicit;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&a->thread, NULL, autofwd_main, a);
    if (rc) {
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        free(a->explicit);
        free((char *)a->o.vsock_path);
        free(a);
        return cove_error_set(err, -rc, "cannot start a thread: %s", strerror(rc));
    }
    *out = a;
    return 0;
}

void autofwd_set_nat(struct autofwd *a, struct net_attachment *nat)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->nat = nat;
    a->st.nactive = 0; /* the old NAT's forwards go with it */
    pthread_mutex_unlock(&a->lock);
}

unsigned autofwd_list(struct autofwd *a, struct autofwd_entry *out, unsigned max)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->lock);
    unsigned n = a->st.nactive < max ? a->st.nactive : max;
    memcpy(out, a->st.active, n * sizeof *out);
    pthread_mutex_unlock(&a->lock);
    return n;
}

void autofwd_stop(struct autofwd *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a->explicit);
    free((char *)a->o.vsock_path);
    free(a);
}
