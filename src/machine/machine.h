/*
 * machine.h — the RISC-V "virt" machine.
 *
 * Builds a QEMU-virt-compatible board on top of hv: guest RAM at 0x8000_0000, the device
 * tree (libfdt) generated from the configuration, 16550 UART, PLIC, ACLINT (in hv),
 * goldfish RTC, the SiFive test device (poweroff/reboot for firmware), SBI implemented in
 * the VMM for direct boot, and boot loaders (Linux Image/ELF + initrd, or M-mode firmware
 * such as OpenSBI fw_dynamic with the kernel or another image as its payload).
 *
 * machine_run() starts one host thread per vCPU and returns when the guest powers off,
 * reboots (if reboot is not handled inside), or a stop is requested. Console bytes from
 * the guest go to console_out_fd; bytes read from console_in_fd go to the guest.
 */
#ifndef COVE_MACHINE_H
#define COVE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/config.h>
#include <cove/error.h>

#include "backends/net.h"

#define MACHINE_MAX_CPUS 32
#define MACHINE_MIN_MEMORY (16ull << 20)
#define MACHINE_MAX_MEMORY (64ull << 30)

struct block_attachment;

/* A disk attachment: an image file (raw or cdisk), or an NBD export when path is an NBD
 * URI (cove_disk_is_nbd); on a virtio-blk device, or a namespace of the machine's NVMe
 * controller behind the PCIe host bridge. */
struct machine_disk {
    const char *path;
    bool read_only;
    enum cove_disk_cache cache;
    enum cove_disk_sync sync;
    bool nbd_host_files; /* see block_options: the user's own command line only */
    bool nvme;
    /* Already open (block_open): the machine borrows it and leaves it open, so that a
     * confined run opens nothing when the guest reboots. NULL: open path. */
    struct block_attachment *open;
    struct cove_rate_limit rate; /* virtio-blk only (an NVMe namespace is not limited) */
};

/* virtio-mmio slots of the virt board: the most virtio devices a machine has. */
#define MACHINE_MAX_VIRTIO 8
/* One slot more, past QEMU virt's eight, that only the display's relative mouse takes
 * (a virtio-input device a VNC client does not need: it must not cost a disk its slot). */
#define MACHINE_VIRTIO_MOUSE_SLOT MACHINE_MAX_VIRTIO
#define MACHINE_VIRTIO_SLOTS (MACHINE_MAX_VIRTIO + 1)
/* NVMe disks: the namespaces of the machine's one NVMe controller. */
#define MACHINE_MAX_NVME 8

/* A network interface: virtio-net on what spec says (net.h): user-mode NAT (libslirp;
 * 10.0.2.0/24, the guest gets 10.0.2.15 by DHCP, the host is 10.0.2.2) with host ports
 * forwarded to the guest and egress rules, an existing TAP, a TAP on a Linux bridge, or a
 * cove network. */
struct machine_net {
    struct cove_net_spec spec;
    uint8_t mac[NET_MAC_LEN];
    bool mac_configured; /* the configuration names mac: a restore keeps it (a clone of a
                            suspended VM has a MAC of its own); else the saved one */
    const struct net_forward *forwards; /* NAT */
    unsigned nforwards;
    struct net_egress egress;           /* NAT */
    const char *hostname;               /* network: the VM's name for its DNS, or NULL */
    struct cove_rate_limit rate;        /* each direction */
};

/* A shared directory: virtio-fs served by its own virtiofsd, the guest mounts it with
 * `mount -t virtiofs TAG DIR`. A read-only share is read-only on the host side. */
struct machine_share {
    const char *tag;    /* 1..36 of [A-Za-z0-9._-] */
    const char *path;   /* an existing host directory */
    bool read_only;
};

/* Where the guest's console is. */
enum machine_console {
    MACHINE_CONSOLE_SERIAL,     /* the 16550 UART, ttyS0 (the device tree's stdout-path) */
    MACHINE_CONSOLE_VIRTIO,     /* virtio-console, hvc0: "console=hvc0" goes first on the
                                   command line; the UART stays, its output is dropped */
};

struct machine_config {
    unsigned cpus;              /* 1..MACHINE_MAX_CPUS */
    uint64_t memory_bytes;      /* MACHINE_MIN_MEMORY..MACHINE_MAX_MEMORY, multiple of 1 MiB */
    const char *kernel_path;    /* Linux Image or ELF (required) */
    const char *initrd_path;    /* optional */
    const char *cmdline;        /* optional kernel command line */
    const char *firmware_path;  /* optional M-mode firmware (OpenSBI fw_dynamic.bin/elf);
                                   the kernel (or any S-mode image) becomes its payload */
    /* > 0: the file above already open there (read with pread; the machine leaves it open),
     * so that a confined run opens nothing when the guest reboots; 0: open the path */
    int kernel_fd, initrd_fd, firmware_fd;
    /* The guest's memory comes from a saved state loaded next (machine_load_files, a
     * resume): firmware, kernel and initrd are not read into it (they would be thrown
     * away: ~13 MB copied and faulted in for the default guest, per fork). Only the
     * device tree is built, as the devices need it. */
    bool memory_from_state;
    int console_in_fd;          /* -1: no console input */
    int console_out_fd;         /* where the console's output goes */
    enum machine_console console;
    bool console_escape;        /* Ctrl-A x on console input stops the machine;
                                   Ctrl-A Ctrl-A sends one Ctrl-A */

