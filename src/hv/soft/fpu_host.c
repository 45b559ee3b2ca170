/*
 * fpu_host.c — F/D arithmetic on the host FPU.
 *
 * The host computes add/sub/mul/div/sqrt/fma correctly rounded in the four IEEE modes
 * and raises the same five flags, with tininess detected after rounding on x86 as on
 * RISC-V. The host is kept in round-to-nearest-even and only switched for an
 * instruction that asks for another mode. RMM exists on no host: it is computed in a
 * wider format in round-toward-zero, made round-to-odd with the inexact flag, and
 * rounded a second time in software (round-to-odd at >= p+2 bits makes the double
 * rounding innocuous).
 *
 * The compiler treats FP arithmetic as free of side effects and would happily move it
 * across the mode switch or the flag read; PIN_* ties each value to an asm statement
 * that stays ordered with the mode/flag accesses.
 */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "hv/soft/fpu_internal.h"

#if defined(__x86_64__)
#define PIN_REG(v) __asm__ volatile("" : "+x"(v))
#elif defined(__aarch64__)
#define PIN_REG(v) __asm__ volatile("" : "+w"(v) : : "memory")
#else
#define PIN_REG(v) __asm__ volatile("" : "+m"(v) : : "memory")
#endif
#define PIN_MEM(v) __asm__ volatile("" : "+m"(v) : : "memory")

static uint32_t fenv_to_fflags(int ex)
{
    return (ex & FE_INVALID ? FFLAG_NV : 0) | (ex & FE_DIVBYZERO ? FFLAG_DZ : 0) |
           (ex & FE_OVERFLOW ? FFLAG_OF : 0) | (ex & FE_UNDERFLOW ? FFLAG_UF : 0) |
           (ex & FE_INEXACT ? FFLAG_NX : 0);
}

#if defined(__x86_64__)
/* SSE arithmetic only depends on MXCSR; touching it directly avoids glibc's full
 * x87+SSE environment save in fesetround/feclearexcept on every instruction. */
#define MXCSR_FLAGS 0x3fu
#define MXCSR_RC 0x6000u
#define MXCSR_DAZ_FTZ 0x8040u

struct host_mode {
    uint32_t saved, want;
};

