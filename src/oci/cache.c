/*
 * The local store of pulled images, COVE_HOME/cache/oci:
 *   blobs/sha256/HEX     every blob pulled, by digest (shared between images; what an
 *                        interrupted pull resumes from)
 *   images/HEX/          an image by its manifest's digest: manifest.json, vm.json (the
 *                        bundle's config.json as pushed), its files (disks raw and sparse,
 *                        boot files), all read-only; made under a temporary name, renamed
 *   refs.json            {"REGISTRY/REPO:TAG": "sha256:...", ...} what each tag was when
 *                        pulled, with the time
 *   pushed.json          {"REGISTRY/REPO:TAG": {"manifest": TEXT, "pushed": TIME}}: the
 *                        manifest last pushed to each tag (what a push knows a registry
 *                        holds: blobs to mount, chunks it need not compress again)
 */
#include "oci/oci.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store/bundle.h"

static int mkdir_one(const char *path, struct cove_error *err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

int oci_cache_open(struct oci_cache *c, struct cove_error *err)
{
    struct store s;
    int rc = store_open(&s, err);
    if (rc < 0)
        return rc;
    char cache[4096], blobs[4096];
    if (store_path(cache, sizeof cache, "%s/cache", s.home) < 0 ||
        store_path(c->dir, sizeof c->dir, "%s/oci", cache) < 0 ||
        store_path(blobs, sizeof blobs, "%s/blobs", c->dir) < 0 ||
        store_path(c->blobs, sizeof c->blobs, "%s/sha256", blobs) < 0 ||
        store_path(c->images, sizeof c->images, "%s/images", c->dir) < 0 ||
        store_path(c->refs, sizeof c->refs, "%s/refs.json", c->dir) < 0 ||
        store_path(c->pushed, sizeof c->pushed, "%s/pushed.json", c->dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = mkdir_one(cache, err)) < 0 || (rc = mkdir_one(c->dir, err)) < 0 ||
        (rc = mkdir_one(blobs, err)) < 0 || (rc = mkdir_one(c->blobs, err)) < 0 ||
        (rc = mkdir_one(c->images, err)) < 0)
        return rc;
    return 0;
}

int oci_cache_blob_path(const struct oci_cache *c, const char *digest, char *buf, size_t n)
{
    return store_path(buf, n, "%s/%s", c->blobs, digest + 7);
}

int oci_cache_image_path(const struct oci_cache *c, const char *digest, char *buf, size_t n)
{
    return store_path(buf, n, "%s/%s", c->images, digest + 7);
}

static int add_known(struct oci_known **v, size_t *n, size_t *cap, const char *digest,
                     const char *repo, const struct oci_layer *l)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct oci_known *w = realloc(*v, c * sizeof *w);
        if (!w)
            return -ENOMEM;
        *v = w;
        *cap = c;
    }
    snprintf((*v)[*n].digest, sizeof (*v)[*n].digest, "%s", digest);
    snprintf((*v)[*n].repository, sizeof (*v)[*n].repository, "%s", repo);
    (*v)[*n].size = l ? l->size : 0;
    (*v)[*n].length = l ? l->length : 0;
    snprintf((*v)[*n].data_digest, sizeof (*v)[*n].data_digest, "%s", l ? l->data_digest : "");
    (*n)++;
    return 0;
}

static int by_digest(const void *a, const void *b)
{
    return strcmp(((const struct oci_known *)a)->digest, ((const struct oci_known *)b)->digest);
}

/* The blobs of one manifest (text), held by repo. Checked by the manifest parser: a pulled
 * image's layers were also verified against their uncompressed digests when it was
 * assembled, a pushed one's were made here. */
static int add_manifest(struct oci_known **v, size_t *n, size_t *cap, const char *text,
                        size_t len, const char *repo)
{
    struct oci_manifest m;
    if (!text || oci_manifest_parse(text, len, "a known manifest", &m, NULL) < 0)
        return 0; /* damaged: nothing known from it */
    int rc = add_known(v, n, cap, m.config_digest, repo, NULL);
    for (size_t i = 0; rc == 0 && i < m.nlayers; i++)
        rc = add_known(v, n, cap, m.layers[i].digest, repo, &m.layers[i]);
    oci_manifest_free(&m);
    return rc;
}

