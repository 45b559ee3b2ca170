/* Helpers shared by the disk drivers: full-length I/O, temp files, paths, CRC-32C. */
#include "disk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int disk_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            /* Clusters may end past EOF: their never-written tail reads zeros. */
            memset(p, 0, len);
            return 0;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int disk_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t r = pwrite(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* One preadv/pwritev per IOV_MAX buffers instead of one call per buffer (a guest request
 * is a list of 4 KiB pages). */
int disk_transfer_vec(int fd, const struct iovec *iov, unsigned n, uint64_t off, bool write)
{
    struct iovec v[IOV_MAX];
    while (n) {
        unsigned cnt = n < IOV_MAX ? n : IOV_MAX;
        memcpy(v, iov, cnt * sizeof *v);
        iov += cnt;
        n -= cnt;
        struct iovec *cur = v;
        while (cnt) {
            if (cur->iov_len == 0) {
                cur++;
                cnt--;
                continue;
            }
            ssize_t done = write ? pwritev(fd, cur, (int)cnt, (off_t)off)
                                 : preadv(fd, cur, (int)cnt, (off_t)off);
            if (done < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            if (done == 0)
                return -EIO; /* the file shrank under us: the size check said it fits */
            off += (uint64_t)done;
            while (cnt && (size_t)done >= cur->iov_len) {
                done -= (ssize_t)cur->iov_len;
                cur++;
                cnt--;
            }
            if (cnt) {
                cur->iov_base = (char *)cur->iov_base + done;
                cur->iov_len -= (size_t)done;
            }
        }
    }
    return 0;
}

bool disk_buf_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len && ((uintptr_t)p & 7)) {
        if (*p++)
            return false;
        len--;
    }
    const uint64_t *q = (const uint64_t *)(const void *)p;
    for (; len >= 32; len -= 32, q += 4)
        if (q[0] | q[1] | q[2] | q[3])
            return false;
    p = (const unsigned char *)q;
    while (len--)
        if (*p++)
            return false;
    return true;
}

int disk_resolve_backing(const char *image, const char *backing, char *out, size_t out_len)
{
    int n;
    const char *slash = strrchr(image, '/');
    if (backing[0] == '/' || !slash)
        n = snprintf(out, out_len, "%s", backing);
    else
        n = snprintf(out, out_len, "%.*s/%s", (int)(slash - image), image, backing);
    return n < 0 || (size_t)n >= out_len ? -ENAMETOOLONG : 0;
}

int disk_tmp_create(const char *path, char *tmp, size_t tmp_len, struct cove_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    int n = snprintf(tmp, tmp_len, "%.*s.%s.tmp-XXXXXX", dir_len, path, base);
    if (n < 0 || (size_t)n >= tmp_len)
        return cove_error_set(err, -ENAMETOOLONG, "disk %s: path too long", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cove_error_set(err, -errno, "disk %s: cannot create a file in its directory: %s",
                              path, strerror(errno));
    return fd;
}

static int sync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* Renames without replacing: a create must never clobber an image someone has. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (link(from, to) < 0)
        return -errno;
    unlink(from);
    return 0;
}

int disk_tmp_commit(int fd, const char *tmp, const char *path, struct cove_error *err)
{
    if (fsync(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return cove_error_set(err, -e, "disk %s: cannot sync: %s", path, strerror(e));
    }
    int r = rename_noreplace(tmp, path);
    if (r < 0) {
        unlink(tmp);
        if (r == -EEXIST)
            return cove_error_set(err, r, "disk %s already exists", path);
        return cove_error_set(err, r, "disk %s: cannot rename into place: %s", path,
                              strerror(-r));
    }
    sync_parent_dir(path);
    return 0;
}
