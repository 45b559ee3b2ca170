/*
 * cove cp -r out of the guest (cove_agent_get_tree) against a fake agent on a socketpair:
 * a well-formed tree lands whole with its modes and link; every hostile tree (a name with
 * ".." or '/', a link pointing out, data past a file's size, leaving the top, ending early,
 * too many entries) is -EPROTO with nothing left behind. And the rules of names and link
 * targets (protocol.h) on their own.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/agent.h>

#include "../test.h"
#include "agent/agent_internal.h"

/* What the fake sends, after reading the request; big enough for the "too many" tree. */
struct script {
    uint8_t *bytes;
    size_t len, cap;
    int fd;
};

static void add_frame(struct script *s, uint8_t type, uint8_t stream, const void *p, uint32_t len)
{
    if (s->len + AGENT_HDR_SIZE + len > s->cap) {
        s->cap = (s->cap + AGENT_HDR_SIZE + len) * 2;
        s->bytes = realloc(s->bytes, s->cap);
    }
    agent_put_header(s->bytes + s->len, type, stream, len);
    if (len) /* an empty frame may come with no buffer at all */
        memcpy(s->bytes + s->len + AGENT_HDR_SIZE, p, len);
    s->len += AGENT_HDR_SIZE + len;
}

/* An F frame of pairs "k1", "v1", ..., NULL. */
static void add_entry(struct script *s, const char *k, ...)
{
    char p[512];
    size_t n = 0;
    va_list ap;
    va_start(ap, k);
    for (; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        memcpy(p + n, k, strlen(k) + 1), n += strlen(k) + 1;
        memcpy(p + n, v, strlen(v) + 1), n += strlen(v) + 1;
    }
    va_end(ap);
    add_frame(s, AGENT_T_ENTRY, AGENT_STDOUT, p, (uint32_t)n);
}

static void add_root(struct script *s)
{
    static const char m[] = "mode\000755";
    add_frame(s, AGENT_T_RESULT, 0, m, sizeof m);
}

static void add_end(struct script *s)
{
    uint8_t x[5] = {0};
    add_frame(s, AGENT_T_DATA, AGENT_STDOUT, NULL, 0);
    add_frame(s, AGENT_T_EXIT, 0, x, 5);
}

static void *fake_run(void *opaque)
{
    struct script *s = opaque;
    uint8_t h[AGENT_HDR_SIZE];
    static uint8_t req[AGENT_FRAME_MAX];
    if (recv(s->fd, h, sizeof h, MSG_WAITALL) != sizeof h ||
        recv(s->fd, req, agent_get_u32(h + 2), MSG_WAITALL) < 0)
        return NULL;
    for (size_t at = 0; at < s->len;) {
        ssize_t n = send(s->fd, s->bytes + at, s->len - at, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    while (recv(s->fd, req, sizeof req, 0) > 0) { /* until the client closes */
    }
    return NULL;
}

static char dir[PATH_MAX], out[PATH_MAX + 8];

static int entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* cove_agent_get_tree of s into dir/out. */
static int get_tree(struct script *s, struct cove_error *err)
{
    int sv[2];
    pthread_t t;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    s->fd = sv[1];
    pthread_create(&t, NULL, fake_run, s);
    int rc = cove_agent_get_tree(sv[0], "/x", out, err);
    close(sv[0]);
    pthread_join(t, NULL);
    close(sv[1]);
    free(s->bytes);
    return rc;
}

TEST(a_tree_lands_whole_with_modes_and_links)
{
    struct script s = {0};
    add_root(&s);
    add_entry(&s, "type", "d", "name", "sub", "mode", "711", NULL);
    add_entry(&s, "type", "f", "name", "a", "mode", "600", "size", "3", NULL);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "abc", 3);
    add_entry(&s, "type", "d", "name", "empty", "mode", "700", NULL);
    add_entry(&s, "type", "u", NULL);
    add_entry(&s, "type", "l", "name", "up", "link", "../top", NULL);
    add_entry(&s, "type", "u", NULL);
    add_entry(&s, "type", "f", "name", "top", "mode", "6755", "size", "0", NULL);
    add_entry(&s, "type", "l", "name", "ln", "link", "./sub/a", NULL);
    add_end(&s);
    struct cove_error err = {0};
    mode_t old = umask(022);
    int rc = get_tree(&s, &err);
    umask(old);
    if (rc)
        printf("  %s\n", err.message);
    REQUIRE(rc == 0);
    char p[PATH_MAX + 32], link[64] = "";
    struct stat st;
    snprintf(p, sizeof p, "%s/sub/a", out);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_size == 3);
    snprintf(p, sizeof p, "%s/sub", out);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0711);
    snprintf(p, sizeof p, "%s/top", out);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755); /* never setuid */
    CHECK(stat(out, &st) == 0 && (st.st_mode & 07777) == 0755);
    snprintf(p, sizeof p, "%s/ln", out);
    CHECK(readlink(p, link, sizeof link - 1) == 7 && !strcmp(link, "./sub/a"));
    CHECK(entries(dir) == 1); /* no temporary directory left */
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    CHECK(system(cmd) == 0);
}

