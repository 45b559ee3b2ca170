/*
 * cove-agent — the guest side of `cove exec`, `cove ip`, `cove cp` and the clean stop.
 *
 * Listens on vsock port AGENT_PORT; each connection is served by a child process (a
 * request that crashes or hangs takes nothing else with it) and carries one request
 * (protocol.h, docs/AGENT.md): exec, ip, get, put, getdir, putdir, poweroff, reboot,
 * clock, ping, ports.
 * Started by the default guest's /init when a virtio-vsock device is present; on a systemd
 * distribution by cove-agent.service (images/debian/agent/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* A host that connects and says nothing does not keep a process forever. */
#define REQUEST_TIMEOUT_MS 30000
/* How long init gets to power off cleanly before the agent does it itself. */
#define POWER_GRACE_S 10

/* --- frames ------------------------------------------------------------------------------ */

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, -1);
            continue;
        }
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int send_frame(int fd, uint8_t type, uint8_t stream, const void *payload, uint32_t len)
{
    uint8_t h[AGENT_HDR_SIZE];
    agent_put_header(h, type, stream, len);
    if (write_all(fd, h, sizeof h) < 0)
        return -1;
    return len ? write_all(fd, payload, len) : 0;
}

static int read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    char *p = buf;
    while (len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int recv_frame(int fd, uint8_t *type, uint8_t *stream, void *buf, uint32_t *len, int timeout_ms)
{
    uint8_t h[AGENT_HDR_SIZE];
    if (read_exact(fd, h, sizeof h, timeout_ms) < 0)
        return -1;
    uint32_t n = agent_get_u32(h + 2);
    if (n > AGENT_FRAME_MAX)
        return -1;
    if (n && read_exact(fd, buf, n, timeout_ms) < 0)
        return -1;
    *type = h[0];
    *stream = h[1];
    *len = n;
    return 0;
}

void send_exit(int fd, uint8_t how, uint32_t value)
{
    uint8_t p[5] = {how};
    agent_put_u32(p + 1, value);
    send_frame(fd, AGENT_T_EXIT, 0, p, sizeof p);
}

void send_error(int fd, uint8_t kind, const char *fmt, ...)
{
    char msg[512];
    msg[0] = (char)kind;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + 1, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    send_frame(fd, AGENT_T_ERROR, 0, msg, (uint32_t)n + 1);
}

/* --- requests ---------------------------------------------------------------------------- */

const char *req_get(const struct request *r, const char *key)
{
    for (unsigned i = 0; i < r->npairs; i++)
        if (!strcmp(r->keys[i], key))
            return r->values[i];
    return NULL;
}

/* Splits the payload into pairs; every string must end inside it. */
int parse_pairs(char *buf, uint32_t len, struct request *r)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    uint32_t at = 0;
    while (at < len) {
        const char *key = buf + at;
        char *end = memchr(buf + at, 0, len - at);
        if (!end)
            return -1;
        at = (uint32_t)(end - buf) + 1;
        if (at >= len)
            return -1;
        const char *value = buf + at;
        if (!(end = memchr(buf + at, 0, len - at)))
            return -1;
        at = (uint32_t)(end - buf) + 1;
        if (!strcmp(key, "op")) {
            r->op = value;
        } else if (!strcmp(key, "arg")) {
            if (r->nargs == AGENT_MAX_ARGS)
                return -1;
            r->args[r->nargs++] = value;
        } else if (!strcmp(key, "env")) {
            if (r->nenvs == AGENT_MAX_ARGS || !strchr(value, '='))
                return -1;
            r->envs[r->nenvs++] = value;
        } else {
            if (r->npairs == sizeof r->keys / sizeof r->keys[0])
                return -1;
            r->keys[r->npairs] = key;
            r->values[r->npairs++] = value;
        }
    }
    return 0;
}

static int parse_request(char *buf, uint32_t len, struct request *r)
{
    return parse_pairs(buf, len, r) < 0 || !r->op ? -1 : 0;
}

/* --- ip ------------------------------------------------------------------------------------ */

