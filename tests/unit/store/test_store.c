/* config.json parsing and validation (every error), VM names, atomic writes, temporaries. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/config.h>
#include <cove/cove.h>

#include "../test.h"
#include "backends/net.h"
#include "store/store.h"

#define GOOD                                                                              \
    "{\"version\": 1, \"cpus\": 2, \"memory\": 1024,"                                     \
    " \"disks\": [{\"file\": \"disk.img\", \"read_only\": false}],"                       \
    " \"network\": {\"nat\": true, \"mac\": \"52:54:00:12:34:56\","                       \
    " \"forwards\": [\"tcp:2222:22\", \"udp:127.0.0.1:53:53\"]},"                          \
    " \"boot\": {\"kernel\": \"kernel\", \"initrd\": \"initrd\", \"cmdline\": \"quiet\"}}"

static int parse(const char *text, struct cove_error *err)
{
    struct cove_config cfg;
    int rc = cove_config_parse(text, strlen(text), "config.json", &cfg, err);
    if (rc == 0)
        cove_config_free(&cfg);
    return rc;
}

/* Replaces the first `from` in GOOD by `to` and expects an error containing `want`. */
static void expect_error(const char *from, const char *to, const char *want)
{
    char text[2048];
    const char *good = GOOD;
    const char *at = strstr(good, from);
    CHECK(at != NULL);
    if (!at)
        return;
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
    struct cove_error err = {0};
    int rc = parse(text, &err);
    CHECK(rc == -EINVAL);
    if (!strstr(err.message, want)) {
        printf("  for %s -> %s: message '%s' lacks '%s'\n", from, to, err.message, want);
        CHECK(!"message");
    }
}

/* network.mode and the egress rules go through config.json and back; "nat": false of an
 * older bundle reads as mode none. */
TEST(network_mode_round_trip)
{
    struct cove_config cfg;
    struct cove_error err = {0};
    CHECK(cove_config_parse(GOOD, strlen(GOOD), "config.json", &cfg, &err) == 0);
    cfg.net = (struct cove_net_spec){COVE_NET_BRIDGE, "br0"};
    CHECK(cove_net_rule_make("10.0.2.2:8080", true, &cfg.net_rules[0], &err) == 0);
    CHECK(cove_net_rule_make("10.0.0.0/8", false, &cfg.net_rules[1], &err) == 0);
    cfg.nnet_rules = 2;
    char *text = cove_config_to_json(&cfg);
    REQUIRE(text);
    CHECK(strstr(text, "\"mode\": \"bridge:br0\"") && !strstr(text, "\"nat\""));
    cove_config_free(&cfg);
    CHECK(cove_config_parse(text, strlen(text), "config.json", &cfg, &err) == 0);
    free(text);
    CHECK(cfg.net.mode == COVE_NET_BRIDGE);
    CHECK_STR(cfg.net.name, "br0");
    CHECK_EQ_U64(cfg.nnet_rules, 2);
    CHECK(cfg.net_rules[0].allow && !cfg.net_rules[1].allow);
    CHECK_STR(cfg.net_rules[1].spec, "10.0.0.0/8");
    CHECK(cove_config_has_net(&cfg));
    cove_config_free(&cfg);
    const char *old = strstr(GOOD, "\"nat\": true");
    REQUIRE(old);
    char legacy[2048];
    snprintf(legacy, sizeof legacy, "%.*s\"nat\": false%s", (int)(old - GOOD), GOOD,
             old + strlen("\"nat\": true"));
    CHECK(cove_config_parse(legacy, strlen(legacy), "config.json", &cfg, &err) == 0);
    CHECK(cfg.has_network && cfg.net.mode == COVE_NET_NONE && !cove_config_has_net(&cfg));
    cove_config_free(&cfg);
}

/* network.auto_forward: left out is on; "off" and "all" go through config.json and back;
 * anything else is refused with the key named. */
