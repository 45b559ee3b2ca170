/*
 * cove cp [-r] NAME:PATH LOCAL | cove cp [-r] LOCAL NAME:PATH: copies one file (or with
 * -r a directory tree) out of or into a running VM through its guest agent, keeping the
 * mode. The copy lands under a temporary name and is renamed into place only once whole,
 * on either side. INT, TERM and HUP end the
 * copy cleanly: the connection is shut down, so the copy fails, its temporary file is
 * removed (here or in the guest), and cove cp exits 128+N.
 */
#include "cli.h"

#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cove/agent.h>

static const char cp_usage[] =
    "usage: cove cp [-r] NAME:PATH LOCAL\n"
    "       cove cp [-r] LOCAL NAME:PATH\n"
    "       cove cp --vsock SOCKET [-r] [:PATH LOCAL | LOCAL :PATH]\n"
    "\n"
    "Copies a file out of or into the running VM NAME (guest agent), keeping its mode.\n"
    "A directory as the destination takes the source's file name.\n"
    "  -r, --recursive  copy the directory PATH or LOCAL: files, directories and symbolic\n"
    "                   links (as links) with their permission bits; the destination must\n"
    "                   not exist yet. Links from the guest must stay inside the tree.\n"
    "Exit codes: 125 VM not running or no agent, 124 agent timeout, 123 connection lost\n"
    "or the agent broke the protocol, 128+N ended by signal N (nothing left behind).\n";

static volatile sig_atomic_t interrupted_by;
static int copy_fd = -1;

/* Async-signal-safe: the copy sees its connection end, fails and cleans up after itself. */
static void on_signal(int sig)
{
    if (!interrupted_by)
        interrupted_by = sig;
    shutdown(copy_fd, SHUT_RDWR);
}

static void catch_signals(int fd)
{
    copy_fd = fd;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* "NAME:PATH" (NAME without '/'), or ":PATH" with --vsock; the colon's position or -1. */
static int remote_split(const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || memchr(arg, '/', (size_t)(colon - arg)))
        return -1;
    return (int)(colon - arg);
}

int cmd_cp(int argc, char **argv)
{
    enum { O_VSOCK = 256, O_TIMEOUT };
    static const struct option options[] = {
        {"vsock", required_argument, NULL, O_VSOCK},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"recursive", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *vsock = NULL;
    bool recursive = false;
    double timeout = COVE_AGENT_TIMEOUT_MS / 1000.0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hr", options, NULL)) != -1) {
        switch (c) {
        case O_VSOCK: vsock = optarg; break;
        case O_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'r': recursive = true; break;
        case 'h': fputs(cp_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("cp", c, argv);
        }
    }
    if (argc - optind != 2) {
        cli_error("cp takes a source and a destination; usage: cove cp NAME:PATH LOCAL "
                  "or cove cp LOCAL NAME:PATH");
        return CLI_EXIT_USAGE;
    }
    char *src = argv[optind], *dst = argv[optind + 1];
    int s = remote_split(src), d = remote_split(dst);
    if ((s >= 0) == (d >= 0)) {
        cli_error("exactly one of the two paths must be NAME:PATH (in the VM)");
        return CLI_EXIT_USAGE;
    }
    char *remote = s >= 0 ? src : dst;
    int at = s >= 0 ? s : d;
    remote[at] = 0;
    const char *name = remote, *remote_path = remote + at + 1;
    if ((vsock && *name) || (!vsock && !*name) || !*remote_path) {
        cli_error(vsock ? "with --vsock the VM path is written :PATH"
                        : "'%s:%s' needs a VM name and a path, as NAME:PATH", name, remote_path);
        return CLI_EXIT_USAGE;
    }
    int fd, rc = cli_agent_connect(name, vsock, timeout, &fd);
    if (rc)
        return rc;
    struct cove_error err = {0};
    catch_signals(fd);
    if (recursive)
        rc = s >= 0 ? cove_agent_get_tree(fd, remote_path, dst, &err)
                    : cove_agent_put_tree(fd, src, remote_path, &err);
    else
        rc = s >= 0 ? cove_agent_get(fd, remote_path, dst, &err)
                    : cove_agent_put(fd, src, remote_path, &err);
    close(fd);
    if (interrupted_by && rc < 0) {
        cli_error("interrupted by signal %d; nothing was copied", (int)interrupted_by);
        return 128 + interrupted_by;
    }
    if (rc < 0) {
        cli_error("%s", err.message);
        return cove_agent_exit_code(rc);
    }
    return CLI_EXIT_OK;
}
