/*
 * csr.c — control and status registers: access rules, legal values (WARL), side effects.
 *
 * csr_check() applies the rules that depend on the accessing privilege (guest CSR
 * instructions only); csr_read()/csr_write() apply M-rights semantics and are shared
 * with hv_vcpu_get_reg/set_reg. Both return 0, or -1 for an illegal access.
 */
#include "hv/soft/soft.h"

enum {
    CSR_FFLAGS = 0x001, CSR_FRM = 0x002, CSR_FCSR = 0x003,
    CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCOUNTEREN = 0x106,
    CSR_SENVCFG = 0x10a, CSR_SSCRATCH = 0x140, CSR_SEPC = 0x141, CSR_SCAUSE = 0x142,
    CSR_STVAL = 0x143, CSR_SIP = 0x144, CSR_STIMECMP = 0x14d, CSR_SATP = 0x180,
    CSR_MSTATUS = 0x300, CSR_MISA = 0x301, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303,
    CSR_MIE = 0x304, CSR_MTVEC = 0x305, CSR_MCOUNTEREN = 0x306, CSR_MENVCFG = 0x30a,
    CSR_MCOUNTINHIBIT = 0x320, CSR_MHPMEVENT3 = 0x323, CSR_MHPMEVENT31 = 0x33f,
    CSR_MSCRATCH = 0x340, CSR_MEPC = 0x341, CSR_MCAUSE = 0x342, CSR_MTVAL = 0x343,
    CSR_MIP = 0x344, CSR_PMPCFG0 = 0x3a0, CSR_PMPCFG15 = 0x3af, CSR_PMPADDR0 = 0x3b0,
    CSR_PMPADDR63 = 0x3ef, CSR_MCYCLE = 0xb00, CSR_MINSTRET = 0xb02,
    CSR_MHPMCOUNTER3 = 0xb03, CSR_MHPMCOUNTER31 = 0xb1f, CSR_CYCLE = 0xc00,
    CSR_TIME = 0xc01, CSR_INSTRET = 0xc02, CSR_HPMCOUNTER31 = 0xc1f,
    CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13, CSR_MHARTID = 0xf14,
    CSR_MCONFIGPTR = 0xf15,
};

#define MISA_VALUE                                                                       \
    ((2ull << 62) | (1u << ('A' - 'A')) | (1u << ('C' - 'A')) | (1u << ('D' - 'A')) |     \
     (1u << ('F' - 'A')) | (1u << ('I' - 'A')) | (1u << ('M' - 'A')) |                   \
     (1u << ('S' - 'A')) | (1u << ('U' - 'A')))

#define MSTATUS_WRITABLE                                                                  \
    (MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_FS | MS_MPRV | MS_SUM |   \
     MS_MXR | MS_TVM | MS_TW | MS_TSR)
#define SSTATUS_READ (MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_SUM | MS_MXR | MS_UXL | MS_SD)
#define SSTATUS_WRITABLE (MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_SUM | MS_MXR)
#define MEDELEG_WRITABLE 0xb3ffull /* all synchronous causes but ecall-from-M */
#define MIE_WRITABLE (MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP)
#define PMPADDR_MASK ((1ull << 54) - 1)
#define PMPCFG_MASK 0x9f9f9f9f9f9f9f9full

uint64_t csr_mip(hv_vcpu *v)
{
    uint64_t set = atomic_load_explicit(&v->irq_set, memory_order_relaxed);
    if (set)
        v->mip |= atomic_exchange(&v->irq_set, 0);
    uint64_t mip = v->mip;
    if (v->menvcfg & MENVCFG_STCE)
        mip &= ~MIP_STIP;
    return mip | v->timer_ip |
           (atomic_load_explicit(&v->irq_level, memory_order_relaxed) &
            (MIP_MSIP | MIP_SEIP | MIP_MEIP));
}

uint64_t csr_mstatus_read(hv_vcpu *v)
{
    uint64_t s = v->mstatus | (2ull << 32) | (2ull << 34); /* UXL = SXL = 64 */
    return (s & MS_FS) == MS_FS ? s | MS_SD : s;
}

static int counter_allowed(hv_vcpu *v, unsigned bit)
{
    if (v->priv < PRV_M && !((v->mcounteren >> bit) & 1))
        return -1;
    if (v->priv == PRV_U && !((v->scounteren >> bit) & 1))
        return -1;
    return 0;
}

