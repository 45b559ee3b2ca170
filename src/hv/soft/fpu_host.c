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

/* FPU_HOST_FENV forces the portable <fenv.h> path, so x86 can test it too. */
#if defined(__x86_64__) && !defined(FPU_HOST_FENV)
#define HOST_MXCSR 1
#endif

#ifdef HOST_MXCSR
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

#ifdef HOST_MXCSR
/* SSE arithmetic only depends on MXCSR; touching it directly avoids glibc's full
 * x87+SSE environment save in fesetround/feclearexcept on every instruction. */
#define MXCSR_FLAGS 0x3fu
#define MXCSR_RC 0x6000u
#define MXCSR_DAZ_FTZ 0x8040u

struct host_mode {
    uint32_t saved;
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

static inline uint32_t mxcsr_to_fflags(uint32_t v)
{
    return (v & 1 ? FFLAG_NV : 0) | (v & 4 ? FFLAG_DZ : 0) | (v & 8 ? FFLAG_OF : 0) |
           (v & 16 ? FFLAG_UF : 0) | (v & 32 ? FFLAG_NX : 0);
}

/*
 * ldmxcsr is the expensive part, so the host's sticky flags are left standing between
 * instructions: flags already recorded in the guest's fflags (known) need no clearing,
 * because fflags only accumulate. A guest busy with inexact arithmetic thus runs with
 * no MXCSR write at all.
 */
static inline void host_enter(struct host_mode *h, int rm, uint32_t known)
{
    static const uint32_t rc[4] = {0u << 13, 3u << 13, 1u << 13, 2u << 13};
    uint32_t cur = mxcsr_read();

    h->saved = cur;
    if ((cur & (MXCSR_RC | MXCSR_DAZ_FTZ)) != rc[rm] || (mxcsr_to_fflags(cur) & ~known))
        mxcsr_write((cur & ~(MXCSR_FLAGS | MXCSR_RC | MXCSR_DAZ_FTZ)) | rc[rm]);
}

static inline uint32_t host_leave(struct host_mode *h)
{
    uint32_t now = mxcsr_read(), restore = (now & MXCSR_FLAGS) | (h->saved & ~MXCSR_FLAGS);

    if (now != restore)
        mxcsr_write(restore);
    return mxcsr_to_fflags(now);
}
#else
struct host_mode {
    int rm;
};

static const int fe_mode[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};

static inline void host_enter(struct host_mode *h, int rm, uint32_t known)
{
    (void)known;
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

/*
 * RNE without touching the host's status register, whose accesses cost more than the
 * arithmetic. Here the flags follow from error-free transformations (TwoSum, the FMA
 * residual, products that are exact in double), which only holds for finite results
 * safely inside the normal range, where NX is the only possible flag; anything else
 * returns false and takes the flag-reading path. It relies on the host being in
 * round-to-nearest-even, C's default, which this file restores after other modes.
 */
static bool have_fast_fma(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("fma");
#else
    return true;
#endif
}

#define EXP_D(u) ((unsigned)((u) >> 52) & 0x7ffu)
#define EXP_S(u) ((unsigned)((u) >> 23) & 0xffu)

static bool quick_rne_d(enum fop op, uint64_t ua, uint64_t ub, uint64_t *out,
                        uint32_t *flags)
{
    double a, b, r, t, err;

    memcpy(&a, &ua, sizeof(a));
    memcpy(&b, &ub, sizeof(b));
    switch (op) {
    case FOP_SUB:
    case FOP_ADD:
        /* Below 2^1022 neither the sum nor TwoSum's steps can overflow; sums landing
         * in the subnormal range are exact, so no UF either. */
        if (EXP_D(ua) >= 0x7fd || EXP_D(ub) >= 0x7fd)
            return false;
        if (op == FOP_SUB)
            b = -b;
        r = a + b;
        t = r - a;
        err = (a - (r - t)) + (b - t);
        break;
    case FOP_MUL:
        r = a * b;
        if (!(fabs(r) >= 0x1p-960 && fabs(r) <= DBL_MAX) || !have_fast_fma())
            return false;
        err = fma(a, b, -r);
        break;
    case FOP_DIV:
        r = a / b;
        if (!(fabs(a) >= 0x1p-960 && fabs(r) >= 0x1p-960 && fabs(r) <= DBL_MAX) ||
            !have_fast_fma())
            return false;
        err = fma(-r, b, a);
        break;
    case FOP_SQRT:
        if (!(a >= 0x1p-960 && a <= DBL_MAX) || !have_fast_fma())
            return false;
        r = sqrt(a);
        err = fma(-r, r, a);
        break;
    default:
        return false;
    }
    if (err != 0)
        *flags |= FFLAG_NX;
    memcpy(out, &r, sizeof(r));
    return true;
}

static bool quick_rne_s(enum fop op, uint64_t ua, uint64_t ub, uint64_t *out,
                        uint32_t *flags)
{
    uint32_t wa = (uint32_t)ua, wb = (uint32_t)ub;
    float a, b, r, t;
    bool inexact;

    memcpy(&a, &wa, sizeof(a));
    memcpy(&b, &wb, sizeof(b));
    switch (op) {
    case FOP_SUB:
    case FOP_ADD:
        if (EXP_S(wa) >= 0xfd || EXP_S(wb) >= 0xfd)
            return false;
        if (op == FOP_SUB)
            b = -b;
        r = a + b;
        t = r - a;
        inexact = (a - (r - t)) + (b - t) != 0;
        break;
    case FOP_MUL: /* the 48-bit product is exact in double */
        r = a * b;
        if (!(fabsf(r) > FLT_MIN && fabsf(r) <= FLT_MAX))
            return false;
        inexact = (double)r != (double)a * (double)b;
        break;
    case FOP_DIV: /* a - r*b is exact in double */
        r = a / b;
        if (!(fabsf(r) > FLT_MIN && fabsf(r) <= FLT_MAX))
            return false;
        inexact = (double)a - (double)r * (double)b != 0;
        break;
    case FOP_SQRT:
        if (!(a > 0 && a <= FLT_MAX))
            return false;
        r = sqrtf(a);
        inexact = (double)r * (double)r != (double)a;
        break;
    default:
        return false;
    }
    if (inexact)
        *flags |= FFLAG_NX;
    memcpy(&wa, &r, sizeof(r));
    *out = wa;
    return true;
}

static uint64_t host_arith_d(enum fop op, uint64_t ua, uint64_t ub, uint64_t uc, int rm,
                             uint32_t *flags)
{
    double a, b, c, r;
    struct host_mode h;

    memcpy(&a, &ua, sizeof(a));
    memcpy(&b, &ub, sizeof(b));
    memcpy(&c, &uc, sizeof(c));
    host_enter(&h, rm, *flags);
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
    host_enter(&h, rm, *flags);
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
    if (rm == RM_RNE && (dbl ? quick_rne_d : quick_rne_s)(op, a, b, &r, flags))
        return r;
    if (rm == RM_RMM && (WIDE_FOR_DOUBLE || !dbl))
        r = rmm_arith(op, a, b, c, dbl, flags);
    else if (dbl)
        r = host_arith_d(op, a, b, c, rm == RM_RMM ? RM_RNE : rm, flags);
    else
        r = host_arith_s(op, a, b, c, rm, flags);
    return fp_isnan(r, dbl) ? fp_canon_nan(dbl) : r;
}
