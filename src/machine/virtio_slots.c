/*
 * The configured virtio devices of a machine: one virtio-mmio transport per slot, its
 * interrupt on PLIC source 1 + slot, all back ends on one I/O thread per machine.
 *
 * Slot order: the device tree lists slots from the highest down (as QEMU virt does) and
 * Linux probes in tree order, so devices are placed from slot 7 downwards: the first disk
 * becomes /dev/vda.
 */
#include <errno.h>
#include <string.h>

#include "devices/iothread.h"
#include "devices/virtio/virtio_devices.h"
#include "machine/machine_internal.h"
#include "util/log.h"

static int place(struct machine *m, unsigned *next_slot, struct virtio_mmio *t,
                 struct cove_error *err)
{
    static const struct machine_bus_ops ops = {virtio_mmio_read, virtio_mmio_write};
    unsigned slot = --*next_slot;
    int rc = machine_add_virtio_mmio(m, slot, &ops, t);
    if (rc < 0) {
        virtio_mmio_destroy(t);
        return cove_error_set(err, rc, "cannot place a virtio device in slot %u: %s", slot,
                              strerror(-rc));
    }
    m->virtio[slot] = t;
    return 0;
}

static struct virtio_mmio_params params_for(struct machine *m, unsigned slot)
{
    return (struct virtio_mmio_params){
        .ram = &m->ram,
        .io = m->io,
        .set_irq = machine_irq_line_set,
        .irq_opaque = machine_irq_line(m, virt_virtio_irq(slot)),
    };
}

/* virtio-gpu, then the keyboard and the tablet. */
static int add_display(struct machine *m, const struct machine_config *cfg, unsigned *next_slot,
                       struct cove_error *err)
{
    struct virtio_mmio_params p = params_for(m, *next_slot - 1);
    struct virtio_mmio *t;
    uint32_t w = cfg->display_width ? cfg->display_width : 1024;
    uint32_t h = cfg->display_height ? cfg->display_height : 768;
    int rc = virtio_gpu_create(&p, w, h, &t, &m->display.gpu, err);
    if (rc < 0 || (rc = place(m, next_slot, t, err)) < 0)
        return rc;
    struct virtio_input **in[2] = {&m->display.keyboard, &m->display.tablet};
    for (int i = 0; i < 2; i++) {
        p = params_for(m, *next_slot - 1);
        rc = virtio_input_create(&p, i ? VIRTIO_INPUT_TABLET : VIRTIO_INPUT_KEYBOARD, &t, in[i],
                                 err);
        if (rc < 0 || (rc = place(m, next_slot, t, err)) < 0)
            return rc;
    }
    return 0;
}

int machine_add_virtio_devices(struct machine *m, const struct machine_config *cfg,
                               struct cove_error *err)
{
    unsigned virtio_disks = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        virtio_disks += !cfg->disks[i].nvme;
    unsigned count = virtio_disks + cfg->nnets + (cfg->rng ? 1 : 0) + (cfg->vsock_path ? 1 : 0) +
                     (m->console_virtio ? 1 : 0) + cfg->nshares + (cfg->display ? 3 : 0);
    if (count == 0 && !cfg->balloon)
        return 0;
    if (count > MACHINE_MAX_VIRTIO)
        return cove_error_set(err, -EINVAL,
                              "too many devices (%u); a VM has at most %u virtio devices "
                              "(disks, network, rng, vsock, console, shared directories, "
                              "a display: 3)", count, MACHINE_MAX_VIRTIO);
    int rc = iothread_create(&m->io, err);
    if (rc < 0)
        return rc;

