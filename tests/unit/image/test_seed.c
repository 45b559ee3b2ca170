/* The NoCloud seed (src/image/seed.c, seed_host.c): the texts cloud-init reads, parsed back
 * by a real YAML parser (python3-yaml) where there is one, hostile values that must stay
 * inside their strings, the FAT image read back with mtools, the user's cloud-config carried
 * through a multi-part message, failures that leave nothing behind, and the host's defaults. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "image/seed.h"
#include "store/store.h"

static char dir[] = "/tmp/test_seed.XXXXXX";
static int have_yaml, have_mtools;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0);
    if (f)
        fclose(f);
}

/* The output of a command (sh -c), malloc'd, or NULL when it fails. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    size_t n;
    while (out && (n = fread(out + len, 1, cap - len, p)) > 0) {
        len += n;
        if (len == cap && !(out = realloc(out, (cap *= 2) + 1)))
            break;
    }
    int status = pclose(p);
    if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(out);
        return NULL;
    }
    out[len] = 0;
    return out;
}

static void hex(const char *s, char *out)
{
    for (; *s; s++, out += 2)
        sprintf(out, "%02x", (unsigned char)*s);
    *out = 0;
}

/* Parses cove's cloud-config with PyYAML and returns the hex of the values it finds:
 * hostname, the user's name, each key, timezone, locale -- and "BAD" when the document
 * has more top-level keys or users than cove writes (a value that broke out). */
static char *parse_cloud_config(const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/parse.yaml", dir);
    write_file(path, text);
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c '\n"
             "import sys, yaml\n"
             "d = yaml.safe_load(open(sys.argv[1], encoding=\"ascii\"))\n"
             "ok = set(d) <= {\"hostname\", \"manage_etc_hosts\", \"ssh_pwauth\", \"users\",\n"
             "                \"timezone\", \"locale\"} and len(d[\"users\"]) == 1\n"
             "u = d[\"users\"][0]\n"
             "ok = ok and set(u) <= {\"name\", \"sudo\", \"shell\", \"lock_passwd\",\n"
             "                       \"ssh_authorized_keys\"}\n"
             "ok = ok and u[\"sudo\"] == \"ALL=(ALL) NOPASSWD:ALL\" and u[\"lock_passwd\"] is True\n"
             "ok = ok and u[\"shell\"] == \"/bin/bash\"\n"
             "v = [d[\"hostname\"], u[\"name\"]] + u.get(\"ssh_authorized_keys\", []) + \\\n"
             "    [d.get(\"timezone\", \"\"), d.get(\"locale\", \"\")]\n"
             "print(\" \".join(x.encode().hex() for x in v) if ok else \"BAD\", end=\"\")\n"
             "' %s",
             path);
    return run(cmd);
}

static const char *const plain_keys[] = {
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkey1 alice@host",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQkey2",
};

static struct seed_options plain(void)
{
    return (struct seed_options){.hostname = "d", .instance_id = "iid-d-1", .user = "alice",
                                 .ssh_keys = plain_keys, .nkeys = 2,
                                 .timezone = "Europe/Paris", .locale = "fr_FR.UTF-8"};
}

/* The expected hex line for options o (see parse_cloud_config). */
static void expected_hex(const struct seed_options *o, char *out)
{
    const char *vals[16];
    unsigned n = 0;
    vals[n++] = o->hostname;
    vals[n++] = o->user;
    for (unsigned i = 0; i < o->nkeys; i++)
        vals[n++] = o->ssh_keys[i];
    vals[n++] = o->timezone ? o->timezone : "";
    vals[n++] = o->locale ? o->locale : "";
    *out = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i)
            strcat(out, " ");
        hex(vals[i], out + strlen(out));
    }
}

