/*
 * lazy.h — a lazily cloned VM's disks, filled as the guest reads them (docs/OCI.md, "Lazy
 * pull").
 *
 * `cove clone --lazy REF NAME` leaves the image in the cache as images/HEX.partial/: its
 * boot files whole, its disks sparse, with NAME.present beside each disk (one bit per
 * chunk, set once the chunk's data is durable), and the bundle's lazy.json naming the
 * image. A run of such a VM starts a fetcher (oci_lazy_start, before the VMM's jail and
 * filter) and hooks the bottom image of each disk's chain (oci_lazy_attach): a read that
 * touches a chunk not yet present asks the fetcher, which GETs the chunk's blob, checks
 * its digest, decompresses it, checks the data's digest, writes it into the image and
 * sets its bit; only then does the read go on. A failure (the registry gone, a digest
 * that does not match) is an I/O error for that read, with one line from the fetcher
 * naming the chunk and the reason; a later read asks again. While the guest asks for
 * nothing, the fetcher fetches the other chunks in turn. When every chunk is present
 * the fetcher renames the image to images/HEX/ and the next run starts none.
 */
#ifndef COVE_OCI_LAZY_H
#define COVE_OCI_LAZY_H

#include <cove/error.h>

struct disk;
struct oci_lazy;

/* The bundle file naming a lazy clone's image: {"ref", "digest", "insecure"}. */
#define OCI_LAZY_FILE "lazy.json" /* BUNDLE_LAZY */
/* While the guest has asked for nothing for this long, the fetcher fetches the next chunk
 * not yet present, one at a time, in the manifest's order (COVE_LAZY_BACKGROUND=0: never). */
#define OCI_LAZY_IDLE_MS 1000
/* How long a read waits for the fetcher's answer before it fails with EIO. */
#define OCI_LAZY_TIMEOUT_MS 60000

/* For the bundle at path bundle: *out NULL when it is no lazy clone or its image is
 * complete; else the fetcher, forked now (call before the jail and the filter). */
int oci_lazy_start(const char *bundle, struct oci_lazy **out, struct cove_error *err);
/* Hooks d when the bottom of its chain is the image's file (by inode): its reads of
 * chunks not yet present wait for the fetcher. 1 hooked, 0 not the image's, < 0 error. */
int oci_lazy_attach(struct oci_lazy *l, struct disk *d, const char *file);
/* Stops the fetcher (the hooked disks must be closed first). NULL is fine. */
void oci_lazy_stop(struct oci_lazy *l);

#endif
