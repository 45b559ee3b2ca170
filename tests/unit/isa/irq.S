/* irq.S — interrupts: the ACLINT timer (mtimecmp against mtime, mip.MTIP follows the
 * comparison), the software interrupt (msip), their priority, global enable rules
 * (mstatus.MIE in M, always on below M), WFI waking on a pending-and-enabled interrupt
 * even with MIE clear, and Sstc: stimecmp with menvcfg.STCE, delegated to S-mode. */
#include "macros.h"

#define CSR_MENVCFG 0x30a
#define CSR_STIMECMP 0x14d
#define MIP_MTIP (1 << IRQ_M_TIMER)
#define MIP_MSIP (1 << IRQ_M_SOFT)
#define MIP_STIP (1 << IRQ_S_TIMER)

/* mtimecmp = mtime + ticks (a2, a3 clobbered) */
#define SET_TIMER_IN(ticks)                                                               \
    li a2, ACLINT_MTIME;                                                                  \
    ld a3, 0(a2);                                                                         \
    addi a3, a3, ticks;                                                                   \
    li a2, ACLINT_MTIMECMP;                                                               \
    sd a3, 0(a2)

#define TIMER_OFF                                                                         \
    li a2, ACLINT_MTIMECMP;                                                               \
    li a3, -1;                                                                            \
    sd a3, 0(a2)

/* spins until the armed trap fires (the harness time limit catches a hang) */
#define SPIN                                                                              \
1:  nop;                                                                                  \
    j 1b

RVTEST_BEGIN

    /* mtime advances */
    CASE(1)
    li a2, ACLINT_MTIME
    ld a3, 0(a2)
    li a4, 100000
1:  addi a4, a4, -1
    bnez a4, 1b
    ld a4, 0(a2)
    bgeu a3, a4, fail

    /* mip.MTIP follows mtime >= mtimecmp, with or without enables */
    CASE(2)
    li a2, ACLINT_MTIMECMP
    sd zero, 0(a2)
    csrr a4, mip
    andi a4, a4, MIP_MTIP
    CHECK_REG(a4, MIP_MTIP)
    CASE(3)
    TIMER_OFF
    csrr a4, mip
    andi a4, a4, MIP_MTIP
    CHECK_REG(a4, 0)
    /* mtimecmp reads back what was written */
    CASE(4)
    li a2, ACLINT_MTIMECMP
    li a3, 0x123456789abcdef0
    sd a3, 0(a2)
    ld a4, 0(a2)
    CHECK_REG(a4, 0x123456789abcdef0)
    TIMER_OFF

    /* the timer interrupt in M with MTIE and MIE */
    CASE(5)
    li a1, MIP_MTIP
    csrw mie, a1
    SET_TIMER_IN(1000)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
    SPIN
2:  CHECK_TRAP(CAUSE_INTR | IRQ_M_TIMER, 0)
    CHECK_TRAP_MSTATUS(MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP)
    TIMER_OFF
    csrr a4, mip
    andi a4, a4, MIP_MTIP
    CHECK_REG(a4, 0)
    /* pending but MIE = 0 in M: not taken */
    CASE(6)
    csrci mstatus, MSTATUS_MIE
    li a2, ACLINT_MTIMECMP
    sd zero, 0(a2)
    RESUME_AT(2f)
    li a4, 1000
1:  addi a4, a4, -1
    bnez a4, 1b
2:  CHECK_NO_TRAP
    /* ... and pending but not enabled in mie: not taken either */
    CASE(7)
    csrw mie, x0
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
    li a4, 1000
1:  addi a4, a4, -1
    bnez a4, 1b
    csrci mstatus, MSTATUS_MIE
2:  CHECK_NO_TRAP
    /* below M, M interrupts are enabled whatever MIE says */
    CASE(8)
    li a1, MIP_MTIP
    csrw mie, a1
    RESUME_AT(2f)
    ENTER_MODE(PRV_U, 1f)
