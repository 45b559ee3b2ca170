/*
 * After a resume from saved state, the guest agent brings the guest up to date: its wall
 * clock (the guest's own clock went on from the saved instant, docs/STATE-FORMAT.md),
 * and, for a fork (a clone of a suspended VM: state/fork), the identity the clone has and
 * its source had: the hostname (the VM's name) and the MAC of its network interface
 * (the device already shows the clone's MAC in its config space, but a driver reads it
 * once, when it probes). Both go through the agent's existing requests, clock and exec
 * (docs/AGENT.md), so nothing in the guest changes.
 *
 * A thread of its own, as the guest must run to answer: it retries the connection until
 * the agent answers or 30 s passed, and gives up quietly (a log line) with a guest that
 * has no agent. resume_identity_join is called once the machine is destroyed, when a
 * connection fails at once.
 *
 * While it works, a marker file (run/resuming, made by the run before its jail and filter)
 * tells `cove exec` and the other clients that reach the agent by the VM's name to wait
 * (cove_vsock_open): a fork's first command must see its own hostname, MAC and clock, not
 * its source's. The thread removes the marker when it is done, whatever the outcome.
 */
#include "vm/resume_identity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "util/log.h"

#define IDENTITY_DEADLINE_MS 30000
#define IDENTITY_CONNECT_MS 2000
#define IDENTITY_EXEC_MS 10000

/* $1 the hostname, $2 the MAC ("" without a network): every interface that is a device
 * (not lo, not a bridge) takes the MAC first, so that a guest showing the new hostname
 * has its new MAC too. The hostname is written by the shell itself (what `hostname NAME`
 * does, sethostname, without a process: each one costs a fork its first milliseconds of
 * guest CPU through a cold JIT, docs/PERFORMANCE.md). */
static const char identity_script[] =
    "r=0; if [ -n \"$2\" ]; then for i in /sys/class/net/*; do "
    "[ -e \"$i/device\" ] || continue; ip link set dev \"${i##*/}\" address \"$2\" || r=1; "
    "done; fi; printf %s \"$1\" >/proc/sys/kernel/hostname || r=1; exit $r";

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A connection to the agent, retried until the deadline; -1 when none came. */
static int connect_agent(struct resume_identity *t, long deadline)
{
    while (!atomic_load(&t->stop) && now_ms() < deadline) {
        int fd;
        if (cove_agent_connect(t->vsock, IDENTITY_CONNECT_MS, &fd, NULL) == 0)
            return fd;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return -1;
}

static int set_identity(struct resume_identity *t, int fd, struct cove_error *err)
{
    /* the output is dropped (no /dev/null: a confined VMM opens no file) */
    const char *argv[] = {"sh", "-c", identity_script, "sh", t->name, t->mac, NULL};
    struct cove_exec_options o = {
        .argv = argv, .in_fd = -1, .out_fd = -1, .err_fd = -1,
        .signal_fd = -1, .winsize_fd = -1, .timeout_ms = IDENTITY_EXEC_MS,
    };
    int status = 0;
    char message[256] = "";
    int rc = cove_agent_exec(fd, &o, &status, message, sizeof message, err);
    if (rc == 0 && status != 0)
        rc = cove_error_set(err, -EIO, "the guest's hostname/MAC command exited %d%s%s", status,
                            message[0] ? ": " : "", message);
    return rc;
}

/* Sets the guest's clock, asking again on a new connection while the answer fails: the
 * first connections after a resume can be caught by the transport reset the restored vsock
 * device sends (the guest then closes every connection it has; the request is idempotent).
 * 1 when no agent answered at all, else 0 or the last failure. */
static int set_clock(struct resume_identity *t, long deadline, struct cove_error *err)
{
    int rc;
    for (;;) {
        int fd = connect_agent(t, deadline);
        if (fd < 0)
            return 1;
        rc = agent_set_clock(fd, err);
        close(fd);
        if (rc == 0 || atomic_load(&t->stop) || now_ms() + 100 >= deadline)
            return rc;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void identity_work(struct resume_identity *t)
{
    long deadline = now_ms() + IDENTITY_DEADLINE_MS;
    struct cove_error err = {0};
    int fd, rc = set_clock(t, deadline, &err);
    if (rc == 1) {
        if (!atomic_load(&t->stop))
            log_info("VM '%s': no guest agent answered after the resume; the guest's clock "
                     "was not set", t->name);
        return;
    }
    if (rc < 0)
        log_warn("VM '%s': cannot set the guest's clock after the resume: %s", t->name,
                 err.message);
    if (!t->fork)
        return;
    if ((fd = connect_agent(t, deadline)) < 0)
        rc = cove_error_set(&err, -ETIMEDOUT, "the agent did not answer");
    else
        rc = set_identity(t, fd, &err);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        log_warn("VM '%s': the fork kept its source's hostname or MAC: %s", t->name,
                 err.message);
    else
        log_info("VM '%s': the fork has its own hostname%s%s", t->name,
                 t->mac[0] ? " and MAC " : "", t->mac);
}

static void remove_marker(struct resume_identity *t)
{
    if (t->marker[0])
        unlink(t->marker);
}

static void *identity_thread(void *arg)
{
    struct resume_identity *t = arg;
    identity_work(t);
    remove_marker(t);
    return NULL;
}

void resume_identity_start(struct resume_identity *t, const char *vsock, const char *name,
                           const char *mac, bool fork, const char *marker)
{
    memset(t, 0, sizeof *t);
    snprintf(t->marker, sizeof t->marker, "%s", marker ? marker : "");
    if (!vsock || !name) {
        remove_marker(t);
        return;
    }
    snprintf(t->vsock, sizeof t->vsock, "%s", vsock);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->mac, sizeof t->mac, "%s", mac ? mac : "");
    t->fork = fork;
    atomic_init(&t->stop, false);
    int rc = pthread_create(&t->thread, NULL, identity_thread, t);
    if (rc != 0) {
        log_warn("VM '%s': cannot start the thread that sets the guest's clock: %s", name,
                 strerror(rc));
        remove_marker(t);
    }
    t->started = rc == 0;
}

void resume_identity_join(struct resume_identity *t)
{
    if (!t->started)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->thread, NULL);
    t->started = false;
}
