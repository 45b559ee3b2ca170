/*
 * soft.h — internal state of the soft RV64GC backend (not part of the hv contract).
 *
 * One struct hv_vcpu per hart, touched only by the thread that runs it, except for the
 * fields marked "async" which other threads change with atomics (kick, interrupt lines,
 * flush requests) and then wake the vCPU through the wake_seq futex.
 *
 * The software TLB caches, per 4 KiB virtual page, the host address of the backing RAM,
 * in separate read/write/fetch arrays. There is one group of arrays per translation
 * regime (U, S, S with SUM, M/bare) so that privilege changes and SUM toggling (Linux
 * flips SUM around every user copy) cost no flush, and a few sets of those groups, each
 * tagged with the satp (mode, ASID, root) it translates for, so that switching between
 * address spaces with ASIDs costs no flush either.
 */
#ifndef COVE_HV_SOFT_SOFT_H
#define COVE_HV_SOFT_SOFT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "hv/hv.h"
#include "hv/soft/fpu.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096ull
#define PAGE_MASK (~(PAGE_SIZE - 1))

#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_INVALID (~0ull) /* low bits set: never equals a page-aligned tag */
#define TLB_LOG_MAX 256
#define TLB_SETS 8
/* Buckets of host pages (page number modulo WMAP_BITS) that may have write-TLB entries. */
#define WMAP_BITS 65536u
#define JC_PAGE_BITS 4096u
#define TLB_NO_SATP (~0ull) /* tag of an unused set: mode 15 is never written to satp */
#define SATP_ASID_SHIFT 44
#define SATP_ASID_MASK 0xffffull /* ASIDLEN = 16 */

struct tlb_entry {
    uint64_t tag;     /* virtual page address, or TLB_INVALID */
    uintptr_t addend; /* host address = guest virtual address + addend */
};

enum { TLB_R, TLB_W, TLB_X, TLB_KINDS };
enum { REGIME_U, REGIME_S, REGIME_S_SUM, REGIME_M, REGIMES };

struct tlb_regime {
    struct tlb_entry e[TLB_KINDS][TLB_SIZE];
};

/* The translations of one address space. A set is only ever filled while current, and is
 * tagged with the whole satp rather than the ASID alone, so that a satp write that changes
 * the root or the mode under the same ASID never sees another table's entries. */
struct tlb_set {
    struct tlb_regime regime[REGIMES];
    uint64_t satp;  /* the address space it holds, or TLB_NO_SATP */
    uint64_t used;  /* when it was last made current, for the LRU choice of a victim */
    /* The virtual range of the superpages whose 4 KiB pieces are cached (lo > hi: none):
     * sfence.vma of an address inside flushes the whole set, as the superpage's pieces
     * may sit at any index; one outside (Linux's user pages, while the kernel's linear
     * map uses superpages) drops just its page. */
    uint64_t super_lo, super_hi;
    /* Entries filled since the set's last flush, so that a flush (one per ASID rollover,
     * eviction or full sfence.vma) invalidates those instead of clearing all 48 KiB.
     * nlog > TLB_LOG_MAX: the log overflowed and the next flush clears everything. */
    unsigned nlog;
    struct tlb_entry *log[TLB_LOG_MAX];
};

#define MAX_SLOTS 32

/* Pre-decoded instructions (dcache.c): one slot per 2-byte offset of a guest page, decoded
 * lazily; op 0 means "not decoded yet". Keyed by the host address of the page. */
