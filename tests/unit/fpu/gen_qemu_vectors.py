#!/usr/bin/env python3
"""Regenerates qemu_vectors.h: random F/D instructions run on qemu-system-riscv64
(bare metal, M-mode) and their results, for test_fpu to replay against fpu_exec.

Needs riscv64-linux-gnu-gcc and qemu-system-riscv64; not run by the test suite.
Usage: gen_qemu_vectors.py [COUNT [SEED]] > qemu_vectors.h
Operands favour special values, boundaries, rounding ties (TIES share) and improperly
NaN-boxed singles; rounding modes include RMM and dynamic (frm).
"""
import os, random, shutil, struct, subprocess, sys, tempfile
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
TIES_SHARE = 0.35
def d2b(x): return struct.unpack('<Q', struct.pack('<d', x))[0]
def f2b(x): return struct.unpack('<I', struct.pack('<f', x))[0]
SPEC_D = [0, 1<<63, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0x7ff0000000000001,
          0xfff8000000000123, 0x7ff4000000000000, 1, 0x000fffffffffffff, 0x0010000000000000, 0x7fefffffffffffff,
          d2b(1.0), d2b(-1.0), d2b(0.5), d2b(3.0), d2b(1/3), d2b(0.1), d2b(2.0**31), d2b(-2.0**31), d2b(2.0**63),
          d2b(-2.0**63), d2b(2.0**64), d2b(2.0**32), d2b(2147483647.5), d2b(-0.5), d2b(1.5), d2b(2.5), d2b(-2.5),
          d2b(1e300), d2b(1e-300), d2b(2.0**-1074*3), 0x3fefffffffffffff, 0x3ff0000000000001, d2b(2.0**-126), d2b(2.0**-150), d2b(3.4028235677973366e38)]
SPEC_S = [0, 1<<31, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00123, 0x7fa00000, 1, 0x007fffff,
          0x00800000, 0x7f7fffff, f2b(1.0), f2b(-1.0), f2b(0.5), f2b(3.0), f2b(1/3), f2b(0.1), f2b(2.0**31),
          f2b(-2.0**31), f2b(2.0**63), f2b(-2.0**63), f2b(2.0**64), f2b(2.0**32), f2b(1.5), f2b(2.5), f2b(-2.5),
          f2b(-0.5), 0x3f7fffff, 0x3f800001, 0x33800000, 0x4b800001]
SPEC_I = [0, 1, (1<<64)-1, 0x7fffffff, 0x80000000, 0xffffffff80000000, 0xffffffff, 0x7fffffffffffffff,
          1<<63, 0x1000001, 0x20000000000001, (1<<64)-0x1000001, 0xfffffffffffff800, 0xfffffffffffffc00]
def rnd_d():
    r = random.random()
    if r < 0.3: return random.choice(SPEC_D)
    if r < 0.5: return random.getrandbits(64)
    if r < 0.8:  # near one / moderate exponents
        e = random.randint(1023-60, 1023+60)
        return (random.getrandbits(1) << 63) | (e << 52) | random.getrandbits(52)
    e = random.choice([0, 1, 2, 2046, 2045, 1, 0, random.randint(0, 60), random.randint(1990, 2046)])
    m = random.getrandbits(52) if random.random() < 0.5 else random.choice([0, 1, (1<<52)-1, 1<<51, (1<<52)-2])
    return (random.getrandbits(1) << 63) | (e << 52) | m
def rnd_s():
    r = random.random()
    if r < 0.3: v = random.choice(SPEC_S)
    elif r < 0.5: v = random.getrandbits(32)
    elif r < 0.8:
        e = random.randint(127-30, 127+30)
        v = (random.getrandbits(1) << 31) | (e << 23) | random.getrandbits(23)
    else:
        e = random.choice([0, 1, 2, 254, 253, random.randint(0, 30), random.randint(220, 254)])
        m = random.getrandbits(23) if random.random() < 0.5 else random.choice([0, 1, (1<<23)-1, 1<<22])
        v = (random.getrandbits(1) << 31) | (e << 23) | m
    if random.random() < 0.03:
        return random.getrandbits(32) << 32 | v   # improperly boxed (mostly)
    return 0xffffffff00000000 | v
