/*
 * cove prune: the cache of pulled images (cache.c) made smaller. Blobs go first (an
 * installed image holds its files; blobs only let an interrupted pull resume), then images
 * no tag names, images older than asked, and the least recently pulled ones over a budget.
 * A VM cloned from an image keeps its disk: bases/ holds a link to the image's.
 */
#include "oci/oci.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define MAX_IMAGES 4096

struct image {
    char hex[65];
    time_t pulled; /* the latest pull of a tag naming it; 0: none names it */
    uint64_t bytes;
};

/* What removing dir frees: files linked elsewhere too (a clone's base) free nothing. */
static uint64_t tree_bytes(const char *dir)
{
    uint64_t total = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' && store_path(path, sizeof path, "%s/%s", dir, e->d_name) == 0 &&
            lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
            total += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
    return total;
}

static time_t parse_time(const char *text)
{
    struct tm tm = {0};
    if (!text || !strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return 1; /* a tag without a time: oldest, but named */
    return timegm(&tm);
}

static size_t load_images(const struct oci_cache *c, json_t *refs, struct image *v)
{
    size_t n = 0;
    DIR *d = opendir(c->images);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < MAX_IMAGES) {
        char dir[4096];
        if (strlen(e->d_name) != 64 || strspn(e->d_name, "0123456789abcdef") != 64 ||
            store_path(dir, sizeof dir, "%s/%s", c->images, e->d_name) < 0)
            continue;
        struct image *img = &v[n++];
        strcpy(img->hex, e->d_name);
        img->bytes = tree_bytes(dir);
        img->pulled = 0;
        const char *key;
        json_t *val;
        json_object_foreach(refs, key, val) {
            const char *dg = json_string_value(json_object_get(val, "digest"));
            if (dg && !strcmp(dg + 7, img->hex)) {
                time_t t = parse_time(json_string_value(json_object_get(val, "pulled")));
                if (t > img->pulled)
                    img->pulled = t;
            }
        }
    }
    if (d)
        closedir(d);
    return n;
}

static void remove_image(const struct oci_cache *c, json_t *refs, struct image *img,
                         struct cove_oci_prune *out)
{
    char dir[4096];
    if (store_path(dir, sizeof dir, "%s/%s", c->images, img->hex) < 0 || store_remove_tree(dir) < 0)
        return;
    out->images++;
    out->freed += img->bytes;
    const char *key;
    void *tmp;
    json_t *val;
    json_object_foreach_safe(refs, tmp, key, val) {
        const char *dg = json_string_value(json_object_get(val, "digest"));
        if (!dg || strlen(dg) != OCI_DIGEST_LEN || !strcmp(dg + 7, img->hex))
            json_object_del(refs, key);
    }
    img->bytes = 0;
}

static void remove_blobs(const struct oci_cache *c, struct cove_oci_prune *out)
{
    DIR *d = opendir(c->blobs);
    struct dirent *e;
    char path[4096];
    struct stat st;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || store_path(path, sizeof path, "%s/%s", c->blobs, e->d_name) < 0 ||
            lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || unlink(path) < 0)
            continue;
        out->blobs++;
        out->freed += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
}

static int by_age(const void *a, const void *b)
{
    const struct image *x = a, *y = b;
    return x->pulled < y->pulled ? -1 : x->pulled > y->pulled;
}

static int prune(const struct oci_cache *c, int64_t older_than_s, uint64_t budget,
                 struct cove_oci_prune *out, struct cove_error *err);

int cove_oci_prune(int64_t older_than_s, uint64_t budget, struct cove_oci_prune *out,
                   struct cove_error *err)
{
    struct cove_oci_prune scratch;
    out = out ? out : &scratch;
    memset(out, 0, sizeof *out);
    struct oci_cache c;
    int rc = oci_cache_open(&c, err);
    if (rc < 0)
        return rc;
    int lock = oci_cache_lock(&c);
    rc = prune(&c, older_than_s, budget, out, err);
    oci_cache_unlock(lock);
    return rc;
}

static int prune(const struct oci_cache *cache, int64_t older_than_s, uint64_t budget,
                 struct cove_oci_prune *out, struct cove_error *err)
{
    const struct oci_cache c = *cache;
    int rc;
    store_sweep_temps(c.blobs);
    store_sweep_temps(c.images);
    json_t *refs = json_load_file(c.refs, 0, NULL);
    if (!json_is_object(refs)) {
        json_decref(refs);
        refs = json_object();
    }
    struct image *v = calloc(MAX_IMAGES, sizeof *v);
    if (!v) {
        json_decref(refs);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    remove_blobs(&c, out);
    size_t n = load_images(&c, refs, v);
    qsort(v, n, sizeof *v, by_age);
    time_t now = time(NULL);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].pulled || (older_than_s >= 0 && v[i].pulled < now - older_than_s))
            remove_image(&c, refs, &v[i], out);
        total += v[i].bytes;
    }
    for (size_t i = 0; i < n && total > budget; i++) {
        total -= v[i].bytes;
        if (v[i].bytes)
            remove_image(&c, refs, &v[i], out);
    }
    free(v);
    char *text = json_dumps(refs, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(refs);
    if (!text)
        return cove_error_set(err, -ENOMEM, "out of memory");
    rc = store_write_atomic(c.refs, text, strlen(text), 0600, err);
    free(text);
    return rc;
}
