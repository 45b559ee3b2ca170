/*
 * A VM's snapshots on disk (snapshot.h has the layout). Disk layers come from clone.c's
 * freeze (link the disk into bases/, an overlay over it in its place): a snapshot adds one
 * level to the disk's backing chain when the disk was written since the last freeze,
 * none otherwise. Deleting a snapshot removes its record only; a layer stays as long as
 * the VM's disk or another snapshot reads through it (store_collect_bases), so nothing
 * ever depends on a snapshot's directory and no merge is needed.
 */
#include "store/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "store/bundle.h"
#include "util/state_format.h"

#define ID_FILE "id"
#define ID_LEN 16
#define STATE_FILES_N 2
static const char *const state_files[STATE_FILES_N] = {"machine", "memory"};

/* --- paths and the bundle's id ---------------------------------------------------------- */

static int snap_path(char *buf, size_t n, const char *bundle, const char *tail)
{
    if (store_path(buf, n, "%s/" BUNDLE_SNAPSHOTS "%s%s", bundle, tail ? "/" : "",
                   tail ? tail : "") < 0)
        return -ENAMETOOLONG;
    return 0;
}

/* snapshots/id: read it (0), or -ENOENT. */
static int read_id(const char *bundle, char id[ID_LEN + 1])
{
    char path[PATH_MAX];
    if (snap_path(path, sizeof path, bundle, ID_FILE) < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = read(fd, id, ID_LEN);
    close(fd);
    if (got != ID_LEN)
        return -EINVAL;
    id[ID_LEN] = 0;
    for (unsigned i = 0; i < ID_LEN; i++)
        if (!strchr("0123456789abcdef", id[i]) || !id[i])
            return -EINVAL;
    return 0;
}

static int ensure_id(const char *bundle, char id[ID_LEN + 1], struct cove_error *err)
{
    char path[PATH_MAX];
    if (snap_path(path, sizeof path, bundle, NULL) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return cove_error_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
    if (read_id(bundle, id) == 0)
        return 0;
    uint8_t raw[ID_LEN / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return cove_error_set(err, -EIO, "getrandom failed");
    for (unsigned i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    char text[ID_LEN + 2];
    snprintf(text, sizeof text, "%s\n", id);
    if (snap_path(path, sizeof path, bundle, ID_FILE) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    return store_write_atomic(path, text, strlen(text), 0600, err);
}

/* The disks a snapshot covers: the writable ones (read-only disks never change). */
static bool covered(const struct cove_disk_config *d)
{
    return !d->read_only;
}

/* --- save ------------------------------------------------------------------------------- */

/* How many images bundle/file reads through below itself. */
static int chain_depth(const char *bundle, const char *file)
{
    char cur[PATH_MAX], backing[PATH_MAX];
    if (store_path(cur, sizeof cur, "%s/%s", bundle, file) < 0)
        return -ENAMETOOLONG;
    for (int depth = 0; depth <= DISK_MAX_BACKING_DEPTH + 1; depth++) {
        if (store_disk_info(cur, NULL, NULL, backing, sizeof backing, NULL) < 0 || !backing[0])
            return depth;
        snprintf(cur, sizeof cur, "%s", backing);
    }
    return DISK_MAX_BACKING_DEPTH + 1;
}

int store_snapshot_begin(const char *bundle, const char *name, const struct cove_config *cfg,
                         const char *tag, pid_t owner, char *tmp, size_t n,
                         struct cove_error *err)
{
    char id[ID_LEN + 1], dir[PATH_MAX], path[PATH_MAX];
    int rc = store_check_label("snapshot tag", tag, err);
    if (rc < 0)
        return rc;
    if (!strcmp(tag, ID_FILE))
        return cove_error_set(err, -EINVAL, "snapshot tag 'id' is reserved; choose another");
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (covered(&cfg->disks[i]) && cove_disk_is_nbd(cfg->disks[i].file))
            return cove_error_set(err, -ENOTSUP, "VM '%s': disk %u is the NBD export %s, "
                                  "which a snapshot cannot freeze; snapshots cover image "
                                  "files (attach the export read-only, or without it)",
                                  name, i + 1, cfg->disks[i].file);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        /* a save may add a level under the disk; src/disk follows DISK_MAX_BACKING_DEPTH */
        int depth = covered(&cfg->disks[i]) ? chain_depth(bundle, cfg->disks[i].file) : 0;
        if (depth >= DISK_MAX_BACKING_DEPTH)
            return cove_error_set(err, -ELOOP, "VM '%s': %s already reads through %d layers, "
                                  "the most a disk may have (each snapshot or clone after "
                                  "writes adds one); a flat copy (`cove disk convert`) starts "
                                  "a new chain", name, cfg->disks[i].file, depth);
    }
    if (snap_path(path, sizeof path, bundle, tag) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (access(path, F_OK) == 0)
        return cove_error_set(err, -EEXIST, "VM '%s' already has a snapshot '%s'; delete it "
                              "first (`cove snapshot %s delete %s`) or choose another tag",
                              name, tag, name, tag);
    if ((rc = ensure_id(bundle, id, err)) < 0)
        return rc;
    if (snap_path(dir, sizeof dir, bundle, NULL) < 0 ||
        store_temp_path_of(dir, owner, "snapshot", tmp, n) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    store_sweep_temps(dir);
    if (mkdir(tmp, 0700) < 0)
        return cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

int store_snapshot_freeze(const char *bundle, const struct cove_config *cfg, const char *tmp,
                          struct cove_error *err)
{
    struct store s;
    int glock, rc = store_open(&s, err);
    if (rc < 0 || (rc = store_lock_global(&s, &glock, err)) < 0)
        return rc;
    char dst[PATH_MAX];
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++) {
        if (!covered(&cfg->disks[i]))
            continue;
        if (store_path(dst, sizeof dst, "%s/%s", tmp, cfg->disks[i].file) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        else
            rc = store_freeze_disk(&s, bundle, cfg->disks[i].file, dst, err);
    }
    store_unlock_bundle(glock);
    return rc;
}

int store_snapshot_publish(const char *bundle, const struct cove_config *cfg, const char *tmp,
                           const char *tag, bool running, struct cove_error *err)
{
    char id[ID_LEN + 1], path[PATH_MAX], dst[PATH_MAX];
    if (read_id(bundle, id) < 0)
        return cove_error_set(err, -EIO, "%s/" BUNDLE_SNAPSHOTS "/" ID_FILE " is missing or "
                              "damaged", bundle);
    json_t *o = json_pack("{s:i, s:s, s:I, s:s}", "version", 1, "vm", id, "created",
                          (json_int_t)time(NULL), "state", running ? "running" : "stopped");
    char *meta = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    char *config = cove_config_to_json(cfg);
    int rc = 0;
    if (!meta || !config)
        rc = cove_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0 && store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, tmp) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0)
        rc = store_write_atomic(path, config, strlen(config), 0600, err);
    if (rc == 0 && store_path(path, sizeof path, "%s/" SNAPSHOT_META, tmp) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0)
        rc = store_write_atomic(path, meta, strlen(meta), 0600, err);
    free(meta);
    free(config);
    if (rc < 0)
        return rc;
    if (snap_path(dst, sizeof dst, bundle, tag) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    store_sync_dir(tmp);
    /* renameat2 NOREPLACE: a tag taken meanwhile is refused, not replaced */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0)
        return cove_error_set(err, -errno, "cannot move the snapshot into place as %s: %s",
                              dst, strerror(errno));
    snap_path(path, sizeof path, bundle, NULL);
    store_sync_dir(path);
    return 0;
}

void store_snapshot_abort(const char *tmp)
{
    if (tmp && tmp[0])
        store_remove_tree(tmp);
}

/* --- restore ---------------------------------------------------------------------------- */

/* A configuration's network device as its --net text ("none" without one). */
static const char *net_text(const struct cove_config *c, char *buf, size_t n)
{
    if (!c->has_network || c->net.mode == COVE_NET_NONE)
        return snprintf(buf, n, "none"), buf;
    return cove_net_spec_text(&c->net, buf, n);
}

/* What makes the snapshot's configuration `then` unfit for the VM's `now`, or NULL. The
 * disks always count (a snapshot records one layer per writable disk); a running snapshot
 * also needs the machine it was saved from. */
static const char *config_change(const struct cove_config *then, const struct cove_config *now,
                                 bool running, char *buf, size_t n)
{
    if (then->ndisks != now->ndisks) {
        snprintf(buf, n, "%u disks then, %u now", then->ndisks, now->ndisks);
        return buf;
    }
    for (unsigned i = 0; i < now->ndisks; i++) {
        const struct cove_disk_config *a = &then->disks[i], *b = &now->disks[i];
        if (strcmp(a->file, b->file) || a->read_only != b->read_only || a->nvme != b->nvme) {
            snprintf(buf, n, "disk %u was %s%s then, %s%s now", i + 1, a->file,
                     a->read_only ? " (read-only)" : "", b->file,
                     b->read_only ? " (read-only)" : "");
            return buf;
        }
    }
    if (!running)
        return NULL;
    char t1[COVE_NET_NAME_MAX + 16], t2[COVE_NET_NAME_MAX + 16];
    if (then->cpus != now->cpus)
        snprintf(buf, n, "%u CPUs then, %u now", then->cpus, now->cpus);
    else if (then->memory_mib != now->memory_mib)
        snprintf(buf, n, "%llu MiB of memory then, %llu MiB now",
                 (unsigned long long)then->memory_mib, (unsigned long long)now->memory_mib);
    else if (strcmp(net_text(then, t1, sizeof t1), net_text(now, t2, sizeof t2)))
        snprintf(buf, n, "the network was %.40s then, %.40s now", t1, t2);
    else if (then->nshares != now->nshares)
        snprintf(buf, n, "%u shared directories then, %u now", then->nshares, now->nshares);
    else
        return NULL;
    return buf;
}

/* snapshot.json of dir: its VM id and state. */
static int read_meta(const char *dir, char id[ID_LEN + 1], bool *running, long long *created)
{
    char path[PATH_MAX];
    if (store_path(path, sizeof path, "%s/" SNAPSHOT_META, dir) < 0)
        return -ENAMETOOLONG;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    const char *vm = NULL, *state = NULL;
    json_int_t version = 0, when = 0;
    int rc = o && json_unpack(o, "{s:I, s:s, s:I, s:s}", "version", &version, "vm", &vm,
                              "created", &when, "state", &state) == 0 ? 0 : -EINVAL;
    if (rc == 0 && (version != 1 || strlen(vm) != ID_LEN ||
                    (strcmp(state, "running") && strcmp(state, "stopped"))))
        rc = -EINVAL;
    if (rc == 0) {
        snprintf(id, ID_LEN + 1, "%s", vm);
        *running = !strcmp(state, "running");
        if (created)
            *created = when;
    }
    json_decref(o);
    return rc;
}

/* A snapshot's record of a disk is a bundle file like any other (whoever wrote the bundle
 * may have crafted it): an overlay, not a link, whose whole chain lies in the store's
 * bases/, as store_check_bundle_disk demands of a VM's disk. */
static int check_record(const char *dir, const char *file, const char *tag, const char *name,
                        struct cove_error *err)
{
    struct store s;
    char cur[PATH_MAX], next[PATH_MAX];
    struct cove_error derr;
    int rc = store_open(&s, err);
    if (rc < 0 || (rc = store_bundle_file(dir, file, cur, sizeof cur, err)) < 0)
        return rc;
    size_t blen = strlen(s.bases);
    for (int depth = 0; depth <= DISK_MAX_BACKING_DEPTH; depth++) {
        if (store_disk_info(cur, NULL, NULL, next, sizeof next, &derr) < 0)
            return cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is damaged: %s",
                                  tag, name, derr.message);
        if (!next[0])
            return depth ? 0 : cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is "
                                              "damaged: its %s is not an overlay", tag, name,
                                              file);
        if (strncmp(next, s.bases, blen) || next[blen] != '/')
            return cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s': its %s reads "
                                  "through %s, outside the store's bases/; cove does not "
                                  "follow a bundle out of the store", tag, name, file, next);
        memcpy(cur, next, sizeof cur);
    }
    return cove_error_set(err, -ELOOP, "snapshot '%s' of VM '%s': its %s: backing chain too "
                          "deep", tag, name, file);
}

/* A running snapshot's machine file passes every check of the format (checksums, lengths)
 * and its memory file is the VM's RAM size: checked before anything changes, so that a
 * running VM is not stopped for a snapshot that cannot be loaded. */
static int check_machine_files(const char *dir, const struct cove_config *cfg, const char *tag,
                               const char *name, struct cove_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    if (store_path(path, sizeof path, "%s/%s", dir, state_files[1]) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != cfg->memory_mib << 20)
        return cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is damaged: its memory "
                              "file is missing, truncated or not %llu MiB", tag, name,
                              (unsigned long long)cfg->memory_mib);
    if (store_path(path, sizeof path, "%s/%s", dir, state_files[0]) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        return cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is damaged: its machine "
                              "file is missing or not one", tag, name);
    }
    uint8_t *data = malloc(st.st_size ? (size_t)st.st_size : 1);
    ssize_t got = data ? pread(fd, data, (size_t)st.st_size, 0) : -1;
    close(fd);
    struct state_file f;
    struct cove_error perr;
    int rc = 0;
    if (got != (ssize_t)st.st_size)
        rc = cove_error_set(err, -EIO, "snapshot '%s' of VM '%s': cannot read %s", tag, name,
                            path);
    else if (state_file_parse(data, (size_t)got, "its machine file", &f, &perr) < 0)
        rc = cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is damaged: %s", tag, name,
                            perr.message);
    free(data);
    return rc;
}

