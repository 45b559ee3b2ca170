/*
 * cove clipboard NAME get|set: the text of the CLIPBOARD selection of a running VM's X
 * display, through the guest agent and the image's `cove-clipboard` (xclip as the display's
 * user: images/desktop/setup.sh). `get` prints it; `set` takes it from stdin (at most
 * CLIPBOARD_MAX bytes, read whole before anything reaches the guest). Only images with a
 * desktop have `cove-clipboard`; elsewhere the command says so.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cove/agent.h>

#define CLIPBOARD_MAX (1 << 20)

static const char clipboard_usage[] =
    "usage: cove clipboard NAME get|set [--timeout S]\n"
    "\n"
    "The clipboard (X's CLIPBOARD selection) of the running VM NAME's display, through its\n"
    "guest agent: `get` prints its text, `set` replaces it with stdin (at most 1 MiB).\n"
    "Needs an image with a desktop (cove create NAME --from desktop).\n"
    "  --timeout S   how long to wait for the agent to answer (default 10)\n"
    "Exit codes: 0 done, 1 no clipboard in the VM or too much text, 2 usage, 125 VM not\n"
    "running or no agent, 124 timeout.\n";

/* stdin, whole, into a memfd (so that nothing is sent when it is too long): its fd or -1. */
static int read_text(void)
{
    int fd = memfd_create("cove-clipboard", MFD_CLOEXEC);
    if (fd < 0) {
        cli_error("memfd_create: %s", strerror(errno));
        return -1;
    }
    static char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read stdin: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            if (lseek(fd, 0, SEEK_SET) == 0)
                return fd;
            break;
        }
        total += (size_t)n;
        if (total > CLIPBOARD_MAX) {
            cli_error("the text is over %d bytes; the clipboard takes at most that", CLIPBOARD_MAX);
            break;
        }
        if (write(fd, buf, (size_t)n) != n) {
            cli_error("cannot keep the text: %s", strerror(errno));
            break;
        }
    }
    close(fd);
    return -1;
}

int cmd_clipboard(int argc, char **argv)
{
    static const struct option options[] = {
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    double timeout = COVE_AGENT_TIMEOUT_MS / 1000.0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        switch (c) {
        case 'T':
            if (cli_parse_timeout(optarg, &timeout) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            fputs(clipboard_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_bad_option("clipboard", c, argv);
        }
    }
    if (argc - optind != 2 || (strcmp(argv[optind + 1], "get") && strcmp(argv[optind + 1], "set"))) {
        cli_error("usage: cove clipboard NAME get|set; see `cove clipboard --help`");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    bool set = !strcmp(argv[optind + 1], "set");
    int in = -1;
    if (set && (in = read_text()) < 0)
        return CLI_EXIT_FAILURE;
    int fd, rc;
    if ((rc = cli_agent_connect(name, NULL, timeout, &fd)) != 0) {
        if (in >= 0)
            close(in);
        return rc;
    }
    const char *args[] = {"cove-clipboard", set ? "set" : "get", NULL};
    struct cove_exec_options o = {
        .argv = args,
        .stdin_open = set,
        .in_fd = set ? in : -1,
        .out_fd = STDOUT_FILENO,
        .err_fd = STDERR_FILENO,
        .signal_fd = -1,
        .winsize_fd = -1,
        .timeout_ms = 60000,
    };
    int status = 0;
    char message[512];
    struct cove_error err = {0};
    rc = cove_agent_exec(fd, &o, &status, message, sizeof message, &err);
    close(fd);
    if (in >= 0)
        close(in);
    if (rc < 0) {
        cli_error("%s", err.message);
        return cove_agent_exit_code(rc);
    }
    if (status == 127) {
        cli_error("VM '%s' has no clipboard: only an image with a desktop has one (cove create "
                  "NAME --from desktop)", name);
        return CLI_EXIT_FAILURE;
    }
    return status == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
