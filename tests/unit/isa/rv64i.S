/* rv64i.S — RV64I register/immediate arithmetic, logic, shifts, compares and the
 * W forms (32-bit operation, result sign-extended to 64 bits). */
#include "macros.h"

RVTEST_BEGIN

    /* add / sub: wrap-around, no overflow traps */
    TEST_RR(1, add, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000)
    TEST_RR(2, add, 0x000000000000000a, 0x0000000000000003, 0x0000000000000007)
    TEST_RR(3, add, 0xffffffff80000000, 0xffffffff80000000, 0x0000000000000000)
    TEST_RR(4, add, 0x8000000000000000, 0x7fffffffffffffff, 0x0000000000000001)
    TEST_RR(5, add, 0x0000000000000000, 0xffffffffffffffff, 0x0000000000000001)
    TEST_RR(6, sub, 0xfffffffffffffffc, 0x0000000000000003, 0x0000000000000007)
    TEST_RR(7, sub, 0x7fffffffffffffff, 0x8000000000000000, 0x0000000000000001)
    TEST_RR(8, sub, 0x0000000000000001, 0x0000000000000000, 0xffffffffffffffff)

    /* addi: 12-bit sign-extended immediate */
    TEST_IMM(9, addi, 0x00000000000007ff, 0x0, 2047)
    TEST_IMM(10, addi, 0xfffffffffffff800, 0x0, -2048)
    TEST_IMM(11, addi, 0x7fffffffffffffff, 0x8000000000000000, -1)
    TEST_IMM(12, addi, 0x0000000080000000, 0x000000007fffffff, 1)

    /* addw / subw / addiw: low 32 bits, sign-extended */
    TEST_RR(13, addw, 0xffffffff80000000, 0x000000007fffffff, 0x0000000000000001)
    TEST_RR(14, addw, 0x0000000000000000, 0x00000000ffffffff, 0x0000000000000001)
    TEST_RR(15, addw, 0x0000000000000002, 0x1234567800000001, 0xfedcba9800000001)
    TEST_RR(16, subw, 0x000000007fffffff, 0xffffffff80000000, 0x0000000000000001)
    TEST_RR(17, subw, 0xffffffffffffffff, 0x0000000100000000, 0x0000000000000001)
    TEST_IMM(18, addiw, 0xffffffff80000000, 0x000000007fffffff, 1)
    TEST_IMM(19, addiw, 0x000000007ffff800, 0x000000007fffffff, -2047)
    TEST_IMM(20, addiw, 0xffffffffffffffff, 0xaaaaaaaaffffffff, 0)   /* sext.w */
    TEST_IMM(21, addiw, 0x0000000012345678, 0xffffffff12345678, 0)

    /* logic */
    TEST_RR(22, and, 0x0f000f00f000f00f, 0xff00ff00ff00ff0f, 0x0ff00ff0f00ff00f)
    TEST_RR(23, or,  0xfff0fff0ff0fff0f, 0xff00ff00ff00ff0f, 0x0ff00ff0f00ff00f)
    TEST_RR(24, xor, 0xf0f0f0f00f0f0f00, 0xff00ff00ff00ff0f, 0x0ff00ff0f00ff00f)
    TEST_IMM(25, andi, 0x0000000000000700, 0xff00ff00ff00ff00, 0x70f)
    TEST_IMM(26, andi, 0xff00ff00ff00ff00, 0xff00ff00ff00ff00, -1)
    TEST_IMM(27, ori,  0xfffffffffffff80f, 0x000000000000000f, -2033)
    TEST_IMM(28, xori, 0xffffffffffffff0f, 0x00000000000000f0, -1)   /* not */
    TEST_IMM(29, xori, 0x00ff00ff00ff07f0, 0x00ff00ff00ff000f, 0x7ff)

    /* shifts: RV64 uses 6 bits of the amount, W forms 5 bits */
    TEST_RR(30, sll, 0x8000000000000000, 0x0000000000000001, 63)
    TEST_RR(31, sll, 0x0000000000000002, 0x0000000000000001, 0xffffffffffffffc1) /* 65 -> 1 */
    TEST_RR(32, srl, 0x0000000000000001, 0x8000000000000000, 63)
    TEST_RR(33, srl, 0x7fffffffffffffff, 0xffffffffffffffff, 1)
    TEST_RR(34, sra, 0xffffffffffffffff, 0x8000000000000000, 63)
    TEST_RR(35, sra, 0xc000000000000000, 0x8000000000000000, 0x41)
    TEST_RR(36, sra, 0x0000000000000000, 0x7fffffffffffffff, 63)
    TEST_IMM(37, slli, 0x8000000000000000, 0x1, 63)
    TEST_IMM(38, slli, 0xffffffff00000000, 0xffffffffffffffff, 32)
    TEST_IMM(39, srli, 0x00000000ffffffff, 0xffffffffffffffff, 32)
    TEST_IMM(40, srai, 0xffffffffff000000, 0x8000000000000000, 39)
    TEST_IMM(41, srai, 0x0000000000000000, 0x0000000000000001, 1)
    TEST_RR(42, sllw, 0xffffffff80000000, 0x0000000000000001, 31)
    TEST_RR(43, sllw, 0x0000000000000002, 0x0000000000000001, 33)  /* 33 -> 1 */
    TEST_RR(44, sllw, 0x0000000000000000, 0xffffffff00000000, 4)
    TEST_RR(45, srlw, 0x0000000000000001, 0xffffffff80000000, 31)
    TEST_RR(46, srlw, 0x000000007fffffff, 0x12345678ffffffff, 1)
    TEST_RR(47, srlw, 0xffffffff80000000, 0x0000000080000000, 32)  /* 32 -> 0, sext */
    TEST_RR(48, sraw, 0xffffffffffffffff, 0x0000000080000000, 31)
    TEST_RR(49, sraw, 0x0000000000000000, 0xffffffff7fffffff, 31)
    TEST_RR(50, sraw, 0xfffffffff8000000, 0x0000000080000000, 36)  /* 36 -> 4 */
    TEST_IMM(51, slliw, 0xffffffff80000000, 0x0000000000000001, 31)
    TEST_IMM(52, slliw, 0x0000000012345670, 0xfedcba9801234567, 4)
    TEST_IMM(53, srliw, 0x0000000000000001, 0xffffffff80000000, 31)
    TEST_IMM(54, srliw, 0xffffffff80000000, 0x0000000080000000, 0)
    TEST_IMM(55, sraiw, 0xffffffffffffffff, 0x0000000080000000, 31)
    TEST_IMM(56, sraiw, 0x0000000001234567, 0xfedcba9812345678, 4)

    /* set-less-than, signed and unsigned */
    TEST_RR(57, slt, 1, 0x8000000000000000, 0x0000000000000000)
    TEST_RR(58, slt, 0, 0x7fffffffffffffff, 0x8000000000000000)
    TEST_RR(59, slt, 0, 5, 5)
    TEST_RR(60, sltu, 0, 0x8000000000000000, 0x0000000000000000)
    TEST_RR(61, sltu, 1, 0x7fffffffffffffff, 0x8000000000000000)
    TEST_RR(62, sltu, 1, 0, 1)                     /* snez */
    TEST_IMM(63, slti, 1, 0xffffffffffffffff, 0)
    TEST_IMM(64, slti, 0, 0x0, -1)
    TEST_IMM(65, slti, 1, 0x7fe, 0x7ff)
    TEST_IMM(66, sltiu, 1, 0x0, -1)               /* -1 sign-extends, then compares unsigned */
    TEST_IMM(67, sltiu, 0, 0xffffffffffffffff, -1)
    TEST_IMM(68, sltiu, 1, 0x0, 1)                 /* seqz */

    /* destination is a source; x0 as destination */
    TEST_RR_SRC1_EQ_DEST(69, add, 24, 13, 11)
    TEST_RR_SRC1_EQ_DEST(70, sraw, 0xffffffffffffffff, 0x0000000080000000, 31)
    TEST_RR_ZERODEST(71, add, 1, 2)
    TEST_RR_ZERODEST(72, sll, 1, 3)
    TEST_CASE(73, x0, 0, addi x0, x0, 5)
    TEST_CASE(74, a4, 0, addi a4, x0, 0; add a4, x0, x0)

    /* the same register in both sources */
    TEST_CASE(75, a4, 0x0000000000000000, li a1, 0x123456789; sub a4, a1, a1)
    TEST_CASE(76, a4, 0x000000002468acf12, li a1, 0x123456789; add a4, a1, a1)

    /* lui / auipc */
    TEST_CASE(77, a4, 0xffffffff80000000, lui a4, 0x80000)
    TEST_CASE(78, a4, 0x000000007ffff000, lui a4, 0x7ffff)
    TEST_CASE(79, a4, 0xfffffffffffff000, lui a4, 0xfffff)
    TEST_CASE(80, a4, 0x0000000000000000, lui a4, 0; addi a4, a4, 0)
    TEST_CASE(81, a4, 0, la a1, 1f; 1: auipc a2, 0; sub a4, a2, a1)
    TEST_CASE(82, a4, 0x1000, 1: auipc a2, 1; la a1, 1b; sub a4, a2, a1)
    TEST_CASE(83, a4, 0xffffffff80000000, 1: auipc a2, 0x80000; la a1, 1b; sub a4, a2, a1)

    /* the long chain: dependent results stay right */
    TEST_CASE(84, a4, 0x0000000000000078,
              li a1, 1; slli a1, a1, 3; addi a1, a1, 7; slliw a1, a1, 3; xori a4, a1, 0)

RVTEST_END
