/* `--dir [NAME:]PATH[:ro]`: the one parser of a share's text (see cove/config.h). */
#include <errno.h>
#include <string.h>

#include <cove/config.h>

bool cove_share_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > COVE_SHARE_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The last component of path, trailing slashes dropped (in place). */
static char *last_component(char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = 0;
    char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int cove_share_parse(char *spec, struct cove_share_config *out, struct cove_error *err)
{
    *out = (struct cove_share_config){0};
    size_t n = strlen(spec);
    if (n >= 3 && (!strcmp(spec + n - 3, ":ro") || !strcmp(spec + n - 3, ":rw"))) {
        out->read_only = spec[n - 2] == 'r' && spec[n - 1] == 'o';
        spec[n - 3] = 0;
    }
    /* NAME: only when what precedes the first colon is a valid name: a path with colons
     * in it still works as /abs/pa:th or ./pa:th. */
    char *colon = strchr(spec, ':');
    if (colon) {
        *colon = 0;
        if (cove_share_name_valid(spec)) {
            out->name = spec;
            spec = colon + 1;
        } else {
            *colon = ':';
        }
    }
    if (!*spec)
        return cove_error_set(err, -EINVAL, "--dir needs a directory: use [NAME:]PATH[:ro]");
    out->path = spec;
    if (!out->name) {
        const char *base = last_component(spec); /* drops trailing slashes of path too */
        if (!cove_share_name_valid(base))
            return cove_error_set(err, -EINVAL, "--dir '%s': cannot name the share after "
                                  "'%s'; give a name: --dir NAME:%s", spec, base, spec);
        out->name = (char *)base;
    }
    return 0;
}
