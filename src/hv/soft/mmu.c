/*
 * mmu.c — address translation (bare, Sv39, Sv48), the software TLB and the slow paths
 * of loads and stores: TLB misses, misaligned accesses, the ACLINT and MMIO exits.
 *
 * Only RAM pages enter the TLB, so a TLB hit is always a plain host access and MMIO is
 * seen on every access. A/D bits are set by compare-and-swap on the PTE in guest RAM so
 * that a racing guest or another hart never loses an update.
 */
#include "hv/soft/soft.h"

#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_PPN_MASK ((1ull << 44) - 1)

#define SATP_MODE_SHIFT 60

static const uint64_t page_fault_cause[] = {
    [ACC_READ] = EXC_LOAD_PAGE, [ACC_WRITE] = EXC_STORE_PAGE, [ACC_FETCH] = EXC_INSN_PAGE,
};
static const uint64_t access_fault_cause[] = {
    [ACC_READ] = EXC_LOAD_ACCESS, [ACC_WRITE] = EXC_STORE_ACCESS,
    [ACC_FETCH] = EXC_INSN_ACCESS,
};
static const unsigned mem_need[] = {
    [ACC_READ] = HV_MEM_READ, [ACC_WRITE] = HV_MEM_WRITE, [ACC_FETCH] = HV_MEM_EXEC,
};

void tlb_init(hv_vcpu *v)
{
    for (unsigned i = 0; i < TLB_SETS; i++) {
        struct tlb_set *s = &v->tlb[i];
        memset(s->regime, 0xff, sizeof(s->regime));
        s->satp = TLB_NO_SATP;
        s->used = 0;
        s->super_lo = ~0ull;
        s->super_hi = 0;
        s->nlog = 0;
    }
    v->tlb_cur = NULL;
}

static void flush_set(struct tlb_set *s)
{
    if (s->nlog > TLB_LOG_MAX) {
        memset(s->regime, 0xff, sizeof(s->regime));
    } else {
        for (unsigned i = 0; i < s->nlog; i++)
            s->log[i]->tag = TLB_INVALID;
    }
    s->nlog = 0;
    s->super_lo = ~0ull;
    s->super_hi = 0;
}

static bool set_matches(const struct tlb_set *s, int asid)
{
    /* nlog == 0: nothing filled since the last flush, nothing to invalidate */
    if (s->nlog == 0)
        return false;
    return asid == TLB_ANY_ASID ||
           ((s->satp >> SATP_ASID_SHIFT) & SATP_ASID_MASK) == (uint64_t)asid;
}

/* Global mappings are not told apart: a flush for one ASID drops its globals too, which
 * the ISA allows. */
void tlb_flush_asid(hv_vcpu *v, int asid)
{
    for (unsigned i = 0; i < TLB_SETS; i++)
        if (set_matches(&v->tlb[i], asid))
            flush_set(&v->tlb[i]);
    jit_gen_bump(v); /* compiled code's cached jumps were found through these entries */
}

void tlb_flush_all(hv_vcpu *v)
{
    tlb_flush_asid(v, TLB_ANY_ASID);
}

void tlb_flush_page(hv_vcpu *v, uint64_t va, int asid)
{
    unsigned idx = (va >> PAGE_SHIFT) & (TLB_SIZE - 1);
    bool whole = false;
    for (unsigned i = 0; i < TLB_SETS; i++) {
        struct tlb_set *s = &v->tlb[i];
        if (!set_matches(s, asid))
            continue;
        if (va >= s->super_lo && va <= s->super_hi) {
            flush_set(s); /* the page may lie in a superpage cached at any index */
            whole = true;
            continue;
        }
        for (unsigned r = 0; r < REGIMES; r++)
            for (unsigned k = 0; k < TLB_KINDS; k++)
                s->regime[r].e[k][idx].tag = TLB_INVALID;
    }
    /* As in tlb_flush_asid, but only when a cached jump may lead into this page (its
     * bucket's bit) or a whole set went: jumps into other pages keep their translation.
     * Linux flushes user data pages one by one (COW, munmap), mostly pages no cached
     * jump leads into. */
    unsigned b = jc_page_bucket(va);
    if (whole || (v->jc_pages[b / 64] & (1ull << (b % 64))))
        jit_gen_bump(v);
}

