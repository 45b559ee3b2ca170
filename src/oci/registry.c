/*
 * HTTP to a registry (distribution spec) through libcurl: one easy handle per client, the
 * scheme chosen once (https; plain http only for a loopback registry or --insecure, when
 * the TLS handshake fails), the auth challenge answered (Basic, or a Bearer token from the
 * realm the registry names), transient failures retried with backoff.
 */
#include "oci/curl_lazy.h"
#include "oci/oci.h"

#include "util/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ATTEMPTS 4

struct oci_client {
    struct oci_ref ref;
    char base[400];           /* scheme://host[:port] */
    char user[256], pass[256];
    bool has_creds;
    bool push;
    char *authz;              /* the Authorization header to send, or NULL */
    struct cove_oci_options opts;
    CURL *curl;
    CURLcode last_cc;         /* of the last exchange */
    char errbuf[CURL_ERROR_SIZE];
};

const struct cove_oci_options *oci_client_options(const struct oci_client *c)
{
    return &c->opts;
}

const char *oci_client_registry(const struct oci_client *c)
{
    return c->ref.registry;
}

const char *oci_client_repository(const struct oci_client *c)
{
    return c->ref.repository;
}

void oci_response_free(struct oci_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* --- one HTTP exchange ------------------------------------------------------------------ */

struct upload {
    const char *data;
    size_t len, pos;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *opaque)
{
    struct upload *u = opaque;
    size_t want = size * n, left = u->len - u->pos;
    if (want > left)
        want = left;
    memcpy(buf, u->data + u->pos, want);
    u->pos += want;
    return want;
}

static size_t write_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct oci_response *r = opaque;
    size_t len = size * n;
    if (r->into && r->status >= 200 && r->status < 300) {
        if (r->written + len > r->limit)
            return 0; /* longer than its descriptor says: fails the transfer */
        memcpy(r->into + r->written, data, len);
        if (r->hash)
            oci_hash_update(r->hash, data, len);
        r->written += len;
        return len;
    }
    /* a small body (or an error's, kept for the message) in memory */
    if (r->len + len > (r->max ? r->max : 65536))
        return 0;
    char *b = realloc(r->body, r->len + len + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, data, len);
    r->body = b;
    r->len += len;
    b[r->len] = 0;
    return len;
}

static void header_value(const char *line, size_t len, char *out, size_t n)
{
    const char *v = memchr(line, ':', len);
    if (!v)
        return;
    v++;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vl = (size_t)(line + len - v);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    snprintf(out, n, "%.*s", (int)(vl < n ? vl : n - 1), v);
}

static size_t header_cb(char *line, size_t size, size_t n, void *opaque)
{
    struct oci_response *r = opaque;
    size_t len = size * n;
    if (len > 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (after a redirect) */
        r->location[0] = r->www_authenticate[0] = r->content_type[0] = 0;
        long status = 0;
        const char *sp = memchr(line, ' ', len);
        if (sp)
            status = strtol(sp + 1, NULL, 10);
        r->status = status;
    } else if (len > 9 && !strncasecmp(line, "location:", 9)) {
        header_value(line, len, r->location, sizeof r->location);
    } else if (len > 17 && !strncasecmp(line, "www-authenticate:", 17)) {
        header_value(line, len, r->www_authenticate, sizeof r->www_authenticate);
    } else if (len > 13 && !strncasecmp(line, "content-type:", 13)) {
        header_value(line, len, r->content_type, sizeof r->content_type);
    } else if (len > 21 && !strncasecmp(line, "oci-chunk-min-length:", 21)) {
        char v[32] = "";
        header_value(line, len, v, sizeof v);
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        /* a registry's wish, bounded: pieces stay within a blob's size anyway */
        r->chunk_min = end != v && !*end && n <= OCI_MAX_CHUNK ? n : 0;
    }
    return len;
}

