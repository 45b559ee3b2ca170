/*
 * The helper process that does a running VM's file work (state_helper.h). One request is
 * one struct request on a SOCK_SEQPACKET socket pair; one answer is a struct answer, with
 * the descriptors it names.
 */
#include "vm/state_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/block.h"
#include "disk/disk.h"
#include "machine/machine.h"
#include "store/bundle.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "util/helper_proc.h"
#include "util/usock.h"

enum {
    REQ_CREATE = 'c', REQ_COMMIT = 'k', REQ_ABORT = 'a',           /* suspend */
    REQ_SNAP_BEGIN = 's', REQ_SNAP_FREEZE = 'f', REQ_SNAP_PUBLISH = 'p',
    REQ_SNAP_DISCARD = 'x',                                       /* snapshot save */
    REQ_RESTORE_FIND = 'r', REQ_RESTORE_DISKS = 'w',              /* snapshot restore */
    REQ_OPEN_DISK = 'd',
};

struct request {
    char code;
    unsigned char disk;           /* REQ_OPEN_DISK */
    char tag[COVE_NAME_MAX + 1];  /* REQ_SNAP_BEGIN, REQ_RESTORE_FIND: NUL-terminated */
};

struct answer {
    int rc;                       /* 0 or a negative errno */
    bool running;                 /* REQ_RESTORE_FIND: the snapshot holds a machine */
    unsigned chain;               /* REQ_OPEN_DISK: descriptors of the chain (then direct) */
    bool direct;                  /* REQ_OPEN_DISK: and an O_DIRECT one after them */
    char text[PATH_MAX + 200];    /* rc < 0: what failed; else a directory, for messages */
};

_Static_assert(DISK_MAX_BACKING_DEPTH + 2 <= USOCK_MAX_FDS, "a disk's files fit one message");

struct state_helper {
    int sock;
    pid_t pid;
    pthread_mutex_t lock;         /* one request and its answer at a time */
};

/* --- the helper's side ------------------------------------------------------------------ */

struct served {
    const char *bundle, *name, *state_dir;
    const struct cove_config *cfg;
    pid_t vmm;                    /* the temporaries carry its pid (sweeps of the next run) */
    char suspend_tmp[PATH_MAX];   /* a create's directory until commit */
    char snap_tmp[PATH_MAX];      /* a snapshot save's directory until publish */
    char snap_tag[COVE_NAME_MAX + 1];
    char snap_dir[PATH_MAX];      /* the snapshot a restore found */
    int fds[USOCK_MAX_FDS];       /* what the answer carries */
    unsigned nfds;
};

static int fail(struct answer *a, const char *what, const char *path)
{
    int e = errno;
    snprintf(a->text, sizeof a->text, "cannot %s %s: %s", what, path, strerror(e));
    return a->rc = -e;
}

static int failed(struct answer *a, int rc, const struct cove_error *err)
{
    snprintf(a->text, sizeof a->text, "%s", err->message);
    return a->rc = rc;
}

/* dir/name, opened (to create it empty, or to read it), into the answer's descriptors. */
static int open_file(struct served *s, const char *dir, const char *name, bool create,
                     struct answer *a)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/%s", dir, name) < 0) {
        errno = ENAMETOOLONG;
        return fail(a, "open a file in", dir);
    }
    int fd = create ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                    : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(a, create ? "create" : "open", path);
    s->fds[s->nfds++] = fd;
    return 0;
}

static int state_files(struct served *s, const char *dir, bool create, struct answer *a)
{
    if (open_file(s, dir, MACHINE_STATE_FILE, create, a) < 0 ||
        open_file(s, dir, MACHINE_MEMORY_FILE, create, a) < 0)
        return a->rc;
    snprintf(a->text, sizeof a->text, "%s", dir);
    return 0;
}

