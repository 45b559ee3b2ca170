#include "machine/boot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/memmap.h"

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

#define IMAGE_HEADER_SIZE 64
#define IMAGE_MAGIC2_OFFSET 0x38
#define ELF_MAX_PHDRS 64
#define PROBE_SIZE 1024

/* An opened boot file: what the messages call it, its path and size. */
struct boot_file {
    const char *what;
    const char *path;
    int fd;
    uint64_t size;
    uint8_t head[PROBE_SIZE]; /* first bytes, zero-padded */
};

void boot_format_size(uint64_t bytes, char *buf, unsigned len)
{
    if (bytes >= (1ull << 20))
        snprintf(buf, len, "%" PRIu64 " MiB", (uint64_t)((bytes + (1ull << 20) - 1) >> 20));
    else
        snprintf(buf, len, "%" PRIu64 " KiB", (bytes + 1023) >> 10);
}

static int too_big(const struct boot_file *f, const struct guest_ram *ram, struct cove_error *err)
{
    char have[32], need[32];
    boot_format_size(f->size, need, sizeof need);
    boot_format_size(ram->size, have, sizeof have);
    return cove_error_set(err, -EFBIG, "%s %s (%s) does not fit in %s of memory; raise --memory",
                          f->what, f->path, need, have);
}

