/* The run's state helper (src/vm/state_helper.c), driven as the VMM drives it, on a real
 * bundle: a running snapshot's save and a restore through it, the disks' chains handed
 * over as descriptors (with their lock), and its refusals: steps out of order, a bad or
 * reserved tag, a disk that is not a writable image of the VM, a disk in use. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/cove.h>

#include "../kernel_image.h"
#include "../test.h"
#include "disk/disk.h"
#include "store/bundle.h"
#include "store/store.h"
#include "vm/state_helper.h"

static char home[] = "/tmp/test_state_helper.XXXXXX";
static char kernel[PATH_MAX], bundle[PATH_MAX], state_dir[PATH_MAX];
static struct cove_config cfg;
static struct state_helper *h;

static void write_kernel(void)
{
    test_write_kernel(home, kernel, sizeof kernel);
}

static bool exists(const char *tail)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", bundle, tail) < 0)
        return false;
    return access(path, F_OK) == 0;
}

TEST(refusals)
{
    struct cove_error err = {0};
    int a, b;
    bool running;
    char dir[PATH_MAX];
    struct disk_files f;
    CHECK(state_helper_snapshot_freeze(h, &err) == -ENOENT);
    CHECK(state_helper_snapshot_publish(h, &err) == -ENOENT);
    CHECK(state_helper_restore_disks(h, &err) == -ENOENT);
    CHECK(state_helper_snapshot_begin(h, "../x", &a, &b, dir, sizeof dir, &err) < 0);
    CHECK(strstr(err.message, "contains '/'") != NULL);
    CHECK(state_helper_snapshot_begin(h, "id", &a, &b, dir, sizeof dir, &err) < 0);
    CHECK(strstr(err.message, "reserved") != NULL);
    CHECK(state_helper_restore_find(h, "nope", &running, &a, &b, dir, sizeof dir, &err) ==
          -ENOENT);
    CHECK(state_helper_open_disk(h, 1, &f, &err) == -EINVAL); /* the VM has one disk */
    CHECK(state_helper_open_disk(h, 200, &f, &err) == -EINVAL);
    /* a disk in use (the run's own attachment, say): its lock refuses */
    char path[PATH_MAX];
    struct disk *d;
    REQUIRE(store_path(path, sizeof path, "%s/disk.img", bundle) == 0);
    REQUIRE(disk_open(path, false, &d, &err) == 0);
    CHECK(state_helper_open_disk(h, 0, &f, &err) == -EBUSY);
    CHECK(strstr(err.message, "in use") != NULL);
    disk_close(d);
}

TEST(save_and_restore)
{
    struct cove_error err = {0};
    int sfd, mfd;
    char dir[PATH_MAX];
    struct disk_files f;
    REQUIRE(state_helper_snapshot_begin(h, "hot", &sfd, &mfd, dir, sizeof dir, &err) == 0);
    CHECK(strstr(dir, "/snapshots/.tmp-") != NULL);
    CHECK((fcntl(sfd, F_GETFL) & O_ACCMODE) == O_WRONLY);
    CHECK(write(sfd, "m", 1) == 1);
    close(sfd);
    close(mfd);
    REQUIRE(state_helper_snapshot_freeze(h, &err) == 0);
    /* the disk is an overlay over the frozen layer now: its chain comes as two files */
    REQUIRE(state_helper_open_disk(h, 0, &f, &err) == 0);
    CHECK_EQ_U64(f.n, 2);
    CHECK((fcntl(f.fd[0], F_GETFL) & O_ACCMODE) == O_RDWR);
    struct disk *d;
    REQUIRE(disk_open_files("disk.img", 0, &f, &d, &err) == 0);
    char buf[512] = "after";
    CHECK(disk_write(d, buf, sizeof buf, 0) == 0);
    disk_close(d);
    disk_files_close(&f);
    REQUIRE(state_helper_snapshot_publish(h, &err) == 0);
    CHECK(exists("snapshots/hot/snapshot.json") && exists("snapshots/hot/machine"));
    /* a tag that exists */
    CHECK(state_helper_snapshot_begin(h, "hot", &sfd, &mfd, dir, sizeof dir, &err) == -EEXIST);
    /* its machine file is no machine: the restore is refused before anything changes */
    bool running;
    CHECK(state_helper_restore_find(h, "hot", &running, &sfd, &mfd, dir, sizeof dir, &err) < 0);
    CHECK(strstr(err.message, "damaged") != NULL);
    CHECK(state_helper_restore_disks(h, &err) == -ENOENT);
    /* a stopped snapshot (its disk only) is restored through it */
    REQUIRE(cove_snapshot_save("a", "cold", &err) == 0);
    REQUIRE(state_helper_restore_find(h, "cold", &running, &sfd, &mfd, dir, sizeof dir,
                                      &err) == 0);
    CHECK(!running && sfd == -1 && mfd == -1);
    REQUIRE(state_helper_restore_disks(h, &err) == 0);
    REQUIRE(state_helper_open_disk(h, 0, &f, &err) == 0);
    REQUIRE(disk_open_files("disk.img", 0, &f, &d, &err) == 0);
    CHECK(disk_read(d, buf, sizeof buf, 0) == 0);
    CHECK_STR(buf, "after"); /* what the disk held at "cold" */
    disk_close(d);
    disk_files_close(&f);
}

TEST(pending_save_removed)
{
    struct cove_error err = {0};
    int sfd, mfd;
    char dir[PATH_MAX];
    REQUIRE(state_helper_snapshot_begin(h, "left", &sfd, &mfd, dir, sizeof dir, &err) == 0);
    close(sfd);
    close(mfd);
    CHECK(access(dir, F_OK) == 0);
    state_helper_stop(h); /* the VMM went away mid-save */
    h = NULL;
    CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
    CHECK(!exists("snapshots/left"));
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    struct store s;
    char path[PATH_MAX];
    if (cove_vm_create("a", &o, &err) < 0 || store_open(&s, &err) < 0 ||
        store_find(&s, "a", bundle, sizeof bundle, &err) < 0) {
        printf("setup: %s\n", err.message);
        return 1;
    }
    store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, bundle);
    store_path(state_dir, sizeof state_dir, "%s/" BUNDLE_STATE_DIR, bundle);
    if (cove_config_load(path, &cfg, &err) < 0 ||
        state_helper_start(bundle, "a", &cfg, state_dir, &h, &err) < 0) {
        printf("setup: %s\n", err.message);
        return 1;
    }
    RUN(refusals);
    RUN(save_and_restore);
    RUN(pending_save_removed);
    state_helper_stop(h);
    cove_config_free(&cfg);
    store_remove_tree(home);
    return test_summary();
}
