/*
 * Registry references: [REGISTRY/]REPOSITORY[:TAG][@sha256:HEX], as Docker and the
 * distribution spec write them. The first component is the registry when it has a '.' or
 * a ':' or is "localhost"; otherwise docker.io (and "library/" before a one-component name).
 */
#include "oci/oci.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool cove_oci_is_ref(const char *text)
{
    return text && strchr(text, '/') != NULL;
}

/* a repository component: [a-z0-9]+ separated by '.', '_', "__" or runs of '-' */
static bool component_valid(const char *s, size_t len)
{
    if (len == 0 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]) ||
        !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (alnum || ch == '-')
            continue;
        if (ch == '.' && s[i + 1] != '.' && s[i + 1] != '_')
            continue;
        if (ch == '_' && (s[i + 1] != '_' || s[i + 2] != '_'))
            continue;
        return false;
    }
    return true;
}

static bool repository_valid(const char *repo)
{
    const char *p = repo;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_valid(p, len))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool tag_valid(const char *tag)
{
    size_t len = strlen(tag);
    if (len == 0 || len > 128 || tag[0] == '.' || tag[0] == '-')
        return false;
    return strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

int oci_registry_check(const char *registry, struct cove_error *err)
{
    size_t len = registry ? strlen(registry) : 0;
    if (len == 0 || len > 255 || strstr(registry, "://") || registry[0] == '-' ||
        strspn(registry, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != len)
        return cove_error_set(err, -EINVAL, "'%s' is not a registry; give HOST[:PORT] "
                              "(e.g. registry.example.com or localhost:5000)",
                              registry ? registry : "");
    return 0;
}

int oci_ref_parse(const char *text, struct oci_ref *out, struct cove_error *err)
{
    memset(out, 0, sizeof *out);
    char buf[1024];
    if (!text || strlen(text) >= sizeof buf)
        return cove_error_set(err, -EINVAL, "reference is too long");
    strcpy(buf, text);
    char *name = buf;
    char *at = strchr(buf, '@');
    if (at) {
        *at = 0;
        if (!oci_digest_valid(at + 1))
            return cove_error_set(err, -EINVAL, "reference '%s': '%s' is not a digest "
                                  "(sha256: and 64 hex digits)", text, at + 1);
        strcpy(out->digest, at + 1);
    }
    char *slash = strchr(name, '/');
    if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
                  memchr(name, ':', (size_t)(slash - name)) ||
                  (slash - name == 9 && !strncmp(name, "localhost", 9)))) {
        *slash = 0;
        if (oci_registry_check(name, NULL) < 0)
            return cove_error_set(err, -EINVAL, "reference '%s': '%s' is not a registry",
                                  text, name);
        snprintf(out->registry, sizeof out->registry, "%s", name);
        name = slash + 1;
    } else {
        strcpy(out->registry, "docker.io");
    }
    char *colon = strrchr(name, ':');
    if (colon) {
        *colon = 0;
        if (!tag_valid(colon + 1))
            return cove_error_set(err, -EINVAL, "reference '%s': '%s' is not a tag "
                                  "(letters, digits, '_', '.', '-', at most 128)", text, colon + 1);
        strcpy(out->tag, colon + 1);
    } else if (!at) {
        strcpy(out->tag, "latest");
    }
    if (strlen(name) >= sizeof out->repository - 8 || !repository_valid(name))
        return cove_error_set(err, -EINVAL, "reference '%s': '%s' is not a repository "
                              "(lower-case letters, digits, '.', '_', '-', '/'); use e.g. "
                              "localhost:5000/team/vm:1", text, name);
    if (!strcmp(out->registry, "docker.io") && !strchr(name, '/'))
        snprintf(out->repository, sizeof out->repository, "library/%s", name);
    else
        snprintf(out->repository, sizeof out->repository, "%s", name);
    return 0;
}

void oci_ref_format(const struct oci_ref *ref, char *buf, size_t n)
{
    if (ref->tag[0])
        snprintf(buf, n, "%s/%s:%s", ref->registry, ref->repository, ref->tag);
    else
        snprintf(buf, n, "%s/%s@%s", ref->registry, ref->repository, ref->digest);
}

bool oci_host_is_loopback(const char *registry)
{
    char host[256];
    snprintf(host, sizeof host, "%s", registry);
    if (host[0] == '[') { /* [::1]:5000 */
        char *end = strchr(host, ']');
        if (end)
            *end = 0;
        memmove(host, host + 1, strlen(host));
    } else {
        char *colon = strchr(host, ':');
        if (colon)
            *colon = 0;
    }
    if (!strcmp(host, "localhost"))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
