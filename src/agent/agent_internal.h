/*
 * agent_internal.h — frame I/O, deadlines and request building shared by the agent
 * client's files.
 *
 * The guest agent is not trusted: every wait on it has a deadline. Deadlines are absolute
 * times on CLOCK_MONOTONIC in milliseconds (agent_now_ms), AGENT_NEVER for none.
 */
#ifndef COVE_AGENT_INTERNAL_H
#define COVE_AGENT_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <cove/error.h>

#include "agent/agent_frame.h"

/* A frame the agent began must be whole within this: a byte now and then is no answer. */
#define AGENT_FRAME_TIMEOUT_MS 10000
/* The whole answer to ip, ping and clock. */
#define AGENT_REQUEST_TIMEOUT_MS 10000
/* The agent answers poweroff before it does anything: stop's other ways wait on it. */
#define AGENT_POWEROFF_TIMEOUT_MS 3000
/* A copy: no frame for this long ends it; its whole time is this plus its size at the
 * rate below (the agent streams at tens of MiB/s). */
#define AGENT_IDLE_TIMEOUT_MS 30000
#define AGENT_MIN_BYTES_PER_S (1024L * 1024)

/* A tree (cove cp -r): on top of its bytes, this long per entry (each one is a few system
 * calls in a guest that may be slow). */
#define AGENT_MS_PER_ENTRY 20

#define AGENT_NEVER LONG_MAX
#define AGENT_NEVER_MS (-1L)

long agent_now_ms(void);
/* from + ms, AGENT_NEVER when ms < 0 (or past the end of time). */
long agent_deadline(long from, long ms);

/* agent_copy.c: how long a copy of size bytes may take in all, from start. */
long agent_copy_deadline(long start, uint64_t size);
/* The last path component of path, copied into buf (for copies into a directory). */
const char *agent_base_name(const char *path, char *buf, size_t n);
/* The process's umask, without changing it (umask(2) cannot read it, and a library must
 * not set it while other threads create files): 077, the strictest, if /proc cannot say. */
mode_t agent_umask(void);

/* A request being built: NUL-terminated key/value strings. */
struct agent_req {
    char buf[AGENT_FRAME_MAX];
    uint32_t len;
    bool overflow;
};

void req_add(struct agent_req *r, const char *key, const char *value);
int req_send(int fd, const struct agent_req *r, long deadline, struct cove_error *err);

/* Writes on the (blocking) connection by deadline: 0, -ETIMEDOUT, -ECONNRESET. */
int conn_write(int fd, const void *buf, size_t len, long deadline);
int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len,
               long deadline);
/* One frame, payload into buf (AGENT_FRAME_MAX bytes): its first byte within idle_ms
 * (AGENT_NEVER_MS: no limit), the rest within AGENT_FRAME_TIMEOUT_MS of it, all by
 * deadline. 0, or -ETIMEDOUT, -ECONNRESET, -EPROTO (oversized) with err set. */
int recv_frame(int fd, struct agent_frame *f, uint8_t *buf, long idle_ms, long deadline,
               struct cove_error *err);

/* Reads the frames of an answer by r's rules up to the exit frame, all by deadline; R
 * payloads go to result (if given). Returns the exit value (>= 0), or a negative errno
 * (the E frame's code when the agent reported an error: err says which). */
int read_reply(int fd, uint8_t *buf, struct agent_reply *r, char *result, size_t result_len,
               uint32_t *result_got, long deadline, struct cove_error *err);

#endif
