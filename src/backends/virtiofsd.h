/*
 * virtiofsd.h — the file-server daemon behind a virtio-fs share.
 *
 * One daemon per share: virtiofsd (QEMU's C daemon, /usr/lib/qemu/virtiofsd on Debian 12;
 * COVE_VIRTIOFSD names another with the same options) is started on a listening Unix
 * socket cove already connected to, so there is no socket path to wait for or to leak:
 * the path lives in a private temporary directory only until cove's connect.
 *
 * The daemon runs in its own process group (a terminal's ^C reaches cove only, which
 * stops it in order), dies with cove (PR_SET_PDEATHSIG) and sandboxes itself (its
 * namespace sandbox: pivot_root into the shared directory). A read-only share is made
 * read-only on the host side: the daemon starts in a mount namespace of its own where the
 * shared directory is a read-only bind mount, so every write the guest asks for fails
 * with EROFS in the host kernel, whatever the daemon or the guest do. Submounts below a
 * read-only share are not visible. All of this needs root (CAP_SYS_ADMIN); otherwise the
 * daemon is started in a new user namespace where the caller is root.
 */
#ifndef COVE_BACKENDS_VIRTIOFSD_H
#define COVE_BACKENDS_VIRTIOFSD_H

#include <stdbool.h>

#include <cove/error.h>

struct virtiofsd;

/* Starts the daemon serving directory source; *sock is cove's end of its vhost-user
 * connection (the caller owns it). */
int virtiofsd_start(const char *source, bool read_only, struct virtiofsd **out, int *sock,
                    struct cove_error *err);

/* Stops the daemon (SIGTERM, then SIGKILL after a grace period) and reaps it. NULL is a
 * no-op. */
void virtiofsd_stop(struct virtiofsd *d);

/* Kills the daemon at once (it misbehaved); virtiofsd_stop() still reaps it. */
void virtiofsd_kill(struct virtiofsd *d);

/* The process id, for tests that kill the daemon. */
int virtiofsd_pid(const struct virtiofsd *d);

#endif
