/*
 * virtio-fs (virtio 1.2, 5.11) through vhost-user: the transport and the config space
 * are cove's, the queues (hiprio and one request queue) are served by a daemon
 * (virtiofsd) that maps guest RAM from its memfd.
 *
 * When the driver sets DRIVER_OK the rings are handed to the daemon with a kick eventfd
 * (signalled on QueueNotify, from the vCPU thread) and a call eventfd (watched on the I/O
 * thread, which raises the device's interrupt). If the daemon goes away (its socket hangs
 * up, or it fails a request) the device says so once, needs a reset, and takes the queues
 * back: every request the daemon left unanswered, and every later one, is answered with
 * a FUSE error (EIO), so guest programs get I/O errors instead of hanging.
 *
 * Suspend and snapshots: the daemon lets go of the rings while the machine is saved
 * (quiesce: GET_VRING_BASE, which waits for the requests it took), so memory and rings
 * hold still, and takes them back after (a snapshot's VM runs on). A resumed VM gets a
 * fresh daemon: it is given guest memory, the features, the guest's FUSE session (a
 * replayed FUSE_INIT, fs_session.h) and each ring from where the old one stopped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backends/virtiofsd.h"
#include "devices/iov.h"
#include "devices/vhost_user.h"
#include "devices/virtio/fs_session.h"
#include "devices/virtio/virtio_devices.h"
#include "util/log.h"
#include "util/state_format.h"

#define FS_QUEUES 2          /* hiprio, then one request queue */
#define FS_QUEUE_SIZE 256
#define FS_CONFIG_SIZE (VIRTIO_FS_TAG_MAX + 4)
#define VHOST_TIMEOUT_MS 5000

/* FUSE headers (include/uapi/linux/fuse.h): what a dead daemon's requests get back. */
#define FUSE_IN_HEADER_SIZE 40
#define FUSE_OUT_HEADER_SIZE 16

/* What the daemon must do on the rings for the driver's features to hold. */
#define NEEDED_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX) | \
                         (1ull << VIRTIO_F_INDIRECT_DESC))

struct vfs;

struct fs_queue {
    struct vfs *fs;
    unsigned index;
    int kick, call;                  /* eventfds handed to the daemon */
    struct iothread_watch *call_watch;
    bool took_over;                  /* under the transport's queue lock */
    struct virtq_chain chain;
    struct virtio_queue_info info;   /* the ring the daemon serves (fs->lock) */
    uint16_t base;                   /* where the daemon stopped, while paused */
};

struct vfs {
    struct virtio_mmio *t;
    char tag[VIRTIO_FS_TAG_MAX + 1];
    struct virtiofsd *daemon;
    atomic_bool dead;

    pthread_mutex_t lock;            /* the connection: start, reset */
    struct vhost_user *vu;
    bool started;                    /* the daemon has the rings */
    bool paused;                     /* ... and gave them back for a save */
    bool failed_quiesced;            /* it failed to pause: serve the queues at unquiesce */
    struct vhost_user_region ram;    /* guest RAM as the daemon maps it */
    struct iothread_watch *hup_watch;
    struct fs_queue q[FS_QUEUES];
};

/* --- the daemon going away ----------------------------------------------------------- */

/* Called without fs->lock: it serves the queues itself. */
static void daemon_gone(struct vfs *fs, const char *why, int err)
{
    if (atomic_exchange(&fs->dead, true))
        return;
    if (err)
        log_error("virtio-fs '%s': the file server %s (%s); the share gives I/O errors "
                  "from now on", fs->tag, why, strerror(-err));
    else
        log_error("virtio-fs '%s': the file server %s; the share gives I/O errors from now on",
                  fs->tag, why);
    /* A daemon that answered wrongly may still run: it must not touch the rings that
     * cove now serves. (It is reaped when the device goes.) */
    virtiofsd_kill(fs->daemon);
    virtio_mmio_device_failed(fs->t, "its file server went away");
    for (unsigned i = 0; i < FS_QUEUES; i++)
        virtio_mmio_process_queue(fs->t, i);
    /* The daemon may have died between publishing a used entry and signalling its call
     * fd: an interrupt now makes the driver look (a spurious one costs nothing). */
    virtio_mmio_interrupt(fs->t);
}

