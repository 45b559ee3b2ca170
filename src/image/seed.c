/*
 * The NoCloud seed (seed.h): cove's cloud-config, meta-data, the multi-part user-data that
 * carries a user's own cloud-config along, and the FAT image that holds them.
 */
#include "image/seed.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkfs.vfat and mcopy take well under a second on a seed; a stuck one is not waited on. */
#define TOOL_TIMEOUT_MS 30000
/* Parts of the user-data message start after this line; no line of cove's part (fixed text
 * and quoted values) starts with "--", and the user's part is base64. */
#define BOUNDARY "==cove-seed-part=="

/* --- YAML ----------------------------------------------------------------------------------- */

/* One code point of UTF-8 at *p (advanced past it): 0, or -1 for bytes that are not UTF-8
 * (a stray continuation byte, a truncated or overlong sequence, a surrogate). */
static int utf8_next(const unsigned char **p, uint32_t *cp)
{
    const unsigned char *s = *p;
    unsigned n;
    uint32_t c = s[0], min;
    if (c < 0x80) {
        *cp = c;
        *p = s + 1;
        return 0;
    } else if ((c & 0xe0) == 0xc0) {
        n = 1, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 2, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 3, c &= 0x07, min = 0x10000;
    } else {
        return -1;
    }
    for (unsigned i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1; /* also stops at the terminating NUL */
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *cp = c;
    *p = s + n + 1;
    return 0;
}

/* s as a YAML double-quoted scalar in printable ASCII: '"' and '\' escaped, every other
 * character outside 0x20..0x7e as \xNN, \uNNNN or \UNNNNNNNN -- line breaks (YAML 1.1 also
 * breaks lines at U+0085, U+2028, U+2029) included, so the value stays on its line. */
static int put_quoted(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        uint32_t c;
        if (utf8_next(&p, &c) < 0)
            return -1;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", (char)c);
        else if (c >= 0x20 && c < 0x7f)
            fputc((int)c, f);
        else if (c < 0x100)
            fprintf(f, "\\x%02x", (unsigned)c);
        else if (c < 0x10000)
            fprintf(f, "\\u%04x", (unsigned)c);
        else
            fprintf(f, "\\U%08x", (unsigned)c);
    }
    fputc('"', f);
    return 0;
}

/* "key: "value"\n" at indent; -EINVAL naming the key for a value that is not UTF-8. */
static int put_pair(FILE *f, const char *indent, const char *key, const char *value,
                    struct cove_error *err)
{
    fprintf(f, "%s%s: ", indent, key);
    if (put_quoted(f, value) < 0)
        return cove_error_set(err, -EINVAL, "the seed's %s is not valid UTF-8", key);
    fputc('\n', f);
    return 0;
}

/* Closes a memstream (only then is *text current) and hands its text over, or NULL. */
static char *finish(FILE *f, char **text, int rc, struct cove_error *err)
{
    if (fclose(f) != 0 && rc == 0)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc < 0) {
        free(*text);
        return NULL;
    }
    return *text;
}

/* --- the values ----------------------------------------------------------------------------- */

static bool valid_user(const char *u)
{
    size_t n = strlen(u);
    if (n < 1 || n > 32 || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '_' ||
              u[i] == '-'))
            return false;
    return true;
}

/* A key is one line of authorized_keys: a line break in one would add a line of the
 * user's choosing (options and all), whatever the YAML says. */
static bool one_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* C, POSIX and C.<codeset> are glibc's built-in locales: nothing to generate or set. */
static bool locale_wanted(const char *l)
{
    return l && *l && strcmp(l, "C") != 0 && strcmp(l, "POSIX") != 0 && strncmp(l, "C.", 2) != 0;
}

static int check_options(const struct seed_options *o, struct cove_error *err)
{
    if (!o->hostname || !*o->hostname)
        return cove_error_set(err, -EINVAL, "the seed needs a hostname");
    if (!o->instance_id || !*o->instance_id)
        return cove_error_set(err, -EINVAL, "the seed needs an instance id");
    if (!o->user || !valid_user(o->user))
        return cove_error_set(err, -EINVAL,
                              "'%s' is not a valid Linux user name ([a-z_][a-z0-9_-]{0,31})",
                              o->user ? o->user : "");
    for (unsigned i = 0; i < o->nkeys; i++)
        if (!o->ssh_keys[i] || !*o->ssh_keys[i] || !one_line(o->ssh_keys[i]))
            return cove_error_set(err, -EINVAL,
                                  "SSH key %u is not one line of text; pass a .pub file", i + 1);
    return 0;
}

