/*
 * config.json: parse, validate, write (schema in cove/config.h and docs/BUNDLES.md).
 *
 * Every message names the key as a path ("disks[0].file", "network.mac") and shows the
 * offending value as JSON, so that a user can find it in the file. Forwards and MACs are
 * checked by the parsers `cove run` uses (src/backends/net_config.c), so that a file this
 * accepts always runs.
 */
#include <cove/config.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/net.h"
#include "store/bundle.h"

#define CONFIG_MAX_BYTES (1 << 20)

struct ctx {
    const char *what;
    struct cove_error *err;
};

/* The value as it appears in JSON, shortened for a one-line message. */
static void describe(const json_t *v, char *buf, size_t n)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(buf, n, "?");
        return;
    }
    if (strlen(text) > 40)
        snprintf(buf, n, "%.37s...", text);
    else
        snprintf(buf, n, "%s", text);
    free(text);
}

static int bad(struct ctx *c, const char *key, const char *must, const json_t *got)
{
    char g[64];
    describe(got, g, sizeof g);
    return cove_error_set(c->err, -EINVAL, "%s: key '%s': %s, got %s", c->what, key, must, g);
}

/* Rejects keys outside `known` (a NULL-terminated list). */
static int check_keys(struct ctx *c, const json_t *obj, const char *prefix,
                      const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool ok = false;
        for (const char *const *p = known; *p; p++)
            ok = ok || !strcmp(*p, k);
        if (!ok) {
            /* the key as JSON (quoted, escaped): one line whatever it holds */
            char g[64];
            json_t *key = json_string(k);
            describe(key, g, sizeof g);
            json_decref(key);
            bool plain = strlen(g) == strlen(k) + 2 && !strncmp(g + 1, k, strlen(k));
            if (plain)
                return cove_error_set(c->err, -EINVAL, "%s: unknown key '%s%s'", c->what,
                                      prefix, k);
            if (*prefix)
                return cove_error_set(c->err, -EINVAL, "%s: unknown key %s in '%.*s'", c->what,
                                      g, (int)strlen(prefix) - 1, prefix);
            return cove_error_set(c->err, -EINVAL, "%s: unknown key %s", c->what, g);
        }
    }
    return 0;
}

