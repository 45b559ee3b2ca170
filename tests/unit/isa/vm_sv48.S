/* vm_sv48.S — Sv48: the four-level walk with 4 KiB pages, 1 GiB and 512 GiB
 * superpages, a misaligned 512 GiB page, addresses that only Sv48 can reach, the
 * 48-bit canonical rule, page faults with mtval, U pages and A/D updates. */
#include "macros.h"
#include "vm.h"

#define USER_ALIAS 0xc0000000       /* a U gigapage of RAM at l2[3] */
#define VA_4K 0x40000000
#define TERA 0x8000000000           /* root[1]: 512 GiB at PA 0 */
#define TERA_BAD 0x10000000000      /* root[2]: PA not 512 GiB aligned */
#define P0_VAL 0x0b0b0b0b0b0b0b0b
#define P1_VAL 0x1212121212121212

RVTEST_BEGIN

    la a1, page0
    li a2, P0_VAL
    sd a2, 0(a1)
    la a1, page1
    li a2, P1_VAL
    sd a2, 0(a1)

    PTE_TO(root, 0, l2, PTE_V)
    PTE_PA(root, 1, 0, PTE_RW_AD)
    PTE_PA(root, 2, 0x40000000, PTE_RW_AD)
    PTE_TO(l2, 1, l1, PTE_V)
    PTE_PA(l2, 2, 0x80000000, PTE_RWX_AD)
    PTE_PA(l2, 3, 0x80000000, PTE_RWX_AD | PTE_U)
    PTE_TO(l1, 0, l0, PTE_V)
    PTE_TO(l0, 0, page0, PTE_RW_AD)
    PTE_TO(l0, 1, page1, PTE_V | PTE_R | PTE_W)          /* A, D clear */
    PTE_TO(l0, 2, page0, PTE_V | PTE_R | PTE_A)          /* read-only */
    PTE_TO(l0, 3, vm_code, PTE_V | PTE_X | PTE_A)

    CASE(1)
    SET_SATP(SATP_SV48, root)
    csrr a4, satp
    srli a4, a4, 60
    CHECK_REG(a4, 9)

    /* 4 KiB page through four levels */
    CASE(2)
    IN_S(li a1, VA_4K; ld a4, 0(a1))
    CHECK_OK_FROM(PRV_S)
    CHECK_REG(a4, P0_VAL)
    /* 512 GiB page: RAM at TERA + 0x80000000, beyond Sv39's reach */
    CASE(3)
    IN_S(ALIAS(a1, TERA + 0x80000000, page1); ld a4, 0(a1))
    CHECK_OK_FROM(PRV_S)
    CHECK_REG(a4, P1_VAL)
    CASE(4)
    IN_S(ALIAS(a1, TERA + 0x80000000, page1); li a2, 0x77; sd a2, 8(a1))
    CHECK_OK_FROM(PRV_S)
    la a1, page1
    ld a4, 8(a1)
    CHECK_REG(a4, 0x77)
    /* misaligned 512 GiB page */
    CASE(5)
    IN_S(li a1, TERA_BAD + 0x40; ld a4, 0(a1))
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, TERA_BAD + 0x40)
    /* execute through a 4 KiB execute-only page */
    CASE(6)
    IN_S(li a1, VA_4K + 0x3000; jalr a1)
    CHECK_OK_FROM(PRV_S)
    CHECK_REG(a4, 0x4848)
    /* store to a read-only page, fetch from a non-executable one */
    CASE(7)
    IN_S(li a1, VA_4K + 0x2000; sw a1, 4(a1))
    CHECK_FAULT(CAUSE_STORE_PAGE_FAULT, VA_4K + 0x2004)
    CASE(8)
    IN_S(li a1, VA_4K + 0x2000; jalr a1)
    CHECK_FAULT(CAUSE_FETCH_PAGE_FAULT, VA_4K + 0x2000)
    /* an unmapped slot at each level */
    CASE(9)
    IN_S(li a1, VA_4K + 0x5000; ld a4, 0(a1))                /* l0[5] */
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, VA_4K + 0x5000)
    CASE(10)
    IN_S(li a1, 0x100000000; ld a4, 0(a1))                   /* l2[4] */
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, 0x100000000)
    CASE(11)
    IN_S(li a1, 0x18000000000; sd a4, 0(a1))                 /* root[3] */
    CHECK_FAULT(CAUSE_STORE_PAGE_FAULT, 0x18000000000)
    /* canonical: bits 63..48 equal bit 47 */
    CASE(12)
    IN_S(li a1, 0x0000800000000000; ld a4, 0(a1))
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, 0x0000800000000000)
    CASE(13)
    IN_S(li a1, 0xffff800000000000; ld a4, 0(a1))            /* canonical, root[256] unmapped */
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, 0xffff800000000000)

    /* A/D on a 4 KiB leaf */
    CASE(14)
    IN_S(li a1, VA_4K + 0x1000; ld a4, 0(a1))
    CHECK_OK_FROM(PRV_S)
    CHECK_REG(a4, P1_VAL)
    PTE_READ(l0, 1)
    andi a4, a4, PTE_A | PTE_D
    CHECK_REG(a4, PTE_A)
    CASE(15)
    IN_S(li a1, VA_4K + 0x1000; sd a1, 0(a1))
    CHECK_OK_FROM(PRV_S)
    PTE_READ(l0, 1)
    andi a4, a4, PTE_A | PTE_D
    CHECK_REG(a4, PTE_A | PTE_D)

    /* U-mode: its gigapage works, S pages fault */
    CASE(16)
    IN_U(la a1, page0; ld a4, 0(a1))
    CHECK_OK_FROM(PRV_U)
    CHECK_REG(a4, P0_VAL)
    CASE(17)
    IN_U(li a1, VA_4K; ld a4, 0(a1))
    CHECK_FAULT(CAUSE_LOAD_PAGE_FAULT, VA_4K)

    /* switching Sv48 -> Sv39 with the same root: root[1] is now out of range */
    CASE(18)
    SET_SATP(SATP_SV39, l2)
    IN_S(li a1, VA_4K; ld a4, 0(a1))
    CHECK_OK_FROM(PRV_S)
    CHECK_REG(a4, P0_VAL)
    CASE(19)
    IN_S(ALIAS(a1, TERA + 0x80000000, page1); ld a4, 0(a1))
    CHECK_TRAP_CAUSE(CAUSE_LOAD_PAGE_FAULT)
    csrw satp, zero
    sfence.vma

RVTEST_END

    .text
    CODE_ALIGN(4096)
vm_code:
    li a4, 0x4848
    ret
    CODE_ALIGN(4096)

    .bss
    CODE_ALIGN(4096)
root:
    .skip 4096
l2:
    .skip 4096
l1:
    .skip 4096
l0:
    .skip 4096
page0:
    .skip 4096
page1:
    .skip 4096
