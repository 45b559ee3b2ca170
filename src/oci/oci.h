/*
 * oci.h — the registry client's internal contract (the oci box; public API: cove/oci.h).
 *
 * A VM travels as one OCI image manifest (docs/OCI.md): the bundle's config.json inside the
 * config blob, every disk cut in fixed-size chunks (each a zstd layer annotated with the
 * file, offset, length and digest of its uncompressed bytes; all-zero chunks are left out),
 * boot files as whole-file layers of the same kind, a suspended VM's saved machine state
 * and memory (chunked as a disk) as layers of their own kinds. Everything a registry sends is hostile
 * input: a manifest is checked in full before a byte is written, a blob's digest before it
 * is kept, a chunk's uncompressed digest before it lands in a disk.
 *
 *   ref.c       REGISTRY/REPOSITORY[:TAG][@DIGEST]
 *   digest.c    SHA-256 digests ("sha256:HEX") and base64
 *   auth.c      credentials (COVE_HOME/auth.json, ~/.docker/config.json), challenges, tokens
 *   registry.c  HTTP requests through libcurl: scheme, auth, retries
 *   blob.c      blobs: HEAD, mount, upload (POST, PATCHes, PUT), download with verification
 *   manifest.c  the manifest and config blob: building them, checking them
 *   push.c, pull.c, cache.c (the local store of pulled images: COVE_HOME/cache/oci)
 *   clone.c     a VM from a pulled image (through src/store), login, logout
 *   lazy.c      cove clone --lazy, and the fetcher filling its disks as they are read
 *   prune.c     making the cache smaller
 */
#ifndef COVE_OCI_INTERNAL_H
#define COVE_OCI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include <cove/error.h>
#include <cove/oci.h>

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_ARTIFACT_TYPE "application/vnd.cove.vm.v1"
#define OCI_CONFIG_TYPE "application/vnd.cove.vm.config.v1+json"
#define OCI_CHUNK_TYPE "application/vnd.cove.disk.chunk.v1+zstd"
#define OCI_FILE_TYPE "application/vnd.cove.file.v1+zstd" /* kernel, initrd, firmware */
/* a suspended VM's saved state (docs/STATE-FORMAT.md): the machine file whole, the memory
 * file in chunks like a disk's */
#define OCI_STATE_TYPE "application/vnd.cove.state.machine.v1+zstd"
#define OCI_MEMORY_TYPE "application/vnd.cove.state.memory.chunk.v1+zstd"
#define OCI_STATE_FILE "state/machine"   /* the names the config blob gives them: the */
                                         /* bundle's BUNDLE_STATE_FILE, BUNDLE_STATE_MEMORY */
#define OCI_MEMORY_FILE "state/memory"
#define OCI_ANN_FILE "vnd.cove.file"
#define OCI_ANN_OFFSET "vnd.cove.offset"
#define OCI_ANN_LENGTH "vnd.cove.length"
#define OCI_ANN_DIGEST "vnd.cove.digest"
#define OCI_CHUNK_SIZE (64ull << 20)
#define OCI_MAX_CHUNK (256ull << 20)     /* largest chunk a pull accepts */
#define OCI_MAX_MANIFEST (4u << 20)      /* bytes of a manifest or config blob */
#define OCI_MAX_FILE_SIZE (16ull << 40)  /* a disk's virtual size */
#define OCI_MAX_LAYERS 100000
#define OCI_DIGEST_LEN 71                /* "sha256:" + 64 hex */

/* --- ref.c ----------------------------------------------------------------------------- */
struct oci_ref {
    char registry[256];  /* host[:port]; "docker.io" when the reference names none */
    char repository[256];
    char tag[129];       /* empty when only a digest is given */
    char digest[OCI_DIGEST_LEN + 1]; /* empty unless @sha256:... */
};
int oci_ref_parse(const char *text, struct oci_ref *out, struct cove_error *err);
/* registry/repository:tag or @digest, as a user wrote it (canonical). */
void oci_ref_format(const struct oci_ref *ref, char *buf, size_t n);
/* Whether host (without port) is loopback: localhost, 127.0.0.0/8, ::1. */
bool oci_host_is_loopback(const char *registry);
/* A registry name as login takes it: host[:port], no path, no scheme. */
int oci_registry_check(const char *registry, struct cove_error *err);

