/*
 * cove networks' definitions and state (cove/network.h): NAME.json under
 * $COVE_HOME/networks, the switch and the VMs attached read from the run directory. The
 * store-wide changes (create, delete) hold networks/.lock so that two of them never both
 * take one name or overlapping subnets.
 */
#include <cove/network.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/net.h"
#include "store/store.h"
#include "util/fdio.h"

#define DEFAULT_NET 0x0a580000u /* 10.88.0.0: networks made without --subnet get 10.88.X.0/24 */

static int networks_dir(char *buf, size_t n, struct cove_error *err)
{
    struct store s;
    int rc = store_open(&s, err);
    if (rc < 0)
        return rc;
    if (store_path(buf, n, "%s/networks", s.home) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return store_mkdir_p(buf, err);
}

int cove_network_run_dir(const char *name, char *buf, size_t n, struct cove_error *err)
{
    struct store s;
    int rc = store_open(&s, err);
    if (rc < 0)
        return rc;
    if (store_path(buf, n, "%s/run/networks/%s", s.home, name) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return store_mkdir_p(buf, err);
}

int cove_network_parse_subnet(const char *text, uint32_t *net, unsigned *prefix,
                              struct cove_error *err)
{
    char addr[16], rest[8];
    unsigned p;
    struct in_addr a;
    const char *slash = strchr(text, '/');
    if (!slash || (size_t)(slash - text) >= sizeof addr ||
        sscanf(slash + 1, "%u%1s", &p, rest) != 1 || slash[1] < '0' || slash[1] > '9')
        return cove_error_set(err, -EINVAL, "subnet '%s' is not A.B.C.D/PREFIX (e.g. "
                              "10.88.1.0/24)", text);
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = 0;
    if (inet_pton(AF_INET, addr, &a) != 1)
        return cove_error_set(err, -EINVAL, "subnet '%s': '%s' is not an IPv4 address", text,
                              addr);
    if (p < 8 || p > 30)
        return cove_error_set(err, -EINVAL, "subnet '%s': the prefix must be 8 to 30 (a "
                              "network needs a gateway and at least one VM)", text);
    uint32_t ip = ntohl(a.s_addr), mask = ~0u << (32 - p);
    if (ip & ~mask) {
        struct in_addr base = {htonl(ip & mask)};
        return cove_error_set(err, -EINVAL, "subnet '%s' has host bits set; did you mean "
                              "%s/%u?", text, inet_ntoa(base), p);
    }
    *net = ip;
    *prefix = p;
    return 0;
}

static void format_info(struct cove_network_info *i)
{
    struct in_addr a = {htonl(i->net)}, g = {htonl(i->net + 1)};
    snprintf(i->subnet, sizeof i->subnet, "%s/%u", inet_ntoa(a), i->prefix);
    snprintf(i->gateway, sizeof i->gateway, "%s", inet_ntoa(g));
}

/* The live state: the switch (whoever holds switch.lock; its pid is in it) and the VMs
 * whose port sockets (port-PID-N.sock) belong to running processes. */
static void read_state(struct cove_network_info *i)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    struct cove_error e = {0};
    i->switch_pid = 0;
    i->vms = 0;
    if (cove_network_run_dir(i->name, dir, sizeof dir, &e) < 0)
        return;
    snprintf(path, sizeof path, "%s/switch.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
            char text[16] = {0};
            if (pread(fd, text, sizeof text - 1, 0) > 0)
                i->switch_pid = atoi(text);
            if (i->switch_pid <= 0)
                i->switch_pid = -1; /* running, pid not yet written */
        }
        close(fd);
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        int pid;
        unsigned seq;
        char end[8];
        if (sscanf(de->d_name, "port-%d-%u.soc%1s", &pid, &seq, end) == 3 && pid > 0 &&
            (kill(pid, 0) == 0 || errno == EPERM))
            i->vms++;
    }
    if (d)
        closedir(d);
}

/* Checks egress rules as given and copies them into out->egress. */
static int take_rules(const struct cove_network_egress *in, bool nat,
                      struct cove_network_egress *out, struct cove_error *err)
{
    if (!in || (!in->nallow && !in->nblock))
        return 0;
    if (!nat)
        return cove_error_set(err, -EINVAL, "egress rules (--net-allow, --net-block) need "
                              "a network with a NAT uplink (--nat): without one its VMs "
                              "reach nothing outside");
    if (in->nallow > COVE_NETWORK_RULES || in->nblock > COVE_NETWORK_RULES ||
        in->nallow + in->nblock > COVE_NETWORK_RULES)
        return cove_error_set(err, -EINVAL, "at most %d egress rules in all",
                              COVE_NETWORK_RULES);
    struct net_rule r;
    for (unsigned i = 0; i < in->nallow + in->nblock; i++) {
        bool allow = i < in->nallow;
        const char *text = allow ? in->allow[i] : in->block[i - in->nallow];
        if (strnlen(text, COVE_NETWORK_RULE_LEN) == COVE_NETWORK_RULE_LEN)
            return cove_error_set(err, -EINVAL, "egress rule '%.*s...' is too long",
                                  COVE_NETWORK_RULE_LEN / 2, text);
        int rc = net_rule_parse(text, allow, &r, err);
        if (rc < 0)
            return rc;
    }
    *out = *in;
    return 0;
}

