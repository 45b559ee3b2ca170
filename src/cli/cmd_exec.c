/*
 * cove exec NAME [-i] [-t] [-e K=V]... [-w DIR] -- CMD [ARGS...]: runs a command in a
 * running VM through its guest agent and exits with the command's status. Signals (INT,
 * TERM, HUP, QUIT) are forwarded to the command; a second one ends cove exec here, as the
 * guest may not act on the first (a hostile agent, a command that ignores it); with
 * --exec-timeout S cove exec gives up by itself. With -t the guest gives it a terminal,
 * this one goes raw and window size changes follow it. -t implies -i (as `ssh -t` does):
 * a raw terminal whose keys went nowhere would leave no way out, and the keys typed would
 * replay into the user's shell afterwards.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cove/agent.h>

#define MAX_ENV 256

static const char exec_usage[] =
    "usage: cove exec NAME [-i] [-t] [-e K=V]... [-w DIR] [--timeout S] -- CMD [ARGS...]\n"
    "       cove exec --vsock PATH [OPTIONS] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD in the running VM NAME through its guest agent and exits with CMD's status.\n"
    "  -i, --interactive  forward this stdin to the command (else it reads /dev/null)\n"
    "  -t, --tty          give the command a terminal in the guest; this one goes raw\n"
    "                     (implies -i)\n"
    "  -e, --env K=V      set an environment variable (repeatable)\n"
    "  -w, --workdir DIR  run in DIR (default /)\n"
    "  --timeout S        how long to wait for the agent to answer (default 10)\n"
    "  --exec-timeout S   give up on the command after S seconds (exit 124)\n"
    "  --vsock PATH       reach an ephemeral VM (cove run --vsock PATH) instead of NAME\n"
    "INT, TERM, HUP and QUIT are forwarded to the command; a second one ends cove exec\n"
    "(128+N) without waiting for the guest.\n"
    "Exit codes: the command's, 128+N if signal N killed it, 127 not found, 126 cannot\n"
    "run, 125 VM not running or no agent, 124 agent or --exec-timeout timeout, 123\n"
    "connection lost or the agent broke the protocol.\n";

int cli_agent_connect(const char *name, const char *vsock, double timeout_s, int *fd)
{
    struct cove_error err = {0};
    int timeout_ms = (int)(timeout_s * 1000);
    int rc = vsock ? cove_agent_connect(vsock, timeout_ms, fd, &err)
                   : cove_agent_open(name, timeout_ms, fd, &err);
    if (rc < 0) {
        cli_error("%s", err.message);
        return cove_agent_exit_code(rc);
    }
    return 0;
}

int cli_parse_timeout(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*end || end == text || !(v > 0 && v <= 86400)) {
        cli_error("--timeout '%s' is not a number of seconds (up to 86400)", text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Signals become bytes on a pipe the exec loop forwards from. */
static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signals;

/* The second INT/TERM/HUP/QUIT: the guest did not end the command on the first (or the
 * exec loop is stuck on a full stdout), so end here. Only async-signal-safe calls: the
 * terminal's settings back (tcsetattr), write, _exit. Closing the connection makes the
 * agent end the command. */
static void end_now(int sig)
{
    static const char msg[] = "cove: a second signal: gave up on the command without waiting "
                              "for the guest\n";
    console_raw_leave();
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nowhere to say it */
    }
    _exit(128 + sig);
}

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGWINCH && stop_signals++ > 0)
        end_now(sig);
    uint8_t b = (uint8_t)sig;
    if (write(signal_pipe[1], &b, 1) < 0) {
        /* full: the signal is dropped, as a burst of identical signals would merge */
    }
    errno = saved;
}

static int forward_signals(bool tty)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigs[i] != SIGWINCH || tty)
            sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

struct exec_args {
    const char *name, *vsock, *cwd;
    bool interactive, tty;
    double timeout, exec_timeout;
    const char *env[MAX_ENV + 1];
    unsigned nenv;
    char **cmd;
};

static int parse(int argc, char **argv, struct exec_args *a)
{
    enum { O_TIMEOUT = 256, O_VSOCK, O_EXEC_TIMEOUT };
    static const struct option options[] = {
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"exec-timeout", required_argument, NULL, O_EXEC_TIMEOUT},
        {"vsock", required_argument, NULL, O_VSOCK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+:ite:w:h", options, NULL);
        if (c == -1) {
            /* NAME may sit among the options; the command starts after it (or "--"). */
            if (!a->name && !a->vsock && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
                a->name = argv[optind++];
                continue;
            }
            break;
        }
        switch (c) {
        case 'i': a->interactive = true; break;
        case 't': a->tty = a->interactive = true; break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                cli_error("--env '%s' is not K=V", optarg);
                return CLI_EXIT_USAGE;
            }
            if (a->nenv == MAX_ENV) {
                cli_error("too many --env options; at most %d", MAX_ENV);
                return CLI_EXIT_USAGE;
            }
            a->env[a->nenv++] = optarg;
            break;
        case 'w': a->cwd = optarg; break;
        case O_TIMEOUT:
            if (cli_parse_timeout(optarg, &a->timeout) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_EXEC_TIMEOUT:
            if (cli_parse_timeout(optarg, &a->exec_timeout) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_VSOCK: a->vsock = optarg; break;
        case 'h': fputs(exec_usage, stdout); return -1;
        default: return cli_bad_option("exec", c, argv);
        }
    }
    if (!a->name && !a->vsock) {
        cli_error("missing NAME; usage: cove exec NAME [-i] [-t] -- CMD [ARGS...]");
        return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        cli_error("missing the command; usage: cove exec NAME [-i] [-t] -- CMD [ARGS...]");
        return CLI_EXIT_USAGE;
    }
    a->cmd = argv + optind;
    return 0;
}

int cmd_exec(int argc, char **argv)
{
    struct exec_args a = {.timeout = COVE_AGENT_TIMEOUT_MS / 1000.0};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    int fd;
    if ((rc = cli_agent_connect(a.name, a.vsock, a.timeout, &fd)) != 0)
        return rc;
    bool local_tty = a.tty && console_is_terminal(STDIN_FILENO);
    struct winsize ws = {0};
    if (a.tty)
        ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
    if (forward_signals(a.tty) < 0) {
        cli_error("cannot set up signal forwarding: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (local_tty && console_raw_enter(STDIN_FILENO) < 0) {
        cli_error("cannot put the terminal in raw mode: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (local_tty) { /* console_raw_enter took SIGHUP for itself; forward it instead */
        struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
    }
    struct cove_exec_options o = {
        .argv = (const char *const *)a.cmd,
        .env = a.env,
        .cwd = a.cwd,
        .tty = a.tty,
        .stdin_open = a.interactive,
        .in_fd = STDIN_FILENO,
        .out_fd = STDOUT_FILENO,
        .err_fd = STDERR_FILENO,
        .rows = ws.ws_row,
        .cols = ws.ws_col,
        .signal_fd = signal_pipe[0],
        .winsize_fd = a.tty ? STDIN_FILENO : -1,
        .timeout_ms = (int)(a.exec_timeout * 1000),
    };
    int status = 0;
    char message[512];
    struct cove_error err = {0};
    rc = cove_agent_exec(fd, &o, &status, message, sizeof message, &err);
    close(fd);
    console_raw_leave();
    if (rc == -EPIPE)
        return 128 + SIGPIPE; /* as the command itself would have died */
    if (rc < 0) {
        cli_error("%s", err.message);
        return cove_agent_exit_code(rc);
    }
    if (message[0])
        cli_error("%s", message);
    return status;
}
