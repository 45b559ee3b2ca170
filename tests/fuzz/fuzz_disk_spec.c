/* The one parser of disk specs and NBD URIs (src/backends/disk_spec.c): `--disk` text and
 * config.json's "nbd" values come from users and from bundles others wrote. Whatever the
 * text, the parser stays inside it and, when it accepts, hands back a file inside the
 * spec, a known mode, and for an NBD URI one that passes the URI check again. */
#include <stdlib.h>
#include <string.h>

#include <cove/config.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = 0;
    struct cove_disk_config d;
    struct cove_error err = {0};
    if (cove_disk_spec_parse(spec, &d, &err) == 0) {
        if (d.file < spec || d.file > spec + size || !*d.file)
            __builtin_trap();
        if ((unsigned)d.cache > COVE_DISK_CACHE_NONE || (unsigned)d.sync > COVE_DISK_SYNC_NONE)
            __builtin_trap();
        if (cove_disk_is_nbd(d.file) && cove_disk_check_nbd_uri(d.file, &err) != 0)
            __builtin_trap();
    } else if (!err.message[0]) {
        __builtin_trap(); /* a refusal says why */
    }
    memcpy(spec, data, size);
    spec[size] = 0;
    struct cove_disk_config o = {.file = NULL};
    cove_disk_options_parse(spec, &o, &err);
    free(spec);
    return 0;
}
