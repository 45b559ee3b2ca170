/* cove clone through cdisk overlays (this file system has no reflinks, or the test asks for
 * none): chains of clones stay readable whatever was written between the clones. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/cove.h>

#include "../kernel_image.h"
#include "../test.h"
#include "disk/disk.h"
#include "store/store.h"

static char home[] = "/tmp/test_clone.XXXXXX";
static char kernel[PATH_MAX];

static void write_kernel(void)
{
    test_write_kernel(home, kernel, sizeof kernel);
}

static void vm_disk_path(const char *vm, char *buf, size_t n)
{
    snprintf(buf, n, "%s/vms/%s/disk.img", home, vm);
}

/* What booting the VM and writing a file does to its disk: a write through src/disk. */
static int write_block(const char *vm, uint64_t offset, const char *text)
{
    char path[PATH_MAX], buf[512] = {0};
    struct disk *d;
    struct cove_error err = {0};
    vm_disk_path(vm, path, sizeof path);
    int rc = disk_open(path, false, &d, &err);
    if (rc < 0) {
        printf("  open %s: %s\n", vm, err.message);
        return rc;
    }
    snprintf(buf, sizeof buf, "%s", text);
    rc = disk_write(d, buf, sizeof buf, offset);
    int crc = disk_close(d);
    return rc < 0 ? rc : crc;
}

/* The block at offset as the VM's disk reads it ("" when it cannot be opened). */
static void read_block(const char *vm, uint64_t offset, char *out, size_t n)
{
    char path[PATH_MAX], buf[512] = {0};
    struct disk *d;
    struct cove_error err = {0};
    vm_disk_path(vm, path, sizeof path);
    out[0] = 0;
    if (disk_open(path, true, &d, &err) < 0) {
        printf("  open %s: %s\n", vm, err.message);
        return;
    }
    if (disk_read(d, buf, sizeof buf, offset) == 0) {
        buf[sizeof buf - 1] = 0;
        snprintf(out, n, "%.*s", (int)(n - 1), buf);
    }
    disk_close(d);
}

static int clone(const char *src, const char *dst)
{
    struct cove_error err = {0};
    int rc = cove_vm_clone(src, dst, &err);
    if (rc < 0)
        printf("  clone %s %s: %s\n", src, dst, err.message);
    return rc;
}

TEST(reclone_after_writes)
{
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    CHECK(cove_vm_create("a", &o, &err) == 0);
    CHECK(write_block("a", 0, "a1") == 0);
    CHECK(clone("a", "b") == 0);
    /* the source changes after its first clone (a boot that writes a file) ... */
    CHECK(write_block("a", 512, "a2") == 0);
    /* ... and is cloned again: its overlay becomes a base in turn */
    CHECK(clone("a", "c") == 0);
    char got[64];
    read_block("c", 0, got, sizeof got);
    CHECK_STR(got, "a1");
    read_block("c", 512, got, sizeof got);
    CHECK_STR(got, "a2");
    read_block("a", 512, got, sizeof got);
    CHECK_STR(got, "a2");
    read_block("b", 512, got, sizeof got);
    CHECK_STR(got, "");
    /* a clone that was booted (written) is cloned too */
    CHECK(write_block("b", 1024, "b1") == 0);
    CHECK(clone("b", "d") == 0);
    read_block("d", 0, got, sizeof got);
    CHECK_STR(got, "a1");
    read_block("d", 1024, got, sizeof got);
    CHECK_STR(got, "b1");
    /* and the chains go on: a third level under a */
    CHECK(write_block("a", 1536, "a3") == 0);
    CHECK(clone("a", "e") == 0);
    read_block("e", 512, got, sizeof got);
    CHECK_STR(got, "a2");
    read_block("e", 1536, got, sizeof got);
    CHECK_STR(got, "a3");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static bool same_inode(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

/* A clone of a suspended VM is a fork: the memory file is the same inode (never a copy),
 * the machine file its own copy, state/fork names the source; the source's deletion
 * leaves the fork's memory. A memory file replaced by a link is refused, nothing made. */
TEST(fork_shares_memory_file)
{
    struct cove_create_options o = {.kernel = kernel, .disk_size = 64ull << 20};
    struct cove_error err = {0};
    char dir[PATH_MAX - 64], p[PATH_MAX], q[PATH_MAX], got[64] = "";
    CHECK(cove_vm_create("s", &o, &err) == 0);
    snprintf(dir, sizeof dir, "%s/vms/s/state", home);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(p, sizeof p, "%s/machine", dir);
    write_file(p, "COVESTAT-not-checked-by-clone", 0600);
    snprintf(p, sizeof p, "%s/memory", dir);
    write_file(p, "guest memory", 0400);
    CHECK(clone("s", "f1") == 0);
    CHECK(clone("f1", "f2") == 0); /* a fork of a fork */
    snprintf(q, sizeof q, "%s/vms/f1/state/memory", home);
    CHECK(same_inode(p, q));
    snprintf(q, sizeof q, "%s/vms/f2/state/memory", home);
    CHECK(same_inode(p, q));
    snprintf(p, sizeof p, "%s/machine", dir);
    snprintf(q, sizeof q, "%s/vms/f1/state/machine", home);
    CHECK(!same_inode(p, q));
    FILE *f = fopen(q, "r");
    CHECK(f && fgets(got, sizeof got, f));
    if (f)
        fclose(f);
    CHECK_STR(got, "COVESTAT-not-checked-by-clone");
    snprintf(q, sizeof q, "%s/vms/f2/state/fork", home);
    f = fopen(q, "r");
    CHECK(f && fgets(got, sizeof got, f));
    if (f)
        fclose(f);
    CHECK_STR(got, "f1\n");
    CHECK(cove_vm_delete("s", &err) == 0);
    snprintf(q, sizeof q, "%s/vms/f1/state/memory", home);
    struct stat st;
    CHECK(stat(q, &st) == 0 && st.st_nlink == 2 && st.st_size == 12);
    /* a link planted in place of the memory file */
    snprintf(p, sizeof p, "%s/vms/f1/state/memory", home);
    CHECK(unlink(p) == 0 && symlink("/etc/passwd", p) == 0);
    CHECK(cove_vm_clone("f1", "f3", &err) == -ELOOP);
    snprintf(q, sizeof q, "%s/vms/f3", home);
    CHECK(access(q, F_OK) < 0);
    CHECK(cove_vm_delete("f1", &err) == 0 && cove_vm_delete("f2", &err) == 0);
}

TEST(deleting_every_vm_removes_every_base)
{
    static const char *const vms[] = {"a", "b", "c", "d", "e"};
    struct cove_error err = {0};
    for (unsigned i = 0; i < sizeof vms / sizeof *vms; i++) {
        if (cove_vm_delete(vms[i], &err) < 0) {
            printf("  delete %s: %s\n", vms[i], err.message);
            CHECK(!"delete");
        }
    }
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/bases)\"", home);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    RUN(reclone_after_writes);
    RUN(fork_shares_memory_file);
    RUN(deleting_every_vm_removes_every_base);
    store_remove_tree(home);
    return test_summary();
}
