/*
 * cove/oci.h — VMs through OCI registries: push, pull, clone, login (docs/OCI.md).
 *
 * A reference is REGISTRY/REPOSITORY[:TAG][@sha256:HEX] (TAG defaults to "latest"). A VM
 * is pushed as one OCI image manifest of artifactType application/vnd.cove.vm.v1 that any
 * registry stores and any OCI tool copies. Pulled images live in COVE_HOME/cache/oci,
 * stored by manifest digest, their blobs by digest (shared between images); a tag pulled
 * once is not asked for again by clone (pull asks). Credentials: COVE_HOME/auth.json (0600,
 * written by login), then ~/.docker/config.json. TLS with the system's CAs, or the file
 * $COVE_REGISTRY_CA; plain HTTP only for a loopback registry or with insecure.
 * Every function returns 0 or a negative errno with one line in err.
 */
#ifndef COVE_OCI_H
#define COVE_OCI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

struct cove_oci_options {
    bool insecure; /* plain HTTP allowed and certificates not checked, for any registry */
    /* Called as data moves (what: "disk.img", "kernel"...), on a terminal; may be NULL. */
    void (*progress)(const char *what, uint64_t done, uint64_t total, void *opaque);
    void *opaque;
};

struct cove_oci_transfer {
    char digest[72];          /* the manifest's */
    unsigned blobs_sent;      /* push: uploaded; pull: downloaded */
    unsigned blobs_skipped;   /* push: already in the registry; pull: already in the cache */
    unsigned blobs_mounted;   /* push: mounted from another repository of the registry */
    unsigned chunks_known;    /* push: chunks every registry had, known from an earlier push
                               * or pull: not compressed again */
    uint64_t bytes_sent;      /* compressed bytes moved */
    uint64_t disk_bytes;      /* uncompressed bytes of the chunks and files */
};

/* Pushes the stopped VM name to every ref. */
int cove_oci_push(const char *name, const char *const *refs, unsigned nrefs,
                  const struct cove_oci_options *o, struct cove_oci_transfer *out,
                  struct cove_error *err);
/* Pulls ref into the cache (resuming from the blobs an interrupted pull kept). */
int cove_oci_pull(const char *ref, const struct cove_oci_options *o,
                  struct cove_oci_transfer *out, struct cove_error *err);
/* A new VM name from ref: pulled first unless the cache has it, then copy-on-write over
 * the cached disks, in constant time. pulled (may be NULL) says whether it pulled. */
int cove_oci_clone(const char *ref, const char *name, const struct cove_oci_options *o,
                   bool *pulled, struct cove_error *err);
/* cove clone --lazy: name made from ref's manifest, config and boot files alone; its
 * disks' chunks are fetched as the guest reads them (a fetcher `cove run` starts),
 * verified, and kept (docs/OCI.md, "Lazy pull"). An image pulled whole already makes an
 * ordinary clone. */
int cove_oci_clone_lazy(const char *ref, const char *name, const struct cove_oci_options *o,
                        struct cove_error *err);
/* Checks user/password against the registry, then stores them (auth.json, 0600). */
int cove_oci_login(const char *registry, const char *user, const char *password,
                   const struct cove_oci_options *o, struct cove_error *err);
/* Forgets the stored credentials of registry; -ENOENT when there were none. */
int cove_oci_logout(const char *registry, struct cove_error *err);
/* Whether text is a registry reference rather than a VM name (it has a '/'). */
bool cove_oci_is_ref(const char *text);

struct cove_oci_image {
    char ref[600];            /* as pulled: REGISTRY/REPOSITORY:TAG (or @DIGEST) */
    char digest[72];
    char dir[PATH_MAX];
    char pulled[32];          /* UTC, ISO 8601 */
    uint64_t disk_size;       /* the first disk's virtual size */
    uint64_t disk_used;       /* host bytes the image's files take */
    bool partial;             /* a lazy clone's image (cove clone --lazy): not every chunk
                               * of its disks fetched yet (dir is images/HEX.partial) */
};
/* Every tag (and digest) pulled, sorted by ref; free with free(). */
int cove_oci_list(struct cove_oci_image **out, size_t *count, struct cove_error *err);

struct cove_oci_prune {
    unsigned images;  /* images removed (with the tags that named them) */
    unsigned blobs;   /* blobs removed */
    uint64_t freed;   /* host bytes */
};
/* Empties the cache of what it can lose: every blob (installed images need none; only an
 * interrupted pull resumes from them), images no tag names, images pulled more than
 * older_than_s seconds ago (< 0: none), then the least recently pulled images until the
 * cache takes at most space_budget bytes (UINT64_MAX: no budget). VMs cloned from a removed
 * image keep working: their disks hold the image's through bases/. */
int cove_oci_prune(int64_t older_than_s, uint64_t space_budget, struct cove_oci_prune *out,
                   struct cove_error *err);

#endif
