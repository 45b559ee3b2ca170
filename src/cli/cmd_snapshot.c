/* cove snapshot NAME save|restore|list|delete [TAG]: the VM's snapshots (libcove's
 * cove_snapshot_*; docs/CLI.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cove/cove.h>
#include <cove/size.h>

#include "cli.h"

static const char usage[] =
    "usage: cove snapshot NAME save|restore|delete TAG\n"
    "       cove snapshot NAME list [--format text|json]\n\n"
    "Snapshots of a VM, running or not. Disks are kept as copy-on-write layers (nothing is\n"
    "copied); a running or suspended VM's snapshot also holds its memory and devices.\n\n"
    "  save TAG     take a snapshot; a running VM is paused meanwhile and runs on\n"
    "  restore TAG  go back to it: a running VM restarts in place from it (running again\n"
    "               when the snapshot was of a running VM, rebooted on its disks otherwise);\n"
    "               a VM that is not running is left suspended at it (`cove run` resumes\n"
    "               it) or stopped. What the VM had since is lost\n"
    "  list         the snapshots: tag, state, when, memory on disk\n"
    "  delete TAG   remove a snapshot; disk layers still in use stay\n\n"
    "TAG is named as VMs are: letters, digits, '.', '_' and '-'. A tag that exists is\n"
    "refused by save; so are a snapshot of another VM and one whose VM's disks (for a\n"
    "running snapshot also CPUs, memory, network) changed since.\n";

static int list(const char *name, bool json)
{
    struct cove_snapshot_info *v;
    size_t n;
    struct cove_error err;
    if (cove_snapshot_list(name, &v, &n, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I}", "tag", v[i].tag,
                                                 "state", v[i].running ? "running" : "stopped",
                                                 "created", (json_int_t)v[i].created,
                                                 "memory_bytes",
                                                 (json_int_t)v[i].memory_bytes));
        cli_print_json(arr);
    } else {
        printf("%-24s %-8s %-20s %s\n", "TAG", "STATE", "CREATED", "MEMORY");
        for (size_t i = 0; i < n; i++) {
            char when[32] = "?", mem[32] = "-";
            time_t t = (time_t)v[i].created;
            struct tm tm;
            if (localtime_r(&t, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            if (v[i].running)
                cove_size_format_short(v[i].memory_bytes, mem, sizeof mem);
            printf("%-24s %-8s %-20s %s\n", v[i].tag, v[i].running ? "running" : "stopped",
                   when, mem);
        }
    }
    free(v);
    return 0;
}

int cmd_snapshot(int argc, char **argv)
{
    bool json = false;
    int rc = cli_format_options("snapshot", usage, argc, argv, &json);
    if (rc)
        return rc < 0 ? 0 : rc;
    int left = argc - optind;
    const char *name = left > 0 ? argv[optind] : NULL;
    const char *action = left > 1 ? argv[optind + 1] : NULL;
    const char *tag = left > 2 ? argv[optind + 2] : NULL;
    bool is_list = action && !strcmp(action, "list");
    if (!name || !action) {
        cli_error("missing %s; usage: cove snapshot NAME save|restore|list|delete [TAG]",
                  name ? "what to do (save, restore, list or delete)" : "NAME");
        return CLI_EXIT_USAGE;
    }
    if (!is_list && strcmp(action, "save") && strcmp(action, "restore") &&
        strcmp(action, "delete")) {
        cli_error("unknown snapshot action '%s'; use save, restore, list or delete", action);
        return CLI_EXIT_USAGE;
    }
    if (!is_list && !tag) {
        cli_error("missing TAG; usage: cove snapshot %s %s TAG", name, action);
        return CLI_EXIT_USAGE;
    }
    if (left > (is_list ? 2 : 3)) {
        cli_error("unexpected argument '%s'; see `cove snapshot --help`",
                  argv[optind + (is_list ? 2 : 3)]);
        return CLI_EXIT_USAGE;
    }
    if (json && !is_list) {
        cli_error("--format is for `cove snapshot NAME list`");
        return CLI_EXIT_USAGE;
    }
    if (is_list)
        return list(name, json);
    struct cove_error err;
    if (!strcmp(action, "save")) {
        if (cove_snapshot_save(name, tag, &err) < 0) {
            cli_error("%s", err.message);
            return CLI_EXIT_FAILURE;
        }
        printf("saved snapshot '%s' of VM '%s'\n", tag, name);
        return 0;
    }
    if (!strcmp(action, "delete")) {
        if (cove_snapshot_delete(name, tag, &err) < 0) {
            cli_error("%s", err.message);
            return CLI_EXIT_FAILURE;
        }
        printf("deleted snapshot '%s' of VM '%s'\n", tag, name);
        return 0;
    }
    struct cove_snapshot_restored r;
    if (cove_snapshot_restore(name, tag, &r, &err) < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_FAILURE;
    }
    if (r.vm_running)
        printf("restored snapshot '%s': VM '%s' %s (%.0f ms)\n", tag, name,
               r.running ? "runs on from it" : "rebooted on its disks", r.ms);
    else if (r.running)
        printf("restored snapshot '%s': VM '%s' is suspended at it; `cove run %s` resumes it\n",
               tag, name, name);
    else
        printf("restored snapshot '%s': VM '%s' is stopped with its disks\n", tag, name);
    return 0;
}