static void hup_event(void *opaque, uint32_t events)
{
    struct vfs *fs = opaque;
    iothread_watch_set_events(fs->hup_watch, 0);
    daemon_gone(fs, "closed its connection (virtiofsd exited?)", 0);
}

static void call_event(void *opaque, uint32_t events)
{
    struct fs_queue *q = opaque;
    uint64_t v;
    if (read(q->call, &v, sizeof v) == (ssize_t)sizeof v)
        virtio_mmio_interrupt(q->fs->t);
}

/* --- cove serving the queues once the daemon is gone --------------------------------- */

/* Answers one FUSE request with EIO; requests without a reply part (FORGET) go back
 * empty. */
static int fail_request(void *dev, struct virtq *vq, struct virtq_chain *c)
{
    uint8_t in[FUSE_IN_HEADER_SIZE];
    uint32_t written = 0;
    if (c->n_in > 0 &&
        iov_to_buf(c->iov, c->n_out, 0, in, sizeof in) == sizeof in) {
        uint8_t out[FUSE_OUT_HEADER_SIZE];
        uint32_t len = FUSE_OUT_HEADER_SIZE;
        int32_t error = -EIO;
        memcpy(out, &len, 4);
        memcpy(out + 4, &error, 4);
        memcpy(out + 8, in + 8, 8); /* unique: which request this answers */
        written = (uint32_t)iov_from_buf(c->iov + c->n_out, c->n_in, 0, out, sizeof out);
    }
    virtq_push(vq, c->head, written);
    return 0;
}

static int fs_queue_handler(void *dev, unsigned qi, struct virtq *vq)
{
    struct vfs *fs = dev;
    if (!atomic_load(&fs->dead) || qi >= FS_QUEUES)
        return 0; /* the daemon serves the queue */
    struct fs_queue *q = &fs->q[qi];
    if (!q->took_over) {
        /* In order (one daemon thread per queue): what is not in the used ring yet is
         * what the daemon left unanswered. */
        virtq_take_over(vq);
        q->took_over = true;
    }
    return virtio_queue_serve(vq, &q->chain, NULL, fail_request, fs);
}

/* --- the transport's hooks ------------------------------------------------------------ */

