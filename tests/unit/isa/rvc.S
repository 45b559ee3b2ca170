/* rvc.S — the C extension on RV64: every compressed instruction class executes as its
 * 32-bit expansion (immediate scaling and sign extension, the x8..x15 register window,
 * c.jalr linking pc + 2), and the all-zero halfword is illegal. */
#include "macros.h"

RVTEST_BEGIN
    .option rvc
    la sp, stack

    /* CI: c.li, c.addi, c.addiw, c.lui, c.addi16sp, c.slli */
    TEST_CASE(1, a4, 0xffffffffffffffe0, c.li a4, -32)
    TEST_CASE(2, a4, 31, c.li a4, 31)
    TEST_CASE(3, a4, 0x0000000000000007, c.li a4, 12; c.addi a4, -5)
    TEST_CASE(4, a4, 0xffffffff80000000, li a4, 0x7fffffff; c.addiw a4, 1)
    TEST_CASE(5, a4, 0x0000000000000005, li a4, 0x1234567800000005; c.addiw a4, 0)  /* sext.w */
    TEST_CASE(6, a4, 0xfffffffffffe0000, c.lui a4, 0xfffe0)
    TEST_CASE(7, a4, 0x000000000001f000, c.lui a4, 0x1f)
    TEST_CASE(8, a4, 0xfffffffffffff000, c.lui a4, 0xfffff)
    TEST_CASE(9, a4, 496, mv a1, sp; c.addi16sp sp, 496; sub a4, sp, a1; mv sp, a1)
    TEST_CASE(10, a4, -512, mv a1, sp; c.addi16sp sp, -512; sub a4, sp, a1; mv sp, a1)
    TEST_CASE(11, a4, 0x8000000000000000, c.li a4, 1; c.slli a4, 63)
    TEST_CASE(12, a4, 0x0000000100000000, c.li a4, 1; c.slli a4, 32)

    /* CIW: c.addi4spn (scaled by 4, zero-extended) */
    TEST_CASE(13, a4, 1020, c.addi4spn a4, sp, 1020; sub a4, a4, sp)
    TEST_CASE(14, a4, 4, c.addi4spn a4, sp, 4; sub a4, a4, sp)

    /* CB: c.srli, c.srai, c.andi */
    TEST_CASE(15, a4, 0x0000000000000001, li a4, 0x8000000000000000; c.srli a4, 63)
    TEST_CASE(16, a4, 0x00000000ffffffff, li a4, -1; c.srli a4, 32)
    TEST_CASE(17, a4, 0xffffffffffffffff, li a4, 0x8000000000000000; c.srai a4, 63)
    TEST_CASE(18, a4, 0xfffffffff8000000, li a4, 0x8000000000000000; c.srai a4, 36)
    TEST_CASE(19, a4, 0x0000000000000011, li a4, 0x1234567890abcd51; c.andi a4, 0x1f)
    TEST_CASE(20, a4, 0x1234567890abcd40, li a4, 0x1234567890abcd51; c.andi a4, -32)

    /* CA: c.sub, c.xor, c.or, c.and, c.subw, c.addw */
    TEST_CASE(21, a4, 0xfffffffffffffffd, li a4, 4; li a5, 7; c.sub a4, a5)
    TEST_CASE(22, a4, 0x0ff0, li a4, 0xff00; li a5, 0xf0f0; c.xor a4, a5)
    TEST_CASE(23, a4, 0xfff0, li a4, 0xff00; li a5, 0xf0f0; c.or a4, a5)
    TEST_CASE(24, a4, 0xf000, li a4, 0xff00; li a5, 0xf0f0; c.and a4, a5)
    TEST_CASE(25, a4, 0x000000007fffffff, li a4, 0x80000000; li a5, 1; c.subw a4, a5)
    TEST_CASE(26, a4, 0xffffffff80000000, li a4, 0x7fffffff; li a5, 1; c.addw a4, a5)
    TEST_CASE(27, a4, 0x0000000000000000, li a4, 0xffffffff; li a5, 1; c.addw a4, a5)
    TEST_CASE(28, s0, 0x30, li s0, 0x10; li s1, 0x20; c.or s0, s1)

    /* CR: c.mv, c.add (any register) */
    TEST_CASE(29, a4, 0x123456789, li t3, 0x123456789; c.mv a4, t3)
    TEST_CASE(30, t4, 0x10000000f, li t4, 0xffffffff; li t5, 0x10; c.add t4, t5)

    /* CL / CS: c.lw (sign-extends), c.ld, c.sw, c.sd with scaled offsets */
    CASE(31)
    la a1, cdata
    c.lw a4, 4(a1)
    CHECK_REG(a4, 0xffffffff88776655)
    CASE(32)
    la a1, cdata
    c.ld a4, 0(a1)
    CHECK_REG(a4, 0x8877665544332211)
    CASE(33)
    la a1, cdata
    c.ld a4, 248(a1)
    CHECK_REG(a4, 0x0fedcba987654321)
    CASE(34)
    la a1, cdata
    c.lw a4, 124(a1)
    CHECK_REG(a4, 0x0000000011223344)
    CASE(35)
    la a1, cdata
    li a2, 0x1122334455667788
    c.sd a2, 16(a1)
    li a2, 0xdeadbeef
    c.sw a2, 20(a1)
    ld a4, 16(a1)
    CHECK_REG(a4, 0xdeadbeef55667788)

    /* stack-pointer forms: c.lwsp, c.ldsp, c.swsp, c.sdsp */
    CASE(36)
    li a2, 0xa5a5a5a5fedcba98
    c.sdsp a2, 504(sp)
    c.ldsp a4, 504(sp)
    CHECK_REG(a4, 0xa5a5a5a5fedcba98)
    CASE(37)
    sd a2, 248(sp)
    c.lwsp a4, 252(sp)
    CHECK_REG(a4, 0xffffffffa5a5a5a5)
    c.lwsp a4, 248(sp)
    CHECK_REG(a4, 0xfffffffffedcba98)
    CASE(38)
    li a2, 0x76543210
    c.swsp a2, 252(sp)
    lwu a4, 252(sp)
    CHECK_REG(a4, 0x76543210)
    CASE(39)
    li a2, 0x0102030405060708
    c.sdsp a2, 0(sp)
    ld a4, 0(sp)
    CHECK_REG(a4, 0x0102030405060708)
    /* c.ldsp into a register outside x8..x15 */
    CASE(40)
    c.ldsp t6, 504(sp)
    mv a4, t6
    CHECK_REG(a4, 0xa5a5a5a5fedcba98)

    /* FP loads/stores: c.fld, c.fsd, c.fldsp, c.fsdsp */
    CASE(41)
    la a1, cdata
    c.fld fa4, 0(a1)
    fmv.x.d a4, fa4
    CHECK_REG(a4, 0x8877665544332211)
    CASE(42)
    la a1, cdata
    li a2, 0x400921fb54442d18
    fmv.d.x fa5, a2
    c.fsd fa5, 24(a1)
    ld a4, 24(a1)
    CHECK_REG(a4, 0x400921fb54442d18)
    CASE(43)
    c.fsdsp fa5, 496(sp)
    c.fldsp ft11, 496(sp)
    fmv.x.d a4, ft11
    CHECK_REG(a4, 0x400921fb54442d18)

    /* control transfer: c.j, c.beqz, c.bnez (taken and not), c.jr, c.jalr */
    TEST_CASE(44, a4, 1, li a4, 0; c.j 1f; c.j 2f; 1: c.li a4, 1; 2:)
    TEST_CASE(45, a4, 1, li a4, 0; li a1, 0; c.beqz a1, 1f; c.j 2f; 1: c.li a4, 1; 2:)
    TEST_CASE(46, a4, 0, li a4, 0; li a1, 0x100000000; c.beqz a1, 1f; c.j 2f; 1: c.li a4, 1; 2:)
    TEST_CASE(47, a4, 1, li a4, 0; li a1, 0x100000000; c.bnez a1, 1f; c.j 2f; 1: c.li a4, 1; 2:)
    TEST_CASE(48, a4, 0, li a4, 0; li a1, 0; c.bnez a1, 1f; c.j 2f; 1: c.li a4, 1; 2:)
    TEST_CASE(49, a4, 1, li a4, 0; la a1, 1f; c.jr a1; c.j 2f; 1: c.li a4, 1; 2:)
    /* c.jalr links pc + 2 */
    CASE(50)
    la a1, cfunc
    la a2, 1f
    c.jalr a1
