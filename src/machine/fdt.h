/*
 * fdt.h — the board's device tree, generated from the configuration with libfdt's
 * sequential-write API. The result describes exactly the devices machine.c creates,
 * at the addresses of memmap.h, in the shape QEMU's virt board uses (which is what
 * OpenSBI's generic platform and Linux look for).
 */
#ifndef COVE_MACHINE_FDT_H
#define COVE_MACHINE_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOARD_RNG_SEED_SIZE 32
#define MACHINE_FDT_MAX_CPUS 32

struct board_fdt_params {
    unsigned cpus;
    uint64_t mem_base, mem_size;
    const char *bootargs;          /* NULL: no bootargs property */
    uint64_t initrd_start, initrd_end; /* both 0: no initrd */
    uint8_t rng_seed[BOARD_RNG_SEED_SIZE];
    bool sstc;                     /* the harts implement stimecmp (Sstc) */
    uint32_t virtio_slots;         /* bit n: a virtio-mmio device sits in slot n */
    bool pcie;                     /* the PCIe host bridge (memmap.h's ECAM and window) */
};

/* Writes the DTB into buf. Returns its size, or -ENOSPC / -EINVAL. */
int board_fdt_build(const struct board_fdt_params *p, void *buf, size_t bufsize);

#endif
