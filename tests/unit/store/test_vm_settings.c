/* cove_vm_create / cove_vm_set without a guest: the checks of the boot files, the
 * network stored in config.json (NAT or none, forwards, MAC), and stored shared
 * directories with their grants. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/cove.h>

#include "../kernel_image.h"
#include "../test.h"
#include "store/shares.h"
#include "store/store.h"

static char home[] = "/tmp/test_vm_settings.XXXXXX";
static char kernel[PATH_MAX];

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void write_kernel(void)
{
    test_write_kernel(home, kernel, sizeof kernel);
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
    CHECK(cove_config_has_net(&v.config));
    CHECK_STR(v.config.mac, "52:54:00:aa:bb:cc");
    CHECK_EQ_U64(v.config.nforwards, 2);
    CHECK_STR(v.config.forwards[1], "udp:127.0.0.1:5353:53");
    CHECK(v.config.auto_forward == COVE_AUTOFWD_DEFAULT);
    cove_vm_info_free(&v);

    /* automatic forwarding: off, then on for every port; the rest stays */
    struct cove_vm_settings af = {.auto_forward = COVE_AUTOFWD_OFF};
    CHECK(cove_vm_set("n", &af, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.auto_forward == COVE_AUTOFWD_OFF && v.config.nforwards == 2);
    cove_vm_info_free(&v);
    af.auto_forward = COVE_AUTOFWD_ALL;
    CHECK(cove_vm_set("n", &af, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.auto_forward == COVE_AUTOFWD_ALL);
    cove_vm_info_free(&v);

    /* none with forwards stored: refused, nothing changed */
    struct cove_vm_settings s = {.net = {COVE_NET_NONE}, .cpus = 2};
    CHECK(cove_vm_set("n", &s, &err) == -EINVAL);
    CHECK(strstr(err.message, "2 forward(s), which need a network"));
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.net.mode == COVE_NET_NAT && v.config.cpus == 1);
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
    s = (struct cove_vm_settings){.net = {COVE_NET_NONE}, .set_forwards = true};
    CHECK(cove_vm_set("n", &s, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.net.mode == COVE_NET_NONE && v.config.nforwards == 0);
    cove_vm_info_free(&v);
    s = (struct cove_vm_settings){.net = {COVE_NET_NAT}};
    CHECK(cove_vm_set("n", &s, &err) == 0);
    CHECK(cove_vm_get("n", &v, &err) == 0);
    CHECK(v.config.net.mode == COVE_NET_NAT);
    CHECK_STR(v.config.mac, "52:54:00:aa:bb:cc");
    cove_vm_info_free(&v);

    /* one host port twice */
    static const char *const twice[] = {"tcp:9000:80", "tcp:0.0.0.0:9000:81"};
    s = (struct cove_vm_settings){.set_forwards = true, .forwards = twice, .nforwards = 2};
    CHECK(cove_vm_set("n", &s, &err) == -EINVAL);
    CHECK(strstr(err.message, "use the same host port"));
}

static void share_dir(char *buf, size_t n, const char *leaf)
{
    snprintf(buf, n, "%s/%s", home, leaf);
    mkdir(buf, 0755);
}

TEST(shares_stored)
{
    struct cove_error err = {0};
    struct cove_vm_info v;
    struct store st;
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], spec_b[PATH_MAX + 8];
    share_dir(a, sizeof a, "a");
    share_dir(b, sizeof b, "b");
    share_dir(c, sizeof c, "c");
    REQUIRE(store_open(&st, &err) == 0);

    struct cove_share_config two[2] = {{.name = "src", .path = a}, {.name = "data", .path = b,
                                                                    .read_only = true}};
    CHECK(create("s", (struct cove_create_options){.shares = two, .nshares = 2}, &err) == 0);
    CHECK(cove_vm_get("s", &v, &err) == 0);
    CHECK_EQ_U64(v.config.nshares, 2);
    CHECK_STR(v.config.shares[1].name, "data");
    CHECK_STR(v.config.shares[1].path, b);
    CHECK(v.config.shares[1].read_only);
    CHECK(v.config.shares[0].grant && strlen(v.config.shares[0].grant) == STORE_GRANT_LEN);
    CHECK(store_share_check(&st, "s", &v.config.shares[0], &err) == 0);
    CHECK(store_share_check(&st, "s", &v.config.shares[1], &err) == 0);

    /* the seal covers the path and read_only: a changed one no longer passes */
    struct cove_share_config t = v.config.shares[1];
    t.read_only = false;
    CHECK(store_share_check(&st, "s", &t, &err) == -EPERM);
    CHECK(strstr(err.message, "was not granted by this cove"));
    CHECK(strstr(err.message, "cove set s --dir data:"));
    t = v.config.shares[0];
    t.path = c;
    CHECK(store_share_check(&st, "s", &t, &err) == -EPERM);
    t.path = v.config.shares[0].path;
    t.name = "other";
    CHECK(store_share_check(&st, "s", &t, &err) == -EPERM);
    t = v.config.shares[0];
    t.grant = NULL;
    CHECK(store_share_check(&st, "s", &t, &err) == -EPERM);
    cove_vm_info_free(&v);

    /* a missing directory or two of one name: refused, nothing changed */
    struct cove_share_config gone = {.name = "gone", .path = "/nonexistent/dir"};
    struct cove_vm_settings set = {.set_shares = true, .shares = &gone, .nshares = 1};
    CHECK(cove_vm_set("s", &set, &err) == -ENOENT);
    CHECK(strstr(err.message, "/nonexistent/dir"));
    struct cove_share_config file = {.name = "f", .path = kernel};
    set.shares = &file;
    CHECK(cove_vm_set("s", &set, &err) == -ENOTDIR);
    struct cove_share_config dup[2] = {{.name = "x", .path = a}, {.name = "x", .path = b}};
    set = (struct cove_vm_settings){.set_shares = true, .shares = dup, .nshares = 2};
    CHECK(cove_vm_set("s", &set, &err) == -EINVAL);
    CHECK(strstr(err.message, "two shared directories are named 'x'"));
    CHECK(cove_vm_get("s", &v, &err) == 0);
    CHECK_EQ_U64(v.config.nshares, 2);
    cove_vm_info_free(&v);

    /* a relative path is stored as the real path; an empty list removes them all */
    char cwd[PATH_MAX];
    REQUIRE(getcwd(cwd, sizeof cwd));
    REQUIRE(chdir(home) == 0);
    snprintf(spec_b, sizeof spec_b, "./c/../c");
    struct cove_share_config rel = {.name = "rel", .path = spec_b};
    set = (struct cove_vm_settings){.set_shares = true, .shares = &rel, .nshares = 1};
    CHECK(cove_vm_set("s", &set, &err) == 0);
    REQUIRE(chdir(cwd) == 0);
    CHECK(cove_vm_get("s", &v, &err) == 0);
    CHECK_EQ_U64(v.config.nshares, 1);
    CHECK_STR(v.config.shares[0].path, c);
    cove_vm_info_free(&v);
    set = (struct cove_vm_settings){.set_shares = true};
    CHECK(cove_vm_set("s", &set, &err) == 0);
    CHECK(cove_vm_get("s", &v, &err) == 0);
    CHECK_EQ_U64(v.config.nshares, 0);
    cove_vm_info_free(&v);

    /* another key (a bundle from another COVE_HOME): the old grants fail */
    CHECK(create("k2", (struct cove_create_options){.shares = two, .nshares = 1}, &err) == 0);
    CHECK(cove_vm_get("k2", &v, &err) == 0);
    char key[PATH_MAX];
    snprintf(key, sizeof key, "%s/share.key", home);
    CHECK(unlink(key) == 0);
    CHECK(store_share_check(&st, "k2", &v.config.shares[0], &err) == -EPERM);
    cove_vm_info_free(&v);
}

