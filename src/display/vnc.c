/*
 * The VM's screen over VNC (libvncserver): the virtio-gpu scanout as the framebuffer, key
 * events to the virtio-input keyboard, pointer events (absolute) and the wheel to the tablet;
 * the relative mouse gets nothing from VNC (docs/DISPLAY.md); a client's cut text to the
 * guest's clipboard through the clipboard helper (clipboard.h), and, while a client is
 * connected, the guest's clipboard to the clients (the helper reads it): ServerCutText in
 * Latin-1, or UTF-8 when every client of a screen takes the extended clipboard
 * (send_cut_text says why not otherwise).
 *
 * Two RFB screens share one framebuffer: one served on a Unix socket (mode 0600, its owner
 * only, no password: the socket's permissions are the access control) whose connections
 * this thread accepts itself and hands to libvncserver, and, when a port is given, one on
 * 127.0.0.1:PORT with VNC authentication. Every libvncserver call happens on the server's
 * own thread. The GPU's listener (its control queue's thread) only copies the flushed
 * rectangle into the framebuffer and widens the dirty rectangle under the server's lock;
 * the server thread marks it modified, so clients get only the changed region. A new
 * scanout size is taken over by the server thread (a new framebuffer, filled from the GPU's
 * surface). The server thread sleeps in poll() on the listening sockets, the clients'
 * sockets and an eventfd the GPU's side (and the stop) signals: an idle VM with a client
 * wakes it once a second, and an update goes out at once (no deferral).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rfb/rfb.h>

#include "devices/virtio/virtio_devices.h"
#include "display/clipboard.h"
#include "display/keymap.h"
#include "display/latin1.h"
#include "display/vnc_lazy.h"
#include "display/vnc.h"
#include "util/log.h"
#include "util/usock.h"

#define EV_SYN 0
#define EV_KEY 1
#define EV_REL 2
#define EV_ABS 3
#define BTN_LEFT 0x110
#define BTN_RIGHT 0x111
#define BTN_MIDDLE 0x112
#define REL_WHEEL 8
#define IDLE_MS 1000 /* the longest sleep of the server thread */
#define MAX_FDS 64

struct vnc_server {
    struct machine_display dev;
    rfbScreenInfoPtr screens[2]; /* Unix socket, TCP (or NULL) */
    unsigned nscreens;
    int unix_fd;
    int wake_fd; /* eventfd: the GPU's side or the stop has something for the server thread */
    char unix_path[108];
    char password[VNC_PASSWORD_MAX + 1];
    char *passwords[2];
    pthread_t thread;
    bool stop;

    pthread_mutex_t lock; /* what the GPU's thread and the server thread share: */
    uint32_t *fb;
    uint32_t fw, fh;
    const uint32_t *gpu_surface; /* the GPU's, valid until its next resize */
    uint32_t gw, gh;
    bool resized;
    bool dirty;
    uint32_t dx0, dy0, dx1, dy1;

    int last_buttons; /* server thread only */
    struct clipboard_helper *clipboard;
    unsigned ready_clients; /* past the handshake, as last told to the clipboard helper
                               (server thread only; 0: the helper does not read) */
};

/* --- the GPU's side ---------------------------------------------------------------------- */

static void wake(struct vnc_server *s)
{
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: the server thread has wake-ups waiting anyway */
    }
}

