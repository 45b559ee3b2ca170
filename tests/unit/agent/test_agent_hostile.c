/*
 * The agent client against a hostile agent: a thread on the other end of a socketpair reads
 * the request and answers with whatever a guest's root could send (unknown frames, a drip,
 * silence, a setuid file, more data than announced, an impossible exit value, output on a
 * stream that does not exist, escape sequences). Every call must end within its deadline
 * with the right error, and write only what was asked. An alarm turns a hang into a
 * failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

#include "../test.h"
#include "agent/agent_client.h"
#include "agent/agent_internal.h"

/* What the fake agent sends once it read the request. */
struct script {
    uint8_t bytes[4096];
    size_t len;
    bool forever;     /* send bytes again and again until the client goes away */
    int drip_ms;      /* > 0: one byte, then this pause, and so on */
    bool hold;        /* then keep the connection open, saying nothing */
};

struct fake {
    int fd;
    struct script s;
    pthread_t thread;
};

static void add_frame(struct script *s, uint8_t type, uint8_t stream, const void *p, uint32_t len)
{
    agent_put_header(s->bytes + s->len, type, stream, len);
    memcpy(s->bytes + s->len + AGENT_HDR_SIZE, p, len);
    s->len += AGENT_HDR_SIZE + len;
}

static void add_exit(struct script *s, uint8_t how, uint32_t v)
{
    uint8_t p[5] = {how};
    agent_put_u32(p + 1, v);
    add_frame(s, AGENT_T_EXIT, 0, p, 5);
}

static void add_meta(struct script *s, const char *mode, const char *size)
{
    char m[64];
    int n = snprintf(m, sizeof m, "mode%c%s%csize%c%s", 0, mode, 0, 0, size);
    add_frame(s, AGENT_T_RESULT, 0, m, (uint32_t)n + 1);
}

