/*
 * cove disk — create, inspect, grow and convert disk images (raw or cdisk, see
 * docs/DISK-FORMAT.md). A thin client of <cove/disk.h>: it parses arguments and prints.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cove/disk.h>
#include <cove/size.h>

static const char disk_usage[] =
    "usage: cove disk create PATH SIZE [--backing FILE] [--format cdisk|raw]\n"
    "       cove disk info PATH [--format text|json]\n"
    "       cove disk resize PATH SIZE\n"
    "       cove disk convert SRC DST [--to raw|cdisk]\n"
    "       cove disk check PATH [--repair] [--format text|json]\n"
    "\n"
    "  create    a new image: cdisk (sparse, copy-on-write; the default) or raw. With\n"
    "            --backing, reads of clusters never written come from FILE (raw or cdisk,\n"
    "            never modified; a relative FILE is relative to PATH's directory) and\n"
    "            SIZE may be left out to take FILE's size.\n"
    "  info      format, virtual size, space used on the host, backing file\n"
    "  resize    grow the virtual size (shrinking is refused)\n"
    "  convert   copy SRC into a new image DST, flattening any backing chain; --to\n"
    "            defaults to the other format than SRC's. Zeros stay holes.\n"
    "\n"
    "SIZE takes K, M, G, T suffixes (binary: 1G = 1024 MiB); a bare number is bytes.\n";

static int parse_size_arg(const char *text, uint64_t *out)
{
    int r = cove_size_parse(text, 1, out);
    if (r == -ERANGE) {
        cli_error("size '%s' is too large", text);
        return -1;
    }
    if (r < 0) {
        cli_error("size '%s' is not a size; pass e.g. 10G, 512M or a number of bytes", text);
        return -1;
    }
    return 0;
}

static int parse_format_arg(const char *opt, const char *text, enum cove_disk_format *out)
{
    if (cove_disk_format_parse(text, out) < 0 || *out == COVE_DISK_AUTO) {
        cli_error("%s '%s' is not a disk format; use cdisk or raw", opt, text);
        return -1;
    }
    return 0;
}

/* Wants exactly min..max positional arguments after the options. */
static int positional(int argc, char **argv, int min, int max, const char *sub)
{
    int n = argc - optind;
    if (n < min || n > max) {
        cli_error("disk %s: %s arguments; see `cove disk --help`", sub,
                  n < min ? "missing" : "too many");
        return -1;
    }
    (void)argv;
    return 0;
}

