/*
 * fpu_round.c — the software rounder and the conversions built on it.
 *
 * Conversions are done in integer arithmetic rather than by the host: host int->float
 * sequences are not reliable under directed rounding (some compilers' uint64->double
 * produces -0.0 in round-down), and RMM exists on no host. The rounder also finishes
 * RMM arithmetic for fpu_host.c.
 */
#include <math.h>

#include "hv/soft/fpu_internal.h"

struct fmt {
    int prec; /* significand bits, the implicit one included */
    int emin, emax, bias;
};

static const struct fmt fmt_s = {24, -126, 127, 127};
static const struct fmt fmt_d = {53, -1022, 1023, 1023};

/* cmp: the discarded part against half an ulp (-1 below, 0 tie, 1 above). */
static bool round_increments(int rm, bool sign, bool odd, int cmp, bool inexact)
{
    switch (rm) {
    case RM_RNE: return cmp > 0 || (cmp == 0 && odd);
    case RM_RMM: return cmp >= 0;
    case RM_RDN: return inexact && sign;
    case RM_RUP: return inexact && !sign;
    default: return false; /* RTZ */
    }
}

/* Keeps the top 64-shift bits of a normalized mant; shift may exceed 64. */
static uint64_t round_at(uint64_t mant, int shift, int rm, bool sign, bool *inexact)
{
    uint64_t kept;
    int cmp;

    if (shift > 64) {
        kept = 0;
        cmp = -1;
        *inexact = true;
    } else if (shift == 64) {
        kept = 0;
        cmp = mant == 1ull << 63 ? 0 : 1; /* normalized: mant >= 2^63 */
        *inexact = true;
    } else {
        uint64_t rem = mant & ((1ull << shift) - 1), half = 1ull << (shift - 1);
        kept = mant >> shift;
        cmp = rem > half ? 1 : rem == half ? 0 : -1;
        *inexact = rem != 0;
    }
    return kept + round_increments(rm, sign, kept & 1, cmp, *inexact);
}

static uint64_t overflow(bool sign, int rm, bool dbl, uint32_t *flags)
{
    const struct fmt *f = dbl ? &fmt_d : &fmt_s;
    uint64_t sbit = sign ? fp_sign_bit(dbl) : 0;
    uint64_t inf = (uint64_t)(2 * f->bias + 1) << (f->prec - 1);
    bool to_max = rm == RM_RTZ || (rm == RM_RDN && !sign) || (rm == RM_RUP && sign);

    *flags |= FFLAG_OF | FFLAG_NX;
    return sbit | (to_max ? inf - 1 : inf);
}

uint64_t fpu_round_pack(bool sign, int exp, uint64_t mant, int rm, bool dbl,
                        uint32_t *flags)
{
    const struct fmt *f = dbl ? &fmt_d : &fmt_s;
    uint64_t sbit = sign ? fp_sign_bit(dbl) : 0;
    int lz, e, shift = 64 - f->prec;
    bool inexact, tiny = false;
    uint64_t kept, bits;

    if (mant == 0)
        return sbit;
    lz = __builtin_clzll(mant);
    mant <<= lz;
    e = exp - lz + 63; /* exponent of the leading one */
    if (e > f->emax)
        return overflow(sign, rm, dbl, flags);
    if (e < f->emin) {
        /* Tininess is judged after rounding, as if the exponent range were unbounded:
         * only a value just below 2^emin can round up out of it. */
        tiny = e < f->emin - 1 ||
               round_at(mant, shift, rm, sign, &inexact) >> f->prec == 0;
        shift += f->emin - e;
        kept = round_at(mant, shift, rm, sign, &inexact);
        bits = kept; /* a carry into the exponent field yields the smallest normal */
    } else {
        kept = round_at(mant, shift, rm, sign, &inexact);
        bits = ((uint64_t)(e + f->bias - 1) << (f->prec - 1)) + kept;
        if (bits >> (f->prec - 1) >= (uint64_t)(2 * f->bias + 1))
            return overflow(sign, rm, dbl, flags);
    }
    if (inexact)
        *flags |= FFLAG_NX | (tiny ? FFLAG_UF : 0);
    return sbit | bits;
}

