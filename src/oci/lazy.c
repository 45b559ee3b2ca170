/*
 * Lazy pull (lazy.h): `cove clone --lazy REF NAME` makes NAME from the manifest, the config
 * blob and the boot files alone; the run's fetcher fills the disks chunk by chunk as the
 * guest reads them.
 *
 * Amended from the design in docs/OCI.md: the VMM does not read the image through an NBD
 * export of the fetcher. The cdisk overlay's backing is the image's sparse file itself
 * (hard-linked into bases/, as a full clone's is), opened before the filter like any
 * disk, and a fill hook on it (disk_set_fill) asks the fetcher over the helper's socket
 * pair for each chunk not yet known present. Reads of present chunks cost nothing more
 * than a full clone's, no NBD server is needed, the overlay format is unchanged, and the
 * wait is bounded by OCI_LAZY_TIMEOUT_MS rather than NBD's 5 s without progress, which a
 * 64 MiB chunk on a busy host can exceed.
 */
#include "oci/lazy.h"
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cove/config.h>

#include "disk/disk.h"
#include "store/bundle.h"
#include "util/helper_proc.h"
#include "util/log.h"

#define DIRECT_ALIGN 4096u
#define PRESENT_SUFFIX ".present"

struct lazy_req {
    uint64_t seq;
    uint64_t chunk;
    char file[256];
};
struct lazy_ans {
    uint64_t seq;
    int32_t rc;
};

/* --- cove clone --lazy ------------------------------------------------------------------ */

/* A file of the image being made in tmp: sparse at its size. */
static int create_file(const char *tmp, const struct oci_file *f, int *out,
                       struct cove_error *err)
{
    char path[4096];
    if (store_path(path, sizeof path, "%s/%s", tmp, f->name) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (!strncmp(f->name, BUNDLE_STATE_DIR "/", strlen(BUNDLE_STATE_DIR) + 1)) {
        char sdir[4096];
        if (store_path(sdir, sizeof sdir, "%s/" BUNDLE_STATE_DIR, tmp) < 0 ||
            (mkdir(sdir, 0700) < 0 && errno != EEXIST))
            return cove_error_set(err, -errno, "%s: %s", sdir, strerror(errno));
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)f->size) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cove_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    *out = fd;
    return 0;
}

/* Every layer that is not a disk's chunk (boot files, a saved state) into its file. */
static int place_non_disk(struct oci_pull *p, int *fds, struct cove_error *err)
{
    void *raw = oci_buffer(OCI_PLACE_PIECE), *packed = NULL;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t cap = 0;
    int rc = raw && dctx ? 0 : cove_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < p->m.nlayers && rc == 0; i++) {
        const struct oci_layer *l = &p->m.layers[i];
        if (l->kind == OCI_KIND_DISK)
            continue;
        if (l->size > cap) {
            free(packed);
            cap = (l->size + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
            if (!(packed = oci_buffer(cap))) {
                rc = cove_error_set(err, -ENOMEM, "out of memory");
                break;
            }
        }
        size_t k = 0;
        while (k < p->nfiles && strcmp(p->files[k].name, l->file)) /* there: layers_check */
            k++;
        char what[300];
        snprintf(what, sizeof what, "%s at %llu", l->file, (unsigned long long)l->offset);
        rc = oci_pull_blob(p, p->client, l->digest, l->size, what, packed, err);
        if (rc == 0)
            rc = oci_place_layer(dctx, packed, l, raw, fds[k], -1, err);
    }
    ZSTD_freeDCtx(dctx);
    free(raw);
    free(packed);
    return rc;
}

static uint64_t chunks_of(uint64_t size)
{
    return (size + OCI_CHUNK_SIZE - 1) / OCI_CHUNK_SIZE;
}

/* images/HEX.partial: the boot files whole, the disks sparse with an empty NAME.present
 * each, vm.json and manifest.json; made under a temporary name and renamed into place. */