/* cove set --disk-options N:OPTS: every option of the one --disk parser reaches config.json,
 * the interface too */
TEST(disk_options_stored)
{
    struct cove_error err = {0};
    struct cove_vm_info v;
    CHECK(create("do", (struct cove_create_options){0}, &err) == 0);
    char opts[] = "ro,cache=none,sync=full,if=nvme";
    struct cove_vm_settings set = {.disk_options = 1};
    REQUIRE(cove_disk_options_parse(opts, &set.disk_modes, &err) == 0);
    CHECK(cove_vm_set("do", &set, &err) == 0);
    CHECK(cove_vm_get("do", &v, &err) == 0);
    CHECK(v.config.disks[0].read_only && v.config.disks[0].nvme);
    CHECK(v.config.disks[0].cache == COVE_DISK_CACHE_NONE);
    CHECK(v.config.disks[0].sync == COVE_DISK_SYNC_FULL);
    cove_vm_info_free(&v);
}

/* the CPU limit: create and set store it in config.json ("cpu_limit", CPUs), set removes
 * it; the reader takes 0.01..1024 CPUs and nothing else */
TEST(cpu_limit_stored)
{
    struct cove_error err = {0};
    struct cove_vm_info v;
    CHECK(create("cl", (struct cove_create_options){.cpu_limit_milli = 500}, &err) == 0);
    CHECK(cove_vm_get("cl", &v, &err) == 0);
    CHECK_EQ_U64(v.config.cpu_limit_milli, 500);
    cove_vm_info_free(&v);
    struct cove_vm_settings set = {.set_cpu_limit = true, .cpu_limit_milli = 2250};
    CHECK(cove_vm_set("cl", &set, &err) == 0);
    CHECK(cove_vm_get("cl", &v, &err) == 0);
    CHECK_EQ_U64(v.config.cpu_limit_milli, 2250);
    cove_vm_info_free(&v);
    set.cpu_limit_milli = 0;
    CHECK(cove_vm_set("cl", &set, &err) == 0);
    CHECK(cove_vm_get("cl", &v, &err) == 0);
    CHECK_EQ_U64(v.config.cpu_limit_milli, 0);
    cove_vm_info_free(&v);
    static const char *const bad[] = {"0", "0.001", "1025", "\"1\"", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"version\": 1, \"cpus\": 1, \"memory\": 64, \"disks\": "
                 "[], \"boot\": {\"kernel\": \"k\"}, \"cpu_limit\": %s}", bad[i]);
        struct cove_config cfg;
        CHECK(cove_config_parse(text, strlen(text), "config.json", &cfg, &err) == -EINVAL);
        CHECK(strstr(err.message, "'cpu_limit': must be a number of CPUs 0.01..1024"));
    }
}

