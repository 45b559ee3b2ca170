/*
 * The helper process that makes a suspend's files (state_helper.h). One request is one
 * byte on a SOCK_SEQPACKET socket pair; one answer is a struct answer, with the two
 * descriptors of a create.
 */
#include "vm/state_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "machine/machine.h"
#include "store/store.h"
#include "util/helper_proc.h"
#include "util/usock.h"

enum { REQ_CREATE = 'c', REQ_COMMIT = 'k', REQ_ABORT = 'a' };

struct answer {
    int rc;            /* 0 or a negative errno */
    char text[PATH_MAX + 200]; /* rc < 0: what failed; create: the directory */
};

struct state_helper {
    int sock;
    pid_t pid;
};

/* --- the helper's side ------------------------------------------------------------------ */

static int fail(struct answer *a, const char *what, const char *path)
{
    int e = errno;
    snprintf(a->text, sizeof a->text, "cannot %s %s: %s", what, path, strerror(e));
    return a->rc = -e;
}

static int create_file(const char *dir, const char *name, int *fd, struct answer *a)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", dir, name) < 0) {
        errno = ENAMETOOLONG;
        return fail(a, "create", dir);
    }
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return *fd < 0 ? fail(a, "create", path) : 0;
}

/* The memory file is never written again (forks share it); a jailed VMM, another uid,
 * cannot make it read-only itself. */
static int read_only(const char *dir, const char *name, struct answer *a)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", dir, name) < 0) {
        errno = ENAMETOOLONG;
        return fail(a, "make read-only", dir);
    }
    return fchmodat(AT_FDCWD, path, 0400, 0) < 0 ? fail(a, "make read-only", path) : 0;
}

/* vmm: the process served; the temporaries carry its pid, so that the next run's sweep
 * removes what a killed run left, whether this helper has ended yet or not. */
static void serve(int sock, pid_t vmm, const char *bundle, const char *state_dir)
{
    char tmp[PATH_MAX] = "";
    for (;;) {
        char req;
        ssize_t n = recv(sock, &req, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        struct answer a = {0};
        int fds[2] = {-1, -1};
        if (tmp[0] && req != REQ_COMMIT) { /* a create without commit: its leftovers go */
            store_remove_tree(tmp);
            tmp[0] = 0;
        }
        if (req == REQ_CREATE) {
            if (store_temp_path_of(bundle, vmm, "state", tmp, sizeof tmp) < 0) {
                errno = ENAMETOOLONG;
                fail(&a, "create a directory in", bundle);
                tmp[0] = 0;
            } else if (mkdir(tmp, 0700) < 0) {
                fail(&a, "create", tmp);
                tmp[0] = 0;
            } else if (create_file(tmp, MACHINE_STATE_FILE, &fds[0], &a) == 0 &&
                       create_file(tmp, MACHINE_MEMORY_FILE, &fds[1], &a) == 0) {
                snprintf(a.text, sizeof a.text, "%s", tmp);
            }
        } else if (req == REQ_COMMIT) {
            if (!tmp[0]) {
                a.rc = -ENOENT;
                snprintf(a.text, sizeof a.text, "no state was written");
            } else if (read_only(tmp, MACHINE_MEMORY_FILE, &a) < 0) {
                store_remove_tree(tmp);
            } else if (store_sync_dir(tmp) < 0 || rename(tmp, state_dir) < 0) {
                fail(&a, "move the saved state into place at", state_dir);
                store_remove_tree(tmp);
            } else {
                store_sync_dir(bundle);
            }
            tmp[0] = 0;
        }
        bool with_fds = a.rc == 0 && fds[1] >= 0;
        if (usock_send_fds(sock, &a, sizeof a, fds, with_fds ? 2 : 0) < 0)
            break;
        for (unsigned i = 0; i < 2; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    }
    if (tmp[0])
        store_remove_tree(tmp);
}

/* --- the VMM's side --------------------------------------------------------------------- */

int state_helper_start(const char *bundle, const char *state_dir, struct state_helper **out,
                       struct cove_error *err)
{
    struct state_helper *h = calloc(1, sizeof *h);
    if (!h)
        return cove_error_set(err, -ENOMEM, "out of memory");
    pid_t parent = getpid();
    h->pid = helper_fork("cove-suspend", &h->sock);
    if (h->pid == 0) {
        serve(HELPER_FD, parent, bundle, state_dir);
        _exit(0);
    }
    if (h->pid < 0) {
        int e = (int)-h->pid;
        free(h);
        return cove_error_set(err, -e, "cannot start the suspend helper: %s", strerror(e));
    }
    *out = h;
    return 0;
}

static int ask(struct state_helper *h, char req, struct answer *a, int *fds, unsigned *nfds,
               struct cove_error *err)
{
    unsigned none;
    ssize_t n = usock_send_fds(h->sock, &req, 1, NULL, 0);
    if (n == 1)
        n = usock_recv_fds(h->sock, a, sizeof *a, fds, nfds ? nfds : &none, nfds ? 2 : 0);
    if (n != (ssize_t)sizeof *a)
        return cove_error_set(err, n < 0 ? (int)n : -EPIPE, "the suspend helper process is "
                              "gone");
    a->text[sizeof a->text - 1] = 0;
    if (a->rc < 0)
        return cove_error_set(err, a->rc, "%s", a->text);
    return 0;
}

int state_helper_create(struct state_helper *h, int *state_fd, int *memory_fd, char *dir,
                        size_t n, struct cove_error *err)
{
    struct answer a;
    int fds[2];
    unsigned nfds = 0;
    int rc = ask(h, REQ_CREATE, &a, fds, &nfds, err);
    if (rc == 0 && nfds != 2)
        rc = cove_error_set(err, -EPROTO, "the suspend helper sent no files");
    if (rc < 0) {
        while (nfds)
            close(fds[--nfds]);
        return rc;
    }
    *state_fd = fds[0];
    *memory_fd = fds[1];
    snprintf(dir, n, "%s", a.text);
    return 0;
}

int state_helper_commit(struct state_helper *h, struct cove_error *err)
{
    struct answer a;
    return ask(h, REQ_COMMIT, &a, NULL, NULL, err);
}

void state_helper_abort(struct state_helper *h)
{
    struct answer a;
    ask(h, REQ_ABORT, &a, NULL, NULL, NULL);
}

void state_helper_stop(struct state_helper *h)
{
    if (!h)
        return;
    close(h->sock);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    free(h);
}
