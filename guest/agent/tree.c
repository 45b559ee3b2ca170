/*
 * cove cp -r, the guest's side: getdir walks a directory and streams it as entries
 * (protocol.h, "A directory tree"), links as links, never followed; putdir builds the
 * host's stream in a temporary directory beside the target, each entry created by its
 * single-component name under a directory descriptor, and renames it into place only when
 * whole (removed when anything fails or the host goes away).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

/* A host that stops sending mid-tree does not keep a process forever. */
#define TREE_IDLE_MS 30000

static void fail(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int fd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_error(fd, AGENT_ERR_IO, "%s", msg);
    send_exit(fd, AGENT_EXITED, 1);
}

/* --- getdir -------------------------------------------------------------------------------- */

struct walk {
    int fd;
    uint8_t *buf;
    char entry[AGENT_FRAME_MAX];
    uint64_t entries, bytes;
};

/* One F frame: type, then key/value pairs up to a NULL key. -1 with the error sent. */
static int entry(struct walk *w, const char *path, const char *type, ...)
{
    if (++w->entries > AGENT_TREE_MAX_ENTRIES) {
        fail(w->fd, "%s: more than %u entries in the tree", path, AGENT_TREE_MAX_ENTRIES);
        return -1;
    }
    size_t n = 0;
    const char *k = "type", *v = type;
    va_list ap;
    va_start(ap, type);
    while (k) {
        size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
        if (n + kl + vl > sizeof w->entry) {
            va_end(ap);
            fail(w->fd, "%s: name too long", path);
            return -1;
        }
        memcpy(w->entry + n, k, kl);
        memcpy(w->entry + n + kl, v, vl);
        n += kl + vl;
        if ((k = va_arg(ap, const char *)))
            v = va_arg(ap, const char *);
    }
    va_end(ap);
    return send_frame(w->fd, AGENT_T_ENTRY, AGENT_STDOUT, w->entry, (uint32_t)n);
}

static int walk_file(struct walk *w, int dirfd, const char *name, const char *path)
{
    int f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        fail(w->fd, "%s: %s", path, f < 0 ? strerror(errno) : "changed while being copied");
        if (f >= 0)
            close(f);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size, left = size;
    char mode[16], size_s[24];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 0777));
    snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)size);
    int rc = 0;
    if (size > AGENT_TREE_MAX_BYTES - w->bytes) {
        fail(w->fd, "%s: the tree is larger than %llu GiB", path, AGENT_TREE_MAX_BYTES >> 30);
        rc = -1;
    }
    w->bytes += size;
    if (!rc)
        rc = entry(w, path, "f", "name", name, "mode", mode, "size", size_s, NULL);
    while (!rc && left) {
        ssize_t n = read(f, w->buf, left < AGENT_FRAME_MAX ? left : AGENT_FRAME_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* the host refuses a short file: say why before the connection ends */
            fail(w->fd, "%s: %s", path, n < 0 ? strerror(errno) : "shrank while being copied");
            rc = -1;
            break;
        }
        left -= (uint64_t)n;
        rc = send_frame(w->fd, AGENT_T_DATA, AGENT_STDOUT, w->buf, (uint32_t)n);
    }
    close(f);
    return rc;
}

static int walk_dir(struct walk *w, int dirfd, const char *path, unsigned depth);

static int walk_one(struct walk *w, int dirfd, const char *name, const char *path,
                    unsigned depth)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        fail(w->fd, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode))
        return walk_file(w, dirfd, name, path);
    if (S_ISLNK(st.st_mode)) {
        char target[AGENT_TREE_LINK_MAX + 2];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target);
        if (n < 0 || (size_t)n >= sizeof target) {
            fail(w->fd, "%s: %s", path, n < 0 ? strerror(errno) : "link target too long");
            return -1;
        }
        target[n] = 0;
        return entry(w, path, "l", "name", name, "link", target, NULL);
    }
    if (!S_ISDIR(st.st_mode)) {
        fail(w->fd, "%s: not a file, directory or symbolic link; cove cp -r copies only those",
             path);
        return -1;
    }
    if (depth + 1 > AGENT_TREE_MAX_DEPTH) {
        fail(w->fd, "%s: directories nested deeper than %u", path, AGENT_TREE_MAX_DEPTH);
        return -1;
    }
    int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
        fail(w->fd, "%s: %s", path, strerror(errno));
        return -1;
    }
    char mode[16];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 0777));
    int rc = entry(w, path, "d", "name", name, "mode", mode, NULL);
    if (!rc)
        rc = walk_dir(w, sub, path, depth + 1);
    close(sub);
    return rc ? rc : entry(w, path, "u", NULL);
}

