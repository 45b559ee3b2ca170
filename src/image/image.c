/*
 * The image store: running the image builder (images/build.sh), reading what it made
 * (image.json), listing and removing images. The builder owns the cache key and the
 * temporary-then-rename discipline; this file owns how cove runs it and what a user sees.
 */
#include <cove/image.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERR_TAIL 4096

int cove_image_store(char *buf, size_t n, struct cove_error *err)
{
    const char *env = getenv("COVE_IMAGES"), *home = getenv("COVE_HOME");
    int len;
    if (env && *env)
        len = snprintf(buf, n, "%s", env);
    else if (home && *home)
        len = snprintf(buf, n, "%s/images", home);
    else {
        const char *h = getenv("HOME");
        if (!h || !*h)
            return cove_error_set(err, -ENOENT, "HOME is not set; set COVE_HOME");
        len = snprintf(buf, n, "%s/.cove/images", h);
    }
    if (len < 0 || (size_t)len >= n)
        return cove_error_set(err, -ENAMETOOLONG, "the image store's path is too long");
    return 0;
}

static int check_word(const char *what, const char *s, struct cove_error *err)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 32 || s[0] == '-' || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != len)
        return cove_error_set(err, -EINVAL, "'%s' is not %s (lower-case letters, digits, '.', '-')",
                              s ? s : "", what);
    return 0;
}

/* --- building ---------------------------------------------------------------------------- */

static volatile pid_t builder_pid;
static volatile sig_atomic_t signals_seen;

/* To the builder's whole process group: mmdebstrap, apt and dpkg below it must stop too
 * (bash runs its INT trap only once the command in the foreground has ended). The first
 * signal is passed on as it came; a second one is the user insisting (dpkg holds SIGINT
 * while it configures a package, and riscv64 maintainer scripts run under qemu-user), which
 * the loop in cove_image_build answers by killing the builder's children outright. */
static void forward_signal(int sig)
{
    if (++signals_seen == 1 && builder_pid > 0)
        kill(-builder_pid, sig);
}

/* SIGKILL to every process of the builder's group but the builder itself: mmdebstrap,
 * apt, dpkg and the maintainer scripts stop now, and the builder, no longer waiting on
 * them, runs its cleanup (unmounts, removes its temporary directory) as after one signal. */
static void kill_builder_children(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == pgid)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = 0;
        /* pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses */
        char *p = strrchr(buf, ')');
        int ppid, pgrp;
        char state;
        if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid)
            kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
}

/* The builder's last "image: error: ..." line, without the prefix, into msg. */
static void last_error(const char *log, char *msg, size_t n)
{
    const char *p = log, *found = NULL;
    while ((p = strstr(p, "image: error: ")) != NULL) {
        found = p + strlen("image: error: ");
        p++;
    }
    if (!found) {
        snprintf(msg, n, "%s", "");
        return;
    }
    size_t len = strcspn(found, "\n");
    snprintf(msg, n, "%.*s", (int)(len < n ? len : n - 1), found);
}