static void on_resize(void *opaque, const uint32_t *surface, uint32_t w, uint32_t h)
{
    struct vnc_server *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->gpu_surface = surface;
    s->gw = w, s->gh = h;
    s->resized = true;
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

static void on_update(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    struct vnc_server *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (s->gpu_surface && s->gw == s->fw && s->gh == s->fh && (uint64_t)x + w <= s->fw &&
        (uint64_t)y + h <= s->fh) {
        for (uint32_t r = y; r < y + h; r++)
            memcpy(s->fb + (size_t)r * s->fw + x, s->gpu_surface + (size_t)r * s->gw + x,
                   (size_t)w * 4);
        if (!s->dirty) {
            s->dx0 = x, s->dy0 = y, s->dx1 = x + w, s->dy1 = y + h;
        } else {
            s->dx0 = x < s->dx0 ? x : s->dx0;
            s->dy0 = y < s->dy0 ? y : s->dy0;
            s->dx1 = x + w > s->dx1 ? x + w : s->dx1;
            s->dy1 = y + h > s->dy1 ? y + h : s->dy1;
        }
        s->dirty = true;
    }
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

/* --- the clients' side --------------------------------------------------------------------- */

static void send_events(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n)
{
    if (in && virtio_input_send(in, ev, n) < 0)
        log_debug("vnc: the guest is not reading its input; events dropped");
}

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    uint16_t code = keymap_keysym_to_linux(keysym);
    if (!code)
        return;
    struct virtio_input_event ev[2] = {{EV_KEY, code, down ? 1 : 0}, {EV_SYN, 0, 0}};
    send_events(s->dev.keyboard, ev, 2);
}

static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    struct virtio_input_event ev[8];
    unsigned n = 0;
    uint32_t w = (uint32_t)cl->screen->width, h = (uint32_t)cl->screen->height;
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    int32_t ax = w > 1 ? (int32_t)((uint64_t)(x >= (int)w ? w - 1 : (uint32_t)x) * VIRTIO_INPUT_ABS_MAX / (w - 1)) : 0;
    int32_t ay = h > 1 ? (int32_t)((uint64_t)(y >= (int)h ? h - 1 : (uint32_t)y) * VIRTIO_INPUT_ABS_MAX / (h - 1)) : 0;
    ev[n++] = (struct virtio_input_event){EV_ABS, 0, ax};
    ev[n++] = (struct virtio_input_event){EV_ABS, 1, ay};
    static const uint16_t buttons[3] = {BTN_LEFT, BTN_MIDDLE, BTN_RIGHT};
    for (int b = 0; b < 3; b++)
        if ((mask ^ s->last_buttons) & (1 << b))
            ev[n++] = (struct virtio_input_event){EV_KEY, buttons[b], (mask >> b) & 1};
    /* buttons 4 and 5 are the wheel: a press is one step */
    if ((mask & 8) && !(s->last_buttons & 8))
        ev[n++] = (struct virtio_input_event){EV_REL, REL_WHEEL, 1};
    if ((mask & 16) && !(s->last_buttons & 16))
        ev[n++] = (struct virtio_input_event){EV_REL, REL_WHEEL, -1};
    ev[n++] = (struct virtio_input_event){EV_SYN, 0, 0};
    s->last_buttons = mask;
    send_events(s->dev.tablet, ev, n);
}

/* A client's cut text (RFB: Latin-1) goes to the guest's clipboard as UTF-8, through the
 * clipboard helper; nothing waits for it. */
static void on_cut_text(char *str, int len, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    if (!s->clipboard || len < 0 || len > CLIPBOARD_TEXT_MAX / 2)
        return;
    static char utf8[CLIPBOARD_TEXT_MAX]; /* the server thread's */
    size_t n = latin1_to_utf8(str, (size_t)len, utf8);
    if (clipboard_helper_send(s->clipboard, utf8, n) < 0)
        log_debug("vnc: a cut text of %d bytes was dropped (the clipboard helper is busy)", len);
}

/* The same from a client of the extended clipboard: UTF-8 (checked), its final NUL off. */
static void on_cut_text_utf8(char *str, int len, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    if (!s->clipboard || len < 0 || len > CLIPBOARD_TEXT_MAX)
        return;
    while (len > 0 && !str[len - 1])
        len--;
    static char utf8[3 * CLIPBOARD_TEXT_MAX]; /* the server thread's */
    size_t n = utf8_sanitize(str, (size_t)len, utf8);
    if (n > CLIPBOARD_TEXT_MAX || clipboard_helper_send(s->clipboard, utf8, n) < 0)
        log_debug("vnc: a cut text of %d bytes was dropped (too long, or the clipboard "
                  "helper is busy)", len);
}

/* --- the guest's clipboard to the clients ---------------------------------------------------- */

/* The helper reads the guest's clipboard while some client is connected, and only then;
 * each client that comes makes it send the current text again, for that client's sake.
 * A client counts once it has sent its encodings (SetEncodings: by then the server knows
 * whether it takes the extended clipboard). */
static void watch_clipboard(struct vnc_server *s)
{
    if (!s->clipboard)
        return;
    unsigned ready = 0;
    for (unsigned i = 0; i < s->nscreens; i++) {
        rfbClientIteratorPtr it = rfbGetClientIterator(s->screens[i]);
        for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
            ready += cl->state == RFB_NORMAL && cl->preferredEncoding != -1;
        rfbReleaseClientIterator(it);
    }
    /* a full socket (the helper busy): told at the next round */
    if ((ready > s->ready_clients || (!ready && s->ready_clients)) &&
        clipboard_helper_watch(s->clipboard, ready > 0) < 0)
        return;
    s->ready_clients = ready;
}

