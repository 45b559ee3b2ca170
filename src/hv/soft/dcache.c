/*
 * dcache.c — the per-vCPU cache of pre-decoded guest pages.
 *
 * Coherence with guest stores rests on one invariant: while a page is in the cache, no
 * write-TLB entry of this vCPU points at it. Entering the cache purges such entries, and
 * filling a write-TLB entry (mmu.c) drops the page from the cache, so a store by this hart
 * to code always takes the slow path once and invalidates. Stores by other harts or the
 * VMM are covered by fence.i / HV_FLUSH_ICACHE, as the ISA asks of software that writes
 * code: they make every page stale, and a stale page is kept (decoded entries, compiled
 * code) only if its bytes, when next entered, are those it held when it was entered (a
 * copy of each slot's page is kept for the comparison).
 * Linux runs fence.i for every newly mapped executable page (each exec), and dropping
 * everything each time recompiled the same kernel code hundreds of times. Reset and
 * restore (dcache_flush) drop everything.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hv/soft/alu.h"
#include "hv/soft/jit.h"
#include "hv/soft/soft.h"

int dcache_init(hv_vcpu *v)
{
    /* Large and mostly untouched: lazily committed zero pages, which dcache_trim can give
     * back. */
    v->dcache = mmap(NULL, DCACHE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (v->dcache == MAP_FAILED)
        v->dcache = NULL;
    else
        madvise(v->dcache, DCACHE_BYTES, MADV_DONTFORK); /* as guest RAM (machine.c) */
    v->dcache_copy = mmap(NULL, DCACHE_COPY_BYTES, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v->dcache_copy == MAP_FAILED)
        v->dcache_copy = NULL;
    else
        madvise(v->dcache_copy, DCACHE_COPY_BYTES, MADV_DONTFORK);
    v->dcache_tag = calloc(DCACHE_PAGES, sizeof(uintptr_t));
    v->dcache_zero = malloc(DCACHE_PAGES / 8);
    v->dcache_epoch = 0;
    if (!v->dcache || !v->dcache_copy || !v->dcache_tag || !v->dcache_zero) {
        dcache_free(v);
        return -1;
    }
    memset(v->dcache_zero, 0xff, DCACHE_PAGES / 8);
    return 0;
}

void dcache_free(hv_vcpu *v)
{
    if (v->dcache)
        munmap(v->dcache, DCACHE_BYTES);
    if (v->dcache_copy)
        munmap(v->dcache_copy, DCACHE_COPY_BYTES);
    free(v->dcache_tag);
    free(v->dcache_zero);
    v->dcache_zero = NULL;
    v->dcache = NULL;
    v->dcache_copy = NULL;
    v->dcache_tag = NULL;
}

/* An idle vCPU (vcpu.c) drops every decoded page and gives the memory back. */
void dcache_trim(hv_vcpu *v)
{
    dcache_flush(v);
    madvise(v->dcache, DCACHE_BYTES, MADV_DONTNEED);
    memset(v->dcache_zero, 0xff, DCACHE_PAGES / 8);
    madvise(v->dcache_copy, DCACHE_COPY_BYTES, MADV_DONTNEED);
    if (v->jit)
        jit_trim(v);
}

static unsigned slot_of(uintptr_t host_page)
{
    return (unsigned)(host_page >> PAGE_SHIFT) & (DCACHE_PAGES - 1);
}

/* Drops every page: reset and restore, where guest memory may be another one entirely. */
void dcache_flush(hv_vcpu *v)
{
    memset(v->dcache_tag, 0, DCACHE_PAGES * sizeof(uintptr_t));
    v->code_dirty = true;
    jit_gen_bump(v); /* jumps cached by compiled code may lead into dropped pages */
}

