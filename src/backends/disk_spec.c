/* `--disk PATH|URI[,OPTIONS]`: the one parser of a disk's text, the disk modes' names and
 * the form of NBD URIs (the NBD URI standard, doc/uri.md of the NBD project): see
 * cove/config.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cove/config.h>

static const char *const cache_names[] = {
    [COVE_DISK_CACHE_WRITEBACK] = "writeback",
    [COVE_DISK_CACHE_NONE] = "none",
};
static const char *const sync_names[] = {
    [COVE_DISK_SYNC_FSYNC] = "fsync",
    [COVE_DISK_SYNC_FULL] = "full",
    [COVE_DISK_SYNC_NONE] = "none",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *cove_disk_cache_name(enum cove_disk_cache cache)
{
    return (unsigned)cache < COUNT(cache_names) ? cache_names[cache] : "?";
}

const char *cove_disk_sync_name(enum cove_disk_sync sync)
{
    return (unsigned)sync < COUNT(sync_names) ? sync_names[sync] : "?";
}

static int find_name(const char *const *names, unsigned n, const char *name)
{
    for (unsigned i = 0; name && i < n; i++)
        if (!strcmp(names[i], name))
            return (int)i;
    return -EINVAL;
}

int cove_disk_cache_parse(const char *name, enum cove_disk_cache *out)
{
    int i = find_name(cache_names, COUNT(cache_names), name);
    if (i >= 0)
        *out = (enum cove_disk_cache)i;
    return i < 0 ? i : 0;
}

int cove_disk_sync_parse(const char *name, enum cove_disk_sync *out)
{
    int i = find_name(sync_names, COUNT(sync_names), name);
    if (i >= 0)
        *out = (enum cove_disk_sync)i;
    return i < 0 ? i : 0;
}

static const char *const nbd_schemes[] = {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://"};

bool cove_disk_is_nbd(const char *file)
{
    for (unsigned i = 0; file && i < COUNT(nbd_schemes); i++)
        if (!strncmp(file, nbd_schemes[i], strlen(nbd_schemes[i])))
            return true;
    return false;
}

static const char uri_forms[] = "use nbd[s]://HOST[:PORT][/EXPORT] or "
                                "nbd[s]+unix:///[EXPORT]?socket=PATH";

/* HOST[:PORT] or [IPV6][:PORT]: a host, and a port 1..65535 if given. */
static int check_authority(const char *uri, const char *a, size_t n, struct cove_error *err)
{
    const char *end = a + n, *port = NULL;
    if (n && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close || close == a + 1)
            return cove_error_set(err, -EINVAL, "NBD URI '%s': unclosed or empty [IPv6] host",
                                  uri);
        if (close + 1 < end && close[1] != ':')
            return cove_error_set(err, -EINVAL, "NBD URI '%s': junk after the [IPv6] host", uri);
        port = close + 1 < end ? close + 2 : NULL;
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon == a || n == 0)
            return cove_error_set(err, -EINVAL, "NBD URI '%s': no host; %s", uri, uri_forms);
        port = colon ? colon + 1 : NULL;
    }
    if (!port)
        return 0;
    unsigned long v = 0;
    const char *p = port;
    for (; p < end && *p >= '0' && *p <= '9' && v <= 65535; p++)
        v = v * 10 + (unsigned long)(*p - '0');
    if (p != end || p == port || v == 0 || v > 65535)
        return cove_error_set(err, -EINVAL, "NBD URI '%s': the port must be a number "
                              "1..65535, got '%.*s'", uri, (int)(end - port), port);
    return 0;
}

/* NAME=VALUE (VALUE not empty) among the query's &-separated parameters. */
static bool has_param(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == '=' && p[n + 1] && p[n + 1] != '&')
            return true;
    return false;
}

static bool has_socket(const char *query)
{
    return has_param(query, "socket");
}

const char *cove_disk_nbd_host_file(const char *uri)
{
    static const char *const params[] = {"tls-psk-file", "tls-certificates"};
    const char *query = cove_disk_is_nbd(uri) ? strchr(uri, '?') : NULL;
    for (unsigned i = 0; query && i < COUNT(params); i++)
        if (has_param(query + 1, params[i]))
            return params[i];
    return NULL;
}

int cove_disk_check_nbd_uri(const char *uri, struct cove_error *err)
{
    if (!cove_disk_is_nbd(uri))
        return cove_error_set(err, -EINVAL, "'%s' is not an NBD URI; %s", uri, uri_forms);
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return cove_error_set(err, -EINVAL, "NBD URI '%s': spaces and control characters "
                                  "must be %%-escaped", uri);
    bool unix_socket = strstr(uri, "+unix://") != NULL;
    const char *auth = strstr(uri, "://") + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *rest = auth + auth_len;
    const char *query = strchr(rest, '?');
    if (strchr(rest, '#'))
        return cove_error_set(err, -EINVAL, "NBD URI '%s': a fragment (#) means nothing "
                              "here; %s", uri, uri_forms);
    if (unix_socket) {
        /* no host; a TLS user name (nbds+unix://USER@/...) at most */
        if (auth_len && auth[auth_len - 1] != '@')
            return cove_error_set(err, -EINVAL, "NBD URI '%s': a Unix socket URI has no "
                                  "host (three slashes: nbd+unix:///EXPORT?socket=PATH)", uri);
        if (!has_socket(query ? query + 1 : NULL))
            return cove_error_set(err, -EINVAL, "NBD URI '%s': no socket; add "
                                  "?socket=PATH", uri);
        return 0;
    }
    if (query && has_socket(query + 1))
        return cove_error_set(err, -EINVAL, "NBD URI '%s': socket= needs the nbd+unix:// "
                              "scheme", uri);
    return check_authority(uri, auth, auth_len, err);
}

