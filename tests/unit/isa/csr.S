/* csr.S — Zicsr: csrrw/csrrs/csrrc and their immediate forms (old value returned, set/
 * clear masks, rs1 = x0 / uimm = 0 not writing), fflags/frm/fcsr aliasing, FS tracking,
 * sstatus as a view of mstatus, WARL fields, illegal CSR accesses (mtval = the insn). */
#include "macros.h"

RVTEST_BEGIN

    /* csrrw returns the old value, writes all 64 bits */
    TEST_CASE(1, a4, 0, li a1, 0x0123456789abcdef; csrw mscratch, x0; csrrw a4, mscratch, a1)
    TEST_CASE(2, a4, 0x0123456789abcdef, csrr a4, mscratch)
    /* csrrs / csrrc: old value, then or / and-not */
    TEST_CASE(3, a4, 0x0123456789abcdef, li a1, 0xf000000000000010; csrrs a4, mscratch, a1)
    TEST_CASE(4, a4, 0xf123456789abcdff, csrr a4, mscratch)
    TEST_CASE(5, a4, 0xf123456789abcdff, li a1, 0xff; csrrc a4, mscratch, a1)
    TEST_CASE(6, a4, 0xf123456789abcd00, csrr a4, mscratch)
    /* immediate forms: 5-bit zero-extended */
    TEST_CASE(7, a4, 0xf123456789abcd00, csrrwi a4, mscratch, 31)
    TEST_CASE(8, a4, 31, csrr a4, mscratch)
    TEST_CASE(9, a4, 31, csrrci a4, mscratch, 0x15)
    TEST_CASE(10, a4, 0x0a, csrrsi a4, mscratch, 0x10; csrr a4, mscratch; addi a4, a4, -0x10)
    /* rd == rs1 */
    TEST_CASE(11, a1, 0x1a, li a1, 0x55; csrrw a1, mscratch, a1)
    TEST_CASE(12, a4, 0x55, csrr a4, mscratch)
    /* csrrs/csrrc with rs1 = x0 and the immediate forms with 0 do not write: legal on
     * read-only CSRs */
    TEST_CASE(13, a4, 0, csrrs a4, mhartid, x0)
    TEST_CASE(14, a4, 0, csrrc a4, mhartid, x0)
    TEST_CASE(15, a4, 0, csrrsi a4, mhartid, 0)
    TEST_CASE(16, a4, 0, csrrci a4, mhartid, 0)
    /* csrw to a read-only CSR is illegal; mtval holds the instruction */
    CASE(17)
    RESUME_AT(2f)
1:  csrw mhartid, x0
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xf1401073)
    CHECK_TRAP_EPC(1b)
    /* csrrwi with rd = x0 still writes: also illegal */
    CASE(18)
    RESUME_AT(2f)
    csrrwi x0, mvendorid, 0
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xf1105073)
    /* a CSR number that does not exist */
    CASE(19)
    RESUME_AT(2f)
    csrr a4, 0x0ff
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x0ff02773)
    /* ... and an instruction that is not defined at all */
    CASE(20)
    RESUME_AT(2f)
    .word 0xfe000033              /* OP with a reserved funct7 */
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0xfe000033)

    /* misa: MXL = 2 (64-bit) and the GC extensions plus S and U */
    CASE(21)
    csrr a1, misa
    srli a4, a1, 62
    CHECK_REG(a4, 2)
    li a2, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20)
    and a4, a1, a2
    CHECK_REG(a4, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20))
    /* mhartid is the a0 the program started with (0) */
    TEST_CASE(22, a4, 0, csrr a4, mhartid)

    /* fcsr = frm << 5 | fflags; the three names alias one register */
    TEST_CASE(23, a4, 0, csrwi fcsr, 0; csrr a4, fcsr)
    TEST_CASE(24, a4, 0xff, li a1, 0xffffffff; csrw fcsr, a1; csrr a4, fcsr) /* bits 31:8 are zero */
    TEST_CASE(25, a4, 0x1f, csrr a4, fflags)
    TEST_CASE(26, a4, 0x7, csrr a4, frm)
    TEST_CASE(27, a4, 0x01, csrwi fcsr, 0; csrwi fflags, 0x1; csrwi frm, 0; csrr a4, fcsr)
    TEST_CASE(28, a4, 0x81, csrwi frm, 4; csrr a4, fcsr)
    TEST_CASE(29, a4, 0x81, li a1, 0xffffffffffffffe0; csrrs a4, fflags, a1; csrr a4, fcsr) /* fflags is 5 bits */
    TEST_CASE(30, a4, 0x4, csrrwi a4, frm, 2)
    TEST_CASE(31, a4, 0x41, csrr a4, fcsr)
    TEST_CASE(32, a4, 0x41, fscsr a4, x0; csrr a4, fcsr; addi a4, a4, 0x41)
    TEST_CASE(33, a4, 0x0, frflags a4)
    /* an FP flag raised by an instruction shows in fcsr */
    TEST_CASE(34, a4, 0x10, csrwi fcsr, 0; fmv.d.x fa0, x0; fdiv.d fa1, fa0, fa0; csrr a4, fcsr)

    /* writing FP state makes mstatus.FS Dirty, and SD summarizes it */
    CASE(35)
    li a1, MSTATUS_FS
    csrc mstatus, a1
    li a1, 1 << 13                /* Initial */
    csrs mstatus, a1
    csrwi fflags, 1
    csrr a2, mstatus
    li a1, MSTATUS_FS
    and a4, a2, a1
    CHECK_REG(a4, MSTATUS_FS)
    srli a4, a2, 63
    CHECK_REG(a4, 1)
    CASE(36)
    li a1, MSTATUS_FS
    csrc mstatus, a1
    li a1, 2 << 13                /* Clean */
    csrs mstatus, a1
    fmv.d.x fa0, x0               /* an FP register write */
    csrr a2, mstatus
    li a1, MSTATUS_FS
    and a4, a2, a1
    CHECK_REG(a4, MSTATUS_FS)
    /* FS = Off: FP instructions and the FP CSRs are illegal */
    CASE(37)
    li a1, MSTATUS_FS
    csrc mstatus, a1
    RESUME_AT(2f)
    fadd.d fa0, fa0, fa0
    j fail