static int get_uint(struct ctx *c, const json_t *obj, const char *key, const char *path,
                    long long lo, long long hi, const char *unit, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return cove_error_set(c->err, -EINVAL, "%s: key '%s' is missing", c->what, path);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char must[96];
        snprintf(must, sizeof must, "must be an integer %lld..%lld%s", lo, hi, unit);
        return bad(c, path, must, v);
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* An optional string (absent or null: NULL); required ones fail when absent. */
static int get_string(struct ctx *c, const json_t *obj, const char *key, const char *path,
                      bool required, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return cove_error_set(c->err, -EINVAL, "%s: key '%s' is missing", c->what, path);
        return 0;
    }
    if (!json_is_string(v))
        return bad(c, path, "must be a string", v);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return bad(c, path, "must not contain NUL characters", v);
    if (required && !*s)
        return bad(c, path, "must not be empty", v);
    if (!(*out = strdup(s)))
        return cove_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

static int get_bool(struct ctx *c, const json_t *obj, const char *key, const char *path,
                    bool dflt, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return bad(c, path, "must be true or false", v);
    *out = json_is_true(v);
    return 0;
}

/* Element i of array `array`: an object with only `keys` (`must` describes it). */
static int check_element(struct ctx *c, const char *array, size_t i, const json_t *d,
                         const char *const *keys, const char *must)
{
    char path[64], prefix[64];
    snprintf(prefix, sizeof prefix, "%s[%zu].", array, i);
    snprintf(path, sizeof path, "%s[%zu]", array, i);
    if (!json_is_object(d))
        return bad(c, path, must, d);
    return check_keys(c, d, prefix, keys);
}

/* A rate limit, as Firecracker's RateLimiter: {"bandwidth": {"size", "refill_time",
 * "one_time_burst"}, "ops": {...}}, sizes in bytes or operations, refill_time in ms; each
 * bucket optional (absent: no limit). */
static int parse_bucket(struct ctx *c, const json_t *obj, const char *key, const char *prefix,
                        struct cove_bucket_config *b)
{
    static const char *const keys[] = {"size", "refill_time", "one_time_burst", NULL};
    char path[96], sub[112];
    snprintf(path, sizeof path, "%s.%s", prefix, key);
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return bad(c, path, "must be an object {\"size\", \"refill_time\", "
                   "\"one_time_burst\"}", v);
    snprintf(sub, sizeof sub, "%s.", path);
    int rc = check_keys(c, v, sub, keys);
    uint64_t size = 0, ms = 0, burst = 0;
    snprintf(sub, sizeof sub, "%s.size", path);
    if (rc == 0)
        rc = get_uint(c, v, "size", sub, 1, 1ll << 60, "", &size);
    snprintf(sub, sizeof sub, "%s.refill_time", path);
    if (rc == 0)
        rc = get_uint(c, v, "refill_time", sub, 1, COVE_RATE_MAX_REFILL_MS, " (ms)", &ms);
    snprintf(sub, sizeof sub, "%s.one_time_burst", path);
    if (rc == 0 && json_object_get(v, "one_time_burst"))
        rc = get_uint(c, v, "one_time_burst", sub, 0, 1ll << 60, "", &burst);
    *b = (struct cove_bucket_config){size, (uint32_t)ms, burst};
    return rc;
}

static int parse_rate(struct ctx *c, const json_t *parent, const char *prefix,
                      struct cove_rate_limit *r)
{
    static const char *const keys[] = {"bandwidth", "ops", NULL};
    char path[80], sub[88];
    snprintf(path, sizeof path, "%s.rate_limit", prefix);
    json_t *v = json_object_get(parent, "rate_limit");
    *r = (struct cove_rate_limit){0};
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return bad(c, path, "must be an object {\"bandwidth\", \"ops\"}", v);
    snprintf(sub, sizeof sub, "%s.", path);
    int rc = check_keys(c, v, sub, keys);
    if (rc == 0)
        rc = parse_bucket(c, v, "bandwidth", path, &r->bandwidth);
    if (rc == 0)
        rc = parse_bucket(c, v, "ops", path, &r->ops);
    return rc;
}

static json_t *bucket_json(const struct cove_bucket_config *b)
{
    json_t *o = json_pack("{s:I, s:I}", "size", (json_int_t)b->size, "refill_time",
                          (json_int_t)b->refill_ms);
    if (o && b->one_time_burst)
        json_object_set_new(o, "one_time_burst", json_integer((json_int_t)b->one_time_burst));
    return o;
}

static json_t *rate_json(const struct cove_rate_limit *r)
{
    json_t *o = json_object();
    if (o && r->bandwidth.size)
        json_object_set_new(o, "bandwidth", bucket_json(&r->bandwidth));
    if (o && r->ops.size)
        json_object_set_new(o, "ops", bucket_json(&r->ops));
    return o;
}

/* A disk's "cache" and "sync" (absent: the defaults). */
static int parse_disk_modes(struct ctx *c, const json_t *d, size_t i, struct cove_disk_config *dc)
{
    char path[64];
    json_t *v = json_object_get(d, "cache");
    snprintf(path, sizeof path, "disks[%zu].cache", i);
    if (v && (!json_is_string(v) || cove_disk_cache_parse(json_string_value(v), &dc->cache) < 0))
        return bad(c, path, "must be \"writeback\" or \"none\"", v);
    v = json_object_get(d, "sync");
    snprintf(path, sizeof path, "disks[%zu].sync", i);
    if (v && (!json_is_string(v) || cove_disk_sync_parse(json_string_value(v), &dc->sync) < 0))
        return bad(c, path, "must be \"full\", \"fsync\" or \"none\"", v);
    return 0;
}

/* "nbd": an NBD URI, checked as `--disk` checks it. */
static int parse_disk_nbd(struct ctx *c, const json_t *d, size_t i, struct cove_disk_config *dc)
{
    char path[64];
    snprintf(path, sizeof path, "disks[%zu].nbd", i);
    int rc = get_string(c, d, "nbd", path, true, &dc->file);
    struct cove_error why;
    if (rc == 0 && cove_disk_check_nbd_uri(dc->file, &why) < 0)
        return cove_error_set(c->err, -EINVAL, "%s: key '%s': %s", c->what, path, why.message);
    if (rc == 0 && dc->cache != COVE_DISK_CACHE_WRITEBACK)
        return cove_error_set(c->err, -EINVAL, "%s: key 'disks[%zu].cache': \"none\" is for "
                              "image files, not NBD disks", c->what, i);
    return rc;
}

static int parse_disks(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"file", "nbd", "read_only", "cache", "sync", "interface",
                                       "rate_limit", NULL};
    static const char form[] = "must be an object {\"file\" or \"nbd\", \"read_only\", "
                               "\"cache\", \"sync\", \"interface\"}";
    json_t *arr = json_object_get(root, "disks");
    if (!arr)
        return cove_error_set(c->err, -EINVAL, "%s: key 'disks' is missing", c->what);
    if (!json_is_array(arr))
        return bad(c, "disks", "must be an array of {\"file\", \"read_only\"}", arr);
    if (json_array_size(arr) > COVE_MAX_DISKS)
        return cove_error_set(c->err, -EINVAL, "%s: key 'disks': at most %d disks, got %zu",
                              c->what, COVE_MAX_DISKS, json_array_size(arr));
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) {
        char path[64];
        snprintf(path, sizeof path, "disks[%zu]", i);
        int rc = check_element(c, "disks", i, d, keys, form);
        if (rc < 0)
            return rc;
        bool nbd = json_object_get(d, "nbd") != NULL;
        if (nbd && json_object_get(d, "file"))
            return cove_error_set(c->err, -EINVAL, "%s: key '%s': give \"file\" or \"nbd\", "
                                  "not both", c->what, path);
        struct cove_disk_config *dc = &cfg->disks[cfg->ndisks];
        if ((rc = parse_disk_modes(c, d, i, dc)) < 0)
            return rc;
        snprintf(path, sizeof path, "disks[%zu].file", i);
        rc = nbd ? parse_disk_nbd(c, d, i, dc) : get_string(c, d, "file", path, true, &dc->file);
        cfg->ndisks += dc->file != NULL;
        if (rc < 0)
            return rc;
        if (!nbd && cove_disk_is_nbd(dc->file))
            return bad(c, path, "must be a file; an NBD URI goes under the key \"nbd\"",
                       json_object_get(d, "file"));
        snprintf(path, sizeof path, "disks[%zu].read_only", i);
        if ((rc = get_bool(c, d, "read_only", path, false, &dc->read_only)) < 0)
            return rc;
        snprintf(path, sizeof path, "disks[%zu].interface", i);
        json_t *itf = json_object_get(d, "interface");
        if (itf && !(json_is_string(itf) && (!strcmp(json_string_value(itf), "virtio") ||
                                             !strcmp(json_string_value(itf), "nvme"))))
            return bad(c, path, "must be \"virtio\" or \"nvme\"", itf);
        dc->nvme = itf && !strcmp(json_string_value(itf), "nvme");
        snprintf(path, sizeof path, "disks[%zu]", i);
        if ((rc = parse_rate(c, d, path, &dc->rate)) < 0)
            return rc;
    }
    return 0;
}