/* fence.i: every page becomes stale; dcache_page checks its bytes when it is next entered.
 * Compiled code reaches another page only through the jump cache (the generation moves
 * here) or jit_lookup (which wants a current tag), so nothing runs from a stale page.
 * O(1): the epoch in the tags' low bits moves, so every tag of the last one stops being
 * current (Linux's ftrace and alternatives patch the kernel with a fence.i per site:
 * 130 000 fences before a Debian kernel's console is up). Once every 4095 fences the
 * epoch starts again at 0, after marking every tag stale, so that no tag of an earlier
 * round can look current. */
void dcache_fence(hv_vcpu *v)
{
    if (++v->dcache_epoch == DCACHE_EPOCH_STALE) {
        for (unsigned i = 0; i < DCACHE_PAGES; i++)
            if (v->dcache_tag[i])
                v->dcache_tag[i] |= DCACHE_EPOCH_STALE;
        v->dcache_epoch = 0;
    }
    v->code_dirty = true;
    jit_gen_bump(v);
}

void dcache_drop(hv_vcpu *v, uintptr_t host_page)
{
    unsigned i = slot_of(host_page);
    uintptr_t t = v->dcache_tag[i];
    if ((t & ~DCACHE_EPOCH_STALE) != host_page)
        return;
    /* Current or stale: this hart may now write it unseen, so it is not kept either way. */
    v->dcache_tag[i] = 0;
    if (t == (host_page | v->dcache_epoch)) {
        v->code_dirty = true;
        jit_gen_bump(v); /* as in dcache_flush */
    }
}

/* Whether the page's bytes are still those of the slot's copy; makes the copy current
 * either way. One pass of relaxed 64-bit loads (other vCPUs may be writing guest RAM):
 * compares until the first difference, copies from there on. An exact comparison, so no
 * guest can make two different pages look alike (a hash could be aimed at: a process's
 * page freed and filled with a library's code for another process would then run the
 * first one's decoded instructions after the kernel's fence.i). A memcmp-speed loop,
 * against ~1.5 us for SipHash of 4 KiB, which made 14% of a firmware chain's host time. */
static bool page_same_as_copy(uint64_t *copy, uintptr_t host_page)
{
    const _Atomic uint64_t *w = (const _Atomic uint64_t *)host_page;
    unsigned i = 0;
    for (; i < PAGE_SIZE / 8; i += 8) { /* 8 words a step: independent loads */
        uint64_t diff = 0;
        for (unsigned k = 0; k < 8; k++)
            diff |= atomic_load_explicit(&w[i + k], memory_order_relaxed) ^ copy[i + k];
        if (diff)
            break;
    }
    if (i == PAGE_SIZE / 8)
        return true;
    for (; i < PAGE_SIZE / 8; i++)
        copy[i] = atomic_load_explicit(&w[i], memory_order_relaxed);
    return false;
}

/* Drops e when it maps a page of bucket b. */
static void purge_entry(struct tlb_entry *e, unsigned b)
{
    if (e->tag != TLB_INVALID && wmap_bucket(e->tag + e->addend) == b)
        e->tag = TLB_INVALID;
}

/* Every set may map the page, current or not. Runs for each newly decoded page, but only
 * when the write map says a page of its bucket has had a write entry since the bucket
 * was last purged: most code pages never had one (filled by device DMA, or written long
 * ago and purged since). Then every write entry of the whole bucket goes, so the bit can
 * be cleared; the other pages of the bucket just refill theirs on their next store.
 * A set is searched through its fill log when that holds all its entries (at most 256,
 * the write entries among them), and through its four write arrays only once the log
 * overflowed; a set with nothing filled since its last flush is skipped. */
