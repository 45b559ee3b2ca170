/*
 * The control socket's server thread. Clients are local but not trusted: each connection
 * gets a bounded read with a timeout, and one request is served at a time (the API is a
 * handful of rare calls; a slow client delays others by at most the timeout).
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
#include <unistd.h>

#include "machine/machine.h"
#include "util/log.h"
#include "vm/http.h"

#define REQUEST_TIMEOUT_MS 2000

struct api_server {
    char path[4096];
    struct api_server_info info;
    char name[128];
    int listen_fd;
    int wake_fd;
    pthread_t thread;
    pthread_mutex_t lock; /* guards m while a request uses it */
    struct machine *m;
    atomic_bool stop_requested;
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
        json_object_set_new(o, "network", json_pack("{s:s, s:o}", "mac", s->info.mac,
                                                     "forwards", fw));
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

/* Answers at once (202), then asks the guest; the client watches the process end. */
static int put_stop(struct api_server *s, int fd, const struct http_message *req,
                    const char **msg)
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
    bool hard = json_is_true(force);
    json_decref(o);
    http_write_response(fd, 202, "{\"state\":\"stopping\"}");
    if (hard || !s->m) {
        atomic_store(&s->stop_requested, true);
        if (s->m)
            machine_request_stop(s->m);
    } else {
        /* The guest powers itself off; a reboot it asks for then is not a stop. */
        atomic_store(&s->stop_requested, true);
        machine_request_poweroff(s->m);
    }
    return 0;
}

static void serve(struct api_server *s, int fd)
{
    struct http_message *req = malloc(sizeof *req);
    if (!req)
        return;
    int rc = http_read(fd, 1, REQUEST_TIMEOUT_MS, req);
    const char *msg = NULL;
    int status;
    char *body = NULL;
    pthread_mutex_lock(&s->lock);
    if (rc == -EMSGSIZE) {
        status = 413, msg = "request too large";
    } else if (rc < 0) {
        status = 400, msg = "malformed HTTP request";
    } else if (!strcmp(req->path, "/vm")) {
        if (strcmp(req->method, "GET"))
            status = 405, msg = "use GET /vm";
        else
            status = 200;
    } else if (!strcmp(req->path, "/vm/state")) {
        status = strcmp(req->method, "PUT") ? (msg = "use PUT /vm/state", 405)
                                             : put_state(s, req, &msg);
    } else if (!strcmp(req->path, "/vm/stop")) {
        status = strcmp(req->method, "PUT") ? (msg = "use PUT /vm/stop", 405)
                                             : put_stop(s, fd, req, &msg);
    } else {
        status = 404, msg = "no such resource; see docs/API.md";
    }
    if (status == 200)
        body = state_body(s);
    pthread_mutex_unlock(&s->lock);
    if (status) {
        if (msg)
            body = error_body(msg);
        http_write_response(fd, status, body);
    }
    free(body);
    free(req);
}

static void *server_main(void *arg)
{
    struct api_server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->listen_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[1].revents & POLLIN))
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve(s, fd);
        close(fd);
    }
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
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    s->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (s->listen_fd < 0 || s->wake_fd < 0 ||
        bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(s->listen_fd, 8) < 0) {
        rc = cove_error_set(err, -errno, "cannot serve %s: %s", sock_path, strerror(errno));
        goto fail;
    }
    chmod(addr.sun_path, 0600); /* only the owner controls the VM */
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
