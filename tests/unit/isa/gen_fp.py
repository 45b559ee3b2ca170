#!/usr/bin/env python3
"""Writes fp_s.S and fp_d.S: F and D cases whose expected results and fflags come from an
exact model (fractions) of IEEE 754 rounding as the RISC-V spec uses it: five rounding
modes, tininess detected after rounding, the canonical NaN, saturating conversions.
QEMU checks the model (run-qemu.sh). Run from this folder: ./gen_fp.py
"""
from fractions import Fraction as Q
import math
import struct

RNE, RTZ, RDN, RUP, RMM = 'rne', 'rtz', 'rdn', 'rup', 'rmm'
MODES = [RNE, RTZ, RDN, RUP, RMM]
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16


class Fmt:
    def __init__(self, name, ebits, mbits):
        self.name, self.ebits, self.mbits = name, ebits, mbits
        self.bias = (1 << (ebits - 1)) - 1
        self.emin = 1 - self.bias
        self.emax = self.bias
        self.width = 1 + ebits + mbits
        self.qnan = ((1 << ebits) - 1) << mbits | 1 << (mbits - 1)
        self.inf = ((1 << ebits) - 1) << mbits
        self.sign = 1 << (self.width - 1)

    def maxfin(self):
        return (((1 << self.ebits) - 2) << self.mbits) | ((1 << self.mbits) - 1)

    def decode(self, bits):
        """bits -> Fraction, or 'inf'/'-inf'/'nan'/'snan', or ('zero', sign)"""
        s = bits >> (self.width - 1)
        e = (bits >> self.mbits) & ((1 << self.ebits) - 1)
        f = bits & ((1 << self.mbits) - 1)
        if e == (1 << self.ebits) - 1:
            if f == 0:
                return '-inf' if s else 'inf'
            return 'nan' if f >> (self.mbits - 1) else 'snan'
        if e == 0:
            v = Q(f) * Q(2) ** (self.emin - self.mbits)
        else:
            v = Q(f + (1 << self.mbits)) * Q(2) ** (e - self.bias - self.mbits)
        if v == 0:
            return ('zero', s)
        return -v if s else v


S = Fmt('s', 8, 23)
D = Fmt('d', 11, 52)


def round_int(m, rm, neg):
    """round a non-negative Fraction m to an integer; neg is the sign of the value"""
    fl = m.numerator // m.denominator
    rest = m - fl
    if rest == 0:
        return fl
    if rm == RTZ:
        return fl
    if rm == RDN:
        return fl + 1 if neg else fl
    if rm == RUP:
        return fl if neg else fl + 1
    if rest > Q(1, 2):
        return fl + 1
    if rest < Q(1, 2):
        return fl
    if rm == RMM:
        return fl + 1
    return fl + (fl & 1)


def ilog2(a):
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Q(2) ** e > a:
        e -= 1
    if Q(2) ** (e + 1) <= a:
        e += 1
    return e


def round_fmt(x, fmt, rm, zero_sign=0):
    """exact value -> (bits, flags)"""
    if x == 0:
        return (fmt.sign if zero_sign else 0), 0
    neg = x < 0
    a = -x if neg else x
    sgn = fmt.sign if neg else 0
    p = fmt.mbits
    # tininess after rounding: round with unbounded exponent range to p+1 bits
    e0 = ilog2(a)
    m0 = round_int(a / Q(2) ** (e0 - p), rm, neg)
    tiny = m0 * Q(2) ** (e0 - p) < Q(2) ** fmt.emin
    e = max(e0, fmt.emin)
    q = Q(2) ** (e - p)
    exact = a / q
    m = round_int(exact, rm, neg)
    flags = NX if m != exact else 0
    if m == 1 << (p + 1):
        m >>= 1
        e += 1
    if e > fmt.emax:
        flags = OF | NX
        to_inf = rm in (RNE, RMM) or (rm == RUP and not neg) or (rm == RDN and neg)
        return sgn | (fmt.inf if to_inf else fmt.maxfin()), flags
    if tiny and flags & NX:
        flags |= UF
    if m >= 1 << p:
        return sgn | ((e + fmt.bias) << p) | (m - (1 << p)), flags
    return sgn | m, flags