1:  sub a4, ra, a2
    CHECK_REG(a4, 0)
    CHECK_REG(a5, 0x77)
    /* c.bnez backwards (negative offset) */
    TEST_CASE(51, a4, 15, li a4, 0; li a1, 5; 1: c.add a4, a1; c.addi a1, -1; c.bnez a1, 1b)
    /* c.nop does nothing */
    TEST_CASE(52, a4, 3, li a4, 3; c.nop; c.nop)
    /* mixed 16/32-bit stream: a 32-bit instruction at 2 mod 4 */
    TEST_CASE(53, a4, 0x12345, CODE_ALIGN(4); c.nop; li a4, 0x12345)

    /* c.ebreak: breakpoint, mepc at the 16-bit instruction */
    CASE(54)
    RESUME_AT(2f)
1:  c.ebreak
    c.j fail
2:  CHECK_TRAP_CAUSE(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)

    /* the all-zero halfword is defined illegal */
    CASE(55)
    RESUME_AT(2f)
1:  .2byte 0
    c.j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ILLEGAL_INSN)
    CHECK_TRAP_EPC(1b)

    /* reserved encodings are illegal, mtval = the 16 bits */
#define TEST_C_ILLEGAL(n, half)                                                           \
    CASE(n);                                                                              \
    RESUME_AT(2f);                                                                        \
1:  .2byte half;                                                                          \
    c.j fail;                                                                             \
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, half);                                                 \
    CHECK_TRAP_EPC(1b)
    TEST_C_ILLEGAL(56, 0x0008)    /* c.addi4spn with nzuimm = 0 */
    TEST_C_ILLEGAL(57, 0x6501)    /* c.lui a0, 0 */
    TEST_C_ILLEGAL(58, 0x6101)    /* c.addi16sp sp, 0 */
    TEST_C_ILLEGAL(59, 0x4002)    /* c.lwsp x0 */
    TEST_C_ILLEGAL(60, 0x6002)    /* c.ldsp x0 */
    TEST_C_ILLEGAL(61, 0x8002)    /* c.jr x0 */

    .option norvc
RVTEST_END

    .text
    .option rvc
cfunc:
    li a5, 0x77
    c.jr ra
    .option norvc

    .data
    .align 3
cdata:
    .dword 0x8877665544332211
    .fill 14, 8, 0
    .dword 0x0000000011223344 << 32
    .fill 15, 8, 0
    .dword 0x0fedcba987654321

    .bss
    CODE_ALIGN(4096)
stack:
    .skip 4096
stack_top:
