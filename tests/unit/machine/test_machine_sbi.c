/* SBI, HSM, machine creation and the run loop, against the scripted hv stub. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "hv_stub.h"
#include "machine/console.h"
#include "machine/machine_internal.h"
#include "machine/memmap.h"
#include "machine/plic.h"
#include "machine/sbi.h"
#include "machine/uart.h"

static char kernel_path[] = "/tmp/cove-test-sbi-XXXXXX";
static int out_pipe[2];

static void make_kernel(void)
{
    int fd = mkstemp(kernel_path);
    uint8_t img[4096] = {0};
    img[8 + 2] = 0x20; /* text_offset 0x200000 */
    img[16 + 2] = 0x40; /* image_size 0x400000 */
    memcpy(img + 0x38, "RSC\x05", 4);
    if (fd < 0 || write(fd, img, sizeof img) != (ssize_t)sizeof img)
        perror("kernel");
    close(fd);
}

static struct machine *make_machine(unsigned cpus)
{
    struct machine_config cfg = {
        .cpus = cpus, .memory_bytes = 64ull << 20, .kernel_path = kernel_path,
        .cmdline = "console=ttyS0", .console_in_fd = -1, .console_out_fd = out_pipe[1],
        .console_escape = true,
    };
    struct machine *m = NULL;
    struct cove_error err = {0};
    int rc = machine_create(&cfg, &m, &err);
    CHECK(rc == 0);
    if (rc)
        printf("  machine_create: %s\n", err.message);
    return m;
}

static struct hv_exit call(struct machine *m, unsigned hart, uint64_t ext, uint64_t func,
                           uint64_t a0, uint64_t a1, uint64_t a2, enum sbi_next *next)
{
    struct hv_exit e = {.reason = HV_EXIT_SBI};
    e.sbi.ext = ext;
    e.sbi.func = func;
    e.sbi.args[0] = a0;
    e.sbi.args[1] = a1;
    e.sbi.args[2] = a2;
    enum sbi_next n = sbi_handle(m, &m->harts[hart], &e);
    if (next)
        *next = n;
    return e;
}

#define ERR(e) ((int64_t)(e).sbi.ret[0])
#define VAL(e) ((e).sbi.ret[1])

static void drain_output(char *buf, size_t len)
{
    memset(buf, 0, len);
    ssize_t n = read(out_pipe[0], buf, len - 1);
    if (n < 0)
        buf[0] = 0;
}

TEST(create_validates_config)
{
    struct machine_config cfg = {.cpus = 0, .memory_bytes = 64ull << 20,
                                 .kernel_path = kernel_path, .console_in_fd = -1,
                                 .console_out_fd = -1};
    struct machine *m = NULL;
    struct cove_error err = {0};
    CHECK(machine_create(&cfg, &m, &err) == -EINVAL);
    CHECK_STR(err.message, "cpus 0 is out of range; use 1 to 32");
    cfg.cpus = 33;
    CHECK(machine_create(&cfg, &m, &err) == -EINVAL);
    cfg.cpus = 1;
    cfg.memory_bytes = 8ull << 20;
    CHECK(machine_create(&cfg, &m, &err) == -EINVAL);
    CHECK(strstr(err.message, "out of range") != NULL);
    cfg.memory_bytes = (64ull << 20) + 4096;
    CHECK(machine_create(&cfg, &m, &err) == -EINVAL);
    CHECK(strstr(err.message, "multiple of 1 MiB") != NULL);
    cfg.memory_bytes = 65ull << 30;
    CHECK(machine_create(&cfg, &m, &err) == -EINVAL);
    cfg.memory_bytes = 64ull << 20;
    cfg.kernel_path = "/nonexistent/Image";
    CHECK(machine_create(&cfg, &m, &err) == -ENOENT);
    CHECK_STR(err.message, "kernel /nonexistent/Image: No such file or directory");
    cfg.kernel_path = kernel_path;
    cfg.initrd_path = "/nonexistent/initrd";
    CHECK(machine_create(&cfg, &m, &err) == -ENOENT);
    CHECK(m == NULL);
}