def fbits(fmt, v):
    if fmt is S:
        return struct.unpack('<I', struct.pack('<f', v))[0]
    return struct.unpack('<Q', struct.pack('<d', v))[0]


def exact_op(op, vals):
    a = vals
    if op == 'add':
        return a[0] + a[1]
    if op == 'sub':
        return a[0] - a[1]
    if op == 'mul':
        return a[0] * a[1]
    if op == 'div':
        return a[0] / a[1]
    if op == 'madd':
        return a[0] * a[1] + a[2]
    if op == 'msub':
        return a[0] * a[1] - a[2]
    if op == 'nmsub':
        return -(a[0] * a[1]) + a[2]
    if op == 'nmadd':
        return -(a[0] * a[1]) - a[2]
    raise ValueError(op)


def sqrt_round(x, fmt, rm):
    """sqrt of a positive Fraction, correctly rounded (exactness decided on integers)"""
    p = fmt.mbits
    e = ilog2(x) // 2 - p - 2
    # r = floor(sqrt(x) / 2^e) with enough bits, plus a sticky bit
    scaled = x / Q(2) ** (2 * e)
    n = scaled.numerator // scaled.denominator
    r = math.isqrt(n)
    exact = r * r == n and scaled.denominator == 1
    val = Q(r) * Q(2) ** e
    if not exact:
        val += Q(1, 4) * Q(2) ** e   # below one ulp of r: only marks the value inexact
    return round_fmt(val, fmt, rm)


