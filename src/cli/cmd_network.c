/*
 * cove network create|list|get|delete: cove networks (cove/network.h, docs/NETWORK.md),
 * private Ethernet segments that VMs join with `--net network:NAME`.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cove/network.h>

static const char usage[] =
    "usage: cove network create NAME [--subnet CIDR] [--nat [--net-allow CIDR[:PORT]]...\n"
    "                          [--net-block CIDR]...]\n"
    "       cove network list [--format text|json]\n"
    "       cove network get NAME [--format text|json]\n"
    "       cove network delete NAME\n"
    "\n"
    "A cove network joins the VMs started with --net network:NAME on one private Ethernet\n"
    "segment, through a switch process that needs no privilege. The switch is the network's\n"
    "first address (the gateway): it hands out addresses by DHCP and answers DNS for the\n"
    "VMs' names. It starts with the first VM attached and stops after the last one leaves.\n"
    "  --subnet CIDR   the network's IPv4 subnet (default: the first free 10.88.X.0/24);\n"
    "                  it may not overlap another network's\n"
    "  --nat           a NAT uplink for the whole network (user-mode, no privilege): the\n"
    "                  gateway routes the VMs to the host's networks, is the host's\n"
    "                  127.0.0.1 to them, and resolves other names through the host\n"
    "  --net-allow CIDR[:PORT], --net-block CIDR\n"
    "                  egress rules of the NAT (repeatable, 32 at most): what the VMs may\n"
    "                  reach through it, as with a VM's own NAT (an allow rule wins; with\n"
    "                  allow rules, everything else is refused). Set at create; a VM's\n"
    "                  --forward on the network reaches it whatever the rules\n"
    "  --format F      text (default) or json, for list and get\n";

/* The library's JSON of a network with its state (cove_network_to_json), as a value to
 * print or put in a list; NULL when out of memory. */
static json_t *info_json(const struct cove_network_info *i)
{
    char *text = cove_network_to_json(i, true);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return v;
}

/* Adds one --net-allow/--net-block to e, or says why not (one line). */
static bool add_rule(struct cove_network_egress *e, bool allow, const char *text)
{
    if (e->nallow + e->nblock >= COVE_NETWORK_RULES) {
        cli_error("at most %d egress rules (--net-allow, --net-block) in all",
                  COVE_NETWORK_RULES);
        return false;
    }
    if (strlen(text) >= COVE_NETWORK_RULE_LEN) {
        cli_error("--net-%s '%s': not CIDR%s", allow ? "allow" : "block", text,
                  allow ? "[:PORT]" : "");
        return false;
    }
    char *slot = allow ? e->allow[e->nallow++] : e->block[e->nblock++];
    snprintf(slot, COVE_NETWORK_RULE_LEN, "%s", text);
    return true;
}