2:  CHECK_TRAP(CAUSE_ILLEGAL_INSN, 0x02a57553)
    CASE(38)
    RESUME_AT(2f)
    csrr a4, fcsr
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ILLEGAL_INSN)
    CASE(39)
    RESUME_AT(2f)
    fld fa0, 0(sp)
    j fail
2:  CHECK_TRAP_CAUSE(CAUSE_ILLEGAL_INSN)
    li a1, 1 << 13
    csrs mstatus, a1

    /* sstatus is a restricted view of mstatus */
    CASE(40)
    csrci mstatus, MSTATUS_SIE
    csrsi sstatus, MSTATUS_SIE
    csrr a1, mstatus
    andi a4, a1, MSTATUS_SIE
    CHECK_REG(a4, MSTATUS_SIE)
    CASE(41)
    csrsi mstatus, MSTATUS_MIE    /* not visible, not writable through sstatus */
    csrr a1, sstatus
    andi a4, a1, MSTATUS_MIE
    CHECK_REG(a4, 0)
    li a2, MSTATUS_MIE
    csrc sstatus, a2
    csrr a1, mstatus
    andi a4, a1, MSTATUS_MIE
    CHECK_REG(a4, MSTATUS_MIE)
    csrci mstatus, MSTATUS_MIE | MSTATUS_SIE
    CASE(42)
    li a1, MSTATUS_SUM
    csrs sstatus, a1
    csrr a2, mstatus
    and a4, a2, a1
    CHECK_REG(a4, MSTATUS_SUM)
    csrc mstatus, a1
    csrr a2, sstatus
    and a4, a2, a1
    CHECK_REG(a4, 0)
    /* sscratch and mscratch are separate */
    TEST_CASE(43, a4, 0x55, li a1, 0x55; csrw mscratch, a1; li a1, 0x66; csrw sscratch, a1; csrr a4, mscratch)
    TEST_CASE(44, a4, 0x66, csrr a4, sscratch)

    /* the exception PCs and trap values hold full 64-bit values (mepc[0] reads zero
     * by the spec, but QEMU 7.2 keeps it, so bit 0 is left out here) */
    TEST_CASE(45, a4, 0xffffffff80001002, li a1, 0xffffffff80001002; csrw mepc, a1; csrr a4, mepc)
    TEST_CASE(46, a4, 0x0000004000001236, li a1, 0x0000004000001236; csrw sepc, a1; csrr a4, sepc)
    TEST_CASE(50, a4, 0xfedcba9876543210, li a1, 0xfedcba9876543210; csrw mtval, a1; csrr a4, mtval)
    TEST_CASE(51, a4, 0x0123456789abcdef, li a1, 0x0123456789abcdef; csrw stval, a1; csrr a4, stval)
    /* mstatus.UXL and SXL read 2 (64-bit) */
    CASE(47)
    csrr a1, mstatus
    srli a4, a1, 32
    andi a4, a4, 0xf
    CHECK_REG(a4, 0xa)
    /* satp: a write with an unsupported MODE has no effect at all */
    TEST_CASE(48, a4, 0, li a1, (15 << 60) | 0x1234; csrw satp, a1; csrr a4, satp)
    /* mtvec holds a direct-mode base */
    TEST_CASE(49, a4, 0x80000100, la a2, trap_vector; li a1, 0x80000100; csrw mtvec, a1; csrr a4, mtvec; csrw mtvec, a2)

RVTEST_END
