/*
 * The manifest and the config blob of a VM (docs/OCI.md): built for a push, checked in full
 * on a pull before anything is fetched or written. A manifest of another artifact (a
 * container image, an index) is refused by name.
 */
#include "oci/oci.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/bundle.h"

static const char *const kind_type[] = {
    [OCI_KIND_DISK] = OCI_CHUNK_TYPE,
    [OCI_KIND_BOOT] = OCI_FILE_TYPE,
    [OCI_KIND_STATE] = OCI_STATE_TYPE,
    [OCI_KIND_MEMORY] = OCI_MEMORY_TYPE,
};

enum oci_kind oci_file_kind(const struct oci_file *f)
{
    if (f->disk)
        return OCI_KIND_DISK;
    if (!strcmp(f->name, OCI_STATE_FILE))
        return OCI_KIND_STATE;
    if (!strcmp(f->name, OCI_MEMORY_FILE))
        return OCI_KIND_MEMORY;
    return OCI_KIND_BOOT;
}

static json_t *descriptor(const char *type, const char *digest, uint64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", type, "digest", digest, "size",
                     (json_int_t)size);
}

char *oci_manifest_build(const struct oci_manifest *m, const char *created)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < m->nlayers; i++) {
        const struct oci_layer *l = &m->layers[i];
        json_t *d = descriptor(kind_type[l->kind], l->digest, l->size);
        char off[32], len[32];
        snprintf(off, sizeof off, "%" PRIu64, l->offset);
        snprintf(len, sizeof len, "%" PRIu64, l->length);
        json_object_set_new(d, "annotations",
                            json_pack("{s:s, s:s, s:s, s:s}", OCI_ANN_FILE, l->file,
                                      OCI_ANN_OFFSET, off, OCI_ANN_LENGTH, len, OCI_ANN_DIGEST,
                                      l->data_digest));
        json_array_append_new(layers, d);
    }
    json_t *root = json_pack("{s:i, s:s, s:s, s:o, s:o, s:{s:s}}", "schemaVersion", 2, "mediaType",
                             OCI_MANIFEST_TYPE, "artifactType", OCI_ARTIFACT_TYPE, "config",
                             descriptor(OCI_CONFIG_TYPE, m->config_digest, m->config_size),
                             "layers", layers, "annotations",
                             "org.opencontainers.image.created", created);
    char *text = root ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

void oci_manifest_free(struct oci_manifest *m)
{
    free(m->layers);
    m->layers = NULL;
    m->nlayers = 0;
}

static int parse_u64(const char *text, uint64_t *out)
{
    if (!text || !*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 19)
        return -EINVAL;
    *out = strtoull(text, NULL, 10);
    return 0;
}

static int parse_layer(json_t *d, size_t i, const char *what, struct oci_layer *l,
                       struct cove_error *err)
{
    const char *type = json_string_value(json_object_get(d, "mediaType"));
    const char *digest = json_string_value(json_object_get(d, "digest"));
    json_t *size = json_object_get(d, "size");
    json_t *ann = json_object_get(d, "annotations");
    const char *file = json_string_value(json_object_get(ann, OCI_ANN_FILE));
    const char *problem;
    memset(l, 0, sizeof *l);
    size_t k = 0;
    while (k < sizeof kind_type / sizeof *kind_type && (!type || strcmp(type, kind_type[k])))
        k++;
    if (k == sizeof kind_type / sizeof *kind_type)
        return cove_error_set(err, -EPROTO, "%s: layer %zu has media type '%s', not cove's",
                              what, i, type ? type : "");
    l->kind = (enum oci_kind)k;
    if (!oci_digest_valid(digest) || !json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > OCI_MAX_CHUNK + (OCI_MAX_CHUNK >> 4))
        return cove_error_set(err, -EPROTO, "%s: layer %zu: bad digest or size", what, i);
    strcpy(l->digest, digest);
    l->size = (uint64_t)json_integer_value(size);
    bool state = file && (!strcmp(file, OCI_STATE_FILE) || !strcmp(file, OCI_MEMORY_FILE));
    if (!file || strlen(file) >= sizeof l->file ||
        (!state && (problem = store_file_name_problem(file))))
        return cove_error_set(err, -EPROTO, "%s: layer %zu: annotation " OCI_ANN_FILE
                              " '%s' is not a file name", what, i, file ? file : "");
    strcpy(l->file, file);
    const char *dd = json_string_value(json_object_get(ann, OCI_ANN_DIGEST));
    if (parse_u64(json_string_value(json_object_get(ann, OCI_ANN_OFFSET)), &l->offset) < 0 ||
        parse_u64(json_string_value(json_object_get(ann, OCI_ANN_LENGTH)), &l->length) < 0 ||
        l->length == 0 || l->length > OCI_MAX_CHUNK || !oci_digest_valid(dd))
        return cove_error_set(err, -EPROTO, "%s: layer %zu: bad offset, length or digest "
                              "annotations", what, i);
    strcpy(l->data_digest, dd);
    return 0;
}

