/*
 * exec.c — the complete executor of one instruction, straight from its encoding.
 *
 * The hot loop (run.c) executes pre-decoded common instructions itself and comes here for
 * everything else: system instructions, CSRs, atomics, floating point, and instructions
 * that straddle a page. cpu_step() says whether the block may go on (STEP_NEXT), must end
 * because state the outer loop looks at changed (STEP_END: CSR writes, xRET, WFI,
 * sfence.vma, fence.i), or a trap/exit happened (STEP_TRAP; v->pc is the handler's, or
 * the instruction's own when an exit is pending).
 */
#include "hv/soft/alu.h"
#include "hv/soft/soft.h"

/* Executes an OP (0x33) instruction; returns false for an illegal encoding. */
static inline bool exec_op(uint64_t *x, uint32_t insn, unsigned rd, uint64_t a, uint64_t b)
{
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
    uint64_t r;
    if (f7 == 0) {
        switch (f3) {
        case 0: r = a + b; break;
        case 1: r = a << (b & 63); break;
        case 2: r = (int64_t)a < (int64_t)b; break;
        case 3: r = a < b; break;
        case 4: r = a ^ b; break;
        case 5: r = a >> (b & 63); break;
        case 6: r = a | b; break;
        default: r = a & b; break;
        }
    } else if (f7 == 0x20) {
        if (f3 == 0)
            r = a - b;
        else if (f3 == 5)
            r = (uint64_t)((int64_t)a >> (b & 63));
        else
            return false;
    } else if (f7 == 1) {
        switch (f3) {
        case 0: r = a * b; break;
        case 1: r = mulh((int64_t)a, (int64_t)b); break;
        case 2: r = mulhsu((int64_t)a, b); break;
        case 3: r = mulhu(a, b); break;
        case 4: r = div64((int64_t)a, (int64_t)b); break;
        case 5: r = b ? a / b : ~0ull; break;
        case 6: r = rem64((int64_t)a, (int64_t)b); break;
        default: r = b ? a % b : a; break;
        }
    } else {
        return false;
    }
    x[rd] = r;
    return true;
}

static inline bool exec_op32(uint64_t *x, uint32_t insn, unsigned rd, uint64_t a, uint64_t b)
{
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    uint64_t r;
    if (f7 == 0 && f3 == 0)
        r = sext32(ua + ub);
    else if (f7 == 0x20 && f3 == 0)
        r = sext32(ua - ub);
    else if (f7 == 0 && f3 == 1)
        r = sext32(ua << (ub & 31));
    else if (f7 == 0 && f3 == 5)
        r = sext32(ua >> (ub & 31));
    else if (f7 == 0x20 && f3 == 5)
        r = sext32((uint32_t)(sa >> (ub & 31)));
    else if (f7 == 1 && f3 == 0)
        r = sext32(ua * ub);
    else if (f7 == 1 && f3 == 4)
        r = ub == 0 ? ~0ull : (sa == INT32_MIN && sb == -1) ? sext32(ua) : sext32((uint32_t)(sa / sb));
    else if (f7 == 1 && f3 == 5)
        r = ub == 0 ? ~0ull : sext32(ua / ub);
    else if (f7 == 1 && f3 == 6)
        r = ub == 0 ? sext32(ua) : (sa == INT32_MIN && sb == -1) ? 0 : sext32((uint32_t)(sa % sb));
    else if (f7 == 1 && f3 == 7)
        r = ub == 0 ? sext32(ua) : sext32(ua % ub);
    else
        return false;
    x[rd] = r;
    return true;
}

static bool exec_op_imm(uint64_t *x, uint32_t insn, unsigned rd, uint64_t a)
{
    unsigned f3 = (insn >> 12) & 7;
    int64_t imm = imm_i(insn);
    unsigned sh = (insn >> 20) & 63, top = insn >> 26;
    uint64_t r;
    switch (f3) {
    case 0: r = a + (uint64_t)imm; break;
    case 1:
        if (top)
            return false;
        r = a << sh;
        break;
    case 2: r = (int64_t)a < imm; break;
    case 3: r = a < (uint64_t)imm; break;
    case 4: r = a ^ (uint64_t)imm; break;
    case 5:
        if (top == 0)
            r = a >> sh;
        else if (top == 0x10)
            r = (uint64_t)((int64_t)a >> sh);
        else
            return false;
        break;
    case 6: r = a | (uint64_t)imm; break;
    default: r = a & (uint64_t)imm; break;
    }
    x[rd] = r;
    return true;
}