static int make_partial(struct oci_pull *p, const char *partial, const char *manifest,
                        const char *what, struct cove_error *err)
{
    int rc = oci_pull_config(p, what, err);
    if (rc < 0)
        return rc;
    char tmp[4096];
    if (store_temp_path(p->cache.images, "image", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (mkdir(tmp, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    int *fds = calloc(p->nfiles ? p->nfiles : 1, sizeof *fds);
    if (!fds)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; fds && i < p->nfiles; i++)
        fds[i] = -1;
    for (size_t i = 0; rc == 0 && i < p->nfiles; i++)
        rc = create_file(tmp, &p->files[i], &fds[i], err);
    if (rc == 0)
        rc = place_non_disk(p, fds, err);
    for (size_t i = 0; rc == 0 && i < p->nfiles; i++) {
        if (!p->files[i].disk)
            continue;
        char path[4096];
        size_t bytes = (size_t)((chunks_of(p->files[i].size) + 7) / 8);
        char *zeros = calloc(1, bytes ? bytes : 1);
        if (store_path(path, sizeof path, "%s/%s" PRESENT_SUFFIX, tmp, p->files[i].name) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        else if (!zeros)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
        else
            rc = store_write_atomic(path, zeros, bytes, 0600, err);
        free(zeros);
    }
    for (size_t i = 0; fds && i < p->nfiles; i++) {
        if (fds[i] < 0)
            continue;
        /* boot files read-only now; disks stay writable for the fetcher until complete */
        if (rc == 0 && (fsync(fds[i]) < 0 || (!p->files[i].disk && fchmod(fds[i], 0400) < 0)))
            rc = cove_error_set(err, -errno, "%s: %s", p->files[i].name, strerror(errno));
        close(fds[i]);
    }
    free(fds);
    char path[4096];
    if (rc == 0 && store_path(path, sizeof path, "%s/vm.json", tmp) == 0)
        rc = store_write_atomic(path, p->vm_json, strlen(p->vm_json), 0400, err);
    if (rc == 0 && store_path(path, sizeof path, "%s/manifest.json", tmp) == 0)
        rc = store_write_atomic(path, manifest, strlen(manifest), 0400, err);
    if (rc == 0) {
        store_sync_dir(tmp);
        if (rename(tmp, partial) < 0 && errno != EEXIST && errno != ENOTEMPTY)
            rc = cove_error_set(err, -errno, "cannot create %s: %s", partial, strerror(errno));
        else
            store_sync_dir(p->cache.images);
    }
    if (access(tmp, F_OK) == 0)
        store_remove_tree(tmp); /* failed, or another clone made it first */
    return rc;
}

int cove_oci_clone_lazy(const char *text, const char *name, const struct cove_oci_options *o,
                        struct cove_error *err)
{
    struct oci_ref ref;
    int rc = oci_ref_parse(text, &ref, err);
    if (rc < 0 || (rc = store_check_name(name, err)) < 0)
        return rc;
    struct store s;
    char bundle[4096], what[600], dir[4096], partial[4200];
    if ((rc = store_open(&s, err)) < 0)
        return rc;
    if (store_bundle_path(&s, name, bundle, sizeof bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(bundle, F_OK) == 0)
        return cove_error_set(err, -EEXIST, "VM '%s' already exists", name);
    oci_ref_format(&ref, what, sizeof what);
    struct oci_pull p;
    struct cove_oci_transfer t;
    char *manifest;
    rc = oci_pull_begin(&p, &ref, o, &t, &manifest, dir, sizeof dir, err);
    if (rc == 0 && access(dir, F_OK) == 0) { /* pulled whole already: an ordinary clone */
        rc = oci_cache_ref_set(&p.cache, what, t.digest, err);
        if (rc == 0)
            rc = store_create_from_pulled(name, dir, t.digest + 7, NULL, err);
        free(manifest);
        oci_pull_free(&p);
        return rc;
    }
    if (rc == 0 && oci_cache_partial_path(dir, partial, sizeof partial) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0 && access(partial, F_OK) < 0)
        rc = make_partial(&p, partial, manifest, what, err);
    if (rc == 0)
        rc = oci_cache_ref_set(&p.cache, what, t.digest, err);
    char *lazy = NULL;
    if (rc == 0) {
        json_t *j = json_pack("{s:s, s:s, s:b}", "ref", what, "digest", t.digest, "insecure",
                              o && o->insecure);
        lazy = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!lazy)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = store_create_from_pulled(name, partial, t.digest + 7, lazy, err);
    free(lazy);
    free(manifest);
    oci_pull_free(&p);
    return rc;
}

/* --- the fetcher (a helper process) ------------------------------------------------------ */

struct fetch_file {
    char name[256];
    int fd, dfd, present_fd;
    uint8_t *present;
    uint64_t nchunks;
};

struct fetcher {
    struct oci_ref ref;
    struct cove_oci_options opts;
    char dir[4096];     /* images/HEX */
    char partial[4200]; /* images/HEX.partial, until complete */
    struct oci_pull p;  /* its cache, client (connected at the first fetch) and manifest */
    struct cove_oci_transfer t;
    struct fetch_file files[COVE_MAX_DISKS];
    unsigned nfiles;
    void *raw, *packed; /* a piece of a chunk (OCI_PLACE_PIECE), a blob */
    ZSTD_DCtx *dctx;
    size_t packed_cap;
    size_t bg_next;     /* the next layer the background looks at */
};

static bool bit(const uint8_t *v, uint64_t i)
{
    return v[i / 8] & (1u << (i % 8));
}

/* The image's disk file name, opened (with its bitmap) on first use. */
static struct fetch_file *fetch_file(struct fetcher *f, const char *name,
                                     struct cove_error *err)
{
    for (unsigned i = 0; i < f->nfiles; i++)
        if (!strcmp(f->files[i].name, name))
            return &f->files[i];
    if (f->nfiles == COVE_MAX_DISKS || !*name || strchr(name, '/') || name[0] == '.') {
        cove_error_set(err, -EINVAL, "%s: not a disk of the image", name);
        return NULL;
    }
    struct fetch_file *ff = &f->files[f->nfiles];
    *ff = (struct fetch_file){.fd = -1, .dfd = -1, .present_fd = -1};
    snprintf(ff->name, sizeof ff->name, "%s", name);
    char path[4400];
    struct stat st;
    int rc = 0;
    if (store_path(path, sizeof path, "%s/%s", f->partial, name) < 0 ||
        (ff->fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(ff->fd, &st) < 0)
        rc = cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc == 0 && (store_path(path, sizeof path, "%s/%s" PRESENT_SUFFIX, f->partial, name) < 0 ||
                    (ff->present_fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0))
        rc = cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc == 0) {
        ff->nchunks = chunks_of((uint64_t)st.st_size);
        size_t bytes = (size_t)((ff->nchunks + 7) / 8);
        ff->present = calloc(1, bytes ? bytes : 1);
        if (!ff->present || pread(ff->present_fd, ff->present, bytes, 0) < 0)
            rc = cove_error_set(err, -EIO, "%s: cannot read it", path);
    }
    if (rc < 0) {
        if (ff->fd >= 0)
            close(ff->fd);
        if (ff->present_fd >= 0)
            close(ff->present_fd);
        free(ff->present);
        return NULL;
    }
    ff->dfd = oci_open_direct(ff->fd);
    f->nfiles++;
    return ff;
}

/* The layer holding chunk of file, or NULL (an all-zero chunk: no layer). */
static const struct oci_layer *layer_of(const struct fetcher *f, const char *file,
                                        uint64_t chunk)
{
    for (size_t i = 0; i < f->p.m.nlayers; i++) {
        const struct oci_layer *l = &f->p.m.layers[i];
        if (l->kind == OCI_KIND_DISK && l->offset == chunk * OCI_CHUNK_SIZE &&
            !strcmp(l->file, file))
            return l;
    }
    return NULL;
}

/* Whether every disk chunk with a layer is present: then the image is renamed whole. */
static void finish_if_complete(struct fetcher *f)
{
    for (size_t i = 0; i < f->p.m.nlayers; i++) {
        const struct oci_layer *l = &f->p.m.layers[i];
        if (l->kind != OCI_KIND_DISK)
            continue;
        struct cove_error err;
        struct fetch_file *ff = fetch_file(f, l->file, &err);
        if (!ff || !bit(ff->present, l->offset / OCI_CHUNK_SIZE))
            return;
    }
    for (unsigned i = 0; i < f->nfiles; i++)
        if (fsync(f->files[i].fd) < 0 || fchmod(f->files[i].fd, 0400) < 0)
            return;
    if (rename(f->partial, f->dir) == 0) {
        store_sync_dir(f->p.cache.images);
        log_info("%s: the whole image is here now", f->dir);
    }
}

/* Makes chunk of file present: fetched, verified, written, its bit set. */
static int fetch_chunk(struct fetcher *f, const char *file, uint64_t chunk,
                       struct cove_error *err)
{
    struct fetch_file *ff = fetch_file(f, file, err);
    if (!ff)
        return -EINVAL;
    if (chunk >= ff->nchunks)
        return cove_error_set(err, -EINVAL, "%s: no chunk %llu", file, (unsigned long long)chunk);
    const struct oci_layer *l = layer_of(f, file, chunk);
    if (!l)
        return 0; /* zeros: a hole in the file */
    /* another VM's fetcher may have fetched it: the bitmap's byte read again, under its
     * lock, as it is changed */
    flock(ff->present_fd, LOCK_EX);
    int rc = pread(ff->present_fd, &ff->present[chunk / 8], 1, (off_t)(chunk / 8)) < 0 ? -errno : 0;
    flock(ff->present_fd, LOCK_UN);
    if (rc == 0 && bit(ff->present, chunk))
        return 0;
    rc = 0;
    if (!f->p.client)
        rc = oci_client_open(&f->ref, &f->opts, false, NULL, NULL, &f->p.client, err);
    if (rc == 0 && l->size > f->packed_cap) {
        free(f->packed);
        size_t cap = (l->size + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
        f->packed_cap = (f->packed = oci_buffer(cap)) ? cap : 0;
        if (!f->packed)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (rc == 0 && !f->raw && !(f->raw = oci_buffer(OCI_PLACE_PIECE)))
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0 && !f->dctx && !(f->dctx = ZSTD_createDCtx()))
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    char what[300];
    snprintf(what, sizeof what, "%s at %llu", file, (unsigned long long)l->offset);
    if (rc == 0)
        rc = oci_pull_blob(&f->p, f->p.client, l->digest, l->size, what, f->packed, err);
    if (rc == 0)
        rc = oci_place_layer(f->dctx, f->packed, l, f->raw, ff->fd, ff->dfd, err);
    if (rc == 0 && fdatasync(ff->fd) < 0) /* the data before the bit that says it is there */
        rc = cove_error_set(err, -errno, "%s: %s", file, strerror(errno));
    if (rc < 0)
        return rc;
    flock(ff->present_fd, LOCK_EX);
    uint8_t byte = 0;
    if (pread(ff->present_fd, &byte, 1, (off_t)(chunk / 8)) == 1)
        ff->present[chunk / 8] |= byte;
    ff->present[chunk / 8] |= (uint8_t)(1u << (chunk % 8));
    bool kept = pwrite(ff->present_fd, &ff->present[chunk / 8], 1, (off_t)(chunk / 8)) == 1;
    flock(ff->present_fd, LOCK_UN);
    if (!kept)
        log_warn("%s" PRESENT_SUFFIX ": cannot record chunk %llu (fetched again next time)",
                 file, (unsigned long long)chunk);
    finish_if_complete(f);
    return 0;
}

/* In the background, while the guest asks for nothing: the next chunk not yet present,
 * in the manifest's order. false when none is left (or fetching failed: the guest's own
 * misses go on trying, the background stops). */
static bool fetch_next(struct fetcher *f)
{
    for (; f->bg_next < f->p.m.nlayers; f->bg_next++) {
        const struct oci_layer *l = &f->p.m.layers[f->bg_next];
        if (l->kind != OCI_KIND_DISK)
            continue;
        struct cove_error err = {0};
        struct fetch_file *ff = fetch_file(f, l->file, &err);
        if (ff && bit(ff->present, l->offset / OCI_CHUNK_SIZE))
            continue;
        int rc = ff ? fetch_chunk(f, l->file, l->offset / OCI_CHUNK_SIZE, &err) : -EINVAL;
        if (rc < 0) {
            log_warn("%s: chunk at %llu: %s; fetching in the background stops (the guest's "
                     "reads still fetch)", l->file, (unsigned long long)l->offset, err.message);
            return false;
        }
        f->bg_next++;
        return true;
    }
    return false;
}

static void serve(struct fetcher *f)
{
    const char *bg = getenv("COVE_LAZY_BACKGROUND");
    bool background = !bg || strcmp(bg, "0");
    for (;;) {
        struct pollfd pfd = {HELPER_FD, POLLIN, 0};
        int r = poll(&pfd, 1, background ? OCI_LAZY_IDLE_MS : -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            background = fetch_next(f);
            continue;
        }
        struct lazy_req req;
        ssize_t n = recv(HELPER_FD, &req, sizeof req, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        struct lazy_ans ans = {.seq = req.seq};
        struct cove_error err = {0};
        if ((size_t)n != sizeof req || !memchr(req.file, 0, sizeof req.file))
            ans.rc = -EINVAL;
        else
            ans.rc = fetch_chunk(f, req.file, req.chunk, &err);
        if (ans.rc < 0)
            log_error("%s: chunk at %llu: %s", req.file,
                      (unsigned long long)(req.chunk * OCI_CHUNK_SIZE),
                      err.message[0] ? err.message : strerror(-ans.rc));
        if (send(HELPER_FD, &ans, sizeof ans, MSG_NOSIGNAL) < 0)
            break;
    }
}

/* --- the VMM's side ---------------------------------------------------------------------- */

struct lazy_disk {
    struct oci_lazy *l;
    char file[256];
    uint64_t nchunks;
    uint8_t *known; /* chunks the fetcher said are present */
};

struct oci_lazy {
    pid_t pid;
    int sock;
    pthread_mutex_t lock; /* one request at a time on the socket */
    uint64_t seq;
    uint64_t image_dev, image_ino[COVE_MAX_DISKS];
    char image_file[COVE_MAX_DISKS][256];
    unsigned nimage;
    struct lazy_disk disks[COVE_MAX_DISKS];
    unsigned ndisks;
};

/* One chunk asked of the fetcher: 0 present, else -EIO. */
static int ask(struct oci_lazy *l, const char *file, uint64_t chunk)
{
    struct lazy_req req = {.chunk = chunk};
    snprintf(req.file, sizeof req.file, "%s", file);
    pthread_mutex_lock(&l->lock);
    req.seq = ++l->seq;
    int rc = send(l->sock, &req, sizeof req, MSG_NOSIGNAL) == (ssize_t)sizeof req ? 0 : -EIO;
    struct lazy_ans ans = {0};
    while (rc == 0) {
        struct pollfd pfd = {l->sock, POLLIN, 0};
        int r = poll(&pfd, 1, OCI_LAZY_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            log_error("%s: chunk at %llu: the fetcher did not answer in %d s", file,
                      (unsigned long long)(chunk * OCI_CHUNK_SIZE), OCI_LAZY_TIMEOUT_MS / 1000);
            rc = -EIO;
            break;
        }
        ssize_t n = recv(l->sock, &ans, sizeof ans, 0);
        if (n == (ssize_t)sizeof ans && ans.seq == req.seq)
            break;
        if (n <= 0 && !(n < 0 && errno == EINTR))
            rc = -EIO; /* the fetcher is gone */
        /* else an answer to a request that timed out: skipped */
    }
    pthread_mutex_unlock(&l->lock);
    return rc < 0 ? rc : ans.rc < 0 ? -EIO : 0;
}

static int lazy_fill(void *opaque, uint64_t off, uint64_t len)
{
    struct lazy_disk *d = opaque;
    for (uint64_t c = off / OCI_CHUNK_SIZE; c <= (off + len - 1) / OCI_CHUNK_SIZE; c++) {
        if (c >= d->nchunks || bit(d->known, c))
            continue;
        int rc = ask(d->l, d->file, c);
        if (rc < 0)
            return rc;
        d->known[c / 8] |= (uint8_t)(1u << (c % 8));
    }
    return 0;
}

/* lazy.json of the bundle: the image's ref, digest and whether --insecure. */
static int read_lazy(const char *bundle, struct oci_ref *ref, char *digest, bool *insecure,
                     struct cove_error *err)
{
    char path[4096];
    if (store_path(path, sizeof path, "%s/" OCI_LAZY_FILE, bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "path too long");
    if (access(path, F_OK) < 0)
        return 0;
    json_t *j = json_load_file(path, 0, NULL);
    const char *r = json_string_value(json_object_get(j, "ref"));
    const char *d = json_string_value(json_object_get(j, "digest"));
    *insecure = json_is_true(json_object_get(j, "insecure"));
    int rc = r && oci_digest_valid(d) && oci_ref_parse(r, ref, NULL) == 0 ? 1 : 0;
    if (rc)
        snprintf(digest, OCI_DIGEST_LEN + 1, "%s", d);
    json_decref(j);
    return rc ? 1 : cove_error_set(err, -EINVAL, "%s: damaged; the VM cannot find its image",
                                   path);
}

int oci_lazy_start(const char *bundle, struct oci_lazy **out, struct cove_error *err)
{
    *out = NULL;
    struct fetcher *f = calloc(1, sizeof *f);
    if (!f)
        return cove_error_set(err, -ENOMEM, "out of memory");
    char digest[OCI_DIGEST_LEN + 1];
    bool insecure = false;
    int rc = read_lazy(bundle, &f->ref, digest, &insecure, err);
    if (rc <= 0) {
        free(f);
        return rc;
    }
    f->opts.insecure = insecure;
    f->p.t = &f->t;
    pthread_mutex_init(&f->p.lock, NULL);
    rc = oci_cache_open(&f->p.cache, err);
    if (rc == 0 && (oci_cache_image_path(&f->p.cache, digest, f->dir, sizeof f->dir) < 0 ||
                    oci_cache_partial_path(f->dir, f->partial, sizeof f->partial) < 0))
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    /* The partial image, while it is there, is what the VM's disks end in (a full pull of
     * the same image meanwhile made another file); renamed to images/HEX when complete. */
    if (rc < 0 || (access(f->partial, F_OK) < 0 && access(f->dir, F_OK) == 0)) {
        free(f);
        return rc;
    }
    char ref[600], path[4400];
    oci_ref_format(&f->ref, ref, sizeof ref);
    struct oci_lazy *l = calloc(1, sizeof *l);
    char *text = NULL;
    FILE *mf = NULL;
    if (!l)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    else if (store_path(path, sizeof path, "%s/manifest.json", f->partial) < 0 ||
             !(mf = fopen(path, "re")))
        rc = cove_error_set(err, -ENOENT, "the VM was cloned lazily from %s, and the cache no "
                            "longer holds that image's download (%s); clone it again",
                            ref, f->partial);
    size_t len = 0;
    if (rc == 0) {
        text = calloc(1, OCI_MAX_MANIFEST + 1);
        len = text ? fread(text, 1, OCI_MAX_MANIFEST, mf) : 0;
        rc = text ? oci_manifest_parse(text, len, path, &f->p.m, err)
                  : cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (mf)
        fclose(mf);
    free(text);
    /* the image's disk files: which inodes a disk's chain must end in to be hooked */
    for (size_t i = 0; rc == 0 && i < f->p.m.nlayers && l->nimage < COVE_MAX_DISKS; i++) {
        const struct oci_layer *ly = &f->p.m.layers[i];
        bool seen = ly->kind != OCI_KIND_DISK;
        for (unsigned k = 0; k < l->nimage && !seen; k++)
            seen = !strcmp(l->image_file[k], ly->file);
        struct stat st;
        if (seen || store_path(path, sizeof path, "%s/%s", f->partial, ly->file) < 0 ||
            stat(path, &st) < 0)
            continue;
        snprintf(l->image_file[l->nimage], sizeof l->image_file[0], "%s", ly->file);
        l->image_dev = (uint64_t)st.st_dev;
        l->image_ino[l->nimage++] = (uint64_t)st.st_ino;
    }
    if (rc == 0) {
        pthread_mutex_init(&l->lock, NULL);
        pid_t pid = helper_fork("cove-fetch", &l->sock);
        if (pid == 0) { /* the fetcher */
            serve(f);
            _exit(0);
        }
        if (pid < 0)
            rc = cove_error_set(err, (int)pid, "cannot start the image's fetcher: %s",
                                strerror((int)-pid));
        l->pid = pid;
    }
    oci_manifest_free(&f->p.m);
    free(f);
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int oci_lazy_attach(struct oci_lazy *l, struct disk *d, const char *file)
{
    if (!l || !d)
        return 0;
    struct disk *bottom = disk_chain_bottom(d);
    uint64_t dev, ino;
    if (disk_file_id(bottom, &dev, &ino) < 0 || dev != l->image_dev)
        return 0;
    for (unsigned k = 0; k < l->nimage; k++) {
        if (ino != l->image_ino[k] || strcmp(file, l->image_file[k]))
            continue;
        /* the same disk opened again (after a snapshot): what is known stays known */
        for (unsigned i = 0; i < l->ndisks; i++)
            if (!strcmp(l->disks[i].file, file)) {
                disk_set_fill(bottom, lazy_fill, &l->disks[i]);
                return 1;
            }
        if (l->ndisks == COVE_MAX_DISKS)
            return -ENOSPC;
        struct lazy_disk *ld = &l->disks[l->ndisks];
        ld->l = l;
        snprintf(ld->file, sizeof ld->file, "%s", file);
        ld->nchunks = chunks_of(disk_size(bottom));
        if (!(ld->known = calloc(1, (size_t)((ld->nchunks + 7) / 8) + 1)))
            return -ENOMEM;
        l->ndisks++;
        disk_set_fill(bottom, lazy_fill, ld);
        return 1;
    }
    return 0;
}

void oci_lazy_stop(struct oci_lazy *l)
{
    if (!l)
        return;
    close(l->sock);
    while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    for (unsigned i = 0; i < l->ndisks; i++)
        free(l->disks[i].known);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
