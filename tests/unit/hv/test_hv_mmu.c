/*
 * test_hv_mmu.c — Sv39/Sv48 translation through the hv API: hardware A/D updates,
 * page-fault causes and tval, superpage alignment, SUM, sfence.vma.
 */
#include <unistd.h>

#include "../test.h"
#include "rvasm.h"

#define PTE_V 1u
#define PTE_R 2u
#define PTE_W 4u
#define PTE_X 8u
#define PTE_U 16u
#define PTE_A 64u
#define PTE_D 128u

#define ROOT (RAM_BASE + 0x10000)
#define L1 (RAM_BASE + 0x11000)
#define L0 (RAM_BASE + 0x12000)
#define ROOT48 (RAM_BASE + 0x13000)
#define PAGE0 (RAM_BASE + 0x20000)
#define PAGE1 (RAM_BASE + 0x21000)
#define PAGE2 (RAM_BASE + 0x22000)
#define VA0 0x40000000ull
#define HANDLER (RAM_BASE + 0x2000)

static uint64_t pte(uint64_t pa, unsigned flags)
{
    return (pa >> 12) << 10 | flags;
}

static uint64_t *table(struct guest *g, uint64_t pa)
{
    return guest_ptr(g, pa);
}

static struct hv_exit run(hv_vcpu *c)
{
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    CHECK(hv_vcpu_run(c, &ex) == 0);
    return ex;
}

static uint64_t expect_store(hv_vcpu *c)
{
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    return ex.mmio.data;
}

static void build_tables(struct guest *g)
{
    uint64_t *root = table(g, ROOT), *l1 = table(g, L1), *l0 = table(g, L0);
    root[0] = pte(0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);           /* MMIO, 1 GiB */
    root[1] = pte(L1, PTE_V);
    root[2] = pte(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D); /* code */
    root[3] = pte(RAM_BASE + 0x1000, PTE_V | PTE_R | PTE_A);         /* misaligned giga */
    l1[0] = pte(L0, PTE_V);
    l0[0] = pte(PAGE0, PTE_V | PTE_R | PTE_W);                       /* no A, no D */
    l0[1] = pte(PAGE1, PTE_V | PTE_R | PTE_A);                       /* read-only */
    l0[3] = pte(PAGE2, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_U); /* user page */
    table(g, ROOT48)[0] = pte(ROOT, PTE_V);
    *(uint64_t *)guest_ptr(g, PAGE0) = 0x1234;
    *(uint64_t *)guest_ptr(g, PAGE1) = 0x5678;
    *(uint64_t *)guest_ptr(g, PAGE2) = 0x9abc;
}

/* S-mode handler: report scause and stval, skip the faulting instruction. */
static void emit_handler(struct guest *g)
{
    g->at = HANDLER;
    emit(g, CSRR(T0, 0x142));
    emit(g, SD(T0, S11, 0));
    emit(g, CSRR(T0, 0x143));
    emit(g, SD(T0, S11, 0));
    emit(g, CSRR(T0, 0x141));
    emit(g, ADDI(T0, T0, 4));
    emit(g, CSRR(T3, 0x142));
    emit(g, ADDI(T3, T3, -12));
    emit(g, BNE(T3, ZERO, 8));
    emit(g, ADDI(T0, RA, 0)); /* a fetch fault returns to the caller */
    emit(g, CSRW(0x141, T0));
    emit(g, SRET);
}

static void paging_program(struct guest *g, hv_vcpu *c, uint64_t satp)
{
    build_tables(g);
    emit_handler(g);
    hv_vcpu_set_reg(c, CSR(0x302), (1u << 12) | (1u << 13) | (1u << 15)); /* page faults */
    hv_vcpu_set_reg(c, CSR(0x105), HANDLER);
    hv_vcpu_set_reg(c, CSR(0x180), satp);
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), VA0);
    hv_vcpu_set_reg(c, HV_REG_X(A1), VA0 + 0x1000);
    hv_vcpu_set_reg(c, HV_REG_X(A2), VA0 + 0x2000);
    hv_vcpu_set_reg(c, HV_REG_X(A3), 0xc0000000ull);
    hv_vcpu_set_reg(c, HV_REG_X(A4), VA0 + 0x3000);
    hv_vcpu_set_reg(c, HV_REG_X(A5), 0x0000100000000000ull); /* non-canonical in Sv39 */
    g->at = RAM_BASE;
    emit(g, LD(T1, A0, 0));
    emit(g, SD(T1, S11, 0));    /* 0x1234 */
    emit(g, SD(T1, A0, 8));
    emit(g, SD(T1, S11, 0));    /* marker after the store */
    emit(g, SD(T1, A1, 0));     /* store to read-only: 15 */
    emit(g, LD(T1, A2, 0));     /* unmapped: 13 */
    emit(g, LD(T1, A3, 0));     /* misaligned superpage: 13 */
    emit(g, LD(T1, A4, 0));     /* user page, SUM = 0: 13 */
    emit(g, CSRRSI(ZERO, 0x100, 0));
    emit(g, LUI(T2, 0x40));     /* 1 << 18: SUM */
    emit(g, CSRRS(ZERO, 0x100, T2));
    emit(g, LD(T1, A4, 0));     /* with SUM: fine */
    emit(g, SD(T1, S11, 0));    /* 0x9abc */
    emit(g, JALR(RA, A4, 0));   /* fetch from a user page in S: 12 */
    emit(g, LD(T1, A5, 0));     /* 13 in Sv39, unmapped in Sv48: 13 too */
    emit(g, SD(ZERO, S11, 0));  /* end */
}

