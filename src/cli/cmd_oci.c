/*
 * cove push, pull, clone REF NAME, login, logout, prune: VMs through OCI registries
 * (include/cove/oci.h, docs/OCI.md). Progress on a terminal, quiet otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cove/oci.h>
#include <cove/size.h>

#include "cli.h"

static const char push_usage[] =
    "usage: cove push NAME REF [REF...] [--insecure]\n\n"
    "Pushes the stopped or suspended VM NAME to each REF (REGISTRY/REPOSITORY[:TAG], TAG\n"
    "default latest) as an OCI artifact: the disk in 64 MiB zstd chunks (all-zero chunks left\n"
    "out), boot files, the configuration; a suspended VM's saved machine and memory too.\n"
    "Blobs the registry has already are not sent again (chunks an earlier push or pull\n"
    "recorded are not even compressed again); those another repository of the registry\n"
    "has are mounted from it. 4 blobs move at once.\n"
    "  --insecure   allow plain HTTP and unverified TLS (loopback registries need not)\n"
    "Credentials: `cove login`, or ~/.docker/config.json. A private CA: COVE_REGISTRY_CA=FILE.\n"
    "COVE_REGISTRY_UPLOAD_CHUNK=SIZE sends each blob in PATCH requests of SIZE bytes.\n";
static const char pull_usage[] =
    "usage: cove pull REF [--insecure]\n\n"
    "Pulls the VM image REF into the cache (COVE_HOME/cache/oci), verifying every blob;\n"
    "an interrupted pull resumes from the blobs it kept. `cove image list` lists it.\n"
    "  --insecure   allow plain HTTP and unverified TLS\n";
static const char clone_usage[] =
    "usage: cove clone REF NAME [--lazy] [--insecure]\n\n"
    "Makes the VM NAME from the image REF: pulled unless the cache has it, then a\n"
    "copy-on-write clone of its disk, in constant time. The image of a suspended VM gives\n"
    "a suspended NAME: `cove run NAME` resumes it where it was (a fork: its own MAC, hostname).\n"
    "  --lazy       fetch only the manifest, the config and the boot files now; `cove run\n"
    "               NAME` fetches each 64 MiB chunk of the disk when the guest first reads\n"
    "               it, verified and kept in the cache (a chunk that fails: an I/O error)\n"
    "  --insecure   allow plain HTTP and unverified TLS\n";
static const char login_usage[] =
    "usage: cove login REGISTRY [-u USER --password-stdin] [--insecure]\n"
    "       cove logout REGISTRY\n\n"
    "Checks the user and password against REGISTRY (HOST[:PORT]) and stores them in\n"
    "COVE_HOME/auth.json (mode 0600). Without -u it asks on the terminal.\n"
    "  -u, --username USER   the user\n"
    "  --password-stdin      read the password from stdin (first line)\n"
    "  --insecure            allow plain HTTP and unverified TLS\n";

struct progress {
    bool shown;
    char what[64];
};

static void show_progress(const char *what, uint64_t done, uint64_t total, void *opaque)
{
    struct progress *p = opaque;
    fprintf(stderr, "\rcove: %-10.10s %6llu / %llu MiB", what, (unsigned long long)(done >> 20),
            (unsigned long long)(total >> 20));
    fflush(stderr);
    p->shown = true;
}

static void end_progress(struct progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
    p->shown = false;
}

/* --insecure and --help (plus login's own); positional arguments from optind. */
static int parse(const char *cmd, const char *usage, int argc, char **argv,
                 struct cove_oci_options *o, const char **user, bool *password_stdin,
                 bool *lazy)
{
    static const struct option options[] = {
        {"insecure", no_argument, NULL, 'k'},
        {"lazy", no_argument, NULL, 'L'},
        {"username", required_argument, NULL, 'u'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, user ? ":hu:" : ":h", options, NULL)) != -1) {
        switch (c) {
        case 'k': o->insecure = true; break;
        case 'L':
            if (!lazy)
                return cli_bad_option(cmd, '?', argv);
            *lazy = true;
            break;
        case 'h': fputs(usage, stdout); return -1;
        case 'u':
        case 'p':
            if (user) {
                if (c == 'u')
                    *user = optarg;
                else
                    *password_stdin = true;
                break;
            }
            /* fall through */
        default:
            if (c != ':' && c != '?')
                return cli_bad_option(cmd, '?', argv);
            return cli_bad_option(cmd, c, argv);
        }
    }
    return 0;
}

