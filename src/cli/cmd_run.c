/*
 * cove run — boots a VM and exits when it stops. One command for both kinds of VM:
 *   cove run NAME [OPTIONS] [-- CMD [ARGS...]]   a bundle (cove create)
 *   cove run --kernel PATH [OPTIONS]             an ephemeral VM from a kernel
 * Both fill the same options and go through libcove's one run path (cove_vm_run for a
 * bundle, cove_run_config for a configuration built here). On a terminal the console is raw
 * and Ctrl-A x quits at once; SIGINT and SIGTERM ask the guest to power off first.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cove/cove.h>

static const char run_usage[] =
    "usage: cove run NAME [--no-console] [--rm] [-i] [--timeout S] [OPTIONS] [-- CMD [ARGS...]]\n"
    "       cove run --kernel PATH [--initrd PATH] [--cpus N] [--memory SIZE]\n"
    "                [--firmware PATH] [--net MODE] [--mac MAC] [--vsock PATH]\n"
    "                [--net-allow CIDR[:PORT]]... [--net-block CIDR]...\n"
    "                [--no-rng] [--display vnc --vnc-socket PATH] [OPTIONS]\n"
    "\n"
    "Boots the VM NAME (see cove create), or an ephemeral VM straight from a kernel, with\n"
    "the console on this terminal, and exits 0 when the guest powers off.\n"
    "\n"
    "Both:\n"
    "  --append ARGS     added to the kernel command line\n"
    "  --disk PATH|URI[,ro][,cache=writeback|none][,sync=full|fsync|none][,if=virtio|nvme]\n"
    "                    one more disk (repeatable; after the VM's own, the first virtio\n"
    "                    disk is /dev/vda): a raw or cdisk image, or an NBD export\n"
    "                    (nbd://HOST[:PORT]/EXPORT, nbds://... with TLS,\n"
    "                    nbd+unix:///EXPORT?socket=PATH); ,ro attaches it read-only;\n"
    "                    cache=none bypasses the host page cache (O_DIRECT); sync= is\n"
    "                    what a guest flush does: fsync (the default: fdatasync, or an NBD\n"
    "                    flush), full (also fsync the file's metadata), none (nothing);\n"
    "                    if=nvme makes it a namespace of the VM's NVMe controller\n"
    "                    (PCIe) instead of virtio-blk: /dev/nvme0n1, nvme0n2... in order;\n"
    "                    rate=SIZE/TIME,ops=N/TIME[,burst=SIZE][,ops-burst=N] limits a\n"
    "                    virtio disk's bandwidth and requests (token buckets, e.g.\n"
    "                    rate=50M/s,ops=2000/s; the guest's requests wait)\n"
    "  --forward tcp|udp:[ADDR:]HOSTPORT:GUESTPORT  forwards a host port (on 127.0.0.1\n"
    "                    unless ADDR) to the guest through the NAT (nat, or a cove\n"
    "                    network made with --nat); repeatable\n"
    "  --auto-forward    (NAT) forward the guest's listening ports (a VM NAME: its stored\n"
    "                    setting unless given; an ephemeral VM: needs --vsock)\n"
    AUTO_FORWARD_HELP("")
    "  --dir [NAME:]PATH[:ro]  shares the host directory PATH with the guest (virtio-fs,\n"
    "                    served by virtiofsd); the default guest mounts it at /mnt/cove/NAME\n"
    "                    (NAME: PATH's last component unless given); :ro makes it\n"
    "                    read-only on the host side; repeatable (at most 4)\n"
    "  --console serial|virtio  the guest console on the 16550 UART, ttyS0 (default), or on\n"
    "                    virtio-console, hvc0 (console=hvc0 is put on the command line)\n"
    "  --no-balloon      no virtio-balloon (on by default: memory the guest frees goes back\n"
    "                    to the host, and cove set --memory can shrink the running guest)\n"
    "  --no-seccomp      no system-call filter on the VMM (on by default: once the VM is set\n"
    "                    up the process may make only the system calls a running VM needs;\n"
    "                    for debugging; COVE_SECCOMP=0 does the same)\n"
    "  --jail, --no-jail whether the VMM jails itself once the VM is set up (by default when\n"
    "                    run as root, for a VM NAME not on a cove network): own mount, IPC\n"
    "                    and UTS namespaces with only the bundle's run/ visible, the uid of\n"
    "                    the user 'cove' (else 'nobody'), no capabilities; --jail fails\n"
    "                    where it cannot be had\n"
    "  --cpu-limit N     the VM may use N CPUs' time (e.g. 0.5) through its own cgroup (v2\n"
    "                    cpu.max, else v1 cpu.cfs_quota_us; fails without either); for a\n"
    "                    VM NAME instead of its stored limit (cove set --cpu-limit); with\n"
    "                    cgroups the VM's memory is also limited to its RAM + 256 MiB +\n"
    "                    RAM/8\n"
    NET_RATE_HELP("")
    "                    (a VM NAME: instead of its stored limit, cove set --net-rate)\n"
    "  --display none|vnc  vnc: a screen (virtio-gpu), keyboard and tablet (virtio-input),\n"
    "                    served over VNC on the Unix socket run/vnc.sock (a VM NAME) or\n"
    "                    --vnc-socket PATH (an ephemeral VM); default: a VM NAME's stored\n"
    "                    display (cove create/set --display), else none (docs/DISPLAY.md)\n"
    "A VM NAME:\n"
    "  -- CMD [ARGS...]  boot, wait for the guest agent, run CMD with its output here, power\n"
    "                    the guest off cleanly and exit with CMD's status (the console goes\n"
    "                    to run/console.log)\n"
    "  -i, --interactive with CMD: forward this stdin to it (else it reads /dev/null)\n"
    "  --timeout S       with CMD: how long to wait for the guest agent (default 120)\n"
    "  --rm              run a throw-away clone of NAME, deleted when it stops\n"
    "  --no-console      the console goes to run/console.log in the bundle (no input)\n"
    "  --vnc-port PORT   with a VNC display: also on 127.0.0.1:PORT, with VNC authentication\n"
    "                    (the password is in the bundle's vnc-password, made on first use;\n"
    "                    default: the stored port, if any)\n"
    "An ephemeral VM:\n"
    "  --kernel PATH     RISC-V Linux Image or ELF (with --firmware: any S-mode payload,\n"
    "                    e.g. U-Boot's u-boot.bin)\n"
    "  --initrd PATH     initial ramdisk (cpio)\n"
    "  --cpus N          virtual CPUs (1-32, default 1)\n"
    "  --memory SIZE     guest memory, e.g. 512M or 2G; a bare number is MiB (default 512M)\n"
    "  --firmware PATH   M-mode firmware to run first (e.g. OpenSBI fw_dynamic.bin); without\n"
    "                    it cove implements SBI itself and boots the kernel directly\n"
    NET_OPTIONS_HELP("")
    "                    (default none, unless --forward, --mac or a rule is given: nat)\n"
    "  --mac MAC         the interface's MAC (default: random 52:54:00:xx:xx:xx)\n"
    NET_RULES_HELP("")
    "  --vsock PATH      a virtio-vsock device (guest CID 3) bridged to the Unix socket\n"
    "                    PATH: the guest agent is reached there (cove exec --vsock PATH)\n"
    "  --no-rng          no virtio-rng entropy device (on by default)\n"
    "  --vnc-socket PATH with --display vnc: the VNC server's Unix socket\n"
    "\n"
    "On a terminal the console is in raw mode: Ctrl-A x quits at once (the guest's unwritten\n"
    "data is lost, as when pulling the plug), Ctrl-A Ctrl-A sends Ctrl-A. SIGINT and SIGTERM\n"
    "ask the guest to power off (its agent, else SysRq), and stop it by force after 20 s or\n"
    "on a second signal. Exit: 0 powered off or stopped, 3 fatal guest trap, 4 kernel panic.\n"
    "The default guest: --kernel \"$(make -s guest-path)/Image\" --initrd \"$(make -s guest-path)/initrd\"\n";

#define DEFAULT_MEMORY_MIB 512
#define DEFAULT_AGENT_TIMEOUT_S 120

struct run_args {
    const char *name;
    char **cmd;                 /* after "--": run it through the agent */
    bool rm, interactive, no_console;
    double agent_timeout;
    /* what only an ephemeral VM takes; the option that set it, for messages */
    const char *ephemeral_option;
    /* what only a named VM takes */
    const char *named_option;
    struct cove_net_spec net;   /* mode DEFAULT: not said */
    struct cove_config cfg;     /* the ephemeral VM (strings point into argv) */
    struct cove_disk_config disks[COVE_MAX_DISKS];
    unsigned ndisks;
    const char *forwards[COVE_MAX_FORWARDS];
    unsigned nforwards;
    struct cove_share_config shares[COVE_MAX_SHARES];
    unsigned nshares;
    struct cove_run_options o;
};

