/* The control socket's HTTP parser (src/vm/http.c): requests come from local clients that
 * are not trusted, so every malformed or oversized form must be refused, and a valid one
 * must parse whatever the order of its headers and however its bytes arrive. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "vm/http.h"

static struct http_message msg;

/* Writes the request in one piece before reading it (the socket buffer holds it). */
static int read_request(const char *text)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -errno;
    ssize_t n = write(sv[1], text, strlen(text));
    int rc = n == (ssize_t)strlen(text) ? http_read(sv[0], 1, 500, &msg) : -EIO;
    close(sv[0]);
    close(sv[1]);
    return rc;
}

struct chunks {
    int fd;
    const char *const *parts;
};

/* Each part in its own write, 30 ms apart, so the reader sees them in separate reads. */
static void *write_chunks(void *arg)
{
    struct chunks *c = arg;
    for (const char *const *p = c->parts; *p; p++) {
        struct timespec ts = {0, 30 * 1000000};
        nanosleep(&ts, NULL);
        if (write(c->fd, *p, strlen(*p)) < 0)
            break;
    }
    return NULL;
}

static int read_in_chunks(const char *const *parts, int timeout_ms)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -errno;
    struct chunks c = {sv[1], parts};
    pthread_t t;
    pthread_create(&t, NULL, write_chunks, &c);
    int rc = http_read(sv[0], 1, timeout_ms, &msg);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

TEST(content_length_last)
{
    CHECK(read_request("PUT /vm/state HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
          == 0);
    CHECK_STR(msg.method, "PUT");
    CHECK_STR(msg.path, "/vm/state");
    CHECK_STR(msg.body, "hello");
    CHECK_EQ_U64(msg.body_len, 5);
}

TEST(content_length_first)
{
    CHECK(read_request("PUT /vm/stop HTTP/1.1\r\ncontent-length:2\r\nHost: x\r\n\r\n{}") == 0);
    CHECK_STR(msg.body, "{}");
    CHECK_EQ_U64(msg.body_len, 2);
}

TEST(content_length_only_header)
{
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 3 \r\n\r\nabc") == 0);
    CHECK_STR(msg.body, "abc");
}

TEST(content_length_missing)
{
    /* No body; what follows the headers is ignored. */
    CHECK(read_request("GET /vm HTTP/1.1\r\nHost: x\r\n\r\ntrailing") == 0);
    CHECK_STR(msg.method, "GET");
    CHECK_STR(msg.body, "");
    CHECK_EQ_U64(msg.body_len, 0);
    CHECK(read_request("GET /vm HTTP/1.0\r\n\r\n") == 0);
    CHECK_STR(msg.path, "/vm");
}

TEST(content_length_duplicated)
{
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")
          == 0);
    CHECK_STR(msg.body, "ab");
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")
          == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab") == -EBADMSG);
}

TEST(content_length_oversized)
{
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 9000\r\n\r\n") == -EMSGSIZE);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 8192\r\n\r\n") == -EMSGSIZE);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: "
                       "99999999999999999999999999999999\r\n\r\n") == -EMSGSIZE);
    /* Headers that never end. */
    char *big = malloc(HTTP_MAX_MESSAGE + 100);
    strcpy(big, "GET /vm HTTP/1.1\r\nX: ");
    memset(big + strlen(big), 'a', HTTP_MAX_MESSAGE);
    big[HTTP_MAX_MESSAGE + 20] = 0;
    CHECK(read_request(big) == -EMSGSIZE);
    free(big);
}

TEST(content_length_not_a_number)
{
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: abc\r\n\r\n") == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: +1\r\n\r\nx") == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length: 1x\r\n\r\nx") == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length:\r\n\r\n") == -EBADMSG);
    CHECK(read_request("PUT /vm HTTP/1.1\r\nContent-Length : 1\r\n\r\nx") == -EBADMSG);
}

TEST(header_without_colon)
{
    CHECK(read_request("GET /vm HTTP/1.1\r\nHost x\r\n\r\n") == -EBADMSG);
    CHECK(read_request("GET /vm HTTP/1.1\r\n: empty name\r\n\r\n") == -EBADMSG);
    CHECK(read_request("GET /vm HTTP/1.1\r\nHost: x\nContent-Length: 1\r\n\r\nx") == -EBADMSG);
}

TEST(bad_start_line)
{
    CHECK(read_request("GET /vm\r\n\r\n") == -EBADMSG);
    CHECK(read_request("GET  /vm HTTP/1.1\r\n\r\n") == -EBADMSG);
    CHECK(read_request("GET /vm HTTP/2\r\n\r\n") == -EBADMSG);
    CHECK(read_request("VERYLONGMETHOD /vm HTTP/1.1\r\n\r\n") == -EBADMSG);
    CHECK(read_request("GET /vm HTTP/1.1 extra\r\n\r\n") == -EBADMSG);
}

TEST(transfer_encoding_refused)
{
    CHECK(read_request("PUT /vm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
          == -EBADMSG);
}

TEST(nul_byte_refused)
{
    static const char req[] = "PUT /vm HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b";
    memcpy(msg.buf, req, sizeof req - 1);
    CHECK(http_parse(&msg, sizeof req - 1, 1) == -EBADMSG);
}

TEST(body_split_across_reads)
{
    const char *parts[] = {"PUT /vm/state HTTP/1.1\r\nContent-Le", "ngth: 18\r\n\r",
                           "\n{\"state\":", "\"paused\"}", NULL};
    CHECK(read_in_chunks(parts, 2000) == 0);
    CHECK_STR(msg.body, "{\"state\":\"paused\"}");
    CHECK_EQ_U64(msg.body_len, 18);
}

TEST(byte_by_byte)
{
    /* The server feeds http_parse whatever arrived; every prefix must ask for more. */
    const char *req = "PUT /vm/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd";
    size_t len = strlen(req);
    http_message_reset(&msg);
    for (size_t i = 1; i < len; i++) {
        memcpy(msg.buf, req, i);
        CHECK(http_parse(&msg, i, 1) == 0);
    }
    memcpy(msg.buf, req, len);
    CHECK(http_parse(&msg, len, 1) == 1);
    CHECK_STR(msg.body, "abcd");
}

TEST(incomplete_body_times_out)
{
    const char *parts[] = {"PUT /vm HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", NULL};
    CHECK(read_in_chunks(parts, 200) == -ETIMEDOUT);
}

TEST(closed_early)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(write(sv[1], "GET /vm HTTP/1.1\r\n", 18) == 18);
    close(sv[1]);
    CHECK(http_read(sv[0], 1, 500, &msg) == -EBADMSG);
    close(sv[0]);
}

TEST(response)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(http_write_response(sv[1], 409, "{\"error\":\"x\"}") == 0);
    CHECK(http_read(sv[0], 0, 500, &msg) == 0);
    CHECK_EQ_U64(msg.status, 409);
    CHECK_STR(msg.body, "{\"error\":\"x\"}");
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    RUN(content_length_last);
    RUN(content_length_first);
    RUN(content_length_only_header);
    RUN(content_length_missing);
    RUN(content_length_duplicated);
    RUN(content_length_oversized);
    RUN(content_length_not_a_number);
    RUN(header_without_colon);
    RUN(bad_start_line);
    RUN(transfer_encoding_refused);
    RUN(nul_byte_refused);
    RUN(body_split_across_reads);
    RUN(byte_by_byte);
    RUN(incomplete_body_times_out);
    RUN(closed_early);
    RUN(response);
    return test_summary();
}