int csr_check(hv_vcpu *v, unsigned csr, bool write)
{
    if (v->priv < ((csr >> 8) & 3))
        return -1;
    if (write && (csr >> 10) == 3)
        return -1;
    if (csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31)
        return counter_allowed(v, csr & 31);
    switch (csr) {
    case CSR_FFLAGS:
    case CSR_FRM:
    case CSR_FCSR:
        return fs_off(v) ? -1 : 0;
    case CSR_SATP:
        return v->priv == PRV_S && (v->mstatus & MS_TVM) ? -1 : 0;
    case CSR_STIMECMP:
        if (v->priv < PRV_M && !(v->menvcfg & MENVCFG_STCE))
            return -1;
        return v->priv < PRV_M && !(v->mcounteren & 2) ? -1 : 0;
    }
    return 0;
}

static uint64_t instret_now(hv_vcpu *v)
{
    return v->instret;
}

int csr_read(hv_vcpu *v, unsigned csr, uint64_t *val)
{
    uint64_t r;
    switch (csr) {
    case CSR_FFLAGS: case CSR_FRM: case CSR_FCSR: r = fpu_csr_read(&v->fpu, csr); break;
    case CSR_SSTATUS: r = csr_mstatus_read(v) & SSTATUS_READ; break;
    case CSR_SIE: r = v->mie & v->mideleg; break;
    case CSR_STVEC: r = v->stvec; break;
    case CSR_SCOUNTEREN: r = v->scounteren; break;
    case CSR_SENVCFG: r = v->senvcfg; break;
    case CSR_SSCRATCH: r = v->sscratch; break;
    case CSR_SEPC: r = v->sepc; break;
    case CSR_SCAUSE: r = v->scause; break;
    case CSR_STVAL: r = v->stval; break;
    case CSR_SIP:
        cpu_timer_update(v, vm_time(v->vm));
        r = csr_mip(v) & v->mideleg;
        break;
    case CSR_STIMECMP: r = v->stimecmp; break;
    case CSR_SATP: r = v->satp; break;
    case CSR_MSTATUS: r = csr_mstatus_read(v); break;
    case CSR_MISA: r = MISA_VALUE; break;
    case CSR_MEDELEG: r = v->medeleg; break;
    case CSR_MIDELEG: r = v->mideleg; break;
    case CSR_MIE: r = v->mie; break;
    case CSR_MTVEC: r = v->mtvec; break;
    case CSR_MCOUNTEREN: r = v->mcounteren; break;
    case CSR_MENVCFG: r = v->menvcfg; break;
    case CSR_MCOUNTINHIBIT: r = v->mcountinhibit; break;
    case CSR_MSCRATCH: r = v->mscratch; break;
    case CSR_MEPC: r = v->mepc; break;
    case CSR_MCAUSE: r = v->mcause; break;
    case CSR_MTVAL: r = v->mtval; break;
    case CSR_MIP:
        cpu_timer_update(v, vm_time(v->vm));
        r = csr_mip(v);
        break;
    case CSR_CYCLE:
    case CSR_MCYCLE: r = instret_now(v) + v->cycle_offset; break;
    case CSR_INSTRET:
    case CSR_MINSTRET: r = instret_now(v) + v->instret_offset; break;
    case CSR_TIME: r = vm_time(v->vm); break;
    case CSR_MVENDORID:
    case CSR_MARCHID:
    case CSR_MIMPID:
    case CSR_MCONFIGPTR: r = 0; break;
    case CSR_MHARTID: r = v->hartid; break;
    default:
        if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
            (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31) ||
            (csr > CSR_INSTRET && csr <= CSR_HPMCOUNTER31)) {
            r = 0;
        } else if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
            if (csr & 1)
                return -1; /* RV64 has only the even pmpcfg registers */
            r = csr <= CSR_PMPCFG0 + 2 ? v->pmpcfg[(csr - CSR_PMPCFG0) / 2] : 0;
        } else if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
            r = csr < CSR_PMPADDR0 + 16 ? v->pmpaddr[csr - CSR_PMPADDR0] : 0;
        } else {
            return -1;
        }
    }
    *val = r;
    return 0;
}

static void mstatus_write(hv_vcpu *v, uint64_t val, uint64_t mask)
{
    uint64_t old = v->mstatus;
    uint64_t n = (old & ~mask) | (val & mask);
    if (((n & MS_MPP) >> MS_MPP_SHIFT) == 2)
        n &= ~MS_MPP; /* reserved privilege: WARL to U */
    v->mstatus = n & MSTATUS_WRITABLE;
    if ((old ^ n) & MS_MXR)
        tlb_flush_all(v);
    if ((old ^ n) & (MS_MPRV | MS_MPP | MS_SUM))
        tlb_update_regime(v);
}