int oci_cache_known_blobs(const char *registry, struct oci_known **out, size_t *count)
{
    struct oci_cache c;
    struct oci_known *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *count = 0;
    if (oci_cache_open(&c, NULL) < 0)
        return 0; /* nothing known */
    json_t *root = json_load_file(c.refs, 0, NULL), *val;
    const char *key;
    int rc = 0;
    json_object_foreach(root, key, val) {
        struct oci_ref ref;
        const char *d = json_string_value(json_object_get(val, "digest"));
        char path[4096];
        if (!oci_digest_valid(d) || oci_ref_parse(key, &ref, NULL) < 0 ||
            strcmp(ref.registry, registry) || oci_cache_image_path(&c, d, path, sizeof path) < 0 ||
            strlen(path) + 16 > sizeof path)
            continue;
        strcat(path, "/manifest.json");
        char *text = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "re");
        if (f) {
            text = calloc(1, OCI_MAX_MANIFEST + 1);
            len = text ? fread(text, 1, OCI_MAX_MANIFEST, f) : 0;
            fclose(f);
        }
        rc = add_manifest(&v, &n, &cap, text, len, ref.repository);
        free(text);
        if (rc < 0)
            break;
    }
    json_decref(root);
    root = rc == 0 ? json_load_file(c.pushed, 0, NULL) : NULL;
    json_object_foreach(root, key, val) {
        struct oci_ref ref;
        const char *text = json_string_value(json_object_get(val, "manifest"));
        if (!text || oci_ref_parse(key, &ref, NULL) < 0 || strcmp(ref.registry, registry))
            continue;
        if ((rc = add_manifest(&v, &n, &cap, text, strlen(text), ref.repository)) < 0)
            break;
    }
    json_decref(root);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, by_digest);
    *out = v;
    *count = n;
    return 0;
}

const struct oci_known *oci_known_data(const struct oci_known *v, size_t n,
                                       const char *data_digest, uint64_t length)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].length == length && !strcmp(v[i].data_digest, data_digest))
            return &v[i];
    return NULL;
}

