/*
 * rvc.c — expansion of RV64C compressed instructions to their 32-bit equivalents, so
 * that one executor handles both. Reserved encodings expand to 0, which is illegal.
 */
#include <stdlib.h>

#include "hv/soft/soft.h"

#define BIT(x, n) (((x) >> (n)) & 1u)
#define BITS(x, hi, lo) (((x) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

static uint32_t enc_i(uint32_t op, uint32_t rd, uint32_t f3, uint32_t rs1, int32_t imm)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_s(uint32_t op, uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 31) << 7 | op;
}

static uint32_t enc_r(uint32_t op, uint32_t rd, uint32_t f3, uint32_t rs1, uint32_t rs2,
                      uint32_t f7)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_b(uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return BIT(u, 12) << 31 | BITS(u, 10, 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           BITS(u, 4, 1) << 8 | BIT(u, 11) << 7 | 0x63;
}

static uint32_t enc_j(uint32_t rd, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return BIT(u, 20) << 31 | BITS(u, 10, 1) << 21 | BIT(u, 11) << 20 | BITS(u, 19, 12) << 12 |
           rd << 7 | 0x6f;
}

static int32_t sext(uint32_t v, unsigned bits)
{
    return (int32_t)(v << (32 - bits)) >> (32 - bits);
}

static uint32_t quadrant0(uint32_t c)
{
    uint32_t rd = 8 + BITS(c, 4, 2), rs1 = 8 + BITS(c, 9, 7);
    uint32_t uw = BITS(c, 12, 10) << 3 | BIT(c, 6) << 2 | BIT(c, 5) << 6; /* lw/sw/flw */
    uint32_t ud = BITS(c, 12, 10) << 3 | BITS(c, 6, 5) << 6;              /* ld/sd/fld */
    switch (BITS(c, 15, 13)) {
    case 0: {
        uint32_t imm = BITS(c, 12, 11) << 4 | BITS(c, 10, 7) << 6 | BIT(c, 6) << 2 |
                       BIT(c, 5) << 3;
        return imm ? enc_i(0x13, rd, 0, 2, (int32_t)imm) : 0;
    }
    case 1: return enc_i(0x07, rd, 3, rs1, (int32_t)ud);
    case 2: return enc_i(0x03, rd, 2, rs1, (int32_t)uw);
    case 3: return enc_i(0x03, rd, 3, rs1, (int32_t)ud);
    case 5: return enc_s(0x27, 3, rs1, rd, (int32_t)ud);
    case 6: return enc_s(0x23, 2, rs1, rd, (int32_t)uw);
    case 7: return enc_s(0x23, 3, rs1, rd, (int32_t)ud);
    }
    return 0;
}

static uint32_t misc_alu(uint32_t c)
{
    uint32_t rd = 8 + BITS(c, 9, 7), rs2 = 8 + BITS(c, 4, 2);
    uint32_t shamt = BIT(c, 12) << 5 | BITS(c, 6, 2);
    switch (BITS(c, 11, 10)) {
    case 0: return enc_i(0x13, rd, 5, rd, (int32_t)shamt);
    case 1: return enc_i(0x13, rd, 5, rd, (int32_t)(shamt | 0x400));
    case 2: return enc_i(0x13, rd, 7, rd, sext(shamt, 6));
    }
    static const uint32_t f3[4] = { 0, 4, 6, 7 };
    unsigned k = BITS(c, 6, 5);
    if (!BIT(c, 12))
        return enc_r(0x33, rd, f3[k], rd, rs2, k == 0 ? 0x20 : 0);
    if (k == 0)
        return enc_r(0x3b, rd, 0, rd, rs2, 0x20); /* subw */
    if (k == 1)
        return enc_r(0x3b, rd, 0, rd, rs2, 0); /* addw */
    return 0;
}

static uint32_t quadrant1(uint32_t c)
{
    uint32_t rd = BITS(c, 11, 7), rs1c = 8 + BITS(c, 9, 7);
    int32_t imm6 = sext(BIT(c, 12) << 5 | BITS(c, 6, 2), 6);
    switch (BITS(c, 15, 13)) {
    case 0: return enc_i(0x13, rd, 0, rd, imm6);
    case 1: return rd ? enc_i(0x1b, rd, 0, rd, imm6) : 0;
    case 2: return enc_i(0x13, rd, 0, 0, imm6);
    case 3:
        if (rd == 2) {
            int32_t imm = sext(BIT(c, 12) << 9 | BIT(c, 6) << 4 | BIT(c, 5) << 6 |
                                   BITS(c, 4, 3) << 7 | BIT(c, 2) << 5, 10);
            return imm ? enc_i(0x13, 2, 0, 2, imm) : 0;
        }
        return imm6 ? ((uint32_t)imm6 << 12) | rd << 7 | 0x37 : 0;
    case 4: return misc_alu(c);
    case 5: {
        int32_t imm = sext(BIT(c, 12) << 11 | BIT(c, 11) << 4 | BITS(c, 10, 9) << 8 |
                               BIT(c, 8) << 10 | BIT(c, 7) << 6 | BIT(c, 6) << 7 |
                               BITS(c, 5, 3) << 1 | BIT(c, 2) << 5, 12);
        return enc_j(0, imm);
    }
    default: {
        int32_t imm = sext(BIT(c, 12) << 8 | BITS(c, 11, 10) << 3 | BITS(c, 6, 5) << 6 |
                               BITS(c, 4, 3) << 1 | BIT(c, 2) << 5, 9);
        return enc_b(BITS(c, 15, 13) == 6 ? 0 : 1, rs1c, 0, imm);
    }
    }
}

static uint32_t quadrant2(uint32_t c)
{
    uint32_t rd = BITS(c, 11, 7), rs2 = BITS(c, 6, 2);
    uint32_t lw = BIT(c, 12) << 5 | BITS(c, 6, 4) << 2 | BITS(c, 3, 2) << 6;
    uint32_t ld = BIT(c, 12) << 5 | BITS(c, 6, 5) << 3 | BITS(c, 4, 2) << 6;
    uint32_t sw = BITS(c, 12, 9) << 2 | BITS(c, 8, 7) << 6;
    uint32_t sd = BITS(c, 12, 10) << 3 | BITS(c, 9, 7) << 6;
    switch (BITS(c, 15, 13)) {
    case 0: return enc_i(0x13, rd, 1, rd, (int32_t)(BIT(c, 12) << 5 | rs2));
    case 1: return enc_i(0x07, rd, 3, 2, (int32_t)ld);
    case 2: return rd ? enc_i(0x03, rd, 2, 2, (int32_t)lw) : 0;
    case 3: return rd ? enc_i(0x03, rd, 3, 2, (int32_t)ld) : 0;
    case 4:
        if (!BIT(c, 12)) {
            if (rs2)
                return enc_r(0x33, rd, 0, 0, rs2, 0); /* c.mv */
            return rd ? enc_i(0x67, 0, 0, rd, 0) : 0; /* c.jr */
        }
        if (rs2)
            return enc_r(0x33, rd, 0, rd, rs2, 0); /* c.add */
        return rd ? enc_i(0x67, 1, 0, rd, 0) : 0x00100073; /* c.jalr, c.ebreak */
    case 5: return enc_s(0x27, 3, 2, rs2, (int32_t)sd);
    case 6: return enc_s(0x23, 2, 2, rs2, (int32_t)sw);
    default: return enc_s(0x23, 3, 2, rs2, (int32_t)sd);
    }
}

uint32_t rvc_expand(uint16_t insn)
{
    uint32_t c = insn;
    switch (c & 3) {
    case 0: return quadrant0(c);
    case 1: return quadrant1(c);
    case 2: return quadrant2(c);
    }
    return 0;
}

/* The expansion is a pure function of 16 bits: a 256 KiB table makes it one load. */
uint32_t *rvc_table_create(void)
{
    uint32_t *t = malloc(65536 * sizeof(*t));
    if (!t)
        return NULL;
    for (uint32_t c = 0; c < 65536; c++)
        t[c] = (c & 3) == 3 ? 0 : rvc_expand((uint16_t)c);
    return t;
}
