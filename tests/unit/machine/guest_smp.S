/*
 * A bare-metal S-mode program for direct boot, run by test_machine_guest on the real soft
 * CPU: it exercises SBI (BASE, DBCN, legacy putchar, HSM, TIME, SRST), a UART register
 * write through the MMIO bus and the Sstc timer interrupt. On any mismatch it prints
 * "FAIL" and resets with "system failure" reason (a reboot, which the test reports).
 */
#define SBI_BASE 0x10
#define SBI_TIME 0x54494D45
#define SBI_HSM 0x48534D
#define SBI_SRST 0x53525354
#define SBI_DBCN 0x4442434E
#define MSG0_LEN 18 /* "hello from hart 0\n" */
#define MSG2_LEN 6  /* "timer\n" */

    .section .text.start, "ax"
    .globl _start
_start:
    bnez a0, secondary

    /* Hart 0: DBCN write of a greeting. */
    li a0, MSG0_LEN
    la a1, msg0
    li a2, 0
    li a6, 0
    li a7, SBI_DBCN
    ecall
    bnez a0, fail
    li t0, MSG0_LEN
    bne a1, t0, fail

    /* BASE: spec version 2.0. */
    li a6, 0
    li a7, SBI_BASE
    ecall
    li t0, 0x2000000
    bne a1, t0, fail

    /* HSM: start hart 1 at _start with opaque 0x1234, then wait for its flag. */
    li a0, 1
    la a1, _start
    li a2, 0x1234
    li a6, 0
    li a7, SBI_HSM
    ecall
    bnez a0, fail
1:  la t0, flag
    lw t1, 0(t0)
    beqz t1, 1b

    /* The UART's THR through the MMIO bus. */
    li t0, 0x10000000
    li t1, 'U'
    sb t1, 0(t0)
    li t1, '\n'
    sb t1, 0(t0)

    /* An Sstc timer interrupt ~100 us from now, through SBI TIME. */
    la t0, trap
    csrw stvec, t0
    rdtime a0
    addi a0, a0, 1000
    li a6, 0
    li a7, SBI_TIME
    ecall
    li t0, 0x20
    csrs sie, t0
    csrsi sstatus, 2
2:  wfi
    la t0, tflag
    lw t1, 0(t0)
    beqz t1, 2b

    li a0, MSG2_LEN
    la a1, msg2
    li a2, 0
    li a6, 0
    li a7, SBI_DBCN
    ecall

    /* Shutdown. */
    li a0, 0
    li a1, 0
    li a6, 0
    li a7, SBI_SRST
    ecall
    j fail

secondary:
    li t0, 1
    bne a0, t0, fail
    li t0, 0x1234
    bne a1, t0, fail
    la s0, msg1
3:  lbu a0, 0(s0)
    beqz a0, 4f
    li a7, 1 /* legacy console_putchar */
    ecall
    addi s0, s0, 1
    j 3b
4:  la t0, flag
    li t1, 1
    fence
    sw t1, 0(t0)
    li a6, 1
    li a7, SBI_HSM /* hart_stop: does not return */
    ecall
    j fail

    .align 4
trap:
    csrr t2, scause
    li t3, 0x8000000000000005
    bne t2, t3, fail
    li t3, 1
    la t2, tflag
    sw t3, 0(t2)
    li a0, -1 /* no further timer */
    li a6, 0
    li a7, SBI_TIME
    ecall
    sret

fail:
    li a0, 'F'
    li a7, 1
    ecall
    li a0, '\n'
    li a7, 1
    ecall
    li a0, 1 /* cold reboot, reason: system failure */
    li a1, 1
    li a6, 0
    li a7, SBI_SRST
    ecall
5:  j 5b

    .section .rodata
msg0: .ascii "hello from hart 0\n"
msg1: .asciz "hart 1\n"
msg2: .ascii "timer\n"

    .section .data
    .align 3
flag: .word 0
tflag: .word 0
