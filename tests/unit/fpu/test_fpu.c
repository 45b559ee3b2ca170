/*
 * test_fpu.c — the F/D unit against bit patterns worked out from the RISC-V spec and
 * IEEE 754 (several cross-checked on qemu-system-riscv64). fpu_*.c are compiled into
 * this executable, so it does not depend on the rest of libcove.
 */
#include "hv/soft/fpu.h"
#include "../test.h"

enum { NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16 };
enum { RNE, RTZ, RDN, RUP, RMM, DYN = 7 };
enum { FS, FD };
enum { ADD = 0x00, SUB = 0x01, MUL = 0x02, DIV = 0x03, SGNJ = 0x04, MINMAX = 0x05,
       CVT_FF = 0x08, SQRT = 0x0b, CMP = 0x14, CVT_IF = 0x18, CVT_FI = 0x1a,
       MV_X_CLASS = 0x1c, MV_F = 0x1e };
enum { FMADD = 0x43, FMSUB = 0x47, FNMSUB = 0x4b, FNMADD = 0x4f };
enum { W, WU, L, LU };

#define BOX(v) (0xffffffff00000000ull | (uint32_t)(v))
#define CANON_S BOX(0x7fc00000)
#define CANON_D 0x7ff8000000000000ull
#define QNAN_D 0x7ff8000000000123ull
#define SNAN_D 0x7ff0000000000001ull
#define SNAN_S 0x7f800001u
#define QNAN_S 0x7fc00001u
#define INF_D 0x7ff0000000000000ull
#define NINF_D 0xfff0000000000000ull
#define MAX_D 0x7fefffffffffffffull
#define ONE_D 0x3ff0000000000000ull
#define ONE_S 0x3f800000u
#define NZERO_D 0x8000000000000000ull

static struct fpu F;
static uint64_t X[32];

static uint32_t op_fp(unsigned funct5, unsigned fmt, unsigned rm, unsigned rd, unsigned rs1,
                      unsigned rs2)
{
    return funct5 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | 0x53;
}

static uint32_t r4(unsigned opcode, unsigned fmt, unsigned rm, unsigned rd, unsigned rs1,
                   unsigned rs2, unsigned rs3)
{
    return rs3 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | opcode;
}

static void reset(void)
{
    memset(&F, 0, sizeof(F));
    memset(X, 0, sizeof(X));
}

/* Runs insn expecting FPU_OK; flags are left in F.fflags. */
static void exec_ok(uint32_t insn)
{
    int rc = fpu_exec(&F, insn, X);

    CHECK_EQ_U64(rc, FPU_OK);
}

/* Single-precision operands are given unboxed and boxed here; results come back raw. */
static uint64_t box_if(unsigned fmt, uint64_t v) { return fmt == FS ? BOX(v) : v; }

static uint64_t bin(unsigned funct5, unsigned fmt, unsigned rm, uint64_t a, uint64_t b)
{
    reset();
    F.f[1] = box_if(fmt, a);
    F.f[2] = box_if(fmt, b);
    exec_ok(op_fp(funct5, fmt, rm, 10, 1, 2));
    return F.f[10];
}

static uint64_t fused(unsigned opcode, unsigned fmt, unsigned rm, uint64_t a, uint64_t b,
                      uint64_t c)
{
    reset();
    F.f[1] = box_if(fmt, a);
    F.f[2] = box_if(fmt, b);
    F.f[3] = box_if(fmt, c);
    exec_ok(r4(opcode, fmt, rm, 10, 1, 2, 3));
    return F.f[10];
}

static uint64_t to_int(unsigned fmt, unsigned kind, unsigned rm, uint64_t a)
{
    reset();
    F.f[1] = box_if(fmt, a);
    exec_ok(op_fp(CVT_IF, fmt, rm, 10, 1, kind));
    return X[10];
}

static uint64_t from_int(unsigned fmt, unsigned kind, unsigned rm, uint64_t v)
{
    reset();
    X[1] = v;
    exec_ok(op_fp(CVT_FI, fmt, rm, 10, 1, kind));
    return F.f[10];
}

static uint64_t to_x(unsigned funct5, unsigned fmt, unsigned funct3, uint64_t a, uint64_t b)
{
    reset();
    F.f[1] = box_if(fmt, a);
    F.f[2] = box_if(fmt, b);
    /* FMV.X and FCLASS have only one source: their rs2 field must be 0. */
    exec_ok(op_fp(funct5, fmt, funct3, 10, 1, funct5 == MV_X_CLASS ? 0 : 2));
    return X[10];
}

/* Checks a result and the exact flags it raised. */
#define CHECK_R(expr, want, want_flags)                                                   \
    do {                                                                                  \
        CHECK_EQ_U64((expr), (want));                                                     \
        CHECK_EQ_U64(F.fflags, (want_flags));                                             \
    } while (0)

TEST(add_rounding_modes_double)
{
    /* 1 + 2^-53 is a tie between 1 (even) and 1+2^-52. */
    const uint64_t tiny = 0x3ca0000000000000ull;
    CHECK_R(bin(ADD, FD, RNE, ONE_D, tiny), ONE_D, NX);
    CHECK_R(bin(ADD, FD, RTZ, ONE_D, tiny), ONE_D, NX);
    CHECK_R(bin(ADD, FD, RDN, ONE_D, tiny), ONE_D, NX);
    CHECK_R(bin(ADD, FD, RUP, ONE_D, tiny), 0x3ff0000000000001ull, NX);
    CHECK_R(bin(ADD, FD, RMM, ONE_D, tiny), 0x3ff0000000000001ull, NX);
    /* Negative tie: RDN and RMM go away from zero, RUP and RTZ toward. */
    CHECK_R(bin(SUB, FD, RNE, 0xbff0000000000000ull, tiny), 0xbff0000000000000ull, NX);
    CHECK_R(bin(SUB, FD, RTZ, 0xbff0000000000000ull, tiny), 0xbff0000000000000ull, NX);
    CHECK_R(bin(SUB, FD, RDN, 0xbff0000000000000ull, tiny), 0xbff0000000000001ull, NX);
    CHECK_R(bin(SUB, FD, RUP, 0xbff0000000000000ull, tiny), 0xbff0000000000000ull, NX);
    CHECK_R(bin(SUB, FD, RMM, 0xbff0000000000000ull, tiny), 0xbff0000000000001ull, NX);
    /* A tie whose lower neighbour is odd: RNE now rounds up too. */
    CHECK_R(bin(ADD, FD, RNE, 0x3ff0000000000001ull, tiny), 0x3ff0000000000002ull, NX);
    CHECK_R(bin(ADD, FD, RTZ, 0x3ff0000000000001ull, tiny), 0x3ff0000000000001ull, NX);
    /* Exact: no flags. */
    CHECK_R(bin(ADD, FD, RNE, ONE_D, ONE_D), 0x4000000000000000ull, 0);
}