static bool put(int fd, const void *p, size_t n)
{
    return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* The request frame, read plainly (the fake trusts the client). */
static bool read_request(int fd, uint8_t *buf)
{
    uint8_t h[AGENT_HDR_SIZE];
    size_t got = 0, want = sizeof h;
    while (got < want) {
        ssize_t n = recv(fd, got < sizeof h ? h + got : buf + got - sizeof h,
                         got < sizeof h ? sizeof h - got : want - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
        if (got == sizeof h)
            want += agent_get_u32(h + 2);
    }
    return h[0] == AGENT_T_REQUEST;
}

static void *fake_run(void *opaque)
{
    struct fake *f = opaque;
    static __thread uint8_t buf[AGENT_FRAME_MAX];
    if (!read_request(f->fd, buf))
        return NULL;
    do {
        if (f->s.drip_ms) {
            for (size_t i = 0; i < f->s.len; i++) {
                if (!put(f->fd, f->s.bytes + i, 1))
                    return NULL;
                usleep((useconds_t)f->s.drip_ms * 1000);
            }
        } else if (!put(f->fd, f->s.bytes, f->s.len)) {
            return NULL;
        }
    } while (f->s.forever);
    if (f->s.hold) { /* until the client closes its end */
        while (recv(f->fd, buf, sizeof buf, 0) > 0) {
        }
    }
    return NULL;
}

/* Starts the fake; *client is the host's end of the connection. */
static struct fake *fake_start(const struct script *s, int *client)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    struct fake *f = calloc(1, sizeof *f);
    f->fd = sv[1];
    f->s = *s;
    *client = sv[0];
    pthread_create(&f->thread, NULL, fake_run, f);
    return f;
}

static void fake_end(struct fake *f, int client)
{
    close(client);
    pthread_join(f->thread, NULL);
    close(f->fd);
    free(f);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static char dir[PATH_MAX];

/* How many entries the copy's directory has: a failed copy leaves none. */
static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* cove_agent_get against s into dir/out: the return code, *ms how long it took. */
static int get(const struct script *s, long *ms, struct cove_error *err)
{
    int c;
    struct fake *f = fake_start(s, &c);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/out", dir);
    long t0 = now_ms();
    int rc = cove_agent_get(c, "/x", path, err);
    if (ms)
        *ms = now_ms() - t0;
    fake_end(f, c);
    return rc;
}

/* --- ip, poweroff: overall deadlines ------------------------------------------------------ */

TEST(ip_unknown_frames_are_a_protocol_error)
{
    struct script s = {.forever = true};
    add_frame(&s, 'Z', 0, "junk", 4);
    int c;
    struct fake *f = fake_start(&s, &c);
    char out[256];
    struct cove_error err = {0};
    int rc = cove_agent_ip(c, out, sizeof out, &err);
    fake_end(f, c);
    CHECK(rc == -EPROTO);
    CHECK(cove_agent_exit_code(rc) == COVE_EXIT_LOST);
    CHECK(strstr(err.message, "protocol") != NULL);
}

TEST(poweroff_without_an_answer_ends_at_its_deadline)
{
    struct script s = {.hold = true};
    int c;
    struct fake *f = fake_start(&s, &c);
    long t0 = now_ms();
    struct cove_error err = {0};
    int rc = agent_poweroff(c, false, &err);
    long took = now_ms() - t0;
    fake_end(f, c);
    CHECK(rc == -ETIMEDOUT);
    CHECK(took >= AGENT_POWEROFF_TIMEOUT_MS - 100 && took < AGENT_POWEROFF_TIMEOUT_MS + 1000);
}

TEST(ip_escapes_the_guests_text)
{
    struct script s = {0};
    static const char r[] = "if\0e\033]0;x\007\0addr\0001.2.3.4/8";
    add_frame(&s, AGENT_T_RESULT, 0, r, sizeof r);
    add_exit(&s, AGENT_EXITED, 0);
    int c;
    struct fake *f = fake_start(&s, &c);
    char out[256];
    int rc = cove_agent_ip(c, out, sizeof out, NULL);
    fake_end(f, c);
    CHECK(rc == 0);
    CHECK_STR(out, "e\\x1b]0;x\\x07 1.2.3.4/8\n");
}

/* --- get ------------------------------------------------------------------------------------ */

TEST(get_keeps_permission_bits_only_and_the_umask)
{
    struct script s = {0};
    add_meta(&s, "6777", "5");
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "hello", 5);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "", 0);
    add_exit(&s, AGENT_EXITED, 0);
    mode_t old = umask(027);
    struct cove_error err = {0};
    int rc = get(&s, NULL, &err);
    umask(old);
    char path[PATH_MAX + 8];
    struct stat st;
    snprintf(path, sizeof path, "%s/out", dir);
    CHECK(rc == 0);
    REQUIRE(stat(path, &st) == 0);
    CHECK_EQ_U64(st.st_mode & 07777, 0750);
    CHECK_EQ_U64(st.st_size, 5);
    unlink(path);
}

TEST(get_stops_at_the_announced_size)
{
    struct script s = {0};
    add_meta(&s, "644", "5");
    /* announced 5, then 10 bytes, again and again */
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "0123456789", 10);
    s.forever = true;
    struct cove_error err = {0};
    long ms;
    int rc = get(&s, &ms, &err);
    CHECK(rc == -EPROTO);
    CHECK(strstr(err.message, "more data than") != NULL);
    CHECK(entries() == 0);
}

TEST(get_of_fewer_bytes_than_announced_fails)
{
    struct script s = {0};
    add_meta(&s, "644", "10");
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "hello", 5);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "", 0);
    add_exit(&s, AGENT_EXITED, 0);
    struct cove_error err = {0};
    CHECK(get(&s, NULL, &err) == -EPROTO);
    CHECK(entries() == 0);
}

