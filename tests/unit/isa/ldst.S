/* ldst.S — loads and stores of every width: sign and zero extension, offsets (positive
 * and negative), store widths not touching neighbours, store-to-load forwarding. */
#include "macros.h"

#define TEST_LD(n, inst, result, off, base)                                               \
    TEST_CASE(n, a4, result, la a1, base; inst a4, off(a1))

/* store v at off(base) with inst, reload the dword around it */
#define TEST_ST(n, sinst, dword, v, off, base)                                            \
    TEST_CASE(n, a4, dword, la a1, base; li a2, v; sinst a2, off(a1); ld a4, 0(a1))

RVTEST_BEGIN

    /* src: 0x8877665544332211, 0x00ff7f80ff00807f */
    TEST_LD(1, lb, 0x0000000000000011, 0, src)
    TEST_LD(2, lb, 0xffffffffffffff88, 7, src)
    TEST_LD(3, lbu, 0x0000000000000088, 7, src)
    TEST_LD(4, lb, 0x000000000000007f, 8, src)
    TEST_LD(5, lb, 0xffffffffffffff80, 9, src)
    TEST_LD(6, lh, 0x0000000000002211, 0, src)
    TEST_LD(7, lh, 0xffffffffffff8877, 6, src)
    TEST_LD(8, lhu, 0x0000000000008877, 6, src)
    TEST_LD(9, lh, 0xffffffffffff807f, 8, src)
    TEST_LD(10, lw, 0x0000000044332211, 0, src)
    TEST_LD(11, lw, 0xffffffff88776655, 4, src)
    TEST_LD(12, lwu, 0x0000000088776655, 4, src)
    TEST_LD(13, lw, 0xffffffffff00807f, 8, src)
    TEST_LD(14, lwu, 0x00000000ff00807f, 8, src)
    TEST_LD(15, ld, 0x8877665544332211, 0, src)
    TEST_LD(16, ld, 0x00ff7f80ff00807f, 8, src)
    /* negative offsets */
    TEST_LD(17, lb, 0x000000000000007f, -8, src + 16)
    TEST_LD(18, lhu, 0x000000000000ff00, -6, src + 16)
    TEST_LD(19, lw, 0x0000000000ff7f80, -4, src + 16)
    TEST_LD(20, ld, 0x8877665544332211, -16, src + 16)
    TEST_LD(21, lbu, 0x0000000000000022, -2047, src + 2048)
    TEST_LD(22, lhu, 0x0000000000007766, 2045, src - 2040)

    /* stores: each width leaves the rest of the dword alone */
    TEST_CASE(23, a4, 0, la a1, dst; sd zero, 0(a1); ld a4, 0(a1))
    TEST_ST(24, sb, 0x00000000000000aa, 0xffffffffffffffaa, 0, dst)
    TEST_ST(25, sb, 0xbb000000000000aa, 0x12345678abcdefbb, 7, dst)
    TEST_ST(26, sh, 0xbb000000cafe00aa, 0xcafe, 2, dst)
    TEST_ST(27, sw, 0xdeadbeefcafe00aa, 0x11111111deadbeef, 4, dst)
    TEST_ST(28, sw, 0xdeadbeef87654321, 0x87654321, 0, dst)
    TEST_ST(29, sd, 0x0123456789abcdef, 0x0123456789abcdef, 0, dst)
    TEST_ST(30, sh, 0x0123456789ab8000, 0xffff8000, 0, dst)
    TEST_CASE(31, a4, 0xffffffffffff8000, la a1, dst; lh a4, 0(a1))
    TEST_CASE(32, a4, 0x0000000089ab8000, la a1, dst; lwu a4, 0(a1))
    TEST_CASE(33, a4, 0xffffffff89ab8000, la a1, dst; lw a4, 0(a1))
    /* negative store offset */
    TEST_CASE(34, a4, 0x00000000000055aa,
              la a1, dst + 2048; li a2, 0x55aa; sd a2, -2040(a1); ld a4, 8(a1); la a1, dst + 8; ld a4, 0(a1))
    /* load into x0 is discarded; the destination may be the base register */
    TEST_CASE(35, x0, 0, la a1, src; ld x0, 0(a1))
    TEST_CASE(36, a1, 0x8877665544332211, la a1, src; ld a1, 0(a1))
    /* store the base register to its own address */
    TEST_CASE(37, a4, 0, la a1, dst + 16; sd a1, 0(a1); ld a2, 0(a1); sub a4, a2, a1)
    /* back-to-back: write bytes then read the word */
    TEST_CASE(38, a4, 0x0000000004030201,
              la a1, dst + 24; li a2, 1; sb a2, 0(a1); li a2, 2; sb a2, 1(a1);
              li a2, 3; sb a2, 2(a1); li a2, 4; sb a2, 3(a1); lwu a4, 0(a1))
    /* a word write across a page-aligned buffer's last bytes and first of the next */
    TEST_CASE(39, a4, 0x1122334455667788,
              la a1, pagebuf + 4096 - 8; li a2, 0x1122334455667788; sd a2, 0(a1); ld a4, 0(a1))
    TEST_CASE(40, a4, 0x99,
              la a1, pagebuf + 4096; li a2, 0x99; sb a2, 0(a1); lbu a4, 0(a1))
    /* a store to code-adjacent data is visible to a later load of the same address */
    TEST_CASE(41, a4, 0xfffffffffffff00f,
              la a1, dst; li a2, -4081; sh a2, 0(a1); lh a4, 0(a1))

RVTEST_END

    .data
    .align 3
src:
    .dword 0x8877665544332211, 0x00ff7f80ff00807f
dst:
    .dword 0, 0, 0, 0

    .bss
    CODE_ALIGN(4096)
pagebuf:
    .skip 8192