static void reset_response(struct oci_response *r)
{
    oci_response_free(r);
    r->status = 0;
    r->location[0] = r->www_authenticate[0] = r->content_type[0] = 0;
    r->chunk_min = 0;
    if (r->into) {
        r->written = 0;
        if (r->hash) {
            char scratch[OCI_DIGEST_LEN + 1];
            oci_hash_final(r->hash, scratch); /* resets it */
        }
    }
}

static CURLcode perform(struct oci_client *c, const char *method, const char *url,
                        const char *const *headers, const void *body, size_t body_len,
                        struct oci_response *r)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    struct curl_slist *list = NULL;
    list = curl_slist_append(list, "Expect:");
    /* credentials go to the registry itself only, not to whatever host an upload's
     * Location or a token realm names */
    size_t blen = strlen(c->base);
    if (c->authz && (!strncmp(url, c->base, blen) && (url[blen] == '/' || !url[blen])))
        list = curl_slist_append(list, c->authz);
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    struct upload up = {.data = body, .len = body_len};
    c->errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cove/" "0.1");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled connection: under 1 KB/s for 60 s */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    /* blobs are megabytes: larger buffers than libcurl's (16 KiB down, 64 KiB up) mean
     * fewer callbacks and system calls per blob */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    const char *ca = getenv("COVE_REGISTRY_CA");
    if (ca && *ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (c->opts.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "GET")) {
        /* blobs may live behind a redirect (object storage); curl drops our Authorization
         * header on the way to another host */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    } else {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        r->status = status;
    curl_slist_free_all(list);
    return cc;
}

static bool transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static int curl_error(struct oci_client *c, CURLcode cc, const char *method, const char *url,
                      struct cove_error *err)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_PEER_FAILED_VERIFICATION)
        return cove_error_set(err, -EPERM, "%s: the registry's TLS certificate is not trusted "
                              "(%s); give its CA file in COVE_REGISTRY_CA, or use --insecure",
                              c->ref.registry, why);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
        return cove_error_set(err, -ECONNREFUSED, "%s: cannot reach the registry (%s)",
                              c->ref.registry, why);
    if (cc == CURLE_WRITE_ERROR)
        return cove_error_set(err, -EIO, "%s: %s %s: the response was larger than announced, "
                              "or could not be written (%s)", c->ref.registry, method, url, why);
    return cove_error_set(err, -EIO, "%s: %s %s: %s", c->ref.registry, method, url, why);
}

/* --- auth -------------------------------------------------------------------------------- */

static int auth_failed(struct oci_client *c, struct cove_error *err)
{
    if (!c->has_creds)
        return cove_error_set(err, -EACCES, "%s: authentication required; run `cove login %s`",
                              c->ref.registry, c->ref.registry);
    return cove_error_set(err, -EACCES, "%s: authentication failed for user '%s' (wrong user "
                          "or password?); run `cove login %s`", c->ref.registry, c->user,
                          c->ref.registry);
}

static char *basic_header(const struct oci_client *c)
{
    char plain[520], *out = NULL;
    snprintf(plain, sizeof plain, "%s:%s", c->user, c->pass);
    char *b64 = oci_base64_encode(plain, strlen(plain));
    if (b64 && asprintf(&out, "Authorization: Basic %s", b64) < 0)
        out = NULL;
    free(b64);
    return out;
}