int store_snapshot_find(const char *bundle, const char *name, const struct cove_config *cfg,
                        const char *tag, char *dir, size_t n, bool *running,
                        struct cove_error *err)
{
    char mine[ID_LEN + 1], theirs[ID_LEN + 1], path[PATH_MAX], why[160];
    int rc = store_check_label("snapshot tag", tag, err);
    if (rc < 0)
        return rc;
    struct stat st;
    if (snap_path(dir, n, bundle, tag) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (strcmp(tag, ID_FILE) == 0 || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return cove_error_set(err, -ENOENT, "VM '%s' has no snapshot '%s'; `cove snapshot %s "
                              "list` shows its snapshots", name, tag, name);
    if (read_meta(dir, theirs, running, NULL) < 0)
        return cove_error_set(err, -EINVAL, "snapshot '%s' of VM '%s' is damaged (its "
                              SNAPSHOT_META " is missing or invalid); delete it", tag, name);
    if (read_id(bundle, mine) < 0 || strcmp(mine, theirs))
        return cove_error_set(err, -EXDEV, "snapshot '%s' was made of another VM (id %s, "
                              "VM '%s' is %s); it cannot be restored here", tag, theirs, name,
                              read_id(bundle, mine) < 0 ? "without id" : mine);
    struct cove_config then;
    struct cove_error cerr;
    if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, dir) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if ((rc = cove_config_load(path, &then, &cerr)) < 0)
        return cove_error_set(err, rc, "snapshot '%s' of VM '%s' is damaged: %s", tag, name,
                              cerr.message);
    const char *change = config_change(&then, cfg, *running, why, sizeof why);
    cove_config_free(&then);
    if (change)
        return cove_error_set(err, -EINVAL, "VM '%s' changed since snapshot '%s' was saved "
                              "(%s); it cannot be restored", name, tag, change);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (covered(&cfg->disks[i]) &&
            (rc = check_record(dir, cfg->disks[i].file, tag, name, err)) < 0)
            return rc;
    }
    return *running ? check_machine_files(dir, cfg, tag, name, err) : 0;
}

