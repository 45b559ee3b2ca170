/*
 * alu.h — instruction-field decoders and integer helpers shared by the executors
 * (exec.c: any instruction from its encoding; run.c: pre-decoded instructions).
 * Division follows the RISC-V rules: no traps, fixed results for /0 and overflow.
 */
#ifndef COVE_HV_SOFT_ALU_H
#define COVE_HV_SOFT_ALU_H

#include <stdint.h>

#define OPC_LOAD 0x03
#define OPC_LOAD_FP 0x07
#define OPC_MISC_MEM 0x0f
#define OPC_OP_IMM 0x13
#define OPC_AUIPC 0x17
#define OPC_OP_IMM_32 0x1b
#define OPC_STORE 0x23
#define OPC_STORE_FP 0x27
#define OPC_AMO 0x2f
#define OPC_OP 0x33
#define OPC_LUI 0x37
#define OPC_OP_32 0x3b
#define OPC_MADD 0x43
#define OPC_MSUB 0x47
#define OPC_NMSUB 0x4b
#define OPC_NMADD 0x4f
#define OPC_OP_FP 0x53
#define OPC_BRANCH 0x63
#define OPC_JALR 0x67
#define OPC_JAL 0x6f
#define OPC_SYSTEM 0x73

static inline int64_t imm_i(uint32_t insn)
{
    return (int64_t)(int32_t)insn >> 20;
}

static inline int64_t imm_s(uint32_t insn)
{
    return ((int64_t)(int32_t)(insn & 0xfe000000) >> 20) | ((insn >> 7) & 31);
}

static inline int64_t imm_b(uint32_t insn)
{
    return ((int64_t)(int32_t)(insn & 0x80000000) >> 19) | ((insn & 0x80) << 4) |
           ((insn >> 20) & 0x7e0) | ((insn >> 7) & 0x1e);
}

static inline int64_t imm_j(uint32_t insn)
{
    return ((int64_t)(int32_t)(insn & 0x80000000) >> 11) | (insn & 0xff000) |
           ((insn >> 9) & 0x800) | ((insn >> 20) & 0x7fe);
}

static inline uint64_t mulh(int64_t a, int64_t b)
{
    return (uint64_t)(((__int128)a * b) >> 64);
}

static inline uint64_t mulhu(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

static inline uint64_t mulhsu(int64_t a, uint64_t b)
{
    return (uint64_t)(((__int128)a * (unsigned __int128)b) >> 64);
}

static inline uint64_t div64(int64_t a, int64_t b)
{
    if (b == 0)
        return ~0ull;
    if (a == INT64_MIN && b == -1)
        return (uint64_t)a;
    return (uint64_t)(a / b);
}

static inline uint64_t rem64(int64_t a, int64_t b)
{
    if (b == 0)
        return (uint64_t)a;
    if (a == INT64_MIN && b == -1)
        return 0;
    return (uint64_t)(a % b);
}

static inline uint64_t sext32(uint64_t v)
{
    return (uint64_t)(int64_t)(int32_t)v;
}

static inline uint64_t divw(uint64_t a, uint64_t b)
{
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    if (sb == 0)
        return ~0ull;
    if (sa == INT32_MIN && sb == -1)
        return sext32((uint32_t)sa);
    return (uint64_t)(int64_t)(sa / sb);
}

static inline uint64_t remw(uint64_t a, uint64_t b)
{
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    if (sb == 0)
        return (uint64_t)(int64_t)sa;
    if (sa == INT32_MIN && sb == -1)
        return 0;
    return (uint64_t)(int64_t)(sa % sb);
}

#endif
