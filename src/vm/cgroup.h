/*
 * cgroup.h — a VM's own cgroup (cgroup v2; docs/SECURITY.md, "Limits"): the run moves its
 * process into /sys/fs/cgroup/cove/NAME-PID, whose cpu.max holds `cove run --cpu-limit N`
 * (N CPUs' time per period) and whose memory.max holds the guest's RAM plus a bounded
 * overhead (vm_cgroup_memory_max). Processes forked afterwards (virtiofsd, the helpers)
 * are in it too. A cleaner process, forked before the move, removes the cgroup once the
 * run's process is gone: a jailed, confined VMM can remove nothing.
 */
#ifndef COVE_VM_CGROUP_H
#define COVE_VM_CGROUP_H

#include <stdint.h>

#include <cove/cove.h>

#define VM_CGROUP_ROOT "/sys/fs/cgroup"

struct vm_cgroup;

/* memory.max for a guest of ram bytes: the RAM, 256 MiB for the VMM itself (the JIT's
 * code, the devices' buffers, the NAT, virtiofsd), and 1/8 of the RAM (page tables, the
 * JIT's per-page tables, the host page cache of the disks, reclaimed first). */
uint64_t vm_cgroup_memory_max(uint64_t ram);

/* Makes the cgroup (name: the VM's, or "run") and moves this process into it. When cgroup
 * v2 with the cpu and memory controllers is not there or not writable: with a CPU limit
 * (cpu_limit_milli, thousandths of a CPU; 0: none) an error, else 0 with *out NULL and one log line. */
int vm_cgroup_start(const char *name, unsigned cpu_limit_milli, uint64_t ram,
                    struct vm_cgroup **out, struct cove_error *err);

/* The run is over: the cleaner removes the cgroup once this process has left it. */
void vm_cgroup_stop(struct vm_cgroup *g);

#endif
