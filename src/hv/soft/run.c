/*
 * run.c — the hot loop: pre-decoded instructions dispatched with computed goto.
 *
 * cpu_run_block() runs at most `budget` instructions and returns at anything the outer
 * loop (vcpu.c) must look at: a trap or exit, STEP_END from the generic executor (CSR
 * writes, xRET, WFI, fences), a dropped decoded page, or `attention` at any jump or
 * taken branch.
 * The pc lives in a local and is stored to v->pc before anything that can trap; a trap
 * overwrites v->pc and the block ends without retiring the instruction. Decoded
 * instructions never name x0 as destination (dcache.c sends those writes to a sink
 * register), so x0 needs no reset per instruction.
 *
 * With the JIT (jit.h), every jump target is also counted in the page's entry table;
 * a hot target runs compiled code instead, which comes back with the next pc.
 */
#include "hv/soft/alu.h"
#include "hv/soft/jit.h"
#include "hv/soft/soft.h"

#define LOAD_FAST(size, ld_flags, out)                                                   \
    do {                                                                                 \
        uint64_t va_ = x[d->rs1] + (uint64_t)(int64_t)d->imm;                            \
        uint8_t *h_ = tlb_hit(v->tlb_r, va_, size);                                      \
        out = 0;                                                                         \
        if (likely(h_)) {                                                                \
            memcpy(&out, h_, size);                                                      \
        } else {                                                                         \
            v->pc = PC;                                                                  \
            v->ilen = (uint8_t)LEN;                                                      \
            if (mem_load_slow(v, va_, size, &out, d->rd | (ld_flags)))                   \
                goto trapped;                                                            \
        }                                                                                \
    } while (0)

