/* The control socket's server (src/vm/api_server.c) without a VM: who can connect, and
 * clients that connect and stall must not delay one that asks at once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "vm/http.h"
#include "vm/vm.h"

#include <cove/cove.h>

static char dir[] = "/tmp/cove-test-api-XXXXXX";
static char sock[64];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct api_server *start(void)
{
    struct api_server_info info = {.name = "t", .pid = getpid(), .cpus = 1, .memory_mib = 64};
    struct api_server *s = NULL;
    struct cove_error err = {0};
    if (api_server_start(sock, &info, &s, &err) < 0)
        printf("  api_server_start: %s\n", err.message);
    return s;
}

/* A connection that sends nothing (non-blocking: a full backlog must not block us). */
static int stalled_client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    connect(fd, (struct sockaddr *)&a, sizeof a);
    return fd;
}

static int raw_call(const char *request, struct http_message *resp)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ? -errno : 0;
    if (rc == 0 && write(fd, request, strlen(request)) != (ssize_t)strlen(request))
        rc = -EIO;
    if (rc == 0)
        rc = http_read(fd, 0, 3000, resp);
    close(fd);
    return rc;
}

TEST(socket_is_private_whatever_the_umask)
{
    mode_t old = umask(0);
    struct api_server *s = start();
    umask(old);
    CHECK(s != NULL);
    struct stat st;
    CHECK(stat(sock, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ_U64(st.st_mode & 07777, 0600);
    api_server_stop(s);
    CHECK(access(sock, F_OK) < 0);
}

TEST(stalled_clients_do_not_delay_others)
{
    struct api_server *s = start();
    CHECK(s != NULL);
    int fds[50];
    for (int i = 0; i < 50; i++)
        fds[i] = stalled_client();
    for (int round = 0; round < 3; round++) {
        char state[32] = "";
        struct cove_error err = {0};
        long long t0 = now_ms();
        int rc = api_client_state(sock, state, sizeof state, NULL, &err);
        long long took = now_ms() - t0;
        if (rc < 0)
            printf("  api_client_state: %s\n", err.message);
        CHECK(rc == 0);
        CHECK_STR(state, "running");
        if (took > 1000)
            printf("  GET /vm took %lld ms behind 50 stalled clients\n", took);
        CHECK(took <= 1000);
        for (int i = 0; i < 8; i++) { /* more stalled ones arrive meanwhile */
            close(fds[i + round * 8]);
            fds[i + round * 8] = stalled_client();
        }
    }
    for (int i = 0; i < 50; i++)
        close(fds[i]);
    api_server_stop(s);
}

TEST(stalled_client_is_dropped_at_its_deadline)
{
    struct api_server *s = start();
    CHECK(s != NULL);
    int fd = stalled_client();
    CHECK(write(fd, "GET /vm HTTP/1.1\r\n", 18) == 18);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    long long t0 = now_ms();
    char c;
    CHECK(read(fd, &c, 1) == 0); /* closed by the server, nothing said */
    long long took = now_ms() - t0;
    CHECK(took >= 1500 && took < 4000);
    close(fd);
    api_server_stop(s);
}

TEST(requests_through_the_socket)
{
    struct api_server *s = start();
    CHECK(s != NULL);
    struct http_message *resp = malloc(sizeof *resp);
    /* Content-Length last, as curl sends it: the machine is not there (409), not a 400. */
    CHECK(raw_call("PUT /vm/state HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n"
                   "{\"state\":\"paused\"}", resp) == 0);
    CHECK_EQ_U64(resp->status, 409);
    CHECK(raw_call("GET /vm HTTP/1.1\r\nHost x\r\n\r\n", resp) == 0);
    CHECK_EQ_U64(resp->status, 400);
    CHECK(raw_call("PUT /vm HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", resp) == 0);
    CHECK_EQ_U64(resp->status, 413);
    CHECK(raw_call("GET /nope HTTP/1.1\r\n\r\n", resp) == 0);
    CHECK_EQ_U64(resp->status, 404);
    CHECK(!api_server_stop_requested(s));
    CHECK(raw_call("PUT /vm/stop HTTP/1.1\r\nContent-Length: 14\r\n\r\n{\"force\":true}", resp)
          == 0);
    CHECK_EQ_U64(resp->status, 202);
    CHECK_STR(resp->body, "{\"state\":\"stopping\"}");
    CHECK(api_server_stop_requested(s));
    free(resp);
    api_server_stop(s);
}

/* /vm/memory without a machine (between two): the range is checked, a target inside it
 * is remembered for the next machine and shown; a malformed body is a 400. */
TEST(memory_requests)
{
    struct api_server *s = start();
    REQUIRE(s != NULL);
    struct http_message *resp = malloc(sizeof *resp);
    struct cove_vm_memory m;
    struct cove_error err = {0};
    CHECK(api_client_memory(sock, &m, &err) == 0);
    CHECK(m.known && !m.balloon);
    CHECK_EQ_U64(m.size, 64 << 20);
    CHECK_EQ_U64(m.target, 64 << 20);
    CHECK(api_client_set_memory(sock, 65, &err) == -EPROTO); /* more than it has */
    CHECK(strstr(err.message, "16 to 64 MiB") != NULL);
    CHECK(api_client_set_memory(sock, 15, &err) == -EPROTO);
    CHECK(api_client_set_memory(sock, 32, &err) == 0);
    CHECK(api_client_memory(sock, &m, &err) == 0);
    CHECK_EQ_U64(m.target, 32 << 20);
    CHECK(raw_call("PUT /vm/memory HTTP/1.1\r\nContent-Length: 16\r\n\r\n{\"memory\": \"1G\"}",
                   resp) == 0);
    CHECK_EQ_U64(resp->status, 400);
    CHECK(raw_call("PUT /vm/memory HTTP/1.1\r\nContent-Length: 22\r\n\r\n{\"memory\": 32, \"x\": 1}",
                   resp) == 0);
    CHECK_EQ_U64(resp->status, 400);
    CHECK(raw_call("POST /vm/memory HTTP/1.1\r\n\r\n", resp) == 0);
    CHECK_EQ_U64(resp->status, 405);
    free(resp);
    api_server_stop(s);
}

/* In a child running as nobody: connect, ask, and exit 0 if the server closed the
 * connection without a byte, 1 if it answered, 2 if the connect itself failed. */
static int ask_as_nobody(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
            _exit(2);
        const char *req = "GET /vm HTTP/1.1\r\n\r\n";
        signal(SIGPIPE, SIG_IGN); /* the server may close before the write */
        (void)!write(fd, req, strlen(req));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[64];
        _exit(poll(&p, 1, 2000) == 1 && read(fd, buf, sizeof buf) <= 0 ? 0 : 1); /* EOF, reset */
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The socket's mode keeps other users out, but not root: the peer's uid is checked too.
 * Here the mode is opened up so that only that check stands between nobody and the VM. */
TEST(only_the_owner_uid_is_served)
{
    if (geteuid() != 0) {
        test_skip("needs root to run a peer as another uid");
        return;
    }
    struct api_server *s = start();
    REQUIRE(s != NULL);
    CHECK(chmod(dir, 0711) == 0);
    CHECK(chmod(sock, 0666) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_U64(ask_as_nobody(), 0);
    struct http_message *resp = malloc(sizeof *resp);
    CHECK(raw_call("GET /nope HTTP/1.1\r\n\r\n", resp) == 0);
    CHECK_EQ_U64(resp->status, 404);
    free(resp);
    api_server_stop(s);
    chmod(dir, 0700);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(sock, sizeof sock, "%s/api.sock", dir);
    RUN(socket_is_private_whatever_the_umask);
    RUN(stalled_clients_do_not_delay_others);
    RUN(stalled_client_is_dropped_at_its_deadline);
    RUN(requests_through_the_socket);
    RUN(memory_requests);
    RUN(only_the_owner_uid_is_served);
    rmdir(dir);
    return test_summary();
}