int oci_manifest_parse(const char *text, size_t len, const char *what, struct oci_manifest *out,
                       struct cove_error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return cove_error_set(err, -EPROTO, "%s: the manifest is not JSON (%s)", what, jerr.text);
    }
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    const char *at = json_string_value(json_object_get(root, "artifactType"));
    json_t *config = json_object_get(root, "config");
    const char *ct = json_string_value(json_object_get(config, "mediaType"));
    const char *cd = json_string_value(json_object_get(config, "digest"));
    json_t *cs = json_object_get(config, "size");
    json_t *layers = json_object_get(root, "layers");
    int rc = 0;
    if (mt && strcmp(mt, OCI_MANIFEST_TYPE))
        rc = cove_error_set(err, -EPROTO, "%s is not a cove VM: its manifest is %s (a container "
                            "image or an index?)", what, mt);
    else if ((at && strcmp(at, OCI_ARTIFACT_TYPE)) || !ct || strcmp(ct, OCI_CONFIG_TYPE))
        rc = cove_error_set(err, -EPROTO, "%s is not a cove VM (its %s is %s%s); cove pulls "
                            "only " OCI_ARTIFACT_TYPE, what, at ? "artifactType" : "config",
                            at ? at : ct ? ct : "missing",
                            !at && ct && !strcmp(ct, "application/vnd.oci.image.config.v1+json")
                                ? ": a container image" : "");
    else if (json_integer_value(json_object_get(root, "schemaVersion")) != 2 ||
             !oci_digest_valid(cd) || !json_is_integer(cs) || json_integer_value(cs) < 0 ||
             json_integer_value(cs) > OCI_MAX_MANIFEST || !json_is_array(layers) ||
             json_array_size(layers) > OCI_MAX_LAYERS)
        rc = cove_error_set(err, -EPROTO, "%s: malformed manifest (schemaVersion, config or "
                            "layers)", what);
    if (rc == 0) {
        strcpy(out->config_digest, cd);
        out->config_size = (uint64_t)json_integer_value(cs);
        out->nlayers = json_array_size(layers);
        out->layers = calloc(out->nlayers ? out->nlayers : 1, sizeof *out->layers);
        if (!out->layers)
            rc = cove_error_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < out->nlayers; i++)
        rc = parse_layer(json_array_get(layers, i), i, what, &out->layers[i], err);
    json_decref(root);
    if (rc < 0)
        oci_manifest_free(out);
    return rc;
}

char *oci_config_build(const char *vm_config_json, const struct oci_file *files, size_t nfiles)
{
    json_t *vm = json_loads(vm_config_json, 0, NULL);
    json_t *fj = json_array();
    for (size_t i = 0; i < nfiles; i++)
        json_array_append_new(fj, json_pack("{s:s, s:I, s:b}", "name", files[i].name, "size",
                                            (json_int_t)files[i].size, "disk", files[i].disk));
    json_t *root = json_pack("{s:i, s:s, s:s, s:I, s:o, s:o}", "version", 1, "architecture",
                             "riscv64", "os", "linux", "chunk_size", (json_int_t)OCI_CHUNK_SIZE,
                             "vm", vm ? vm : json_null(), "files", fj);
    char *text = root ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(root);
    return text;
}

