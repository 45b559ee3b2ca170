/*
 * rvasm.h — a few RISC-V instruction encoders for the hv unit tests, and a tiny guest
 * fixture (one VM, RAM at 0x80000000, the ACLINT at 0x2000000).
 *
 * Tests write their guest programs with these helpers so that they need no cross
 * toolchain; registers are set through the hv API rather than with li sequences.
 */
#ifndef COVE_TESTS_HV_RVASM_H
#define COVE_TESTS_HV_RVASM_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "hv/hv.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define ACLINT_BASE 0x2000000ull
#define MMIO_ADDR 0x10000000ull

enum { ZERO, RA, SP, GP, TP, T0, T1, T2, S0, S1, A0, A1, A2, A3, A4, A5, A6, A7,
       S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, T3, T4, T5, T6 };

static inline uint32_t rv_r(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd,
                            uint32_t op)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static inline uint32_t rv_i(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static inline uint32_t rv_s(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 31) << 7 | op;
}

static inline uint32_t rv_b(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}

static inline uint32_t rv_j(int32_t imm, uint32_t rd)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

#define ADDI(rd, rs1, imm) rv_i(imm, rs1, 0, rd, 0x13)
#define ADDIW(rd, rs1, imm) rv_i(imm, rs1, 0, rd, 0x1b)
#define SLLI(rd, rs1, sh) rv_i(sh, rs1, 1, rd, 0x13)
#define ADD(rd, rs1, rs2) rv_r(0, rs2, rs1, 0, rd, 0x33)
#define SUB(rd, rs1, rs2) rv_r(0x20, rs2, rs1, 0, rd, 0x33)
#define MUL(rd, rs1, rs2) rv_r(1, rs2, rs1, 0, rd, 0x33)
#define DIV(rd, rs1, rs2) rv_r(1, rs2, rs1, 4, rd, 0x33)
#define REM(rd, rs1, rs2) rv_r(1, rs2, rs1, 6, rd, 0x33)
#define LUI(rd, imm20) ((uint32_t)(imm20) << 12 | (rd) << 7 | 0x37)
#define LB(rd, rs1, imm) rv_i(imm, rs1, 0, rd, 0x03)
#define LH(rd, rs1, imm) rv_i(imm, rs1, 1, rd, 0x03)
#define LW(rd, rs1, imm) rv_i(imm, rs1, 2, rd, 0x03)
#define LD(rd, rs1, imm) rv_i(imm, rs1, 3, rd, 0x03)
#define LBU(rd, rs1, imm) rv_i(imm, rs1, 4, rd, 0x03)
#define LWU(rd, rs1, imm) rv_i(imm, rs1, 6, rd, 0x03)
#define SB(rs2, rs1, imm) rv_s(imm, rs2, rs1, 0, 0x23)
#define SH(rs2, rs1, imm) rv_s(imm, rs2, rs1, 1, 0x23)
#define SW(rs2, rs1, imm) rv_s(imm, rs2, rs1, 2, 0x23)
#define SD(rs2, rs1, imm) rv_s(imm, rs2, rs1, 3, 0x23)
#define FLW(rd, rs1, imm) rv_i(imm, rs1, 2, rd, 0x07)
#define FLD(rd, rs1, imm) rv_i(imm, rs1, 3, rd, 0x07)
#define FSD(rs2, rs1, imm) rv_s(imm, rs2, rs1, 3, 0x27)
#define BEQ(rs1, rs2, off) rv_b(off, rs2, rs1, 0)
#define BNE(rs1, rs2, off) rv_b(off, rs2, rs1, 1)
#define BLT(rs1, rs2, off) rv_b(off, rs2, rs1, 4)
#define JAL(rd, off) rv_j(off, rd)
#define JALR(rd, rs1, imm) rv_i(imm, rs1, 0, rd, 0x67)
#define CSRRW(rd, csr, rs1) rv_i((int32_t)(csr), rs1, 1, rd, 0x73)
#define CSRRS(rd, csr, rs1) rv_i((int32_t)(csr), rs1, 2, rd, 0x73)
#define CSRRC(rd, csr, rs1) rv_i((int32_t)(csr), rs1, 3, rd, 0x73)
#define CSRR(rd, csr) CSRRS(rd, csr, ZERO)
#define CSRW(csr, rs1) CSRRW(ZERO, csr, rs1)
#define CSRRSI(rd, csr, imm) rv_i((int32_t)(csr), imm, 6, rd, 0x73)
#define ECALL 0x00000073u
#define EBREAK 0x00100073u
#define MRET 0x30200073u
#define SRET 0x10200073u
#define WFI 0x10500073u
#define SFENCE_VMA 0x12000073u
#define FENCE 0x0ff0000fu
#define PAUSE 0x0100000fu /* Zihintpause: fence w, 0 */
#define NOP ADDI(ZERO, ZERO, 0)
#define AMO(f5, f3, rd, rs1, rs2) rv_r((f5) << 2, rs2, rs1, f3, rd, 0x2f)
#define LR_W(rd, rs1) AMO(0x02, 2, rd, rs1, 0)
#define SC_W(rd, rs1, rs2) AMO(0x03, 2, rd, rs1, rs2)
#define LR_D(rd, rs1) AMO(0x02, 3, rd, rs1, 0)
#define SC_D(rd, rs1, rs2) AMO(0x03, 3, rd, rs1, rs2)
#define AMOADD_W(rd, rs1, rs2) AMO(0x00, 2, rd, rs1, rs2)
#define AMOADD_D(rd, rs1, rs2) AMO(0x00, 3, rd, rs1, rs2)
#define AMOSWAP_W(rd, rs1, rs2) AMO(0x01, 2, rd, rs1, rs2)
#define AMOMAX_W(rd, rs1, rs2) AMO(0x14, 2, rd, rs1, rs2)
#define AMOMINU_D(rd, rs1, rs2) AMO(0x18, 3, rd, rs1, rs2)

