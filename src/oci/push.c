/*
 * cove push NAME REF...: the stopped or suspended VM's bundle as one manifest per ref. Each
 * disk is read through src/disk (a clone's backing chain flattened) in OCI_CHUNK_SIZE
 * chunks; a chunk that reads all zeros is left out, the others are zstd-compressed once and
 * sent to every ref's repository unless it has the blob already (HEAD) or can mount it from
 * another repository of its registry. A suspended VM's saved state goes too: the machine
 * file whole, the memory file chunked like a disk. zstd's output is deterministic, so
 * pushing an unchanged VM again sends nothing but the manifest. A reader thread reads and
 * compresses the next pieces while OCI_PARALLEL sender threads, each with clients of its
 * own, send the previous ones; the manifest lists the layers in the files' order.
 */
#include "oci/oci.h"
#include "oci/lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#define ZSTD_LEVEL 1 /* docs/OCI.md: level 3 took 1.6 times its CPU for 12% smaller blobs */

/* A compressed piece on its way from the reader (a thread of its own) to the sender. */
struct piece {
    struct oci_layer l;
    size_t file_index;  /* in push.files: the manifest lists layers in the files' order */
    void *packed;      /* the blob (NULL when known, or at the end) */
    bool known;        /* every repository has the blob already (l says which) */
    bool end;          /* the reader's last (rc says how the reading ended) */
    uint64_t advance;  /* progress: bytes of the files read up to this piece */
    int rc;
};

#define QUEUE_DEPTH 2 /* compressed pieces waiting: the reader runs ahead by this much; with
                       * the OCI_PARALLEL being sent, at most 6 in memory */
/* The buffers compressed pieces go into, reused from piece to piece: a fresh 64 MiB buffer
 * per piece cost a page fault per 4 KiB written (a tenth of a push's time, perf on a
 * virtualised host). One being filled, QUEUE_DEPTH waiting, OCI_PARALLEL being sent. */
#define NBUFFERS (1 + QUEUE_DEPTH + OCI_PARALLEL)

struct push {
    const struct cove_oci_options *o;
    struct oci_client **clients;
    struct oci_client *reader_clients[16]; /* the reader's, to ask about known chunks */
    unsigned nclients;
    struct oci_known *known[16]; /* per ref: blobs its registry has elsewhere (cache.c) */
    size_t nknown[16];
    struct cove_oci_transfer *t;
    const char *bundle;
    const struct oci_file *files;
    size_t nfiles;
    /* the reader's */
    ZSTD_CCtx *zc;
    void *raw;
    size_t packed_cap;
    /* the buffers of compressed pieces (NBUFFERS, packed_cap bytes each), the free ones
     * under lock */
    void *buffers[NBUFFERS];
    void *free_buffers[NBUFFERS];
    unsigned nfree;
    uint64_t unreported;  /* bytes read since the last piece */
    struct cove_error read_err;
    /* between the two */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct piece queue[QUEUE_DEPTH];
    unsigned head, count;
    bool cancel;          /* a sender failed: the reader and the other senders stop */
    bool ended;           /* the reader's end piece was taken */
    int rc;               /* the first failure (its message in fail_err) */
    struct cove_error fail_err;
    size_t cur_file;      /* the reader's file, for the pieces it makes */
    /* the senders', under lock */
    struct oci_layer *layers;
    size_t *layer_file;   /* each layer's file index, for the order */
    size_t nlayers, cap;
    uint64_t done, total; /* progress, bytes of all files */
    struct oci_lazy *lazy;          /* a lazy clone's fetcher (lazy.h), or NULL */
};

/* Where client i of the push can mount digest from: a repository of the same registry that
 * has it (an earlier ref of this push, or one it was pulled from), or NULL. */
static const char *mount_source(const struct push *p, struct oci_client **clients, unsigned i,
                                const char *digest)
{
    const char *reg = oci_client_registry(clients[i]), *repo = oci_client_repository(clients[i]);
    for (unsigned j = 0; j < i; j++)
        if (!strcmp(oci_client_registry(clients[j]), reg) &&
            strcmp(oci_client_repository(clients[j]), repo))
            return oci_client_repository(clients[j]);
    const char *from = oci_known_repository(p->known[i], p->nknown[i], digest);
    return from && strcmp(from, repo) ? from : NULL;
}

