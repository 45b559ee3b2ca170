/*
 * The control socket's server thread. Clients are local (the socket is 0600: its owner
 * and root) but not trusted to behave: every connection is a small state machine in one
 * poll loop (read the request, answer, close) with its own deadline, at most MAX_CLIENTS
 * are open, and when a new one arrives with the table full the oldest is dropped. So
 * clients that connect and send nothing cannot delay one that sends its request at once.
 */
#include "vm/vm.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/virtio_devices.h"
#include "machine/machine.h"
#include "util/confined.h"
#include "util/log.h"
#include "util/usock.h"
#include "vm/autofwd.h"
#include "vm/http.h"

#define REQUEST_TIMEOUT_MS 2000 /* from accept to the last byte of the response */
#define MAX_CLIENTS 16
#define LISTEN_BACKLOG 64

struct client {
    int fd;
    long long deadline;
    size_t got;
    struct http_message *req;
    char *out; /* the response, once there is one */
    size_t out_len, out_done;
};

struct api_server {
    char path[4096];
    struct api_server_info info;
    char name[128];
    int listen_fd;
    int wake_fd;
    pthread_t thread;
    struct client clients[MAX_CLIENTS];
    unsigned nclients;
    pthread_mutex_t lock; /* guards m while a request uses it */
    struct machine *m;
    uint64_t memory_target_mib; /* PUT /vm/memory; 0: all of it. Kept across reboots. */
    char msg_buf[192];          /* an error message made for one answer (under lock) */
    atomic_bool stop_requested;
    struct log_ratelimit refused_log; /* peers of another uid: one warning a second */
    struct cove_error suspend_err;    /* why the last suspend failed (its message) */
    struct cove_error snapshot_err;   /* the same for PUT /vm/snapshot */
    bool snapshot_running;            /* the last snapshot answered holds a machine */
};

static char *error_body(const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *state_body(struct api_server *s)
{
    const char *state = s->m && machine_paused(s->m) ? "paused" : "running";
    if (atomic_load(&s->stop_requested))
        state = "stopping";
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I}", "name", s->name, "state", state, "pid",
                          (int)s->info.pid, "cpus", (int)s->info.cpus, "memory",
                          (json_int_t)s->info.memory_mib);
    if (o && s->info.mac && s->info.mac[0]) {
        json_t *fw = json_array();
        for (unsigned i = 0; i < s->info.nforwards; i++)
            json_array_append_new(fw, json_string(s->info.forwards[i]));
        json_t *net = json_pack("{s:s, s:o}", "mac", s->info.mac, "forwards", fw);
        if (net && s->info.autofwd) { /* what is forwarded automatically right now */
            struct autofwd_entry *e = malloc(AUTOFWD_MAX * sizeof *e);
            unsigned n = e ? autofwd_list(s->info.autofwd, e, AUTOFWD_MAX) : 0;
            json_t *af = json_array();
            for (unsigned i = 0; i < n; i++)
                json_array_append_new(af, json_pack("{s:s, s:s, s:i, s:i}", "protocol",
                                                    e[i].udp ? "udp" : "tcp", "host_addr",
                                                    "127.0.0.1", "host_port", e[i].host_port,
                                                    "guest_port", e[i].guest_port));
            free(e);
            json_object_set_new(net, "auto_forwards", af);
        }
        json_object_set_new(o, "network", net);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* Parses a JSON object body; on failure *msg says why. */
static json_t *parse_body(const struct http_message *req, const char **msg)
{
    json_error_t jerr;
    json_t *o = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        *msg = "the body must be a JSON object";
        return NULL;
    }
    return o;
}

static int put_state(struct api_server *s, const struct http_message *req, const char **msg)
{
    json_t *o = parse_body(req, msg);
    if (!o)
        return 400;
    json_t *v = json_object_get(o, "state");
    const char *want = json_is_string(v) ? json_string_value(v) : "";
    int status = 200;
    if (json_object_size(o) != 1 || (strcmp(want, "paused") && strcmp(want, "running"))) {
        *msg = "expected {\"state\": \"paused\"} or {\"state\": \"running\"}";
        status = 400;
    } else if (!s->m) {
        *msg = "the VM is restarting; try again";
        status = 409;
    } else if (!strcmp(want, "paused")) {
        machine_pause(s->m);
    } else {
        machine_resume(s->m);
    }
    json_decref(o);
    return status;
}

