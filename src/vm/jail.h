/*
 * jail.h — the VMM's jail (docs/SECURITY.md, "The jail"): a root-run VM's process, once its
 * files are open and right before its seccomp filter, sees only its bundle's run/
 * directory and runs as an unprivileged uid with no capabilities.
 *
 * Two steps, because a mount namespace and a root directory belong to threads:
 * jail_prepare, while the process has one thread (cove run calls it first), gives it its
 * own mount, IPC and UTS namespaces, which every thread made afterwards shares; jail_enter,
 * once the VM is set up, makes a tmpfs holding only run/ (bind-mounted at its own path,
 * so the run's paths stay valid), pivot_roots into it (which moves every thread of
 * the process, as they share the namespace and the root), drops the old root, and drops
 * the uid. Processes forked between the two keep the host's file system (confined.h).
 */
#ifndef COVE_VM_JAIL_H
#define COVE_VM_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

#include <cove/cove.h>

/* A uid per VM (docs/SECURITY.md, "The jail"): a jailed VMM runs as uid and gid
 * JAIL_UID_BASE + N, the first N whose lock file JAIL_UID_DIR/UID it can flock; the lock
 * is held until the process ends (a kill -9 frees it), so two running VMs never share one. */
#define JAIL_UID_BASE 1600000000u
#define JAIL_UID_COUNT 4096u
#define JAIL_UID_DIR "/run/cove/jail-uids"

/* Takes this process's uid (root only): 0 with *uid set, or a negative errno with err set. */
int jail_uid_take(uid_t *uid, struct cove_error *err);

/* The user a jailed VMM runs as where it cannot have a uid of its own: "cove" when that
 * user exists, else "nobody", else 65534:65534. */
void jail_user(uid_t *uid, gid_t *gid, char *name, size_t n);

bool jail_prepared(void);

/* Enters the jail: only dir (an absolute path; a bundle's run/) visible, dir and the files
 * in writable[] (may be NULL entries) given to the jail's user (the VMM binds, connects to
 * and removes files there later), the uid dropped. Needs cove_jail_prepare() first. */
int jail_enter(const char *dir, const char *const *writable, unsigned nwritable,
               struct cove_error *err);

#endif