static int load_rule_list(json_t *arr, char (*dst)[COVE_NETWORK_RULE_LEN], unsigned *n,
                          const char *key, struct cove_error *err)
{
    size_t i;
    json_t *v;
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > COVE_NETWORK_RULES)
        return cove_error_set(err, -EINVAL, "\"%s\" is not a list of at most %d rules", key,
                              COVE_NETWORK_RULES);
    json_array_foreach(arr, i, v) {
        const char *text = json_string_value(v);
        if (!text || strlen(text) >= COVE_NETWORK_RULE_LEN)
            return cove_error_set(err, -EINVAL, "\"%s\" holds something that is not a rule",
                                  key);
        snprintf(dst[i], COVE_NETWORK_RULE_LEN, "%s", text);
    }
    *n = (unsigned)json_array_size(arr);
    return 0;
}

static int load_rules(json_t *root, struct cove_network_info *out, struct cove_error *err)
{
    struct cove_network_egress e = {0};
    int rc = load_rule_list(json_object_get(root, "allow"), e.allow, &e.nallow, "allow", err);
    if (rc == 0)
        rc = load_rule_list(json_object_get(root, "block"), e.block, &e.nblock, "block", err);
    return rc < 0 ? rc : take_rules(&e, out->nat, &out->egress, err);
}

static int load(const char *path, const char *name, struct cove_network_info *out,
                struct cove_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return errno == ENOENT || access(path, F_OK) < 0
                   ? cove_error_set(err, -ENOENT, "network '%s' does not exist; see `cove "
                                    "network list`", name)
                   : cove_error_set(err, -EINVAL, "%s: %s", path, je.text);
    const char *subnet = json_string_value(json_object_get(root, "subnet"));
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    out->nat = json_is_true(json_object_get(root, "nat")); /* absent: a network made before */
    int rc = subnet ? cove_network_parse_subnet(subnet, &out->net, &out->prefix, err)
                    : cove_error_set(err, -EINVAL, "%s has no \"subnet\"", path);
    if (rc == 0 && (rc = load_rules(root, out, err)) < 0) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        cove_error_set(err, rc, "%s: %s", path, why);
    }
    json_decref(root);
    if (rc < 0)
        return rc;
    format_info(out);
    read_state(out);
    return 0;
}

static int definition_path(const char *name, char *buf, size_t n, struct cove_error *err)
{
    char dir[PATH_MAX];
    int rc = store_check_label("network name", name, err);
    if (rc < 0 || (rc = networks_dir(dir, sizeof dir, err)) < 0)
        return rc;
    if (store_path(buf, n, "%s/%s.json", dir, name) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return 0;
}

int cove_network_get(const char *name, struct cove_network_info *out, struct cove_error *err)
{
    char path[PATH_MAX];
    int rc = definition_path(name, path, sizeof path, err);
    return rc < 0 ? rc : load(path, name, out, err);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct cove_network_info *)a)->name,
                  ((const struct cove_network_info *)b)->name);
}

int cove_network_list(struct cove_network_info **out, unsigned *n, struct cove_error *err)
{
    char dir[PATH_MAX];
    int rc = networks_dir(dir, sizeof dir, err);
    if (rc < 0)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return cove_error_set(err, -errno, "%s: %s", dir, strerror(errno));
    struct cove_network_info *v = NULL;
    unsigned count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char name[256];
        if (len <= 5 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(len - 5), de->d_name);
        struct cove_network_info info;
        struct cove_error ignored = {0};
        if (store_check_label("network name", name, &ignored) < 0 ||
            cove_network_get(name, &info, &ignored) < 0)
            continue; /* not a definition of ours */
        struct cove_network_info *grown = realloc(v, (count + 1) * sizeof *v);
        if (!grown) {
            closedir(d);
            free(v);
            return cove_error_set(err, -ENOMEM, "out of memory");
        }
        v = grown;
        v[count++] = info;
    }
    closedir(d);
    if (count)
        qsort(v, count, sizeof *v, by_name);
    *out = v;
    *n = count;
    return 0;
}

static int lock_networks(int *fd, struct cove_error *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 8];
    int rc = networks_dir(dir, sizeof dir, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return cove_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX) < 0) {
        rc = -errno;
        close(*fd);
        return cove_error_set(err, rc, "cannot lock %s: %s", path, strerror(-rc));
    }
    return 0;
}

static bool overlaps(uint32_t a, unsigned ap, uint32_t b, unsigned bp)
{
    unsigned p = ap < bp ? ap : bp;
    uint32_t mask = ~0u << (32 - p);
    return (a & mask) == (b & mask);
}

