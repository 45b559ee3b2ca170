/*
 * What the list/get commands share: --format text|json and printing JSON.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The options of a command that takes none but --help: -1 after printing the usage (the
 * command is done, exit 0), 0 to go on (arguments from optind), or an exit code. */
int cli_help_only(const char *cmd, const char *usage, int argc, char **argv)
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
    return 0;
}

/* The options of the read-only commands (get, list): --format text|json and --help.
 * Returns -1 after printing the usage (the command is done, exit 0), 0 to go on, or an
 * exit code. */
int cli_format_options(const char *cmd, const char *usage, int argc, char **argv,
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

void cli_print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(v);
}