static int walk_dir(struct walk *w, int dirfd, const char *path, unsigned depth)
{
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        fail(w->fd, "%s: %s", path, strerror(errno));
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    int rc = 0;
    for (struct dirent *de; !rc && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        rc = walk_one(w, dirfd, de->d_name, child, depth);
    }
    closedir(d);
    return rc;
}

void do_getdir(int fd, const struct request *r, uint8_t *buf)
{
    const char *path = req_get(r, "path");
    int root = path ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    struct stat st;
    if (root < 0 || fstat(root, &st) < 0) {
        fail(fd, "%s: %s", path ? path : "(no path)", strerror(path ? errno : EINVAL));
        if (root >= 0)
            close(root);
        return;
    }
    struct walk *w = malloc(sizeof *w);
    if (!w) {
        fail(fd, "out of memory");
        close(root);
        return;
    }
    w->fd = fd, w->buf = buf, w->entries = w->bytes = 0;
    char meta[32];
    int k = snprintf(meta, sizeof meta, "mode%c%o", 0, (unsigned)(st.st_mode & 0777));
    send_frame(fd, AGENT_T_RESULT, 0, meta, (uint32_t)k + 1);
    if (walk_dir(w, root, path, 0) == 0) {
        send_frame(fd, AGENT_T_DATA, AGENT_STDOUT, NULL, 0);
        send_exit(fd, AGENT_EXITED, 0);
    }
    close(root);
    free(w);
}

/* --- putdir -------------------------------------------------------------------------------- */

/* Removes name under dirfd and everything in it, following no link. */
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
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            remove_tree(sub, de->d_name, depth + 1);
    closedir(d);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

struct build {
    int dirs[AGENT_TREE_MAX_DEPTH + 1];
    mode_t modes[AGENT_TREE_MAX_DEPTH + 1];
    unsigned depth;
    int file;
    mode_t file_mode;
    uint64_t left, entries;
    struct request e;
};

static int finish_file(struct build *b)
{
    int err = fchmod(b->file, b->file_mode) < 0 ? errno : 0; /* synced once, at the end */
    if (close(b->file) < 0 && !err)
        err = errno;
    b->file = -1;
    return err;
}

/* An octal mode that is all digits, permission bits only. */
static bool parse_mode(const char *s, mode_t *mode)
{
    char *end;
    unsigned long v = s && *s ? strtoul(s, &end, 8) : 07777;
    if (!s || !*s || *end || v > 07777)
        return false;
    *mode = (mode_t)v & 0777;
    return true;
}

/* Creates the entry in b->e: 0, an errno, or -1 for a malformed one. */
static int build_entry(struct build *b)
{
    const char *type = req_get(&b->e, "type"), *name = req_get(&b->e, "name");
    const char *link = req_get(&b->e, "link"), *size = req_get(&b->e, "size");
    int cur = b->dirs[b->depth];
    mode_t mode = 0;
    if (!type || !type[0] || type[1] || ++b->entries > AGENT_TREE_MAX_ENTRIES)
        return -1;
    if (type[0] != 'u' && (!name || !agent_tree_name_ok(name)))
        return -1;
    if ((type[0] == 'd' || type[0] == 'f') && !parse_mode(req_get(&b->e, "mode"), &mode))
        return -1;
    switch (type[0]) {
    case 'd':
        if (b->depth == AGENT_TREE_MAX_DEPTH)
            return -1;
        if (mkdirat(cur, name, 0700) < 0)
            return errno;
        if ((b->dirs[b->depth + 1] = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                            O_CLOEXEC)) < 0)
            return errno;
        b->modes[++b->depth] = mode;
        return 0;
    case 'u': {
        if (b->depth == 0)
            return -1;
        int err = fchmod(cur, b->modes[b->depth]) < 0 ? errno : 0;
        close(b->dirs[b->depth--]);
        return err;
    }
    case 'f': {
        char *end;
        if (!size || !*size || size[0] == '-')
            return -1;
        errno = 0;
        b->left = strtoull(size, &end, 10);
        if (*end || errno)
            return -1;
        b->file = openat(cur, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (b->file < 0)
            return errno;
        b->file_mode = mode;
        return b->left ? 0 : finish_file(b);
    }
    case 'l':
        if (!link || !*link)
            return -1;
        return symlinkat(link, cur, name) < 0 ? errno : 0;
    default:
        return -1;
    }
}

