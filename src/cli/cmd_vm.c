/*
 * The commands on named VMs: create, clone, list, get, set, stop, delete, rename, pause,
 * resume. Each parses its arguments, calls one libcove function and prints the result
 * (text, or JSON with --format json).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cove/cove.h>
#include <cove/image.h>
#include <cove/oci.h>
#include <cove/size.h>

#include "guest_dir.h"

static int fail(const struct cove_error *err)
{
    cli_error("%s", err->message);
    return CLI_EXIT_FAILURE;
}

/* Exactly `n` positional arguments remain (names). */
static int positional(const char *cmd, int argc, char **argv, int n, const char *what)
{
    if (argc - optind < n) {
        cli_error("missing %s; usage: cove %s %s", what, cmd, what);
        return CLI_EXIT_USAGE;
    }
    if (argc - optind > n) {
        cli_error("unexpected argument '%s'; see `cove %s --help`", argv[optind + n], cmd);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_parse_console(const char *text, bool *virtio)
{
    if (strcmp(text, "serial") && strcmp(text, "virtio")) {
        cli_error("--console '%s': unknown console; use --console serial (ttyS0) or "
                  "--console virtio (hvc0)", text);
        return -1;
    }
    *virtio = !strcmp(text, "virtio");
    return 0;
}

int cli_parse_display(const char *text, bool *vnc)
{
    struct cove_error err = {0};
    if (cove_display_parse(text, vnc, &err) < 0) {
        cli_error("--%s", err.message);
        return -1;
    }
    return 0;
}

int cli_parse_vnc_port(const char *text, int *port)
{
    struct cove_error err = {0};
    if (cove_vnc_port_parse(text, port, &err) < 0) {
        cli_error("--%s", err.message);
        return -1;
    }
    return 0;
}

int cli_parse_cpus(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || *end || end == text) {
        cli_error("--cpus '%s' is not a number; pass a count such as --cpus 2", text);
        return -1;
    }
    if (n < 1 || n > COVE_MAX_CPUS) {
        cli_error("cpus %s is out of range; use 1 to %d", text, COVE_MAX_CPUS);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

int cli_parse_cpu_limit(const char *text, bool none_ok, unsigned *milli)
{
    if (none_ok && !strcmp(text, "none")) {
        *milli = 0;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || end == text || !(v * 1000 >= COVE_MIN_CPU_LIMIT_MILLI) ||
        !(v * 1000 <= COVE_MAX_CPU_LIMIT_MILLI)) {
        cli_error("--cpu-limit '%s': give the CPUs' time the VM may use, 0.01 to 1024 (e.g. "
                  "0.5)%s", text, none_ok ? ", or none" : "");
        return -1;
    }
    *milli = (unsigned)(v * 1000 + 0.5);
    return 0;
}

int cli_parse_net_rate(const char *text, struct cove_rate_limit *out)
{
    char buf[256];
    struct cove_error err = {0};
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) {
        cli_error("--net-rate: too long");
        return -1;
    }
    if (cove_rate_limit_parse(buf, "--net-rate", out, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    return 0;
}

int cli_parse_memory(const char *text, uint64_t *mib)
{
    uint64_t bytes;
    if (cove_size_parse(text, 1ull << 20, &bytes) < 0) {
        cli_error("--memory '%s' is not a size; use e.g. 512M or 2G", text);
        return -1;
    }
    if (bytes % (1ull << 20) || bytes < ((uint64_t)COVE_MIN_MEMORY_MIB << 20) ||
        bytes > ((uint64_t)COVE_MAX_MEMORY_MIB << 20)) {
        cli_error("memory %s is out of range; use %d MiB to %d GiB in whole MiB", text,
                  COVE_MIN_MEMORY_MIB, COVE_MAX_MEMORY_MIB / 1024);
        return -1;
    }
    *mib = bytes >> 20;
    return 0;
}

static int parse_disk_size(const char *text, uint64_t *bytes)
{
    if (cove_size_parse(text, 1ull << 30, bytes) < 0 || *bytes == 0) {
        cli_error("--disk-size '%s' is not a size; use e.g. 8G", text);
        return -1;
    }
    return 0;
}

/* --net, --forward, --mac (create and set; spelled as `cove run` spells them). Values
 * are checked here by the library's parsers, so bad syntax is a usage error (exit 2). */
struct net_args {
    struct cove_net_spec net;
    const char *forwards[COVE_MAX_FORWARDS];
    unsigned nforwards;
    const char *mac;
    struct cove_net_rule rules[COVE_MAX_NET_RULES];
    unsigned nrules;
    enum cove_auto_forward auto_forward;
};

int cli_parse_net(const char *text, struct cove_net_spec *out)
{
    struct cove_error err = {0};
    if (cove_net_spec_parse(text, out, &err) < 0) {
        cli_error("--net: %s", err.message);
        return -1;
    }
    return 0;
}

int cli_add_net_rule(const char *spec, bool allow, struct cove_net_rule *rules, unsigned *n)
{
    struct cove_error err = {0};
    if (*n == COVE_MAX_NET_RULES) {
        cli_error("too many --net-allow and --net-block options; at most %d in all",
                  COVE_MAX_NET_RULES);
        return -1;
    }
    if (cove_net_rule_make(spec, allow, &rules[*n], &err) < 0) {
        cli_error("--net-%s: %s", allow ? "allow" : "block", err.message);
        return -1;
    }
    (*n)++;
    return 0;
}

/* A network option that needs NAT with --net none, tap:, bridge: or network: (NULL: none);
 * a cove network takes forwards (its NAT uplink serves them), its rules are its own. */
static const char *needs_nat(const struct cove_net_spec *net, unsigned nforwards,
                             unsigned nrules, const char *mac)
{
    if (net->mode == COVE_NET_NONE && mac)
        return "--mac";
    if (net->mode != COVE_NET_DEFAULT && net->mode != COVE_NET_NAT)
        return nforwards && net->mode != COVE_NET_NETWORK ? "--forward"
               : nrules ? "--net-allow/--net-block" : NULL;
    return NULL;
}

/* Says why opt (from needs_nat) is refused. */
static void say_needs_nat(const struct cove_net_spec *net, const char *opt)
{
    if (net->mode == COVE_NET_NETWORK && strstr(opt, "net-allow"))
        cli_error("a cove network's egress rules are the network's: set them with `cove "
                  "network create NAME --nat --net-allow ...`; drop --net-allow and "
                  "--net-block");
    else
        cli_error("%s needs a network on NAT (--net nat)", opt);
}

int cli_add_forward(const char *spec, const char **forwards, unsigned *n)
{
    struct cove_error err = {0};
    if (*n == COVE_MAX_FORWARDS) {
        cli_error("too many --forward options; at most %d", COVE_MAX_FORWARDS);
        return -1;
    }
    if (cove_config_check_forward(spec, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    forwards[(*n)++] = spec;
    return 0;
}

int cli_add_share(char *spec, struct cove_share_config *shares, unsigned *n)
{
    struct cove_error err = {0};
    if (*n == COVE_MAX_SHARES) {
        cli_error("too many --dir options; at most %d", COVE_MAX_SHARES);
        return -1;
    }
    if (cove_share_parse(spec, &shares[*n], &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    for (unsigned i = 0; i < *n; i++)
        if (!strcmp(shares[i].name, shares[*n].name)) {
            cli_error("--dir: two shares are named '%s'; name them: --dir NAME:PATH",
                      shares[i].name);
            return -1;
        }
    (*n)++;
    return 0;
}

static int set_mac(const char *mac, struct net_args *n)
{
    struct cove_error err = {0};
    if (cove_config_check_mac(mac, &err) < 0) {
        cli_error("--mac %s", err.message);
        return -1;
    }
    n->mac = mac;
    return 0;
}

/* The network options create and set share, with one code each in both option tables. */
enum { O_NET = 512, O_FORWARD, O_MAC, O_NET_ALLOW, O_NET_BLOCK };
enum { O_ADD_DISK = 600, O_REMOVE_DISK, O_DISK_OPTIONS };

/* 1: not a network option; 0: taken; -1: bad (the line is printed). */
static int net_option(int c, const char *arg, struct net_args *n)
{
    switch (c) {
    case O_NET: return cli_parse_net(arg, &n->net);
    case O_FORWARD: return cli_add_forward(arg, n->forwards, &n->nforwards);
    case O_MAC: return set_mac(arg, n);
    case O_NET_ALLOW: return cli_add_net_rule(arg, true, n->rules, &n->nrules);
    case O_NET_BLOCK: return cli_add_net_rule(arg, false, n->rules, &n->nrules);
    default: return cli_auto_forward_option(c, &n->auto_forward);
    }
}

/* --- create ---------------------------------------------------------------------------- */

static int parse_boot(const char *text, enum cove_boot *out)
{
    if (strcmp(text, "firmware") && strcmp(text, "direct")) {
        cli_error("--boot '%s': unknown boot; use --boot firmware or --boot direct", text);
        return -1;
    }
    *out = !strcmp(text, "firmware") ? COVE_BOOT_FIRMWARE : COVE_BOOT_DIRECT;
    return 0;
}

static const char create_usage[] =
    "usage: cove create NAME [--cpus N] [--memory SIZE] [--disk-size SIZE] [--cpu-limit N]\n"
    "                   [--from-guest default | --from IMAGE[:SUITE] |\n"
    "                    --kernel PATH [--initrd PATH]] [--append ARGS]\n"
    "                   [--from-disk FILE [--format raw|qcow2|cdisk]] [--boot firmware|direct]\n"
    "                   [--user NAME] [--ssh-key FILE]... [--user-data FILE]\n"
    "                   [--net nat|none|tap:IFNAME|bridge:BRIDGE|network:NAME]\n"
    "                   [--forward SPEC]... [--mac MAC]\n"
    "                   [--net-allow CIDR[:PORT]]... [--net-block CIDR]...\n"
    "                   [--no-auto-forward | --auto-forward-privileged] [--net-rate SPEC]\n"
    "                   [--dir [NAME:]PATH[:ro]]... [--display none|vnc [--vnc-port PORT]]\n"
    "\n"
    "Makes a new VM bundle. From the default guest (the default) the disk holds an ext4\n"
    "root file system made from the guest's initrd, so files persist across boots.\n"
    "  --cpus N           virtual CPUs, 1-32 (default 1)\n"
    "  --memory SIZE      guest memory, e.g. 512M or 2G; a bare number is MiB (default 512M)\n"
    "  --cpu-limit N      the CPUs' time the VM may use at each run, e.g. 0.5 (cgroup v2\n"
    "                     cpu.max or v1 cpu.cfs_quota_us: such a VM runs only where cgroups\n"
    "                     are writable; default none)\n"
    "  --disk-size SIZE   disk size, e.g. 8G; a bare number is GiB (default 8G; sparse; with\n"
    "                     --from-disk the image's size, and a larger one grows it)\n"
    "  --from-guest default  the default guest (COVE_GUEST_DIR, else the installed one)\n"
    "  --from IMAGE[:SUITE]  a distribution image (e.g. debian, debian:forky), built first\n"
    "                     when the image store does not have it (`cove image build`)\n"
    "  --user NAME        (--from) the login user, with passwordless sudo (default: your\n"
    "                     user name; \"cove\" for root)\n"
    "  --ssh-key FILE     (--from) a public key the user logs in with; repeatable (default:\n"
    "                     the .pub files of ~/.ssh)\n"
    "  --user-data FILE   (--from) your own #cloud-config, merged over cove's at first boot\n"
    "  --kernel PATH      a kernel of your own instead (a RISC-V Linux Image or ELF, copied\n"
    "                     into the bundle); empty disk\n"
    "  --initrd PATH      its initrd\n"
    "  --append ARGS      kernel command line (added to cove.root=/dev/vda for the guest)\n"
    "  --from-disk FILE   an existing riscv64 disk image, copied into the bundle as its disk;\n"
    "                     it boots through firmware unless --kernel is given\n"
    "  --format FMT       FILE's format: raw, qcow2 (converted by qemu-img) or cdisk\n"
    "                     (default: from its header)\n"
    "  --boot firmware|direct  firmware: OpenSBI -> U-Boot -> the disk's extlinux.conf or\n"
    "                     EFI loader (the default with --from-disk); direct: cove loads the\n"
    "                     kernel itself (the default otherwise; faster)\n"
    NET_OPTIONS_HELP(" ")
    "  --forward SPEC     a host port forwarded at every run: tcp|udp:[ADDR:]HOSTPORT:GUESTPORT\n"
    "                     (ADDR 127.0.0.1 unless given); repeatable, at most 64; with\n"
    "                     --net network:NAME the network's NAT (create --nat) forwards\n"
    "  --mac MAC          the interface's MAC (default: random 52:54:00:xx:xx:xx)\n"
    NET_RULES_HELP(" ")
    AUTO_FORWARD_HELP(" ")
    NET_RATE_HELP(" ")
    "  --dir [NAME:]PATH[:ro]  a host directory shared at every run (virtio-fs), mounted in\n"
    "                     the guest at /mnt/cove/NAME (NAME: PATH's last component);\n"
    "                     repeatable, at most 4; granted by this cove only (docs/BUNDLES.md)\n"
    DISPLAY_OPTIONS_HELP;

int cmd_create(int argc, char **argv)
{
    enum { O_CPUS = 256, O_CPU_LIMIT, O_MEMORY, O_DISK_SIZE, O_FROM_GUEST, O_FROM, O_KERNEL, O_INITRD,
           O_APPEND, O_FROM_DISK, O_FORMAT, O_BOOT, O_USER, O_SSH_KEY, O_USER_DATA, O_DIR,
           O_DISPLAY, O_VNC_PORT, O_NET_RATE };
    static const struct option options[] = {
        {"cpu-limit", required_argument, NULL, O_CPU_LIMIT},
        {"net-rate", required_argument, NULL, O_NET_RATE},
        {"cpus", required_argument, NULL, O_CPUS},
        {"memory", required_argument, NULL, O_MEMORY},
        {"disk-size", required_argument, NULL, O_DISK_SIZE},
        {"from-guest", required_argument, NULL, O_FROM_GUEST},
        {"from", required_argument, NULL, O_FROM},
        {"kernel", required_argument, NULL, O_KERNEL},
        {"initrd", required_argument, NULL, O_INITRD},
        {"append", required_argument, NULL, O_APPEND},
        {"from-disk", required_argument, NULL, O_FROM_DISK},
        {"format", required_argument, NULL, O_FORMAT},
        {"boot", required_argument, NULL, O_BOOT},
        {"user", required_argument, NULL, O_USER},
        {"ssh-key", required_argument, NULL, O_SSH_KEY},
        {"user-data", required_argument, NULL, O_USER_DATA},
        {"net", required_argument, NULL, O_NET},
        {"forward", required_argument, NULL, O_FORWARD},
        {"mac", required_argument, NULL, O_MAC},
        {"net-allow", required_argument, NULL, O_NET_ALLOW},
        {"net-block", required_argument, NULL, O_NET_BLOCK},
        AUTO_FORWARD_OPTIONS,
        {"dir", required_argument, NULL, O_DIR},
        {"display", required_argument, NULL, O_DISPLAY},
        {"vnc-port", required_argument, NULL, O_VNC_PORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_create_options o = {0};
    struct cove_share_config shares[COVE_MAX_SHARES];
    struct net_args n = {0};
    const char *guest = NULL;
    char *image = NULL;
    const char *keys[16];
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_CPU_LIMIT:
            if (cli_parse_cpu_limit(optarg, false, &o.cpu_limit_milli) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_NET_RATE:
            if (cli_parse_net_rate(optarg, &o.net_rate) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_CPUS:
            if (cli_parse_cpus(optarg, &o.cpus) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_MEMORY:
            if (cli_parse_memory(optarg, &o.memory_mib) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_DISK_SIZE:
            if (parse_disk_size(optarg, &o.disk_size) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_FROM_GUEST: guest = optarg; break;
        case O_FROM: image = optarg; break;
        case O_USER: o.user = optarg; break;
        case O_USER_DATA: o.user_data_file = optarg; break;
        case O_SSH_KEY:
            if (o.nssh_key_files == sizeof keys / sizeof keys[0]) {
                cli_error("at most %zu --ssh-key", sizeof keys / sizeof keys[0]);
                return CLI_EXIT_USAGE;
            }
            keys[o.nssh_key_files++] = optarg;
            o.ssh_key_files = keys;
            break;
        case O_KERNEL: o.kernel = optarg; break;
        case O_INITRD: o.initrd = optarg; break;
        case O_APPEND: o.cmdline = optarg; break;
        case O_FROM_DISK: o.from_disk = optarg; break;
        case O_FORMAT: o.disk_format = optarg; break;
        case O_BOOT:
            if (parse_boot(optarg, &o.boot) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_DIR:
            if (cli_add_share(optarg, shares, &o.nshares) < 0)
                return CLI_EXIT_USAGE;
            o.shares = shares;
            break;
        case O_DISPLAY:
            if (cli_parse_display(optarg, &o.display_vnc) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_VNC_PORT:
            if (cli_parse_vnc_port(optarg, &o.vnc_port) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(create_usage, stdout); return CLI_EXIT_OK;
        default: {
            int r = net_option(c, optarg, &n);
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (r > 0)
                return cli_bad_option("create", c, argv);
        }
        }
    }
    int rc = positional("create", argc, argv, 1, "NAME");
    if (rc)
        return rc;
    if (guest && strcmp(guest, "default")) {
        cli_error("--from-guest '%s' is not known; the only guest is 'default'", guest);
        return CLI_EXIT_USAGE;
    }
    if (!!guest + !!image + !!(o.kernel || o.from_disk) > 1) {
        cli_error("--from-guest, --from and --%s exclude each other; pass one",
                  o.kernel ? "kernel" : o.from_disk ? "from-disk" : "kernel");
        return CLI_EXIT_USAGE;
    }
    if (!image && (o.user || o.nssh_key_files || o.user_data_file)) {
        cli_error("--user, --ssh-key and --user-data are first-boot settings of a "
                  "distribution image; use them with --from IMAGE");
        return CLI_EXIT_USAGE;
    }
    if (o.initrd && !o.kernel) {
        cli_error("--initrd needs --kernel");
        return CLI_EXIT_USAGE;
    }
    if (o.vnc_port && !o.display_vnc) {
        cli_error("--vnc-port needs a display: add --display vnc");
        return CLI_EXIT_USAGE;
    }
    const char *opt = needs_nat(&n.net, n.nforwards, n.nrules, n.mac);
    if (opt) {
        say_needs_nat(&n.net, opt);
        return CLI_EXIT_USAGE;
    }
    o.net = n.net;
    o.forwards = n.forwards;
    o.nforwards = n.nforwards;
    o.mac = n.mac;
    o.net_rules = n.rules;
    o.nnet_rules = n.nrules;
    o.auto_forward = n.auto_forward;
    struct cove_error err = {0};
    const char *name = argv[optind];
    if (cove_name_check(name, &err) < 0)
        return fail(&err);
    char dir[PATH_MAX];
    if (image) {
        /* a name in use is refused before a build that may take minutes */
        struct cove_vm_info info;
        if (cove_vm_get(name, &info, NULL) == 0) {
            cove_vm_info_free(&info);
            cli_error("VM '%s' already exists", name);
            return CLI_EXIT_FAILURE;
        }
        char *suite = strchr(image, ':');
        if (suite)
            *suite++ = 0;
        /* the image as the store has it (`cove image build` rebuilds one whose inputs
         * changed); built when it has none */
        if (cove_image_find(image, suite, dir, sizeof dir, NULL) < 0 &&
            cli_image_build(image, suite, false, dir, sizeof dir) < 0)
            return CLI_EXIT_FAILURE;
        o.image_dir = dir;
    } else if (!o.kernel && !o.from_disk && o.boot != COVE_BOOT_FIRMWARE) {
        /* the default guest unless something else boots (libcove refuses what misses) */
        if (cli_default_guest_dir(dir, sizeof dir) < 0)
            return CLI_EXIT_FAILURE;
        o.guest_dir = dir;
    }
    if (cove_vm_create(name, &o, &err) < 0)
        return fail(&err);
    printf("created VM '%s'\n", name);
    return CLI_EXIT_OK;
}

/* --- commands taking only names -------------------------------------------------------- */

/* Parses `cove CMD NAME...` with only --help; returns <0 after printing help. */
static int names_only(const char *cmd, const char *usage, int argc, char **argv, int n,
                      const char *what)
{
    int rc = cli_help_only(cmd, usage, argc, argv);
    return rc ? rc : positional(cmd, argc, argv, n, what);
}

static int cmd_clone_vm(int argc, char **argv, const char *usage);

int cmd_clone(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove clone SRC DST\n"
        "       cove clone REF DST [--lazy] [--insecure]\n\n"
        "Makes DST a copy-on-write copy of the stopped VM SRC, in constant time; or of the\n"
        "image REF (REGISTRY/REPOSITORY[:TAG], pulled first unless cached: `cove clone\n"
        "REF --help`).\n\n"
        "A clone of a suspended VM is a fork: suspended too, it shares SRC's saved memory\n"
        "(never copied) and resumes (cove run DST) from the same instant, with its own MAC\n"
        "and, set through the guest agent, its own hostname (DST) and the current time.\n";
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') {
            if (cove_oci_is_ref(argv[i]))
                return cli_oci_clone(argc, argv);
            for (int j = 1; j < argc; j++)
                if (!strcmp(argv[j], "--lazy")) {
                    cli_error("--lazy clones an image REF (REGISTRY/REPOSITORY[:TAG]), not the "
                              "local VM '%s'; drop --lazy", argv[i]);
                    return CLI_EXIT_USAGE;
                }
            return cmd_clone_vm(argc, argv, usage);
        }
    return cmd_clone_vm(argc, argv, usage);
}

static int cmd_clone_vm(int argc, char **argv, const char *usage)
{
    int rc = names_only("clone", usage, argc, argv, 2, "SRC DST");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct cove_error err = {0};
    if (cove_vm_clone(argv[optind], argv[optind + 1], &err) < 0)
        return fail(&err);
    printf("cloned VM '%s' to '%s'\n", argv[optind], argv[optind + 1]);
    return CLI_EXIT_OK;
}

int cmd_delete(int argc, char **argv)
{
    static const char usage[] = "usage: cove delete NAME\n\nDeletes a stopped VM and its disk.\n";
    int rc = names_only("delete", usage, argc, argv, 1, "NAME");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct cove_error err = {0};
    if (cove_vm_delete(argv[optind], &err) < 0)
        return fail(&err);
    printf("deleted VM '%s'\n", argv[optind]);
    return CLI_EXIT_OK;
}

int cmd_rename(int argc, char **argv)
{
    static const char usage[] = "usage: cove rename OLD NEW\n\nRenames a stopped VM.\n";
    int rc = names_only("rename", usage, argc, argv, 2, "OLD NEW");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct cove_error err = {0};
    if (cove_vm_rename(argv[optind], argv[optind + 1], &err) < 0)
        return fail(&err);
    printf("renamed VM '%s' to '%s'\n", argv[optind], argv[optind + 1]);
    return CLI_EXIT_OK;
}

int cmd_pause(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove pause NAME\n\nStops the vCPUs of a running VM until `cove resume`.\n";
    int rc = names_only("pause", usage, argc, argv, 1, "NAME");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct cove_error err = {0};
    if (cove_vm_pause(argv[optind], &err) < 0)
        return fail(&err);
    return CLI_EXIT_OK;
}

int cmd_resume(int argc, char **argv)
{
    static const char usage[] = "usage: cove resume NAME\n\nLets a paused VM run again.\n";
    int rc = names_only("resume", usage, argc, argv, 1, "NAME");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct cove_error err = {0};
    if (cove_vm_resume(argv[optind], &err) < 0)
        return fail(&err);
    return CLI_EXIT_OK;
}

/* --- stop, suspend ---------------------------------------------------------------------- */

static int suspend_vm(const char *name)
{
    struct cove_error err = {0};
    if (cove_vm_suspend(name, &err) < 0)
        return fail(&err);
    printf("suspended VM '%s'; `cove run %s` resumes it\n", name, name);
    return CLI_EXIT_OK;
}

int cmd_suspend(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove suspend NAME\n\n"
        "Saves a running VM's whole state (CPUs, devices, memory) into its bundle and\n"
        "stops it. `cove run NAME` resumes it where it was, and discards the saved state\n"
        "once it runs again. Guest connections to the host (cove exec, ssh, the NAT's TCP\n"
        "connections) do not survive. Same as `cove stop --suspend`.\n";
    int rc = names_only("suspend", usage, argc, argv, 1, "NAME");
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    return suspend_vm(argv[optind]);
}

int cmd_stop(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove stop NAME [--timeout SECONDS | --suspend]\n\n"
        "Asks the guest to power off: through the guest agent when it answers (a clean\n"
        "poweroff), else with the console's magic SysRq (sync, remount read-only, power\n"
        "off); stops the VM by force if it has not stopped after --timeout seconds\n"
        "(default 30).\n"
        "\n"
        "  --suspend   save the VM's state instead and stop it (as `cove suspend`);\n"
        "              `cove run NAME` resumes it\n";
    static const struct option options[] = {
        {"timeout", required_argument, NULL, 't'},
        {"suspend", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double timeout = 30;
    bool suspend = false, timeout_set = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || end == optarg || !(timeout >= 0 && timeout <= 86400)) {
                cli_error("--timeout '%s' is not a number of seconds (0 to 86400)", optarg);
                return CLI_EXIT_USAGE;
            }
            timeout_set = true;
            break;
        }
        case 's': suspend = true; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("stop", c, argv);
        }
    }
    int rc = positional("stop", argc, argv, 1, "NAME");
    if (rc)
        return rc;
    if (suspend && timeout_set) {
        cli_error("--suspend saves the VM rather than powering it off: it takes no --timeout");
        return CLI_EXIT_USAGE;
    }
    if (suspend)
        return suspend_vm(argv[optind]);
    struct cove_error err = {0};
    if (cove_vm_stop(argv[optind], (int)(timeout * 1000), &err) < 0)
        return fail(&err);
    return CLI_EXIT_OK;
}

/* --- get, list, set -------------------------------------------------------------------- */

static json_t *info_json(const struct cove_vm_info *v, bool with_config)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(v->name));
    json_object_set_new(o, "state", json_string(v->broken ? "broken" : cove_vm_state_name(v->state)));
    json_object_set_new(o, "pid", v->pid ? json_integer(v->pid) : json_null());
    if (v->broken) {
        json_object_set_new(o, "error", json_string(v->problem));
        return o;
    }
    json_object_set_new(o, "cpus", json_integer(v->config.cpus));
    json_object_set_new(o, "memory", json_integer((json_int_t)v->config.memory_mib));
    json_object_set_new(o, "cpu_limit", v->config.cpu_limit_milli
                                            ? json_real(v->config.cpu_limit_milli / 1000.0)
                                            : json_null());
    json_object_set_new(o, "disk_size", json_integer((json_int_t)v->disk_size));
    json_object_set_new(o, "disk_used", json_integer((json_int_t)v->disk_used));
    json_object_set_new(o, "disk_shared", json_integer((json_int_t)v->disk_shared));
    if (v->run_mac[0]) { /* the network of the running VM, its run's own forwards too */
        json_t *fw = json_array();
        for (unsigned i = 0; i < v->nrun_forwards; i++)
            json_array_append_new(fw, json_string(v->run_forwards[i]));
        char mode[COVE_NET_NAME_MAX + 16];
        json_t *net = json_pack("{s:s, s:s, s:o}", "mode",
                                cove_net_spec_text(&v->config.net, mode, sizeof mode), "mac",
                                v->run_mac, "forwards", fw);
        if (net && v->config.net.mode == COVE_NET_NAT) {
            json_t *af = json_array();
            for (unsigned i = 0; i < v->nrun_auto_forwards; i++) {
                const struct cove_auto_forward_info *a = &v->run_auto_forwards[i];
                json_array_append_new(af, json_pack("{s:s, s:s, s:i, s:i}", "protocol",
                                                    a->udp ? "udp" : "tcp", "host_addr",
                                                    "127.0.0.1", "host_port", a->host_port,
                                                    "guest_port", a->guest_port));
            }
            json_object_set_new(net, "auto_forwards", af);
        }
        json_object_set_new(o, "network", net);
    }
    if (v->vnc_socket[0]) /* running with a display: where it is served */
        json_object_set_new(o, "display",
                            json_pack("{s:s, s:s, s:o}", "type", "vnc", "socket", v->vnc_socket,
                                      "port", v->vnc_port ? json_integer(v->vnc_port) : json_null()));
    else if (v->state == COVE_VM_STOPPED || v->state == COVE_VM_SUSPENDED) /* the stored one */
        json_object_set_new(o, "display",
                            json_pack("{s:s, s:n, s:o}", "type", v->config.display_vnc ? "vnc" : "none",
                                      "socket", "port",
                                      v->config.vnc_port ? json_integer(v->config.vnc_port)
                                                         : json_null()));
    const struct cove_vm_memory *mem = &v->memory;
    if (mem->known) { /* get on a running VM: bytes */
        json_t *m = json_pack("{s:I, s:I, s:b}", "size", (json_int_t)mem->size, "target",
                              (json_int_t)mem->target, "balloon", mem->balloon);
        if (mem->balloon) {
            json_object_set_new(m, "balloon_size", json_integer((json_int_t)mem->balloon_size));
            json_object_set_new(m, "returned", json_integer((json_int_t)mem->returned));
        }
        json_t *g = json_object();
        const struct { const char *name; uint64_t v; } guest[] = {
            {"total", mem->guest_total}, {"free", mem->guest_free},
            {"available", mem->guest_available}, {"cached", mem->guest_cached}};
        for (size_t i = 0; i < sizeof guest / sizeof guest[0]; i++)
            json_object_set_new(g, guest[i].name,
                                guest[i].v ? json_integer((json_int_t)guest[i].v) : json_null());
        json_object_set_new(m, "guest", g);
        json_object_set_new(o, "memory_use", m);
    }
    if (with_config) {
        char *text = cove_config_to_json(&v->config);
        json_t *cfg = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_object_set_new(o, "config", cfg ? cfg : json_null());
    }
    return o;
}


/* A running VM's memory lines: what it keeps, the balloon, the guest's own figures. */
static void print_memory_use(const struct cove_vm_memory *m)
{
    if (!m->known)
        return;
    char a[32], b[32], c[32], d[32];
    if (m->balloon) {
        cove_size_format_short(m->target, a, sizeof a);
        cove_size_format_short(m->balloon_size, b, sizeof b);
        cove_size_format_short(m->returned, c, sizeof c);
        printf("balloon:   %s, guest asked to keep %s; %s given back to the host\n", b, a, c);
    } else {
        printf("balloon:   none\n");
    }
    if (m->guest_total) {
        cove_size_format_short(m->guest_total, a, sizeof a);
        cove_size_format_short(m->guest_free, b, sizeof b);
        cove_size_format_short(m->guest_available, c, sizeof c);
        cove_size_format_short(m->guest_cached, d, sizeof d);
        printf("guest mem: %s total, %s free, %s available, %s cached\n", a, b, c, d);
    }
}

int cmd_get(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove get NAME [--format text|json]\n\nShows a VM's settings and state.\n";
    bool json = false;
    int rc = cli_format_options("get", usage, argc, argv, &json);
    if (rc < 0)
        return CLI_EXIT_OK;
    if (rc || (rc = positional("get", argc, argv, 1, "NAME")))
        return rc;
    struct cove_vm_info v;
    struct cove_error err = {0};
    if (cove_vm_get(argv[optind], &v, &err) < 0)
        return fail(&err);
    if (json) {
        cli_print_json(info_json(&v, true));
    } else {
        char size[32], used[32], shared[64] = "";
        cove_size_format_short(v.disk_size, size, sizeof size);
        cove_size_format_short(v.disk_used, used, sizeof used);
        if (v.disk_shared) {
            char b[16];
            cove_size_format_short(v.disk_shared, b, sizeof b);
            snprintf(shared, sizeof shared, ", %s of it in shared bases", b);
        }
        printf("name:      %s\nstate:     %s\n", v.name, cove_vm_state_name(v.state));
        if (v.pid)
            printf("pid:       %d\n", v.pid);
        printf("cpus:      %u\nmemory:    %" PRIu64 "M\ndisk:      %s (%s used%s)\n",
               v.config.cpus, v.config.memory_mib, size, used, shared);
        if (v.config.cpu_limit_milli)
            printf("cpu limit: %g CPUs\n", v.config.cpu_limit_milli / 1000.0);
        print_memory_use(&v.memory);
        for (unsigned i = 0; i < v.config.ndisks; i++) {
            const struct cove_disk_config *d = &v.config.disks[i];
            char rate[COVE_RATE_TEXT_MAX];
            printf("disk %u:    %s%s%s, cache=%s, sync=%s%s%s\n", i, d->file,
                   d->nvme ? " (nvme)" : "", d->read_only ? ", ro" : "",
                   cove_disk_cache_name(d->cache), cove_disk_sync_name(d->sync),
                   cove_rate_limit_on(&d->rate) ? ", " : "",
                   cove_rate_limit_on(&d->rate) ? cove_rate_limit_text(&d->rate, rate, sizeof rate)
                                                : "");
        }
        printf("kernel:    %s\n", v.config.kernel);
        if (v.config.initrd)
            printf("initrd:    %s\n", v.config.initrd);
        if (v.config.cmdline)
            printf("cmdline:   %s\n", v.config.cmdline);
        if (v.config.guest_user)
            printf("user:      %s\n", v.config.guest_user);
        char mode[COVE_NET_NAME_MAX + 16];
        cove_net_spec_text(&v.config.net, mode, sizeof mode);
        if (v.run_mac[0]) { /* running: what the run uses, the run's own forwards too */
            printf("network:   %s, mac %s\n", mode, v.run_mac);
            for (unsigned i = 0; i < v.nrun_forwards; i++)
                printf("forward:   %s\n", v.run_forwards[i]);
            for (unsigned i = 0; i < v.nrun_auto_forwards; i++) {
                const struct cove_auto_forward_info *a = &v.run_auto_forwards[i];
                printf("auto-forward: %s:127.0.0.1:%u:%u\n", a->udp ? "udp" : "tcp",
                       a->host_port, a->guest_port);
            }
        } else if (cove_config_has_net(&v.config)) {
            printf("network:   %s, mac %s\n", mode, v.config.mac[0] ? v.config.mac : "random per run");
            for (unsigned i = 0; i < v.config.nforwards; i++)
                printf("forward:   %s\n", v.config.forwards[i]);
        } else {
            printf("network:   none\n");
        }
        if (cove_config_has_net(&v.config) && cove_rate_limit_on(&v.config.net_rate)) {
            char rate[COVE_RATE_TEXT_MAX];
            printf("net rate:  %s\n", cove_rate_limit_text(&v.config.net_rate, rate, sizeof rate));
        }
        if (cove_config_has_net(&v.config) && v.config.net.mode == COVE_NET_NAT)
            printf("auto-forwarding: %s\n", v.config.auto_forward == COVE_AUTOFWD_OFF ? "off"
                   : v.config.auto_forward == COVE_AUTOFWD_ALL ? "on, ports below 1024 too"
                   : "on");
        for (unsigned i = 0; cove_config_has_net(&v.config) && i < v.config.nnet_rules; i++)
            printf("%s %s\n", v.config.net_rules[i].allow ? "net-allow:" : "net-block:",
                   v.config.net_rules[i].spec);
        if (v.vnc_socket[0] && v.vnc_port)
            printf("display:   vnc, %s, 127.0.0.1:%d (password in vnc-password)\n",
                   v.vnc_socket, v.vnc_port);
        else if (v.vnc_socket[0])
            printf("display:   vnc, %s\n", v.vnc_socket);
        else if (v.state == COVE_VM_RUNNING || v.state == COVE_VM_PAUSED)
            ; /* runs without one */
        else if (v.config.display_vnc && v.config.vnc_port)
            printf("display:   vnc, run/vnc.sock and 127.0.0.1:%d when it runs\n", v.config.vnc_port);
        else if (v.config.display_vnc)
            printf("display:   vnc, run/vnc.sock when it runs\n");
        else
            printf("display:   none\n");
        for (unsigned i = 0; i < v.config.nshares; i++)
            printf("dir:       %s:%s%s\n", v.config.shares[i].name, v.config.shares[i].path,
                   v.config.shares[i].read_only ? ":ro" : "");
    }
    cove_vm_info_free(&v);
    return CLI_EXIT_OK;
}

int cmd_list(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove list [--format text|json]\n\nLists the VMs: state, CPUs, memory, disk "
        "size, the host space its disk uses (USED: its own files and the clone bases it\n"
        "reads through) and the part of that in bases shared with other clones (SHARED).\n";
    bool json = false;
    int rc = cli_format_options("list", usage, argc, argv, &json);
    if (rc < 0)
        return CLI_EXIT_OK;
    if (rc || (rc = positional("list", argc, argv, 0, "")))
        return rc;
    struct cove_vm_info *list;
    size_t n;
    struct cove_error err = {0};
    if (cove_vm_list(&list, &n, &err) < 0)
        return fail(&err);
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, info_json(&list[i], false));
        cli_print_json(arr);
    } else {
        printf("%-20s %-9s %4s %7s %7s %7s %7s\n", "NAME", "STATE", "CPUS", "MEMORY", "DISK",
               "USED", "SHARED");
        for (size_t i = 0; i < n; i++) {
            const struct cove_vm_info *v = &list[i];
            if (v->broken) {
                printf("%-20s %-9s %s\n", v->name, "broken", v->problem);
                continue;
            }
            char mem[32], size[32], used[32], shared[32];
            cove_size_format_short(v->config.memory_mib << 20, mem, sizeof mem);
            cove_size_format_short(v->disk_size, size, sizeof size);
            cove_size_format_short(v->disk_used, used, sizeof used);
            cove_size_format_short(v->disk_shared, shared, sizeof shared);
            printf("%-20s %-9s %4u %7s %7s %7s %7s\n", v->name, cove_vm_state_name(v->state),
                   v->config.cpus, mem, size, used, v->disk_shared ? shared : "-");
        }
    }
    cove_vm_list_free(list, n);
    return CLI_EXIT_OK;
}

/* The disk options of cove set; 0, or -1 after a message. */
struct disk_args {
    struct cove_disk_config add[COVE_MAX_DISKS];
    unsigned nadd;
};

/* "N" (a disk's index, as cove get lists them) into *out as N + 1. */
static int parse_disk_index(const char *opt, const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(text, &end, 10);
    if (end == text || (*end && *end != ':') || errno || n >= COVE_MAX_DISKS || text[0] == '-') {
        cli_error("%s '%s': give a disk's index 0..%d, as cove get NAME lists them", opt, text,
                  COVE_MAX_DISKS - 1);
        return -1;
    }
    *out = (unsigned)n + 1;
    return 0;
}

static int disk_option(int c, char *arg, struct cove_vm_settings *s, struct disk_args *d)
{
    struct cove_error err = {0};
    switch (c) {
    case O_ADD_DISK:
        if (d->nadd == COVE_MAX_DISKS) {
            cli_error("too many --add-disk options; a VM has at most %d disks", COVE_MAX_DISKS);
            return -1;
        }
        if (cove_disk_spec_parse(arg, &d->add[d->nadd], &err) < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        d->nadd++;
        return 0;
    case O_REMOVE_DISK:
        return parse_disk_index("--remove-disk", arg, &s->remove_disk);
    case O_DISK_OPTIONS: {
        char *colon = strchr(arg, ':');
        if (!colon) {
            cli_error("--disk-options '%s': use N:OPTIONS, e.g. 0:cache=none,sync=none", arg);
            return -1;
        }
        if (parse_disk_index("--disk-options", arg, &s->disk_options) < 0)
            return -1;
        if (cove_disk_options_parse(colon + 1, &s->disk_modes, &err) < 0) {
            cli_error("%s", err.message);
            return -1;
        }
        return 0;
    }
    }
    return 1;
}

int cmd_set(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove set NAME [--cpus N] [--memory SIZE] [--disk-size SIZE]\n"
        "                [--cpu-limit N|none] [--net-rate SPEC|none]\n"
        "                [--net MODE] [--forward SPEC]... [--no-forwards] [--mac MAC]\n"
        "                [--net-allow CIDR[:PORT]]... [--net-block CIDR]... [--no-net-rules]\n"
        "                [--auto-forward | --no-auto-forward | --auto-forward-privileged]\n"
        "                [--dir [NAME:]PATH[:ro]]... [--no-dirs]\n"
        "                [--disk-options N:OPTIONS] [--remove-disk N] [--add-disk NBD-URI]...\n"
        "                [--display none|vnc] [--vnc-port PORT]\n\n"
        "Changes a stopped VM. The disk only grows. On a running VM only --memory can change:\n"
        "it asks the guest to give memory back through its balloon, down to SIZE (16M up\n"
        "to the configured memory, which gives it all back), for this run; the configured\n"
        "memory, the most the VM can have, stays for the next boot.\n"
        "  --cpu-limit N|none the CPUs' time the VM may use at each run, e.g. 0.5 (cgroup v2\n"
        "                     cpu.max or v1 cpu.cfs_quota_us); none removes the limit\n"
        NET_OPTIONS_HELP(" ")
        "                     (forwards need nat or a --nat network:, egress rules nat)\n"
        "  --forward SPEC     replaces the stored forwards by the ones given (repeatable):\n"
        "                     tcp|udp:[ADDR:]HOSTPORT:GUESTPORT; implies --net nat\n"
        "  --no-forwards      removes every stored forward\n"
        "  --mac MAC          a new MAC for the interface\n"
        NET_RULES_HELP(" ")
        "                     (given, they replace the stored rules)\n"
        "  --no-net-rules     removes every stored egress rule\n"
        NET_RATE_HELP(" ")
        "  --auto-forward     (NAT) forwards the guest's listening ports 1024-65535 again\n"
        AUTO_FORWARD_HELP(" ")
        "  --dir [NAME:]PATH[:ro]  replaces the stored shared directories by the ones given\n"
        "                     (repeatable), granted by this cove (docs/BUNDLES.md)\n"
        "  --no-dirs          removes every stored shared directory\n"
        "  --disk-options N:OPTIONS  replaces disk N's options (N as cove get lists the\n"
        "                     disks, from 0): ro, cache=writeback|none, sync=full|fsync|none,\n"
        "                     a rate limit (rate=SIZE/TIME, ops=N/TIME, burst=SIZE,\n"
        "                     ops-burst=N: e.g. rate=50M/s,ops=2000/s), comma-separated;\n"
        "                     those not given take their defaults (rw, cache=writeback,\n"
        "                     sync=fsync, no limit)\n"
        "  --remove-disk N    removes disk N, an NBD disk (the VM's images are its own)\n"
        "  --add-disk NBD-URI[,OPTIONS]  stores an NBD export as one more disk (repeatable):\n"
        "                     nbd://HOST[:PORT]/EXPORT, nbds://... (TLS),\n"
        "                     nbd+unix:///EXPORT?socket=PATH\n"
        DISPLAY_OPTIONS_HELP
        "                     (--display none drops the port; vnc keeps it)\n";
    enum { O_CPUS = 256, O_CPU_LIMIT, O_MEMORY, O_DISK_SIZE, O_NO_FORWARDS, O_DIR, O_NO_DIRS, O_NO_RULES,
           O_DISPLAY, O_VNC_PORT, O_NET_RATE };
    static const struct option options[] = {
        {"cpu-limit", required_argument, NULL, O_CPU_LIMIT},
        {"cpus", required_argument, NULL, O_CPUS},
        {"net-rate", required_argument, NULL, O_NET_RATE},
        {"memory", required_argument, NULL, O_MEMORY},
        {"disk-size", required_argument, NULL, O_DISK_SIZE},
        {"net", required_argument, NULL, O_NET},
        {"forward", required_argument, NULL, O_FORWARD},
        {"no-forwards", no_argument, NULL, O_NO_FORWARDS},
        {"mac", required_argument, NULL, O_MAC},
        {"net-allow", required_argument, NULL, O_NET_ALLOW},
        {"net-block", required_argument, NULL, O_NET_BLOCK},
        AUTO_FORWARD_OPTIONS,
        {"no-net-rules", no_argument, NULL, O_NO_RULES},
        {"dir", required_argument, NULL, O_DIR},
        {"no-dirs", no_argument, NULL, O_NO_DIRS},
        {"add-disk", required_argument, NULL, O_ADD_DISK},
        {"remove-disk", required_argument, NULL, O_REMOVE_DISK},
        {"disk-options", required_argument, NULL, O_DISK_OPTIONS},
        {"display", required_argument, NULL, O_DISPLAY},
        {"vnc-port", required_argument, NULL, O_VNC_PORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_vm_settings s = {0};
    struct disk_args d = {0};
    struct net_args n = {0};
    struct cove_share_config shares[COVE_MAX_SHARES];
    bool no_forwards = false, no_dirs = false, no_rules = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_CPU_LIMIT:
            if (cli_parse_cpu_limit(optarg, true, &s.cpu_limit_milli) < 0)
                return CLI_EXIT_USAGE;
            s.set_cpu_limit = true;
            break;
        case O_NET_RATE:
            if (cli_parse_net_rate(optarg, &s.net_rate) < 0)
                return CLI_EXIT_USAGE;
            s.set_net_rate = true;
            break;
        case O_CPUS:
            if (cli_parse_cpus(optarg, &s.cpus) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_MEMORY:
            if (cli_parse_memory(optarg, &s.memory_mib) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_DISK_SIZE:
            if (parse_disk_size(optarg, &s.disk_size) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_NO_FORWARDS: no_forwards = true; break;
        case O_NO_DIRS: no_dirs = true; break;
        case O_NO_RULES: no_rules = true; break;
        case O_DIR:
            if (cli_add_share(optarg, shares, &s.nshares) < 0)
                return CLI_EXIT_USAGE;
            s.shares = shares;
            break;
        case O_DISPLAY:
            if (cli_parse_display(optarg, &s.display_vnc) < 0)
                return CLI_EXIT_USAGE;
            s.set_display = true;
            break;
        case O_VNC_PORT:
            if (cli_parse_vnc_port(optarg, &s.vnc_port) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: {
            int r = disk_option(c, optarg, &s, &d);
            if (r > 0)
                r = net_option(c, optarg, &n);
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (r > 0)
                return cli_bad_option("set", c, argv);
        }
        }
    }
    int rc = positional("set", argc, argv, 1, "NAME");
    if (rc)
        return rc;
    if (no_forwards && n.nforwards) {
        cli_error("--no-forwards and --forward exclude each other; --forward alone replaces "
                  "the list");
        return CLI_EXIT_USAGE;
    }
    if (no_rules && n.nrules) {
        cli_error("--no-net-rules and --net-allow/--net-block exclude each other; the rules "
                  "given alone replace the stored ones");
        return CLI_EXIT_USAGE;
    }
    const char *opt = needs_nat(&n.net, n.nforwards, n.nrules, n.mac);
    if (opt) {
        say_needs_nat(&n.net, opt);
        return CLI_EXIT_USAGE;
    }
    if (no_dirs && s.nshares) {
        cli_error("--no-dirs and --dir exclude each other; --dir alone replaces the list");
        return CLI_EXIT_USAGE;
    }
    s.set_shares = no_dirs || s.nshares;
    s.net = n.net;
    s.set_forwards = no_forwards || n.nforwards;
    s.forwards = n.forwards;
    s.nforwards = n.nforwards;
    s.mac = n.mac;
    s.set_net_rules = no_rules || n.nrules;
    s.net_rules = n.rules;
    s.nnet_rules = n.nrules;
    s.auto_forward = n.auto_forward;
    s.add_disks = d.add;
    s.nadd_disks = d.nadd;
    if (s.set_display && !s.display_vnc && s.vnc_port) {
        cli_error("--vnc-port needs a display: --display vnc, not none");
        return CLI_EXIT_USAGE;
    }
    bool net = s.net.mode || s.set_forwards || s.mac || s.set_net_rules || s.auto_forward;
    bool other = s.set_shares || s.disk_options || s.remove_disk || s.nadd_disks ||
                 s.set_display || s.vnc_port || s.set_cpu_limit || s.set_net_rate;
    if (!s.cpus && !s.memory_mib && !s.disk_size && !net && !other) {
        cli_error("nothing to change; pass --cpus, --memory, --cpu-limit, --net-rate, "
                  "--disk-size, --net, "
                  "--forward, --no-forwards, --mac, --net-allow, --net-block, --no-net-rules, "
                  "--auto-forward, --no-auto-forward, --auto-forward-privileged, --dir, "
                  "--no-dirs, --disk-options, --remove-disk, --add-disk, --display or "
                  "--vnc-port");
        return CLI_EXIT_USAGE;
    }
    struct cove_error err = {0};
    if (s.memory_mib && !s.cpus && !s.disk_size && !net && !other) {
        struct cove_vm_info v;
        if (cove_vm_get(argv[optind], &v, &err) < 0)
            return fail(&err);
        bool running = v.state != COVE_VM_STOPPED;
        cove_vm_info_free(&v);
        if (running)
            return cove_vm_set_memory(argv[optind], s.memory_mib, &err) < 0 ? fail(&err)
                                                                           : CLI_EXIT_OK;
    }
    if (cove_vm_set(argv[optind], &s, &err) < 0)
        return fail(&err);
    return CLI_EXIT_OK;
}