/* To every client of every screen. libvncserver's rfbSendServerCutTextUTF8 serves only a
 * screen whose clients all take the extended clipboard: for any other client it would
 * keep the client's send lock (without a Latin-1 fallback) or write a header of the UTF-8
 * length before the Latin-1 text (with one). Other screens get the classic message, in
 * Latin-1, written here. */
static void send_cut_text(struct vnc_server *s, const char *text, size_t len)
{
    static char utf8[3 * CLIPBOARD_TEXT_MAX], latin1[CLIPBOARD_TEXT_MAX];
    size_t un = utf8_sanitize(text, len, utf8), ln = utf8_to_latin1(text, len, latin1);
    for (unsigned i = 0; i < s->nscreens; i++) {
        bool all_ext = true;
        rfbClientIteratorPtr it = rfbGetClientIterator(s->screens[i]);
        for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
            all_ext = all_ext && cl->enableExtendedClipboard;
        rfbReleaseClientIterator(it);
        if (all_ext) {
            rfbSendServerCutTextUTF8(s->screens[i], utf8, (int)un, NULL, 0);
            continue;
        }
        it = rfbGetClientIterator(s->screens[i]);
        for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));) {
            if (cl->state != RFB_NORMAL)
                continue;
            rfbServerCutTextMsg m = {.type = rfbServerCutText, .length = htonl((uint32_t)ln)};
            pthread_mutex_lock(&cl->sendMutex);
            if (rfbWriteExact(cl, (char *)&m, sz_rfbServerCutTextMsg) < 0 ||
                rfbWriteExact(cl, latin1, (int)ln) < 0)
                rfbCloseClient(cl);
            pthread_mutex_unlock(&cl->sendMutex);
        }
        rfbReleaseClientIterator(it);
    }
}

/* The guest's newest text, if the helper has one. */
static void take_guest_text(struct vnc_server *s)
{
    static char text[CLIPBOARD_TEXT_MAX];
    ssize_t n, last = -1;
    while ((n = clipboard_helper_recv(s->clipboard, text, sizeof text)) >= 0)
        last = n;
    if (last >= 0 && s->ready_clients)
        send_cut_text(s, text, (size_t)last);
    if (n != -EAGAIN) {
        /* the helper is gone: no clipboard from now on (its socket would wake us for ever) */
        log_warn("vnc: the clipboard helper is gone; no clipboard for this VM's clients");
        s->clipboard = NULL;
        s->ready_clients = 0;
    }
}

/* A client asked for another size (ExtendedDesktopSize): the guest is told, and the
 * screen follows when its driver sets the new mode. */
static int on_desktop_size(int width, int height, int nscreens, struct rfbExtDesktopScreen *scr,
                           rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return rfbExtDesktopSize_OutOfResources;
    virtio_gpu_request_size(s->dev.gpu, (uint32_t)width, (uint32_t)height);
    return rfbExtDesktopSize_Success;
}

/* --- the server thread --------------------------------------------------------------------- */

static void set_format(rfbScreenInfoPtr scr)
{
    scr->serverFormat.redShift = 16;
    scr->serverFormat.greenShift = 8;
    scr->serverFormat.blueShift = 0;
    scr->serverFormat.redMax = scr->serverFormat.greenMax = scr->serverFormat.blueMax = 255;
}

static void take_new_size(struct vnc_server *s)
{
    pthread_mutex_lock(&s->lock);
    uint32_t w = s->gw ? s->gw : s->fw, h = s->gh ? s->gh : s->fh;
    s->resized = false;
    pthread_mutex_unlock(&s->lock);
    uint32_t *fb = calloc((size_t)w * h, 4);
    if (!fb)
        return;
    virtio_gpu_copy_surface(s->dev.gpu, fb, w, h);
    pthread_mutex_lock(&s->lock);
    uint32_t *old = s->fb;
    s->fb = fb, s->fw = w, s->fh = h;
    s->dirty = false;
    pthread_mutex_unlock(&s->lock);
    /* what was flushed between the copy and the swap */
    virtio_gpu_copy_surface(s->dev.gpu, fb, w, h);
    for (unsigned i = 0; i < s->nscreens; i++) {
        rfbNewFramebuffer(s->screens[i], (char *)fb, (int)w, (int)h, 8, 3, 4);
        set_format(s->screens[i]);
    }
    free(old);
}

