/*
 * fpu_internal.h — what the F/D unit's files share: flag and rounding-mode numbers,
 * bit-level classification of IEEE values, the software rounder (fpu_round.c) and the
 * host-FPU arithmetic (fpu_host.c). Values travel as raw bit patterns (uint64_t; a
 * single occupies the low 32 bits, already unboxed) so no host conversion can quiet a
 * signaling NaN or flush a subnormal behind our back.
 */
#ifndef COVE_HV_SOFT_FPU_INTERNAL_H
#define COVE_HV_SOFT_FPU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

enum { FFLAG_NX = 1, FFLAG_UF = 2, FFLAG_OF = 4, FFLAG_DZ = 8, FFLAG_NV = 16 };
enum { RM_RNE = 0, RM_RTZ = 1, RM_RDN = 2, RM_RUP = 3, RM_RMM = 4, RM_DYN = 7 };
enum fop { FOP_ADD, FOP_SUB, FOP_MUL, FOP_DIV, FOP_SQRT, FOP_FMA };

#define CANON_NAN_S 0x7fc00000ull
#define CANON_NAN_D 0x7ff8000000000000ull

static inline uint64_t fp_sign_bit(bool dbl) { return dbl ? 1ull << 63 : 1ull << 31; }
static inline uint64_t fp_abs(uint64_t v, bool dbl) { return v & (fp_sign_bit(dbl) - 1); }
static inline uint64_t fp_inf(bool dbl) { return dbl ? 0x7ff0000000000000ull : 0x7f800000ull; }
static inline uint64_t fp_canon_nan(bool dbl) { return dbl ? CANON_NAN_D : CANON_NAN_S; }
static inline uint64_t fp_quiet_bit(bool dbl) { return dbl ? 1ull << 51 : 1ull << 22; }
static inline bool fp_isnan(uint64_t v, bool dbl) { return fp_abs(v, dbl) > fp_inf(dbl); }
static inline bool fp_issnan(uint64_t v, bool dbl)
{
    return fp_isnan(v, dbl) && !(v & fp_quiet_bit(dbl));
}
static inline bool fp_isinf(uint64_t v, bool dbl) { return fp_abs(v, dbl) == fp_inf(dbl); }
static inline bool fp_iszero(uint64_t v, bool dbl) { return fp_abs(v, dbl) == 0; }

/*
 * Rounds (-1)^sign * mant * 2^exp to single (dbl false) or double precision under rm
 * (RNE..RMM), raising NX/UF/OF in *flags. Bit 0 of mant may be a sticky bit standing
 * for "a little more than this" (round-to-odd input): any rounding to at most 62 bits
 * then stays exact.
 */
uint64_t fpu_round_pack(bool sign, int exp, uint64_t mant, int rm, bool dbl,
                        uint32_t *flags);

/* FCVT.fmt.{W,WU,L,LU}: kind 0..3 as in rs2; src is the integer register. */
uint64_t fpu_int_to_fp(uint64_t src, unsigned kind, int rm, bool dbl, uint32_t *flags);
/* FCVT.{W,WU,L,LU}.fmt: the value for x[rd], 32-bit results sign-extended. */
uint64_t fpu_fp_to_int(uint64_t v, bool dbl, unsigned kind, int rm, uint32_t *flags);
/* FCVT.S.D (to_dbl false) and FCVT.D.S (to_dbl true). */
uint64_t fpu_convert(uint64_t v, bool to_dbl, int rm, uint32_t *flags);

/* The arithmetic operations, correctly rounded under rm with exact flags; c is used by
 * FOP_FMA only, b not by FOP_SQRT. Negation for FMSUB & co is done by the caller. */
uint64_t fpu_arith(enum fop op, uint64_t a, uint64_t b, uint64_t c, int rm, bool dbl,
                   uint32_t *flags);

#endif
