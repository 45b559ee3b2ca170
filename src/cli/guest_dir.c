/*
 * The default guest's directory. An installed cove must not depend on the tree it was built
 * from, so no source path is compiled in: the installed guest is found relative to the
 * binary, and a build tree is recognised by the meson-info/ Meson writes next to build/cove,
 * which names the source directory.
 */
#include "guest_dir.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* From the binary's directory to DATADIR/cove/guest (src/cli/meson.build). */
#ifndef COVE_GUEST_FROM_BINDIR
#define COVE_GUEST_FROM_BINDIR "../share/cove/guest"
#endif

/* The directory of the running binary, symlinks resolved; -1 if /proc cannot say. */
static int exe_dir(char *buf, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", buf, n);
    if (len <= 0 || (size_t)len >= n)
        return -1;
    buf[len] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = 0;
    return 0;
}

/* Where the installed guest would be: DATADIR/cove/guest, from BINDIR's point of view. */
static int installed_path(const char *bindir, char *path, size_t n)
{
    const char *rel = COVE_GUEST_FROM_BINDIR;
    int len = *rel == '/' ? snprintf(path, n, "%s", rel) : snprintf(path, n, "%s/%s", bindir, rel);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The installed guest, if it is there: 1 with its path (normalised) in buf, else 0. */
static int installed_guest(const char *path, char *buf, size_t n)
{
    char image[PATH_MAX + 8];
    snprintf(image, sizeof image, "%s/Image", path);
    if (access(image, R_OK) < 0 || !realpath(path, image) || strlen(image) >= n)
        return 0;
    snprintf(buf, n, "%s", image);
    return 1;
}

/* The source directory of the build tree holding this binary, from meson-info.json. */
static int build_tree_source(const char *bindir, char *buf, size_t n)
{
    char info[PATH_MAX];
    if (snprintf(info, sizeof info, "%s/meson-info/meson-info.json", bindir) >= (int)sizeof info)
        return -1;
    json_t *root = json_load_file(info, 0, NULL);
    const char *src = json_string_value(json_object_get(json_object_get(root, "directories"),
                                                        "source"));
    int rc = src && *src && strlen(src) < n ? 0 : -1;
    if (rc == 0)
        snprintf(buf, n, "%s", src);
    json_decref(root);
    return rc;
}

/* Runs SCRIPT, which prints the guest's directory on its first line. */
static int run_guest_build(const char *script, char *buf, size_t n)
{
    char cmd[PATH_MAX + 8];
    if (strlen(script) >= PATH_MAX || strchr(script, '\'')) {
        cli_error("cannot run %s: a quote in its path", script);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "'%s'", script);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(buf, (int)n, p)) {
        if (p)
            pclose(p);
        cli_error("cannot build the default guest (%s); set COVE_GUEST_DIR or pass --kernel",
                  script);
        return -1;
    }
    buf[strcspn(buf, "\n")] = 0;
    if (pclose(p) != 0) {
        cli_error("cannot build the default guest (%s failed)", script);
        return -1;
    }
    return 0;
}

int cli_data_path(const char *rel, char *buf, size_t n)
{
    char bindir[PATH_MAX], dir[PATH_MAX], src[PATH_MAX];
    if (exe_dir(bindir, sizeof bindir) < 0) {
        cli_error("cannot find where cove is installed (/proc/self/exe)");
        return -1;
    }
    /* DATADIR/cove is the installed guest's parent */
    if (installed_path(bindir, dir, sizeof dir) == 0) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        int len = snprintf(buf, n, "%s/%s", dir, rel);
        if (len > 0 && (size_t)len < n && access(buf, F_OK) == 0)
            return 0;
    }
    if (build_tree_source(bindir, src, sizeof src) == 0) {
        int len = snprintf(buf, n, "%s/%s", src, rel);
        if (len > 0 && (size_t)len < n && access(buf, F_OK) == 0)
            return 0;
    }
    cli_error("%s is not installed (looked in %s/../share/cove and the source tree)", rel, bindir);
    return -1;
}

int cli_default_guest_dir(char *buf, size_t n)
{
    const char *env = getenv("COVE_GUEST_DIR");
    if (env && *env) {
        if (strlen(env) >= n) {
            cli_error("COVE_GUEST_DIR is too long");
            return -1;
        }
        snprintf(buf, n, "%s", env);
        return 0;
    }
    char bindir[PATH_MAX], src[PATH_MAX], script[PATH_MAX];
    if (exe_dir(bindir, sizeof bindir) < 0) {
        cli_error("cannot find where cove is installed (/proc/self/exe); set COVE_GUEST_DIR "
                  "to the directory of the default guest's Image and initrd, or pass --kernel");
        return -1;
    }
    char installed[PATH_MAX] = "";
    if (installed_path(bindir, installed, sizeof installed) == 0 &&
        installed_guest(installed, buf, n))
        return 0;
    if (build_tree_source(bindir, src, sizeof src) == 0) {
        int len = snprintf(script, sizeof script, "%s/guest/build.sh", src);
        if (len > 0 && (size_t)len < sizeof script && access(script, X_OK) == 0)
            return run_guest_build(script, buf, n);
    }
    cli_error("the default guest is not installed (no %s/Image); set COVE_GUEST_DIR to "
              "the directory of its Image and initrd, or pass --kernel", installed);
    return -1;
}
