/* What a bundle's files may be (src/store/bundle_file.c): the name rule config.json's
 * files follow, its use by cove_config_load and store_resolve, links refused, backing
 * chains kept in bases/, and a hostile bundle that clone and set must not follow out. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/config.h>
#include <cove/cove.h>

#include "../kernel_image.h"
#include "../test.h"
#include "store/bundle.h"
#include "store/store.h"

static char home[] = "/tmp/test_bundle_file.XXXXXX";
static char kernel[PATH_MAX], outside[PATH_MAX];

static void write_kernel(void)
{
    test_write_kernel(home, kernel, sizeof kernel);
}

/* The outside file: 64 MiB, mode 0644, known first bytes. */
static void write_outside(void)
{
    snprintf(outside, sizeof outside, "%s/outside", home);
    int fd = open(outside, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "precious", 8) == 8 && ftruncate(fd, 64 << 20) == 0);
    close(fd);
    chmod(outside, 0644);
}

static void check_outside_unchanged(void)
{
    struct stat st;
    char buf[8] = {0};
    CHECK(stat(outside, &st) == 0);
    CHECK_EQ_U64(st.st_mode & 07777, 0644);
    CHECK_EQ_U64(st.st_size, 64 << 20);
    CHECK_EQ_U64(st.st_nlink, 1);
    int fd = open(outside, O_RDONLY);
    CHECK(fd >= 0 && read(fd, buf, sizeof buf) == 8 && !memcmp(buf, "precious", 8));
    close(fd);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void expect_message(const struct cove_error *err, const char *want)
{
    if (!strstr(err->message, want)) {
        printf("  message '%s' lacks '%s'\n", err->message, want);
        CHECK(!"message");
    }
}

TEST(name_rule)
{
    static const char *const good[] = {"disk.img", "kernel", "a..b", ".hidden", "..x", "x.."};
    static const struct {
        const char *name, *why;
    } bad[] = {
        {"", "an empty name"},           {"/tmp/outside", "an absolute path"},
        {"/", "an absolute path"},       {".", "the bundle itself"},
        {"..", "a path through '..'"},   {"../../outside", "a path through '..'"},
        {"run/../kernel", "a path through '..'"}, {"run/..", "a path through '..'"},
        {"run/lock", "a path with '/'"}, {"disk.img/", "a path with '/'"},
    };
    for (unsigned i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(store_file_name_problem(good[i]) == NULL);
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why = store_file_name_problem(bad[i].name);
        if (!why || strcmp(why, bad[i].why)) {
            printf("  '%s': got %s, want %s\n", bad[i].name, why ? why : "(ok)", bad[i].why);
            CHECK(!"rule");
        }
    }
}

/* store_resolve applies the rule whoever calls it (defence in depth behind the parser). */
TEST(resolve_refuses_escapes)
{
    char buf[PATH_MAX];
    struct cove_error err = {0};
    CHECK(store_resolve("/h/vms/v", "disk.img", buf, sizeof buf, &err) == 0);
    CHECK_STR(buf, "/h/vms/v/disk.img");
    CHECK(store_resolve("/h/vms/v", "/tmp/outside", buf, sizeof buf, &err) == -EINVAL);
    expect_message(&err, "VM 'v': '/tmp/outside' is not a file name in the bundle (an absolute");
    CHECK(store_resolve("/h/vms/v", "../../outside", buf, sizeof buf, &err) == -EINVAL);
    expect_message(&err, "(a path through '..')");
}

/* config.json of a bundle: each file key follows the rule; the message names the key and
 * the way to a disk from elsewhere. */
TEST(config_load_refuses_outside_paths)
{
    static const struct {
        const char *disk, *kernel, *want;
    } cases[] = {
        {"/tmp/outside", "kernel",
         "key 'disks[0].file': must be a file name in the bundle, got \"/tmp/outside\" "
         "(an absolute path); attach a disk from elsewhere with `cove run NAME --disk PATH`"},
        {"../../outside", "kernel", "key 'disks[0].file': must be a file name in the bundle"},
        {"sub/disk.img", "kernel", "(a path with '/')"},
        {"disk.img", "/boot/Image", "key 'boot.kernel': must be a file name in the bundle"},
        {"disk.img", "../kernel", "key 'boot.kernel'"},
    };
    char path[PATH_MAX], text[1024];
    snprintf(path, sizeof path, "%s/config.json", home);
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text,
                 "{\"version\": 1, \"cpus\": 1, \"memory\": 64, \"disks\": [{\"file\": \"%s\"}],"
                 " \"boot\": {\"kernel\": \"%s\"}}", cases[i].disk, cases[i].kernel);
        write_file(path, text);
        struct cove_config cfg;
        struct cove_error err = {0};
        CHECK(cove_config_load(path, &cfg, &err) == -EINVAL);
        expect_message(&err, cases[i].want);
        /* the same text built for an ephemeral VM names the user's own files: accepted */
        CHECK(cove_config_parse(text, strlen(text), "x", &cfg, &err) == 0);
        cove_config_free(&cfg);
    }
    write_file(path, "{\"version\": 1, \"cpus\": 1, \"memory\": 64, \"disks\": [{\"file\": "
                     "\"disk.img\"}], \"boot\": {\"kernel\": \"kernel\", \"initrd\": \"initrd\"}}");
    struct cove_config cfg;
    struct cove_error err = {0};
    CHECK(cove_config_load(path, &cfg, &err) == 0);
    cove_config_free(&cfg);
    /* config.json itself as a link is not read */
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/link.json", home);
    CHECK(symlink(path, link) == 0);
    CHECK(cove_config_load(link, &cfg, &err) == -ELOOP);
    expect_message(&err, "link.json is a symbolic link; cove does not follow links in a bundle");
    unlink(link);
    unlink(path);
}

