/*
 * cove push NAME REF...: the stopped VM's bundle as one manifest per ref. Each disk is read
 * through src/disk (a clone's backing chain flattened) in OCI_CHUNK_SIZE chunks; a chunk
 * that reads all zeros is left out, the others are zstd-compressed once and sent to every
 * ref's repository unless it has the blob already (HEAD). zstd's output is deterministic,
 * so pushing an unchanged VM again sends nothing but the manifest.
 */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "disk/disk.h"
#include "disk/disk_internal.h" /* disk_buf_is_zero */
#include "store/bundle.h"
#include "util/log.h"

#define ZSTD_LEVEL 3

struct push {
    const struct cove_oci_options *o;
    struct oci_client **clients;
    unsigned nclients;
    struct cove_oci_transfer *t;
    ZSTD_CCtx *zc;
    void *raw, *packed;
    size_t packed_cap;
    struct oci_layer *layers;
    size_t nlayers, cap;
    uint64_t done, total; /* progress, bytes of all files */
};

/* Sends one blob to every repository that lacks it. */
static int send_blob(struct push *p, const char *digest, const void *data, size_t len,
                     const char *what, struct cove_error *err)
{
    for (unsigned i = 0; i < p->nclients; i++) {
        int rc = oci_blob_exists(p->clients[i], digest, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            p->t->blobs_skipped++;
            continue;
        }
        if ((rc = oci_blob_upload(p->clients[i], digest, data, len, what, err)) < 0)
            return rc;
        p->t->blobs_sent++;
        p->t->bytes_sent += len;
    }
    return 0;
}

/* Compresses p->raw[0..len) and sends it as the layer of file at offset. */
static int send_chunk(struct push *p, const char *file, uint64_t offset, size_t len, bool chunk,
                      struct cove_error *err)
{
    size_t n = ZSTD_compress2(p->zc, p->packed, p->packed_cap, p->raw, len);
    if (ZSTD_isError(n))
        return cove_error_set(err, -EIO, "zstd: %s", ZSTD_getErrorName(n));
    if (p->nlayers == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct oci_layer *l = realloc(p->layers, cap * sizeof *l);
        if (!l)
            return cove_error_set(err, -ENOMEM, "out of memory");
        p->layers = l;
        p->cap = cap;
    }
    struct oci_layer *l = &p->layers[p->nlayers];
    memset(l, 0, sizeof *l);
    snprintf(l->file, sizeof l->file, "%s", file);
    l->offset = offset;
    l->length = len;
    l->size = n;
    l->is_chunk = chunk;
    oci_digest(p->raw, len, l->data_digest);
    oci_digest(p->packed, n, l->digest);
    char what[300];
    snprintf(what, sizeof what, "%s at %llu", file, (unsigned long long)offset);
    int rc = send_blob(p, l->digest, p->packed, n, what, err);
    if (rc == 0) {
        p->nlayers++;
        p->t->disk_bytes += len;
    }
    return rc;
}

static void progress(struct push *p, const char *file, uint64_t len)
{
    p->done += len;
    if (p->o && p->o->progress)
        p->o->progress(file, p->done, p->total, p->o->opaque);
}

static int push_disk(struct push *p, const char *path, const char *file, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open_ex(path, DISK_FORMAT_AUTO, DISK_OPEN_READ_ONLY | DISK_OPEN_NO_FOLLOW, &d,
                          err);
    if (rc < 0)
        return rc;
    uint64_t size = disk_size(d);
    for (uint64_t off = 0; off < size && rc == 0; off += OCI_CHUNK_SIZE) {
        size_t len = size - off < OCI_CHUNK_SIZE ? (size_t)(size - off) : OCI_CHUNK_SIZE;
        /* what the image knows to be zero is not even read */
        bool data = false;
        for (uint64_t pos = 0, run; pos < len && !data; pos += run) {
            int st = disk_block_status(d, off + pos, len - pos, &run);
            if (st < 0) {
                data = true; /* read it and see */
                break;
            }
            data = st == 1;
        }
        if (data) {
            rc = disk_read(d, p->raw, len, off);
            if (rc < 0)
                rc = cove_error_set(err, rc, "%s: reading at %llu: %s", path,
                                    (unsigned long long)off, strerror(-rc));
            else if (!disk_buf_is_zero(p->raw, len))
                rc = send_chunk(p, file, off, len, true, err);
        }
        progress(p, file, len);
    }
    disk_close(d);
    return rc;
}

static int push_boot_file(struct push *p, const char *bundle, const char *file, uint64_t size,
                          struct cove_error *err)
{
    int fd = store_open_bundle_file(bundle, file, O_RDONLY, err);
    if (fd < 0)
        return fd;
    int rc = 0;
    for (uint64_t off = 0; off < size && rc == 0; off += OCI_CHUNK_SIZE) {
        size_t len = size - off < OCI_CHUNK_SIZE ? (size_t)(size - off) : OCI_CHUNK_SIZE;
        ssize_t r = pread(fd, p->raw, len, (off_t)off);
        if (r != (ssize_t)len)
            rc = cove_error_set(err, r < 0 ? -errno : -EIO, "%s: short read", file);
        else
            rc = send_chunk(p, file, off, len, false, err);
        progress(p, file, len);
    }
    close(fd);
    return rc;
}

