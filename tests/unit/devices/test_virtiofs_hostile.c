/* A share's virtiofsd as a hostile guest meets it: FUSE requests written by hand (not by a
 * kernel that would resolve '..' and symlinks itself), sent through cove's own private
 * ring (src/devices/virtio/fs_session.c) to the daemon cove starts for a share
 * (src/backends/virtiofsd.c, with its seccomp filter). The guest must not reach host files
 * outside the share: '..' and names with '/' in LOOKUP, LINK, RENAME and MKNOD, a symlink
 * to a host file opened and read, device nodes, set-user/group-ID modes on create and
 * chmod. Ordinary creates and chmods work (the control). Skips without virtiofsd. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/virtiofsd.h"
#include "devices/vhost_user.h"
#include "devices/virtio/fs_session.h"
#include "test.h"

#define REQUEST_QUEUE 1
#define TIMEOUT_MS 5000

struct rig {
    struct virtiofsd *daemon;
    struct vhost_user *vu;
    struct fs_private_ring ring;
    uint64_t unique;
    char dir[64], share[96], outside[96];
};

/* One request: header + body + up to two NUL-terminated names. Returns the reply's
 * error (0 or -errno; -1000 if the exchange itself failed); out/out_len: the reply's body. */
static int fuse_call(struct rig *r, uint32_t opcode, uint64_t nodeid, const void *body,
                     uint32_t body_len, const char *name1, const char *name2,
                     const uint8_t **out, uint32_t *out_len)
{
    uint8_t req[FS_PRIVATE_REQUEST_MAX];
    struct fuse_in_header h = {.opcode = opcode, .unique = ++r->unique, .nodeid = nodeid};
    uint32_t len = sizeof h;
    if (body_len) /* memcpy's source may not be NULL, even for 0 bytes */
        memcpy(req + len, body, body_len);
    len += body_len;
    for (const char *n = name1; n; n = n == name1 ? name2 : NULL) {
        size_t l = strlen(n) + 1;
        if (len + l > sizeof req)
            return -1000;
        memcpy(req + len, n, l);
        len += l;
    }
    h.len = len;
    memcpy(req, &h, sizeof h);
    const uint8_t *reply;
    uint32_t rlen;
    const char *why;
    if (virtio_fs_private_request(r->vu, REQUEST_QUEUE, &r->ring, req, len, &reply, &rlen,
                                  TIMEOUT_MS, &why) < 0) {
        printf("  exchange failed: %s\n", why);
        return -1000;
    }
    struct fuse_out_header oh;
    if (rlen < sizeof oh)
        return -1000;
    memcpy(&oh, reply, sizeof oh);
    if (oh.unique != h.unique)
        return -1000;
    if (out) {
        *out = reply + sizeof oh;
        *out_len = rlen - sizeof oh;
    }
    return oh.error;
}