/* --- the texts -------------------------------------------------------------------------- */

char *seed_meta_data(const struct seed_options *o, struct cove_error *err)
{
    if (check_options(o, err) < 0)
        return NULL;
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        cove_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    int rc = put_pair(f, "", "instance-id", o->instance_id, err);
    if (rc == 0)
        rc = put_pair(f, "", "local-hostname", o->hostname, err);
    return finish(f, &text, rc, err);
}

char *seed_cloud_config(const struct seed_options *o, struct cove_error *err)
{
    if (check_options(o, err) < 0)
        return NULL;
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        cove_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    fputs("#cloud-config\n"
          "# cove's first-boot settings (the NoCloud seed of `cove create`)\n", f);
    int rc = put_pair(f, "", "hostname", o->hostname, err);
    /* /etc/hosts names the host too, so that sudo and friends resolve it */
    fputs("manage_etc_hosts: true\n"
          "ssh_pwauth: false\n"
          "users:\n", f);
    if (rc == 0)
        rc = put_pair(f, "  - ", "name", o->user, err);
    fputs("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
          "    shell: \"/bin/bash\"\n"
          "    lock_passwd: true\n", f);
    if (o->nkeys)
        fputs("    ssh_authorized_keys:\n", f);
    for (unsigned i = 0; rc == 0 && i < o->nkeys; i++) {
        fputs("      - ", f);
        if (put_quoted(f, o->ssh_keys[i]) < 0)
            rc = cove_error_set(err, -EINVAL, "SSH key %u is not valid UTF-8", i + 1);
        fputc('\n', f);
    }
    if (rc == 0 && o->timezone && *o->timezone)
        rc = put_pair(f, "", "timezone", o->timezone, err);
    if (rc == 0 && locale_wanted(o->locale))
        rc = put_pair(f, "", "locale", o->locale, err);
    return finish(f, &text, rc, err);
}

int seed_check_user_data(const char *name, const char *text, struct cove_error *err)
{
    static const char tag[] = "#cloud-config";
    size_t n = sizeof tag - 1;
    if (strncmp(text, tag, n) != 0 || (text[n] && !strchr(" \t\r\n", text[n])))
        return cove_error_set(err, -EINVAL,
                              "%s is not cloud-config: its first line must be #cloud-config",
                              name);
    return 0;
}

static void put_base64(FILE *f, const unsigned char *s, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63],
                     i + 1 < n ? abc[v >> 6 & 63] : '=', i + 2 < n ? abc[v & 63] : '='};
        fwrite(q, 1, 4, f);
        if ((col += 4) == 76) {
            fputc('\n', f);
            col = 0;
        }
    }
    if (col)
        fputc('\n', f);
}

/* user-data: cove's cloud-config alone, or, with the user's, both as parts of one
 * multi-part message (cloud-init's "mime-multi-part archive"): cove's first, so that the
 * user's settings are merged over it. */
static char *user_data_text(const struct seed_options *o, struct cove_error *err)
{
    char *cove = seed_cloud_config(o, err);
    if (!cove || !o->user_data)
        return cove;
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        free(cove);
        cove_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    fprintf(f,
            "Content-Type: multipart/mixed; boundary=\"" BOUNDARY "\"\n"
            "MIME-Version: 1.0\n"
            "\n"
            "--" BOUNDARY "\n"
            "Content-Type: text/cloud-config; charset=\"us-ascii\"\n"
            "MIME-Version: 1.0\n"
            "Content-Transfer-Encoding: 7bit\n"
            "Content-Disposition: attachment; filename=\"cove.cfg\"\n"
            "\n"
            "%s"
            "--" BOUNDARY "\n"
            "Content-Type: text/cloud-config; charset=\"utf-8\"\n"
            "MIME-Version: 1.0\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"user-data\"\n"
            "\n",
            cove);
    free(cove);
    put_base64(f, (const unsigned char *)o->user_data, strlen(o->user_data));
    fputs("--" BOUNDARY "--\n", f);
    return finish(f, &text, 0, err);
}

/* --- the image ------------------------------------------------------------------------------ */

/* A tool by name: in PATH, else in /usr/sbin and /sbin, which a user's PATH often lacks
 * (mkfs.vfat lives there). */
