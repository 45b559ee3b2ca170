/*
 * Registry credentials and challenges. cove login writes COVE_HOME/auth.json (0600, the
 * layout of Docker's config.json: {"auths": {"HOST[:PORT]": {"auth": base64(user:pass)}}});
 * lookups read it first, then ~/.docker/config.json (credential helpers are not run).
 */
#include "oci/oci.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "store/store.h"

static int auth_path(char *buf, size_t n, struct cove_error *err)
{
    struct store s;
    int rc = store_open(&s, err);
    if (rc < 0)
        return rc;
    if (store_path(buf, n, "%s/auth.json", s.home) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return 0;
}

/* user and password of registry in a config.json-like file: 1 found, 0 not. */
static int lookup_in(const char *path, const char *registry, char *user, size_t ulen, char *pass,
                     size_t plen)
{
    json_t *root = json_load_file(path, 0, NULL);
    if (!root)
        return 0;
    json_t *auths = json_object_get(root, "auths");
    json_t *entry = json_object_get(auths, registry);
    if (!entry && !strcmp(registry, "docker.io"))
        entry = json_object_get(auths, "https://index.docker.io/v1/");
    const char *b64 = json_string_value(json_object_get(entry, "auth"));
    int found = 0;
    size_t len;
    char *plain = b64 ? oci_base64_decode(b64, &len) : NULL;
    char *colon = plain ? strchr(plain, ':') : NULL;
    if (colon && (size_t)(colon - plain) < ulen && strlen(colon + 1) < plen) {
        *colon = 0;
        snprintf(user, ulen, "%s", plain);
        snprintf(pass, plen, "%s", colon + 1);
        found = 1;
    }
    free(plain);
    json_decref(root);
    return found;
}

int oci_auth_lookup(const char *registry, char *user, size_t ulen, char *pass, size_t plen)
{
    char path[4096];
    if (auth_path(path, sizeof path, NULL) == 0 &&
        lookup_in(path, registry, user, ulen, pass, plen))
        return 1;
    const char *home = getenv("HOME");
    if (!home || snprintf(path, sizeof path, "%s/.docker/config.json", home) >= (int)sizeof path)
        return 0;
    return lookup_in(path, registry, user, ulen, pass, plen);
}

/* Applies a change to auth.json and writes it back (0600, atomically). */
static int auth_update(const char *registry, json_t *entry, struct cove_error *err)
{
    char path[4096];
    int rc = auth_path(path, sizeof path, err);
    if (rc < 0) {
        json_decref(entry);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root && access(path, F_OK) == 0) {
        json_decref(entry);
        return cove_error_set(err, -EINVAL, "%s: %s; fix or remove it", path, jerr.text);
    }
    if (!root)
        root = json_object();
    json_t *auths = json_object_get(root, "auths");
    if (!json_is_object(auths)) {
        auths = json_object();
        json_object_set_new(root, "auths", auths);
    }
    if (entry) {
        json_object_set_new(auths, registry, entry);
    } else if (json_object_del(auths, registry) < 0) {
        json_decref(root);
        return cove_error_set(err, -ENOENT, "not logged in to %s", registry);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return cove_error_set(err, -ENOMEM, "out of memory");
    rc = store_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

int oci_auth_store(const char *registry, const char *user, const char *pass,
                   struct cove_error *err)
{
    size_t n = strlen(user) + strlen(pass) + 2;
    char *plain = malloc(n);
    if (!plain)
        return cove_error_set(err, -ENOMEM, "out of memory");
    snprintf(plain, n, "%s:%s", user, pass);
    char *b64 = oci_base64_encode(plain, n - 1);
    free(plain);
    if (!b64)
        return cove_error_set(err, -ENOMEM, "out of memory");
    json_t *entry = json_pack("{s:s}", "auth", b64);
    free(b64);
    return auth_update(registry, entry, err);
}

int oci_auth_remove(const char *registry, struct cove_error *err)
{
    return auth_update(registry, NULL, err);
}

/* key="value" pairs after the scheme */
int oci_challenge_parse(const char *h, struct oci_challenge *out)
{
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*h))
        h++;
    size_t n = strcspn(h, " \t");
    if (n == 0 || n >= sizeof out->scheme)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        out->scheme[i] = (char)tolower((unsigned char)h[i]);
    const char *p = h + n;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        char val[1024];
        size_t vlen = 0;
        if (*v == '"') {
            v++;
            while (*v && *v != '"') {
                if (*v == '\\' && v[1])
                    v++;
                if (vlen < sizeof val - 1)
                    val[vlen++] = *v;
                v++;
            }
            if (*v == '"')
                v++;
        } else {
            while (*v && *v != ',' && vlen < sizeof val - 1)
                val[vlen++] = *v++;
        }
        val[vlen] = 0;
        if (klen == 5 && !strncasecmp(p, "realm", 5))
            snprintf(out->realm, sizeof out->realm, "%s", val);
        else if (klen == 7 && !strncasecmp(p, "service", 7))
            snprintf(out->service, sizeof out->service, "%s", val);
        else if (klen == 5 && !strncasecmp(p, "scope", 5))
            snprintf(out->scope, sizeof out->scope, "%s", val);
        p = v;
    }
    return 0;
}