/* Makes the set of v->satp current, taking the least recently used one (flushed) when no
 * set holds it. No invalidation otherwise: the ISA leaves that to sfence.vma. */
void tlb_switch(hv_vcpu *v)
{
    if (!v->tlb_cur || v->tlb_cur->satp != v->satp) {
        struct tlb_set *s = NULL, *victim = &v->tlb[0];
        for (unsigned i = 0; i < TLB_SETS && !s; i++) {
            if (v->tlb[i].satp == v->satp)
                s = &v->tlb[i];
            else if (v->tlb[i].used < victim->used)
                victim = &v->tlb[i];
        }
        if (!s) {
            s = victim;
            flush_set(s);
            s->satp = v->satp;
            jit_gen_bump(v); /* its fetch arrays now serve another address space */
        }
        s->used = ++v->tlb_clock;
        v->tlb_cur = s;
    }
    tlb_update_regime(v);
}

static unsigned data_priv(const hv_vcpu *v)
{
    if (v->priv == PRV_M && (v->mstatus & MS_MPRV))
        return (unsigned)((v->mstatus & MS_MPP) >> MS_MPP_SHIFT);
    return v->priv;
}

static unsigned regime_of(const hv_vcpu *v, unsigned priv)
{
    if (priv == PRV_M)
        return REGIME_M;
    if (priv == PRV_U)
        return REGIME_U;
    return (v->mstatus & MS_SUM) ? REGIME_S_SUM : REGIME_S;
}

void tlb_update_regime(hv_vcpu *v)
{
    unsigned d = regime_of(v, data_priv(v));
    unsigned f = regime_of(v, v->priv);
    if (f == REGIME_S_SUM)
        f = REGIME_S; /* SUM never affects fetches */
    struct tlb_regime *t = v->tlb_cur->regime;
    v->tlb_r = t[d].e[TLB_R];
    v->tlb_w = t[d].e[TLB_W];
    v->tlb_x = t[f].e[TLB_X];
    unsigned array = (unsigned)(v->tlb_cur - v->tlb) * REGIMES + f;
    v->jit_gen = (v->jit_gen & ~(uint64_t)(JIT_GEN_EPOCH - 1)) | array;
}