static int count(const char *cmd, int argc, char **argv, int min, int max, const char *what)
{
    int n = argc - optind;
    if (n < min || n > max) {
        cli_error("%s; usage: cove %s %s", n < min ? "missing arguments" : "too many arguments",
                  cmd, what);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static void setup_progress(struct cove_oci_options *o, struct progress *p)
{
    if (isatty(2)) {
        o->progress = show_progress;
        o->opaque = p;
    }
}

int cmd_push(int argc, char **argv)
{
    struct cove_oci_options o = {0};
    struct progress pr = {0};
    int rc = parse("push", push_usage, argc, argv, &o, NULL, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = count("push", argc, argv, 2, 17, "NAME REF [REF...]")))
        return rc;
    setup_progress(&o, &pr);
    struct cove_oci_transfer t;
    struct cove_error err = {0};
    rc = cove_oci_push(argv[optind], (const char *const *)argv + optind + 1,
                       (unsigned)(argc - optind - 1), &o, &t, &err);
    end_progress(&pr);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    char sent[32], data[32];
    cove_size_format_short(t.bytes_sent, sent, sizeof sent);
    cove_size_format_short(t.disk_bytes, data, sizeof data);
    printf("pushed VM '%s' (%s of data): %u blobs uploaded (%s), %u mounted from another "
           "repository, %u already there (%u chunks known, not compressed again); %s\n",
           argv[optind], data, t.blobs_sent, sent, t.blobs_mounted, t.blobs_skipped,
           t.chunks_known, t.digest);
    return CLI_EXIT_OK;
}

int cmd_pull(int argc, char **argv)
{
    struct cove_oci_options o = {0};
    struct progress pr = {0};
    int rc = parse("pull", pull_usage, argc, argv, &o, NULL, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = count("pull", argc, argv, 1, 1, "REF")))
        return rc;
    setup_progress(&o, &pr);
    struct cove_oci_transfer t;
    struct cove_error err = {0};
    rc = cove_oci_pull(argv[optind], &o, &t, &err);
    end_progress(&pr);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    char got[32];
    cove_size_format_short(t.bytes_sent, got, sizeof got);
    printf("pulled %s: %u blobs downloaded (%s), %u already here; %s\n", argv[optind],
           t.blobs_sent, got, t.blobs_skipped, t.digest);
    return CLI_EXIT_OK;
}

int cli_oci_clone(int argc, char **argv)
{
    struct cove_oci_options o = {0};
    struct progress pr = {0};
    bool lazy = false;
    int rc = parse("clone", clone_usage, argc, argv, &o, NULL, NULL, &lazy);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = count("clone", argc, argv, 2, 2, "REF NAME")))
        return rc;
    setup_progress(&o, &pr);
    struct cove_error err = {0};
    bool pulled = false;
    rc = lazy ? cove_oci_clone_lazy(argv[optind], argv[optind + 1], &o, &err)
              : cove_oci_clone(argv[optind], argv[optind + 1], &o, &pulled, &err);
    end_progress(&pr);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    printf("cloned %s to VM '%s'%s\n", argv[optind], argv[optind + 1],
           lazy ? " (lazily: the disk arrives as the guest reads it)" : pulled ? " (pulled)" : "");
    return CLI_EXIT_OK;
}

