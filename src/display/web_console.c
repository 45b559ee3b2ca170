/* cove_vm_web_console (cove/cove.h): finds a running VM's display, listens on 127.0.0.1
 * and hands the socket to the web console's server (web.c). */
#include <cove/cove.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "display/web.h"

#define DEFAULT_NOVNC "/usr/share/novnc"

static int listen_loopback(int port, int *out_port, struct cove_error *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cove_error_set(err, -errno, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 32) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return cove_error_set(err, -e, "127.0.0.1:%d is in use; pick another --port (or "
                                  "leave it out for a free one)", port);
        return cove_error_set(err, -e, "cannot listen on 127.0.0.1:%d: %s", port, strerror(e));
    }
    *out_port = ntohs(a.sin_port);
    return fd;
}

int cove_vm_web_console(const char *name, const struct cove_web_console_options *o,
                        struct cove_error *err)
{
    struct cove_vm_info v;
    int rc = cove_vm_get(name, &v, err);
    if (rc < 0)
        return rc;
    bool running = v.state == COVE_VM_RUNNING || v.state == COVE_VM_PAUSED;
    struct web_console wc = {.vm_pid = v.pid};
    char sock[sizeof v.vnc_socket], log[PATH_MAX];
    snprintf(sock, sizeof sock, "%s", v.vnc_socket);
    cove_vm_info_free(&v);
    if (!running)
        return cove_error_set(err, -ESRCH, "VM '%s' is not running; start it first (cove run "
                              "%s --no-console --display vnc)", name, name);
    if (!sock[0])
        return cove_error_set(err, -ENODEV, "VM '%s' runs without a display; run it with "
                              "--display vnc (or store one: cove set %s --display vnc)",
                              name, name);
    wc.novnc_dir = o->novnc_dir ? o->novnc_dir : getenv("COVE_NOVNC");
    if (!wc.novnc_dir || !*wc.novnc_dir)
        wc.novnc_dir = DEFAULT_NOVNC;
    char page[PATH_MAX];
    struct stat st;
    snprintf(page, sizeof page, "%s/vnc.html", wc.novnc_dir);
    if (stat(page, &st) < 0 || !S_ISREG(st.st_mode))
        return cove_error_set(err, -ENOENT, "noVNC is not in %s (no vnc.html); install Debian's "
                              "novnc package, or set COVE_NOVNC to its directory", wc.novnc_dir);
    wc.vnc_socket = sock;
    /* the console log lies beside the socket, in run/ */
    const char *slash = strrchr(sock, '/');
    if (slash && snprintf(log, sizeof log, "%.*s/console.log", (int)(slash - sock), sock) <
                     (int)sizeof log)
        wc.console_log = log;
    if ((rc = web_make_token(&wc)) < 0)
        return cove_error_set(err, rc, "no random token: %s", strerror(-rc));
    int port = 0;
    int fd = listen_loopback(o->port, &port, err);
    if (fd < 0)
        return fd;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?token=%s", port, wc.token);
    if (o->on_ready)
        o->on_ready(o->opaque, url);
    static volatile int never;
    rc = web_console_serve(&wc, fd, o->stop ? o->stop : &never);
    close(fd);
    if (rc < 0)
        return cove_error_set(err, rc, "the web console stopped: %s", strerror(-rc));
    return 0;
}