/* --- digest.c -------------------------------------------------------------------------- */
struct oci_hash;
struct oci_hash *oci_hash_new(void);
void oci_hash_update(struct oci_hash *h, const void *data, size_t len);
/* "sha256:HEX" into out (OCI_DIGEST_LEN + 1); resets the hash. */
void oci_hash_final(struct oci_hash *h, char *out);
void oci_hash_free(struct oci_hash *h);
void oci_digest(const void *data, size_t len, char *out);
/* "sha256:" + 64 lower-case hex digits. */
bool oci_digest_valid(const char *digest);
/* base64 of data (malloc'd), and back (NULL on bad input). */
char *oci_base64_encode(const void *data, size_t len);
char *oci_base64_decode(const char *text, size_t *len);

/* --- auth.c ---------------------------------------------------------------------------- */
/* The user and password stored for registry (cove's auth.json first, then
 * ~/.docker/config.json): 1 found, 0 none. */
int oci_auth_lookup(const char *registry, char *user, size_t ulen, char *pass, size_t plen);
int oci_auth_store(const char *registry, const char *user, const char *pass,
                   struct cove_error *err);
int oci_auth_remove(const char *registry, struct cove_error *err);
/* A WWW-Authenticate header: scheme "basic" or "bearer", and bearer's parameters. */
struct oci_challenge {
    char scheme[16];
    char realm[1024];
    char service[1024];
    char scope[1024];
};
int oci_challenge_parse(const char *header, struct oci_challenge *out);

/* --- registry.c ------------------------------------------------------------------------ */
struct oci_client;
/* Connects to ref's registry (GET /v2/): https, or plain http for a loopback registry or
 * with insecure when https fails; answers the auth challenge with the stored credentials
 * (user non-NULL: these instead). push asks for push access. */
int oci_client_open(const struct oci_ref *ref, const struct cove_oci_options *o, bool push,
                    const char *user, const char *pass, struct oci_client **out,
                    struct cove_error *err);
/* Another client of the same registry and repository, with the same scheme and the same
 * answer to the auth challenge (no request made): one per thread, as a client is used by
 * one thread at a time. */
int oci_client_dup(const struct oci_client *c, struct oci_client **out, struct cove_error *err);
void oci_client_free(struct oci_client *c);
/* Transfers of blobs at once, push and pull (each thread with its own clients). */
#define OCI_PARALLEL 4
const struct cove_oci_options *oci_client_options(const struct oci_client *c);
const char *oci_client_registry(const struct oci_client *c);
const char *oci_client_repository(const struct oci_client *c);

/* Where a response body goes: memory (up to max bytes), or a file while hashing. */
struct oci_response {
    long status;
    char *body;           /* memory sink: NUL-terminated, malloc'd */
    size_t len;
    size_t max;           /* memory sink: larger bodies fail the request */
    int fd;               /* >= 0: the body goes here (truncated on a retry) */
    char *into;           /* else, when set: the body goes here, at most limit bytes */
    struct oci_hash *hash; /* with fd or into: hashed as written */
    uint64_t written;
    uint64_t limit;       /* with fd: a larger body fails (0: none); with into: its size */
    char location[2048];
    char www_authenticate[1536];
    char content_type[256];
    uint64_t chunk_min;   /* OCI-Chunk-Min-Length: the least PATCH the registry takes */
};
void oci_response_free(struct oci_response *r);
/* METHOD path (relative to the registry's /v2/REPOSITORY/, or an absolute URL, or a path
 * from the registry's root when it starts with '/'), with an optional body and extra
 * headers (NULL-terminated). Retries transient failures; answers 401 once. 0 with any
 * HTTP status in r->status, or a negative errno (network) with a line in err. what (may
 * be NULL) names the transfer in debug messages. */
int oci_request(struct oci_client *c, const char *method, const char *path,
                const char *const *headers, const void *body, size_t body_len,
                const char *what, struct oci_response *r, struct cove_error *err);
/* The one line for an unexpected status: "REGISTRY: GET ...: 404 (NAME_UNKNOWN: ...)". */
int oci_status_error(struct oci_client *c, const char *what, const struct oci_response *r,
                     struct cove_error *err);

/* --- blob.c ---------------------------------------------------------------------------- */
/* 1 the repository has the blob, 0 it has not. */
int oci_blob_exists(struct oci_client *c, const char *digest, struct cove_error *err);
/* Uploads a blob: mounted from repository mount_from of the same registry when it is not
 * NULL and the registry can (1), else sent (0): in one PUT, or in PATCH requests
 * ($COVE_REGISTRY_UPLOAD_CHUNK bytes each, at least the registry's OCI-Chunk-Min-Length;
 * OCI_UPLOAD_PIECE when the registry refuses one PUT as too large, 413). */
int oci_blob_upload(struct oci_client *c, const char *digest, const void *data, size_t len,
                    const char *mount_from, const char *what, struct cove_error *err);