TEST(add_rounding_modes_single)
{
    const uint32_t tie = 0x33800000u;     /* 2^-24: half an ulp of 1.0f */
    const uint32_t above = 0x33c00000u;   /* 1.5 * 2^-24: three quarters of an ulp */
    CHECK_R(bin(ADD, FS, RNE, ONE_S, tie), BOX(ONE_S), NX);
    CHECK_R(bin(ADD, FS, RMM, ONE_S, tie), BOX(0x3f800001), NX);
    CHECK_R(bin(ADD, FS, RUP, ONE_S, tie), BOX(0x3f800001), NX);
    CHECK_R(bin(ADD, FS, RDN, ONE_S, tie), BOX(ONE_S), NX);
    CHECK_R(bin(ADD, FS, RTZ, ONE_S, tie), BOX(ONE_S), NX);
    CHECK_R(bin(ADD, FS, RNE, ONE_S, above), BOX(0x3f800001), NX);
    CHECK_R(bin(ADD, FS, RTZ, ONE_S, above), BOX(ONE_S), NX);
    CHECK_R(bin(SUB, FS, RNE, 0xbf800000u, tie), BOX(0xbf800000u), NX);
    CHECK_R(bin(SUB, FS, RMM, 0xbf800000u, tie), BOX(0xbf800001u), NX);
    CHECK_R(bin(SUB, FS, RDN, 0xbf800000u, tie), BOX(0xbf800001u), NX);
    CHECK_R(bin(SUB, FS, RUP, 0xbf800000u, tie), BOX(0xbf800000u), NX);
}

TEST(div_one_third_and_one_tenth)
{
    const uint64_t three = 0x4008000000000000ull, ten = 0x4024000000000000ull;
    CHECK_R(bin(DIV, FD, RNE, ONE_D, three), 0x3fd5555555555555ull, NX);
    CHECK_R(bin(DIV, FD, RUP, ONE_D, three), 0x3fd5555555555556ull, NX);
    CHECK_R(bin(DIV, FD, RMM, ONE_D, three), 0x3fd5555555555555ull, NX);
    CHECK_R(bin(DIV, FD, RDN, 0xbff0000000000000ull, three), 0xbfd5555555555556ull, NX);
    CHECK_R(bin(DIV, FD, RTZ, 0xbff0000000000000ull, three), 0xbfd5555555555555ull, NX);
    CHECK_R(bin(DIV, FD, RNE, ONE_D, ten), 0x3fb999999999999aull, NX);
    CHECK_R(bin(DIV, FD, RTZ, ONE_D, ten), 0x3fb9999999999999ull, NX);
    CHECK_R(bin(DIV, FD, RDN, ONE_D, ten), 0x3fb9999999999999ull, NX);
    CHECK_R(bin(DIV, FD, RUP, ONE_D, ten), 0x3fb999999999999aull, NX);
    CHECK_R(bin(DIV, FD, RMM, ONE_D, ten), 0x3fb999999999999aull, NX);
    /* Single 1/3 rounds up in RNE. */
    CHECK_R(bin(DIV, FS, RNE, ONE_S, 0x40400000u), BOX(0x3eaaaaab), NX);
    CHECK_R(bin(DIV, FS, RTZ, ONE_S, 0x40400000u), BOX(0x3eaaaaaa), NX);
    CHECK_R(bin(DIV, FS, RMM, ONE_S, 0x40400000u), BOX(0x3eaaaaab), NX);
    CHECK_R(bin(DIV, FS, RUP, 0xbf800000u, 0x40400000u), BOX(0xbeaaaaaa), NX);
    CHECK_R(bin(DIV, FS, RDN, 0xbf800000u, 0x40400000u), BOX(0xbeaaaaab), NX);
}

TEST(div_by_zero_and_invalid)
{
    CHECK_R(bin(DIV, FD, RNE, ONE_D, 0), INF_D, DZ);
    CHECK_R(bin(DIV, FD, RMM, ONE_D, NZERO_D), NINF_D, DZ);
    CHECK_R(bin(DIV, FD, RNE, 0, 0), CANON_D, NV);
    CHECK_R(bin(DIV, FD, RMM, 0, 0), CANON_D, NV);
    CHECK_R(bin(SUB, FD, RNE, INF_D, INF_D), CANON_D, NV);
    CHECK_R(bin(MUL, FS, RNE, 0x7f800000u, 0), CANON_S, NV);
    CHECK_R(bin(DIV, FS, RNE, ONE_S, 0x80000000u), BOX(0xff800000u), DZ);
    CHECK_R(bin(DIV, FD, RNE, INF_D, 0), INF_D, 0); /* inf/0 is exact, not DZ */
}

