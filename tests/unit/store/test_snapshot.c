/* Snapshots of a stopped VM through the store (src/store/snapshot.c): disk layers, the
 * snapshot.json parser, the bundle id and configuration checks, the depth limit, and the
 * collection of layers once nothing reads them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/cove.h>

#include "../kernel_image.h"
#include "../test.h"
#include "disk/disk.h"
#include "store/bundle.h"
#include "store/store.h"

static char home[] = "/tmp/test_snapshot.XXXXXX";
static char kernel[PATH_MAX];

static void write_kernel(void)
{
    test_write_kernel(home, kernel, sizeof kernel);
}

static void path_of(char *buf, size_t n, const char *vm, const char *file)
{
    snprintf(buf, n, "%s/vms/%s/%s", home, vm, file);
}

static int write_block(const char *vm, const char *text)
{
    char path[PATH_MAX], buf[512] = {0};
    struct disk *d;
    struct cove_error err = {0};
    path_of(path, sizeof path, vm, "disk.img");
    int rc = disk_open(path, false, &d, &err);
    if (rc < 0)
        return rc;
    snprintf(buf, sizeof buf, "%s", text);
    rc = disk_write(d, buf, sizeof buf, 0);
    int crc = disk_close(d);
    return rc < 0 ? rc : crc;
}

static void read_block(const char *vm, char *out, size_t n)
{
    char path[PATH_MAX], buf[512] = {0};
    struct disk *d;
    struct cove_error err = {0};
    path_of(path, sizeof path, vm, "disk.img");
    out[0] = 0;
    if (disk_open(path, true, &d, &err) < 0)
        return;
    if (disk_read(d, buf, sizeof buf, 0) == 0)
        snprintf(out, n, "%.*s", (int)(n - 1), buf);
    disk_close(d);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0);
    if (f)
        fclose(f);
}

/* Runs f(name, tag) and checks it fails with rc and a message containing want. */
static void refused(int rc, const struct cove_error *err, int want_rc, const char *want)
{
    CHECK_EQ_U64((uint64_t)-rc, (uint64_t)-want_rc);
    if (!strstr(err->message, want))
        printf("  message: %s (wanted '%s')\n", err->message, want);
    CHECK(strstr(err->message, want) != NULL);
}

TEST(save_write_restore)
{
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    struct cove_snapshot_restored r;
    char got[64];
    REQUIRE(cove_vm_create("a", &o, &err) == 0);
    CHECK(write_block("a", "one") == 0);
    CHECK(cove_snapshot_save("a", "s1", &err) == 0);
    CHECK(write_block("a", "two") == 0);
    CHECK(cove_snapshot_save("a", "s2", &err) == 0);
    /* nothing written since s2: s3 shares its layer, no new level */
    CHECK(cove_snapshot_save("a", "s3", &err) == 0);
    CHECK(write_block("a", "three") == 0);
    CHECK(cove_snapshot_restore("a", "s1", &r, &err) == 0);
    CHECK(!r.vm_running && !r.running);
    read_block("a", got, sizeof got);
    CHECK_STR(got, "one");
    CHECK(cove_snapshot_restore("a", "s2", &r, &err) == 0);
    read_block("a", got, sizeof got);
    CHECK_STR(got, "two");
    /* a restored disk is written and restored again: the snapshot's layer is intact */
    CHECK(write_block("a", "four") == 0);
    CHECK(cove_snapshot_restore("a", "s2", &r, &err) == 0);
    read_block("a", got, sizeof got);
    CHECK_STR(got, "two");
    struct cove_snapshot_info *list;
    size_t n;
    REQUIRE(cove_snapshot_list("a", &list, &n, &err) == 0);
    CHECK_EQ_U64(n, 3);
    if (n == 3) {
        CHECK_STR(list[0].tag, "s1");
        CHECK_STR(list[2].tag, "s3");
        CHECK(!list[0].running && list[0].created > 0);
    }
    free(list);
}

