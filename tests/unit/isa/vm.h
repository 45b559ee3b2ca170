/*
 * vm.h — page-table helpers shared by the paging tests (vm_sv39.S, vm_sv48.S).
 * Tables are built at run time in M-mode; every test access runs in S or U mode and a
 * page fault lands in the default M-mode handler, which records cause and mtval.
 */
#ifndef ISA_VM_H
#define ISA_VM_H

#define PTE_V 0x01
#define PTE_R 0x02
#define PTE_W 0x04
#define PTE_X 0x08
#define PTE_U 0x10
#define PTE_G 0x20
#define PTE_A 0x40
#define PTE_D 0x80
#define PTE_RWX_AD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define PTE_RW_AD (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)

/* table[index] = leaf or pointer to a constant physical address */
#define PTE_PA(table, index, pa, flags)                                                   \
    la a1, table;                                                                         \
    li a2, (((pa) >> 12) << 10) | (flags);                                                \
    li a3, (index) * 8;                                                                   \
    add a1, a1, a3;                                                                       \
    sd a2, 0(a1)

/* table[index] = leaf or pointer to the physical address of a label */
#define PTE_TO(table, index, label, flags)                                                \
    la a1, table;                                                                         \
    la a2, label;                                                                         \
    srli a2, a2, 12;                                                                      \
    slli a2, a2, 10;                                                                      \
    ori a2, a2, flags;                                                                    \
    li a3, (index) * 8;                                                                   \
    add a1, a1, a3;                                                                       \
    sd a2, 0(a1)

/* a4 = table[index] */
#define PTE_READ(table, index)                                                            \
    la a1, table;                                                                         \
    li a3, (index) * 8;                                                                   \
    add a1, a1, a3;                                                                       \
    ld a4, 0(a1)

#define SET_SATP(mode, root)                                                              \
    la a1, root;                                                                          \
    srli a1, a1, 12;                                                                      \
    li a2, mode;                                                                          \
    or a1, a1, a2;                                                                        \
    csrw satp, a1;                                                                        \
    sfence.vma

/* reg = the address of label in a superpage alias at base that maps RAM */
#define ALIAS(reg, base, label)                                                           \
    la reg, label;                                                                        \
    li t0, (base) - 0x80000000;                                                           \
    add reg, reg, t0

/* Enters U-mode at label's alias in the user gigapage at USER_ALIAS. */
#define ENTER_USER_ALIAS(label)                                                           \
    li t0, MSTATUS_MPP | MSTATUS_MPIE;                                                    \
    csrc mstatus, t0;                                                                     \
    la t0, label;                                                                         \
    li t1, USER_ALIAS - 0x80000000;                                                       \
    add t0, t0, t1;                                                                       \
    csrw mepc, t0;                                                                        \
    mret

/* Runs code in S-mode, then comes back by ecall: a fault instead leaves its cause */
#define IN_S(...)                                                                         \
    RESUME_AT(2f);                                                                        \
    ENTER_MODE(PRV_S, 1f);                                                                \
1:  __VA_ARGS__;                                                                          \
    ecall;                                                                                \
2:

#define IN_U(...)                                                                         \
    RESUME_AT(2f);                                                                        \
    ENTER_USER_ALIAS(1f);                                                                 \
1:  __VA_ARGS__;                                                                          \
    ecall;                                                                                \
2:

/* checks a fault: cause and stval (mtval here) */
#define CHECK_FAULT(cause, va)                                                            \
    CHECK_TRAP(cause, va)

#define CHECK_OK_FROM(mode)                                                               \
    CHECK_TRAP_CAUSE(CAUSE_ECALL_U + (mode))

#endif
