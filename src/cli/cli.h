/*
 * cli.h — shared pieces of the cove command. The CLI is a thin client of libcove: it parses
 * arguments, prints results and errors (one line, "cove: ..."), and maps failures to exit
 * codes. Nothing below it exits the process.
 */
#ifndef COVE_CLI_H
#define COVE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/config.h>

/* Exit codes of the cove command (documented in docs/CLI.md). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1     /* the operation failed (bad input, missing file, ...) */
#define CLI_EXIT_USAGE 2       /* the command line could not be parsed */
#define CLI_EXIT_GUEST_ERROR 3 /* the guest stopped on a trap nothing could take */
#define CLI_EXIT_GUEST_PANIC 4 /* the guest kernel panicked */

int cmd_run(int argc, char **argv);
/* cove run NAME -- CMD (run_command.c): boots NAME with opts, runs cmd through its guest
 * agent once it answers (within agent_timeout_s), powers the guest off and returns cmd's
 * exit status (or 123-127 when it could not run it, 3/4 when the guest failed). */
struct cove_run_options;
int run_command(const char *name, char **cmd, bool interactive, double agent_timeout_s,
                struct cove_run_options *opts);
int cmd_create(int argc, char **argv);
int cmd_clone(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_suspend(int argc, char **argv);
int cmd_snapshot(int argc, char **argv); /* cmd_snapshot.c */
int cmd_delete(int argc, char **argv);
int cmd_rename(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_disk(int argc, char **argv);
int cmd_exec(int argc, char **argv); /* the guest agent: cmd_exec.c, cmd_ip.c, cmd_cp.c */
int cmd_clipboard(int argc, char **argv); /* cmd_clipboard.c */
int cmd_ip(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_image(int argc, char **argv); /* cmd_image.c */
int cmd_network(int argc, char **argv); /* cmd_network.c: cove networks */
int cmd_console(int argc, char **argv); /* cmd_console.c: the web console */
/* Builds (or finds in the store) image NAME of SUITE (NULL: the template's); progress on a
 * terminal. The image's directory into dir; -1 after one line on stderr. */
int cli_image_build(const char *name, const char *suite, bool update, char *dir, size_t n);
/* OCI registries: cmd_oci.c */
int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_prune(int argc, char **argv);
/* cove clone REF NAME (cmd_clone passes on when SRC is a registry reference). */
int cli_oci_clone(int argc, char **argv);
/* The pulled images: appended to arr (JSON) or printed as table rows (arr NULL). Their
 * count, or -1 after one line on stderr. */
struct json_t;
int cli_oci_images(struct json_t *arr);
int cmd_connect(int argc, char **argv); /* vsock and ssh: cmd_ssh.c */
int cmd_ssh(int argc, char **argv);
int cmd_ssh_config(int argc, char **argv);
/* Connects to the agent of NAME (or of the socket vsock); prints the error and returns
 * its exit code (125, 124...) on failure, 0 with *fd set on success. */
int cli_agent_connect(const char *name, const char *vsock, double timeout_s, int *fd);
int cli_parse_timeout(const char *text, double *out);

/* Shared option parsers: print one line and return -1 on bad input. */
int cli_parse_cpus(const char *text, unsigned *out);
/* --cpu-limit N: N CPUs' time (0.01-1024) as thousandths of a CPU; with none_ok, "none"
 * is 0 (no limit). */
int cli_parse_cpu_limit(const char *text, bool none_ok, unsigned *milli);
/* --net-rate SPEC|none into *out (cove_rate_limit_parse); -1 after one line on stderr. */
int cli_parse_net_rate(const char *text, struct cove_rate_limit *out);
#define NET_RATE_HELP(pad)                                                                      \
    "  --net-rate SPEC   " pad "the NIC's rate limit, each direction (token buckets):\n"         \
    "                    " pad "rate=SIZE/TIME[,ops=N/TIME][,burst=SIZE][,ops-burst=N], e.g.\n"  \
    "                    " pad "rate=10M/s,ops=5000/s (frames); none: no limit (the default)\n"
/* --console serial|virtio: sets *virtio; on error prints one line and returns -1. */
int cli_parse_console(const char *text, bool *virtio);
int cli_parse_memory(const char *text, uint64_t *mib);
/* --display none|vnc (sets *vnc) and --vnc-port PORT (create, set, run; cove_display_parse,
 * cove_vnc_port_parse): one line and -1 on bad input. */
int cli_parse_display(const char *text, bool *vnc);
int cli_parse_vnc_port(const char *text, int *port);
/* The --help lines of --display and --vnc-port (create, set). */
#define DISPLAY_OPTIONS_HELP \
    "  --display none|vnc  vnc: `cove run` gives the VM a screen, keyboard and tablet served\n" \
    "                     over VNC on run/vnc.sock (and `cove console --web`); none: a serial\n" \
    "                     console only (the default); `cove run --display` overrides it\n" \
    "  --vnc-port PORT    with vnc: also on 127.0.0.1:PORT with the password in the bundle's\n" \
    "                     vnc-password (docs/DISPLAY.md)\n"
/* --net nat|none. */
/* The --help lines of --net, --net-allow and --net-block (create, set, run); P: "" where
 * the descriptions start in column 20 (run), " " where in column 21 (create, set). */
#define NET_OPTIONS_HELP(P) \
    "  --net MODE        " P "nat: user-mode NAT (10.0.2.0/24; DHCP gives the guest 10.0.2.15,\n" \
    "                    " P "the host is 10.0.2.2, DNS 10.0.2.3); none: no network;\n" \
    "                    " P "tap:IFNAME: an existing TAP interface; bridge:BRIDGE: a TAP cove\n" \
    "                    " P "creates and adds to that Linux bridge (needs CAP_NET_ADMIN);\n" \
    "                    " P "network:NAME: a cove network (docs/NETWORK.md)\n"
#define NET_RULES_HELP(P) \
    "  --net-allow CIDR[:PORT]  (NAT) the guest reaches only allowed destinations (and\n" \
    "                    " P "DHCP, DNS through 10.0.2.3); PORT: TCP and UDP to it only;\n" \
    "                    " P "repeatable\n" \
    "  --net-block CIDR  " P "(NAT) the guest cannot reach CIDR (an allow rule wins);\n" \
    "                    " P "repeatable\n"
#define AUTO_FORWARD_HELP(P) \
    "  --no-auto-forward " P "(NAT) do not forward the guest's listening ports (by default\n" \
    "                    " P "each TCP/UDP port 1024-65535 the guest listens on is forwarded\n" \
    "                    " P "from 127.0.0.1:PORT, or the next free port, while it listens)\n" \
    "  --auto-forward-privileged  " P "(NAT) forward ports below 1024 too\n"
/* The long options of automatic port forwarding (run, create, set): the codes below in
 * each command's option table; cli_auto_forward_option turns one into the setting. */
enum { O_AUTO_FORWARD = 700, O_NO_AUTO_FORWARD, O_AUTO_FORWARD_PRIVILEGED };
#define AUTO_FORWARD_OPTIONS \
    {"auto-forward", no_argument, NULL, O_AUTO_FORWARD}, \
    {"no-auto-forward", no_argument, NULL, O_NO_AUTO_FORWARD}, \
    {"auto-forward-privileged", no_argument, NULL, O_AUTO_FORWARD_PRIVILEGED}
/* 1: not such an option; 0: *out set. */
static inline int cli_auto_forward_option(int c, enum cove_auto_forward *out)
{
    switch (c) {
    case O_AUTO_FORWARD: *out = COVE_AUTOFWD_ON; return 0;
    case O_NO_AUTO_FORWARD: *out = COVE_AUTOFWD_OFF; return 0;
    case O_AUTO_FORWARD_PRIVILEGED: *out = COVE_AUTOFWD_ALL; return 0;
    default: return 1;
    }
}
struct cove_net_spec;
int cli_parse_net(const char *text, struct cove_net_spec *out);
/* --net-allow / --net-block SPEC: checks it and appends it to rules[*n]. */
struct cove_net_rule;
int cli_add_net_rule(const char *spec, bool allow, struct cove_net_rule *rules, unsigned *n);
/* --forward SPEC: checks it and appends it to forwards[*n] (at most COVE_MAX_FORWARDS). */
int cli_add_forward(const char *spec, const char **forwards, unsigned *n);
/* --dir [NAME:]PATH[:ro]: parses spec in place into shares[*n] (at most COVE_MAX_SHARES,
 * names distinct). */
struct cove_share_config;
int cli_add_share(char *spec, struct cove_share_config *shares, unsigned *n);

/* Prints "cove: <message>" on stderr (one line). */
/* --format text|json and --help of a read-only command: -1 after printing the usage (done,
 * exit 0), 0 to go on (json set), or an exit code. */
int cli_format_options(const char *cmd, const char *usage, int argc, char **argv, bool *json);
/* --help alone (output.c): -1 after printing usage, 0 to go on, or an exit code. */
int cli_help_only(const char *cmd, const char *usage, int argc, char **argv);
/* Prints v (a jansson value, consumed) indented, with a newline. */
struct json_t;
void cli_print_json(struct json_t *v);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For getopt_long's ':' (missing value) and '?' (unknown option) with opterr = 0: one
 * "cove: ..." line naming the option and `cove CMD --help`; returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Terminal handling for the serial console (console.c). */
bool console_is_terminal(int fd);
int console_raw_enter(int fd); /* puts fd in raw mode; restored by console_raw_leave/atexit */
void console_raw_leave(void);

#endif
