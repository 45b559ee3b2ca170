/*
 * hv.h — the hypervisor contract.
 *
 * The layer below the machine. It owns guest-physical memory slots and vCPUs and runs a
 * vCPU until something the VMM must handle happens (an "exit"). It is shaped after KVM
 * (and Apple's Hypervisor framework) so that a KVM backend can slot in later; nothing
 * above this header knows which backend runs. Today the only backend is "soft": a
 * portable RV64GC interpreter (src/hv/soft/).
 *
 * Rules of the contract:
 *  - Guest RAM is host memory mapped with hv_vm_map(). Every guest-physical address that
 *    is not inside a slot and not inside the in-hv ACLINT is MMIO: loads and stores to it
 *    leave hv_vcpu_run() with HV_EXIT_MMIO. Instruction fetches and page-table walks that
 *    hit MMIO raise access faults in the guest (never an exit).
 *  - One host thread calls hv_vcpu_run() for a given vCPU. hv_vcpu_kick(),
 *    hv_vcpu_set_irq() and hv_vcpu_request_flush() may be called from any thread.
 *  - Completion: after HV_EXIT_MMIO (a read) the VMM stores the value in exit->mmio.data;
 *    after HV_EXIT_SBI it stores exit->sbi.ret[0..1]. The next hv_vcpu_run() applies it
 *    (writes rd / a0,a1 and steps past the instruction) before running guest code.
 *    hv_vcpu_set_reg(HV_REG_PC) or hv_vcpu_reset() discards a pending completion.
 *  - WFI with no enabled interrupt pending blocks inside hv_vcpu_run() (as KVM does in the
 *    kernel) until an interrupt becomes pending (timer, hv_vcpu_set_irq, IPI) or the vCPU
 *    is kicked.
 *  - The guest is hostile: nothing it does may crash the host process. Architectural
 *    errors become guest traps; a trap that nothing in the guest can take (a trap into
 *    M-mode while sbi_exits is set, i.e. no M-mode firmware exists) is HV_EXIT_GUEST_ERROR.
 *  - Functions return 0 or a negative errno.
 */
#ifndef COVE_HV_H
#define COVE_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hv_vm hv_vm;
typedef struct hv_vcpu hv_vcpu;

#define HV_MAX_VCPUS 32

struct hv_vm_config {
    unsigned max_vcpus;    /* 1..HV_MAX_VCPUS */
    uint64_t timebase_hz;  /* frequency of mtime and the time CSR (10 MHz on QEMU virt) */
    /* In-hv ACLINT (SiFive CLINT layout: MSIP words at +0, mtimecmp at +0x4000 + 8*hart,
     * mtime at +0xbff8, 64 KiB window). 0 disables it. Like KVM's in-kernel irqchip, the
     * timer lives next to the CPU so it can be checked without an exit. */
    uint64_t aclint_base;
    /* true: the VMM implements SBI. An `ecall` from S-mode leaves hv_vcpu_run() with
     * HV_EXIT_SBI instead of trapping to M-mode (as KVM-RISC-V does). false: M-mode
     * firmware (OpenSBI) is loaded in guest memory and takes every trap itself. */
    bool sbi_exits;
};

int hv_vm_create(const struct hv_vm_config *cfg, hv_vm **out);
void hv_vm_destroy(hv_vm *vm); /* all vCPUs must be destroyed first */

/* Maps host memory [host, host+size) at guest-physical gpa. Page aligned, no overlap. */
#define HV_MEM_READ 1u
#define HV_MEM_WRITE 2u
#define HV_MEM_EXEC 4u
int hv_vm_map(hv_vm *vm, void *host, uint64_t gpa, uint64_t size, unsigned flags);

/* Guest-visible time (mtime / the time CSR) in timebase ticks; set shifts the clock
 * (used by restore). */
uint64_t hv_vm_get_time(hv_vm *vm);
void hv_vm_set_time(hv_vm *vm, uint64_t ticks);

/* A vCPU starts in M-mode at pc 0 with all registers zero, mhartid = hartid. */
int hv_vcpu_create(hv_vm *vm, unsigned hartid, hv_vcpu **out);
void hv_vcpu_destroy(hv_vcpu *vcpu);
void hv_vcpu_reset(hv_vcpu *vcpu); /* back to the creation state */

enum hv_exit_reason {
    HV_EXIT_MMIO = 1,     /* load/store to an unmapped guest-physical address */
    HV_EXIT_SBI,          /* ecall from S-mode with sbi_exits set */
    HV_EXIT_KICK,         /* hv_vcpu_kick() was called */
    HV_EXIT_GUEST_ERROR,  /* a trap nothing in the guest can take; see guest_error */
};