/* Sends one blob to every repository that lacks it, through clients (one per ref). */
static int send_blob(struct push *p, struct oci_client **clients, const char *digest,
                     const void *data, size_t len, const char *what, struct cove_error *err)
{
    unsigned sent = 0, skipped = 0, mounted = 0;
    int rc = 0;
    for (unsigned i = 0; i < p->nclients && rc >= 0; i++) {
        rc = oci_blob_exists(clients[i], digest, err);
        if (rc == 1)
            skipped++;
        else if (rc == 0) {
            rc = oci_blob_upload(clients[i], digest, data, len,
                                 mount_source(p, clients, i, digest), what, err);
            if (rc == 1)
                mounted++;
            else if (rc == 0)
                sent++;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->t->blobs_sent += sent;
    p->t->blobs_skipped += skipped;
    p->t->blobs_mounted += mounted;
    p->t->bytes_sent += sent * (uint64_t)len;
    pthread_mutex_unlock(&p->lock);
    return rc < 0 ? rc : 0;
}

/* Hands a piece to the sender, waiting while the queue is full. -ECANCELED when the
 * sender has given up. */
static int hand_over(struct push *p, const struct piece *pc)
{
    pthread_mutex_lock(&p->lock);
    while (p->count == QUEUE_DEPTH && !p->cancel)
        pthread_cond_wait(&p->changed, &p->lock);
    int rc = p->cancel ? -ECANCELED : 0;
    if (rc == 0) {
        p->queue[(p->head + p->count) % QUEUE_DEPTH] = *pc;
        p->count++;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* A buffer for a compressed piece back to the free ones (under p->lock). */
static void put_buffer(struct push *p, void *buf)
{
    if (buf)
        p->free_buffers[p->nfree++] = buf;
}

/* A free buffer: there is always one for the reader (NBUFFERS counts every holder). */
static void *get_buffer(struct push *p)
{
    pthread_mutex_lock(&p->lock);
    void *buf = p->nfree ? p->free_buffers[--p->nfree] : NULL;
    pthread_mutex_unlock(&p->lock);
    return buf;
}

/* Whether the data (len bytes, digest data_digest) is a blob an earlier push or pull
 * recorded, and every repository of the push has that blob: then it is not compressed
 * again (l gets the blob's digest and size). */
static bool known_everywhere(struct push *p, const char *data_digest, size_t len,
                             struct oci_layer *l)
{
    const struct oci_known *k = NULL;
    for (unsigned i = 0; i < p->nclients && !k; i++)
        k = oci_known_data(p->known[i], p->nknown[i], data_digest, len);
    for (unsigned i = 0; k && i < p->nclients; i++)
        if (oci_blob_exists(p->reader_clients[i], k->digest, NULL) != 1)
            return false; /* sent as usual (HEAD again, mount or upload) */
    if (k) {
        snprintf(l->digest, sizeof l->digest, "%s", k->digest);
        l->size = k->size;
    }
    return k != NULL;
}

/* Compresses p->raw[0..len), the piece of file at offset, and hands it over; or hands it
 * over as known (known_everywhere). */
static int queue_chunk(struct push *p, const char *file, uint64_t offset, size_t len,
                       enum oci_kind kind, struct cove_error *err)
{
    struct piece pc = {.advance = p->unreported, .file_index = p->cur_file};
    snprintf(pc.l.file, sizeof pc.l.file, "%s", file);
    pc.l.offset = offset;
    pc.l.length = len;
    pc.l.kind = kind;
    oci_digest(p->raw, len, pc.l.data_digest);
    if (known_everywhere(p, pc.l.data_digest, len, &pc.l)) {
        pc.known = true;
        int rc = hand_over(p, &pc);
        if (rc == 0)
            p->unreported = 0;
        return rc;
    }
    if (!(pc.packed = get_buffer(p)))
        return cove_error_set(err, -EPROTO, "push: no buffer free (a bug)");
    size_t n = ZSTD_compress2(p->zc, pc.packed, p->packed_cap, p->raw, len);
    if (ZSTD_isError(n)) {
        pthread_mutex_lock(&p->lock);
        put_buffer(p, pc.packed);
        pthread_mutex_unlock(&p->lock);
        return cove_error_set(err, -EIO, "zstd: %s", ZSTD_getErrorName(n));
    }
    pc.l.size = n;
    oci_digest(pc.packed, n, pc.l.digest);
    int rc = hand_over(p, &pc);
    if (rc < 0) {
        pthread_mutex_lock(&p->lock);
        put_buffer(p, pc.packed);
        pthread_mutex_unlock(&p->lock);
    } else {
        p->unreported = 0;
    }
    return rc;
}

static void progress(struct push *p, const char *file, uint64_t len)
{
    p->done += len;
    if (p->o && p->o->progress)
        p->o->progress(file, p->done, p->total, p->o->opaque);
}

/* A disk (format AUTO), or the saved memory (a raw, sparse file), in chunks; all-zero
 * chunks left out. */
static int push_chunked(struct push *p, const char *path, const char *file,
                        enum disk_format format, enum oci_kind kind, struct cove_error *err)
{
    struct disk *d;
    int rc = disk_open_ex(path, format, DISK_OPEN_READ_ONLY | DISK_OPEN_NO_FOLLOW, &d, err);
    if (rc < 0)
        return rc;
    /* a lazy clone's chunks not yet fetched are fetched as they are read */
    if (kind == OCI_KIND_DISK && (rc = oci_lazy_attach(p->lazy, d, file)) < 0) {
        disk_close(d);
        return cove_error_set(err, rc, "%s: %s", path, strerror(-rc));
    }
    rc = 0;
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
            else if (!disk_buf_is_zero(p->raw, len)) {
                p->unreported += len;
                rc = queue_chunk(p, file, off, len, kind, err);
                continue;
            }
        }
        p->unreported += len;
    }
    disk_close(d);
    return rc;
}

/* A boot file or the saved machine state (open as fd, closed here) in OCI_CHUNK_SIZE pieces. */
static int push_whole(struct push *p, int fd, const char *file, uint64_t size, enum oci_kind kind,
                      struct cove_error *err)
{
    int rc = 0;
    for (uint64_t off = 0; off < size && rc == 0; off += OCI_CHUNK_SIZE) {
        size_t len = size - off < OCI_CHUNK_SIZE ? (size_t)(size - off) : OCI_CHUNK_SIZE;
        ssize_t r = pread(fd, p->raw, len, (off_t)off);
        if (r != (ssize_t)len)
            rc = cove_error_set(err, r < 0 ? -errno : -EIO, "%s: short read", file);
        else {
            p->unreported += len;
            rc = queue_chunk(p, file, off, len, kind, err);
        }
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
    /* a suspended VM travels with its saved machine and memory */
    const char *state[] = {OCI_STATE_FILE, OCI_MEMORY_FILE};
    for (unsigned i = 0; i < 2 && store_bundle_suspended(bundle); i++) {
        char path[PATH_MAX];
        struct stat st;
        if (store_path(path, sizeof path, "%s/%s", bundle, state[i]) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        if (lstat(path, &st) < 0)
            return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return cove_error_set(err, -EINVAL, "%s: not a regular file", path);
        struct oci_file *f = &files[(*n)++];
        snprintf(f->name, sizeof f->name, "%s", state[i]);
        f->size = (uint64_t)st.st_size;
    }
    return 0;
}

/* One file of the bundle, whatever its kind. */
static int push_file(struct push *p, const struct oci_file *f, struct cove_error *err)
{
    char path[PATH_MAX];
    enum oci_kind kind = oci_file_kind(f);
    int rc = 0, fd;
    switch (kind) {
    case OCI_KIND_DISK:
        if ((rc = store_resolve(p->bundle, f->name, path, sizeof path, err)) == 0)
            rc = push_chunked(p, path, f->name, DISK_FORMAT_AUTO, kind, err);
        return rc;
    case OCI_KIND_BOOT:
        if ((fd = store_open_bundle_file(p->bundle, f->name, O_RDONLY, err)) < 0)
            return fd;
        return push_whole(p, fd, f->name, f->size, kind, err);
    case OCI_KIND_STATE:
    case OCI_KIND_MEMORY:
        if (store_path(path, sizeof path, "%s/%s", p->bundle, f->name) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        if (kind == OCI_KIND_MEMORY)
            return push_chunked(p, path, f->name, DISK_FORMAT_RAW, kind, err);
        if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
        return push_whole(p, fd, f->name, f->size, kind, err);
    }
    return -EINVAL;
}

/* The reader: every file, piece by piece, then the end piece with how it went. */
static void *read_all(void *opaque)
{
    struct push *p = opaque;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->nfiles; i++) {
        p->cur_file = i;
        rc = push_file(p, &p->files[i], &p->read_err);
    }
    struct piece end = {.rc = rc, .advance = p->unreported, .end = true};
    hand_over(p, &end);
    return NULL;
}

/* Under p->lock. */
static int add_layer(struct push *p, const struct piece *pc, struct cove_error *err)
{
    if (p->nlayers == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct oci_layer *v = realloc(p->layers, cap * sizeof *v);
        if (v)
            p->layers = v;
        size_t *f = v ? realloc(p->layer_file, cap * sizeof *f) : NULL;
        if (!f)
            return cove_error_set(err, -ENOMEM, "out of memory");
        p->layer_file = f;
        p->cap = cap;
    }
    p->layer_file[p->nlayers] = pc->file_index;
    p->layers[p->nlayers++] = pc->l;
    p->t->disk_bytes += pc->l.length;
    return 0;
}

/* The first failure stops everyone (under p->lock). */
static void fail(struct push *p, int rc, const struct cove_error *err)
{
    if (p->rc == 0) {
        p->rc = rc;
        if (err)
            p->fail_err = *err;
    }
    p->cancel = true;
    pthread_cond_broadcast(&p->changed);
}

struct sender {
    struct push *p;
    struct oci_client *clients[16];
    pthread_t thread;
};

/* A sender: the pieces the reader hands over, each to every repository lacking it, while
 * the other senders send theirs and the reader reads and compresses the next ones. */
static void *send_pieces(void *opaque)
{
    struct sender *sd = opaque;
    struct push *p = sd->p;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->cancel && !p->ended)
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->cancel || p->count == 0) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        struct piece pc = p->queue[p->head];
        p->head = (p->head + 1) % QUEUE_DEPTH;
        p->count--;
        pthread_cond_broadcast(&p->changed);
        if (pc.end) {
            p->ended = true;
            if (pc.rc < 0)
                fail(p, pc.rc, &p->read_err);
            progress(p, "", pc.advance);
            pthread_mutex_unlock(&p->lock);
            break;
        }
        pthread_mutex_unlock(&p->lock);
        char what[300];
        struct cove_error err;
        snprintf(what, sizeof what, "%s at %llu", pc.l.file, (unsigned long long)pc.l.offset);
        int rc = 0;
        if (!pc.known)
            rc = send_blob(p, sd->clients, pc.l.digest, pc.packed, pc.l.size, what, &err);
        pthread_mutex_lock(&p->lock);
        put_buffer(p, pc.packed);
        if (pc.known) {
            p->t->blobs_skipped += p->nclients;
            p->t->chunks_known++;
        }
        if (rc == 0)
            rc = add_layer(p, &pc, &err);
        if (rc < 0)
            fail(p, rc, &err);
        else
            progress(p, pc.l.file, pc.advance);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Layers in the order of their files and offsets, whatever order the senders finished in:
 * the same VM gives the same manifest. */
struct placed {
    size_t file;
    struct oci_layer l;
};

static int by_place(const void *a, const void *b)
{
    const struct placed *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->l.offset < y->l.offset ? -1 : x->l.offset > y->l.offset;
}

static int sort_layers(struct push *p, struct cove_error *err)
{
    struct placed *v = malloc((p->nlayers ? p->nlayers : 1) * sizeof *v);
    if (!v)
        return cove_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < p->nlayers; i++)
        v[i] = (struct placed){p->layer_file[i], p->layers[i]};
    qsort(v, p->nlayers, sizeof *v, by_place);
    for (size_t i = 0; i < p->nlayers; i++)
        p->layers[i] = v[i].l;
    free(v);
    return 0;
}

/* The reader and OCI_PARALLEL senders, each sender with clients of its own. */
static int send_all(struct push *p, struct cove_error *err)
{
    struct sender sd[OCI_PARALLEL];
    unsigned nsd = 0;
    int rc = 0;
    for (; nsd < OCI_PARALLEL && rc == 0; nsd++) {
        memset(&sd[nsd], 0, sizeof sd[nsd]);
        sd[nsd].p = p;
        for (unsigned i = 0; i < p->nclients && rc == 0; i++)
            rc = oci_client_dup(p->clients[i], &sd[nsd].clients[i], err);
    }
    pthread_t reader;
    bool reading = false;
    unsigned started = 0;
    if (rc == 0 && pthread_create(&reader, NULL, read_all, p) != 0)
        rc = cove_error_set(err, -EAGAIN, "cannot start a thread");
    reading = rc == 0;
    for (; rc == 0 && started < nsd; started++)
        if (pthread_create(&sd[started].thread, NULL, send_pieces, &sd[started]) != 0)
            rc = cove_error_set(err, -EAGAIN, "cannot start a thread");
    pthread_mutex_lock(&p->lock);
    if (rc < 0)
        fail(p, rc, err);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(sd[i].thread, NULL);
    pthread_mutex_lock(&p->lock);
    if (!p->ended)
        fail(p, -ECANCELED, NULL); /* a reader still running stops at its next hand-over */
    pthread_mutex_unlock(&p->lock);
    if (reading)
        pthread_join(reader, NULL);
    for (; p->count; p->count--, p->head = (p->head + 1) % QUEUE_DEPTH)
        put_buffer(p, p->queue[p->head].packed);
    for (unsigned i = 0; i < nsd; i++)
        for (unsigned j = 0; j < p->nclients; j++)
            oci_client_free(sd[i].clients[j]);
    if (rc == 0 && p->rc < 0 && err)
        *err = p->fail_err;
    return rc < 0 ? rc : p->rc;
}

static int push_all(struct push *p, const char *bundle, const struct cove_config *cfg,
                    const struct oci_ref *refs, unsigned nrefs, struct cove_error *err)
{
    struct oci_file files[COVE_MAX_DISKS + 5];
    size_t nfiles;
    int rc = list_files(bundle, cfg, files, &nfiles, err);
    for (size_t i = 0; rc == 0 && i < nfiles; i++)
        p->total += files[i].size;
    p->bundle = bundle;
    p->files = files;
    p->nfiles = nfiles;
    if (rc == 0)
        rc = send_all(p, err);
    if (rc == 0)
        rc = sort_layers(p, err);
    char *vm = NULL, *config = NULL, *manifest = NULL;
    struct oci_manifest m = {.layers = p->layers, .nlayers = p->nlayers};
    /* the stored shared directories stay here: host paths mean nothing elsewhere (and are
     * not the registry's to know), and their grants hold only in this COVE_HOME */
    struct cove_config shipped = *cfg;
    shipped.nshares = 0;
    if (rc == 0 && (!(vm = cove_config_to_json(&shipped)) ||
                    !(config = oci_config_build(vm, files, nfiles))))
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) {
        m.config_size = strlen(config);
        oci_digest(config, m.config_size, m.config_digest);
        rc = send_blob(p, p->clients, m.config_digest, config, m.config_size, "config", err);
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
    /* what the next push knows each registry holds (a failure here loses only that) */
    struct oci_cache cache;
    for (unsigned i = 0; rc == 0 && i < nrefs && oci_cache_open(&cache, NULL) == 0; i++) {
        char what[600];
        oci_ref_format(&refs[i], what, sizeof what);
        oci_cache_pushed_set(&cache, what, manifest, NULL);
    }
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
    struct push p = {.o = o, .t = out ? out : &scratch, .lock = PTHREAD_MUTEX_INITIALIZER,
                     .changed = PTHREAD_COND_INITIALIZER};
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
    uint64_t chunk;
    int rc = oci_upload_chunk(&chunk, err);
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
    if (rc == 0) /* before any thread */
        rc = oci_lazy_start(bundle, &p.lazy, err);
    for (unsigned i = 0; rc == 0 && i < nrefs; i++, p.nclients++)
        if ((rc = oci_client_open(&r[i], o, true, NULL, NULL, &p.clients[i], err)) == 0 &&
            (rc = oci_client_dup(p.clients[i], &p.reader_clients[i], err)) < 0) {
            oci_client_free(p.clients[i]);
            p.clients[i] = NULL;
        }
    for (unsigned i = 0; rc == 0 && i < nrefs; i++)
        if (oci_cache_known_blobs(r[i].registry, &p.known[i], &p.nknown[i]) < 0)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) {
        p.zc = ZSTD_createCCtx();
        p.raw = oci_buffer(OCI_CHUNK_SIZE);
        p.packed_cap = ZSTD_compressBound(OCI_CHUNK_SIZE);
        /* only the pages compression writes are ever touched */
        for (unsigned i = 0; i < NBUFFERS; i++)
            put_buffer(&p, p.buffers[i] = oci_buffer(p.packed_cap));
        if (!p.zc || !p.raw || p.nfree < NBUFFERS)
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
    for (unsigned i = 0; i < p.nclients; i++) {
        oci_client_free(p.clients[i]);
        oci_client_free(p.reader_clients[i]);
    }
    for (unsigned i = 0; i < nrefs; i++)
        free(p.known[i]);
    oci_lazy_stop(p.lazy);
    if (have_cfg)
        cove_config_free(&cfg);
    if (lock >= 0)
        store_unlock_bundle(lock);
    ZSTD_freeCCtx(p.zc);
    free(p.raw);
    for (unsigned i = 0; i < NBUFFERS; i++)
        free(p.buffers[i]);
    pthread_cond_destroy(&p.changed);
    pthread_mutex_destroy(&p.lock);
    free(p.layers);
    free(p.layer_file);
    free(p.clients);
    free(r);
    return rc;
}