TEST(auto_forward_round_trip)
{
    struct cove_config cfg;
    struct cove_error err = {0};
    CHECK(cove_config_parse(GOOD, strlen(GOOD), "config.json", &cfg, &err) == 0);
    CHECK(cfg.auto_forward == COVE_AUTOFWD_DEFAULT);
    char *text = cove_config_to_json(&cfg);
    REQUIRE(text);
    CHECK(!strstr(text, "auto_forward"));
    free(text);
    enum cove_auto_forward values[] = {COVE_AUTOFWD_OFF, COVE_AUTOFWD_ALL};
    const char *words[] = {"\"auto_forward\": \"off\"", "\"auto_forward\": \"all\""};
    for (unsigned i = 0; i < 2; i++) {
        cfg.auto_forward = values[i];
        text = cove_config_to_json(&cfg);
        REQUIRE(text);
        CHECK(strstr(text, words[i]) != NULL);
        struct cove_config back;
        CHECK(cove_config_parse(text, strlen(text), "config.json", &back, &err) == 0);
        CHECK(back.auto_forward == values[i]);
        cove_config_free(&back);
        free(text);
    }
    cove_config_free(&cfg);
    expect_error("\"nat\": true", "\"nat\": true, \"auto_forward\": \"yes\"",
                 "network.auto_forward");
    expect_error("\"nat\": true", "\"nat\": true, \"auto_forward\": false",
                 "network.auto_forward");
    CHECK(cove_auto_forward_parse("on") == COVE_AUTOFWD_ON);
    CHECK(cove_auto_forward_parse("") < 0);
}

TEST(parses_good_config)
{
    struct cove_config cfg;
    struct cove_error err = {0};
    CHECK(cove_config_parse(GOOD, strlen(GOOD), "config.json", &cfg, &err) == 0);
    CHECK_EQ_U64(cfg.cpus, 2);
    CHECK_EQ_U64(cfg.memory_mib, 1024);
    CHECK_EQ_U64(cfg.ndisks, 1);
    CHECK_STR(cfg.disks[0].file, "disk.img");
    CHECK(!cfg.disks[0].read_only);
    CHECK(cfg.has_network && cfg.net.mode == COVE_NET_NAT);
    CHECK_STR(cfg.mac, "52:54:00:12:34:56");
    CHECK_EQ_U64(cfg.nforwards, 2);
    CHECK_STR(cfg.forwards[1], "udp:127.0.0.1:53:53");
    CHECK_STR(cfg.kernel, "kernel");
    CHECK_STR(cfg.initrd, "initrd");
    CHECK_STR(cfg.cmdline, "quiet");
    CHECK(cfg.firmware == NULL);
    cove_config_free(&cfg);
}

TEST(round_trips_through_json)
{
    struct cove_config a, b;
    struct cove_error err = {0};
    CHECK(cove_config_parse(GOOD, strlen(GOOD), "x", &a, &err) == 0);
    char *text = cove_config_to_json(&a);
    CHECK(text != NULL);
    CHECK(cove_config_parse(text, strlen(text), "x", &b, &err) == 0);
    CHECK_EQ_U64(b.cpus, a.cpus);
    CHECK_EQ_U64(b.memory_mib, a.memory_mib);
    CHECK_STR(b.mac, a.mac);
    CHECK_STR(b.forwards[0], a.forwards[0]);
    CHECK_STR(b.cmdline, a.cmdline);
    struct cove_config c;
    CHECK(cove_config_copy(&b, &c) == 0);
    CHECK_STR(c.kernel, "kernel");
    CHECK(c.kernel != b.kernel);
    CHECK(cove_config_validate(&c, "x", &err) == 0);
    c.cpus = 0;
    CHECK(cove_config_validate(&c, "x", &err) == -EINVAL);
    CHECK(strstr(err.message, "'cpus'") != NULL);
    free(text);
    cove_config_free(&a);
    cove_config_free(&b);
    cove_config_free(&c);
}

