/*
 * store.h — VM bundles on disk (the store box's internal contract).
 *
 *   $COVE_HOME (default ~/.cove)/
 *     vms/NAME/            a bundle: config.json, disk.img, kernel, initrd, run/
 *     bases/ID/base.img    read-only disk images shared by cdisk overlays (clone); two
 *                          levels down like vms/NAME/disk.img (see clone.c)
 *     .lock                serialises operations on bases/ (clone, delete, the sweep)
 *
 * Crash safety: every change is one rename(2) of something fully written under a
 * temporary name that starts with ".tmp-PID-" in the same directory. Such names are not
 * valid VM names, so nothing reads them; store_sweep_temps() removes those whose process
 * is gone. A running VM holds an exclusive flock on run/lock; operations that must not
 * meet a running VM take the same lock without waiting and keep it until they are done.
 */
#ifndef COVE_STORE_H
#define COVE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cove/error.h>

struct store {
    char home[PATH_MAX];
    char vms[PATH_MAX];
    char bases[PATH_MAX];
};

/* Resolves $COVE_HOME or ~/.cove and creates vms/ and bases/ when missing. */
int store_open(struct store *s, struct cove_error *err);

/* [A-Za-z0-9][A-Za-z0-9._-]{0,63}, with messages for '/', a leading '.', length. */
int store_check_name(const char *name, struct cove_error *err);
/* The same rule for another kind of name, `what` in the messages ("snapshot tag"). */
int store_check_label(const char *what, const char *name, struct cove_error *err);

/* mkdir -p with mode 0700 for what it creates. */
int store_mkdir_p(const char *path, struct cove_error *err);

/* vms/NAME into buf; -ENAMETOOLONG. */
int store_bundle_path(const struct store *s, const char *name, char *buf, size_t n);

/* Like store_bundle_path, and fails with "VM 'x' does not exist" unless it is there. */
int store_find(const struct store *s, const char *name, char *buf, size_t n,
               struct cove_error *err);

/* snprintf that reports truncation as -ENAMETOOLONG. */
int store_path(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A temporary name in dir: dir/.tmp-PID-TAG-RANDOM. */
int store_temp_path(const char *dir, const char *tag, char *buf, size_t n);
/* The same for process pid's temporary (a helper's work the sweep ties to the process it
 * serves: src/vm/state_helper.c). */
int store_temp_path_of(const char *dir, pid_t pid, const char *tag, char *buf, size_t n);

/* Writes data to dir/.tmp-..., fsyncs it and renames it to path; then fsyncs the
 * directory. The file ends with mode `mode`. */
int store_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct cove_error *err);

/* fsync of a directory (after renames in it). */
int store_sync_dir(const char *dir);

/* Removes dir/.tmp-PID-* whose PID no longer runs (files and whole trees). */
void store_sweep_temps(const char *dir);

/* rm -rf (no symlinks followed). */
int store_remove_tree(const char *path);

/* The run lock of a bundle. store_lock_bundle takes it without waiting: -EBUSY when a
 * VM runs (*holder_pid from run/pid, 0 if unknown) with "VM 'x' is running; stop it
 * first" in err (`doing` replaces "stop it first" when given). */
int store_lock_bundle(const char *bundle, const char *name, int *fd, pid_t *holder_pid,
                      struct cove_error *err);
void store_unlock_bundle(int fd);
/* Whether a process holds the run lock now, and its pid (0 if unknown). */
bool store_bundle_running(const char *bundle, pid_t *pid);

/* The store-wide lock (bases). Waits. */
int store_lock_global(const struct store *s, int *fd, struct cove_error *err);

/* Copies a file: FICLONE when the file system can, else a plain (sparse-aware) copy. */
int store_copy_file(const char *src, const char *dst, mode_t mode, struct cove_error *err);
/* The same from a file already open (src names it in messages). */
int store_copy_fd(int in, const char *src, const char *dst, mode_t mode,
                  struct cove_error *err);

/* Runs argv (PATH lookup) with stdin from in_path (or /dev/null) in directory cwd (or
 * here); stdout/stderr go to a pipe whose first line lands in err on failure. */
int store_spawn(char *const argv[], const char *in_path, const char *cwd, struct cove_error *err);
/* The same with a deadline: a command still running after timeout_ms (< 0: none) is killed
 * and the call fails with -ETIMEDOUT. Only stderr reaches the message; stdout (a tool's
 * banner) is dropped. */
int store_spawn_timed(char *const argv[], const char *in_path, const char *cwd, int timeout_ms,
                      struct cove_error *err);

#endif