/* Reads the host's tree into b: 0 when whole, an errno, -1 malformed, -2 the host went
 * away. */
static int build_tree(int fd, struct build *b, uint8_t *buf)
{
    for (;;) {
        uint8_t type, stream;
        uint32_t len;
        if (recv_frame(fd, &type, &stream, buf, &len, TREE_IDLE_MS) < 0)
            return -2;
        if (type == AGENT_T_ENTRY && b->file < 0) {
            buf[len] = 0;
            if (parse_pairs((char *)buf, len, &b->e) < 0)
                return -1;
            int err = build_entry(b);
            if (err)
                return err;
        } else if (type == AGENT_T_DATA && stream == AGENT_STDIN) {
            if (len == 0)
                return b->file < 0 && b->depth == 0 ? 0 : -1;
            if (b->file < 0 || len > b->left)
                return -1;
            if (write_all(b->file, buf, len) < 0)
                return errno;
            if ((b->left -= len) == 0) {
                int err = finish_file(b);
                if (err)
                    return err;
            }
        } else {
            return -1;
        }
    }
}

void do_putdir(int fd, const struct request *r, uint8_t *buf)
{
    const char *path = req_get(r, "path"), *name = req_get(r, "name");
    char target[PATH_MAX], tmp[PATH_MAX + 16];
    struct stat st;
    mode_t root_mode;
    if (!path || !*path || !parse_mode(req_get(r, "mode"), &root_mode)) {
        send_error(fd, AGENT_ERR_REQUEST, "putdir without a path or mode");
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    int k = (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && name && agent_tree_name_ok(name))
                ? snprintf(target, sizeof target, "%s/%s", path, name)
                : snprintf(target, sizeof target, "%s", path);
    if (k < 0 || (size_t)k + 12 >= sizeof target) {
        fail(fd, "%s: path too long", path);
        return;
    }
    if (lstat(target, &st) == 0) {
        fail(fd, "%s already exists; remove it or name another destination", target);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.coveXXXXXX", target);
    struct build *b = calloc(1, sizeof *b);
    if (!b || !mkdtemp(tmp)) {
        fail(fd, "%s: %s", target, strerror(b ? errno : ENOMEM));
        free(b);
        return;
    }
    b->file = -1;
    b->dirs[0] = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = b->dirs[0] < 0 ? errno : build_tree(fd, b, buf);
    if (!err && (fchmod(b->dirs[0], root_mode) < 0 || syncfs(b->dirs[0]) < 0))
        err = errno;
    if (!err && renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) < 0)
        err = errno;
    if (b->file >= 0)
        close(b->file);
    for (unsigned i = 0; i <= b->depth; i++)
        if (b->dirs[i] >= 0)
            close(b->dirs[i]);
    if (err)
        remove_tree(AT_FDCWD, tmp, 0);
    if (err == -1) {
        send_error(fd, AGENT_ERR_REQUEST, "a malformed tree entry");
        send_exit(fd, AGENT_EXITED, 1);
    } else if (err > 0) {
        fail(fd, "%s: %s", target, err == EEXIST ? "an entry exists twice, or the target "
             "appeared meanwhile" : strerror(err));
    } else if (err == 0) {
        send_exit(fd, AGENT_EXITED, 0);
    }
    free(b);
}
