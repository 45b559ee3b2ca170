/*
 * macros.h — the frame of every ISA test program (assembled with the C preprocessor).
 *
 * A program starts in M-mode at 0x80000000 and reports through the SiFive test device
 * at 0x100000: 0x5555 when every case passed, (n << 16) | 0x3333 when case n failed.
 * QEMU's virt board turns the second into exit status n, so case numbers stay in
 * 1..254 (255 means "failed outside any case"; 0 would read as success).
 *
 * Registers: gp holds the current case number (TESTNUM); a4 is the result register of
 * the value macros and t2 the expected value; t0..t2 are scratch for the macros, so
 * the code under test should use a0..a7, s0..s11, t3..t6.
 *
 * Traps: the default M-mode handler records mcause, mtval, mepc and mstatus in
 * trap_info. If a resume address was armed (EXPECT_TRAP / RESUME_AT) it returns there
 * in M-mode with interrupts off (MPIE cleared), otherwise the case fails. A program
 * can point mtvec (or stvec) elsewhere for its own handlers.
 */
#ifndef ISA_MACROS_H
#define ISA_MACROS_H

#define TESTNUM gp

#define TEST_DEVICE 0x100000
#define TEST_PASS_CODE 0x5555
#define TEST_FAIL_CODE 0x3333

/* Unassigned physical addresses on QEMU virt. test_isa answers MMIO here with "nothing
 * answers" (hv's mmio.fault), so both harnesses raise access faults. */
#define NOTHING_HERE 0x7000000

#define ACLINT_MSIP 0x2000000
#define ACLINT_MTIMECMP 0x2004000
#define ACLINT_MTIME 0x200bff8

#define MSTATUS_SIE (1 << 1)
#define MSTATUS_MIE (1 << 3)
#define MSTATUS_SPIE (1 << 5)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_SPP (1 << 8)
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_FS (3 << 13)
#define MSTATUS_MPRV (1 << 17)
#define MSTATUS_SUM (1 << 18)
#define MSTATUS_MXR (1 << 19)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSN 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_ECALL_U 8
#define CAUSE_ECALL_S 9
#define CAUSE_ECALL_M 11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15
#define CAUSE_INTR (1 << 63)
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7

/* trap_info layout (bytes) */
#define TI_CAUSE 0
#define TI_TVAL 8
#define TI_EPC 16
#define TI_RESUME 24
#define TI_COUNT 32
#define TI_SAVE 40
#define TI_MSTATUS 48
#define TI_SIZE 64

#define NO_TRAP 0x7fff /* cause sentinel: nothing trapped since EXPECT_TRAP */

/* ---- program frame ---------------------------------------------------------------- */

/*
 * Aligns code. gas cannot pad to 4 with 32-bit nops after 16-bit code under
 * .option norvc (it silently leaves the label misaligned), so padding is done with RVC
 * enabled, where a c.nop can fill the odd halfword.
 */
#define CODE_ALIGN(bytes)                                                                 \
    .option push;                                                                         \
    .option rvc;                                                                          \
    .balign bytes;                                                                        \
    .option pop

/*
 * PMP: with no entry programmed, S and U mode may touch nothing, so one NAPOT entry
 * opens the whole address space. An implementation without PMP may trap on these CSRs;
 * mtvec points past them meanwhile so that such a trap just skips them.
 */
#define RVTEST_BEGIN                                                                      \
    .section .text.init;                                                                  \
    .option norvc;                                                                        \
    .option nopic;                                                                        \
    .globl _start;                                                                        \
_start:                                                                                   \
    la t0, 1f;                                                                            \
    csrw mtvec, t0;                                                                       \
    li t0, -1;                                                                            \
    csrw pmpaddr0, t0;                                                                    \
    li t0, 0x1f;                                                                          \
    csrw pmpcfg0, t0;                                                                     \
    CODE_ALIGN(4);                                                                        \
1:  la t0, trap_vector;                                                                   \
    csrw mtvec, t0;                                                                       \
    csrwi satp, 0;                                                                        \
    csrwi medeleg, 0;                                                                     \
    csrwi mideleg, 0;                                                                     \
    csrwi mie, 0;                                                                         \
    li t0, (1 << 13);                                                                     \
    csrs mstatus, t0;                                                                     \
    csrwi fcsr, 0;                                                                        \
    li TESTNUM, 0;                                                                        \
    j test_body;                                                                          \
    .section .text;                                                                       \
test_body:

#define RVTEST_END                                                                        \
    j pass;                                                                               \
    CODE_ALIGN(4);                                                                        \
pass:                                                                                     \
    li t0, TEST_DEVICE;                                                                   \
    li t1, TEST_PASS_CODE;                                                                \
    sw t1, 0(t0);                                                                         \
1:  j 1b;                                                                                 \
fail:                                                                                     \
    bnez TESTNUM, 2f;                                                                     \
    li TESTNUM, 255;                                                                      \
