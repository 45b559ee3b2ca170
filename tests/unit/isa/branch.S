/* branch.S — conditional branches (taken and not, signed and unsigned edges), jal and
 * jalr (link value, rd == rs1, the low target bit cleared), targets that are only
 * 2-byte aligned (legal with C), and an instruction that straddles a page boundary. */
#include "macros.h"

/* taken: a4 = 1 when the branch goes to its target */
#define TEST_BR(n, inst, taken, v1, v2)                                                   \
    TEST_CASE(n, a4, taken, li a1, v1; li a2, v2; li a4, 0;                               \
              inst a1, a2, 1f; j 2f; 1: li a4, 1; 2:)

RVTEST_BEGIN

    TEST_BR(1, beq, 1, 0, 0)
    TEST_BR(2, beq, 0, 0, 1)
    TEST_BR(3, beq, 1, 0xffffffffffffffff, -1)
    TEST_BR(4, beq, 0, 0x100000000, 0)       /* all 64 bits compared */
    TEST_BR(5, bne, 1, 0x100000000, 0)
    TEST_BR(6, bne, 0, 7, 7)
    TEST_BR(7, blt, 1, -1, 0)
    TEST_BR(8, blt, 0, 0, -1)
    TEST_BR(9, blt, 0, 5, 5)
    TEST_BR(10, blt, 1, 0x8000000000000000, 0x7fffffffffffffff)
    TEST_BR(11, bge, 1, 5, 5)
    TEST_BR(12, bge, 1, 0, -1)
    TEST_BR(13, bge, 0, 0x8000000000000000, 0)
    TEST_BR(14, bltu, 0, -1, 0)
    TEST_BR(15, bltu, 1, 0, -1)
    TEST_BR(16, bltu, 1, 0x7fffffffffffffff, 0x8000000000000000)
    TEST_BR(17, bltu, 0, 3, 3)
    TEST_BR(18, bgeu, 1, -1, 0)
    TEST_BR(19, bgeu, 1, 3, 3)
    TEST_BR(20, bgeu, 0, 0x00000000ffffffff, 0x0000000100000000)

    /* backward branch loop: 10 iterations */
    TEST_CASE(21, a4, 55, li a4, 0; li a1, 10; 1: add a4, a4, a1; addi a1, a1, -1; bnez a1, 1b)

    /* jal links pc + 4 */
    TEST_CASE(22, a4, 0, la a1, 1f; jal a2, 2f; 1: j fail; 2: sub a4, a2, a1)
    TEST_CASE(23, x0, 0, jal x0, 1f; j fail; 1:)
    /* jalr: target = (rs1 + imm) & ~1, link = pc + 4 */
    TEST_CASE(24, a4, 0, la a1, 2f; la a3, 1f; jalr a2, 0(a3); 2: j fail; 1: sub a4, a2, a1)
    TEST_CASE(25, a4, 1, la a3, 1f - 8; li a4, 0; jalr x0, 8(a3); j fail; 1: li a4, 1)
    TEST_CASE(26, a4, 1, la a3, 1f + 1; li a4, 0; jalr x0, 0(a3); j fail; 1: li a4, 1)
    TEST_CASE(27, a4, 1, la a3, 1f; li a4, 0; jalr x0, 1(a3); j fail; 1: li a4, 1)
    TEST_CASE(28, a4, 1, la a3, 1f + 3; li a4, 0; jalr x0, -2(a3); j fail; 1: li a4, 1)
    /* rd == rs1: the target uses the old value */
    TEST_CASE(29, a4, 0, la a3, 1f; la a1, 2f; jalr a3, 0(a3); 2: j fail; 1: sub a4, a3, a1)
    /* jalr with a negative offset */
    TEST_CASE(30, a4, 1, la a3, 1f + 2000; li a4, 0; jalr x0, -2000(a3); j fail; 1: li a4, 1)
    /* call / ret through ra */
    TEST_CASE(31, a4, 42, li a4, 0; call func; addi a4, a4, 2)

    /* 32-bit instructions at addresses that are 2 mod 4 */
    CASE(32)
    li a4, 0
    la a3, odd_target
    jalr ra, 0(a3)
    CHECK_REG(a4, 0x77)
    CASE(33)
    li a4, 0
    jal ra, odd_target           /* jal to a 2 mod 4 target */
    CHECK_REG(a4, 0x77)
    CASE(34)
    li a1, 5
    li a4, 0
    beq a1, a1, odd_branch_target
    j fail
odd_branch_back:
    CHECK_REG(a4, 0x55)

    /* straddle: a 32-bit instruction whose halves lie in two pages */
    CASE(35)
    li a4, 0
    call straddle
    CHECK_REG(a4, 0x123)

    /* branch not taken falls through to the next instruction (also 2 mod 4) */
    CASE(36)
    li a4, 0
    call odd_fallthrough
    CHECK_REG(a4, 3)

RVTEST_END

    .text
    CODE_ALIGN(4)
func:
    li a4, 40
    ret

    .option rvc
    CODE_ALIGN(4)
    c.nop
odd_target:                       /* 2 mod 4 */
    .option norvc
    addi a4, a4, 0x77
    ret
    .option rvc
    CODE_ALIGN(4)
    c.nop
odd_branch_target:
    .option norvc
    addi a4, a4, 0x55
    j odd_branch_back

    .option rvc
    CODE_ALIGN(4)
    c.nop
odd_fallthrough:
    .option norvc
    li a1, 1
    bne a1, a1, 1f               /* at 2 mod 4, not taken */
    addi a4, a4, 3
1:  ret

    CODE_ALIGN(4096)
    .skip 4096 - 12
straddle:                          /* page offset 0xff4 */
    nop
    nop
    .option rvc
    c.nop
    .option norvc
    addi a4, a4, 0x123             /* 0xffe..0x1001: crosses into the next page */
    ret