TEST(overflow_depends_on_mode)
{
    const uint64_t two = 0x4000000000000000ull, nmax = 0xffefffffffffffffull;
    CHECK_R(bin(MUL, FD, RNE, MAX_D, two), INF_D, OF | NX);
    CHECK_R(bin(MUL, FD, RTZ, MAX_D, two), MAX_D, OF | NX);
    CHECK_R(bin(MUL, FD, RDN, MAX_D, two), MAX_D, OF | NX);
    CHECK_R(bin(MUL, FD, RUP, MAX_D, two), INF_D, OF | NX);
    CHECK_R(bin(MUL, FD, RMM, MAX_D, two), INF_D, OF | NX);
    CHECK_R(bin(MUL, FD, RNE, nmax, two), NINF_D, OF | NX);
    CHECK_R(bin(MUL, FD, RTZ, nmax, two), nmax, OF | NX);
    CHECK_R(bin(MUL, FD, RDN, nmax, two), NINF_D, OF | NX);
    CHECK_R(bin(MUL, FD, RUP, nmax, two), nmax, OF | NX);
    CHECK_R(bin(MUL, FD, RMM, nmax, two), NINF_D, OF | NX);
    CHECK_R(bin(ADD, FS, RNE, 0x7f7fffffu, 0x7f7fffffu), BOX(0x7f800000u), OF | NX);
    CHECK_R(bin(ADD, FS, RTZ, 0x7f7fffffu, 0x7f7fffffu), BOX(0x7f7fffffu), OF | NX);
    CHECK_R(bin(ADD, FS, RMM, 0xff7fffffu, 0xff7fffffu), BOX(0xff800000u), OF | NX);
    CHECK_R(bin(ADD, FS, RUP, 0xff7fffffu, 0xff7fffffu), BOX(0xff7fffffu), OF | NX);
    /* inf arithmetic is exact: no overflow. */
    CHECK_R(bin(ADD, FD, RNE, INF_D, ONE_D), INF_D, 0);
}

TEST(underflow_and_subnormals)
{
    const uint64_t half = 0x3fe0000000000000ull, min_normal = 0x0010000000000000ull;
    /* Exact subnormal result: no UF (underflow needs inexactness). */
    CHECK_R(bin(MUL, FD, RNE, min_normal, half), 0x0008000000000000ull, 0);
    /* Half the smallest subnormal: a tie between 0 and it. */
    CHECK_R(bin(MUL, FD, RNE, 1, half), 0, UF | NX);
    CHECK_R(bin(MUL, FD, RMM, 1, half), 1, UF | NX);
    CHECK_R(bin(MUL, FD, RUP, 1, half), 1, UF | NX);
    CHECK_R(bin(MUL, FD, RDN, 1, half), 0, UF | NX);
    CHECK_R(bin(MUL, FD, RDN, 0x8000000000000001ull, half), 0x8000000000000001ull, UF | NX);
    /* 1.5 and 2.5 units of the smallest subnormal. */
    CHECK_R(bin(MUL, FD, RNE, 3, half), 2, UF | NX);
    CHECK_R(bin(MUL, FD, RTZ, 3, half), 1, UF | NX);
    CHECK_R(bin(MUL, FD, RNE, 5, half), 2, UF | NX);
    CHECK_R(bin(MUL, FD, RMM, 5, half), 3, UF | NX);
    CHECK_R(bin(DIV, FD, RMM, 5, 0x4000000000000000ull), 3, UF | NX);
    /* (1 - 2^-53) * 2^-1022 rounds to the smallest normal, but is tiny after rounding
     * to 53 bits with an unbounded exponent: UF. */
    CHECK_R(bin(MUL, FD, RNE, 0x3fefffffffffffffull, min_normal), min_normal, UF | NX);
    /* Single: subnormal arithmetic. */
    CHECK_R(bin(ADD, FS, RNE, 1, 1), BOX(2), 0);
    CHECK_R(bin(MUL, FS, RNE, 0x00800000u, 0x3f000000u), BOX(0x00400000u), 0);
    CHECK_R(bin(MUL, FS, RNE, 1, 0x3f000000u), BOX(0), UF | NX);
    CHECK_R(bin(MUL, FS, RMM, 1, 0x3f000000u), BOX(1), UF | NX);
}

TEST(tininess_after_rounding_in_conversion)
{
    /* 2^-126 * (1 - 2^-26) -> single: rounds to 2^-126 at 24 bits even with an
     * unbounded exponent, so it is not tiny: NX only. In RTZ it stays tiny. */
    const uint64_t v = 0x380ffffff8000000ull, tie = 0x380ffffff0000000ull;
    reset();
    F.f[1] = v;
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x00800000u), NX);
    reset();
    F.f[1] = v;
    exec_ok(op_fp(CVT_FF, FS, RTZ, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x007fffffu), UF | NX);
    reset();
    F.f[1] = tie;
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x00800000u), NX);
}

TEST(sqrt_cases)
{
    const uint64_t two = 0x4000000000000000ull;
    reset();
    F.f[1] = two;
    exec_ok(op_fp(SQRT, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], 0x3ff6a09e667f3bcdull, NX);
    F.fflags = 0;
    exec_ok(op_fp(SQRT, FD, RTZ, 10, 1, 0));
    CHECK_R(F.f[10], 0x3ff6a09e667f3bccull, NX);
    F.fflags = 0;
    exec_ok(op_fp(SQRT, FD, RMM, 10, 1, 0));
    CHECK_R(F.f[10], 0x3ff6a09e667f3bcdull, NX);
    F.f[1] = 0xbff0000000000000ull;
    F.fflags = 0;
    exec_ok(op_fp(SQRT, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], CANON_D, NV);
    F.f[1] = NZERO_D;
    F.fflags = 0;
    exec_ok(op_fp(SQRT, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], NZERO_D, 0);
    F.f[1] = BOX(0x40800000u); /* 4.0f */
    F.fflags = 0;
    exec_ok(op_fp(SQRT, FS, RNE, 10, 1, 0));
    CHECK_R(F.f[10], BOX(0x40000000u), 0);
    /* rs2 must be 0. */
    CHECK_EQ_U64(fpu_exec(&F, op_fp(SQRT, FD, RNE, 10, 1, 1), X), FPU_ILLEGAL);
}

TEST(nan_inputs)
{
    CHECK_R(bin(ADD, FD, RNE, QNAN_D, ONE_D), CANON_D, 0);
    CHECK_R(bin(ADD, FD, RNE, ONE_D, SNAN_D), CANON_D, NV);
    CHECK_R(bin(MUL, FD, RMM, SNAN_D, ONE_D), CANON_D, NV);
    CHECK_R(bin(ADD, FS, RNE, QNAN_S, ONE_S), CANON_S, 0);
    CHECK_R(bin(DIV, FS, RNE, SNAN_S, ONE_S), CANON_S, NV);
    CHECK_R(bin(SUB, FS, RNE, 0xffc12345u, ONE_S), CANON_S, 0); /* negative qNaN */
}

