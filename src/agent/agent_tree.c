/*
 * cove cp -r through the agent: a directory tree as one stream of entries (protocol.h,
 * "A directory tree"). Sending walks the tree without following a symbolic link (links go
 * as links); receiving creates each entry by its single-component name under a directory
 * descriptor, in a fresh temporary directory beside the target that is renamed into place
 * only when whole and removed on any failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/agent.h>

#include "agent/agent_internal.h"
#include "util/fdio.h"

/* --- sending: host -> guest -------------------------------------------------------------- */

struct sender {
    int fd;
    struct agent_req *req;
    uint8_t *buf;
    long start;
    uint64_t entries, bytes;
    struct cove_error *err;
};

/* The copy's whole deadline so far: its bytes and entries at their rates. */
static long tree_deadline(long start, uint64_t bytes, uint64_t entries)
{
    long d = agent_copy_deadline(start, bytes);
    return agent_deadline(d, (long)(entries * AGENT_MS_PER_ENTRY));
}

static int send_chunk(struct sender *s, uint8_t type, const void *p, uint32_t len)
{
    long whole = tree_deadline(s->start, s->bytes, s->entries);
    long idle = agent_deadline(agent_now_ms(), AGENT_IDLE_TIMEOUT_MS);
    int rc = send_frame(s->fd, type, AGENT_STDIN, p, len, idle < whole ? idle : whole);
    if (rc == -ETIMEDOUT)
        return cove_error_set(s->err, rc, "the guest agent stopped taking the tree; gave up "
                              "on the copy");
    return rc < 0 ? cove_error_set(s->err, rc, "the connection to the guest agent broke") : 0;
}

/* One F frame: type and the pairs in kv (key, value, ..., NULL). */
static int send_entry(struct sender *s, const char *path, const char *type, ...)
{
    if (++s->entries > AGENT_TREE_MAX_ENTRIES)
        return cove_error_set(s->err, -E2BIG, "%s: more than %u entries in the tree; copy "
                              "it in parts", path, AGENT_TREE_MAX_ENTRIES);
    s->req->len = 0;
    s->req->overflow = false;
    req_add(s->req, "type", type);
    va_list ap;
    va_start(ap, type);
    for (const char *k; (k = va_arg(ap, const char *));)
        req_add(s->req, k, va_arg(ap, const char *));
    va_end(ap);
    if (s->req->overflow)
        return cove_error_set(s->err, -ENAMETOOLONG, "%s: name too long", path);
    return send_chunk(s, AGENT_T_ENTRY, s->req->buf, s->req->len);
}

/* A file's exact size as it was when announced: one that shrinks meanwhile is an error,
 * one that grows is cut there. */
static int send_file(struct sender *s, int dirfd, const char *name, const char *path)
{
    int f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = f < 0 ? errno : EINVAL;
        if (f >= 0)
            close(f);
        return cove_error_set(s->err, -e, "%s: %s", path,
                              e == EINVAL ? "changed while being copied" : strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size, left = size;
    char mode[16], size_s[24];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 0777));
    snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)size);
    int rc = 0;
    if (size > AGENT_TREE_MAX_BYTES - s->bytes)
        rc = cove_error_set(s->err, -EFBIG, "%s: the tree is larger than %llu GiB; copy it in "
                            "parts", path, AGENT_TREE_MAX_BYTES >> 30);
    s->bytes += size;
    if (!rc)
        rc = send_entry(s, path, "f", "name", name, "mode", mode, "size", size_s, NULL);
    while (!rc && left) {
        ssize_t n = read(f, s->buf, left < AGENT_FRAME_MAX ? left : AGENT_FRAME_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = cove_error_set(s->err, n < 0 ? -errno : -EIO, "%s: %s", path,
                                n < 0 ? strerror(errno) : "shrank while being copied");
            break;
        }
        left -= (uint64_t)n;
        rc = send_chunk(s, AGENT_T_DATA, s->buf, (uint32_t)n);
    }
    close(f);
    return rc;
}

static int send_dir(struct sender *s, int dirfd, const char *path, unsigned depth);