static int disk_create_cmd(int argc, char **argv)
{
    static const struct option options[] = {
        {"backing", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cove_disk_create_options o = {.format = COVE_DISK_CDISK};
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'b') {
            o.backing = optarg;
        } else if (c == 'f') {
            if (parse_format_arg("--format", optarg, &o.format) < 0)
                return CLI_EXIT_USAGE;
        } else if (c == 'h') {
            fputs(disk_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_bad_option("disk", c, argv);
        }
    }
    if (positional(argc, argv, o.backing ? 1 : 2, 2, "create") < 0)
        return CLI_EXIT_USAGE;
    if (o.backing && o.format == COVE_DISK_RAW) {
        cli_error("disk create: a raw image cannot have a backing file; use --format cdisk");
        return CLI_EXIT_USAGE;
    }
    const char *path = argv[optind];
    if (optind + 1 < argc && parse_size_arg(argv[optind + 1], &o.size) < 0)
        return CLI_EXIT_USAGE;
    struct cove_error err;
    if (cove_disk_create(path, &o, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static int print_info_json(const char *path, const struct cove_disk_info *info)
{
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "format", json_string(cove_disk_format_name(info->format)));
    json_object_set_new(o, "virtual_size", json_integer((json_int_t)info->virtual_size));
    json_object_set_new(o, "allocated", json_integer((json_int_t)info->allocated));
    json_object_set_new(o, "file_size", json_integer((json_int_t)info->file_size));
    if (info->format == COVE_DISK_CDISK) {
        json_object_set_new(o, "cluster_size", json_integer(info->cluster_size));
        json_object_set_new(o, "dirty", json_boolean(info->dirty));
    }
    if (info->backing[0]) {
        json_t *b = json_object();
        json_object_set_new(b, "path", json_string(info->backing));
        json_object_set_new(b, "format", json_string(cove_disk_format_name(info->backing_format)));
        json_object_set_new(o, "backing", b);
    } else {
        json_object_set_new(o, "backing", json_null());
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    puts(text);
    free(text);
    return CLI_EXIT_OK;
}

static void print_info_text(const char *path, const struct cove_disk_info *info)
{
    char vs[32], al[32];
    cove_size_format(info->virtual_size, vs, sizeof vs);
    cove_size_format(info->allocated, al, sizeof al);
    printf("image:         %s\n", path);
    printf("format:        %s\n", cove_disk_format_name(info->format));
    printf("virtual size:  %s (%" PRIu64 " bytes)\n", vs, info->virtual_size);
    printf("on host:       %s (%" PRIu64 " bytes)\n", al, info->allocated);
    if (info->format == COVE_DISK_CDISK) {
        printf("cluster size:  %" PRIu32 "\n", info->cluster_size);
        printf("backing file:  %s", info->backing[0] ? info->backing : "none");
        if (info->backing[0])
            printf(" (%s)", cove_disk_format_name(info->backing_format));
        printf("\n");
        if (info->dirty)
            printf("dirty:         yes (in use, or not closed cleanly)\n");
    }
}

static int disk_info_cmd(int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'f') {
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                cli_error("--format '%s' is not an output format; use text or json", optarg);
                return CLI_EXIT_USAGE;
            }
            json = !strcmp(optarg, "json");
        } else if (c == 'h') {
            fputs(disk_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_bad_option("disk", c, argv);
        }
    }
    if (positional(argc, argv, 1, 1, "info") < 0)
        return CLI_EXIT_USAGE;
    const char *path = argv[optind];
    struct cove_disk_info info;
    struct cove_error err;
    if (cove_disk_info(path, &info, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (json)
        return print_info_json(path, &info);
    print_info_text(path, &info);
    return CLI_EXIT_OK;
}

static int disk_resize_cmd(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(disk_usage, stdout);
        return CLI_EXIT_OK;
    }
    optind = 1;
    if (positional(argc, argv, 2, 2, "resize") < 0)
        return CLI_EXIT_USAGE;
    uint64_t size;
    if (parse_size_arg(argv[2], &size) < 0)
        return CLI_EXIT_USAGE;
    struct cove_error err;
    if (cove_disk_resize(argv[1], size, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static void show_progress(uint64_t done, uint64_t total, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "\r  %5.1f%%", total ? 100.0 * (double)done / (double)total : 100.0);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int disk_convert_cmd(int argc, char **argv)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    enum cove_disk_format to = COVE_DISK_AUTO;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 't') {
            if (parse_format_arg("--to", optarg, &to) < 0)
                return CLI_EXIT_USAGE;
        } else if (c == 'h') {
            fputs(disk_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_bad_option("disk", c, argv);
        }
    }
    if (positional(argc, argv, 2, 2, "convert") < 0)
        return CLI_EXIT_USAGE;
    struct cove_error err;
    cove_disk_progress_fn progress = isatty(STDERR_FILENO) ? show_progress : NULL;
    if (cove_disk_convert(argv[optind], argv[optind + 1], to, progress, NULL, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

struct findings {
    bool json;
    json_t *list;
};

static void print_finding(const struct cove_disk_finding *f, void *opaque)
{
    struct findings *fs = opaque;
    bool repaired = f->kind == COVE_DISK_REPAIRED;
    if (fs->json) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(repaired ? "repaired" : "problem"));
        json_object_set_new(o, "what", json_string(f->what));
        if (repaired)
            json_object_set_new(o, "lost", json_string(f->loss));
        json_array_append_new(fs->list, o);
        return;
    }
    if (repaired)
        printf("repaired: %s\n          lost: %s\n", f->what, f->loss);
    else
        printf("problem:  %s\n", f->what);
}

static void print_check_text(const char *path, const struct cove_disk_check_report *r)
{
    printf("image:    %s (%s, %" PRIu64 " bytes)\n", path, cove_disk_format_name(r->format),
           r->file_size);
    if (r->format == COVE_DISK_RAW) {
        printf("raw image: nothing to check but its size\n");
        return;
    }
    printf("map:      %" PRIu64 " L2 tables, %" PRIu64 " data clusters, %" PRIu64
           " leaked clusters\n", r->tables, r->data_clusters, r->leaked_clusters);
    if (r->problems)
        printf("%u problem%s found%s\n", r->problems, r->problems == 1 ? "" : "s",
               r->repaired ? " after repairs" : "");
    else
        printf("no problems found%s\n", r->repaired ? " after repairs" : "");
}

static int print_check_json(const char *path, const struct cove_disk_check_report *r,
                            json_t *list)
{
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "format", json_string(cove_disk_format_name(r->format)));
    json_object_set_new(o, "file_size", json_integer((json_int_t)r->file_size));
    json_object_set_new(o, "virtual_size", json_integer((json_int_t)r->virtual_size));
    if (r->format == COVE_DISK_CDISK) {
        json_object_set_new(o, "cluster_size", json_integer(r->cluster_size));
        json_object_set_new(o, "dirty", json_boolean(r->dirty));
        json_object_set_new(o, "tables", json_integer((json_int_t)r->tables));
        json_object_set_new(o, "data_clusters", json_integer((json_int_t)r->data_clusters));
        json_object_set_new(o, "leaked_clusters",
                            json_integer((json_int_t)r->leaked_clusters));
    }
    json_object_set_new(o, "problems", json_integer(r->problems));
    json_object_set_new(o, "repaired", json_integer(r->repaired));
    json_object_set_new(o, "findings", json_incref(list));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        cli_error("out of memory");
        return -1;
    }
    puts(text);
    free(text);
    return 0;
}

static int disk_check_cmd(int argc, char **argv)
{
    static const struct option options[] = {
        {"repair", no_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool repair = false;
    struct findings fs = {0};
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'r') {
            repair = true;
        } else if (c == 'f') {
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                cli_error("--format '%s' is not an output format; use text or json", optarg);
                return CLI_EXIT_USAGE;
            }
            fs.json = !strcmp(optarg, "json");
        } else if (c == 'h') {
            fputs(disk_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_bad_option("disk", c, argv);
        }
    }
    if (positional(argc, argv, 1, 1, "check") < 0)
        return CLI_EXIT_USAGE;
    const char *path = argv[optind];
    fs.list = json_array();
    struct cove_disk_check_report rep;
    struct cove_error err;
    int rc = cove_disk_check(path, repair, print_finding, &fs, &rep, &err);
    if (rc < 0) {
        json_decref(fs.list);
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (fs.json)
        rc = print_check_json(path, &rep, fs.list);
    else
        print_check_text(path, &rep);
    json_decref(fs.list);
    return rc < 0 || rep.problems ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_disk(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(disk_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    /* The subcommand's own argv: its name is argv[0], as getopt expects. */
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    if (!strcmp(sub, "create"))
        return disk_create_cmd(argc, argv);
    if (!strcmp(sub, "info"))
        return disk_info_cmd(argc, argv);
    if (!strcmp(sub, "resize"))
        return disk_resize_cmd(argc, argv);
    if (!strcmp(sub, "convert"))
        return disk_convert_cmd(argc, argv);
    if (!strcmp(sub, "check"))
        return disk_check_cmd(argc, argv);
    cli_error("unknown disk command '%s'; see `cove disk --help`", sub);
    return CLI_EXIT_USAGE;
}
