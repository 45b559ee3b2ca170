/* trap.S — synchronous exceptions into M-mode: ecall from M, S and U (causes 11, 9, 8,
 * mepc = the ecall, mtval = 0), ebreak, illegal instructions with mtval = the
 * instruction bits, privileged instructions and CSRs used from too low a mode, the TSR,
 * TVM and TW traps, the mstatus bookkeeping of a trap (MPP, MPIE, MIE), and access
 * faults for loads, stores and fetches where nothing answers. */
#include "macros.h"

/* runs `insn` at label 1 in mode, expects an illegal-instruction trap with tval */
#define TEST_ILLEGAL_IN(n, mode, tval, ...)                                               \
    CASE(n);                                                                              \
    RESUME_AT(2f);                                                                        \
    ENTER_MODE(mode, 1f);                                                                 \
1:  __VA_ARGS__;                                                                             \
    j fail;                                                                               \
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, tval);                                                 \
    CHECK_TRAP_EPC(1b);                                                                   \
    CHECK_TRAP_MPP(mode)

/* runs `insn` in mode and expects it to complete (then ecall brings us back) */
#define TEST_LEGAL_IN(n, mode, ...)                                                       \
    CASE(n);                                                                              \
    RESUME_AT(2f);                                                                        \
    ENTER_MODE(mode, 1f);                                                                 \
1:  __VA_ARGS__;                                                                             \
    ecall;                                                                                \
    j fail;                                                                               \
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U + (mode))

RVTEST_BEGIN

    /* ecall from each mode */
    CASE(1)
    RESUME_AT(2f)
1:  ecall
    j fail
2:  CHECK_TRAP(CAUSE_ECALL_M, 0)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_MPP(PRV_M)
    CASE(2)
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  ecall
    j fail
2:  CHECK_TRAP(CAUSE_ECALL_S, 0)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_MPP(PRV_S)
    CASE(3)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  ecall
    j fail
2:  CHECK_TRAP(CAUSE_ECALL_U, 0)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_MPP(PRV_U)
    /* registers survive the trap round trip */
    CASE(4)
    li s2, 0x1122334455667788
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  addi s2, s2, 1
    ecall
2:  CHECK_REG(s2, 0x1122334455667789)

    /* a trap saves MIE in MPIE and clears MIE */
    CASE(5)
    csrsi mstatus, MSTATUS_MIE
    RESUME_AT(2f)
    ecall
2:  CHECK_TRAP_MSTATUS(MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)
    CASE(6)
    csrci mstatus, MSTATUS_MIE
    RESUME_AT(2f)
    ecall
2:  CHECK_TRAP_MSTATUS(MSTATUS_MIE | MSTATUS_MPIE, 0)

    /* ebreak: cause 3, mepc at the ebreak */
    CASE(7)
    RESUME_AT(2f)
1:  ebreak
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    CASE(8)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  ebreak
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_MPP(PRV_U)

    /* illegal instructions in M-mode: mtval holds the bits */
    CASE(9)
    RESUME_AT(2f)
1:  .word 0x00000000              /* two all-zero halfwords: the first is illegal */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0)
    CHECK_TRAP_EPC(1b)
    CASE(10)
    RESUME_AT(2f)
1:  .word 0x0000505b              /* custom-2 opcode: nothing there */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x0000505b)
    CASE(11)
    RESUME_AT(2f)
1:  .word 0x0200d013              /* srli shamt 32: legal on RV64 */
    j 3f
2:  j fail                        /* shamt 32 is legal on RV64 */
3:  CHECK_NO_TRAP
    CASE(12)
    RESUME_AT(2f)