/* "interface": "nvme" is kept through parse and write; virtio, the default, is not written. */
TEST(disk_interface)
{
    const char *t = "{\"version\":1,\"cpus\":1,\"memory\":16,\"boot\":{\"kernel\":\"k\"},"
                    "\"disks\":[{\"file\":\"a.img\",\"interface\":\"nvme\"},"
                    "{\"file\":\"b.img\",\"interface\":\"virtio\"},{\"file\":\"c.img\"}]}";
    struct cove_config a, b;
    REQUIRE(cove_config_parse(t, strlen(t), "c", &a, NULL) == 0);
    CHECK(a.disks[0].nvme && !a.disks[1].nvme && !a.disks[2].nvme);
    char *text = cove_config_to_json(&a);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "\"interface\": \"nvme\"") != NULL);
    CHECK(strstr(text, "virtio") == NULL);
    REQUIRE(cove_config_parse(text, strlen(text), "c", &b, NULL) == 0);
    CHECK(b.disks[0].nvme && !b.disks[1].nvme && !b.disks[2].nvme);
    free(text);
    cove_config_free(&a);
    cove_config_free(&b);
}

TEST(minimal_config)
{
    const char *t = "{\"version\":1,\"cpus\":1,\"memory\":16,\"disks\":[],\"boot\":{\"kernel\":\"/k\"}}";
    struct cove_config cfg;
    CHECK(cove_config_parse(t, strlen(t), "c", &cfg, NULL) == 0);
    CHECK(!cfg.has_network);
    CHECK(cfg.initrd == NULL && cfg.cmdline == NULL);
    cove_config_free(&cfg);
}

TEST(rejects_bad_values)
{
    expect_error("\"cpus\": 2", "\"cpus\": \"two\"",
                 "config.json: key 'cpus': must be an integer 1..32, got \"two\"");
    expect_error("\"cpus\": 2", "\"cpus\": 0", "key 'cpus': must be an integer 1..32, got 0");
    expect_error("\"cpus\": 2", "\"cpus\": 33", "got 33");
    expect_error("\"cpus\": 2", "\"cpus\": 2.5", "got 2.5");
    expect_error("\"cpus\": 2, ", "", "key 'cpus' is missing");
    expect_error("\"memory\": 1024", "\"memory\": 8", "key 'memory': must be an integer 16..65536");
    expect_error("\"memory\": 1024", "\"memory\": 70000", "got 70000");
    expect_error("\"memory\": 1024", "\"memory\": \"1G\"", "got \"1G\"");
    expect_error("\"version\": 1", "\"version\": 2", "key 'version': this cove reads version 1");
    expect_error("\"version\": 1, ", "", "key 'version' is missing");
    expect_error("[{\"file\": \"disk.img\", \"read_only\": false}]", "\"disk.img\"",
                 "key 'disks': must be an array");
    expect_error("{\"file\": \"disk.img\", \"read_only\": false}", "7",
                 "key 'disks[0]': must be an object");
    expect_error("{\"file\": \"disk.img\",", "{\"file\": 7,", "key 'disks[0].file': must be a string");
    expect_error("{\"file\": \"disk.img\",", "{\"file\": \"\",", "'disks[0].file': must not be empty");
    expect_error("{\"file\": \"disk.img\", ", "{", "key 'disks[0].file' is missing");
    expect_error("\"read_only\": false", "\"read_only\": \"no\"", "'disks[0].read_only': must be true or false");
    expect_error("\"read_only\": false", "\"read_only\": false, \"cachee\": 1", "unknown key 'disks[0].cachee'");
    expect_error("\"read_only\": false", "\"read_only\": false, \"interface\": \"scsi\"",
                 "key 'disks[0].interface': must be \"virtio\" or \"nvme\", got \"scsi\"");
    expect_error("\"read_only\": false", "\"read_only\": false, \"interface\": 1",
                 "'disks[0].interface'");
    expect_error("\"nat\": true", "\"nat\": 1", "key 'network.nat': must be true or false");
    expect_error("\"nat\": true", "\"mode\": \"bridge\"", "key 'network.mode': network 'bridge'");
    expect_error("\"nat\": true", "\"mode\": \"nat\", \"nat\": true",
                 "'network.mode' and 'network.nat' exclude each other");
    expect_error("\"nat\": true", "\"mode\": 1", "key 'network.mode': must be a string");
    expect_error("\"nat\": true", "\"allow\": [\"10.0.0.1/8\"]", "key 'network.allow[0]'");
    expect_error("\"nat\": true", "\"block\": [\"10.0.0.0/8:80\"]",
                 "'network.block[0]': rule '10.0.0.0/8:80': a block rule takes no port");
    expect_error("\"nat\": true", "\"block\": \"10.0.0.0/8\"", "key 'network.block': must be an array");
    expect_error("52:54:00:12:34:56", "52:54:00:12:34", "key 'network.mac'");
    expect_error("52:54:00:12:34:56", "53:54:00:12:34:56", "multicast");
    expect_error("\"tcp:2222:22\"", "\"tcp:2222\"", "key 'network.forwards[0]'");
    expect_error("\"tcp:2222:22\"", "\"2222:22\"", "'network.forwards[0]'");
    expect_error("\"tcp:2222:22\"", "\"tcp:70000:22\"", "ports are numbers from 1 to 65535");
    expect_error("\"udp:127.0.0.1:53:53\"", "\"udp:300.0.0.1:53:53\"", "'network.forwards[1]'");
    expect_error("\"nat\": true", "\"nat\": true, \"bridge\": \"br0\"", "unknown key 'network.bridge'");
    expect_error("\"kernel\": \"kernel\"", "\"kernel\": null", "key 'boot.kernel' is missing");
    expect_error("\"kernel\": \"kernel\"", "\"kernel\": [1]", "key 'boot.kernel': must be a string");
    expect_error("\"cmdline\": \"quiet\"", "\"cmdline\": \"quiet\", \"dtb\": \"x\"", "unknown key 'boot.dtb'");
    expect_error("{\"kernel\": \"kernel\", \"initrd\": \"initrd\", \"cmdline\": \"quiet\"}", "1",
                 "key 'boot': must be an object");
    expect_error(", \"boot\": {\"kernel\": \"kernel\", \"initrd\": \"initrd\", \"cmdline\": \"quiet\"}",
                 "", "key 'boot' is missing");
    expect_error("\"version\": 1,", "\"version\": 1, \"color\": \"red\",", "unknown key 'color'");
    expect_error("\"cpus\": 2,", "\"cpus\": 2, \"cpus\": 3,", "not valid JSON");
    expect_error("\"boot\": {", "\"boot\": {,", "not valid JSON");
}

