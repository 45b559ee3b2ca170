/* cove_vm_create with an imported disk (from_disk): format from the header, copies that
 * keep the data and the holes, growing and the refused shrink, the firmware files
 * (COVE_OPENSBI/COVE_UBOOT stand in for Debian's), the boot a create chooses and the
 * combinations it refuses, and that a refused create leaves no bundle. qcow2 (qemu-img)
 * is tests/integration/firmware-boot.sh's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/config.h>
#include <cove/cove.h>
#include <cove/disk.h>

#include "../test.h"
#include "store/store.h"

static char home[] = "/tmp/test_import.XXXXXX";
static char raw[PATH_MAX], fw[PATH_MAX], uboot[PATH_MAX], kernel[PATH_MAX];

#define IMAGE_SIZE (4u << 20)

static void write_file(const char *path, const void *data, size_t len, off_t at)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && pwrite(fd, data, len, at) == (ssize_t)len);
    close(fd);
}

static void path_in(char *buf, const char *fmt, const char *a, const char *b)
{
    snprintf(buf, PATH_MAX, fmt, a, b);
}

/* The bundle NAME's config.json. */
static int load(const char *name, struct cove_config *cfg)
{
    char path[PATH_MAX];
    struct cove_error err = {0};
    path_in(path, "%s/vms/%s/config.json", home, name);
    return cove_config_load(path, cfg, &err);
}

static bool bundle_exists(const char *name)
{
    char path[PATH_MAX];
    path_in(path, "%s/vms/%s", home, name);
    return access(path, F_OK) == 0;
}

/* The bytes at off in the bundle's disk, read through src/disk (raw or cdisk). */
static bool disk_has(const char *name, uint64_t size, const char *text, off_t off)
{
    char path[PATH_MAX], back[PATH_MAX];
    struct cove_error err = {0};
    struct cove_disk_info info;
    path_in(path, "%s/vms/%s/disk.img", home, name);
    path_in(back, "%s/%s.raw", home, name);
    if (cove_disk_info(path, &info, &err) < 0 || info.virtual_size != size)
        return false;
    unlink(back);
    if (cove_disk_convert(path, back, COVE_DISK_RAW, NULL, NULL, &err) < 0)
        return false;
    char buf[64] = {0};
    int fd = open(back, O_RDONLY);
    bool ok = fd >= 0 && pread(fd, buf, strlen(text), off) == (ssize_t)strlen(text) &&
              !memcmp(buf, text, strlen(text));
    if (fd >= 0)
        close(fd);
    unlink(back);
    return ok;
}

TEST(raw_import_boots_through_firmware)
{
    struct cove_error err = {0};
    struct cove_create_options o = {.from_disk = raw};
    REQUIRE(cove_vm_create("r", &o, &err) == 0);
    struct cove_config cfg;
    REQUIRE(load("r", &cfg) == 0);
    CHECK_STR(cfg.firmware, "firmware");
    CHECK_STR(cfg.kernel, "u-boot");
    CHECK(cfg.initrd == NULL && cfg.cmdline == NULL);
    CHECK_STR(cfg.disks[0].file, "disk.img");
    cove_config_free(&cfg);
    CHECK(disk_has("r", IMAGE_SIZE, "partition-data", 1 << 20));
    char path[PATH_MAX];
    struct stat st;
    path_in(path, "%s/vms/%s/u-boot", home, "r");
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0400 && st.st_size == 7);
    path_in(path, "%s/vms/%s/disk.img", home, "r");
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* sparse: the hole in the middle of the image is not copied as data */
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_blocks * 512 < IMAGE_SIZE);
}

TEST(grows_never_shrinks)
{
    struct cove_error err = {0};
    struct cove_create_options o = {.from_disk = raw, .disk_size = 64ull << 20};
    CHECK(cove_vm_create("g", &o, &err) == 0);
    CHECK(disk_has("g", 64ull << 20, "partition-data", 1 << 20));
    char small[PATH_MAX];
    path_in(small, "%s/%s", home, "small.img");
    write_file(small, "x", 1, (128u << 20) - 1);
    o = (struct cove_create_options){.from_disk = small, .disk_size = 64ull << 20};
    CHECK(cove_vm_create("s", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "disk size 64 MiB is smaller than the image") &&
          strstr(err.message, "(128 MiB)"));
    CHECK(!bundle_exists("s"));
}

