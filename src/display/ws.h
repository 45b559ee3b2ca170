/*
 * ws.h — the WebSocket protocol (RFC 6455) as the web console's server speaks it: the
 * opening handshake's accept key, and frames. Frames from a client are untrusted input:
 * they must be masked, carry no RSV bits and a known opcode, control frames are final and
 * at most 125 bytes, and no payload exceeds the caller's bound.
 */
#ifndef COVE_DISPLAY_WS_H
#define COVE_DISPLAY_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

#define WS_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

struct ws_frame {
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;      /* payload bytes */
    size_t header_len; /* bytes before the payload */
};

/* The header of the frame at buf[0..n) from a client: 1 with *f filled, 0 when more bytes
 * are needed, -EBADMSG for a protocol error (unmasked, RSV bits, unknown opcode, a control
 * frame that is fragmented or longer than 125 bytes, a length not in its shortest form),
 * -EMSGSIZE for a payload longer than max_payload. */
int ws_parse_header(const uint8_t *buf, size_t n, uint64_t max_payload, struct ws_frame *f);

/* Unmasks (or masks) n payload bytes that start at byte offset of the payload. */
void ws_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset);

/* The header of an unmasked, final server frame of len bytes into out (at least
 * WS_MAX_HEADER bytes): its length. */
size_t ws_header_encode(uint8_t *out, uint8_t opcode, uint64_t len);

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (24 base64 characters that
 * decode to 16 bytes): 0 with out NUL-terminated, -EINVAL for a malformed key. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The state of a client's message stream: fragments follow their first frame. */
struct ws_stream {
    bool in_message; /* a data frame without FIN came, continuations follow */
};

/* Checks f's place in the stream (a continuation without a message, a new data frame
 * inside one: -EBADMSG) and moves the stream on. 0 when fine. */
int ws_stream_next(struct ws_stream *s, const struct ws_frame *f);

#endif