enum dop {
    OP_UNDECODED, OP_GENERIC, OP_PAGE_END,
    OP_LUI, OP_AUIPC, OP_JAL, OP_JALR,
    OP_BEQ, OP_BNE, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU,
    OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU,
    OP_SB, OP_SH, OP_SW, OP_SD,
    OP_ADDI, OP_SLTI, OP_SLTIU, OP_XORI, OP_ORI, OP_ANDI, OP_SLLI, OP_SRLI, OP_SRAI,
    OP_ADDIW, OP_SLLIW, OP_SRLIW, OP_SRAIW,
    OP_ADD, OP_SUB, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_SRA, OP_OR, OP_AND,
    OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU,
    OP_ADDW, OP_SUBW, OP_SLLW, OP_SRLW, OP_SRAW,
    OP_MULW, OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW,
    OP_FENCE, OP_FENCE_FULL,
    OP_AMO, OP_FP, /* these keep the whole encoding in imm */
    OP_FLW, OP_FLD, OP_FSW, OP_FSD,
    OP_FCSR, /* a CSR instruction on fflags, frm or fcsr; keeps the whole encoding in imm */
    OP_PAUSE, /* a spin-wait hint: pause, or div rd, rs1, x0 (imm = 1; Linux's cpu_relax
               * without Zihintpause); never compiled, so the interpreter counts them */
    OP_COUNT
};

/* 8 bytes: op holds (enum dop << 1) | (length == 4) so that one load gives both. */
struct dinsn {
    int32_t imm;
    uint8_t op, rd, rs1, rs2;
};

#define DCACHE_PAGES 2048
#define DCACHE_BYTES (DCACHE_PAGES * sizeof(struct dpage))
#define DCACHE_COPY_BYTES ((size_t)DCACHE_PAGES * PAGE_SIZE)
/* The low bits of a dcache tag (dcache.c): the fence epoch; this value, never an epoch,
 * marks a tag stale whatever the epoch. */
#define DCACHE_EPOCH_STALE ((uintptr_t)PAGE_SIZE - 1)

struct dpage {
    struct dinsn d[PAGE_SIZE / 2 + 1]; /* + a sentinel: OP_PAGE_END */
};

struct mem_slot {
    uint64_t gpa, size;
    uint8_t *host;
    unsigned flags;
};

struct hv_vm {
    struct hv_vm_config cfg;
    struct mem_slot slots[MAX_SLOTS];
    unsigned nslots;
    uint64_t time_mult;           /* ticks = (ns * time_mult) >> 32 */
    _Atomic int64_t time_offset;  /* added to the scaled host clock */
    _Atomic uint64_t mtimecmp[HV_MAX_VCPUS];
    hv_vcpu *_Atomic vcpus[HV_MAX_VCPUS];
    uint32_t *rvc_table; /* every 16-bit encoding expanded once (rvc.c) */
    bool jit;            /* vCPUs compile hot code (COVE_JIT, read at creation) */
};

/* Privilege levels. */
#define PRV_U 0u
#define PRV_S 1u
#define PRV_M 3u

/* mstatus bits. */
#define MS_SIE (1ull << 1)
#define MS_MIE (1ull << 3)
#define MS_SPIE (1ull << 5)
#define MS_MPIE (1ull << 7)
#define MS_SPP (1ull << 8)
#define MS_MPP_SHIFT 11
#define MS_MPP (3ull << MS_MPP_SHIFT)
#define MS_FS_SHIFT 13
#define MS_FS (3ull << MS_FS_SHIFT)
#define MS_MPRV (1ull << 17)
#define MS_SUM (1ull << 18)
#define MS_MXR (1ull << 19)
#define MS_TVM (1ull << 20)
#define MS_TW (1ull << 21)
#define MS_TSR (1ull << 22)
#define MS_UXL (3ull << 32)
#define MS_SXL (3ull << 34)
#define MS_SD (1ull << 63)

/* mip/mie bits. */
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1ull << IRQ_SSI)
#define MIP_MSIP (1ull << IRQ_MSI)
#define MIP_STIP (1ull << IRQ_STI)
#define MIP_MTIP (1ull << IRQ_MTI)
#define MIP_SEIP (1ull << IRQ_SEI)
#define MIP_MEIP (1ull << IRQ_MEI)
#define S_INTS (MIP_SSIP | MIP_STIP | MIP_SEIP)

#define MENVCFG_FIOM 1ull
#define MENVCFG_STCE (1ull << 63)

