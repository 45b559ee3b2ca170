/* The NBD block attachment (block_nbd.c) against a real nbdkit (Debian's), started and
 * stopped here on a Unix socket: data lands in nbdkit's backing file, a server that is
 * killed makes requests fail, a server that comes back is used again, read-only exports
 * make read-only attachments, and a server that never answers costs a bounded wait. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/block.h"
#include "test.h"

#define DISK_SIZE (4u << 20)

static char dir[] = "/tmp/cove-test-nbd-XXXXXX";
static char image[96], sock[96], uri[200];
static pid_t server;

static bool have_nbdkit(void)
{
    return system("nbdkit --version >/dev/null 2>&1") == 0;
}

static bool listening(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock, strlen(sock) + 1); /* /tmp/...: fits */
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* nbdkit's file plugin on image, serving on sock (read-only with ro). */
static void start_server(bool ro)
{
    unlink(sock);
    server = fork();
    if (server == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        if (ro)
            execlp("nbdkit", "nbdkit", "-f", "-r", "-U", sock, "file", image, (char *)NULL);
        else
            execlp("nbdkit", "nbdkit", "-f", "-U", sock, "file", image, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !listening(); i++)
        usleep(10000);
}

static void kill_server(void)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
    }
    server = 0;
}

static uint8_t file_byte(uint64_t off)
{
    uint8_t b = 0xee;
    int fd = open(image, O_RDONLY);
    if (pread(fd, &b, 1, (off_t)off) != 1)
        b = 0xee;
    close(fd);
    return b;
}

static struct block_attachment *open_rw(bool ro)
{
    struct block_attachment *b = NULL;
    struct cove_error err = {0};
    struct block_options o = {.read_only = ro};
    if (block_open(uri, &o, &b, &err) < 0)
        printf("  %s\n", err.message);
    return b;
}

TEST(writes_reach_the_backing_file)
{
    start_server(false);
    struct block_attachment *b = open_rw(false);
    REQUIRE(b != NULL);
    CHECK_EQ_U64(b->size, DISK_SIZE);
    CHECK(!b->read_only);
    static uint8_t one[3000], two[5192];
    memset(one, 0xa5, sizeof one);
    memset(two, 0x5a, sizeof two);
    struct iovec v[2] = {{one, sizeof one}, {two, sizeof two}};
    CHECK(b->ops->writev(b, v, 2, 65536) == 0);
    CHECK(b->ops->flush(b) == 0);
    CHECK_EQ_U64(file_byte(65536), 0xa5);
    CHECK_EQ_U64(file_byte(65536 + 2999), 0xa5);
    CHECK_EQ_U64(file_byte(65536 + 3000), 0x5a);
    CHECK_EQ_U64(file_byte(65536 + 8191), 0x5a);
    static uint8_t back[8192];
    struct iovec r = {back, sizeof back};
    CHECK(b->ops->readv(b, &r, 1, 65536) == 0);
    CHECK(back[0] == 0xa5 && back[8191] == 0x5a);
    /* in two buffers (the bounced path), split inside the first write's bytes */
    static uint8_t b1[1000], b2[7192];
    struct iovec r2[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    CHECK(b->ops->readv(b, r2, 2, 65536) == 0);
    CHECK(b1[0] == 0xa5 && b1[999] == 0xa5 && b2[1999] == 0xa5 && b2[2000] == 0x5a &&
          b2[7191] == 0x5a);
    CHECK(b->ops->write_zeroes(b, 65536, 4096, false) == 0);
    CHECK_EQ_U64(file_byte(65536), 0);
    CHECK_EQ_U64(file_byte(65536 + 4096), 0x5a);
    CHECK(b->ops->discard(b, 0, 65536) == 0);
    block_close(b);
    kill_server();
}

TEST(server_killed_then_back)
{
    start_server(false);
    struct block_attachment *b = open_rw(false);
    REQUIRE(b != NULL);
    static uint8_t buf[4096];
    memset(buf, 0x77, sizeof buf);
    struct iovec v = {buf, sizeof buf};
    CHECK(b->ops->writev(b, &v, 1, 8192) == 0);
    kill_server();
    v = (struct iovec){buf, sizeof buf};
    CHECK(b->ops->readv(b, &v, 1, 8192) == -EIO);
    v = (struct iovec){buf, sizeof buf};
    CHECK(b->ops->writev(b, &v, 1, 8192) == -EIO);
    start_server(false);
    usleep(1100 * 1000); /* the reconnect interval */
    memset(buf, 0, sizeof buf);
    v = (struct iovec){buf, sizeof buf};
    CHECK(b->ops->readv(b, &v, 1, 8192) == 0);
    CHECK(buf[0] == 0x77 && buf[4095] == 0x77);
    CHECK(b->ops->flush(b) == 0);
    block_close(b);
    kill_server();
}

TEST(read_only_export)
{
    start_server(true);
    struct block_attachment *b = open_rw(false);
    REQUIRE(b != NULL);
    CHECK(b->read_only);
    block_close(b);
    kill_server();
}

TEST(unreachable_server)
{
    struct block_attachment *b = NULL;
    struct cove_error err = {0};
    struct block_options o = {0};
    unlink(sock);
    CHECK(block_open(uri, &o, &b, &err) < 0);
    CHECK(strstr(err.message, "cannot connect") != NULL);
    CHECK(strstr(err.message, uri) != NULL);
    CHECK(block_open("nbd://:99/x", &o, &b, &err) == -EINVAL);
}

/* A socket that takes connections and never says a word: the open gives up. */
TEST(silent_server)
{
    unlink(sock);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock, strlen(sock) + 1); /* /tmp/...: fits */
    REQUIRE(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0);
    struct block_attachment *b = NULL;
    struct cove_error err = {0};
    struct block_options o = {0};
    CHECK(block_open(uri, &o, &b, &err) < 0);
    CHECK(strstr(err.message, "cannot connect") != NULL);
    close(s);
}

int main(void)
{
    if (!have_nbdkit()) {
        test_skip("nbdkit is not installed (apt-get install nbdkit)");
        return test_summary();
    }
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return 1;
    snprintf(image, sizeof image, "%s/disk.img", dir);
    snprintf(sock, sizeof sock, "%s/nbd.sock", dir);
    snprintf(uri, sizeof uri, "nbd+unix:///?socket=%s", sock);
    int fd = open(image, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0)
        return 1;
    close(fd);
    RUN(writes_reach_the_backing_file);
    RUN(server_killed_then_back);
    RUN(read_only_export);
    RUN(unreachable_server);
    RUN(silent_server);
    kill_server();
    unlink(image);
    unlink(sock);
    rmdir(dir);
    return test_summary();
}
