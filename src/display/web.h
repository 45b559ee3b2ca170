/*
 * web.h — the web console (`cove console NAME --web`, docs/DISPLAY.md): a small HTTP and
 * WebSocket server on 127.0.0.1 that serves Debian's noVNC, a WebSocket proxied to the VM's
 * VNC socket (run/vnc.sock) and the serial console (run/console.log, read-only) with its
 * page. It runs in the `cove console` process, not the VMM. Every request must carry the
 * run's random token: in the query (?token=HEX; WebSockets only so), or for the page's
 * files in the cookie that a page with the token sets. Anything else gets 403.
 *
 * web_route.c decides what a request asks for (pure, fuzzed: tests/fuzz/fuzz_web.c);
 * web.c serves.
 */
#ifndef COVE_DISPLAY_WEB_H
#define COVE_DISPLAY_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/http.h"

#define WEB_TOKEN_LEN 32 /* lowercase hex digits (16 random bytes) */
#define WEB_FILE_MAX 128

enum web_route {
    WEB_FORBIDDEN = 1, /* 403: no token, or a wrong one */
    WEB_METHOD,        /* 405: not GET */
    WEB_NOT_FOUND,     /* 404: no such page, or a path outside what is served */
    WEB_INDEX,         /* "/": on to noVNC's page, connected */
    WEB_CONSOLE_PAGE,  /* "/console": the serial console's page */
    WEB_FILE,          /* a file of noVNC's directory */
    WEB_WS_VNC,        /* "/websockify": the WebSocket to the VM's VNC socket */
    WEB_WS_CONSOLE,    /* "/console-ws": the WebSocket of the serial console */
};

struct web_request {
    enum web_route route;
    bool token_in_query;       /* the response sets the cookie */
    char file[WEB_FILE_MAX];   /* WEB_FILE: the path under noVNC's directory, relative */
};

/* What req (a request http_parse accepted) asks for, with token the run's. Files are
 * [A-Za-z0-9._-] components joined by '/', none starting with '.'. */
void web_route(const struct http_message *req, const char *token, struct web_request *out);

/* The Content-Type of a file by its extension (application/octet-stream if unknown). */
const char *web_content_type(const char *file);

struct web_console {
    const char *novnc_dir;   /* Debian's noVNC (/usr/share/novnc) */
    const char *vnc_socket;  /* the VM's VNC Unix socket */
    const char *console_log; /* its console log (NULL: none) */
    int vm_pid;              /* the VM's `cove run`: serving ends when it is gone */
    char token[WEB_TOKEN_LEN + 1];
};

/* A random token into wc->token: 0 or -errno. */
int web_make_token(struct web_console *wc);

/* Serves on the listening socket fd until *stop becomes true (a signal handler sets it)
 * or the VM's process is gone. Each connection is served by a child process. 0, or -errno
 * when serving could not go on. */
int web_console_serve(const struct web_console *wc, int fd, volatile int *stop);

#endif
