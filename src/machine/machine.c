/*
 * machine.c — building the board, the vCPU threads and stopping.
 *
 * machine_create() validates the configuration, maps DRAM, creates the vCPUs and devices,
 * loads the boot images and writes the device tree; machine_run() runs one host thread
 * per hart plus the console thread (console.c) until something stops the machine.
 */
#include "machine/machine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backends/block.h"
#include "machine/boot.h"
#include "machine/console.h"
#include "machine/fdt.h"
#include "machine/memmap.h"
#include "machine/plic.h"
#include "machine/sbi.h"
#include "machine/uart.h"
#include "util/log.h"

#define CSR_MSTATUS 0x300
#define CSR_MEDELEG 0x302
#define CSR_MIDELEG 0x303
#define CSR_MCOUNTEREN 0x306
#define CSR_SCOUNTEREN 0x106
#define CSR_MENVCFG 0x30a

#define MSTATUS_FS_INITIAL (1ull << 13)
#define MENVCFG_STCE (1ull << 63)
/* Every exception S-mode can handle: all but the ecalls from S and M, which the VMM
 * implements (SBI). */
#define DIRECT_MEDELEG 0xb1ffull
#define DIRECT_MIDELEG ((1ull << 1) | (1ull << 5) | (1ull << 9)) /* SSIP, STIP, SEIP */

#define PRIV_S 1
#define PRIV_M 3

/* --- stopping ------------------------------------------------------------------------ */

void machine_stop(struct machine *m, enum machine_stop_reason why)
{
    int expected = 0;
    atomic_compare_exchange_strong(&m->stop_reason, &expected, (int)why);
    for (unsigned i = 0; i < m->ncpus; i++)
        if (m->harts[i].vcpu)
            hv_vcpu_kick(m->harts[i].vcpu);
    uint64_t one = 1;
    if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof one) < 0) {
        /* The eventfd counter cannot overflow in practice; the poll timeout covers it. */
    }
}

bool machine_stopping(struct machine *m)
{
    return atomic_load(&m->stop_reason) != 0;
}

void machine_request_stop(struct machine *m)
{
    machine_stop(m, MACHINE_STOP_REQUESTED);
}

void machine_hsm_notify(struct machine *m)
{
    pthread_mutex_lock(&m->hsm_lock);
    pthread_cond_broadcast(&m->hsm_cond);
    pthread_mutex_unlock(&m->hsm_lock);
}

/* --- pause and graceful power off ---------------------------------------------------- */

void machine_pause(struct machine *m)
{
    atomic_store(&m->paused, true);
    for (unsigned i = 0; i < m->ncpus; i++)
        if (m->harts[i].vcpu)
            hv_vcpu_kick(m->harts[i].vcpu);
}

void machine_resume(struct machine *m)
{
    atomic_store(&m->paused, false);
    machine_hsm_notify(m);
}

bool machine_paused(struct machine *m)
{
    return atomic_load(&m->paused);
}

/* Polls, like wait_until_started(): machine_stop() must stay async-signal-safe, so it
 * cannot signal the condition variable. */
static void wait_while_paused(struct machine *m, struct hart *h)
{
    pthread_mutex_lock(&m->hsm_lock);
    h->parked = true;
    while (atomic_load(&m->paused) && !machine_stopping(m)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->hsm_cond, &m->hsm_lock, &ts);
    }
    h->parked = false;
    pthread_mutex_unlock(&m->hsm_lock);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Magic SysRq KEY: BREAK then the key on the UART; ^O then the key on hvc0. */
static int push_sysrq(struct machine *m, uint8_t key)
{
    if (m->console_virtio) {
        uint8_t seq[2] = {0x0f, key};
        return write(m->vcon_pipe[1], seq, 2) == 2 ? 0 : -EAGAIN;
    }
    if (uart_push_break(m->uart) < 0 || uart_push_input(m->uart, &key, 1) != 1)
        return -EAGAIN;
    return 0;
}