static bool exec_op_imm32(uint64_t *x, uint32_t insn, unsigned rd, uint64_t a)
{
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25, sh = (insn >> 20) & 31;
    uint32_t ua = (uint32_t)a;
    uint64_t r;
    if (f3 == 0)
        r = sext32(ua + (uint32_t)imm_i(insn));
    else if (f3 == 1 && f7 == 0)
        r = sext32(ua << sh);
    else if (f3 == 5 && f7 == 0)
        r = sext32(ua >> sh);
    else if (f3 == 5 && f7 == 0x20)
        r = sext32((uint32_t)((int32_t)ua >> sh));
    else
        return false;
    x[rd] = r;
    return true;
}

static inline bool branch_taken(unsigned f3, uint64_t a, uint64_t b, bool *ok)
{
    *ok = true;
    switch (f3) {
    case 0: return a == b;
    case 1: return a != b;
    case 4: return (int64_t)a < (int64_t)b;
    case 5: return (int64_t)a >= (int64_t)b;
    case 6: return a < b;
    case 7: return a >= b;
    }
    *ok = false;
    return false;
}

/* AMO arithmetic on an aligned host address; returns the old value (sign-extended for
 * words), or false in *ok for an unknown funct5. */
#define AMO_CASE(T)                                                                      \
    do {                                                                                 \
        T *p = (T *)h, val = (T)src, old;                                                \
        switch (f5) {                                                                    \
        case 0x01: old = __atomic_exchange_n(p, val, __ATOMIC_SEQ_CST); break;           \
        case 0x00: old = __atomic_fetch_add(p, val, __ATOMIC_SEQ_CST); break;            \
        case 0x04: old = __atomic_fetch_xor(p, val, __ATOMIC_SEQ_CST); break;            \
        case 0x0c: old = __atomic_fetch_and(p, val, __ATOMIC_SEQ_CST); break;            \
        case 0x08: old = __atomic_fetch_or(p, val, __ATOMIC_SEQ_CST); break;             \
        default: {                                                                       \
            old = __atomic_load_n(p, __ATOMIC_RELAXED);                                  \
            T n;                                                                         \
            do {                                                                         \
                typedef __typeof__(old) U;                                               \
                bool lt_s = (S)old < (S)val, lt_u = (U)old < (U)val;                     \
                switch (f5) {                                                            \
                case 0x10: n = lt_s ? old : val; break;                                  \
                case 0x14: n = lt_s ? val : old; break;                                  \
                case 0x18: n = lt_u ? old : val; break;                                  \
                default: n = lt_u ? val : old; break;                                    \
                }                                                                        \
            } while (!__atomic_compare_exchange_n(p, &old, n, false, __ATOMIC_SEQ_CST,   \
                                                  __ATOMIC_RELAXED));                    \
        }                                                                                \
        }                                                                                \
        return (uint64_t)(S)old;                                                         \
    } while (0)

static uint64_t amo32(uint8_t *h, unsigned f5, uint64_t src)
{
    typedef int32_t S;
    AMO_CASE(uint32_t);
}

static uint64_t amo64(uint8_t *h, unsigned f5, uint64_t src)
{
    typedef int64_t S;
    AMO_CASE(uint64_t);
}

static bool amo_known(unsigned f5)
{
    switch (f5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x08: case 0x0c:
    case 0x10: case 0x14: case 0x18: case 0x1c:
        return true;
    }
    return false;
}

bool cpu_amo_valid(uint32_t insn)
{
    unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
    return (f3 == 2 || f3 == 3) && amo_known(f5) && (f5 != 0x02 || ((insn >> 20) & 31) == 0);
}