int cove_image_build(const char *builder, const char *name, const char *suite, bool update,
                     bool progress, char *dir, size_t n, struct cove_error *err)
{
    int rc = check_word("a template name", name, err);
    if (rc < 0 || (suite && (rc = check_word("a suite name", suite, err)) < 0))
        return rc;
    char store[PATH_MAX];
    if ((rc = cove_image_store(store, sizeof store, err)) < 0)
        return rc;
    if (access(builder, X_OK) < 0)
        return cove_error_set(err, -errno, "the image builder %s: %s", builder, strerror(errno));
    int out[2], errp[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || (!progress && pipe2(errp, O_CLOEXEC) < 0))
        return cove_error_set(err, -errno, "pipe: %s", strerror(errno));
    const char *argv[8];
    int a = 0;
    argv[a++] = builder;
    if (update)
        argv[a++] = "--update";
    if (suite) {
        argv[a++] = "--suite";
        argv[a++] = suite;
    }
    argv[a++] = name;
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(out[0]), close(out[1]);
        if (errp[0] >= 0)
            close(errp[0]), close(errp[1]);
        return cove_error_set(err, rc, "fork: %s", strerror(-rc));
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(out[1], 1);
        if (errp[1] >= 0)
            dup2(errp[1], 2);
        setenv("COVE_IMAGES", store, 1);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(builder, (char *const *)argv);
        dprintf(2, "image: error: cannot run %s: %s\n", builder, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* as the child does: whichever runs first */
    close(out[1]);
    if (errp[1] >= 0)
        close(errp[1]);
    /* The builder runs in a process group of its own, so a signal to cove (a terminal's
     * Ctrl-C, a kill) reaches every process of the build through cove, once; the builder
     * cleans up, and cove waits for it. */
    struct sigaction fwd = {.sa_handler = forward_signal}, old_int, old_term;
    sigemptyset(&fwd.sa_mask);
    builder_pid = pid;
    signals_seen = 0;
    bool told = false, killed = false;
    sigaction(SIGINT, &fwd, &old_int);
    sigaction(SIGTERM, &fwd, &old_term);

    char outbuf[PATH_MAX] = "", errbuf[ERR_TAIL] = "";
    size_t olen = 0, elen = 0;
    struct pollfd pf[2] = {{.fd = out[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
    int open_fds = errp[0] >= 0 ? 2 : 1;
    while (open_fds > 0) {
        int pr = poll(pf, 2, -1);
        if (signals_seen == 1 && !told && progress) {
            fprintf(stderr, "cove: stopping the build and cleaning up (interrupt again to stop "
                            "at once)\n");
            told = true;
        } else if (signals_seen >= 2 && !killed) {
            kill_builder_children(pid);
            killed = true;
        }
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[1024];
            ssize_t r = read(pf[i].fd, tmp, sizeof tmp);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                size_t c = (size_t)r < sizeof outbuf - 1 - olen ? (size_t)r : sizeof outbuf - 1 - olen;
                memcpy(outbuf + olen, tmp, c);
                olen += c;
                outbuf[olen] = 0;
            } else {
                /* keep the tail: the error is the last thing the builder says */
                _Static_assert(sizeof tmp < sizeof errbuf, "a read fits the tail buffer");
                if (elen + (size_t)r > sizeof errbuf - 1) {
                    size_t drop = elen + (size_t)r - (sizeof errbuf - 1);
                    memmove(errbuf, errbuf + drop, elen - drop);
                    elen -= drop;
                }
                memcpy(errbuf + elen, tmp, (size_t)r);
                elen += (size_t)r;
                errbuf[elen] = 0;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    builder_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    if (WIFSIGNALED(status) || (WIFEXITED(status) && (WEXITSTATUS(status) == 130 ||
                                                      WEXITSTATUS(status) == 143)))
        return cove_error_set(err, -EINTR, "image build of '%s' interrupted; nothing was kept",
                              name);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[COVE_ERROR_MAX];
        last_error(errbuf, msg, sizeof msg);
        if (*msg)
            return cove_error_set(err, -EIO, "%s", msg);
        return cove_error_set(err, -EIO, "building image '%s' failed (%s exited %d)", name,
                              builder, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    outbuf[strcspn(outbuf, "\n")] = 0;
    if (!*outbuf || strlen(outbuf) >= n)
        return cove_error_set(err, -EIO, "the image builder printed no image directory");
    snprintf(dir, n, "%s", outbuf);
    return 0;
}

/* --- reading ------------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t n, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, n, "%s", v ? v : "");
}

int cove_image_get(const char *dir, struct cove_image_info *out, struct cove_error *err)
{
    char path[PATH_MAX];
    memset(out, 0, sizeof *out);
    if (snprintf(path, sizeof path, "%s/image.json", dir) >= (int)sizeof path ||
        strlen(dir) >= sizeof out->dir)
        return cove_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return cove_error_set(err, -EINVAL, "%s: not an image (%s)", dir, je.text);
    }
    snprintf(out->dir, sizeof out->dir, "%s", dir);
    copy_str(out->name, sizeof out->name, o, "name");
    copy_str(out->suite, sizeof out->suite, o, "suite");
    copy_str(out->key, sizeof out->key, o, "key");
    copy_str(out->built, sizeof out->built, o, "built");
    copy_str(out->kernel, sizeof out->kernel, o, "kernel");
    copy_str(out->archive, sizeof out->archive, o, "archive");
    copy_str(out->boot, sizeof out->boot, o, "boot");
    copy_str(out->cmdline, sizeof out->cmdline, o, "cmdline");
    out->template_suite = json_is_true(json_object_get(o, "template_suite"));
    json_decref(o);
    if (!*out->name || !*out->suite || !*out->cmdline)
        return cove_error_set(err, -EINVAL, "%s/image.json: name, suite or cmdline missing", dir);
    struct stat st;
    snprintf(path, sizeof path, "%s/disk.img", dir);
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return cove_error_set(err, -ENOENT, "%s: no disk.img", dir);
    out->disk_size = (uint64_t)st.st_size;
    out->disk_used = (uint64_t)st.st_blocks * 512;
    return 0;
}

static int by_dir(const void *a, const void *b)
{
    return strcmp(((const struct cove_image_info *)a)->dir, ((const struct cove_image_info *)b)->dir);
}

int cove_image_list(struct cove_image_info **out, size_t *count, struct cove_error *err)
{
    char store[PATH_MAX];
    int rc = cove_image_store(store, sizeof store, err);
    *out = NULL;
    *count = 0;
    if (rc < 0)
        return rc;
    DIR *d = opendir(store);
    if (!d)
        return errno == ENOENT ? 0 : cove_error_set(err, -errno, "%s: %s", store, strerror(errno));
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s/%s", store, e->d_name) >= (int)sizeof dir)
            continue;
        struct cove_image_info info;
        if (cove_image_get(dir, &info, NULL) < 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            struct cove_image_info *grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                closedir(d);
                free(*out);
                *out = NULL;
                *count = 0;
                return cove_error_set(err, -ENOMEM, "out of memory");
            }
            *out = grown;
        }
        (*out)[(*count)++] = info;
    }
    closedir(d);
    if (*count)
        qsort(*out, *count, sizeof **out, by_dir);
    return 0;
}

/* Checks NAME and SUITE (may be NULL) as names, then lists the store (the caller matches). */
static int list_for(const char *name, const char *suite, struct cove_image_info **list,
                    size_t *count, struct cove_error *err)
{
    int rc = check_word("a template name", name, err);
    if (rc < 0 || (suite && (rc = check_word("a suite name", suite, err)) < 0))
        return rc;
    return cove_image_list(list, count, err);
}

int cove_image_find(const char *name, const char *suite, char *dir, size_t n,
                    struct cove_error *err)
{
    struct cove_image_info *list;
    size_t count;
    int rc = list_for(name, suite, &list, &count, err);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < count && rc == -ENOENT; i++) {
        if (strcmp(list[i].name, name) ||
            (suite ? strcmp(list[i].suite, suite) != 0 : !list[i].template_suite))
            continue;
        if (strlen(list[i].dir) >= n)
            rc = cove_error_set(err, -ENAMETOOLONG, "%s: path too long", list[i].dir);
        else {
            snprintf(dir, n, "%s", list[i].dir);
            rc = 0;
        }
    }
    free(list);
    if (rc == -ENOENT)
        cove_error_set(err, rc, "the image store has no image '%s%s%s'", name, suite ? ":" : "",
                       suite ? suite : "");
    return rc;
}

/* --- removing ---------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int cove_image_remove(const char *name, const char *suite, struct cove_error *err)
{
    struct cove_image_info *list;
    size_t count;
    int rc = list_for(name, suite, &list, &count, err);
    if (rc < 0)
        return rc;
    char store[PATH_MAX];
    cove_image_store(store, sizeof store, NULL);
    unsigned removed = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (strcmp(list[i].name, name) || (suite && strcmp(list[i].suite, suite)))
            continue;
        char tmp[PATH_MAX];
        if (snprintf(tmp, sizeof tmp, "%s/.tmp-%d-rm-%s-%s", store, (int)getpid(), list[i].name,
                     list[i].suite) >= (int)sizeof tmp) {
            rc = cove_error_set(err, -ENAMETOOLONG, "the image store's path is too long");
            break;
        }
        /* One rename makes it disappear; the files go afterwards. */
        if (rename(list[i].dir, tmp) < 0) {
            rc = cove_error_set(err, -errno, "cannot remove %s: %s", list[i].dir, strerror(errno));
            break;
        }
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        removed++;
    }
    free(list);
    if (rc == 0 && removed == 0) {
        if (suite)
            return cove_error_set(err, -ENOENT, "no image '%s' of suite '%s'; see `cove image list`",
                                  name, suite);
        return cove_error_set(err, -ENOENT, "no image '%s'; see `cove image list`", name);
    }
    return rc;
}