TEST(cloud_config_says_what_cove_sets)
{
    struct seed_options o = plain();
    struct cove_error err = {0};
    char *cc = seed_cloud_config(&o, &err);
    REQUIRE(cc);
    CHECK(!strncmp(cc, "#cloud-config\n", 14));
    CHECK(strstr(cc, "\nhostname: \"d\"\n"));
    CHECK(strstr(cc, "\n  - name: \"alice\"\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"));
    CHECK(strstr(cc, "\n    shell: \"/bin/bash\"\n    lock_passwd: true\n"));
    CHECK(strstr(cc, "\n    ssh_authorized_keys:\n      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkey1 alice@host\"\n      - \"ssh-rsa "));
    CHECK(strstr(cc, "\ntimezone: \"Europe/Paris\"\n"));
    CHECK(strstr(cc, "\nlocale: \"fr_FR.UTF-8\"\n"));
    if (have_yaml) {
        char want[4096];
        expected_hex(&o, want);
        char *got = parse_cloud_config(cc);
        CHECK_STR(got, want);
        free(got);
    }
    free(cc);

    /* C and POSIX locales, no timezone: neither key */
    const char *const c_locales[] = {"C", "POSIX", "C.UTF-8", ""};
    for (unsigned i = 0; i < 4; i++) {
        o.locale = c_locales[i];
        o.timezone = NULL;
        cc = seed_cloud_config(&o, &err);
        REQUIRE(cc);
        CHECK(!strstr(cc, "locale:") && !strstr(cc, "timezone:"));
        free(cc);
    }

    char *md = seed_meta_data(&o, &err);
    CHECK_STR(md, "instance-id: \"iid-d-1\"\nlocal-hostname: \"d\"\n");
    free(md);
}

TEST(hostile_values_stay_in_their_strings)
{
    static const char *const keys[] = {
        "ssh-ed25519 AAAAkey \"quoted\" 'single' back\\slash # not: a comment",
        "ssh-ed25519 AAAAkey2 - name: root\tsudo: ALL",
        "ssh-ed25519 AAAAkey3 caf\xc3\xa9 line\xe2\x80\xa8sep next\xc2\x85line \xf0\x9f\x94\x91",
        "ssh-ed25519 AAAAkey4 \"\n",
    };
    struct seed_options o = {
        .hostname = "evil\"\n  - name: root\n    sudo: ALL\n# \\",
        .instance_id = "iid\"\n",
        .user = "bob",
        .ssh_keys = keys,
        .nkeys = 3,
        .timezone = "Zone\": x\n",
        .locale = "xx\"\n- y",
    };
    struct cove_error err = {0};
    char *cc = seed_cloud_config(&o, &err);
    REQUIRE(cc);
    /* plain ASCII, and no value on a line of its own: cove's lines and nothing else */
    unsigned lines = 0;
    for (const char *p = cc; *p; p++) {
        CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\n');
        lines += *p == '\n';
    }
    CHECK_EQ_U64(lines, 2 + 1 + 3 + 4 + 1 + 3 + 1 + 1);
    if (have_yaml) {
        char want[8192];
        expected_hex(&o, want);
        char *got = parse_cloud_config(cc);
        CHECK_STR(got, want);
        free(got);
    } else {
        test_skip("python3-yaml: the hostile values were only checked for quoting");
    }
    free(cc);
    char *md = seed_meta_data(&o, &err);
    REQUIRE(md);
    CHECK(!strncmp(md, "instance-id: \"iid\\\"\\x0a\"\nlocal-hostname: \"evil\\\"\\x0a", 52));
    free(md);

    /* a key with a line break would add a line to authorized_keys: refused */
    o.nkeys = 4;
    CHECK(!seed_cloud_config(&o, &err));
    CHECK_EQ_U64(err.code, -EINVAL);
    CHECK_STR(err.message, "SSH key 4 is not one line of text; pass a .pub file");
    /* bytes that are not UTF-8 are not quietly passed on */
    o.nkeys = 1;
    o.hostname = "bad\xc3(";
    CHECK(!seed_cloud_config(&o, &err));
    CHECK_STR(err.message, "the seed's hostname is not valid UTF-8");
    o.hostname = "over\xc0\xaflong";
    CHECK(!seed_cloud_config(&o, &err));
    o.hostname = "h";
    o.user = "Root";
    CHECK(!seed_cloud_config(&o, &err));
    CHECK_STR(err.message, "'Root' is not a valid Linux user name ([a-z_][a-z0-9_-]{0,31})");
    o.user = "a-name-that-is-longer-than-32-chars";
    CHECK(!seed_meta_data(&o, &err));
}

