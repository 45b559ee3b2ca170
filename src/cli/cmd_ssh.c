/*
 * ssh into a VM over virtio-vsock, with no network needed:
 *   cove connect NAME PORT      a pipe between stdin/stdout and the guest's vsock port PORT
 *                               (ssh's ProxyCommand)
 *   cove ssh NAME [-- CMD]      execs ssh with `cove connect NAME 22` as its ProxyCommand
 *   cove ssh-config NAME        the same settings as a Host block for ~/.ssh/config
 * The guest listens on vsock port 22 (the image's cove-ssh.socket runs `sshd -i`). Host
 * keys go to the bundle's ssh_known_hosts under the alias cove-NAME, accepted the first
 * time (accept-new) and checked after.
 */
#include "cli.h"

#include <errno.h>
#include <glob.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cove/agent.h>
#include <cove/cove.h>

#define SSH_PORT 22
#define MAX_SSH_ARGS 64 /* ssh's own arguments, the command's come on top */
#define SSH_WAIT_S 120 /* how long ssh's ProxyCommand waits for the guest's sshd */
#define MAX_HOME_KEYS 16 /* -i pairs from $HOME/.ssh: within MAX_SSH_ARGS */

static const char connect_usage[] =
    "usage: cove connect NAME PORT [--timeout S] [--wait S]\n"
    "       cove connect --vsock PATH PORT [--timeout S] [--wait S]\n"
    "\n"
    "Connects stdin and stdout to the guest's vsock port PORT until both directions end\n"
    "(the end of stdin is passed on; the guest may still answer). For ssh's ProxyCommand.\n"
    "  --timeout S   how long to wait for the guest to accept (default 10)\n"
    "  --wait S      while nothing listens on PORT yet (a guest still booting), try again\n"
    "                for up to S seconds (default 0)\n"
    "  --vsock PATH  an ephemeral VM (cove run --vsock PATH) instead of NAME\n"
    "Exit codes: 0 both directions ended, 125 VM not running or nothing listens on PORT,\n"
    "124 no answer in time, 1 the connection failed.\n";

static const char ssh_usage[] =
    "usage: cove ssh NAME [-l USER] [-i KEYFILE] [--wait S] [-- CMD [ARGS...]]\n"
    "\n"
    "Runs ssh into the running VM NAME over virtio-vsock (no network needed), as USER\n"
    "(default: the VM's login user, set when it was created from an image). Host keys are\n"
    "kept in the VM's bundle (ssh_known_hosts), accepted the first time. ssh's exit code.\n"
    "  -l, --user USER       log in as USER\n"
    "  -i, --identity FILE   the private key to use (default: ssh's own, and those beside\n"
    "                        the .pub files of $HOME/.ssh)\n"
    "  --wait S              wait up to S seconds for the guest's sshd (default 120: a VM\n"
    "                        just started; VMs from images listen once cloud-init is done)\n";

static const char ssh_config_usage[] =
    "usage: cove ssh-config NAME [-l USER] [-i KEYFILE] [--wait S]\n"
    "\n"
    "Prints a `Host cove-NAME` block for ~/.ssh/config, so that `ssh cove-NAME`, scp,\n"
    "rsync and editors reach the VM as `cove ssh NAME` does.\n"
    "  -l, --user USER       the user (default: the VM's login user)\n"
    "  -i, --identity FILE   an IdentityFile line\n"
    "  --wait S              how long the ProxyCommand waits for the guest's sshd (120)\n";

/* --- cove connect ------------------------------------------------------------------------ */

