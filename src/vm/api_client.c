/* The control socket's client side (used by cove stop/pause/resume/list/get). */
#include "vm/vm.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cove/cove.h>

#include "vm/http.h"

#define CALL_TIMEOUT_MS 3000
/* A suspend answers once guest memory is on disk: up to the VM's RAM size written. */
#define SUSPEND_TIMEOUT_MS 600000

/* Makes a call and turns a non-2xx answer into err with the server's message. */
static int call_within(const char *sock, const char *method, const char *path, const char *body,
                       int timeout_ms, struct http_message *resp, struct cove_error *err)
{
    int rc = http_call(sock, method, path, body, timeout_ms, resp);
    if (rc < 0)
        return cove_error_set(err, rc, "control socket %s: %s", sock, strerror(-rc));
    if (resp->status >= 200 && resp->status < 300)
        return 0;
    json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *e = o ? json_object_get(o, "error") : NULL;
    cove_error_set(err, -EPROTO, "the VM refused %s %s: %s", method, path,
                   json_is_string(e) ? json_string_value(e) : "(no message)");
    json_decref(o);
    return -EPROTO;
}

static int call(const char *sock, const char *method, const char *path, const char *body,
                struct http_message *resp, struct cove_error *err)
{
    return call_within(sock, method, path, body, CALL_TIMEOUT_MS, resp, err);
}

/* The run's network from GET /vm's "network" (absent: none). Values are checked as a
 * configuration's would be: the answer comes from another process. */
static void read_network(const json_t *net, struct cove_vm_info *info)
{
    const json_t *mac = json_object_get(net, "mac");
    const json_t *fw = json_object_get(net, "forwards");
    if (!json_is_string(mac) || cove_config_check_mac(json_string_value(mac), NULL) < 0)
        return;
    snprintf(info->run_mac, sizeof info->run_mac, "%s", json_string_value(mac));
    size_t i;
    const json_t *f;
    json_array_foreach(fw, i, f) {
        if (info->nrun_forwards == COVE_MAX_FORWARDS || !json_is_string(f) ||
            cove_config_check_forward(json_string_value(f), NULL) < 0)
            continue;
        char *copy = strdup(json_string_value(f));
        if (copy)
            info->run_forwards[info->nrun_forwards++] = copy;
    }
    json_array_foreach(json_object_get(net, "auto_forwards"), i, f) {
        const json_t *proto = json_object_get(f, "protocol");
        const json_t *host = json_object_get(f, "host_port"), *guest = json_object_get(f, "guest_port");
        if (info->nrun_auto_forwards == COVE_MAX_AUTO_FORWARDS || !json_is_string(proto) ||
            (strcmp(json_string_value(proto), "tcp") && strcmp(json_string_value(proto), "udp")) ||
            !json_is_integer(host) || !json_is_integer(guest) || json_integer_value(host) < 1 ||
            json_integer_value(host) > 65535 || json_integer_value(guest) < 1 ||
            json_integer_value(guest) > 65535)
            continue;
        info->run_auto_forwards[info->nrun_auto_forwards++] = (struct cove_auto_forward_info){
            !strcmp(json_string_value(proto), "udp"), (uint16_t)json_integer_value(host),
            (uint16_t)json_integer_value(guest)};
    }
}

int api_client_state(const char *sock_path, char *state, size_t n, struct cove_vm_info *info,
                     struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = call(sock_path, "GET", "/vm", NULL, resp, err);
    if (rc == 0) {
        json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
        json_t *s = o ? json_object_get(o, "state") : NULL;
        if (json_is_string(s))
            snprintf(state, n, "%s", json_string_value(s));
        else
            rc = cove_error_set(err, -EPROTO, "control socket %s: no state in the answer",
                                sock_path);
        json_t *net = o ? json_object_get(o, "network") : NULL;
        if (rc == 0 && info && json_is_object(net))
            read_network(net, info);
        json_decref(o);
    }
    free(resp);
    return rc;
}

int api_client_set_state(const char *sock_path, const char *state, struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    char body[64];
    snprintf(body, sizeof body, "{\"state\": \"%s\"}", state);
    int rc = call(sock_path, "PUT", "/vm/state", body, resp, err);
    free(resp);
    return rc;
}

int api_client_stop(const char *sock_path, bool force, struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = call(sock_path, "PUT", "/vm/stop", force ? "{\"force\": true}" : "{\"force\": false}",
                  resp, err);
    free(resp);
    return rc;
}

/* A non-negative integer member, else 0: the answer comes from another process. */
static uint64_t member_u64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int api_client_memory(const char *sock_path, struct cove_vm_memory *out, struct cove_error *err)
{
    memset(out, 0, sizeof *out);
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = call(sock_path, "GET", "/vm/memory", NULL, resp, err);
    json_t *o = rc == 0 ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    if (rc == 0 && !json_is_object(o))
        rc = cove_error_set(err, -EPROTO, "control socket %s: the answer is not JSON", sock_path);
    if (rc == 0) {
        out->known = true;
        out->size = member_u64(o, "memory") << 20;
        out->target = member_u64(o, "target") << 20;
        const json_t *b = json_object_get(o, "balloon"), *g = json_object_get(o, "guest");
        if (json_is_object(b)) {
            out->balloon = true;
            out->balloon_size = member_u64(b, "actual");
            out->returned = member_u64(b, "returned");
        }
        out->guest_total = member_u64(g, "total");
        out->guest_free = member_u64(g, "free");
        out->guest_available = member_u64(g, "available");
        out->guest_cached = member_u64(g, "cached");
    }
    json_decref(o);
    free(resp);
    return rc;
}

int api_client_set_memory(const char *sock_path, uint64_t memory_mib, struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    char body[64];
    snprintf(body, sizeof body, "{\"memory\": %llu}", (unsigned long long)memory_mib);
    int rc = call(sock_path, "PUT", "/vm/memory", body, resp, err);
    free(resp);
    return rc;
}

int api_client_suspend(const char *sock_path, struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    if (!resp)
        return cove_error_set(err, -ENOMEM, "out of memory");
    int rc = call_within(sock_path, "PUT", "/vm/suspend", "{}", SUSPEND_TIMEOUT_MS, resp, err);
    free(resp);
    return rc;
}

int api_client_snapshot(const char *sock_path, const char *action, const char *tag,
                        bool *running, double *ms, struct cove_error *err)
{
    struct http_message *resp = malloc(sizeof *resp);
    json_t *req = json_pack("{s:s, s:s}", "action", action, "tag", tag);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    int rc = !resp || !body ? cove_error_set(err, -ENOMEM, "out of memory")
                            : call_within(sock_path, "PUT", "/vm/snapshot", body,
                                          SUSPEND_TIMEOUT_MS, resp, err);
    free(body);
    if (rc == -EPROTO) {
        /* the VM's own words name the VM and the tag: no "the VM refused PUT ..." */
        json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *e = json_string_value(json_object_get(o, "error"));
        if (e)
            cove_error_set(err, rc, "%s", e);
        json_decref(o);
    }
    if (rc == 0) {
        json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
        json_t *r = json_object_get(o, "running"), *t = json_object_get(o, "ms");
        if (running)
            *running = json_is_true(r);
        if (ms)
            *ms = json_is_number(t) ? json_number_value(t) : 0;
        json_decref(o);
    }
    free(resp);
    return rc;
}