int machine_request_poweroff(struct machine *m)
{
    /* sync and remount are queued work in the guest: give each a moment before the next,
     * so that power off finds the file systems clean. */
    static const struct { char key; long pause_ms; } steps[] = {
        {'s', 150}, {'u', 300}, {'o', 0},
    };
    machine_resume(m);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (push_sysrq(m, (uint8_t)steps[i].key) < 0)
            return -EAGAIN; /* the guest is not reading its console */
        if (steps[i].pause_ms)
            sleep_ms(steps[i].pause_ms);
        if (machine_stopping(m))
            return 0;
    }
    return 0;
}

static bool all_parked(struct machine *m)
{
    pthread_mutex_lock(&m->hsm_lock);
    bool all = true;
    for (unsigned i = 0; i < m->ncpus; i++)
        all = all && (!m->harts[i].thread_started || m->harts[i].parked);
    pthread_mutex_unlock(&m->hsm_lock);
    return all;
}

int machine_pause_parked(struct machine *m)
{
    machine_pause(m);
    for (int waited = 0; waited < 5000; waited += 2) {
        if (all_parked(m))
            return 0;
        if (machine_stopping(m))
            return -ESHUTDOWN;
        sleep_ms(2);
    }
    return -ETIMEDOUT;
}

/* --- device glue ----------------------------------------------------------------------- */

static void plic_output(void *opaque, unsigned context, bool level)
{
    struct machine *m = opaque;
    unsigned hart = context / 2;
    if (hart < m->ncpus)
        hv_vcpu_set_irq(m->harts[hart].vcpu, context % 2 ? HV_IRQ_S_EXT : HV_IRQ_M_EXT, level);
}

static void uart_irq(void *opaque, bool level)
{
    struct machine *m = opaque;
    plic_set_level(m->plic, VIRT_IRQ_UART, level);
}

static void rtc_irq(void *opaque, bool level)
{
    struct machine *m = opaque;
    if (m->plic)
        plic_set_level(m->plic, VIRT_IRQ_RTC, level);
}

static void uart_notify_output(void *opaque)
{
    struct machine *m = opaque;
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof one) < 0) {
        /* Only fails when the counter is saturated: a wake-up is pending anyway. */
    }
}

/* pvpanic (QEMU's docs/specs/pvpanic.txt), one byte: reads give the events supported,
 * PANICKED only (no kdump here); a write of PANICKED stops the machine, so that a panic
 * ends the run with an error instead of the reboot loop CONFIG_PANIC_TIMEOUT would start. */
#define PVPANIC_PANICKED 1u

static int pvpanic_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    *value = offset == 0 ? PVPANIC_PANICKED : 0;
    return 0;
}

static int pvpanic_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct machine *m = opaque;
    if (offset == 0 && (value & PVPANIC_PANICKED))
        machine_stop(m, MACHINE_STOP_GUEST_PANIC);
    return 0;
}

static void test_action(void *opaque, enum sifive_test_action what, unsigned code)
{
    struct machine *m = opaque;
    if (code) {
        m->guest_fail_code = code;
        log_warn("guest reported failure code %u through the test device", code);
    }
    machine_stop(m, what == SIFIVE_TEST_REBOOT ? MACHINE_STOP_REBOOT : MACHINE_STOP_POWEROFF);
}

const struct guest_ram *machine_guest_ram(struct machine *m)
{
    return &m->ram;
}

struct machine_irq_line *machine_irq_line(struct machine *m, unsigned source)
{
    if (source == 0 || source > PLIC_NDEV)
        return NULL;
    return &m->irq_lines[source];
}

void machine_irq_line_set(void *line, bool level)
{
    struct machine_irq_line *l = line;
    plic_set_level(l->m->plic, l->source, level);
}

/* QEMU virt's slots' PLIC sources must stop short of the UART's, the extra slot's come
 * after the RTC's, and all fit fdt_params' slot mask. */
