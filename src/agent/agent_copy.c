/*
 * cove cp through the agent: files streamed in frames both ways, each side renaming the
 * file into place only once it arrived whole. The host writes an unnamed file (O_TMPFILE)
 * that gets a name only then, so even a SIGKILL leaves nothing behind.
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

const char *agent_base_name(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    return basename(buf);
}

long agent_copy_deadline(long start, uint64_t size)
{
    uint64_t ms = size / AGENT_MIN_BYTES_PER_S * 1000;
    return agent_deadline(start, ms > (uint64_t)LONG_MAX / 2 ? -1 : AGENT_IDLE_TIMEOUT_MS + (long)ms);
}

int cove_agent_put(int fd, const char *local_path, const char *remote_path, struct cove_error *err)
{
    int f = open(local_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (f < 0)
        return cove_error_set(err, -errno, "%s: %s", local_path, strerror(errno));
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return cove_error_set(err, -EINVAL, S_ISDIR(st.st_mode)
                                  ? "%s: a directory; copy it with cove cp -r"
                                  : "%s: not a regular file", local_path);
    }
    struct agent_req *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(AGENT_FRAME_MAX);
    char mode[16], name_buf[PATH_MAX];
    long deadline = agent_copy_deadline(agent_now_ms(), (uint64_t)st.st_size);
    int rc = -ENOMEM;
    if (!r || !buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(mode, sizeof mode, "%o", (unsigned)(st.st_mode & 07777));
    req_add(r, "op", "put");
    req_add(r, "path", remote_path);
    req_add(r, "mode", mode);
    req_add(r, "name", agent_base_name(local_path, name_buf, sizeof name_buf));
    if ((rc = req_send(fd, r, deadline, err)) < 0)
        goto out;
    for (;;) {
        ssize_t n = read(f, buf, AGENT_FRAME_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cove_error_set(err, -errno, "%s: %s", local_path, strerror(errno));
            goto out; /* closing the connection makes the agent drop the partial file */
        }
        long idle = agent_deadline(agent_now_ms(), AGENT_IDLE_TIMEOUT_MS);
        rc = send_frame(fd, AGENT_T_DATA, AGENT_STDIN, buf, (uint32_t)n,
                        idle < deadline ? idle : deadline);
        if (rc == -ETIMEDOUT) {
            rc = cove_error_set(err, rc, "the guest agent stopped taking the file; gave up on "
                                "the copy");
            goto out;
        }
        /* A failed send: the agent gave up early; its error frame says why. */
        if (rc < 0 || n == 0)
            break;
    }
    struct agent_reply reply = {.kind = AGENT_REPLY_PLAIN};
    rc = read_reply(fd, buf, &reply, NULL, 0, NULL, deadline, err);
    if (rc > 0)
        rc = cove_error_set(err, -EIO, "guest: the copy failed (status %d)", rc);
out:
    close(f);
    free(r);
    free(buf);
    return rc;
}

mode_t agent_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned v = 077;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &v) == 1)
            break;
    if (f)
        fclose(f);
    return (mode_t)(v & 0777);
}

/* Streams the file frames into f by the rules of a get (agent_reply_feed): at most the size
 * announced, within the copy's deadlines. Returns the agent's exit value or a negative
 * errno. */
static int receive_file(int fd, int f, uint8_t *buf, struct agent_reply *reply,
                        const char *target, struct cove_error *err)
{
    long start = agent_now_ms();
    long deadline = agent_deadline(start, AGENT_IDLE_TIMEOUT_MS);
    for (;;) {
        struct agent_frame fr;
        int rc = recv_frame(fd, &fr, buf, AGENT_IDLE_TIMEOUT_MS, deadline, err);
        if (rc == 0) {
            bool had_meta = reply->have_result;
            rc = agent_reply_feed(reply, &fr, err);
            if (!had_meta && reply->have_result)
                deadline = agent_copy_deadline(start, reply->size);
        }
        if (rc < 0)
            return rc;
        if (rc == AGENT_FEED_DATA && (rc = fd_write_all(f, fr.payload, fr.len)) < 0)
            return cove_error_set(err, rc, "%s: %s", target, strerror(-rc));
        if (rc == AGENT_FEED_DONE)
            return reply->have_error ? reply->error_code : reply->status;
    }
}
/* The file a get writes: unnamed (O_TMPFILE) in the target's directory, so that a cove cp
 * killed even by SIGKILL leaves nothing behind; a file system without O_TMPFILE gets a
 * temporary name instead (tmp then holds it). */
static int open_unnamed(const char *target, char *tmp, size_t n)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(target, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - target) + (slash == target) : 1,
             slash ? target : ".");
    int f = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (f >= 0) {
        tmp[0] = 0;
        return f;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return -1;
    snprintf(tmp, n, "%s.coveXXXXXX", target);
    return mkostemp(tmp, O_CLOEXEC);
}

/* Puts the whole file at target: an unnamed one gets a temporary name first (link(2)
 * cannot replace), then either is renamed over target. */
static int publish(int f, char *tmp, size_t n, const char *target)
{
    if (!tmp[0]) {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", f);
        for (unsigned tries = 0;; tries++) {
            snprintf(tmp, n, "%s.cove%06x", target, (unsigned)(random() & 0xffffff));
            if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
                break;
            if (errno != EEXIST || tries == 100) {
                tmp[0] = 0;
                return -1;
            }
        }
    }
    return rename(tmp, target);
}

int cove_agent_get(int fd, const char *remote_path, const char *local_path, struct cove_error *err)
{
    char target[PATH_MAX], tmp[PATH_MAX + 16], name_buf[PATH_MAX];
    struct stat st;
    int k = stat(local_path, &st) == 0 && S_ISDIR(st.st_mode)
                ? snprintf(target, sizeof target, "%s/%s", local_path,
                           agent_base_name(remote_path, name_buf, sizeof name_buf))
                : snprintf(target, sizeof target, "%s", local_path);
    if (k < 0 || (size_t)k >= sizeof target)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", local_path);
    int f = open_unnamed(target, tmp, sizeof tmp);
    if (f < 0)
        return cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    struct agent_req *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(AGENT_FRAME_MAX);
    struct agent_reply reply = {.kind = AGENT_REPLY_FILE};
    int rc;
    if (!r || !buf) {
        rc = cove_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    req_add(r, "op", "get");
    req_add(r, "path", remote_path);
    if ((rc = req_send(fd, r, agent_deadline(agent_now_ms(), AGENT_IDLE_TIMEOUT_MS), err)) < 0)
        goto out;
    rc = receive_file(fd, f, buf, &reply, target, err);
    if (rc > 0)
        rc = cove_error_set(err, -EIO, "guest: the copy failed (status %d)", rc);
    /* the guest's permission bits (never setuid/setgid/sticky), as the umask lets them */
    if (rc == 0 && (fchmod(f, (mode_t)reply.mode & ~agent_umask()) < 0 || fsync(f) < 0))
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    if (rc == 0 && publish(f, tmp, sizeof tmp, target) < 0)
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
out:
    if (close(f) < 0 && rc == 0)
        rc = cove_error_set(err, -errno, "%s: %s", target, strerror(errno));
    if (rc < 0 && tmp[0])
        unlink(tmp);
    free(r);
    free(buf);
    return rc;
}