/* A value the network parsers of src/backends (the ones `cove run` uses) refuse: their
 * message, under the key's path. */
static int bad_network_value(struct ctx *c, const char *key, const struct cove_error *why)
{
    return cove_error_set(c->err, why->code, "%s: key '%s': %s", c->what, key, why->message);
}

static int parse_net_rules(struct ctx *c, const json_t *net, bool allow, struct cove_config *cfg)
{
    const char *key = allow ? "allow" : "block";
    const char *what = allow ? "\"CIDR[:PORT]\"" : "\"CIDR\"";
    char path[48];
    snprintf(path, sizeof path, "network.%s", key);
    json_t *list = json_object_get(net, key);
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return cove_error_set(c->err, -EINVAL, "%s: key '%s': must be an array of %s",
                              c->what, path, what);
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        snprintf(path, sizeof path, "network.%s[%zu]", key, i);
        if (cfg->nnet_rules == COVE_MAX_NET_RULES)
            return cove_error_set(c->err, -EINVAL, "%s: key '%s': at most %d rules in all",
                                  c->what, path, COVE_MAX_NET_RULES);
        struct cove_error why;
        if (!json_is_string(r))
            return cove_error_set(c->err, -EINVAL, "%s: key '%s': must be a string %s",
                                  c->what, path, what);
        if (cove_net_rule_make(json_string_value(r), allow, &cfg->net_rules[cfg->nnet_rules],
                               &why) < 0)
            return bad_network_value(c, path, &why);
        cfg->nnet_rules++;
    }
    return 0;
}