/* Exception causes. */
enum {
    EXC_INSN_MISALIGNED = 0,
    EXC_INSN_ACCESS = 1,
    EXC_ILLEGAL = 2,
    EXC_BREAKPOINT = 3,
    EXC_LOAD_MISALIGNED = 4,
    EXC_LOAD_ACCESS = 5,
    EXC_STORE_MISALIGNED = 6,
    EXC_STORE_ACCESS = 7,
    EXC_ECALL_U = 8,
    EXC_ECALL_S = 9,
    EXC_ECALL_M = 11,
    EXC_INSN_PAGE = 12,
    EXC_LOAD_PAGE = 13,
    EXC_STORE_PAGE = 15,
};
#define CAUSE_INTERRUPT (1ull << 63)

/* Access types for translation. */
enum access { ACC_READ, ACC_WRITE, ACC_FETCH };

/* What a pending exit must complete on the next run. */
enum pend_kind { PEND_NONE, PEND_LOAD, PEND_STORE, PEND_SBI };

struct pending {
    enum pend_kind kind;
    uint8_t rd;
    uint8_t size;
    bool fp;
    bool sign;
    uint8_t ilen;
    uint64_t vaddr;
};

/* Load descriptors passed to the slow path: the destination register (bits 4..0) and
 * how to widen the value once an MMIO exit completes. */
#define LD_SIGN 0x40u
#define LD_FP 0x80u

struct hv_vcpu {
    /* Hot state first. x[32] is a sink for decoded writes to x0 (see run.c). */
    uint64_t x[33];
    uint64_t pc;
    unsigned priv;
    struct tlb_entry *tlb_r, *tlb_w, *tlb_x; /* arrays of the current regimes */
    struct fpu fpu;
    uint64_t instret;

    uint64_t mstatus;
    uint64_t medeleg, mideleg, mie, mip; /* mip: guest-writable bits only */
    uint64_t mtvec, mscratch, mepc, mcause, mtval, mcounteren, menvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, scounteren, senvcfg, satp, stimecmp;
    uint64_t pmpcfg[2], pmpaddr[16];
    uint64_t cycle_offset, instret_offset;
    uint64_t timer_ip;  /* MTIP, and STIP when menvcfg.STCE, as last computed */

    /* LR/SC reservation: host address, size and the value LR saw. */
    uint8_t *res_host;
    uint64_t res_val;
    unsigned res_size;

    struct dpage *dcache;  /* DCACHE_PAGES, direct-mapped by host page */
    uintptr_t *dcache_tag; /* host page of each dcache slot | the fence epoch it was last
                              entered in, 0 = free; compact so that a flush is one small
                              memset. A tag of another epoch is stale: its page is kept,
                              with its compiled code, if its bytes still equal its
                              dcache_copy when next entered */
    uintptr_t dcache_epoch; /* moved by every fence.i, 0..DCACHE_EPOCH_STALE - 1 */
    uint8_t *dcache_copy;    /* DCACHE_PAGES x PAGE_SIZE: each slot's page bytes as
                                they were when it was entered */
    uint64_t *dcache_zero;   /* bit per slot: its entries are still the mapping's zeros */
    bool code_dirty;       /* a decoded page was dropped during this block */
    struct jit *jit;       /* compiled code (jit.h); NULL: interpreter only */
    uint32_t *jit_ents;    /* entry table of the page the compiled code runs in */
    uint8_t *jit_link;     /* the chainable jump of the last compiled exit, or NULL */
    struct jit_jump *jit_jc; /* jump cache of compiled code (jit_x86.c) */
    uint64_t jit_gen;      /* cached jumps are valid while their generation equals it:
                              epoch * JIT_GEN_EPOCH + the current fetch array (see
                              jit_gen_bump, tlb_update_regime) */
    /* Buckets of virtual pages (page number modulo JC_PAGE_BITS) that a jump cached in
     * this epoch leads into: sfence.vma of a page of no such bucket leaves the cached
     * jumps valid (tlb_flush_page). Cleared with every new epoch. */
    uint64_t jc_pages[JC_PAGE_BITS / 64];
    bool wfi;           /* waiting for an interrupt */
    uint64_t idle_window;  /* host ns when the current window of idle_asleep began */
    uint64_t idle_asleep;  /* host ns slept in WFI since then (vcpu.c, idle_trim) */
    int64_t time_left;  /* instructions until the run loop next reads the clock (vcpu.c) */
    uint64_t flush_seen; /* flush_seq as of the last look at flush requests */
    unsigned wfi_spins; /* WFIs in a row that could not wait (vcpu.c, WFI_SPINS) */
    bool exit_ready;    /* run must return with *exit filled */
    struct hv_exit *exit;
    struct pending pend;
    uint8_t ilen;       /* length of the instruction being executed (for MMIO completion) */