/* A subnet clear of every network's: the one asked for, else the first free 10.88.X.0/24. */
static int pick_subnet(const char *subnet, uint32_t *net, unsigned *prefix,
                       struct cove_error *err)
{
    struct cove_network_info *v;
    unsigned n;
    int rc = cove_network_list(&v, &n, err);
    if (rc < 0)
        return rc;
    if (subnet) {
        if ((rc = cove_network_parse_subnet(subnet, net, prefix, err)) == 0) {
            for (unsigned i = 0; i < n; i++) {
                if (overlaps(*net, *prefix, v[i].net, v[i].prefix)) {
                    rc = cove_error_set(err, -EEXIST, "subnet %s overlaps network '%s' (%s); "
                                        "choose another --subnet", subnet, v[i].name,
                                        v[i].subnet);
                    break;
                }
            }
        }
        free(v);
        return rc;
    }
    for (uint32_t x = 0; x < 256; x++) {
        uint32_t cand = DEFAULT_NET | x << 8;
        bool taken = false;
        for (unsigned i = 0; i < n && !taken; i++)
            taken = overlaps(cand, 24, v[i].net, v[i].prefix);
        if (!taken) {
            free(v);
            *net = cand;
            *prefix = 24;
            return 0;
        }
    }
    free(v);
    return cove_error_set(err, -ENOSPC, "every 10.88.X.0/24 is taken; give --subnet");
}

static json_t *rules_json(const char (*r)[COVE_NETWORK_RULE_LEN], unsigned n)
{
    json_t *arr = json_array();
    for (unsigned i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(r[i]));
    return arr;
}

char *cove_network_to_json(const struct cove_network_info *i, bool state)
{
    json_t *root = json_pack("{s:s, s:s, s:b, s:o*, s:o*}", "name", i->name, "subnet",
                             i->subnet, "nat", i->nat, "allow",
                             rules_json(i->egress.allow, i->egress.nallow), "block",
                             rules_json(i->egress.block, i->egress.nblock));
    if (root && state &&
        json_object_update_new(root, json_pack("{s:s, s:b, s:i, s:i}", "gateway", i->gateway,
                                               "switch_running", i->switch_pid != 0,
                                               "switch_pid",
                                               i->switch_pid > 0 ? (int)i->switch_pid : 0,
                                               "vms", (int)i->vms)) < 0) {
        json_decref(root);
        return NULL;
    }
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return text;
}

int cove_network_create(const char *name, const char *subnet, bool nat,
                        const struct cove_network_egress *egress,
                        struct cove_network_info *out, struct cove_error *err)
{
    char path[PATH_MAX];
    struct cove_network_info info = {0};
    int lock, rc = definition_path(name, path, sizeof path, err);
    if (rc < 0 || (rc = take_rules(egress, nat, &info.egress, err)) < 0 ||
        (rc = lock_networks(&lock, err)) < 0)
        return rc;
    if (access(path, F_OK) == 0) {
        rc = cove_error_set(err, -EEXIST, "network '%s' already exists; see `cove network "
                            "list`", name);
        goto out;
    }
    if ((rc = pick_subnet(subnet, &info.net, &info.prefix, err)) < 0)
        goto out;
    snprintf(info.name, sizeof info.name, "%s", name);
    info.nat = nat;
    format_info(&info);
    char *text = cove_network_to_json(&info, false);
    if (!text) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    rc = store_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    if (rc == 0 && out)
        *out = info;
out:
    close(lock);
    return rc;
}

/* Stops an idle switch: SIGTERM, then waits up to 2 s for its lock to be free. */
static void stop_switch(const struct cove_network_info *i)
{
    if (i->switch_pid <= 0)
        return;
    kill(i->switch_pid, SIGTERM);
    long long deadline = monotonic_ms() + 2000;
    struct cove_network_info now = *i;
    do {
        usleep(20000);
        read_state(&now);
    } while (now.switch_pid && monotonic_ms() < deadline);
}

int cove_network_delete(const char *name, struct cove_error *err)
{
    char path[PATH_MAX], dir[PATH_MAX];
    struct cove_network_info info;
    int lock, rc = definition_path(name, path, sizeof path, err);
    if (rc < 0 || (rc = lock_networks(&lock, err)) < 0)
        return rc;
    if ((rc = load(path, name, &info, err)) < 0)
        goto out;
    if (info.vms) {
        rc = cove_error_set(err, -EBUSY, "network '%s' has %u VM(s) attached; stop them "
                            "first", name, info.vms);
        goto out;
    }
    stop_switch(&info);
    if (unlink(path) < 0) {
        rc = cove_error_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
        goto out;
    }
    if (cove_network_run_dir(name, dir, sizeof dir, err) == 0)
        store_remove_tree(dir);
    rc = 0;
out:
    close(lock);
    return rc;
}