static int parse_disk(char *spec, struct run_args *a)
{
    struct cove_error err = {0};
    if (a->ndisks == COVE_MAX_DISKS) {
        cli_error("too many --disk options; a VM has at most %d", COVE_MAX_DISKS);
        return -1;
    }
    if (cove_disk_spec_parse(spec, &a->disks[a->ndisks], &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    a->ndisks++;
    return 0;
}

static int parse_option(int c, char *arg, struct run_args *a)
{
    struct cove_error err = {0};
    struct cove_config *cfg = &a->cfg;
    switch (c) {
    case 'k': cfg->kernel = arg; break;
    case 'I': cfg->initrd = arg; break;
    case 'F': cfg->firmware = arg; break;
    case 'A': a->o.append = arg; break;
    case 'd': return parse_disk(arg, a);
    case 'f': return cli_add_forward(arg, a->forwards, &a->nforwards);
    case 'D': return cli_add_share(arg, a->shares, &a->nshares);
    case 'R': a->o.no_rng = true; break;
    case 'B': a->o.no_balloon = true; break;
    case 'S': a->o.seccomp = false; break;
    case 'L': return cli_parse_cpu_limit(arg, false, &a->o.cpu_limit_milli);
    case 'W': a->o.set_net_rate = true; return cli_parse_net_rate(arg, &a->o.net_rate);
    case 'J': a->o.jail = true; a->o.jail_auto = false; break;
    case 'j': a->o.jail = a->o.jail_auto = false; break;
    case 'V': a->o.vsock_path = arg; break;
    case 'N': return cli_parse_net(arg, &a->net);
    case 'a': return cli_add_net_rule(arg, true, cfg->net_rules, &cfg->nnet_rules);
    case 'b': return cli_add_net_rule(arg, false, cfg->net_rules, &cfg->nnet_rules);
    case O_AUTO_FORWARD:
    case O_NO_AUTO_FORWARD:
    case O_AUTO_FORWARD_PRIVILEGED: return cli_auto_forward_option(c, &a->o.auto_forward);
    case 'M':
        if (cove_config_check_mac(arg, &err) < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        snprintf(cfg->mac, sizeof cfg->mac, "%s", arg);
        break;
    case 'c': return cli_parse_cpus(arg, &cfg->cpus);
    case 'm': return cli_parse_memory(arg, &cfg->memory_mib);
    case 'C': return cli_parse_console(arg, &a->o.virtio_console);
    case 'G':
        a->o.display_set = true;
        return cli_parse_display(arg, &a->o.display_vnc);
    case 'P': return cli_parse_vnc_port(arg, &a->o.vnc_port);
    case 'U': a->o.vnc_socket = arg; break;
    case 'r': a->rm = true; break;
    case 'i': a->interactive = true; break;
    case 'n': a->no_console = true; break;
    case 'T': return cli_parse_timeout(arg, &a->agent_timeout);
    default: return -1;
    }
    return 0;
}

/* Options that belong to one kind of VM only, by their short code. */
static const char ephemeral_only[] = "kIFRVNMcmabU";
static const char named_only[] = "rinTP";

/* Returns 0, or the exit code; -1 after --help. */
static int parse_args(int argc, char **argv, struct run_args *a)
{
    static const struct option options[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'I'},
        {"firmware", required_argument, NULL, 'F'},
        {"append", required_argument, NULL, 'A'},
        {"cpus", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'm'},
        {"disk", required_argument, NULL, 'd'},
        {"no-rng", no_argument, NULL, 'R'},
        {"no-balloon", no_argument, NULL, 'B'},
        {"no-seccomp", no_argument, NULL, 'S'},
        {"jail", no_argument, NULL, 'J'},
        {"cpu-limit", required_argument, NULL, 'L'},
        {"net-rate", required_argument, NULL, 'W'},
        {"no-jail", no_argument, NULL, 'j'},
        {"net", required_argument, NULL, 'N'},
        {"forward", required_argument, NULL, 'f'},
        {"dir", required_argument, NULL, 'D'},
        {"mac", required_argument, NULL, 'M'},
        {"net-allow", required_argument, NULL, 'a'},
        {"net-block", required_argument, NULL, 'b'},
        AUTO_FORWARD_OPTIONS,
        {"vsock", required_argument, NULL, 'V'},
        {"console", required_argument, NULL, 'C'},
        {"display", required_argument, NULL, 'G'},
        {"vnc-port", required_argument, NULL, 'P'},
        {"vnc-socket", required_argument, NULL, 'U'},
        {"rm", no_argument, NULL, 'r'},
        {"interactive", no_argument, NULL, 'i'},
        {"no-console", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    for (;;) {
        int prev = optind;
        int c = getopt_long(argc, argv, "+:ih", options, NULL);
        if (c == -1) {
            /* NAME may stand among the options; a command follows it (after "--"). */
            if (!a->name && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
                a->name = argv[optind++];
                continue;
            }
            break;
        }
        if (c == 'h') {
            fputs(run_usage, stdout);
            return -1;
        }
        if (c == '?' || c == ':')
            return cli_bad_option("run", c, argv);
        if (strchr(ephemeral_only, c) && !a->ephemeral_option)
            a->ephemeral_option = argv[prev];
        if (strchr(named_only, c) && !a->named_option)
            a->named_option = argv[prev];
        if (parse_option(c, optarg, a) < 0)
            return CLI_EXIT_USAGE;
    }
    if (optind < argc)
        a->cmd = argv + optind;
    return 0;
}

/* Which kind of VM the options describe, and that they fit it. */
static int check_form(struct run_args *a)
{
    if (a->name && a->ephemeral_option) {
        cli_error("%s is for a VM without a name (cove run --kernel ...); VM '%s' has its "
                  "own settings: change them with cove set", a->ephemeral_option, a->name);
        return CLI_EXIT_USAGE;
    }
    if (!a->name && a->named_option) {
        cli_error("%s needs a VM name: cove run NAME %s ...", a->named_option, a->named_option);
        return CLI_EXIT_USAGE;
    }
    if (!a->name && !a->cfg.kernel) {
        cli_error("no VM given; pass a VM name (cove run NAME, see cove list) or a kernel "
                  "(cove run --kernel PATH)");
        return CLI_EXIT_USAGE;
    }
    if (a->name && a->name[0] == '-') {
        cli_error("unexpected argument '%s'; see `cove run --help`", a->name);
        return CLI_EXIT_USAGE;
    }
    if (!a->name && a->cmd) {
        cli_error("unexpected argument '%s'; a command (-- CMD) needs a VM name: "
                  "cove run NAME -- CMD", a->cmd[0]);
        return CLI_EXIT_USAGE;
    }
    if (a->name && (a->interactive || a->agent_timeout > 0) && !a->cmd) {
        const char *opt = a->interactive ? "--interactive" : "--timeout";
        cli_error("%s needs a command: cove run NAME %s -- CMD [ARGS...]", opt, opt);
        return CLI_EXIT_USAGE;
    }
    /* a VM NAME may have a stored display (cove_vm_run checks its port then) */
    if ((a->o.vnc_port || a->o.vnc_socket) && !a->o.display_vnc &&
        (!a->name || a->o.display_set)) {
        cli_error("%s needs a display: add --display vnc",
                  a->o.vnc_port ? "--vnc-port" : "--vnc-socket");
        return CLI_EXIT_USAGE;
    }
    if (!a->name && a->o.display_vnc && !a->o.vnc_socket) {
        cli_error("--display vnc on a VM without a name needs --vnc-socket PATH");
        return CLI_EXIT_USAGE;
    }
    if (a->cmd && a->no_console) {
        cli_error("--no-console goes without saying with a command: its console is "
                  "run/console.log");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* The ephemeral VM's configuration: what the options said, with defaults. */
static int finish_config(struct run_args *a)
{
    struct cove_config *cfg = &a->cfg;
    if (!cfg->cpus)
        cfg->cpus = 1;
    if (!cfg->memory_mib)
        cfg->memory_mib = DEFAULT_MEMORY_MIB;
    bool wants_nat = a->nforwards || cfg->nnet_rules;
    if (a->net.mode == COVE_NET_NONE && (wants_nat || cfg->mac[0])) {
        cli_error("--%s needs a network; drop --net none",
                  a->nforwards ? "forward" : cfg->nnet_rules ? "net-allow/--net-block" : "mac");
        return CLI_EXIT_USAGE;
    }
    if (a->net.mode != COVE_NET_DEFAULT && a->net.mode != COVE_NET_NAT && wants_nat &&
        (cfg->nnet_rules || a->net.mode != COVE_NET_NETWORK)) {
        cli_error("--%s needs a network on NAT (--net nat)",
                  cfg->nnet_rules ? "net-allow/--net-block" : "forward");
        return CLI_EXIT_USAGE;
    }
    cfg->net = a->net;
    if (cfg->net.mode == COVE_NET_DEFAULT)
        cfg->net.mode = wants_nat || cfg->mac[0] ? COVE_NET_NAT : COVE_NET_NONE;
    cfg->has_network = cfg->net.mode != COVE_NET_NONE;
    for (unsigned i = 0; i < a->ndisks; i++)
        cfg->disks[i] = a->disks[i];
    cfg->ndisks = a->ndisks;
    a->o.extra_disks = NULL;
    a->o.nextra_disks = 0;
    return 0;
}

static struct cove_vm_runner *active_runner;

static void shutdown_on_signal(int sig)
{
    (void)sig;
    if (active_runner)
        cove_vm_runner_shutdown(active_runner);
}

static int raw_console_on_start(void *opaque, struct cove_vm_runner *r)
{
    (void)r;
    if (*(bool *)opaque && console_raw_enter(STDIN_FILENO) < 0)
        return -errno;
    return 0;
}

static int result_exit(int rc, enum cove_run_result result, const struct cove_error *err,
                       bool console_in_log)
{
    if (rc < 0) {
        cli_error("%s", err->message);
        return CLI_EXIT_FAILURE;
    }
    if (result == COVE_RUN_GUEST_ERROR) {
        cli_error("the guest stopped on a fatal trap (see the console%s)",
                  console_in_log ? " in run/console.log" : " above");
        return CLI_EXIT_GUEST_ERROR;
    }
    if (result == COVE_RUN_GUEST_PANIC) {
        cli_error("the guest kernel panicked (see the console%s)",
                  console_in_log ? " in run/console.log" : " above");
        return CLI_EXIT_GUEST_PANIC;
    }
    return CLI_EXIT_OK;
}

/* A name for the throw-away clone of NAME (--rm): NAME-rm-PID, cut to fit. */
static void throwaway_name(const char *name, char *out, size_t n)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-rm-%d", (int)getpid());
    size_t keep = COVE_NAME_MAX - strlen(suffix);
    snprintf(out, n, "%.*s%s", (int)keep, name, suffix);
}

/* Deletes the throw-away clones of NAME that an earlier --rm left behind when it was
 * killed: stopped, named NAME-rm-PID, with no process PID any more. */
static void sweep_throwaways(const char *name)
{
    struct cove_vm_info *list;
    size_t n;
    if (cove_vm_list(&list, &n, NULL) < 0)
        return;
    char prefix[COVE_NAME_MAX + 1];
    throwaway_name(name, prefix, sizeof prefix);
    *strrchr(prefix, '-') = 0; /* NAME-rm, cut as throwaway_name cuts it */
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        const char *vm = list[i].name;
        char *end;
        if (strncmp(vm, prefix, plen) || vm[plen] != '-' || !vm[plen + 1] ||
            list[i].state != COVE_VM_STOPPED || list[i].broken)
            continue;
        long pid = strtol(vm + plen + 1, &end, 10);
        if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (cove_vm_delete(vm, NULL) == 0)
            fprintf(stderr, "cove: deleted %s, left behind by a killed `cove run --rm`\n", vm);
    }
    cove_vm_list_free(list, n);
}

/* Boots the VM (by name, or a.cfg) until it stops; with a.cmd runs it through the agent. */
static int boot(struct run_args *a, const char *name)
{
    struct cove_error err = {0};
    /* the jail's namespaces, while this process has one thread (before the runner's) */
    if (a->o.jail && cove_jail_prepare(&err) < 0) {
        if (!a->o.jail_auto) {
            cli_error("%s", err.message);
            return CLI_EXIT_FAILURE;
        }
        fprintf(stderr, "cove: the VMM runs without a jail: %s\n", err.message);
        a->o.jail = false;
    }
    if (a->cmd)
        return run_command(name, a->cmd, a->interactive,
                           a->agent_timeout > 0 ? a->agent_timeout : DEFAULT_AGENT_TIMEOUT_S,
                           &a->o);
    bool to_log = a->no_console;
    bool tty = !to_log && console_is_terminal(STDIN_FILENO);
    a->o.console_to_log = to_log;
    a->o.console_in_fd = to_log ? -1 : STDIN_FILENO;
    a->o.console_out_fd = STDOUT_FILENO;
    a->o.console_escape = tty;
    a->o.on_started = raw_console_on_start;
    a->o.opaque = &tty;
    a->o.runner = cove_vm_runner_new(&err);
    if (!a->o.runner) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    active_runner = a->o.runner;
    enum cove_run_result result = 0;
    int rc = name ? cove_vm_run(name, &a->o, &result, &err)
                  : cove_run_config(&a->cfg, &a->o, &result, &err);
    console_raw_leave();
    active_runner = NULL;
    cove_vm_runner_free(a->o.runner);
    if (rc == 0 && result == COVE_RUN_SUSPENDED)
        fprintf(stderr, "\ncove: VM '%s' suspended; `cove run %s` resumes it\n", name, name);
    return result_exit(rc, result, &err, name && to_log);
}

static pid_t run_child;

/* Signals sent to this process (kill, timeout) go on to the run; those of the terminal
 * (SI_KERNEL) reach the run by themselves, as it is in the same process group. */
static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (run_child > 0 && si->si_code != SI_KERNEL)
        kill(run_child, sig);
}

/* --rm: the run confines its process for good (the system-call filter), and deleting the
 * clone afterwards needs what the filter forbids, so the run goes in a child and this
 * process deletes the clone when it ends. The child dies with this process. */
static int boot_in_child(struct run_args *a, const char *name)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot start the VM: fork: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(CLI_EXIT_FAILURE);
        int rc = boot(a, name);
        fflush(NULL);
        _exit(rc);
    }
    run_child = pid;
    struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    run_child = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int cmd_run(int argc, char **argv)
{
    struct run_args a = {0};
    const char *sc = getenv("COVE_SECCOMP");
    a.o.seccomp = !sc || strcmp(sc, "0") != 0;
    a.o.jail = a.o.jail_auto = geteuid() == 0; /* --jail: always, --no-jail: never */
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = check_form(&a)) != 0)
        return rc;
    struct cove_error err = {0};
    if (a.name) {
        if (cove_name_check(a.name, &err) < 0) {
            cli_error("%s", err.message);
            return CLI_EXIT_USAGE;
        }
        a.o.extra_disks = a.disks;
        a.o.nextra_disks = a.ndisks;
    } else if ((rc = finish_config(&a)) != 0) {
        return rc;
    }
    a.o.forwards = a.forwards;
    a.o.nforwards = a.nforwards;
    a.o.shares = a.shares;
    a.o.nshares = a.nshares;
    if (!a.name) { /* the ephemeral VM's forwards are its configuration's */
        a.cfg.nforwards = a.nforwards;
        for (unsigned i = 0; i < a.nforwards; i++)
            a.cfg.forwards[i] = (char *)a.forwards[i];
        a.o.forwards = NULL;
        a.o.nforwards = 0;
    }

    struct sigaction sa = {.sa_handler = shutdown_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!a.rm)
        return boot(&a, a.name);
    char tmp[COVE_NAME_MAX + 1];
    sweep_throwaways(a.name);
    throwaway_name(a.name, tmp, sizeof tmp);
    if (cove_vm_clone(a.name, tmp, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    rc = boot_in_child(&a, tmp);
    if (cove_vm_delete(tmp, &err) < 0)
        cli_error("cannot delete the throw-away VM: %s (cove delete %s)", err.message, tmp);
    return rc;
}
