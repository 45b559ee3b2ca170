/*
 * cove cp through the agent: files streamed in frames both ways, each side writing to a
 * temporary name and renaming it into place once the whole file arrived.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cove/agent.h>

#include "agent/agent_internal.h"
#include "util/fdio.h"

/* The last path component (for copies into a directory). */
static const char *base_name(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    return basename(buf);
}

int cove_agent_put(int fd, const char *local_path, const char *remote_path, struct cove_error *err)
{
    int f = open(local_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (f < 0)
        return cove_error_set(err, -errno, "%s: %s", local_path, strerror(errno));
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return cove_error_set(err, -EINVAL, "%s: not a regular file", local_path);
    }
    struct agent_req *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(AGENT_FRAME_MAX);
    char mode[16], name_buf[PATH_MAX];
    int rc = -ENOMEM;
    if (!r || !buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 07777));
    req_add(r, "op", "put");
    req_add(r, "path", remote_path);
    req_add(r, "mode", mode);
    req_add(r, "name", base_name(local_path, name_buf, sizeof name_buf));
    if ((rc = req_send(fd, r, err)) < 0)
        goto out;
    for (;;) {
        ssize_t n = read(f, buf, AGENT_FRAME_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cove_error_set(err, -errno, "%s: %s", local_path, strerror(errno));
            goto out; /* closing the connection makes the agent drop the partial file */
        }
        /* A failed send: the agent gave up early; its error frame says why. */
        if (send_frame(fd, AGENT_T_DATA, AGENT_STDIN, buf, (uint32_t)n) < 0 || n == 0)
            break;
    }
    rc = finish_request(fd, buf, NULL, 0, NULL, err);
    if (rc > 0)
        rc = cove_error_set(err, -EIO, "guest: the copy failed");
out:
    close(f);
    free(r);
    free(buf);
    return rc;
}

/* Parses the R frame of a get: "mode\0644\0size\0N\0". */
static void get_meta(const uint8_t *p, uint32_t len, mode_t *mode)
{
    for (uint32_t at = 0; at < len;) {
        const char *k = (const char *)p + at;
        const char *ke = memchr(k, 0, len - at);
        if (!ke || (uint32_t)(ke - (const char *)p) + 1 >= len)
            return;
        const char *v = ke + 1;
        const char *ve = memchr(v, 0, len - (uint32_t)(v - (const char *)p));
        if (!ve)
            return;
        at = (uint32_t)(ve - (const char *)p) + 1;
        if (!strcmp(k, "mode"))
            *mode = (mode_t)strtoul(v, NULL, 8) & 07777;
    }
}

/* Streams the file frames into f; returns the agent's exit value or a negative errno. */
static int receive_file(int fd, int f, uint8_t *buf, mode_t *mode, const char *target,
                        struct cove_error *err)
{
    bool failed = false;
    for (;;) {
        uint8_t type, stream;
        uint32_t len;
        int rc = recv_frame(fd, &type, &stream, buf, &len, AGENT_ANSWER_TIMEOUT_MS);
        if (rc < 0)
            return cove_error_set(err, rc, rc == -ETIMEDOUT ? "the guest agent stopped answering"
                                  : "the connection to the guest agent broke mid-copy");
        if (type == AGENT_T_RESULT) {
            get_meta(buf, len, mode);
        } else if (type == AGENT_T_DATA && stream == AGENT_STDOUT && len) {
            if ((rc = fd_write_all(f, buf, len)) < 0)
                return cove_error_set(err, rc, "%s: %s", target, strerror(-rc));
        } else if (type == AGENT_T_ERROR) {
            cove_error_set(err, -EIO, "guest: %.*s", len > 1 ? (int)len - 1 : 0,
                           (const char *)buf + 1);
            failed = true;
        } else if (type == AGENT_T_EXIT) {
            return failed ? -EIO : (len == 5 ? buf[1] : 1);
        }
    }
}

int cove_agent_get(int fd, const char *remote_path, const char *local_path, struct cove_error *err)
{
    char target[PATH_MAX], tmp[PATH_MAX + 16], name_buf[PATH_MAX];
    struct stat st;
    int k = stat(local_path, &st) == 0 && S_ISDIR(st.st_mode)
                ? snprintf(target, sizeof target, "%s/%s", local_path,
                           base_name(remote_path, name_buf, sizeof name_buf))
                : snprintf(target, sizeof target, "%s", local_path);
    if (k < 0 || (size_t)k >= sizeof target)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", local_path);
    snprintf(tmp, sizeof tmp, "%s.coveXXXXXX", target);
    int f = mkostemp(tmp, O_CLOEXEC);
    if (f < 0)
        return cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    struct agent_req *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(AGENT_FRAME_MAX);
    mode_t mode = 0644;
    int rc;
    if (!r || !buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    req_add(r, "op", "get");
    req_add(r, "path", remote_path);
    if ((rc = req_send(fd, r, err)) < 0)
        goto out;
    rc = receive_file(fd, f, buf, &mode, target, err);
    if (rc > 0)
        rc = cove_error_set(err, -EIO, "guest: the copy failed");
    if (rc == 0 && (fchmod(f, mode) < 0 || fsync(f) < 0))
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
out:
    if (close(f) < 0 && rc == 0)
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    if (rc == 0 && rename(tmp, target) < 0)
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    free(r);
    free(buf);
    return rc;
}