static void pmpcfg_write(hv_vcpu *v, unsigned i, uint64_t val)
{
    uint64_t old = v->pmpcfg[i], n = 0;
    for (unsigned b = 0; b < 8; b++) {
        uint64_t byte = (((old >> (8 * b)) & 0x80) ? old : val) >> (8 * b) & 0xff;
        if ((byte & 3) == 2)
            byte &= ~2ull; /* W without R is reserved */
        n |= byte << (8 * b);
    }
    v->pmpcfg[i] = n & PMPCFG_MASK;
}

static bool pmpaddr_locked(hv_vcpu *v, unsigned i)
{
    return (v->pmpcfg[i / 8] >> (8 * (i % 8))) & 0x80;
}

int csr_write(hv_vcpu *v, unsigned csr, uint64_t val)
{
    switch (csr) {
    case CSR_FFLAGS: case CSR_FRM: case CSR_FCSR:
        fpu_csr_write(&v->fpu, csr, val);
        fs_dirty(v);
        break;
    case CSR_SSTATUS: mstatus_write(v, val, SSTATUS_WRITABLE); break;
    case CSR_SIE: v->mie = (v->mie & ~v->mideleg) | (val & v->mideleg & S_INTS); break;
    case CSR_STVEC: v->stvec = val & ~2ull; break;
    case CSR_SCOUNTEREN: v->scounteren = val & 0xffffffff; break;
    case CSR_SENVCFG: v->senvcfg = val & MENVCFG_FIOM; break;
    case CSR_SSCRATCH: v->sscratch = val; break;
    case CSR_SEPC: v->sepc = val & ~1ull; break;
    case CSR_SCAUSE: v->scause = val; break;
    case CSR_STVAL: v->stval = val; break;
    case CSR_SIP: v->mip = (v->mip & ~(v->mideleg & MIP_SSIP)) | (val & v->mideleg & MIP_SSIP);
        break;
    case CSR_STIMECMP:
        v->stimecmp = val;
        v->time_left = 0; /* STIP follows at once (vcpu.c reads the clock next block) */
        break;
    case CSR_SATP: {
        uint64_t mode = val >> 60;
        if (mode != 0 && mode != 8 && mode != 9)
            break; /* unsupported mode: the whole write is ignored */
        /* ASIDLEN = 16: Linux probes it (all ones written, read back) and uses ASIDs
         * when there are more than twice as many as harts. */
        v->satp = val & ((15ull << 60) | (SATP_ASID_MASK << SATP_ASID_SHIFT) |
                         ((1ull << 44) - 1));
        tlb_switch(v);
        break;
    }
    case CSR_MSTATUS: mstatus_write(v, val, MSTATUS_WRITABLE); break;
    case CSR_MISA: break;
    case CSR_MEDELEG: v->medeleg = val & MEDELEG_WRITABLE; break;
    case CSR_MIDELEG: v->mideleg = val & S_INTS; break;
    case CSR_MIE: v->mie = val & MIE_WRITABLE; break;
    case CSR_MTVEC: v->mtvec = val & ~2ull; break;
    case CSR_MCOUNTEREN: v->mcounteren = val & 0xffffffff; break;
    case CSR_MENVCFG:
        v->menvcfg = val & (MENVCFG_FIOM | MENVCFG_STCE);
        v->time_left = 0;
        break;
    case CSR_MCOUNTINHIBIT: v->mcountinhibit = val & 5; break;
    case CSR_MSCRATCH: v->mscratch = val; break;
    case CSR_MEPC: v->mepc = val & ~1ull; break;
    case CSR_MCAUSE: v->mcause = val; break;
    case CSR_MTVAL: v->mtval = val; break;
    case CSR_MIP: {
        uint64_t w = MIP_SSIP | MIP_SEIP | ((v->menvcfg & MENVCFG_STCE) ? 0 : MIP_STIP);
        csr_mip(v); /* fold pending SBI IPIs in first so that a clear is not lost */
        v->mip = (v->mip & ~w) | (val & w);
        break;
    }
    case CSR_MCYCLE: v->cycle_offset = val - instret_now(v); break;
    case CSR_MINSTRET: v->instret_offset = val - instret_now(v); break;
    default:
        if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
            (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31))
            break;
        if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
            if (csr & 1)
                return -1;
            if (csr <= CSR_PMPCFG0 + 2)
                pmpcfg_write(v, (csr - CSR_PMPCFG0) / 2, val);
            break;
        }
        if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
            unsigned i = csr - CSR_PMPADDR0;
            if (i < 16 && !pmpaddr_locked(v, i))
                v->pmpaddr[i] = val & PMPADDR_MASK;
            break;
        }
        return -1;
    }
    return 0;
}
