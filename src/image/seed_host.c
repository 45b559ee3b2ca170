/*
 * The host's first-boot settings for a seed (seed.h): its timezone, its locale and the
 * user's SSH public keys.
 */
#include "image/seed.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A .pub file is one line or a few; anything this large is not one. */
#define KEY_FILE_MAX (256 << 10)

/* Only names tzdata could have: letters, digits, _ + - and / between parts, no "..". */
static bool valid_zone(const char *z)
{
    if (!*z || *z == '/' || strstr(z, ".."))
        return false;
    for (const char *p = z; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/", *p))
            return false;
    return true;
}

/* The zone named by the /etc/localtime link (what glibc reads, so it wins over a stale
 * /etc/timezone), else by /etc/timezone (Debian's; also where /etc/localtime is a copy). */
static void host_timezone(const char *root, char *out, size_t size)
{
    char path[PATH_MAX], link[PATH_MAX];
    *out = 0;
    snprintf(path, sizeof path, "%s/etc/localtime", root);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) {
        link[n] = 0;
        const char *z = strstr(link, "zoneinfo/");
        if (z) {
            z += strlen("zoneinfo/");
            if (!strncmp(z, "posix/", 6))
                z += 6;
            if (valid_zone(z) && strlen(z) < size) {
                snprintf(out, size, "%s", z);
                return;
            }
        }
    }
    snprintf(path, sizeof path, "%s/etc/timezone", root);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char line[256];
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, " \t\r\n")] = 0;
        if (valid_zone(line) && strlen(line) < size)
            snprintf(out, size, "%s", line);
    }
    fclose(f);
}

/* LC_ALL, else LANG; nothing for C and POSIX (and their codesets) or an odd value. */
static void host_locale(char *out, size_t size)
{
    const char *l = getenv("LC_ALL");
    if (!l || !*l)
        l = getenv("LANG");
    *out = 0;
    if (!l || !*l || !strcmp(l, "C") || !strcmp(l, "POSIX") || !strncmp(l, "C.", 2) ||
        strlen(l) >= size)
        return;
    for (const char *p = l; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-", *p))
            return;
    snprintf(out, size, "%s", l);
}

/* "TYPE DATA [comment]" with TYPE like ssh-ed25519, ecdsa-sha2-nistp256 or
 * sk-ssh-ed25519@openssh.com: enough to tell a public key from a private one or another
 * file passed by mistake. */
static bool looks_like_key(const char *line)
{
    size_t t = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789-@.");
    return t > 0 && (line[t] == ' ' || line[t] == '\t') && line[t + 1] &&
           !strchr(" \t", line[t + 1]);
}

static int add_key(struct seed_host *h, const char *line)
{
    char **keys = realloc(h->keys, (h->nkeys + 1) * sizeof *keys);
    if (!keys)
        return -ENOMEM;
    h->keys = keys;
    if (!(keys[h->nkeys] = strdup(line)))
        return -ENOMEM;
    h->nkeys++;
    return 0;
}

int seed_host_add_keys(struct seed_host *h, const char *file, struct cove_error *err)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return cove_error_set(err, -errno, "cannot read SSH key %s: %s", file, strerror(errno));
    char *buf = malloc(KEY_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, KEY_FILE_MAX + 1, f) : 0;
    bool bad_read = ferror(f);
    fclose(f);
    if (!buf)
        return cove_error_set(err, -ENOMEM, "out of memory");
    if (bad_read || len > KEY_FILE_MAX || memchr(buf, 0, len)) {
        free(buf);
        return cove_error_set(err, -EINVAL, "%s is not an SSH public key; pass a .pub file",
                              file);
    }
    buf[len] = 0;
    unsigned found = 0, lineno = 0;
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(line);
        while (n && strchr(" \t\r", line[n - 1]))
            line[--n] = 0;
        line += strspn(line, " \t");
        if (!*line || *line == '#')
            continue;
        if (!looks_like_key(line))
            rc = cove_error_set(err, -EINVAL,
                                "%s is not an SSH public key (line %u); pass a .pub file",
                                file, lineno);
        else if ((rc = add_key(h, line)) < 0)
            cove_error_set(err, rc, "out of memory");
        else
            found++;
    }
    free(buf);
    if (rc == 0 && !found)
        rc = cove_error_set(err, -EINVAL, "%s holds no SSH public key", file);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's *.pub files (regular files, links to them included), sorted. */
static int pub_files(const char *dir, char ***out, unsigned *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".pub") != 0 || e->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        char **names = realloc(*out, (*count + 1) * sizeof *names);
        if (!names || !(names[*count] = strdup(path))) {
            if (names)
                *out = names;
            rc = -ENOMEM;
            break;
        }
        *out = names;
        (*count)++;
    }
    closedir(d);
    if (*count)
        qsort(*out, *count, sizeof **out, by_name);
    return rc;
}

int seed_host_defaults(const char *root, const char *home, struct seed_host *h,
                       struct cove_error *err)
{
    memset(h, 0, sizeof *h);
    host_timezone(root ? root : "", h->timezone, sizeof h->timezone);
    host_locale(h->locale, sizeof h->locale);
    if (!home)
        home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    char **files = NULL;
    unsigned nfiles = 0;
    int rc = 0;
    if (home) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/.ssh", home);
        if ((rc = pub_files(dir, &files, &nfiles)) < 0)
            cove_error_set(err, rc, "cannot list %s: %s", dir, strerror(-rc));
    }
    for (unsigned i = 0; rc == 0 && i < nfiles; i++)
        rc = seed_host_add_keys(h, files[i], err);
    for (unsigned i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    if (rc == 0 && !h->nkeys)
        rc = cove_error_set(err, -ENOENT,
                            "no SSH public key in ~/.ssh; make one with ssh-keygen or pass "
                            "--ssh-key FILE");
    return rc;
}

void seed_host_free(struct seed_host *h)
{
    for (unsigned i = 0; i < h->nkeys; i++)
        free(h->keys[i]);
    free(h->keys);
    h->keys = NULL;
    h->nkeys = 0;
}