_Static_assert(VIRT_IRQ_VIRTIO_FIRST + MACHINE_MAX_VIRTIO <= VIRT_IRQ_UART, "virtio IRQs");
_Static_assert(MACHINE_MAX_VIRTIO == 8 && VIRT_IRQ_VIRTIO_EXTRA > VIRT_IRQ_RTC &&
                   VIRT_IRQ_VIRTIO_EXTRA + MACHINE_VIRTIO_SLOTS - 8 <= VIRT_IRQ_PCIE_FIRST,
               "the extra virtio slots' IRQs");
_Static_assert(MACHINE_VIRTIO_SLOTS <= 32, "virtio slot mask");

int machine_add_virtio_mmio(struct machine *m, unsigned slot, const struct machine_bus_ops *ops,
                            void *opaque)
{
    if (slot >= MACHINE_VIRTIO_SLOTS || !ops)
        return -EINVAL;
    if (atomic_load(&m->running))
        return -EBUSY;
    if (m->fdt_params.virtio_slots & (1u << slot))
        return -EBUSY;
    int rc = machine_bus_register(m, VIRT_VIRTIO_BASE + slot * VIRT_VIRTIO_SIZE,
                                  VIRT_VIRTIO_SIZE, ops, opaque);
    if (rc < 0)
        return rc;
    m->fdt_params.virtio_slots |= 1u << slot;
    return machine_rewrite_fdt(m);
}

int machine_bus_register(struct machine *m, uint64_t base, uint64_t size,
                         const struct machine_bus_ops *ops, void *opaque)
{
    if (base < guest_ram_end(&m->ram) && base + size > m->ram.base)
        return -EEXIST;
    if (base < VIRT_CLINT_BASE + VIRT_CLINT_SIZE && base + size > VIRT_CLINT_BASE)
        return -EEXIST;
    return bus_register(&m->bus, base, size, ops, opaque);
}

static int add_devices(struct machine *m, const struct machine_config *cfg)
{
    static const struct machine_bus_ops plic_ops = {plic_mmio_read, plic_mmio_write};
    static const struct machine_bus_ops uart_ops = {uart_mmio_read, uart_mmio_write};
    static const struct machine_bus_ops rtc_ops = {rtc_mmio_read, rtc_mmio_write};
    static const struct machine_bus_ops test_ops = {sifive_test_mmio_read, sifive_test_mmio_write};
    static const struct machine_bus_ops pvpanic_ops = {pvpanic_read, pvpanic_write};

    int rc = plic_create(2 * m->ncpus, plic_output, m, &m->plic);
    if (rc < 0)
        return rc;
    for (unsigned s = 0; s <= PLIC_NDEV; s++)
        m->irq_lines[s] = (struct machine_irq_line){m, s};
    struct uart_config ucfg = {
        .out_fd = m->console_virtio ? -1 : cfg->console_out_fd,
        .irq = uart_irq, .irq_opaque = m,
        .output_pending = uart_notify_output, .notify_opaque = m,
    };
    rc = uart_create(&ucfg, &m->uart);
    if (rc < 0)
        return rc;
    m->test = (struct sifive_test){test_action, m};
    if ((rc = machine_bus_register(m, VIRT_PLIC_BASE, VIRT_PLIC_SIZE, &plic_ops, m->plic)) < 0 ||
        (rc = machine_bus_register(m, VIRT_UART_BASE, VIRT_UART_SIZE, &uart_ops, m->uart)) < 0 ||
        (rc = machine_bus_register(m, VIRT_RTC_BASE, VIRT_RTC_SIZE, &rtc_ops, &m->rtc)) < 0 ||
        (rc = machine_bus_register(m, VIRT_TEST_BASE, VIRT_TEST_SIZE, &test_ops, &m->test)) < 0 ||
        (rc = machine_bus_register(m, VIRT_PVPANIC_BASE, VIRT_PVPANIC_SIZE, &pvpanic_ops, m)) < 0)
        return rc;
    return 0;
}

/* --- configuration and boot images ------------------------------------------------------ */