    /* virtio devices, at most MACHINE_MAX_VIRTIO in all. Disks take the slots first, in
     * order, so the first disk is /dev/vda in the guest. NVMe disks (at most
     * MACHINE_MAX_NVME) are instead the namespaces 1, 2... of one NVMe controller, PCIe
     * function 00:01.0 (/dev/nvme0n1, nvme0n2...); the PCIe host bridge is only there
     * when one is configured. */
    const struct machine_disk *disks;
    unsigned ndisks;
    bool rng;                   /* virtio-rng fed from getrandom(2) */
    bool balloon;               /* virtio-balloon (free page reporting, stats), in the
                                   last slot when one is left after every other device */
    /* network interfaces, in the slots after the disks: the first is eth0 */
    const struct machine_net *nets;
    unsigned nnets;
    /* virtio-vsock (hybrid, as Firecracker's): NULL for none, else the host Unix socket
     * that host programs connect to ("CONNECT <port>\n"); guest connections to host port
     * P reach "<vsock_path>_P". The guest's CID is vsock_cid (0: 3). */
    const char *vsock_path;
    uint32_t vsock_cid;
    /* shared directories, after every other device but the console */
    const struct machine_share *shares;
    unsigned nshares;
    /* a display: virtio-gpu (display_width x display_height offered first; 0: 1024 x 768)
     * with a virtio-input keyboard and tablet, after the console, before the balloon; and
     * a virtio-input relative mouse in MACHINE_VIRTIO_MOUSE_SLOT */
    bool display;
    uint32_t display_width, display_height;
};

enum machine_stop_reason {
    MACHINE_STOP_POWEROFF = 1,  /* guest powered off (SBI SRST or the test device) */
    MACHINE_STOP_REBOOT,        /* guest asked for a reboot */
    MACHINE_STOP_REQUESTED,     /* machine_request_stop() or the console escape */
    MACHINE_STOP_GUEST_ERROR,   /* a trap nothing in the guest could take */
    MACHINE_STOP_GUEST_PANIC,   /* the guest kernel panicked (it said so through pvpanic) */
};

struct machine;

/* Validates the configuration, loads kernel/initrd/firmware and builds the device tree.
 * On error fills err with one line naming the problem. */
int machine_create(const struct machine_config *cfg, struct machine **out,
                   struct cove_error *err);

/* Runs until the guest stops; *why says why. */
int machine_run(struct machine *m, enum machine_stop_reason *why, struct cove_error *err);

/* Asks a running machine to stop (thread-safe, async-signal-safe). */
void machine_request_stop(struct machine *m);

void machine_destroy(struct machine *m);

/* Pause and resume a running machine (thread-safe, from any thread but a vCPU's). Pausing
 * kicks every vCPU out of hv_vcpu_run() and holds it there until machine_resume() or a
 * stop; devices and the console keep running, guest time keeps passing. Idempotent. */
void machine_pause(struct machine *m);
void machine_resume(struct machine *m);
bool machine_paused(struct machine *m);

/* Asks the guest to power off cleanly. RISC-V virt has no ACPI power button, so this is
 * Linux's magic SysRq on the console: BREAK+'s' (sync), BREAK+'u' (remount read-only),
 * BREAK+'o' (power off) on the UART, or ^O+key on a virtio console (hvc0), with pauses
 * between them for the guest to act. It
 * blocks for about half a second; the machine then stops with MACHINE_STOP_POWEROFF if
 * the guest obeys (needs CONFIG_MAGIC_SYSRQ_SERIAL). A paused machine is resumed first. */
int machine_request_poweroff(struct machine *m);