TEST(nan_boxing)
{
    reset();
    /* Not boxed: reads as the canonical (quiet) NaN, so no NV. */
    F.f[1] = 0x000000003f800000ull;
    F.f[2] = BOX(ONE_S);
    exec_ok(op_fp(ADD, FS, RNE, 10, 1, 2));
    CHECK_R(F.f[10], CANON_S, 0);
    F.f[1] = 0xfffffffe3f800000ull; /* one upper bit clear */
    exec_ok(op_fp(ADD, FS, RNE, 10, 1, 2));
    CHECK_R(F.f[10], CANON_S, 0);
    /* A double in a register read as a single. */
    F.f[1] = ONE_D;
    exec_ok(op_fp(MUL, FS, RNE, 10, 1, 2));
    CHECK_R(F.f[10], CANON_S, 0);
    /* FSGNJ.S sees the canonical NaN and gives it rs2's sign. */
    F.f[2] = BOX(0xbf800000u);
    exec_ok(op_fp(SGNJ, FS, 0, 10, 1, 2));
    CHECK_R(F.f[10], BOX(0xffc00000u), 0);
    /* FCLASS.S: quiet NaN. */
    exec_ok(op_fp(MV_X_CLASS, FS, 1, 10, 1, 0));
    CHECK_EQ_U64(X[10], 1u << 9);
    /* FEQ.S with an unboxed operand: quiet NaN, so 0 and no NV. */
    F.f[2] = ONE_D;
    exec_ok(op_fp(CMP, FS, 2, 10, 1, 1));
    CHECK_R(X[10], 0, 0);
    /* FMV.X.W is a transfer: raw low bits, sign-extended, even when not boxed. */
    F.f[1] = 0x123456789abcdef0ull;
    exec_ok(op_fp(MV_X_CLASS, FS, 0, 10, 1, 0));
    CHECK_EQ_U64(X[10], 0xffffffff9abcdef0ull);
    F.f[1] = 0xffffffff12345678ull;
    exec_ok(op_fp(MV_X_CLASS, FS, 0, 10, 1, 0));
    CHECK_EQ_U64(X[10], 0x12345678u);
    /* FMV.W.X boxes, dropping the upper half of x. */
    X[5] = 0x123456783f800000ull;
    exec_ok(op_fp(MV_F, FS, 0, 11, 5, 0));
    CHECK_EQ_U64(F.f[11], BOX(ONE_S));
    /* FMV.D.X and FMV.X.D move all 64 bits unchanged, NaN payloads included. */
    X[5] = SNAN_D;
    exec_ok(op_fp(MV_F, FD, 0, 12, 5, 0));
    CHECK_EQ_U64(F.f[12], SNAN_D);
    exec_ok(op_fp(MV_X_CLASS, FD, 0, 13, 12, 0));
    CHECK_EQ_U64(X[13], SNAN_D);
    CHECK_EQ_U64(F.fflags, 0);
}

TEST(sign_injection)
{
    const uint64_t m2 = 0xc000000000000000ull, p3 = 0x4008000000000000ull;
    CHECK_R(bin(SGNJ, FD, 0, p3, m2), 0xc008000000000000ull, 0);
    CHECK_R(bin(SGNJ, FD, 1, p3, m2), p3, 0);
    CHECK_R(bin(SGNJ, FD, 2, 0xc008000000000000ull, m2), p3, 0);
    CHECK_R(bin(SGNJ, FD, 2, p3, m2), 0xc008000000000000ull, 0);
    /* Sign injection never touches NaN payloads or flags, sNaN included. */
    CHECK_R(bin(SGNJ, FD, 1, SNAN_D, SNAN_D), 0xfff0000000000001ull, 0);
    CHECK_R(bin(SGNJ, FS, 2, 0xbf800000u, 0xbf800000u), BOX(ONE_S), 0);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(SGNJ, FD, 3, 1, 1, 1), X), FPU_ILLEGAL);
}

TEST(min_max)
{
    const uint64_t m1 = 0xbff0000000000000ull;
    CHECK_R(bin(MINMAX, FD, 0, 0, NZERO_D), NZERO_D, 0);
    CHECK_R(bin(MINMAX, FD, 0, NZERO_D, 0), NZERO_D, 0);
    CHECK_R(bin(MINMAX, FD, 1, NZERO_D, 0), 0, 0);
    CHECK_R(bin(MINMAX, FD, 1, 0, NZERO_D), 0, 0);
    CHECK_R(bin(MINMAX, FD, 0, m1, ONE_D), m1, 0);
    CHECK_R(bin(MINMAX, FD, 1, m1, ONE_D), ONE_D, 0);
    CHECK_R(bin(MINMAX, FD, 1, NINF_D, m1), m1, 0);
    /* One NaN: the other operand; sNaN still raises NV. */
    CHECK_R(bin(MINMAX, FD, 0, QNAN_D, ONE_D), ONE_D, 0);
    CHECK_R(bin(MINMAX, FD, 1, m1, QNAN_D), m1, 0);
    CHECK_R(bin(MINMAX, FD, 0, SNAN_D, ONE_D), ONE_D, NV);
    CHECK_R(bin(MINMAX, FD, 1, ONE_D, SNAN_D), ONE_D, NV);
    /* Both NaN: the canonical NaN. */
    CHECK_R(bin(MINMAX, FD, 0, QNAN_D, 0xfff8000000000000ull), CANON_D, 0);
    CHECK_R(bin(MINMAX, FD, 1, SNAN_D, QNAN_D), CANON_D, NV);
    CHECK_R(bin(MINMAX, FS, 0, 0x80000000u, 0), BOX(0x80000000u), 0);
    CHECK_R(bin(MINMAX, FS, 1, QNAN_S, 0xc0000000u), BOX(0xc0000000u), 0);
    CHECK_R(bin(MINMAX, FS, 1, SNAN_S, QNAN_S), CANON_S, NV);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(MINMAX, FD, 2, 1, 1, 1), X), FPU_ILLEGAL);
}