/* config.json's "shares": every value checked where the file is read */
/* config.json made of head, value and a closing brace is refused with a message that
 * contains message (case i, for the log). */
static void check_refused(const char *head, const char *value, const char *message, size_t i)
{
    char text[1024];
    snprintf(text, sizeof text, "%s%s}", head, value);
    struct cove_config cfg;
    struct cove_error err = {0};
    CHECK(cove_config_parse(text, strlen(text), "config.json", &cfg, &err) == -EINVAL);
    if (!strstr(err.message, message))
        fprintf(stderr, "case %zu: %s\n", i, err.message);
    CHECK(strstr(err.message, message));
}

TEST(shares_parsed)
{
    static const char head[] = "{\"version\": 1, \"cpus\": 1, \"memory\": 64, \"disks\": [], "
                               "\"boot\": {\"kernel\": \"k\"}, \"shares\": ";
    static const struct {
        const char *shares, *message;
    } bad[] = {
        {"{}", "key 'shares': must be an array"},
        {"[{\"name\": \"a\", \"path\": \"rel/dir\"}]", "'shares[0].path': must be an absolute"},
        {"[{\"name\": \".a\", \"path\": \"/d\"}]", "'shares[0].name': must be 1-36"},
        {"[{\"name\": \"a\", \"path\": \"/d\"}, {\"name\": \"a\", \"path\": \"/e\"}]",
         "'shares[1].name': must differ"},
        {"[{\"name\": \"a\", \"path\": \"/d\", \"grant\": \"00\"}]", "'shares[0].grant': must be 64"},
        {"[{\"name\": \"a\", \"path\": \"/d\", \"mode\": 1}]", "unknown key 'shares[0].mode'"},
        {"[{\"name\": \"a\", \"path\": \"/d\", \"read_only\": \"yes\"}]",
         "'shares[0].read_only': must be true or false"},
        {"[{\"name\":\"a\",\"path\":\"/a\"},{\"name\":\"b\",\"path\":\"/b\"},"
         "{\"name\":\"c\",\"path\":\"/c\"},{\"name\":\"d\",\"path\":\"/d\"},"
         "{\"name\":\"e\",\"path\":\"/e\"}]", "at most 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_refused(head, bad[i].shares, bad[i].message, i);
    /* a good one survives a round trip through the writer */
    char text[1024];
    snprintf(text, sizeof text, "%s[{\"name\": \"a\", \"path\": \"/d\", \"read_only\": true, "
             "\"grant\": \"%064d\"}]}", head, 0);
    struct cove_config cfg, again;
    struct cove_error err = {0};
    CHECK(cove_config_parse(text, strlen(text), "config.json", &cfg, &err) == 0);
    char *json = cove_config_to_json(&cfg);
    REQUIRE(json);
    CHECK(cove_config_parse(json, strlen(json), "config.json", &again, &err) == 0);
    CHECK_EQ_U64(again.nshares, 1);
    CHECK(again.shares[0].read_only);
    CHECK_STR(again.shares[0].grant, cfg.shares[0].grant);
    free(json);
    cove_config_free(&again);
    cove_config_free(&cfg);
}

TEST(display_stored)
{
    struct cove_error err = {0};
    struct cove_vm_info v;
    CHECK(create("d", (struct cove_create_options){.vnc_port = 5901}, &err) == -EINVAL);
    CHECK(strstr(err.message, "a VNC port needs a display"));
    CHECK(create("d", (struct cove_create_options){.display_vnc = true, .vnc_port = 5901},
                 &err) == 0);
    CHECK(cove_vm_get("d", &v, &err) == 0);
    CHECK(v.config.display_vnc && v.config.vnc_port == 5901);
    cove_vm_info_free(&v);
    /* vnc again keeps the port; a port alone changes it; none drops both */
    struct cove_vm_settings s = {.set_display = true, .display_vnc = true};
    CHECK(cove_vm_set("d", &s, &err) == 0);
    s = (struct cove_vm_settings){.vnc_port = 6000};
    CHECK(cove_vm_set("d", &s, &err) == 0);
    CHECK(cove_vm_get("d", &v, &err) == 0);
    CHECK(v.config.display_vnc && v.config.vnc_port == 6000);
    cove_vm_info_free(&v);
    s = (struct cove_vm_settings){.set_display = true};
    CHECK(cove_vm_set("d", &s, &err) == 0);
    CHECK(cove_vm_get("d", &v, &err) == 0);
    CHECK(!v.config.display_vnc && v.config.vnc_port == 0);
    cove_vm_info_free(&v);
    /* a port without a display: refused, nothing changed */
    s = (struct cove_vm_settings){.vnc_port = 6001, .cpus = 2};
    CHECK(cove_vm_set("d", &s, &err) == -EINVAL);
    CHECK(cove_vm_get("d", &v, &err) == 0);
    CHECK(v.config.cpus == 1 && v.config.vnc_port == 0);
    cove_vm_info_free(&v);
}

TEST(display_parsed)
{
    static const char head[] = "{\"version\": 1, \"cpus\": 1, \"memory\": 64, \"disks\": [], "
                               "\"boot\": {\"kernel\": \"k\"}, \"display\": ";
    static const struct {
        const char *display, *message;
    } bad[] = {
        {"\"vnc\"", "key 'display': must be an object"},
        {"{}", "key 'display.type' is missing"},
        {"{\"type\": \"spice\"}", "'display.type': must be \"vnc\" or \"none\""},
        {"{\"type\": \"vnc\", \"vnc_port\": 0}", "'display.vnc_port': must be an integer 1..65535"},
        {"{\"type\": \"vnc\", \"vnc_port\": \"5901\"}", "'display.vnc_port': must be an integer"},
        {"{\"type\": \"none\", \"vnc_port\": 5901}", "'display.vnc_port': needs"},
        {"{\"type\": \"vnc\", \"port\": 1}", "unknown key 'display.port'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_refused(head, bad[i].display, bad[i].message, i);
    char text[1024];
    snprintf(text, sizeof text, "%s{\"type\": \"vnc\", \"vnc_port\": 5999}}", head);
    struct cove_config cfg, again;
    struct cove_error err = {0};
    CHECK(cove_config_parse(text, strlen(text), "config.json", &cfg, &err) == 0);
    char *json = cove_config_to_json(&cfg);
    REQUIRE(json);
    CHECK(cove_config_parse(json, strlen(json), "config.json", &again, &err) == 0);
    CHECK(again.display_vnc && again.vnc_port == 5999);
    free(json);
    cove_config_free(&again);
    cove_config_free(&cfg);
    bool vnc;
    int port;
    CHECK(cove_display_parse("vnc", &vnc, &err) == 0 && vnc);
    CHECK(cove_display_parse("none", &vnc, &err) == 0 && !vnc);
    CHECK(cove_display_parse("VNC", &vnc, &err) == -EINVAL);
    CHECK(cove_vnc_port_parse("65535", &port, &err) == 0 && port == 65535);
    CHECK(cove_vnc_port_parse("65536", &port, &err) == -EINVAL);
    CHECK(cove_vnc_port_parse("5901x", &port, &err) == -EINVAL);
    CHECK(cove_vnc_port_parse("", &port, &err) == -EINVAL);
}

int main(void)
{
    if (!mkdtemp(home))
        return 1;
    setenv("COVE_HOME", home, 1);
    write_kernel();
    RUN(create_checks_boot_files);
    RUN(network_stored);
    RUN(shares_stored);
    RUN(shares_parsed);
    RUN(disk_options_stored);
    RUN(display_stored);
    RUN(display_parsed);
    RUN(cpu_limit_stored);
    store_remove_tree(home);
    return test_summary();
}
