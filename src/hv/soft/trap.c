/*
 * trap.c — trap entry (exceptions and interrupts with delegation), xRET, the timers.
 *
 * A trap that would enter M-mode while sbi_exits is set has no handler in the guest (no
 * firmware exists), so it becomes HV_EXIT_GUEST_ERROR instead.
 */
#include "hv/soft/soft.h"

void cpu_set_priv(hv_vcpu *v, unsigned priv)
{
    v->priv = priv;
    tlb_update_regime(v);
}

static void guest_error(hv_vcpu *v, uint64_t cause, uint64_t tval)
{
    struct hv_exit *e = v->exit;
    e->reason = HV_EXIT_GUEST_ERROR;
    e->guest_error.cause = cause;
    e->guest_error.tval = tval;
    e->guest_error.pc = v->pc;
    v->exit_ready = true;
}

static void trap_enter(hv_vcpu *v, uint64_t cause, uint64_t tval)
{
    bool irq = cause & CAUSE_INTERRUPT;
    unsigned code = (unsigned)(cause & 63);
    uint64_t deleg = irq ? v->mideleg : v->medeleg;
    v->res_host = NULL;
    v->wfi = false;
    if (v->priv <= PRV_S && ((deleg >> code) & 1)) {
        v->scause = cause;
        v->sepc = v->pc;
        v->stval = tval;
        uint64_t s = v->mstatus & ~(MS_SPP | MS_SPIE | MS_SIE);
        if (v->mstatus & MS_SIE)
            s |= MS_SPIE;
        if (v->priv == PRV_S)
            s |= MS_SPP;
        v->mstatus = s;
        uint64_t base = v->stvec & ~3ull;
        v->pc = (irq && (v->stvec & 1)) ? base + 4ull * code : base;
        cpu_set_priv(v, PRV_S);
        return;
    }
    if (v->vm->cfg.sbi_exits) {
        guest_error(v, cause, tval);
        return;
    }
    v->mcause = cause;
    v->mepc = v->pc;
    v->mtval = tval;
    uint64_t m = v->mstatus & ~(MS_MPP | MS_MPIE | MS_MIE);
    if (v->mstatus & MS_MIE)
        m |= MS_MPIE;
    m |= (uint64_t)v->priv << MS_MPP_SHIFT;
    v->mstatus = m;
    uint64_t base = v->mtvec & ~3ull;
    v->pc = (irq && (v->mtvec & 1)) ? base + 4ull * code : base;
    cpu_set_priv(v, PRV_M);
}

/* v->pc must hold the pc of the faulting instruction. */
void cpu_exception(hv_vcpu *v, uint64_t cause, uint64_t tval)
{
    trap_enter(v, cause, tval);
}

/* Interrupts pending and enabled in mie, whatever the global enables (WFI's wake rule). */
uint64_t cpu_pending_enabled(hv_vcpu *v)
{
    return csr_mip(v) & v->mie;
}

/* Highest priority first: MEI, MSI, MTI, SEI, SSI, STI. */
static const unsigned irq_order[] = { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI };

static int pick(uint64_t set)
{
    for (unsigned i = 0; i < sizeof(irq_order) / sizeof(irq_order[0]); i++)
        if (set & (1ull << irq_order[i]))
            return (int)irq_order[i];
    return -1;
}

bool cpu_take_interrupt(hv_vcpu *v)
{
    uint64_t pending = cpu_pending_enabled(v);
    if (!pending)
        return false;
    uint64_t m = pending & ~v->mideleg;
    bool m_on = v->priv < PRV_M || (v->mstatus & MS_MIE);
    int irq = m_on ? pick(m) : -1;
    if (irq < 0) {
        uint64_t s = pending & v->mideleg;
        bool s_on = v->priv < PRV_S || (v->priv == PRV_S && (v->mstatus & MS_SIE));
        irq = s_on ? pick(s) : -1;
    }
    if (irq < 0)
        return false;
    trap_enter(v, CAUSE_INTERRUPT | (unsigned)irq, 0);
    return true;
}

int cpu_mret(hv_vcpu *v)
{
    if (v->priv != PRV_M)
        return -1;
    unsigned to = (unsigned)((v->mstatus & MS_MPP) >> MS_MPP_SHIFT);
    uint64_t m = v->mstatus & ~(MS_MIE | MS_MPP);
    if (v->mstatus & MS_MPIE)
        m |= MS_MIE;
    m |= MS_MPIE;
    if (to != PRV_M)
        m &= ~MS_MPRV;
    v->mstatus = m;
    v->pc = v->mepc;
    v->res_host = NULL;
    cpu_set_priv(v, to);
    return 0;
}

int cpu_sret(hv_vcpu *v)
{
    if (v->priv < PRV_S || (v->priv == PRV_S && (v->mstatus & MS_TSR)))
        return -1;
    unsigned to = (v->mstatus & MS_SPP) ? PRV_S : PRV_U;
    uint64_t m = v->mstatus & ~(MS_SIE | MS_SPP);
    if (v->mstatus & MS_SPIE)
        m |= MS_SIE;
    m |= MS_SPIE;
    m &= ~MS_MPRV; /* the target is never M */
    v->mstatus = m;
    v->pc = v->sepc;
    v->res_host = NULL;
    cpu_set_priv(v, to);
    return 0;
}

void cpu_timer_update(hv_vcpu *v, uint64_t now)
{
    uint64_t ip = 0;
    if (now >= atomic_load_explicit(&v->vm->mtimecmp[v->hartid], memory_order_relaxed))
        ip |= MIP_MTIP;
    if ((v->menvcfg & MENVCFG_STCE) && now >= v->stimecmp)
        ip |= MIP_STIP;
    v->timer_ip = ip;
}