class Gen:
    def __init__(self, fmt):
        self.fmt = fmt
        self.n = 0
        self.lines = []

    def case(self):
        self.n += 1
        assert self.n <= 254
        return self.n

    def emit(self, s):
        self.lines.append(s)

    def hexv(self, v):
        return '0x%0*x' % (self.fmt.width // 4, v)

    def arith(self, op, ops_bits, rm=RNE, expect=None):
        f = self.fmt
        vals = [f.decode(b) for b in ops_bits]
        if expect is None:
            assert all(isinstance(v, Q) for v in vals), (op, ops_bits)
            if op == 'sqrt':
                expect = sqrt_round(vals[0], f, rm)
            else:
                expect = round_fmt(exact_op(op, vals), f, rm)
        res, flags = expect
        b = list(ops_bits) + [0] * (3 - len(ops_bits))
        n = f.name
        if op in ('madd', 'msub', 'nmsub', 'nmadd'):
            inst = 'f%s.%s fa3, fa0, fa1, fa2, %s' % (op, n, rm)
        elif op == 'sqrt':
            inst = 'fsqrt.%s fa3, fa0, %s' % (n, rm)
        elif op in ('min', 'max', 'sgnj', 'sgnjn', 'sgnjx'):
            inst = 'f%s.%s fa3, fa0, fa1' % (op, n)
        else:
            inst = 'f%s.%s fa3, fa0, fa1, %s' % (op, n, rm)
        self.emit('    TEST_FP_%s(%d, %d, %s, %s, %s, %s, %s)' % (
            n.upper(), self.case(), flags, self.hexv(res),
            self.hexv(b[0]), self.hexv(b[1]), self.hexv(b[2]), inst))

    def to_int(self, dst, bits, rm):
        """fcvt.{w,wu,l,lu}.fmt with saturation"""
        f = self.fmt
        v = f.decode(bits)
        width = 32 if dst in ('w', 'wu') else 64
        signed = dst in ('w', 'l')
        lo = -(1 << (width - 1)) if signed else 0
        hi = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
        flags = 0
        if v in ('nan', 'snan', 'inf'):
            r, flags = hi, NV
        elif v == '-inf':
            r, flags = lo, NV
        elif isinstance(v, tuple):
            r = 0
        else:
            neg = v < 0
            r = round_int(-v if neg else v, rm, neg)
            r = -r if neg else r
            if r != v:
                flags = NX
            if r < lo or r > hi:
                r, flags = (lo if v < 0 else hi), NV
        # 32-bit results are sign-extended into the 64-bit register, unsigned ones too
        if width == 32:
            r &= 0xffffffff
            if r >> 31:
                r |= 0xffffffff00000000
        r &= (1 << 64) - 1
        self.emit('    TEST_FP_%s_INT(%d, %d, 0x%016x, %s, 0, fcvt.%s.%s a4, fa0, %s)' % (
            f.name.upper(), self.case(), flags, r, self.hexv(bits), dst, f.name, rm))

    def from_int(self, src, value, rm):
        f = self.fmt
        width = 32 if src in ('w', 'wu') else 64
        signed = src in ('w', 'l')
        x = value & ((1 << width) - 1)
        if signed and x >> (width - 1):
            x -= 1 << width
        res, flags = round_fmt(Q(x), f, rm)
        # int32 -> double is always exact: the assembler takes no rounding mode
        rms = '' if (f is D and width == 32) else ', ' + rm
        self.emit('    TEST_INT_FP_%s(%d, %d, %s, 0x%016x, fcvt.%s.%s fa3, a1%s)' % (
            f.name.upper(), self.case(), flags, self.hexv(res), value & ((1 << 64) - 1),
            f.name, src, rms))

    def cmp(self, op, a, b, result, flags):
        f = self.fmt
        self.emit('    TEST_FP_%s_INT(%d, %d, %d, %s, %s, f%s.%s a4, fa0, fa1)' % (
            f.name.upper(), self.case(), flags, result, self.hexv(a), self.hexv(b), op, f.name))

    def fclass(self, a, result):
        f = self.fmt
        self.emit('    TEST_FP_%s_INT(%d, 0, 0x%x, %s, 0, fclass.%s a4, fa0)' % (
            f.name.upper(), self.case(), result, self.hexv(a), f.name))


def common(g, f):
    """cases shared by both formats; values as host floats where exact"""
    b = lambda v: fbits(f, v)
    one, two, three, half = b(1.0), b(2.0), b(3.0), b(0.5)
    tenth = b(0.1)
    neg = lambda x: x | f.sign
    tiny = 1                       # smallest subnormal
    minnorm = 1 << f.mbits
    big = f.maxfin()
    inf, qnan = f.inf, f.qnan
    snan = f.inf | 1
    pz, nz = 0, f.sign

    g.emit('    /* add/sub/mul/div in every rounding mode (1/3 and 2/3 are inexact) */')
    for rm in MODES:
        g.arith('div', [one, three], rm)
        g.arith('div', [neg(one), three], rm)
        g.arith('add', [one, tenth], rm)
        g.arith('sub', [neg(two), tenth], rm)
        g.arith('mul', [tenth, three], rm)
    g.emit('    /* ties: RNE to even, RMM away */')
    one_plus = one + 1           # 1 + ulp
    half_ulp = (f.bias - f.mbits - 1) << f.mbits  # 2^-(p+1): exactly half an ulp of 1
    for rm in MODES:
        g.arith('add', [one, half_ulp], rm)
        g.arith('add', [one_plus, half_ulp], rm)
    g.emit('    /* exact results raise nothing */')
    g.arith('add', [one, two])
    g.arith('mul', [three, half])
    g.arith('sub', [three, three], RNE, expect=(pz, 0))
    g.arith('sub', [three, three], RDN, expect=(nz, 0))   # x - x = -0 only in RDN
    g.arith('add', [nz, nz], RNE, expect=(nz, 0))
    g.arith('add', [pz, nz], RNE, expect=(pz, 0))
    g.emit('    /* overflow: inf or the largest finite number by mode */')
    for rm in MODES:
        g.arith('mul', [big, two], rm)
        g.arith('mul', [neg(big), two], rm)
    g.emit('    /* underflow (tininess after rounding) and subnormal results */')
    for rm in MODES:
        g.arith('mul', [minnorm, tenth], rm)
        g.arith('div', [tiny, three], rm)
    g.arith('mul', [minnorm, half])               # exact subnormal: no UF
    g.arith('sub', [minnorm + 1, minnorm])        # exact: smallest subnormal
    g.emit('    /* NaN and infinity rules: canonical NaN, invalid operations */')
    g.arith('add', [inf, neg(inf)], RNE, expect=(qnan, NV))
    g.arith('mul', [inf, pz], RNE, expect=(qnan, NV))
    g.arith('div', [pz, pz], RNE, expect=(qnan, NV))
    g.arith('div', [one, pz], RNE, expect=(inf, DZ))
    g.arith('div', [neg(one), pz], RNE, expect=(neg(inf), DZ))
    g.arith('div', [one, nz], RNE, expect=(neg(inf), DZ))
    g.arith('add', [qnan | 0x123, one], RNE, expect=(qnan, 0))  # payload dropped
    g.arith('add', [snan, one], RNE, expect=(qnan, NV))
    g.arith('mul', [neg(qnan), two], RNE, expect=(qnan, 0))
    g.arith('add', [inf, big], RNE, expect=(inf, 0))
    g.arith('sqrt', [neg(one)], RNE, expect=(qnan, NV))
    g.arith('sqrt', [nz], RNE, expect=(nz, 0))
    g.arith('sqrt', [inf], RNE, expect=(inf, 0))
    g.emit('    /* sqrt */')
    g.arith('sqrt', [b(4.0)])
    g.arith('sqrt', [b(2.0)], RNE)
    g.arith('sqrt', [b(2.0)], RUP)
    g.arith('sqrt', [b(2.0)], RTZ)
    g.arith('sqrt', [tiny])
    g.emit('    /* fused multiply-add: one rounding */')
    for op in ('madd', 'msub', 'nmsub', 'nmadd'):
        g.arith(op, [three, tenth, one])
        g.arith(op, [tenth, three, neg(tenth)], RTZ)
    # a*b+c where the product alone would round away the answer
    a = one + 1
    g.arith('madd', [a, a, neg(one + 2)])
    g.arith('madd', [inf, pz, one], RNE, expect=(qnan, NV))
    g.arith('madd', [inf, pz, qnan], RNE, expect=(qnan, NV))  # inf*0 is NV even with NaN c
    g.arith('madd', [one, inf, neg(inf)], RNE, expect=(qnan, NV))
    # -(a*b) - c: the exact zero of (-1) - (-1) is +0 (negation is not applied last)
    g.arith('nmadd', [one, one, neg(one)], RNE, expect=(pz, 0))
    g.arith('nmadd', [one, one, neg(one)], RDN, expect=(nz, 0))
    g.arith('madd', [one, one, neg(one)], RNE, expect=(pz, 0))
    g.emit('    /* fmin/fmax: -0 < +0, a single NaN is ignored, sNaN signals */')
    g.arith('min', [pz, nz], expect=(nz, 0))
    g.arith('max', [nz, pz], expect=(pz, 0))
    g.arith('min', [qnan, two], expect=(two, 0))
    g.arith('max', [two, qnan], expect=(two, 0))
    g.arith('min', [snan, two], expect=(two, NV))
    g.arith('max', [qnan, qnan | 5], expect=(qnan, 0))
    g.arith('min', [neg(three), two], expect=(neg(three), 0))
    g.arith('max', [neg(inf), neg(big)], expect=(neg(big), 0))
    g.emit('    /* sign injection: no flags, NaN payloads kept */')
    g.arith('sgnj', [one, neg(two)], expect=(neg(one), 0))
    g.arith('sgnjn', [one, neg(two)], expect=(one, 0))
    g.arith('sgnjx', [neg(one), neg(two)], expect=(one, 0))
    g.arith('sgnjn', [snan, pz], expect=(neg(snan), 0))
    g.arith('sgnjx', [qnan | 7, neg(one)], expect=(neg(qnan | 7), 0))
    g.emit('    /* compares: feq is quiet, flt/fle signal on any NaN */')
    g.cmp('eq', pz, nz, 1, 0)
    g.cmp('eq', qnan, qnan, 0, 0)
    g.cmp('eq', snan, one, 0, NV)
    g.cmp('lt', neg(one), one, 1, 0)
    g.cmp('lt', one, one, 0, 0)
    g.cmp('lt', qnan, one, 0, NV)
    g.cmp('le', one, one, 1, 0)
    g.cmp('le', nz, pz, 1, 0)
    g.cmp('le', two, one, 0, 0)
    g.cmp('le', one, qnan, 0, NV)
    g.emit('    /* fclass: one bit per class */')
    for v, c in ((neg(inf), 0), (neg(one), 1), (neg(tiny), 2), (nz, 3), (pz, 4), (tiny, 5),
                 (one, 6), (inf, 7), (snan, 8), (qnan, 9)):
        g.fclass(v, 1 << c)
    g.emit('    /* float -> int: rounding, NX, saturation with NV (NaN -> the maximum) */')
    m25 = b(2.5)
    mn25 = b(-2.5)
    for rm in MODES:
        g.to_int('w', m25, rm)
        g.to_int('w', mn25, rm)
    g.to_int('l', b(-0.5), RTZ)
    g.to_int('w', b(3e9), RTZ)
    g.to_int('w', b(-3e9), RTZ)
    g.to_int('w', b(-2147483648.0), RTZ)
    g.to_int('wu', b(3e9), RTZ)            # fits: the 32-bit result is sign-extended
    g.to_int('wu', b(-1.0), RTZ)
    g.to_int('wu', b(-0.5), RTZ)           # rounds to 0: NX only
    g.to_int('wu', b(-0.5), RDN)           # rounds to -1: NV
    g.to_int('l', b(1e19), RTZ)
    g.to_int('l', b(-1e19), RTZ)
    g.to_int('lu', b(1e19), RTZ)
    g.to_int('lu', b(2e19), RTZ)
    g.to_int('lu', b(-3.0), RTZ)
    g.to_int('l', b(-9.75), RNE)
    for dst in ('w', 'wu', 'l', 'lu'):
        g.to_int(dst, qnan, RTZ)
        g.to_int(dst, neg(inf), RTZ)
    g.to_int('w', inf, RTZ)
    g.to_int('w', neg(snan), RTZ)          # NaN is the maximum whatever its sign
    g.emit('    /* int -> float */')
    g.from_int('w', 0xffffffff, RNE)       # -1
    g.from_int('w', 0x12345678fffffffe, RNE)   # only the low 32 bits count
    g.from_int('wu', 0xffffffffffffffff, RNE)  # 4294967295
    g.from_int('wu', 0xffffffffffffffff, RTZ)
    g.from_int('l', 0x7fffffffffffffff, RNE)
    g.from_int('l', 0x7fffffffffffffff, RTZ)
    g.from_int('l', 0x8000000000000000, RNE)
    g.from_int('lu', 0xffffffffffffffff, RNE)
    g.from_int('lu', 0xffffffffffffffff, RDN)
    g.from_int('l', 0x0000000001000001, RNE)
    g.from_int('l', 0x0000000001000001, RUP)
    g.from_int('l', 0xfffffffffeffffff, RDN)
    g.from_int('w', 0, RNE)


HEAD = '''/* %s — generated by gen_fp.py (edit that, not this): the %s extension.
 * Arithmetic in each rounding mode, fflags (NX UF OF DZ NV), the canonical NaN,
 * subnormals, fused multiply-add, fmin/fmax, sign injection, compares, fclass,
 * saturating conversions and int -> float rounding. Every single-precision result is
 * compared as the full 64-bit register, so NaN-boxing is checked by every case. */
#include "macros.h"

RVTEST_BEGIN
'''


def sweep(g, f):
    """the rounding modes again, for the operations that take one"""
    b = lambda v: fbits(f, v)
    one, two, three, tenth = b(1.0), b(2.0), b(3.0), b(0.1)
    neg = lambda x: x | f.sign
    g.emit('    /* every rounding mode: fused multiply-add, sqrt, conversions */')
    for rm in MODES:
        g.arith('madd', [tenth, three, neg(one)], rm)
        g.arith('nmsub', [b(1.0 / 3), three, two], rm)
        g.arith('sqrt', [three], rm)
        g.to_int('l', b(1.5), rm)
        g.to_int('l', b(-0.5), rm)
        g.to_int('wu', b(4.5), rm)
        g.from_int('l', 0x20000000000001 if f is D else 0x1000001, rm)
        g.from_int('l', -0x20000000000003 if f is D else -0x1000003, rm)


def narrow(g, dbits, rm):
    """fcvt.s.d: a double rounded to single"""
    v = D.decode(dbits)
    res, flags = round_fmt(v, S, rm)
    g.emit('    TEST_FP_D_INT(%d, %d, 0x%016x, 0x%016x, 0, fcvt.s.d fa3, fa0, %s; fmv.x.d a4, fa3)' % (
        g.case(), flags, 0xffffffff00000000 | res, dbits, rm))


def extra_s(g):
    sweep(g, S)
    g.emit('    /* fcvt.s.d in every rounding mode: inexact, subnormal, overflow */')
    for rm in MODES:
        narrow(g, fbits(D, 1.0 / 3), rm)
        narrow(g, fbits(D, -1e-40), rm)
        narrow(g, fbits(D, 1e39), rm)
    g.emit('''
    /* NaN boxing: a single that is not boxed reads as the canonical NaN */''')
    n = g.case()
    g.emit('''    CASE(%d)
    li t0, 0x000000003f800000         /* 1.0f without the upper ones */
    fmv.d.x fa0, t0
    li t0, 0x3f800000
    fmv.w.x fa1, t0
    fsflags x0
    fadd.s fa3, fa0, fa1
    fmv.x.d a4, fa3
    CHECK_REG(a4, 0xffffffff7fc00000)
    CHECK_FLAGS(0)''' % n)
    n = g.case()
    g.emit('''    CASE(%d)
    li t0, 0xfffffffe40000000         /* boxed badly by one bit */
    fmv.d.x fa0, t0
    fsgnj.s fa3, fa0, fa0
    fmv.x.d a4, fa3
    CHECK_REG(a4, 0xffffffff7fc00000)''' % n)
    n = g.case()
    g.emit('''    /* fmv.x.w sign-extends the raw bits, also of an unboxed NaN-ish value */
    CASE(%d)
    li t0, 0x12345678bf800000
    fmv.d.x fa0, t0
    fmv.x.w a4, fa0
    CHECK_REG(a4, 0xffffffffbf800000)''' % n)
    n = g.case()
    g.emit('''    /* flw boxes; fsw stores the low 32 bits */
    CASE(%d)
    la a1, fp_mem
    li t0, 0xc0490fdb
    sw t0, 0(a1)
    flw fa0, 0(a1)
    fmv.x.d a4, fa0
    CHECK_REG(a4, 0xffffffffc0490fdb)
    li t0, 0x1122334455667788
    fmv.d.x fa1, t0
    sw zero, 4(a1)
    fsw fa1, 0(a1)
    ld a4, 0(a1)
    CHECK_REG(a4, 0x0000000055667788)''' % n)
    n = g.case()
    g.emit('''    /* narrowing and widening conversions */
    TEST_FP_D_INT(%d, 1, 0xffffffff3eaaaaab, 0x3fd5555555555555, 0, fcvt.s.d fa3, fa0; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_D_INT(%d, 1, 0xffffffff3eaaaaaa, 0x3fd5555555555555, 0, fcvt.s.d fa3, fa0, rtz; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_S_INT(%d, 0, 0x3fd5555560000000, 0x3eaaaaab, 0, fcvt.d.s fa3, fa0; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_D_INT(%d, 5, 0xffffffff7f800000, 0x47f0000000000000, 0, fcvt.s.d fa3, fa0; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_D_INT(%d, 16, 0xffffffff7fc00000, 0x7ff0000000000001, 0, fcvt.s.d fa3, fa0; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_S_INT(%d, 0, 0x7ff8000000000000, 0x7fc12345, 0, fcvt.d.s fa3, fa0; fmv.x.d a4, fa3)''' % n)
    n = g.case()
    g.emit('''    TEST_FP_S_INT(%d, 16, 0x7ff8000000000000, 0x7f800001, 0, fcvt.d.s fa3, fa0; fmv.x.d a4, fa3)''' % n)


def extra_d(g):
    sweep(g, D)
    n = g.case()
    g.emit('''
    /* fld/fsd move all 64 bits; fmv.x.d / fmv.d.x are raw */
    CASE(%d)
    la a1, fp_mem
    li t0, 0xfff0000000000123
    sd t0, 0(a1)
    fld fa0, 0(a1)
    fsd fa0, 8(a1)
    ld a4, 8(a1)
    CHECK_REG(a4, 0xfff0000000000123)''' % n)
    n = g.case()
    g.emit('''    /* the dynamic rounding mode comes from frm */
    CASE(%d)
    li t0, 0x3ff0000000000000
    fmv.d.x fa0, t0
    li t0, 0x4008000000000000
    fmv.d.x fa1, t0
    fsrmi 3                            /* RUP */
    fdiv.d fa3, fa0, fa1
    fmv.x.d a4, fa3
    CHECK_REG(a4, 0x3fd5555555555556)
    fsrmi 2                            /* RDN */
    fdiv.d fa3, fa0, fa1, dyn
    fmv.x.d a4, fa3
    CHECK_REG(a4, 0x3fd5555555555555)
    fsrmi 0''' % n)
    n = g.case()
    g.emit('''    /* flags accumulate until cleared */
    CASE(%d)
    fsflags x0
    li t0, 0x3ff0000000000000
    fmv.d.x fa0, t0
    fmv.d.x fa1, zero
    fdiv.d fa3, fa0, fa1
    li t0, 0x4008000000000000
    fmv.d.x fa1, t0
    fdiv.d fa3, fa0, fa1
    CHECK_FLAGS(FFLAG_DZ | FFLAG_NX)
    fsflags x0''' % n)
    extra_d_rm(g)


def extra_d_rm(g):
    n1, n2, n3 = g.case(), g.case(), g.case()
    g.emit('''    /* rounding mode 5 (reserved) in the instruction, or 5..7 in frm with dyn: illegal */
    CASE(%d)
    RESUME_AT(2f)
    .word 0x02b556d3                   /* fadd.d fa3, fa0, fa1 with rm = 5 */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x02b556d3)
    CASE(%d)
    fsrmi 7
    RESUME_AT(2f)
    .word 0x02b576d3                   /* fadd.d fa3, fa0, fa1, dyn */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x02b576d3)
    /* an invalid frm is harmless while nothing uses it */
    CASE(%d)
    RESUME_AT(2f)
    fadd.d fa3, fa0, fa1, rne
    fsgnj.d fa3, fa0, fa1
2:  CHECK_NO_TRAP
    fsrmi 0''' % (n1, n2, n3))


def write(fmt, path, extra):
    g = Gen(fmt)
    common(g, fmt)
    extra(g)
    with open(path, 'w') as out:
        out.write(HEAD % (path, 'F' if fmt is S else 'D'))
        out.write('\n'.join(g.lines))
        out.write('''

RVTEST_END

    .data
    .align 3
fp_mem:
    .dword 0, 0
''')
    print('%s: %d cases' % (path, g.n))


write(S, 'fp_s.S', extra_s)
write(D, 'fp_d.S', extra_d)
