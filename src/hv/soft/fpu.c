/*
 * fpu.c — decoding of the F/D computational instructions and the operations that are
 * pure bit manipulation (sign injection, min/max, compares, classify, moves). Rounded
 * arithmetic lives in fpu_host.c, conversions in fpu_round.c.
 */
#include "hv/soft/fpu.h"
#include "hv/soft/fpu_internal.h"

#define BOX_S 0xffffffff00000000ull

/* An improperly NaN-boxed single reads as the canonical NaN. */
static uint64_t read_f(const struct fpu *fpu, unsigned r, bool dbl)
{
    uint64_t v = fpu->f[r];

    if (dbl)
        return v;
    return (v & BOX_S) == BOX_S ? (uint32_t)v : CANON_NAN_S;
}

static void write_f(struct fpu *fpu, unsigned r, bool dbl, uint64_t v)
{
    fpu->f[r] = dbl ? v : BOX_S | (uint32_t)v;
}

static void write_x(uint64_t x[32], unsigned rd, uint64_t v)
{
    if (rd != 0)
        x[rd] = v;
}

/* Returns the effective rounding mode, or -1 for a reserved one. */
static int effective_rm(const struct fpu *fpu, unsigned rm)
{
    if (rm == RM_DYN)
        rm = fpu->frm;
    return rm <= RM_RMM ? (int)rm : -1;
}

/* Maps non-NaN values to integers ordered like the reals, with -0 below +0. */
static uint64_t order_key(uint64_t v, bool dbl)
{
    uint64_t sign = fp_sign_bit(dbl);

    return (v & sign) ? (sign << 1) - 1 - v : v | sign;
}

static uint64_t sign_inject(uint64_t a, uint64_t b, bool dbl, unsigned kind)
{
    uint64_t sign = fp_sign_bit(dbl), s;

    switch (kind) {
    case 0: s = b & sign; break;
    case 1: s = ~b & sign; break;
    default: s = (a ^ b) & sign; break;
    }
    return (a & ~sign) | s;
}

static uint64_t min_max(uint64_t a, uint64_t b, bool dbl, bool max, uint32_t *flags)
{
    bool a_lt_b;

    if (fp_issnan(a, dbl) || fp_issnan(b, dbl))
        *flags |= FFLAG_NV;
    if (fp_isnan(a, dbl) && fp_isnan(b, dbl))
        return fp_canon_nan(dbl);
    if (fp_isnan(a, dbl))
        return b;
    if (fp_isnan(b, dbl))
        return a;
    a_lt_b = order_key(a, dbl) < order_key(b, dbl);
    return a_lt_b == max ? b : a;
}

/* kind: 0 FLE, 1 FLT, 2 FEQ. */
static uint64_t compare(uint64_t a, uint64_t b, bool dbl, unsigned kind, uint32_t *flags)
{
    bool both_zero = fp_iszero(a, dbl) && fp_iszero(b, dbl);
    uint64_t ka, kb;

    if (fp_isnan(a, dbl) || fp_isnan(b, dbl)) {
        /* FEQ is a quiet comparison, FLT/FLE signaling ones. */
        if (kind != 2 || fp_issnan(a, dbl) || fp_issnan(b, dbl))
            *flags |= FFLAG_NV;
        return 0;
    }
    ka = order_key(a, dbl);
    kb = order_key(b, dbl);
    switch (kind) {
    case 0: return ka <= kb || both_zero;
    case 1: return ka < kb && !both_zero;
    default: return ka == kb || both_zero;
    }
}

static uint64_t classify(uint64_t v, bool dbl)
{
    bool neg = v & fp_sign_bit(dbl);
    uint64_t mag = fp_abs(v, dbl), min_normal = dbl ? 1ull << 52 : 1ull << 23;

    if (fp_isnan(v, dbl))
        return fp_issnan(v, dbl) ? 1u << 8 : 1u << 9;
    if (mag == fp_inf(dbl))
        return neg ? 1u << 0 : 1u << 7;
    if (mag >= min_normal)
        return neg ? 1u << 1 : 1u << 6;
    if (mag != 0)
        return neg ? 1u << 2 : 1u << 5;
    return neg ? 1u << 3 : 1u << 4;
}

static int exec_fused(struct fpu *fpu, uint32_t insn, bool dbl)
{
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned rs3 = insn >> 27, opcode = insn & 0x7f;
    int rm = effective_rm(fpu, (insn >> 12) & 7);
    uint64_t a = read_f(fpu, rs1, dbl), b = read_f(fpu, rs2, dbl), c = read_f(fpu, rs3, dbl);
    uint64_t sign = fp_sign_bit(dbl);

    if (rm < 0)
        return FPU_ILLEGAL;
    /* Negating an operand is exact, so these are all one fused a*b+c. NaN operands keep
     * their (ignored) sign: the result of any NaN input is the canonical NaN. */
    if (opcode == 0x4b || opcode == 0x4f) /* FNMSUB, FNMADD: -(a*b) */
        a ^= fp_isnan(a, dbl) ? 0 : sign;
    if (opcode == 0x47 || opcode == 0x4f) /* FMSUB, FNMADD: -c */
        c ^= fp_isnan(c, dbl) ? 0 : sign;
    write_f(fpu, rd, dbl, fpu_arith(FOP_FMA, a, b, c, rm, dbl, &fpu->fflags));
    return FPU_OK;
}

