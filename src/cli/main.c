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

#include <cove/network.h>

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

/* The argument getopt choked on. It moved past a long option and past the last letter of
 * a cluster of short ones, but not past a letter in the middle ("-rf" at 'r'). */
static const char *bad_argument(char **argv)
{
    const char *prev = argv[optind - 1];
    size_t n = strlen(prev);
    if (prev[0] == '-' && (prev[1] == '-' || (n > 1 && prev[n - 1] == optopt)))
        return prev;
    return argv[optind] && argv[optind][0] == '-' ? argv[optind] : prev;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = bad_argument(argv);
    char what[64];
    if (arg[0] == '-' && arg[1] != '-' && optopt && strlen(arg) > 2)
        snprintf(what, sizeof what, "'-%c' in '%.40s'", optopt, arg); /* a cluster */
    else
        snprintf(what, sizeof what, "'%.60s'", arg);
    if (c == ':')
        cli_error("option %s needs a value; see `cove %s --help`", what, cmd);
    else
        cli_error("unknown option %s; see `cove %s --help`", what, cmd);
    return CLI_EXIT_USAGE;
}

static const char usage[] =
    "usage: cove [--verbose] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create     make a new VM (from the default guest, or a kernel of your own)\n"
    "  clone      copy a VM (or an image of a registry), copy-on-write, in constant time\n"
    "  run        boot a VM (cove run NAME [-- CMD]), or an ephemeral one (--kernel ...)\n"
    "  list       the VMs with their state and size\n"
    "  get        one VM's settings and state\n"
    "  set        change a stopped VM's CPUs, memory, disk size or network\n"
    "  console    a running VM's screen and serial console in a browser (--web)\n"
    "  stop       power a running VM off (gracefully, then by force)\n"
    "  suspend    save a running VM's state to disk and stop it; `cove run` resumes it\n"
    "  snapshot   save, restore, list and delete snapshots of a VM (running or not)\n"
    "  pause      hold a running VM's vCPUs\n"
    "  resume     let a paused VM run again\n"
    "  rename     rename a stopped VM\n"
    "  delete     delete a stopped VM\n"
    "  disk       create, inspect, check, grow and convert disk images\n"
    "  exec       run a command in a running VM (guest agent)\n"
    "  ip         a running VM's IP address\n"
    "  cp         copy a file or (-r) a directory into or out of a running VM\n"
    "  clipboard  get or set the clipboard of a running VM's desktop (guest agent)\n"
    "  network    create, list and delete cove networks (VMs on one private segment)\n"
    "  image      build, update, list and remove distribution images (e.g. debian)\n"
    "  push       send a VM to OCI registries (cove push NAME REGISTRY/REPO:TAG)\n"
    "  pull       fetch a VM image from an OCI registry into the cache\n"
    "  login      store a registry's credentials (logout forgets them)\n"
    "  prune      make the cache of pulled images smaller\n"
    "  ssh        ssh into a running VM over vsock (cove ssh NAME [-- CMD])\n"
    "  ssh-config a Host block for ~/.ssh/config, so that `ssh cove-NAME` works\n"
    "  connect    pipe stdin/stdout to a guest vsock port (ssh's ProxyCommand)\n"
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
        {"get", cmd_get}, {"set", cmd_set}, {"stop", cmd_stop}, {"suspend", cmd_suspend}, {"snapshot", cmd_snapshot}, {"delete", cmd_delete},
        {"rename", cmd_rename}, {"pause", cmd_pause}, {"resume", cmd_resume},
        {"disk", cmd_disk}, {"exec", cmd_exec}, {"ip", cmd_ip}, {"cp", cmd_cp},
        {"image", cmd_image}, {"network", cmd_network}, {"push", cmd_push}, {"pull", cmd_pull},
        {"login", cmd_login}, {"logout", cmd_logout}, {"prune", cmd_prune},
        {"ssh", cmd_ssh}, {"ssh-config", cmd_ssh_config}, {"connect", cmd_connect},
        {"console", cmd_console}, {"clipboard", cmd_clipboard},
    };
    if (!strcmp(cmd, "network-switch")) /* hidden: a network's switch, started by cove */
        return cove_network_switch_main(argc - i, argv + i);
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