int store_snapshot_restore_disks(const char *bundle, const struct cove_config *cfg,
                                 const char *dir, struct cove_error *err)
{
    struct store s;
    int glock, rc = store_open(&s, err);
    if (rc < 0 || (rc = store_lock_global(&s, &glock, err)) < 0)
        return rc;
    char rec[PATH_MAX], backing[PATH_MAX], tmp[PATH_MAX], disk[PATH_MAX];
    for (unsigned i = 0; i < cfg->ndisks && rc == 0; i++) {
        if (!covered(&cfg->disks[i]))
            continue;
        const char *file = cfg->disks[i].file;
        if (store_path(rec, sizeof rec, "%s/%s", dir, file) < 0 ||
            store_temp_path(bundle, "restore", tmp, sizeof tmp) < 0 ||
            (rc = store_resolve(bundle, file, disk, sizeof disk, err)) < 0) {
            rc = rc < 0 ? rc : cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
            break;
        }
        if ((rc = store_disk_info(rec, NULL, NULL, backing, sizeof backing, err)) < 0 ||
            (rc = store_disk_overlay(tmp, 0, backing, err)) < 0)
            break;
        if (rename(tmp, disk) < 0) {
            rc = cove_error_set(err, -errno, "cannot replace %s: %s", disk, strerror(errno));
            unlink(tmp);
        }
    }
    store_sync_dir(bundle);
    store_unlock_bundle(glock);
    return rc;
}