    hv_vm *vm;
    unsigned hartid;

    /* async */
    bool spinning;         /* the last block ended in a spin-wait loop (run.c, OP_PAUSE) */
    _Atomic uint32_t wake_seq;   /* futex word: bumped by anything that should end a WFI wait */
    _Atomic uint32_t kick;
    _Atomic uint32_t attention;  /* nonzero: the hot loop should return to the run loop */
    _Atomic uint32_t flush_req;
    _Atomic uint32_t timer_dirty; /* a deadline moved: read the clock before the next block */
    _Atomic uint32_t in_guest;   /* inside hv_vcpu_run, not asleep in WFI: flush requests
                                    wait for an ack */
    _Atomic uint64_t flush_seq;  /* flush requests made */
    _Atomic uint64_t flush_ack;  /* requests applied, as of the last look at them */
    _Atomic uint64_t irq_level;  /* MSIP, SEIP, MEIP levels driven from outside */
    _Atomic uint64_t irq_set;    /* one-shot SSIP sets (SBI IPIs) */

    /* One bit per bucket of host pages (host page number modulo WMAP_BITS): set when a
     * write-TLB entry of any set is filled for a page of the bucket, cleared only when
     * entering a page of the bucket into the decoded cache has purged every write entry
     * of the whole bucket. A clear bit: no write entry maps any page of the bucket, and
     * the purge is skipped (dcache.c). */
    uint64_t wmap[WMAP_BITS / 64];
    struct tlb_set *tlb_cur;  /* the set of the current satp: tlb_r/w/x point into it */
    uint64_t tlb_clock;       /* set switches so far (LRU stamps) */
    struct tlb_set tlb[TLB_SETS];
};

/* vm.c */
uint64_t vm_time(hv_vm *vm);
void vcpu_timer_moved(hv_vcpu *v);
uint8_t *vm_ram(hv_vm *vm, uint64_t pa, uint64_t len, unsigned need);
bool vm_is_aclint(hv_vm *vm, uint64_t pa);
int aclint_read(hv_vm *vm, uint64_t off, unsigned size, uint64_t *val);
int aclint_write(hv_vm *vm, uint64_t off, unsigned size, uint64_t val);
void vcpu_wake(hv_vcpu *v);

static inline unsigned wmap_bucket(uintptr_t host)
{
    return (unsigned)(host >> PAGE_SHIFT) & (WMAP_BITS - 1);
}

/* mmu.c */
#define TLB_ANY_ASID (-1)
void tlb_init(hv_vcpu *v);
void tlb_flush_all(hv_vcpu *v);
void tlb_flush_asid(hv_vcpu *v, int asid);
void tlb_flush_page(hv_vcpu *v, uint64_t va, int asid);
void tlb_switch(hv_vcpu *v);
void tlb_update_regime(hv_vcpu *v);
int mmu_fetch_page(hv_vcpu *v, uint64_t va, uint8_t **host);
int mem_load_slow(hv_vcpu *v, uint64_t va, unsigned size, uint64_t *val, unsigned ld);
int mem_store_slow(hv_vcpu *v, uint64_t va, unsigned size, uint64_t val);
uint8_t *mem_atomic_addr(hv_vcpu *v, uint64_t va, unsigned size, bool is_lr);