uint64_t fpu_int_to_fp(uint64_t src, unsigned kind, int rm, bool dbl, uint32_t *flags)
{
    bool neg = false;
    uint64_t mag;

    switch (kind) {
    case 0: /* W */
        mag = (uint64_t)(int64_t)(int32_t)src;
        neg = (int64_t)mag < 0;
        break;
    case 1: mag = (uint32_t)src; break;     /* WU */
    case 2: mag = src; neg = (int64_t)src < 0; break; /* L */
    default: mag = src; break;             /* LU */
    }
    if (neg)
        mag = -mag; /* two's complement magnitude, also right for INT64_MIN */
    return fpu_round_pack(neg, 0, mag, rm, dbl, flags);
}

static double bits_to_double(uint64_t v, bool dbl)
{
    union { uint64_t u; double d; } ud = {.u = v};
    union { uint32_t u; float f; } uf = {.u = (uint32_t)v};
    return dbl ? ud.d : (double)uf.f;
}

/* libm's trunc/floor/ceil/round ignore the dynamic rounding mode, so this is exact
 * whatever mode the host is in. */
static double round_integral(double v, int rm)
{
    double t, frac;

    switch (rm) {
    case RM_RTZ: return trunc(v);
    case RM_RDN: return floor(v);
    case RM_RUP: return ceil(v);
    case RM_RMM: return round(v);
    default:
        t = trunc(v);
        frac = fabs(v - t); /* exact: t and v share a binade or t is 0 */
        if (frac > 0.5 || (frac == 0.5 && fmod(t, 2.0) != 0.0))
            t += v < 0 ? -1.0 : 1.0;
        return t;
    }
}

uint64_t fpu_fp_to_int(uint64_t v, bool dbl, unsigned kind, int rm, uint32_t *flags)
{
    static const double lo[4] = {-0x1p31, 0.0, -0x1p63, 0.0};
    static const double hi_excl[4] = {0x1p31, 0x1p32, 0x1p63, 0x1p64};
    static const uint64_t min[4] = {(uint64_t)INT32_MIN, 0, 1ull << 63, 0};
    static const uint64_t max[4] = {INT32_MAX, UINT64_MAX, INT64_MAX, UINT64_MAX};
    double d, r;

    if (fp_isnan(v, dbl)) {
        *flags |= FFLAG_NV;
        return max[kind];
    }
    d = bits_to_double(v, dbl);
    r = round_integral(d, rm);
    if (r < lo[kind] || r >= hi_excl[kind]) {
        *flags |= FFLAG_NV;
        return r < 0 ? min[kind] : max[kind];
    }
    if (r != d)
        *flags |= FFLAG_NX;
    switch (kind) {
    case 0: return (uint64_t)(int64_t)(int32_t)r;
    case 1: return (uint64_t)(int64_t)(int32_t)(uint32_t)r;
    case 2: return (uint64_t)(int64_t)r;
    default: return (uint64_t)r;
    }
}

uint64_t fpu_convert(uint64_t v, bool to_dbl, int rm, uint32_t *flags)
{
    bool from_dbl = !to_dbl, sign = v & fp_sign_bit(from_dbl);
    const struct fmt *f = from_dbl ? &fmt_d : &fmt_s;
    int frac_bits = f->prec - 1;
    uint64_t frac = v & ((1ull << frac_bits) - 1);
    int bexp = (int)(fp_abs(v, from_dbl) >> frac_bits);

    if (fp_isnan(v, from_dbl)) {
        if (fp_issnan(v, from_dbl))
            *flags |= FFLAG_NV;
        return fp_canon_nan(to_dbl);
    }
    if (fp_isinf(v, from_dbl))
        return (sign ? fp_sign_bit(to_dbl) : 0) | fp_inf(to_dbl);
    if (bexp == 0) /* zero or subnormal */
        return fpu_round_pack(sign, f->emin - frac_bits, frac, rm, to_dbl, flags);
    return fpu_round_pack(sign, bexp - f->bias - frac_bits, frac | 1ull << frac_bits, rm,
                          to_dbl, flags);
}
