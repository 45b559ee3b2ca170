/*
 * snapshot.h — a VM's snapshots on disk (store box; `cove snapshot`, docs/BUNDLES.md).
 *
 *   vms/NAME/snapshots/id           this bundle's identity (16 hex digits, made by the first
 *                                   save): a snapshot records it, so that one copied from
 *                                   another VM's bundle is refused
 *   vms/NAME/snapshots/TAG/
 *     snapshot.json                 {"version": 1, "vm": ID, "created": UNIX TIME,
 *                                    "state": "running" | "stopped"}
 *     config.json                   the VM's configuration at the save
 *     DISK (disk.img ...)           per writable disk: an empty cdisk overlay over the layer
 *                                   frozen at the save (bases/ID/base.img), which keeps that
 *                                   layer alive (clone.c's collection follows it)
 *     machine, memory               a running VM's saved machine (docs/STATE-FORMAT.md)
 *
 * A save is built in snapshots/.tmp-PID-... and renamed to TAG; a restore renames a new
 * overlay over each disk. Disks are never copied: the VM's disk becomes an overlay over a
 * frozen base, and so does every restore.
 *
 * The steps are separate so that a running VM's helper process (src/vm/state_helper.c,
 * for src/vm/run.c) can do them with its machine paused, between the VMM closing and
 * reopening its disks; the *_stopped functions do the whole operation on a VM that is
 * not running, holding its run lock.
 */
#ifndef COVE_STORE_SNAPSHOT_H
#define COVE_STORE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cove/cove.h>

#define SNAPSHOT_META "snapshot.json"

/* Save 1: tag is valid and new, every writable disk is an image file (an NBD export is
 * refused), snapshots/ and its id exist; tmp is a new temporary directory in it, named for
 * process owner (the sweeps remove it once that process is gone: a running VM's helper
 * names the VMM). */
int store_snapshot_begin(const char *bundle, const char *name, const struct cove_config *cfg,
                         const char *tag, pid_t owner, char *tmp, size_t n,
                         struct cove_error *err);
/* Save 2: freezes every writable disk into tmp. Nothing may write the disks meanwhile. */
int store_snapshot_freeze(const char *bundle, const struct cove_config *cfg, const char *tmp,
                          struct cove_error *err);
/* Save 3: snapshot.json and config.json, then tmp becomes snapshots/TAG. running: tmp
 * holds a saved machine (machine, memory). */
int store_snapshot_publish(const char *bundle, const struct cove_config *cfg, const char *tmp,
                           const char *tag, bool running, struct cove_error *err);
void store_snapshot_abort(const char *tmp);

/* Restore 1: snapshots/TAG exists, was made of this bundle, and the configuration still
 * fits it (its disks; for a running one also CPUs, memory, network, shares): its
 * directory into dir, and whether it holds a running machine. */
int store_snapshot_find(const char *bundle, const char *name, const struct cove_config *cfg,
                        const char *tag, char *dir, size_t n, bool *running,
                        struct cove_error *err);
/* Restore 2: every writable disk becomes a new overlay over the snapshot's layer. */
int store_snapshot_restore_disks(const char *bundle, const struct cove_config *cfg,
                                 const char *dir, struct cove_error *err);

/* The whole operations on a VM that is not running. A suspended VM's saved machine is
 * part of its snapshot; restoring a running snapshot leaves the VM suspended at it,
 * a stopped one leaves it stopped (a saved machine it had is discarded). */
int store_snapshot_save_stopped(const char *name, const char *tag, struct cove_error *err);
int store_snapshot_restore_stopped(const char *name, const char *tag, bool *running,
                                   struct cove_error *err);
/* Any VM, running or not. */
int store_snapshot_list(const char *name, struct cove_snapshot_info **out, size_t *count,
                        struct cove_error *err);
int store_snapshot_delete(const char *name, const char *tag, struct cove_error *err);

#endif
