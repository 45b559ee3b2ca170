/*
 * boot.h — loading boot images into guest DRAM.
 *
 * Kernels are RISC-V Linux Images (64-byte header, magic "RSC\x05" at 0x38, loaded at
 * DRAM + text_offset, normally 0x8020_0000) or ELF64 EM_RISCV files (PT_LOAD segments
 * at their physical addresses); a payload for M-mode firmware may also be a raw binary
 * (U-Boot's u-boot.bin), loaded at 0x8020_0000. Firmware (OpenSBI fw_dynamic) is raw at
 * DRAM start, or an ELF. The initrd goes near the top of DRAM, below the 64 KiB slot at
 * the very top that holds the DTB (and fw_dynamic_info). Every image is checked against
 * DRAM and against the others; errors are one line naming the file and the problem.
 */
#ifndef COVE_MACHINE_BOOT_H
#define COVE_MACHINE_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/error.h>

#include "util/guest_ram.h"

struct boot_image {
    uint64_t entry;
    uint64_t start, end; /* guest-physical range the image occupies (bss included) */
};

/* what names the file in messages: "kernel", "firmware". Images must end below limit
 * (the DTB slot). allow_raw accepts a file that is neither Image nor ELF as a raw
 * binary at DRAM + 2 MiB. fd >= 0: the file is already open there (it stays open); -1:
 * open path. */
int boot_load_kernel(const struct guest_ram *ram, const char *path, int fd, uint64_t limit,
                     bool allow_raw, struct boot_image *out, struct cove_error *err);
int boot_load_firmware(const struct guest_ram *ram, const char *path, int fd, uint64_t limit,
                       struct boot_image *out, struct cove_error *err);

/* Before any boot (cove create): whether boot_load_kernel without firmware would take
 * path's format (a RISC-V Linux Image or RISC-V ELF64), with the message a boot that
 * refuses it prints. Fits in memory is the boot's to check. */
int boot_check_kernel(const char *path, struct cove_error *err);
/* That a boot file (what: "initrd", "firmware") is a regular file we can read; the
 * loaders' message otherwise. */
int boot_check_file(const char *what, const char *path, struct cove_error *err);

/* Places the initrd as high as possible in [low, high), page aligned. */
int boot_load_initrd(const struct guest_ram *ram, const char *path, int fd, uint64_t low,
                     uint64_t high, uint64_t *start, uint64_t *end, struct cove_error *err);

/* OpenSBI's struct fw_dynamic_info (version 2), written at gpa. */
#define FW_DYNAMIC_INFO_MAGIC 0x4942534full
#define FW_DYNAMIC_INFO_VERSION 2
#define FW_DYNAMIC_INFO_NEXT_MODE_S 1
#define FW_DYNAMIC_INFO_SIZE 48
int boot_write_fw_dynamic_info(const struct guest_ram *ram, uint64_t gpa, uint64_t next_addr,
                               unsigned boot_hart);

/* "300 MiB" / "12 KiB" for messages. */
void boot_format_size(uint64_t bytes, char *buf, unsigned len);

#endif
