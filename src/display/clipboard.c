/*
 * The clipboard helper (clipboard.h): a process of its own, forked while the VMM may still
 * fork, that runs `cove-clipboard set` (a client's cut text) and, while asked to watch,
 * `cove-clipboard get` in the guest through the guest agent's exec (include/cove/agent.h).
 * It keeps the host's file system (helper_proc.h), so it reaches the agent at the VM's
 * vsock socket. What the guest cannot do (no agent yet, no cove-clipboard: the default
 * guest has no X) is skipped with a debug line; the VMM never waits for the helper.
 *
 * Messages on the socket pair: from the VMM 'S' TEXT (set) and 'W' 0|1 (watch); to the
 * VMM 'T' TEXT (the guest's clipboard changed). The guest's output is read into a memfd
 * sealed at CLIPBOARD_TEXT_MAX bytes: a longer text stops the command and is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

#include "display/clipboard.h"
#include "util/helper_proc.h"
#include "util/log.h"

#define AGENT_WAIT_MS 5000
#define EXEC_TIMEOUT_MS 30000
#define GET_WAIT_MS 1000
#define GET_TIMEOUT_MS 5000

#define MSG_SET 'S'
#define MSG_WATCH 'W'
#define MSG_TEXT 'T'

/* `cove-clipboard ARG` in the guest with in (or nothing) as its stdin and out (or -1) as
 * its stdout: its exit status, or -errno when it did not run to its end. */
static int run_in_guest(const char *vsock_path, const char *arg, int in, int out,
                        int wait_ms, int timeout_ms)
{
    struct cove_error err = {0};
    int fd;
    int rc = cove_agent_connect(vsock_path, wait_ms, &fd, &err);
    if (rc < 0)
        return rc;
    const char *args[] = {"cove-clipboard", arg, NULL};
    struct cove_exec_options o = {
        .argv = args,
        .stdin_open = in >= 0,
        .in_fd = in,
        .out_fd = out,
        .err_fd = -1,
        .signal_fd = -1,
        .winsize_fd = -1,
        .timeout_ms = timeout_ms,
    };
    int status = 0;
    char message[256];
    rc = cove_agent_exec(fd, &o, &status, message, sizeof message, &err);
    close(fd);
    return rc < 0 ? rc : status;
}