/* Returns 0 and the physical address, or the exception cause. */
static uint64_t translate(hv_vcpu *v, uint64_t va, enum access acc, uint64_t *pa,
                          uint64_t *leaf_mask)
{
    unsigned priv = acc == ACC_FETCH ? v->priv : data_priv(v);
    unsigned mode = (unsigned)(v->satp >> SATP_MODE_SHIFT);
    *leaf_mask = PAGE_SIZE - 1;
    if (priv == PRV_M || mode == 0) {
        *pa = va;
        return 0;
    }
    unsigned levels = mode == 8 ? 3 : 4;
    unsigned vabits = PAGE_SHIFT + 9 * levels;
    if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
        return page_fault_cause[acc];
    bool sum = v->mstatus & MS_SUM, mxr = v->mstatus & MS_MXR;

restart:;
    uint64_t table = (v->satp & PTE_PPN_MASK) << PAGE_SHIFT;
    for (int level = (int)levels - 1; level >= 0; level--) {
        unsigned shift = PAGE_SHIFT + 9 * (unsigned)level;
        uint64_t pte_pa = table + ((va >> shift) & 511) * 8;
        uint8_t *p = vm_ram(v->vm, pte_pa, 8, HV_MEM_READ);
        if (!p)
            return access_fault_cause[acc];
        uint64_t pte = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
            return page_fault_cause[acc];
        uint64_t ppn = (pte >> 10) & PTE_PPN_MASK;
        if (!(pte & (PTE_R | PTE_X))) {
            if (level == 0)
                return page_fault_cause[acc];
            table = ppn << PAGE_SHIFT;
            continue;
        }
        if (pte & PTE_U) {
            if (priv == PRV_S && (acc == ACC_FETCH || !sum))
                return page_fault_cause[acc];
        } else if (priv == PRV_U) {
            return page_fault_cause[acc];
        }
        bool ok = acc == ACC_FETCH  ? (pte & PTE_X)
                  : acc == ACC_READ ? ((pte & PTE_R) || (mxr && (pte & PTE_X)))
                                    : (pte & PTE_W);
        if (!ok)
            return page_fault_cause[acc];
        uint64_t low = (1ull << (9 * (unsigned)level)) - 1;
        if (ppn & low)
            return page_fault_cause[acc];
        uint64_t need = PTE_A | (acc == ACC_WRITE ? PTE_D : 0);
        if ((pte & need) != need) {
            if (!vm_ram(v->vm, pte_pa, 8, HV_MEM_WRITE))
                return access_fault_cause[acc];
            if (!__atomic_compare_exchange_n((uint64_t *)p, &pte, pte | need, false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                goto restart;
        }
        *pa = ((ppn & ~low) << PAGE_SHIFT) | (va & ((1ull << shift) - 1));
        *leaf_mask = (1ull << shift) - 1;
        return 0;
    }
    return page_fault_cause[acc];
}

static void tlb_fill(hv_vcpu *v, struct tlb_entry *t, uint64_t va, uint8_t *host_page,
                     uint64_t leaf_mask)
{
    struct tlb_set *s = v->tlb_cur; /* t is one of its arrays */
    struct tlb_entry *e = &t[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    if (s->nlog < TLB_LOG_MAX)
        s->log[s->nlog++] = e;
    else
        s->nlog = TLB_LOG_MAX + 1;
    e->tag = va & PAGE_MASK;
    e->addend = (uintptr_t)host_page - (uintptr_t)(va & PAGE_MASK);
    if (leaf_mask > PAGE_SIZE - 1) {
        uint64_t lo = va & ~leaf_mask, hi = va | leaf_mask;
        s->super_lo = lo < s->super_lo ? lo : s->super_lo;
        s->super_hi = hi > s->super_hi ? hi : s->super_hi;
    }
}

/* Translates va and, for RAM, returns the host address (filling the TLB); *pa gets the
 * physical address either way. Returns NULL with *cause set on a fault, NULL with cause 0
 * for non-RAM. */
static uint8_t *access_host(hv_vcpu *v, uint64_t va, enum access acc, uint64_t *pa,
                            uint64_t *cause)
{
    uint64_t leaf_mask;
    *cause = translate(v, va, acc, pa, &leaf_mask);
    if (*cause)
        return NULL;
    uint8_t *page = vm_ram(v->vm, *pa & PAGE_MASK, PAGE_SIZE, mem_need[acc]);
    if (!page)
        return NULL;
    struct tlb_entry *t = acc == ACC_READ ? v->tlb_r : acc == ACC_WRITE ? v->tlb_w : v->tlb_x;
    if (acc == ACC_WRITE) {
        dcache_drop(v, (uintptr_t)page); /* keeps decoded pages free of write entries */
        unsigned b = wmap_bucket((uintptr_t)page);
        v->wmap[b / 64] |= 1ull << (b % 64);
    }
    tlb_fill(v, t, va, page, leaf_mask);
    return page + (*pa & (PAGE_SIZE - 1));
}

int mmu_fetch_page(hv_vcpu *v, uint64_t va, uint8_t **host)
{
    uint64_t pa, cause;
    uint8_t *h = access_host(v, va, ACC_FETCH, &pa, &cause);
    if (!h) {
        cpu_exception(v, cause ? cause : EXC_INSN_ACCESS, va);
        return 1;
    }
    *host = h - (va & (PAGE_SIZE - 1));
    return 0;
}

static uint64_t read_host(const uint8_t *h, unsigned size)
{
    uint64_t val = 0;
    memcpy(&val, h, size); /* little-endian host */
    return val;
}

/* An access that crosses a page boundary: both halves must be RAM (never MMIO). */
static int split_access(hv_vcpu *v, uint64_t va, unsigned size, enum access acc,
                        uint8_t *host[2], unsigned *first)
{
    uint64_t va2 = (va + size - 1) & PAGE_MASK, pa, cause;
    *first = (unsigned)(va2 - va);
    host[0] = access_host(v, va, acc, &pa, &cause);
    if (!host[0]) {
        cpu_exception(v, cause ? cause : access_fault_cause[acc], va);
        return 1;
    }
    host[1] = access_host(v, va2, acc, &pa, &cause);
    if (!host[1]) {
        cpu_exception(v, cause ? cause : access_fault_cause[acc], va2);
        return 1;
    }
    return 0;
}

int mem_load_slow(hv_vcpu *v, uint64_t va, unsigned size, uint64_t *val, unsigned ld)
{
    if (((va & (PAGE_SIZE - 1)) + size) > PAGE_SIZE) {
        uint8_t *h[2];
        unsigned first;
        if (split_access(v, va, size, ACC_READ, h, &first))
            return 1;
        uint8_t buf[8] = { 0 };
        memcpy(buf, h[0], first);
        memcpy(buf + first, h[1], size - first);
        *val = read_host(buf, size);
        return 0;
    }
    uint64_t pa, cause;
    uint8_t *h = access_host(v, va, ACC_READ, &pa, &cause);
    if (h) {
        *val = read_host(h, size);
        return 0;
    }
    if (cause || (pa & (size - 1))) {
        cpu_exception(v, cause ? cause : EXC_LOAD_ACCESS, va);
        return 1;
    }
    if (vm_is_aclint(v->vm, pa)) {
        if (aclint_read(v->vm, pa - v->vm->cfg.aclint_base, size, val)) {
            cpu_exception(v, EXC_LOAD_ACCESS, va);
            return 1;
        }
        return 0;
    }
    v->pend = (struct pending){ .kind = PEND_LOAD, .rd = ld & 31, .size = (uint8_t)size,
                                .fp = ld & LD_FP, .sign = ld & LD_SIGN, .ilen = v->ilen,
                                .vaddr = va };
    struct hv_exit *e = v->exit;
    e->reason = HV_EXIT_MMIO;
    e->mmio.addr = pa;
    e->mmio.data = 0;
    e->mmio.len = (uint8_t)size;
    e->mmio.is_write = false;
    e->mmio.fault = false;
    v->exit_ready = true;
    return 1;
}

int mem_store_slow(hv_vcpu *v, uint64_t va, unsigned size, uint64_t val)
{
    if (((va & (PAGE_SIZE - 1)) + size) > PAGE_SIZE) {
        uint8_t *h[2], buf[8];
        unsigned first;
        if (split_access(v, va, size, ACC_WRITE, h, &first))
            return 1;
        memcpy(buf, &val, 8);
        memcpy(h[0], buf, first);
        memcpy(h[1], buf + first, size - first);
        return 0;
    }
    uint64_t pa, cause;
    uint8_t *h = access_host(v, va, ACC_WRITE, &pa, &cause);
    if (h) {
        memcpy(h, &val, size);
        return 0;
    }
    if (cause || (pa & (size - 1))) {
        cpu_exception(v, cause ? cause : EXC_STORE_ACCESS, va);
        return 1;
    }
    if (vm_is_aclint(v->vm, pa)) {
        if (aclint_write(v->vm, pa - v->vm->cfg.aclint_base, size, val)) {
            cpu_exception(v, EXC_STORE_ACCESS, va);
            return 1;
        }
        return 0; /* MTIP follows at the next block boundary, as the timer is polled there */
    }
    if (size < 8)
        val &= (1ull << (8 * size)) - 1;
    v->pend = (struct pending){ .kind = PEND_STORE, .size = (uint8_t)size, .ilen = v->ilen,
                                .vaddr = va };
    struct hv_exit *e = v->exit;
    e->reason = HV_EXIT_MMIO;
    e->mmio.addr = pa;
    e->mmio.data = val;
    e->mmio.len = (uint8_t)size;
    e->mmio.is_write = true;
    e->mmio.fault = false;
    v->exit_ready = true;
    return 1;
}

uint8_t *mem_atomic_addr(hv_vcpu *v, uint64_t va, unsigned size, bool is_lr)
{
    enum access acc = is_lr ? ACC_READ : ACC_WRITE;
    if (va & (size - 1)) {
        cpu_exception(v, is_lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
        return NULL;
    }
    uint8_t *h = tlb_hit(is_lr ? v->tlb_r : v->tlb_w, va, size);
    if (h)
        return h;
    uint64_t pa, cause;
    h = access_host(v, va, acc, &pa, &cause);
    if (!h)
        cpu_exception(v, cause ? cause : access_fault_cause[acc], va);
    return h;
}
