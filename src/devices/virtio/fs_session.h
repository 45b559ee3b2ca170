/*
 * fs_session.h — handing a guest's FUSE session to a fresh virtiofsd (virtio-fs resume).
 *
 * A restored VM's guest mounted its shares long ago: its kernel sent FUSE_INIT to the
 * daemon of the run that was suspended, and will not send it again. The run that resumes
 * starts a new daemon, which answers nothing but FUSE_INIT until it got one (virtiofsd's
 * fuse_lowlevel.c). virtio_fs_replay_init sends it that FUSE_INIT itself, with what a
 * Linux guest sends (protocol 7.x, its flags), through a ring of cove's own: a small
 * memfd added to the daemon's memory table beside guest RAM, on the request queue, before
 * the guest's rings are handed over. The ring and the region are taken back afterwards
 * (GET_VRING_BASE, then the memory table again with guest RAM alone), so the daemon keeps
 * no view of cove's memory.
 *
 * What the guest's kernel holds beyond that (node IDs of cached names and open files, file
 * handles) the new daemon does not know: see docs/STATE-FORMAT.md (fs).
 */
#ifndef COVE_DEVICES_VIRTIO_FS_SESSION_H
#define COVE_DEVICES_VIRTIO_FS_SESSION_H

#include "devices/vhost_user.h"

/* The daemon's features must be set (SET_FEATURES) and ram is guest RAM as the memory
 * table gave it; guest_ring is the guest's ring for that queue, which the stopped queue is
 * pointed at before cove's region leaves the table (the daemon maps a queue's ring again
 * on every table). Returns 0, or a negative errno with *why naming the step that failed. */
int virtio_fs_replay_init(struct vhost_user *vu, const struct vhost_user_region *ram,
                          unsigned queue, const struct vhost_user_ring *guest_ring,
                          int timeout_ms, const char **why);

/* The FUSE_INIT request replayed (in header and fuse_init_in, 104 bytes into buf) and the
 * check of its reply (the out header and fuse_init_out, len bytes): 0 or -EPROTO/-errno
 * from the daemon. Pure, for tests. */
#define FS_INIT_REQUEST_SIZE 104u
void virtio_fs_init_request(uint8_t *buf, uint64_t unique);
int virtio_fs_check_init_reply(const uint8_t *buf, uint32_t len, uint64_t unique,
                               const char **why);

/* One FUSE request through a ring of cove's own in a small private region (a memfd), the
 * way the replay above talks to a daemon; tests use it to speak to virtiofsd as a hostile
 * guest would. The region must be in the daemon's memory table
 * (virtio_fs_private_region) and the daemon's features set. Each request sets the ring up
 * from index 0, kicks, waits for the used entry and takes the ring back. *reply points
 * into the region (valid until the next request). */
#define FS_PRIVATE_REGION_SIZE 4096u
#define FS_PRIVATE_REQUEST_MAX 1024u
#define FS_PRIVATE_REPLY_MAX 2048u
struct fs_private_ring {
    int fd;
    uint8_t *mem;
    uint64_t gpa;
};
int virtio_fs_private_open(struct fs_private_ring *p, uint64_t gpa);
void virtio_fs_private_close(struct fs_private_ring *p);
struct vhost_user_region virtio_fs_private_region(const struct fs_private_ring *p);
int virtio_fs_private_request(struct vhost_user *vu, unsigned queue, struct fs_private_ring *p,
                              const void *req, uint32_t len, const uint8_t **reply,
                              uint32_t *reply_len, int timeout_ms, const char **why);

#endif