def rnd_i():
    r = random.random()
    if r < 0.4: return random.choice(SPEC_I)
    if r < 0.7: return random.getrandbits(64)
    b = random.randint(1, 64)
    v = random.getrandbits(b)
    return v if random.random() < 0.5 else (-v) & ((1<<64)-1)
def op_fp(f5, fmt, rm, rd, rs1, rs2): return f5 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | 0x53
def r4(op, fmt, rm, rs3): return rs3 << 27 | fmt << 25 | 2 << 20 | 1 << 15 | rm << 12 | 10 << 7 | op
def rm_pick():
    rm = random.choice([0, 1, 2, 3, 4, 7])
    frm = random.randint(0, 4)
    return rm, frm
vecs = []
for _ in range(N):
    fmt = random.randint(0, 1)
    rnd = rnd_d if fmt else rnd_s
    a, b, c, x = rnd(), rnd(), rnd(), rnd_i()
    rm, frm = rm_pick()
    k = random.randint(0, 13)
    if random.random() < TIES_SHARE:
        k = 99
        P = 53 if fmt else 24; B = 1023 if fmt else 127; W = 52 if fmt else 23
        e = random.choice([random.randint(1, 2*B), random.randint(1, P+3), random.randint(2*B-3, 2*B)])
        sa = random.getrandbits(1)
        ma = random.getrandbits(W) if random.random() < 0.6 else random.choice([0, 1, (1<<W)-1, (1<<W)-2])
        va = (sa << (63 if fmt else 31)) | (e << W) | ma
        eb = max(0, min(2*B, e - P + random.choice([-1, 0, 0, 0, 1])))
        mb = random.choice([0, 0, 1, (1<<W)-1, random.getrandbits(W)])
        vb = (random.getrandbits(1) << (63 if fmt else 31)) | (eb << W) | mb
        box = (lambda v: v) if fmt else (lambda v: 0xffffffff00000000 | v)
        rm = random.choice([0, 1, 2, 3, 4, 4, 4, 7]); frm = random.choice([0, 4, 4, 2, 3, 1])
        a, b, c = box(va), box(vb), box(vb)
        which = random.randint(0, 3)
        if which == 0: insn = op_fp(random.choice([0, 1]), fmt, rm, 10, 1, 2)
        elif which == 1:
            one = box(((B) << W) | random.choice([0, 0, 1 << (W - 1)]))
            insn = r4(random.choice([0x43, 0x47, 0x4b, 0x4f]), fmt, rm, 3); b = one
        elif which == 2:
            b = box(((random.choice([B - 1, B - 2, B - 10, B + 1])) << W) | random.choice([0, 1 << (W-1), random.getrandbits(W)]))
            if random.random() < 0.5:
                a = box((sa << (63 if fmt else 31)) | (random.randint(0, 3) << W) | ma)
            insn = op_fp(random.choice([2, 3]), fmt, rm, 10, 1, 2)
        else:
            insn = op_fp(0x0b, fmt, rm, 10, 1, 0); a = box(va & ~(1 << (63 if fmt else 31)))
        vecs.append((insn, a, b, c, x, frm)); continue
    if k == 0: insn = op_fp(random.choice([0, 1, 2, 3]), fmt, rm, 10, 1, 2)
    elif k == 1: insn = op_fp(0x0b, fmt, rm, 10, 1, 0)
    elif k == 2: insn = r4(random.choice([0x43, 0x47, 0x4b, 0x4f]), fmt, rm, 3)
    elif k == 3: insn = op_fp(4, fmt, random.randint(0, 2), 10, 1, 2)
    elif k == 4: insn = op_fp(5, fmt, random.randint(0, 1), 10, 1, 2)
    elif k == 5: insn = op_fp(0x14, fmt, random.randint(0, 2), 10, 1, 2)
    elif k in (6, 7):
        insn = op_fp(0x18, fmt, rm, 10, 1, random.randint(0, 3))
        if random.random() < 0.5:  # values near integer boundaries
            a = rnd_d() if fmt else rnd_s()
    elif k in (8, 9): insn = op_fp(0x1a, fmt, rm, 10, 11, random.randint(0, 3))
    elif k == 10:
        insn = op_fp(8, fmt, rm, 10, 1, 1 if fmt == 0 else 0)
        a = rnd_s() if fmt else rnd_d()
    elif k == 11: insn = op_fp(0x1c, fmt, random.randint(0, 1), 10, 1, 0)
    elif k == 12: insn = op_fp(0x1e, fmt, 0, 10, 11, 0)
    else: insn = op_fp(random.choice([0, 1, 2, 3]), fmt, rm, 10, 1, 2)
    vecs.append((insn, a, b, c, x, frm))
tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, 'prog.S'), 'w') as f:
    f.write('''.section .text.init
.globl _start
_start:
  li t0, 0x6000
  csrs mstatus, t0
  la s0, vdata
  la s1, results
''')
    for v in vecs:
        f.write('''  ld t0, 0(s0)
  fmv.d.x f1, t0
  ld t0, 8(s0)
  fmv.d.x f2, t0
  ld t0, 16(s0)
  fmv.d.x f3, t0
  ld a1, 24(s0)
  ld t0, 32(s0)
  csrw frm, t0
  csrw fflags, zero
  li a0, 0
  fmv.d.x f10, zero
  .word 0x%08x
  fmv.x.d t0, f10
  sd t0, 0(s1)
  sd a0, 8(s1)
  frflags t0
  sd t0, 16(s1)
  addi s0, s0, 40
  addi s1, s1, 24
''' % v[0])
    f.write('''  la s1, results
  li s2, %d
  li s3, 0x10000000
outer:
  ld t1, 0(s1)
  li t2, 60
hex:
  srl t3, t1, t2
  andi t3, t3, 15
  li t4, 10
  blt t3, t4, dig
  addi t3, t3, 39
dig:
  addi t3, t3, 48
  sb t3, 0(s3)
  addi t2, t2, -4
  bgez t2, hex
  li t3, 10
  sb t3, 0(s3)
  addi s1, s1, 8
  addi s2, s2, -1
  bnez s2, outer
  li t0, 0x5555
  li t1, 0x100000
  sw t0, 0(t1)
1: j 1b
.section .data
.align 3
vdata:
''' % (3 * len(vecs)))
    for v in vecs:
        f.write('  .dword 0x%x, 0x%x, 0x%x, 0x%x, %d\n' % v[1:])
    f.write('.align 3\nresults:\n  .zero %d\n' % (24 * len(vecs)))
with open(os.path.join(tmp, 'link.ld'), 'w') as f:
    f.write('ENTRY(_start)\nSECTIONS { . = 0x80000000; .text : { *(.text.init) *(.text*) }'
            ' .data : { *(.data*) *(.bss*) } }\n')
elf = os.path.join(tmp, 'prog.elf')
subprocess.run(['riscv64-linux-gnu-gcc', '-march=rv64gc', '-mabi=lp64d', '-nostdlib',
                '-nostartfiles', '-static', '-no-pie', '-Wl,--build-id=none', '-Wl,--no-warn-rwx-segments',
                '-T', os.path.join(tmp, 'link.ld'), os.path.join(tmp, 'prog.S'), '-o', elf], check=True)
out = subprocess.run(['qemu-system-riscv64', '-M', 'virt', '-bios', 'none', '-nographic',
                      '-kernel', elf], capture_output=True, timeout=600).stdout.decode()
shutil.rmtree(tmp)
res = [int(w, 16) for w in out.replace('\r', '').split() if len(w) == 16]
assert len(res) == 3 * len(vecs), (len(res), len(vecs))
qemu = subprocess.run(['qemu-system-riscv64', '--version'], capture_output=True).stdout.decode().split('\n')[0]
print('/* Generated by gen_qemu_vectors.py %d %d from %s; do not edit. */' % (N, int(sys.argv[2]) if len(sys.argv) > 2 else 1, qemu))
print('/* insn, frm, f1, f2, f3, x11 -> f10, x10, fflags */')
print('static const struct qemu_vector qemu_vectors[] = {')
for i, v in enumerate(vecs):
    print('    {0x%08x, %d, 0x%x, 0x%x, 0x%x, 0x%x, 0x%x, 0x%x, 0x%x},' % (v[0], v[5], v[1], v[2], v[3], v[4], res[3*i], res[3*i+1], res[3*i+2]))
print('};')
