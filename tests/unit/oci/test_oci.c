/*
 * The registry client's parsers (src/oci): references, auth challenges, the manifest and
 * config blob a registry hands back (hostile input: every refusal is a case here), and
 * the round trip of what push builds through what pull checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "oci/oci.h"
#include "store/store.h"
#include "../test.h"

TEST(ref_forms)
{
    struct oci_ref r;
    REQUIRE(oci_ref_parse("localhost:5000/team/vm:1", &r, NULL) == 0);
    CHECK_STR(r.registry, "localhost:5000");
    CHECK_STR(r.repository, "team/vm");
    CHECK_STR(r.tag, "1");
    REQUIRE(oci_ref_parse("ghcr.io/org/env", &r, NULL) == 0);
    CHECK_STR(r.registry, "ghcr.io");
    CHECK_STR(r.tag, "latest");
    REQUIRE(oci_ref_parse("debian", &r, NULL) == 0);
    CHECK_STR(r.registry, "docker.io");
    CHECK_STR(r.repository, "library/debian");
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char text[200];
    snprintf(text, sizeof text, "127.0.0.1:5000/a/b@%s", d);
    REQUIRE(oci_ref_parse(text, &r, NULL) == 0);
    CHECK_STR(r.digest, d);
    CHECK_STR(r.tag, "");
    char back[600];
    oci_ref_format(&r, back, sizeof back);
    CHECK_STR(back, text);
}

TEST(ref_refused)
{
    struct oci_ref r;
    struct cove_error err;
    CHECK(oci_ref_parse("localhost:5000/Team/vm", &r, &err) == -EINVAL); /* upper case */
    CHECK(strstr(err.message, "not a repository") != NULL);
    CHECK(oci_ref_parse("localhost:5000/vm:-x", &r, &err) == -EINVAL);
    CHECK(oci_ref_parse("localhost:5000/vm@sha256:12", &r, &err) == -EINVAL);
    CHECK(oci_ref_parse("localhost:5000/a//b", &r, &err) == -EINVAL);
    CHECK(oci_ref_parse("localhost:5000/../x", &r, &err) == -EINVAL);
    CHECK(oci_registry_check("https://x", &err) == -EINVAL);
    CHECK(oci_registry_check("x/y", &err) == -EINVAL);
    CHECK(oci_registry_check("localhost:5000", &err) == 0);
}

TEST(loopback)
{
    CHECK(oci_host_is_loopback("localhost:5000"));
    CHECK(oci_host_is_loopback("127.0.0.1:5000"));
    CHECK(oci_host_is_loopback("127.1.2.3"));
    CHECK(oci_host_is_loopback("[::1]:5000"));
    CHECK(!oci_host_is_loopback("10.0.0.1:5000"));
    CHECK(!oci_host_is_loopback("localhost.example.com"));
}

TEST(challenges)
{
    struct oci_challenge c;
    REQUIRE(oci_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"reg\","
                                "scope=\"repository:a/b:pull,push\"", &c) == 0);
    CHECK_STR(c.scheme, "bearer");
    CHECK_STR(c.realm, "https://auth.example/token");
    CHECK_STR(c.service, "reg");
    CHECK_STR(c.scope, "repository:a/b:pull,push");
    REQUIRE(oci_challenge_parse("Basic realm=\"cove-test\"", &c) == 0);
    CHECK_STR(c.scheme, "basic");
    CHECK_STR(c.realm, "cove-test");
    CHECK(oci_challenge_parse("", &c) < 0);
}

