/*
 * cove console NAME --web [--port P]: the web console of a running VM with a display
 * (cove_vm_web_console, docs/DISPLAY.md). Prints one URL and serves until Ctrl-C or until
 * the VM stops.
 */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cove/cove.h>

static const char console_usage[] =
    "usage: cove console NAME --web [--port PORT]\n"
    "\n"
    "Serves the screen of the running VM NAME (it needs a display: cove run --display vnc,\n"
    "or cove create/set --display vnc) and its serial console to a browser. Prints one URL,\n"
    "http://127.0.0.1:PORT/?token=HEX, that opens the screen in noVNC (Debian's novnc\n"
    "package; COVE_NOVNC names another directory); the same URL with /console instead of /\n"
    "shows the serial console (read-only: run/console.log, so run the VM with --no-console).\n"
    "Every request needs the token, which is new for each run of this command; others get\n"
    "403. It serves on 127.0.0.1 only, until Ctrl-C or until the VM stops.\n"
    "  --web         serve the web console (the only kind for now)\n"
    "  --port PORT   the port on 127.0.0.1 (default: a free one)\n";

static volatile int stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void print_url(void *opaque, const char *url)
{
    (void)opaque;
    printf("%s\n", url);
    fflush(stdout);
    fprintf(stderr, "cove: serving the screen at that URL, the serial console at its "
                    "/console; Ctrl-C stops\n");
}

int cmd_console(int argc, char **argv)
{
    static const struct option options[] = {
        {"web", no_argument, NULL, 'w'},
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_web_console_options o = {0};
    bool web = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'w': web = true; break;
        case 'p': {
            struct cove_error err = {0};
            if (cove_vnc_port_parse(optarg, &o.port, &err) < 0) {
                cli_error("--port '%s': give a TCP port, 1-65535", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'h': fputs(console_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("console", c, argv);
        }
    }
    if (optind >= argc) {
        cli_error("console needs a VM name: cove console NAME --web");
        return CLI_EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        cli_error("unexpected argument '%s'; see `cove console --help`", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    if (!web) {
        cli_error("cove console serves the web console only: add --web (the serial console "
                  "is on the terminal of `cove run`, or in run/console.log)");
        return CLI_EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    o.stop = &stop_requested;
    o.on_ready = print_url;
    struct cove_error err = {0};
    if (cove_vm_web_console(argv[optind], &o, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