/* A tree whose entry is e (or whose data is d), after a first good file. */
static void refused(const char *what, void (*build)(struct script *))
{
    struct script s = {0};
    add_root(&s);
    add_entry(&s, "type", "f", "name", "good", "mode", "644", "size", "0", NULL);
    build(&s);
    struct cove_error err = {0};
    int rc = get_tree(&s, &err);
    if (rc != -EPROTO || entries(dir) != 0)
        printf("  %s: rc %d (%s), %d entries left\n", what, rc, err.message, entries(dir));
    CHECK(rc == -EPROTO);
    CHECK(entries(dir) == 0);
}

static void dotdot(struct script *s) { add_entry(s, "type", "f", "name", "..", "mode", "644", "size", "0", NULL); }
static void slash(struct script *s) { add_entry(s, "type", "d", "name", "a/b", "mode", "755", NULL); }
static void empty_name(struct script *s) { add_entry(s, "type", "l", "name", "", "link", "x", NULL); }
static void abs_link(struct script *s) { add_entry(s, "type", "l", "name", "x", "link", "/etc/passwd", NULL); }
static void up_link(struct script *s) { add_entry(s, "type", "l", "name", "x", "link", "../x", NULL); }
static void late_up_link(struct script *s)
{
    add_entry(s, "type", "d", "name", "d", "mode", "755", NULL);
    add_entry(s, "type", "l", "name", "x", "link", "good/../..", NULL);
}
static void leave_top(struct script *s) { add_entry(s, "type", "u", NULL); }
static void over_size(struct script *s)
{
    add_entry(s, "type", "f", "name", "f", "mode", "644", "size", "2", NULL);
    add_frame(s, AGENT_T_DATA, AGENT_STDOUT, "abc", 3);
}
static void short_file(struct script *s)
{
    add_entry(s, "type", "f", "name", "f", "mode", "644", "size", "5", NULL);
    add_frame(s, AGENT_T_DATA, AGENT_STDOUT, "abc", 3);
    add_end(s);
}
static void open_dir(struct script *s)
{
    add_entry(s, "type", "d", "name", "d", "mode", "755", NULL);
    add_end(s);
}
static void no_end(struct script *s)
{
    uint8_t x[5] = {0};
    add_frame(s, AGENT_T_EXIT, 0, x, 5);
}
static void too_many(struct script *s)
{
    char name[16];
    for (unsigned i = 0; i < AGENT_TREE_MAX_ENTRIES + 1; i++) {
        snprintf(name, sizeof name, "l%u", i);
        add_entry(s, "type", "l", "name", name, "link", "good", NULL);
    }
    add_end(s);
}

TEST(hostile_trees_are_refused_and_leave_nothing)
{
    refused("a name ..", dotdot);
    refused("a name with /", slash);
    refused("an empty name", empty_name);
    refused("an absolute link", abs_link);
    refused("a link up out of the tree", up_link);
    refused("a link with .. after a name", late_up_link);
    refused("leaving the top", leave_top);
    refused("data past the size", over_size);
    refused("a short file", short_file);
    refused("an unclosed directory", open_dir);
    refused("a success without the end", no_end);
    refused("too many entries", too_many);
}

TEST(an_existing_target_is_not_touched)
{
    CHECK(mkdir(out, 0700) == 0);
    snprintf(out + strlen(out), sizeof out - strlen(out), "/x"); /* dir/out/x */
    CHECK(mkdir(out, 0700) == 0);
    out[strlen(out) - 2] = 0;
    struct script s = {0};
    add_root(&s);
    add_end(&s);
    struct cove_error err = {0};
    CHECK(get_tree(&s, &err) == -EEXIST); /* dir/out is a directory: dir/out/x is taken */
    CHECK(strstr(err.message, "already exists") != NULL);
    CHECK(entries(out) == 1);
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    CHECK(system(cmd) == 0);
}

TEST(link_and_name_rules)
{
    CHECK(agent_tree_link_ok("a", 0));
    CHECK(agent_tree_link_ok("./a/b", 0));
    CHECK(agent_tree_link_ok("../a", 1));
    CHECK(agent_tree_link_ok("../../a/./b", 2));
    CHECK(!agent_tree_link_ok("../a", 0));
    CHECK(!agent_tree_link_ok("../../a", 1));
    CHECK(!agent_tree_link_ok("/a", 5));
    CHECK(!agent_tree_link_ok("a/../..", 5)); /* ".." only leading: a may be a link */
    CHECK(!agent_tree_link_ok("", 0));
    CHECK(agent_tree_name_ok("a.b"));
    CHECK(agent_tree_name_ok("..."));
    CHECK(!agent_tree_name_ok("."));
    CHECK(!agent_tree_name_ok(".."));
    CHECK(!agent_tree_name_ok("a/b"));
    CHECK(!agent_tree_name_ok(""));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cove-tree-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(out, sizeof out, "%s/out", dir);
    RUN(a_tree_lands_whole_with_modes_and_links);
    RUN(hostile_trees_are_refused_and_leave_nothing);
    RUN(an_existing_target_is_not_touched);
    RUN(link_and_name_rules);
    rmdir(dir);
    return test_summary();
}
