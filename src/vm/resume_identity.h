/*
 * resume_identity.h — after a resume, the guest's clock, and a fork's hostname and MAC,
 * set through the guest agent (resume_identity.c).
 */
#ifndef COVE_VM_RESUME_IDENTITY_H
#define COVE_VM_RESUME_IDENTITY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cove/config.h>
#include <cove/cove.h>

struct resume_identity {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    bool fork;
    char vsock[PATH_MAX];
    char name[COVE_NAME_MAX + 1];
    char mac[COVE_MAC_LEN + 1];
    char marker[PATH_MAX]; /* run/resuming, removed once done ("": none) */
};

/* Starts the thread: the agent behind vsock sets the clock; with fork, the hostname
 * becomes name and the network interface takes mac ("" or NULL: none). Nothing without a
 * vsock path or a name. */
void resume_identity_start(struct resume_identity *t, const char *vsock, const char *name,
                           const char *mac, bool fork, const char *marker);
/* Stops trying and waits for the thread (call once the machine is gone). */
void resume_identity_join(struct resume_identity *t);

#endif