TEST(cdisk_detected_and_flattened)
{
    struct cove_error err = {0};
    char overlay[PATH_MAX];
    path_in(overlay, "%s/%s", home, "overlay.cdisk");
    /* an overlay over the raw image: the import must not keep a backing outside bases/ */
    struct cove_disk_create_options co = {.format = COVE_DISK_CDISK, .backing = "image.raw"};
    REQUIRE(cove_disk_create(overlay, &co, &err) == 0);
    struct cove_create_options o = {.from_disk = overlay};
    REQUIRE(cove_vm_create("c", &o, &err) == 0);
    char path[PATH_MAX];
    struct cove_disk_info info;
    path_in(path, "%s/vms/%s/disk.img", home, "c");
    CHECK(cove_disk_info(path, &info, &err) == 0 && info.format == COVE_DISK_CDISK &&
          info.backing[0] == 0);
    CHECK(disk_has("c", IMAGE_SIZE, "partition-data", 1 << 20));
    o.disk_format = "cdisk";
    o.from_disk = raw;
    CHECK(cove_vm_create("c2", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "is not a cdisk image"));
    o.disk_format = "vmdk";
    CHECK(cove_vm_create("c2", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "disk format 'vmdk' is not known; use raw, qcow2 or cdisk"));
    CHECK(!bundle_exists("c2"));
}

TEST(boot_choices)
{
    struct cove_error err = {0};
    struct cove_config cfg;
    /* a kernel with an imported disk: direct boot of that kernel */
    struct cove_create_options o = {.from_disk = raw, .kernel = kernel, .cmdline = "quiet"};
    REQUIRE(cove_vm_create("d", &o, &err) == 0);
    REQUIRE(load("d", &cfg) == 0);
    CHECK(cfg.firmware == NULL);
    CHECK_STR(cfg.kernel, "kernel");
    CHECK_STR(cfg.cmdline, "quiet");
    cove_config_free(&cfg);
    o.boot = COVE_BOOT_FIRMWARE;
    CHECK(cove_vm_create("x", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "takes no --kernel"));
    o = (struct cove_create_options){.from_disk = raw, .cmdline = "quiet"};
    CHECK(cove_vm_create("x", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "drop --append"));
    o = (struct cove_create_options){.from_disk = raw, .boot = COVE_BOOT_DIRECT};
    CHECK(cove_vm_create("x", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "direct boot needs a kernel"));
    o = (struct cove_create_options){.kernel = kernel, .boot = COVE_BOOT_FIRMWARE};
    CHECK(cove_vm_create("x", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "needs a disk with a boot loader"));
    o = (struct cove_create_options){.kernel = kernel, .disk_format = "raw"};
    CHECK(cove_vm_create("x", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "pass --from-disk FILE"));
    CHECK(!bundle_exists("x"));
}

TEST(missing_firmware_names_the_package)
{
    struct cove_error err = {0};
    struct cove_create_options o = {.from_disk = raw};
    setenv("COVE_UBOOT", "/nonexistent/u-boot.bin", 1);
    CHECK(cove_vm_create("f", &o, &err) == -ENOENT);
    CHECK(strstr(err.message, "U-Boot /nonexistent/u-boot.bin: No such file or directory; "
                              "install Debian's u-boot-qemu package"));
    setenv("COVE_UBOOT", uboot, 1);
    setenv("COVE_OPENSBI", home, 1);
    CHECK(cove_vm_create("f", &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "not a regular file; install Debian's opensbi package"));
    setenv("COVE_OPENSBI", fw, 1);
    o.from_disk = "/nonexistent.img";
    CHECK(cove_vm_create("f", &o, &err) == -ENOENT);
    CHECK(strstr(err.message, "disk image /nonexistent.img: No such file or directory"));
    CHECK(!bundle_exists("f"));
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    path_in(raw, "%s/%s", home, "image.raw");
    path_in(fw, "%s/%s", home, "fw_dynamic.bin");
    path_in(uboot, "%s/%s", home, "u-boot.bin");
    path_in(kernel, "%s/%s", home, "Image");
    write_file(raw, "partition-data", 14, 1 << 20);
    write_file(raw, "end", 3, IMAGE_SIZE - 3);
    write_file(fw, "opensbi", 7, 0);
    write_file(uboot, "u-boot!", 7, 0);
    unsigned char img[4096] = {0}; /* a RISC-V Linux Image header */
    img[0] = 0x6f;
    img[10] = 0x20;
    memcpy(img + 0x38, "RSC\x05", 4);
    write_file(kernel, img, sizeof img, 0);
    setenv("COVE_OPENSBI", fw, 1);
    setenv("COVE_UBOOT", uboot, 1);
    RUN(raw_import_boots_through_firmware);
    RUN(grows_never_shrinks);
    RUN(cdisk_detected_and_flattened);
    RUN(boot_choices);
    RUN(missing_firmware_names_the_package);
    store_remove_tree(home);
    return test_summary();
}