/* The files the VM's configuration names, with their sizes. */
static int list_files(const char *bundle, const struct cove_config *cfg, struct oci_file *files,
                      size_t *n, struct cove_error *err)
{
    *n = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        char path[PATH_MAX];
        struct oci_file *f = &files[(*n)++];
        snprintf(f->name, sizeof f->name, "%s", cfg->disks[i].file);
        f->disk = true;
        int rc = store_resolve(bundle, f->name, path, sizeof path, err);
        if (rc < 0 || (rc = store_disk_info(path, &f->size, NULL, NULL, 0, err)) < 0)
            return rc;
    }
    const char *boot[] = {cfg->kernel, cfg->initrd, cfg->firmware};
    for (unsigned i = 0; i < 3; i++) {
        if (!boot[i])
            continue;
        char path[PATH_MAX];
        struct stat st;
        int rc = store_bundle_file(bundle, boot[i], path, sizeof path, err);
        if (rc < 0)
            return rc;
        if (stat(path, &st) < 0)
            return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
        struct oci_file *f = &files[(*n)++];
        snprintf(f->name, sizeof f->name, "%s", boot[i]);
        f->size = (uint64_t)st.st_size;
    }
    return 0;
}

static int push_all(struct push *p, const char *bundle, const struct cove_config *cfg,
                    const struct oci_ref *refs, unsigned nrefs, struct cove_error *err)
{
    struct oci_file files[COVE_MAX_DISKS + 3];
    size_t nfiles;
    int rc = list_files(bundle, cfg, files, &nfiles, err);
    for (size_t i = 0; rc == 0 && i < nfiles; i++)
        p->total += files[i].size;
    for (size_t i = 0; rc == 0 && i < nfiles; i++) {
        char path[PATH_MAX];
        if (files[i].disk)
            rc = store_resolve(bundle, files[i].name, path, sizeof path, err) < 0
                     ? -ENAMETOOLONG : push_disk(p, path, files[i].name, err);
        else
            rc = push_boot_file(p, bundle, files[i].name, files[i].size, err);
    }
    char *vm = NULL, *config = NULL, *manifest = NULL;
    struct oci_manifest m = {.layers = p->layers, .nlayers = p->nlayers};
    if (rc == 0 && (!(vm = cove_config_to_json(cfg)) ||
                    !(config = oci_config_build(vm, files, nfiles))))
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) {
        m.config_size = strlen(config);
        oci_digest(config, m.config_size, m.config_digest);
        rc = send_blob(p, m.config_digest, config, m.config_size, "config", err);
    }
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (rc == 0 && !(manifest = oci_manifest_build(&m, created)))
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0)
        oci_digest(manifest, strlen(manifest), p->t->digest);
    for (unsigned i = 0; rc == 0 && i < nrefs; i++)
        rc = oci_manifest_put(p->clients[i], refs[i].tag[0] ? refs[i].tag : p->t->digest,
                              manifest, strlen(manifest), err);
    free(vm);
    free(config);
    free(manifest);
    return rc;
}

int cove_oci_push(const char *name, const char *const *refs, unsigned nrefs,
                  const struct cove_oci_options *o, struct cove_oci_transfer *out,
                  struct cove_error *err)
{
    struct cove_oci_transfer scratch;
    struct push p = {.o = o, .t = out ? out : &scratch};
    memset(p.t, 0, sizeof *p.t);
    if (nrefs == 0 || nrefs > 16)
        return cove_error_set(err, -EINVAL, "give 1 to 16 references to push to");
    struct oci_ref *r = calloc(nrefs, sizeof *r);
    p.clients = calloc(nrefs, sizeof *p.clients);
    if (!r || !p.clients) {
        free(r);
        free(p.clients);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    int rc = 0;
    for (unsigned i = 0; i < nrefs && rc == 0; i++)
        if ((rc = oci_ref_parse(refs[i], &r[i], err)) == 0 && r[i].digest[0])
            rc = cove_error_set(err, -EINVAL, "push to a tag, not to a digest ('%s')", refs[i]);
    struct store s;
    char bundle[PATH_MAX], path[PATH_MAX];
    int lock = -1;
    struct cove_config cfg;
    bool have_cfg = false;
    struct cove_error cerr;
    if (rc == 0 && (rc = store_check_name(name, err)) == 0 && (rc = store_open(&s, err)) == 0 &&
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) == 0)
        rc = store_lock_bundle(bundle, name, &lock, NULL, err);
    if (rc == 0 && store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, bundle) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0) {
        if ((rc = cove_config_load(path, &cfg, &cerr)) < 0)
            rc = cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
        else
            have_cfg = true;
    }
    if (rc == 0)
        rc = store_check_bundle(bundle, &cfg, err);
    for (unsigned i = 0; rc == 0 && i < nrefs; i++, p.nclients++)
        rc = oci_client_open(&r[i], o, true, NULL, NULL, &p.clients[i], err);
    if (rc == 0) {
        p.zc = ZSTD_createCCtx();
        p.raw = malloc(OCI_CHUNK_SIZE);
        p.packed_cap = ZSTD_compressBound(OCI_CHUNK_SIZE);
        p.packed = malloc(p.packed_cap);
        if (!p.zc || !p.raw || !p.packed)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (rc == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ZSTD_CCtx_setParameter(p.zc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
        /* multi-threaded: its output depends on no worker count, so a blob keeps its
         * digest from one host to another */
        ZSTD_CCtx_setParameter(p.zc, ZSTD_c_nbWorkers, cpus > 1 ? (int)(cpus < 8 ? cpus : 8) : 1);
        rc = push_all(&p, bundle, &cfg, r, nrefs, err);
    }
    for (unsigned i = 0; i < p.nclients; i++)
        oci_client_free(p.clients[i]);
    if (have_cfg)
        cove_config_free(&cfg);
    if (lock >= 0)
        store_unlock_bundle(lock);
    ZSTD_freeCCtx(p.zc);
    free(p.raw);
    free(p.packed);
    free(p.layers);
    free(p.clients);
    free(r);
    return rc;
}
