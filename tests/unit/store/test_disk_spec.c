/* `--disk` specs, NBD URIs and a disk's modes in config.json (cove/config.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cove/config.h>

#include "../test.h"

static int spec(const char *text, struct cove_disk_config *d, struct cove_error *err)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    return cove_disk_spec_parse(buf, d, err);
}

/* The spec is refused with a message containing want. */
static void refused(const char *text, const char *want)
{
    struct cove_disk_config d;
    struct cove_error err = {0};
    int rc = spec(text, &d, &err);
    if (rc != -EINVAL || !strstr(err.message, want)) {
        printf("  '%s': rc %d, message '%s', wanted '%s'\n", text, rc, err.message, want);
        test_current_failed = 1;
    }
}

TEST(spec_plain_path)
{
    struct cove_disk_config d;
    struct cove_error err = {0};
    REQUIRE(spec("/images/a.img", &d, &err) == 0);
    CHECK_STR(d.file, "/images/a.img");
    CHECK(!d.read_only);
    CHECK(d.cache == COVE_DISK_CACHE_WRITEBACK);
    CHECK(d.sync == COVE_DISK_SYNC_FSYNC);
}

TEST(spec_options)
{
    struct cove_disk_config d;
    struct cove_error err = {0};
    REQUIRE(spec("a.img,ro,cache=none,sync=none", &d, &err) == 0);
    CHECK_STR(d.file, "a.img");
    CHECK(d.read_only);
    CHECK(d.cache == COVE_DISK_CACHE_NONE);
    CHECK(d.sync == COVE_DISK_SYNC_NONE);
    REQUIRE(spec("a.img,sync=full,rw", &d, &err) == 0);
    CHECK(!d.read_only && d.sync == COVE_DISK_SYNC_FULL);
    REQUIRE(spec("a.img,cache=writeback,sync=fsync", &d, &err) == 0);
    CHECK(d.cache == COVE_DISK_CACHE_WRITEBACK && d.sync == COVE_DISK_SYNC_FSYNC);
}

TEST(spec_bad_options)
{
    refused("a.img,cache=bogus", "unknown cache mode 'bogus'");
    refused("a.img,sync=", "unknown sync mode ''");
    refused("a.img,sync=always", "use sync=full, sync=fsync or sync=none");
    refused("a.img,ro,rw", "given twice");
    refused("a.img,sync=none,sync=full", "given twice");
    refused("a.img,if=nvme2", "unknown interface 'nvme2'");
    refused("a.img,", "unknown option ''");
    refused(",ro", "needs a path or an NBD URI");
    refused("", "needs a path or an NBD URI");
    refused("http://host/x.img", "not a path nor an NBD URI");
    refused("nbd:host:10809", "not a path nor an NBD URI");
}

TEST(spec_nbd_uris)
{
    static const char *const good[] = {
        "nbd://localhost/export", "nbd://localhost:10809/export", "nbd://127.0.0.1",
        "nbds://server.example:10809/disk", "nbd://[::1]:10809/x",
        "nbd+unix:///export?socket=/tmp/nbd.sock", "nbds+unix://?socket=/run/s&tls-verify-peer=false",
        "nbds+unix://alice@/e?socket=/run/s", "nbds://alice@h:10809/e?tls-psk-file=/k.psk",
    };
    for (unsigned i = 0; i < sizeof good / sizeof *good; i++) {
        struct cove_disk_config d;
        struct cove_error err = {0};
        int rc = spec(good[i], &d, &err);
        if (rc != 0)
            printf("  '%s': %s\n", good[i], err.message);
        CHECK(rc == 0);
        CHECK(rc != 0 || cove_disk_is_nbd(d.file));
    }
    struct cove_disk_config d;
    struct cove_error err = {0};
    REQUIRE(spec("nbd://h:10809/e,ro,sync=none", &d, &err) == 0);
    CHECK_STR(d.file, "nbd://h:10809/e");
    CHECK(d.read_only && d.sync == COVE_DISK_SYNC_NONE);
    CHECK(!cove_disk_is_nbd("disk.img") && !cove_disk_is_nbd("nbdx://h") && !cove_disk_is_nbd(NULL));
}

TEST(spec_bad_nbd_uris)
{
    refused("nbd://:10809/x", "no host");
    refused("nbd:///x", "no host");
    refused("nbd://h:0/x", "port must be a number 1..65535, got '0'");
    refused("nbd://h:99999/x", "got '99999'");
    refused("nbd://h:ab/x", "got 'ab'");
    refused("nbd://h:/x", "got ''");
    refused("nbd://[::1/x", "unclosed or empty [IPv6] host");
    refused("nbd://[::1]x/e", "junk after the [IPv6] host");
    refused("nbd+unix:///x", "no socket; add ?socket=PATH");
    refused("nbd+unix:///x?socket=", "no socket");
    refused("nbd+unix://host/x?socket=/s", "has no host");
    refused("nbd://h/x?socket=/s", "socket= needs the nbd+unix:// scheme");
    refused("nbd://h/x#part", "fragment");
    refused("nbd://h/a b", "spaces and control characters");
    refused("nbd://h/x,cache=none", "cache=none is for image files");
}

TEST(host_files_in_uris)
{
    CHECK(cove_disk_nbd_host_file("nbds://a@h/e?tls-psk-file=/k") != NULL);
    CHECK_STR(cove_disk_nbd_host_file("nbds://h/e?x=1&tls-certificates=/d"), "tls-certificates");
    CHECK(cove_disk_nbd_host_file("nbds://h/e?tls-verify-peer=false") == NULL);
    CHECK(cove_disk_nbd_host_file("nbd+unix:///e?socket=/s") == NULL);
    CHECK(cove_disk_nbd_host_file("disk.img?tls-psk-file=/k") == NULL);
}

