/*
 * test_hv_mmu.c — Sv39/Sv48 translation through the hv API: hardware A/D updates,
 * page-fault causes and tval, superpage alignment, SUM, sfence.vma, ASIDs.
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
    REQUIRE(guest_init(&g, 1, false) == 0);
    paging_program(&g, g.cpu[0], (8ull << 60) | (ROOT >> 12));
    check_paging(&g, g.cpu[0]);
    guest_fini(&g);
}

TEST(sv48_translation_and_faults)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    paging_program(&g, g.cpu[0], (9ull << 60) | (ROOT48 >> 12));
    check_paging(&g, g.cpu[0]);
    guest_fini(&g);
}

TEST(sfence_vma_sees_new_mapping)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
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
    REQUIRE(guest_init(&g, 1, false) == 0);
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
    REQUIRE(guest_init(&g, 1, false) == 0);
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

/* sfence.vma of one page of a cached megapage: the megapage's cached 4 KiB pieces sit at
 * other TLB indices than the named page, and must go too. */
TEST(sfence_page_in_superpage_drops_its_pieces)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    build_tables(&g);
    uint64_t mega = 0x40200000ull; /* l1[1] */
    table(&g, L1)[1] = pte(RAM_BASE, PTE_V | PTE_R | PTE_A);
    *(uint64_t *)guest_ptr(&g, RAM_BASE + 0x220000) = 0x4321;
    hv_vcpu_set_reg(c, CSR(0x180), (8ull << 60) | (ROOT >> 12));
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), mega + (PAGE0 - RAM_BASE));
    hv_vcpu_set_reg(c, HV_REG_X(A1), L1 + 8);
    hv_vcpu_set_reg(c, HV_REG_X(A2), pte(RAM_BASE + 0x200000, PTE_V | PTE_R | PTE_A));
    hv_vcpu_set_reg(c, HV_REG_X(A3), mega + 0x5000); /* another page of the megapage */
    hv_vcpu_set_reg(c, HV_REG_X(A4), VA0);
    emit(&g, LD(T1, A4, 0));    /* a 4 KiB page too: outside the megapage */
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    emit(&g, SD(A2, A1, 0));    /* the megapage moves */
    emit(&g, rv_r(0x09, ZERO, A4, 0, ZERO, 0x73)); /* sfence.vma a4: not the megapage */
    emit(&g, rv_r(0x09, ZERO, A3, 0, ZERO, 0x73)); /* sfence.vma a3 */
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), 0x1234);
    CHECK_EQ_U64(expect_store(c), 0x4321);
    guest_fini(&g);
}

/* ---- ASIDs: several address spaces, each with its own root, mapping VA0 to its own
 * page. Space k lives at SPACES + k * 0x4000: root, L1, L0, then the data page. */
#define SPACES (RAM_BASE + 0x100000)
#define NSPACES 12 /* more than the TLB has sets */
#define SATP_TABLE (RAM_BASE + 0x3000)

static uint64_t space_root(unsigned k)
{
    return SPACES + k * 0x4000ull;
}

static uint64_t space_l0(unsigned k)
{
    return space_root(k) + 0x2000;
}

static uint64_t space_page(unsigned k)
{
    return space_root(k) + 0x3000;
}

static uint64_t space_satp(unsigned k, uint64_t asid)
{
    return (8ull << 60) | asid << 44 | space_root(k) >> 12;
}

