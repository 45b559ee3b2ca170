/*
 * memmap.h — the guest-physical memory map and interrupt numbers of the "virt" board.
 *
 * Addresses follow QEMU's riscv virt machine so that firmware built for it (Debian's
 * OpenSBI generic platform, U-Boot qemu-riscv64_smode) runs unchanged.
 */
#ifndef COVE_MACHINE_MEMMAP_H
#define COVE_MACHINE_MEMMAP_H

#define VIRT_TEST_BASE 0x00100000ull  /* SiFive test device (poweroff/reboot) */
#define VIRT_TEST_SIZE 0x1000ull
#define VIRT_RTC_BASE 0x00101000ull   /* goldfish RTC */
#define VIRT_RTC_SIZE 0x1000ull
#define VIRT_PVPANIC_BASE 0x00102000ull /* pvpanic (qemu,pvpanic-mmio); free on QEMU virt */
#define VIRT_PVPANIC_SIZE 0x1000ull
#define VIRT_CLINT_BASE 0x02000000ull /* ACLINT (SiFive CLINT layout), lives inside hv */
#define VIRT_CLINT_SIZE 0x10000ull
#define VIRT_PLIC_BASE 0x0c000000ull
#define VIRT_PLIC_SIZE 0x600000ull
#define VIRT_UART_BASE 0x10000000ull  /* 16550 */
#define VIRT_UART_SIZE 0x100ull
#define VIRT_VIRTIO_BASE 0x10001000ull /* virtio-mmio slot n at BASE + n * SIZE, n below */
#define VIRT_VIRTIO_SIZE 0x1000ull     /* MACHINE_VIRTIO_SLOTS (machine.h): QEMU virt's eight,
                                          then slot 8 (0x10009000, free on QEMU virt) */
#define VIRT_PCIE_ECAM_BASE 0x30000000ull /* PCIe config space, buses 0..255 */
#define VIRT_PCIE_ECAM_SIZE 0x10000000ull
#define VIRT_PCIE_MMIO_BASE 0x40000000ull /* the 32-bit BAR window */
#define VIRT_PCIE_MMIO_SIZE 0x40000000ull
#define VIRT_DRAM_BASE 0x80000000ull

/* PLIC sources. */
#define VIRT_IRQ_VIRTIO_FIRST 1 /* virtio slot n < 8 uses source 1 + n */
#define VIRT_IRQ_UART 10
#define VIRT_IRQ_RTC 11
#define VIRT_IRQ_VIRTIO_EXTRA 12 /* virtio slot 8 (free on QEMU virt) */

/* The PLIC source of virtio-mmio slot n. */
static inline unsigned virt_virtio_irq(unsigned slot)
{
    return slot < 8 ? VIRT_IRQ_VIRTIO_FIRST + slot : VIRT_IRQ_VIRTIO_EXTRA + (slot - 8);
}
#define VIRT_IRQ_PCIE_FIRST 32 /* INTA..INTD of the PCIe host bridge: 32..35 */

#define VIRT_TIMEBASE_HZ 10000000ull
#define VIRT_UART_CLOCK_HZ 3686400u

/* Where boot images go inside DRAM. */
#define VIRT_KERNEL_OFFSET 0x200000ull /* 2 MiB: the RV64 Linux text_offset, and the
                                          payload address of OpenSBI fw_dynamic */
#define VIRT_FDT_SLOT_SIZE 0x10000ull  /* the DTB lives in the top 64 KiB of DRAM */
#define VIRT_FDT_MAX_SIZE 0xe000ull    /* leaves room for OpenSBI to grow it in place */

#endif