struct hv_exit {
    enum hv_exit_reason reason;
    union {
        struct {
            uint64_t addr;   /* guest-physical */
            uint64_t data;   /* store: value written; load: VMM fills the value */
            uint8_t len;     /* 1, 2, 4 or 8; naturally aligned */
            bool is_write;
            bool fault;      /* VMM sets it when nothing answers at addr: the access
                                then completes as a load/store access fault */
        } mmio;
        struct {
            uint64_t ext;     /* a7 */
            uint64_t func;    /* a6 */
            uint64_t args[6]; /* a0..a5 */
            uint64_t ret[2];  /* VMM fills: error, value -> a0, a1 */
        } sbi;
        struct {
            uint64_t cause;   /* mcause of the trap */
            uint64_t tval;
            uint64_t pc;
        } guest_error;
    };
};

/* Runs guest code until an exit. Returns 0 (exit filled) or a negative errno. */
int hv_vcpu_run(hv_vcpu *vcpu, struct hv_exit *exit);

/* Makes hv_vcpu_run() return HV_EXIT_KICK soon (at the latest at the next block boundary,
 * or at once when blocked in WFI). A kick while not running makes the next run return at
 * once. Async-signal-safe. */
void hv_vcpu_kick(hv_vcpu *vcpu);

/* Interrupt lines, numbered as mip bits. Level semantics: for the external lines the
 * level is ORed into mip.[SM]EIP (the guest-writable SEIP bit stays separate, as the
 * privileged spec says). HV_IRQ_S_SOFT with level 1 sets mip.SSIP (an SBI IPI); the guest
 * clears it itself. HV_IRQ_M_SOFT mirrors an ACLINT MSIP write. */
#define HV_IRQ_S_SOFT 1
#define HV_IRQ_M_SOFT 3
#define HV_IRQ_S_EXT 9
#define HV_IRQ_M_EXT 11
int hv_vcpu_set_irq(hv_vcpu *vcpu, unsigned irq, bool level);

/* Asks the vCPU to flush before it runs its next instruction (SBI RFENCE). */
#define HV_FLUSH_TLB 1u    /* sfence.vma of everything */
#define HV_FLUSH_ICACHE 2u /* fence.i (drops any decoded-instruction cache) */
void hv_vcpu_request_flush(hv_vcpu *vcpu, unsigned what);

/* Register ids for get/set. CSRs are accessed with M-mode rights and the legal-value
 * rules (WARL) of a guest write, without privilege checks. */
#define HV_REG_X(n) (n)             /* x0..x31 (x0 reads 0, writes ignored) */
#define HV_REG_PC 32u
#define HV_REG_PRIV 33u             /* 0 = U, 1 = S, 3 = M */
#define HV_REG_MTIMECMP 34u         /* this hart's ACLINT mtimecmp */
#define HV_REG_F(n) (64u + (n))     /* f0..f31, raw 64-bit (NaN-boxed for singles) */
#define HV_REG_CSR(n) (0x1000u + (n)) /* CSR number n (0..0xfff) */
int hv_vcpu_get_reg(hv_vcpu *vcpu, unsigned id, uint64_t *value);
int hv_vcpu_set_reg(hv_vcpu *vcpu, unsigned id, uint64_t value);

/* The whole architectural state of a vCPU, for save and restore (as KVM's ONE_REG list
 * is). Caches (software TLB, decoded instructions, compiled code) are not part of it:
 * set_state drops them. get_state fails with -EBUSY while an exit still waits for its
 * completion: call it after an HV_EXIT_KICK (a run that returns KICK has completed the
 * exit before it). irq_level holds the lines driven from outside (HV_IRQ_M_SOFT,
 * HV_IRQ_S_EXT, HV_IRQ_M_EXT, as mip bits); mip the guest-writable bits, SBI IPIs
 * folded in. mtimecmp is this hart's ACLINT compare, in guest time (hv_vm_get_time). */
struct hv_vcpu_state {
    uint64_t x[32]; /* x[0] is 0 */
    uint64_t pc;
    uint64_t priv;
    uint64_t f[32];
    uint64_t fflags, frm;
    uint64_t mstatus, medeleg, mideleg, mie, mip;
    uint64_t mtvec, mscratch, mepc, mcause, mtval, mcounteren, menvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, scounteren, senvcfg, satp, stimecmp;
    uint64_t pmpcfg[2], pmpaddr[16];
    uint64_t cycle_offset, instret_offset, instret;
    uint64_t mtimecmp;
    uint64_t irq_level;
    uint64_t wfi;   /* 1: waiting for an interrupt */
};
int hv_vcpu_get_state(hv_vcpu *vcpu, struct hv_vcpu_state *out);
/* -EINVAL (nothing changed) for a privilege level that does not exist. */
int hv_vcpu_set_state(hv_vcpu *vcpu, const struct hv_vcpu_state *in);

/* Counters for benchmarks and --verbose (instructions retired since creation). */
uint64_t hv_vcpu_instret(hv_vcpu *vcpu);

#endif