/* Space k: MMIO and the code gigapage as in build_tables, VA0 -> its page holding 0x100 + k. */
static void build_spaces(struct guest *g)
{
    for (unsigned k = 0; k < NSPACES; k++) {
        uint64_t *root = table(g, space_root(k)), *l1 = table(g, space_root(k) + 0x1000);
        root[0] = pte(0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        root[1] = pte(space_root(k) + 0x1000, PTE_V);
        root[2] = pte(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
        l1[0] = pte(space_l0(k), PTE_V);
        table(g, space_l0(k))[0] = pte(space_page(k), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        *(uint64_t *)guest_ptr(g, space_page(k)) = 0x100 + k;
    }
}

/* S-mode in space 0 with ASID 1; a0 = VA0, s11 = the MMIO sink. NULL when the guest
 * cannot be made (the caller REQUIREs it). */
static hv_vcpu *asid_guest(struct guest *g)
{
    if (guest_init(g, 1, false) != 0)
        return NULL;
    hv_vcpu *c = g->cpu[0];
    build_spaces(g);
    hv_vcpu_set_reg(c, CSR(0x180), space_satp(0, 1));
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), VA0);
    return c;
}

/* csrw satp, rs; ld t1, 0(a0); sd t1, 0(s11) */
static void emit_switch_and_load(struct guest *g, unsigned rs)
{
    emit(g, CSRW(0x180, rs));
    emit(g, LD(T1, A0, 0));
    emit(g, SD(T1, S11, 0));
}

TEST(satp_reads_back_asid)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    /* Linux's probe: all ASID bits set, read back, count them. */
    hv_vcpu_set_reg(c, HV_REG_X(A1), space_satp(0, 0xffff));
    hv_vcpu_set_reg(c, HV_REG_X(A2), space_satp(1, 0x1234));
    emit(&g, CSRW(0x180, A1));
    emit(&g, CSRR(T1, 0x180));
    emit(&g, SD(T1, S11, 0));
    emit(&g, CSRW(0x180, A2));
    emit(&g, CSRR(T1, 0x180));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), space_satp(0, 0xffff));
    CHECK_EQ_U64(expect_store(c), space_satp(1, 0x1234));
    CHECK_EQ_U64(reg(c, CSR(0x180)), space_satp(1, 0x1234));
    guest_fini(&g);
}

TEST(asids_keep_their_own_translations)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    hv_vcpu_set_reg(c, HV_REG_X(A1), space_satp(0, 1));
    hv_vcpu_set_reg(c, HV_REG_X(A2), space_satp(1, 2));
    hv_vcpu_set_reg(c, HV_REG_X(T2), 20);
    /* loop: back and forth without sfence.vma, often enough for the JIT to compile it */
    emit_switch_and_load(&g, A1);
    emit_switch_and_load(&g, A2);
    emit(&g, ADDI(T2, T2, -1));
    emit(&g, BNE(T2, ZERO, -28));
    emit(&g, SD(ZERO, S11, 0));
    for (unsigned i = 0; i < 20; i++) {
        CHECK_EQ_U64(expect_store(c), 0x100);
        CHECK_EQ_U64(expect_store(c), 0x101);
    }
    CHECK_EQ_U64(expect_store(c), 0);
    guest_fini(&g);
}

/* More address spaces than sets, visited round-robin: each visit evicts a set, whose
 * entries must not show through to the space that takes it. */
TEST(asids_beyond_the_sets_evict_correctly)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    uint64_t *satps = guest_ptr(&g, SATP_TABLE);
    for (unsigned k = 0; k < NSPACES; k++)
        satps[k] = space_satp(k, k + 1);
    hv_vcpu_set_reg(c, HV_REG_X(T2), 3 * NSPACES);
    hv_vcpu_set_reg(c, HV_REG_X(A3), SATP_TABLE);
    hv_vcpu_set_reg(c, HV_REG_X(A4), SATP_TABLE + 8 * NSPACES);
    emit(&g, LD(T0, A3, 0)); /* loop */
    emit_switch_and_load(&g, T0);
    emit(&g, ADDI(A3, A3, 8));
    emit(&g, BNE(A3, A4, 8));
    emit(&g, ADDI(A3, A3, -8 * NSPACES)); /* wrap around */
    emit(&g, ADDI(T2, T2, -1));
    emit(&g, BNE(T2, ZERO, -32));
    emit(&g, SD(ZERO, S11, 0));
    for (unsigned i = 0; i < 3 * NSPACES; i++)
        CHECK_EQ_U64(expect_store(c), 0x100 + i % NSPACES);
    CHECK_EQ_U64(expect_store(c), 0);
    guest_fini(&g);
}

/* Space 0 (ASID 1) and space 1 (ASID 2) both cache VA0, then both page tables change:
 * VA0 -> space 2's page in space 0, space 3's page in space 1. `fence` is emitted while
 * space 1 is current; then space 0 is loaded, then space 1. */