static int parse_network(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"mode",  "nat",   "mac",          "forwards",
                                       "allow", "block", "auto_forward", "rate_limit", NULL};
    json_t *net = json_object_get(root, "network");
    if (!net || json_is_null(net))
        return 0;
    if (!json_is_object(net))
        return bad(c, "network", "must be an object {\"mode\", \"mac\", \"forwards\", "
                   "\"allow\", \"block\"}", net);
    int rc = check_keys(c, net, "network.", keys);
    if (rc < 0)
        return rc;
    cfg->has_network = true;
    json_t *mode = json_object_get(net, "mode");
    if (mode && json_object_get(net, "nat"))
        return cove_error_set(c->err, -EINVAL, "%s: keys 'network.mode' and 'network.nat' "
                              "exclude each other; keep \"mode\"", c->what);
    if (mode) {
        struct cove_error why;
        if (!json_is_string(mode))
            return bad(c, "network.mode", "must be a string such as \"nat\" or \"bridge:br0\"",
                       mode);
        if (net_spec_parse(json_string_value(mode), &cfg->net, &why) < 0)
            return bad_network_value(c, "network.mode", &why);
    } else { /* bundles from before "mode": "nat": true or false */
        bool nat = true;
        if ((rc = get_bool(c, net, "nat", "network.nat", true, &nat)) < 0)
            return rc;
        cfg->net.mode = nat ? COVE_NET_NAT : COVE_NET_NONE;
    }
    json_t *mac = json_object_get(net, "mac");
    if (mac && !json_is_null(mac)) {
        uint8_t bytes[NET_MAC_LEN];
        struct cove_error why;
        if (!json_is_string(mac))
            return bad(c, "network.mac", "must be a unicast MAC address like \"52:54:00:12:34:56\"",
                       mac);
        if (net_mac_parse(json_string_value(mac), bytes, &why) < 0)
            return bad_network_value(c, "network.mac", &why);
        snprintf(cfg->mac, sizeof cfg->mac, "%s", json_string_value(mac));
    }
    if ((rc = parse_net_rules(c, net, true, cfg)) < 0 ||
        (rc = parse_net_rules(c, net, false, cfg)) < 0)
        return rc;
    if ((rc = parse_rate(c, net, "network", &cfg->net_rate)) < 0)
        return rc;
    json_t *af = json_object_get(net, "auto_forward");
    if (af && !json_is_null(af)) {
        int a = json_is_string(af) ? cove_auto_forward_parse(json_string_value(af)) : -1;
        if (a < 0)
            return bad(c, "network.auto_forward", "must be \"on\", \"off\" or \"all\"", af);
        cfg->auto_forward = (enum cove_auto_forward)a;
    }
    json_t *fw = json_object_get(net, "forwards");
    if (!fw || json_is_null(fw))
        return 0;
    if (!json_is_array(fw))
        return bad(c, "network.forwards", "must be an array of \"tcp|udp:[ADDR:]HOSTPORT:GUESTPORT\"",
                   fw);
    if (json_array_size(fw) > COVE_MAX_FORWARDS)
        return cove_error_set(c->err, -EINVAL, "%s: key 'network.forwards': at most %d, got %zu",
                              c->what, COVE_MAX_FORWARDS, json_array_size(fw));
    size_t i;
    json_t *f;
    json_array_foreach(fw, i, f) {
        char path[48];
        snprintf(path, sizeof path, "network.forwards[%zu]", i);
        struct net_forward parsed;
        struct cove_error why;
        if (!json_is_string(f))
            return bad(c, path, "must be a string \"tcp|udp:[ADDR:]HOSTPORT:GUESTPORT\"", f);
        if (net_forward_parse(json_string_value(f), &parsed, &why) < 0)
            return bad_network_value(c, path, &why);
        if (!(cfg->forwards[cfg->nforwards] = strdup(json_string_value(f))))
            return cove_error_set(c->err, -ENOMEM, "out of memory");
        cfg->nforwards++;
    }
    return 0;
}

static int parse_boot(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"kernel", "initrd", "cmdline", "firmware", NULL};
    json_t *boot = json_object_get(root, "boot");
    if (!boot)
        return cove_error_set(c->err, -EINVAL, "%s: key 'boot' is missing", c->what);
    if (!json_is_object(boot))
        return bad(c, "boot", "must be an object {\"kernel\", \"initrd\", \"cmdline\"}", boot);
    int rc = check_keys(c, boot, "boot.", keys);
    if (rc < 0 ||
        (rc = get_string(c, boot, "kernel", "boot.kernel", true, &cfg->kernel)) < 0 ||
        (rc = get_string(c, boot, "initrd", "boot.initrd", false, &cfg->initrd)) < 0 ||
        (rc = get_string(c, boot, "cmdline", "boot.cmdline", false, &cfg->cmdline)) < 0 ||
        (rc = get_string(c, boot, "firmware", "boot.firmware", false, &cfg->firmware)) < 0)
        return rc;
    return 0;
}

bool cove_guest_user_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > COVE_GUEST_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool first_ok = (ch >= 'a' && ch <= 'z') || ch == '_';
        if (!first_ok && (i == 0 || !((ch >= '0' && ch <= '9') || ch == '-')))
            return false;
    }
    return true;
}

/* "guest": what the guest's image holds that the host relies on (its login user, for
 * `cove ssh`). The user goes onto ssh's command line, so only a Linux user name passes. */
static int parse_guest(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"user", NULL};
    json_t *guest = json_object_get(root, "guest");
    if (!guest || json_is_null(guest))
        return 0;
    if (!json_is_object(guest))
        return bad(c, "guest", "must be an object {\"user\"}", guest);
    int rc = check_keys(c, guest, "guest.", keys);
    if (rc < 0 || (rc = get_string(c, guest, "user", "guest.user", false, &cfg->guest_user)) < 0)
        return rc;
    if (cfg->guest_user && !cove_guest_user_valid(cfg->guest_user))
        return bad(c, "guest.user", "must be a Linux user name ([a-z_][a-z0-9_-]{0,31})",
                   json_object_get(guest, "user"));
    return 0;
}