static int validate(const struct machine_config *cfg, struct cove_error *err)
{
    if (cfg->cpus < 1 || cfg->cpus > MACHINE_MAX_CPUS)
        return cove_error_set(err, -EINVAL, "cpus %u is out of range; use 1 to %u", cfg->cpus,
                              MACHINE_MAX_CPUS);
    if (cfg->memory_bytes < MACHINE_MIN_MEMORY || cfg->memory_bytes > MACHINE_MAX_MEMORY)
        return cove_error_set(err, -EINVAL,
                              "memory %" PRIu64 " MiB is out of range; use %llu MiB to %llu GiB",
                              cfg->memory_bytes >> 20, MACHINE_MIN_MEMORY >> 20,
                              MACHINE_MAX_MEMORY >> 30);
    if (cfg->memory_bytes % (1ull << 20))
        return cove_error_set(err, -EINVAL, "memory %" PRIu64 " bytes is not a multiple of 1 MiB",
                              cfg->memory_bytes);
    if (!cfg->kernel_path || !*cfg->kernel_path)
        return cove_error_set(err, -EINVAL, "no kernel given; pass --kernel PATH");
    return 0;
}

/* Probes the CPU for Sstc: the device tree must only advertise what the harts have. */
static bool has_sstc(struct machine *m)
{
    uint64_t v;
    return hv_vcpu_get_reg(m->harts[0].vcpu, HV_REG_CSR(CSR_STIMECMP), &v) == 0;
}

int machine_rewrite_fdt(struct machine *m)
{
    void *dst = guest_ram_ptr(&m->ram, m->fdt_addr, VIRT_FDT_MAX_SIZE);
    int rc = dst ? board_fdt_build(&m->fdt_params, dst, VIRT_FDT_MAX_SIZE) : -ERANGE;
    return rc < 0 ? rc : 0;
}

