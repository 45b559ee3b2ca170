/*
 * cove run NAME — boots a VM bundle (the ephemeral `cove run --kernel ...` is cmd_run.c).
 * The console is this terminal (raw mode, Ctrl-A x quits) or, with --no-console, the file
 * run/console.log in the bundle.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cove/cove.h>

static const char run_vm_usage[] =
    "usage: cove run NAME [--no-console] [--append ARGS] [--disk PATH[,ro]]... "
    "[--forward SPEC]...\n"
    "                [--console serial|virtio]\n"
    "\n"
    "Boots the VM NAME and exits when it stops (0 when the guest powered off).\n"
    "  --no-console      the console goes to run/console.log in the bundle (no input)\n"
    "  --append ARGS     added to the stored kernel command line for this run\n"
    "  --disk PATH[,ro]  one more disk for this run (after the bundle's own)\n"
    "  --forward SPEC    one more port forward for this run: tcp|udp:[ADDR:]HOSTPORT:GUESTPORT\n"
    "  --console serial|virtio  the guest console on ttyS0 (default) or hvc0 (virtio-console)\n"
    "On a terminal Ctrl-A x quits. `cove stop NAME` asks the guest to power off.\n";

static struct cove_vm_runner *active_runner;

static void stop_on_signal(int sig)
{
    (void)sig;
    if (active_runner)
        cove_vm_runner_stop(active_runner);
}

struct started_ctx {
    bool raw;
};

static int on_started(void *opaque, struct cove_vm_runner *r)
{
    struct started_ctx *c = opaque;
    active_runner = r;
    if (c->raw && console_raw_enter(STDIN_FILENO) < 0)
        return -errno;
    return 0;
}

static int add_disk(char *spec, struct cove_disk_config *disks, unsigned *n)
{
    if (*n == COVE_MAX_DISKS) {
        cli_error("too many --disk options; a VM has at most %d", COVE_MAX_DISKS);
        return -1;
    }
    struct cove_disk_config *d = &disks[*n];
    *d = (struct cove_disk_config){.file = spec};
    char *comma = strrchr(spec, ',');
    if (comma) {
        if (strcmp(comma + 1, "ro") && strcmp(comma + 1, "rw")) {
            cli_error("--disk '%s': unknown option '%s'; use PATH or PATH,ro", spec, comma + 1);
            return -1;
        }
        d->read_only = !strcmp(comma + 1, "ro");
        *comma = 0;
    }
    if (!*spec) {
        cli_error("--disk needs a path; use PATH or PATH,ro");
        return -1;
    }
    (*n)++;
    return 0;
}

int cmd_run_vm(int argc, char **argv)
{
    enum { O_NO_CONSOLE = 256, O_APPEND, O_DISK, O_FORWARD, O_CONSOLE };
    static const struct option options[] = {
        {"no-console", no_argument, NULL, O_NO_CONSOLE},
        {"append", required_argument, NULL, O_APPEND},
        {"disk", required_argument, NULL, O_DISK},
        {"forward", required_argument, NULL, O_FORWARD},
        {"console", required_argument, NULL, O_CONSOLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_disk_config disks[COVE_MAX_DISKS];
    const char *forwards[COVE_MAX_FORWARDS];
    unsigned ndisks = 0, nforwards = 0;
    bool no_console = false, virtio_console = false;
    const char *append = NULL;
    const char *name = argv[1];
    /* the name comes first: options follow it */
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_NO_CONSOLE: no_console = true; break;
        case O_APPEND: append = optarg; break;
        case O_CONSOLE:
            if (cli_parse_console(optarg, &virtio_console) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_DISK:
            if (add_disk(optarg, disks, &ndisks) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_FORWARD:
            if (nforwards == COVE_MAX_FORWARDS) {
                cli_error("too many --forward options; at most %d", COVE_MAX_FORWARDS);
                return CLI_EXIT_USAGE;
            }
            forwards[nforwards++] = optarg;
            break;
        case 'h': fputs(run_vm_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("run", c, argv);
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'; see `cove run --help`", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    struct cove_error err = {0};
    if (cove_name_check(name, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    bool tty = !no_console && console_is_terminal(STDIN_FILENO);
    struct started_ctx ctx = {tty};
    struct cove_run_options o = {
        .append = append,
        .console_to_log = no_console,
        .console_in_fd = no_console ? -1 : STDIN_FILENO,
        .console_out_fd = STDOUT_FILENO,
        .console_escape = tty,
        .virtio_console = virtio_console,
        .extra_disks = disks,
        .nextra_disks = ndisks,
        .forwards = forwards,
        .nforwards = nforwards,
        .on_started = on_started,
        .opaque = &ctx,
    };
    struct sigaction sa = {.sa_handler = stop_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    enum cove_run_result result = 0;
    int rc = cove_vm_run(name, &o, &result, &err);
    active_runner = NULL;
    console_raw_leave();
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (result == COVE_RUN_GUEST_ERROR) {
        cli_error("the guest stopped on a fatal trap (see the console)");
        return CLI_EXIT_GUEST_ERROR;
    }
    if (result == COVE_RUN_GUEST_PANIC) {
        cli_error("the guest kernel panicked (see the console%s)",
                  no_console ? " in run/console.log" : "");
        return CLI_EXIT_GUEST_PANIC;
    }
    return CLI_EXIT_OK;
}
