/*
 * Swapping the images under a running machine's disks, for snapshots (machine.h,
 * machine_swap_disks): a snapshot turns each disk file into an overlay over a frozen
 * base, and the machine must let go of the file it had open (its write lock too) and
 * open the new overlay, with no request in flight in between.
 */
#include <errno.h>
#include <string.h>

#include "backends/block.h"
#include "devices/virtio/virtio_devices.h"
#include "machine/machine_internal.h"
#include "util/log.h"

/* The virtio-blk transports in disk order: disks take the slots first, from the top. */
static unsigned blk_transports(struct machine *m, struct virtio_mmio **out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = MACHINE_MAX_VIRTIO; i-- > 0 && n < max;)
        if (m->virtio[i] && virtio_mmio_device_id(m->virtio[i]) == VIRTIO_ID_BLOCK)
            out[n++] = m->virtio[i];
    return n;
}

int machine_swap_disks(struct machine *m, const struct machine_disk *disks, unsigned ndisks,
                       int (*between)(void *opaque, struct cove_error *err), void *opaque,
                       struct cove_error *err)
{
    struct virtio_mmio *blk[MACHINE_MAX_VIRTIO];
    const struct machine_disk *which[MACHINE_MAX_VIRTIO];
    unsigned n = 0, found = blk_transports(m, blk, MACHINE_MAX_VIRTIO);
    for (unsigned i = 0; i < ndisks; i++) {
        if (disks[i].nvme)
            return cove_error_set(err, -ENOTSUP, "an NVMe disk cannot be swapped");
        if (n == found)
            return cove_error_set(err, -EINVAL, "more disks than virtio-blk devices");
        which[n++] = &disks[i];
    }
    for (unsigned i = 0; i < n; i++)
        virtio_mmio_quiesce(blk[i]);
    int rc = 0;
    bool closed[MACHINE_MAX_VIRTIO] = {false};
    for (unsigned i = 0; i < n && rc == 0; i++) {
        if (which[i]->read_only)
            continue;
        /* closed even when the flush failed: the attachment is gone either way */
        closed[i] = true;
        if ((rc = virtio_blk_close_disk(blk[i])) < 0)
            cove_error_set(err, rc, "cannot flush %s: %s", which[i]->path, strerror(-rc));
    }
    /* Past the first close every closed disk is opened again, whatever happened. */
    if (rc == 0)
        rc = between(opaque, err);
    bool lost = false;
    for (unsigned i = 0; i < n; i++) {
        const struct machine_disk *d = which[i];
        if (!closed[i])
            continue;
        struct block_attachment *disk;
        struct cove_error oerr;
        int orc = machine_open_disk(d, &disk, &oerr); /* d->open: the run opened it again */
        if (orc == 0 && virtio_blk_set_disk(blk[i], disk) < 0) {
            block_close(disk);
            orc = -EINVAL;
            cove_error_set(&oerr, orc, "%s changed size", d->path);
        }
        if (orc < 0) {
            /* no disk under the device: it fails, and the machine stops */
            log_error("cannot open %s again: %s; the VM stops", d->path, oerr.message);
            virtio_mmio_device_failed(blk[i], "its disk could not be opened again");
            lost = true;
            if (rc == 0)
                rc = cove_error_set(err, -EIO, "cannot open %s again: %s; the VM stops",
                                    d->path, oerr.message);
        }
    }
    for (unsigned i = n; i-- > 0;)
        virtio_mmio_unquiesce(blk[i]);
    if (lost)
        machine_request_stop(m);
    return rc;
}