TEST(compares)
{
    enum { LE = 0, LT = 1, EQ = 2 };
    CHECK_R(to_x(CMP, FD, EQ, ONE_D, ONE_D), 1, 0);
    CHECK_R(to_x(CMP, FD, EQ, 0, NZERO_D), 1, 0);
    CHECK_R(to_x(CMP, FD, LT, NZERO_D, 0), 0, 0);
    CHECK_R(to_x(CMP, FD, LE, NZERO_D, 0), 1, 0);
    CHECK_R(to_x(CMP, FD, LE, 0, NZERO_D), 1, 0);
    CHECK_R(to_x(CMP, FD, LT, NINF_D, INF_D), 1, 0);
    CHECK_R(to_x(CMP, FD, LT, 0x4000000000000000ull, ONE_D), 0, 0);
    CHECK_R(to_x(CMP, FD, LT, 0xc000000000000000ull, 0xbff0000000000000ull), 1, 0);
    CHECK_R(to_x(CMP, FD, LE, 0xbff0000000000000ull, 0xc000000000000000ull), 0, 0);
    /* FEQ is quiet: NV only for sNaN; FLT/FLE signal on any NaN. */
    CHECK_R(to_x(CMP, FD, EQ, QNAN_D, ONE_D), 0, 0);
    CHECK_R(to_x(CMP, FD, EQ, QNAN_D, QNAN_D), 0, 0);
    CHECK_R(to_x(CMP, FD, EQ, SNAN_D, ONE_D), 0, NV);
    CHECK_R(to_x(CMP, FD, LT, QNAN_D, ONE_D), 0, NV);
    CHECK_R(to_x(CMP, FD, LE, ONE_D, QNAN_D), 0, NV);
    CHECK_R(to_x(CMP, FS, LT, ONE_S, 0x40000000u), 1, 0);
    CHECK_R(to_x(CMP, FS, EQ, QNAN_S, QNAN_S), 0, 0);
    CHECK_R(to_x(CMP, FS, EQ, SNAN_S, ONE_S), 0, NV);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CMP, FD, 3, 1, 1, 1), X), FPU_ILLEGAL);
}

