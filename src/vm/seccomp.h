/*
 * seccomp.h — the VMM's system-call allow-list (docs/SECURITY.md).
 *
 * Once a run has set up its machine (files, sockets and devices open, virtiofsd and the
 * NAT started), vmm_seccomp_install() sets no_new_privs and installs one seccomp filter
 * on every thread of the process (TSYNC): the system calls a running VM needs, and no
 * others. A call outside the list kills the process with the line
 *   cove: seccomp: the VMM made a system call outside its allow-list: NAME (NR)
 * on stderr (SECCOMP_RET_TRAP and a SIGSYS handler), never silently. There is no way back:
 * after it the process opens no file, executes nothing, makes no new socket but for the
 * families the NAT and the Unix sockets need.
 */
#ifndef COVE_VM_SECCOMP_H
#define COVE_VM_SECCOMP_H

#include <cove/error.h>

int vmm_seccomp_install(struct cove_error *err);

/* Writes the filter vmm_seccomp_install would install, as libseccomp's pseudo filter code
 * (PFC: one block per call named in it, "# filter for syscall "NAME" (NR)", then its
 * argument checks and action), to fd; the unit test reads what is allowed from it. */
int vmm_seccomp_export(int fd, struct cove_error *err);

/* The exit status of a process the filter killed: as if SIGSYS had killed it. */
#define VMM_SECCOMP_EXIT (128 + 31)

#endif