TEST(user_data_must_be_cloud_config)
{
    struct cove_error err = {0};
    CHECK(seed_check_user_data("u.yaml", "#cloud-config\nruncmd: [ls]\n", &err) == 0);
    CHECK(seed_check_user_data("u.yaml", "#cloud-config", &err) == 0);
    CHECK(seed_check_user_data("u.yaml", "#cloud-config\r\npackages: []\n", &err) == 0);
    const char *const bad[] = {"#!/bin/sh\necho hi\n", "", "packages: [hello]\n",
                               "#cloud-configs\n", " #cloud-config\n"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = 0;
        CHECK(seed_check_user_data("u.yaml", bad[i], &err) == -EINVAL);
        CHECK_STR(err.message, "u.yaml is not cloud-config: its first line must be #cloud-config");
    }
}

/* A file from the image (mtype), or NULL. */
static char *image_file(const char *img, const char *name)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "mtype -i '%s' ::%s", img, name);
    return run(cmd);
}

static unsigned entries(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", path);
    char *out = run(cmd);
    unsigned n = out ? (unsigned)atoi(out) : 999;
    free(out);
    return n;
}

TEST(seed_image_holds_meta_data_and_user_data)
{
    if (!have_mtools) {
        test_skip("mtools/dosfstools not installed");
        return;
    }
    char sub[256], img[512];
    snprintf(sub, sizeof sub, "%s/vm", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    snprintf(img, sizeof img, "%s/seed.img", sub);
    struct seed_options o = plain();
    struct cove_error err = {0};
    REQUIRE(seed_write(img, &o, &err) == 0);
    char *cc = seed_cloud_config(&o, &err), *md = seed_meta_data(&o, &err);
    char *got_user = image_file(img, "user-data"), *got_meta = image_file(img, "meta-data");
    CHECK_STR(got_user, cc);
    CHECK_STR(got_meta, md);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "mlabel -i '%s' -s ::", img);
    char *label = run(cmd);
    CHECK(label && strstr(label, "CIDATA"));
    CHECK_EQ_U64(entries(sub), 1); /* the seed, nothing of the work left beside it */
    free(label);
    free(got_user);
    free(got_meta);
    free(cc);
    free(md);

    /* again over it: replaced */
    o.hostname = "second";
    REQUIRE(seed_write(img, &o, &err) == 0);
    got_meta = image_file(img, "meta-data");
    CHECK(got_meta && strstr(got_meta, "local-hostname: \"second\""));
    free(got_meta);
    CHECK_EQ_U64(entries(sub), 1);
}