2:  li t0, TEST_DEVICE;                                                                   \
    slli t1, TESTNUM, 16;                                                                 \
    li t2, TEST_FAIL_CODE;                                                                \
    or t1, t1, t2;                                                                        \
    sw t1, 0(t0);                                                                         \
3:  j 3b;                                                                                 \
    CODE_ALIGN(4);                                                                        \
trap_vector:                                                                              \
    csrw mscratch, t6;                                                                    \
    la t6, trap_info;                                                                     \
    sd t5, TI_SAVE(t6);                                                                   \
    csrr t5, mcause;                                                                      \
    sd t5, TI_CAUSE(t6);                                                                  \
    csrr t5, mtval;                                                                       \
    sd t5, TI_TVAL(t6);                                                                   \
    csrr t5, mepc;                                                                        \
    sd t5, TI_EPC(t6);                                                                    \
    csrr t5, mstatus;                                                                     \
    sd t5, TI_MSTATUS(t6);                                                                \
    ld t5, TI_COUNT(t6);                                                                  \
    addi t5, t5, 1;                                                                       \
    sd t5, TI_COUNT(t6);                                                                  \
    ld t5, TI_RESUME(t6);                                                                 \
    beqz t5, fail;                                                                        \
    sd zero, TI_RESUME(t6);                                                               \
    csrw mepc, t5;                                                                        \
    li t5, MSTATUS_MPIE;                                                                  \
    csrc mstatus, t5;                                                                     \
    li t5, MSTATUS_MPP;                                                                   \
    csrs mstatus, t5;                                                                     \
    ld t5, TI_SAVE(t6);                                                                   \
    csrr t6, mscratch;                                                                    \
    mret;                                                                                 \
    .section .data;                                                                       \
    .align 3;                                                                             \
    .globl trap_info;                                                                     \
trap_info:                                                                                \
    .dword NO_TRAP, 0, 0, 0, 0, 0, 0, 0;                                                  \
    .section .text

/* ---- cases -------------------------------------------------------------------------- */

#define CASE(n)                                                                           \
    .if (n) < 1 || (n) > 254;                                                             \
    .error "case numbers must be in 1..254";                                              \
    .endif;                                                                               \
test_##n:                                                                                 \
    li TESTNUM, n

/* Fails the current case unless reg == val (full 64 bits). */
#define CHECK_REG(reg, val)                                                               \
    li t2, val;                                                                           \
    beq reg, t2, 9f;                                                                      \
    j fail;                                                                               \
9:

#define TEST_CASE(n, reg, val, ...)                                                       \
    CASE(n);                                                                              \
    __VA_ARGS__;                                                                          \
    CHECK_REG(reg, val)

/* a4 = a1 op a2 */
#define TEST_RR(n, inst, result, v1, v2)                                                  \
    TEST_CASE(n, a4, result, li a1, v1; li a2, v2; inst a4, a1, a2)

/* a4 = a1 op imm */
#define TEST_IMM(n, inst, result, v1, imm)                                                \
    TEST_CASE(n, a4, result, li a1, v1; inst a4, a1, imm)

/* the destination is also the first source */
#define TEST_RR_SRC1_EQ_DEST(n, inst, result, v1, v2)                                     \
    TEST_CASE(n, a1, result, li a1, v1; li a2, v2; inst a1, a1, a2)

/* x0 as destination stays zero */
#define TEST_RR_ZERODEST(n, inst, v1, v2)                                                 \
    TEST_CASE(n, x0, 0, li a1, v1; li a2, v2; inst x0, a1, a2)

/* ---- traps ---------------------------------------------------------------------------- */

/* Arms the default handler: the next trap records itself and resumes at label (M-mode). */
#define RESUME_AT(label)                                                                  \
    la t0, trap_info;                                                                     \
    la t1, label;                                                                         \
    sd t1, TI_RESUME(t0);                                                                 \
    li t1, NO_TRAP;                                                                       \
    sd t1, TI_CAUSE(t0)

/* Checks the last recorded trap: its cause and mtval. */
#define CHECK_TRAP(cause, tval)                                                           \
    la t0, trap_info;                                                                     \
    ld t1, TI_CAUSE(t0);                                                                  \
    CHECK_REG(t1, cause);                                                                 \
    la t0, trap_info;                                                                     \
    ld t1, TI_TVAL(t0);                                                                   \
    CHECK_REG(t1, tval)

#define CHECK_TRAP_CAUSE(cause)                                                           \
    la t0, trap_info;                                                                     \
    ld t1, TI_CAUSE(t0);                                                                  \
    CHECK_REG(t1, cause)

/* mtval of the last trap == reg (not t0..t2) */
#define CHECK_TVAL_REG(reg)                                                               \
    la t0, trap_info;                                                                     \
    ld t1, TI_TVAL(t0);                                                                   \
    beq t1, reg, 9f;                                                                      \
    j fail;                                                                               \
9:

#define CHECK_TRAP_EPC(label)                                                             \
    la t0, trap_info;                                                                     \
    ld t1, TI_EPC(t0);                                                                    \
    la t2, label;                                                                         \
    beq t1, t2, 9f;                                                                       \
    j fail;                                                                               \