TEST(fclass_all_ten_classes)
{
    static const struct { uint64_t d; uint32_t s; unsigned bit; } cases[] = {
        {NINF_D, 0xff800000u, 0},
        {0xbff0000000000000ull, 0xbf800000u, 1},
        {0x800fffffffffffffull, 0x807fffffu, 2},
        {NZERO_D, 0x80000000u, 3},
        {0, 0, 4},
        {1, 1, 5},
        {MAX_D, 0x7f7fffffu, 6},
        {INF_D, 0x7f800000u, 7},
        {SNAN_D, SNAN_S, 8},
        {CANON_D, 0x7fc00000u, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_R(to_x(MV_X_CLASS, FD, 1, cases[i].d, 0), 1u << cases[i].bit, 0);
        CHECK_R(to_x(MV_X_CLASS, FS, 1, cases[i].s, 0), 1u << cases[i].bit, 0);
    }
    /* Negative sNaN and qNaN are still NaN classes. */
    CHECK_EQ_U64(to_x(MV_X_CLASS, FD, 1, 0xfff0000000000001ull, 0), 1u << 8);
    CHECK_EQ_U64(to_x(MV_X_CLASS, FD, 1, 0xfff8000000000000ull, 0), 1u << 9);
}

TEST(fused_single_rounding)
{
    /* (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; unfused it would be 0. */
    const uint64_t a = 0x3ff0000000400000ull, b = 0x3fefffffff800000ull;
    const uint64_t m1 = 0xbff0000000000000ull;
    CHECK_R(fused(FMADD, FD, RNE, a, b, m1), 0xbc30000000000000ull, 0);
    CHECK_R(fused(FMSUB, FD, RNE, a, b, ONE_D), 0xbc30000000000000ull, 0);
    CHECK_R(fused(FNMSUB, FD, RNE, a, b, ONE_D), 0x3c30000000000000ull, 0);
    CHECK_R(fused(FNMADD, FD, RNE, a, b, m1), 0x3c30000000000000ull, 0);
    CHECK_R(fused(FMADD, FD, RMM, a, b, m1), 0xbc30000000000000ull, 0);
    /* Single: (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24, exact in one rounding. */
    CHECK_R(fused(FMADD, FS, RNE, 0x3f800800u, 0x3f800800u, 0xbf800000u), BOX(0x3a000400u), 0);
    /* The addend decides a tie: 1*1 + 2^-24 in single. */
    CHECK_R(fused(FMADD, FS, RNE, ONE_S, ONE_S, 0x33800000u), BOX(ONE_S), NX);
    CHECK_R(fused(FMADD, FS, RMM, ONE_S, ONE_S, 0x33800000u), BOX(0x3f800001u), NX);
    CHECK_R(fused(FMADD, FD, RMM, ONE_D, ONE_D, 0x3ca0000000000000ull), 0x3ff0000000000001ull,
            NX);
    CHECK_R(fused(FMADD, FD, RUP, ONE_D, ONE_D, 0x3ca0000000000000ull), 0x3ff0000000000001ull,
            NX);
    /* Signs of exact zeros: -(0*1) - 0 = -0; 0*1 - 0 = +0, but -0 in RDN. */
    CHECK_R(fused(FNMADD, FD, RNE, 0, ONE_D, 0), NZERO_D, 0);
    CHECK_R(fused(FMSUB, FD, RNE, 0, ONE_D, 0), 0, 0);
    CHECK_R(fused(FMSUB, FD, RDN, 0, ONE_D, 0), NZERO_D, 0);
    CHECK_R(fused(FMSUB, FD, RMM, 0, ONE_D, 0), 0, 0);
}

TEST(fused_nan_and_invalid)
{
    /* inf * 0 + qNaN must raise NV on RISC-V. */
    CHECK_R(fused(FMADD, FD, RNE, INF_D, 0, QNAN_D), CANON_D, NV);
    CHECK_R(fused(FNMADD, FD, RNE, 0, NINF_D, QNAN_D), CANON_D, NV);
    CHECK_R(fused(FMADD, FS, RNE, 0x7f800000u, 0, QNAN_S), CANON_S, NV);
    CHECK_R(fused(FMADD, FD, RNE, INF_D, 0, ONE_D), CANON_D, NV);
    CHECK_R(fused(FMADD, FD, RNE, QNAN_D, ONE_D, ONE_D), CANON_D, 0);
    CHECK_R(fused(FMADD, FD, RNE, ONE_D, ONE_D, SNAN_D), CANON_D, NV);
    CHECK_R(fused(FMSUB, FD, RNE, INF_D, ONE_D, INF_D), CANON_D, NV);
    CHECK_R(fused(FMADD, FD, RNE, INF_D, ONE_D, INF_D), INF_D, 0);
    CHECK_R(fused(FMADD, FD, RNE, MAX_D, MAX_D, NINF_D), NINF_D, 0);
}

TEST(fp_to_int_rounding)
{
    const uint64_t p15 = 0x3ff8000000000000ull, p25 = 0x4004000000000000ull;
    const uint64_t m25 = 0xc004000000000000ull;
    CHECK_R(to_int(FD, W, RNE, p15), 2, NX);
    CHECK_R(to_int(FD, W, RTZ, p15), 1, NX);
    CHECK_R(to_int(FD, W, RDN, p15), 1, NX);
    CHECK_R(to_int(FD, W, RUP, p15), 2, NX);
    CHECK_R(to_int(FD, W, RMM, p15), 2, NX);
    CHECK_R(to_int(FD, W, RNE, p25), 2, NX);
    CHECK_R(to_int(FD, W, RMM, p25), 3, NX);
    CHECK_R(to_int(FD, L, RNE, m25), (uint64_t)-2, NX);
    CHECK_R(to_int(FD, L, RMM, m25), (uint64_t)-3, NX);
    CHECK_R(to_int(FD, L, RDN, m25), (uint64_t)-3, NX);
    CHECK_R(to_int(FD, L, RUP, m25), (uint64_t)-2, NX);
    CHECK_R(to_int(FD, L, RTZ, m25), (uint64_t)-2, NX);
    CHECK_R(to_int(FS, W, RNE, 0xc0200000u), (uint64_t)-2, NX); /* -2.5f */
    CHECK_R(to_int(FS, L, RNE, 0x4f000000u), 0x80000000u, 0);     /* 2^31 */
    CHECK_R(to_int(FD, W, RNE, 0x4059000000000000ull), 100, 0);
    /* Negative values that round to zero are fine even for unsigned targets. */
    CHECK_R(to_int(FD, WU, RTZ, 0xbfe0000000000000ull), 0, NX); /* -0.5 */
    CHECK_R(to_int(FD, WU, RNE, 0xbfe0000000000000ull), 0, NX); /* tie to even 0 */
    CHECK_R(to_int(FD, LU, RNE, NZERO_D), 0, 0);
    CHECK_R(to_int(FD, WU, RMM, 0xbfe0000000000000ull), 0, NV); /* rounds to -1 */
}

TEST(fp_to_int_saturation)
{
    /* W */
    CHECK_R(to_int(FD, W, RNE, 0x41e0000000000000ull), 0x7fffffffu, NV);  /* 2^31 */
    CHECK_R(to_int(FD, W, RNE, 0xc1e0000000000000ull), 0xffffffff80000000ull, 0);
    CHECK_R(to_int(FD, W, RNE, 0xc1e0000000200000ull), 0xffffffff80000000ull, NV);
    CHECK_R(to_int(FD, W, RNE, 0x41dfffffffe00000ull), 0x7fffffffu, NV);  /* ties up */
    CHECK_R(to_int(FD, W, RTZ, 0x41dfffffffe00000ull), 0x7fffffffu, NX);
    CHECK_R(to_int(FD, W, RNE, CANON_D), 0x7fffffffu, NV);
    CHECK_R(to_int(FD, W, RNE, 0xfff8000000000000ull), 0x7fffffffu, NV); /* -NaN too */
    CHECK_R(to_int(FD, W, RNE, INF_D), 0x7fffffffu, NV);
    CHECK_R(to_int(FD, W, RNE, NINF_D), 0xffffffff80000000ull, NV);
    CHECK_R(to_int(FS, W, RNE, SNAN_S), 0x7fffffffu, NV);
    /* WU: results are sign-extended from bit 31. */
    CHECK_R(to_int(FD, WU, RNE, 0x41efffffffe00000ull), 0xffffffffffffffffull, 0);
    CHECK_R(to_int(FD, WU, RNE, 0x41f0000000000000ull), 0xffffffffffffffffull, NV);
    CHECK_R(to_int(FD, WU, RNE, 0x41e0000000000000ull), 0xffffffff80000000ull, 0);
    CHECK_R(to_int(FD, WU, RNE, 0xbff0000000000000ull), 0, NV);
    CHECK_R(to_int(FD, WU, RNE, CANON_D), 0xffffffffffffffffull, NV);
    CHECK_R(to_int(FD, WU, RNE, NINF_D), 0, NV);
    /* L */
    CHECK_R(to_int(FD, L, RNE, 0x43e0000000000000ull), 0x7fffffffffffffffull, NV);
    CHECK_R(to_int(FD, L, RNE, 0xc3e0000000000000ull), 0x8000000000000000ull, 0);
    CHECK_R(to_int(FD, L, RNE, 0xc3e0000000000001ull), 0x8000000000000000ull, NV);
    CHECK_R(to_int(FD, L, RNE, INF_D), 0x7fffffffffffffffull, NV);
    CHECK_R(to_int(FD, L, RNE, NINF_D), 0x8000000000000000ull, NV);
    CHECK_R(to_int(FD, L, RNE, QNAN_D), 0x7fffffffffffffffull, NV);
    CHECK_R(to_int(FS, L, RNE, 0xdf000000u), 0x8000000000000000ull, 0); /* -2^63 */
    CHECK_R(to_int(FS, L, RNE, 0x5f000000u), 0x7fffffffffffffffull, NV);
    /* LU */
    CHECK_R(to_int(FD, LU, RNE, 0x43f0000000000000ull), 0xffffffffffffffffull, NV);
    CHECK_R(to_int(FD, LU, RNE, 0x43efffffffffffffull), 0xfffffffffffff800ull, 0);
    CHECK_R(to_int(FD, LU, RNE, NINF_D), 0, NV);
    CHECK_R(to_int(FD, LU, RNE, 0xbff0000000000000ull), 0, NV);
    CHECK_R(to_int(FD, LU, RNE, CANON_D), 0xffffffffffffffffull, NV);
    CHECK_R(to_int(FS, LU, RNE, 0x5f800000u), 0xffffffffffffffffull, NV); /* 2^64 */
}

TEST(int_to_fp)
{
    CHECK_R(from_int(FS, W, RNE, 0x7fffffff), BOX(0x4f000000u), NX);
    CHECK_R(from_int(FS, W, RTZ, 0x7fffffff), BOX(0x4effffffu), NX);
    CHECK_R(from_int(FS, W, RNE, 0xffffffff80000000ull), BOX(0xcf000000u), 0);
    /* 2^24 + 1 is a tie between 2^24 (even) and 2^24 + 2. */
    CHECK_R(from_int(FS, L, RNE, 0x1000001), BOX(0x4b800000u), NX);
    CHECK_R(from_int(FS, L, RMM, 0x1000001), BOX(0x4b800001u), NX);
    CHECK_R(from_int(FS, L, RUP, 0x1000001), BOX(0x4b800001u), NX);
    CHECK_R(from_int(FS, L, RMM, (uint64_t)-0x1000001), BOX(0xcb800001u), NX);
    CHECK_R(from_int(FS, L, RDN, (uint64_t)-0x1000001), BOX(0xcb800001u), NX);
    CHECK_R(from_int(FS, L, RUP, (uint64_t)-0x1000001), BOX(0xcb800000u), NX);
    CHECK_R(from_int(FD, LU, RNE, UINT64_MAX), 0x43f0000000000000ull, NX);
    CHECK_R(from_int(FD, LU, RTZ, UINT64_MAX), 0x43efffffffffffffull, NX);
    CHECK_R(from_int(FD, L, RNE, 0x8000000000000000ull), 0xc3e0000000000000ull, 0);
    CHECK_R(from_int(FD, L, RNE, (uint64_t)-1), 0xbff0000000000000ull, 0);
    /* W reads the low 32 bits sign-extended, WU zero-extended. */
    CHECK_R(from_int(FD, W, RNE, 0x00000000ffffffffull), 0xbff0000000000000ull, 0);
    CHECK_R(from_int(FD, WU, RNE, 0x00000000ffffffffull), 0x41efffffffe00000ull, 0);
    CHECK_R(from_int(FS, WU, RNE, 0xffffffff00000001ull), BOX(ONE_S), 0);
    /* Zero is +0 in every mode. */
    CHECK_R(from_int(FD, LU, RDN, 0), 0, 0);
    CHECK_R(from_int(FD, L, RDN, 0), 0, 0);
    CHECK_R(from_int(FS, W, RDN, 0), BOX(0), 0);
}

TEST(float_double_conversion)
{
    reset();
    F.f[1] = 0x3fb999999999999aull; /* 0.1 */
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x3dcccccdu), NX);
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RTZ, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x3dccccccu), NX);
    F.f[1] = 0x7e37e43c8800759cull; /* 1e300 */
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x7f800000u), OF | NX);
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RTZ, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0x7f7fffffu), OF | NX);
    F.f[1] = SNAN_D;
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], CANON_S, NV);
    F.f[1] = 1; /* smallest subnormal double: underflows to zero in single */
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RUP, 10, 1, 1));
    CHECK_R(F.f[10], BOX(1), UF | NX);
    F.f[1] = NINF_D;
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FS, RNE, 10, 1, 1));
    CHECK_R(F.f[10], BOX(0xff800000u), 0);
    /* FCVT.D.S: exact, only NaNs matter. */
    F.f[1] = BOX(1);
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], 0x36a0000000000000ull, 0);
    F.f[1] = BOX(SNAN_S);
    exec_ok(op_fp(CVT_FF, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], CANON_D, NV);
    F.f[1] = BOX(0x80000000u);
    F.fflags = 0;
    exec_ok(op_fp(CVT_FF, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], NZERO_D, 0);
    F.f[1] = ONE_D; /* not boxed: the canonical NaN, quietly */
    exec_ok(op_fp(CVT_FF, FD, RNE, 10, 1, 0));
    CHECK_R(F.f[10], CANON_D, 0);
    /* Wrong rs2 for the direction. */
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_FF, FD, RNE, 10, 1, 1), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_FF, FS, RNE, 10, 1, 0), X), FPU_ILLEGAL);
}

