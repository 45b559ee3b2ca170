/*
 * int.c — integer-heavy user code, not one hot loop: a bitwise CRC-32 and an FNV-1a hash
 * over a 1 MiB buffer, qsort() of 200000 keys through a comparison function (indirect
 * calls), and a small bytecode interpreter (a switch dispatch, a register file in memory)
 * running a loop of mixed arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static uint32_t crc32_bitwise(const uint8_t *p, size_t n, uint32_t crc)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (n--)
        h = (h ^ *p++) * 0x100000001b3ull;
    return h;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

enum { I_LOADI, I_ADD, I_SUB, I_MUL, I_XOR, I_SHR, I_AND, I_DEC, I_JNZ, I_HALT };
struct bc {
    uint8_t op, a, b, c;
    int32_t imm;
};

static uint64_t interp(const struct bc *prog)
{
    uint64_t r[8] = { 0 };
    for (const struct bc *pc = prog;; pc++) {
        switch (pc->op) {
        case I_LOADI: r[pc->a] = (uint64_t)(int64_t)pc->imm; break;
        case I_ADD: r[pc->a] = r[pc->b] + r[pc->c]; break;
        case I_SUB: r[pc->a] = r[pc->b] - r[pc->c]; break;
        case I_MUL: r[pc->a] = r[pc->b] * r[pc->c]; break;
        case I_XOR: r[pc->a] = r[pc->b] ^ r[pc->c]; break;
        case I_SHR: r[pc->a] = r[pc->b] >> (pc->imm & 63); break;
        case I_AND: r[pc->a] = r[pc->b] & (uint64_t)(int64_t)pc->imm; break;
        case I_DEC: r[pc->a]--; break;
        case I_JNZ: if (r[pc->a]) pc += pc->imm - 1; break;
        case I_HALT: return r[1] ^ r[2];
        }
    }
}

int main(void)
{
    enum { BUF = 1 << 20, KEYS = 200000 };
    uint8_t *buf = malloc(BUF);
    uint32_t *keys = malloc(KEYS * sizeof(*keys));
    if (!buf || !keys)
        return 1;
    uint64_t s = 42, sum = 0;
    for (size_t i = 0; i < BUF; i++)
        buf[i] = (uint8_t)rnd64(&s);
    for (size_t i = 0; i < KEYS; i++)
        keys[i] = (uint32_t)rnd64(&s);
    static const struct bc prog[] = {
        { I_LOADI, 0, 0, 0, 300000 }, /* r0: loop count */
        { I_LOADI, 1, 0, 0, 1 },
        { I_LOADI, 2, 0, 0, 7 },
        { I_LOADI, 3, 0, 0, 0x9e37 },
        { I_MUL, 1, 1, 3, 0 },          /* loop: */
        { I_ADD, 2, 2, 1, 0 },
        { I_SHR, 4, 2, 0, 13 },
        { I_XOR, 1, 1, 4, 0 },
        { I_AND, 5, 1, 0, 0xffff },
        { I_SUB, 2, 2, 5, 0 },
        { I_DEC, 0, 0, 0, 0 },
        { I_JNZ, 0, 0, 0, -7 },
        { I_HALT, 0, 0, 0, 0 },
    };

    double t0 = now_ms();
    sum ^= crc32_bitwise(buf, BUF, 0);
    for (int i = 0; i < 4; i++)
        sum = sum * 31 + fnv1a(buf, BUF);
    qsort(keys, KEYS, sizeof(*keys), cmp_u32);
    for (size_t i = 0; i < KEYS; i += 997)
        sum = sum * 31 + keys[i];
    sum ^= interp(prog);
    report("int", t0, sum);
    return 0;
}
