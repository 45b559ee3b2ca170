/*
 * cove pull REF: the manifest (checked in full: cove's artifact type, every layer inside
 * the VM's files), every blob not yet in the cache fetched (OCI_PARALLEL at once) and
 * verified in memory and kept in the cache (an interrupted pull resumes from those it kept),
 * and as each arrives the image is assembled under a temporary name -- the chunk
 * decompressed 1 MiB at a time, each piece hashed and written at its offset of a sparse file
 * while in cache, its uncompressed digest checked at the end (a mismatch punches it out) --
 * then renamed to images/DIGEST. Nothing is installed unless all of it checked. The blobs and
 * the image's data are written past the page cache (O_DIRECT, where the file system takes it):
 * the image is fsynced before it is installed, and a buffered write of a whole disk followed
 * by that fsync costs about three times the direct writes on a busy host (docs/PERFORMANCE.md).
 */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "disk/disk_internal.h" /* disk_buf_is_zero, disk_pread_full, disk_pwrite_full */
#include "store/bundle.h"
#include "util/fdio.h"

#define SPARSE_BLOCK 4096u
#define DIRECT_ALIGN 4096u /* offsets, lengths and buffers of the O_DIRECT writes */

void *oci_buffer(size_t size)
{
    size_t len = (size + OCI_BUFFER_ALIGN - 1) / OCI_BUFFER_ALIGN * OCI_BUFFER_ALIGN;
    void *buf = aligned_alloc(OCI_BUFFER_ALIGN, len ? len : OCI_BUFFER_ALIGN);
    if (buf)
        madvise(buf, len, MADV_HUGEPAGE); /* a hint: where refused, 4 KiB pages */
    return buf;
}