static inline uint32_t mxcsr_read(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static inline void mxcsr_write(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static inline void host_enter(struct host_mode *h, int rm)
{
    static const uint32_t rc[4] = {0u << 13, 3u << 13, 1u << 13, 2u << 13};

    h->saved = mxcsr_read();
    h->want = (h->saved & ~(MXCSR_FLAGS | MXCSR_RC | MXCSR_DAZ_FTZ)) | rc[rm];
    if (h->want != h->saved)
        mxcsr_write(h->want);
}

/* Host flags are dropped on the way out: the VMM has no use for them, and starting
 * the next instruction from a clean state saves a write. */
static inline uint32_t host_leave(struct host_mode *h)
{
    uint32_t now = mxcsr_read(), restore = h->saved & ~MXCSR_FLAGS;

    if (now != restore)
        mxcsr_write(restore);
    return (now & 1 ? FFLAG_NV : 0) | (now & 4 ? FFLAG_DZ : 0) | (now & 8 ? FFLAG_OF : 0) |
           (now & 16 ? FFLAG_UF : 0) | (now & 32 ? FFLAG_NX : 0);
}
#else
struct host_mode {
    int rm;
};

static const int fe_mode[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};

static inline void host_enter(struct host_mode *h, int rm)
{
    h->rm = rm;
    if (rm != RM_RNE)
        fesetround(fe_mode[rm]);
    feclearexcept(FE_ALL_EXCEPT);
}

static inline uint32_t host_leave(struct host_mode *h)
{
    int ex = fetestexcept(FE_ALL_EXCEPT);

    if (h->rm != RM_RNE)
        fesetround(FE_TONEAREST);
    return fenv_to_fflags(ex);
}
#endif

static inline double op_d(enum fop op, double a, double b, double c)
{
    switch (op) {
    case FOP_ADD: return a + b;
    case FOP_SUB: return a - b;
    case FOP_MUL: return a * b;
    case FOP_DIV: return a / b;
    case FOP_SQRT: return sqrt(a);
    default: return fma(a, b, c);
    }
}

static inline float op_s(enum fop op, float a, float b, float c)
{
    switch (op) {
    case FOP_ADD: return a + b;
    case FOP_SUB: return a - b;
    case FOP_MUL: return a * b;
    case FOP_DIV: return a / b;
    case FOP_SQRT: return sqrtf(a);
    default: return fmaf(a, b, c);
    }
}

static uint64_t host_arith_d(enum fop op, uint64_t ua, uint64_t ub, uint64_t uc, int rm,
                             uint32_t *flags)
{
    double a, b, c, r;
    struct host_mode h;

    memcpy(&a, &ua, sizeof(a));
    memcpy(&b, &ub, sizeof(b));
    memcpy(&c, &uc, sizeof(c));
    host_enter(&h, rm);
    PIN_REG(a);
    PIN_REG(b);
    PIN_REG(c);
    r = op_d(op, a, b, c);
    PIN_REG(r);
    *flags |= host_leave(&h);
    memcpy(&ua, &r, sizeof(r));
    return ua;
}

static uint64_t host_arith_s(enum fop op, uint64_t ua, uint64_t ub, uint64_t uc, int rm,
                             uint32_t *flags)
{
    uint32_t wa = (uint32_t)ua, wb = (uint32_t)ub, wc = (uint32_t)uc;
    float a, b, c, r;
    struct host_mode h;

    memcpy(&a, &wa, sizeof(a));
    memcpy(&b, &wb, sizeof(b));
    memcpy(&c, &wc, sizeof(c));
    host_enter(&h, rm);
    PIN_REG(a);
    PIN_REG(b);
    PIN_REG(c);
    r = op_s(op, a, b, c);
    PIN_REG(r);
    *flags |= host_leave(&h);
    memcpy(&wa, &r, sizeof(r));
    return wa;
}

#if LDBL_MANT_DIG >= 64 && LDBL_MAX_EXP >= 16384
/* x87 extended or IEEE quad: >= 55 bits and an exponent range that holds every exact
 * intermediate of double operands. */
typedef long double wide_t;
#define WIDE_FOR_DOUBLE 1
#define wide_sqrt sqrtl
#define wide_fma fmal
#define wide_frexp frexpl
#define wide_ldexp ldexpl
#else
/* Double still covers single-precision RMM; double-precision RMM falls back to RNE. */
typedef double wide_t;
#define WIDE_FOR_DOUBLE 0
#define wide_sqrt sqrt
#define wide_fma fma
#define wide_frexp frexp
#define wide_ldexp ldexp
#endif

static wide_t to_wide(uint64_t v, bool dbl)
{
    double d;
    float f;
    uint32_t w = (uint32_t)v;

    if (!dbl) {
        memcpy(&f, &w, sizeof(f));
        return f;
    }
    memcpy(&d, &v, sizeof(d));
    return d;
}

static wide_t op_wide(enum fop op, wide_t a, wide_t b, wide_t c)
{
    switch (op) {
    case FOP_ADD: return a + b;
    case FOP_SUB: return a - b;
    case FOP_MUL: return a * b;
    case FOP_DIV: return a / b;
    case FOP_SQRT: return wide_sqrt(a);
    default: return wide_fma(a, b, c);
    }
}

static uint64_t rmm_arith(enum fop op, uint64_t ua, uint64_t ub, uint64_t uc, bool dbl,
                          uint32_t *flags)
{
    wide_t a = to_wide(ua, dbl), b = to_wide(ub, dbl), c = to_wide(uc, dbl), r, scaled;
    uint64_t mant;
    int ex, exp;
    bool sign;

    fesetround(FE_TOWARDZERO);
    feclearexcept(FE_ALL_EXCEPT);
    PIN_MEM(a);
    PIN_MEM(b);
    PIN_MEM(c);
    r = op_wide(op, a, b, c);
    PIN_MEM(r);
    ex = fetestexcept(FE_ALL_EXCEPT);
    fesetround(FE_TONEAREST);

    *flags |= fenv_to_fflags(ex) & (FFLAG_NV | FFLAG_DZ);
    if (r != r)
        return fp_canon_nan(dbl);
    sign = signbit(r);
    if (isinf(r))
        return (sign ? fp_sign_bit(dbl) : 0) | fp_inf(dbl);
    if (r == 0)
        return sign ? fp_sign_bit(dbl) : 0;
    scaled = wide_ldexp(wide_frexp(sign ? -r : r, &exp), 64); /* in [2^63, 2^64) */
    mant = (uint64_t)scaled;
    if ((wide_t)mant != scaled || (ex & FE_INEXACT))
        mant |= 1; /* round to odd */
    return fpu_round_pack(sign, exp - 64, mant, RM_RMM, dbl, flags);
}

uint64_t fpu_arith(enum fop op, uint64_t a, uint64_t b, uint64_t c, int rm, bool dbl,
                   uint32_t *flags)
{
    bool uses_b = op != FOP_SQRT, uses_c = op == FOP_FMA;
    uint64_t r;

    /* NaN operands are settled here so the host never sees one: hosts differ in which
     * NaN they propagate, and IEEE leaves inf*0+qNaN's invalid flag to the
     * implementation where RISC-V requires it. */
    if (fp_isnan(a, dbl) || (uses_b && fp_isnan(b, dbl)) || (uses_c && fp_isnan(c, dbl))) {
        if (fp_issnan(a, dbl) || (uses_b && fp_issnan(b, dbl)) ||
            (uses_c && fp_issnan(c, dbl)))
            *flags |= FFLAG_NV;
        if (uses_c && ((fp_isinf(a, dbl) && fp_iszero(b, dbl)) ||
                       (fp_iszero(a, dbl) && fp_isinf(b, dbl))))
            *flags |= FFLAG_NV;
        return fp_canon_nan(dbl);
    }
    if (rm == RM_RMM && (WIDE_FOR_DOUBLE || !dbl))
        r = rmm_arith(op, a, b, c, dbl, flags);
    else if (dbl)
        r = host_arith_d(op, a, b, c, rm == RM_RMM ? RM_RNE : rm, flags);
    else
        r = host_arith_s(op, a, b, c, rm, flags);
    return fp_isnan(r, dbl) ? fp_canon_nan(dbl) : r;
}
