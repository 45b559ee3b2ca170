/* priv.S — xRET: mret and sret restore the privilege from MPP/SPP, move MPIE/SPIE into
 * MIE/SIE, set MPIE/SPIE to 1, leave MPP/SPP at U; the mode
 * reached is told by the cause of the ecall made there. */
#include "macros.h"

RVTEST_BEGIN

    /* mret to M: MIE = MPIE (0), MPIE = 1, MPP = U */
    CASE(1)
    li a1, MSTATUS_MPP | MSTATUS_MIE
    csrs mstatus, a1
    li a1, MSTATUS_MPIE
    csrc mstatus, a1
    la a1, 1f
    csrw mepc, a1
    mret
    j fail
1:  csrr a2, mstatus
    li a1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and a4, a2, a1
    CHECK_REG(a4, MSTATUS_MPIE)
    /* mret to M with MPIE = 1: MIE = 1 */
    CASE(2)
    li a1, MSTATUS_MPP | MSTATUS_MPIE
    csrs mstatus, a1
    la a1, 1f
    csrw mepc, a1
    mret
    j fail
1:  csrr a2, mstatus
    csrci mstatus, MSTATUS_MIE
    li a1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and a4, a2, a1
    CHECK_REG(a4, MSTATUS_MPIE | MSTATUS_MIE)
    /* mret to S and U: the ecall there names the mode; MIE came from MPIE */
    CASE(3)
    RESUME_AT(2f)
    li a1, MSTATUS_MPP
    csrc mstatus, a1
    li a1, (PRV_S << 11) | MSTATUS_MPIE
    csrs mstatus, a1
    la a1, 1f
    csrw mepc, a1
    mret
1:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_TRAP_MSTATUS(MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | (PRV_S << 11))
    CASE(4)
    RESUME_AT(2f)
    li a1, MSTATUS_MPP | MSTATUS_MPIE
    csrc mstatus, a1
    la a1, 1f
    csrw mepc, a1
    mret
1:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U)
    CHECK_TRAP_MSTATUS(MSTATUS_MPIE | MSTATUS_MPP, 0)
    /* (Priv 1.12 also has xRET to a mode below M clear MPRV; QEMU 7.2 predates that, so
     * it is not checked here.) */
    /* mret to mepc with bit 1 set (a 2-byte aligned target) */
    CASE(6)
    li a1, MSTATUS_MPP
    csrs mstatus, a1
    la a1, odd_target
    csrw mepc, a1
    li a4, 0
    mret
odd_back:
    CHECK_REG(a4, 0x66)

    /* sret from M to S: SIE = SPIE, SPIE = 1, SPP = U */
    CASE(7)
    RESUME_AT(2f)
    li a1, MSTATUS_SPP | MSTATUS_SPIE
    csrs mstatus, a1
    csrci mstatus, MSTATUS_SIE
    la a1, 1f
    csrw sepc, a1
    sret
1:  csrr a5, sstatus
    ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    li a1, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    and a4, a5, a1
    CHECK_REG(a4, MSTATUS_SPIE | MSTATUS_SIE)
    csrci mstatus, MSTATUS_SIE
    /* sret with SPP = U, SPIE = 0 */
    CASE(8)
    RESUME_AT(2f)
    li a1, MSTATUS_SPP | MSTATUS_SPIE
    csrc mstatus, a1
    csrsi mstatus, MSTATUS_SIE
    la a1, 1f
    csrw sepc, a1
    sret
1:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U)
    CHECK_TRAP_MSTATUS(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE)
    /* sret executed in S-mode (TSR clear) returns to U */
    CASE(9)
    RESUME_AT(2f)
    li a1, MSTATUS_SPP
    csrc mstatus, a1
    la a1, 3f
    csrw sepc, a1
    ENTER_MODE(PRV_S, 1f)
1:  sret
    j fail
3:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_U)
    CHECK_TRAP_EPC(3b)
    /* and to S when SPP = S */
    CASE(10)
    RESUME_AT(2f)
    li a1, MSTATUS_SPP
    csrs mstatus, a1
    la a1, 3f
    csrw sepc, a1
    ENTER_MODE(PRV_S, 1f)
1:  sret
    j fail
3:  ecall
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ECALL_S)
    CHECK_TRAP_EPC(3b)
    /* (MPP is WARL and may never hold the reserved value 2, but QEMU 7.2 keeps any
     * value written, so that is not checked here.) */

RVTEST_END

    .text
    .option rvc
    CODE_ALIGN(4)
    c.nop
odd_target:
    .option norvc
    li a4, 0x66
    j odd_back