static int write_fdt(struct machine *m, const struct machine_config *cfg, uint64_t initrd_start,
                     uint64_t initrd_end, struct cove_error *err)
{
    /* The DTB outlives cfg (devices rewrite it): bootargs are copied. A virtio console
     * is named first, so that a console= of the user's, later on the line, still wins. */
    const char *user = cfg->cmdline ? cfg->cmdline : "";
    if (m->console_virtio ? asprintf(&m->bootargs, "console=hvc0%s%s", *user ? " " : "", user) < 0
                          : (cfg->cmdline && !(m->bootargs = strdup(cfg->cmdline)))) {
        m->bootargs = NULL;
        return cove_error_set(err, -ENOMEM, "out of memory");
    }
    struct board_fdt_params *p = &m->fdt_params;
    *p = (struct board_fdt_params){
        .cpus = m->ncpus,
        .mem_base = m->ram.base,
        .mem_size = m->ram.size,
        .bootargs = m->bootargs,
        .initrd_start = initrd_start,
        .initrd_end = initrd_end,
        .sstc = has_sstc(m),
    };
    if (getrandom(p->rng_seed, sizeof p->rng_seed, GRND_NONBLOCK) != (ssize_t)sizeof p->rng_seed) {
        /* Early boot without entropy: a weak seed still beats none; the guest mixes it. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(p->rng_seed, &ts, sizeof ts);
    }
    int rc = machine_rewrite_fdt(m);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot build the device tree: %s", strerror(-rc));
    return 0;
}

/* machine_config's "> 0: open" as boot.c's "-1: none" */
static int open_fd(int fd)
{
    return fd > 0 ? fd : -1;
}

int machine_open_disk(const struct machine_disk *d, struct block_attachment **out,
                      struct cove_error *err)
{
    if (d->open)
        return block_borrow(d->open, out) < 0 ? cove_error_set(err, -ENOMEM, "out of memory")
                                               : 0;
    struct block_options bo = {d->read_only, d->cache, d->sync, d->nbd_host_files};
    return block_open(d->path, &bo, out, err);
}

static int load_images(struct machine *m, const struct machine_config *cfg, struct cove_error *err)
{
    const struct guest_ram *ram = &m->ram;
    uint64_t limit = m->fdt_addr;
    struct boot_image fw = {0}, kernel;
    int rc;
    if (cfg->memory_from_state)
        return write_fdt(m, cfg, 0, 0, err);
    if (m->firmware_mode) {
        rc = boot_load_firmware(ram, cfg->firmware_path, open_fd(cfg->firmware_fd), limit, &fw,
                                err);
        if (rc < 0)
            return rc;
    }
    rc = boot_load_kernel(ram, cfg->kernel_path, open_fd(cfg->kernel_fd), limit, m->firmware_mode,
                          &kernel, err);
    if (rc < 0)
        return rc;
    if (m->firmware_mode && kernel.start < fw.end && fw.start < kernel.end)
        return cove_error_set(err, -EINVAL,
                              "firmware %s [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the kernel "
                              "[0x%" PRIx64 ", 0x%" PRIx64 ")",
                              cfg->firmware_path, fw.start, fw.end, kernel.start, kernel.end);
    uint64_t initrd_start = 0, initrd_end = 0;
    if (cfg->initrd_path) {
        uint64_t low = kernel.end > fw.end ? kernel.end : fw.end;
        rc = boot_load_initrd(ram, cfg->initrd_path, open_fd(cfg->initrd_fd), low, limit,
                              &initrd_start, &initrd_end, err);
        if (rc < 0)
            return rc;
    }
    if (m->firmware_mode) {
        m->boot_entry = fw.entry;
        m->fw_info_addr = m->fdt_addr + VIRT_FDT_MAX_SIZE;
        rc = boot_write_fw_dynamic_info(ram, m->fw_info_addr, kernel.entry, 0);
        if (rc < 0)
            return cove_error_set(err, rc, "cannot place fw_dynamic_info");
    } else {
        m->boot_entry = kernel.entry;
    }
    return write_fdt(m, cfg, initrd_start, initrd_end, err);
}

/* --- hart start state ------------------------------------------------------------------ */

static int set_regs(hv_vcpu *v, const unsigned *ids, const uint64_t *vals, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int rc = hv_vcpu_set_reg(v, ids[i], vals[i]);
        if (rc < 0) {
            log_error("cannot set vCPU register 0x%x: %s", ids[i], strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int hart_enter_supervisor(struct hart *h, uint64_t pc, uint64_t arg)
{
    const unsigned ids[] = {HV_REG_CSR(CSR_SATP), HV_REG_CSR(CSR_MSTATUS), HV_REG_X(10),
                            HV_REG_X(11), HV_REG_PRIV, HV_REG_PC};
    const uint64_t vals[] = {0, MSTATUS_FS_INITIAL, h->id, arg, PRIV_S, pc};
    return set_regs(h->vcpu, ids, vals, 6);
}

/* Direct boot: the machine-mode setup OpenSBI would have done before entering S-mode. */
static int setup_direct_hart(struct machine *m, struct hart *h)
{
    /* scounteren = CY|TM|IR as OpenSBI leaves it: Linux 6.1 never writes it, and its vDSO
     * reads the time CSR from U-mode. */
    const unsigned ids[] = {HV_REG_CSR(CSR_MEDELEG), HV_REG_CSR(CSR_MIDELEG),
                            HV_REG_CSR(CSR_MCOUNTEREN), HV_REG_CSR(CSR_SCOUNTEREN)};
    const uint64_t vals[] = {DIRECT_MEDELEG, DIRECT_MIDELEG, ~0ull, 7};
    int rc = set_regs(h->vcpu, ids, vals, 4);
    if (rc < 0)
        return rc;
    /* Without Sstc (older CPU backends) menvcfg may not exist; SBI set_timer then fails. */
    if (hv_vcpu_set_reg(h->vcpu, HV_REG_CSR(CSR_MENVCFG), MENVCFG_STCE) < 0)
        log_debug("hart %u: no menvcfg, Sstc disabled", h->id);
    if (h->id != 0) {
        h->state = HART_STOPPED;
        return 0;
    }
    h->state = HART_STARTED;
    return hart_enter_supervisor(h, m->boot_entry, m->fdt_addr);
}

static int setup_firmware_hart(struct machine *m, struct hart *h)
{
    const unsigned ids[] = {HV_REG_X(10), HV_REG_X(11), HV_REG_X(12), HV_REG_PRIV, HV_REG_PC};
    const uint64_t vals[] = {h->id, m->fdt_addr, m->fw_info_addr, PRIV_M, m->boot_entry};
    h->state = HART_STARTED; /* OpenSBI parks the secondary harts itself */
    return set_regs(h->vcpu, ids, vals, 5);
}

/* --- create / destroy ------------------------------------------------------------------ */

static int create_cpus(struct machine *m, struct cove_error *err)
{
    struct hv_vm_config vcfg = {
        .max_vcpus = m->ncpus,
        .timebase_hz = VIRT_TIMEBASE_HZ,
        .aclint_base = VIRT_CLINT_BASE,
        .sbi_exits = !m->firmware_mode,
    };
    int rc = hv_vm_create(&vcfg, &m->vm);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot create the virtual machine: %s", strerror(-rc));
    rc = hv_vm_map(m->vm, m->ram.host, m->ram.base, m->ram.size,
                   HV_MEM_READ | HV_MEM_WRITE | HV_MEM_EXEC);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot map guest memory: %s", strerror(-rc));
    for (unsigned i = 0; i < m->ncpus; i++) {
        struct hart *h = &m->harts[i];
        h->m = m;
        h->id = i;
        rc = hv_vcpu_create(m->vm, i, &h->vcpu);
        if (rc < 0)
            return cove_error_set(err, rc, "cannot create vCPU %u: %s", i, strerror(-rc));
    }
    return 0;
}

/* Guest RAM is a memfd mapped shared, not anonymous memory: a vhost-user daemon (virtiofsd)
 * maps the same pages from the fd it is handed and reads and writes the guest's buffers in
 * place. Pages are still allocated on first touch (a memfd grows sparse), and the soft CPU
 * keeps using plain host pointers into the mapping. The fd is sealed against shrinking, so
 * that no process holding it can truncate the file under the guest (SIGBUS in cove). */
static int map_guest_ram(struct machine *m, uint64_t size, struct cove_error *err)
{
    int fd = memfd_create("cove-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return cove_error_set(err, -errno, "cannot create the guest memory file: %s",
                              strerror(errno));
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        return cove_error_set(err, -e, "cannot size the guest memory file: %s", strerror(e));
    }
    void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (ram == MAP_FAILED) {
        int e = errno;
        close(fd);
        return cove_error_set(err, -e, "cannot reserve %" PRIu64 " MiB of guest memory: %s",
                              size >> 20, strerror(e));
    }
    /* Not in the helpers forked later (a share's keeper, the clipboard's): a child's
     * copy of the mapping would keep this RAM's pages, charged to the VM's cgroup, long
     * after a guest reboot replaced it. */
    madvise(ram, size, MADV_DONTFORK);
    m->ram = (struct guest_ram){ram, VIRT_DRAM_BASE, size};
    m->ram_fd = fd;
    return 0;
}

int machine_create(const struct machine_config *cfg, struct machine **out, struct cove_error *err)
{
    int rc = validate(cfg, err);
    if (rc < 0)
        return rc;
    struct machine *m = calloc(1, sizeof *m);
    if (!m)
        return cove_error_set(err, -ENOMEM, "out of memory");
    m->ncpus = cfg->cpus;
    m->firmware_mode = cfg->firmware_path != NULL;
    m->console_in_fd = cfg->console_in_fd;
    m->console_escape = cfg->console_escape;
    /* Everything machine_destroy() releases is valid before the first failure can happen:
     * fds not yet opened are -1 (calloc's 0 would be stdin). */
    m->vcon_pipe[0] = m->vcon_pipe[1] = -1;
    m->wake_fd = -1;
    m->ram_fd = -1;
    m->ram_file_fd = -1;
    pthread_mutex_init(&m->hsm_lock, NULL);
    pthread_cond_init(&m->hsm_cond, NULL);
    rtc_init(&m->rtc, rtc_irq, m);
    if (cfg->console == MACHINE_CONSOLE_VIRTIO) {
        m->console_virtio = true;
        if (pipe2(m->vcon_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
            rc = cove_error_set(err, -errno, "cannot create the console pipe: %s",
                                strerror(errno));
            goto fail;
        }
    }
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->wake_fd < 0) {
        rc = cove_error_set(err, -errno, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if ((rc = map_guest_ram(m, cfg->memory_bytes, err)) < 0)
        goto fail;
    m->fdt_addr = guest_ram_end(&m->ram) - VIRT_FDT_SLOT_SIZE;

    if ((rc = create_cpus(m, err)) < 0)
        goto fail;
    if ((rc = add_devices(m, cfg)) < 0) {
        cove_error_set(err, rc, "cannot create the devices: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = load_images(m, cfg, err)) < 0)
        goto fail;
    /* After load_images: it writes the first device tree, which the slots then extend. */
    if ((rc = machine_add_virtio_devices(m, cfg, err)) < 0 ||
        (rc = machine_add_pci_devices(m, cfg, err)) < 0)
        goto fail;
    for (unsigned i = 0; i < m->ncpus; i++) {
        rc = m->firmware_mode ? setup_firmware_hart(m, &m->harts[i])
                              : setup_direct_hart(m, &m->harts[i]);
        if (rc < 0) {
            cove_error_set(err, rc, "cannot set up vCPU %u: %s", i, strerror(-rc));
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    machine_destroy(m);
    return rc;
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    /* No vCPU thread runs any more (machine_run joined them): devices can go. */
    machine_remove_pci_devices(m);
    machine_remove_virtio_devices(m);
    for (int i = 0; i < 2; i++)
        if (m->vcon_pipe[i] >= 0)
            close(m->vcon_pipe[i]);
    for (unsigned i = 0; i < m->ncpus; i++)
        if (m->harts[i].vcpu)
            hv_vcpu_destroy(m->harts[i].vcpu);
    if (m->vm)
        hv_vm_destroy(m->vm);
    if (m->ram.host)
        munmap(m->ram.host, m->ram.size);
    if (m->ram_fd >= 0)
        close(m->ram_fd);
    if (m->ram_file_fd >= 0)
        close(m->ram_file_fd);
    uart_destroy(m->uart);
    plic_destroy(m->plic);
    rtc_fini(&m->rtc);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    pthread_cond_destroy(&m->hsm_cond);
    pthread_mutex_destroy(&m->hsm_lock);
    free(m->bootargs);
    free(m);
}

/* --- running ------------------------------------------------------------------------- */

static const char *cause_name(uint64_t cause)
{
    static const char *const names[] = {
        "instruction address misaligned", "instruction access fault", "illegal instruction",
        "breakpoint", "load address misaligned", "load access fault",
        "store address misaligned", "store access fault", "ecall from U-mode",
        "ecall from S-mode", "reserved", "ecall from M-mode", "instruction page fault",
        "load page fault", "reserved", "store page fault",
    };
    if (cause >> 63)
        return "interrupt";
    return cause < sizeof names / sizeof names[0] ? names[cause] : "unknown";
}

/* Blocks a stopped hart until hart_start (then enters S-mode) or the machine stops.
 * The wait polls the stop flag because machine_stop() must stay async-signal-safe. */
static bool wait_until_started(struct hart *h)
{
    struct machine *m = h->m;
    pthread_mutex_lock(&m->hsm_lock);
    h->parked = true;
    while ((h->state == HART_STOPPED || atomic_load(&m->paused)) && !machine_stopping(m)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->hsm_cond, &m->hsm_lock, &ts);
    }
    h->parked = false;
    if (machine_stopping(m)) {
        pthread_mutex_unlock(&m->hsm_lock);
        return false; /* a pending start stays pending: a saved state keeps it */
    }
    bool starting = h->state == HART_START_PENDING;
    uint64_t addr = h->start_addr, arg = h->start_arg;
    if (starting)
        h->state = HART_STARTED;
    pthread_mutex_unlock(&m->hsm_lock);
    if (starting && hart_enter_supervisor(h, addr, arg) < 0) {
        machine_stop(m, MACHINE_STOP_GUEST_ERROR);
        return false;
    }
    return true;
}

/* Runs the hart until it stops itself (HSM) or the machine stops. */
static void run_hart(struct hart *h)
{
    struct machine *m = h->m;
    struct hv_exit exit;
    bool unsettled = false; /* the last exit waits for its completion */
    while (!machine_stopping(m)) {
        if (atomic_load(&m->paused) && unsettled) {
            /* Complete the exit before parking, so the vCPU's state is whole: a kicked
             * run applies the completion and returns at once. */
            hv_vcpu_kick(h->vcpu);
        } else if (atomic_load(&m->paused)) {
            wait_while_paused(m, h);
            continue;
        }
        int rc = hv_vcpu_run(h->vcpu, &exit);
        unsettled = rc == 0 && (exit.reason == HV_EXIT_MMIO || exit.reason == HV_EXIT_SBI);
        if (rc < 0) {
            log_error("hart %u: the CPU backend failed: %s", h->id, strerror(-rc));
            machine_stop(m, MACHINE_STOP_GUEST_ERROR);
            return;
        }
        switch (exit.reason) {
        case HV_EXIT_MMIO:
            bus_dispatch(&m->bus, exit.mmio.addr, exit.mmio.len, exit.mmio.is_write,
                         &exit.mmio.data, &exit.mmio.fault);
            break;
        case HV_EXIT_SBI:
            if (sbi_handle(m, h, &exit) == SBI_NEXT_HART_STOPPED)
                return;
            break;
        case HV_EXIT_KICK:
            break;
        case HV_EXIT_GUEST_ERROR:
            log_error("hart %u: unhandled trap: cause %" PRIu64 " (%s), tval 0x%" PRIx64
                      ", pc 0x%" PRIx64,
                      h->id, (uint64_t)(exit.guest_error.cause & ~(1ull << 63)),
                      cause_name(exit.guest_error.cause), exit.guest_error.tval,
                      exit.guest_error.pc);
            machine_stop(m, MACHINE_STOP_GUEST_ERROR);
            return;
        default:
            log_error("hart %u: unknown exit %d from the CPU backend", h->id, (int)exit.reason);
            machine_stop(m, MACHINE_STOP_GUEST_ERROR);
            return;
        }
    }
}

static void *hart_main(void *arg)
{
    struct hart *h = arg;
    while (wait_until_started(h))
        run_hart(h);
    return NULL;
}

int machine_run(struct machine *m, enum machine_stop_reason *why, struct cove_error *err)
{
    if (atomic_exchange(&m->running, true))
        return cove_error_set(err, -EBUSY, "the machine has already run; create a new one");
    int rc = console_start(m);
    if (rc < 0)
        return cove_error_set(err, rc, "cannot start the console thread: %s", strerror(-rc));
    for (unsigned i = 0; i < m->ncpus; i++) {
        struct hart *h = &m->harts[i];
        rc = -pthread_create(&h->thread, NULL, hart_main, h);
        if (rc < 0) {
            cove_error_set(err, rc, "cannot start the thread of hart %u: %s", i, strerror(-rc));
            machine_stop(m, MACHINE_STOP_REQUESTED);
            break;
        }
        h->thread_started = true;
    }
    for (unsigned i = 0; i < m->ncpus; i++)
        if (m->harts[i].thread_started)
            pthread_join(m->harts[i].thread, NULL);
    console_stop(m);
    uart_flush(m->uart);
    if (rc < 0)
        return rc;
    *why = (enum machine_stop_reason)atomic_load(&m->stop_reason);
    return 0;
}