    unsigned next_slot = MACHINE_MAX_VIRTIO;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (cfg->disks[i].nvme)
            continue;
        struct block_attachment *disk;
        const struct machine_disk *d = &cfg->disks[i];
        rc = machine_open_disk(d, &disk, err);
        if (rc < 0)
            return rc;
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_blk_create(&p, disk, &t, err)) < 0)
            return rc;
        if ((rc = virtio_blk_set_rate(t, &d->rate, err)) < 0) {
            virtio_mmio_destroy(t);
            return rc;
        }
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        const struct machine_net *net = &cfg->nets[i];
        struct net_attachment *nat;
        switch (net->spec.mode) {
        case COVE_NET_TAP: rc = net_tap_open(net->spec.name, &nat, err); break;
        case COVE_NET_BRIDGE: rc = net_bridge_open(net->spec.name, &nat, err); break;
        case COVE_NET_NETWORK:
            rc = net_network_open_forwarded(net->spec.name, net->mac, net->hostname,
                                            net->forwards, net->nforwards, &nat, err);
            break;
        default:
            rc = net_slirp_open(net->forwards, net->nforwards, &net->egress, &nat, err);
            break;
        }
        if (rc < 0)
            return rc;
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_net_create(&p, nat, net->mac, net->mac_configured, &t, NULL, err)) < 0)
            return rc;
        if ((rc = virtio_net_set_rate(t, &net->rate, err)) < 0) {
            virtio_mmio_destroy(t);
            return rc;
        }
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
        bool is_nat = net->spec.mode != COVE_NET_TAP && net->spec.mode != COVE_NET_BRIDGE &&
                      net->spec.mode != COVE_NET_NETWORK;
        if (is_nat && !m->nat) /* the device owns it; for host forwards added later */
            m->nat = nat;
    }
    if (cfg->rng) {
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_rng_create(&p, &t, err)) < 0)
            return rc;
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
    }
    if (cfg->vsock_path) {
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        uint64_t cid = cfg->vsock_cid ? cfg->vsock_cid : 3;
        if ((rc = virtio_vsock_create(&p, cid, cfg->vsock_path, &t, err)) < 0)
            return rc;
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
    }
    for (unsigned i = 0; i < cfg->nshares; i++) {
        const struct machine_share *sh = &cfg->shares[i];
        struct virtio_fs_share share = {sh->tag, sh->path, sh->read_only};
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_fs_create(&p, &share, m->ram_fd, &t, err)) < 0)
            return rc;
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
    }
    if (m->console_virtio) {
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_console_create(&p, m->vcon_pipe[0], cfg->console_out_fd, &t, err)) < 0)
            return rc;
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
    }
    if (cfg->display && (rc = add_display(m, cfg, &next_slot, err)) < 0)
        return rc;
    /* Last, so that it moves no other device's slot, and only where one is left: a VM
     * with every slot taken runs as it did before it had a balloon. */
    if (cfg->balloon && next_slot > 0) {
        struct virtio_mmio_params p = params_for(m, next_slot - 1);
        struct virtio_mmio *t;
        struct virtio_balloon *b;
        if ((rc = virtio_balloon_create(&p, &t, &b, err)) < 0)
            return rc;
        if ((rc = place(m, &next_slot, t, err)) < 0)
            return rc;
        m->balloon = b;
    } else if (cfg->balloon) {
        log_info("no virtio slot left for the balloon; the VM runs without one");
    }
    /* The relative mouse in a slot of its own, past QEMU virt's eight: VNC's pointer is
     * absolute (the tablet's), so the mouse takes no slot from a disk or the balloon and
     * moves no other device. */
    if (cfg->display) {
        unsigned mouse_slot = MACHINE_VIRTIO_MOUSE_SLOT + 1;
        struct virtio_mmio_params p = params_for(m, mouse_slot - 1);
        struct virtio_mmio *t;
        if ((rc = virtio_input_create(&p, VIRTIO_INPUT_MOUSE, &t, &m->display.mouse, err)) < 0 ||
            (rc = place(m, &mouse_slot, t, err)) < 0)
            return rc;
    }
    return 0;
}

struct net_attachment *machine_nat(struct machine *m)
{
    return m->nat;
}

struct virtio_balloon *machine_balloon(struct machine *m)
{
    return m->balloon;
}

void machine_get_display(struct machine *m, struct machine_display *out)
{
    *out = m->display;
}

void machine_remove_virtio_devices(struct machine *m)
{
    for (unsigned s = 0; s < MACHINE_VIRTIO_SLOTS; s++) {
        if (m->virtio[s])
            virtio_mmio_destroy(m->virtio[s]);
        m->virtio[s] = NULL;
    }
    if (m->io)
        iothread_destroy(m->io);
    m->io = NULL;
    m->balloon = NULL;
    memset(&m->display, 0, sizeof m->display);
}
