/* fencei.S — Zifencei and self-modifying code: instructions stored to memory execute
 * after fence.i (a decoded-instruction cache must drop them), including rewriting code
 * that already ran, code in the same page as the writer, compressed instructions, and
 * a copy of code executed through a second (virtual) mapping after satp changes. */
#include "macros.h"

#define ADDI_A4(imm) (0x00070713 | ((imm) << 20))        /* addi a4, a4, imm */
#define LI_A4(imm) (0x00000713 | ((imm) << 20))          /* addi a4, x0, imm */
#define RET 0x00008067
#define C_LI_A4(imm) (0x4701 | ((imm) << 2))             /* c.li a4, imm (0..31) */
#define C_JR_RA 0x8082

/* writes a 32-bit word (constant) to buf + off */
#define PUT32(buf, off, word)                                                             \
    la a1, buf;                                                                           \
    li a2, word;                                                                          \
    sw a2, off(a1)

#define PUT16(buf, off, half)                                                             \
    la a1, buf;                                                                           \
    li a2, half;                                                                          \
    sh a2, off(a1)

#define CALL_BUF(buf)                                                                     \
    la a1, buf;                                                                           \
    jalr ra, 0(a1)

RVTEST_BEGIN

    /* code written then run */
    CASE(1)
    PUT32(codebuf, 0, LI_A4(0x123))
    PUT32(codebuf, 4, RET)
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 0x123)
    /* the same code rewritten after it ran (and was decoded) */
    CASE(2)
    PUT32(codebuf, 0, LI_A4(0x456))
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 0x456)
    /* a longer block, run several times, rewritten in its middle */
    CASE(3)
    PUT32(codebuf, 0, LI_A4(0))
    PUT32(codebuf, 4, ADDI_A4(1))
    PUT32(codebuf, 8, ADDI_A4(2))
    PUT32(codebuf, 12, ADDI_A4(4))
    PUT32(codebuf, 16, RET)
    fence.i
    li s2, 5
1:  CALL_BUF(codebuf)
    addi s2, s2, -1
    bnez s2, 1b
    CHECK_REG(a4, 7)
    CASE(4)
    PUT32(codebuf, 8, ADDI_A4(0x40))
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 0x45)
    /* compressed instructions written as halfwords */
    CASE(5)
    PUT16(codebuf, 0, C_LI_A4(17))
    PUT16(codebuf, 2, C_JR_RA)
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 17)
    /* a 32-bit instruction replaced by two 16-bit ones and back */
    CASE(6)
    PUT32(codebuf, 0, LI_A4(99))
    PUT32(codebuf, 4, RET)
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 99)
    PUT16(codebuf, 0, C_LI_A4(3))
    PUT16(codebuf, 2, 0x0001)                             /* c.nop */
    fence.i
    CALL_BUF(codebuf)
    CHECK_REG(a4, 3)

    /* code patched in the page that is running (the patch site follows the store) */
    CASE(7)
    li a4, 0
    la a1, patch_site
    li a2, LI_A4(0x2aa)
    sw a2, 0(a1)
    fence.i
patch_site:
    li a4, 0x155
    CHECK_REG(a4, 0x2aa)
    /* run it again: a cached decode of patch_site must stay gone */
    CASE(8)
    li s2, 3
1:  li a4, 0
    call patched_func
    addi s2, s2, -1
    bnez s2, 1b
    CHECK_REG(a4, 0x11)
    la a1, patched_func
    li a2, LI_A4(0x22)
    sw a2, 0(a1)
    fence.i
    call patched_func
    CHECK_REG(a4, 0x22)

    /* the same physical code through a virtual mapping, rewritten through another */
    CASE(9)
    PUT32(codebuf, 0, LI_A4(0x31))
    PUT32(codebuf, 4, 0x00000073)                         /* ecall */
    fence.i
    /* root[2]: identity gigapage for the S code; root[1] -> l1 -> l0[0] -> codebuf */
    la a1, root
    la a2, l1
    srli a2, a2, 2
    ori a2, a2, 1
    sd a2, 8(a1)
    li a2, (0x80000000 >> 2) | 0xcf
    sd a2, 16(a1)
    la a1, l1
    la a2, l0
    srli a2, a2, 2
    ori a2, a2, 1
    sd a2, 0(a1)
    la a1, l0
    la a2, codebuf
    srli a2, a2, 2
    ori a2, a2, 0xcf
    sd a2, 0(a1)
    la a1, root
    srli a1, a1, 12
    li a2, 8 << 60
    or a1, a1, a2
    csrw satp, a1
    sfence.vma
    RESUME_AT(2f)
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    li t0, PRV_S << 11
    csrs mstatus, t0
    li t0, 0x40000000
    csrw mepc, t0
    mret
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_REG(a4, 0x31)
    CASE(10)
    PUT32(codebuf, 0, LI_A4(0x32))
    fence.i
    RESUME_AT(2f)
    li t0, 0x40000000
    csrw mepc, t0
    li t0, PRV_S << 11
    csrs mstatus, t0
    mret
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_REG(a4, 0x32)
    /* the mapping moved to other code: sfence.vma (and fence.i) make it seen */
    CASE(11)
    PUT32(codebuf2, 0, LI_A4(0x33))
    PUT32(codebuf2, 4, 0x00000073)
    la a1, l0
    la a2, codebuf2
    srli a2, a2, 2
    ori a2, a2, 0xcf
    sd a2, 0(a1)
    sfence.vma
    fence.i
    RESUME_AT(2f)
    li t0, 0x40000000
    csrw mepc, t0
    li t0, PRV_S << 11
    csrs mstatus, t0
    mret
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_REG(a4, 0x33)
    csrw satp, zero
    sfence.vma

RVTEST_END

    .text
    CODE_ALIGN(4)
patched_func:
    li a4, 0x11
    ret

    .bss
    CODE_ALIGN(4096)
codebuf:
    .skip 4096
codebuf2:
    .skip 4096
root:
    .skip 4096
l1:
    .skip 4096
l0:
    .skip 4096