/* GET /vm/memory: the balloon's counters and the guest's last statistics (asked for
 * fresh, which takes up to half a second from a guest that does not answer). */
static char *memory_body(struct api_server *s)
{
    struct virtio_balloon *b = s->m ? machine_balloon(s->m) : NULL;
    uint64_t target = s->memory_target_mib ? s->memory_target_mib : s->info.memory_mib;
    json_t *o = json_pack("{s:I, s:I}", "memory", (json_int_t)s->info.memory_mib, "target",
                          (json_int_t)target);
    if (b) {
        struct virtio_balloon_stats st;
        virtio_balloon_get_stats(b, true, &st);
        json_object_set_new(o, "balloon",
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "target",
                                      (json_int_t)st.target_bytes, "actual",
                                      (json_int_t)st.actual_bytes, "returned",
                                      (json_int_t)st.freed_bytes, "reported",
                                      (json_int_t)st.reported_bytes, "bad_pfns",
                                      (json_int_t)st.bad_pfns));
        static const struct { unsigned tag; const char *name; } names[] = {
            {VIRTIO_BALLOON_S_MEMTOT, "total"}, {VIRTIO_BALLOON_S_MEMFREE, "free"},
            {VIRTIO_BALLOON_S_AVAIL, "available"}, {VIRTIO_BALLOON_S_CACHES, "cached"},
            {VIRTIO_BALLOON_S_SWAP_IN, "swap_in"}, {VIRTIO_BALLOON_S_SWAP_OUT, "swap_out"},
            {VIRTIO_BALLOON_S_MAJFLT, "major_faults"}, {VIRTIO_BALLOON_S_MINFLT, "minor_faults"},
        };
        json_t *g = json_object();
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (st.stat_valid & (1u << names[i].tag))
                json_object_set_new(g, names[i].name, json_integer((json_int_t)st.stat[names[i].tag]));
        json_object_set_new(o, "guest", g);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* Applies the remembered target to the current machine; false without a balloon. */
static bool apply_memory_target(struct api_server *s)
{
    struct virtio_balloon *b = s->m ? machine_balloon(s->m) : NULL;
    if (!b)
        return false;
    uint64_t mib = s->memory_target_mib ? s->memory_target_mib : s->info.memory_mib;
    return virtio_balloon_set_target(b, mib << 20) == 0;
}

static int put_memory(struct api_server *s, const struct http_message *req, const char **msg)
{
    json_t *o = parse_body(req, msg);
    if (!o)
        return 400;
    json_t *v = json_object_get(o, "memory");
    json_int_t mib = json_is_integer(v) ? json_integer_value(v) : -1;
    int status = 200;
    if (json_object_size(o) != 1 || mib < 0) {
        *msg = "expected {\"memory\": MiB}";
        status = 400;
    } else if (mib < (json_int_t)(MACHINE_MIN_MEMORY >> 20) || (uint64_t)mib > s->info.memory_mib) {
        snprintf(s->msg_buf, sizeof s->msg_buf, "memory must be %llu to %llu MiB: a running VM can only give "
                 "back part of its %llu MiB; stop it to change its size",
                 MACHINE_MIN_MEMORY >> 20, (unsigned long long)s->info.memory_mib,
                 (unsigned long long)s->info.memory_mib);
        *msg = s->msg_buf; /* under s->lock, used before it is released */
        status = 400;
    } else if (s->m && !machine_balloon(s->m)) {
        *msg = "this VM runs without a balloon (cove run --no-balloon, or no virtio slot left)";
        status = 409;
    } else {
        s->memory_target_mib = (uint64_t)mib == s->info.memory_mib ? 0 : (uint64_t)mib;
        apply_memory_target(s); /* or at the next machine, when between two */
    }
    json_decref(o);
    return status;
}

/* Checks a stop request; the stop itself waits until the 202 is on its way (stop_after:
 * 1 to ask the guest, 2 to stop at once). */
static int put_stop(const struct http_message *req, const char **msg, int *stop_after)
{
    json_t *o = parse_body(req, msg);
    if (!o)
        return 400;
    json_t *force = json_object_get(o, "force");
    bool extra = json_object_size(o) > (force ? 1u : 0u);
    if (extra || (force && !json_is_boolean(force))) {
        json_decref(o);
        *msg = "expected {\"force\": false} or {\"force\": true}";
        return 400;
    }
    *stop_after = json_is_true(force) ? 2 : 1;
    json_decref(o);
    return 202;
}

/* Saves the machine and stops it; the answer comes once the state is on disk, so that
 * the client learns whether it worked. */
static int put_suspend(struct api_server *s, const struct http_message *req, const char **msg)
{
    json_t *o = parse_body(req, msg);
    if (!o)
        return 400;
    size_t extra = json_object_size(o);
    json_decref(o);
    if (extra)
        return *msg = "expected an empty object {}", 400;
    if (!s->info.suspend)
        return *msg = "this VM cannot be suspended (it has no bundle to keep its state in)", 409;
    if (!s->m || atomic_load(&s->stop_requested))
        return *msg = "the VM is stopping or restarting; try again", 409;
    int rc = s->info.suspend(s->info.suspend_opaque, s->m, &s->suspend_err);
    if (rc < 0)
        return *msg = s->suspend_err.message, rc == -ENOTSUP ? 409 : 500;
    atomic_store(&s->stop_requested, true);
    return 200;
}

/* PUT /vm/snapshot {"action": "save"|"restore", "tag": TAG}. A save answers once the
 * snapshot is on disk; a restore returns 1 here (*wait) and respond() waits for the run
 * loop to restart the machine without holding the lock the run loop needs. */
static int put_snapshot(struct api_server *s, const struct http_message *req, const char **msg,
                        bool *wait)
{
    json_t *o = parse_body(req, msg);
    if (!o)
        return 400;
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *tag = json_string_value(json_object_get(o, "tag"));
    int status = 0;
    if (json_object_size(o) != 2 || !action || !tag ||
        (strcmp(action, "save") && strcmp(action, "restore")))
        *msg = "expected {\"action\": \"save\" or \"restore\", \"tag\": TAG}", status = 400;
    else if (!s->info.snapshot)
        *msg = "this VM has no snapshots (it has no bundle to keep them in)", status = 409;
    else if (!s->m || atomic_load(&s->stop_requested))
        *msg = "the VM is stopping or restarting; try again", status = 409;
    if (status) {
        json_decref(o);
        return status;
    }
    bool restore = !strcmp(action, "restore");
    int rc = s->info.snapshot(s->info.suspend_opaque, s->m, restore, tag, &s->snapshot_running,
                              &s->snapshot_err);
    json_decref(o);
    if (rc < 0)
        return *msg = s->snapshot_err.message,
               rc == -ENOENT ? 404 : rc == -EEXIST || rc == -ENOTSUP ? 409 : rc == -EINVAL || rc == -EXDEV ? 400 : 500;
    *wait = rc == 1;
    return 200;
}

static char *snapshot_body(struct api_server *s, double ms)
{
    json_t *o = json_pack("{s:b, s:f}", "running", s->snapshot_running, "ms", ms);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* After the 202 is out (the flag was set before: GET /vm says "stopping" from then on). */
static void do_stop(struct api_server *s, bool hard)
{
    if (!s->m)
        return;
    if (hard)
        machine_request_stop(s->m);
    else /* the guest powers itself off; a reboot it asks for then is not a stop */
        machine_request_poweroff(s->m);
}

/* The status of the answer to a request http_parse judged parse_rc; with lock held. */
static int route(struct api_server *s, const struct http_message *req, int parse_rc,
                 const char **msg, int *stop_after, bool *wait)
{
    if (parse_rc == -EMSGSIZE)
        return *msg = "request too large", 413;
    if (parse_rc < 0)
        return *msg = "malformed HTTP request", 400;
    if (!strcmp(req->path, "/vm"))
        return strcmp(req->method, "GET") ? (*msg = "use GET /vm", 405) : 200;
    if (!strcmp(req->path, "/vm/state"))
        return strcmp(req->method, "PUT") ? (*msg = "use PUT /vm/state", 405)
                                          : put_state(s, req, msg);
    if (!strcmp(req->path, "/vm/memory")) {
        if (!strcmp(req->method, "GET"))
            return 200;
        return strcmp(req->method, "PUT") ? (*msg = "use GET or PUT /vm/memory", 405)
                                          : put_memory(s, req, msg);
    }
    if (!strcmp(req->path, "/vm/suspend"))
        return strcmp(req->method, "PUT") ? (*msg = "use PUT /vm/suspend", 405)
                                          : put_suspend(s, req, msg);
    if (!strcmp(req->path, "/vm/snapshot"))
        return strcmp(req->method, "PUT") ? (*msg = "use PUT /vm/snapshot", 405)
                                          : put_snapshot(s, req, msg, wait);
    if (!strcmp(req->path, "/vm/stop"))
        return strcmp(req->method, "PUT") ? (*msg = "use PUT /vm/stop", 405)
                                          : put_stop(req, msg, stop_after);
    return *msg = "no such resource; see docs/API.md", 404;
}

/* Sends what the socket takes now: 1 when the response is out, 0 for later, -errno. */
static int send_some(struct client *c)
{
    while (c->out_done < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_done, c->out_len - c->out_done,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        c->out_done += (size_t)n;
    }
    return 1;
}

/* Answers c's request; false when c is done (answered, or the answer cannot be sent). */
static bool respond(struct api_server *s, struct client *c, int parse_rc)
{
    const char *msg = NULL;
    int stop_after = 0;
    pthread_mutex_lock(&s->lock);
    bool wait = false;
    double ms = 0;
    int status = route(s, c->req, parse_rc, &msg, &stop_after, &wait);
    if (wait) {
        /* the run loop restarts the machine meanwhile: it needs the lock */
        pthread_mutex_unlock(&s->lock);
        int rc = s->info.snapshot_wait(s->info.suspend_opaque, &ms, &s->snapshot_err);
        pthread_mutex_lock(&s->lock);
        if (rc < 0)
            msg = s->snapshot_err.message, status = 500;
    }
    bool snapshot = status == 200 && !strcmp(c->req->path, "/vm/snapshot");
    char *body = msg ? error_body(msg)
                 : snapshot ? snapshot_body(s, ms)
                 : status == 202 ? strdup("{\"state\":\"stopping\"}")
                 : status == 200 && !strcmp(c->req->path, "/vm/memory") ? memory_body(s)
                 : status == 200 ? state_body(s) : NULL;
    c->out = http_response_text(status, body, &c->out_len);
    free(body);
    if (stop_after)
        atomic_store(&s->stop_requested, true);
    int rc = c->out ? send_some(c) : -ENOMEM;
    if (stop_after)
        do_stop(s, stop_after == 2);
    pthread_mutex_unlock(&s->lock);
    return rc == 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void client_close(struct api_server *s, unsigned i)
{
    struct client *c = &s->clients[i];
    close(c->fd);
    free(c->req);
    free(c->out);
    s->clients[i] = s->clients[--s->nclients];
}

/* One step of c on poll's events; false when c is done. */
static bool client_step(struct api_server *s, struct client *c, short revents)
{
    if (c->out)
        return send_some(c) == 0;
    ssize_t n = recv(c->fd, c->req->buf + c->got, HTTP_MAX_MESSAGE - c->got, MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0)
        return false; /* gone before its request was complete: nobody to answer */
    c->got += (size_t)n;
    int rc = http_parse(c->req, c->got, 1);
    return rc == 0 || respond(s, c, rc == 1 ? 0 : rc);
}

/* Only the VM's own uid may drive it (root included: the socket's 0600 does not stop
 * root, this does). */
static bool peer_allowed(struct api_server *s, int fd)
{
    uid_t uid;
    if (usock_peer_is_owner(fd, &uid))
        return true;
    unsigned more;
    if (log_ratelimit(&s->refused_log, 1000, &more))
        log_warn("control socket: refused a connection from uid %d (only uid %u may connect; "
                 "%u more refused since the last warning)", (int)uid, (unsigned)process_owner(), more);
    return false;
}

/* A round takes at most half the table: a client accepted in one round is read in the
 * next before anyone newer can push it out. */
static void accept_clients(struct api_server *s)
{
    for (int i = 0; i < MAX_CLIENTS / 2; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (!peer_allowed(s, fd)) {
            close(fd);
            continue;
        }
        struct http_message *req = malloc(sizeof *req);
        if (!req) {
            close(fd);
            return;
        }
        http_message_reset(req);
        if (s->nclients == MAX_CLIENTS) {
            unsigned oldest = 0;
            for (unsigned j = 1; j < s->nclients; j++)
                if (s->clients[j].deadline < s->clients[oldest].deadline)
                    oldest = j;
            log_debug("control socket: %d connections open; dropping the oldest", MAX_CLIENTS);
            client_close(s, oldest);
        }
        s->clients[s->nclients++] =
            (struct client){.fd = fd, .deadline = now_ms() + REQUEST_TIMEOUT_MS, .req = req};
    }
}

static void *server_main(void *arg)
{
    struct api_server *s = arg;
    struct pollfd p[2 + MAX_CLIENTS];
    for (;;) {
        long long now = now_ms(), wait = -1;
        for (unsigned i = s->nclients; i-- > 0;) {
            if (s->clients[i].deadline <= now)
                client_close(s, i); /* a client that sent too little or reads too slowly */
        }
        p[0] = (struct pollfd){s->listen_fd, POLLIN, 0};
        p[1] = (struct pollfd){s->wake_fd, POLLIN, 0};
        for (unsigned i = 0; i < s->nclients; i++) {
            struct client *c = &s->clients[i];
            p[2 + i] = (struct pollfd){c->fd, c->out ? POLLOUT : POLLIN, 0};
            if (wait < 0 || c->deadline - now < wait)
                wait = c->deadline - now;
        }
        int n = poll(p, 2 + s->nclients, (int)wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[1].revents & POLLIN))
            break;
        for (unsigned i = s->nclients; i-- > 0;) {
            if (p[2 + i].revents && !client_step(s, &s->clients[i], p[2 + i].revents))
                client_close(s, i);
        }
        if (p[0].revents & POLLIN)
            accept_clients(s);
    }
    while (s->nclients)
        client_close(s, 0);
    return NULL;
}

int api_server_start(const char *sock_path, const struct api_server_info *info,
                     struct api_server **out, struct cove_error *err)
{
    struct api_server *s = calloc(1, sizeof *s);
    if (!s)
        return cove_error_set(err, -ENOMEM, "out of memory");
    snprintf(s->path, sizeof s->path, "%s", sock_path);
    snprintf(s->name, sizeof s->name, "%s", info->name);
    s->info = *info;
    s->info.name = s->name;
    s->listen_fd = s->wake_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_un addr;
    int dirfd = -1;
    int rc = http_unix_addr(sock_path, &addr, &dirfd);
    if (rc < 0) {
        cove_error_set(err, rc, "%s: %s", sock_path, strerror(-rc));
        goto fail;
    }
    unlink(addr.sun_path); /* a socket left by a VM that was killed */
    s->listen_fd = usock_listen_private(&addr, SOCK_CLOEXEC | SOCK_NONBLOCK, LISTEN_BACKLOG);
    if (s->listen_fd < 0) {
        rc = cove_error_set(err, s->listen_fd, "cannot serve %s: %s", sock_path,
                            strerror(-s->listen_fd));
        s->listen_fd = -1;
        goto fail;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (s->wake_fd < 0) {
        rc = cove_error_set(err, -errno, "cannot serve %s: %s", sock_path, strerror(errno));
        goto fail;
    }
    if (dirfd >= 0)
        close(dirfd);
    dirfd = -1;
    if ((rc = -pthread_create(&s->thread, NULL, server_main, s)) < 0) {
        cove_error_set(err, rc, "cannot start the control socket thread: %s", strerror(-rc));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (dirfd >= 0)
        close(dirfd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return rc;
}

void api_server_set_machine(struct api_server *s, struct machine *m)
{
    pthread_mutex_lock(&s->lock);
    s->m = m;
    if (s->memory_target_mib)
        apply_memory_target(s); /* a guest reboot keeps the size the user asked for */
    pthread_mutex_unlock(&s->lock);
}

bool api_server_stop_requested(struct api_server *s)
{
    return atomic_load(&s->stop_requested);
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0) {
        /* cannot fail for a fresh eventfd; the join below would then hang, so be loud */
        log_error("control socket: cannot wake the server thread: %s", strerror(errno));
    }
    pthread_join(s->thread, NULL);
    struct sockaddr_un addr;
    int dirfd;
    if (http_unix_addr(s->path, &addr, &dirfd) == 0) {
        unlink(addr.sun_path);
        if (dirfd >= 0)
            close(dirfd);
    }
    close(s->listen_fd);
    close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