/* csr.c */
int csr_read(hv_vcpu *v, unsigned csr, uint64_t *val);
int csr_write(hv_vcpu *v, unsigned csr, uint64_t val);
int csr_check(hv_vcpu *v, unsigned csr, bool write);
uint64_t csr_mip(hv_vcpu *v);
uint64_t csr_mstatus_read(hv_vcpu *v);

/* trap.c */
void cpu_exception(hv_vcpu *v, uint64_t cause, uint64_t tval);
bool cpu_take_interrupt(hv_vcpu *v);
uint64_t cpu_pending_enabled(hv_vcpu *v);
void cpu_set_priv(hv_vcpu *v, unsigned priv);
int cpu_mret(hv_vcpu *v);
int cpu_sret(hv_vcpu *v);
void cpu_timer_update(hv_vcpu *v, uint64_t now);

/* exec.c */
enum step { STEP_NEXT, STEP_END, STEP_TRAP };
enum step cpu_step(hv_vcpu *v);
bool cpu_amo_valid(uint32_t insn);
int cpu_amo(hv_vcpu *v, uint32_t insn);

/* run.c */
void cpu_run_block(hv_vcpu *v, int64_t budget);

/* dcache.c */
int dcache_init(hv_vcpu *v);
void dcache_free(hv_vcpu *v);
void dcache_flush(hv_vcpu *v);
void dcache_fence(hv_vcpu *v);
void dcache_trim(hv_vcpu *v);
void dcache_drop(hv_vcpu *v, uintptr_t host_page);
struct dpage *dcache_page(hv_vcpu *v, uintptr_t host_page);
void dcache_decode(const hv_vcpu *v, const uint8_t *page, unsigned off, struct dinsn *d);

/* rvc.c */
uint32_t rvc_expand(uint16_t c);
uint32_t *rvc_table_create(void);

/* The code buffer's pages are mapped ahead of the emitter with MADV_POPULATE_* (jit_x86.c
 * populate_ahead); without it (Linux < 5.14) they simply fault as before. */
#ifndef MADV_POPULATE_WRITE /* C libraries older than the kernel feature (glibc < 2.35) */
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static inline uint8_t *tlb_hit(const struct tlb_entry *t, uint64_t va, unsigned size)
{
    const struct tlb_entry *e = &t[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    /* Folding the alignment bits into the compare sends misaligned accesses to the slow
     * path for free: the tag has no low bits set. */
    if (likely((va & (PAGE_MASK | (uint64_t)(size - 1))) == e->tag))
        return (uint8_t *)(uintptr_t)(va + e->addend);
    return NULL;
}

/* The epoch of jit_gen moves whenever a cached jump may have gone stale: a TLB flush, a
 * dropped decoded page, reset entry tables. Its low part names the fetch array (set and
 * regime) the jumps were found through, so that jumps of another privilege or another
 * address space never match, and match again when their array comes back unflushed. */
#define JIT_GEN_EPOCH 256u
_Static_assert(TLB_SETS * REGIMES <= JIT_GEN_EPOCH, "fetch arrays fit below the epoch");

static inline void jit_gen_bump(hv_vcpu *v)
{
    v->jit_gen += JIT_GEN_EPOCH;
    memset(v->jc_pages, 0, sizeof(v->jc_pages));
}

static inline unsigned jc_page_bucket(uint64_t va)
{
    return (unsigned)(va >> PAGE_SHIFT) & (JC_PAGE_BITS - 1);
}

static inline bool fs_off(const hv_vcpu *v)
{
    return (v->mstatus & MS_FS) == 0;
}

static inline void fs_dirty(hv_vcpu *v)
{
    v->mstatus |= MS_FS;
}

#endif