static void suspend_create(struct served *s, struct answer *a)
{
    char *tmp = s->suspend_tmp;
    if (store_temp_path_of(s->bundle, s->vmm, "state", tmp, PATH_MAX) < 0) {
        errno = ENAMETOOLONG;
        fail(a, "create a directory in", s->bundle);
        tmp[0] = 0;
    } else if (mkdir(tmp, 0700) < 0) {
        fail(a, "create", tmp);
        tmp[0] = 0;
    } else {
        state_files(s, tmp, true, a);
    }
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

static void suspend_commit(struct served *s, struct answer *a)
{
    char *tmp = s->suspend_tmp;
    if (!tmp[0]) {
        a->rc = -ENOENT;
        snprintf(a->text, sizeof a->text, "no state was written");
    } else if (read_only(tmp, MACHINE_MEMORY_FILE, a) < 0) {
        store_remove_tree(tmp);
    } else if (store_sync_dir(tmp) < 0 || rename(tmp, s->state_dir) < 0) {
        fail(a, "move the saved state into place at", s->state_dir);
        store_remove_tree(tmp);
    } else {
        store_sync_dir(s->bundle);
    }
    tmp[0] = 0;
}

static void snap_discard(struct served *s)
{
    if (s->snap_tmp[0])
        store_snapshot_abort(s->snap_tmp);
    s->snap_tmp[0] = 0;
}

static void snap_begin(struct served *s, const char *tag, struct answer *a)
{
    struct cove_error err;
    snap_discard(s);
    int rc = store_snapshot_begin(s->bundle, s->name, s->cfg, tag, s->vmm, s->snap_tmp,
                                  sizeof s->snap_tmp, &err);
    if (rc < 0) {
        s->snap_tmp[0] = 0;
        failed(a, rc, &err);
        return;
    }
    snprintf(s->snap_tag, sizeof s->snap_tag, "%s", tag);
    if (state_files(s, s->snap_tmp, true, a) < 0)
        snap_discard(s);
}

static void snap_step(struct served *s, char code, struct answer *a)
{
    struct cove_error err;
    int rc;
    if (!s->snap_tmp[0]) {
        a->rc = -ENOENT;
        snprintf(a->text, sizeof a->text, "no snapshot is being saved");
        return;
    }
    if (code == REQ_SNAP_FREEZE)
        rc = store_snapshot_freeze(s->bundle, s->cfg, s->snap_tmp, &err);
    else
        rc = store_snapshot_publish(s->bundle, s->cfg, s->snap_tmp, s->snap_tag, true, &err);
    if (rc < 0) {
        failed(a, rc, &err);
        snap_discard(s);
    } else if (code == REQ_SNAP_PUBLISH) {
        s->snap_tmp[0] = 0;
    }
}

static void restore_find(struct served *s, const char *tag, struct answer *a)
{
    struct cove_error err;
    int rc = store_snapshot_find(s->bundle, s->name, s->cfg, tag, s->snap_dir,
                                 sizeof s->snap_dir, &a->running, &err);
    if (rc < 0) {
        s->snap_dir[0] = 0;
        failed(a, rc, &err);
    } else if (a->running) {
        state_files(s, s->snap_dir, false, a);
    }
}

static void restore_disks(struct served *s, struct answer *a)
{
    struct cove_error err;
    int rc;
    if (!s->snap_dir[0]) {
        a->rc = -ENOENT;
        snprintf(a->text, sizeof a->text, "no snapshot is being restored");
    } else if ((rc = store_snapshot_restore_disks(s->bundle, s->cfg, s->snap_dir, &err)) < 0) {
        failed(a, rc, &err);
    }
    s->snap_dir[0] = 0;
}

static void open_disk(struct served *s, unsigned index, struct answer *a)
{
    const struct cove_config *cfg = s->cfg;
    if (index >= cfg->ndisks || cfg->disks[index].read_only ||
        cove_disk_is_nbd(cfg->disks[index].file)) {
        a->rc = -EINVAL;
        snprintf(a->text, sizeof a->text, "disk %u is not a writable image of the VM", index + 1);
        return;
    }
    const struct cove_disk_config *d = &cfg->disks[index];
    char path[PATH_MAX];
    struct cove_error err;
    struct disk_files files;
    struct block_options bo = {false, d->cache, d->sync, false};
    int rc = store_check_bundle_disk(s->bundle, d->file, path, sizeof path, &err);
    if (rc == 0)
        rc = block_disk_files_open(path, &bo, &files, &err);
    if (rc < 0) {
        failed(a, rc, &err);
        return;
    }
    for (unsigned i = 0; i < files.n; i++)
        s->fds[s->nfds++] = files.fd[i];
    if (files.direct_fd >= 0)
        s->fds[s->nfds++] = files.direct_fd;
    a->chain = files.n;
    a->direct = files.direct_fd >= 0;
}

static void serve(int sock, struct served *s)
{
    for (;;) {
        struct request req;
        ssize_t n = recv(sock, &req, sizeof req, MSG_TRUNC); /* a longer one: its length */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        struct answer a = {0};
        s->nfds = 0;
        if (s->suspend_tmp[0] && req.code != REQ_COMMIT) { /* a create without commit */
            store_remove_tree(s->suspend_tmp);
            s->suspend_tmp[0] = 0;
        }
        bool tagged = req.code == REQ_SNAP_BEGIN || req.code == REQ_RESTORE_FIND;
        if (n != (ssize_t)sizeof req || (tagged && !memchr(req.tag, 0, sizeof req.tag))) {
            a.rc = -EPROTO;
            snprintf(a.text, sizeof a.text, "a malformed request");
        } else if (req.code == REQ_CREATE) {
            suspend_create(s, &a);
        } else if (req.code == REQ_COMMIT) {
            suspend_commit(s, &a);
        } else if (req.code == REQ_ABORT) {
        } else if (req.code == REQ_SNAP_BEGIN) {
            snap_begin(s, req.tag, &a);
        } else if (req.code == REQ_SNAP_FREEZE || req.code == REQ_SNAP_PUBLISH) {
            snap_step(s, req.code, &a);
        } else if (req.code == REQ_SNAP_DISCARD) {
            snap_discard(s);
        } else if (req.code == REQ_RESTORE_FIND) {
            restore_find(s, req.tag, &a);
        } else if (req.code == REQ_RESTORE_DISKS) {
            restore_disks(s, &a);
        } else if (req.code == REQ_OPEN_DISK) {
            open_disk(s, req.disk, &a);
        } else {
            a.rc = -EPROTO;
            snprintf(a.text, sizeof a.text, "an unknown request");
        }
        ssize_t sent = usock_send_fds(sock, &a, sizeof a, s->fds, a.rc == 0 ? s->nfds : 0);
        for (unsigned i = 0; i < s->nfds; i++)
            close(s->fds[i]);
        if (sent < 0)
            break;
    }
    if (s->suspend_tmp[0])
        store_remove_tree(s->suspend_tmp);
    snap_discard(s);
}

/* --- the VMM's side --------------------------------------------------------------------- */

int state_helper_start(const char *bundle, const char *name, const struct cove_config *cfg,
                       const char *state_dir, struct state_helper **out, struct cove_error *err)
{
    struct state_helper *h = calloc(1, sizeof *h);
    if (!h)
        return cove_error_set(err, -ENOMEM, "out of memory");
    pid_t parent = getpid();
    h->pid = helper_fork("cove-state", &h->sock);
    if (h->pid == 0) {
        /* the child's copies of the run's strings and configuration */
        static struct served s;
        s = (struct served){.bundle = bundle, .name = name, .state_dir = state_dir,
                            .cfg = cfg, .vmm = parent};
        serve(HELPER_FD, &s);
        _exit(0);
    }
    if (h->pid < 0) {
        int e = (int)-h->pid;
        free(h);
        return cove_error_set(err, -e, "cannot start the state helper: %s", strerror(e));
    }
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return 0;
}

/* One request and its answer; *nfds (up to max) gets the descriptors, which are closed
 * on an error. */
static int ask(struct state_helper *h, const struct request *req, struct answer *a, int *fds,
               unsigned *nfds, unsigned max, struct cove_error *err)
{
    unsigned none;
    if (!nfds)
        nfds = &none;
    *nfds = 0;
    pthread_mutex_lock(&h->lock);
    ssize_t n = usock_send_fds(h->sock, req, sizeof *req, NULL, 0);
    if (n == (ssize_t)sizeof *req)
        n = usock_recv_fds(h->sock, a, sizeof *a, fds, nfds, max);
    pthread_mutex_unlock(&h->lock);
    int rc = 0;
    if (n != (ssize_t)sizeof *a)
        rc = cove_error_set(err, n < 0 ? (int)n : -EPIPE, "the state helper process is gone");
    else if ((a->text[sizeof a->text - 1] = 0, a->rc < 0))
        rc = cove_error_set(err, a->rc, "%s", a->text);
    if (rc < 0)
        while (*nfds)
            close(fds[--*nfds]);
    return rc;
}

static int ask_code(struct state_helper *h, char code, struct cove_error *err)
{
    struct request req = {.code = code};
    struct answer a;
    return ask(h, &req, &a, NULL, NULL, 0, err);
}

static int tag_request(struct request *req, char code, const char *tag, struct cove_error *err)
{
    *req = (struct request){.code = code};
    if (strlen(tag) >= sizeof req->tag)
        return cove_error_set(err, -ENAMETOOLONG, "snapshot tag '%.40s...' is too long (at most "
                              "%d characters)", tag, COVE_NAME_MAX);
    memcpy(req->tag, tag, strlen(tag) + 1);
    return 0;
}

/* An answer's two state files. */
static int two_files(struct state_helper *h, const struct request *req, struct answer *a,
                     int *state_fd, int *memory_fd, char *dir, size_t n, struct cove_error *err)
{
    int fds[2];
    unsigned nfds = 0;
    int rc = ask(h, req, a, fds, &nfds, 2, err);
    if (rc < 0)
        return rc;
    if (nfds != 2) {
        while (nfds)
            close(fds[--nfds]);
        return cove_error_set(err, -EPROTO, "the state helper sent no files");
    }
    *state_fd = fds[0];
    *memory_fd = fds[1];
    snprintf(dir, n, "%s", a->text);
    return 0;
}

int state_helper_create(struct state_helper *h, int *state_fd, int *memory_fd, char *dir,
                        size_t n, struct cove_error *err)
{
    struct request req = {.code = REQ_CREATE};
    struct answer a;
    return two_files(h, &req, &a, state_fd, memory_fd, dir, n, err);
}

int state_helper_commit(struct state_helper *h, struct cove_error *err)
{
    return ask_code(h, REQ_COMMIT, err);
}

void state_helper_abort(struct state_helper *h)
{
    struct cove_error err;
    ask_code(h, REQ_ABORT, &err);
}

int state_helper_snapshot_begin(struct state_helper *h, const char *tag, int *state_fd,
                                int *memory_fd, char *dir, size_t n, struct cove_error *err)
{
    struct request req;
    struct answer a;
    int rc = tag_request(&req, REQ_SNAP_BEGIN, tag, err);
    return rc < 0 ? rc : two_files(h, &req, &a, state_fd, memory_fd, dir, n, err);
}

int state_helper_snapshot_freeze(struct state_helper *h, struct cove_error *err)
{
    return ask_code(h, REQ_SNAP_FREEZE, err);
}

int state_helper_snapshot_publish(struct state_helper *h, struct cove_error *err)
{
    return ask_code(h, REQ_SNAP_PUBLISH, err);
}

void state_helper_snapshot_discard(struct state_helper *h)
{
    struct cove_error err;
    ask_code(h, REQ_SNAP_DISCARD, &err);
}

int state_helper_restore_find(struct state_helper *h, const char *tag, bool *running,
                              int *state_fd, int *memory_fd, char *dir, size_t n,
                              struct cove_error *err)
{
    struct request req;
    struct answer a;
    *state_fd = *memory_fd = -1;
    int fds[2];
    unsigned nfds = 0;
    int rc = tag_request(&req, REQ_RESTORE_FIND, tag, err);
    if (rc == 0)
        rc = ask(h, &req, &a, fds, &nfds, 2, err);
    if (rc < 0)
        return rc;
    if (nfds != (a.running ? 2u : 0u)) {
        while (nfds)
            close(fds[--nfds]);
        return cove_error_set(err, -EPROTO, "the state helper sent the wrong files");
    }
    *running = a.running;
    if (a.running) {
        *state_fd = fds[0];
        *memory_fd = fds[1];
    }
    snprintf(dir, n, "%s", a.text);
    return 0;
}

int state_helper_restore_disks(struct state_helper *h, struct cove_error *err)
{
    return ask_code(h, REQ_RESTORE_DISKS, err);
}

int state_helper_open_disk(struct state_helper *h, unsigned index, struct disk_files *files,
                           struct cove_error *err)
{
    struct request req = {.code = REQ_OPEN_DISK, .disk = (unsigned char)index};
    struct answer a;
    int fds[USOCK_MAX_FDS];
    unsigned nfds = 0;
    if (index > 255)
        return cove_error_set(err, -EINVAL, "no disk %u", index + 1);
    int rc = ask(h, &req, &a, fds, &nfds, USOCK_MAX_FDS, err);
    if (rc < 0)
        return rc;
    if (a.chain < 1 || a.chain > DISK_MAX_BACKING_DEPTH + 1 || nfds != a.chain + a.direct) {
        while (nfds)
            close(fds[--nfds]);
        return cove_error_set(err, -EPROTO, "the state helper sent the wrong files");
    }
    files->n = a.chain;
    for (unsigned i = 0; i <= DISK_MAX_BACKING_DEPTH; i++)
        files->fd[i] = i < a.chain ? fds[i] : -1;
    files->direct_fd = a.direct ? fds[a.chain] : -1;
    return 0;
}

void state_helper_stop(struct state_helper *h)
{
    if (!h)
        return;
    close(h->sock);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}