/* config.json with one forward (or MAC) replaced: 0, or the error. */
static int parse_network_value(const char *from, const char *value, struct cove_error *err)
{
    char text[2048];
    const char *good = GOOD, *at = strstr(good, from);
    snprintf(text, sizeof text, "%.*s\"%s\"%s", (int)(at - good), good, value,
             at + strlen(from));
    return parse(text, err);
}

/* config.json and `cove run` take forwards and MACs through one parser: the same inputs
 * pass, and a refused one gets the same message (config adds the key in front). */
TEST(config_and_run_agree_on_network_values)
{
    static const char *const forwards[] = {
        "tcp:2222:22", "udp:5353:53", "tcp:0.0.0.0:8080:80", "tcp:127.0.0.1:80:80",
        "tcp:127.000.0.1:80:80", "tcp:1.2.3:80:80", "tcp:300.0.0.1:80:80", "tcp:80",
        "sctp:1:2", "tcp:0:80", "tcp:80:65536", "tcp::80", "tcp: 80:80", "tcp:a:b:c:d",
        "2222:22", "tcp:1:2:3:4:5"};
    static const char *const macs[] = {"52:54:00:12:34:56", "52:54:00:aB:cd:EF",
                                       "53:54:00:12:34:56", "52:54:00:12:34",
                                       "52-54-00-12-34-56", "52:54:00:12:34:5g"};
    for (unsigned i = 0; i < sizeof forwards / sizeof *forwards; i++) {
        struct net_forward f;
        struct cove_error run = {0}, cfg = {0};
        int rrc = net_forward_parse(forwards[i], &f, &run);
        int crc = parse_network_value("\"tcp:2222:22\"", forwards[i], &cfg);
        if (rrc != crc || (rrc < 0 && !strstr(cfg.message, run.message))) {
            printf("  %s: run %d '%s', config %d '%s'\n", forwards[i], rrc, run.message, crc,
                   cfg.message);
            CHECK(!"forward");
        }
    }
    for (unsigned i = 0; i < sizeof macs / sizeof *macs; i++) {
        uint8_t m[NET_MAC_LEN];
        struct cove_error run = {0}, cfg = {0};
        int rrc = net_mac_parse(macs[i], m, &run);
        int crc = parse_network_value("\"52:54:00:12:34:56\"", macs[i], &cfg);
        if (rrc != crc || (rrc < 0 && !strstr(cfg.message, run.message))) {
            printf("  %s: run %d '%s', config %d '%s'\n", macs[i], rrc, run.message, crc,
                   cfg.message);
            CHECK(!"mac");
        }
    }
    /* the case that set them apart: a zero-padded address */
    struct cove_error err = {0};
    CHECK(parse_network_value("\"tcp:2222:22\"", "tcp:127.000.0.1:80:80", &err) == -EINVAL);
    CHECK(strstr(err.message, "key 'network.forwards[0]': forward 'tcp:127.000.0.1:80:80': "
                              "'127.000.0.1' is not an IPv4 address") != NULL);
}

