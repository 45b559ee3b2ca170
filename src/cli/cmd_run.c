/*
 * cove run — boot an ephemeral VM from a kernel (and initrd) with the serial console on
 * this terminal. On a terminal the console is raw and Ctrl-A x quits; without one (pipes)
 * stdin/stdout are passed through untouched. Exits 0 when the guest powers off.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "util/size.h"

#define DEFAULT_MEMORY (512ull << 20)

static const char run_usage[] =
    "usage: cove run --kernel PATH [--initrd PATH] [--append ARGS] [--cpus N]\n"
    "                [--memory SIZE] [--firmware PATH] [--disk PATH[,ro]]...\n"
    "                [--net nat|none] [--forward tcp|udp:[ADDR:]HOSTPORT:GUESTPORT]...\n"
    "                [--mac MAC] [--vsock PATH] [--console serial|virtio]\n"
    "\n"
    "Boots a virtual machine with its console on this terminal and exits 0\n"
    "when the guest powers off.\n"
    "\n"
    "  --kernel PATH     RISC-V Linux Image or ELF (with --firmware: any S-mode payload,\n"
    "                    e.g. U-Boot's u-boot.bin)\n"
    "  --initrd PATH     initial ramdisk (cpio)\n"
    "  --append ARGS     kernel command line\n"
    "  --cpus N          virtual CPUs (1-32, default 1)\n"
    "  --memory SIZE     guest memory, e.g. 512M or 2G; a bare number is MiB (default 512M)\n"
    "  --firmware PATH   M-mode firmware to run first (e.g. OpenSBI fw_dynamic.bin); without\n"
    "                    it cove implements SBI itself and boots the kernel directly\n"
    "  --disk PATH[,ro]  a raw disk image on virtio-blk (repeat for more; the first is\n"
    "                    /dev/vda); ,ro attaches it read-only\n"
    "  --no-rng          no virtio-rng entropy device (on by default)\n"
    "  --net nat|none    a virtio-net interface on user-mode NAT (10.0.2.0/24: DHCP gives\n"
    "                    the guest 10.0.2.15, the host is 10.0.2.2, DNS 10.0.2.3); default\n"
    "                    none, unless --forward or --mac is given\n"
    "  --forward tcp:HOSTPORT:GUESTPORT  forwards a host port (on 127.0.0.1 unless\n"
    "                    tcp:ADDR:HOSTPORT:GUESTPORT) to the guest; udp: too; repeatable\n"
    "  --mac MAC         the interface's MAC (default: random 52:54:00:xx:xx:xx)\n"
    "  --vsock PATH      a virtio-vsock device (guest CID 3) bridged to the Unix socket\n"
    "                    PATH: the guest agent is reached there (cove exec, docs/AGENT.md)\n"
    "  --console serial|virtio  the guest console: the 16550 UART, ttyS0 (default), or\n"
    "                    virtio-console, hvc0 (console=hvc0 is put on the command line)\n"
    "\n"
    "On a terminal the console is in raw mode: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
    "The default guest: --kernel \"$(make -s guest-path)/Image\" --initrd \"$(make -s guest-path)/initrd\"\n";

static struct machine *running_machine;

static void stop_on_signal(int sig)
{
    (void)sig;
    if (running_machine)
        machine_request_stop(running_machine);
}

#define MAX_FORWARDS 64

struct run_args {
    struct machine_disk disks[MACHINE_MAX_VIRTIO];
    unsigned ndisks;
    int net;          /* -1: not said, 0: none, 1: nat */
    bool mac_given;
    struct machine_net nic;
    struct net_forward forwards[MAX_FORWARDS];
};

