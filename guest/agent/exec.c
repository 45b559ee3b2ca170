/*
 * exec: runs one command for the host and streams its I/O over the connection.
 *
 * One poll loop moves bytes both ways without ever blocking on one direction while the
 * other is stuck (a command that does not read its stdin while the host pushes more, or
 * a host that does not read while the command writes): every buffer is bounded, and a
 * source is only read while its destination buffer has room for a whole chunk. The
 * vsock connection's own credit then carries that back-pressure to the host.
 *
 * The command runs in its own session (signals from the host go to its process group);
 * with a tty it gets a pseudo-terminal as its controlling terminal, else pipes. Exec
 * failures come back through a close-on-exec pipe, so "not found" (127) and "cannot run"
 * (126) are told apart from a command that ran and failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

#define CHUNK 32768
#define OUT_CAP (256u << 10)
#define STDIN_CAP (256u << 10)
#define IN_CAP (2 * (AGENT_HDR_SIZE + AGENT_FRAME_MAX))
/* After the command exited, output still open (a background child holds it) is given up
 * after this long without a byte. */
#define DRAIN_IDLE_MS 500

struct buf {
    uint8_t *data;
    size_t cap, head, len;
};

static size_t buf_free(const struct buf *b) { return b->cap - b->head - b->len; }

static void buf_compact(struct buf *b)
{
    if (b->head) {
        memmove(b->data, b->data + b->head, b->len);
        b->head = 0;
    }
}

struct exec_state {
    int sock, pidfd, out, err, in;   /* -1 when closed */
    bool tty, stdin_eof, exited, host_gone;
    pid_t pid;
    int status;
    struct buf sock_in, to_sock, to_stdin;
};

/* --- starting the command ------------------------------------------------------------------ */

/* The home directory of uid from /etc/passwd ("name:pw:uid:gid:gecos:home:shell"), read by
 * hand: glibc's getpwuid in a static binary loads the NSS modules of whatever glibc the
 * guest has. Falls back to /root for root and / for anyone else. */
static void home_of(uid_t uid, char *out, size_t size)
{
    snprintf(out, size, "%s", uid == 0 ? "/root" : "/");
    FILE *f = fopen("/etc/passwd", "re");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *field[7], *p = line;
        unsigned n = 0;
        while (n < 7 && (field[n] = strsep(&p, ":\n")) != NULL)
            n++;
        char *end;
        if (n < 6 || !*field[2] || strtoul(field[2], &end, 10) != uid || *end ||
            field[5][0] != '/')
            continue;
        snprintf(out, size, "%s", field[5]);
        break;
    }
    fclose(f);
}

static const char **make_env(const struct request *r, bool tty)
{
    const char **env = calloc(r->nenvs + 4, sizeof *env);
    static char home[PATH_MAX + 8];
    if (!env)
        return NULL;
    unsigned n = 0;
    /* Debian's default PATH for root: what a login shell would give, /usr/local first. */
    env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    memcpy(home, "HOME=", 5);
    home_of(getuid(), home + 5, sizeof home - 5);
    env[n++] = home;
    if (tty)
        env[n++] = "TERM=vt100";
    for (unsigned i = 0; i < r->nenvs; i++) {
        size_t klen = (size_t)(strchr(r->envs[i], '=') - r->envs[i]) + 1;
        unsigned j = 0;
        while (j < n && strncmp(env[j], r->envs[i], klen) != 0)
            j++;
        env[j] = r->envs[i];
        if (j == n)
            n++;
    }
    env[n] = NULL;
    return env;
}

/* In the child: report why we could not get as far as the command, and go. */
static void child_fail(int errfd, uint8_t stage, int err)
{
    uint8_t msg[5] = {stage};
    agent_put_u32(msg + 1, (uint32_t)err);
    if (write(errfd, msg, sizeof msg) < 0) {
        /* nothing left to tell it with */
    }
    _exit(stage == 2 ? 127 : 126);
}

/* Every signal back to its default, none blocked: the command must not inherit what the
 * agent set for itself, nor what it inherited (started with `&` by a shell without job
 * control, it ignores SIGINT and SIGQUIT, which `cove exec` forwards). */