static int exec_convert(struct fpu *fpu, uint32_t insn, uint64_t x[32], bool dbl, int rm)
{
    unsigned funct5 = insn >> 27, rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    unsigned rs2 = (insn >> 20) & 31;
    uint64_t r;

    if (rm < 0)
        return FPU_ILLEGAL;
    switch (funct5) {
    case 0x08: /* FCVT.S.D (fmt S, rs2 1) and FCVT.D.S (fmt D, rs2 0) */
        if (rs2 != (dbl ? 0u : 1u))
            return FPU_ILLEGAL;
        r = fpu_convert(read_f(fpu, rs1, !dbl), dbl, rm, &fpu->fflags);
        write_f(fpu, rd, dbl, r);
        return FPU_OK;
    case 0x18: /* FCVT.{W,WU,L,LU}.fmt */
        if (rs2 > 3)
            return FPU_ILLEGAL;
        r = fpu_fp_to_int(read_f(fpu, rs1, dbl), dbl, rs2, rm, &fpu->fflags);
        write_x(x, rd, r);
        return FPU_OK;
    case 0x1a: /* FCVT.fmt.{W,WU,L,LU} */
        if (rs2 > 3)
            return FPU_ILLEGAL;
        write_f(fpu, rd, dbl, fpu_int_to_fp(x[rs1], rs2, rm, dbl, &fpu->fflags));
        return FPU_OK;
    default:
        return FPU_ILLEGAL;
    }
}

static int exec_op_fp(struct fpu *fpu, uint32_t insn, uint64_t x[32], bool dbl)
{
    unsigned funct5 = insn >> 27, funct3 = (insn >> 12) & 7;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    uint64_t a = read_f(fpu, rs1, dbl), b = read_f(fpu, rs2, dbl);
    int rm = effective_rm(fpu, funct3);

    switch (funct5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x0b: /* add sub mul div sqrt */
        if (rm < 0 || (funct5 == 0x0b && rs2 != 0))
            return FPU_ILLEGAL;
        write_f(fpu, rd, dbl,
                fpu_arith(funct5 == 0x0b ? FOP_SQRT : (enum fop)funct5, a, b, 0, rm, dbl,
                          &fpu->fflags));
        return FPU_OK;
    case 0x04: /* FSGNJ, FSGNJN, FSGNJX */
        if (funct3 > 2)
            return FPU_ILLEGAL;
        write_f(fpu, rd, dbl, sign_inject(a, b, dbl, funct3));
        return FPU_OK;
    case 0x05: /* FMIN, FMAX */
        if (funct3 > 1)
            return FPU_ILLEGAL;
        write_f(fpu, rd, dbl, min_max(a, b, dbl, funct3 == 1, &fpu->fflags));
        return FPU_OK;
    case 0x14: /* FLE, FLT, FEQ */
        if (funct3 > 2)
            return FPU_ILLEGAL;
        write_x(x, rd, compare(a, b, dbl, funct3, &fpu->fflags));
        return FPU_OK;
    case 0x08: case 0x18: case 0x1a:
        return exec_convert(fpu, insn, x, dbl, rm);
    case 0x1c: /* FMV.X.W/D (funct3 0), FCLASS (funct3 1) */
        if (rs2 != 0 || funct3 > 1)
            return FPU_ILLEGAL;
        if (funct3 == 1)
            write_x(x, rd, classify(a, dbl));
        else /* a transfer: the raw register bits, boxed or not */
            write_x(x, rd, dbl ? fpu->f[rs1] : (uint64_t)(int64_t)(int32_t)fpu->f[rs1]);
        return FPU_OK;
    case 0x1e: /* FMV.W.X, FMV.D.X */
        if (rs2 != 0 || funct3 != 0)
            return FPU_ILLEGAL;
        write_f(fpu, rd, dbl, x[rs1]);
        return FPU_OK;
    default:
        return FPU_ILLEGAL;
    }
}

int fpu_exec(struct fpu *fpu, uint32_t insn, uint64_t x[32])
{
    unsigned fmt = (insn >> 25) & 3;

    /* fmt 2 (H) and 3 (Q) need extensions this hart does not have. */
    if (fmt > 1)
        return FPU_ILLEGAL;
    switch (insn & 0x7f) {
    case 0x43: case 0x47: case 0x4b: case 0x4f:
        return exec_fused(fpu, insn, fmt == 1);
    case 0x53:
        return exec_op_fp(fpu, insn, x, fmt == 1);
    default:
        return FPU_ILLEGAL;
    }
}

uint64_t fpu_csr_read(const struct fpu *fpu, unsigned csr)
{
    switch (csr) {
    case 0x001: return fpu->fflags & 31;
    case 0x002: return fpu->frm & 7;
    default: return (fpu->fflags & 31) | (fpu->frm & 7) << 5;
    }
}

void fpu_csr_write(struct fpu *fpu, unsigned csr, uint64_t val)
{
    if (csr == 0x002) {
        fpu->frm = val & 7;
        return;
    }
    fpu->fflags = val & 31;
    if (csr == 0x003)
        fpu->frm = (val >> 5) & 7;
}

bool fpu_csr_valid(uint32_t insn)
{
    unsigned f3 = (insn >> 12) & 7, csr = insn >> 20;
    return (insn & 0x7f) == 0x73 && f3 != 0 && f3 != 4 && csr >= 0x001 && csr <= 0x003;
}

bool fpu_csr_exec(struct fpu *fpu, uint32_t insn, uint64_t x[32])
{
    unsigned f3 = (insn >> 12) & 7, csr = insn >> 20;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    uint64_t src = (f3 & 4) ? rs1 : x[rs1], old = fpu_csr_read(fpu, csr);
    bool write = (f3 & 3) == 1 || rs1 != 0;
    if (write)
        fpu_csr_write(fpu, csr, (f3 & 3) == 1 ? src : (f3 & 3) == 2 ? old | src : old & ~src);
    write_x(x, rd, old);
    return write;
}
