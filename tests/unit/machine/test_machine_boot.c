/* Boot image loading on synthetic Image, ELF, raw and initrd files. */
#include "test.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine/boot.h"
#include "machine/memmap.h"

static char dir[] = "/tmp/cove-test-boot-XXXXXX";
static struct guest_ram ram;

static const char *path_of(const char *name)
{
    static char buf[4][128];
    static unsigned next;
    char *p = buf[next++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = path_of(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
    return path;
}

static void setup_ram(uint64_t size)
{
    if (ram.host)
        munmap(ram.host, ram.size);
    ram.host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ram.base = VIRT_DRAM_BASE;
    ram.size = size;
}

static uint64_t limit(void) { return guest_ram_end(&ram) - VIRT_FDT_SLOT_SIZE; }

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static const char *make_image(const char *name, uint64_t text_offset, uint64_t image_size, size_t file_size)
{
    uint8_t *img = calloc(1, file_size);
    put64(img + 8, text_offset);
    put64(img + 16, image_size);
    memcpy(img + 0x38, "RSC\x05", 4);
    img[64] = 0xab;
    img[file_size - 1] = 0xcd;
    const char *p = write_file(name, img, file_size);
    free(img);
    return p;
}

/* An ELF64 with one PT_LOAD of 16 bytes (+16 bss) at paddr, entry at paddr + 4. */
static const char *make_elf(const char *name, unsigned machine, unsigned char cls, uint64_t paddr,
                            uint64_t vaddr, size_t truncate_to)
{
    uint8_t buf[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 16] = {0};
    Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = cls;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = (uint16_t)machine;
    eh->e_version = EV_CURRENT;
    eh->e_entry = vaddr + 4;
    eh->e_phoff = sizeof *eh;
    eh->e_ehsize = sizeof *eh;
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 1;
    Elf64_Phdr ph = {.p_type = PT_LOAD, .p_flags = PF_R | PF_X,
                     .p_offset = sizeof *eh + sizeof ph, .p_vaddr = vaddr, .p_paddr = paddr,
                     .p_filesz = 16, .p_memsz = 32, .p_align = 4096};
    memcpy(buf + sizeof *eh, &ph, sizeof ph);
    memset(buf + sizeof *eh + sizeof ph, 0x5a, 16);
    return write_file(name, buf, truncate_to ? truncate_to : sizeof buf);
}

TEST(boot_linux_image)
{
    setup_ram(64ull << 20);
    const char *p = make_image("Image", 0x200000, 0x400000, 0x1000);
    struct boot_image bi;
    struct cove_error err = {0};
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == 0);
    CHECK_EQ_U64(bi.entry, 0x80200000);
    CHECK_EQ_U64(bi.start, 0x80200000);
    CHECK_EQ_U64(bi.end, 0x80600000); /* image_size covers the bss */
    CHECK_EQ_U64(ram.host[0x200000 + 64], 0xab);
    CHECK_EQ_U64(ram.host[0x200000 + 0xfff], 0xcd);
}

TEST(boot_image_too_big)
{
    setup_ram(16ull << 20);
    const char *p = make_image("Big", 0x200000, 20ull << 20, 0x1000);
    struct boot_image bi;
    struct cove_error err = {0};
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -EFBIG);
    CHECK(strstr(err.message, "does not fit in 16 MiB of memory; raise --memory") != NULL);
}

TEST(boot_riscv_elf)
{
    setup_ram(64ull << 20);
    const char *p = make_elf("k.elf", EM_RISCV, ELFCLASS64, 0x80400000, 0xffffffff80000000ull, 0);
    struct boot_image bi;
    struct cove_error err = {0};
    memset(ram.host + 0x400000, 0xee, 64);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == 0);
    CHECK_EQ_U64(bi.entry, 0x80400004); /* virtual entry translated through the segment */
    CHECK_EQ_U64(bi.start, 0x80400000);
    CHECK_EQ_U64(bi.end, 0x80400020);
    CHECK_EQ_U64(ram.host[0x400000], 0x5a);
    CHECK_EQ_U64(ram.host[0x400010], 0); /* bss zeroed */
    CHECK_EQ_U64(ram.host[0x400020], 0xee);
}