TEST(digests_and_base64)
{
    char d[OCI_DIGEST_LEN + 1];
    oci_digest("abc", 3, d);
    CHECK_STR(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(oci_digest_valid(d));
    CHECK(!oci_digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    char *b = oci_base64_encode("alice:s3cret", 12);
    CHECK_STR(b, "YWxpY2U6czNjcmV0");
    size_t n;
    char *p = oci_base64_decode(b, &n);
    CHECK_STR(p, "alice:s3cret");
    CHECK_EQ_U64(n, 12);
    free(b);
    free(p);
    CHECK(oci_base64_decode("abc", &n) == NULL);
}

static const char *D1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
static const char *D2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

TEST(manifest_round_trip)
{
    struct oci_layer l[2] = {0};
    strcpy(l[0].digest, D1);
    l[0].size = 100;
    strcpy(l[0].file, "disk.img");
    l[0].offset = OCI_CHUNK_SIZE;
    l[0].length = OCI_CHUNK_SIZE;
    strcpy(l[0].data_digest, D2);
    l[0].kind = OCI_KIND_DISK;
    l[1] = l[0];
    strcpy(l[1].file, "kernel");
    l[1].offset = 0;
    l[1].length = 1000;
    l[1].kind = OCI_KIND_BOOT;
    struct oci_manifest m = {.layers = l, .nlayers = 2, .config_size = 10};
    strcpy(m.config_digest, D1);
    char *text = oci_manifest_build(&m, "2026-01-01T00:00:00Z");
    REQUIRE(text != NULL);
    CHECK(strstr(text, "\"artifactType\":\"" OCI_ARTIFACT_TYPE "\"") != NULL);
    struct oci_manifest got;
    REQUIRE(oci_manifest_parse(text, strlen(text), "t", &got, NULL) == 0);
    CHECK_EQ_U64(got.nlayers, 2);
    CHECK_STR(got.layers[0].file, "disk.img");
    CHECK_EQ_U64(got.layers[0].offset, OCI_CHUNK_SIZE);
    CHECK(got.layers[0].kind == OCI_KIND_DISK && got.layers[1].kind == OCI_KIND_BOOT);
    struct oci_file files[2] = {{"disk.img", 2 * OCI_CHUNK_SIZE, true}, {"kernel", 1000, false}};
    CHECK(oci_layers_check(&got, files, 2, NULL) == 0);
    files[0].size = OCI_CHUNK_SIZE + 5; /* the chunk runs past the disk */
    CHECK(oci_layers_check(&got, files, 2, NULL) == -EPROTO);
    files[0].size = 2 * OCI_CHUNK_SIZE;
    got.layers[1] = got.layers[0]; /* two layers at one place */
    CHECK(oci_layers_check(&got, files, 2, NULL) == -EPROTO);
    oci_manifest_free(&got);
    free(text);
}

/* A suspended VM's state: its own media types, each only in its kind of file. */
TEST(manifest_state_layers)
{
    struct oci_layer l[2] = {0};
    strcpy(l[0].digest, D1);
    l[0].size = 100;
    strcpy(l[0].file, OCI_STATE_FILE);
    l[0].length = 3000;
    strcpy(l[0].data_digest, D2);
    l[0].kind = OCI_KIND_STATE;
    l[1] = l[0];
    strcpy(l[1].file, OCI_MEMORY_FILE);
    l[1].offset = OCI_CHUNK_SIZE;
    l[1].length = OCI_CHUNK_SIZE;
    l[1].kind = OCI_KIND_MEMORY;
    struct oci_manifest m = {.layers = l, .nlayers = 2, .config_size = 10};
    strcpy(m.config_digest, D1);
    char *text = oci_manifest_build(&m, "2026-01-01T00:00:00Z");
    REQUIRE(text != NULL);
    CHECK(strstr(text, OCI_STATE_TYPE) != NULL && strstr(text, OCI_MEMORY_TYPE) != NULL);
    struct oci_manifest got;
    REQUIRE(oci_manifest_parse(text, strlen(text), "t", &got, NULL) == 0);
    CHECK(got.layers[0].kind == OCI_KIND_STATE && got.layers[1].kind == OCI_KIND_MEMORY);
    struct oci_file files[2] = {{OCI_STATE_FILE, 3000, false}, {OCI_MEMORY_FILE, 4 * OCI_CHUNK_SIZE, false}};
    CHECK(oci_file_kind(&files[0]) == OCI_KIND_STATE && oci_file_kind(&files[1]) == OCI_KIND_MEMORY);
    CHECK(oci_layers_check(&got, files, 2, NULL) == 0);
    /* a memory chunk aimed at the machine file, a disk chunk at the memory: refused */
    got.layers[1].kind = OCI_KIND_DISK;
    CHECK(oci_layers_check(&got, files, 2, NULL) == -EPROTO);
    got.layers[1].kind = OCI_KIND_MEMORY;
    strcpy(got.layers[1].file, OCI_STATE_FILE);
    got.layers[1].offset = 0;
    got.layers[1].length = 3000;
    CHECK(oci_layers_check(&got, files, 2, NULL) == -EPROTO);
    oci_manifest_free(&got);
    free(text);
    /* the config blob takes the two state names (not as disks), no other path */
    char *vm;
    struct oci_file *gf;
    size_t n;
    char *cfg = oci_config_build("{\"version\":1}", files, 2);
    REQUIRE(cfg != NULL);
    REQUIRE(oci_config_parse(cfg, strlen(cfg), &vm, &gf, &n, NULL) == 0);
    CHECK_EQ_U64(n, 2);
    CHECK(oci_file_kind(&gf[1]) == OCI_KIND_MEMORY);
    free(vm);
    free(gf);
    free(cfg);
    struct cove_error err;
    const char *other = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"state/x\",\"size\":1}]}";
    CHECK(oci_config_parse(other, strlen(other), &vm, &gf, &n, &err) == -EPROTO);
    const char *disk = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"state/memory\","
                       "\"size\":512,\"disk\":true}]}";
    CHECK(oci_config_parse(disk, strlen(disk), &vm, &gf, &n, &err) == -EPROTO);
}

TEST(manifest_refused)
{
    struct oci_manifest m;
    struct cove_error err;
    const char *image =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":5},"
        "\"layers\":[]}";
    CHECK(oci_manifest_parse(image, strlen(image), "x/y:1", &m, &err) == -EPROTO);
    CHECK(strstr(err.message, "is not a cove VM") != NULL);
    const char *docker = "{\"schemaVersion\":2,\"mediaType\":"
                         "\"application/vnd.docker.distribution.manifest.v2+json\"}";
    CHECK(oci_manifest_parse(docker, strlen(docker), "x/y:1", &m, &err) == -EPROTO);
    CHECK(strstr(err.message, "is not a cove VM") != NULL);
    CHECK(oci_manifest_parse("[1,2", 4, "x", &m, &err) == -EPROTO);
    /* a layer whose file is a path out of the bundle */
    char bad[2048];
    snprintf(bad, sizeof bad,
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"artifactType\":\"%s\",\"config\":"
             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":5},\"layers\":[{\"mediaType\":"
             "\"%s\",\"digest\":\"%s\",\"size\":5,\"annotations\":{\"%s\":\"../x\",\"%s\":\"0\","
             "\"%s\":\"5\",\"%s\":\"%s\"}}]}", OCI_MANIFEST_TYPE, OCI_ARTIFACT_TYPE,
             OCI_CONFIG_TYPE, D1, OCI_CHUNK_TYPE, D1, OCI_ANN_FILE, OCI_ANN_OFFSET,
             OCI_ANN_LENGTH, OCI_ANN_DIGEST, D2);
    CHECK(oci_manifest_parse(bad, strlen(bad), "x", &m, &err) == -EPROTO);
    CHECK(strstr(err.message, "not a file name") != NULL);
    char *p = strstr(bad, "../x");
    memcpy(p, "disk", 4); /* now valid */
    CHECK(oci_manifest_parse(bad, strlen(bad), "x", &m, &err) == 0);
    oci_manifest_free(&m);
    p = strstr(bad, "\"size\":5,\"annotations\"");
    memcpy(p, "\"size\":-", 8); /* a negative size */
    CHECK(oci_manifest_parse(bad, strlen(bad), "x", &m, &err) == -EPROTO);
}

TEST(config_blob)
{
    struct oci_file files[1] = {{"disk.img", 1 << 20, true}};
    char *text = oci_config_build("{\"version\":1}", files, 1);
    REQUIRE(text != NULL);
    char *vm;
    struct oci_file *got;
    size_t n;
    REQUIRE(oci_config_parse(text, strlen(text), &vm, &got, &n, NULL) == 0);
    CHECK_EQ_U64(n, 1);
    CHECK_STR(got[0].name, "disk.img");
    CHECK(got[0].disk);
    free(vm);
    free(got);
    free(text);
    const char *evil = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"/etc/passwd\",\"size\":1}]}";
    struct cove_error err;
    CHECK(oci_config_parse(evil, strlen(evil), &vm, &got, &n, &err) == -EPROTO);
    const char *twice = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"a\",\"size\":1},"
                        "{\"name\":\"a\",\"size\":1}]}";
    CHECK(oci_config_parse(twice, strlen(twice), &vm, &got, &n, &err) == -EPROTO);
    const char *ours = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"vm.json\",\"size\":1}]}";
    CHECK(oci_config_parse(ours, strlen(ours), &vm, &got, &n, &err) == -EPROTO);
    const char *huge = "{\"version\":1,\"vm\":{},\"files\":[{\"name\":\"a\",\"size\":"
                       "99999999999999999}]}";
    CHECK(oci_config_parse(huge, strlen(huge), &vm, &got, &n, &err) == -EPROTO);
}

/* What a push records (pushed.json): the next push knows each layer's blob by the data it
 * holds, and the registry's repository to mount from; only the last OCI_PUSHED_KEPT refs. */
TEST(pushed_known)
{
    char home[] = "/tmp/cove-test-oci-XXXXXX";
    REQUIRE(mkdtemp(home) != NULL);
    setenv("COVE_HOME", home, 1);
    struct oci_layer l = {.size = 100, .offset = 0, .length = OCI_CHUNK_SIZE,
                          .kind = OCI_KIND_DISK};
    strcpy(l.digest, D1);
    strcpy(l.file, "disk.img");
    strcpy(l.data_digest, D2);
    struct oci_manifest m = {.layers = &l, .nlayers = 1, .config_size = 10};
    strcpy(m.config_digest, D2);
    char *text = oci_manifest_build(&m, "2026-01-01T00:00:00Z");
    struct oci_cache c;
    REQUIRE(text != NULL && oci_cache_open(&c, NULL) == 0);
    REQUIRE(oci_cache_pushed_set(&c, "127.0.0.1:5000/team/vm:1", text, NULL) == 0);
    struct oci_known *k;
    size_t n;
    REQUIRE(oci_cache_known_blobs("127.0.0.1:5000", &k, &n) == 0);
    CHECK_EQ_U64(n, 2); /* the config and the layer */
    const struct oci_known *hit = oci_known_data(k, n, D2, OCI_CHUNK_SIZE);
    REQUIRE(hit != NULL);
    CHECK_STR(hit->digest, D1);
    CHECK_EQ_U64(hit->size, 100);
    CHECK_STR(hit->repository, "team/vm");
    CHECK(oci_known_data(k, n, D2, 1000) == NULL);  /* another length */
    CHECK(oci_known_data(k, n, D1, OCI_CHUNK_SIZE) == NULL); /* a blob digest is no data */
    CHECK_STR(oci_known_repository(k, n, D1), "team/vm");
    free(k);
    REQUIRE(oci_cache_known_blobs("other:5000", &k, &n) == 0);
    CHECK_EQ_U64(n, 0); /* another registry: nothing known */
    free(k);
    for (unsigned i = 0; i < OCI_PUSHED_KEPT + 5; i++) {
        char ref[64];
        snprintf(ref, sizeof ref, "127.0.0.1:5000/many/vm:%u", i);
        REQUIRE(oci_cache_pushed_set(&c, ref, text, NULL) == 0);
    }
    json_t *root = json_load_file(c.pushed, 0, NULL);
    CHECK_EQ_U64(json_object_size(root), OCI_PUSHED_KEPT);
    char last[64];
    snprintf(last, sizeof last, "127.0.0.1:5000/many/vm:%u", OCI_PUSHED_KEPT + 4);
    CHECK(json_object_get(root, last) != NULL); /* the last pushed is kept */
    json_decref(root);
    free(text);
    store_remove_tree(home);
}

/* A chunk's blob placed in a file through the 1 MiB pieces of oci_place_layer: the data where
 * it belongs, its zero runs left holes; a blob that decompresses to anything else than its
 * announced length and digest is refused and leaves nothing written. */
TEST(place_layer)
{
    size_t len = 3 * OCI_PLACE_PIECE + 5000; /* pieces, then an unaligned tail */
    uint64_t at = 2 * OCI_CHUNK_SIZE;
    char *raw = calloc(1, len), *back = malloc(len);
    REQUIRE(raw && back);
    for (size_t i = 0; i < len; i++)
        if (i < OCI_PLACE_PIECE / 2 || (i > 2 * OCI_PLACE_PIECE && i % 7000 < 3000))
            raw[i] = (char)(i * 131 + 7);
    size_t cap = ZSTD_compressBound(len) + 64;
    char *packed = malloc(cap), *two = malloc(2 * cap);
    REQUIRE(packed && two);
    size_t n = ZSTD_compress(packed, cap, raw, len, 1);
    REQUIRE(!ZSTD_isError(n));
    char path[] = "/tmp/cove-test-place-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0 && ftruncate(fd, (off_t)(at + OCI_CHUNK_SIZE)) == 0);
    unlink(path);
    struct oci_layer l = {.size = n, .offset = at, .length = len, .kind = OCI_KIND_DISK};
    strcpy(l.file, "disk.img");
    oci_digest(raw, len, l.data_digest);
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    void *buf = oci_buffer(OCI_PLACE_PIECE);
    REQUIRE(dctx && buf);
    struct cove_error err;
    CHECK(oci_place_layer(dctx, packed, &l, buf, fd, -1, &err) == 0);
    CHECK(pread(fd, back, len, (off_t)at) == (ssize_t)len && !memcmp(back, raw, len));
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_blocks * 512 < len); /* zeros are holes */
    /* what does not match is refused, and punched out again */
    struct oci_layer bad = l;
    bad.data_digest[10] ^= 1;
    CHECK(oci_place_layer(dctx, packed, &bad, buf, fd, -1, &err) == -EBADMSG);
    CHECK(strstr(err.message, "does not match its digest") != NULL);
    char *zero = calloc(1, len);
    REQUIRE(zero != NULL);
    CHECK(pread(fd, back, len, (off_t)at) == (ssize_t)len && !memcmp(back, zero, len));
    CHECK(fstat(fd, &st) == 0 && st.st_blocks <= 8); /* an extent tree's block may stay */
    bad = l;
    bad.length = len - 1; /* more data than announced */
    CHECK(oci_place_layer(dctx, packed, &bad, buf, fd, -1, &err) == -EBADMSG);
    CHECK(strstr(err.message, "does not decompress") != NULL);
    bad.length = len + 1; /* less */
    CHECK(oci_place_layer(dctx, packed, &bad, buf, fd, -1, &err) == -EBADMSG);
    bad = l;
    bad.size = n - 10; /* a frame cut short */
    CHECK(oci_place_layer(dctx, packed, &bad, buf, fd, -1, &err) == -EBADMSG);
    memcpy(two, packed, n); /* a second frame after the first */
    memcpy(two + n, packed, n);
    bad.size = 2 * n;
    CHECK(oci_place_layer(dctx, two, &bad, buf, fd, -1, &err) == -EBADMSG);
    memset(packed, 0x5a, 64); /* not zstd at all */
    CHECK(oci_place_layer(dctx, packed, &l, buf, fd, -1, &err) == -EBADMSG);
    CHECK(pread(fd, back, len, (off_t)at) == (ssize_t)len && !memcmp(back, zero, len));
    close(fd);
    free(zero);
    ZSTD_freeDCtx(dctx);
    free(buf);
    free(raw);
    free(back);
    free(packed);
    free(two);
}

int main(void)
{
    RUN(ref_forms);
    RUN(ref_refused);
    RUN(loopback);
    RUN(challenges);
    RUN(digests_and_base64);
    RUN(manifest_round_trip);
    RUN(manifest_state_layers);
    RUN(manifest_refused);
    RUN(config_blob);
    RUN(pushed_known);
    RUN(place_layer);
    return test_summary();
}
