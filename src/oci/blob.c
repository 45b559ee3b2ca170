/*
 * Blobs and manifests of one repository (distribution spec): HEAD to skip what the registry
 * has, upload as POST then PUT with the digest (monolithic), download into a temporary
 * file hashed on the way and renamed into place only when the digest matches.
 */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

int oci_blob_exists(struct oci_client *c, const char *digest, struct cove_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "blobs/%s", digest);
    struct oci_response r = {.fd = -1};
    int rc = oci_request(c, "HEAD", path, NULL, NULL, 0, NULL, &r, err);
    if (rc == 0)
        rc = r.status == 200 ? 1 : r.status == 404 ? 0 : oci_status_error(c, "HEAD blob", &r, err);
    oci_response_free(&r);
    return rc;
}

int oci_blob_upload(struct oci_client *c, const char *digest, const void *data, size_t len,
                    const char *what, struct cove_error *err)
{
    struct oci_response r = {.fd = -1};
    int rc = oci_request(c, "POST", "blobs/uploads/", NULL, "", 0, what, &r, err);
    if (rc == 0 && r.status != 202)
        rc = oci_status_error(c, "starting an upload", &r, err);
    if (rc == 0 && !r.location[0])
        rc = cove_error_set(err, -EPROTO, "%s: an upload without a Location",
                            oci_client_registry(c));
    char *url = NULL;
    if (rc == 0 && asprintf(&url, "%s%sdigest=%s", r.location, strchr(r.location, '?') ? "&" : "?",
                            digest) < 0)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) {
        /* a relative Location is relative to the registry's root */
        static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
        rc = oci_request(c, "PUT", url, headers, data, len, what, &r, err);
        if (rc == 0 && r.status != 201)
            rc = oci_status_error(c, "uploading a blob", &r, err);
    }
    free(url);
    oci_response_free(&r);
    return rc;
}

int oci_blob_download(struct oci_client *c, const char *digest, uint64_t size, const char *path,
                      const char *what, struct cove_error *err)
{
    char dir[4096], tmp[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    if (store_temp_path(dir, "blob", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cove_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
    struct oci_response r = {.fd = fd, .hash = oci_hash_new(), .limit = size};
    char rpath[128];
    snprintf(rpath, sizeof rpath, "blobs/%s", digest);
    int rc = r.hash ? oci_request(c, "GET", rpath, NULL, NULL, 0, what, &r, err)
                    : cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0 && r.status != 200)
        rc = oci_status_error(c, "downloading a blob", &r, err);
    if (rc == 0) {
        char got[OCI_DIGEST_LEN + 1];
        oci_hash_final(r.hash, got);
        if (r.written != size || strcmp(got, digest))
            rc = cove_error_set(err, -EBADMSG, "%s: blob %s (%s) does not match its digest "
                                "(got %s, %llu of %llu bytes); refusing it",
                                oci_client_registry(c), digest, what ? what : "", got,
                                (unsigned long long)r.written, (unsigned long long)size);
    }
    /* no fsync: a blob is hashed again whenever it is used (pull.c), so one a crash
     * damaged is fetched again, never trusted */
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = cove_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    oci_hash_free(r.hash);
    oci_response_free(&r);
    return rc;
}

static const char *const manifest_accept[] = {
    "Accept: " OCI_MANIFEST_TYPE ", application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json",
    NULL};

int oci_manifest_get(struct oci_client *c, const char *reference, char **body, size_t *len,
                     char *digest, struct cove_error *err)
{
    char path[300];
    snprintf(path, sizeof path, "manifests/%s", reference);
    struct oci_response r = {.fd = -1, .max = OCI_MAX_MANIFEST};
    int rc = oci_request(c, "GET", path, manifest_accept, NULL, 0, NULL, &r, err);
    if (rc == 0 && r.status == 404)
        rc = cove_error_set(err, -ENOENT, "%s/%s: no manifest '%s' (unknown repository, tag "
                            "or digest)", oci_client_registry(c), oci_client_repository(c),
                            reference);
    else if (rc == 0 && r.status != 200)
        rc = oci_status_error(c, "getting the manifest", &r, err);
    if (rc == 0) {
        oci_digest(r.body ? r.body : "", r.len, digest);
        if (oci_digest_valid(reference) && strcmp(reference, digest))
            rc = cove_error_set(err, -EBADMSG, "%s: the manifest %s does not match its digest "
                                "(got %s); refusing it", oci_client_registry(c), reference, digest);
    }
    if (rc < 0) {
        oci_response_free(&r);
        return rc;
    }
    *body = r.body ? r.body : strdup("");
    *len = r.len;
    return 0;
}

int oci_manifest_put(struct oci_client *c, const char *reference, const char *body, size_t len,
                     struct cove_error *err)
{
    char path[300];
    snprintf(path, sizeof path, "manifests/%s", reference);
    static const char *const headers[] = {"Content-Type: " OCI_MANIFEST_TYPE, NULL};
    struct oci_response r = {.fd = -1};
    int rc = oci_request(c, "PUT", path, headers, body, len, NULL, &r, err);
    if (rc == 0 && r.status != 201)
        rc = oci_status_error(c, "putting the manifest", &r, err);
    oci_response_free(&r);
    return rc;
}