static void asid_fence_program(struct guest *g, hv_vcpu *c, uint32_t fence)
{
    hv_vcpu_set_reg(c, HV_REG_X(A1), space_satp(0, 1));
    hv_vcpu_set_reg(c, HV_REG_X(A2), space_satp(1, 2));
    hv_vcpu_set_reg(c, HV_REG_X(A3), space_l0(0));
    hv_vcpu_set_reg(c, HV_REG_X(A4), space_l0(1));
    hv_vcpu_set_reg(c, HV_REG_X(A5), pte(space_page(2), PTE_V | PTE_R | PTE_A));
    hv_vcpu_set_reg(c, HV_REG_X(A6), pte(space_page(3), PTE_V | PTE_R | PTE_A));
    hv_vcpu_set_reg(c, HV_REG_X(A7), 1); /* ASID of space 0 */
    emit_switch_and_load(g, A1);
    emit_switch_and_load(g, A2);
    emit(g, SD(A5, A3, 0));
    emit(g, SD(A6, A4, 0));
    emit(g, fence);
    emit_switch_and_load(g, A1);
    emit_switch_and_load(g, A2);
}

/* A satp write alone need not drop anything; cove keeps each set, so both spaces still
 * see their old pages until an sfence.vma. */
TEST(satp_write_keeps_other_asids)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    asid_fence_program(&g, c, NOP);
    emit(&g, SFENCE_VMA);
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, S11, 0));
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x103);
    guest_fini(&g);
}

TEST(sfence_asid_drops_that_asid)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    asid_fence_program(&g, c, rv_r(0x09, A7, ZERO, 0, ZERO, 0x73)); /* sfence.vma x0, a7 */
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x102);
    CHECK_EQ_U64(expect_store(c), 0x101); /* ASID 2 was not named (keeping it is allowed) */
    guest_fini(&g);
}

TEST(sfence_page_asid_drops_that_page)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    asid_fence_program(&g, c, rv_r(0x09, A7, A0, 0, ZERO, 0x73)); /* sfence.vma a0, a7 */
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x102);
    CHECK_EQ_U64(expect_store(c), 0x101);
    guest_fini(&g);
}

TEST(sfence_page_reaches_every_asid)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    asid_fence_program(&g, c, rv_r(0x09, ZERO, A0, 0, ZERO, 0x73)); /* sfence.vma a0 */
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x102);
    CHECK_EQ_U64(expect_store(c), 0x103);
    guest_fini(&g);
}

TEST(full_sfence_reaches_every_asid)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    asid_fence_program(&g, c, SFENCE_VMA);
    CHECK_EQ_U64(expect_store(c), 0x100);
    CHECK_EQ_U64(expect_store(c), 0x101);
    CHECK_EQ_U64(expect_store(c), 0x102);
    CHECK_EQ_U64(expect_store(c), 0x103);
    guest_fini(&g);
}

/* The decoded-page invariant holds across sets: a page that enters the decoded cache while
 * ASID 2 is current loses the write entry ASID 1 holds for it, so a later store under
 * ASID 1 still takes the slow path and drops the decoded page (as test_hv_cpu's
 * code_modification_is_seen, without fence.i). `fills` write entries come first, so that
 * ASID 1's fill log holds its entries or has overflowed. */
static void code_store_across_asids(unsigned fills)
{
    struct guest g;
    hv_vcpu *c = asid_guest(&g);
    REQUIRE(c);
    uint64_t f = RAM_BASE + 0x5000;
    g.at = f;
    emit(&g, ADDI(T1, ZERO, 1));
    emit(&g, SD(T1, S11, 0));
    emit(&g, JALR(ZERO, RA, 0));
    g.at = RAM_BASE;
    hv_vcpu_set_reg(c, HV_REG_X(A1), space_satp(0, 1));
    hv_vcpu_set_reg(c, HV_REG_X(A2), space_satp(1, 2));
    hv_vcpu_set_reg(c, HV_REG_X(A3), f);
    hv_vcpu_set_reg(c, HV_REG_X(A4), RAM_BASE + 0x400000); /* past the page tables */
    hv_vcpu_set_reg(c, HV_REG_X(A5), ADDI(T1, ZERO, 2));
    hv_vcpu_set_reg(c, HV_REG_X(T2), fills);
    emit(&g, LUI(T4, 1)); /* 4096 */
    emit(&g, SD(ZERO, A4, 0)); /* loop: one store per page, filling write entries */
    emit(&g, ADD(A4, A4, T4));
    emit(&g, ADDI(T2, T2, -1));
    emit(&g, BNE(T2, ZERO, -12));
    emit(&g, SD(ZERO, A3, 0x7f8)); /* a write entry for f's page under ASID 1 */
    emit(&g, CSRW(0x180, A2));
    emit(&g, JALR(RA, A3, 0));     /* f's page is decoded under ASID 2 */
    emit(&g, CSRW(0x180, A1));
    emit(&g, SW(A5, A3, 0));       /* patch f's first instruction under ASID 1 */
    emit(&g, JALR(RA, A3, 0));
    emit(&g, SD(ZERO, S11, 0));
    CHECK_EQ_U64(expect_store(c), 1);
    CHECK_EQ_U64(expect_store(c), 2);
    CHECK_EQ_U64(expect_store(c), 0);
    guest_fini(&g);
}