int oci_config_parse(const char *text, size_t len, char **vm_json, struct oci_file **files,
                     size_t *nfiles, struct cove_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    json_t *vm = json_object_get(root, "vm"), *fj = json_object_get(root, "files");
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_object(vm) || !json_is_array(fj) || json_array_size(fj) > 64) {
        json_decref(root);
        return cove_error_set(err, -EPROTO, "the VM's config blob is malformed (version, vm "
                              "or files)");
    }
    size_t n = json_array_size(fj);
    struct oci_file *f = calloc(n ? n : 1, sizeof *f);
    *vm_json = json_dumps(vm, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    int rc = f && *vm_json ? 0 : cove_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *e = json_array_get(fj, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *size = json_object_get(e, "size");
        /* the names of the cache's own files and of temporaries are not the image's; the
         * saved state's two files are the only names with a directory */
        bool state = name && (!strcmp(name, OCI_STATE_FILE) || !strcmp(name, OCI_MEMORY_FILE));
        if (!name || strlen(name) >= sizeof f[i].name || (!state && store_file_name_problem(name)) ||
            !strcmp(name, BUNDLE_CONFIG) || !strcmp(name, "vm.json") ||
            !strcmp(name, "manifest.json") || !strncmp(name, ".tmp-", 5) ||
            !json_is_integer(size) ||
            json_integer_value(size) < 0 ||
            (uint64_t)json_integer_value(size) > OCI_MAX_FILE_SIZE) {
            rc = cove_error_set(err, -EPROTO, "the VM's config blob: files[%zu] is malformed "
                                "(a file name in the bundle and a size)", i);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(f[j].name, name))
                rc = cove_error_set(err, -EPROTO, "the VM's config blob: file '%s' twice", name);
        strcpy(f[i].name, name);
        f[i].size = (uint64_t)json_integer_value(size);
        f[i].disk = json_is_true(json_object_get(e, "disk"));
        if (state && f[i].disk)
            rc = cove_error_set(err, -EPROTO, "the VM's config blob: '%s' is not a disk", name);
        if (f[i].disk && (f[i].size == 0 || f[i].size % 512))
            rc = cove_error_set(err, -EPROTO, "the VM's config blob: disk '%s' of %llu bytes "
                                "(not a multiple of 512)", name, (unsigned long long)f[i].size);
    }
    json_decref(root);
    if (rc < 0) {
        free(f);
        free(*vm_json);
        *vm_json = NULL;
        return rc;
    }
    *files = f;
    *nfiles = n;
    return 0;
}

static int layer_order(const void *a, const void *b)
{
    const struct oci_layer *x = *(const struct oci_layer *const *)a;
    const struct oci_layer *y = *(const struct oci_layer *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->offset < y->offset ? -1 : x->offset > y->offset;
}

int oci_layers_check(const struct oci_manifest *m, const struct oci_file *files, size_t nfiles,
                     struct cove_error *err)
{
    for (size_t i = 0; i < m->nlayers; i++) {
        const struct oci_layer *l = &m->layers[i];
        const struct oci_file *f = NULL;
        for (size_t j = 0; j < nfiles && !f; j++)
            if (!strcmp(files[j].name, l->file))
                f = &files[j];
        if (!f || oci_file_kind(f) != l->kind || l->offset % OCI_CHUNK_SIZE || l->length > OCI_CHUNK_SIZE ||
            l->offset > f->size || l->length > f->size - l->offset ||
            (l->length < OCI_CHUNK_SIZE && l->offset + l->length != f->size))
            return cove_error_set(err, -EPROTO, "layer %zu (%s at %llu, %llu bytes) does not "
                                  "fit the VM's files (or its media type, its file's kind)", i, l->file,
                                  (unsigned long long)l->offset, (unsigned long long)l->length);
    }
    /* at most one layer per place: sorted, neighbours differ */
    const struct oci_layer **v = calloc(m->nlayers ? m->nlayers : 1, sizeof *v);
    if (!v)
        return cove_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nlayers; i++)
        v[i] = &m->layers[i];
    qsort(v, m->nlayers, sizeof *v, layer_order);
    int rc = 0;
    for (size_t i = 1; i < m->nlayers && rc == 0; i++)
        if (layer_order(&v[i - 1], &v[i]) == 0)
            rc = cove_error_set(err, -EPROTO, "two layers hold %s at %llu", v[i]->file,
                                (unsigned long long)v[i]->offset);
    free(v);
    return rc;
}