TEST(rounding_mode_validation)
{
    reset();
    F.f[1] = ONE_D;
    F.f[2] = 0x4024000000000000ull;
    CHECK_EQ_U64(fpu_exec(&F, op_fp(DIV, FD, 5, 10, 1, 2), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(DIV, FD, 6, 10, 1, 2), X), FPU_ILLEGAL);
    for (uint32_t frm = 5; frm <= 7; frm++) {
        F.frm = frm;
        CHECK_EQ_U64(fpu_exec(&F, op_fp(DIV, FD, DYN, 10, 1, 2), X), FPU_ILLEGAL);
        CHECK_EQ_U64(fpu_exec(&F, r4(FMADD, FD, DYN, 10, 1, 2, 2), X), FPU_ILLEGAL);
        CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_FI, FD, DYN, 10, 1, W), X), FPU_ILLEGAL);
        CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_FF, FD, DYN, 10, 1, 0), X), FPU_ILLEGAL);
    }
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_IF, FD, 5, 10, 1, W), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, r4(FNMADD, FS, 6, 10, 1, 2, 2), X), FPU_ILLEGAL);
    CHECK_EQ_U64(F.f[10], 0); /* nothing written */
    CHECK_EQ_U64(F.fflags, 0);
    /* Dynamic mode follows frm. */
    F.frm = RUP;
    exec_ok(op_fp(DIV, FD, DYN, 10, 1, 2));
    CHECK_R(F.f[10], 0x3fb999999999999aull, NX);
    F.frm = RTZ;
    exec_ok(op_fp(DIV, FD, DYN, 10, 1, 2));
    CHECK_EQ_U64(F.f[10], 0x3fb9999999999999ull);
    /* Instructions whose funct3 is not a rounding mode ignore frm. */
    F.frm = 7;
    exec_ok(op_fp(SGNJ, FD, 0, 11, 1, 2));
    CHECK_EQ_U64(F.f[11], ONE_D);
}