/* --- a VM that is not running ------------------------------------------------------------ */

struct locked {
    char bundle[PATH_MAX];
    int lock;
    struct cove_config cfg;
};

static int lock_vm(const char *name, struct locked *l, struct cove_error *err)
{
    struct store s;
    char path[PATH_MAX];
    struct cove_error cerr;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, l->bundle, sizeof l->bundle, err)) < 0 ||
        (rc = store_lock_bundle(l->bundle, name, &l->lock, NULL, err)) < 0)
        return rc;
    store_sweep_temps(l->bundle);
    if (store_path(path, sizeof path, "%s/" BUNDLE_CONFIG, l->bundle) < 0)
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    else if ((rc = cove_config_load(path, &l->cfg, &cerr)) < 0)
        cove_error_set(err, rc, "VM '%s': %s", name, cerr.message);
    else if ((rc = store_check_bundle(l->bundle, &l->cfg, err)) < 0)
        cove_config_free(&l->cfg);
    if (rc < 0)
        store_unlock_bundle(l->lock);
    return rc;
}

static void unlock_vm(struct locked *l)
{
    cove_config_free(&l->cfg);
    store_unlock_bundle(l->lock);
}

/* Copies the saved machine files from one directory to another (a reflink where the
 * file system can; the memory file stays sparse). */