TEST(user_data_of_the_user_passes_through)
{
    if (!have_mtools) {
        test_skip("mtools/dosfstools not installed");
        return;
    }
    char img[PATH_MAX];
    snprintf(img, sizeof img, "%s/mime.img", dir);
    /* a line that looks like the boundary, non-ASCII, no final newline */
    const char *mine = "#cloud-config\npackages: [hello]\nruncmd:\n"
                       "  - echo '--==cove-seed-part==--'\n  - echo caf\xc3\xa9";
    struct seed_options o = plain();
    o.user_data = mine;
    struct cove_error err = {0};
    REQUIRE(seed_write(img, &o, &err) == 0);
    char *ud = image_file(img, "user-data");
    REQUIRE(ud);
    CHECK(!strncmp(ud, "Content-Type: multipart/mixed; boundary=\"==cove-seed-part==\"\n", 61));
    char *cc = seed_cloud_config(&o, &err);
    CHECK(cc && strstr(ud, cc)); /* cove's part, as text */
    free(cc);
    if (have_yaml) {
        /* what cloud-init does with it: Python's email parser, the parts in order */
        char path[PATH_MAX], cmd[PATH_MAX + 1024];
        snprintf(path, sizeof path, "%s/ud.mime", dir);
        write_file(path, ud);
        snprintf(cmd, sizeof cmd,
                 "python3 -c '\n"
                 "import sys, email\n"
                 "m = email.message_from_string(open(sys.argv[1]).read())\n"
                 "p = [x for x in m.walk() if not x.is_multipart()]\n"
                 "assert [x.get_content_type() for x in p] == [\"text/cloud-config\"] * 2\n"
                 "sys.stdout.buffer.write(p[1].get_payload(decode=True))\n"
                 "' %s",
                 path);
        char *second = run(cmd);
        CHECK_STR(second, mine);
        free(second);
    }
    free(ud);

    /* not cloud-config: refused, the seed already there untouched */
    o.user_data = "#!/bin/sh\nrm -rf /\n";
    CHECK(seed_write(img, &o, &err) == -EINVAL);
    CHECK(strstr(err.message, "is not cloud-config: its first line must be #cloud-config"));
    ud = image_file(img, "user-data");
    CHECK(ud && strstr(ud, "packages: [hello]") == NULL && strstr(ud, "--==cove-seed-part==--"));
    free(ud);
}