TEST(get_with_an_impossible_exit_value_fails)
{
    struct script s = {0};
    add_meta(&s, "644", "2");
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "hi", 2);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "", 0);
    add_exit(&s, AGENT_EXITED, 0x80000000u);
    struct cove_error err = {0};
    int rc = get(&s, NULL, &err);
    CHECK(rc == -EPROTO);
    CHECK(rc != 0 && cove_agent_exit_code(rc) != 0);
    CHECK(entries() == 0);
}

TEST(get_that_drips_ends_at_the_frame_deadline)
{
    struct script s = {.drip_ms = 1000, .hold = true};
    add_meta(&s, "644", "5");
    struct cove_error err = {0};
    long ms;
    int rc = get(&s, &ms, &err);
    CHECK(rc == -ETIMEDOUT);
    CHECK(ms >= AGENT_FRAME_TIMEOUT_MS - 100 && ms < AGENT_FRAME_TIMEOUT_MS + 2000);
    CHECK(strstr(err.message, "began a frame") != NULL);
    CHECK(entries() == 0);
}

TEST(get_error_text_is_escaped)
{
    struct script s = {0};
    static const char e[] = "\004bad \033[2J\033]0;pwned\007 file";
    add_frame(&s, AGENT_T_ERROR, 0, e, sizeof e - 1);
    add_exit(&s, AGENT_EXITED, 1);
    struct cove_error err = {0};
    int rc = get(&s, NULL, &err);
    CHECK(rc == -EIO);
    CHECK(strchr(err.message, '\033') == NULL && strchr(err.message, '\007') == NULL);
    CHECK(strstr(err.message, "bad \\x1b[2J") != NULL);
    CHECK(entries() == 0);
}

TEST(a_whole_get_still_works)
{
    struct script s = {0};
    add_meta(&s, "640", "5");
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "he", 2);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "llo", 3);
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "", 0);
    add_exit(&s, AGENT_EXITED, 0);
    mode_t old = umask(022);
    int rc = get(&s, NULL, NULL);
    umask(old);
    char path[PATH_MAX + 8], got[8] = {0};
    snprintf(path, sizeof path, "%s/out", dir);
    struct stat st;
    CHECK(rc == 0);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && read(fd, got, sizeof got) == 5 && !strcmp(got, "hello"));
    CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0640);
    close(fd);
    unlink(path);
}

/* --- exec ----------------------------------------------------------------------------------- */

struct exec_result {
    int rc, status;
    long ms;
    char message[256], out[64];
    struct cove_error err;
};

static void run_exec(const struct script *s, int timeout_ms, struct exec_result *r)
{
    int c, out[2];
    struct fake *f = fake_start(s, &c);
    memset(r, 0, sizeof *r);
    if (pipe2(out, O_NONBLOCK) < 0)
        return;
    const char *argv[] = {"true", NULL};
    struct cove_exec_options o = {
        .argv = argv, .in_fd = -1, .out_fd = out[1], .err_fd = out[1], .signal_fd = -1,
        .winsize_fd = -1, .timeout_ms = timeout_ms,
    };
    long t0 = now_ms();
    r->rc = cove_agent_exec(c, &o, &r->status, r->message, sizeof r->message, &r->err);
    r->ms = now_ms() - t0;
    fake_end(f, c);
    close(out[1]);
    ssize_t n = read(out[0], r->out, sizeof r->out - 1);
    r->out[n > 0 ? n : 0] = 0;
    close(out[0]);
}

TEST(exec_unknown_frames_are_a_protocol_error)
{
    struct script s = {.forever = true};
    add_frame(&s, 'Z', 0, "junk", 4);
    struct exec_result r;
    run_exec(&s, 0, &r);
    CHECK(r.rc == -EPROTO);
    CHECK(cove_agent_exit_code(r.rc) == COVE_EXIT_LOST);
}