1:  nop
    j 1b
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_TIMER)
    CHECK_TRAP_MPP(PRV_U)
    TIMER_OFF

    /* the software interrupt: msip bit 0 is mip.MSIP */
    CASE(9)
    li a2, ACLINT_MSIP
    li a1, 1
    sw a1, 0(a2)
    lw a4, 0(a2)
    CHECK_REG(a4, 1)
    csrr a4, mip
    andi a4, a4, MIP_MSIP
    CHECK_REG(a4, MIP_MSIP)
    /* enabling a pending interrupt takes it right after the enabling write */
    CASE(10)
    li a1, MIP_MSIP
    csrw mie, a1
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
3:  SPIN
2:  CHECK_TRAP(CAUSE_INTR | IRQ_M_SOFT, 0)
    CHECK_TRAP_EPC(3b)
    li a2, ACLINT_MSIP
    sw zero, 0(a2)
    csrr a4, mip
    andi a4, a4, MIP_MSIP
    CHECK_REG(a4, 0)

    /* both pending: software (3) before timer (7) */
    CASE(11)
    li a2, ACLINT_MSIP
    li a1, 1
    sw a1, 0(a2)
    li a2, ACLINT_MTIMECMP
    sd zero, 0(a2)
    li a1, MIP_MSIP | MIP_MTIP
    csrw mie, a1
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
    SPIN
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_SOFT)
    li a2, ACLINT_MSIP
    sw zero, 0(a2)
    CASE(12)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
    SPIN
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_TIMER)
    TIMER_OFF
    csrw mie, x0

    /* WFI with MIE = 0 returns once an enabled interrupt is pending (not taken) */
    CASE(13)
    csrci mstatus, MSTATUS_MIE
    li a1, MIP_MTIP
    csrw mie, a1
    SET_TIMER_IN(2000)
    RESUME_AT(2f)
1:  wfi
    csrr a4, mip
    andi a4, a4, MIP_MTIP
    beqz a4, 1b
2:  CHECK_NO_TRAP
    CHECK_REG(a4, MIP_MTIP)
    TIMER_OFF
    /* WFI with MIE = 1: the interrupt is taken, mepc past the wfi */
    CASE(14)
    SET_TIMER_IN(2000)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
1:  wfi
    j 1b
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_TIMER)
    TIMER_OFF
    csrw mie, x0
    /* WFI woken by a software interrupt */
    CASE(15)
    li a1, MIP_MSIP
    csrw mie, a1
    li a2, ACLINT_MSIP
    li a1, 1
    sw a1, 0(a2)
    RESUME_AT(2f)
    wfi
    j 3f
2:  j fail
3:  CHECK_NO_TRAP
    li a2, ACLINT_MSIP
    sw zero, 0(a2)
    csrw mie, x0

    /* a one-instruction loop still sees the interrupt; mepc is that instruction */
    CASE(20)
    li a1, MIP_MTIP
    csrw mie, a1
    SET_TIMER_IN(1000)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
1:  j 1b
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_TIMER)
    CHECK_TRAP_EPC(1b)
    TIMER_OFF
    /* mepc names an instruction of the interrupted loop, whose work is kept */
    CASE(21)
    li s2, 0
    SET_TIMER_IN(1000)
    RESUME_AT(2f)
    csrsi mstatus, MSTATUS_MIE
1:  addi s2, s2, 1
3:  j 1b
2:  CHECK_TRAP_CAUSE(CAUSE_INTR | IRQ_M_TIMER)
    TIMER_OFF
    csrw mie, x0
    beqz s2, fail
    la a1, trap_info
    ld a4, TI_EPC(a1)
    la a2, 1b
    beq a4, a2, 4f
    CHECK_TRAP_EPC(3b)
4:

    /* Sstc: with menvcfg.STCE, mip.STIP follows time >= stimecmp */
    CASE(16)
    li a1, 1 << 63
    csrs CSR_MENVCFG, a1
    csrr a4, CSR_MENVCFG
    srli a4, a4, 63
    CHECK_REG(a4, 1)
    CASE(17)
    csrw CSR_STIMECMP, zero
    csrr a4, mip
    andi a4, a4, MIP_STIP
    CHECK_REG(a4, MIP_STIP)
    CASE(18)
    li a1, -1
    csrw CSR_STIMECMP, a1
    csrr a4, mip
    andi a4, a4, MIP_STIP
    CHECK_REG(a4, 0)
    csrr a4, CSR_STIMECMP
    CHECK_REG(a4, -1)
    /* S-mode arms its own timer (mcounteren.TM lets it read time and stimecmp) */
    CASE(19)
    li a1, 2
    csrw mcounteren, a1
    li a1, MIP_STIP
    csrw mideleg, a1
    csrw mie, a1
    la a1, s_handler
    csrw stvec, a1
    csrsi mstatus, MSTATUS_SIE
    RESUME_AT(2f)
    ENTER_MODE(PRV_S, 1f)
1:  rdtime a1
    addi a1, a1, 2000
    csrw CSR_STIMECMP, a1
3:  nop
    j 3b
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    la a1, s_cause
    ld a4, 0(a1)
    CHECK_REG(a4, CAUSE_INTR | IRQ_S_TIMER)
    li a1, -1
    csrw CSR_STIMECMP, a1
    csrci mstatus, MSTATUS_SIE
    csrw mie, x0
    csrw mideleg, x0

RVTEST_END

    .text
    CODE_ALIGN(4)
s_handler:
    csrr t5, scause
    la t6, s_cause
    sd t5, 0(t6)
    ecall

    .data
    .align 3
s_cause:
    .dword 0