static int send_one(struct sender *s, int dirfd, const char *name, const char *path,
                    unsigned depth)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cove_error_set(s->err, -errno, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode))
        return send_file(s, dirfd, name, path);
    if (S_ISLNK(st.st_mode)) {
        char target[AGENT_TREE_LINK_MAX + 2];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target);
        if (n < 0 || (size_t)n >= sizeof target)
            return cove_error_set(s->err, n < 0 ? -errno : -ENAMETOOLONG, "%s: %s", path,
                                  n < 0 ? strerror(errno) : "link target too long");
        target[n] = 0;
        return send_entry(s, path, "l", "name", name, "link", target, NULL);
    }
    if (!S_ISDIR(st.st_mode))
        return cove_error_set(s->err, -EINVAL, "%s: not a file, directory or symbolic link; "
                              "cove cp -r copies only those", path);
    if (depth + 1 > AGENT_TREE_MAX_DEPTH)
        return cove_error_set(s->err, -ELOOP, "%s: directories nested deeper than %u",
                              path, AGENT_TREE_MAX_DEPTH);
    int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return cove_error_set(s->err, -errno, "%s: %s", path, strerror(errno));
    char mode[16];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 0777));
    int rc = send_entry(s, path, "d", "name", name, "mode", mode, NULL);
    if (!rc)
        rc = send_dir(s, sub, path, depth + 1);
    close(sub);
    return rc ? rc : send_entry(s, path, "u", NULL);
}

/* Every entry of the directory dirfd (closed by the caller), depth below the root. */
static int send_dir(struct sender *s, int dirfd, const char *path, unsigned depth)
{
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return cove_error_set(s->err, -errno, "%s: %s", path, strerror(errno));
    }
    int rc = 0;
    for (struct dirent *de; !rc && (errno = 0, de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        rc = send_one(s, dirfd, de->d_name, child, depth);
    }
    if (!rc && errno)
        rc = cove_error_set(s->err, -errno, "%s: %s", path, strerror(errno));
    closedir(d);
    return rc;
}

int cove_agent_put_tree(int fd, const char *local_path, const char *remote_path,
                        struct cove_error *err)
{
    int root = open(local_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (root < 0 || fstat(root, &st) < 0) {
        int e = errno;
        if (root >= 0)
            close(root);
        return cove_error_set(err, -e, "%s: %s", local_path, strerror(e));
    }
    struct sender s = {.fd = fd, .req = calloc(1, sizeof *s.req), .buf = malloc(AGENT_FRAME_MAX),
                       .start = agent_now_ms(), .err = err};
    char mode[16], name_buf[PATH_MAX];
    int rc;
    if (!s.req || !s.buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 0777));
    req_add(s.req, "op", "putdir");
    req_add(s.req, "path", remote_path);
    req_add(s.req, "mode", mode);
    req_add(s.req, "name", agent_base_name(local_path, name_buf, sizeof name_buf));
    if ((rc = req_send(fd, s.req, tree_deadline(s.start, 0, 0), err)) < 0)
        goto out;
    rc = send_dir(&s, root, local_path, 0);
    if (!rc)
        rc = send_chunk(&s, AGENT_T_DATA, NULL, 0);
    /* A broken connection may be the agent giving up early: its error frame says why. */
    if (rc == 0 || rc == -ECONNRESET) {
        struct agent_reply reply = {.kind = AGENT_REPLY_PLAIN};
        struct cove_error mine = *err;
        int r2 = read_reply(fd, s.buf, &reply, NULL, 0, NULL,
                            tree_deadline(s.start, s.bytes, s.entries), err);
        if (rc < 0 && !reply.have_error) /* no word from the agent: our own error stands */
            *err = mine;
        else
            rc = r2 > 0 ? cove_error_set(err, -EIO, "guest: the copy failed (status %d)", r2)
                        : r2;
    }
out:
    close(root);
    free(s.req);
    free(s.buf);
    return rc;
}

/* --- receiving: guest -> host ------------------------------------------------------------ */

/* Removes name under dirfd and everything in it, following no link; a directory is made
 * writable first (a copied 0555 one could not be emptied). Best effort: for cleanup. */
static void remove_tree(int dirfd, const char *name, unsigned depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) ||
        depth > AGENT_TREE_MAX_DEPTH + 1)
        return;
    int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = sub >= 0 ? fdopendir(sub) : NULL;
    if (!d) {
        if (sub >= 0)
            close(sub);
        return;
    }
    fchmod(sub, 0700);
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            remove_tree(sub, de->d_name, depth + 1);
    closedir(d);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

struct receiver {
    int dirs[AGENT_TREE_MAX_DEPTH + 1]; /* dirs[0]: the temporary root */
    unsigned modes[AGENT_TREE_MAX_DEPTH + 1];
    unsigned depth;
    int file;                           /* the file being written, or -1 */
    unsigned file_mode;
    mode_t umask;
};

/* The bits a received entry gets: the guest's permission bits as the umask lets them. */
static int finish_file(struct receiver *r)
{
    int rc = fchmod(r->file, (mode_t)r->file_mode & ~r->umask) < 0 ? -errno : 0;
    if (close(r->file) < 0 && !rc)
        rc = -errno;
    r->file = -1;
    return rc;
}

