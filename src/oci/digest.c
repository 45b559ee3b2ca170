/*
 * SHA-256 digests as OCI writes them ("sha256:" + 64 lower-case hex digits), and the base64
 * of Basic credentials: OpenSSL's libcrypto.
 */
#include "oci/oci.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct oci_hash {
    EVP_MD_CTX *ctx;
};

struct oci_hash *oci_hash_new(void)
{
    struct oci_hash *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void oci_hash_update(struct oci_hash *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void oci_hash_final(struct oci_hash *h, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < 32; i++) {
        out[7 + 2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[8 + 2 * i] = "0123456789abcdef"[md[i] & 15];
    }
    out[OCI_DIGEST_LEN] = 0;
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void oci_hash_free(struct oci_hash *h)
{
    if (h) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
    }
}

void oci_digest(const void *data, size_t len, char *out)
{
    struct oci_hash *h = oci_hash_new();
    if (!h) {
        out[0] = 0;
        return;
    }
    oci_hash_update(h, data, len);
    oci_hash_final(h, out);
    oci_hash_free(h);
}

bool oci_digest_valid(const char *d)
{
    return d && strlen(d) == OCI_DIGEST_LEN && !strncmp(d, "sha256:", 7) &&
           strspn(d + 7, "0123456789abcdef") == 64;
}

char *oci_base64_encode(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *oci_base64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text);
    if (n % 4 || n > 65536)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int r = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    if (r < 0) {
        free(out);
        return NULL;
    }
    size_t l = (size_t)r; /* EVP_DecodeBlock counts the padding as bytes */
    if (n >= 1 && text[n - 1] == '=')
        l--;
    if (n >= 2 && text[n - 2] == '=')
        l--;
    out[l] = 0;
    *len = l;
    return (char *)out;
}