TEST(forward_limit)
{
    char text[8192], list[6000] = "";
    for (unsigned i = 0; i <= COVE_MAX_FORWARDS; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"tcp:%u:22\"",
                 i ? ", " : "", 1000 + i);
    const char *good = GOOD, *at = strstr(good, "\"tcp:2222:22\", \"udp:127.0.0.1:53:53\"");
    const char *after = at + strlen("\"tcp:2222:22\", \"udp:127.0.0.1:53:53\"");
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, list, after);
    struct cove_error err = {0};
    CHECK(parse(text, &err) == -EINVAL);
    CHECK(strstr(err.message, "at most 64") != NULL);
    /* 64 pass */
    *strrchr(list, ',') = 0;
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, list, after);
    CHECK(parse(text, &err) == 0);
}

TEST(random_mac)
{
    char a[COVE_MAC_LEN + 1], b[COVE_MAC_LEN + 1];
    uint8_t m[NET_MAC_LEN];
    cove_config_random_mac(a);
    cove_config_random_mac(b);
    CHECK(strncmp(a, "52:54:00:", 9) == 0);
    CHECK(strcmp(a, b) != 0);
    CHECK(net_mac_parse(a, m, NULL) == 0);
}

TEST(rejects_non_json)
{
    struct cove_error err = {0};
    CHECK(parse("", &err) == -EINVAL);
    CHECK(strstr(err.message, "config.json: not valid JSON") != NULL);
    CHECK(parse("[1,2]", &err) == -EINVAL);
    CHECK(strstr(err.message, "must be a JSON object") != NULL);
    CHECK(parse("{\"version\":1", &err) == -EINVAL);
    CHECK(strstr(err.message, "line 1") != NULL);
    const char with_nul[] = "{\"version\":1,\"cpus\":1,\"memory\":16,\"disks\":[],"
                            "\"boot\":{\"kernel\":\"a\\u0000b\"}}";
    CHECK(parse(with_nul, &err) == -EINVAL);
}

/* GOOD with "guest": VALUE added (VALUE is JSON text): 0, or the error. */
static int parse_guest(const char *value, struct cove_config *cfg, struct cove_error *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%.*s, \"guest\": %s}", (int)strlen(GOOD) - 1, GOOD, value);
    return cove_config_parse(text, strlen(text), "config.json", cfg, err);
}

/* guest.user goes onto ssh's command line: only a Linux user name passes, and it survives
 * a write, a copy and a validate. */
