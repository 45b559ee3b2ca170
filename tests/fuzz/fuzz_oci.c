/* The pull side of the registry client (src/oci/manifest.c): a manifest and a config blob
 * as a registry might send them. The first byte picks which; the rest is the document. An
 * accepted manifest is then checked against a VM's files as pull does, and every layer it
 * keeps must be within bounds: a file name of the bundle, a valid digest, a length no
 * larger than a chunk; one the check against the files keeps lies in a file of its kind
 * (a suspended VM's state/machine and state/memory included). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oci/oci.h"
#include "store/bundle.h"

/* A file name of the bundle, or one of the saved state's two. */
static bool bundle_name(const char *name)
{
    return !store_file_name_problem(name) || !strcmp(name, OCI_STATE_FILE) ||
           !strcmp(name, OCI_MEMORY_FILE);
}

static void check_manifest(const struct oci_manifest *m)
{
    for (size_t i = 0; i < m->nlayers; i++) {
        const struct oci_layer *l = &m->layers[i];
        if (!bundle_name(l->file) || l->kind > OCI_KIND_MEMORY || !oci_digest_valid(l->digest) ||
            !oci_digest_valid(l->data_digest) || l->length == 0 || l->length > OCI_MAX_CHUNK)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t which = (uint8_t)fuzz_take(&in, 1);
    const char *text = (const char *)in.p;
    if (which & 1) {
        char *vm = NULL;
        struct oci_file *files = NULL;
        size_t n = 0;
        if (oci_config_parse(text, in.left, &vm, &files, &n, NULL) == 0) {
            for (size_t i = 0; i < n; i++)
                if (!bundle_name(files[i].name) || files[i].size > OCI_MAX_FILE_SIZE ||
                    (files[i].disk && oci_file_kind(&files[i]) != OCI_KIND_DISK))
                    __builtin_trap();
            free(vm);
            free(files);
        }
        return 0;
    }
    struct oci_manifest m;
    if (oci_manifest_parse(text, in.left, "fuzz", &m, NULL) == 0) {
        check_manifest(&m);
        struct oci_file files[4] = {{"disk.img", 3 * OCI_CHUNK_SIZE + 4096, true},
                                    {"kernel", 1 << 20, false},
                                    {OCI_STATE_FILE, 8192, false},
                                    {OCI_MEMORY_FILE, 4 * OCI_CHUNK_SIZE, false}};
        if (oci_layers_check(&m, files, 4, NULL) == 0)
            for (size_t i = 0; i < m.nlayers; i++) /* each layer in its kind of file */
                for (size_t j = 0; j < 4; j++)
                    if (!strcmp(m.layers[i].file, files[j].name) &&
                        oci_file_kind(&files[j]) != m.layers[i].kind)
                        __builtin_trap();
        oci_manifest_free(&m);
    }
    return 0;
}
