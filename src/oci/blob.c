/*
 * Blobs and manifests of one repository (distribution spec): HEAD to skip what the registry
 * has, a cross-repository mount (POST ?mount=&from=) when another repository of the registry
 * has it, upload as POST then PUT with the digest (monolithic), or POST, PATCHes and PUT
 * (chunked: $COVE_REGISTRY_UPLOAD_CHUNK, or a registry refusing a large PUT), download into
 * memory, hashed on the way and kept only when the digest matches.
 */
#include "oci/oci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <cove/size.h>


int oci_blob_exists(struct oci_client *c, const char *digest, struct cove_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "blobs/%s", digest);
    struct oci_response r = {0};
    int rc = oci_request(c, "HEAD", path, NULL, NULL, 0, NULL, &r, err);
    if (rc == 0)
        rc = r.status == 200 ? 1 : r.status == 404 ? 0 : oci_status_error(c, "HEAD blob", &r, err);
    oci_response_free(&r);
    return rc;
}

int oci_upload_chunk(uint64_t *out, struct cove_error *err)
{
    const char *env = getenv("COVE_REGISTRY_UPLOAD_CHUNK");
    *out = 0;
    if (env && *env && (cove_size_parse(env, 1, out) < 0 || *out > OCI_MAX_CHUNK)) {
        *out = 0;
        return cove_error_set(err, -EINVAL, "COVE_REGISTRY_UPLOAD_CHUNK: '%s' is not a size of "
                              "upload pieces (bytes, or with K or M; at most 256M); unset it "
                              "for uploads in one request", env);
    }
    return 0;
}

/* The size of the PATCH requests an upload goes in: $COVE_REGISTRY_UPLOAD_CHUNK (0 or unset:
 * one PUT), raised to what the registry asks as its least (OCI-Chunk-Min-Length). */
static uint64_t patch_size(const struct oci_response *started)
{
    uint64_t chunk;
    oci_upload_chunk(&chunk, NULL);
    if (started->chunk_min && chunk && chunk < started->chunk_min)
        chunk = started->chunk_min;
    return chunk;
}

/* The rest of an upload the registry has started (its Location in r): data in PATCH
 * requests of chunk bytes each (the registry names where the next goes), then the PUT with
 * the digest; or all of it in that PUT (chunk 0). */
static int upload_data(struct oci_client *c, const char *digest, const void *data, size_t len,
                       uint64_t chunk, const char *what, struct oci_response *r,
                       struct cove_error *err)
{
    static const char *const octets = "Content-Type: application/octet-stream";
    size_t off = 0;
    int rc = 0;
    while (chunk && len - off > 0 && rc == 0) {
        size_t n = len - off < chunk ? len - off : (size_t)chunk;
        char range[64], *url = strdup(r->location);
        snprintf(range, sizeof range, "Content-Range: %zu-%zu", off, off + n - 1);
        const char *const headers[] = {octets, range, NULL};
        rc = url ? oci_request(c, "PATCH", url, headers, (const char *)data + off, n, what, r, err)
                 : cove_error_set(err, -ENOMEM, "out of memory");
        free(url);
        if (rc == 0 && r->status != 202)
            rc = oci_status_error(c, "uploading a piece of a blob", r, err);
        if (rc == 0 && !r->location[0])
            rc = cove_error_set(err, -EPROTO, "%s: an upload's PATCH answered without a "
                                "Location", oci_client_registry(c));
        off += n;
    }
    char *url = NULL;
    if (rc == 0 && asprintf(&url, "%s%sdigest=%s", r->location,
                            strchr(r->location, '?') ? "&" : "?", digest) < 0)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) {
        /* a relative Location is relative to the registry's root */
        const char *const headers[] = {octets, NULL};
        rc = oci_request(c, "PUT", url, headers, (const char *)data + off, len - off, what, r,
                         err);
        if (rc == 0 && r->status != 201)
            rc = oci_status_error(c, "uploading a blob", r, err);
    }
    free(url);
    return rc;
}

/* POST blobs/uploads/ (with ?mount=&from=: 201 when the registry mounted it). */
static int start_upload(struct oci_client *c, const char *digest, const char *mount_from,
                        const char *what, struct oci_response *r, struct cove_error *err)
{
    char path[700] = "blobs/uploads/";
    if (mount_from) {
        char *from = curl_escape(mount_from, 0);
        if (!from)
            return cove_error_set(err, -ENOMEM, "out of memory");
        snprintf(path, sizeof path, "blobs/uploads/?mount=%s&from=%s", digest, from);
        curl_free(from);
    }
    int rc = oci_request(c, "POST", path, NULL, "", 0, what, r, err);
    if (rc == 0 && r->status != 202 && !(mount_from && r->status == 201))
        rc = oci_status_error(c, "starting an upload", r, err);
    if (rc == 0 && r->status == 202 && !r->location[0])
        rc = cove_error_set(err, -EPROTO, "%s: an upload without a Location",
                            oci_client_registry(c));
    return rc;
}

int oci_blob_upload(struct oci_client *c, const char *digest, const void *data, size_t len,
                    const char *mount_from, const char *what, struct cove_error *err)
{
    struct oci_response r = {0};
    int rc = start_upload(c, digest, mount_from, what, &r, err);
    if (rc == 0 && r.status == 201) { /* mounted: nothing to send */
        oci_response_free(&r);
        return 1;
    }
    /* a mount refused (no pull access to the other repository, say): sent after all */
    if (rc < 0 && rc != -ECONNREFUSED && mount_from)
        rc = start_upload(c, digest, NULL, what, &r, err);
    /* a registry that cannot mount starts an ordinary upload instead */
    uint64_t chunk = rc == 0 ? patch_size(&r) : 0;
    if (rc == 0)
        rc = upload_data(c, digest, data, len, chunk, what, &r, err);
    if (rc == -EIO && r.status == 413 && !chunk) {
        /* too large for one request (a proxy's limit): again, in pieces */
        if ((rc = start_upload(c, digest, NULL, what, &r, err)) == 0)
            rc = upload_data(c, digest, data, len, OCI_UPLOAD_PIECE, what, &r, err);
    }
    oci_response_free(&r);
    return rc;
}

int oci_blob_fetch(struct oci_client *c, const char *digest, uint64_t size, void *buf,
                   const char *what, struct cove_error *err)
{
    struct oci_response r = {.into = buf, .hash = oci_hash_new(), .limit = size};
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
    struct oci_response r = {.max = OCI_MAX_MANIFEST};
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
    struct oci_response r = {0};
    int rc = oci_request(c, "PUT", path, headers, body, len, NULL, &r, err);
    if (rc == 0 && r.status != 201)
        rc = oci_status_error(c, "putting the manifest", &r, err);
    oci_response_free(&r);
    return rc;
}
