/* deleg.S — delegation to S-mode: medeleg sends exceptions from S and U to stvec (never
 * from M), mideleg sends interrupts, scause/stval/sepc/sstatus.SPP/SPIE are filled,
 * sie/sip show only delegated bits, S interrupts are taken in U whatever SIE says and
 * not in S with SIE clear, and the vectored modes of stvec and mtvec. */
#include "macros.h"

/* the S-mode handler records into s_info, then ecalls to the armed M-mode resume */
#define CHECK_S(off, val)                                                                 \
    la t0, s_info;                                                                        \
    ld t1, off(t0);                                                                       \
    CHECK_REG(t1, val)

#define CHECK_S_EPC(label)                                                                \
    la t0, s_info;                                                                        \
    ld t1, TI_EPC(t0);                                                                    \
    la t2, label;                                                                         \
    beq t1, t2, 9f;                                                                       \
    j fail;                                                                               \
9:

#define CHECK_S_SSTATUS(mask, val)                                                        \
    la t0, s_info;                                                                        \
    ld t1, TI_MSTATUS(t0);                                                                \
    li t2, mask;                                                                          \
    and t1, t1, t2;                                                                       \
    CHECK_REG(t1, val)

#define CLEAR_S                                                                           \
    la t0, s_info;                                                                        \
    li t1, NO_TRAP;                                                                       \
    sd t1, TI_CAUSE(t0)

RVTEST_BEGIN
    la a1, s_handler
    csrw stvec, a1

    /* U ecall delegated: S sees cause 8, SPP = U; the handler's own ecall reaches M */
    CASE(1)
    li a1, 1 << CAUSE_ECALL_U
    csrw medeleg, a1
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  ecall
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_ECALL_U)
    CHECK_S(TI_TVAL, 0)
    CHECK_S_EPC(1b)
    CHECK_S_SSTATUS(MSTATUS_SPP, 0)
    CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_TRAP_MPP(PRV_S)
    /* not delegated: straight to M */
    CASE(2)
    csrw medeleg, x0
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U)
    CHECK_S(TI_CAUSE, NO_TRAP)

    /* illegal instruction delegated: from U and from S, stval = the bits */
    li a1, 1 << CAUSE_ILLEGAL_INSN
    csrw medeleg, a1
    CASE(3)
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  csrr a5, sstatus
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_ILLEGAL_INSN)
    CHECK_S(TI_TVAL, 0x100027f3)
    CHECK_S_EPC(1b)
    CHECK_S_SSTATUS(MSTATUS_SPP, 0)
    CASE(4)
    CLEAR_S
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_SIE
    ENTER_MODE(PRV_S, 1f)
1:  .word 0xfe000033
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_ILLEGAL_INSN)
    CHECK_S(TI_TVAL, 0xfe000033)
    CHECK_S_EPC(1b)
    /* from S: SPP = S, SPIE = the old SIE (1), SIE cleared */
    CHECK_S_SSTATUS(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE)
    csrci mstatus, MSTATUS_SIE
    /* M-mode traps are never delegated */
    CASE(5)
    CLEAR_S
    RESUME_AT(2f)
    .word 0xfe000033
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xfe000033)
    CHECK_S(TI_CAUSE, NO_TRAP)
    /* ebreak delegated from S */
    CASE(6)
    li a1, 1 << CAUSE_BREAKPOINT
    csrw medeleg, a1
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  ebreak
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_BREAKPOINT)
    CHECK_S_EPC(1b)
    csrw medeleg, x0

    /* sie / sip show only delegated interrupts */
    CASE(7)
    li a1, (1 << IRQ_S_SOFT) | (1 << IRQ_S_TIMER)
    csrw mie, a1
    csrw mideleg, x0
    csrr a4, sie
    CHECK_REG(a4, 0)
    CASE(8)
    li a1, 1 << IRQ_S_SOFT
    csrw mideleg, a1
    csrr a4, sie
    CHECK_REG(a4, 1 << IRQ_S_SOFT)
    csrw mie, x0

    /* a delegated software interrupt taken in S with SIE = 1 */
    CASE(9)
    li a1, 1 << IRQ_S_SOFT
    csrw mideleg, a1
    csrw mie, a1
    csrs mip, a1                  /* pending, but M-mode does not take S interrupts */
    CLEAR_S
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_SIE
    ENTER_MODE(PRV_S, 1f)