/* Save and restore (machine_state.c; the format is docs/STATE-FORMAT.md). The state is
 * two files in dir: "machine" (vCPUs, HSM, PLIC, UART, RTC, every virtio transport and
 * device, guest time; sections with checksums) and "memory" (guest RAM, zero pages left
 * as holes).
 *
 * machine_save pauses a running machine, waits until no vCPU runs, holds every virtio
 * queue so that no device touches guest memory or its back end meanwhile, writes both
 * files (fsynced) and leaves the machine paused; the caller stops or resumes it. A
 * machine with a device that cannot be saved (virtio-fs) fails with -ENOTSUP before
 * anything is written. machine_can_save says so beforehand. The caller creates the two
 * files (empty, open to write; machine_save writes and fsyncs them and leaves them open):
 * a confined run (docs/SECURITY.md) has them made by a helper process, as it may open
 * nothing itself.
 *
 * machine_load restores into a machine just made by machine_create (not yet run) from
 * the same configuration: it checks that the configuration still matches (CPUs, memory,
 * devices) and every section before guest memory is replaced by a private mapping of
 * the memory file (pages are read when the guest touches them). On error the machine
 * must be destroyed; the files are never changed. Guest time continues from the save. */
int machine_can_save(struct machine *m, struct cove_error *err);
#define MACHINE_STATE_FILE "machine"
#define MACHINE_MEMORY_FILE "memory"
struct machine_save_files {
    int state_fd;   /* dir/machine */
    int memory_fd;  /* dir/memory */
    const char *dir; /* where they are, for messages */
};
int machine_save(struct machine *m, const struct machine_save_files *f, struct cove_error *err);
int machine_load(struct machine *m, const char *dir, struct cove_error *err);
/* machine_load from the two files open to read (a confined run's, opened by its helper):
 * both are consumed (the memory file is kept mapped, or closed; the state file closed). */
int machine_load_files(struct machine *m, const struct machine_save_files *f,
                       struct cove_error *err);

/* Snapshots of a running machine (machine_disks.c). With the machine paused: every
 * virtio disk's queue is held, each writable one of disks (the configuration's, in its
 * order; no NVMe) is flushed and closed, between(opaque) runs (the image files are free
 * to be linked and renamed: it also closes and opens again a disk's `open` attachment,
 * which the run holds), and each is opened again (machine_open_disk). A disk that cannot be
 * opened again leaves its device failed and the machine asked to stop (-EIO). */
int machine_swap_disks(struct machine *m, const struct machine_disk *disks, unsigned ndisks,
                       int (*between)(void *opaque, struct cove_error *err), void *opaque,
                       struct cove_error *err);

/* MMIO devices. A device claims [base, base+size) of guest-physical space; the vCPU
 * threads call its callbacks with the offset inside the window and the access length
 * (1, 2, 4 or 8), concurrently from several harts, so a device locks its own state.
 * A callback returns 0, or a negative errno to make the access fault in the guest.
 * Register before machine_run(); the window must not overlap DRAM or another device. */
struct machine_bus_ops {
    int (*read)(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
    int (*write)(void *opaque, uint64_t offset, unsigned len, uint64_t value);
};
int machine_bus_register(struct machine *m, uint64_t base, uint64_t size,
                         const struct machine_bus_ops *ops, void *opaque);

/* Guest DRAM, for devices that access guest memory (virtqueues); valid until
 * machine_destroy(). */
struct guest_ram;
const struct guest_ram *machine_guest_ram(struct machine *m);

/* The machine's virtio-balloon (devices/virtio/virtio_devices.h), NULL when it has none;
 * valid until machine_destroy(). */
struct virtio_balloon;
struct virtio_balloon *machine_balloon(struct machine *m);
/* The NAT (libslirp) of the machine's first network interface, or NULL when it has none:
 * for host forwards added while it runs (net_slirp_hostfwd). It lives as long as m. */
struct net_attachment *machine_nat(struct machine *m);

/* The display's devices (all NULL without one); valid until machine_destroy(). */
struct virtio_gpu;
struct virtio_input;
struct machine_display {
    struct virtio_gpu *gpu;
    struct virtio_input *keyboard, *tablet;
    struct virtio_input *mouse; /* NULL when no slot was left for it */
};
void machine_get_display(struct machine *m, struct machine_display *out);

/* Interrupt lines into the PLIC, level-triggered, callable from any thread. A line is a
 * stable pointer owned by the machine, shaped for callbacks such as virtio's set_irq:
 * machine_irq_line_set(machine_irq_line(m, 1 + slot), level). Sources 1..95; NULL for
 * others. */
struct machine_irq_line;
struct machine_irq_line *machine_irq_line(struct machine *m, unsigned source);
void machine_irq_line_set(void *line, bool level);

/* Puts a virtio-mmio transport in slot 0..MACHINE_VIRTIO_SLOTS-1 (at 0x1000_1000 + slot *
 * 0x1000, PLIC source virt_virtio_irq(slot): 1 + slot for QEMU virt's eight): registers the window on the bus and adds its
 * "virtio,mmio" node to the device tree. Before machine_run(). -EBUSY when the slot is
 * taken. */
int machine_add_virtio_mmio(struct machine *m, unsigned slot, const struct machine_bus_ops *ops,
                            void *opaque);

#endif
