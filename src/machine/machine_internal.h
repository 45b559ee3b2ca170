/*
 * machine_internal.h — the machine object as the machine box's files share it.
 *
 * Ownership: machine.c creates and destroys everything here; devices and sbi.c only use
 * it. Threads: one per hart (machine.c's vCPU loop, which calls bus_dispatch() and
 * sbi_handle()) and the console I/O thread. Per-hart HSM state is guarded by hsm_lock;
 * the stop reason is an atomic that the first stopper wins.
 */
#ifndef COVE_MACHINE_INTERNAL_H
#define COVE_MACHINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "machine/bus.h"
#include "machine/fdt.h"
#include "util/guest_ram.h"
#include "machine/memmap.h"
#include "machine/machine.h"
#include "machine/plic.h"
#include "machine/rtc.h"
#include "machine/sifive_test.h"

struct plic;
struct iothread;
struct nvme_ctrl;
struct pcie_host;
struct virtio_mmio;
struct uart;

struct machine_irq_line {
    struct machine *m;
    unsigned source;
};

/* SBI HSM states (SBI spec v2.0, chapter 9). */
enum hart_state {
    HART_STARTED = 0,
    HART_STOPPED = 1,
    HART_START_PENDING = 2,
    HART_STOP_PENDING = 3,
    HART_SUSPENDED = 4,
};

struct hart {
    struct machine *m;
    unsigned id;
    hv_vcpu *vcpu;
    pthread_t thread;
    bool thread_started;
    enum hart_state state;          /* under m->hsm_lock */
    bool parked;                    /* under m->hsm_lock: the thread waits outside the
                                       vCPU with no exit left to complete (pause) */
    uint64_t start_addr, start_arg; /* for HART_START_PENDING */
};

struct machine {
    unsigned ncpus;
    bool firmware_mode;
    hv_vm *vm;
    struct guest_ram ram;
    int ram_fd;                 /* the memfd behind ram (shared with vhost-user daemons) */
    int ram_file_fd;            /* restored: the saved memory file ram maps MAP_PRIVATE
                                   (it no longer is the memfd); else -1 */
    struct mmio_bus bus;
    struct plic *plic;
    struct uart *uart;
    struct goldfish_rtc rtc;
    struct sifive_test test;
    struct hart harts[MACHINE_MAX_CPUS];

    struct machine_irq_line irq_lines[PLIC_NDEV + 1];

    /* virtio devices (virtio_slots.c) and the I/O thread their back ends run on. */
    struct iothread *io;
    struct virtio_mmio *virtio[MACHINE_VIRTIO_SLOTS];
    struct virtio_balloon *balloon; /* inside one of virtio[], or NULL */
    struct net_attachment *nat;     /* the first NAT interface's back end, or NULL */
    struct machine_display display;   /* inside virtio[], or NULLs */
    /* PCIe (pci_slots.c): the host bridge, NULL without PCI devices, and the NVMe
     * controller on it (every NVMe disk a namespace), NULL without NVMe disks. */
    struct pcie_host *pcie;
    struct nvme_ctrl *nvme;
    struct board_fdt_params fdt_params; /* kept to rewrite the DTB when devices come */
    char *bootargs;

    uint64_t boot_entry;   /* kernel (direct) or firmware entry */
    uint64_t fdt_addr;
    uint64_t fw_info_addr; /* firmware mode: &fw_dynamic_info */

    pthread_mutex_t hsm_lock;
    pthread_cond_t hsm_cond;

    atomic_int stop_reason; /* 0 while running, else enum machine_stop_reason */
    atomic_bool paused;     /* machine_pause(): harts wait in run_hart() */
    atomic_bool running;
    unsigned guest_fail_code;

    /* Console: input fd, escape handling, the I/O thread and its wake-up eventfd. With a
     * virtio console, input goes through the pipe vcon_pipe (read end: the device's
     * input, write end: the console thread and machine_request_poweroff). */
    int console_in_fd;
    bool console_virtio;
    int vcon_pipe[2];
    bool console_escape;
    bool escape_armed;
    int wake_fd;
    pthread_t io_thread;
    bool io_started;
};

/* Stops the machine: records why (the first reason wins), kicks every hart out of
 * hv_vcpu_run and wakes stopped harts and the I/O thread. Async-signal-safe. */
void machine_stop(struct machine *m, enum machine_stop_reason why);
bool machine_stopping(struct machine *m);

/* Pauses the machine and waits until every hart thread is parked: no vCPU runs and none
 * has an exit waiting for its completion, so vCPU state can be read (machine_state.c).
 * -ETIMEDOUT if a hart does not park within a few seconds. */
int machine_pause_parked(struct machine *m);

/* Wakes harts waiting in HSM STOPPED (after a state change). Not signal-safe. */
void machine_hsm_notify(struct machine *m);

/* virtio_slots.c: creates the configured virtio devices in their slots / frees them once
 * no vCPU runs. */
int machine_add_virtio_devices(struct machine *m, const struct machine_config *cfg,
                               struct cove_error *err);
void machine_remove_virtio_devices(struct machine *m);

/* machine.c: a configured disk's attachment, opened (block_open) or, when the run holds it
 * open (machine_disk.open), borrowed; either way the device closes what it gets. */
struct block_attachment;
int machine_open_disk(const struct machine_disk *d, struct block_attachment **out,
                      struct cove_error *err);

/* pci_slots.c: the PCIe host bridge and the NVMe disks, after the virtio devices (it uses
 * their I/O thread, or starts it) / frees them before the I/O thread goes. */
int machine_add_pci_devices(struct machine *m, const struct machine_config *cfg,
                            struct cove_error *err);
void machine_remove_pci_devices(struct machine *m);

/* Writes the device tree again from fdt_params (devices added). */
int machine_rewrite_fdt(struct machine *m);

#endif