/* An encoding that passed cpu_amo_valid(). Returns 0, or 1 when a trap was taken. */
int cpu_amo(hv_vcpu *v, uint32_t insn)
{
    unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned size = f3 == 2 ? 4 : 8;
    uint64_t va = v->x[rs1], r;
    uint8_t *h = mem_atomic_addr(v, va, size, f5 == 0x02);
    if (!h)
        return 1;
    if (f5 == 0x02) {
        r = size == 4 ? sext32(__atomic_load_n((uint32_t *)h, __ATOMIC_SEQ_CST))
                      : __atomic_load_n((uint64_t *)h, __ATOMIC_SEQ_CST);
        v->res_host = h;
        v->res_val = r;
        v->res_size = size;
    } else if (f5 == 0x03) {
        bool ok = false;
        if (v->res_host == h && v->res_size == size) {
            if (size == 4) {
                uint32_t exp = (uint32_t)v->res_val;
                ok = __atomic_compare_exchange_n((uint32_t *)h, &exp, (uint32_t)v->x[rs2],
                                                 false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
            } else {
                uint64_t exp = v->res_val;
                ok = __atomic_compare_exchange_n((uint64_t *)h, &exp, v->x[rs2], false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
            }
        }
        v->res_host = NULL;
        r = !ok;
    } else {
        r = size == 4 ? amo32(h, f5, v->x[rs2]) : amo64(h, f5, v->x[rs2]);
    }
    if (rd)
        v->x[rd] = r;
    return 0;
}

/* CSR instructions. Returns 0, 1 for a taken trap. *wrote tells whether state changed. */
static int exec_csr(hv_vcpu *v, uint32_t insn, bool *wrote)
{
    unsigned f3 = (insn >> 12) & 7, csr = insn >> 20;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    uint64_t src = (f3 & 4) ? rs1 : v->x[rs1];
    bool write = (f3 & 3) == 1 || rs1 != 0;
    uint64_t old;
    *wrote = write;
    if (csr_check(v, csr, write) || csr_read(v, csr, &old))
        return -1;
    if (write) {
        /* csrrs/csrrc on mip modify the software-writable bits, not the value that the
         * interrupt lines OR in (a read-back SEIP must not latch). */
        uint64_t base = csr == 0x344 ? v->mip : old;
        uint64_t n = (f3 & 3) == 1 ? src : (f3 & 3) == 2 ? base | src : base & ~src;
        if (csr_write(v, csr, n))
            return -1;
    }
    if (rd)
        v->x[rd] = old;
    return 0;
}

enum sys_result { SYS_NEXT, SYS_JUMPED, SYS_TRAP, SYS_ILLEGAL };

static enum sys_result exec_system(hv_vcpu *v, uint32_t insn)
{
    switch (insn) {
    case 0x00000073: /* ecall */
        if (v->priv == PRV_S && v->vm->cfg.sbi_exits) {
            struct hv_exit *e = v->exit;
            e->reason = HV_EXIT_SBI;
            e->sbi.ext = v->x[17];
            e->sbi.func = v->x[16];
            for (unsigned i = 0; i < 6; i++)
                e->sbi.args[i] = v->x[10 + i];
            e->sbi.ret[0] = e->sbi.ret[1] = 0;
            v->pend = (struct pending){ .kind = PEND_SBI, .ilen = 4 };
            v->exit_ready = true;
            return SYS_TRAP;
        }
        cpu_exception(v, v->priv == PRV_M ? EXC_ECALL_M : EXC_ECALL_U + v->priv, 0);
        return SYS_TRAP;
    case 0x00100073: /* ebreak */
        cpu_exception(v, EXC_BREAKPOINT, v->pc);
        return SYS_TRAP;
    case 0x10200073:
        return cpu_sret(v) ? SYS_ILLEGAL : SYS_JUMPED;
    case 0x30200073:
        return cpu_mret(v) ? SYS_ILLEGAL : SYS_JUMPED;
    case 0x10500073: /* wfi */
        if (v->priv == PRV_U || (v->priv == PRV_S && (v->mstatus & MS_TW)))
            return SYS_ILLEGAL;
        v->wfi = true;
        return SYS_NEXT;
    }
    if ((insn & 0xfe007fff) == 0x12000073) { /* sfence.vma */
        if (v->priv == PRV_U || (v->priv == PRV_S && (v->mstatus & MS_TVM)))
            return SYS_ILLEGAL;
        unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
        int asid = rs2 ? (int)(v->x[rs2] & SATP_ASID_MASK) : TLB_ANY_ASID;
        if (rs1)
            tlb_flush_page(v, v->x[rs1], asid);
        else
            tlb_flush_asid(v, asid);
        return SYS_NEXT;
    }
    return SYS_ILLEGAL;
}

#define SYNC()                                                                           \
    do {                                                                                 \
        v->pc = pc;                                                                      \
        v->ilen = (uint8_t)ilen;                                                         \
    } while (0)

#define ILLEGAL()                                                                        \
    do {                                                                                 \
        v->pc = pc;                                                                      \
        cpu_exception(v, EXC_ILLEGAL, ilen == 2 ? lo : insn);                            \
        goto trapped;                                                                    \
    } while (0)

#define LOAD(size, ld, out)                                                              \
    do {                                                                                 \
        uint64_t va_ = x[rs1] + (uint64_t)imm_i(insn);                                   \
        uint8_t *h_ = tlb_hit(v->tlb_r, va_, size);                                      \
        out = 0;                                                                         \
        if (likely(h_)) {                                                                \
            memcpy(&out, h_, size);                                                      \
        } else {                                                                         \
            SYNC();                                                                      \
            if (mem_load_slow(v, va_, size, &out, ld))                                   \
                goto trapped;                                                            \
        }                                                                                \
    } while (0)

#define STORE(size, val)                                                                 \
    do {                                                                                 \
        uint64_t va_ = x[rs1] + (uint64_t)imm_s(insn), val_ = (val);                     \
        uint8_t *h_ = tlb_hit(v->tlb_w, va_, size);                                      \
        if (likely(h_)) {                                                                \
            memcpy(h_, &val_, size);                                                     \
        } else {                                                                         \
            SYNC();                                                                      \
            if (mem_store_slow(v, va_, size, val_))                                      \
                goto trapped;                                                            \
        }                                                                                \
    } while (0)

/* Fetches the instruction at pc that straddles a page boundary. Returns 0 or 1 (trap). */
static int fetch_cross(hv_vcpu *v, uint64_t pc, uint16_t lo, uint32_t *insn)
{
    uint64_t next = pc + 2;
    uint8_t *h = (uint8_t *)tlb_hit(v->tlb_x, next, 1);
    if (!h) {
        uint8_t *page;
        v->pc = pc;
        if (mmu_fetch_page(v, next, &page))
            return 1;
        h = page;
    }
    uint16_t hi;
    memcpy(&hi, h, 2);
    *insn = (uint32_t)lo | (uint32_t)hi << 16;
    return 0;
}

/* Executes the instruction at v->pc (fetching it again from guest memory). */
enum step cpu_step(hv_vcpu *v)
{
    uint64_t *x = v->x;
    uint64_t pc = v->pc;
    uint32_t insn;
    unsigned ilen;
    uint16_t lo;
    uint8_t *fhost = tlb_hit(v->tlb_x, pc & PAGE_MASK, 1);
    if (!fhost && mmu_fetch_page(v, pc, &fhost))
        return STEP_TRAP;
    memcpy(&lo, fhost + (pc & (PAGE_SIZE - 1)), 2);
    if ((lo & 3) == 3) {
        ilen = 4;
        if (likely((pc & (PAGE_SIZE - 1)) != PAGE_SIZE - 2))
            memcpy(&insn, fhost + (pc & (PAGE_SIZE - 1)), 4);
        else if (fetch_cross(v, pc, lo, &insn))
            return STEP_TRAP;
    } else {
        ilen = 2;
        insn = v->vm->rvc_table[lo];
    }

    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned f3 = (insn >> 12) & 7;
    uint64_t npc = pc + ilen;
    x[0] = 0;
    switch (insn & 0x7f) {
    case OPC_LUI:
        x[rd] = (uint64_t)(int64_t)(int32_t)(insn & 0xfffff000);
        break;
    case OPC_AUIPC:
        x[rd] = pc + (uint64_t)(int64_t)(int32_t)(insn & 0xfffff000);
        break;
    case OPC_JAL:
        x[rd] = npc;
        npc = pc + (uint64_t)imm_j(insn);
        break;
    case OPC_JALR: {
        if (f3)
            ILLEGAL();
        uint64_t t = (x[rs1] + (uint64_t)imm_i(insn)) & ~1ull;
        x[rd] = npc;
        npc = t;
        break;
    }
    case OPC_BRANCH: {
        bool ok;
        bool t = branch_taken(f3, x[rs1], x[rs2], &ok);
        if (!ok)
            ILLEGAL();
        if (t)
            npc = pc + (uint64_t)imm_b(insn);
        break;
    }
    case OPC_LOAD: {
        uint64_t r;
        switch (f3) {
        case 0: LOAD(1, rd | LD_SIGN, r); x[rd] = (uint64_t)(int64_t)(int8_t)r; break;
        case 1: LOAD(2, rd | LD_SIGN, r); x[rd] = (uint64_t)(int64_t)(int16_t)r; break;
        case 2: LOAD(4, rd | LD_SIGN, r); x[rd] = sext32(r); break;
        case 3: LOAD(8, rd, r); x[rd] = r; break;
        case 4: LOAD(1, rd, r); x[rd] = r; break;
        case 5: LOAD(2, rd, r); x[rd] = r; break;
        case 6: LOAD(4, rd, r); x[rd] = r; break;
        default: ILLEGAL();
        }
        break;
    }
    case OPC_STORE:
        switch (f3) {
        case 0: STORE(1, x[rs2]); break;
        case 1: STORE(2, x[rs2]); break;
        case 2: STORE(4, x[rs2]); break;
        case 3: STORE(8, x[rs2]); break;
        default: ILLEGAL();
        }
        break;
    case OPC_OP_IMM:
        if (!exec_op_imm(x, insn, rd, x[rs1]))
            ILLEGAL();
        break;
    case OPC_OP_IMM_32:
        if (!exec_op_imm32(x, insn, rd, x[rs1]))
            ILLEGAL();
        break;
    case OPC_OP:
        if (!exec_op(x, insn, rd, x[rs1], x[rs2]))
            ILLEGAL();
        break;
    case OPC_OP_32:
        if (!exec_op32(x, insn, rd, x[rs1], x[rs2]))
            ILLEGAL();
        break;
    case OPC_LOAD_FP: {
        uint64_t r;
        if (fs_off(v) || (f3 != 2 && f3 != 3))
            ILLEGAL();
        if (f3 == 2) {
            LOAD(4, rd | LD_FP, r);
            v->fpu.f[rd] = r | 0xffffffff00000000ull;
        } else {
            LOAD(8, rd | LD_FP, r);
            v->fpu.f[rd] = r;
        }
        fs_dirty(v);
        break;
    }
    case OPC_STORE_FP:
        if (fs_off(v) || (f3 != 2 && f3 != 3))
            ILLEGAL();
        if (f3 == 2)
            STORE(4, v->fpu.f[rs2]);
        else
            STORE(8, v->fpu.f[rs2]);
        break;
    case OPC_MADD:
    case OPC_MSUB:
    case OPC_NMSUB:
    case OPC_NMADD:
    case OPC_OP_FP:
        if (fs_off(v) || fpu_exec(&v->fpu, insn, x) != FPU_OK)
            ILLEGAL();
        fs_dirty(v);
        break;
    case OPC_AMO:
        if (!cpu_amo_valid(insn))
            ILLEGAL();
        SYNC();
        if (cpu_amo(v, insn))
            goto trapped;
        break;
    case OPC_MISC_MEM:
        if (f3 == 0) {
            /* Only a store->load ordering needs a real fence on a TSO host. */
            if ((insn & (1u << 24)) && (insn & (1u << 21)))
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
            else
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
        } else if (f3 == 1) {
            dcache_fence(v);
            v->pc = npc;
            return STEP_END;
        } else {
            ILLEGAL();
        }
        break;
    case OPC_SYSTEM:
        SYNC();
        if (f3 == 0) {
            switch (exec_system(v, insn)) {
            case SYS_NEXT:
                v->pc = npc;
                x[0] = 0;
                return STEP_END;
            case SYS_JUMPED:
                x[0] = 0;
                return STEP_END;
            case SYS_TRAP:
                goto trapped;
            case SYS_ILLEGAL:
                ILLEGAL();
            }
        } else if (f3 != 4) {
            bool wrote;
            if (exec_csr(v, insn, &wrote))
                ILLEGAL();
            if (wrote) {
                v->pc = npc;
                x[0] = 0;
                return STEP_END;
            }
        } else {
            ILLEGAL();
        }
        break;
    default:
        ILLEGAL();
    }
    v->pc = npc;
    x[0] = 0;
    return STEP_NEXT;
trapped:
    x[0] = 0;
    return STEP_TRAP;
}