TEST(modes_names)
{
    enum cove_disk_cache c;
    enum cove_disk_sync s;
    CHECK(cove_disk_cache_parse("none", &c) == 0 && c == COVE_DISK_CACHE_NONE);
    CHECK(cove_disk_cache_parse("None", &c) == -EINVAL);
    CHECK(cove_disk_sync_parse("full", &s) == 0 && s == COVE_DISK_SYNC_FULL);
    CHECK(cove_disk_sync_parse(NULL, &s) == -EINVAL);
    CHECK_STR(cove_disk_cache_name(COVE_DISK_CACHE_WRITEBACK), "writeback");
    CHECK_STR(cove_disk_sync_name(COVE_DISK_SYNC_FSYNC), "fsync");
}

#define CONFIG(disks)                                                                       \
    "{\"version\": 1, \"cpus\": 1, \"memory\": 256, \"disks\": [" disks "],"               \
    " \"boot\": {\"kernel\": \"kernel\"}}"

static int parse(const char *text, struct cove_config *cfg, struct cove_error *err)
{
    return cove_config_parse(text, strlen(text), "config.json", cfg, err);
}

TEST(config_round_trip)
{
    struct cove_config a, b;
    struct cove_error err = {0};
    REQUIRE(parse(CONFIG("{\"file\": \"disk.img\", \"cache\": \"none\", \"sync\": \"full\"},"
                         "{\"nbd\": \"nbd://h/e\", \"read_only\": true, \"sync\": \"none\"}"),
                  &a, &err) == 0);
    CHECK_EQ_U64(a.ndisks, 2);
    CHECK(a.disks[0].cache == COVE_DISK_CACHE_NONE && a.disks[0].sync == COVE_DISK_SYNC_FULL);
    CHECK_STR(a.disks[1].file, "nbd://h/e");
    CHECK(a.disks[1].read_only && a.disks[1].sync == COVE_DISK_SYNC_NONE);
    char *text = cove_config_to_json(&a);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "\"nbd\": \"nbd://h/e\"") != NULL);
    CHECK(strstr(text, "\"cache\": \"none\"") != NULL);
    REQUIRE(parse(text, &b, &err) == 0);
    CHECK(b.disks[0].sync == COVE_DISK_SYNC_FULL && b.disks[1].sync == COVE_DISK_SYNC_NONE);
    CHECK_STR(b.disks[1].file, "nbd://h/e");
    free(text);
    cove_config_free(&a);
    cove_config_free(&b);
}

static void config_refused(const char *text, const char *want)
{
    struct cove_config cfg;
    struct cove_error err = {0};
    int rc = parse(text, &cfg, &err);
    if (rc != -EINVAL || !strstr(err.message, want)) {
        printf("  rc %d, message '%s', wanted '%s'\n", rc, err.message, want);
        test_current_failed = 1;
    }
    if (rc == 0)
        cove_config_free(&cfg);
}

TEST(config_bad_disks)
{
    config_refused(CONFIG("{\"file\": \"d.img\", \"nbd\": \"nbd://h/e\"}"), "not both");
    config_refused(CONFIG("{\"file\": \"nbd://h/e\"}"), "goes under the key \"nbd\"");
    config_refused(CONFIG("{\"nbd\": \"nbd://:1/e\"}"), "key 'disks[0].nbd': NBD URI");
    config_refused(CONFIG("{\"nbd\": \"nbd://h/e\", \"cache\": \"none\"}"), "not NBD disks");
    config_refused(CONFIG("{\"file\": \"d.img\", \"cache\": \"direct\"}"),
                   "key 'disks[0].cache': must be \"writeback\" or \"none\"");
    config_refused(CONFIG("{\"file\": \"d.img\", \"sync\": 1}"), "key 'disks[0].sync'");
    config_refused(CONFIG("{\"file\": \"d.img\", \"mode\": 1}"), "unknown key 'disks[0].mode'");
}

/* A bundle's config.json may name an NBD export: no file of the bundle. */
TEST(config_load_nbd)
{
    char path[] = "/tmp/cove-test-disk-spec-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char *text = CONFIG("{\"nbd\": \"nbd+unix:///e?socket=/run/nbd.sock\"}");
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct cove_config cfg;
    struct cove_error err = {0};
    int rc = cove_config_load(path, &cfg, &err);
    if (rc < 0)
        printf("  %s\n", err.message);
    CHECK(rc == 0);
    if (rc == 0)
        cove_config_free(&cfg);
    /* a URI that has libnbd read a host file: not from a bundle */
    fd = open(path, O_WRONLY | O_TRUNC);
    text = CONFIG("{\"nbd\": \"nbds://a@h/e?tls-psk-file=/etc/shadow\"}");
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    rc = cove_config_load(path, &cfg, &err);
    CHECK(rc == -EINVAL);
    CHECK(strstr(err.message, "tls-psk-file= names a host file") != NULL);
    if (rc == 0)
        cove_config_free(&cfg);
    unlink(path);
}

int main(void)
{
    RUN(spec_plain_path);
    RUN(spec_options);
    RUN(spec_bad_options);
    RUN(spec_nbd_uris);
    RUN(spec_bad_nbd_uris);
    RUN(host_files_in_uris);
    RUN(modes_names);
    RUN(config_round_trip);
    RUN(config_bad_disks);
    RUN(config_load_nbd);
    return test_summary();
}
