/*
 * state_helper.h — the file work of a running VM's `cove suspend` and `cove snapshot`,
 * done by a helper process.
 *
 * A running VM may open no file once its system-call filter is on (docs/SECURITY.md), yet
 * a suspend creates state/ in the bundle, and a snapshot makes snapshots/TAG, freezes the
 * disks and opens new images in their place. So a run forks this helper before the
 * filter, and the helper does that work and hands the VMM descriptors (SCM_RIGHTS):
 *
 *   suspend   create: a temporary directory with the two empty state files, their
 *             descriptors; the VMM writes them (machine_save); commit: the directory
 *             becomes state/ (fsync, rename, fsync of the bundle); abort: it is removed.
 *   snapshot  save: store_snapshot_begin (the tag checked), the two state files of the new
 *             snapshot's directory; freeze: its disk layers (store_snapshot_freeze, the VMM
 *             has closed its disks); publish or discard. restore: store_snapshot_find (the
 *             tag, the snapshot's VM and configuration checked), a running one's two files
 *             open to read; restore_disks: store_snapshot_restore_disks.
 *   disks     open_disk I: the descriptors of writable disk I's chain (block_disk_files_open,
 *             its checks and lock), for the VMM to open it again after a freeze or restore.
 *
 * The helper works only on what it was given at the fork (the bundle, the VM's name and
 * configuration): from the VMM it takes a request code, a snapshot tag (checked as the CLI
 * checks it) and a disk index (a writable disk of the configuration). A compromised VMM can
 * make it do no more than a user's `cove snapshot`/`cove suspend` of this VM could. One
 * request at a time (a mutex: the control socket's thread and the run loop both ask). It
 * ends when the VMM closes its socket or dies; a pending directory is removed then.
 */
#ifndef COVE_VM_STATE_HELPER_H
#define COVE_VM_STATE_HELPER_H

#include <stdbool.h>
#include <stddef.h>

#include <cove/config.h>
#include <cove/error.h>

struct state_helper;
struct disk_files;

/* Forks the helper for bundle (VM name, configuration cfg; its state/ is state_dir). */
int state_helper_start(const char *bundle, const char *name, const struct cove_config *cfg,
                       const char *state_dir, struct state_helper **out, struct cove_error *err);

/* A fresh temporary directory with "machine" and "memory" in it, empty: *state_fd and
 * *memory_fd are open to write them; dir (n bytes) gets its path, for messages. */
int state_helper_create(struct state_helper *h, int *state_fd, int *memory_fd, char *dir,
                        size_t n, struct cove_error *err);

/* The directory of the last create becomes state/ (both files must be fsynced). */
int state_helper_commit(struct state_helper *h, struct cove_error *err);

/* The directory of the last create is removed. */
void state_helper_abort(struct state_helper *h);

/* Snapshot save: begin makes snapshot tag's temporary directory with the two state files,
 * as create does; freeze freezes the disks into it; publish makes it snapshots/TAG;
 * discard removes it. */
int state_helper_snapshot_begin(struct state_helper *h, const char *tag, int *state_fd,
                                int *memory_fd, char *dir, size_t n, struct cove_error *err);
int state_helper_snapshot_freeze(struct state_helper *h, struct cove_error *err);
int state_helper_snapshot_publish(struct state_helper *h, struct cove_error *err);
void state_helper_snapshot_discard(struct state_helper *h);

/* Snapshot restore: find checks snapshot tag; *running says whether it holds a machine,
 * and then *state_fd and *memory_fd are its two files, open to read (else -1); dir gets
 * the snapshot's directory (messages). restore_disks puts its layers under the disks. */
int state_helper_restore_find(struct state_helper *h, const char *tag, bool *running,
                              int *state_fd, int *memory_fd, char *dir, size_t n,
                              struct cove_error *err);
int state_helper_restore_disks(struct state_helper *h, struct cove_error *err);

/* The files of the configuration's writable disk `index`, opened and locked as
 * block_disk_open would (for block_disk_open_files). */
int state_helper_open_disk(struct state_helper *h, unsigned index, struct disk_files *files,
                           struct cove_error *err);

/* Ends the helper (a pending directory is removed) and waits for it. NULL: nothing. */
void state_helper_stop(struct state_helper *h);

#endif