static int rig_start(struct rig *r)
{
    memset(r, 0, sizeof *r);
    r->ring.fd = -1;
    strcpy(r->dir, "/tmp/cove-vfs-hostile-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->share, sizeof r->share, "%s/share", r->dir);
    snprintf(r->outside, sizeof r->outside, "%s/outside", r->dir);
    char secret[128];
    snprintf(secret, sizeof secret, "%s/secret", r->outside);
    if (mkdir(r->share, 0755) < 0 || mkdir(r->outside, 0755) < 0)
        return -1;
    FILE *f = fopen(secret, "w");
    if (!f)
        return -1;
    fputs("host secret\n", f);
    fclose(f);
    struct cove_error err = {0};
    int sock;
    if (virtiofsd_start(r->share, false, &r->daemon, &sock, &err) < 0) {
        printf("  %s\n", err.message);
        return err.code == -ENOENT ? 77 : -1;
    }
    uint64_t features = 0;
    int rc = vhost_user_open(sock, TIMEOUT_MS, &r->vu);
    if (rc == 0)
        rc = vhost_user_handshake(r->vu, &features);
    if (rc == 0)
        rc = vhost_user_set_features(r->vu, 1ull << 32 /* VIRTIO_F_VERSION_1 */);
    if (rc == 0)
        rc = virtio_fs_private_open(&r->ring, 0x80000000);
    struct vhost_user_region reg = virtio_fs_private_region(&r->ring);
    if (rc == 0)
        rc = vhost_user_set_mem_table(r->vu, &reg, 1);
    if (rc < 0) {
        printf("  setting up the daemon (features %llx): %s\n", (unsigned long long)features, strerror(-rc));
        return -1;
    }
    uint8_t init[FS_INIT_REQUEST_SIZE];
    const uint8_t *reply;
    uint32_t len;
    const char *why;
    virtio_fs_init_request(init, ++r->unique);
    if (virtio_fs_private_request(r->vu, REQUEST_QUEUE, &r->ring, init, sizeof init, &reply,
                                  &len, TIMEOUT_MS, &why) < 0 ||
        virtio_fs_check_init_reply(reply, len, r->unique, &why) < 0) {
        printf("  FUSE_INIT: %s\n", why);
        return -1;
    }
    return 0;
}

static void rig_stop(struct rig *r)
{
    if (r->vu)
        vhost_user_close(r->vu);
    virtiofsd_stop(r->daemon);
    virtio_fs_private_close(&r->ring);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (r->dir[0] && system(cmd) != 0)
        printf("  could not remove %s\n", r->dir);
}

static int lookup(struct rig *r, uint64_t parent, const char *name, struct fuse_entry_out *e)
{
    const uint8_t *out;
    uint32_t len;
    int rc = fuse_call(r, FUSE_LOOKUP, parent, NULL, 0, name, NULL, &out, &len);
    if (rc == 0 && e)
        memcpy(e, out, len < sizeof *e ? len : sizeof *e);
    return rc;
}

/* How many entries the host directory has. */
static int count_entries(const char *path)
{
    char cmd[160], line[256];
    int n = 0;
    snprintf(cmd, sizeof cmd, "ls -A '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p))
        n++;
    pclose(p);
    return n;
}

TEST(a_hostile_guest_stays_inside_the_share)
{
    struct rig r;
    int s = rig_start(&r);
    if (s == 77) {
        test_skip("no virtiofsd (qemu-system-common)");
        rig_stop(&r);
        return;
    }
    REQUIRE(s == 0);
    struct stat root, parent;
    REQUIRE(stat(r.share, &root) == 0 && stat(r.dir, &parent) == 0);

    /* '..' of the share's root is the root itself (or refused), never its host parent */
    struct fuse_entry_out e = {0};
    int rc = lookup(&r, FUSE_ROOT_ID, "..", &e);
    CHECK(rc != -1000);
    if (rc == 0) {
        CHECK(e.attr.ino != parent.st_ino);
        CHECK_EQ_U64(e.attr.ino, root.st_ino);
    }
    CHECK(lookup(&r, FUSE_ROOT_ID, "../outside", NULL) < 0);
    CHECK(lookup(&r, FUSE_ROOT_ID, "../outside/secret", NULL) < 0);
    CHECK(lookup(&r, FUSE_ROOT_ID, "outside", NULL) == -ENOENT);

    /* device nodes: refused, nothing on the host */
    struct fuse_mknod_in mk = {.mode = S_IFBLK | 0600, .rdev = makedev(8, 0)};
    CHECK(fuse_call(&r, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof mk, "blk", NULL, NULL, NULL) ==
          -EPERM);
    mk = (struct fuse_mknod_in){.mode = S_IFCHR | 0600, .rdev = makedev(1, 3)};
    CHECK(fuse_call(&r, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof mk, "chr", NULL, NULL, NULL) ==
          -EPERM);
    mk = (struct fuse_mknod_in){.mode = S_IFREG | 0644};
    CHECK(fuse_call(&r, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof mk, "../outside/m", NULL, NULL,
                    NULL) < 0);

    /* set-user/group-ID: refused on create and on chmod */
    struct fuse_create_in cr = {.flags = O_WRONLY | O_CREAT, .mode = S_IFREG | 04755};
    CHECK(fuse_call(&r, FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof cr, "suid", NULL, NULL, NULL) <
          0);
    cr.mode = S_IFREG | 02755;
    CHECK(fuse_call(&r, FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof cr, "sgid", NULL, NULL, NULL) <
          0);
    cr.mode = S_IFREG | 0644;
    CHECK(fuse_call(&r, FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof cr, "../outside/c", NULL, NULL,
                    NULL) < 0);
    const uint8_t *out;
    uint32_t len;
    rc = fuse_call(&r, FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof cr, "plain", NULL, &out, &len);
    CHECK_EQ_U64(rc, 0); /* the control: the daemon does create files */
    uint64_t plain = 0;
    if (rc == 0 && len >= sizeof(struct fuse_entry_out)) {
        memcpy(&e, out, sizeof e);
        plain = e.nodeid;
    }
    REQUIRE(plain != 0);
    struct fuse_setattr_in sa = {.valid = FATTR_MODE, .mode = S_IFREG | 04755};
    CHECK(fuse_call(&r, FUSE_SETATTR, plain, &sa, sizeof sa, NULL, NULL, NULL, NULL) < 0);
    sa.mode = S_IFREG | 02755;
    CHECK(fuse_call(&r, FUSE_SETATTR, plain, &sa, sizeof sa, NULL, NULL, NULL, NULL) < 0);
    sa.mode = S_IFREG | 0600;
    CHECK_EQ_U64(fuse_call(&r, FUSE_SETATTR, plain, &sa, sizeof sa, NULL, NULL, NULL, NULL), 0);
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s/plain", r.share);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);

    /* links and renames out of the share */
    struct fuse_link_in li = {.oldnodeid = plain};
    CHECK(fuse_call(&r, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof li, "../outside/l", NULL, NULL,
                    NULL) < 0);
    struct fuse_rename_in rn = {.newdir = FUSE_ROOT_ID};
    CHECK(fuse_call(&r, FUSE_RENAME, FUSE_ROOT_ID, &rn, sizeof rn, "plain", "../outside/mv",
                    NULL, NULL) < 0);

    /* a symlink to a host file outside: made (it is data), but opening it does not read
     * the host file */
    char target[160];
    snprintf(target, sizeof target, "%s/secret", r.outside);
    rc = fuse_call(&r, FUSE_SYMLINK, FUSE_ROOT_ID, NULL, 0, "ln", target, &out, &len);
    uint64_t ln = 0;
    if (rc == 0 && len >= sizeof(struct fuse_entry_out)) {
        memcpy(&e, out, sizeof e);
        ln = e.nodeid;
    }
    if (ln) {
        struct fuse_open_in op = {.flags = O_RDONLY};
        rc = fuse_call(&r, FUSE_OPEN, ln, &op, sizeof op, NULL, NULL, &out, &len);
        if (rc == 0 && len >= sizeof(struct fuse_open_out)) {
            struct fuse_open_out oo;
            memcpy(&oo, out, sizeof oo);
            struct fuse_read_in rd = {.fh = oo.fh, .size = 256};
            rc = fuse_call(&r, FUSE_READ, ln, &rd, sizeof rd, NULL, NULL, &out, &len);
            CHECK(rc < 0 || !memmem(out, len, "host secret", 11));
        }
    }

    /* the host: nothing new outside, no device node or set-ID file in the share */
    CHECK_EQ_U64(count_entries(r.outside), 1);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "test -z \"$(find '%s' \\( -type b -o -type c -o -perm /6000 \\) -print)\"",
             r.share);
    CHECK(system(cmd) == 0);
    rig_stop(&r);
}

int main(void)
{
    RUN(a_hostile_guest_stays_inside_the_share);
    return test_summary();
}