TEST(code_store_under_another_asid_is_seen)
{
    code_store_across_asids(10);
}

TEST(code_store_under_another_asid_after_many_fills)
{
    code_store_across_asids(600); /* more than the fill log holds */
}

/* Entering a page into the decoded cache purges the write entries of its whole bucket of
 * host pages (the write map, WMAP_BITS = 65536 pages in src/hv/soft/soft.h) and clears the
 * bucket's bit. Page q, 256 MiB of host address away from f, shares f's bucket: its write
 * entry must go with f's purge, or q's own entry into the decoded cache (bit clear, no
 * purge) would leave a store to q on the fast path and the patched code unseen. */
#define WMAP_SPAN (65536ull * 4096)
TEST(code_store_in_a_purged_bucket_is_seen)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t f = RAM_BASE + 0x5000, qa = 0x90000000ull;
    uint8_t *want = g.ram + 0x5000, *q = MAP_FAILED;
    /* a free host page in f's bucket, below or above guest RAM */
    for (int k = 1; k <= 4 && q == MAP_FAILED; k++)
        for (int sign = -1; sign <= 1 && q == MAP_FAILED; sign += 2) {
            uint8_t *at = want + sign * (int64_t)(k * WMAP_SPAN);
            q = mmap(at, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (q != MAP_FAILED && q != at) {
                munmap(q, 4096);
                q = MAP_FAILED;
            }
        }
    REQUIRE(q != MAP_FAILED);
    REQUIRE(hv_vm_map(g.vm, q, qa, 4096, HV_MEM_READ | HV_MEM_WRITE | HV_MEM_EXEC) == 0);
    g.at = f;
    emit(&g, ADDI(T1, ZERO, 1));
    emit(&g, SD(T1, S11, 0));
    emit(&g, JALR(ZERO, RA, 0));
    uint32_t qcode[] = { ADDI(T1, ZERO, 2), SD(T1, S11, 0), JALR(ZERO, RA, 0) };
    memcpy(q, qcode, sizeof qcode);
    g.at = RAM_BASE;
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A3), f);
    hv_vcpu_set_reg(c, HV_REG_X(A4), qa);
    hv_vcpu_set_reg(c, HV_REG_X(A5), ADDI(T1, ZERO, 3));
    emit(&g, SD(ZERO, A4, 0x7f8)); /* a write entry for q: its bucket's bit set */
    emit(&g, JALR(RA, A3, 0));     /* f decoded: the bucket purged, the bit cleared */
    emit(&g, JALR(RA, A4, 0));     /* q decoded: nothing to purge */
    emit(&g, SW(A5, A4, 0));       /* patch q's first instruction */
    emit(&g, JALR(RA, A4, 0));
    emit(&g, SD(ZERO, S11, 0));
    CHECK_EQ_U64(expect_store(c), 1);
    CHECK_EQ_U64(expect_store(c), 2);
    CHECK_EQ_U64(expect_store(c), 3);
    CHECK_EQ_U64(expect_store(c), 0);
    guest_fini(&g);
    munmap(q, 4096);
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
    RUN(sfence_page_in_superpage_drops_its_pieces);
    RUN(satp_reads_back_asid);
    RUN(asids_keep_their_own_translations);
    RUN(asids_beyond_the_sets_evict_correctly);
    RUN(satp_write_keeps_other_asids);
    RUN(sfence_asid_drops_that_asid);
    RUN(sfence_page_asid_drops_that_page);
    RUN(sfence_page_reaches_every_asid);
    RUN(full_sfence_reaches_every_asid);
    RUN(code_store_under_another_asid_is_seen);
    RUN(code_store_under_another_asid_after_many_fills);
    RUN(code_store_in_a_purged_bucket_is_seen);
    return test_summary();
}
