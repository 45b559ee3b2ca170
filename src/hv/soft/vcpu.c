/*
 * vcpu.c — vCPU lifecycle, the run loop, exits and their completion, WFI blocking,
 * cross-thread kicks/interrupts/flush requests, register access.
 *
 * Cross-thread requests set an atomic word, raise `attention` (polled by the hot loop at
 * taken branches) and bump the wake_seq futex so that a vCPU sleeping in WFI wakes up.
 * Every step of that is async-signal-safe, which hv_vcpu_kick() needs.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hv/soft/jit.h"
#include "hv/soft/soft.h"

/* Instructions per block between two looks at requests and interrupts. */
#define BLOCK_BUDGET 4096
/* The clock is read (timers recomputed) once this many instructions have retired since
 * the last read, a block counting as at least TIME_BLOCK_COST: a clock_gettime per block
 * was a tenth of the host time where blocks are short (a kernel patching itself, a fence.i
 * ending every block; a hart spinning on WFI). Anything that moves a deadline (mtimecmp,
 * stimecmp, menvcfg, hv_vm_set_time, a WFI sleep) forces the next block to read it. */
#define TIME_CHECK_INSNS 4096
#define TIME_BLOCK_COST 64
/* A WFI that cannot wait (an interrupt is pending and enabled in mie but masked by
 * mstatus: OpenSBI's hart-wait loop with an IPI left pending) is a spin. After WFI_SPINS
 * of them in a row the hart sleeps as WFI would, for at most WFI_SPIN_SLEEP_NS, or until a
 * wake (an IPI, an interrupt line, a kick, a timer write). */
#define WFI_SPINS 64
#define WFI_SPIN_SLEEP_NS 1000000ull
/* Longest WFI sleep without a deadline: a safety net, not a timing contract. */
#define WFI_MAX_SLEEP_NS 1000000000ull
/* A vCPU that slept in WFI for IDLE_SHARE percent of a window of IDLE_WINDOW_NS gives
 * its decoded pages and compiled code back to the host (dcache_trim): an idle VM then
 * costs little beyond its guest's pages, and the next busy stretch decodes and compiles
 * its working set again. */
#define IDLE_WINDOW_NS 4000000000ull
#define IDLE_SHARE 98