/* The JSON object in path, or a new empty one (missing or not an object). */
static json_t *load_object(const char *path)
{
    json_t *root = json_load_file(path, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    return root;
}

/* Now, as the cache's files write it: 2026-12-06T01:02:03Z. */
static void utc_now(char when[32])
{
    time_t now = time(NULL);
    strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

int oci_cache_pushed_set(const struct oci_cache *c, const char *ref, const char *manifest,
                         struct cove_error *err)
{
    int lock = oci_cache_lock(c);
    json_t *root = load_object(c->pushed);
    char when[32];
    utc_now(when);
    json_object_set_new(root, ref, json_pack("{s:s, s:s}", "manifest", manifest, "pushed", when));
    while (json_object_size(root) > OCI_PUSHED_KEPT) { /* the oldest other goes */
        const char *key, *oldest = NULL, *oldest_when = NULL;
        json_t *val;
        json_object_foreach(root, key, val) {
            const char *w = json_string_value(json_object_get(val, "pushed"));
            if (!strcmp(key, ref))
                continue; /* the one just pushed stays */
            if (!oldest || !w || (oldest_when && strcmp(w, oldest_when) < 0)) {
                oldest = key;
                oldest_when = w;
            }
        }
        json_object_del(root, oldest);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    int rc = text ? store_write_atomic(c->pushed, text, strlen(text), 0600, err)
                  : cove_error_set(err, -ENOMEM, "out of memory");
    free(text);
    oci_cache_unlock(lock);
    return rc;
}

const char *oci_known_repository(const struct oci_known *v, size_t n, const char *digest)
{
    struct oci_known key;
    snprintf(key.digest, sizeof key.digest, "%s", digest);
    const struct oci_known *k = n ? bsearch(&key, v, n, sizeof *v, by_digest) : NULL;
    return k ? k->repository : NULL;
}

int oci_cache_ref_get(const struct oci_cache *c, const char *ref, char *digest)
{
    json_t *root = json_load_file(c->refs, 0, NULL);
    const char *d = json_string_value(json_object_get(json_object_get(root, ref), "digest"));
    int rc = -ENOENT;
    if (oci_digest_valid(d)) {
        strcpy(digest, d);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

static int cache_ref_set(const struct oci_cache *c, const char *ref, const char *digest,
                         struct cove_error *err);

/* refs.json is read, changed and written back under an flock of cache/oci/.lock, so that
 * two pulls (or a pull and a prune) do not lose each other's change. */
int oci_cache_lock(const struct oci_cache *c)
{
    char path[4096];
    if (store_path(path, sizeof path, "%s/.lock", c->dir) < 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
            ;
    return fd;
}

void oci_cache_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

int oci_cache_ref_set(const struct oci_cache *c, const char *ref, const char *digest,
                      struct cove_error *err)
{
    int lock = oci_cache_lock(c);
    int rc = cache_ref_set(c, ref, digest, err);
    oci_cache_unlock(lock);
    return rc;
}

static int cache_ref_set(const struct oci_cache *c, const char *ref, const char *digest,
                         struct cove_error *err)
{
    json_t *root = load_object(c->refs);
    char when[32];
    utc_now(when);
    json_object_set_new(root, ref, json_pack("{s:s, s:s}", "digest", digest, "pulled", when));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = store_write_atomic(c->refs, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* host bytes of the files in dir, and the virtual size of the first disk */
static void image_sizes(const char *dir, struct cove_oci_image *img)
{
    char path[4096];
    if (store_path(path, sizeof path, "%s/vm.json", dir) == 0) {
        struct cove_config cfg;
        char *text = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "re");
        if (f) {
            text = calloc(1, 1 << 20);
            len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
            fclose(f);
        }
        if (text && cove_config_parse(text, len, "vm.json", &cfg, NULL) == 0) {
            if (cfg.ndisks && store_path(path, sizeof path, "%s/%s", dir, cfg.disks[0].file) == 0)
                store_disk_info(path, &img->disk_size, NULL, NULL, 0, NULL);
            cove_config_free(&cfg);
        }
        free(text);
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] != '.' && store_path(path, sizeof path, "%s/%s", dir, e->d_name) == 0 &&
            lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            img->disk_used += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
    /* a suspended VM's image: its saved state too */
    const char *state[] = {OCI_STATE_FILE, OCI_MEMORY_FILE};
    for (unsigned i = 0; i < 2; i++) {
        struct stat st;
        if (store_path(path, sizeof path, "%s/%s", dir, state[i]) == 0 && lstat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            img->disk_used += (uint64_t)st.st_blocks * 512;
    }
}

int oci_cache_partial_path(const char *dir, char *buf, size_t n)
{
    return store_path(buf, n, "%s.partial", dir);
}

static int by_ref(const void *a, const void *b)
{
    return strcmp(((const struct cove_oci_image *)a)->ref, ((const struct cove_oci_image *)b)->ref);
}

int cove_oci_list(struct cove_oci_image **out, size_t *count, struct cove_error *err)
{
    struct oci_cache c;
    int rc = oci_cache_open(&c, err);
    if (rc < 0)
        return rc;
    json_t *root = json_load_file(c.refs, 0, NULL);
    size_t n = json_is_object(root) ? json_object_size(root) : 0, k = 0;
    struct cove_oci_image *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        json_decref(root);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        const char *d = json_string_value(json_object_get(val, "digest"));
        const char *when = json_string_value(json_object_get(val, "pulled"));
        struct cove_oci_image *img = &v[k];
        char whole[PATH_MAX];
        if (!oci_digest_valid(d) || oci_cache_image_path(&c, d, whole, sizeof whole) < 0)
            continue;
        memset(img, 0, sizeof *img);
        snprintf(img->dir, sizeof img->dir, "%s", whole);
        /* a lazy clone's image, until its fetchers have every chunk */
        if (access(whole, F_OK) < 0 &&
            !(img->partial = oci_cache_partial_path(whole, img->dir, sizeof img->dir) == 0 &&
                             access(img->dir, F_OK) == 0))
            continue; /* an image removed since */
        snprintf(img->ref, sizeof img->ref, "%s", key);
        strcpy(img->digest, d);
        snprintf(img->pulled, sizeof img->pulled, "%s", when ? when : "");
        image_sizes(img->dir, img);
        k++;
    }
    json_decref(root);
    qsort(v, k, sizeof *v, by_ref);
    *out = v;
    *count = k;
    return 0;
}