static int bearer_token(struct oci_client *c, const struct oci_challenge *ch,
                        struct cove_error *err)
{
    char scope[1100];
    if (ch->scope[0])
        snprintf(scope, sizeof scope, "%s", ch->scope);
    else
        snprintf(scope, sizeof scope, "repository:%s:%s", c->ref.repository,
                 c->push ? "pull,push" : "pull");
    char *es = curl_easy_escape(c->curl, scope, 0), *sv = curl_easy_escape(c->curl, ch->service, 0);
    char *url = NULL;
    int rc = asprintf(&url, "%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                      sv ? sv : "", es ? es : "");
    curl_free(es);
    curl_free(sv);
    if (rc < 0)
        return cove_error_set(err, -ENOMEM, "out of memory");
    free(c->authz);
    c->authz = c->has_creds ? basic_header(c) : NULL;
    struct oci_response r = {.max = 1 << 20};
    CURLcode cc = perform(c, "GET", url, NULL, NULL, 0, &r);
    free(c->authz);
    c->authz = NULL;
    if (cc != CURLE_OK) {
        rc = curl_error(c, cc, "GET", url, err);
        free(url);
        oci_response_free(&r);
        return rc;
    }
    free(url);
    if (r.status == 401 || r.status == 403) {
        oci_response_free(&r);
        return auth_failed(c, err);
    }
    json_t *root = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(root, "access_token"));
    rc = 0;
    if (!tok || strlen(tok) > 16384 || strpbrk(tok, "\r\n"))
        rc = cove_error_set(err, -EPROTO, "%s: the token service %s answered %ld without a "
                            "token", c->ref.registry, ch->realm, r.status);
    else if (asprintf(&c->authz, "Authorization: Bearer %s", tok) < 0)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    json_decref(root);
    oci_response_free(&r);
    return rc;
}

/* Answers a 401: 0 to try again with c->authz set. */
static int answer_challenge(struct oci_client *c, const char *header, struct cove_error *err)
{
    struct oci_challenge ch;
    if (!header[0] || oci_challenge_parse(header, &ch) < 0)
        return auth_failed(c, err);
    if (!strcmp(ch.scheme, "basic")) {
        if (!c->has_creds || c->authz)
            return auth_failed(c, err);
        c->authz = basic_header(c);
        return c->authz ? 0 : cove_error_set(err, -ENOMEM, "out of memory");
    }
    if (!strcmp(ch.scheme, "bearer") && ch.realm[0]) {
        if (strncmp(ch.realm, "https://", 8) &&
            !(strncmp(ch.realm, "http://", 7) == 0 &&
              (c->opts.insecure || oci_host_is_loopback(c->ref.registry))))
            return cove_error_set(err, -EPROTO, "%s: refusing the token service %s (not https)",
                                  c->ref.registry, ch.realm);
        return bearer_token(c, &ch, err);
    }
    return cove_error_set(err, -EPROTO, "%s: unsupported authentication '%s'", c->ref.registry,
                          ch.scheme);
}

/* --- requests ---------------------------------------------------------------------------- */

static int request_url(struct oci_client *c, const char *path, char **url)
{
    int rc;
    if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8))
        rc = asprintf(url, "%s", path);
    else if (path[0] == '/')
        rc = asprintf(url, "%s%s", c->base, path);
    else
        rc = asprintf(url, "%s/v2/%s/%s", c->base, c->ref.repository, path);
    return rc < 0 ? -ENOMEM : 0;
}

int oci_request(struct oci_client *c, const char *method, const char *path,
                const char *const *headers, const void *body, size_t body_len,
                const char *what, struct oci_response *r, struct cove_error *err)
{
    char *url;
    if (request_url(c, path, &url) < 0)
        return cove_error_set(err, -ENOMEM, "out of memory");
    bool answered = false;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        reset_response(r);
        CURLcode cc = perform(c, method, url, headers, body, body_len, r);
        c->last_cc = cc;
        bool retry;
        if (cc != CURLE_OK) {
            retry = transient(cc) && attempt + 1 < ATTEMPTS;
            if (!retry) {
                rc = curl_error(c, cc, method, url, err);
                break;
            }
        } else if (r->status == 401) {
            if (answered) {
                rc = auth_failed(c, err);
                break;
            }
            answered = true;
            if ((rc = answer_challenge(c, r->www_authenticate, err)) < 0)
                break;
            continue;
        } else {
            retry = (r->status >= 500 || r->status == 429) && attempt + 1 < ATTEMPTS;
            if (!retry)
                break;
        }
        log_debug("%s %s%s%s: retrying (%s)", method, url, what ? " for " : "", what ? what : "",
                  cc != CURLE_OK ? curl_easy_strerror(cc) : "server error");
        struct timespec ts = {.tv_sec = attempt, .tv_nsec = 250000000L};
        nanosleep(&ts, NULL);
    }
    free(url);
    return rc;
}