static void accept_unix(struct vnc_server *s)
{
    struct pollfd pfd = {.fd = s->unix_fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0)
        return;
    int fd = accept4(s->unix_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    uid_t peer;
    if (!usock_peer_is_owner(fd, &peer)) {
        close(fd);
        return;
    }
    if (!rfbNewClient(s->screens[0], fd))
        close(fd);
}

/* Sleeps until a listening socket, a client or the wake eventfd has something (IDLE_MS at
 * most). */
static void wait_for_work(struct vnc_server *s)
{
    struct pollfd pfd[MAX_FDS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = s->unix_fd, .events = POLLIN};
    nfds_t clip = n;
    if (s->clipboard)
        pfd[n++] = (struct pollfd){.fd = clipboard_helper_fd(s->clipboard), .events = POLLIN};
    for (unsigned i = 0; i < s->nscreens; i++) {
        rfbScreenInfoPtr scr = s->screens[i];
        if (scr->listenSock != RFB_INVALID_SOCKET && n < MAX_FDS)
            pfd[n++] = (struct pollfd){.fd = scr->listenSock, .events = POLLIN};
        if (scr->listen6Sock != RFB_INVALID_SOCKET && n < MAX_FDS)
            pfd[n++] = (struct pollfd){.fd = scr->listen6Sock, .events = POLLIN};
        rfbClientIteratorPtr it = rfbGetClientIterator(scr);
        for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
            if (cl->sock != RFB_INVALID_SOCKET && n < MAX_FDS)
                pfd[n++] = (struct pollfd){.fd = cl->sock, .events = POLLIN};
        rfbReleaseClientIterator(it);
    }
    /* past MAX_FDS sockets, the ones left out are served within IDLE_MS / 10 */
    int timeout = n == MAX_FDS ? IDLE_MS / 10 : IDLE_MS;
    if (poll(pfd, n, timeout) <= 0)
        return;
    if (pfd[0].revents & POLLIN) {
        uint64_t v;
        if (read(s->wake_fd, &v, sizeof v) < 0) {
            /* nothing was there after all */
        }
    }
    if (s->clipboard && pfd[clip].revents)
        take_guest_text(s);
}

static void *serve(void *opaque)
{
    struct vnc_server *s = opaque;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&s->lock);
        bool resized = s->resized, dirty = s->dirty;
        uint32_t x0 = s->dx0, y0 = s->dy0, x1 = s->dx1, y1 = s->dy1;
        s->dirty = false;
        pthread_mutex_unlock(&s->lock);
        if (resized)
            take_new_size(s);
        else if (dirty)
            for (unsigned i = 0; i < s->nscreens; i++)
                rfbMarkRectAsModified(s->screens[i], (int)x0, (int)y0, (int)x1, (int)y1);
        accept_unix(s);
        for (unsigned i = 0; i < s->nscreens; i++)
            rfbProcessEvents(s->screens[i], 0);
        watch_clipboard(s);
        wait_for_work(s);
    }
    return NULL;
}

static void rfb_log_quiet(const char *fmt, ...) {}

static rfbScreenInfoPtr new_screen(struct vnc_server *s, uint32_t w, uint32_t h)
{
    int argc = 0;
    rfbScreenInfoPtr scr = rfbGetScreen(&argc, NULL, (int)w, (int)h, 8, 3, 4);
    if (!scr)
        return NULL;
    set_format(scr);
    rfbSetCursor(scr, NULL); /* no cursor drawn into the screen: the guest draws its own */
    scr->frameBuffer = (char *)s->fb;
    scr->screenData = s;
    scr->desktopName = "cove";
    scr->alwaysShared = TRUE;
    scr->kbdAddEvent = on_key;
    scr->ptrAddEvent = on_pointer;
    scr->setDesktopSizeHook = on_desktop_size;
    scr->setXCutText = on_cut_text;
    scr->setXCutTextUTF8 = on_cut_text_utf8;
    scr->handleEventsEagerly = TRUE;
    scr->deferUpdateTime = 0; /* the thread sleeps right after: a deferred update would wait */
    return scr;
}