static int create(int argc, char **argv)
{
    enum { O_SUBNET = 256, O_NAT, O_ALLOW, O_BLOCK };
    static const struct option options[] = {
        {"subnet", required_argument, NULL, O_SUBNET},
        {"nat", no_argument, NULL, O_NAT},
        {"net-allow", required_argument, NULL, O_ALLOW},
        {"net-block", required_argument, NULL, O_BLOCK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *subnet = NULL;
    bool nat = false;
    static struct cove_network_egress egress; /* 2 KiB: off the stack */
    memset(&egress, 0, sizeof egress);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_SUBNET: subnet = optarg; break;
        case O_NAT: nat = true; break;
        case O_ALLOW:
        case O_BLOCK:
            if (!add_rule(&egress, c == O_ALLOW, optarg))
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("network create", c, argv);
        }
    }
    if (optind != argc - 1) {
        cli_error("%s; usage: cove network create NAME [--subnet CIDR] [--nat] "
                  "[--net-allow CIDR[:PORT]]... [--net-block CIDR]...",
                  optind >= argc ? "missing NAME" : "unexpected argument");
        return CLI_EXIT_USAGE;
    }
    struct cove_network_info info;
    struct cove_error err = {0};
    if (cove_network_create(argv[optind], subnet, nat, &egress, &info, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    printf("network %s: subnet %s, gateway (DHCP, DNS%s) %s%s\n", info.name, info.subnet,
           nat ? ", NAT" : "", info.gateway,
           egress.nallow + egress.nblock ? ", with egress rules" : "");
    return CLI_EXIT_OK;
}

static void print_row(const struct cove_network_info *i)
{
    char sw[32];
    if (i->switch_pid > 0)
        snprintf(sw, sizeof sw, "running (pid %d)", (int)i->switch_pid);
    else
        snprintf(sw, sizeof sw, "%s", i->switch_pid ? "running" : "stopped");
    printf("%-20s %-18s %-15s %-4s %-4u %s\n", i->name, i->subnet, i->gateway,
           i->nat ? "yes" : "no", i->vms, sw);
}

static int list(int argc, char **argv)
{
    bool json;
    int rc = cli_format_options("network list", usage, argc, argv, &json);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (optind < argc) {
        cli_error("unexpected argument '%s'; usage: cove network list [--format text|json]",
                  argv[optind]);
        return CLI_EXIT_USAGE;
    }
    struct cove_network_info *v;
    unsigned n;
    struct cove_error err = {0};
    if (cove_network_list(&v, &n, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        json_t *arr = json_array();
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(arr, info_json(&v[i]));
        cli_print_json(arr);
    } else {
        printf("%-20s %-18s %-15s %-4s %-4s %s\n", "NAME", "SUBNET", "GATEWAY", "NAT", "VMS",
               "SWITCH");
        for (unsigned i = 0; i < n; i++)
            print_row(&v[i]);
    }
    free(v);
    return CLI_EXIT_OK;
}

static int get(int argc, char **argv)
{
    bool json;
    int rc = cli_format_options("network get", usage, argc, argv, &json);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (optind != argc - 1) {
        cli_error("%s; usage: cove network get NAME [--format text|json]",
                  optind >= argc ? "missing NAME" : "unexpected argument");
        return CLI_EXIT_USAGE;
    }
    struct cove_network_info i;
    struct cove_error err = {0};
    if (cove_network_get(argv[optind], &i, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        cli_print_json(info_json(&i));
        return CLI_EXIT_OK;
    }
    printf("name:    %s\nsubnet:  %s\ngateway: %s (DHCP, DNS%s)\nnat:     %s\nvms:     %u\n"
           "switch:  ", i.name, i.subnet, i.gateway, i.nat ? ", NAT" : "", i.nat ? "yes" : "no",
           i.vms);
    if (i.switch_pid > 0)
        printf("running (pid %d)\n", (int)i.switch_pid);
    else
        puts(i.switch_pid ? "running" : "stopped");
    for (unsigned k = 0; k < i.egress.nallow; k++)
        printf("net-allow: %s\n", i.egress.allow[k]);
    for (unsigned k = 0; k < i.egress.nblock; k++)
        printf("net-block: %s\n", i.egress.block[k]);
    return CLI_EXIT_OK;
}

static int delete(int argc, char **argv)
{
    int rc = cli_help_only("network delete", usage, argc, argv);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (optind != argc - 1) {
        cli_error("%s; usage: cove network delete NAME",
                  optind >= argc ? "missing NAME" : "unexpected argument");
        return CLI_EXIT_USAGE;
    }
    struct cove_error err = {0};
    if (cove_network_delete(argv[optind], &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

int cmd_network(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(sub, "create"))
        return create(argc - 1, argv + 1);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return list(argc - 1, argv + 1);
    if (!strcmp(sub, "get"))
        return get(argc - 1, argv + 1);
    if (!strcmp(sub, "delete") || !strcmp(sub, "rm"))
        return delete(argc - 1, argv + 1);
    cli_error("'%s' is not a network command; use create, list, get or delete", sub);
    return CLI_EXIT_USAGE;
}