static bool is_hex_digest(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* "shares": [{"name", "path", "read_only", "grant"}]. Whether a grant is this COVE_HOME's is
 * checked where a share is used (src/store/shares.c), with a message that says what to do. */
static int parse_share(struct ctx *c, const json_t *d, size_t i, struct cove_config *cfg)
{
    static const char *const keys[] = {"name", "path", "read_only", "grant", NULL};
    char path[64];
    int rc = check_element(c, "shares", i, d, keys,
                           "must be an object {\"name\", \"path\", \"read_only\", \"grant\"}");
    if (rc < 0)
        return rc;
    struct cove_share_config *sh = &cfg->shares[cfg->nshares++];
    snprintf(path, sizeof path, "shares[%zu].name", i);
    if ((rc = get_string(c, d, "name", path, true, &sh->name)) < 0)
        return rc;
    if (!cove_share_name_valid(sh->name))
        return bad(c, path, "must be 1-36 of [A-Za-z0-9._-], not starting with '.' or '-'",
                   json_object_get(d, "name"));
    for (unsigned j = 0; j + 1 < cfg->nshares; j++)
        if (!strcmp(cfg->shares[j].name, sh->name))
            return bad(c, path, "must differ from every other share's name",
                       json_object_get(d, "name"));
    snprintf(path, sizeof path, "shares[%zu].path", i);
    if ((rc = get_string(c, d, "path", path, true, &sh->path)) < 0)
        return rc;
    if (sh->path[0] != '/' || strlen(sh->path) >= PATH_MAX)
        return bad(c, path, "must be an absolute host path", json_object_get(d, "path"));
    snprintf(path, sizeof path, "shares[%zu].read_only", i);
    if ((rc = get_bool(c, d, "read_only", path, false, &sh->read_only)) < 0)
        return rc;
    snprintf(path, sizeof path, "shares[%zu].grant", i);
    if ((rc = get_string(c, d, "grant", path, false, &sh->grant)) < 0)
        return rc;
    if (sh->grant && !is_hex_digest(sh->grant))
        return bad(c, path, "must be 64 lowercase hex digits", json_object_get(d, "grant"));
    return 0;
}

static int parse_shares(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    json_t *arr = json_object_get(root, "shares");
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return bad(c, "shares", "must be an array of {\"name\", \"path\", \"read_only\", \"grant\"}",
                   arr);
    if (json_array_size(arr) > COVE_MAX_SHARES)
        return cove_error_set(c->err, -EINVAL, "%s: key 'shares': at most %d, got %zu", c->what,
                              COVE_MAX_SHARES, json_array_size(arr));
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) {
        int rc = parse_share(c, d, i, cfg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cove_display_parse(const char *text, bool *vnc, struct cove_error *err)
{
    if (!text || (strcmp(text, "vnc") && strcmp(text, "none")))
        return cove_error_set(err, -EINVAL, "display '%.40s': use vnc or none", text ? text : "");
    *vnc = !strcmp(text, "vnc");
    return 0;
}

int cove_vnc_port_parse(const char *text, int *port, struct cove_error *err)
{
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < 1 || v > 65535)
        return cove_error_set(err, -EINVAL, "vnc-port '%.40s': give a TCP port, 1-65535",
                              text ? text : "");
    *port = (int)v;
    return 0;
}

/* "display": {"type": "vnc"|"none", "vnc_port": PORT} (left out: none). */
static int parse_display(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"type", "vnc_port", NULL};
    json_t *d = json_object_get(root, "display");
    if (!d || json_is_null(d))
        return 0;
    if (!json_is_object(d))
        return bad(c, "display", "must be an object {\"type\", \"vnc_port\"}", d);
    int rc = check_keys(c, d, "display.", keys);
    if (rc < 0)
        return rc;
    json_t *type = json_object_get(d, "type");
    if (!type)
        return cove_error_set(c->err, -EINVAL, "%s: key 'display.type' is missing", c->what);
    if (!json_is_string(type) || cove_display_parse(json_string_value(type), &cfg->display_vnc,
                                                    NULL) < 0)
        return bad(c, "display.type", "must be \"vnc\" or \"none\"", type);
    json_t *port = json_object_get(d, "vnc_port");
    if (!port || json_is_null(port))
        return 0;
    uint64_t p;
    if ((rc = get_uint(c, d, "vnc_port", "display.vnc_port", 1, 65535, "", &p)) < 0)
        return rc;
    if (!cfg->display_vnc)
        return bad(c, "display.vnc_port", "needs \"type\": \"vnc\"", port);
    cfg->vnc_port = (int)p;
    return 0;
}

/* "cpu_limit": optional, a number of CPUs 0.01..1024 (kept in thousandths). */
static int parse_cpu_limit(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    json_t *v = json_object_get(root, "cpu_limit");
    if (!v)
        return 0;
    double cpus = json_is_number(v) ? json_number_value(v) : -1;
    if (!(cpus * 1000 >= COVE_MIN_CPU_LIMIT_MILLI && cpus * 1000 <= COVE_MAX_CPU_LIMIT_MILLI))
        return bad(c, "cpu_limit", "must be a number of CPUs 0.01..1024", v);
    cfg->cpu_limit_milli = (unsigned)(cpus * 1000 + 0.5);
    return 0;
}

static int parse_root(struct ctx *c, const json_t *root, struct cove_config *cfg)
{
    static const char *const keys[] = {"version", "cpus", "memory", "disks", "network", "boot",
                                       "guest", "shares", "display", "cpu_limit", NULL};
    if (!json_is_object(root))
        return cove_error_set(c->err, -EINVAL, "%s: must be a JSON object", c->what);
    json_t *ver = json_object_get(root, "version");
    if (!ver)
        return cove_error_set(c->err, -EINVAL, "%s: key 'version' is missing", c->what);
    if (!json_is_integer(ver) || json_integer_value(ver) != COVE_CONFIG_VERSION)
        return bad(c, "version", "this cove reads version 1", ver);
    int rc = check_keys(c, root, "", keys);
    if (rc < 0)
        return rc;
    uint64_t cpus;
    if ((rc = get_uint(c, root, "cpus", "cpus", 1, COVE_MAX_CPUS, "", &cpus)) < 0 ||
        (rc = get_uint(c, root, "memory", "memory", COVE_MIN_MEMORY_MIB, COVE_MAX_MEMORY_MIB,
                       " (MiB)", &cfg->memory_mib)) < 0)
        return rc;
    cfg->cpus = (unsigned)cpus;
    if ((rc = parse_cpu_limit(c, root, cfg)) < 0 || (rc = parse_disks(c, root, cfg)) < 0 || (rc = parse_network(c, root, cfg)) < 0 ||
        (rc = parse_boot(c, root, cfg)) < 0 || (rc = parse_guest(c, root, cfg)) < 0 ||
        (rc = parse_shares(c, root, cfg)) < 0 || (rc = parse_display(c, root, cfg)) < 0)
        return rc;
    return 0;
}

int cove_config_parse(const char *text, size_t len, const char *what, struct cove_config *out,
                      struct cove_error *err)
{
    struct ctx c = {what ? what : "config", err};
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson quotes the token it stopped at, which may hold control characters:
         * the message stays one line */
        for (char *p = jerr.text; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        return cove_error_set(err, -EINVAL, "%s: not valid JSON: line %d, column %d: %s",
                              c.what, jerr.line, jerr.column, jerr.text);
    }
    int rc = parse_root(&c, root, out);
    json_decref(root);
    if (rc < 0)
        cove_config_free(out);
    return rc;
}

/* The rule of a file name in config.json (store/bundle.h): one component of the bundle. */
const char *store_file_name_problem(const char *file)
{
    if (!file || !*file)
        return "an empty name";
    if (file[0] == '/')
        return "an absolute path";
    if (!strcmp(file, "."))
        return "the bundle itself";
    size_t len = strlen(file);
    if (!strcmp(file, "..") || !strncmp(file, "../", 3) || strstr(file, "/../") ||
        (len >= 3 && !strcmp(file + len - 3, "/..")))
        return "a path through '..'";
    if (strchr(file, '/'))
        return "a path with '/'";
    return NULL;
}

/* A bundle's config.json names files of the bundle only (bundle_file.c): whoever wrote
 * the file may not be whoever runs cove. */
static int check_bundle_name(struct ctx *c, const char *key, const char *file,
                             const char *elsewhere)
{
    const char *problem = store_file_name_problem(file);
    if (!file || !problem)
        return 0;
    char g[64];
    json_t *v = json_string(file);
    describe(v, g, sizeof g);
    json_decref(v);
    return cove_error_set(c->err, -EINVAL, "%s: key '%s': must be a file name in the bundle, "
                          "got %s (%s); %s", c->what, key, g, problem, elsewhere);
}

static int check_bundle_names(struct ctx *c, const struct cove_config *cfg)
{
    static const char boot[] = "copy the file into the bundle and give its name";
    int rc = 0;
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++) {
        const char *host_file = cove_disk_nbd_host_file(cfg->disks[i].file);
        if (host_file)
            return cove_error_set(c->err, -EINVAL, "%s: key 'disks[%u].nbd': %s= names a "
                                  "host file, which a bundle may not; give the URI for one run "
                                  "with `cove run NAME --disk URI`", c->what, i, host_file);
        if (cove_disk_is_nbd(cfg->disks[i].file))
            continue; /* "nbd": a URI, checked by the parser */
        char key[32];
        snprintf(key, sizeof key, "disks[%u].file", i);
        rc = check_bundle_name(c, key, cfg->disks[i].file,
                               "attach a disk from elsewhere with `cove run NAME --disk PATH`");
    }
    if (rc == 0)
        rc = check_bundle_name(c, "boot.kernel", cfg->kernel, boot);
    if (rc == 0)
        rc = check_bundle_name(c, "boot.initrd", cfg->initrd, boot);
    if (rc == 0)
        rc = check_bundle_name(c, "boot.firmware", cfg->firmware, boot);
    return rc;
}

