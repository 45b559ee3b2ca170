/*
 * cove — create, run and manage RISC-V virtual machines.
 * This file only dispatches to the subcommands.
 */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cove/cove.h>

#ifndef COVE_VERSION
#define COVE_VERSION "0.1.0"
#endif

void cli_error(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cove: %s\n", line);
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    if (c == ':')
        cli_error("option '%s' needs a value; see `cove %s --help`", argv[optind - 1], cmd);
    else
        cli_error("unknown option '%s'; see `cove %s --help`", argv[optind - 1], cmd);
    return CLI_EXIT_USAGE;
}

static const char usage[] =
    "usage: cove [--verbose] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create     make a new VM (from the default guest, or a kernel of your own)\n"
    "  clone      copy a VM, copy-on-write, in constant time\n"
    "  run        boot a VM (cove run NAME), or an ephemeral one (cove run --kernel ...)\n"
    "  list       the VMs with their state and size\n"
    "  get        one VM's settings and state\n"
    "  set        change a stopped VM's CPUs, memory or disk size\n"
    "  stop       power a running VM off (gracefully, then by force)\n"
    "  pause      hold a running VM's vCPUs\n"
    "  resume     let a paused VM run again\n"
    "  rename     rename a stopped VM\n"
    "  delete     delete a stopped VM\n"
    "  disk       create, inspect, grow and convert disk images\n"
    "  exec       run a command in a running VM (guest agent)\n"
    "  ip         a running VM's IP address\n"
    "  cp         copy a file into or out of a running VM\n"
    "\n"
    "Options:\n"
    "  -v, --verbose   more messages (repeat for debug)\n"
    "  -h, --help      this help; `cove COMMAND --help` for a command\n"
    "  --version       print the version\n";

int main(int argc, char **argv)
{
    int i = 1;
    int verbosity = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbosity++;
        } else if (!strcmp(argv[i], "-vv")) {
            verbosity += 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--version")) {
            printf("cove %s\n", COVE_VERSION);
            return CLI_EXIT_OK;
        } else {
            cli_error("unknown option '%s'; see `cove --help`", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    cove_set_verbosity(verbosity);

    if (i >= argc) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[i];
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {
        {"run", cmd_run}, {"create", cmd_create}, {"clone", cmd_clone}, {"list", cmd_list},
        {"get", cmd_get}, {"set", cmd_set}, {"stop", cmd_stop}, {"delete", cmd_delete},
        {"rename", cmd_rename}, {"pause", cmd_pause}, {"resume", cmd_resume},
        {"disk", cmd_disk}, {"exec", cmd_exec}, {"ip", cmd_ip}, {"cp", cmd_cp},
    };
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (!strcmp(cmd, commands[c].name))
            return commands[c].fn(argc - i, argv + i);
    if (!strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    cli_error("unknown command '%s'; see `cove --help`", cmd);
    return CLI_EXIT_USAGE;
}