#define STORE_FAST(size, val)                                                            \
    do {                                                                                 \
        uint64_t va_ = x[d->rs1] + (uint64_t)(int64_t)d->imm, val_ = (val);              \
        uint8_t *h_ = tlb_hit(v->tlb_w, va_, size);                                      \
        if (likely(h_)) {                                                                \
            memcpy(h_, &val_, size);                                                     \
        } else {                                                                         \
            v->pc = PC;                                                                  \
            v->ilen = (uint8_t)LEN;                                                      \
            if (mem_store_slow(v, va_, size, val_))                                      \
                goto trapped;                                                            \
            if (unlikely(v->code_dirty)) {                                               \
                pc = PC + LEN;                                                           \
                n++;                                                                     \
                goto done_pc;                                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

/* Spin-wait hints (OP_PAUSE) in one block after which the vCPU yields its host thread. */
#define SPIN_YIELD 64

/* Each handler must keep its own copy of the dispatch jump (one indirect branch per
 * handler predicts far better); GCC's cross-jumping would merge them into one. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-crossjumping", "no-gcse")))
#endif
void cpu_run_block(hv_vcpu *v, int64_t budget)
{
#define E(op, label) [2 * (op)] = &&label, [2 * (op) + 1] = &&label
    static const void *const labels[2 * OP_COUNT] = {
        E(OP_UNDECODED, L_UNDECODED), E(OP_GENERIC, L_GENERIC), E(OP_PAGE_END, L_PAGE_END),
        E(OP_LUI, L_LUI), E(OP_AUIPC, L_AUIPC), E(OP_JAL, L_JAL), E(OP_JALR, L_JALR),
        E(OP_BEQ, L_BEQ), E(OP_BNE, L_BNE), E(OP_BLT, L_BLT), E(OP_BGE, L_BGE),
        E(OP_BLTU, L_BLTU), E(OP_BGEU, L_BGEU),
        E(OP_LB, L_LB), E(OP_LH, L_LH), E(OP_LW, L_LW), E(OP_LD, L_LD),
        E(OP_LBU, L_LBU), E(OP_LHU, L_LHU), E(OP_LWU, L_LWU),
        E(OP_SB, L_SB), E(OP_SH, L_SH), E(OP_SW, L_SW), E(OP_SD, L_SD),
        E(OP_ADDI, L_ADDI), E(OP_SLTI, L_SLTI), E(OP_SLTIU, L_SLTIU),
        E(OP_XORI, L_XORI), E(OP_ORI, L_ORI), E(OP_ANDI, L_ANDI),
        E(OP_SLLI, L_SLLI), E(OP_SRLI, L_SRLI), E(OP_SRAI, L_SRAI),
        E(OP_ADDIW, L_ADDIW), E(OP_SLLIW, L_SLLIW), E(OP_SRLIW, L_SRLIW),
        E(OP_SRAIW, L_SRAIW),
        E(OP_ADD, L_ADD), E(OP_SUB, L_SUB), E(OP_SLL, L_SLL), E(OP_SLT, L_SLT),
        E(OP_SLTU, L_SLTU), E(OP_XOR, L_XOR), E(OP_SRL, L_SRL), E(OP_SRA, L_SRA),
        E(OP_OR, L_OR), E(OP_AND, L_AND),
        E(OP_MUL, L_MUL), E(OP_MULH, L_MULH), E(OP_MULHSU, L_MULHSU),
        E(OP_MULHU, L_MULHU), E(OP_DIV, L_DIV), E(OP_DIVU, L_DIVU),
        E(OP_REM, L_REM), E(OP_REMU, L_REMU),
        E(OP_ADDW, L_ADDW), E(OP_SUBW, L_SUBW), E(OP_SLLW, L_SLLW),
        E(OP_SRLW, L_SRLW), E(OP_SRAW, L_SRAW),
        E(OP_MULW, L_MULW), E(OP_DIVW, L_DIVW), E(OP_DIVUW, L_DIVUW),
        E(OP_REMW, L_REMW), E(OP_REMUW, L_REMUW),
        E(OP_FENCE, L_FENCE), E(OP_FENCE_FULL, L_FENCE_FULL), E(OP_AMO, L_AMO),
        E(OP_FP, L_FP), E(OP_FLW, L_FLW), E(OP_FLD, L_FLD), E(OP_FSW, L_FSW),
        E(OP_FSD, L_FSD), E(OP_FCSR, L_FCSR), E(OP_PAUSE, L_PAUSE),
    };
#undef E
    uint64_t *x = v->x;
    uint64_t pc = v->pc;
    uint64_t fpage = 1; /* never equal to a page address */
    uint8_t *fhost = NULL;
    struct dinsn *dbase = NULL, *d;
    uint32_t *jents = NULL; /* the page's JIT entry table; NULL without JIT */
    int64_t n = 0;
    unsigned spins = 0; /* spin-wait hints (OP_PAUSE) run in this block */
    v->code_dirty = false;
    goto jump_pc;

/* After a jump: budget, page change, then the entry for the new pc. */
/* A jump: retire, then budget and requests from other threads, page change, and the
 * entry for the target. */
#define JUMP(target)                                                                     \
    do {                                                                                 \
        pc = (target);                                                                   \
        n++;                                                                             \
        if (unlikely(n >= budget) ||                                                     \
            unlikely(atomic_load_explicit(&v->attention, memory_order_relaxed)))         \
            goto done_pc;                                                                \
        if (unlikely((pc & PAGE_MASK) != fpage))                                         \
            goto new_page;                                                               \
        TARGET();                                                                        \
    } while (0)
/* The entry for pc, a jump target: compiled code when there is some. */
#define TARGET()                                                                         \
    do {                                                                                 \
        d = &dbase[(pc & (PAGE_SIZE - 1)) >> 1];                                         \
        if (jents)                                                                       \
            goto jit_entry;                                                              \
        goto *labels[d->op];                                                             \
    } while (0)
/* Straight-line flow: the next entry. The sentinel after the page's last entry catches
 * running off the page, and straight-line code is at most a page long, so the budget is
 * checked at jumps only. */
#define NEXT()                                                                           \
    do {                                                                                 \
        d += 1 + (d->op & 1);                                                            \
        n++;                                                                             \
        goto *labels[d->op];                                                             \
    } while (0)
#define BRANCH(cond)                                                                     \
    do {                                                                                 \
        if (cond)                                                                        \
            JUMP(PC + IMM);                                                              \
        NEXT();                                                                          \
    } while (0)
#define ALU(expr)                                                                        \
    do {                                                                                 \
        x[d->rd] = (expr);                                                               \
        NEXT();                                                                          \
    } while (0)
#define LEN (2u + ((d->op & 1u) << 1))
/* The pc is not kept up to date per instruction: it follows from the entry's position. */
#define PC (fpage + (uint64_t)(d - dbase) * 2)
#define RS1 x[d->rs1]
#define RS2 x[d->rs2]
#define IMM ((uint64_t)(int64_t)d->imm)

jump_pc:
    if (unlikely((pc & PAGE_MASK) != fpage))
        goto new_page;
    TARGET();

new_page:
    fhost = tlb_hit(v->tlb_x, pc & PAGE_MASK, 1);
    if (!fhost) {
        v->pc = pc;
        if (mmu_fetch_page(v, pc, &fhost))
            goto trapped;
    }
    {
        struct dpage *p = dcache_page(v, (uintptr_t)fhost);
        dbase = p->d;
        fpage = pc & PAGE_MASK;
        if (v->jit)
            jents = jit_page_entries(v, (unsigned)(p - v->dcache), fpage);
    }
    TARGET();

jit_entry: {
    unsigned i = (unsigned)(d - dbase);
    uint32_t e = jents[i];
    if (likely(e < JIT_HOT)) {
        jents[i] = e + 1;
        goto *labels[d->op];
    }
    if (e == JIT_HOT) {
        e = jit_compile(v, jents, dbase, fhost, fpage, i);
        if (unlikely(v->code_dirty)) {
            pc = PC;
            goto done_pc;
        }
    }
    if (e == JIT_NEVER)
        goto *labels[d->op];
    v->instret += (uint64_t)n;
    budget -= n;
    n = 0;
    uint64_t before = v->instret;
    enum jit_result r = jit_run(v, jents, e, budget);
    budget -= (int64_t)(v->instret - before);
    if (r == JIT_STOP)
        goto trapped;
    pc = v->pc;
    if (unlikely(v->code_dirty) || budget <= 0 ||
        atomic_load_explicit(&v->attention, memory_order_relaxed))
        goto done_pc;
    jit_chain(v);
    goto jump_pc;
}

L_PAGE_END:
    pc = fpage + PAGE_SIZE;
    if (unlikely(n >= budget))
        goto done_pc;
    goto new_page;

L_UNDECODED:
    dcache_decode(v, fhost, (unsigned)(d - dbase) * 2, d);
    goto *labels[d->op];

L_GENERIC:
    v->pc = PC;
    v->instret += (uint64_t)n;
    budget -= n;
    n = 0;
    switch (cpu_step(v)) {
    case STEP_NEXT:
        pc = v->pc;
        n = 1;
        if (unlikely(v->code_dirty))
            goto done_pc;
        goto jump_pc;
    case STEP_END:
        v->instret++;
        return;
    case STEP_TRAP:
        return;
    }
    return;

L_LUI: ALU(IMM);
L_AUIPC: ALU(PC + IMM);
L_JAL: {
    uint64_t here = PC;
    x[d->rd] = here + LEN;
    JUMP(here + IMM);
}
L_JALR: {
    uint64_t t = (RS1 + IMM) & ~1ull;
    x[d->rd] = PC + LEN;
    JUMP(t);
}
L_BEQ: BRANCH(RS1 == RS2);
L_BNE: BRANCH(RS1 != RS2);
L_BLT: BRANCH((int64_t)RS1 < (int64_t)RS2);
L_BGE: BRANCH((int64_t)RS1 >= (int64_t)RS2);
L_BLTU: BRANCH(RS1 < RS2);
L_BGEU: BRANCH(RS1 >= RS2);

L_LB: { uint64_t r; LOAD_FAST(1, LD_SIGN, r); ALU((uint64_t)(int64_t)(int8_t)r); }
L_LH: { uint64_t r; LOAD_FAST(2, LD_SIGN, r); ALU((uint64_t)(int64_t)(int16_t)r); }
L_LW: { uint64_t r; LOAD_FAST(4, LD_SIGN, r); ALU(sext32(r)); }
L_LD: { uint64_t r; LOAD_FAST(8, 0, r); ALU(r); }
L_LBU: { uint64_t r; LOAD_FAST(1, 0, r); ALU(r); }
L_LHU: { uint64_t r; LOAD_FAST(2, 0, r); ALU(r); }
L_LWU: { uint64_t r; LOAD_FAST(4, 0, r); ALU(r); }
L_SB: STORE_FAST(1, RS2); NEXT();
L_SH: STORE_FAST(2, RS2); NEXT();
L_SW: STORE_FAST(4, RS2); NEXT();
L_SD: STORE_FAST(8, RS2); NEXT();

L_ADDI: ALU(RS1 + IMM);
L_SLTI: ALU((int64_t)RS1 < (int64_t)IMM);
L_SLTIU: ALU(RS1 < IMM);
L_XORI: ALU(RS1 ^ IMM);
L_ORI: ALU(RS1 | IMM);
L_ANDI: ALU(RS1 & IMM);
L_SLLI: ALU(RS1 << d->imm);
L_SRLI: ALU(RS1 >> d->imm);
L_SRAI: ALU((uint64_t)((int64_t)RS1 >> d->imm));
L_ADDIW: ALU(sext32(RS1 + IMM));
L_SLLIW: ALU(sext32((uint32_t)RS1 << d->imm));
L_SRLIW: ALU(sext32((uint32_t)RS1 >> d->imm));
L_SRAIW: ALU((uint64_t)(int64_t)((int32_t)RS1 >> d->imm));

L_ADD: ALU(RS1 + RS2);
L_SUB: ALU(RS1 - RS2);
L_SLL: ALU(RS1 << (RS2 & 63));
L_SLT: ALU((int64_t)RS1 < (int64_t)RS2);
L_SLTU: ALU(RS1 < RS2);
L_XOR: ALU(RS1 ^ RS2);
L_SRL: ALU(RS1 >> (RS2 & 63));
L_SRA: ALU((uint64_t)((int64_t)RS1 >> (RS2 & 63)));
L_OR: ALU(RS1 | RS2);
L_AND: ALU(RS1 & RS2);
L_MUL: ALU(RS1 * RS2);
L_MULH: ALU(mulh((int64_t)RS1, (int64_t)RS2));
L_MULHSU: ALU(mulhsu((int64_t)RS1, RS2));
L_MULHU: ALU(mulhu(RS1, RS2));
L_DIV: ALU(div64((int64_t)RS1, (int64_t)RS2));
L_DIVU: ALU(RS2 ? RS1 / RS2 : ~0ull);
L_REM: ALU(rem64((int64_t)RS1, (int64_t)RS2));
L_REMU: ALU(RS2 ? RS1 % RS2 : RS1);
L_ADDW: ALU(sext32(RS1 + RS2));
L_SUBW: ALU(sext32(RS1 - RS2));
L_SLLW: ALU(sext32((uint32_t)RS1 << (RS2 & 31)));
L_SRLW: ALU(sext32((uint32_t)RS1 >> (RS2 & 31)));
L_SRAW: ALU((uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31)));
L_MULW: ALU(sext32(RS1 * RS2));
L_DIVW: ALU(divw(RS1, RS2));
L_DIVUW: ALU((uint32_t)RS2 ? sext32((uint32_t)RS1 / (uint32_t)RS2) : ~0ull);
L_REMW: ALU(remw(RS1, RS2));
L_REMUW: ALU((uint32_t)RS2 ? sext32((uint32_t)RS1 % (uint32_t)RS2) : sext32(RS1));

L_FENCE:
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    NEXT();
/* A spin-wait hint. On a host with fewer free cores than vCPUs, the hart a spinning hart
 * waits for (a lock holder, the target of an IPI it waits to see handled) may be a vCPU
 * thread that the host descheduled: spinning on burns the slice that thread needs. After
 * SPIN_YIELD hints in one block the block ends and the run loop yields the host thread. */
L_PAUSE:
    if (d->imm)
        x[d->rd] = ~0ull;
    if (unlikely(++spins >= SPIN_YIELD)) {
        v->spinning = true;
        pc = PC + LEN;
        n++;
        goto done_pc;
    }
    NEXT();
L_FENCE_FULL:
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    NEXT();
L_AMO:
    v->pc = PC;
    if (cpu_amo(v, (uint32_t)d->imm))
        goto trapped;
    if (unlikely(v->code_dirty)) {
        pc = PC + LEN;
        n++;
        goto done_pc;
    }
    NEXT();

/* Floating point: with mstatus.FS = Off (or an encoding the FPU rejects) the generic
 * executor raises the illegal-instruction trap. */
L_FP:
    if (unlikely(fs_off(v)) || fpu_exec(&v->fpu, (uint32_t)d->imm, x) != FPU_OK)
        goto L_GENERIC;
    fs_dirty(v);
    NEXT();
L_FLW: {
    uint64_t r;
    if (unlikely(fs_off(v)))
        goto L_GENERIC;
    LOAD_FAST(4, LD_FP, r);
    v->fpu.f[d->rd & 31] = r | 0xffffffff00000000ull;
    fs_dirty(v);
    NEXT();
}
L_FLD: {
    uint64_t r;
    if (unlikely(fs_off(v)))
        goto L_GENERIC;
    LOAD_FAST(8, LD_FP, r);
    v->fpu.f[d->rd & 31] = r;
    fs_dirty(v);
    NEXT();
}
L_FSW:
    if (unlikely(fs_off(v)))
        goto L_GENERIC;
    STORE_FAST(4, v->fpu.f[d->rs2]);
    NEXT();
L_FSD:
    if (unlikely(fs_off(v)))
        goto L_GENERIC;
    STORE_FAST(8, v->fpu.f[d->rs2]);
    NEXT();
L_FCSR:
    if (unlikely(fs_off(v)))
        goto L_GENERIC;
    if (fpu_csr_exec(&v->fpu, (uint32_t)d->imm, x))
        fs_dirty(v);
    NEXT();

done_pc:
    v->pc = pc;
    v->instret += (uint64_t)n;
    x[0] = 0;
    return;
trapped:
    v->instret += (uint64_t)n;
    x[0] = 0;
}