static int parse_net_option(int opt, const char *arg, struct run_args *ra)
{
    struct cove_error err = {0};
    if (opt == 'n') {
        if (strcmp(arg, "nat") && strcmp(arg, "none")) {
            cli_error("--net '%s': unknown network; use --net nat or --net none", arg);
            return -1;
        }
        ra->net = !strcmp(arg, "nat");
    } else if (opt == 'f') {
        if (ra->nic.nforwards == MAX_FORWARDS) {
            cli_error("too many --forward options; at most %d", MAX_FORWARDS);
            return -1;
        }
        if (net_forward_parse(arg, &ra->forwards[ra->nic.nforwards], &err) < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        ra->nic.nforwards++;
    } else {
        if (net_mac_parse(arg, ra->nic.mac, &err) < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        ra->mac_given = true;
    }
    return 0;
}

/* --forward and --mac ask for a network; with --net none they make no sense. */
static int finish_net(struct run_args *ra, struct machine_config *cfg)
{
    bool wants = ra->nic.nforwards || ra->mac_given;
    if (ra->net == 0 && wants) {
        cli_error("--%s needs a network; drop --net none", ra->nic.nforwards ? "forward" : "mac");
        return -1;
    }
    if (ra->net == 1 || wants) {
        if (!ra->mac_given)
            net_mac_random(ra->nic.mac); /* once per run: a guest reboot keeps it */
        ra->nic.forwards = ra->forwards;
        cfg->nets = &ra->nic;
        cfg->nnets = 1;
    }
    return 0;
}

/* PATH[,ro] — the path itself may not contain a comma followed by an option name. */
static int parse_disk(char *spec, struct run_args *ra)
{
    if (ra->ndisks == MACHINE_MAX_VIRTIO) {
        cli_error("too many --disk options; a VM has at most %d", MACHINE_MAX_VIRTIO);
        return -1;
    }
    struct machine_disk *d = &ra->disks[ra->ndisks];
    *d = (struct machine_disk){.path = spec};
    char *comma = strrchr(spec, ',');
    if (comma) {
        if (strcmp(comma + 1, "ro") != 0 && strcmp(comma + 1, "rw") != 0) {
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
    ra->ndisks++;
    return 0;
}

static int parse_run_args(int argc, char **argv, struct machine_config *cfg, struct run_args *ra)
{
    enum { OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_CPUS, OPT_MEMORY, OPT_FIRMWARE,
           OPT_DISK, OPT_NO_RNG, OPT_NET, OPT_FORWARD, OPT_MAC, OPT_VSOCK, OPT_CONSOLE };
    static const struct option options[] = {
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"append", required_argument, NULL, OPT_APPEND},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"disk", required_argument, NULL, OPT_DISK},
        {"no-rng", no_argument, NULL, OPT_NO_RNG},
        {"net", required_argument, NULL, OPT_NET},
        {"forward", required_argument, NULL, OPT_FORWARD},
        {"mac", required_argument, NULL, OPT_MAC},
        {"vsock", required_argument, NULL, OPT_VSOCK},
        {"console", required_argument, NULL, OPT_CONSOLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_KERNEL: cfg->kernel_path = optarg; break;
        case OPT_INITRD: cfg->initrd_path = optarg; break;
        case OPT_APPEND: cfg->cmdline = optarg; break;
        case OPT_FIRMWARE: cfg->firmware_path = optarg; break;
        case OPT_DISK:
            if (parse_disk(optarg, ra) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_NO_RNG: cfg->rng = false; break;
        case OPT_VSOCK: cfg->vsock_path = optarg; break;
        case OPT_CONSOLE: {
            bool virtio;
            if (cli_parse_console(optarg, &virtio) < 0)
                return CLI_EXIT_USAGE;
            cfg->console = virtio ? MACHINE_CONSOLE_VIRTIO : MACHINE_CONSOLE_SERIAL;
            break;
        }
        case OPT_NET:
        case OPT_FORWARD:
        case OPT_MAC:
            if (parse_net_option(c == OPT_NET ? 'n' : c == OPT_FORWARD ? 'f' : 'm', optarg, ra) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_CPUS:
            if (cli_parse_cpus(optarg, &cfg->cpus) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_MEMORY:
            if (size_parse(optarg, 1ull << 20, &cfg->memory_bytes) < 0) {
                cli_error("--memory '%s' is not a size; use e.g. 512M or 2G", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': fputs(run_usage, stdout); return -1;
        default: return cli_bad_option("run", c, argv);
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'; see `cove run --help`", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!cfg->kernel_path) {
        cli_error("no kernel given; pass --kernel PATH (the default guest's is "
                  "\"$(make -s guest-path)/Image\")");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int run_until_poweroff(const struct machine_config *cfg, bool tty)
{
    for (;;) {
        struct cove_error err = {0};
        struct machine *m;
        if (machine_create(cfg, &m, &err) < 0) {
            console_raw_leave();
            cli_error("%s", err.message);
            return CLI_EXIT_FAILURE;
        }
        /* Raw mode only once the machine is built, so that configuration errors print
         * on a sane terminal. */
        if (tty && console_raw_enter(STDIN_FILENO) < 0) {
            machine_destroy(m);
            cli_error("cannot put the terminal in raw mode: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        tty = false;
        running_machine = m;
        enum machine_stop_reason why = 0;
        int r = machine_run(m, &why, &err);
        running_machine = NULL;
        machine_destroy(m);
        if (r < 0) {
            console_raw_leave();
            cli_error("%s", err.message);
            return CLI_EXIT_FAILURE;
        }
        switch (why) {
        case MACHINE_STOP_REBOOT: continue; /* a fresh machine, as a reset would give */
        case MACHINE_STOP_POWEROFF: return CLI_EXIT_OK;
        case MACHINE_STOP_REQUESTED: return CLI_EXIT_OK;
        case MACHINE_STOP_GUEST_PANIC:
            console_raw_leave();
            cli_error("the guest kernel panicked (see the message above)");
            return CLI_EXIT_GUEST_PANIC;
        case MACHINE_STOP_GUEST_ERROR:
            console_raw_leave();
            cli_error("the guest stopped on a fatal trap (see the message above)");
            return CLI_EXIT_GUEST_ERROR;
        }
        return CLI_EXIT_FAILURE;
    }
}

int cmd_run(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] != '-')
        return cmd_run_vm(argc, argv); /* cove run NAME: a bundle */
    struct machine_config cfg = {
        .cpus = 1,
        .memory_bytes = DEFAULT_MEMORY,
        .console_in_fd = STDIN_FILENO,
        .console_out_fd = STDOUT_FILENO,
        .rng = true,
    };
    struct run_args ra = {.net = -1};
    int r = parse_run_args(argc, argv, &cfg, &ra);
    if (r < 0)
        return CLI_EXIT_OK; /* --help */
    if (r > 0)
        return r;
    cfg.disks = ra.disks;
    cfg.ndisks = ra.ndisks;
    if (finish_net(&ra, &cfg) < 0)
        return CLI_EXIT_USAGE;

    bool tty = console_is_terminal(STDIN_FILENO);
    cfg.console_escape = tty;

    struct sigaction sa = {.sa_handler = stop_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = run_until_poweroff(&cfg, tty);
    console_raw_leave();
    return r;
}
