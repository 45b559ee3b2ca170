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

#include "guest_dir.h"
#include "util/size.h"

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

int cli_parse_memory(const char *text, uint64_t *mib)
{
    uint64_t bytes;
    if (size_parse(text, 1ull << 20, &bytes) < 0) {
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
    if (size_parse(text, 1ull << 30, bytes) < 0 || *bytes == 0) {
        cli_error("--disk-size '%s' is not a size; use e.g. 8G", text);
        return -1;
    }
    return 0;
}

/* The options of the read-only commands (get, list): --format text|json and --help.
 * Returns -1 after printing the usage (the command is done, exit 0), 0 to go on, or an
 * exit code. */
static int format_options(const char *cmd, const char *usage, int argc, char **argv,
                          bool *json)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'h': fputs(usage, stdout); return -1;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    *json = false;
    if (!format || !strcmp(format, "text"))
        return 0;
    if (!strcmp(format, "json")) {
        *json = true;
        return 0;
    }
    cli_error("--format '%s' is not known; use text or json", format);
    return CLI_EXIT_USAGE;
}

/* --- create ---------------------------------------------------------------------------- */

static const char create_usage[] =
    "usage: cove create NAME [--cpus N] [--memory SIZE] [--disk-size SIZE]\n"
    "                   [--from-guest default | --kernel PATH [--initrd PATH]] [--append ARGS]\n"
    "\n"
    "Makes a new VM bundle. From the default guest (the default) the disk holds an ext4\n"
    "root file system made from the guest's initrd, so files persist across boots.\n"
    "  --cpus N           virtual CPUs, 1-32 (default 1)\n"
    "  --memory SIZE      guest memory, e.g. 512M or 2G; a bare number is MiB (default 512M)\n"
    "  --disk-size SIZE   disk size, e.g. 8G; a bare number is GiB (default 8G; sparse)\n"
    "  --from-guest default  the default guest (COVE_GUEST_DIR, else the installed one)\n"
    "  --kernel PATH      a kernel of your own instead (copied into the bundle); empty disk\n"
    "  --initrd PATH      its initrd\n"
    "  --append ARGS      kernel command line (added to cove.root=/dev/vda for the guest)\n";

int cmd_create(int argc, char **argv)
{
    enum { O_CPUS = 256, O_MEMORY, O_DISK_SIZE, O_FROM_GUEST, O_KERNEL, O_INITRD, O_APPEND };
    static const struct option options[] = {
        {"cpus", required_argument, NULL, O_CPUS},
        {"memory", required_argument, NULL, O_MEMORY},
        {"disk-size", required_argument, NULL, O_DISK_SIZE},
        {"from-guest", required_argument, NULL, O_FROM_GUEST},
        {"kernel", required_argument, NULL, O_KERNEL},
        {"initrd", required_argument, NULL, O_INITRD},
        {"append", required_argument, NULL, O_APPEND},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_create_options o = {0};
    const char *guest = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
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
        case O_KERNEL: o.kernel = optarg; break;
        case O_INITRD: o.initrd = optarg; break;
        case O_APPEND: o.cmdline = optarg; break;
        case 'h': fputs(create_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("create", c, argv);
        }
    }
    int rc = positional("create", argc, argv, 1, "NAME");
    if (rc)
        return rc;
    if (guest && strcmp(guest, "default")) {
        cli_error("--from-guest '%s' is not known; the only guest is 'default'", guest);
        return CLI_EXIT_USAGE;
    }
    if (guest && o.kernel) {
        cli_error("--from-guest and --kernel exclude each other; pass one");
        return CLI_EXIT_USAGE;
    }
    if (o.initrd && !o.kernel) {
        cli_error("--initrd needs --kernel");
        return CLI_EXIT_USAGE;
    }
    struct cove_error err = {0};
    const char *name = argv[optind];
    if (cove_name_check(name, &err) < 0)
        return fail(&err);
    char dir[PATH_MAX];
    if (!o.kernel) {
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
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return -1;
        }
        return cli_bad_option(cmd, c, argv);
    }
    return positional(cmd, argc, argv, n, what);
}

int cmd_clone(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove clone SRC DST\n\n"
        "Makes DST a copy-on-write copy of the stopped VM SRC, in constant time.\n";
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

/* --- stop ------------------------------------------------------------------------------ */

int cmd_stop(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove stop NAME [--timeout SECONDS]\n\n"
        "Asks the guest to power off: through the guest agent when it answers (a clean\n"
        "poweroff), else with the console's magic SysRq (sync, remount read-only, power\n"
        "off); stops the VM by force if it has not stopped after --timeout seconds\n"
        "(default 30).\n";
    static const struct option options[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double timeout = 30;
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
            break;
        }
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("stop", c, argv);
        }
    }
    int rc = positional("stop", argc, argv, 1, "NAME");
    if (rc)
        return rc;
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
    json_object_set_new(o, "disk_size", json_integer((json_int_t)v->disk_size));
    json_object_set_new(o, "disk_used", json_integer((json_int_t)v->disk_used));
    if (with_config) {
        char *text = cove_config_to_json(&v->config);
        json_t *cfg = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_object_set_new(o, "config", cfg ? cfg : json_null());
    }
    return o;
}