static void default_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* fails harmlessly for KILL, STOP and libc's own */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child(const struct request *r, bool tty, const char *slave, int fds[3], int errfd)
{
    setsid();
    default_signals();
    if (tty) {
        int s = open(slave, O_RDWR);
        if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
            child_fail(errfd, 0, errno);
        fds[0] = fds[1] = fds[2] = s;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            child_fail(errfd, 0, errno);
    const char *cwd = req_get(r, "cwd");
    if (cwd && *cwd && chdir(cwd) < 0)
        child_fail(errfd, 1, errno);
    const char **env = make_env(r, tty);
    if (!env)
        child_fail(errfd, 0, ENOMEM);
    execvpe(r->args[0], (char *const *)r->args, (char *const *)env);
    child_fail(errfd, 2, errno);
}

static int set_winsize(int fd, const char *rows, const char *cols)
{
    if (!rows || !cols)
        return 0;
    struct winsize ws = {.ws_row = (unsigned short)atoi(rows), .ws_col = (unsigned short)atoi(cols)};
    return ioctl(fd, TIOCSWINSZ, &ws);
}

/* Forks the command; on failure tells the host and returns -1. */
static int start(struct exec_state *x, const struct request *r)
{
    int ep[2], po[2] = {-1, -1}, pe[2] = {-1, -1}, pi[2] = {-1, -1}, master = -1;
    const char *slave = NULL;
    bool want_stdin = req_get(r, "stdin") && !strcmp(req_get(r, "stdin"), "1");
    if (pipe2(ep, O_CLOEXEC) < 0)
        goto fail;
    if (x->tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(slave = ptsname(master)))
            goto fail;
        set_winsize(master, req_get(r, "rows"), req_get(r, "cols"));
    } else {
        if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
            goto fail;
        if (want_stdin ? pipe2(pi, O_CLOEXEC) < 0
                       : (pi[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
            goto fail;
    }
    x->pid = fork();
    if (x->pid < 0)
        goto fail;
    if (x->pid == 0) {
        int fds[3] = {pi[0], po[1], pe[1]};
        child(r, x->tty, slave, fds, ep[1]);
    }
    close(ep[1]);
    if (x->tty) {
        x->out = master;
        x->in = dup(master);
    } else {
        close(po[1]);
        close(pe[1]);
        close(pi[0]);
        x->out = po[0];
        x->err = pe[0];
        x->in = pi[1];
    }
    uint8_t why[5];
    ssize_t n;
    do
        n = read(ep[0], why, sizeof why);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof why) {
        int err = (int)agent_get_u32(why + 1);
        waitpid(x->pid, NULL, 0);
        if (why[0] == 2 && (err == ENOENT || err == ENOTDIR)) {
            send_error(x->sock, AGENT_ERR_NOT_FOUND, "%s: command not found", r->args[0]);
            send_exit(x->sock, AGENT_EXITED, 127);
        } else {
            send_error(x->sock, AGENT_ERR_CANNOT_RUN, "%s%s: %s",
                       why[0] == 1 ? "cannot change to directory " : "",
                       why[0] == 1 ? req_get(r, "cwd") : r->args[0], strerror(err));
            send_exit(x->sock, AGENT_EXITED, 126);
        }
        return -1;
    }
    x->pidfd = (int)syscall(SYS_pidfd_open, x->pid, 0);
    return 0;
fail:
    send_error(x->sock, AGENT_ERR_CANNOT_RUN, "cannot start %s: %s", r->args[0], strerror(errno));
    send_exit(x->sock, AGENT_EXITED, 126);
    return -1;
}

/* --- the loop ---------------------------------------------------------------------------- */

/* Reads a chunk of command output into a frame; false at its end. */
static bool pump_output(struct exec_state *x, int fd, uint8_t stream)
{
    buf_compact(&x->to_sock);
    uint8_t *h = x->to_sock.data + x->to_sock.len;
    ssize_t n = read(fd, h + AGENT_HDR_SIZE, CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false; /* EOF, or EIO from a pty whose other side is all closed */
    agent_put_header(h, AGENT_T_DATA, stream, (uint32_t)n);
    x->to_sock.len += AGENT_HDR_SIZE + (size_t)n;
    return true;
}

static void host_frame(struct exec_state *x, uint8_t type, uint8_t stream, const uint8_t *p,
                       uint32_t len)
{
    if (type == AGENT_T_DATA && stream == AGENT_STDIN) {
        if (len == 0) {
            x->stdin_eof = true;
        } else if (x->in >= 0) {
            buf_compact(&x->to_stdin);
            memcpy(x->to_stdin.data + x->to_stdin.len, p, len);
            x->to_stdin.len += len;
        }
    } else if (type == AGENT_T_SIGNAL && len == 4) {
        int sig = (int)agent_get_u32(p);
        if (sig > 0 && sig < 65 && !x->exited && kill(-x->pid, sig) < 0)
            kill(x->pid, sig);
    } else if (type == AGENT_T_WINSIZE && len == 4 && x->tty) {
        struct winsize ws = {.ws_row = (unsigned short)(p[0] | p[1] << 8),
                             .ws_col = (unsigned short)(p[2] | p[3] << 8)};
        ioctl(x->out, TIOCSWINSZ, &ws);
    }
}

/* Acts on the complete frames received, while the stdin buffer has room for their data
 * (what does not fit waits there, and the connection is not read meanwhile). False when
 * the host broke the framing. */
static bool parse_host(struct exec_state *x)
{
    struct buf *b = &x->sock_in;
    while (b->len >= AGENT_HDR_SIZE) {
        const uint8_t *h = b->data + b->head;
        uint32_t len = agent_get_u32(h + 2);
        if (len > AGENT_FRAME_MAX)
            return false;
        if (b->len < AGENT_HDR_SIZE + len)
            break;
        if (h[0] == AGENT_T_DATA && h[1] == AGENT_STDIN && x->in >= 0 &&
            x->to_stdin.cap - x->to_stdin.len < len)
            break;
        host_frame(x, h[0], h[1], h + AGENT_HDR_SIZE, len);
        b->head += AGENT_HDR_SIZE + len;
        b->len -= AGENT_HDR_SIZE + len;
    }
    return true;
}

/* Takes what came from the host: false when it went away or broke the framing. */
static bool read_host(struct exec_state *x)
{
    struct buf *b = &x->sock_in;
    buf_compact(b);
    if (!buf_free(b))
        return true;
    ssize_t n = read(x->sock, b->data + b->len, buf_free(b));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    b->len += (size_t)n;
    return parse_host(x);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void feed_stdin(struct exec_state *x)
{
    struct buf *b = &x->to_stdin;
    ssize_t n = write(x->in, b->data + b->head, b->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) { /* the command closed its stdin: the rest has nowhere to go */
        b->len = 0;
        close_fd(&x->in);
        return;
    }
    b->head += (size_t)n;
    b->len -= (size_t)n;
}

enum { PF_CONN, PF_OUT, PF_ERR, PF_IN, PF_PID, PF_COUNT };

static void loop(struct exec_state *x)
{
    for (;;) {
        if (!x->tty && x->stdin_eof && x->to_stdin.len == 0)
            close_fd(&x->in);
        if (x->exited && x->out < 0 && x->err < 0)
            return;
        struct pollfd p[PF_COUNT] = {{.fd = -1}, {.fd = -1}, {.fd = -1}, {.fd = -1}, {.fd = -1}};
        bool out_room = buf_free(&x->to_sock) + x->to_sock.head >= AGENT_HDR_SIZE + CHUNK;
        p[PF_CONN].fd = x->sock;
        if (!parse_host(x)) {
            x->host_gone = true;
            return;
        }
        if (x->sock_in.cap - x->sock_in.len >= AGENT_HDR_SIZE + AGENT_FRAME_MAX)
            p[PF_CONN].events |= POLLIN;
        if (x->to_sock.len)
            p[PF_CONN].events |= POLLOUT;
        if (!p[PF_CONN].events)
            p[PF_CONN].fd = -1; /* else a hang-up would be reported (and spin) unasked */
        if (x->out >= 0 && out_room)
            p[PF_OUT] = (struct pollfd){.fd = x->out, .events = POLLIN};
        if (x->err >= 0 && out_room)
            p[PF_ERR] = (struct pollfd){.fd = x->err, .events = POLLIN};
        if (x->in >= 0 && x->to_stdin.len)
            p[PF_IN] = (struct pollfd){.fd = x->in, .events = POLLOUT};
        if (!x->exited && x->pidfd >= 0)
            p[PF_PID] = (struct pollfd){.fd = x->pidfd, .events = POLLIN};
        /* Without a pidfd the exit is found by polling waitpid. */
        int timeout = x->exited ? DRAIN_IDLE_MS : x->pidfd < 0 ? 50 : -1;
        int n = poll(p, PF_COUNT, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && x->exited && !x->to_sock.len) {
            close_fd(&x->out); /* a background process keeps the output open: stop here */
            close_fd(&x->err);
            continue;
        }
        if (p[PF_CONN].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!read_host(x)) {
                x->host_gone = true;
                return;
            }
        }
        if (p[PF_CONN].revents & POLLOUT) {
            ssize_t w = write(x->sock, x->to_sock.data + x->to_sock.head, x->to_sock.len);
            if (w < 0 && errno != EINTR && errno != EAGAIN) {
                x->host_gone = true;
                return;
            }
            if (w > 0) {
                x->to_sock.head += (size_t)w;
                x->to_sock.len -= (size_t)w;
            }
        }
        if ((p[PF_OUT].revents & (POLLIN | POLLHUP | POLLERR)) && !pump_output(x, x->out, AGENT_STDOUT)) {
            if (x->tty)
                close_fd(&x->in); /* the same terminal */
            close_fd(&x->out);
        }
        if ((p[PF_ERR].revents & (POLLIN | POLLHUP | POLLERR)) && !pump_output(x, x->err, AGENT_STDERR))
            close_fd(&x->err);
        if (p[PF_IN].revents & (POLLOUT | POLLERR | POLLHUP))
            feed_stdin(x);
        if (!x->exited && (x->pidfd < 0 || (p[PF_PID].revents & POLLIN)) &&
            waitpid(x->pid, &x->status, WNOHANG) == x->pid)
            x->exited = true;
    }
}

void do_exec(int fd, const struct request *r)
{
    static uint8_t in_mem[IN_CAP], out_mem[OUT_CAP + AGENT_HDR_SIZE + CHUNK], stdin_mem[STDIN_CAP];
    struct exec_state x = {
        .sock = fd, .pidfd = -1, .out = -1, .err = -1, .in = -1,
        .sock_in = {in_mem, sizeof in_mem, 0, 0},
        .to_sock = {out_mem, sizeof out_mem, 0, 0},
        .to_stdin = {stdin_mem, sizeof stdin_mem, 0, 0},
    };
    const char *tty = req_get(r, "tty");
    x.tty = tty && !strcmp(tty, "1");
    if (r->nargs == 0) {
        send_error(fd, AGENT_ERR_REQUEST, "exec without a command");
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    if (start(&x, r) < 0)
        return;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < 3; i++) {
        int f = i == 0 ? x.out : i == 1 ? x.err : x.in;
        if (f >= 0)
            fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
    }
    loop(&x);
    if (x.host_gone) {
        /* Nobody is left to see the command's output: end it as a hung-up terminal would. */
        kill(-x.pid, SIGHUP);
        kill(-x.pid, SIGKILL);
        waitpid(x.pid, NULL, 0);
        return;
    }
    if (write_all(fd, x.to_sock.data + x.to_sock.head, x.to_sock.len) < 0)
        return;
    if (WIFSIGNALED(x.status))
        send_exit(fd, AGENT_SIGNALED, (uint32_t)WTERMSIG(x.status));
    else
        send_exit(fd, AGENT_EXITED, (uint32_t)WEXITSTATUS(x.status));
}