static void do_ip(int fd)
{
    struct ifaddrs *list, *a;
    if (getifaddrs(&list) < 0) {
        send_error(fd, AGENT_ERR_IO, "cannot list interfaces: %s", strerror(errno));
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    char out[8192];
    size_t n = 0;
    for (a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || (a->ifa_flags & IFF_LOOPBACK))
            continue;
        char addr[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)a->ifa_addr;
        inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
        unsigned prefix = 0;
        if (a->ifa_netmask)
            prefix = (unsigned)__builtin_popcount(
                ((const struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr);
        char line[IF_NAMESIZE + INET_ADDRSTRLEN + 16];
        int k = snprintf(line, sizeof line, "if%c%s%caddr%c%s/%u", 0, a->ifa_name, 0, 0, addr,
                         prefix);
        if (k < 0 || n + (size_t)k + 1 > sizeof out)
            break;
        memcpy(out + n, line, (size_t)k + 1);
        n += (size_t)k + 1;
    }
    freeifaddrs(list);
    send_frame(fd, AGENT_T_RESULT, 0, out, (uint32_t)n);
    send_exit(fd, AGENT_EXITED, 0);
}

/* --- files --------------------------------------------------------------------------------- */

static void do_get(int fd, const struct request *r, uint8_t *buf)
{
    const char *path = req_get(r, "path");
    int f = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        send_error(fd, AGENT_ERR_IO, "%s: %s", path ? path : "(no path)",
                   f < 0 || !path ? strerror(errno) : "not a regular file");
        send_exit(fd, AGENT_EXITED, 1);
        if (f >= 0)
            close(f);
        return;
    }
    char meta[64];
    int k = snprintf(meta, sizeof meta, "mode%c%o%csize%c%lld", 0, (unsigned)(st.st_mode & 07777),
                     0, 0, (long long)st.st_size);
    send_frame(fd, AGENT_T_RESULT, 0, meta, (uint32_t)k + 1);
    for (;;) {
        ssize_t n = read(f, buf, AGENT_FRAME_MAX);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            send_error(fd, AGENT_ERR_IO, "%s: %s", path, strerror(errno));
            send_exit(fd, AGENT_EXITED, 1);
            close(f);
            return;
        }
        if (send_frame(fd, AGENT_T_DATA, AGENT_STDOUT, buf, (uint32_t)n) < 0 || n == 0)
            break;
    }
    close(f);
    send_exit(fd, AGENT_EXITED, 0);
}

/* The file goes to a temporary name beside the target and is renamed over it once whole,
 * so a broken transfer never leaves half a file at the path. */