int cove_config_load(const char *path, struct cove_config *out, struct cove_error *err)
{
    memset(out, 0, sizeof *out);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return cove_error_set(err, -ELOOP, "%s is a symbolic link; cove does not follow links "
                              "in a bundle", base);
    if (fd < 0)
        return cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
        close(fd);
        return cove_error_set(err, -EINVAL, "%s: not a regular file of at most 1 MiB", path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = cove_config_parse(buf, got, base, out, err);
    free(buf);
    struct ctx c = {base, err};
    if (rc == 0 && (rc = check_bundle_names(&c, out)) < 0)
        cove_config_free(out);
    return rc;
}

const char *cove_auto_forward_name(enum cove_auto_forward a)
{
    return a == COVE_AUTOFWD_OFF ? "off" : a == COVE_AUTOFWD_ALL ? "all" : "on";
}

int cove_auto_forward_parse(const char *s)
{
    return !strcmp(s, "on") ? COVE_AUTOFWD_ON : !strcmp(s, "off") ? COVE_AUTOFWD_OFF
           : !strcmp(s, "all") ? COVE_AUTOFWD_ALL : -1;
}

int cove_config_validate(const struct cove_config *cfg, const char *what, struct cove_error *err)
{
    char *text = cove_config_to_json(cfg);
    if (!text)
        return cove_error_set(err, -ENOMEM, "out of memory");
    struct cove_config tmp;
    int rc = cove_config_parse(text, strlen(text), what, &tmp, err);
    free(text);
    if (rc == 0)
        cove_config_free(&tmp);
    return rc;
}

static json_t *boot_json(const struct cove_config *cfg)
{
    json_t *boot = json_object();
    if (cfg->firmware)
        json_object_set_new(boot, "firmware", json_string(cfg->firmware));
    json_object_set_new(boot, "kernel", json_string(cfg->kernel ? cfg->kernel : ""));
    if (cfg->initrd)
        json_object_set_new(boot, "initrd", json_string(cfg->initrd));
    if (cfg->cmdline)
        json_object_set_new(boot, "cmdline", json_string(cfg->cmdline));
    return boot;
}

char *cove_config_to_json(const struct cove_config *cfg)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(COVE_CONFIG_VERSION));
    json_object_set_new(root, "cpus", json_integer(cfg->cpus));
    json_object_set_new(root, "memory", json_integer((json_int_t)cfg->memory_mib));
    if (cfg->cpu_limit_milli)
        json_object_set_new(root, "cpu_limit", json_real(cfg->cpu_limit_milli / 1000.0));
    json_t *disks = json_array();
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct cove_disk_config *d = &cfg->disks[i];
        json_t *o = json_pack("{s:s, s:b, s:s, s:s}", cove_disk_is_nbd(d->file) ? "nbd" : "file",
                              d->file ? d->file : "", "read_only", d->read_only,
                              "cache", cove_disk_cache_name(d->cache),
                              "sync", cove_disk_sync_name(d->sync));
        if (o && d->nvme) /* left out for virtio, the default */
            json_object_set_new(o, "interface", json_string("nvme"));
        if (o && cove_rate_limit_on(&d->rate))
            json_object_set_new(o, "rate_limit", rate_json(&d->rate));
        json_array_append_new(disks, o);
    }
    json_object_set_new(root, "disks", disks);
    if (cfg->has_network) {
        json_t *net = json_object();
        char mode[COVE_NET_NAME_MAX + 16];
        json_object_set_new(net, "mode", json_string(net_spec_text(&cfg->net, mode, sizeof mode)));
        if (cfg->mac[0])
            json_object_set_new(net, "mac", json_string(cfg->mac));
        json_t *fw = json_array();
        for (unsigned i = 0; i < cfg->nforwards; i++)
            json_array_append_new(fw, json_string(cfg->forwards[i]));
        json_object_set_new(net, "forwards", fw);
        json_t *allow = json_array(), *block = json_array();
        for (unsigned i = 0; i < cfg->nnet_rules; i++)
            json_array_append_new(cfg->net_rules[i].allow ? allow : block,
                                  json_string(cfg->net_rules[i].spec));
        if (json_array_size(allow))
            json_object_set_new(net, "allow", allow);
        else
            json_decref(allow);
        if (json_array_size(block))
            json_object_set_new(net, "block", block);
        else
            json_decref(block);
        if (cfg->auto_forward == COVE_AUTOFWD_OFF || cfg->auto_forward == COVE_AUTOFWD_ALL)
            json_object_set_new(net, "auto_forward",
                                json_string(cove_auto_forward_name(cfg->auto_forward)));
        if (cove_rate_limit_on(&cfg->net_rate))
            json_object_set_new(net, "rate_limit", rate_json(&cfg->net_rate));
        json_object_set_new(root, "network", net);
    }
    json_object_set_new(root, "boot", boot_json(cfg));
    if (cfg->guest_user)
        json_object_set_new(root, "guest", json_pack("{s:s}", "user", cfg->guest_user));
    if (cfg->nshares) {
        json_t *shares = json_array();
        for (unsigned i = 0; i < cfg->nshares; i++) {
            const struct cove_share_config *sh = &cfg->shares[i];
            json_t *o = json_pack("{s:s, s:s, s:b}", "name", sh->name ? sh->name : "", "path",
                                  sh->path ? sh->path : "", "read_only", sh->read_only);
            if (o && sh->grant)
                json_object_set_new(o, "grant", json_string(sh->grant));
            json_array_append_new(shares, o);
        }
        json_object_set_new(root, "shares", shares);
    }
    if (cfg->display_vnc) {
        json_t *d = json_pack("{s:s}", "type", "vnc");
        if (d && cfg->vnc_port)
            json_object_set_new(d, "vnc_port", json_integer(cfg->vnc_port));
        json_object_set_new(root, "display", d);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = 0;
    return out;
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (s && !(*out = strdup(s)))
        return -ENOMEM;
    return 0;
}

