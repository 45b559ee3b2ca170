/*
 * state_helper.h — the file work of `cove suspend`, done by a helper process.
 *
 * A running VM may open no file once its system-call filter is on (docs/SECURITY.md), yet
 * a suspend creates state/ in the bundle. So a run forks this helper before the filter,
 * and the helper makes the files: it creates a temporary directory in the bundle with the
 * two empty state files in it and hands their descriptors back (SCM_RIGHTS), the VMM
 * writes them (machine_save), then the helper moves the directory to state/ (fsync of
 * the directory, rename, fsync of the bundle), or removes it. It serves only these three
 * requests, on the paths it was given at the fork: a compromised VMM can make it create
 * or remove nothing else. It ends when the VMM closes its socket or dies.
 */
#ifndef COVE_VM_STATE_HELPER_H
#define COVE_VM_STATE_HELPER_H

#include <stddef.h>

#include <cove/error.h>

struct state_helper;

/* Forks the helper for bundle (its state/ is state_dir). */
int state_helper_start(const char *bundle, const char *state_dir, struct state_helper **out,
                       struct cove_error *err);

/* A fresh temporary directory with "machine" and "memory" in it, empty: *state_fd and
 * *memory_fd are open to write them; dir (n bytes) gets its path, for messages. */
int state_helper_create(struct state_helper *h, int *state_fd, int *memory_fd, char *dir,
                        size_t n, struct cove_error *err);

/* The directory of the last create becomes state/ (both files must be fsynced). */
int state_helper_commit(struct state_helper *h, struct cove_error *err);

/* The directory of the last create is removed. */
void state_helper_abort(struct state_helper *h);

/* Ends the helper (a pending directory is removed) and waits for it. NULL: nothing. */
void state_helper_stop(struct state_helper *h);

#endif