static void purge_write_tlb(hv_vcpu *v, uintptr_t host_page)
{
    unsigned b = wmap_bucket(host_page);
    uint64_t bit = 1ull << (b % 64);
    if (!(v->wmap[b / 64] & bit))
        return;
    for (unsigned i = 0; i < TLB_SETS; i++) {
        struct tlb_set *s = &v->tlb[i];
        if (s->nlog > TLB_LOG_MAX) {
            for (unsigned r = 0; r < REGIMES; r++)
                for (unsigned k = 0; k < TLB_SIZE; k++)
                    purge_entry(&s->regime[r].e[TLB_W][k], b);
            continue;
        }
        const struct tlb_entry *first = &s->regime[0].e[0][0];
        for (unsigned n = 0; n < s->nlog; n++) {
            size_t kind = ((size_t)(s->log[n] - first) >> TLB_BITS) % TLB_KINDS;
            if (kind == TLB_W)
                purge_entry(s->log[n], b);
        }
    }
    v->wmap[b / 64] &= ~bit;
}

struct dpage *dcache_page(hv_vcpu *v, uintptr_t host_page)
{
    unsigned i = slot_of(host_page);
    struct dpage *p = &v->dcache[i];
    uintptr_t t = v->dcache_tag[i];
    if (t == (host_page | v->dcache_epoch))
        return p;
    uint64_t *copy = (uint64_t *)(v->dcache_copy + (size_t)i * PAGE_SIZE);
    bool same = page_same_as_copy(copy, host_page);
    bool keep = (t & ~DCACHE_EPOCH_STALE) == host_page && same; /* stale, unchanged */
    if (!keep) {
        /* A slot not used since the mapping (or a trim) is zero already: clearing its
         * 16 KiB would fault in all five pages it spans, where the guest runs a few
         * stretches of a code page. A resumed fork enters hundreds of pages at once, each
         * new host page a fault costing ~35 us on a virtualised host (docs/PERFORMANCE.md). */
        uint64_t bit = 1ull << (i % 64);
        if (v->dcache_zero[i / 64] & bit)
            v->dcache_zero[i / 64] &= ~bit;
        else
            memset(p->d, 0, sizeof(p->d));
        p->d[PAGE_SIZE / 2].op = OP_PAGE_END << 1;
        if (v->jit)
            jit_page_reset(v, i);
    }
    v->dcache_tag[i] = host_page | v->dcache_epoch;
    purge_write_tlb(v, host_page);
    return p;
}

static const uint8_t op_reg[3][8] = {
    { OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND },
    { OP_SUB, 0, 0, 0, 0, OP_SRA, 0, 0 },
    { OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU },
};
static const uint8_t op_reg32[3][8] = {
    { OP_ADDW, OP_SLLW, 0, 0, 0, OP_SRLW, 0, 0 },
    { OP_SUBW, 0, 0, 0, 0, OP_SRAW, 0, 0 },
    { OP_MULW, 0, 0, 0, OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW },
};
static const uint8_t op_branch[8] = { OP_BEQ, OP_BNE, 0, 0, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU };
static const uint8_t op_load[8] = { OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, 0 };
static const uint8_t op_store[8] = { OP_SB, OP_SH, OP_SW, OP_SD, 0, 0, 0, 0 };
static const uint8_t op_imm[8] = { OP_ADDI, OP_SLLI, OP_SLTI, OP_SLTIU,
                                   OP_XORI, OP_SRLI, OP_ORI, OP_ANDI };

static int f7_row(uint32_t f7)
{
    return f7 == 0 ? 0 : f7 == 0x20 ? 1 : f7 == 1 ? 2 : -1;
}

/* Returns the fast op for insn, or 0 when the generic executor must run it (everything
 * else, including every illegal encoding). */
