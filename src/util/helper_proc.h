/*
 * helper_proc.h — a helper process forked while the VMM may still fork (before its
 * seccomp filter), to do later what a confined VMM may not: make suspend's files
 * (src/vm/state_helper.c), start a cove network's switch (net_network.c), start virtiofsd
 * for a share when the guest reboots (virtiofsd.c). Each serves one kind of request on
 * values fixed at its fork, over a socket pair.
 */
#ifndef COVE_UTIL_HELPER_PROC_H
#define COVE_UTIL_HELPER_PROC_H

#include <sys/types.h>

/* The child's end of the socket pair, in the child. */
#define HELPER_FD 3

/* Forks the helper. In the child it returns 0: the child dies with this process
 * (PR_SET_PDEATHSIG), ignores the terminal's signals and SIGPIPE, is named name (as ps
 * shows it), and keeps only stdin/stdout/stderr and its end of a SOCK_SEQPACKET pair as
 * HELPER_FD: no disk (nor its lock), no socket of the VM; it keeps the host's file
 * system when this process prepared a jail (its own mount namespace: confined.h). In this
 * process it returns the child's pid once the child has left the jail's namespace (so a
 * jail entered right after cannot be copied), and *sock is its end (close-on-exec);
 * -errno on failure (-ECHILD: the child died first). */
pid_t helper_fork(const char *name, int *sock);

#endif
