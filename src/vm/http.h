/*
 * http.h — the little HTTP/1.1 the control socket speaks: one request per connection
 * (Connection: close), bodies sized by Content-Length, at most HTTP_MAX_MESSAGE bytes in
 * all. Requests from the socket are untrusted input: everything is bounded.
 */
#ifndef COVE_VM_HTTP_H
#define COVE_VM_HTTP_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define HTTP_MAX_MESSAGE 8192

struct http_message {
    char buf[HTTP_MAX_MESSAGE + 1];
    char method[8];
    char path[1024];   /* with the query (the web console's URLs are long) */
    int status;        /* responses */
    const char *body;  /* inside buf, NUL-terminated */
    size_t body_len;
};

/* Empties msg before its first http_parse. */
void http_message_reset(struct http_message *msg);

/* Whether the first got bytes of msg->buf hold a whole request (is_request) or response:
 * 1 when they do (the fields are filled; bytes after the body are ignored), 0 when more
 * are needed, -EBADMSG for malformed input (a header line without a colon, a
 * Content-Length that is not a number or repeats with another value, Transfer-Encoding,
 * a NUL byte), -EMSGSIZE past HTTP_MAX_MESSAGE. The one parser of both sides: call it
 * again with the same msg as bytes arrive. */
int http_parse(struct http_message *msg, size_t got, int is_request);

/* The value of header name (any case) of a message http_parse accepted, without the
 * whitespace around it, into out: 0, -ENOENT when it has none, -EMSGSIZE when the value
 * does not fit n bytes with its NUL. The first one when the header repeats. */
int http_header(const struct http_message *msg, const char *name, char *out, size_t n);

/* Reads one request (is_request) or response from fd within timeout_ms. 0, -EBADMSG for
 * malformed input, -EMSGSIZE, -ETIMEDOUT, or another -errno. */
int http_read(int fd, int is_request, int timeout_ms, struct http_message *msg);

/* A response with a JSON body (may be NULL), as text to send: malloc'd, *len bytes. */
char *http_response_text(int status, const char *body, size_t *len);

/* Writes a request or a response with a JSON body (may be NULL). */
int http_write_request(int fd, const char *method, const char *path, const char *body);
int http_write_response(int fd, int status, const char *body);

/* A sockaddr for a Unix socket path of any length: long paths go through
 * /proc/self/fd/N/NAME with *dirfd holding the directory open (close it after use;
 * -1 when unused). */
int http_unix_addr(const char *path, struct sockaddr_un *addr, int *dirfd);

/* One request on the socket at sock_path: connect, write, read the response. */
int http_call(const char *sock_path, const char *method, const char *path, const char *body,
              int timeout_ms, struct http_message *resp);

#endif