int cove_config_copy(const struct cove_config *src, struct cove_config *dst)
{
    *dst = *src;
    dst->kernel = dst->initrd = dst->cmdline = dst->firmware = dst->guest_user = NULL;
    for (unsigned i = 0; i < src->ndisks; i++)
        dst->disks[i].file = NULL;
    for (unsigned i = 0; i < src->nforwards; i++)
        dst->forwards[i] = NULL;
    for (unsigned i = 0; i < src->nshares; i++)
        dst->shares[i].name = dst->shares[i].path = dst->shares[i].grant = NULL;
    int rc = 0;
    for (unsigned i = 0; i < src->nshares && !rc; i++)
        if (!(rc = dup_opt(src->shares[i].name, &dst->shares[i].name)) &&
            !(rc = dup_opt(src->shares[i].path, &dst->shares[i].path)))
            rc = dup_opt(src->shares[i].grant, &dst->shares[i].grant);
    for (unsigned i = 0; i < src->ndisks && !rc; i++)
        rc = dup_opt(src->disks[i].file, &dst->disks[i].file);
    for (unsigned i = 0; i < src->nforwards && !rc; i++)
        rc = dup_opt(src->forwards[i], &dst->forwards[i]);
    if (!rc)
        rc = dup_opt(src->kernel, &dst->kernel);
    if (!rc)
        rc = dup_opt(src->initrd, &dst->initrd);
    if (!rc)
        rc = dup_opt(src->cmdline, &dst->cmdline);
    if (!rc)
        rc = dup_opt(src->firmware, &dst->firmware);
    if (!rc)
        rc = dup_opt(src->guest_user, &dst->guest_user);
    if (rc)
        cove_config_free(dst);
    return rc;
}