static uint8_t classify(uint32_t insn, int32_t *imm)
{
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
    int row;
    switch (insn & 0x7f) {
    case OPC_LUI:
        *imm = (int32_t)(insn & 0xfffff000);
        return OP_LUI;
    case OPC_AUIPC:
        *imm = (int32_t)(insn & 0xfffff000);
        return OP_AUIPC;
    case OPC_JAL:
        *imm = (int32_t)imm_j(insn);
        return OP_JAL;
    case OPC_JALR:
        *imm = (int32_t)imm_i(insn);
        return f3 == 0 ? OP_JALR : 0;
    case OPC_BRANCH:
        *imm = (int32_t)imm_b(insn);
        return op_branch[f3];
    case OPC_LOAD:
        *imm = (int32_t)imm_i(insn);
        return op_load[f3];
    case OPC_STORE:
        *imm = (int32_t)imm_s(insn);
        return op_store[f3];
    case OPC_OP_IMM:
        *imm = (int32_t)imm_i(insn);
        if (f3 == 1 || f3 == 5) {
            unsigned top = insn >> 26;
            *imm = (int32_t)((insn >> 20) & 63);
            if (f3 == 1)
                return top == 0 ? OP_SLLI : 0;
            return top == 0 ? OP_SRLI : top == 0x10 ? OP_SRAI : 0;
        }
        return op_imm[f3];
    case OPC_OP_IMM_32:
        *imm = (int32_t)imm_i(insn);
        if (f3 == 0)
            return OP_ADDIW;
        *imm = (int32_t)((insn >> 20) & 31);
        if (f3 == 1)
            return f7 == 0 ? OP_SLLIW : 0;
        if (f3 == 5)
            return f7 == 0 ? OP_SRLIW : f7 == 0x20 ? OP_SRAIW : 0;
        return 0;
    case OPC_OP:
        if ((insn & 0xfff0707f) == 0x02004033) { /* div rd, rs1, x0: Linux's cpu_relax */
            *imm = 1;
            return OP_PAUSE;
        }
        row = f7_row(f7);
        return row < 0 ? 0 : op_reg[row][f3];
    case OPC_OP_32:
        row = f7_row(f7);
        return row < 0 ? 0 : op_reg32[row][f3];
    case OPC_MISC_MEM:
        if (f3 != 0)
            return 0;
        if (insn == 0x0100000f)
            return OP_PAUSE;
        /* Only a store->load ordering needs a real fence on a TSO host. */
        return (insn & (1u << 24)) && (insn & (1u << 21)) ? OP_FENCE_FULL : OP_FENCE;
    case OPC_AMO:
        *imm = (int32_t)insn;
        return cpu_amo_valid(insn) ? OP_AMO : 0;
    case OPC_MADD:
    case OPC_MSUB:
    case OPC_NMSUB:
    case OPC_NMADD:
    case OPC_OP_FP:
        *imm = (int32_t)insn;
        return OP_FP;
    case OPC_LOAD_FP:
        *imm = (int32_t)imm_i(insn);
        return f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : 0;
    case OPC_STORE_FP:
        *imm = (int32_t)imm_s(insn);
        return f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : 0;
    case OPC_SYSTEM:
        *imm = (int32_t)insn;
        return f3 != 0 && f3 != 4 && fpu_csr_valid(insn) ? OP_FCSR : 0;
    }
    return 0;
}

void dcache_decode(const hv_vcpu *v, const uint8_t *page, unsigned off, struct dinsn *d)
{
    uint16_t lo;
    uint32_t insn;
    unsigned wide;
    memcpy(&lo, page + off, 2);
    wide = (lo & 3) == 3;
    if (wide) {
        if (off == PAGE_SIZE - 2) {
            d->op = OP_GENERIC << 1; /* straddles the page: the generic path fetches both */
            return;
        }
        memcpy(&insn, page + off, 4);
    } else {
        insn = v->vm->rvc_table[lo];
    }
    int32_t imm = 0;
    uint8_t op = classify(insn, &imm);
    d->op = (uint8_t)((op ? op : OP_GENERIC) << 1 | wide);
    d->imm = imm;
    d->rd = (insn >> 7) & 31;
    if (d->rd == 0)
        d->rd = 32; /* the sink: x0 stays zero without a reset per instruction */
    d->rs1 = (insn >> 15) & 31;
    d->rs2 = (insn >> 20) & 31;
}