/* One line from fd 0 (the terminal without echo when hide). */
static int read_line(const char *prompt, bool hide, char *buf, size_t n)
{
    struct termios old, quiet;
    bool tty = isatty(0);
    if (prompt && tty)
        fputs(prompt, stderr);
    if (hide && tty && tcgetattr(0, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    bool ok = fgets(buf, (int)n, stdin) != NULL;
    if (hide && tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!ok)
        return -1;
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

int cmd_login(int argc, char **argv)
{
    struct cove_oci_options o = {0};
    const char *user = NULL;
    bool password_stdin = false;
    int rc = parse("login", login_usage, argc, argv, &o, &user, &password_stdin, NULL);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = count("login", argc, argv, 1, 1, "REGISTRY [-u USER --password-stdin]")))
        return rc;
    char ubuf[256], pass[1024];
    if (password_stdin && !user) {
        cli_error("--password-stdin needs -u USER");
        return CLI_EXIT_USAGE;
    }
    if (!user) {
        if (!isatty(0)) {
            cli_error("no terminal to ask on; give -u USER --password-stdin");
            return CLI_EXIT_USAGE;
        }
        if (read_line("Username: ", false, ubuf, sizeof ubuf) < 0 || !ubuf[0]) {
            cli_error("no user name given");
            return CLI_EXIT_FAILURE;
        }
        user = ubuf;
    }
    if (read_line(password_stdin ? NULL : "Password: ", !password_stdin, pass, sizeof pass) < 0) {
        cli_error("no password on %s", password_stdin ? "stdin" : "the terminal");
        return CLI_EXIT_FAILURE;
    }
    struct cove_error err = {0};
    rc = cove_oci_login(argv[optind], user, pass, &o, &err);
    explicit_bzero(pass, sizeof pass);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    printf("logged in to %s as %s\n", argv[optind], user);
    return CLI_EXIT_OK;
}

int cmd_logout(int argc, char **argv)
{
    struct cove_oci_options o = {0};
    int rc = parse("logout", login_usage, argc, argv, &o, NULL, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = count("logout", argc, argv, 1, 1, "REGISTRY")))
        return rc;
    struct cove_error err = {0};
    if (cove_oci_logout(argv[optind], &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    printf("logged out of %s\n", argv[optind]);
    return CLI_EXIT_OK;
}

int cli_oci_images(struct json_t *arr)
{
    struct cove_oci_image *v;
    size_t n;
    struct cove_error err = {0};
    if (cove_oci_list(&v, &n, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (arr) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b}",
                                                 "source", "pulled", "ref", v[i].ref, "digest",
                                                 v[i].digest, "dir", v[i].dir, "pulled",
                                                 v[i].pulled, "disk_size",
                                                 (json_int_t)v[i].disk_size, "disk_used",
                                                 (json_int_t)v[i].disk_used, "partial",
                                                 v[i].partial));
            continue;
        }
        char size[32], used[32];
        if (i == 0)
            printf("\n%-45s %-20s %-19s %7s %7s  %s\n", "PULLED", "AT", "DIGEST", "DISK", "USED",
                   "STATE");
        cove_size_format_short(v[i].disk_size, size, sizeof size);
        cove_size_format_short(v[i].disk_used, used, sizeof used);
        printf("%-45s %-20s %-19.19s %7s %7s  %s\n", v[i].ref, v[i].pulled, v[i].digest, size,
               used, v[i].partial ? "partial" : "complete");
    }
    free(v);
    return (int)n;
}

/* 30s, 15m, 12h, 7d (a bare number is days) */
static int parse_age(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    long long unit = !*end ? 86400 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                     : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : 0;
    if (errno || end == text || n < 0 || !unit || n > INT64_MAX / unit) {
        cli_error("--older-than '%s' is not a duration; use e.g. 7d, 12h, 30m", text);
        return -1;
    }
    *out = n * unit;
    return 0;
}

int cmd_prune(int argc, char **argv)
{
    static const char usage[] =
        "usage: cove prune [--older-than DURATION] [--space-budget SIZE]\n\n"
        "Makes the cache of pulled images (COVE_HOME/cache/oci) smaller: removes every blob\n"
        "(they only let an interrupted pull resume) and images no tag names; then images\n"
        "pulled longer ago than DURATION (7d, 12h, 30m; a bare number is days), then the\n"
        "least recently pulled ones until the cache takes at most SIZE (e.g. 20G; a bare\n"
        "number is GiB). VMs cloned from an image keep working.\n";
    static const struct option options[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"space-budget", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t age = -1;
    uint64_t budget = UINT64_MAX;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (parse_age(optarg, &age) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 's':
            if (cove_size_parse(optarg, 1ull << 30, &budget) < 0) {
                cli_error("--space-budget '%s' is not a size; use e.g. 20G", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("prune", c, argv);
        }
    }
    int rc = count("prune", argc, argv, 0, 0, "[--older-than DURATION] [--space-budget SIZE]");
    if (rc)
        return rc;
    struct cove_oci_prune p;
    struct cove_error err = {0};
    if (cove_oci_prune(age, budget, &p, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    char freed[32];
    cove_size_format_short(p.freed, freed, sizeof freed);
    printf("pruned %u images and %u blobs: %s freed\n", p.images, p.blobs, freed);
    return CLI_EXIT_OK;
}
