/*
 * confined.h — what this process's confinement means for code below libcove's run:
 *
 * - whether it runs under the VMM's system-call filter (src/vm/seccomp.c sets it once the
 *   filter is on). Code that could otherwise open, fork or exec on its own (a network
 *   attachment starting its switch) asks first and does without: under the filter such a
 *   call ends the process.
 * - whether it made its own mount namespace for a jail (src/vm/jail.c): a process forked
 *   from it that must keep the host's file system (a helper, a network's switch) calls
 *   process_child_leave_jail_ns() first, so that the jail's mounts and pivot_root, made
 *   later in the VMM, do not reach it.
 * - whose VM it is: the uid that may drive it over its Unix sockets (usock_peer_is_owner),
 *   which the jail keeps when it drops the process to an unprivileged uid.
 */
#ifndef COVE_UTIL_CONFINED_H
#define COVE_UTIL_CONFINED_H

#include <stdbool.h>
#include <sys/types.h>

void process_set_confined(void);
bool process_confined(void);

void process_set_jail_ns(void);
bool process_jail_ns(void);
/* In a forked child: its own copy of the mount namespace when the parent prepared a jail
 * (0, or -errno); nothing otherwise. */
int process_child_leave_jail_ns(void);

/* The owner's uid: set before a jail changes this process's uid; geteuid() until then. */
void process_set_owner(uid_t uid);
uid_t process_owner(void);

#endif