static void print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(v);
}

/* 8.0G, 512M, 1.5G, 12K: compact sizes for the table. */
static void short_size(uint64_t v, char *buf, size_t n)
{
    static const char units[] = "BKMGTP";
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%" PRIu64 "B", v);
    else
        snprintf(buf, n, d < 10 ? "%.1f%c" : "%.0f%c", d, units[u]);
}

int cmd_get(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove get NAME [--format text|json]\n\nShows a VM's settings and state.\n";
    bool json;
    int rc = format_options("get", usage, argc, argv, &json);
    if (rc < 0)
        return CLI_EXIT_OK;
    if (rc || (rc = positional("get", argc, argv, 1, "NAME")))
        return rc;
    struct cove_vm_info v;
    struct cove_error err = {0};
    if (cove_vm_get(argv[optind], &v, &err) < 0)
        return fail(&err);
    if (json) {
        print_json(info_json(&v, true));
    } else {
        char size[32], used[32];
        short_size(v.disk_size, size, sizeof size);
        short_size(v.disk_used, used, sizeof used);
        printf("name:      %s\nstate:     %s\n", v.name, cove_vm_state_name(v.state));
        if (v.pid)
            printf("pid:       %d\n", v.pid);
        printf("cpus:      %u\nmemory:    %" PRIu64 "M\ndisk:      %s (%s used)\n",
               v.config.cpus, v.config.memory_mib, size, used);
        printf("kernel:    %s\n", v.config.kernel);
        if (v.config.initrd)
            printf("initrd:    %s\n", v.config.initrd);
        if (v.config.cmdline)
            printf("cmdline:   %s\n", v.config.cmdline);
        if (v.config.has_network)
            printf("network:   %s, mac %s, %u forward(s)\n", v.config.nat ? "nat" : "none",
                   v.config.mac[0] ? v.config.mac : "random", v.config.nforwards);
    }
    cove_vm_info_free(&v);
    return CLI_EXIT_OK;
}

int cmd_list(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove list [--format text|json]\n\nLists the VMs: state, CPUs, memory, disk "
        "size and the space it uses on the host.\n";
    bool json;
    int rc = format_options("list", usage, argc, argv, &json);
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
        print_json(arr);
    } else {
        printf("%-20s %-9s %4s %7s %7s %7s\n", "NAME", "STATE", "CPUS", "MEMORY", "DISK", "USED");
        for (size_t i = 0; i < n; i++) {
            const struct cove_vm_info *v = &list[i];
            if (v->broken) {
                printf("%-20s %-9s %s\n", v->name, "broken", v->problem);
                continue;
            }
            char mem[32], size[32], used[32];
            short_size(v->config.memory_mib << 20, mem, sizeof mem);
            short_size(v->disk_size, size, sizeof size);
            short_size(v->disk_used, used, sizeof used);
            printf("%-20s %-9s %4u %7s %7s %7s\n", v->name, cove_vm_state_name(v->state),
                   v->config.cpus, mem, size, used);
        }
    }
    cove_vm_list_free(list, n);
    return CLI_EXIT_OK;
}

int cmd_set(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove set NAME [--cpus N] [--memory SIZE] [--disk-size SIZE]\n\n"
        "Changes a stopped VM. The disk only grows.\n";
    enum { O_CPUS = 256, O_MEMORY, O_DISK_SIZE };
    static const struct option options[] = {
        {"cpus", required_argument, NULL, O_CPUS},
        {"memory", required_argument, NULL, O_MEMORY},
        {"disk-size", required_argument, NULL, O_DISK_SIZE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cove_vm_settings s = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
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
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("set", c, argv);
        }
    }
    int rc = positional("set", argc, argv, 1, "NAME");
    if (rc)
        return rc;
    if (!s.cpus && !s.memory_mib && !s.disk_size) {
        cli_error("nothing to change; pass --cpus, --memory or --disk-size");
        return CLI_EXIT_USAGE;
    }
    struct cove_error err = {0};
    if (cove_vm_set(argv[optind], &s, &err) < 0)
        return fail(&err);
    return CLI_EXIT_OK;
}