1:  .word 0x0200d01b              /* srliw with shamt[5] set: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x0200d01b)
    CASE(36)
    RESUME_AT(2f)
1:  .word 0x0400d01b              /* srliw with funct7 = 2: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x0400d01b)
    CASE(13)
    RESUME_AT(2f)
1:  .word 0xfc00d013              /* srli with funct6 = 0x3f: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xfc00d013)
    CASE(14)
    RESUME_AT(2f)
1:  .word 0x0000f003              /* LOAD with funct3 = 7: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x0000f003)
    CASE(15)
    RESUME_AT(2f)
1:  .word 0x00004023              /* STORE with funct3 = 4: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x00004023)
    CASE(16)
    RESUME_AT(2f)
1:  .word 0x00002063              /* BRANCH with funct3 = 2: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x00002063)
    CASE(17)
    RESUME_AT(2f)
1:  .word 0x00001067              /* JALR with funct3 = 1: reserved */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x00001067)

    /* privileged instructions and CSRs from too low a mode */
    TEST_ILLEGAL_IN(18, PRV_U, 0x30200073, mret)
    TEST_ILLEGAL_IN(19, PRV_U, 0x10200073, sret)
    TEST_ILLEGAL_IN(20, PRV_S, 0x30200073, mret)
    TEST_ILLEGAL_IN(21, PRV_U, 0x300027f3, csrr a5, mstatus)
    TEST_ILLEGAL_IN(22, PRV_S, 0x340027f3, csrr a5, mscratch)
    TEST_ILLEGAL_IN(23, PRV_U, 0x100027f3, csrr a5, sstatus)
    TEST_ILLEGAL_IN(24, PRV_U, 0x12000073, sfence.vma)
    /* WFI in U may only complete within a bounded time; one that waits traps */
    TEST_ILLEGAL_IN(25, PRV_U, 0x10500073, wfi)
    TEST_ILLEGAL_IN(26, PRV_S, 0xf1401073, csrw mhartid, x0)
    /* S-mode may use its own CSRs and sfence.vma */
    TEST_LEGAL_IN(27, PRV_S, csrr a5, sstatus; csrw sscratch, a5; sfence.vma)
    TEST_LEGAL_IN(28, PRV_S, csrr a5, satp)

    /* mstatus.TSR traps sret, TVM traps satp and sfence.vma, TW traps wfi in S */
    li a1, 1 << 22
    csrs mstatus, a1
    TEST_ILLEGAL_IN(29, PRV_S, 0x10200073, sret)
    li a1, 1 << 22
    csrc mstatus, a1
    li a1, 1 << 20
    csrs mstatus, a1
    TEST_ILLEGAL_IN(30, PRV_S, 0x180027f3, csrr a5, satp)
    TEST_ILLEGAL_IN(31, PRV_S, 0x12000073, sfence.vma)
    li a1, 1 << 20
    csrc mstatus, a1
    li a1, 1 << 21
    csrs mstatus, a1
    TEST_ILLEGAL_IN(32, PRV_S, 0x10500073, wfi)
    li a1, 1 << 21
    csrc mstatus, a1
    /* TSR/TVM/TW do not affect M-mode */
    CASE(33)
    li a1, (1 << 20) | (1 << 22)
    csrs mstatus, a1
    RESUME_AT(2f)
    csrr a5, satp
    sfence.vma
2:  CHECK_NO_TRAP
    li a1, (1 << 20) | (1 << 22)
    csrc mstatus, a1

    /* a trap from U leaves MPRV alone and returns to M as the handler asks */
    CASE(34)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  .word 0xfe000033
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xfe000033)
    CHECK_TRAP_MPP(PRV_U)

    /* the trap count: exactly one trap per case above that expected one */
    CASE(35)
    la a1, trap_info
    ld a4, TI_COUNT(a1)
    CHECK_REG(a4, 33)

    /* access faults where nothing answers: load 5, store 7, fetch 1, mtval = address */
    CASE(37)
    RESUME_AT(2f)
    li a1, NOTHING_HERE
    lw a4, 0x10(a1)
    j fail
2:  CHECK_TRAP(CAUSE_LOAD_ACCESS, NOTHING_HERE + 0x10)
    CASE(38)
    RESUME_AT(2f)
    li a1, NOTHING_HERE
    sd a4, 0x18(a1)
    j fail
2:  CHECK_TRAP(CAUSE_STORE_ACCESS, NOTHING_HERE + 0x18)
    CASE(39)
    RESUME_AT(2f)
    li a1, NOTHING_HERE + 0x20
    jalr a1
    j fail
2:  CHECK_TRAP(CAUSE_FETCH_ACCESS, NOTHING_HERE + 0x20)
    CHECK_TRAP_EPC_VAL(NOTHING_HERE + 0x20)
    /* from U-mode as well, and the destination register is untouched */
    CASE(40)
    li a4, 0x5555
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  li a1, NOTHING_HERE
    lbu a4, 3(a1)
    j fail
2:  CHECK_TRAP(CAUSE_LOAD_ACCESS, NOTHING_HERE + 3)
    CHECK_TRAP_MPP(PRV_U)
    CHECK_REG(a4, 0x5555)

RVTEST_END