/* A guest: one VM with RAM, a cursor for writing code. */
struct guest {
    hv_vm *vm;
    hv_vcpu *cpu[4];
    uint8_t *ram;
    uint64_t at; /* guest-physical address where the next instruction goes */
};

static inline int guest_init(struct guest *g, unsigned ncpus, bool sbi_exits)
{
    struct hv_vm_config cfg = { .max_vcpus = ncpus, .timebase_hz = 10000000,
                                .aclint_base = ACLINT_BASE, .sbi_exits = sbi_exits };
    memset(g, 0, sizeof(*g));
    g->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->ram == MAP_FAILED)
        return -1;
    if (hv_vm_create(&cfg, &g->vm) ||
        hv_vm_map(g->vm, g->ram, RAM_BASE, RAM_SIZE, HV_MEM_READ | HV_MEM_WRITE | HV_MEM_EXEC))
        return -1;
    for (unsigned i = 0; i < ncpus; i++) {
        if (hv_vcpu_create(g->vm, i, &g->cpu[i]) ||
            hv_vcpu_set_reg(g->cpu[i], HV_REG_PC, RAM_BASE))
            return -1;
    }
    g->at = RAM_BASE;
    return 0;
}

static inline void guest_fini(struct guest *g)
{
    for (unsigned i = 0; i < 4; i++)
        if (g->cpu[i])
            hv_vcpu_destroy(g->cpu[i]);
    if (g->vm)
        hv_vm_destroy(g->vm);
    if (g->ram && g->ram != MAP_FAILED)
        munmap(g->ram, RAM_SIZE);
}

static inline void *guest_ptr(struct guest *g, uint64_t gpa)
{
    return g->ram + (gpa - RAM_BASE);
}

static inline void emit(struct guest *g, uint32_t insn)
{
    memcpy(guest_ptr(g, g->at), &insn, 4);
    g->at += 4;
}

static inline void emit16(struct guest *g, uint16_t insn)
{
    memcpy(guest_ptr(g, g->at), &insn, 2);
    g->at += 2;
}

static inline uint64_t reg(hv_vcpu *c, unsigned id)
{
    uint64_t v = 0xbadbadbadull;
    hv_vcpu_get_reg(c, id, &v);
    return v;
}

#define CSR(n) HV_REG_CSR(n)

#endif