void cove_config_free(struct cove_config *cfg)
{
    for (unsigned i = 0; i < COVE_MAX_DISKS; i++)
        free(cfg->disks[i].file);
    for (unsigned i = 0; i < COVE_MAX_FORWARDS; i++)
        free(cfg->forwards[i]);
    for (unsigned i = 0; i < COVE_MAX_SHARES; i++) {
        free(cfg->shares[i].name);
        free(cfg->shares[i].path);
        free(cfg->shares[i].grant);
    }
    free(cfg->kernel);
    free(cfg->initrd);
    free(cfg->cmdline);
    free(cfg->firmware);
    free(cfg->guest_user);
    memset(cfg, 0, sizeof *cfg);
}

int cove_net_spec_parse(const char *text, struct cove_net_spec *out, struct cove_error *err)
{
    return net_spec_parse(text, out, err);
}

const char *cove_net_spec_text(const struct cove_net_spec *spec, char *buf, size_t len)
{
    return net_spec_text(spec, buf, len);
}

int cove_net_rule_make(const char *spec, bool allow, struct cove_net_rule *out,
                       struct cove_error *err)
{
    struct net_rule r;
    int rc = net_rule_parse(spec, allow, &r, err);
    if (rc < 0)
        return rc;
    out->allow = allow;
    snprintf(out->spec, sizeof out->spec, "%s", spec); /* the parser limits its length */
    return 0;
}

int cove_config_check_forward(const char *spec, struct cove_error *err)
{
    struct net_forward f;
    return net_forward_parse(spec, &f, err);
}

int cove_config_check_mac(const char *mac, struct cove_error *err)
{
    uint8_t m[NET_MAC_LEN];
    return net_mac_parse(mac, m, err);
}

void cove_config_random_mac(char out[COVE_MAC_LEN + 1])
{
    uint8_t m[NET_MAC_LEN];
    net_mac_random(m);
    snprintf(out, COVE_MAC_LEN + 1, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
             m[5]);
}