void vcpu_wake(hv_vcpu *v)
{
    atomic_store(&v->attention, 1);
    atomic_fetch_add(&v->wake_seq, 1);
    syscall(SYS_futex, &v->wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* A deadline of v moved (mtimecmp, the time offset): the next block reads the clock, and
 * a WFI sleep recomputes its deadline. Any thread. */
void vcpu_timer_moved(hv_vcpu *v)
{
    atomic_store_explicit(&v->timer_dirty, 1, memory_order_relaxed);
    vcpu_wake(v);
}

static void reset_state(hv_vcpu *v)
{
    memset(v->x, 0, sizeof(v->x));
    memset(&v->fpu, 0, sizeof(v->fpu));
    v->pc = 0;
    v->instret = 0;
    v->mstatus = 0;
    v->medeleg = v->mideleg = v->mie = v->mip = 0;
    v->mtvec = v->mscratch = v->mepc = v->mcause = v->mtval = 0;
    v->mcounteren = v->menvcfg = v->mcountinhibit = 0;
    v->stvec = v->sscratch = v->sepc = v->scause = v->stval = 0;
    v->scounteren = v->senvcfg = v->satp = 0;
    v->stimecmp = ~0ull;
    memset(v->pmpcfg, 0, sizeof(v->pmpcfg));
    memset(v->pmpaddr, 0, sizeof(v->pmpaddr));
    v->cycle_offset = v->instret_offset = 0;
    v->timer_ip = 0;
    v->res_host = NULL;
    v->wfi = false;
    v->exit_ready = false;
    v->pend.kind = PEND_NONE;
    atomic_store(&v->irq_level, 0);
    atomic_store(&v->irq_set, 0);
    atomic_store(&v->flush_req, 0);
    atomic_store(&v->vm->mtimecmp[v->hartid], ~0ull);
    tlb_flush_all(v);
    tlb_switch(v);
    dcache_flush(v);
    cpu_set_priv(v, PRV_M);
}

int hv_vcpu_create(hv_vm *vm, unsigned hartid, hv_vcpu **out)
{
    if (!vm || !out || hartid >= vm->cfg.max_vcpus)
        return -EINVAL;
    if (atomic_load(&vm->vcpus[hartid]))
        return -EEXIST;
    hv_vcpu *v = aligned_alloc(64, (sizeof(*v) + 63) & ~(size_t)63);
    if (!v)
        return -ENOMEM;
    memset(v, 0, sizeof(*v));
    tlb_init(v);
    if (dcache_init(v)) {
        free(v);
        return -ENOMEM;
    }
    v->vm = vm;
    v->hartid = hartid;
    /* Without executable memory the interpreter runs everything: v->jit stays NULL. */
    if (vm->jit)
        jit_init(v);
    reset_state(v);
    atomic_store(&vm->vcpus[hartid], v);
    *out = v;
    return 0;
}

void hv_vcpu_destroy(hv_vcpu *v)
{
    if (!v)
        return;
    atomic_store(&v->vm->vcpus[v->hartid], NULL);
    jit_free(v);
    dcache_free(v);
    free(v);
}

void hv_vcpu_reset(hv_vcpu *v)
{
    reset_state(v);
}

uint64_t hv_vcpu_instret(hv_vcpu *v)
{
    return v->instret;
}

void hv_vcpu_kick(hv_vcpu *v)
{
    atomic_store(&v->kick, 1);
    vcpu_wake(v);
}

int hv_vcpu_set_irq(hv_vcpu *v, unsigned irq, bool level)
{
    uint64_t bit = 1ull << irq;
    switch (irq) {
    case HV_IRQ_S_SOFT:
        if (level)
            atomic_fetch_or(&v->irq_set, bit);
        break;
    case HV_IRQ_M_SOFT:
    case HV_IRQ_S_EXT:
    case HV_IRQ_M_EXT:
        if (level)
            atomic_fetch_or(&v->irq_level, bit);
        else
            atomic_fetch_and(&v->irq_level, ~bit);
        break;
    default:
        return -EINVAL;
    }
    vcpu_wake(v);
    return 0;
}

/* The guest asked for a remote fence and will trust it once the SBI call returns, so the
 * request is synchronous: while the target executes guest code, wait until it has
 * left its block (it polls `attention` at every jump). A target outside guest code
 * applies the flush before it runs its next instruction, so no wait is needed then.
 * Called from the target's own thread, in_guest is 0 and this never waits. */
void hv_vcpu_request_flush(hv_vcpu *v, unsigned what)
{
    atomic_fetch_or(&v->flush_req, what & (HV_FLUSH_TLB | HV_FLUSH_ICACHE));
    uint64_t seq = atomic_fetch_add(&v->flush_seq, 1) + 1;
    atomic_store(&v->attention, 1);
    while (atomic_load(&v->in_guest) && atomic_load(&v->flush_ack) < seq)
        sched_yield();
}

/* Applies the VMM's answer to the exit that the previous run returned. */
static void complete_pending(hv_vcpu *v, const struct hv_exit *e)
{
    struct pending p = v->pend;
    v->pend.kind = PEND_NONE;
    switch (p.kind) {
    case PEND_NONE:
        return;
    case PEND_LOAD: {
        if (e->mmio.fault) {
            cpu_exception(v, EXC_LOAD_ACCESS, p.vaddr);
            return;
        }
        uint64_t val = e->mmio.data;
        if (p.size < 8) {
            unsigned sh = 64 - 8 * p.size;
            val = p.sign ? (uint64_t)((int64_t)(val << sh) >> sh) : (val << sh) >> sh;
        }
        if (p.fp) {
            v->fpu.f[p.rd] = p.size == 4 ? (val & 0xffffffffull) | 0xffffffff00000000ull : val;
            fs_dirty(v);
        } else if (p.rd) {
            v->x[p.rd] = val;
        }
        break;
    }
    case PEND_STORE:
        if (e->mmio.fault) {
            cpu_exception(v, EXC_STORE_ACCESS, p.vaddr);
            return;
        }
        break;
    case PEND_SBI:
        v->x[10] = e->sbi.ret[0];
        v->x[11] = e->sbi.ret[1];
        break;
    }
    v->pc += p.ilen;
    v->instret++;
}

static uint64_t ticks_to_ns(hv_vm *vm, uint64_t ticks)
{
    unsigned __int128 ns = (unsigned __int128)ticks * 1000000000ull / vm->cfg.timebase_hz;
    return ns > WFI_MAX_SLEEP_NS ? WFI_MAX_SLEEP_NS : (uint64_t)ns;
}

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Called before each WFI sleep: ends the window when it is over, trimming if it was
 * idle. */
static void idle_trim(hv_vcpu *v, uint64_t now)
{
    uint64_t span = now - v->idle_window;
    if (span < IDLE_WINDOW_NS)
        return;
    if (v->idle_asleep * 100 >= span * IDLE_SHARE)
        dcache_trim(v);
    v->idle_window = now;
    v->idle_asleep = 0;
}

/* Sleeps until something could make an interrupt pending: a timer deadline or a wake.
 * spin: the hart spins on a WFI that cannot wait (WFI_SPINS): sleeps at most
 * WFI_SPIN_SLEEP_NS, or until a timer not yet pending fires, or a wake. */
static void wfi_wait(hv_vcpu *v, bool spin)
{
    uint32_t seq = atomic_load(&v->wake_seq);
    if (atomic_load(&v->kick) || atomic_load(&v->flush_req))
        return;
    uint64_t now = vm_time(v->vm);
    cpu_timer_update(v, now);
    v->time_left = TIME_CHECK_INSNS;
    if (!spin && cpu_pending_enabled(v))
        return;
    uint64_t deadline = ~0ull;
    if ((v->mie & MIP_MTIP) && !(v->timer_ip & MIP_MTIP))
        deadline = atomic_load(&v->vm->mtimecmp[v->hartid]);
    if ((v->mie & MIP_STIP) && (v->menvcfg & MENVCFG_STCE) && !(v->timer_ip & MIP_STIP) &&
        v->stimecmp < deadline)
        deadline = v->stimecmp;
    uint64_t ns = deadline == ~0ull ? WFI_MAX_SLEEP_NS : ticks_to_ns(v->vm, deadline - now);
    if (spin && ns > WFI_SPIN_SLEEP_NS)
        ns = WFI_SPIN_SLEEP_NS;
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
                           .tv_nsec = (long)(ns % 1000000000ull) };
    uint64_t t0 = host_ns();
    idle_trim(v, t0);
    syscall(SYS_futex, &v->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    v->idle_asleep += host_ns() - t0;
}

/* Flush requests of other threads (hv_vcpu_request_flush), seen at a block boundary.
 * The common case, nothing asked since the last look, is one plain load: in_guest stays
 * set for the whole run (hv_vcpu_run), so no locked operation is needed per block. A
 * request whose sequence number this load misses is seen at the next boundary, as its
 * `attention` ends the block at the next jump. */
static void apply_flush_requests(hv_vcpu *v)
{
    uint64_t seq = atomic_load_explicit(&v->flush_seq, memory_order_acquire);
    if (likely(seq == v->flush_seen))
        return;
    v->flush_seen = seq;
    unsigned what = atomic_exchange(&v->flush_req, 0);
    if (what & HV_FLUSH_TLB)
        tlb_flush_all(v);
    if (what & HV_FLUSH_ICACHE)
        dcache_fence(v);
    atomic_store_explicit(&v->flush_ack, seq, memory_order_release);
}

/* Marks the vCPU as running guest code (or not) for hv_vcpu_request_flush. Entering is a
 * full fence (a locked store): the flush_seq loads that follow cannot pass it, so either
 * the requester sees in_guest and waits for the ack, or this thread sees its request. */
static void guest_enter(hv_vcpu *v)
{
    atomic_store(&v->in_guest, 1);
    apply_flush_requests(v);
}

static void guest_leave(hv_vcpu *v)
{
    atomic_store_explicit(&v->in_guest, 0, memory_order_release);
}

/* Whether the block about to run should first recompute the timers: TIME_CHECK_INSNS
 * retired since the last clock read, or a deadline moved (timer_dirty: other threads). */
static bool time_due(hv_vcpu *v)
{
    return v->time_left <= 0 ||
           atomic_load_explicit(&v->timer_dirty, memory_order_relaxed);
}

static int run_loop(hv_vcpu *v, struct hv_exit *exit)
{
    for (;;) {
        atomic_store_explicit(&v->attention, 0, memory_order_relaxed);
        if (unlikely(atomic_load_explicit(&v->kick, memory_order_relaxed))) {
            atomic_store(&v->kick, 0);
            exit->reason = HV_EXIT_KICK;
            return 0;
        }
        if (time_due(v)) {
            atomic_store_explicit(&v->timer_dirty, 0, memory_order_relaxed);
            cpu_timer_update(v, vm_time(v->vm));
            v->time_left = TIME_CHECK_INSNS;
        }
        if (cpu_take_interrupt(v)) {
            v->wfi_spins = 0;
            if (v->exit_ready)
                return 0;
        }
        if (v->wfi) {
            bool spin = false;
            if (cpu_pending_enabled(v)) /* pending, masked: WFI does not wait */
                spin = ++v->wfi_spins >= WFI_SPINS;
            if (!cpu_pending_enabled(v) || spin) {
                guest_leave(v);
                wfi_wait(v, spin);
                guest_enter(v);
                v->time_left = 0;
                if (spin) {
                    v->wfi_spins = 0;
                    v->wfi = false;
                }
                continue;
            }
            v->wfi = false;
        } else {
            v->wfi_spins = 0;
        }
        apply_flush_requests(v);
        uint64_t before = v->instret;
        cpu_run_block(v, BLOCK_BUDGET);
        v->time_left -= (int64_t)(v->instret - before) + TIME_BLOCK_COST;
        if (v->exit_ready)
            return 0;
        if (v->spinning) { /* the guest waits for another hart: let it have the core */
            v->spinning = false;
            sched_yield();
        }
    }
}

int hv_vcpu_run(hv_vcpu *v, struct hv_exit *exit)
{
    if (!v || !exit)
        return -EINVAL;
    v->exit = exit;
    v->exit_ready = false;
    complete_pending(v, exit);
    if (v->exit_ready)
        return 0;
    v->time_left = 0; /* time passed outside: read the clock first */
    guest_enter(v);
    int r = run_loop(v, exit);
    guest_leave(v);
    return r;
}

int hv_vcpu_get_reg(hv_vcpu *v, unsigned id, uint64_t *value)
{
    if (!v || !value)
        return -EINVAL;
    if (id < 32) {
        *value = id ? v->x[id] : 0;
    } else if (id == HV_REG_PC) {
        *value = v->pc;
    } else if (id == HV_REG_PRIV) {
        *value = v->priv;
    } else if (id == HV_REG_MTIMECMP) {
        *value = atomic_load(&v->vm->mtimecmp[v->hartid]);
    } else if (id >= HV_REG_F(0) && id <= HV_REG_F(31)) {
        *value = v->fpu.f[id - HV_REG_F(0)];
    } else if (id >= HV_REG_CSR(0) && id <= HV_REG_CSR(0xfff)) {
        if (csr_read(v, id - HV_REG_CSR(0), value))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    return 0;
}

int hv_vcpu_set_reg(hv_vcpu *v, unsigned id, uint64_t value)
{
    if (!v)
        return -EINVAL;
    if (id < 32) {
        if (id)
            v->x[id] = value;
    } else if (id == HV_REG_PC) {
        v->pc = value & ~1ull;
        v->pend.kind = PEND_NONE;
        v->wfi = false;
    } else if (id == HV_REG_PRIV) {
        if (value != PRV_U && value != PRV_S && value != PRV_M)
            return -EINVAL;
        cpu_set_priv(v, (unsigned)value);
    } else if (id == HV_REG_MTIMECMP) {
        atomic_store(&v->vm->mtimecmp[v->hartid], value);
        vcpu_timer_moved(v);
    } else if (id >= HV_REG_F(0) && id <= HV_REG_F(31)) {
        v->fpu.f[id - HV_REG_F(0)] = value;
    } else if (id >= HV_REG_CSR(0) && id <= HV_REG_CSR(0xfff)) {
        if (csr_write(v, id - HV_REG_CSR(0), value))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    return 0;
}

int hv_vcpu_get_state(hv_vcpu *v, struct hv_vcpu_state *s)
{
    if (!v || !s)
        return -EINVAL;
    if (v->pend.kind != PEND_NONE)
        return -EBUSY;
    memset(s, 0, sizeof *s);
    memcpy(s->x, v->x, sizeof s->x);
    s->x[0] = 0;
    s->pc = v->pc;
    s->priv = v->priv;
    memcpy(s->f, v->fpu.f, sizeof s->f);
    s->fflags = v->fpu.fflags;
    s->frm = v->fpu.frm;
    csr_mip(v); /* folds pending SBI IPIs into mip */
    s->mstatus = v->mstatus;
    s->medeleg = v->medeleg, s->mideleg = v->mideleg, s->mie = v->mie, s->mip = v->mip;
    s->mtvec = v->mtvec, s->mscratch = v->mscratch, s->mepc = v->mepc;
    s->mcause = v->mcause, s->mtval = v->mtval, s->mcounteren = v->mcounteren;
    s->menvcfg = v->menvcfg, s->mcountinhibit = v->mcountinhibit;
    s->stvec = v->stvec, s->sscratch = v->sscratch, s->sepc = v->sepc;
    s->scause = v->scause, s->stval = v->stval, s->scounteren = v->scounteren;
    s->senvcfg = v->senvcfg, s->satp = v->satp, s->stimecmp = v->stimecmp;
    memcpy(s->pmpcfg, v->pmpcfg, sizeof s->pmpcfg);
    memcpy(s->pmpaddr, v->pmpaddr, sizeof s->pmpaddr);
    s->cycle_offset = v->cycle_offset;
    s->instret_offset = v->instret_offset;
    s->instret = v->instret;
    s->mtimecmp = atomic_load(&v->vm->mtimecmp[v->hartid]);
    s->irq_level = atomic_load(&v->irq_level);
    s->wfi = v->wfi;
    return 0;
}

/* Values come from a file: only the bits the CPU could hold themselves are taken, so a
 * crafted state cannot put the CPU somewhere a guest could not. */
int hv_vcpu_set_state(hv_vcpu *v, const struct hv_vcpu_state *s)
{
    if (!v || !s || (s->priv != PRV_U && s->priv != PRV_S && s->priv != PRV_M))
        return -EINVAL;
    reset_state(v);
    memcpy(v->x, s->x, sizeof s->x);
    v->x[0] = 0;
    v->pc = s->pc & ~1ull;
    memcpy(v->fpu.f, s->f, sizeof s->f);
    v->fpu.fflags = (uint32_t)(s->fflags & 31);
    v->fpu.frm = (uint32_t)(s->frm & 7);
    /* The CSRs through their write rules (WARL), mstatus and satp last: their side
     * effects (translation regime) then see everything else. */
    const struct { unsigned csr; uint64_t val; } csrs[] = {
        {0x302, s->medeleg}, {0x303, s->mideleg}, {0x304, s->mie}, {0x30a, s->menvcfg},
        {0x344, s->mip}, {0x305, s->mtvec}, {0x340, s->mscratch}, {0x341, s->mepc}, {0x342, s->mcause},
        {0x343, s->mtval}, {0x306, s->mcounteren},
        {0x320, s->mcountinhibit}, {0x105, s->stvec}, {0x140, s->sscratch},
        {0x141, s->sepc}, {0x142, s->scause}, {0x143, s->stval}, {0x106, s->scounteren},
        {0x10a, s->senvcfg}, {0x14d, s->stimecmp}, {0x300, s->mstatus}, {0x180, s->satp},
    };
    for (size_t i = 0; i < sizeof csrs / sizeof csrs[0]; i++)
        csr_write(v, csrs[i].csr, csrs[i].val); /* an illegal value keeps its WARL result */
    for (unsigned i = 0; i < 16; i++) /* addresses before the lock bits in pmpcfg */
        csr_write(v, 0x3b0 + i, s->pmpaddr[i]);
    for (unsigned i = 0; i < 2; i++)
        csr_write(v, 0x3a0 + 2 * i, s->pmpcfg[i]);
    v->cycle_offset = s->cycle_offset;
    v->instret_offset = s->instret_offset;
    v->instret = s->instret;
    atomic_store(&v->vm->mtimecmp[v->hartid], s->mtimecmp);
    atomic_store(&v->irq_level, s->irq_level & (MIP_MSIP | MIP_SEIP | MIP_MEIP));
    v->wfi = s->wfi != 0;
    tlb_flush_all(v);
    tlb_switch(v);
    dcache_flush(v);
    cpu_set_priv(v, (unsigned)s->priv);
    vcpu_wake(v);
    return 0;
}