static int copy_state(const char *from, const char *to, struct cove_error *err)
{
    char a[PATH_MAX], b[PATH_MAX];
    for (unsigned i = 0; i < STATE_FILES_N; i++) {
        if (store_path(a, sizeof a, "%s/%s", from, state_files[i]) < 0 ||
            store_path(b, sizeof b, "%s/%s", to, state_files[i]) < 0)
            return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        int rc = store_copy_file(a, b, 0600, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int store_snapshot_save_stopped(const char *name, const char *tag, struct cove_error *err)
{
    struct locked l;
    char tmp[PATH_MAX] = "", state[PATH_MAX];
    int rc = lock_vm(name, &l, err);
    if (rc < 0)
        return rc;
    bool suspended = store_bundle_suspended(l.bundle);
    rc = store_snapshot_begin(l.bundle, name, &l.cfg, tag, getpid(), tmp, sizeof tmp, err);
    if (rc == 0 && suspended) {
        if (store_path(state, sizeof state, "%s/" BUNDLE_STATE_DIR, l.bundle) < 0)
            rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
        else
            rc = copy_state(state, tmp, err);
    }
    if (rc == 0)
        rc = store_snapshot_freeze(l.bundle, &l.cfg, tmp, err);
    if (rc == 0)
        rc = store_snapshot_publish(l.bundle, &l.cfg, tmp, tag, suspended, err);
    if (rc < 0 && tmp[0]) {
        /* past the refusals: say what failed, and that nothing was kept */
        struct cove_error why = *err;
        cove_error_set(err, rc, "VM '%s': snapshot '%s' was not saved: %s", name, tag,
                       why.message);
        store_snapshot_abort(tmp);
    }
    unlock_vm(&l);
    return rc;
}

/* Every step leaves a consistent VM: the snapshot's machine is copied beside state/
 * first; the old state/ goes (the VM is stopped on its old disk); the disks are restored
 * (stopped on the snapshot's disk); the copy becomes state/ (suspended at the snapshot). */
int store_snapshot_restore_stopped(const char *name, const char *tag, bool *running,
                                   struct cove_error *err)
{
    struct locked l;
    char dir[PATH_MAX], state[PATH_MAX], tmp[PATH_MAX] = "", old[PATH_MAX];
    *running = false;
    int rc = lock_vm(name, &l, err);
    if (rc < 0)
        return rc;
    rc = store_snapshot_find(l.bundle, name, &l.cfg, tag, dir, sizeof dir, running, err);
    if (rc == 0 && (store_path(state, sizeof state, "%s/" BUNDLE_STATE_DIR, l.bundle) < 0 ||
                    store_temp_path(l.bundle, "old-state", old, sizeof old) < 0 ||
                    store_temp_path(l.bundle, "state", tmp, sizeof tmp) < 0))
        rc = cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (rc == 0 && *running) {
        if (mkdir(tmp, 0700) < 0)
            rc = cove_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        else if ((rc = copy_state(dir, tmp, err)) == 0)
            store_sync_dir(tmp);
    }
    if (rc == 0 && rename(state, old) == 0) {
        store_sync_dir(l.bundle);
        store_remove_tree(old);
    }
    if (rc == 0)
        rc = store_snapshot_restore_disks(l.bundle, &l.cfg, dir, err);
    if (rc == 0 && *running && rename(tmp, state) < 0)
        rc = cove_error_set(err, -errno, "cannot move the saved state into place: %s",
                            strerror(errno));
    store_sync_dir(l.bundle);
    if (rc < 0 && *running)
        store_remove_tree(tmp);
    unlock_vm(&l);
    return rc;
}

/* --- list, delete ------------------------------------------------------------------------- */

static int by_tag(const void *a, const void *b)
{
    return strcmp(((const struct cove_snapshot_info *)a)->tag,
                  ((const struct cove_snapshot_info *)b)->tag);
}

int store_snapshot_list(const char *name, struct cove_snapshot_info **out, size_t *count,
                        struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], id[ID_LEN + 1];
    *out = NULL;
    *count = 0;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    if (snap_path(dir, sizeof dir, bundle, NULL) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : cove_error_set(err, -errno, "cannot read %s: %s", dir,
                                                    strerror(errno));
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        bool running;
        long long created;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, ID_FILE) ||
            strlen(e->d_name) > COVE_NAME_MAX ||
            store_path(path, sizeof path, "%s/%s", dir, e->d_name) < 0 ||
            read_meta(path, id, &running, &created) < 0)
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            struct cove_snapshot_info *more = realloc(*out, cap * sizeof **out);
            if (!more) {
                closedir(d);
                free(*out);
                *out = NULL;
                *count = 0;
                return cove_error_set(err, -ENOMEM, "out of memory");
            }
            *out = more;
        }
        struct cove_snapshot_info *i = &(*out)[(*count)++];
        memset(i, 0, sizeof *i);
        memcpy(i->tag, e->d_name, strlen(e->d_name) + 1);
        i->running = running;
        i->created = created;
        struct stat st;
        if (running && store_path(path, sizeof path, "%s/%s/memory", dir, e->d_name) == 0 &&
            stat(path, &st) == 0)
            i->memory_bytes = (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    if (*count)
        qsort(*out, *count, sizeof **out, by_tag);
    return 0;
}

int store_snapshot_delete(const char *name, const char *tag, struct cove_error *err)
{
    struct store s;
    char bundle[PATH_MAX], dir[PATH_MAX], parent[PATH_MAX], tmp[PATH_MAX];
    struct stat st;
    int rc = store_check_name(name, err);
    if (rc < 0 || (rc = store_check_label("snapshot tag", tag, err)) < 0 ||
        (rc = store_open(&s, err)) < 0 ||
        (rc = store_find(&s, name, bundle, sizeof bundle, err)) < 0)
        return rc;
    if (snap_path(dir, sizeof dir, bundle, tag) < 0 || snap_path(parent, sizeof parent, bundle,
                                                                 NULL) < 0 ||
        store_temp_path(parent, "deleted", tmp, sizeof tmp) < 0)
        return cove_error_set(err, -ENAMETOOLONG, "COVE_HOME path is too long");
    if (!strcmp(tag, ID_FILE) || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return cove_error_set(err, -ENOENT, "VM '%s' has no snapshot '%s'; `cove snapshot %s "
                              "list` shows its snapshots", name, tag, name);
    /* One rename makes it gone; its layers go with the next collection if nothing else
     * reads through them. A running VM resumed from it keeps its memory file mapped. */
    if (rename(dir, tmp) < 0)
        return cove_error_set(err, -errno, "cannot delete snapshot '%s': %s", tag,
                              strerror(errno));
    store_sync_dir(parent);
    store_remove_tree(tmp);
    store_collect_bases(&s);
    return 0;
}