9:

#define CHECK_TRAP_EPC_VAL(val)                                                           \
    la t0, trap_info;                                                                     \
    ld t1, TI_EPC(t0);                                                                    \
    CHECK_REG(t1, val)

/* Checks that nothing trapped since RESUME_AT, and disarms the handler. */
#define CHECK_NO_TRAP                                                                     \
    la t0, trap_info;                                                                     \
    sd zero, TI_RESUME(t0);                                                               \
    ld t1, TI_CAUSE(t0);                                                                  \
    CHECK_REG(t1, NO_TRAP)

/* The privilege the last trap came from (mstatus.MPP as the handler saw it). */
#define CHECK_TRAP_MPP(mode)                                                              \
    la t0, trap_info;                                                                     \
    ld t1, TI_MSTATUS(t0);                                                                \
    srli t1, t1, 11;                                                                      \
    andi t1, t1, 3;                                                                       \
    CHECK_REG(t1, mode)

/* Checks mstatus as the handler saw it: (mstatus & mask) == val */
#define CHECK_TRAP_MSTATUS(mask, val)                                                     \
    la t0, trap_info;                                                                     \
    ld t1, TI_MSTATUS(t0);                                                                \
    li t2, mask;                                                                          \
    and t1, t1, t2;                                                                       \
    CHECK_REG(t1, val)

/* Leaves M-mode for mode (PRV_U / PRV_S) at label; MPIE is cleared. */
#define ENTER_MODE(mode, label)                                                           \
    li t0, MSTATUS_MPP | MSTATUS_MPIE;                                                    \
    csrc mstatus, t0;                                                                     \
    li t0, (mode) << 11;                                                                  \
    csrs mstatus, t0;                                                                     \
    la t0, label;                                                                         \
    csrw mepc, t0;                                                                        \
    mret

/* ---- floating point ------------------------------------------------------------------- */
/*
 * Operands are raw bit patterns in fa0..fa2; the instruction (last, so that its commas
 * survive the preprocessor) writes fa3 (or a4 for the _INT forms). The full 64-bit
 * register is compared, so single results must come back NaN-boxed. fflags is cleared
 * before and compared after.
 */
#define FP_LOAD_D(v1, v2, v3)                                                             \
    li t0, v1;                                                                            \
    fmv.d.x fa0, t0;                                                                      \
    li t0, v2;                                                                            \
    fmv.d.x fa1, t0;                                                                      \
    li t0, v3;                                                                            \
    fmv.d.x fa2, t0

#define FP_LOAD_S(v1, v2, v3)                                                             \
    li t0, v1;                                                                            \
    fmv.w.x fa0, t0;                                                                      \
    li t0, v2;                                                                            \
    fmv.w.x fa1, t0;                                                                      \
    li t0, v3;                                                                            \
    fmv.w.x fa2, t0

#define CHECK_FLAGS(flags)                                                                \
    frflags a5;                                                                           \
    CHECK_REG(a5, flags)

#define TEST_FP_D(n, flags, result, v1, v2, v3, ...)                                      \
    CASE(n);                                                                              \
    FP_LOAD_D(v1, v2, v3);                                                                \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    fmv.x.d a4, fa3;                                                                      \
    CHECK_REG(a4, result)

#define TEST_FP_S(n, flags, result, v1, v2, v3, ...)                                      \
    CASE(n);                                                                              \
    FP_LOAD_S(v1, v2, v3);                                                                \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    fmv.x.d a4, fa3;                                                                      \
    CHECK_REG(a4, 0xffffffff00000000 | (result))

#define TEST_FP_D_INT(n, flags, result, v1, v2, ...)                                      \
    CASE(n);                                                                              \
    FP_LOAD_D(v1, v2, 0);                                                                 \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    CHECK_REG(a4, result)

#define TEST_FP_S_INT(n, flags, result, v1, v2, ...)                                      \
    CASE(n);                                                                              \
    FP_LOAD_S(v1, v2, 0);                                                                 \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    CHECK_REG(a4, result)

/* integer source in a1 -> fa3 */
#define TEST_INT_FP_D(n, flags, result, v1, ...)                                          \
    CASE(n);                                                                              \
    li a1, v1;                                                                            \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    fmv.x.d a4, fa3;                                                                      \
    CHECK_REG(a4, result)

#define TEST_INT_FP_S(n, flags, result, v1, ...)                                          \
    CASE(n);                                                                              \
    li a1, v1;                                                                            \
    fsflags x0;                                                                           \
    __VA_ARGS__;                                                                          \
    CHECK_FLAGS(flags);                                                                   \
    fmv.x.d a4, fa3;                                                                      \
    CHECK_REG(a4, 0xffffffff00000000 | (result))

#define FFLAG_NX 1
#define FFLAG_UF 2
#define FFLAG_OF 4
#define FFLAG_DZ 8
#define FFLAG_NV 16

#endif
