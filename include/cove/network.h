/*
 * cove/network.h — cove networks: private Ethernet segments that VMs join with
 * `--net network:NAME` (docs/NETWORK.md, "cove networks").
 *
 * A network's definition is $COVE_HOME/networks/NAME.json ({"name", "subnet", "nat",
 * "allow", "block"}), written
 * to a temporary name and renamed into place. While VMs are attached, its switch process
 * runs with its sockets, lock and log in $COVE_HOME/run/networks/NAME/ (see
 * src/backends/net_switch.h); the first VM to attach starts it, it stops a few seconds
 * after the last one leaves. Subnets of two networks never overlap.
 */
#ifndef COVE_NETWORK_H
#define COVE_NETWORK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cove/error.h>

/* Egress rules of a network's NAT uplink (`cove network create --nat --net-allow CIDR[:PORT]
 * --net-block CIDR`), as given: what its VMs may reach through the NAT, judged as on a
 * VM's own NAT (docs/NETWORK.md, "Egress rules"). At most COVE_NETWORK_RULES in all. */
#define COVE_NETWORK_RULES 32
#define COVE_NETWORK_RULE_LEN 32
struct cove_network_egress {
    char allow[COVE_NETWORK_RULES][COVE_NETWORK_RULE_LEN];
    unsigned nallow;
    char block[COVE_NETWORK_RULES][COVE_NETWORK_RULE_LEN];
    unsigned nblock;
};

struct cove_network_info {
    char name[65];
    uint32_t net;     /* IPv4, host byte order */
    unsigned prefix;  /* 8..30 */
    char subnet[20];  /* "10.88.0.0/24" */
    char gateway[16]; /* the switch's own address: DHCP and DNS (and the NAT's router) */
    bool nat;         /* a NAT uplink (--nat): the VMs reach the host and beyond */
    struct cove_network_egress egress; /* the NAT's rules (none without nat) */
    pid_t switch_pid; /* 0: the switch is not running */
    unsigned vms;     /* VMs attached now */
};

/* Parses A.B.C.D/P (P 8..30, no host bits set). One line in err, -EINVAL. */
int cove_network_parse_subnet(const char *text, uint32_t *net, unsigned *prefix,
                              struct cove_error *err);

/* Defines network NAME on subnet (NULL: the first free 10.88.X.0/24), with a NAT uplink
 * when nat, whose egress rules are egress (NULL: none; rules without nat are refused).
 * Refused when the name is in use, the subnet overlaps another network's or a rule does
 * not parse. */
int cove_network_create(const char *name, const char *subnet, bool nat,
                        const struct cove_network_egress *egress,
                        struct cove_network_info *out, struct cove_error *err);

/* Deletes NAME: refused (-EBUSY) while VMs are attached; an idle switch is stopped. */
int cove_network_delete(const char *name, struct cove_error *err);

/* One network (-ENOENT: "network 'x' does not exist"), with its switch and VMs now. */
int cove_network_get(const char *name, struct cove_network_info *out, struct cove_error *err);

/* A network as JSON text (malloc'd; NULL when out of memory): {"name", "subnet", "nat",
 * "allow", "block"}, what its definition file holds, and with state also "gateway",
 * "switch_running", "switch_pid" and "vms" (what `cove network get --format json` shows).
 * The one writer of a network's JSON: the store's definition and the CLI both use it. */
char *cove_network_to_json(const struct cove_network_info *info, bool state);

/* All networks, sorted by name; *out is malloc'd (free it). */
int cove_network_list(struct cove_network_info **out, unsigned *n, struct cove_error *err);

/* The run directory of NAME ($COVE_HOME/run/networks/NAME), created 0700. */
int cove_network_run_dir(const char *name, char *buf, size_t n, struct cove_error *err);

/* `cove network-switch DIR NET PREFIX [nat [allow=RULE|block=RULE]...]` (argv[0] is "network-switch"), hidden: the switch
 * process, which the cove command execs when a VM starts one (src/backends/net_switch.h).
 * Returns an exit status. */
int cove_network_switch_main(int argc, char **argv);

#endif