static int parse_port(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || errno || v < 1 || v > 0xfffffffeUL) {
        cli_error("port '%s' is not a vsock port (a number 1..4294967294)", text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* --wait S: seconds, 0 (do not wait) up to a day */
static int parse_wait(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*end || end == text || !(v >= 0 && v <= 86400)) {
        cli_error("--wait '%s' is not a number of seconds (0 to 86400)", text);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_connect(int argc, char **argv)
{
    enum { O_TIMEOUT = 256, O_VSOCK, O_WAIT };
    static const struct option options[] = {
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"wait", required_argument, NULL, O_WAIT},
        {"vsock", required_argument, NULL, O_VSOCK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double timeout = COVE_AGENT_TIMEOUT_MS / 1000.0, wait = 0;
    const char *vsock = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case O_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout) < 0)
                return CLI_EXIT_USAGE;
            break;
        case O_VSOCK: vsock = optarg; break;
        case O_WAIT:
            if (parse_wait(optarg, &wait) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(connect_usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("connect", c, argv);
        }
    }
    int want = vsock ? 1 : 2;
    if (argc - optind != want) {
        cli_error("%s; usage: cove connect NAME PORT",
                  argc - optind < want ? (vsock || optind < argc ? "missing PORT"
                                                                 : "missing NAME and PORT")
                                       : "unexpected argument");
        return CLI_EXIT_USAGE;
    }
    const char *name = vsock ? NULL : argv[optind];
    unsigned port;
    if (parse_port(argv[argc - 1], &port) < 0)
        return CLI_EXIT_USAGE;
    struct cove_error err = {0};
    int fd, timeout_ms = (int)(timeout * 1000);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc;
    for (;;) {
        rc = vsock ? cove_vsock_connect(vsock, port, timeout_ms, &fd, &err)
                   : cove_vsock_open(name, port, timeout_ms, &fd, &err);
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* nothing listens yet: the guest may still be starting its service */
        if (rc != -ECONNREFUSED ||
            (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 + 1 > wait)
            break;
        sleep(1);
    }
    if (rc < 0) {
        cli_error("%s", err.message);
        return cove_agent_exit_code(rc);
    }
    signal(SIGPIPE, SIG_IGN); /* a reader gone is -EPIPE from the proxy */
    rc = cove_vsock_proxy(STDIN_FILENO, STDOUT_FILENO, fd, &err);
    close(fd);
    if (rc == -EPIPE)
        return 128 + SIGPIPE; /* as a filter killed by it would */
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* --- what ssh is given ------------------------------------------------------------------- */

struct ssh_target {
    const char *name;
    const char *user;     /* -l, else the VM's guest.user */
    const char *identity; /* -i */
    double wait;          /* --wait: the ProxyCommand's */
    char cove[PATH_MAX];  /* this program */
    char known_hosts[PATH_MAX];
    char proxy[3 * PATH_MAX + 128];
    char alias[COVE_NAME_MAX + 8];
    struct cove_vm_info info;
};

/* Appends s to out in single quotes for the shell ssh runs a ProxyCommand with, with '%'
 * doubled as ssh expands %-tokens in it first. */
static int append_shell_word(char *out, size_t n, const char *s)
{
    size_t o = strlen(out);
    if (o + 1 >= n)
        return -1;
    out[o++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : *s == '%' ? "%%" : NULL;
        char one[2] = {*s, 0};
        size_t len = strlen(piece ? piece : one);
        if (o + len + 2 >= n)
            return -1;
        memcpy(out + o, piece ? piece : one, len);
        o += len;
    }
    out[o++] = '\'';
    out[o] = 0;
    return 0;
}

/* A path as an ssh_config value ("..." with '%' doubled, as ssh expands %-tokens in file
 * names): the one form both a config file and `-o` read the same way. A path ssh cannot
 * be given so is refused. */
static int ssh_path_value(const char *what, const char *path, char *out, size_t n)
{
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = path; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f) {
            cli_error("%s %s: ssh cannot be given a path with quotes, backslashes or control "
                      "characters; set COVE_HOME to another directory", what, path);
            return -1;
        }
        if (o + 4 >= n) {
            cli_error("%s %s: path too long", what, path);
            return -1;
        }
        if (*p == '%')
            out[o++] = '%';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = 0;
    return 0;
}

/* The ProxyCommand: this cove, connecting to port 22 of NAME. with_home: the COVE_HOME
 * of now, for a block pasted into ~/.ssh/config that other shells will use. */
static int build_proxy(struct ssh_target *t, bool with_home)
{
    ssize_t len = readlink("/proc/self/exe", t->cove, sizeof t->cove - 1);
    if (len <= 0 || (size_t)len >= sizeof t->cove - 1) {
        cli_error("cannot find this cove's own path (/proc/self/exe): %s",
                  len < 0 ? strerror(errno) : "too long");
        return -1;
    }
    t->cove[len] = 0;
    t->proxy[0] = 0;
    const char *home = getenv("COVE_HOME");
    char abs_home[PATH_MAX];
    int rc = 0;
    if (with_home && home && *home) {
        if (!realpath(home, abs_home)) {
            cli_error("COVE_HOME %s: %s", home, strerror(errno));
            return -1;
        }
        strcpy(t->proxy, "env COVE_HOME=");
        rc = append_shell_word(t->proxy, sizeof t->proxy, abs_home);
        if (rc == 0)
            strcat(t->proxy, " ");
    }
    if (rc == 0)
        rc = append_shell_word(t->proxy, sizeof t->proxy, t->cove);
    if (rc == 0) {
        snprintf(t->proxy + strlen(t->proxy), sizeof t->proxy - strlen(t->proxy),
                 " connect --wait %g ", t->wait);
        rc = append_shell_word(t->proxy, sizeof t->proxy, t->name);
    }
    if (rc < 0 || strlen(t->proxy) + 8 >= sizeof t->proxy) {
        cli_error("the ProxyCommand for %s is too long", t->name);
        return -1;
    }
    snprintf(t->proxy + strlen(t->proxy), sizeof t->proxy - strlen(t->proxy), " %d",
             SSH_PORT);
    return 0;
}

/* Everything but the VM's state: its user, its known-hosts file, the ProxyCommand. */
static int prepare(struct ssh_target *t, bool with_home)
{
    struct cove_error err = {0};
    if (cove_vm_get(t->name, &t->info, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    if (!t->user)
        t->user = t->info.config.guest_user;
    if (!t->user) {
        cli_error("VM '%s' has no login user (it was not created from an image); use -l USER",
                  t->name);
        return -1;
    }
    if (cove_ssh_known_hosts(t->name, t->known_hosts, sizeof t->known_hosts, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    /* a block pasted into ~/.ssh/config is read from anywhere: no relative COVE_HOME */
    char abs[PATH_MAX];
    if (with_home && t->known_hosts[0] != '/') {
        if (!realpath(t->known_hosts, abs)) {
            cli_error("%s: %s", t->known_hosts, strerror(errno));
            return -1;
        }
        strcpy(t->known_hosts, abs);
    }
    snprintf(t->alias, sizeof t->alias, "cove-%s", t->name);
    return build_proxy(t, with_home);
}

/* -l USER, -i FILE and NAME for ssh and ssh-config; the rest (the command) from *rest. */
static int parse_target(const char *cmd, const char *usage, int argc, char **argv,
                        struct ssh_target *t, int *rest)
{
    static const struct option options[] = {
        {"user", required_argument, NULL, 'l'},
        {"identity", required_argument, NULL, 'i'},
        {"wait", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    t->wait = SSH_WAIT_S;
    for (;;) {
        int c = getopt_long(argc, argv, "+:l:i:h", options, NULL);
        if (c == -1) {
            /* NAME may sit among the options; the command starts after it (or "--"). */
            if (!t->name && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
                t->name = argv[optind++];
                continue;
            }
            break;
        }
        switch (c) {
        case 'l':
            if (!cove_guest_user_valid(optarg)) {
                cli_error("-l '%s' is not a Linux user name ([a-z_][a-z0-9_-]{0,31})", optarg);
                return CLI_EXIT_USAGE;
            }
            t->user = optarg;
            break;
        case 'i': t->identity = optarg; break;
        case 'W':
            if (parse_wait(optarg, &t->wait) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(usage, stdout); return -1;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (!t->name) {
        cli_error("missing NAME; usage: cove %s NAME [-l USER] [-i KEYFILE]", cmd);
        return CLI_EXIT_USAGE;
    }
    *rest = optind;
    return 0;
}

/* --- cove ssh ------------------------------------------------------------------------------ */

static int check_running(struct ssh_target *t)
{
    /* `cove run NAME --no-console & cove ssh NAME`: the run may not hold its lock yet */
    for (int i = 0; i < 30 && t->info.state == COVE_VM_STOPPED; i++) {
        struct cove_vm_info now;
        usleep(100 * 1000);
        if (cove_vm_get(t->name, &now, NULL) < 0)
            break;
        t->info.state = now.state;
        cove_vm_info_free(&now);
    }
    if (t->info.state == COVE_VM_RUNNING)
        return 0;
    if (t->info.state == COVE_VM_PAUSED)
        cli_error("VM '%s' is paused; resume it with `cove resume %s`", t->name, t->name);
    else
        cli_error("VM '%s' is not running; start it with `cove run %s`", t->name, t->name);
    return -1;
}

/* The private keys beside the .pub files of $HOME/.ssh, as "-i" pairs: the keys `cove create --from` put in
 * the guest are the .pub files of $HOME/.ssh, while ssh looks in the home directory of the
 * passwd entry, which need not be $HOME. Returns the number of args written. */
static int home_identities(glob_t *g, const char **args, int max_keys)
{
    const char *home = getenv("HOME");
    char pattern[PATH_MAX];
    if (!home || !*home || snprintf(pattern, sizeof pattern, "%s/.ssh/*.pub", home) >=
                               (int)sizeof pattern)
        return 0;
    if (glob(pattern, 0, NULL, g) != 0)
        return 0;
    int n = 0;
    for (size_t i = 0; i < g->gl_pathc && n / 2 < max_keys; i++) {
        char *p = g->gl_pathv[i];
        p[strlen(p) - 4] = 0; /* the private key beside NAME.pub */
        if (access(p, R_OK) == 0) {
            args[n++] = "-i";
            args[n++] = p;
        }
    }
    return n;
}

int cmd_ssh(int argc, char **argv)
{
    static struct ssh_target t; /* large; one per process */
    int rest;
    int rc = parse_target("ssh", ssh_usage, argc, argv, &t, &rest);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (prepare(&t, false) < 0 || check_running(&t) < 0)
        return CLI_EXIT_FAILURE;
    char proxy_opt[sizeof t.proxy + 32], known_opt[2 * PATH_MAX + 32], alias_opt[128];
    char known[2 * PATH_MAX];
    if (ssh_path_value("the known-hosts file", t.known_hosts, known, sizeof known) < 0)
        return CLI_EXIT_FAILURE;
    snprintf(proxy_opt, sizeof proxy_opt, "ProxyCommand=%s", t.proxy);
    snprintf(known_opt, sizeof known_opt, "UserKnownHostsFile=%s", known);
    snprintf(alias_opt, sizeof alias_opt, "HostKeyAlias=%s", t.alias);
    const char *args[MAX_SSH_ARGS];
    int n = 0;
    args[n++] = "ssh";
    args[n++] = "-o";
    args[n++] = proxy_opt;
    args[n++] = "-o";
    args[n++] = known_opt;
    args[n++] = "-o";
    args[n++] = "StrictHostKeyChecking=accept-new";
    args[n++] = "-o";
    args[n++] = alias_opt;
    args[n++] = "-l";
    args[n++] = t.user;
    glob_t keys = {0};
    if (t.identity) {
        args[n++] = "-i";
        args[n++] = t.identity;
    } else {
        n += home_identities(&keys, args + n, MAX_HOME_KEYS);
    }
    /* "--": the destination and the command are never read as ssh options */
    args[n++] = "--";
    args[n++] = t.alias;
    size_t ncmd = (size_t)(argc - rest);
    const char **full = calloc((size_t)n + ncmd + 1, sizeof *full);
    if (!full) {
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    memcpy(full, args, (size_t)n * sizeof *full);
    memcpy(full + n, argv + rest, ncmd * sizeof *full);
    fflush(stdout);
    execvp("ssh", (char *const *)full);
    int e = errno;
    free(full);
    if (e == ENOENT)
        cli_error("ssh is not installed; install the OpenSSH client (openssh-client)");
    else
        cli_error("cannot run ssh: %s", strerror(e));
    return 127;
}

/* --- cove ssh-config ----------------------------------------------------------------------- */

int cmd_ssh_config(int argc, char **argv)
{
    static struct ssh_target t;
    int rest;
    int rc = parse_target("ssh-config", ssh_config_usage, argc, argv, &t, &rest);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (rest < argc) {
        cli_error("unexpected argument '%s'; usage: cove ssh-config NAME [-l USER]", argv[rest]);
        return CLI_EXIT_USAGE;
    }
    if (prepare(&t, true) < 0)
        return CLI_EXIT_FAILURE;
    char known[2 * PATH_MAX], identity[2 * PATH_MAX] = "";
    if (ssh_path_value("the known-hosts file", t.known_hosts, known, sizeof known) < 0)
        return CLI_EXIT_FAILURE;
    if (t.identity) {
        char abs[PATH_MAX];
        if (!realpath(t.identity, abs)) {
            cli_error("-i %s: %s", t.identity, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (ssh_path_value("-i", abs, identity, sizeof identity) < 0)
            return CLI_EXIT_FAILURE;
    }
    printf("Host %s\n"
           "  HostName %s\n"
           "  User %s\n"
           "  ProxyCommand %s\n"
           "  UserKnownHostsFile %s\n"
           "  StrictHostKeyChecking accept-new\n"
           "  HostKeyAlias %s\n",
           t.alias, t.alias, t.user, t.proxy, known, t.alias);
    if (t.identity)
        printf("  IdentityFile %s\n", identity);
    cove_vm_info_free(&t.info);
    return CLI_EXIT_OK;
}
