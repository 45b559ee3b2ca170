/*
 * hostile-agent: what root in a guest can answer the host on the agent's vsock port, in
 * place of cove-agent. Installed as /usr/bin/hostile-agent in the default guest; /init
 * starts it instead of cove-agent when the kernel command line says
 * cove.agent=hostile-agent (tests/integration/agent-hostile.sh).
 *
 * Each connection reads the host's request and answers by the current mode, kept in
 * /run/hostile-mode so that every connection process sees it. The host sets it with
 * `cove exec VM -- hostile-mode MODE`, which this agent answers well in every mode:
 *   ok         answers like a well-behaved agent (ip, get of "hello", exec exits 0)
 *   unknown    streams frames of an unknown type, for ever
 *   drip       a frame header, one byte every 2 s, for ever
 *   silent     reads the host and never answers (no exit frame, signals ignored)
 *   setuid     get: a file of mode 6777
 *   flood      get: announces 5 bytes, then streams data for ever
 *   slow       get: announces 1 GiB, then 4 KiB every 50 ms
 *   exit-high  get and exec: exit value 0x80000000
 *   stream     exec: output on stream 7
 *   escape     an error whose text is terminal escape sequences
 *   tree-dotdot    getdir: a file named ".."
 *   tree-slash     getdir: a directory named "a/b"
 *   tree-abslink   getdir: a link to /etc/passwd
 *   tree-many      getdir: more empty files than a copy may have
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#define PORT 1024
#define HDR 6
#define FRAME_MAX 65536u
#define MODE_FILE "/run/hostile-mode"

static uint8_t buf[FRAME_MAX + 1];

/* Writes everything or ends this connection's process (the host went away). */
static void out(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(0);
        b += w;
        n -= (size_t)w;
    }
}

