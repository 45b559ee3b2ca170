/*
 * test_isa.c — runs the ISA test programs (the .S files beside it) on the soft CPU.
 *
 * Each program is a flat binary that starts in M-mode at 0x80000000 and reports through
 * the SiFive test device at 0x100000: 0x5555 = passed, (n << 16) | 0x3333 = case n
 * failed. The same programs pass on QEMU (run-qemu.sh), so a failure here is a soft-CPU
 * bug in the class the program names. Accesses to one unassigned page (NOTHING_HERE in
 * macros.h) are answered "nothing there", as QEMU's board does; any other exit fails the
 * program, and a watchdog kicks a vCPU that runs past its time limit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "hv/hv.h"
#include "isa_programs.h"
#include "../test.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (64ull << 20)
#define TEST_DEVICE 0x100000ull
/* NOTHING_HERE in macros.h: unassigned on QEMU virt, where accesses fault */
#define HOLE_BASE 0x7000000ull
#define HOLE_SIZE 0x1000ull
#define TIME_LIMIT_S 5

struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool fired;
    hv_vcpu *vcpu;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += TIME_LIMIT_S;
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT) {
            /* Again every second: a kick may be used up by a run that returned for
             * another reason (an MMIO exit) just before it. */
            w->fired = true;
            hv_vcpu_kick(w->vcpu);
            deadline.tv_sec += 1;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int load_file(const char *path, void *dst, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t n = fread(dst, 1, cap, f);
    int err = ferror(f) ? -EIO : (!feof(f) && fgetc(f) != EOF) ? -EFBIG : 0;
    fclose(f);
    *len = n;
    return err;
}

/* Interprets the exits of one run. Returns 1 when the program finished (pass or fail),
 * 0 to go on running. */
static int handle_exit(const char *name, struct hv_exit *ex, bool fired, bool *passed)
{
    switch (ex->reason) {
    case HV_EXIT_MMIO:
        if (ex->mmio.addr - HOLE_BASE < HOLE_SIZE) {
            ex->mmio.fault = true; /* the guest sees an access fault, as on QEMU */
            return 0;
        }
        if (ex->mmio.is_write && ex->mmio.addr == TEST_DEVICE && ex->mmio.len == 4) {
            uint32_t v = (uint32_t)ex->mmio.data;
            if (v == 0x5555) {
                *passed = true;
            } else if ((v & 0xffff) == 0x3333) {
                printf("  %s: case %u failed\n", name, v >> 16);
            } else {
                printf("  %s: unexpected test-device value 0x%x\n", name, v);
            }
            return 1;
        }
        printf("  %s: unexpected MMIO %s at 0x%" PRIx64 " (len %u)\n", name,
               ex->mmio.is_write ? "write" : "read", ex->mmio.addr, ex->mmio.len);
        return 1;
    case HV_EXIT_KICK:
        if (!fired)
            return 0; /* spurious: nobody asked to stop yet */
        printf("  %s: no result within %d s\n", name, TIME_LIMIT_S);
        return 1;
    case HV_EXIT_SBI:
        printf("  %s: unexpected SBI exit (ext 0x%" PRIx64 ")\n", name, ex->sbi.ext);
        return 1;
    case HV_EXIT_GUEST_ERROR:
        printf("  %s: guest error cause 0x%" PRIx64 " tval 0x%" PRIx64 " pc 0x%" PRIx64 "\n",
               name, ex->guest_error.cause, ex->guest_error.tval, ex->guest_error.pc);
        return 1;
    }
    printf("  %s: unknown exit reason %d\n", name, (int)ex->reason);
    return 1;
}

static bool run_vcpu(const char *name, hv_vcpu *vcpu)
{
    struct watchdog w = { .lock = PTHREAD_MUTEX_INITIALIZER,
                          .cond = PTHREAD_COND_INITIALIZER,
                          .vcpu = vcpu };
    pthread_t thread;
    bool passed = false;

    if (pthread_create(&thread, NULL, watchdog_main, &w) != 0) {
        printf("  %s: cannot start the watchdog\n", name);
        return false;
    }
    /* One exit record for the whole run: the answer to an exit (mmio.fault) is read by
     * the next hv_vcpu_run() from the record it is given. */
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    for (;;) {
        int err = hv_vcpu_run(vcpu, &ex);
        if (err < 0) {
            printf("  %s: hv_vcpu_run: %s\n", name, strerror(-err));
            break;
        }
        pthread_mutex_lock(&w.lock);
        bool fired = w.fired;
        pthread_mutex_unlock(&w.lock);
        if (handle_exit(name, &ex, fired, &passed))
            break;
    }
    pthread_mutex_lock(&w.lock);
    w.done = true;
    pthread_cond_signal(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(thread, NULL);
    return passed;
}

static bool run_program(const char *name)
{
    struct hv_vm_config cfg = { .max_vcpus = 1, .timebase_hz = 10000000,
                                .aclint_base = 0x2000000, .sbi_exits = false };
    char path[4096];
    hv_vm *vm = NULL;
    hv_vcpu *vcpu = NULL;
    bool passed = false;
    size_t len = 0;
    int err;

    snprintf(path, sizeof(path), "%s/%s.bin", ISA_BIN_DIR, name);
    void *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED) {
        printf("  %s: mmap: %s\n", name, strerror(errno));
        return false;
    }
    if ((err = load_file(path, ram, RAM_SIZE, &len)) < 0) {
        printf("  %s: %s: %s\n", name, path, strerror(-err));
        goto out;
    }
    if ((err = hv_vm_create(&cfg, &vm)) < 0 ||
        (err = hv_vm_map(vm, ram, RAM_BASE, RAM_SIZE,
                         HV_MEM_READ | HV_MEM_WRITE | HV_MEM_EXEC)) < 0 ||
        (err = hv_vcpu_create(vm, 0, &vcpu)) < 0 ||
        (err = hv_vcpu_set_reg(vcpu, HV_REG_PC, RAM_BASE)) < 0 ||
        (err = hv_vcpu_set_reg(vcpu, HV_REG_X(10), 0)) < 0) {
        printf("  %s: setting up the VM: %s\n", name, strerror(-err));
        goto out;
    }
    passed = run_vcpu(name, vcpu);
    if (!passed) {
        uint64_t pc = 0, gp = 0;
        hv_vcpu_get_reg(vcpu, HV_REG_PC, &pc);
        hv_vcpu_get_reg(vcpu, HV_REG_X(3), &gp);
        printf("  %s: stopped at pc 0x%" PRIx64 ", case register gp = %" PRIu64
               ", %" PRIu64 " instructions\n", name, pc, gp, hv_vcpu_instret(vcpu));
    }
out:
    if (vcpu)
        hv_vcpu_destroy(vcpu);
    if (vm)
        hv_vm_destroy(vm);
    munmap(ram, RAM_SIZE);
    return passed;
}

int main(int argc, char **argv)
{
#if ISA_NPROGRAMS > 0
    static const char *const programs[] = { ISA_PROGRAMS };
    size_t n = sizeof(programs) / sizeof(programs[0]);
#else
    static const char *const *programs = NULL;
    size_t n = 0;
#endif

    (void)test_current_failed;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (n == 0)
        test_skip("no ISA programs built (riscv64-linux-gnu-gcc not found)");
    for (size_t i = 0; i < n; i++) {
        /* An argument selects programs by name, for debugging one class. */
        if (argc > 1 && !strstr(programs[i], argv[1]))
            continue;
        if (run_program(programs[i])) {
            test_passed++;
            printf("ok   %s\n", programs[i]);
        } else {
            test_failed++;
            printf("FAIL %s\n", programs[i]);
        }
    }
    return test_summary();
}
