/*
 * agent_internal.h — frame I/O and request building shared by the agent client's files.
 */
#ifndef COVE_AGENT_INTERNAL_H
#define COVE_AGENT_INTERNAL_H

#include <stdint.h>

#include <cove/error.h>

#include "../../guest/agent/protocol.h"

/* How long a request waits for the agent's next frame once it accepted the connection. */
#define AGENT_ANSWER_TIMEOUT_MS 30000

/* A request being built: NUL-terminated key/value strings. */
struct agent_req {
    char buf[AGENT_FRAME_MAX];
    uint32_t len;
    bool overflow;
};

void req_add(struct agent_req *r, const char *key, const char *value);
int req_send(int fd, const struct agent_req *r, struct cove_error *err);

/* Blocking I/O on the (blocking) connection; -ECONNRESET when it broke. */
int conn_write(int fd, const void *buf, size_t len);
int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len);
/* One frame into buf (AGENT_FRAME_MAX bytes); timeout_ms < 0: no limit. Returns 0,
 * -ECONNRESET (EOF, error, oversized frame) or -ETIMEDOUT. */
int recv_frame(int fd, uint8_t *type, uint8_t *stream, uint8_t *buf, uint32_t *len,
               int timeout_ms);

/* The usual end of a request: reads frames up to the exit frame. R payloads go to result
 * (if given), an E frame's text to err. Returns the exit value (>= 0), or a negative errno
 * (-EIO when the agent reported an error: err says which). */
int finish_request(int fd, uint8_t *buf, char *result, size_t result_len, uint32_t *result_got,
                   struct cove_error *err);

#endif
