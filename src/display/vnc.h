/*
 * vnc.h — the VM's screen, keyboard and pointer over VNC (libvncserver), on a Unix socket
 * and optionally on a loopback TCP port with a password. See docs/DISPLAY.md.
 */
#ifndef COVE_DISPLAY_VNC_H
#define COVE_DISPLAY_VNC_H

#include <cove/error.h>

#include "machine/machine.h"

/* VNC authentication uses the first 8 bytes of a password. */
#define VNC_PASSWORD_MAX 8

struct vnc_options {
    const char *socket_path;   /* created 0600 (replacing a stale one), removed at stop */
    int tcp_port;              /* 0: none; else 127.0.0.1:tcp_port with password */
    const char *password;      /* for the TCP port */
    uint32_t width, height;    /* the screen until the guest sets a mode (0: 1024 x 768) */
    struct clipboard_helper *clipboard; /* NULL: a client's cut text is dropped */
};

struct vnc_server;
/* Serves dev (its gpu must be set) on its own thread; the devices must outlive the server. */
int vnc_server_start(const struct machine_display *dev, const struct vnc_options *o,
                     struct vnc_server **out, struct cove_error *err);
/* Disconnects the clients and removes the socket; NULL is fine. */
void vnc_server_stop(struct vnc_server *s);

#endif