TEST(bad_input)
{
    struct cove_error err = {0};
    struct cove_snapshot_restored r;
    char path[PATH_MAX];
    refused(cove_snapshot_save("a", "s1", &err), &err, -EEXIST, "already has a snapshot 's1'");
    refused(cove_snapshot_restore("a", "nope", &r, &err), &err, -ENOENT, "no snapshot 'nope'");
    refused(cove_snapshot_delete("a", "nope", &err), &err, -ENOENT, "no snapshot 'nope'");
    refused(cove_snapshot_save("a", ".x", &err), &err, -EINVAL, "snapshot tag '.x' starts");
    refused(cove_snapshot_save("a", "id", &err), &err, -EINVAL, "reserved");
    refused(cove_snapshot_save("nobody", "x", &err), &err, -ENOENT, "does not exist");
    /* the snapshot.json parser: damaged, wrong version, wrong state, another VM's id */
    static const char *const bad[] = {
        "not json",
        "{\"version\": 2, \"vm\": \"0123456789abcdef\", \"created\": 1, \"state\": \"stopped\"}",
        "{\"version\": 1, \"vm\": \"0123456789abcdef\", \"created\": 1, \"state\": \"asleep\"}",
        "{\"version\": 1, \"vm\": \"0123\", \"created\": 1, \"state\": \"stopped\"}",
        "{\"version\": 1, \"created\": 1, \"state\": \"stopped\"}",
    };
    path_of(path, sizeof path, "a", "snapshots/s3/snapshot.json");
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(path, bad[i]);
        refused(cove_snapshot_restore("a", "s3", &r, &err), &err, -EINVAL, "is damaged");
    }
    write_file(path, "{\"version\": 1, \"vm\": \"0123456789abcdef\", \"created\": 1, "
                     "\"state\": \"stopped\"}");
    refused(cove_snapshot_restore("a", "s3", &r, &err), &err, -EXDEV, "made of another VM");
    CHECK(cove_snapshot_delete("a", "s3", &err) == 0);
    /* a configuration with another disk list */
    char cfg[PATH_MAX], cmd[PATH_MAX * 2];
    path_of(cfg, sizeof cfg, "a", "snapshots/s1/config.json");
    snprintf(cmd, sizeof cmd, "sed -i 's/\"disk.img\"/\"other.img\"/' %s", cfg);
    CHECK(system(cmd) == 0);
    refused(cove_snapshot_restore("a", "s1", &r, &err), &err, -EINVAL,
            "disk 1 was other.img then, disk.img now");
    snprintf(cmd, sizeof cmd, "sed -i 's/\"other.img\"/\"disk.img\"/' %s", cfg);
    CHECK(system(cmd) == 0);
    CHECK(cove_snapshot_restore("a", "s1", &r, &err) == 0);
    /* a record crafted to read a file outside the store's bases/ */
    char outside[PATH_MAX], rec[PATH_MAX];
    snprintf(outside, sizeof outside, "%s/outside.img", home);
    path_of(rec, sizeof rec, "a", "snapshots/s2/disk.img");
    CHECK(store_disk_create_raw(outside, 1 << 20, &err) == 0);
    CHECK(unlink(rec) == 0 && store_disk_overlay(rec, 0, outside, &err) == 0);
    refused(cove_snapshot_restore("a", "s2", &r, &err), &err, -EINVAL, "outside the store's bases/");
    char got[64];
    read_block("a", got, sizeof got);
    CHECK_STR(got, "one");
    CHECK(cove_snapshot_delete("a", "s2", &err) == 0);
}

TEST(depth_limit)
{
    struct cove_error err = {0};
    char tag[16];
    int rc = 0;
    unsigned i;
    for (i = 0; i < 40 && rc == 0; i++) {
        snprintf(tag, sizeof tag, "d%u", i);
        CHECK(write_block("a", tag) == 0);
        rc = cove_snapshot_save("a", tag, &err);
    }
    refused(rc, &err, -ELOOP, "layers");
    /* the disk still opens and reads what was written last */
    char got[64];
    read_block("a", got, sizeof got);
    CHECK_STR(got, tag);
}

TEST(delete_collects_layers)
{
    struct cove_error err = {0};
    struct cove_snapshot_info *list;
    size_t n;
    REQUIRE(cove_snapshot_list("a", &list, &n, &err) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(cove_snapshot_delete("a", list[i].tag, &err) == 0);
    free(list);
    CHECK(cove_vm_delete("a", &err) == 0);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/bases)\"", home);
    CHECK(system(cmd) == 0);
}

/* A save whose writes fail (RLIMIT_FSIZE here, a full disk in life) leaves no snapshot,
 * no temporary, and the disk and saved state as they were. */
TEST(failed_save_changes_nothing)
{
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    char path[PATH_MAX], cmd[PATH_MAX * 2];
    REQUIRE(cove_vm_create("f", &o, &err) == 0);
    /* a suspended VM: its state is copied into the snapshot */
    path_of(path, sizeof path, "f", "state");
    CHECK(mkdir(path, 0700) == 0);
    path_of(path, sizeof path, "f", "state/machine");
    write_file(path, "machine");
    path_of(path, sizeof path, "f", "state/memory");
    snprintf(cmd, sizeof cmd, "head -c 4194304 /dev/urandom >%s", path);
    CHECK(system(cmd) == 0);
    struct rlimit old, small = {1 << 20, 1 << 20};
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    int rc = cove_snapshot_save("f", "t", &err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc < 0);
    printf("  refused: %s\n", err.message);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/vms/f/snapshots | grep -v '^id$')\"", home);
    CHECK(system(cmd) == 0);
    char backing[PATH_MAX] = "x";
    path_of(path, sizeof path, "f", "disk.img");
    CHECK(store_disk_info(path, NULL, NULL, backing, sizeof backing, &err) == 0);
    CHECK_STR(backing, "");
    path_of(path, sizeof path, "f", "state/memory");
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 4 << 20);
    CHECK(cove_vm_delete("f", &err) == 0);
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    RUN(save_write_restore);
    RUN(bad_input);
    RUN(depth_limit);
    RUN(delete_collects_layers);
    RUN(failed_save_changes_nothing);
    store_remove_tree(home);
    return test_summary();
}