TEST(exec_output_on_an_unknown_stream_is_a_protocol_error)
{
    struct script s = {0};
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "ok ", 3);
    add_frame(&s, AGENT_T_DATA, 7, "sneaky", 6);
    add_exit(&s, AGENT_EXITED, 0);
    struct exec_result r;
    run_exec(&s, 0, &r);
    CHECK(r.rc == -EPROTO);
    CHECK_STR(r.out, "ok ");
}

TEST(exec_exit_values_no_process_has_are_refused)
{
    struct script s = {0};
    add_exit(&s, AGENT_EXITED, 0x80000000u);
    struct exec_result r;
    run_exec(&s, 0, &r);
    CHECK(r.rc == -EPROTO);
    struct script k = {0};
    add_exit(&k, AGENT_SIGNALED, 9);
    run_exec(&k, 0, &r);
    CHECK(r.rc == 0 && r.status == 137);
}

TEST(exec_error_text_is_escaped)
{
    struct script s = {0};
    static const char e[] = "\001\033]0;pwned\007x: command not found";
    add_frame(&s, AGENT_T_ERROR, 0, e, sizeof e - 1);
    add_exit(&s, AGENT_EXITED, 127);
    struct exec_result r;
    run_exec(&s, 0, &r);
    CHECK(r.rc == 0 && r.status == 127);
    CHECK(strchr(r.message, '\033') == NULL && strchr(r.message, '\007') == NULL);
    CHECK(strstr(r.message, "command not found") != NULL);
}

TEST(exec_that_drips_ends_at_the_frame_deadline)
{
    /* 6 + 14 bytes at one a second: the frame cannot be whole before its deadline (with
     * "hello" its last byte came at 10 s, racing the 10 s deadline: a niced run lost it) */
    struct script s = {.drip_ms = 1000, .hold = true};
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "hello, slowly.", 14);
    struct exec_result r;
    run_exec(&s, 0, &r);
    CHECK(r.rc == -ETIMEDOUT);
    CHECK(r.ms >= AGENT_FRAME_TIMEOUT_MS - 100 && r.ms < AGENT_FRAME_TIMEOUT_MS + 2000);
}

TEST(exec_timeout_ends_a_command_that_never_exits)
{
    struct script s = {.hold = true};
    add_frame(&s, AGENT_T_DATA, AGENT_STDOUT, "x", 1);
    struct exec_result r;
    run_exec(&s, 500, &r);
    CHECK(r.rc == -ETIMEDOUT);
    CHECK(cove_agent_exit_code(r.rc) == COVE_EXIT_TIMEOUT);
    CHECK(r.ms >= 450 && r.ms < 3000);
    CHECK_STR(r.out, "x");
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_agent_hostile: a call did not end (60 s): 0 passed, 1 failed\n";
    if (write(1, msg, sizeof msg - 1) < 0) {
    }
    _exit(1);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(60);
    snprintf(dir, sizeof dir, "/tmp/cove-test-hostile.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(ip_unknown_frames_are_a_protocol_error);
    RUN(poweroff_without_an_answer_ends_at_its_deadline);
    RUN(ip_escapes_the_guests_text);
    RUN(get_keeps_permission_bits_only_and_the_umask);
    RUN(get_stops_at_the_announced_size);
    RUN(get_of_fewer_bytes_than_announced_fails);
    RUN(get_with_an_impossible_exit_value_fails);
    RUN(get_that_drips_ends_at_the_frame_deadline);
    RUN(get_error_text_is_escaped);
    RUN(a_whole_get_still_works);
    RUN(exec_unknown_frames_are_a_protocol_error);
    RUN(exec_output_on_an_unknown_stream_is_a_protocol_error);
    RUN(exec_exit_values_no_process_has_are_refused);
    RUN(exec_error_text_is_escaped);
    RUN(exec_that_drips_ends_at_the_frame_deadline);
    RUN(exec_timeout_ends_a_command_that_never_exits);
    rmdir(dir);
    return test_summary();
}