static void bundle_path(const char *vm, const char *file, char *buf, size_t n)
{
    snprintf(buf, n, "%s/vms/%s%s%s", home, vm, file ? "/" : "", file ? file : "");
}

TEST(bundle_files_are_not_links)
{
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    REQUIRE(cove_vm_create("v", &o, &err) == 0);
    char bundle[PATH_MAX], disk[PATH_MAX], buf[PATH_MAX];
    bundle_path("v", NULL, bundle, sizeof bundle);
    bundle_path("v", "disk.img", disk, sizeof disk);
    CHECK(store_bundle_file(bundle, "disk.img", buf, sizeof buf, &err) == 0);
    int fd = store_open_bundle_file(bundle, "disk.img", O_RDONLY, &err);
    CHECK(fd >= 0);
    close(fd);
    CHECK(unlink(disk) == 0 && symlink(outside, disk) == 0);
    CHECK(store_bundle_file(bundle, "disk.img", buf, sizeof buf, &err) == -ELOOP);
    expect_message(&err, "VM 'v': disk.img is a symbolic link; cove does not follow links in a "
                         "bundle");
    CHECK(store_open_bundle_file(bundle, "disk.img", O_RDONLY, &err) == -ELOOP);
    bundle_path("v", "dir", buf, sizeof buf);
    CHECK(mkdir(buf, 0755) == 0);
    CHECK(store_bundle_file(bundle, "dir", buf, sizeof buf, &err) == -EINVAL);
    expect_message(&err, "VM 'v': dir is not a regular file");
}

/* The bug of issue 19: clone hard-linked the link into bases/ and chmod followed it. */
TEST(clone_and_set_do_not_follow_a_disk_link)
{
    struct cove_error err = {0};
    CHECK(cove_vm_clone("v", "w", &err) == -ELOOP);
    expect_message(&err, "disk.img is a symbolic link");
    struct cove_vm_settings set = {.disk_size = 1ull << 30};
    CHECK(cove_vm_set("v", &set, &err) == -ELOOP);
    struct cove_vm_info info;
    CHECK(cove_vm_get("v", &info, &err) == -ELOOP);
    check_outside_unchanged();
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/bases)\" && test ! -e %s/vms/w", home, home);
    CHECK(system(cmd) == 0);
}

/* A cdisk header names its backing image: a disk of a bundle reads through bases/ only. */
TEST(backing_chain_stays_in_bases)
{
    char bundle[PATH_MAX], disk[PATH_MAX], buf[PATH_MAX];
    struct cove_error err = {0};
    bundle_path("v", NULL, bundle, sizeof bundle);
    bundle_path("v", "disk.img", disk, sizeof disk);
    unlink(disk);
    REQUIRE(store_disk_overlay(disk, 0, outside, &err) == 0);
    CHECK(store_check_bundle_disk(bundle, "disk.img", buf, sizeof buf, &err) == -EINVAL);
    expect_message(&err, "disk.img reads through ");
    expect_message(&err, "outside the store's bases/");
    struct cove_vm_settings set = {.disk_size = 1ull << 30};
    CHECK(cove_vm_set("v", &set, &err) == -EINVAL);
    check_outside_unchanged();
    /* a clone's overlay over bases/ is what the rule allows */
    unlink(disk);
    REQUIRE(store_disk_create_raw(disk, 64 << 20, &err) == 0);
    REQUIRE(cove_vm_clone("v", "w", &err) == 0);
    CHECK(store_check_bundle_disk(bundle, "disk.img", buf, sizeof buf, &err) == 0);
    bundle_path("w", NULL, bundle, sizeof bundle);
    CHECK(store_check_bundle_disk(bundle, "disk.img", buf, sizeof buf, &err) == 0);
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    write_outside();
    RUN(name_rule);
    RUN(resolve_refuses_escapes);
    RUN(config_load_refuses_outside_paths);
    RUN(bundle_files_are_not_links);
    RUN(clone_and_set_do_not_follow_a_disk_link);
    RUN(backing_chain_stays_in_bases);
    store_remove_tree(home);
    return test_summary();
}
