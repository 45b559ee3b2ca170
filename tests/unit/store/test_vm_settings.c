/* cove_vm_create / cove_vm_set without a guest: the checks of the boot files, and the
 * network stored in config.json (NAT or none, forwards, MAC). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cove/cove.h>

#include "../test.h"
#include "store/store.h"

static char home[] = "/tmp/test_vm_settings.XXXXXX";
static char kernel[PATH_MAX];

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
    close(fd);
}

/* A RISC-V Linux Image header: what create accepts as a kernel. */
static void write_kernel(void)
{
    unsigned char img[4096] = {0};
    img[0] = 0x6f;
    img[10] = 0x20; /* text_offset 2 MiB */
    memcpy(img + 0x30, "RISCV\0\0\0", 8);
    memcpy(img + 0x38, "RSC\x05", 4);
    snprintf(kernel, sizeof kernel, "%s/Image", home);
    write_file(kernel, img, sizeof img);
}

static int create(const char *name, struct cove_create_options o, struct cove_error *err)
{
    if (!o.kernel)
        o.kernel = kernel;
    o.disk_size = 64ull << 20;
    return cove_vm_create(name, &o, err);
}

TEST(create_checks_boot_files)
{
    struct cove_error err = {0};
    char garbage[PATH_MAX], vm[PATH_MAX];
    snprintf(garbage, sizeof garbage, "%s/garbage", home);
    write_file(garbage, "not a kernel\n", 13);
    CHECK(create("k", (struct cove_create_options){.kernel = garbage}, &err) == -ENOEXEC);
    CHECK(strstr(err.message, "not a RISC-V Linux Image or ELF (found: unknown format)"));
    CHECK(create("k", (struct cove_create_options){.kernel = "/nonexistent"}, &err) == -ENOENT);
    CHECK(create("k", (struct cove_create_options){.initrd = "/nonexistent"}, &err) == -ENOENT);
    CHECK(strstr(err.message, "initrd /nonexistent"));
    CHECK(create("k", (struct cove_create_options){.initrd = home}, &err) == -EISDIR);
    snprintf(vm, sizeof vm, "%s/vms/k", home);
    CHECK(access(vm, F_OK) < 0);
    CHECK(create("k", (struct cove_create_options){0}, &err) == 0);
}

TEST(network_stored)
{
    static const char *const fw[] = {"tcp:2222:22", "udp:127.0.0.1:5353:53"};
    struct cove_error err = {0};
    struct cove_vm_info v;
    CHECK(create("n", (struct cove_create_options){.forwards = fw, .nforwards = 2,
                                                   .mac = "52:54:00:aa:bb:cc"}, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.has_network && v.config.nat);
    CHECK_STR(v.config.mac, "52:54:00:aa:bb:cc");
    CHECK_EQ_U64(v.config.nforwards, 2);
    CHECK_STR(v.config.forwards[1], "udp:127.0.0.1:5353:53");
    cove_vm_info_free(&v);

    /* none with forwards stored: refused, nothing changed */
    struct cove_vm_settings s = {.net = COVE_NET_NONE, .cpus = 2};
    CHECK(cove_vm_set("n", &s, &err) == -EINVAL);
    CHECK(strstr(err.message, "2 forward(s), which need a network"));
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.nat && v.config.cpus == 1);
    cove_vm_info_free(&v);

    /* a replaced list; a bad forward changes nothing */
    static const char *const one[] = {"tcp:8080:80"}, *const bad[] = {"tcp:127.000.0.1:1:2"};
    s = (struct cove_vm_settings){.set_forwards = true, .forwards = bad, .nforwards = 1};
    CHECK(cove_vm_set("n", &s, &err) == -EINVAL);
    CHECK(strstr(err.message, "'127.000.0.1' is not an IPv4 address"));
    s = (struct cove_vm_settings){.set_forwards = true, .forwards = one, .nforwards = 1};
    CHECK(cove_vm_set("n", &s, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK_EQ_U64(v.config.nforwards, 1);
    CHECK_STR(v.config.forwards[0], "tcp:8080:80");
    cove_vm_info_free(&v);

    /* none (with the forwards gone) keeps the MAC; NAT again brings it back */
    s = (struct cove_vm_settings){.net = COVE_NET_NONE, .set_forwards = true};
    CHECK(cove_vm_set("n", &s, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(!v.config.nat && v.config.nforwards == 0);
    cove_vm_info_free(&v);
    s = (struct cove_vm_settings){.net = COVE_NET_NAT};
    CHECK(cove_vm_set("n", &s, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.nat);
    CHECK_STR(v.config.mac, "52:54:00:aa:bb:cc");
    cove_vm_info_free(&v);

    /* one host port twice */
    static const char *const twice[] = {"tcp:9000:80", "tcp:0.0.0.0:9000:81"};
    s = (struct cove_vm_settings){.set_forwards = true, .forwards = twice, .nforwards = 2};
    CHECK(cove_vm_set("n", &s, &err) == -EINVAL);
    CHECK(strstr(err.message, "use the same host port"));
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    RUN(create_checks_boot_files);
    RUN(network_stored);
    store_remove_tree(home);
    return test_summary();
}