#define OCI_UPLOAD_PIECE (8u << 20)
/* $COVE_REGISTRY_UPLOAD_CHUNK: 0 unset, else bytes; -EINVAL with a line when not a size. */
int oci_upload_chunk(uint64_t *out, struct cove_error *err);
/* Downloads blob digest (size bytes) into buf (size bytes), hashed on the way: 0 only when
 * all of it arrived and its digest matched. */
int oci_blob_fetch(struct oci_client *c, const char *digest, uint64_t size, void *buf,
                   const char *what, struct cove_error *err);
/* The manifest of ref (by tag or digest): the body, its digest (as computed here, checked
 * against a digest reference), and whether it is cove's artifact. */
int oci_manifest_get(struct oci_client *c, const char *reference, char **body, size_t *len,
                     char *digest, struct cove_error *err);
int oci_manifest_put(struct oci_client *c, const char *reference, const char *body,
                     size_t len, struct cove_error *err);

/* --- manifest.c ------------------------------------------------------------------------ */
/* What a layer holds: a disk's chunk, a piece of a boot file, of the saved machine state,
 * a chunk of the saved memory. Each has its media type and goes only into its kind of file. */
enum oci_kind { OCI_KIND_DISK, OCI_KIND_BOOT, OCI_KIND_STATE, OCI_KIND_MEMORY };
struct oci_layer {
    char digest[OCI_DIGEST_LEN + 1]; /* of the compressed blob */
    uint64_t size;                   /* its length */
    char file[256];                  /* the bundle file it belongs to */
    uint64_t offset, length;         /* where its uncompressed bytes go */
    char data_digest[OCI_DIGEST_LEN + 1];
    enum oci_kind kind;              /* what its file is (its media type says) */
};
struct oci_file {
    char name[256];
    uint64_t size;
    bool disk;
};
/* The kind of a file: a disk, the saved state's machine or memory file (by name), else a
 * boot file. */
enum oci_kind oci_file_kind(const struct oci_file *f);
struct oci_manifest {
    char config_digest[OCI_DIGEST_LEN + 1];
    uint64_t config_size;
    struct oci_layer *layers;
    size_t nlayers;
};
/* The manifest's JSON text (malloc'd). */
char *oci_manifest_build(const struct oci_manifest *m, const char *created);
/* Checks everything: schema, media types (another artifact type is refused by name),
 * digests, annotations, bounds. what names the source in messages. */
int oci_manifest_parse(const char *text, size_t len, const char *what, struct oci_manifest *out,
                       struct cove_error *err);
void oci_manifest_free(struct oci_manifest *m);
/* The config blob: the bundle's config.json text and its files. */
char *oci_config_build(const char *vm_config_json, const struct oci_file *files, size_t nfiles);
/* Parses and checks it: vm_json (malloc'd) is the bundle's config.json; files (malloc'd). */
int oci_config_parse(const char *text, size_t len, char **vm_json, struct oci_file **files,
                     size_t *nfiles, struct cove_error *err);
/* The layers all lie in the files, chunk-aligned, at most one per offset. */
int oci_layers_check(const struct oci_manifest *m, const struct oci_file *files, size_t nfiles,
                     struct cove_error *err);

/* --- cache.c --------------------------------------------------------------------------- */
/* COVE_HOME/cache/oci and its blobs/sha256, images, refs.json, pushed.json; created when
 * missing. */
struct oci_cache {
    char dir[4096];
    char blobs[4096];
    char images[4096];
    char refs[4096];
    char pushed[4096];
};
int oci_cache_open(struct oci_cache *c, struct cove_error *err);
/* blobs/sha256/HEX, images/HEX */
int oci_cache_blob_path(const struct oci_cache *c, const char *digest, char *buf, size_t n);
int oci_cache_image_path(const struct oci_cache *c, const char *digest, char *buf, size_t n);
/* images/HEX.partial of an image's directory (images/HEX): a lazy clone's image until
 * every chunk is fetched (lazy.c). */
int oci_cache_partial_path(const char *dir, char *buf, size_t n);
/* The digest refs.json records for ref (canonical text): 0, or -ENOENT. */
int oci_cache_ref_get(const struct oci_cache *c, const char *ref, char *digest);
int oci_cache_ref_set(const struct oci_cache *c, const char *ref, const char *digest,
                      struct cove_error *err);
/* The blobs of registry's repositories this COVE_HOME knows -- the images pulled from it
 * and still cached, the manifests last pushed to it (pushed.json) -- each with a
 * repository that holds it (where a push can mount it from) and, for a layer, what it
 * decompresses to; sorted by digest (malloc'd). */
