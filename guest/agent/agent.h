/*
 * agent.h — pieces of cove-agent shared by its files: frame I/O on the connection and the
 * parsed request. The agent trusts nothing the host sends: every length is bounded and
 * every string is checked to end inside its frame.
 */
#ifndef COVE_AGENT_AGENT_H
#define COVE_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

struct request {
    char *buf;                   /* the request payload (owned) */
    const char *op;
    const char *args[AGENT_MAX_ARGS + 1]; /* NULL-terminated */
    unsigned nargs;
    const char *envs[AGENT_MAX_ARGS + 1];
    unsigned nenvs;
    const char *keys[64], *values[64];    /* the other pairs */
    unsigned npairs;
};

/* Splits a payload of key/value pairs (a request, a tree entry) into r: 0, or -1 when a
 * string does not end inside it or there are too many. */
int parse_pairs(char *buf, uint32_t len, struct request *r);

/* The value of key in the request, or NULL. */
const char *req_get(const struct request *r, const char *key);

/* Blocking frame I/O (the exec loop does its own non-blocking version). */
int write_all(int fd, const void *buf, size_t len);
int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len);
/* Reads one frame: 0 and *len set (payload into buf, which holds AGENT_FRAME_MAX),
 * -1 on EOF, error or an oversized frame. timeout_ms < 0 waits forever. */
int recv_frame(int fd, uint8_t *type, uint8_t *stream, void *buf, uint32_t *len, int timeout_ms);

void send_exit(int fd, uint8_t how, uint32_t value);
void send_error(int fd, uint8_t kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* exec.c: runs the request's command, streaming its I/O over fd; returns when it is over. */
void do_exec(int fd, const struct request *r);

/* ports.c: the guest's listening TCP and UDP ports (the request "ports"). */
void do_ports(int fd);

/* tree.c: cove cp -r, a directory tree streamed as entries (protocol.h). */
void do_getdir(int fd, const struct request *r, uint8_t *buf);
void do_putdir(int fd, const struct request *r, uint8_t *buf);

#endif