/* An O_DIRECT descriptor of what fd is open to (-1 where the file system refuses it). */
int oci_open_direct(int fd)
{
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    return open(self, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

/* buf[0..len) at off of the file open as fd: its aligned part through dfd (O_DIRECT, when
 * >= 0: buf and off aligned to DIRECT_ALIGN), the rest (or all, if dfd refuses) through fd. */
static int write_at(int fd, int dfd, const char *buf, size_t len, uint64_t off)
{
    size_t direct = dfd >= 0 && off % DIRECT_ALIGN == 0 && (uintptr_t)buf % DIRECT_ALIGN == 0
                        ? len / DIRECT_ALIGN * DIRECT_ALIGN : 0;
    int rc = direct ? disk_pwrite_full(dfd, buf, direct, off) : 0;
    if (rc == -EINVAL) {
        direct = 0; /* not here after all: buffered */
        rc = 0;
    }
    if (rc == 0 && len > direct)
        rc = disk_pwrite_full(fd, buf + direct, len - direct, off + direct);
    return rc;
}

/* Keeps a verified blob in the cache at path: a temporary file renamed into place. No
 * fsync: a blob is hashed again whenever it is used (fetch_blob), so one a crash damaged
 * is fetched again, never trusted. */
static int keep_blob(const char *path, const void *buf, uint64_t size, struct cove_error *err)
{
    char dir[4096], tmp[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    if (store_temp_path(dir, "blob", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cove_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
    int dfd = oci_open_direct(fd);
    int rc = write_at(fd, dfd, buf, size, 0);
    if (dfd >= 0)
        close(dfd);
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return cove_error_set(err, rc, "%s: %s", path, strerror(-rc));
    }
    return 0;
}

/* Whether the cached blob at path is size bytes with that digest: read into buf. */
static bool cached_blob(const char *path, const char *digest, uint64_t size, void *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && (uint64_t)st.st_size == size &&
              disk_pread_full(fd, buf, size, 0) == 0;
    close(fd);
    char got[OCI_DIGEST_LEN + 1];
    if (ok) {
        oci_digest(buf, size, got);
        ok = !strcmp(got, digest);
    }
    return ok;
}

/* The blob into buf (size bytes): from the cache when it is there and intact, else fetched
 * through client, verified and kept in the cache. */
int oci_pull_blob(struct oci_pull *p, struct oci_client *client, const char *digest,
                  uint64_t size, const char *what, void *buf, struct cove_error *err)
{
    char path[4096];
    if (oci_cache_blob_path(&p->cache, digest, path, sizeof path) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (cached_blob(path, digest, size, buf)) {
        pthread_mutex_lock(&p->lock);
        p->t->blobs_skipped++;
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    unlink(path); /* absent, or damaged: fetched again */
    int rc = oci_blob_fetch(client, digest, size, buf, what, err);
    if (rc == 0)
        rc = keep_blob(path, buf, size, err);
    if (rc == 0) {
        pthread_mutex_lock(&p->lock);
        p->t->blobs_sent++;
        p->t->bytes_sent += size;
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

/* The config blob: the VM's config.json and its files, checked against the layers. */
int oci_pull_config(struct oci_pull *p, const char *what, struct cove_error *err)
{
    struct cove_error cerr; /* messages of the checks, prefixed with the image's name */
    char *text = calloc(1, p->m.config_size + 1); /* at most OCI_MAX_MANIFEST: manifest.c */
    if (!text)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = oci_pull_blob(p, p->client, p->m.config_digest, p->m.config_size, "config", text,
                           err);
    if (rc < 0) {
        free(text);
        return rc;
    }
    rc = oci_config_parse(text, p->m.config_size, &p->vm_json, &p->files, &p->nfiles, &cerr);
    free(text);
    if (rc < 0)
        return cove_error_set(err, rc, "%s: %s", what, cerr.message);
    struct cove_config cfg;
    if ((rc = cove_config_parse(p->vm_json, strlen(p->vm_json), "the VM's config", &cfg, &cerr)) < 0)
        return cove_error_set(err, rc, "%s: %s", what, cerr.message);
    /* every file the configuration names travels in the image */
    const char *named[COVE_MAX_DISKS + 3];
    unsigned n = 0;
    for (unsigned i = 0; i < cfg.ndisks; i++)
        named[n++] = cfg.disks[i].file;
    named[n++] = cfg.kernel;
    if (cfg.initrd)
        named[n++] = cfg.initrd;
    if (cfg.firmware)
        named[n++] = cfg.firmware;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        bool found = false;
        for (size_t j = 0; j < p->nfiles && !found; j++)
            found = !strcmp(p->files[j].name, named[i]) && p->files[j].disk == (i < cfg.ndisks);
        if (!found)
            rc = cove_error_set(err, -EPROTO, "%s: the VM names '%s', which the image does not "
                                "hold", what, named[i]);
    }
    cove_config_free(&cfg);
    /* a suspended VM's state: both its files or neither */
    unsigned state = 0;
    for (size_t j = 0; j < p->nfiles; j++)
        state += oci_file_kind(&p->files[j]) == OCI_KIND_STATE ||
                 oci_file_kind(&p->files[j]) == OCI_KIND_MEMORY;
    if (rc == 0 && state == 1)
        rc = cove_error_set(err, -EPROTO, "%s: the image holds half a saved state (both "
                            OCI_STATE_FILE " and " OCI_MEMORY_FILE ", or neither)", what);
    if (rc == 0 && (rc = oci_layers_check(&p->m, p->files, p->nfiles, &cerr)) < 0)
        rc = cove_error_set(err, rc, "%s: %s", what, cerr.message);
    for (size_t i = 0; i < p->nfiles; i++)
        p->total += p->files[i].size;
    return rc;
}

/* n bytes of a chunk's data (buf) at off of the file open as fd: only the runs of blocks
 * holding data, so that the file stays as sparse as the pushed disk. */
static int place_data(const char *buf, size_t n, uint64_t off, int fd, int dfd)
{
    for (size_t pos = 0; pos < n;) {
        size_t blk = n - pos < SPARSE_BLOCK ? n - pos : SPARSE_BLOCK;
        if (disk_buf_is_zero(buf + pos, blk)) {
            pos += blk;
            continue;
        }
        size_t end = pos + blk;
        while (end < n) {
            size_t b = n - end < SPARSE_BLOCK ? n - end : SPARSE_BLOCK;
            if (disk_buf_is_zero(buf + end, b))
                break;
            end += b;
        }
        int rc = write_at(fd, dfd, buf + pos, end - pos, off + pos);
        if (rc < 0)
            return rc;
        /* buffered: start the write-back now, beside the next chunk's work, so that the
         * fsync before the image is renamed into place has little left to wait for */
        if (dfd < 0)
            sync_file_range(fd, (off_t)(off + pos), (off_t)(end - pos), SYNC_FILE_RANGE_WRITE);
        pos = end;
    }
    return 0;
}

/* One layer into the file open as fd: decompressed OCI_PLACE_PIECE bytes at a time into buf,
 * each piece hashed and written while it is in the CPU's cache (one pass over the data; a
 * 64 MiB buffer decompressed whole, then hashed, then scanned for zeros went through memory
 * three times). What it wrote is punched out again unless its digest matched. */
int oci_place_layer(ZSTD_DCtx *dctx, const void *packed, const struct oci_layer *l, void *buf,
                    int fd, int dfd, struct cove_error *err)
{
    struct oci_hash *h = oci_hash_new();
    if (!h)
        return cove_error_set(err, -ENOMEM, "out of memory");
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    ZSTD_inBuffer in = {packed, l->size, 0};
    ZSTD_outBuffer out = {buf, OCI_PLACE_PIECE, 0};
    uint64_t done = 0;
    size_t left = 1; /* what zstd says of the frame: 0 once it ended */
    int rc = 0;
    bool wrote = false;
    for (;;) {
        size_t in_was = in.pos, out_was = out.pos;
        size_t r = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(r)) {
            rc = -EBADMSG;
            break;
        }
        if (in.pos != in_was || out.pos != out_was)
            left = r; /* a call with nothing to do says what a next frame would need */
        bool end = in.pos == in.size && out.pos < out.size;
        if (out.pos == out.size || end) {
            if (out.pos > l->length - done) {
                rc = -EBADMSG; /* more than it announced */
                break;
            }
            oci_hash_update(h, buf, out.pos);
            wrote = true;
            if ((rc = place_data(buf, out.pos, l->offset + done, fd, dfd)) < 0) {
                cove_error_set(err, rc, "%s: writing: %s", l->file, strerror(-rc));
                break;
            }
            done += out.pos;
            out.pos = 0;
        }
        if (end)
            break;
    }
    if (rc == -EBADMSG || (rc == 0 && (left != 0 || done != l->length)))
        rc = cove_error_set(err, -EBADMSG, "blob %s (%s at %llu) does not decompress to its "
                            "%llu bytes; refusing it", l->digest, l->file,
                            (unsigned long long)l->offset, (unsigned long long)l->length);
    char got[OCI_DIGEST_LEN + 1];
    oci_hash_final(h, got);
    oci_hash_free(h);
    if (rc == 0 && strcmp(got, l->data_digest))
        rc = cove_error_set(err, -EBADMSG, "%s at %llu: the data does not match its digest "
                            "%s; refusing it", l->file, (unsigned long long)l->offset,
                            l->data_digest);
    if (rc < 0 && wrote) /* none of it stays: the chunk is a hole again, as before */
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)l->offset,
                  (off_t)l->length);
    return rc;
}

static int write_file(const char *dir, const char *name, const char *text,
                      struct cove_error *err)
{
    char path[4096];
    if (store_path(path, sizeof path, "%s/%s", dir, name) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return store_write_atomic(path, text, strlen(text), 0400, err);
}

struct fetcher {
    struct oci_pull *p;
    struct oci_client *client;
    ZSTD_DCtx *dctx;
    void *raw;     /* a piece of a chunk's uncompressed bytes (OCI_PLACE_PIECE, aligned) */
    void *packed;  /* a blob (grown to the largest so far, aligned for O_DIRECT) */
    size_t packed_cap;
    pthread_t thread;
};

/* A fetcher: the next layer not yet taken, fetched (unless cached) and placed in its file,
 * until none is left or one has failed. */
static void *fetch_layers(void *opaque)
{
    struct fetcher *f = opaque;
    struct oci_pull *p = f->p;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        bool stop = p->rc < 0 || i >= p->m.nlayers;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        const struct oci_layer *l = &p->m.layers[i];
        char what[300];
        struct cove_error err;
        snprintf(what, sizeof what, "%s at %llu", l->file, (unsigned long long)l->offset);
        int rc = 0;
        if (l->size > f->packed_cap) { /* at most OCI_MAX_CHUNK and a bit: manifest.c */
            size_t cap = l->size > OCI_CHUNK_SIZE ? l->size : OCI_CHUNK_SIZE;
            free(f->packed);
            f->packed_cap = (f->packed = oci_buffer(cap)) ? cap : 0;
            if (!f->packed)
                rc = cove_error_set(&err, -ENOMEM, "out of memory");
        }
        if (rc == 0)
            rc = oci_pull_blob(p, f->client, l->digest, l->size, what, f->packed, &err);
        size_t k = 0;
        while (k < p->nfiles && strcmp(p->files[k].name, l->file)) /* there: layers_check */
            k++;
        if (rc == 0)
            rc = oci_place_layer(f->dctx, f->packed, l, f->raw, p->fds[k], p->dfds[k], &err);
        pthread_mutex_lock(&p->lock);
        if (rc == 0)
            p->t->disk_bytes += l->length;
        if (rc < 0 && p->rc == 0) {
            p->rc = rc;
            p->fail_err = err;
        }
        p->done += l->length;
        if (rc == 0 && p->o && p->o->progress)
            p->o->progress(l->file, p->done, p->total, p->o->opaque);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Every layer's blob into the cache and its data into the image's files (p->fds),
 * OCI_PARALLEL at once, each fetcher with a client of its own: one decompresses and writes
 * while others download. */
static int fetch_all(struct oci_pull *p, struct cove_error *err)
{
    struct fetcher f[OCI_PARALLEL];
    unsigned n = 0;
    int rc = 0;
    for (; n < OCI_PARALLEL && rc == 0; n++) {
        f[n] = (struct fetcher){.p = p};
        f[n].raw = oci_buffer(OCI_PLACE_PIECE);
        f[n].dctx = ZSTD_createDCtx();
        if (!f[n].raw || !f[n].dctx) {
            free(f[n].raw);
            ZSTD_freeDCtx(f[n].dctx);
            rc = cove_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        if ((rc = oci_client_dup(p->client, &f[n].client, err)) < 0) {
            free(f[n].raw);
            ZSTD_freeDCtx(f[n].dctx);
            break;
        }
        if (pthread_create(&f[n].thread, NULL, fetch_layers, &f[n]) != 0) {
            oci_client_free(f[n].client);
            free(f[n].raw);
            ZSTD_freeDCtx(f[n].dctx);
            rc = cove_error_set(err, -EAGAIN, "cannot start a thread");
            break;
        }
    }
    if (rc < 0) { /* those started stop after their current blob */
        pthread_mutex_lock(&p->lock);
        if (p->rc == 0)
            p->rc = rc;
        pthread_mutex_unlock(&p->lock);
    }
    for (unsigned i = 0; i < n; i++) {
        pthread_join(f[i].thread, NULL);
        oci_client_free(f[i].client);
        free(f[i].raw);
        ZSTD_freeDCtx(f[i].dctx);
        free(f[i].packed);
    }
    if (rc == 0 && p->rc < 0 && err)
        *err = p->fail_err;
    return rc < 0 ? rc : p->rc;
}

/* The image's files in the temporary directory tmp: created (sparse, at their sizes), then
 * filled by the fetchers as each blob arrives. */
static int assemble(struct oci_pull *p, const char *tmp, const char *manifest, struct cove_error *err)
{
    p->fds = malloc((p->nfiles ? p->nfiles : 1) * sizeof *p->fds);
    p->dfds = malloc((p->nfiles ? p->nfiles : 1) * sizeof *p->dfds);
    if (!p->fds || !p->dfds)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < p->nfiles; i++)
        p->fds[i] = p->dfds[i] = -1;
    for (size_t i = 0; i < p->nfiles && rc == 0; i++) {
        const struct oci_file *f = &p->files[i];
        char path[4096];
        if (store_path(path, sizeof path, "%s/%s", tmp, f->name) < 0) {
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
            break;
        }
        if (oci_file_kind(f) == OCI_KIND_STATE || oci_file_kind(f) == OCI_KIND_MEMORY) {
            char sdir[4096];
            if (store_path(sdir, sizeof sdir, "%s/" BUNDLE_STATE_DIR, tmp) < 0 ||
                (mkdir(sdir, 0700) < 0 && errno != EEXIST)) {
                rc = cove_error_set(err, -errno, "%s: %s", sdir, strerror(errno));
                break;
            }
        }
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)f->size) < 0) {
            rc = cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            break;
        }
        p->fds[i] = fd;
        p->dfds[i] = oci_open_direct(fd);
    }
    if (rc == 0)
        rc = fetch_all(p, err);
    for (size_t i = 0; i < p->nfiles; i++) {
        if (p->dfds[i] >= 0)
            close(p->dfds[i]);
        if (p->fds[i] < 0)
            continue;
        if (rc == 0 && (fsync(p->fds[i]) < 0 || fchmod(p->fds[i], 0400) < 0))
            rc = cove_error_set(err, -errno, "%s: %s", p->files[i].name, strerror(errno));
        close(p->fds[i]);
    }
    if (rc == 0)
        rc = write_file(tmp, "vm.json", p->vm_json, err);
    if (rc == 0)
        rc = write_file(tmp, "manifest.json", manifest, err);
    return rc;
}

static int install(struct oci_pull *p, const char *dir, const char *manifest, struct cove_error *err)
{
    char tmp[4096];
    if (store_temp_path(p->cache.images, "image", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (mkdir(tmp, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    int rc = assemble(p, tmp, manifest, err);
    if (rc == 0) {
        store_sync_dir(tmp);
        if (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)
            rc = cove_error_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
        else
            store_sync_dir(p->cache.images);
    }
    if (access(tmp, F_OK) == 0)
        store_remove_tree(tmp); /* failed, or another pull installed it first */
    return rc;
}

void oci_pull_free(struct oci_pull *p)
{
    oci_client_free(p->client);
    oci_manifest_free(&p->m);
    free(p->files);
    free(p->fds);
    free(p->dfds);
    free(p->vm_json);
    pthread_mutex_destroy(&p->lock);
}

int oci_pull_begin(struct oci_pull *p, const struct oci_ref *ref,
                   const struct cove_oci_options *o, struct cove_oci_transfer *t,
                   char **manifest, char *dir, size_t dirlen, struct cove_error *err)
{
    *p = (struct oci_pull){.o = o, .t = t};
    pthread_mutex_init(&p->lock, NULL);
    memset(t, 0, sizeof *t);
    *manifest = NULL;
    char what[600];
    oci_ref_format(ref, what, sizeof what);
    size_t mlen = 0;
    int rc = oci_cache_open(&p->cache, err);
    if (rc == 0) {
        store_sweep_temps(p->cache.blobs);
        store_sweep_temps(p->cache.images);
        rc = oci_client_open(ref, o, false, NULL, NULL, &p->client, err);
    }
    if (rc == 0)
        rc = oci_manifest_get(p->client, ref->digest[0] ? ref->digest : ref->tag, manifest,
                              &mlen, t->digest, err);
    if (rc == 0)
        rc = oci_manifest_parse(*manifest, mlen, what, &p->m, err);
    if (rc == 0 && oci_cache_image_path(&p->cache, t->digest, dir, dirlen) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return rc;
}

int oci_pull(const struct oci_ref *ref, const struct cove_oci_options *o,
             struct cove_oci_transfer *t, char *dir, size_t dirlen, struct cove_error *err)
{
    struct oci_pull p;
    char what[600];
    oci_ref_format(ref, what, sizeof what);
    char *manifest;
    int rc = oci_pull_begin(&p, ref, o, t, &manifest, dir, dirlen, err);
    if (rc == 0 && access(dir, F_OK) < 0) {
        rc = oci_pull_config(&p, what, err);
        if (rc == 0)
            rc = install(&p, dir, manifest, err);
    } else if (rc == 0) {
        t->blobs_skipped = (unsigned)p.m.nlayers + 1;
    }
    if (rc == 0)
        rc = oci_cache_ref_set(&p.cache, what, t->digest, err);
    free(manifest);
    oci_pull_free(&p);
    return rc;
}

int cove_oci_pull(const char *text, const struct cove_oci_options *o, struct cove_oci_transfer *out,
                  struct cove_error *err)
{
    struct oci_ref ref;
    struct cove_oci_transfer scratch;
    char dir[4096];
    int rc = oci_ref_parse(text, &ref, err);
    return rc < 0 ? rc : oci_pull(&ref, o, out ? out : &scratch, dir, sizeof dir, err);
}
