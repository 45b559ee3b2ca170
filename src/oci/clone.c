/*
 * cove clone REF NAME and cove login/logout: the commands that use a pulled image or the
 * credentials rather than move blobs.
 */
#include "oci/oci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/bundle.h"

int cove_oci_clone(const char *text, const char *name, const struct cove_oci_options *o,
                   bool *pulled, struct cove_error *err)
{
    struct oci_ref ref;
    struct oci_cache cache;
    char ref_text[600], digest[OCI_DIGEST_LEN + 1], dir[4096];
    if (pulled)
        *pulled = false;
    int rc = oci_ref_parse(text, &ref, err);
    if (rc < 0 || (rc = store_check_name(name, err)) < 0 || (rc = oci_cache_open(&cache, err)) < 0)
        return rc;
    struct store s;
    char bundle[4096];
    if ((rc = store_open(&s, err)) < 0)
        return rc;
    if (store_bundle_path(&s, name, bundle, sizeof bundle) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(bundle, F_OK) == 0) /* before a pull, not after it */
        return cove_error_set(err, -EEXIST, "VM '%s' already exists", name);
    oci_ref_format(&ref, ref_text, sizeof ref_text);
    /* Tart's semantics: a tag pulled once is used as it was; `cove pull` refreshes it */
    bool cached = false;
    if (ref.digest[0])
        snprintf(digest, sizeof digest, "%s", ref.digest);
    if (ref.digest[0] || oci_cache_ref_get(&cache, ref_text, digest) == 0)
        cached = oci_cache_image_path(&cache, digest, dir, sizeof dir) == 0 &&
                 access(dir, F_OK) == 0;
    if (!cached) {
        struct cove_oci_transfer t;
        if ((rc = oci_pull(&ref, o, &t, dir, sizeof dir, err)) < 0)
            return rc;
        snprintf(digest, sizeof digest, "%s", t.digest);
        if (pulled)
            *pulled = true;
    }
    return store_create_from_pulled(name, dir, digest + 7, NULL, err);
}

int cove_oci_login(const char *registry, const char *user, const char *password,
                   const struct cove_oci_options *o, struct cove_error *err)
{
    int rc = oci_registry_check(registry, err);
    if (rc < 0)
        return rc;
    if (!user || !*user || strchr(user, ':'))
        return cove_error_set(err, -EINVAL, "give a user name without ':'");
    struct oci_ref ref = {0};
    snprintf(ref.registry, sizeof ref.registry, "%s", registry);
    snprintf(ref.repository, sizeof ref.repository, "cove-login");
    struct oci_client *c;
    /* GET /v2/ with these credentials answers the challenge: a wrong password fails here */
    if ((rc = oci_client_open(&ref, o, false, user, password ? password : "", &c, err)) < 0)
        return rc;
    oci_client_free(c);
    return oci_auth_store(registry, user, password ? password : "", err);
}

int cove_oci_logout(const char *registry, struct cove_error *err)
{
    int rc = oci_registry_check(registry, err);
    return rc < 0 ? rc : oci_auth_remove(registry, err);
}