1:  nop
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_INTR | IRQ_S_SOFT)
    CHECK_S_EPC(1b)
    CHECK_S_SSTATUS(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE)
    CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    /* sip shows it pending */
    CASE(10)
    csrr a4, sip
    CHECK_REG(a4, 1 << IRQ_S_SOFT)
    /* ... not taken in S with SIE = 0 */
    CASE(11)
    csrci mstatus, MSTATUS_SIE
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  nop
    nop
    ecall
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_S(TI_CAUSE, NO_TRAP)
    /* ... but taken in U whatever SIE is */
    CASE(12)
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  nop
    j fail
2:  CHECK_S(TI_CAUSE, CAUSE_INTR | IRQ_S_SOFT)
    CHECK_S_EPC(1b)
    CHECK_S_SSTATUS(MSTATUS_SPP, 0)
    /* ... and clearing sip.SSIP in S-mode makes it go away */
    CASE(13)
    csrsi mstatus, MSTATUS_SIE
    CLEAR_S
    RESUME_AT(2f)
    li a1, 1 << IRQ_S_SOFT
    csrc mip, a1
    ENTER_MODE(PRV_S, 1f)
1:  nop
    ecall
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_S(TI_CAUSE, NO_TRAP)
    csrci mstatus, MSTATUS_SIE

    /* not delegated: an S interrupt pending in S goes to M (M is enabled below M) */
    CASE(14)
    csrw mideleg, x0
    li a1, 1 << IRQ_S_SOFT
    csrw mie, a1
    csrs mip, a1
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  nop
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_S_SOFT)
    CHECK_TRAP_EPC(1b)
    CHECK_S(TI_CAUSE, NO_TRAP)
    li a1, 1 << IRQ_S_SOFT
    csrc mip, a1

    /* vectored stvec: interrupt i at base + 4 i, exceptions at base */
    CASE(15)
    la a1, s_vectors
    ori a1, a1, 1
    csrw stvec, a1
    li a1, 1 << IRQ_S_SOFT
    csrw mideleg, a1
    csrs mip, a1
    li s10, 0
    CLEAR_S
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_SIE
    ENTER_MODE(PRV_S, 1f)
1:  nop
    j fail
2:  CHECK_REG(s10, 0x51)
    CHECK_S(TI_CAUSE, CAUSE_INTR | IRQ_S_SOFT)
    li a1, 1 << IRQ_S_SOFT
    csrc mip, a1
    csrci mstatus, MSTATUS_SIE
    CASE(16)
    li a1, 1 << CAUSE_ECALL_U
    csrw medeleg, a1
    li s10, 0
    CLEAR_S
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  ecall
    j fail
2:  CHECK_REG(s10, 0x50)
    CHECK_S(TI_CAUSE, CAUSE_ECALL_U)
    csrw medeleg, x0
    csrw mideleg, x0
    la a1, s_handler
    csrw stvec, a1

    /* vectored mtvec: the machine software interrupt lands at base + 12 */
    CASE(17)
    la a1, m_vectors
    ori a1, a1, 1
    csrw mtvec, a1
    li s10, 0
    li a1, 1 << IRQ_M_SOFT
    csrw mie, a1
    li a2, ACLINT_MSIP
    li a1, 1
    sw a1, 0(a2)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
1:  nop
    j 1b
2:  CHECK_REG(s10, 0x33)
    CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_SOFT)
    li a2, ACLINT_MSIP
    sw zero, 0(a2)
    csrw mie, x0
    la a1, trap_vector
    csrw mtvec, a1

RVTEST_END

    .text
    CODE_ALIGN(4)
s_handler:
    csrw sscratch, t6
    la t6, s_info
    sd t5, TI_SAVE(t6)
    csrr t5, scause
    sd t5, TI_CAUSE(t6)
    csrr t5, stval
    sd t5, TI_TVAL(t6)
    csrr t5, sepc
    sd t5, TI_EPC(t6)
    csrr t5, sstatus
    sd t5, TI_MSTATUS(t6)
    ld t5, TI_COUNT(t6)
    addi t5, t5, 1
    sd t5, TI_COUNT(t6)
    ld t5, TI_SAVE(t6)
    csrr t6, sscratch
    ecall

    CODE_ALIGN(256)
s_vectors:
    j s_vec_exc
    j s_vec_ssi
    .rept 14
    j fail
    .endr
s_vec_exc:
    li s10, 0x50
    j s_handler
s_vec_ssi:
    li s10, 0x51
    j s_handler

    CODE_ALIGN(256)
m_vectors:
    j trap_vector
    j fail
    j fail
    j m_vec_msi
    .rept 12
    j fail
    .endr
m_vec_msi:
    li s10, 0x33
    j trap_vector

    .data
    .align 3
s_info:
    .dword NO_TRAP, 0, 0, 0, 0, 0, 0, 0