/* Creates e in the current directory (agent_tree_feed checked its name and bounds). */
static int create_entry(struct receiver *r, const struct agent_entry *e)
{
    int cur = r->dirs[r->depth];
    switch (e->type) {
    case 'd': {
        if (mkdirat(cur, e->name, 0700) < 0)
            return -errno;
        int sub = openat(cur, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return -errno;
        r->dirs[++r->depth] = sub;
        r->modes[r->depth] = e->mode;
        return 0;
    }
    case 'u': {
        int rc = fchmod(r->dirs[r->depth], (mode_t)r->modes[r->depth] & ~r->umask) < 0
                     ? -errno : 0;
        close(r->dirs[r->depth--]);
        return rc;
    }
    case 'f':
        r->file = openat(cur, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600);
        if (r->file < 0)
            return -errno;
        r->file_mode = e->mode;
        return e->size ? 0 : finish_file(r);
    default:
        return symlinkat(e->link, cur, e->name) < 0 ? -errno : 0;
    }
}

/* Reads the tree into r, within the copy's deadlines; the agent's exit value or -errno. */
static int receive_tree(int fd, struct receiver *r, uint8_t *buf, const char *target,
                        struct cove_error *err)
{
    struct agent_tree t = {0};
    long start = agent_now_ms();
    for (;;) {
        struct agent_frame fr;
        struct agent_entry e;
        int rc = recv_frame(fd, &fr, buf, AGENT_IDLE_TIMEOUT_MS,
                            tree_deadline(start, t.bytes, t.entries), err);
        if (rc == 0)
            rc = agent_tree_feed(&t, &fr, &e, err);
        if (rc < 0)
            return rc;
        if (rc == AGENT_FEED_RESULT)
            r->modes[0] = t.root_mode;
        if (rc == AGENT_FEED_ENTRY && (rc = create_entry(r, &e)) < 0)
            return cove_error_set(err, rc, "%s: %s: %s", target, e.name ? e.name : "..",
                                  strerror(-rc));
        if (rc == AGENT_FEED_DATA) {
            if ((rc = fd_write_all(r->file, fr.payload, fr.len)) == 0 && t.left == 0)
                rc = finish_file(r);
            if (rc < 0)
                return cove_error_set(err, rc, "%s: %s", target, strerror(-rc));
        }
        if (rc == AGENT_FEED_DONE)
            return t.have_error ? t.error_code : t.status;
    }
}

int cove_agent_get_tree(int fd, const char *remote_path, const char *local_path,
                        struct cove_error *err)
{
    char target[PATH_MAX], tmp[PATH_MAX + 16], name_buf[PATH_MAX];
    struct stat st;
    int k = stat(local_path, &st) == 0 && S_ISDIR(st.st_mode)
                ? snprintf(target, sizeof target, "%s/%s", local_path,
                           agent_base_name(remote_path, name_buf, sizeof name_buf))
                : snprintf(target, sizeof target, "%s", local_path);
    if (k < 0 || (size_t)k + 12 >= sizeof target)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", local_path);
    if (lstat(target, &st) == 0)
        return cove_error_set(err, -EEXIST, "%s already exists; remove it or name another "
                              "destination", target);
    snprintf(tmp, sizeof tmp, "%s.coveXXXXXX", target);
    if (!mkdtemp(tmp))
        return cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    struct receiver *r = calloc(1, sizeof *r);
    struct agent_req *q = calloc(1, sizeof *q);
    uint8_t *buf = malloc(AGENT_FRAME_MAX);
    int rc;
    if (!r || !q || !buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r->file = -1;
    r->umask = agent_umask();
    r->modes[0] = 0700;
    if ((r->dirs[0] = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        rc = cove_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    req_add(q, "op", "getdir");
    req_add(q, "path", remote_path);
    rc = req_send(fd, q, agent_deadline(agent_now_ms(), AGENT_IDLE_TIMEOUT_MS), err);
    if (rc == 0)
        rc = receive_tree(fd, r, buf, target, err);
    if (rc > 0)
        rc = cove_error_set(err, -EIO, "guest: the copy failed (status %d)", rc);
    if (rc == 0 && (fchmod(r->dirs[0], (mode_t)r->modes[0] & ~r->umask) < 0 ||
                    syncfs(r->dirs[0]) < 0))
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) < 0)
        rc = errno == EEXIST ? cove_error_set(err, -EEXIST, "%s already exists; remove it or "
                                              "name another destination", target)
                             : cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
out:
    if (r) {
        if (r->file >= 0)
            close(r->file);
        for (unsigned i = 0; i <= r->depth; i++)
            if (r->dirs[i] > 0)
                close(r->dirs[i]);
    }
    if (rc < 0)
        remove_tree(AT_FDCWD, tmp, 0);
    free(r);
    free(q);
    free(buf);
    return rc;
}