TEST(failures_leave_nothing)
{
    char sub[256], img[512];
    snprintf(sub, sizeof sub, "%s/fail", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    snprintf(img, sizeof img, "%s/seed.img", sub);
    struct seed_options o = plain();
    struct cove_error err = {0};

    /* the tools not found: the message names the package */
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;
    setenv("PATH", "/nonexistent", 1);
    int rc = seed_write(img, &o, &err);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    CHECK(rc == -ENOENT);
    CHECK(strstr(err.message, "not found: install ") != NULL);
    CHECK_EQ_U64(entries(sub), 0);

    /* a directory that is not there */
    snprintf(img, sizeof img, "%s/missing/seed.img", dir);
    CHECK(seed_write(img, &o, &err) == -ENOENT);
    CHECK(strstr(err.message, "cannot make a directory beside") != NULL);

    /* a bad value: nothing made */
    snprintf(img, sizeof img, "%s/seed.img", sub);
    o.user = "0bad";
    CHECK(seed_write(img, &o, &err) == -EINVAL);
    CHECK_EQ_U64(entries(sub), 0);
}

TEST(tools_run_with_a_deadline)
{
    char *argv[] = {"sleep", "20", NULL};
    struct cove_error err = {0};
    CHECK(store_spawn_timed(argv, NULL, NULL, 300, &err) == -ETIMEDOUT);
    CHECK_STR(err.message, "sleep did not finish within 1 s; stopped it");
    /* stderr, not stdout, is the message */
    char *sh[] = {"sh", "-c", "echo banner; echo the-reason >&2; exit 3", NULL};
    CHECK(store_spawn_timed(sh, NULL, NULL, 5000, &err) == -EIO);
    CHECK_STR(err.message, "sh failed: the-reason");
}

TEST(host_defaults)
{
    char home[256], ssh[512], root[256], p[1024];
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(ssh, sizeof ssh, "%s/.ssh", home);
    snprintf(root, sizeof root, "%s/root", dir);
    REQUIRE(mkdir(home, 0755) == 0 && mkdir(root, 0755) == 0);
    snprintf(p, sizeof p, "%s/etc", root);
    REQUIRE(mkdir(p, 0755) == 0);
    struct seed_host h;
    struct cove_error err = {0};

    /* no ~/.ssh at all, then one without keys */
    CHECK(seed_host_defaults(root, home, &h, &err) == -ENOENT);
    CHECK_STR(err.message,
              "no SSH public key in ~/.ssh; make one with ssh-keygen or pass --ssh-key FILE");
    seed_host_free(&h);
    REQUIRE(mkdir(ssh, 0700) == 0);
    snprintf(p, sizeof p, "%s/id_ed25519", ssh);
    write_file(p, "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n");
    CHECK(seed_host_defaults(root, home, &h, &err) == -ENOENT);
    seed_host_free(&h);

    /* b.pub and a.pub (two keys, a comment, CRLF): in name order */
    snprintf(p, sizeof p, "%s/b.pub", ssh);
    write_file(p, "ssh-ed25519 AAAAbbb b@host\n");
    snprintf(p, sizeof p, "%s/a.pub", ssh);
    write_file(p, "# mine\r\nssh-rsa AAAAaaa a@host\r\n\r\n  ecdsa-sha2-nistp256 AAAAccc  \n");
    snprintf(p, sizeof p, "%s/etc/localtime", root);
    REQUIRE(symlink("../usr/share/zoneinfo/Europe/Paris", p) == 0);
    setenv("LC_ALL", "", 1);
    setenv("LANG", "de_DE.UTF-8", 1);
    REQUIRE(seed_host_defaults(root, home, &h, &err) == 0);
    CHECK_EQ_U64(h.nkeys, 3);
    if (h.nkeys == 3) {
        CHECK_STR(h.keys[0], "ssh-rsa AAAAaaa a@host");
        CHECK_STR(h.keys[1], "ecdsa-sha2-nistp256 AAAAccc");
        CHECK_STR(h.keys[2], "ssh-ed25519 AAAAbbb b@host");
    }
    CHECK_STR(h.timezone, "Europe/Paris");
    CHECK_STR(h.locale, "de_DE.UTF-8");
    seed_host_free(&h);

    /* /etc/localtime a copy: /etc/timezone; a C locale: none */
    snprintf(p, sizeof p, "%s/etc/localtime", root);
    unlink(p);
    write_file(p, "TZif2");
    snprintf(p, sizeof p, "%s/etc/timezone", root);
    write_file(p, "America/New_York\n");
    setenv("LC_ALL", "C.UTF-8", 1);
    REQUIRE(seed_host_defaults(root, home, &h, &err) == 0);
    CHECK_STR(h.timezone, "America/New_York");
    CHECK_STR(h.locale, "");
    seed_host_free(&h);
    /* an odd /etc/timezone is not passed on */
    write_file(p, "../../etc/passwd\n");
    REQUIRE(seed_host_defaults(root, home, &h, &err) == 0);
    CHECK_STR(h.timezone, "");
    seed_host_free(&h);

    /* --ssh-key FILE: a private key by mistake, an empty file */
    memset(&h, 0, sizeof h);
    snprintf(p, sizeof p, "%s/id_ed25519", ssh);
    CHECK(seed_host_add_keys(&h, p, &err) == -EINVAL);
    char want[2048];
    snprintf(want, sizeof want, "%s is not an SSH public key (line 1); pass a .pub file", p);
    CHECK_STR(err.message, want);
    snprintf(p, sizeof p, "%s/empty.pub", dir);
    write_file(p, "\n# nothing\n");
    CHECK(seed_host_add_keys(&h, p, &err) == -EINVAL);
    snprintf(p, sizeof p, "%s/b.pub", ssh);
    CHECK(seed_host_add_keys(&h, p, &err) == 0 && h.nkeys == 1);
    seed_host_free(&h);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    have_yaml = system("python3 -c 'import yaml, email' >/dev/null 2>&1") == 0;
    have_mtools = system("command -v mtype >/dev/null && command -v mlabel >/dev/null && "
                         "PATH=$PATH:/usr/sbin:/sbin command -v mkfs.vfat >/dev/null") == 0;
    RUN(cloud_config_says_what_cove_sets);
    RUN(hostile_values_stay_in_their_strings);
    RUN(user_data_must_be_cloud_config);
    RUN(seed_image_holds_meta_data_and_user_data);
    RUN(user_data_of_the_user_passes_through);
    RUN(failures_leave_nothing);
    RUN(tools_run_with_a_deadline);
    RUN(host_defaults);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
    return test_summary();
}