TEST(guest_user)
{
    struct cove_config cfg, back, copy;
    struct cove_error err = {0};
    REQUIRE(parse_guest("{\"user\": \"alice\"}", &cfg, &err) == 0);
    CHECK_STR(cfg.guest_user, "alice");
    char *text = cove_config_to_json(&cfg);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "\"guest\": {\n    \"user\": \"alice\"\n  }") != NULL);
    CHECK(cove_config_parse(text, strlen(text), "x", &back, &err) == 0);
    CHECK_STR(back.guest_user, "alice");
    free(text);
    CHECK(cove_config_copy(&back, &copy) == 0);
    CHECK_STR(copy.guest_user, "alice");
    CHECK(copy.guest_user != back.guest_user);
    CHECK(cove_config_validate(&copy, "x", &err) == 0);
    free(copy.guest_user);
    copy.guest_user = strdup("Root");
    CHECK(cove_config_validate(&copy, "x", &err) == -EINVAL);
    cove_config_free(&copy);
    cove_config_free(&back);
    cove_config_free(&cfg);

    /* absent, null, or an object without user: no user, and none written back */
    CHECK(cove_config_parse(GOOD, strlen(GOOD), "x", &cfg, &err) == 0);
    CHECK(cfg.guest_user == NULL);
    text = cove_config_to_json(&cfg);
    CHECK(text && !strstr(text, "guest"));
    free(text);
    cove_config_free(&cfg);
    CHECK(parse_guest("null", &cfg, &err) == 0 && cfg.guest_user == NULL);
    cove_config_free(&cfg);
    CHECK(parse_guest("{}", &cfg, &err) == 0 && cfg.guest_user == NULL);
    cove_config_free(&cfg);

    static const char *const good[] = {"\"_\"", "\"cove\"", "\"a-b_c9\"", "\"_x-\"",
                                       "\"abcdefghijklmnopqrstuvwxyz012345\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char v[96];
        snprintf(v, sizeof v, "{\"user\": %s}", good[i]);
        if (parse_guest(v, &cfg, &err) != 0) {
            printf("  %s refused: %s\n", good[i], err.message);
            CHECK(!"good user");
        }
        cove_config_free(&cfg);
    }
    static const struct { const char *value, *want; } bad_users[] = {
        {"\"\"", "config.json: key 'guest.user': must be a Linux user name ([a-z_][a-z0-9_-]{0,31}), got \"\""},
        {"\"Alice\"", "key 'guest.user': must be a Linux user name"},
        {"\"9lives\"", "got \"9lives\""},
        {"\"-o\"", "key 'guest.user'"},
        {"\"a b\"", "key 'guest.user'"},
        {"\"a;b\"", "key 'guest.user'"},
        {"\"a@b\"", "key 'guest.user'"},
        {"\"a.b\"", "key 'guest.user'"},
        {"\"abcdefghijklmnopqrstuvwxyz0123456\"", "key 'guest.user'"}, /* 33 */
        {"\"a\\u0000b\"", "not valid JSON"}, /* jansson refuses NUL */
        {"\"a\\nb\"", "key 'guest.user'"},
        {"\"\\u00e9\"", "key 'guest.user'"},
        {"7", "key 'guest.user': must be a string"},
    };
    for (size_t i = 0; i < sizeof bad_users / sizeof bad_users[0]; i++) {
        char v[96];
        snprintf(v, sizeof v, "{\"user\": %s}", bad_users[i].value);
        int rc = parse_guest(v, &cfg, &err);
        CHECK(rc == -EINVAL);
        if (rc == 0)
            cove_config_free(&cfg);
        else if (!strstr(err.message, bad_users[i].want)) {
            printf("  for %s: message '%s' lacks '%s'\n", bad_users[i].value, err.message,
                   bad_users[i].want);
            CHECK(!"message");
        }
    }
    CHECK(parse_guest("\"alice\"", &cfg, &err) == -EINVAL);
    CHECK(strstr(err.message, "key 'guest': must be an object {\"user\"}, got \"alice\"") != NULL);
    CHECK(parse_guest("{\"user\": \"a\", \"uid\": 1000}", &cfg, &err) == -EINVAL);
    CHECK(strstr(err.message, "unknown key 'guest.uid'") != NULL);
    CHECK(cove_guest_user_valid("cove") && !cove_guest_user_valid(NULL) &&
          !cove_guest_user_valid("") && !cove_guest_user_valid("root!"));
}

