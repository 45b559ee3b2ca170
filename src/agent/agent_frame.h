/*
 * agent_frame.h — the host's one parser of what the guest agent sends: frames split off a
 * byte buffer, and the rules each request's answer must follow. Pure functions, no I/O
 * (the fuzz target tests/fuzz/fuzz_agent.c drives them with arbitrary bytes).
 *
 * The agent is not trusted (docs/AGENT.md, "What the host trusts"): anything outside the
 * rules -- an unknown frame type or stream, a second error or result, data past the
 * announced size, an exit value no process can have -- is -EPROTO with a message, and the
 * caller drops the connection. Text from the guest reaches the user only through
 * agent_text(), which escapes control bytes.
 */
#ifndef COVE_AGENT_FRAME_H
#define COVE_AGENT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

#include "../../guest/agent/protocol.h"

struct agent_frame {
    uint8_t type, stream;
    uint32_t len;
    const uint8_t *payload;
};

/* The frame at the start of buf: the bytes it takes (header and payload) when it is all
 * there, 0 when more bytes are needed, -EPROTO when its length is over AGENT_FRAME_MAX. */
long agent_frame_split(const uint8_t *buf, size_t len, struct agent_frame *f);

/* Copies guest text into out (always NUL-terminated), every byte outside printable ASCII
 * written as \xNN, so nothing the guest says can drive the user's terminal. */
void agent_text(char *out, size_t n, const uint8_t *p, size_t len);

/* What a frame of an answer asks the caller to do. */
enum agent_feed {
    AGENT_FEED_MORE,   /* nothing: read the next frame */
    AGENT_FEED_RESULT, /* an R frame of an ip request: the payload is the result */
    AGENT_FEED_DATA,   /* file data (get) or output (exec): write the payload */
    AGENT_FEED_DONE,   /* the exit frame: the answer is complete */
    AGENT_FEED_ENTRY,  /* an F frame of a getdir: a tree entry */
};

/* The answer to one request/reply operation (everything but exec). */
enum agent_reply_kind {
    AGENT_REPLY_PLAIN,  /* ping, clock, poweroff, put: an optional E, then X */
    AGENT_REPLY_RESULT, /* ip: an optional R, an optional E, then X */
    AGENT_REPLY_FILE,   /* get: R with mode and size, exactly size bytes in D 1 frames, an
                           empty D 1, X 0; or E and X at any point */
};

struct agent_reply {
    enum agent_reply_kind kind;
    bool have_result, have_error, data_done;
    int error_code;      /* -EIO, or -EINVAL for an E of kind "bad request" */
    uint64_t size, got;  /* FILE: the size announced, the bytes taken so far */
    unsigned mode;       /* FILE: the mode announced, permission bits only */
    int status;          /* at AGENT_FEED_DONE: the exit value, 0..255 */
};

/* Takes the next frame of an answer. Returns an enum agent_feed, or -EPROTO (err says what
 * was wrong). An E frame's text goes to err (the caller reports it once the X came). */
int agent_reply_feed(struct agent_reply *r, const struct agent_frame *f, struct cove_error *err);

/* The answer to a getdir (cove cp -r out of the guest): R with the root's mode, then the
 * tree (protocol.h: F entries, each file's exact size in D 1 frames, an empty D 1 at the
 * top), X 0; or E and X at any point. Every name, link target, mode and bound is checked
 * here, so the caller creates only what the rules allow. */
struct agent_tree {
    bool have_result, have_error, done;
    int error_code;
    unsigned root_mode;  /* permission bits only */
    unsigned depth;      /* directories entered and not left */
    uint64_t entries, bytes;
    uint64_t left;       /* bytes of the current file still to come */
    int status;
};

struct agent_entry {
    char type;           /* 'd', 'u', 'f', 'l' */
    const char *name;    /* d, f, l: one path component (points into the frame) */
    const char *link;    /* l: the target, inside the tree */
    unsigned mode;       /* d, u, f: permission bits only */
    uint64_t size;       /* f */
};

/* Takes the next frame of a getdir: AGENT_FEED_RESULT for the root's mode, AGENT_FEED_ENTRY
 * with *e filled, AGENT_FEED_DATA for a file's bytes, AGENT_FEED_DONE; or -EPROTO. */
int agent_tree_feed(struct agent_tree *t, const struct agent_frame *f, struct agent_entry *e,
                    struct cove_error *err);

/* The answer to "ports" (the R frame's payload): pairs "tcp" or "udp" with a port, 1..65535
 * in decimal digits without a leading zero, at most AGENT_PORTS_MAX of each protocol, and
 * nothing else. A port named twice counts once. Fills out (room for 2 * AGENT_PORTS_MAX)
 * and *n: 0, or -EPROTO with err saying what was wrong. */
struct agent_port {
    uint16_t port;
    bool udp;
};
#define AGENT_PORTS_OUT_MAX (2 * AGENT_PORTS_MAX)
int agent_ports_parse(const uint8_t *p, size_t len, struct agent_port *out, unsigned *n,
                      struct cove_error *err);

/* The frames of a running exec. */
struct agent_exec_reply {
    bool have_error;
    int error_kind;      /* AGENT_ERR_* of the E frame */
    int status;          /* at AGENT_FEED_DONE: the exit status, or 128 + signal */
};

/* Takes the next frame of an exec: AGENT_FEED_DATA for output on stream 1 or 2 (the frame
 * says which), an E frame's text into message, AGENT_FEED_DONE with the status; anything
 * else is -EPROTO. */
int agent_exec_feed(struct agent_exec_reply *x, const struct agent_frame *f, char *message,
                    size_t message_len, struct cove_error *err);

#endif