static void set_in_guest(const char *vsock_path, const char *text, size_t len)
{
    int in = memfd_create("cove-cut-text", MFD_CLOEXEC);
    if (in < 0 || write(in, text, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0) {
        if (in >= 0)
            close(in);
        return;
    }
    int rc = run_in_guest(vsock_path, "set", in, -1, AGENT_WAIT_MS, EXEC_TIMEOUT_MS);
    if (rc != 0)
        log_debug("clipboard: cove-clipboard set in the guest failed (%d); the cut text is "
                  "dropped", rc);
    close(in);
}

/* The guest's clipboard into buf: its length; -1 when it has none (empty, or the command
 * failed: *slow then says whether the guest cannot answer at all for now). */
static ssize_t get_from_guest(const char *vsock_path, char *buf, bool *slow)
{
    *slow = true;
    int out = memfd_create("cove-clipboard", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (out < 0)
        return -1;
    ssize_t len = -1;
    if (ftruncate(out, CLIPBOARD_TEXT_MAX) == 0 && fcntl(out, F_ADD_SEALS, F_SEAL_GROW) == 0) {
        int rc = run_in_guest(vsock_path, "get", -1, out, GET_WAIT_MS, GET_TIMEOUT_MS);
        off_t end = lseek(out, 0, SEEK_CUR);
        /* 1: xclip's "no text in the selection"; 2 and above: no X, no cove-clipboard */
        *slow = rc < 0 ? rc != -EPIPE : rc > 1;
        if (rc == -EPIPE)
            log_debug("clipboard: the guest's text is over %d bytes; not sent",
                      CLIPBOARD_TEXT_MAX);
        if (rc == 0 && end > 0 && end <= CLIPBOARD_TEXT_MAX &&
            pread(out, buf, (size_t)end, 0) == end)
            len = (ssize_t)end;
    }
    close(out);
    return len;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void serve(const char *vsock_path)
{
    static char msg[1 + CLIPBOARD_TEXT_MAX], text[1 + CLIPBOARD_TEXT_MAX];
    static char last[CLIPBOARD_TEXT_MAX];
    size_t last_len = 0;
    bool watching = false, have_last = false;
    long long next = 0;
    for (;;) {
        int timeout = -1;
        if (watching) {
            long long left = next - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        struct pollfd pfd = {.fd = HELPER_FD, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno != EINTR)
            return;
        if (r > 0) {
            ssize_t n = recv(HELPER_FD, msg, sizeof msg, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return; /* the VMM closed its end */
            if (msg[0] == MSG_SET) {
                set_in_guest(vsock_path, msg + 1, (size_t)n - 1);
                /* the guest now has what the client has: not sent back */
                memcpy(last, msg + 1, (size_t)n - 1);
                last_len = (size_t)n - 1;
                have_last = true;
            } else if (msg[0] == MSG_WATCH && n == 2) {
                watching = msg[1] != 0;
                if (watching) {
                    have_last = false; /* a new client gets the guest's current text */
                    next = now_ms();
                }
            }
            continue;
        }
        if (!watching || now_ms() < next)
            continue;
        bool slow;
        ssize_t len = get_from_guest(vsock_path, text + 1, &slow);
        next = now_ms() + (slow ? CLIPBOARD_RETRY_MS : CLIPBOARD_POLL_MS);
        if (len < 0 || (have_last && (size_t)len == last_len && !memcmp(text + 1, last, last_len)))
            continue;
        text[0] = MSG_TEXT;
        if (send(HELPER_FD, text, (size_t)len + 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            continue; /* the VMM is behind: tried again at the next read */
        memcpy(last, text + 1, (size_t)len);
        last_len = (size_t)len;
        have_last = true;
    }
}

int clipboard_helper_start(const char *vsock_path, struct clipboard_helper **out,
                           struct cove_error *err)
{
    struct clipboard_helper *h = calloc(1, sizeof *h);
    if (!h)
        return cove_error_set(err, -ENOMEM, "out of memory");
    h->pid = helper_fork("cove-clipboard", &h->sock);
    if (h->pid == 0) {
        serve(vsock_path);
        _exit(0);
    }
    if (h->pid < 0) {
        int e = (int)-h->pid;
        free(h);
        return cove_error_set(err, -e, "cannot start the clipboard helper: %s", strerror(e));
    }
    *out = h;
    return 0;
}

static int send_msg(struct clipboard_helper *h, char type, const char *data, size_t len)
{
    struct iovec iov[2] = {{&type, 1}, {(void *)data, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    return sendmsg(h->sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len + 1 ? 0 : -errno;
}

int clipboard_helper_send(struct clipboard_helper *h, const char *text, size_t len)
{
    if (len > CLIPBOARD_TEXT_MAX)
        return -EMSGSIZE;
    return send_msg(h, MSG_SET, text, len);
}

int clipboard_helper_watch(struct clipboard_helper *h, bool on)
{
    char v = on;
    return send_msg(h, MSG_WATCH, &v, 1);
}

int clipboard_helper_fd(const struct clipboard_helper *h) { return h->sock; }

ssize_t clipboard_helper_recv(struct clipboard_helper *h, char *buf, size_t n)
{
    static char msg[1 + CLIPBOARD_TEXT_MAX];
    for (;;) {
        ssize_t r = recv(h->sock, msg, sizeof msg, MSG_DONTWAIT | MSG_TRUNC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EPIPE;
        /* only the helper writes here; anything else is skipped */
        if (r > (ssize_t)sizeof msg || msg[0] != MSG_TEXT || (size_t)r - 1 > n)
            continue;
        memcpy(buf, msg + 1, (size_t)r - 1);
        return r - 1;
    }
}

void clipboard_helper_stop(struct clipboard_helper *h)
{
    if (!h)
        return;
    close(h->sock);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    free(h);
}