TEST(names)
{
    struct cove_error err = {0};
    CHECK(cove_name_check("dev", &err) == 0);
    CHECK(cove_name_check("ci-1.test_x", &err) == 0);
    CHECK(cove_name_check("0", &err) == 0);
    char longest[65];
    memset(longest, 'a', 64);
    longest[64] = 0;
    CHECK(cove_name_check(longest, &err) == 0);
    char too_long[66];
    memset(too_long, 'a', 65);
    too_long[65] = 0;
    CHECK(cove_name_check(too_long, &err) == -EINVAL);
    CHECK(strstr(err.message, "limit is 64") != NULL);
    CHECK(cove_name_check("a/b", &err) == -EINVAL);
    CHECK(strstr(err.message, "contains '/'") != NULL);
    CHECK(cove_name_check("..", &err) == -EINVAL);
    CHECK(cove_name_check(".hidden", &err) == -EINVAL);
    CHECK(strstr(err.message, "starts with '.'") != NULL);
    CHECK(cove_name_check("", &err) == -EINVAL);
    CHECK(cove_name_check("-x", &err) == -EINVAL);
    CHECK(cove_name_check("a b", &err) == -EINVAL);
    CHECK(strstr(err.message, "contains ' '") != NULL);
    CHECK(cove_name_check("a\nb", &err) == -EINVAL);
    CHECK(cove_name_check(NULL, &err) == -EINVAL);
}

static char tmpdir[] = "/tmp/test_store.XXXXXX";

TEST(atomic_write)
{
    char path[700], dir[600];
    snprintf(dir, sizeof dir, "%s/aw", tmpdir);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct cove_error err = {0};
    CHECK(store_write_atomic(path, "one\n", 4, 0644, &err) == 0);
    CHECK(store_write_atomic(path, "two!!\n", 6, 0600, &err) == 0);
    char buf[16] = {0};
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(read(fd, buf, sizeof buf) == 6);
    close(fd);
    CHECK_STR(buf, "two!!\n");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* only the file: no temporary left behind */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = config.json", dir);
    CHECK(system(cmd) == 0);
    /* a directory in the way: fails, and the temporary is gone */
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(store_write_atomic(path, "x", 1, 0644, &err) < 0);
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -c tmp) -eq 0", dir);
    CHECK(system(cmd) == 0);
}

TEST(sweeps_dead_temporaries)
{
    char dir[600], dead[700], live[700], other[700];
    snprintf(dir, sizeof dir, "%s/sweep", tmpdir);
    CHECK(mkdir(dir, 0755) == 0);
    /* a pid that cannot exist (above pid_max), one that does (ours), and a VM name */
    snprintf(dead, sizeof dead, "%s/.tmp-99999999-create-1", dir);
    snprintf(live, sizeof live, "%s/.tmp-%d-create-2", dir, (int)getpid() == 1 ? 2 : 1);
    snprintf(other, sizeof other, "%s/vm1", dir);
    CHECK(mkdir(dead, 0755) == 0);
    char f[800];
    snprintf(f, sizeof f, "%s/disk.img", dead);
    CHECK(close(open(f, O_CREAT | O_WRONLY, 0644)) == 0);
    CHECK(mkdir(live, 0755) == 0);
    CHECK(mkdir(other, 0755) == 0);
    store_sweep_temps(dir);
    CHECK(access(dead, F_OK) < 0);
    CHECK(access(live, F_OK) == 0); /* pid 1 runs */
    CHECK(access(other, F_OK) == 0);
    CHECK(store_remove_tree(dir) == 0);
    CHECK(access(dir, F_OK) < 0);
}

TEST(temp_names_are_not_vm_names)
{
    char p[256];
    CHECK(store_temp_path("/x", "create", p, sizeof p) == 0);
    CHECK(cove_name_check(strrchr(p, '/') + 1, NULL) < 0);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(parses_good_config);
    RUN(network_mode_round_trip);
    RUN(auto_forward_round_trip);
    RUN(round_trips_through_json);
    RUN(disk_interface);
    RUN(minimal_config);
    RUN(rejects_bad_values);
    RUN(config_and_run_agree_on_network_values);
    RUN(forward_limit);
    RUN(random_mac);
    RUN(rejects_non_json);
    RUN(guest_user);
    RUN(names);
    RUN(atomic_write);
    RUN(sweeps_dead_temporaries);
    RUN(temp_names_are_not_vm_names);
    store_remove_tree(tmpdir);
    return test_summary();
}