static const char spec_forms[] =
    "use PATH|NBD-URI[,ro][,cache=writeback|none][,sync=full|fsync|none][,if=virtio|nvme]"
    "[,rate=SIZE/TIME][,ops=N/TIME][,burst=SIZE][,ops-burst=N]";

/* One OPTION into out. what names the text in messages ("--disk 'x,ro'"). */
static int parse_option(const char *what, const char *opt, struct cove_disk_config *out,
                        struct cove_error *err)
{
    if (!strcmp(opt, "ro") || !strcmp(opt, "rw")) {
        out->read_only = opt[1] == 'o';
        return 0;
    }
    const char *eq = strchr(opt, '=');
    if (eq && !strncmp(opt, "cache=", 6)) {
        if (cove_disk_cache_parse(eq + 1, &out->cache) < 0)
            return cove_error_set(err, -EINVAL, "%s: unknown cache mode '%s'; use "
                                  "cache=writeback or cache=none", what, eq + 1);
        return 0;
    }
    if (eq && !strncmp(opt, "sync=", 5)) {
        if (cove_disk_sync_parse(eq + 1, &out->sync) < 0)
            return cove_error_set(err, -EINVAL, "%s: unknown sync mode '%s'; use "
                                  "sync=full, sync=fsync or sync=none", what, eq + 1);
        return 0;
    }
    if (eq && !strncmp(opt, "if=", 3)) {
        if (strcmp(eq + 1, "virtio") && strcmp(eq + 1, "nvme"))
            return cove_error_set(err, -EINVAL, "%s: unknown interface '%s'; use if=virtio "
                                  "(virtio-blk, the default) or if=nvme", what, eq + 1);
        out->nvme = !strcmp(eq + 1, "nvme");
        return 0;
    }
    int rc = cove_rate_option_parse(opt, what, &out->rate, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    return cove_error_set(err, -EINVAL, "%s: unknown option '%s'; %s", what, opt, spec_forms);
}

/* A comma-separated list of options (cut in place) into out; each at most once. */
static int parse_options(char *opts, const char *what, struct cove_disk_config *out,
                         struct cove_error *err)
{
    bool seen_ro = false, seen_cache = false, seen_sync = false, seen_if = false;
    bool seen_rate[4] = {false};
    for (char *opt = opts; opt;) {
        char *next = strchr(opt, ',');
        if (next)
            *next++ = 0;
        bool *seen = !strncmp(opt, "cache=", 6) ? &seen_cache
                     : !strncmp(opt, "sync=", 5) ? &seen_sync
                     : !strncmp(opt, "if=", 3)   ? &seen_if
                     : !strncmp(opt, "rate=", 5) ? &seen_rate[0]
                     : !strncmp(opt, "ops=", 4)  ? &seen_rate[1]
                     : !strncmp(opt, "burst=", 6) ? &seen_rate[2]
                     : !strncmp(opt, "ops-burst=", 10) ? &seen_rate[3] : &seen_ro;
        int rc = parse_option(what, opt, out, err);
        if (rc < 0)
            return rc;
        if (*seen)
            return cove_error_set(err, -EINVAL, "%s: '%s' given twice", what, opt);
        *seen = true;
        opt = next;
    }
    struct cove_error why;
    if (cove_rate_limit_check(&out->rate, &why) < 0)
        return cove_error_set(err, -EINVAL, "%s: %s", what, why.message);
    return 0;
}

/* What NBD disks refuse. */
static int check_nbd_modes(const char *what, const struct cove_disk_config *d,
                           struct cove_error *err)
{
    if (d->cache != COVE_DISK_CACHE_WRITEBACK)
        return cove_error_set(err, -EINVAL, "%s: cache=none is for image files; an NBD disk "
                              "has no host page cache", what);
    return 0;
}

static int parse_spec(char *spec, const char *what, struct cove_disk_config *out,
                      struct cove_error *err)
{
    /* Options follow the first comma; a path with a comma in it cannot be given. */
    char *comma = strchr(spec, ',');
    if (comma) {
        *comma = 0;
        int rc = parse_options(comma + 1, what, out, err);
        if (rc < 0)
            return rc;
    }
    if (!*spec)
        return cove_error_set(err, -EINVAL, "--disk needs a path or an NBD URI; %s", spec_forms);
    out->file = spec;
    if (cove_disk_is_nbd(spec)) {
        int rc = cove_disk_check_nbd_uri(spec, err);
        return rc < 0 ? rc : check_nbd_modes(what, out, err);
    }
    if (strstr(spec, "://") || !strncmp(spec, "nbd:", 4) || !strncmp(spec, "nbds:", 5))
        return cove_error_set(err, -EINVAL, "%s: not a path nor an NBD URI; %s", what,
                              spec_forms);
    return 0;
}

int cove_disk_spec_parse(char *spec, struct cove_disk_config *out, struct cove_error *err)
{
    *out = (struct cove_disk_config){0};
    char what[300]; /* for messages: parsing cuts spec */
    snprintf(what, sizeof what, "--disk '%.280s'", spec);
    int rc = parse_spec(spec, what, out, err);
    if (rc < 0)
        out->file = NULL;
    return rc;
}

int cove_disk_options_parse(char *opts, struct cove_disk_config *out, struct cove_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "disk options '%.270s'", opts);
    struct cove_disk_config d = {.file = out->file};
    int rc = parse_options(opts, what, &d, err);
    if (rc == 0 && cove_disk_is_nbd(d.file))
        rc = check_nbd_modes(what, &d, err);
    if (rc == 0)
        *out = d;
    return rc;
}