static void fs_notify(void *dev, unsigned qi)
{
    struct vfs *fs = dev;
    if (atomic_load(&fs->dead)) {
        virtio_mmio_process_queue(fs->t, qi);
        return;
    }
    uint64_t one = 1;
    /* EAGAIN: a kick is pending already. */
    if (write(fs->q[qi].kick, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("virtio-fs '%s': kick: %s", fs->tag, strerror(errno));
}

static struct vhost_user_ring guest_ring(struct vfs *fs, unsigned i, uint16_t base)
{
    const struct virtio_queue_info *info = &fs->q[i].info;
    return (struct vhost_user_ring){
        .num = info->size, .base = base, .desc = info->desc, .avail = info->avail,
        .used = info->used, .kick_fd = fs->q[i].kick, .call_fd = fs->q[i].call,
    };
}

/* Hands ring i to the daemon from base on (fs->lock held), then kicks it once: what the
 * driver posted while nobody served the ring is then seen. */
static int start_ring(struct vfs *fs, unsigned i, uint16_t base)
{
    struct vhost_user_ring ring = guest_ring(fs, i, base);
    int r = vhost_user_start_ring(fs->vu, i, &ring);
    uint64_t one = 1;
    if (r == 0 && write(fs->q[i].kick, &one, sizeof one) < 0 && errno != EAGAIN)
        r = -errno;
    return r;
}

static int start_rings(struct vfs *fs, const uint16_t *base)
{
    int r = 0;
    for (unsigned i = 0; r == 0 && i < FS_QUEUES; i++)
        if (fs->q[i].info.ready)
            r = start_ring(fs, i, base ? base[i] : 0);
    return r;
}

/* The daemon lets go of the rings (fs->lock held). GET_VRING_BASE returns once the requests
 * it took are answered, but libvhost-user reads the index it reports before its queue
 * thread stops, so it may be behind what the thread took after: the used index in guest
 * memory, once everything taken is answered, is where the ring stands. */
static int stop_rings(struct vfs *fs)
{
    int r = 0;
    for (unsigned i = 0; r == 0 && i < FS_QUEUES; i++) {
        uint32_t base = 0;
        if (!fs->q[i].info.ready)
            continue;
        r = vhost_user_stop_ring(fs->vu, i, &base);
        uint16_t used = __atomic_load_n((uint16_t *)fs->q[i].info.used + 1, __ATOMIC_ACQUIRE);
        fs->q[i].base = (uint16_t)(used - base) <= fs->q[i].info.size ? used : (uint16_t)base;
    }
    return r;
}

static int fs_start(void *dev, uint64_t features)
{
    struct vfs *fs = dev;
    struct virtio_queue_info info[FS_QUEUES];
    /* Read before taking fs->lock: the transport's lock comes first in its order. */
    for (unsigned i = 0; i < FS_QUEUES; i++)
        virtio_mmio_queue_info(fs->t, i, &info[i]);
    if (atomic_load(&fs->dead))
        return -EIO;
    pthread_mutex_lock(&fs->lock);
    for (unsigned i = 0; i < FS_QUEUES; i++)
        fs->q[i].info = info[i];
    int r = vhost_user_set_features(fs->vu, features);
    if (r == 0)
        r = start_rings(fs, NULL);
    fs->started = r == 0;
    pthread_mutex_unlock(&fs->lock);
    if (r < 0)
        daemon_gone(fs, "refused the queues", r);
    return r;
}

/* The driver reset the device (under the transport lock): the daemon lets go of the
 * rings, which the driver may set up anew. */
static void fs_reset(void *dev)
{
    struct vfs *fs = dev;
    int r = 0;
    pthread_mutex_lock(&fs->lock);
    if (fs->started && !fs->paused)
        r = stop_rings(fs);
    fs->started = fs->paused = false;
    for (unsigned i = 0; i < FS_QUEUES; i++) {
        fs->q[i].took_over = false;
        fs->q[i].info.ready = false;
    }
    pthread_mutex_unlock(&fs->lock);
    if (r < 0 && !atomic_exchange(&fs->dead, true)) {
        log_error("virtio-fs '%s': the file server did not stop its queues (%s); the share "
                  "gives I/O errors from now on", fs->tag, strerror(-r));
        virtiofsd_kill(fs->daemon);
    }
}

/* --- suspend, snapshots and resume ----------------------------------------------------- */

/* Every transport lock is held: a daemon that fails here is marked dead, and its queues
 * are served (with EIO) once the locks are let go, in fs_unquiesce. */
static void fs_quiesce(void *dev)
{
    struct vfs *fs = dev;
    pthread_mutex_lock(&fs->lock);
    int r = 0;
    if (fs->started && !fs->paused && !atomic_load(&fs->dead)) {
        r = stop_rings(fs);
        fs->paused = r == 0;
    }
    pthread_mutex_unlock(&fs->lock);
    if (r < 0 && !atomic_exchange(&fs->dead, true)) {
        log_error("virtio-fs '%s': the file server did not stop its queues for the save (%s); "
                  "the share gives I/O errors from now on", fs->tag, strerror(-r));
        virtiofsd_kill(fs->daemon);
        virtio_mmio_device_failed(fs->t, "its file server went away");
        fs->failed_quiesced = true;
    }
}

static void fs_unquiesce(void *dev)
{
    struct vfs *fs = dev;
    pthread_mutex_lock(&fs->lock);
    int r = 0;
    if (fs->paused && !atomic_load(&fs->dead)) {
        uint16_t base[FS_QUEUES];
        for (unsigned i = 0; i < FS_QUEUES; i++)
            base[i] = fs->q[i].base;
        r = start_rings(fs, base);
    }
    fs->paused = false;
    bool serve = fs->failed_quiesced;
    fs->failed_quiesced = false;
    pthread_mutex_unlock(&fs->lock);
    if (r < 0)
        daemon_gone(fs, "did not take its queues back after the save", r);
    if (serve) {
        for (unsigned i = 0; i < FS_QUEUES; i++)
            virtio_mmio_process_queue(fs->t, i);
        virtio_mmio_interrupt(fs->t);
    }
}

/* u8 the daemon had the rings, u8 it was gone; per queue u32 where it stopped. */
static int fs_save(void *dev, struct state_writer *w)
{
    struct vfs *fs = dev;
    pthread_mutex_lock(&fs->lock);
    bool dead = atomic_load(&fs->dead);
    state_put_u8(w, fs->started && fs->paused && !dead);
    state_put_u8(w, dead);
    for (unsigned i = 0; i < FS_QUEUES; i++)
        state_put_u32(w, fs->q[i].base);
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

/* The fresh daemon of this run takes over: features, the guest's FUSE session, the rings
 * from where the old one stopped. */
static int resume_daemon(struct vfs *fs, const uint16_t *base, struct cove_error *err)
{
    uint64_t features = virtio_mmio_negotiated(fs->t);
    for (unsigned i = 0; i < FS_QUEUES; i++)
        virtio_mmio_queue_info(fs->t, i, &fs->q[i].info);
    const char *why = "it refused the driver's features";
    pthread_mutex_lock(&fs->lock);
    int r = vhost_user_set_features(fs->vu, features);
    struct vhost_user_ring ring1 = guest_ring(fs, 1, base[1]);
    if (r == 0 && fs->q[1].info.ready)
        r = virtio_fs_replay_init(fs->vu, &fs->ram, 1, &ring1, VHOST_TIMEOUT_MS, &why);
    if (r == 0) {
        why = "it refused the guest's queues";
        r = start_rings(fs, base);
    }
    fs->started = r == 0;
    pthread_mutex_unlock(&fs->lock);
    if (r < 0)
        return cove_error_set(err, r, "virtio-fs '%s': the file server cannot take the "
                              "guest's share back: %s (%s)", fs->tag, why, strerror(-r));
    return 0;
}

static int fs_load(void *dev, struct state_reader *r, struct cove_error *err)
{
    struct vfs *fs = dev;
    bool started = state_get_u8(r) != 0, dead = state_get_u8(r) != 0;
    uint16_t base[FS_QUEUES];
    for (unsigned i = 0; i < FS_QUEUES; i++)
        base[i] = (uint16_t)state_get_u32(r);
    if (r->bad)
        return cove_error_set(err, -EINVAL, "virtio-fs '%s': the saved state is cut short",
                              fs->tag);
    if (dead) {
        /* It was gone before the save: the guest goes on getting I/O errors, from cove. */
        atomic_store(&fs->dead, true);
        virtiofsd_kill(fs->daemon);
        return 0;
    }
    bool live = (virtio_mmio_status(fs->t) & VIRTIO_STATUS_DRIVER_OK) != 0;
    if (started != live)
        return cove_error_set(err, -EINVAL, "virtio-fs '%s': the saved state does not match "
                              "the device's status", fs->tag);
    return started ? resume_daemon(fs, base, err) : 0;
}

static void fs_config_read(void *dev, uint8_t *buf)
{
    struct vfs *fs = dev;
    uint32_t num_request_queues = FS_QUEUES - 1;
    memcpy(buf, fs->tag, strlen(fs->tag)); /* NUL-padded, not terminated at 36 bytes */
    memcpy(buf + VIRTIO_FS_TAG_MAX, &num_request_queues, 4);
}

static void fs_destroy(void *dev)
{
    struct vfs *fs = dev;
    iothread_unwatch(fs->hup_watch);
    for (unsigned i = 0; i < FS_QUEUES; i++)
        iothread_unwatch(fs->q[i].call_watch);
    /* The daemon is stopped before its connection closes: a hang-up would make it log
     * an error about it on cove's stderr. */
    virtiofsd_stop(fs->daemon);
    vhost_user_close(fs->vu);
    for (unsigned i = 0; i < FS_QUEUES; i++) {
        if (fs->q[i].kick >= 0)
            close(fs->q[i].kick);
        if (fs->q[i].call >= 0)
            close(fs->q[i].call);
    }
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}

static const struct virtio_device_ops fs_ops = {
    .name = "fs",
    .device_id = VIRTIO_ID_FS,
    .num_queues = FS_QUEUES,
    .queue_max = FS_QUEUE_SIZE,
    .config_size = FS_CONFIG_SIZE,
    .config_read = fs_config_read,
    .queue_handler = fs_queue_handler,
    .reset = fs_reset,
    .destroy = fs_destroy,
    .start = fs_start,
    .notify = fs_notify,
    .save = fs_save,
    .load = fs_load,
    .quiesce = fs_quiesce,
    .unquiesce = fs_unquiesce,
};

/* Connects to the daemon and hands it guest memory; the rings come at DRIVER_OK. */
static int connect_daemon(struct vfs *fs, const struct virtio_fs_share *share,
                          const struct guest_ram *ram, int mem_fd, struct cove_error *err)
{
    int sock;
    int r = virtiofsd_start(share->path, share->read_only, &fs->daemon, &sock, err);
    if (r < 0)
        return r;
    if ((r = vhost_user_open(sock, VHOST_TIMEOUT_MS, &fs->vu)) < 0)
        return cove_error_set(err, r, "virtio-fs '%s': out of memory", fs->tag);
    uint64_t features;
    if ((r = vhost_user_handshake(fs->vu, &features)) < 0)
        return cove_error_set(err, r, "virtio-fs '%s': the file server for %s did not answer "
                              "(%s)", fs->tag, share->path, strerror(-r));
    if ((features & NEEDED_FEATURES) != NEEDED_FEATURES)
        return cove_error_set(err, -ENOTSUP, "virtio-fs '%s': the file server lacks virtio "
                              "1.0 rings with event index and indirect descriptors", fs->tag);
    fs->ram = (struct vhost_user_region){
        .guest_phys_addr = ram->base, .size = ram->size, .host = ram->host, .fd = mem_fd,
    };
    if ((r = vhost_user_set_mem_table(fs->vu, &fs->ram, 1)) < 0)
        return cove_error_set(err, r, "virtio-fs '%s': the file server refused guest memory "
                              "(%s)", fs->tag, strerror(-r));
    return 0;
}

static int watch_daemon(struct vfs *fs, struct iothread *io)
{
    int r = iothread_watch(io, vhost_user_fd(fs->vu), EPOLLRDHUP, hup_event, fs, &fs->hup_watch);
    for (unsigned i = 0; r == 0 && i < FS_QUEUES; i++)
        r = iothread_watch(io, fs->q[i].call, EPOLLIN, call_event, &fs->q[i],
                           &fs->q[i].call_watch);
    return r;
}

int virtio_fs_create(const struct virtio_mmio_params *p, const struct virtio_fs_share *share,
                     int mem_fd, struct virtio_mmio **out, struct cove_error *err)
{
    size_t tag_len = strlen(share->tag);
    if (tag_len == 0 || tag_len > VIRTIO_FS_TAG_MAX)
        return cove_error_set(err, -EINVAL, "bad share name '%s': 1 to %d bytes", share->tag,
                              VIRTIO_FS_TAG_MAX);
    if (!p->io || mem_fd < 0)
        return cove_error_set(err, -EINVAL, "virtio-fs needs an I/O thread and shared memory");
    struct vfs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return cove_error_set(err, -ENOMEM, "virtio-fs: out of memory");
    strcpy(fs->tag, share->tag);
    pthread_mutex_init(&fs->lock, NULL);
    int r = 0;
    for (unsigned i = 0; i < FS_QUEUES; i++) {
        fs->q[i] = (struct fs_queue){.fs = fs, .index = i, .kick = -1, .call = -1};
        fs->q[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        fs->q[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fs->q[i].kick < 0 || fs->q[i].call < 0)
            r = cove_error_set(err, -errno, "eventfd: %s", strerror(errno));
    }
    if (r == 0)
        r = connect_daemon(fs, share, p->ram, mem_fd, err);
    if (r < 0) {
        fs_destroy(fs);
        return r;
    }
    struct virtio_mmio *t;
    if ((r = virtio_mmio_create(p, &fs_ops, fs, &t, err)) < 0)
        return r;
    fs->t = t;
    if ((r = watch_daemon(fs, p->io)) < 0) {
        virtio_mmio_destroy(t);
        return cove_error_set(err, r, "virtio-fs: cannot watch the file server: %s",
                              strerror(-r));
    }
    *out = t;
    return 0;
}
