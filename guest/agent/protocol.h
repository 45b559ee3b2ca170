/*
 * protocol.h — the cove guest agent's wire protocol (docs/AGENT.md), shared by the agent
 * (guest/agent/) and its host-side client (src/agent/): constants and the byte order of
 * the frame header; both sides parse payloads with their own bounded code.
 *
 * One connection carries one request. Everything on it is a frame:
 *   [type u8][stream u8][len u32 little-endian][payload: len bytes], len <= AGENT_FRAME_MAX
 * A request (AGENT_T_REQUEST) and a result (AGENT_T_RESULT) carry key/value pairs as
 * NUL-terminated strings: "op\0exec\0arg\0ls\0arg\0-l\0". Keys may repeat (arg, env).
 */
#ifndef COVE_AGENT_PROTOCOL_H
#define COVE_AGENT_PROTOCOL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The agent listens on this vsock port; host programs reach it through the VM's hybrid
 * vsock socket with "CONNECT 1024\n". */
#define AGENT_PORT 1024

#define AGENT_HDR_SIZE 6
#define AGENT_FRAME_MAX 65536u

static inline void agent_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t agent_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Writes the AGENT_HDR_SIZE bytes of a frame header at h. */
static inline void agent_put_header(uint8_t *h, uint8_t type, uint8_t stream, uint32_t len)
{
    h[0] = type, h[1] = stream;
    agent_put_u32(h + 2, len);
}

/* Frame types. */
#define AGENT_T_REQUEST 'Q' /* host -> agent, first frame: key/value pairs */
#define AGENT_T_DATA 'D'    /* a chunk of a stream; len 0 ends that stream */
#define AGENT_T_SIGNAL 'K'  /* host -> agent: u32 LE signal number for the command */
#define AGENT_T_WINSIZE 'W' /* host -> agent: u16 LE rows, u16 LE cols (tty) */
#define AGENT_T_RESULT 'R'  /* agent -> host: key/value pairs (ip, get) */
#define AGENT_T_ERROR 'E'   /* agent -> host: u8 AGENT_ERR_*, then a message (text) */
#define AGENT_T_EXIT 'X'    /* agent -> host, last frame: u8 how, u32 LE value */
#define AGENT_T_ENTRY 'F'   /* both: one entry of a directory tree (putdir, getdir) */

/* Streams of AGENT_T_DATA. */
#define AGENT_STDIN 0       /* host -> agent: stdin, or the file of a put */
#define AGENT_STDOUT 1      /* agent -> host: stdout (the tty with -t), or the file of a get */
#define AGENT_STDERR 2

/* AGENT_T_EXIT's "how". */
#define AGENT_EXITED 0      /* value: exit status */
#define AGENT_SIGNALED 1    /* value: signal number */

/* AGENT_T_ERROR's kind. */
#define AGENT_ERR_NOT_FOUND 1   /* command not found (exit 127) */
#define AGENT_ERR_CANNOT_RUN 2  /* not executable, bad directory (exit 126) */
#define AGENT_ERR_REQUEST 3     /* malformed or unknown request */
#define AGENT_ERR_IO 4          /* a file operation failed */

/* Bounds the agent enforces on requests. */
#define AGENT_MAX_ARGS 4096

/* The protocol's version (docs/AGENT.md, "Versions"): 2 added the request "ports". An
 * agent of version 1 answers a request it does not know with AGENT_ERR_REQUEST. */
#define AGENT_PROTOCOL_VERSION 2

/* "ports": the R frame holds at most this many pairs of each protocol, "tcp" or "udp" with
 * a port 1..65535 in decimal; the host refuses more, or anything else. */
#define AGENT_PORTS_MAX 512

/* A directory tree (cove cp -r) is a stream of F frames, key/value pairs like a request:
 *   type d, name, mode   a directory: the entries after it are inside it, up to a u
 *   type u               leaves the current directory (which gets its mode then)
 *   type f, name, mode, size   a file: exactly size bytes in the D frames after it
 *   type l, name, link   a symbolic link
 * Names are single path components; an empty D frame between entries, at the top, ends
 * the tree. Both sides refuse a tree past these bounds. */
#define AGENT_TREE_MAX_ENTRIES 100000u
#define AGENT_TREE_MAX_DEPTH 64u
#define AGENT_TREE_MAX_BYTES (64ull << 30)
#define AGENT_TREE_NAME_MAX 255u
#define AGENT_TREE_LINK_MAX 4095u

/* A name one side may create in a directory: one component, not "." or "..". */
static inline bool agent_tree_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n && n <= AGENT_TREE_NAME_MAX && !strchr(s, '/') && strcmp(s, ".") &&
           strcmp(s, "..");
}

/* A link target that stays inside the tree from a link depth directories below its root,
 * however the links in it resolve: relative, its ".." only leading (through the real
 * directories above the link) and at most depth of them. */
static inline bool agent_tree_link_ok(const char *t, unsigned depth)
{
    size_t n = strlen(t);
    if (!n || n > AGENT_TREE_LINK_MAX || t[0] == '/')
        return false;
    bool named = false;
    unsigned up = 0;
    for (const char *c = t; *c;) {
        const char *e = strchr(c, '/');
        size_t k = e ? (size_t)(e - c) : strlen(c);
        if (k == 2 && c[0] == '.' && c[1] == '.') {
            if (named || ++up > depth)
                return false;
        } else if (k && !(k == 1 && c[0] == '.')) {
            named = true;
        }
        c += k + (e ? 1 : 0);
    }
    return true;
}

#endif