static int find_tool(const char *name, const char *package, char *out, size_t size,
                     struct cove_error *err)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        int n = snprintf(out, size, "%s/%s", *d ? d : ".", name);
        if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
            return 0;
    }
    return cove_error_set(err, -ENOENT, "%s not found: install %s (scripts/install-deps.sh)",
                          name, package);
}

/* Paths in the work directory: its name (< PATH_MAX) and a short file name. */
#define WORK_PATH_MAX (PATH_MAX + 32)

static int write_text(const char *dir, const char *name, const char *text,
                      struct cove_error *err)
{
    char path[WORK_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return cove_error_set(err, -e, "cannot write %s: %s", path, strerror(e));
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}

/* The FAT image in dir/seed.img holding dir/meta-data and dir/user-data. */
static int make_image(const char *dir, size_t bytes, struct cove_error *err)
{
    char mkfs[PATH_MAX], mcopy[PATH_MAX];
    char img[WORK_PATH_MAX], meta[WORK_PATH_MAX], user[WORK_PATH_MAX];
    int rc = find_tool("mkfs.vfat", "dosfstools", mkfs, sizeof mkfs, err);
    if (rc == 0)
        rc = find_tool("mcopy", "mtools", mcopy, sizeof mcopy, err);
    if (rc < 0)
        return rc;
    snprintf(img, sizeof img, "%s/seed.img", dir);
    snprintf(meta, sizeof meta, "%s/meta-data", dir);
    snprintf(user, sizeof user, "%s/user-data", dir);
    /* 1 KiB blocks: room for the files twice over, in whole MiB (a geometry mtools accepts) */
    char blocks[32];
    snprintf(blocks, sizeof blocks, "%zu", ((bytes * 2 / 1024 + 1023) / 1024 + 1) * 1024);
    char *mkfs_argv[] = {mkfs, "-n", "CIDATA", "-C", img, blocks, NULL};
    rc = store_spawn_timed(mkfs_argv, NULL, NULL, TOOL_TIMEOUT_MS, err);
    if (rc < 0)
        return rc;
    char *mcopy_argv[] = {mcopy, "-i", img, "-o", meta, user, "::", NULL};
    return store_spawn_timed(mcopy_argv, NULL, NULL, TOOL_TIMEOUT_MS, err);
}

static void remove_work(const char *dir)
{
    static const char *const names[] = {"seed.img", "meta-data", "user-data"};
    char path[WORK_PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int seed_write(const char *path, const struct seed_options *o, struct cove_error *err)
{
    if (o->user_data) {
        int rc = seed_check_user_data("the user-data", o->user_data, err);
        if (rc < 0)
            return rc;
    }
    char *meta = seed_meta_data(o, err), *user = meta ? user_data_text(o, err) : NULL;
    if (!meta || !user) {
        free(meta);
        return err ? err->code : -EINVAL;
    }
    /* The work happens in a directory beside path, so the rename stays on one file system. */
    static const char work[] = ".cove-seed.XXXXXX";
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    int rc = 0;
    if (dlen + sizeof work > sizeof dir) {
        rc = cove_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    } else {
        memcpy(dir, path, dlen);
        memcpy(dir + dlen, work, sizeof work);
    }
    if (rc == 0 && !mkdtemp(dir))
        rc = cove_error_set(err, -errno, "cannot make a directory beside %s: %s", path,
                            strerror(errno));
    if (rc == 0) {
        rc = write_text(dir, "meta-data", meta, err);
        if (rc == 0)
            rc = write_text(dir, "user-data", user, err);
        if (rc == 0)
            rc = make_image(dir, strlen(meta) + strlen(user), err);
        char img[WORK_PATH_MAX];
        snprintf(img, sizeof img, "%s/seed.img", dir);
        if (rc == 0) { /* whole on disk before it takes the name */
            int fd = open(img, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || fsync(fd) < 0)
                rc = cove_error_set(err, -errno, "cannot sync %s: %s", img, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        if (rc == 0 && rename(img, path) < 0)
            rc = cove_error_set(err, -errno, "cannot rename the seed to %s: %s", path,
                                strerror(errno));
        remove_work(dir);
    }
    free(meta);
    free(user);
    if (rc < 0 && err) {
        /* name the operation: "making the NoCloud seed: mcopy failed: ..." */
        char msg[COVE_ERROR_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        cove_error_set(err, rc, "making the NoCloud seed %s: %s", path, msg);
    }
    return rc;
}