static int read_at(struct boot_file *f, void *dst, uint64_t len, uint64_t off, struct cove_error *err)
{
    uint8_t *p = dst;
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n = pread(f->fd, p, chunk, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cove_error_set(err, -errno, "%s %s: %s", f->what, f->path, strerror(errno));
        if (n == 0)
            return cove_error_set(err, -EIO, "%s %s: file shrank while loading", f->what, f->path);
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* fd >= 0: path is already open there (read with pread, left open): a run under its
 * system-call filter opens nothing when the guest reboots. */
static int open_file(struct boot_file *f, const char *what, const char *path, int fd,
                     struct cove_error *err)
{
    memset(f, 0, sizeof *f);
    f->what = what;
    f->path = path;
    f->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return cove_error_set(err, -errno, "%s %s: %s", what, path, strerror(errno));
    struct stat st;
    int e = fstat(f->fd, &st) < 0 ? errno
            : S_ISDIR(st.st_mode) ? EISDIR
            : !S_ISREG(st.st_mode) ? EINVAL /* a device such as /dev/zero, a FIFO */
            : 0;
    if (e) {
        close(f->fd);
        return cove_error_set(err, -e, "%s %s: %s", what, path,
                              e == EINVAL ? "not a regular file" : strerror(e));
    }
    f->size = (uint64_t)st.st_size;
    uint64_t probe = f->size < PROBE_SIZE ? f->size : PROBE_SIZE;
    int rc = read_at(f, f->head, probe, 0, err);
    if (rc < 0)
        close(f->fd);
    return rc;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static bool is_riscv_image(const struct boot_file *f)
{
    return f->size >= IMAGE_HEADER_SIZE && memcmp(f->head + IMAGE_MAGIC2_OFFSET, "RSC\x05", 4) == 0;
}

static bool is_elf(const struct boot_file *f)
{
    return f->size >= EI_NIDENT && memcmp(f->head, ELFMAG, SELFMAG) == 0;
}

/* An ELF this machine can load: 64-bit, little-endian, RISC-V. */
static bool is_riscv_elf(const struct boot_file *f)
{
    return is_elf(f) && f->size >= sizeof(Elf64_Ehdr) && f->head[EI_CLASS] == ELFCLASS64 &&
           f->head[EI_DATA] == ELFDATA2LSB && (f->head[18] | f->head[19] << 8) == EM_RISCV;
}

static const char *elf_machine_name(unsigned machine)
{
    switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "x86";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_RISCV: return "RISC-V";
    case EM_PPC64: return "PowerPC64";
    case EM_MIPS: return "MIPS";
    case EM_S390: return "s390";
    default: return NULL;
    }
}

/* What a file we cannot boot looks like, for the error message. */
static void describe_format(const struct boot_file *f, char *buf, size_t len)
{
    if (is_elf(f)) {
        unsigned machine = f->size >= sizeof(Elf64_Ehdr) || f->size >= 20
                               ? (unsigned)(f->head[18] | f->head[19] << 8) : 0;
        const char *name = elf_machine_name(machine);
        const char *cls = f->head[EI_CLASS] == ELFCLASS32 ? "32-bit " : "";
        if (name)
            snprintf(buf, len, "%s%s ELF", cls, name);
        else
            snprintf(buf, len, "%sELF for machine %u", cls, machine);
    } else if (f->size >= 0x3c && memcmp(f->head + 0x38, "ARM\x64", 4) == 0) {
        snprintf(buf, len, "arm64 Linux Image");
    } else if (f->size >= 0x206 && memcmp(f->head + 0x202, "HdrS", 4) == 0) {
        snprintf(buf, len, "x86 bzImage");
    } else if (f->size >= 2 && f->head[0] == 0x1f && f->head[1] == 0x8b) {
        snprintf(buf, len, "gzip data; decompress it first");
    } else if (f->size == 0) {
        snprintf(buf, len, "empty file");
    } else {
        snprintf(buf, len, "unknown format");
    }
}

static int not_bootable(const struct boot_file *f, struct cove_error *err)
{
    char found[64];
    describe_format(f, found, sizeof found);
    return cove_error_set(err, -ENOEXEC, "%s %s: not a RISC-V Linux Image or ELF (found: %s)",
                          f->what, f->path, found);
}

/* Copies [off, off+filesz) of the file to gpa and zeroes up to memsz. */
static int place(struct boot_file *f, const struct guest_ram *ram, uint64_t limit, uint64_t gpa,
                 uint64_t off, uint64_t filesz, uint64_t memsz, struct cove_error *err)
{
    if (filesz > memsz || off > f->size || filesz > f->size - off)
        return cove_error_set(err, -ENOEXEC, "%s %s: truncated (a segment lies past the end of the file)",
                              f->what, f->path);
    if (gpa + memsz < gpa || !guest_ram_contains(ram, gpa, memsz) || gpa + memsz > limit) {
        if (memsz > ram->size)
            return too_big(f, ram, err);
        return cove_error_set(err, -ERANGE,
                              "%s %s: needs [0x%" PRIx64 ", 0x%" PRIx64 ") which is outside the "
                              "usable memory [0x%" PRIx64 ", 0x%" PRIx64 "); raise --memory",
                              f->what, f->path, gpa, gpa + memsz, ram->base, limit);
    }
    uint8_t *dst = guest_ram_ptr(ram, gpa, memsz);
    int rc = read_at(f, dst, filesz, off, err);
    if (rc < 0)
        return rc;
    memset(dst + filesz, 0, memsz - filesz);
    return 0;
}

static int load_linux_image(struct boot_file *f, const struct guest_ram *ram, uint64_t limit,
                            struct boot_image *out, struct cove_error *err)
{
    uint64_t text_offset = le64(f->head + 8);
    uint64_t image_size = le64(f->head + 16);
    if (text_offset == 0)
        text_offset = VIRT_KERNEL_OFFSET;
    if (text_offset % 4096 || text_offset >= ram->size)
        return cove_error_set(err, -ENOEXEC, "%s %s: bad text_offset 0x%" PRIx64 " in the Image header",
                              f->what, f->path, text_offset);
    uint64_t memsz = image_size > f->size ? image_size : f->size;
    if (memsz > ram->size || text_offset + memsz > limit - ram->base)
        return too_big(f, ram, err);
    uint64_t gpa = ram->base + text_offset;
    int rc = place(f, ram, limit, gpa, 0, f->size, memsz, err);
    if (rc < 0)
        return rc;
    *out = (struct boot_image){.entry = gpa, .start = gpa, .end = gpa + memsz};
    return 0;
}

/* vmlinux files link their physical addresses at 0 (the kernel is position independent
 * in physical memory); like QEMU, fold such addresses into DRAM. */
static uint64_t elf_phys(const struct guest_ram *ram, uint64_t paddr)
{
    if (paddr < ram->base && paddr < 0x80000000ull)
        return paddr | ram->base;
    return paddr;
}

static int load_elf(struct boot_file *f, const struct guest_ram *ram, uint64_t limit,
                    struct boot_image *out, struct cove_error *err)
{
    Elf64_Ehdr eh;
    if (!is_riscv_elf(f))
        return not_bootable(f, err);
    memcpy(&eh, f->head, sizeof eh);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS ||
        eh.e_phoff > f->size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > f->size - eh.e_phoff)
        return cove_error_set(err, -ENOEXEC, "%s %s: truncated or malformed ELF program headers",
                              f->what, f->path);
    Elf64_Phdr ph[ELF_MAX_PHDRS];
    int rc = read_at(f, ph, (uint64_t)eh.e_phnum * sizeof ph[0], eh.e_phoff, err);
    if (rc < 0)
        return rc;
    uint64_t lo = UINT64_MAX, hi = 0, entry = 0;
    bool entry_found = false;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        uint64_t gpa = elf_phys(ram, ph[i].p_paddr);
        rc = place(f, ram, limit, gpa, ph[i].p_offset, ph[i].p_filesz, ph[i].p_memsz, err);
        if (rc < 0)
            return rc;
        lo = gpa < lo ? gpa : lo;
        hi = gpa + ph[i].p_memsz > hi ? gpa + ph[i].p_memsz : hi;
        if (eh.e_entry >= ph[i].p_vaddr && eh.e_entry - ph[i].p_vaddr < ph[i].p_memsz) {
            entry = gpa + (eh.e_entry - ph[i].p_vaddr);
            entry_found = true;
        }
    }
    if (hi == 0)
        return cove_error_set(err, -ENOEXEC, "%s %s: ELF has no loadable segment", f->what, f->path);
    if (!entry_found)
        return cove_error_set(err, -ENOEXEC, "%s %s: ELF entry point 0x%" PRIx64 " is in no segment",
                              f->what, f->path, (uint64_t)eh.e_entry);
    *out = (struct boot_image){.entry = entry, .start = lo, .end = hi};
    return 0;
}