static bool same_file(int fd, const struct stat *want)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
}

/* machine_destroy() after a create that failed early (here: no fd left for the virtio
 * console's pipe) must not close fds it never opened, such as the caller's stdin. */
TEST(failed_create_leaves_stdio_open)
{
    if (fcntl(0, F_GETFD) < 0)
        REQUIRE(open("/dev/null", O_RDONLY) == 0);
    struct stat in;
    REQUIRE(fstat(0, &in) == 0);
    int lowest = dup(0); /* the next fd the process would get */
    REQUIRE(lowest >= 0);
    close(lowest);
    struct rlimit old, tight;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    tight = old;
    tight.rlim_cur = (rlim_t)lowest; /* no fd can be made */
    REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
    struct machine_config cfg = {.cpus = 1, .memory_bytes = 64ull << 20,
                                 .kernel_path = kernel_path, .console_in_fd = -1,
                                 .console_out_fd = -1, .console = MACHINE_CONSOLE_VIRTIO};
    struct machine *m = NULL;
    struct cove_error err = {0};
    int rc = machine_create(&cfg, &m, &err);
    setrlimit(RLIMIT_NOFILE, &old);
    CHECK(rc == -EMFILE);
    CHECK(strstr(err.message, "console pipe") != NULL);
    CHECK(same_file(0, &in));

    /* And a machine that was made and destroyed leaves fds 0-2 as they were. */
    struct stat std[3];
    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &std[fd]) < 0)
            std[fd].st_ino = 0;
    cfg.console_out_fd = out_pipe[1];
    REQUIRE(machine_create(&cfg, &m, &err) == 0);
    machine_destroy(m);
    for (int fd = 0; fd < 3; fd++)
        CHECK(!std[fd].st_ino || same_file(fd, &std[fd]));
}

/* Guest RAM is a shared memfd: what the guest stores is what another process mapping the
 * fd (a vhost-user daemon) reads, and the file cannot be shrunk under the guest. */
TEST(guest_ram_is_a_shared_memfd)
{
    struct machine *m = make_machine(1);
    REQUIRE(m);
    REQUIRE(m->ram_fd >= 0);
    struct stat st;
    CHECK(fstat(m->ram_fd, &st) == 0 && (uint64_t)st.st_size == m->ram.size);
    memcpy(m->ram.host + 4096, "shared!", 8);
    char buf[8] = {0};
    CHECK(pread(m->ram_fd, buf, 8, 4096) == 8 && memcmp(buf, "shared!", 8) == 0);
    CHECK(pwrite(m->ram_fd, "fromfd", 7, 8192) == 7 && memcmp(m->ram.host + 8192, "fromfd", 7) == 0);
    CHECK(ftruncate(m->ram_fd, 4096) < 0 && errno == EPERM);
    CHECK((fcntl(m->ram_fd, F_GETFD) & FD_CLOEXEC) != 0);
    machine_destroy(m);
}

TEST(direct_boot_registers)
{
    struct machine *m = make_machine(2);
    if (!m)
        return;
    hv_vcpu *v0 = stub_vcpu(0), *v1 = stub_vcpu(1);
    CHECK_EQ_U64(v0->regs[HV_REG_PC], 0x80200000);
    CHECK_EQ_U64(v0->regs[HV_REG_PRIV], 1);
    CHECK_EQ_U64(v0->regs[HV_REG_X(10)], 0);
    CHECK_EQ_U64(v0->regs[HV_REG_X(11)], m->fdt_addr);
    CHECK_EQ_U64(m->fdt_addr, 0x80000000 + (64ull << 20) - 0x10000);
    CHECK_EQ_U64(v0->regs[HV_REG_CSR(0x302)], 0xb1ff); /* no ecall from S/M */
    CHECK_EQ_U64(v0->regs[HV_REG_CSR(0x303)], 0x222);
    CHECK_EQ_U64(v0->regs[HV_REG_CSR(0x30a)] >> 63, 1);
    CHECK_EQ_U64(v0->regs[HV_REG_CSR(0x306)], ~0ull);
    CHECK_EQ_U64(v0->regs[HV_REG_CSR(0x300)] & (3u << 13), 1u << 13);
    CHECK_EQ_U64(v1->regs[HV_REG_CSR(0x302)], 0xb1ff);
    CHECK_EQ_U64(v1->regs[HV_REG_PRIV], 3); /* untouched until hart_start */
    CHECK_EQ_U64(m->harts[1].state, HART_STOPPED);
    /* The DTB is in guest memory and valid. */
    const uint8_t *dtb = guest_ram_ptr(&m->ram, m->fdt_addr, 4);
    CHECK(dtb && dtb[0] == 0xd0 && dtb[1] == 0x0d && dtb[2] == 0xfe && dtb[3] == 0xed);
    machine_destroy(m);
}

