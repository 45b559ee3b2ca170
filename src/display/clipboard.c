/*
 * The clipboard helper (clipboard.h): a process of its own, forked while the VMM may still
 * fork, that turns each cut text it receives into `cove-clipboard set` in the guest,
 * through the guest agent's exec (include/cove/agent.h). It keeps the host's file system
 * (helper_proc.h), so it reaches the agent at the VM's vsock socket. A text it cannot pass
 * on (no agent yet, no cove-clipboard in the guest: the default guest has no X) is
 * dropped with a debug line; the VMM never waits for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cove/agent.h>

#include "display/clipboard.h"
#include "util/helper_proc.h"
#include "util/log.h"

#define AGENT_WAIT_MS 5000
#define EXEC_TIMEOUT_MS 30000

static void set_in_guest(const char *vsock_path, const char *text, size_t len)
{
    int in = memfd_create("cove-cut-text", MFD_CLOEXEC);
    if (in < 0 || write(in, text, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0) {
        if (in >= 0)
            close(in);
        return;
    }
    struct cove_error err = {0};
    int fd;
    if (cove_agent_connect(vsock_path, AGENT_WAIT_MS, &fd, &err) < 0) {
        log_debug("clipboard: %s; the cut text is dropped", err.message);
        close(in);
        return;
    }
    const char *args[] = {"cove-clipboard", "set", NULL};
    struct cove_exec_options o = {
        .argv = args,
        .stdin_open = true,
        .in_fd = in,
        .out_fd = -1,
        .err_fd = -1,
        .signal_fd = -1,
        .winsize_fd = -1,
        .timeout_ms = EXEC_TIMEOUT_MS,
    };
    int status = 0;
    char message[256];
    if (cove_agent_exec(fd, &o, &status, message, sizeof message, &err) < 0 || status != 0)
        log_debug("clipboard: cove-clipboard set in the guest failed (status %d)", status);
    close(fd);
    close(in);
}

static void serve(const char *vsock_path)
{
    static char buf[CLIPBOARD_TEXT_MAX];
    for (;;) {
        ssize_t n = recv(HELPER_FD, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the VMM closed its end */
        set_in_guest(vsock_path, buf, (size_t)n);
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

int clipboard_helper_send(struct clipboard_helper *h, const char *text, size_t len)
{
    if (len > CLIPBOARD_TEXT_MAX)
        return -EMSGSIZE;
    return send(h->sock, text, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
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
