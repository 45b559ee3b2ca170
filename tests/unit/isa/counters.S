/* counters.S — Zicntr: cycle, time and instret readable in M, S and U as the
 * counter-enable CSRs allow (mcounteren for S and U, scounteren for U), time equal to
 * the ACLINT mtime, all of them advancing, instret counting retired instructions, and
 * minstret / mcycle writable. */
#include "macros.h"

RVTEST_BEGIN

    /* instret advances by at least the instructions in between */
    CASE(1)
    rdinstret a1
    .rept 100
    nop
    .endr
    rdinstret a2
    sub a4, a2, a1
    li a3, 100
    bltu a4, a3, fail
    /* cycle advances */
    CASE(2)
    rdcycle a1
    .rept 50
    nop
    .endr
    rdcycle a2
    bgeu a1, a2, fail
    /* time advances over a busy loop, and matches mtime */
    CASE(3)
    rdtime a1
    li a4, 200000
1:  addi a4, a4, -1
    bnez a4, 1b
    rdtime a2
    bgeu a1, a2, fail
    CASE(4)
    li a3, ACLINT_MTIME
    ld a1, 0(a3)
    rdtime a2
    ld a3, 0(a3)
    bltu a2, a1, fail
    bltu a3, a2, fail
    /* the machine counters are the same registers */
    CASE(5)
    rdinstret a1
    csrr a2, minstret
    bgeu a1, a2, fail             /* minstret read later: strictly larger */
    sub a4, a2, a1
    li a3, 16
    bgeu a4, a3, fail
    /* minstret and mcycle are writable */
    CASE(6)
    li a1, 1000000
    csrw minstret, a1
    csrr a2, minstret
    bltu a2, a1, fail
    li a3, 1000000 + 1000
    bgeu a2, a3, fail
    CASE(7)
    li a1, 0x100000000
    csrw mcycle, a1
    csrr a2, mcycle
    bltu a2, a1, fail

    /* cycle/time/instret are read-only: writes are illegal */
    CASE(8)
    RESUME_AT(2f)
    csrw instret, zero
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xc0201073)

    /* counter enables: S needs mcounteren, U needs both */
    CASE(9)
    csrw mcounteren, zero
    csrw scounteren, zero
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  rdcycle a4
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xc0002773)
    CASE(10)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  rdtime a4
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xc0102773)
    CASE(11)
    li a1, 7
    csrw mcounteren, a1
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  rdcycle a4
    rdtime a4
    rdinstret a4
    ecall
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CASE(12)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  rdinstret a4
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xc0202773)
    CASE(13)
    li a1, 2                      /* U may read time only */
    csrw scounteren, a1
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  rdtime a4
    rdcycle a5
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xc00027f3)
    CASE(14)
    li a1, 7
    csrw scounteren, a1
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  rdcycle a1
    rdinstret a2
    rdtime a3
    ecall
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U)
    beqz a3, fail
    /* instret counts U-mode instructions too */
    CASE(15)
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  rdinstret a1
    .rept 20
    addi a4, a4, 1
    .endr
    rdinstret a2
    ecall
2:  sub a4, a2, a1
    CHECK_REG(a4, 21)

RVTEST_END
