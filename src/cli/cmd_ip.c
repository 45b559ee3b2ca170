/*
 * cove ip NAME [--wait S] [--all]: the guest's IPv4 address, asked of its guest agent.
 * With --wait it keeps asking (the VM may still be booting, DHCP may not be done) until
 * an address comes or S seconds pass.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>

static const char ip_usage[] =
    "usage: cove ip NAME [--wait SECONDS] [--all]\n"
    "       cove ip --vsock PATH [--wait SECONDS] [--all]\n"
    "\n"
    "Prints the VM's IPv4 address (from its guest agent).\n"
    "  --wait S     wait up to S seconds for the VM to boot and get an address\n"
    "  --all        every interface's addresses, as 'IF ADDR/PREFIX' lines\n"
    "  --vsock PATH an ephemeral VM (cove run --vsock PATH) instead of NAME\n"
    "Exit codes: 125 VM not running or no agent, 124 no answer or no address in time.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One attempt: 0 with the lines in out (maybe empty), or a negative errno. */
static int ask(const char *name, const char *vsock, double timeout_s, char *out, size_t n,
               struct cove_error *err)
{
    int fd, timeout_ms = (int)(timeout_s * 1000);
    int rc = vsock ? cove_agent_connect(vsock, timeout_ms, &fd, err)
                   : cove_agent_open(name, timeout_ms, &fd, err);
    if (rc < 0)
        return rc;
    rc = cove_agent_ip(fd, out, n, err);
    close(fd);
    return rc;
}

int cmd_ip(int argc, char **argv)
{
    enum { O_WAIT = 256, O_ALL, O_VSOCK };
    static const struct option options[] = {
        {"wait", required_argument, NULL, O_WAIT},
        {"all", no_argument, NULL, O_ALL},
        {"vsock", required_argument, NULL, O_VSOCK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double wait_s = 0;
    bool all = false;
    const char *vsock = NULL, *name = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_WAIT:
            if (cli_parse_timeout(optarg, &wait_s) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_ALL: all = true; break;
        case O_VSOCK: vsock = optarg; break;
        case 'h': fputs(ip_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("ip", c, argv);
        }
    }
    if (optind < argc)
        name = argv[optind++];
    if ((!name && !vsock) || optind < argc) {
        cli_error(optind < argc ? "unexpected argument; usage: cove ip NAME [--wait S]"
                                : "missing NAME; usage: cove ip NAME [--wait S]");
        return CLI_EXIT_USAGE;
    }
    double deadline = now_s() + wait_s;
    for (;;) {
        char out[4096];
        struct cove_error err = {0};
        double left = deadline - now_s();
        int rc = ask(name, vsock, left > 1 ? left : 1, out, sizeof out, &err);
        if (rc == 0 && out[0]) {
            if (all) {
                fputs(out, stdout);
            } else { /* "eth0 10.0.2.15/24\n" -> "10.0.2.15" */
                char *addr = strchr(out, ' ') + 1;
                addr[strcspn(addr, "/\n")] = 0;
                puts(addr);
            }
            return CLI_EXIT_OK;
        }
        bool retry = rc == 0 || rc == -ESRCH || rc == -ECONNREFUSED || rc == -ETIMEDOUT;
        if (!retry || now_s() >= deadline) {
            if (rc == 0) {
                cli_error("the guest has no IPv4 address%s", wait_s ? " yet" : " (is its "
                          "network up? try --wait)");
                return wait_s ? COVE_EXIT_TIMEOUT : CLI_EXIT_FAILURE;
            }
            cli_error("%s", err.message);
            return cove_agent_exit_code(rc);
        }
        usleep(200000);
    }
}