int oci_status_error(struct oci_client *c, const char *what, const struct oci_response *r,
                     struct cove_error *err)
{
    char detail[300] = "";
    json_t *root = r->body && r->content_type[0] && strstr(r->content_type, "json")
                       ? json_loads(r->body, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
    const char *code = json_string_value(json_object_get(e0, "code"));
    const char *msg = json_string_value(json_object_get(e0, "message"));
    if (code)
        snprintf(detail, sizeof detail, " (%s%s%.200s)", code, msg ? ": " : "", msg ? msg : "");
    int errno_code = r->status == 404 ? -ENOENT
                     : (r->status == 401 || r->status == 403) ? -EACCES : -EIO;
    int rc = cove_error_set(err, errno_code, "%s/%s: %s: HTTP %ld%s", c->ref.registry,
                            c->ref.repository, what, r->status, detail);
    json_decref(root);
    return rc;
}

/* --- opening ------------------------------------------------------------------------------ */

static int ping(struct oci_client *c, struct cove_error *err)
{
    struct oci_response r = {0};
    int rc = oci_request(c, "GET", "/v2/", NULL, NULL, 0, NULL, &r, err);
    if (rc == 0 && r.status != 200)
        rc = r.status == 404
                 ? cove_error_set(err, -EPROTO, "%s: not an OCI registry (GET /v2/: 404)",
                                  c->ref.registry)
                 : oci_status_error(c, "GET /v2/", &r, err);
    oci_response_free(&r);
    return rc;
}

int oci_client_open(const struct oci_ref *ref, const struct cove_oci_options *o, bool push,
                    const char *user, const char *pass, struct oci_client **out,
                    struct cove_error *err)
{
    static bool curl_ready;
    const char *why = curl_lazy_load();
    if (why)
        return cove_error_set(err, -ENOSYS, "registries need libcurl: %s", why);
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    struct oci_client *c = calloc(1, sizeof *c);
    if (!c || !(c->curl = curl_easy_init())) {
        free(c);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    c->ref = *ref;
    c->push = push;
    if (o)
        c->opts = *o;
    if (user) {
        snprintf(c->user, sizeof c->user, "%s", user);
        snprintf(c->pass, sizeof c->pass, "%s", pass ? pass : "");
        c->has_creds = true;
    } else {
        c->has_creds = oci_auth_lookup(ref->registry, c->user, sizeof c->user, c->pass,
                                       sizeof c->pass) == 1;
    }
    const char *host = strcmp(ref->registry, "docker.io") ? ref->registry : "registry-1.docker.io";
    snprintf(c->base, sizeof c->base, "https://%s", host);
    struct cove_error first;
    int rc = ping(c, &first);
    /* A plain-HTTP server answers a TLS hello with garbage: the handshake fails. An
     * untrusted certificate is another error and never falls back. */
    if (rc < 0 && (c->opts.insecure || oci_host_is_loopback(ref->registry)) &&
        c->last_cc == CURLE_SSL_CONNECT_ERROR) {
        log_debug("%s: no TLS (%s); plain http", ref->registry, first.message);
        snprintf(c->base, sizeof c->base, "http://%s", host);
        rc = ping(c, err);
    } else if (rc < 0 && err) {
        *err = first;
    }
    if (rc < 0) {
        oci_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int oci_client_dup(const struct oci_client *c, struct oci_client **out, struct cove_error *err)
{
    struct oci_client *d = calloc(1, sizeof *d);
    if (!d || !(d->curl = curl_easy_init())) {
        free(d);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    d->ref = c->ref;
    memcpy(d->base, c->base, sizeof d->base);
    memcpy(d->user, c->user, sizeof d->user);
    memcpy(d->pass, c->pass, sizeof d->pass);
    d->has_creds = c->has_creds;
    d->push = c->push;
    d->opts = c->opts;
    if (c->authz && !(d->authz = strdup(c->authz))) {
        oci_client_free(d);
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
}

void oci_client_free(struct oci_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->authz);
    explicit_bzero(c->pass, sizeof c->pass);
    free(c);
}
