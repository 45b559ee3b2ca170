/*
 * Reaching the agent of a VM by its name: once (cove_agent_open, which tells a paused VM
 * from a guest that is slow to answer), or until it answers (cove_agent_wait, for a VM
 * that is still booting).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>
#include <cove/cove.h>

#include "agent/agent_client.h"
#include "agent/agent_frame.h"
#include "util/fdio.h"

/* Between two tries of a VM that is not up yet: short, as boot time counts. */
#define RETRY_MS 50
/* A connection the guest has not answered within this long was not really given a chance. */
#define SHORT_TRY_MS 100

/* A timeout because NAME is paused gets that said; anything else is left as it is. */
static int explain_timeout(const char *name, unsigned port, int rc, int timeout_ms,
                           struct cove_error *err)
{
    struct cove_vm_info info;
    memset(&info, 0, sizeof info);
    if (rc != -ETIMEDOUT || cove_vm_get(name, &info, NULL) < 0)
        return rc;
    bool paused = info.state == COVE_VM_PAUSED;
    cove_vm_info_free(&info);
    if (!paused)
        return rc;
    return cove_error_set(err, -ETIMEDOUT, "%s did not answer within %g s: VM "
                          "'%s' is paused; resume it with `cove resume %s`",
                          port == AGENT_PORT ? "the guest agent" : "the guest",
                          timeout_ms / 1000.0, name, name);
}

/* A resumed VM's run makes run/resuming (beside run/vsock.sock, path) and removes it once
 * its agent has set the guest's clock and, for a fork, its hostname and MAC
 * (src/vm/resume_identity.c): wait for that within the deadline, so that what a client
 * asks next sees them. A VM that stopped meanwhile fails the connection after it. */
static bool wait_resumed(const char *name, const char *path, long long deadline)
{
    char marker[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || snprintf(marker, sizeof marker, "%.*s/resuming", (int)(slash - path), path) >=
                      (int)sizeof marker)
        return false;
    bool waited = false;
    for (unsigned i = 1; access(marker, F_OK) == 0 && monotonic_ms() < deadline; i++) {
        waited = true;
        usleep(10 * 1000);
        char again[PATH_MAX];
        if (i % 50 == 0 && cove_agent_path(name, again, sizeof again, NULL) < 0)
            break; /* stopped: the connection says so */
    }
    return waited;
}

int cove_vsock_open(const char *name, unsigned port, int timeout_ms, int *fd,
                    struct cove_error *err)
{
    char path[PATH_MAX];
    /* a negative timeout waits for ever for the connection; the marker's wait is bounded
     * by the run's own (its identity thread gives up after 30 s) */
    long long deadline = monotonic_ms() + (timeout_ms < 0 ? 30000 : timeout_ms);
    int rc = cove_agent_path(name, path, sizeof path, err);
    /* what is left of the timeout after a wait (without one, the timeout as given: the
     * messages name it) */
    if (rc == 0 && wait_resumed(name, path, deadline) && timeout_ms >= 0) {
        long long left = deadline - monotonic_ms();
        timeout_ms = left > 1 ? (int)left : 1;
    }
    if (rc < 0 || (rc = cove_vsock_connect(path, port, timeout_ms, fd, err)) < 0)
        return explain_timeout(name, port, rc, timeout_ms, err);
    return 0;
}

int cove_agent_open(const char *name, int timeout_ms, int *fd, struct cove_error *err)
{
    return cove_vsock_open(name, AGENT_PORT, timeout_ms, fd, err);
}

/* One try: 0 when the agent answered a ping. *running says whether NAME was running. */
static int try_ping(const char *name, const char *at, int timeout_ms, bool *running,
                    struct cove_error *err)
{
    char path[PATH_MAX];
    int fd;
    long long deadline = monotonic_ms() + timeout_ms;
    int rc = at ? (snprintf(path, sizeof path, "%s", at), 0)
                : cove_agent_path(name, path, sizeof path, err);
    *running = rc == 0;
    if (rc < 0 || (rc = cove_agent_connect(path, timeout_ms, &fd, err)) < 0)
        return rc;
    /* the answer within what is left: an agent that accepts and says nothing must not
     * hold the wait past its deadline */
    long long left = deadline - monotonic_ms();
    rc = agent_ping(fd, left > 1 ? (int)left : 1, err);
    close(fd);
    return rc;
}

/* at: the agent's socket, looked up before (cove_agent_wait_at); NULL: look it up. */
static int wait_agent(const char *name, const char *at, int timeout_ms, struct cove_error *err)
{
    long long deadline = monotonic_ms() + timeout_ms;
    bool seen_running = false;
    struct cove_error e = {0}, told = {0};
    int told_rc = 0;
    for (;;) {
        long long left = deadline - monotonic_ms();
        int budget = left > 0 ? (int)left : 1;
        bool running;
        int rc = try_ping(name, at, budget, &running, &e);
        if (rc == 0)
            return 0;
        if (running)
            seen_running = true;
        else if (rc == -ESRCH && seen_running)
            return cove_error_set(err, -ESRCH, "VM '%s' stopped before its guest agent "
                                  "answered", name);
        /* Not up yet (no socket, no agent listening, the connection dropped as the guest
         * reset its vsock device): try again. Anything else will not get better. */
        if (rc != -ESRCH && rc != -ECONNREFUSED && rc != -ECONNRESET && rc != -ETIMEDOUT) {
            if (err)
                *err = e;
            return rc;
        }
        /* A try the deadline cut short tells nothing the one before it did not. */
        if (rc != -ETIMEDOUT || budget >= SHORT_TRY_MS || !told_rc) {
            told_rc = rc;
            told = e;
        }
        left = deadline - monotonic_ms();
        if (left > 0) {
            usleep((useconds_t)(left < RETRY_MS ? left : RETRY_MS) * 1000);
            continue;
        }
        if (told_rc == -ETIMEDOUT || (told_rc == -ECONNRESET && seen_running)) {
            rc = cove_error_set(err, -ETIMEDOUT, "the guest agent of VM '%s' did not answer "
                                "within %g s", name, timeout_ms / 1000.0);
            return at ? rc : explain_timeout(name, AGENT_PORT, rc, timeout_ms, err);
        }
        if (err) /* not running, or no agent: that error says more */
            *err = told;
        return told_rc;
    }
}

int cove_agent_wait(const char *name, int timeout_ms, struct cove_error *err)
{
    return wait_agent(name, NULL, timeout_ms, err);
}

int cove_agent_wait_at(const char *name, const char *path, int timeout_ms,
                       struct cove_error *err)
{
    return wait_agent(name, path, timeout_ms, err);
}
