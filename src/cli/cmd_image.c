/*
 * cove image build|update|list|rm: distribution images (include/cove/image.h, docs/IMAGES.md).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cove/image.h>
#include <cove/size.h>

#include "cli.h"
#include "guest_dir.h"

static const char usage[] =
    "usage: cove image build NAME[:SUITE] [--suite SUITE]\n"
    "       cove image update NAME[:SUITE] [--suite SUITE]\n"
    "       cove image list [--format text|json]\n"
    "       cove image rm NAME[:SUITE]\n"
    "\n"
    "Distribution images, built from the templates of cove's images/ (e.g. debian) with\n"
    "Debian's archive, cached in the image store ($COVE_IMAGES, else $COVE_HOME/images)\n"
    "and the base of `cove create VM --from NAME[:SUITE]`.\n"
    "  build    build the image unless the store has it with the same inputs\n"
    "  update   build it again from the archive as it is now (VMs made before keep theirs)\n"
    "  list     the images in the store, then those pulled from registries (cove pull;\n"
    "           a lazy clone's image is partial until all of it is fetched)\n"
    "  rm       remove an image (every suite of it without :SUITE); VMs keep their disks\n"
    "  --suite SUITE   the distribution's suite (e.g. sid, forky); default: the template's\n";

/* NAME[:SUITE] into name and suite (NULL when not given). */
static int split_ref(char *ref, const char **name, const char **suite)
{
    char *colon = strchr(ref, ':');
    *name = ref;
    *suite = NULL;
    if (colon) {
        *colon = 0;
        *suite = colon + 1;
    }
    return 0;
}

int cli_image_build(const char *name, const char *suite, bool update, char *dir, size_t n)
{
    /* images/derive.sh: a template with a base is derived from it (apt in a chroot on a
     * copy of the base's disk); any other goes on to images/build.sh. COVE: this cove, for
     * builders that run it. */
    char builder[4096], self[4096];
    if (cli_data_path("images/derive.sh", builder, sizeof builder) < 0)
        return -1;
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        setenv("COVE", self, 0);
    }
    struct cove_error err = {0};
    if (cove_image_build(builder, name, suite, update, isatty(2), dir, n, &err) < 0) {
        cli_error("%s", err.message);
        return -1;
    }
    return 0;
}

static int build(int argc, char **argv, bool update)
{
    static const struct option options[] = {
        {"suite", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = update ? "image update" : "image build", *suite_opt = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 's': suite_opt = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (argc - optind != 1) {
        cli_error("usage: cove %s NAME[:SUITE] [--suite SUITE]", cmd);
        return CLI_EXIT_USAGE;
    }
    const char *name, *suite;
    split_ref(argv[optind], &name, &suite);
    if (suite && suite_opt && strcmp(suite, suite_opt)) {
        cli_error("two suites given ('%s' and --suite %s); give one", suite, suite_opt);
        return CLI_EXIT_USAGE;
    }
    if (suite_opt)
        suite = suite_opt;
    char dir[4096];
    if (cli_image_build(name, suite, update, dir, sizeof dir) < 0)
        return CLI_EXIT_FAILURE;
    printf("%s\n", dir);
    return CLI_EXIT_OK;
}

static json_t *info_json(const struct cove_image_info *i)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "source", "built",
                     "name", i->name,
                     "suite", i->suite, "dir", i->dir, "key", i->key, "built", i->built,
                     "kernel", i->kernel, "archive", i->archive, "boot", i->boot, "disk_size",
                     (json_int_t)i->disk_size, "disk_used", (json_int_t)i->disk_used);
}

static int list(int argc, char **argv)
{
    bool json;
    int rc = cli_format_options("image list", usage, argc, argv, &json);
    if (rc < 0)
        return CLI_EXIT_OK;
    if (rc)
        return rc;
    if (argc - optind != 0) {
        cli_error("usage: cove image list [--format text|json]");
        return CLI_EXIT_USAGE;
    }
    struct cove_image_info *v;
    size_t n;
    struct cove_error err = {0};
    if (cove_image_list(&v, &n, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, info_json(&v[i]));
        if (cli_oci_images(arr) < 0) {
            json_decref(arr);
            free(v);
            return CLI_EXIT_FAILURE;
        }
        cli_print_json(arr);
    } else {
        printf("%-12s %-8s %-20s %-24s %7s %7s\n", "NAME", "SUITE", "BUILT", "KERNEL", "DISK",
               "USED");
        for (size_t i = 0; i < n; i++) {
            char size[32], used[32];
            cove_size_format_short(v[i].disk_size, size, sizeof size);
            cove_size_format_short(v[i].disk_used, used, sizeof used);
            printf("%-12s %-8s %-20s %-24s %7s %7s\n", v[i].name, v[i].suite, v[i].built,
                   v[i].kernel, size, used);
        }
        /* pulled from registries (cove pull, cove clone REF): a table of their own */
        if (cli_oci_images(NULL) < 0) {
            free(v);
            return CLI_EXIT_FAILURE;
        }
    }
    free(v);
    return CLI_EXIT_OK;
}

static int rm(int argc, char **argv)
{
    int rc = cli_help_only("image rm", usage, argc, argv);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (argc - optind != 1) {
        cli_error("usage: cove image rm NAME[:SUITE]");
        return CLI_EXIT_USAGE;
    }
    const char *name, *suite;
    split_ref(argv[optind], &name, &suite);
    struct cove_error err = {0};
    if (cove_image_remove(name, suite, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

int cmd_image(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "build"))
        return build(argc - 1, argv + 1, false);
    if (!strcmp(sub, "update"))
        return build(argc - 1, argv + 1, true);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return list(argc - 1, argv + 1);
    if (!strcmp(sub, "rm"))
        return rm(argc - 1, argv + 1);
    cli_error("'%s' is not an image command; use build, update, list or rm", sub);
    return CLI_EXIT_USAGE;
}
