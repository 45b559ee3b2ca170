/*
 * virtiofsd_filter.h — what a share's virtiofsd may not do to the host (docs/SECURITY.md,
 * "Shares").
 *
 * virtiofsd performs the guest's file operations on the host with the guest's uid: a guest
 * root is the host's root in the share when cove runs as root. Left alone it would create
 * device nodes in the share (a host process opening one reaches the device) and set-user-ID
 * or set-group-ID files (a host user running one gains the owner's rights). Debian 12's
 * virtiofsd has no option against either, so cove starts it under a seccomp filter of its
 * own (stacked under the daemon's: the stricter answer wins):
 *   - mknod/mknodat of a block or character device: EPERM;
 *   - chmod/fchmod/fchmodat to a mode with S_ISUID or S_ISGID: EPERM;
 *   - open/openat/creat creating a file with S_ISUID or S_ISGID in its mode: EPERM;
 *   - mknod/mknodat of a file with S_ISUID or S_ISGID: EPERM;
 *   - openat2 (whose mode the filter cannot read) and fchmodat2: ENOSYS (glibc falls back);
 *   - everything else as before.
 * The filter is made before the fork (libseccomp allocates) and installed by the child
 * with one prctl, async-signal-safe.
 */
#ifndef COVE_BACKENDS_VIRTIOFSD_FILTER_H
#define COVE_BACKENDS_VIRTIOFSD_FILTER_H

#include <linux/filter.h>

#include <cove/error.h>

/* The filter as BPF (prog->filter malloc'd; free it with virtiofsd_filter_free). */
int virtiofsd_filter_make(struct sock_fprog *prog, struct cove_error *err);
void virtiofsd_filter_free(struct sock_fprog *prog);

/* Sets no_new_privs and installs prog on the calling thread: 0, or -errno. Only system
 * calls: safe in a child between fork and exec. */
int virtiofsd_filter_install(const struct sock_fprog *prog);

#endif
