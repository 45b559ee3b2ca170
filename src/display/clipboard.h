/*
 * clipboard.h — the guest's clipboard and the VNC clients': a helper process forked before
 * the VMM's seccomp filter (helper_proc.h) that reaches the guest agent, as `cove clipboard
 * NAME get|set` does, through the guest's `cove-clipboard`:
 *   - a client's cut text (RFB ClientCutText) is handed to it and set in the guest;
 *   - while the VNC server has a client (clipboard_helper_watch), it reads the guest's
 *     clipboard every CLIPBOARD_POLL_MS and hands back each new text, for the server to
 *     send to its clients (ServerCutText); with no client it does nothing.
 * One SOCK_SEQPACKET message per request: a type byte, then the text. See docs/DISPLAY.md.
 */
#ifndef COVE_DISPLAY_CLIPBOARD_H
#define COVE_DISPLAY_CLIPBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cove/error.h>

/* The longest text passed either way (UTF-8 bytes); longer ones are dropped. */
#define CLIPBOARD_TEXT_MAX 65536
/* How often the guest's clipboard is read while a client is connected, and while the
 * guest cannot answer (no agent yet, no cove-clipboard, no X display). */
#define CLIPBOARD_POLL_MS 1000
#define CLIPBOARD_RETRY_MS 5000

struct clipboard_helper {
    pid_t pid;
    int sock; /* the VMM's end */
};

/* Forks the helper, which reaches the agent at vsock_path (the host's path). */
int clipboard_helper_start(const char *vsock_path, struct clipboard_helper **out,
                           struct cove_error *err);
/* Hands a client's text (UTF-8) to the helper without blocking: 0, or -errno (dropped: too
 * long, helper busy or gone). */
int clipboard_helper_send(struct clipboard_helper *h, const char *text, size_t len);
/* Starts (on) or stops reading the guest's clipboard, without blocking: 0, or -errno
 * (try again later). on (again, for a new client) makes the guest's current text (if
 * any) come back at once. */
int clipboard_helper_watch(struct clipboard_helper *h, bool on);
/* The socket to poll for the guest's texts. */
int clipboard_helper_fd(const struct clipboard_helper *h);
/* The guest's next new text, without blocking: its length in buf (bytes as the guest gave
 * them: unchecked, at most CLIPBOARD_TEXT_MAX), or -EAGAIN when none waits, or another
 * -errno (the helper is gone). n >= CLIPBOARD_TEXT_MAX. */
ssize_t clipboard_helper_recv(struct clipboard_helper *h, char *buf, size_t n);
/* Ends the helper and waits for it; NULL is fine. */
void clipboard_helper_stop(struct clipboard_helper *h);

#endif
