/*
 * clipboard.h — a VNC client's cut text (RFB ClientCutText) into the guest's clipboard: a
 * helper process forked before the VMM's seccomp filter (helper_proc.h) takes each text
 * over a socket pair and runs the guest's `cove-clipboard set` through the guest agent (as
 * `cove clipboard NAME set` does). See docs/DISPLAY.md.
 */
#ifndef COVE_DISPLAY_CLIPBOARD_H
#define COVE_DISPLAY_CLIPBOARD_H

#include <stddef.h>
#include <sys/types.h>

#include <cove/error.h>

/* The longest cut text passed on; longer ones are dropped (one datagram each). */
#define CLIPBOARD_TEXT_MAX 65536

struct clipboard_helper {
    pid_t pid;
    int sock; /* the VMM's end: one SOCK_SEQPACKET message per text */
};

/* Forks the helper, which reaches the agent at vsock_path (the host's path). */
int clipboard_helper_start(const char *vsock_path, struct clipboard_helper **out,
                           struct cove_error *err);
/* Hands text to the helper without blocking: 0, or -errno (dropped: too long, helper busy
 * or gone). Callable from any thread. */
int clipboard_helper_send(struct clipboard_helper *h, const char *text, size_t len);
/* Ends the helper and waits for it; NULL is fine. */
void clipboard_helper_stop(struct clipboard_helper *h);

#endif