static int load_raw(struct boot_file *f, const struct guest_ram *ram, uint64_t limit, uint64_t gpa,
                    struct boot_image *out, struct cove_error *err)
{
    if (f->size == 0)
        return not_bootable(f, err);
    if (f->size > ram->size || gpa - ram->base + f->size > limit - ram->base)
        return too_big(f, ram, err);
    int rc = place(f, ram, limit, gpa, 0, f->size, f->size, err);
    if (rc < 0)
        return rc;
    *out = (struct boot_image){.entry = gpa, .start = gpa, .end = gpa + f->size};
    return 0;
}

int boot_load_kernel(const struct guest_ram *ram, const char *path, int fd, uint64_t limit,
                     bool allow_raw, struct boot_image *out, struct cove_error *err)
{
    struct boot_file f;
    int rc = open_file(&f, "kernel", path, fd, err);
    if (rc < 0)
        return rc;
    if (is_riscv_image(&f))
        rc = load_linux_image(&f, ram, limit, out, err);
    else if (is_elf(&f) && (!allow_raw || f.head[EI_CLASS] == ELFCLASS64))
        rc = load_elf(&f, ram, limit, out, err);
    else if (allow_raw)
        rc = load_raw(&f, ram, limit, ram->base + VIRT_KERNEL_OFFSET, out, err);
    else
        rc = not_bootable(&f, err);
    close(f.fd);
    return rc;
}

int boot_check_kernel(const char *path, struct cove_error *err)
{
    struct boot_file f;
    int rc = open_file(&f, "kernel", path, -1, err);
    if (rc < 0)
        return rc;
    if (!is_riscv_image(&f) && !is_riscv_elf(&f))
        rc = not_bootable(&f, err);
    close(f.fd);
    return rc;
}

int boot_check_file(const char *what, const char *path, struct cove_error *err)
{
    struct boot_file f;
    int rc = open_file(&f, what, path, -1, err);
    if (rc == 0)
        close(f.fd);
    return rc;
}

int boot_load_firmware(const struct guest_ram *ram, const char *path, int fd, uint64_t limit,
                       struct boot_image *out, struct cove_error *err)
{
    struct boot_file f;
    int rc = open_file(&f, "firmware", path, fd, err);
    if (rc < 0)
        return rc;
    if (is_elf(&f))
        rc = load_elf(&f, ram, limit, out, err);
    else
        rc = load_raw(&f, ram, limit, ram->base, out, err);
    close(f.fd);
    return rc;
}

int boot_load_initrd(const struct guest_ram *ram, const char *path, int fd, uint64_t low,
                     uint64_t high, uint64_t *start, uint64_t *end, struct cove_error *err)
{
    struct boot_file f;
    int rc = open_file(&f, "initrd", path, fd, err);
    if (rc < 0)
        return rc;
    low = (low + 4095) & ~4095ull;
    if (high < low || f.size > high - low) {
        rc = too_big(&f, ram, err);
    } else {
        uint64_t gpa = (high - f.size) & ~4095ull;
        rc = place(&f, ram, high, gpa, 0, f.size, f.size, err);
        if (rc == 0) {
            *start = gpa;
            *end = gpa + f.size;
        }
    }
    close(f.fd);
    return rc;
}

int boot_write_fw_dynamic_info(const struct guest_ram *ram, uint64_t gpa, uint64_t next_addr,
                               unsigned boot_hart)
{
    uint64_t info[6] = {FW_DYNAMIC_INFO_MAGIC, FW_DYNAMIC_INFO_VERSION, next_addr,
                        FW_DYNAMIC_INFO_NEXT_MODE_S, 0, boot_hart};
    uint8_t *p = guest_ram_ptr(ram, gpa, sizeof info);
    if (!p)
        return -ERANGE;
    for (unsigned i = 0; i < 6; i++)
        for (unsigned b = 0; b < 8; b++)
            p[i * 8 + b] = (uint8_t)(info[i] >> (8 * b));
    return 0;
}