int vnc_server_start(const struct machine_display *dev, const struct vnc_options *o,
                     struct vnc_server **out, struct cove_error *err)
{
    const char *why = vnc_lazy_load(rfb_log_quiet);
    if (why)
        return cove_error_set(err, -ENOSYS, "vnc: %s", why);
    struct vnc_server *s = calloc(1, sizeof *s);
    if (!s)
        return cove_error_set(err, -ENOMEM, "vnc: out of memory");
    s->dev = *dev;
    s->clipboard = o->clipboard;
    s->unix_fd = -1;
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&s->lock, NULL);
    s->fw = o->width ? o->width : 1024;
    s->fh = o->height ? o->height : 768;
    s->fb = calloc((size_t)s->fw * s->fh, 4);
    int rc = 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!s->fb || s->wake_fd < 0) {
        rc = cove_error_set(err, -ENOMEM, "vnc: out of memory");
        goto fail;
    }
    if (strlen(o->socket_path) >= sizeof addr.sun_path) {
        rc = cove_error_set(err, -ENAMETOOLONG, "vnc: socket path %s is too long",
                            o->socket_path);
        goto fail;
    }
    strcpy(addr.sun_path, o->socket_path);
    strcpy(s->unix_path, o->socket_path);
    unlink(o->socket_path);
    s->unix_fd = usock_listen_private(&addr, SOCK_CLOEXEC | SOCK_NONBLOCK, 4);
    if (s->unix_fd < 0) {
        rc = cove_error_set(err, s->unix_fd, "vnc: cannot listen on %s: %s", o->socket_path,
                            strerror(-s->unix_fd));
        goto fail;
    }
    s->screens[0] = new_screen(s, s->fw, s->fh);
    if (!s->screens[0]) {
        rc = cove_error_set(err, -ENOMEM, "vnc: cannot set up the server");
        goto fail;
    }
    s->screens[0]->socketState = RFB_SOCKET_READY; /* no listening of its own */
    s->screens[0]->port = s->screens[0]->ipv6port = -1;
    s->nscreens = 1;
    rfbInitServer(s->screens[0]);
    if (o->tcp_port) {
        rfbScreenInfoPtr t = new_screen(s, s->fw, s->fh);
        if (!t) {
            rc = cove_error_set(err, -ENOMEM, "vnc: cannot set up the server");
            goto fail;
        }
        s->screens[s->nscreens++] = t;
        snprintf(s->password, sizeof s->password, "%s", o->password ? o->password : "");
        s->passwords[0] = s->password;
        t->authPasswdData = s->passwords;
        t->passwordCheck = rfbCheckPasswordByList;
        t->port = o->tcp_port;
        t->ipv6port = 0;
        t->autoPort = FALSE;
        t->listenInterface = htonl(INADDR_LOOPBACK);
        rfbInitServer(t);
        if (t->listenSock == RFB_INVALID_SOCKET) {
            rc = cove_error_set(err, -EADDRINUSE,
                                "vnc: cannot listen on 127.0.0.1:%d (in use?); pick another "
                                "--vnc-port", o->tcp_port);
            goto fail;
        }
    }
    static const struct virtio_gpu_listener listener = {on_resize, on_update};
    virtio_gpu_set_listener(s->dev.gpu, &listener, s);
    if ((rc = -pthread_create(&s->thread, NULL, serve, s)) < 0) {
        static const struct virtio_gpu_listener none = {0};
        virtio_gpu_set_listener(s->dev.gpu, &none, NULL);
        cove_error_set(err, rc, "vnc: cannot start its thread");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    for (unsigned i = 0; i < s->nscreens; i++) {
        rfbShutdownServer(s->screens[i], TRUE);
        rfbScreenCleanup(s->screens[i]);
    }
    if (s->unix_fd >= 0) {
        close(s->unix_fd);
        unlink(s->unix_path);
    }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s->fb);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return rc;
}

void vnc_server_stop(struct vnc_server *s)
{
    if (!s)
        return;
    static const struct virtio_gpu_listener none = {0};
    virtio_gpu_set_listener(s->dev.gpu, &none, NULL);
    __atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
    wake(s);
    pthread_join(s->thread, NULL);
    if (s->clipboard && s->ready_clients) /* the next machine's server (a reboot) has none */
        clipboard_helper_watch(s->clipboard, false);
    for (unsigned i = 0; i < s->nscreens; i++) {
        rfbShutdownServer(s->screens[i], TRUE);
        rfbScreenCleanup(s->screens[i]);
    }
    close(s->unix_fd);
    close(s->wake_fd);
    unlink(s->unix_path);
    free(s->fb);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