static void frame(int fd, char type, uint8_t stream, const void *p, uint32_t len)
{
    uint8_t h[HDR] = {(uint8_t)type, stream, (uint8_t)len, (uint8_t)(len >> 8),
                      (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
    out(fd, h, sizeof h);
    if (len)
        out(fd, p, len);
}

static void exit_frame(int fd, uint8_t how, uint32_t v)
{
    uint8_t p[5] = {how, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    frame(fd, 'X', 0, p, sizeof p);
}

static void meta(int fd, const char *mode, const char *size)
{
    char m[64];
    int n = snprintf(m, sizeof m, "mode%c%s%csize%c%s", 0, mode, 0, 0, size);
    frame(fd, 'R', 0, m, (uint32_t)n + 1);
}

/* Reads and drops whatever the host sends, until it goes away. */
static void hold(int fd)
{
    while (read(fd, buf, sizeof buf) > 0) {
    }
    _exit(0);
}

static bool read_exact(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* The value of key in the request's pairs (the first one), or "". */
static const char *value(const uint8_t *p, uint32_t len, const char *key)
{
    for (uint32_t at = 0; at < len;) {
        const char *k = (const char *)p + at;
        size_t kl = strnlen(k, len - at);
        if (at + kl + 1 >= len)
            break;
        const char *v = k + kl + 1;
        size_t vl = strnlen(v, len - (at + kl + 1));
        if (!strcmp(k, key))
            return v;
        at += (uint32_t)(kl + vl + 2);
    }
    return "";
}

/* The second "arg" of an exec (the first is the command). */
static const char *second_arg(const uint8_t *p, uint32_t len)
{
    int seen = 0;
    for (uint32_t at = 0; at < len;) {
        const char *k = (const char *)p + at;
        size_t kl = strnlen(k, len - at);
        if (at + kl + 1 >= len)
            break;
        const char *v = k + kl + 1;
        size_t vl = strnlen(v, len - (at + kl + 1));
        if (!strcmp(k, "arg") && seen++ == 1)
            return v;
        at += (uint32_t)(kl + vl + 2);
    }
    return "";
}

static void set_mode(int fd, const char *mode)
{
    int f = open(MODE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = f >= 0 && write(f, mode, strlen(mode)) == (ssize_t)strlen(mode);
    if (f >= 0)
        close(f);
    ok = ok && rename(MODE_FILE ".tmp", MODE_FILE) == 0;
    exit_frame(fd, 0, ok ? 0 : 1);
    hold(fd);
}

static void get_mode(char *mode, size_t n)
{
    int f = open(MODE_FILE, O_RDONLY);
    ssize_t r = f >= 0 ? read(f, mode, n - 1) : -1;
    if (f >= 0)
        close(f);
    mode[r > 0 ? r : 0] = 0;
    if (r <= 0)
        snprintf(mode, n, "ok");
}

/* A well-behaved answer to op. */
static void behave(int fd, const char *op)
{
    if (!strcmp(op, "ip")) {
        static const char r[] = "if\0eth0\0addr\00010.0.2.15/24";
        frame(fd, 'R', 0, r, sizeof r);
    } else if (!strcmp(op, "get")) {
        meta(fd, "644", "5");
        frame(fd, 'D', 1, "hello", 5);
        frame(fd, 'D', 1, "", 0);
    }
    exit_frame(fd, 0, 0);
    hold(fd);
}

/* A getdir entry: pairs "k", "v", ..., NULL. */
static void entry(int fd, const char *k, ...)
{
    char p[256];
    size_t n = 0;
    va_list ap;
    va_start(ap, k);
    for (; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        n += (size_t)snprintf(p + n, sizeof p - n, "%s", k) + 1;
        n += (size_t)snprintf(p + n, sizeof p - n, "%s", v) + 1;
    }
    va_end(ap);
    frame(fd, 'F', 1, p, (uint32_t)n);
}

/* getdir in a tree-* mode: a root, one good file, then the misbehaviour. */
static void hostile_tree(int fd, const char *mode)
{
    static const char root[] = "mode\000755";
    frame(fd, 'R', 0, root, sizeof root);
    entry(fd, "type", "f", "name", "good", "mode", "644", "size", "0", NULL);
    if (!strcmp(mode, "tree-dotdot"))
        entry(fd, "type", "f", "name", "..", "mode", "644", "size", "0", NULL);
    else if (!strcmp(mode, "tree-slash"))
        entry(fd, "type", "d", "name", "a/b", "mode", "755", NULL);
    else if (!strcmp(mode, "tree-abslink"))
        entry(fd, "type", "l", "name", "x", "link", "/etc/passwd", NULL);
    else
        for (unsigned i = 0; i <= 100000; i++) {
            char name[16];
            snprintf(name, sizeof name, "f%u", i);
            entry(fd, "type", "f", "name", name, "mode", "644", "size", "0", NULL);
        }
    frame(fd, 'D', 1, "", 0);
    exit_frame(fd, 0, 0);
    hold(fd);
}

static void serve(int fd)
{
    uint8_t h[HDR];
    if (!read_exact(fd, h, HDR))
        return;
    uint32_t len = h[2] | h[3] << 8 | (uint32_t)h[4] << 16 | (uint32_t)h[5] << 24;
    if (len > FRAME_MAX || !read_exact(fd, buf, len))
        return;
    const char *op = value(buf, len, "op");
    if (!strcmp(op, "exec") && !strcmp(value(buf, len, "arg"), "hostile-mode"))
        set_mode(fd, second_arg(buf, len));
    char mode[32];
    get_mode(mode, sizeof mode);
    bool get = !strcmp(op, "get"), exec = !strcmp(op, "exec");
    if (!strcmp(mode, "unknown")) {
        memset(buf, 'z', 256);
        for (;;)
            frame(fd, 'Z', 0, buf, 256);
    } else if (!strcmp(mode, "drip")) {
        static const uint8_t header[HDR] = {'D', 1, 16, 0, 0, 0};
        for (int i = 0;; i = (i + 1) % HDR) {
            out(fd, header + i, 1);
            sleep(2);
        }
    } else if (!strcmp(mode, "silent")) {
        hold(fd);
    } else if (!strcmp(mode, "setuid") && get) {
        meta(fd, "6777", "5");
        frame(fd, 'D', 1, "#!/bi", 5);
        frame(fd, 'D', 1, "", 0);
        exit_frame(fd, 0, 0);
        hold(fd);
    } else if (!strcmp(mode, "flood") && get) {
        meta(fd, "644", "5");
        memset(buf, 'A', FRAME_MAX);
        for (;;)
            frame(fd, 'D', 1, buf, FRAME_MAX);
    } else if (!strcmp(mode, "slow") && get) {
        meta(fd, "644", "1073741824");
        memset(buf, 'S', 4096);
        for (;;) {
            frame(fd, 'D', 1, buf, 4096);
            usleep(50000);
        }
    } else if (!strcmp(mode, "exit-high") && (get || exec)) {
        if (get) {
            meta(fd, "644", "2");
            frame(fd, 'D', 1, "hi", 2);
            frame(fd, 'D', 1, "", 0);
        }
        exit_frame(fd, 0, 0x80000000u);
        hold(fd);
    } else if (!strcmp(mode, "stream") && exec) {
        frame(fd, 'D', 7, "sneaky\n", 7);
        exit_frame(fd, 0, 0);
        hold(fd);
    } else if (!strncmp(mode, "tree-", 5) && !strcmp(op, "getdir")) {
        hostile_tree(fd, mode);
    } else if (!strcmp(mode, "escape")) {
        static const char e[] = "\004\033]0;pwned\007\033[2J\033[31mred alert";
        frame(fd, 'E', 0, e, sizeof e - 1);
        exit_frame(fd, 0, exec ? 126 : 1);
        hold(fd);
    }
    behave(fd, op);
}

int main(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = PORT};
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 64) < 0) {
        fprintf(stderr, "hostile-agent: cannot listen on vsock port %d: %s\n", PORT,
                strerror(errno));
        return 1;
    }
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            usleep(100000);
            continue;
        }
        if (fork() == 0) {
            close(s);
            serve(fd);
            _exit(0);
        }
        close(fd);
    }
}