TEST(boot_rejects_foreign_and_broken_files)
{
    setup_ram(64ull << 20);
    struct boot_image bi;
    struct cove_error err = {0};
    const char *p = make_elf("x86.elf", EM_X86_64, ELFCLASS64, 0x80400000, 0x80400000, 0);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ENOEXEC);
    char want[256];
    snprintf(want, sizeof want, "kernel %s: not a RISC-V Linux Image or ELF (found: x86-64 ELF)", p);
    CHECK_STR(err.message, want);

    p = write_file("junk", "hello world, this is not a kernel", 33);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ENOEXEC);
    CHECK(strstr(err.message, "(found: unknown format)") != NULL);

    p = make_elf("trunc.elf", EM_RISCV, ELFCLASS64, 0x80400000, 0x80400000, sizeof(Elf64_Ehdr) + 8);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ENOEXEC);
    CHECK(strstr(err.message, "truncated") != NULL);

    p = make_elf("rv32.elf", EM_RISCV, ELFCLASS32, 0x80400000, 0x80400000, 0);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ENOEXEC);
    CHECK(strstr(err.message, "32-bit RISC-V ELF") != NULL);

    p = make_elf("low.elf", EM_RISCV, ELFCLASS64, 0x90000000, 0x90000000, 0);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ERANGE);
    CHECK(strstr(err.message, "outside the usable memory") != NULL);

    uint8_t hdr[40] = {0};
    memcpy(hdr + 0x38 - 0x38, "RSC", 3);
    p = write_file("short", hdr, sizeof hdr); /* shorter than an Image header */
    CHECK(boot_load_kernel(&ram, p, -1, limit(), false, &bi, &err) == -ENOEXEC);

    CHECK(boot_load_kernel(&ram, path_of("missing"), -1, limit(), false, &bi, &err) == -ENOENT);
    snprintf(want, sizeof want, "kernel %s: No such file or directory", path_of("missing"));
    CHECK_STR(err.message, want);
    CHECK(boot_load_kernel(&ram, dir, -1, limit(), false, &bi, &err) == -EISDIR);

    /* A device: the message names that, not whatever errno an earlier call left. */
    errno = ENOENT;
    CHECK(boot_load_kernel(&ram, "/dev/zero", -1, limit(), false, &bi, &err) == -EINVAL);
    CHECK_STR(err.message, "kernel /dev/zero: not a regular file");
}

TEST(boot_raw_payload_and_firmware)
{
    setup_ram(64ull << 20);
    struct boot_image bi;
    struct cove_error err = {0};
    const char *p = write_file("u-boot.bin", "\x13\x00\x00\x00raw payload", 15);
    CHECK(boot_load_kernel(&ram, p, -1, limit(), true, &bi, &err) == 0);
    CHECK_EQ_U64(bi.entry, 0x80200000);
    CHECK_EQ_U64(ram.host[0x200004], 'r');
    CHECK(boot_load_firmware(&ram, p, -1, limit(), &bi, &err) == 0);
    CHECK_EQ_U64(bi.entry, 0x80000000);
    CHECK_EQ_U64(bi.end, 0x8000000f);
    CHECK(boot_write_fw_dynamic_info(&ram, 0x80001000, 0x80200000, 0) == 0);
    uint64_t info[6];
    memcpy(info, ram.host + 0x1000, sizeof info);
    CHECK_EQ_U64(info[0], 0x4942534f);
    CHECK_EQ_U64(info[1], 2);
    CHECK_EQ_U64(info[2], 0x80200000);
    CHECK_EQ_U64(info[3], 1);
    CHECK_EQ_U64(info[5], 0);
    CHECK(boot_write_fw_dynamic_info(&ram, guest_ram_end(&ram) - 8, 0, 0) == -ERANGE);
}

TEST(boot_initrd_placement)
{
    setup_ram(256ull << 20);
    struct cove_error err = {0};
    const char *p = write_file("initrd", "0707010000", 10);
    uint64_t s = 0, e = 0;
    CHECK(boot_load_initrd(&ram, p, -1, 0x80600000, limit(), &s, &e, &err) == 0);
    CHECK_EQ_U64(s % 4096, 0);
    CHECK(s >= 0x80600000 && e <= limit());
    CHECK_EQ_U64(e - s, 10);
    CHECK(limit() - e < 4096 + 10); /* as high as it goes */
    CHECK(memcmp(ram.host + (s - ram.base), "0707010000", 10) == 0);

    /* A sparse 300 MiB file: no data written, only its size matters. */
    const char *big = path_of("big-initrd");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, 300ll << 20) == 0);
    close(fd);
    CHECK(boot_load_initrd(&ram, big, -1, 0x80600000, limit(), &s, &e, &err) == -EFBIG);
    char want[256];
    snprintf(want, sizeof want, "initrd %s (300 MiB) does not fit in 256 MiB of memory; raise --memory", big);
    CHECK_STR(err.message, want);
    /* Fits in memory but not above the kernel. */
    CHECK(boot_load_initrd(&ram, p, -1, limit() - 4, limit(), &s, &e, &err) == -EFBIG);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(boot_linux_image);
    RUN(boot_image_too_big);
    RUN(boot_riscv_elf);
    RUN(boot_rejects_foreign_and_broken_files);
    RUN(boot_raw_payload_and_firmware);
    RUN(boot_initrd_placement);
    const char *names[] = {"Image", "Big", "k.elf", "x86.elf", "junk", "trunc.elf", "rv32.elf",
                           "low.elf", "short", "u-boot.bin", "initrd", "big-initrd"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
    return test_summary();
}