TEST(illegal_encodings)
{
    reset();
    CHECK_EQ_U64(fpu_exec(&F, op_fp(ADD, 2, RNE, 1, 1, 1), X), FPU_ILLEGAL); /* half */
    CHECK_EQ_U64(fpu_exec(&F, op_fp(ADD, 3, RNE, 1, 1, 1), X), FPU_ILLEGAL); /* quad */
    CHECK_EQ_U64(fpu_exec(&F, r4(FMADD, 3, RNE, 1, 1, 1, 1), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(0x06, FD, RNE, 1, 1, 1), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_IF, FD, RNE, 1, 1, 4), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(CVT_FI, FD, RNE, 1, 1, 5), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(MV_X_CLASS, FD, 2, 1, 1, 0), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(MV_X_CLASS, FD, 0, 1, 1, 1), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, op_fp(MV_F, FD, 1, 1, 1, 0), X), FPU_ILLEGAL);
    CHECK_EQ_U64(fpu_exec(&F, 0x00000013, X), FPU_ILLEGAL); /* addi: not ours */
    CHECK_EQ_U64(fpu_exec(&F, 0x00002007, X), FPU_ILLEGAL); /* flw: done by the core */
}

TEST(x0_never_written_and_flags_accumulate)
{
    reset();
    F.f[1] = CANON_D;
    exec_ok(op_fp(CVT_IF, FD, RNE, 0, 1, L));
    exec_ok(op_fp(MV_X_CLASS, FD, 0, 0, 1, 0));
    exec_ok(op_fp(MV_X_CLASS, FD, 1, 0, 1, 0));
    exec_ok(op_fp(CMP, FD, 1, 0, 1, 1));
    CHECK_EQ_U64(X[0], 0);
    CHECK_EQ_U64(F.fflags, NV);
    /* Flags are ORed in, never cleared. */
    F.f[2] = ONE_D;
    F.f[3] = 0;
    exec_ok(op_fp(DIV, FD, RNE, 4, 2, 3));
    CHECK_EQ_U64(F.fflags, NV | DZ);
    F.f[3] = 0x4008000000000000ull;
    exec_ok(op_fp(DIV, FD, RNE, 4, 2, 3));
    CHECK_EQ_U64(F.fflags, NV | DZ | NX);
    /* rd may equal a source. */
    F.f[5] = ONE_D;
    exec_ok(op_fp(ADD, FD, RNE, 5, 5, 5));
    CHECK_EQ_U64(F.f[5], 0x4000000000000000ull);
}

TEST(rmm_exact_zero_sign)
{
    CHECK_R(bin(SUB, FD, RMM, ONE_D, ONE_D), 0, 0);
    CHECK_R(bin(SUB, FD, RDN, ONE_D, ONE_D), NZERO_D, 0);
    CHECK_R(bin(ADD, FS, RMM, 0x80000000u, 0x80000000u), BOX(0x80000000u), 0);
    CHECK_R(bin(MUL, FD, RMM, NZERO_D, ONE_D), NZERO_D, 0);
}

struct qemu_vector {
    uint32_t insn, frm;
    uint64_t f1, f2, f3, x11, f10, x10;
    uint32_t fflags;
};
#include "qemu_vectors.h"

/* Random instructions and operands (ties, specials, bad boxing, every mode) whose
 * results were recorded on qemu-system-riscv64; see gen_qemu_vectors.py. */
TEST(qemu_recorded_vectors)
{
    int mismatches = 0;

    for (size_t i = 0; i < sizeof(qemu_vectors) / sizeof(qemu_vectors[0]); i++) {
        const struct qemu_vector *v = &qemu_vectors[i];
        int rc;

        reset();
        F.f[1] = v->f1;
        F.f[2] = v->f2;
        F.f[3] = v->f3;
        X[11] = v->x11;
        F.frm = v->frm;
        rc = fpu_exec(&F, v->insn, X);
        if (rc == FPU_OK && F.f[10] == v->f10 && X[10] == v->x10 && F.fflags == v->fflags)
            continue;
        if (++mismatches <= 10)
            printf("  vector %zu insn %08" PRIx32 ": rc %d f10 %016" PRIx64 " x10 %016" PRIx64
                   " fflags %02" PRIx32 ", qemu f10 %016" PRIx64 " x10 %016" PRIx64
                   " fflags %02" PRIx32 "\n",
                   i, v->insn, rc, F.f[10], X[10], F.fflags, v->f10, v->x10, v->fflags);
    }
    CHECK_EQ_U64(mismatches, 0);
}

int main(void)
{
    RUN(add_rounding_modes_double);
    RUN(add_rounding_modes_single);
    RUN(div_one_third_and_one_tenth);
    RUN(div_by_zero_and_invalid);
    RUN(overflow_depends_on_mode);
    RUN(underflow_and_subnormals);
    RUN(tininess_after_rounding_in_conversion);
    RUN(sqrt_cases);
    RUN(nan_inputs);
    RUN(nan_boxing);
    RUN(sign_injection);
    RUN(min_max);
    RUN(compares);
    RUN(fclass_all_ten_classes);
    RUN(fused_single_rounding);
    RUN(fused_nan_and_invalid);
    RUN(fp_to_int_rounding);
    RUN(fp_to_int_saturation);
    RUN(int_to_fp);
    RUN(float_double_conversion);
    RUN(rounding_mode_validation);
    RUN(illegal_encodings);
    RUN(x0_never_written_and_flags_accumulate);
    RUN(rmm_exact_zero_sign);
    RUN(qemu_recorded_vectors);
    return test_summary();
}