struct oci_known {
    char digest[OCI_DIGEST_LEN + 1];
    char repository[256];
    uint64_t size;                          /* the blob's */
    char data_digest[OCI_DIGEST_LEN + 1];   /* a layer's uncompressed digest; "" for a config */
    uint64_t length;                        /* and length */
};
int oci_cache_known_blobs(const char *registry, struct oci_known **out, size_t *count);
/* A repository known to hold digest, or NULL. */
const char *oci_known_repository(const struct oci_known *v, size_t n, const char *digest);
/* A known layer whose blob decompresses to length bytes of digest data_digest, or NULL. */
const struct oci_known *oci_known_data(const struct oci_known *v, size_t n,
                                       const char *data_digest, uint64_t length);
/* Records the manifest (text) pushed to ref (canonical text) in pushed.json, replacing
 * what ref had: what the next push knows the registry holds. The OCI_PUSHED_KEPT refs
 * pushed last are kept. */
#define OCI_PUSHED_KEPT 64
int oci_cache_pushed_set(const struct oci_cache *c, const char *ref, const char *manifest,
                         struct cove_error *err);
/* The cache's lock (refs.json changes, prune): an fd to pass to unlock (-1 tolerated). */
int oci_cache_lock(const struct oci_cache *c);
void oci_cache_unlock(int fd);

/* --- pull.c --------------------------------------------------------------------------- */
/* A pull under way (pull.c, and lazy.c's fetcher): the cache, the registry client, the
 * manifest, then (oci_pull_config) the VM's config and files. */
struct oci_pull {
    const struct cove_oci_options *o;
    struct oci_cache cache;
    struct oci_client *client;
    struct oci_manifest m;
    struct oci_file *files;
    size_t nfiles;
    char *vm_json;
    struct cove_oci_transfer *t;
    uint64_t done, total;
    int *fds;             /* the image's files being assembled, as p->files */
    int *dfds;            /* the same, O_DIRECT (-1: the file system does not take it) */
    /* the fetchers' (fetch_all), under lock */
    pthread_mutex_t lock;
    size_t next;          /* the next layer to fetch */
    int rc;               /* the first failure, its message in fail_err */
    struct cove_error fail_err;
};
/* The cache and client opened, ref's manifest fetched (*manifest, malloc'd even on
 * failure or NULL) and checked, the image's directory in the cache into dir (which may
 * not exist yet). Free p with oci_pull_free whatever this returns. */
int oci_pull_begin(struct oci_pull *p, const struct oci_ref *ref,
                   const struct cove_oci_options *o, struct cove_oci_transfer *t,
                   char **manifest, char *dir, size_t dirlen, struct cove_error *err);
/* The config blob: the VM's config.json and files, checked against the layers (what
 * names the image in messages). */
int oci_pull_config(struct oci_pull *p, const char *what, struct cove_error *err);
/* A blob into buf (size bytes): from the cache when there and intact, else fetched
 * through client, verified, kept in the cache. */
int oci_pull_blob(struct oci_pull *p, struct oci_client *client, const char *digest,
                  uint64_t size, const char *what, void *buf, struct cove_error *err);
/* A layer's blob (packed, its digest already checked) decompressed through dctx, a piece
 * at a time into buf (OCI_PLACE_PIECE bytes, aligned as oci_buffer's), its data written at
 * its offset of the file open as fd (dfd: the same, O_DIRECT, or -1) and hashed on the way:
 * 0 when it decompressed to its length and digest, else what it wrote is punched out. */
#define OCI_PLACE_PIECE (1u << 20)
int oci_place_layer(ZSTD_DCtx *dctx, const void *packed, const struct oci_layer *l, void *buf,
                    int fd, int dfd, struct cove_error *err);
/* A buffer for a chunk or a blob (free() it): aligned for O_DIRECT, and in huge pages where
 * the kernel gives them (madvise): a 4 KiB page fault per page first touched cost a quarter
 * of a pull's CPU on a virtualised host, whose page faults are dear (docs/OCI.md). */
#define OCI_BUFFER_ALIGN (2u << 20)
void *oci_buffer(size_t size);
/* An O_DIRECT descriptor of what fd is open to for writing (-1 where refused). */
int oci_open_direct(int fd);
void oci_pull_free(struct oci_pull *p);
/* Pulls ref into the cache; the image's directory into dir, its digest into t->digest. */
int oci_pull(const struct oci_ref *ref, const struct cove_oci_options *o,
             struct cove_oci_transfer *t, char *dir, size_t dirlen, struct cove_error *err);

#endif