static void check_paging(struct guest *g, hv_vcpu *c)
{
    uint64_t *l0 = table(g, L0);
    CHECK_EQ_U64(expect_store(c), 0x1234);
    CHECK(l0[0] & PTE_A);
    CHECK(!(l0[0] & PTE_D));
    CHECK_EQ_U64(expect_store(c), 0x1234);
    CHECK(l0[0] & PTE_D);
    CHECK_EQ_U64(*(uint64_t *)guest_ptr(g, PAGE0 + 8), 0x1234);
    CHECK_EQ_U64(expect_store(c), 15);
    CHECK_EQ_U64(expect_store(c), VA0 + 0x1000);
    CHECK_EQ_U64(expect_store(c), 13);
    CHECK_EQ_U64(expect_store(c), VA0 + 0x2000);
    CHECK_EQ_U64(expect_store(c), 13);
    CHECK_EQ_U64(expect_store(c), 0xc0000000ull);
    CHECK_EQ_U64(expect_store(c), 13);
    CHECK_EQ_U64(expect_store(c), VA0 + 0x3000);
    CHECK_EQ_U64(expect_store(c), 0x9abc);
    CHECK_EQ_U64(expect_store(c), 12);
    CHECK_EQ_U64(expect_store(c), VA0 + 0x3000);
    CHECK_EQ_U64(expect_store(c), 13);
    CHECK_EQ_U64(expect_store(c), 0x0000100000000000ull);
    CHECK_EQ_U64(expect_store(c), 0);
}

TEST(sv39_translation_and_faults)
{
    struct guest g;
    CHECK(guest_init(&g, 1, false) == 0);
    paging_program(&g, g.cpu[0], (8ull << 60) | (ROOT >> 12));
    check_paging(&g, g.cpu[0]);
    guest_fini(&g);
}

TEST(sv48_translation_and_faults)
{
    struct guest g;
    CHECK(guest_init(&g, 1, false) == 0);
    paging_program(&g, g.cpu[0], (9ull << 60) | (ROOT48 >> 12));
    check_paging(&g, g.cpu[0]);
    guest_fini(&g);
}

TEST(sfence_vma_sees_new_mapping)
{
    struct guest g;
    CHECK(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    build_tables(&g);
    hv_vcpu_set_reg(c, CSR(0x180), (8ull << 60) | (ROOT >> 12));
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), VA0);
    hv_vcpu_set_reg(c, HV_REG_X(A1), L0); /* the guest edits its own page table */
    hv_vcpu_set_reg(c, HV_REG_X(A2), pte(PAGE1, PTE_V | PTE_R | PTE_A));
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    emit(&g, SD(A2, A1, 0));
    emit(&g, rv_r(0x09, ZERO, A0, 0, ZERO, 0x73)); /* sfence.vma a0 */
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), 0x1234);
    CHECK_EQ_U64(expect_store(c), 0x5678);
    guest_fini(&g);
}

/* A full sfence.vma after `fills` other translations were cached: the TLB keeps a log of
 * filled entries and invalidates those, or clears everything once the log overflowed; both
 * must drop VA0's stale entry. The fills are write entries and VA0's a read entry filled
 * after them, so an overflow that went unrecorded would leave it. */
static void sfence_after_fills(unsigned fills)
{
    struct guest g;
    CHECK(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    build_tables(&g);
    hv_vcpu_set_reg(c, CSR(0x180), (8ull << 60) | (ROOT >> 12));
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), VA0);
    hv_vcpu_set_reg(c, HV_REG_X(A1), L0);
    hv_vcpu_set_reg(c, HV_REG_X(A2), pte(PAGE1, PTE_V | PTE_R | PTE_A));
    hv_vcpu_set_reg(c, HV_REG_X(A3), RAM_BASE + 0x100000); /* identity-mapped gigapage */
    hv_vcpu_set_reg(c, HV_REG_X(T2), fills);
    emit(&g, LUI(T4, 1)); /* 4096 */
    emit(&g, SD(ZERO, A3, 0)); /* loop: one store per page, filling write entries */
    emit(&g, ADD(A3, A3, T4));
    emit(&g, ADDI(T2, T2, -1));
    emit(&g, BNE(T2, ZERO, -12));
    emit(&g, LD(T1, A0, 0)); /* VA0's entry comes last, after the log may have overflowed */
    emit(&g, SD(T1, S11, 0));
    emit(&g, SD(A2, A1, 0));
    emit(&g, SFENCE_VMA);
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), 0x1234);
    CHECK_EQ_U64(expect_store(c), 0x5678);
    guest_fini(&g);
}

TEST(full_sfence_after_few_fills)
{
    sfence_after_fills(10);
}

TEST(full_sfence_after_many_fills)
{
    sfence_after_fills(600); /* more than the fill log holds */
}

TEST(mprv_uses_mpp_translation)
{
    struct guest g;
    CHECK(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    build_tables(&g);
    hv_vcpu_set_reg(c, CSR(0x180), (8ull << 60) | (ROOT >> 12));
    /* M-mode with MPRV = 1, MPP = S: loads translate, fetches do not. */
    hv_vcpu_set_reg(c, CSR(0x300), (1ull << 17) | (1ull << 11));
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), VA0);
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), 0x1234);
    guest_fini(&g);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60);
    RUN(sv39_translation_and_faults);
    RUN(sv48_translation_and_faults);
    RUN(sfence_vma_sees_new_mapping);
    RUN(full_sfence_after_few_fills);
    RUN(full_sfence_after_many_fills);
    RUN(mprv_uses_mpp_translation);
    return test_summary();
}