static void do_put(int fd, const struct request *r, uint8_t *buf)
{
    const char *path = req_get(r, "path"), *mode_s = req_get(r, "mode"), *name = req_get(r, "name");
    char target[PATH_MAX], tmp[PATH_MAX + 16];
    struct stat st;
    if (!path || !*path) {
        send_error(fd, AGENT_ERR_REQUEST, "put without a path");
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    int k = (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && name && *name && !strchr(name, '/'))
                ? snprintf(target, sizeof target, "%s/%s", path, name)
                : snprintf(target, sizeof target, "%s", path);
    if (k < 0 || (size_t)k >= sizeof target) {
        send_error(fd, AGENT_ERR_IO, "%s: path too long", path);
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.coveXXXXXX", target);
    int f = mkostemp(tmp, O_CLOEXEC);
    if (f < 0) {
        send_error(fd, AGENT_ERR_IO, "%s: %s", target, strerror(errno));
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    mode_t mode = mode_s ? (mode_t)strtoul(mode_s, NULL, 8) & 07777 : 0644;
    int err = fchmod(f, mode) < 0 ? errno : 0;
    for (;;) {
        uint8_t type, stream;
        uint32_t len;
        if (recv_frame(fd, &type, &stream, buf, &len, REQUEST_TIMEOUT_MS) < 0) {
            close(f);
            unlink(tmp); /* the host went away mid-transfer */
            return;
        }
        if (type != AGENT_T_DATA || stream != AGENT_STDIN)
            continue;
        if (len == 0)
            break;
        if (!err && write_all(f, buf, len) < 0)
            err = errno;
    }
    if (!err && fsync(f) < 0)
        err = errno;
    if (close(f) < 0 && !err)
        err = errno;
    if (!err && rename(tmp, target) < 0)
        err = errno;
    if (err) {
        unlink(tmp);
        send_error(fd, AGENT_ERR_IO, "%s: %s", target, strerror(err));
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    send_exit(fd, AGENT_EXITED, 0);
}

/* --- power and clock ----------------------------------------------------------------------- */

/* Whether PID 1 is systemd: the test of sd_booted(3). */
static bool systemd_is_init(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Under systemd, SIGRTMIN+4 / SIGRTMIN+5 start poweroff.target / reboot.target (systemd(1),
 * "Signals"): every unit stops in order, the agent's own service included, so the agent
 * must not force anything -- a forced reboot would cut that shutdown short. (SIGRTMIN is
 * 34 in glibc, whose value systemd was built with too.)
 * Busybox init's traps (USR2: poweroff, TERM: reboot) sync and remount the root read-only;
 * if init cannot act (it runs a cove.exec command in the foreground), the agent does the
 * same after a grace. */
static void do_power(int fd, bool reboot_it)
{
    send_exit(fd, AGENT_EXITED, 0);
    close(fd);
    sync();
    if (systemd_is_init()) {
        kill(1, reboot_it ? SIGRTMIN + 5 : SIGRTMIN + 4);
        return;
    }
    kill(1, reboot_it ? SIGTERM : SIGUSR2);
    sleep(POWER_GRACE_S);
    sync();
    mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
    reboot(reboot_it ? RB_AUTOBOOT : RB_POWER_OFF);
}

static void do_clock(int fd, const struct request *r)
{
    const char *sec = req_get(r, "sec"), *nsec = req_get(r, "nsec");
    char *end;
    struct timespec ts = {0, 0};
    errno = 0;
    ts.tv_sec = sec ? strtoll(sec, &end, 10) : 0;
    if (!sec || errno || *end || ts.tv_sec < 0) {
        send_error(fd, AGENT_ERR_REQUEST, "clock needs sec=SECONDS");
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    if (nsec) {
        long v = strtol(nsec, &end, 10);
        if (*end || v < 0 || v > 999999999) {
            send_error(fd, AGENT_ERR_REQUEST, "clock: nsec out of range");
            send_exit(fd, AGENT_EXITED, 1);
            return;
        }
        ts.tv_nsec = v;
    }
    if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
        send_error(fd, AGENT_ERR_IO, "cannot set the clock: %s", strerror(errno));
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    send_exit(fd, AGENT_EXITED, 0);
}

/* --- connections ----------------------------------------------------------------------------- */

static void serve(int fd)
{
    static uint8_t buf[AGENT_FRAME_MAX + 1];
    uint8_t type, stream;
    uint32_t len;
    struct request *r = malloc(sizeof *r);
    if (!r || recv_frame(fd, &type, &stream, buf, &len, REQUEST_TIMEOUT_MS) < 0)
        return;
    char *payload = malloc(len + 1);
    if (!payload)
        return;
    memcpy(payload, buf, len);
    payload[len] = 0;
    if (type != AGENT_T_REQUEST || parse_request(payload, len, r) < 0) {
        send_error(fd, AGENT_ERR_REQUEST, "malformed request");
        send_exit(fd, AGENT_EXITED, 1);
        return;
    }
    if (!strcmp(r->op, "exec"))
        do_exec(fd, r);
    else if (!strcmp(r->op, "ip"))
        do_ip(fd);
    else if (!strcmp(r->op, "get"))
        do_get(fd, r, buf);
    else if (!strcmp(r->op, "put"))
        do_put(fd, r, buf);
    else if (!strcmp(r->op, "getdir"))
        do_getdir(fd, r, buf);
    else if (!strcmp(r->op, "putdir"))
        do_putdir(fd, r, buf);
    else if (!strcmp(r->op, "poweroff") || !strcmp(r->op, "reboot"))
        do_power(fd, !strcmp(r->op, "reboot"));
    else if (!strcmp(r->op, "clock"))
        do_clock(fd, r);
    else if (!strcmp(r->op, "ping"))
        send_exit(fd, AGENT_EXITED, 0);
    else if (!strcmp(r->op, "ports"))
        do_ports(fd);
    else {
        send_error(fd, AGENT_ERR_REQUEST, "unknown request '%.64s'", r->op);
        send_exit(fd, AGENT_EXITED, 1);
    }
}

int main(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                             .svm_port = AGENT_PORT};
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 64) < 0) {
        fprintf(stderr, "cove-agent: cannot listen on vsock port %d: %s\n", AGENT_PORT,
                strerror(errno));
        return 1;
    }
    signal(SIGCHLD, SIG_IGN); /* connection processes reap themselves this way */
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
                usleep(100000); /* out of resources for now: do not spin */
                continue;
            }
            fprintf(stderr, "cove-agent: accept: %s\n", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(s);
            signal(SIGCHLD, SIG_DFL);
            serve(fd);
            _exit(0);
        }
        close(fd);
    }
}