TEST(sbi_base)
{
    struct machine *m = make_machine(1);
    if (!m)
        return;
    struct hv_exit e = call(m, 0, SBI_EXT_BASE, 0, 0, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(VAL(e), 2u << 24);
    e = call(m, 0, SBI_EXT_BASE, 3, SBI_EXT_HSM, 0, 0, NULL);
    CHECK_EQ_U64(VAL(e), 1);
    e = call(m, 0, SBI_EXT_BASE, 3, SBI_EXT_DBCN, 0, 0, NULL);
    CHECK_EQ_U64(VAL(e), 1);
    e = call(m, 0, SBI_EXT_BASE, 3, 0x12345678, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(VAL(e), 0);
    e = call(m, 0, SBI_EXT_BASE, 99, 0, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_NOT_SUPPORTED);
    e = call(m, 0, 0x0A000000, 0, 0, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_NOT_SUPPORTED);
    e = call(m, 0, SBI_EXT_TIME, 0, 12345, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(stub_vcpu(0)->regs[HV_REG_CSR(0x14d)], 12345);
    e = call(m, 0, SBI_EXT_TIME, 1, 0, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_NOT_SUPPORTED);
    machine_destroy(m);
}

TEST(sbi_ipi_and_rfence_masks)
{
    struct machine *m = make_machine(4);
    if (!m)
        return;
    struct hv_exit e = call(m, 0, SBI_EXT_IPI, 0, 0x6, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(!stub_vcpu(0)->irq[HV_IRQ_S_SOFT] && stub_vcpu(1)->irq[HV_IRQ_S_SOFT] &&
          stub_vcpu(2)->irq[HV_IRQ_S_SOFT] && !stub_vcpu(3)->irq[HV_IRQ_S_SOFT]);
    e = call(m, 0, SBI_EXT_IPI, 0, 0x1, 3, 0, NULL); /* base 3: hart 3 */
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(stub_vcpu(3)->irq[HV_IRQ_S_SOFT]);
    /* One bad hart in the mask: nothing is sent. */
    stub_vcpu(0)->irq[HV_IRQ_S_SOFT] = false;
    e = call(m, 0, SBI_EXT_IPI, 0, 0x11, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    CHECK(!stub_vcpu(0)->irq[HV_IRQ_S_SOFT]);
    e = call(m, 0, SBI_EXT_IPI, 0, 0x1, 4, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_IPI, 0, 0x2, UINT64_MAX - 1, 0, NULL); /* base wraps */
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_IPI, 0, 1ull << 63, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_IPI, 0, 0, UINT64_MAX, 0, NULL); /* base -1: everyone */
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(stub_vcpu(0)->irq[HV_IRQ_S_SOFT]);

    e = call(m, 0, SBI_EXT_RFENCE, 0, 0x8, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(stub_vcpu(3)->flushes, HV_FLUSH_ICACHE);
    CHECK_EQ_U64(stub_vcpu(2)->flushes, 0);
    e = call(m, 0, SBI_EXT_RFENCE, 2, 0, UINT64_MAX, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(stub_vcpu(2)->flushes, HV_FLUSH_TLB);
    e = call(m, 0, SBI_EXT_RFENCE, 1, 0x100, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_RFENCE, 3, 0x1, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_NOT_SUPPORTED);
    machine_destroy(m);
}

TEST(sbi_hsm)
{
    struct machine *m = make_machine(2);
    if (!m)
        return;
    enum sbi_next next;
    struct hv_exit e = call(m, 0, SBI_EXT_HSM, 2, 1, 0, 0, NULL);
    CHECK_EQ_U64(VAL(e), HART_STOPPED);
    e = call(m, 0, SBI_EXT_HSM, 2, 0, 0, 0, NULL);
    CHECK_EQ_U64(VAL(e), HART_STARTED);
    e = call(m, 0, SBI_EXT_HSM, 2, 2, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_HSM, 0, 7, 0x80200000, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_HSM, 0, 1, 0x1000, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_HSM, 0, 1, 0x80200001, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_HSM, 0, 0, 0x80200000, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_ALREADY_AVAILABLE);
    e = call(m, 0, SBI_EXT_HSM, 0, 1, 0x80200100, 42, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(m->harts[1].state, HART_START_PENDING);
    CHECK_EQ_U64(m->harts[1].start_addr, 0x80200100);
    e = call(m, 0, SBI_EXT_HSM, 0, 1, 0x80200100, 42, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_ALREADY_AVAILABLE);
    /* Suspend: bad types, bad resume address, retentive returns at once. */
    e = call(m, 0, SBI_EXT_HSM, 3, 0x1, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_HSM, 3, 0x100000000ull, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_HSM, 3, 0x80000000, 0x10, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_HSM, 3, 0, 0, 0, &next);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(next == SBI_NEXT_CONTINUE);
    e = call(m, 0, SBI_EXT_HSM, 3, 0x80000000, 0x80300000, 7, &next);
    CHECK(next == SBI_NEXT_RESUME);
    CHECK_EQ_U64(stub_vcpu(0)->regs[HV_REG_PC], 0x80300000);
    CHECK_EQ_U64(stub_vcpu(0)->regs[HV_REG_X(11)], 7);
    e = call(m, 0, SBI_EXT_HSM, 1, 0, 0, 0, &next);
    CHECK(next == SBI_NEXT_HART_STOPPED);
    CHECK_EQ_U64(m->harts[0].state, HART_STOPPED);
    e = call(m, 0, SBI_EXT_HSM, 9, 0, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_NOT_SUPPORTED);
    machine_destroy(m);
}

TEST(sbi_dbcn_checks_buffers)
{
    struct machine *m = make_machine(1);
    if (!m)
        return;
    char out[256];
    uint8_t *buf = guest_ram_ptr(&m->ram, 0x80100000, 16);
    memcpy(buf, "hello dbcn\n", 11);
    struct hv_exit e = call(m, 0, SBI_EXT_DBCN, 0, 11, 0x80100000, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(VAL(e), 11);
    drain_output(out, sizeof out);
    CHECK_STR(out, "hello dbcn\n");
    e = call(m, 0, SBI_EXT_DBCN, 0, 11, 0x1000, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_DBCN, 0, 11, 0x80100000, 1, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    uint64_t end = guest_ram_end(&m->ram);
    e = call(m, 0, SBI_EXT_DBCN, 0, 16, end - 8, 0, NULL); /* runs off the end of RAM */
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_DBCN, 1, UINT64_MAX, UINT64_MAX - 2, 0, NULL);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, SBI_EXT_DBCN, 0, 1ull << 40, 0x80100000, 0, NULL); /* capped, not refused */
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(VAL(e) > 0 && VAL(e) <= 4096);
    uart_flush(m->uart);
    while (read(out_pipe[0], out, sizeof out) > 0) {
    }
    uart_push_input(m->uart, (const uint8_t *)"ok", 2);
    e = call(m, 0, SBI_EXT_DBCN, 1, 8, 0x80100000, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(VAL(e), 2);
    CHECK(memcmp(buf, "ok", 2) == 0);
    e = call(m, 0, SBI_EXT_DBCN, 2, 'Z', 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    uart_flush(m->uart);
    drain_output(out, sizeof out);
    CHECK_STR(out, "Z");
    machine_destroy(m);
}

TEST(sbi_legacy)
{
    struct machine *m = make_machine(2);
    if (!m)
        return;
    char out[64];
    struct hv_exit e = call(m, 0, 1, 0, 'Q', 0xabc, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK_EQ_U64(VAL(e), 0xabc); /* a1 preserved */
    uart_flush(m->uart);
    drain_output(out, sizeof out);
    CHECK_STR(out, "Q");
    e = call(m, 0, 2, 0, 0, 5, 0, NULL);
    CHECK_EQ_U64(ERR(e), (uint64_t)-1);
    /* send_ipi with a hart mask in memory, bare translation. */
    uint8_t *mask = guest_ram_ptr(&m->ram, 0x80100000, 8);
    REQUIRE(mask);
    memset(mask, 0, 8);
    mask[0] = 0x2;
    e = call(m, 0, 4, 0, 0x80100000, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(stub_vcpu(1)->irq[HV_IRQ_S_SOFT] && !stub_vcpu(0)->irq[HV_IRQ_S_SOFT]);
    e = call(m, 0, 4, 0, 0x10, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), (uint64_t)SBI_ERR_INVALID_ADDRESS);
    mask[0] = 0x4; /* hart 2 does not exist */
    e = call(m, 0, 4, 0, 0x80100000, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), (uint64_t)SBI_ERR_INVALID_PARAM);
    /* Through Sv39: a 1 GiB gigapage mapping VA 0x40000000 -> PA 0x80000000. */
    uint8_t *root = guest_ram_ptr(&m->ram, 0x80200000, 4096);
    memset(root, 0, 4096);
    uint64_t pte = ((0x80000000ull >> 12) << 10) | 0xf; /* V R W X */
    memcpy(root + 8 * 1, &pte, 8);
    stub_vcpu(0)->regs[HV_REG_CSR(0x180)] = (8ull << 60) | (0x80200000ull >> 12);
    mask[0] = 0x1;
    stub_vcpu(0)->irq[HV_IRQ_S_SOFT] = false;
    e = call(m, 0, 4, 0, 0x40100000, 0, 0, NULL);
    CHECK_EQ_U64(ERR(e), 0);
    CHECK(stub_vcpu(0)->irq[HV_IRQ_S_SOFT]);
    e = call(m, 0, 4, 0, 0x80100000, 0, 0, NULL); /* unmapped VA */
    CHECK_EQ_U64(ERR(e), (uint64_t)SBI_ERR_INVALID_ADDRESS);
    e = call(m, 0, 3, 0, 0, 0, 0, NULL);
    CHECK(!stub_vcpu(0)->irq[HV_IRQ_S_SOFT]);
    e = call(m, 0, 0, 0, 777, 0, 0, NULL);
    CHECK_EQ_U64(stub_vcpu(0)->regs[HV_REG_CSR(0x14d)], 777);
    machine_destroy(m);
}

TEST(sbi_srst)
{
    struct machine *m = make_machine(1);
    if (!m)
        return;
    enum sbi_next next;
    struct hv_exit e = call(m, 0, SBI_EXT_SRST, 0, 3, 0, 0, &next);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    CHECK(!machine_stopping(m));
    e = call(m, 0, SBI_EXT_SRST, 0, 0x100000000ull, 0, 0, &next);
    CHECK_EQ_U64(ERR(e), SBI_ERR_INVALID_PARAM);
    e = call(m, 0, SBI_EXT_SRST, 0, 2, 0, 0, &next);
    CHECK(next == SBI_NEXT_MACHINE_STOP);
    CHECK_EQ_U64(atomic_load(&m->stop_reason), MACHINE_STOP_REBOOT);
    e = call(m, 0, SBI_EXT_SRST, 0, 0, 0, 0, &next); /* the first reason wins */
    CHECK_EQ_U64(atomic_load(&m->stop_reason), MACHINE_STOP_REBOOT);
    machine_destroy(m);
}

TEST(no_sstc_in_dt_without_stimecmp)
{
    stub_missing_csr = CSR_STIMECMP;
    struct machine *m = make_machine(1);
    stub_missing_csr = 0;
    if (!m)
        return;
    const char *dtb = guest_ram_ptr(&m->ram, m->fdt_addr, 0x1000);
    CHECK(dtb != NULL);
    if (!dtb) {
        machine_destroy(m);
        return;
    }
    CHECK(memmem(dtb, 0x1000, "zicntr_sstc", 11) == NULL);
    CHECK(memmem(dtb, 0x1000, "rv64imafdc_zicsr_zifencei_zicntr", 32) != NULL);
    machine_destroy(m);
}

TEST(console_escape)
{
    struct machine *m = make_machine(1);
    if (!m)
        return;
    console_input(m, (const uint8_t *)"a\x01\x01" "b\x01" "c", 6);
    CHECK_EQ_U64(uart_pop_input(m->uart), 'a');
    CHECK_EQ_U64(uart_pop_input(m->uart), 0x01);
    CHECK_EQ_U64(uart_pop_input(m->uart), 'b');
    CHECK_EQ_U64(uart_pop_input(m->uart), 0x01); /* Ctrl-A c: not a command */
    CHECK_EQ_U64(uart_pop_input(m->uart), 'c');
    CHECK(uart_pop_input(m->uart) == -1);
    console_input(m, (const uint8_t *)"z\x01", 2); /* split across reads */
    CHECK(!machine_stopping(m));
    console_input(m, (const uint8_t *)"xy", 2);
    CHECK_EQ_U64(atomic_load(&m->stop_reason), MACHINE_STOP_REQUESTED);
    CHECK_EQ_U64(uart_pop_input(m->uart), 'z');
    CHECK(uart_pop_input(m->uart) == -1);
    machine_destroy(m);
}

static int fake_read(void *opaque, uint64_t off, unsigned len, uint64_t *v)
{
    *v = 0x74726976 + off;
    return 0;
}

TEST(virtio_slots_and_irq_lines)
{
    static const struct machine_bus_ops ops = {fake_read, NULL};
    struct machine *m = make_machine(1);
    if (!m)
        return;
    CHECK(machine_add_virtio_mmio(m, 2, &ops, NULL) == 0);
    CHECK(machine_add_virtio_mmio(m, 2, &ops, NULL) == -EBUSY);
    CHECK(machine_add_virtio_mmio(m, MACHINE_VIRTIO_SLOTS, &ops, NULL) == -EINVAL);
    CHECK(machine_add_virtio_mmio(m, MACHINE_VIRTIO_MOUSE_SLOT, &ops, NULL) == 0);
    const char *dtb = guest_ram_ptr(&m->ram, m->fdt_addr, 0x2000);
    CHECK(dtb && memmem(dtb, 0x2000, "virtio_mmio@10003000", 20) != NULL);
    CHECK(dtb && memmem(dtb, 0x2000, "virtio_mmio@10009000", 20) != NULL);
    CHECK(dtb && memmem(dtb, 0x2000, "virtio_mmio@10001000", 20) == NULL);
    uint64_t data = 0;
    bool fault = true;
    bus_dispatch(&m->bus, 0x10003004, 4, false, &data, &fault);
    CHECK(!fault);
    CHECK_EQ_U64(data, 0x74726976 + 4);
    bus_dispatch(&m->bus, 0x10004000, 4, false, &data, &fault);
    CHECK(fault); /* an empty slot is nothing */
    CHECK(machine_guest_ram(m) == &m->ram);
    CHECK(machine_irq_line(m, 0) == NULL);
    CHECK(machine_irq_line(m, 96) == NULL);
    machine_irq_line_set(machine_irq_line(m, 3), true);
    CHECK(plic_mmio_read(m->plic, 0x1000, 4, &data) == 0);
    CHECK_EQ_U64(data, 1u << 3);
    machine_irq_line_set(machine_irq_line(m, 3), false);
    CHECK(plic_mmio_read(m->plic, 0x1000, 4, &data) == 0);
    CHECK_EQ_U64(data, 0);
    machine_destroy(m);
}

/* --- the run loop ------------------------------------------------------------------- */

static uint64_t run_test_fault_addr;

/* Hart 0: an MMIO read of the UART's LSR, a read of nothing, then hart_start(1);
 * hart 1 shuts the machine down. */
static int script_smp(hv_vcpu *v, struct hv_exit *e)
{
    memset(e, 0, sizeof *e);
    if (v->id == 0) {
        switch (v->runs) {
        case 1:
            *e = (struct hv_exit){.reason = HV_EXIT_MMIO};
            e->mmio.addr = VIRT_UART_BASE + 5;
            e->mmio.len = 1;
            return 0;
        case 2:
            if (v->last.mmio.fault || v->last.mmio.data != 0x60)
                return -EIO;
            *e = (struct hv_exit){.reason = HV_EXIT_MMIO};
            e->mmio.addr = run_test_fault_addr;
            e->mmio.len = 4;
            return 0;
        case 3:
            if (!v->last.mmio.fault)
                return -EIO;
            e->reason = HV_EXIT_SBI;
            e->sbi.ext = SBI_EXT_HSM;
            e->sbi.func = 0;
            e->sbi.args[0] = 1;
            e->sbi.args[1] = 0x80400000;
            e->sbi.args[2] = 99;
            return 0;
        default: {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            e->reason = HV_EXIT_KICK;
            return 0;
        }
        }
    }
    if (v->regs[HV_REG_PC] != 0x80400000 || v->regs[HV_REG_X(10)] != 1 ||
        v->regs[HV_REG_X(11)] != 99 || v->regs[HV_REG_PRIV] != 1)
        return -EIO;
    e->reason = HV_EXIT_SBI;
    e->sbi.ext = SBI_EXT_SRST;
    e->sbi.args[0] = 0;
    return 0;
}

TEST(run_smp_start_and_poweroff)
{
    struct machine *m = make_machine(2);
    if (!m)
        return;
    run_test_fault_addr = 0x30000000;
    stub_run = script_smp;
    enum machine_stop_reason why = 0;
    struct cove_error err = {0};
    CHECK(machine_run(m, &why, &err) == 0);
    CHECK_EQ_U64(why, MACHINE_STOP_POWEROFF);
    CHECK(machine_run(m, &why, &err) == -EBUSY);
    stub_run = NULL;
    machine_destroy(m);
}

static int script_guest_error(hv_vcpu *v, struct hv_exit *e)
{
    e->reason = HV_EXIT_GUEST_ERROR;
    e->guest_error.cause = 2;
    e->guest_error.tval = 0xdead;
    e->guest_error.pc = 0x80200000;
    return 0;
}

TEST(run_guest_error_and_request_stop)
{
    struct machine *m = make_machine(1);
    if (!m)
        return;
    stub_run = script_guest_error;
    enum machine_stop_reason why = 0;
    struct cove_error err = {0};
    CHECK(machine_run(m, &why, &err) == 0);
    CHECK_EQ_U64(why, MACHINE_STOP_GUEST_ERROR);
    stub_run = NULL;
    machine_destroy(m);

    m = make_machine(4); /* harts 1..3 wait stopped; the stop must still end them */
    if (!m)
        return;
    machine_request_stop(m);
    CHECK(machine_run(m, &why, &err) == 0);
    CHECK_EQ_U64(why, MACHINE_STOP_REQUESTED);
    machine_destroy(m);
}

int main(void)
{
    make_kernel();
    if (pipe(out_pipe) < 0)
        return 1;
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    RUN(create_validates_config);
    RUN(failed_create_leaves_stdio_open);
    RUN(direct_boot_registers);
    RUN(sbi_base);
    RUN(sbi_ipi_and_rfence_masks);
    RUN(sbi_hsm);
    RUN(sbi_dbcn_checks_buffers);
    RUN(sbi_legacy);
    RUN(sbi_srst);
    RUN(no_sstc_in_dt_without_stimecmp);
    RUN(console_escape);
    RUN(guest_ram_is_a_shared_memfd);
    RUN(virtio_slots_and_irq_lines);
    RUN(run_smp_start_and_poweroff);
    RUN(run_guest_error_and_request_stop);
    unlink(kernel_path);
    return test_summary();
}
