/*
 * test_hv_jit.c — the hazards of compiled code (src/hv/soft/jit*.c): every program here
 * loops long enough for its blocks to be compiled, and most run twice, with the JIT
 * (COVE_JIT=1, read at VM creation) and without, expecting the same registers, pc and
 * instret. On hosts without a JIT both runs interpret, which must agree all the same.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../test.h"
#include "hv/soft/soft.h" /* dcache_trim: an idle vCPU's, called here directly */
#include "rvasm.h"

#define FENCE_I 0x0000100fu
#define OPR(f7, f3, rd, rs1, rs2) rv_r(f7, rs2, rs1, f3, rd, 0x33)
#define OPR32(f7, f3, rd, rs1, rs2) rv_r(f7, rs2, rs1, f3, rd, 0x3b)
#define OPI(f3, rd, rs1, imm) rv_i(imm, rs1, f3, rd, 0x13)
#define OPI32(f3, rd, rs1, imm) rv_i(imm, rs1, f3, rd, 0x1b)
#define BR(f3, rs1, rs2, off) rv_b(off, rs2, rs1, f3)
#define LHU(rd, rs1, imm) rv_i(imm, rs1, 5, rd, 0x03)
#define AUIPC(rd, imm20) ((uint32_t)(imm20) << 12 | (rd) << 7 | 0x17)
#define HANDLER (RAM_BASE + 0x1000)
#define PTE_VRWXAD 0xcfu
#define PTE_VRXA 0x4bu

struct outcome {
    uint64_t x[32], pc, instret;
    struct hv_exit exit;
};

static int guest_init_jit(struct guest *g, unsigned ncpus, bool jit)
{
    setenv("COVE_JIT", jit ? "1" : "0", 1);
    int r = guest_init(g, ncpus, false);
    unsetenv("COVE_JIT");
    return r;
}

static struct hv_exit run(hv_vcpu *c)
{
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    CHECK(hv_vcpu_run(c, &ex) == 0);
    return ex;
}

static void snapshot(hv_vcpu *c, const struct hv_exit *ex, struct outcome *o)
{
    for (unsigned i = 0; i < 32; i++)
        o->x[i] = reg(c, HV_REG_X(i));
    o->pc = reg(c, HV_REG_PC);
    o->instret = hv_vcpu_instret(c);
    o->exit = *ex;
}

static void check_same(const struct outcome *a, const struct outcome *b)
{
    for (unsigned i = 0; i < 32; i++)
        CHECK_EQ_U64(a->x[i], b->x[i]);
    CHECK_EQ_U64(a->pc, b->pc);
    CHECK_EQ_U64(a->instret, b->instret);
    CHECK_EQ_U64(a->exit.reason, b->exit.reason);
}

/* Handler at HANDLER: reports mepc, mcause, mtval as MMIO stores. */
static void emit_handler(struct guest *g)
{
    uint64_t at = g->at;
    g->at = HANDLER;
    emit(g, CSRR(T4, 0x341));
    emit(g, SD(T4, S11, 0));
    emit(g, CSRR(T4, 0x342));
    emit(g, SD(T4, S11, 0));
    emit(g, CSRR(T4, 0x343));
    emit(g, SD(T4, S11, 0));
    g->at = at;
}

/* A hot loop whose load turns into MMIO after 100 iterations: the exit, its completion
 * and a fault answer, all in the middle of a compiled block. */
static void mmio_mid_block(bool jit, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    emit_handler(&g);
    hv_vcpu_set_reg(c, CSR(0x305), HANDLER);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), RAM_BASE + RAM_SIZE - 8 * 100);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 1000);
    emit(&g, ADDI(T1, T1, 1));
    emit(&g, ADD(T2, T2, T1));
    emit(&g, LD(T3, A0, 0));
    emit(&g, ADDI(A0, A0, 8));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -20));

    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && !ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.addr, RAM_BASE + RAM_SIZE);
    CHECK_EQ_U64(reg(c, HV_REG_PC), RAM_BASE + 8);
    CHECK_EQ_U64(hv_vcpu_instret(c), 100 * 6 + 2);
    CHECK_EQ_U64(reg(c, HV_REG_X(T1)), 101);
    CHECK_EQ_U64(reg(c, HV_REG_X(T2)), 101 * 102 / 2);
    ex.mmio.data = 0x8877;
    CHECK(hv_vcpu_run(c, &ex) == 0); /* one more iteration, the next load exits again */
    CHECK(ex.reason == HV_EXIT_MMIO && !ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.addr, RAM_BASE + RAM_SIZE + 8);
    CHECK_EQ_U64(reg(c, HV_REG_X(T3)), 0x8877);
    CHECK_EQ_U64(reg(c, HV_REG_PC), RAM_BASE + 8);
    CHECK_EQ_U64(hv_vcpu_instret(c), 101 * 6 + 2);
    ex.mmio.fault = true;
    CHECK(hv_vcpu_run(c, &ex) == 0);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.data, RAM_BASE + 8); /* mepc */
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, 5); /* load access fault */
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, RAM_BASE + RAM_SIZE + 8); /* mtval */
    CHECK_EQ_U64(reg(c, CSR(0xb02)), 101 * 6 + 2 + 5); /* minstret: + the handler so far */
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(trap_and_mmio_exit_mid_block_are_precise)
{
    struct outcome a, b;
    mmio_mid_block(true, &a);
    mmio_mid_block(false, &b);
    check_same(&a, &b);
}

/* The same loop over virtual pages in S-mode, the 101st page unmapped: the load page
 * fault is raised inside compiled code (mem_load_slow), with the exact pc, tval and
 * instret, and the registers the block wrote before it. */
static void fault_mid_block(bool jit, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t root = RAM_BASE + 0x10000, l1 = root + 0x1000, l0 = root + 0x2000;
    uint64_t *t = guest_ptr(&g, root), *l0p = guest_ptr(&g, l0);
    t[0] = PTE_VRWXAD;                              /* MMIO, identity */
    t[1] = (l1 >> 12) << 10 | 1;
    t[2] = (RAM_BASE >> 12) << 10 | PTE_VRWXAD;     /* RAM, identity */
    *(uint64_t *)guest_ptr(&g, l1) = (l0 >> 12) << 10 | 1;
    for (unsigned i = 0; i < 100; i++)
        l0p[i] = ((RAM_BASE + 0x100000 + i * 0x1000ull) >> 12) << 10 | PTE_VRWXAD;
    emit_handler(&g); /* M-mode: nothing is delegated */
    hv_vcpu_set_reg(c, CSR(0x305), HANDLER);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), 0x40000000);
    hv_vcpu_set_reg(c, HV_REG_X(S4), 0x1000);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 1000);
    emit(&g, ADDI(T1, T1, 1));
    emit(&g, ADD(T2, T2, T1));
    emit(&g, LD(T3, A0, 8));
    emit(&g, ADD(A0, A0, S4));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -20));
    hv_vcpu_set_reg(c, CSR(0x180), 8ull << 60 | root >> 12);
    CHECK(hv_vcpu_set_reg(c, HV_REG_PRIV, 1) == 0);

    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.data, RAM_BASE + 8); /* mepc: the load */
    CHECK_EQ_U64(hv_vcpu_instret(c), 100 * 6 + 2 + 1);
    CHECK_EQ_U64(reg(c, HV_REG_X(T1)), 101);
    CHECK_EQ_U64(reg(c, HV_REG_X(T2)), 101 * 102 / 2);
    CHECK_EQ_U64(reg(c, HV_REG_X(A1)), 900);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, 13); /* load page fault */
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, 0x40000000 + 100 * 0x1000 + 8); /* mtval */
    CHECK_EQ_U64(reg(c, HV_REG_PRIV), 3);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(page_fault_mid_block_is_precise)
{
    struct outcome a, b;
    fault_mid_block(true, &a);
    fault_mid_block(false, &b);
    check_same(&a, &b);
}

/* Writes to x0 of every kind inside a hot loop: x0 must still read as zero. */
static void x0_writes(bool jit, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), RAM_BASE + 0x8000);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 1000);
    hv_vcpu_set_reg(c, HV_REG_X(T0), 77);
    emit(&g, ADDI(ZERO, T0, 5));
    emit(&g, LUI(ZERO, 0x12345));
    emit(&g, AUIPC(ZERO, 1));
    emit(&g, ADD(T0, T0, ZERO));
    emit(&g, ADDI(T1, ZERO, 3));
    emit(&g, ADD(T2, T2, T1));
    emit(&g, LD(ZERO, A0, 0));
    emit(&g, MUL(ZERO, T0, T0));
    emit(&g, AMOADD_W(ZERO, A0, T1));
    emit(&g, JAL(ZERO, 4));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -44));
    emit(&g, SD(ZERO, S11, 0));
    emit(&g, SD(T2, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.data == 0);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, 3000);
    CHECK_EQ_U64(reg(c, HV_REG_X(T0)), 77);
    uint32_t mem;
    memcpy(&mem, guest_ptr(&g, RAM_BASE + 0x8000), 4);
    CHECK_EQ_U64(mem, 3000);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(x0_writes_in_compiled_code)
{
    struct outcome a, b;
    x0_writes(true, &a);
    x0_writes(false, &b);
    check_same(&a, &b);
}

/* A hot function on another page is rewritten, then fence.i: the next call runs the new
 * code. */
static void smc_fence_i(bool jit, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t f = RAM_BASE + 0x3000;
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(T5), ADDI(A0, A0, 100));
    hv_vcpu_set_reg(c, HV_REG_X(T6), f);
    emit(&g, ADDI(A1, ZERO, 50));
    emit(&g, JAL(RA, (int32_t)(f - g.at)));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -8));
    emit(&g, SW(T5, T6, 0));
    emit(&g, FENCE_I);
    emit(&g, JAL(RA, (int32_t)(f - g.at)));
    emit(&g, SD(A0, S11, 0));
    g.at = f;
    emit(&g, ADDI(A0, A0, 1));
    emit(&g, JALR(ZERO, RA, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, 150);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(self_modifying_code_with_fence_i)
{
    struct outcome a, b;
    smc_fence_i(true, &a);
    smc_fence_i(false, &b);
    check_same(&a, &b);
}

/* A hot function at f (a0 += 1) is called 50 times; middle() emits what comes next, up to
 * and including a first report (SD a0 to the MMIO address in s11); then f is called once
 * more and a0 reported again. The VMM rewrites f (a0 += 100) between the two reports: the
 * first must read `before`, the second `after`, compiled or not. */
static void hot_call_rewritten(bool jit, void (*middle)(struct guest *, uint64_t f),
                               uint64_t before, uint64_t after, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t f = RAM_BASE + 0x3000;
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    emit(&g, ADDI(A1, ZERO, 50));
    emit(&g, JAL(RA, (int32_t)(f - g.at)));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -8));
    middle(&g, f);
    emit(&g, JAL(RA, (int32_t)(f - g.at)));
    emit(&g, SD(A0, S11, 0));
    g.at = f;
    emit(&g, ADDI(A0, A0, 1));
    emit(&g, JALR(ZERO, RA, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, before);
    uint32_t patch = ADDI(A0, A0, 100);
    memcpy(guest_ptr(&g, f), &patch, 4);
    ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, after);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

/* fence.i keeps a decoded page whose bytes did not change (with its compiled code) and
 * decodes again one that another hart (here the VMM) rewrote: fenced unchanged, called,
 * reported; then rewritten from outside, fenced again and called. */
static void fence_call_fence(struct guest *g, uint64_t f)
{
    emit(g, FENCE_I);
    emit(g, JAL(RA, (int32_t)(f - g->at)));
    emit(g, SD(A0, S11, 0));
    emit(g, FENCE_I);
}

TEST(fence_i_keeps_unchanged_code_and_sees_rewritten_code)
{
    struct outcome a, b;
    hot_call_rewritten(true, fence_call_fence, 51, 151, &a);
    hot_call_rewritten(false, fence_call_fence, 51, 151, &b);
    check_same(&a, &b);
}

/* fence.i moves an epoch kept in the decoded pages' tags (dcache.c), which starts again
 * at 0 after 4095 fences: a page entered in epoch 0, rewritten from outside, then not
 * entered during exactly 4095 fences (the epoch is 0 again), must still be seen stale. */
static void report_then_4095_fences(struct guest *g, uint64_t f)
{
    (void)f;
    emit(g, SD(A0, S11, 0));
    emit(g, ADDI(A2, ZERO, 2047));
    emit(g, ADDI(A2, A2, 2047));
    emit(g, ADDI(A2, A2, 1));
    emit(g, FENCE_I);
    emit(g, ADDI(A2, A2, -1));
    emit(g, BNE(A2, ZERO, -8));
}

TEST(fence_i_epoch_wrap_sees_rewritten_code)
{
    struct outcome a, b;
    hot_call_rewritten(true, report_then_4095_fences, 50, 150, &a);
    hot_call_rewritten(false, report_then_4095_fences, 50, 150, &b);
    check_same(&a, &b);
}

/* A store from inside a compiled block into that block's own code: this hart's stores
 * to code take effect at once (docs/SOFT-CPU.md), compiled or not. */
static void store_own_page(bool jit, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(T3), 50);
    hv_vcpu_set_reg(c, HV_REG_X(T5), ADDI(A0, A0, 100));
    hv_vcpu_set_reg(c, HV_REG_X(T6), RAM_BASE + 4);
    emit(&g, ADDI(A1, ZERO, 100));
    emit(&g, ADDI(A0, A0, 1)); /* rewritten half-way */
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, T3, 8));
    emit(&g, SW(T5, T6, 0));
    emit(&g, BNE(A1, ZERO, -16));
    emit(&g, SD(A0, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, 50 + 50 * 100);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(store_into_the_running_blocks_page)
{
    struct outcome a, b;
    store_own_page(true, &a);
    store_own_page(false, &b);
    check_same(&a, &b);
}

struct later {
    hv_vcpu *c;
    unsigned delay_ms;
};

static void *raise_mei_later(void *arg)
{
    struct later *l = arg;
    usleep(l->delay_ms * 1000);
    hv_vcpu_set_irq(l->c, HV_IRQ_M_EXT, true);
    return NULL;
}

/* Interrupts reach a vCPU spinning in a two-instruction compiled loop: from another
 * thread (attention), and from its own timer (the budget ends the block). */
TEST(interrupts_reach_a_tight_compiled_loop)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, true) == 0);
    hv_vcpu *c = g.cpu[0];
    emit_handler(&g);
    hv_vcpu_set_reg(c, CSR(0x305), HANDLER);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x304), 1u << 11); /* MEIE */
    hv_vcpu_set_reg(c, CSR(0x300), 1u << 3);  /* MIE */
    emit(&g, ADDI(T1, T1, 1));
    emit(&g, JAL(ZERO, -4));
    struct later l = { c, 20 };
    pthread_t t;
    pthread_create(&t, NULL, raise_mei_later, &l);
    struct hv_exit ex = run(c);
    pthread_join(t, NULL);
    CHECK(ex.reason == HV_EXIT_MMIO);
    uint64_t epc = ex.mmio.data;
    CHECK(epc == RAM_BASE || epc == RAM_BASE + 4);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, (1ull << 63) | 11);
    /* it ran (how far in 20 ms depends on the host's load: a busy host may schedule the
     * vCPU thread late, so no count is asserted) */
    CHECK(reg(c, HV_REG_X(T1)) > 0);
    /* instret counts exactly the loop's instructions, whichever one was interrupted. */
    CHECK_EQ_U64(hv_vcpu_instret(c), 2 * reg(c, HV_REG_X(T1)) - (epc == RAM_BASE + 4) + 3);
    guest_fini(&g);

    REQUIRE(guest_init_jit(&g, 1, true) == 0);
    c = g.cpu[0];
    emit_handler(&g);
    hv_vcpu_set_reg(c, CSR(0x305), HANDLER);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x304), 1u << 7); /* MTIE */
    hv_vcpu_set_reg(c, CSR(0x300), 1u << 3);
    hv_vcpu_set_reg(c, HV_REG_MTIMECMP, reg(c, CSR(0xc01)) + 200000); /* 20 ms */
    emit(&g, ADDI(T1, T1, 1));
    emit(&g, JAL(ZERO, -4));
    ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, (1ull << 63) | 7);
    guest_fini(&g);
}

/* Every compiled integer operation and memory access size against the interpreter, on
 * awkward values: a mixing loop over a buffer, misaligned and page-crossing accesses
 * included. */
static void alu_mix(bool jit, struct outcome *o)
{
    const uint32_t ops[] = {
        OPR(0, 1, T0, S2, S3),     OPR(0, 5, T1, S4, S2),     OPR(0x20, 5, T2, S4, S3),
        OPR(0, 2, S5, S4, S2),     OPR(0, 3, S6, S4, S2),     OPR(0, 4, S7, T0, T1),
        OPR(0, 6, S8, T2, S7),     OPR(0, 7, S9, S8, S4),     OPR(1, 1, T3, S4, S2),
        OPR(1, 2, T4, S4, S2),     OPR(1, 3, T5, S4, S3),     OPR(1, 4, T6, S4, S5),
        OPR(1, 5, A2, S4, S3),     OPR(1, 6, A3, S4, S2),     OPR(1, 7, A4, S9, S5),
        OPR32(0, 0, A5, S4, S9),   OPR32(0x20, 0, A6, S2, S4), OPR32(0, 1, A7, S4, S9),
        OPR32(0, 5, S10, S4, S3),  OPR32(0x20, 5, T0, S4, S3), OPR32(1, 0, T1, S4, S2),
        OPR32(1, 4, T2, S4, S5),   OPR32(1, 5, T3, S9, S2),   OPR32(1, 6, T4, S4, S3),
        OPR32(1, 7, T5, S8, S6),   OPI(2, T6, S4, -5),        OPI(3, A2, S4, 7),
        OPI(4, A3, S4, -1),        OPI(6, A4, S9, 0x555),     OPI(7, A5, S8, -256),
        OPI(5, A6, S4, 13),        OPI(5, A7, S4, 0x400 | 17), OPI(1, S10, S9, 63),
        OPI32(1, T0, S4, 31),      OPI32(5, T1, S4, 3),       OPI32(5, T2, S4, 0x400 | 5),
        OPI32(0, T3, S4, -2048),   ADD(S4, S4, T0),           SUB(S4, S4, A7),
        ADD(S4, S4, T3),           OPR(0, 4, S4, S4, S10),    ADD(S2, S2, T4),
        ADD(S3, S3, A2),           OPR(0, 4, S9, S9, T5),     ADD(S8, S8, A4),
        ADD(S6, S6, T6),           ADD(S7, S7, A5),           OPR(0, 4, S5, S5, A3),
    };
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    static const uint64_t seeds[] = { 0x8000000000000000ull, 0xffffffffffffffffull,
                                      0x123456789abcdef0ull, 7, 0xffffffff80000000ull,
                                      0x7fffffff, 0xfedcba9876543210ull, 3 };
    for (unsigned i = 0; i < 8; i++)
        hv_vcpu_set_reg(c, HV_REG_X(S2 + i), seeds[i]);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), RAM_BASE + 0x4ff0); /* accesses cross 0x5000 */
    hv_vcpu_set_reg(c, HV_REG_X(A1), 300);
    uint64_t loop = g.at;
    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        emit(&g, ops[i]);
    emit(&g, SD(S4, A0, 0));
    emit(&g, SW(S9, A0, 13));
    emit(&g, SH(S8, A0, 3));
    emit(&g, SB(S5, A0, 17));
    emit(&g, LD(T0, A0, 9));
    emit(&g, LW(T1, A0, 2));
    emit(&g, LWU(T2, A0, 4));
    emit(&g, LH(T3, A0, 15));
    emit(&g, LHU(T4, A0, 1));
    emit(&g, LB(T5, A0, 17));
    emit(&g, LBU(T6, A0, 3));
    emit(&g, ADD(S3, S3, T0));
    emit(&g, OPR(0, 4, S3, S3, T1));
    emit(&g, ADD(S3, S3, T2));
    emit(&g, ADD(S3, S3, T3));
    emit(&g, OPR(0, 4, S3, S3, T4));
    emit(&g, ADD(S3, S3, T5));
    emit(&g, ADD(S3, S3, T6));
    emit(&g, OPI(7, T0, S4, 24));
    emit(&g, ADD(A0, A0, T0));        /* wander over the buffer, 8-byte steps */
    emit(&g, OPI(7, A0, A0, -8));
    emit(&g, BR(5, S4, S3, 8));       /* bge: skip one add */
    emit(&g, ADDI(S6, S6, 1));
    emit(&g, BR(6, S5, S7, 8));       /* bltu */
    emit(&g, ADDI(S7, S7, 3));
    emit(&g, BR(7, S8, S9, 8));       /* bgeu */
    emit(&g, ADDI(S8, S8, 5));
    emit(&g, BLT(S9, S2, 8));
    emit(&g, ADDI(S9, S9, 9));
    emit(&g, BEQ(S4, S5, 8));
    emit(&g, ADDI(S4, S4, 1));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, (int32_t)(loop - g.at)));
    emit(&g, SD(S3, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    snapshot(c, &ex, o);
    o->exit.mmio.data ^= *(uint64_t *)guest_ptr(&g, RAM_BASE + 0x4ff0);
    guest_fini(&g);
}

TEST(integer_ops_match_the_interpreter)
{
    struct outcome a, b;
    alu_mix(true, &a);
    alu_mix(false, &b);
    check_same(&a, &b);
    CHECK_EQ_U64(a.exit.mmio.data, b.exit.mmio.data);
}

/* A hot call through JALR to a page that is then remapped (sfence.vma) to other code:
 * targets cached by compiled code must not outlive the translation. `fence` is the
 * sfence.vma after the remap; `extra` runs on every call (a nop, or an sfence.vma of a
 * page no cached jump leads into, which leaves the cached jumps in place). */
#define SFENCE_VMA_RS1(r) (SFENCE_VMA | (r) << 15)
static void remap_call_target(bool jit, uint32_t fence, uint32_t extra, struct outcome *o)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t root = RAM_BASE + 0x10000, l1 = root + 0x1000, l0 = root + 0x2000;
    uint64_t page_a = RAM_BASE + 0x20000, page_b = RAM_BASE + 0x21000;
    uint64_t *t = guest_ptr(&g, root);
    t[0] = (0ull >> 12) << 10 | PTE_VRWXAD;         /* MMIO, identity */
    t[1] = (l1 >> 12) << 10 | 1;                    /* 0x40000000...: through L1, L0 */
    t[2] = (RAM_BASE >> 12) << 10 | PTE_VRWXAD;     /* RAM, identity */
    *(uint64_t *)guest_ptr(&g, l1) = (l0 >> 12) << 10 | 1;
    /* The called page at 0x40005000: a TLB index of its own. */
    *(uint64_t *)guest_ptr(&g, l0 + 5 * 8) = (page_a >> 12) << 10 | PTE_VRXA;
    g.at = page_a;
    emit(&g, ADDI(A0, A0, 1));
    emit(&g, JALR(ZERO, RA, 0));
    g.at = page_b;
    emit(&g, ADDI(A0, A0, 100));
    emit(&g, JALR(ZERO, RA, 0));
    g.at = RAM_BASE;
    emit(&g, JALR(RA, S2, 0));
    emit(&g, extra);
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, T3, 12));
    emit(&g, SD(T5, S3, 0));
    emit(&g, fence);
    emit(&g, BNE(A1, ZERO, -24));
    emit(&g, SD(A0, S11, 0));
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(S2), 0x40005000);
    hv_vcpu_set_reg(c, HV_REG_X(T4), 0x40006000); /* another page of L0: not a superpage */
    hv_vcpu_set_reg(c, HV_REG_X(S3), l0 + 5 * 8);
    hv_vcpu_set_reg(c, HV_REG_X(T5), (page_b >> 12) << 10 | PTE_VRXA);
    hv_vcpu_set_reg(c, HV_REG_X(T3), 25);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 50);
    hv_vcpu_set_reg(c, CSR(0x180), 8ull << 60 | root >> 12); /* satp: Sv39 */
    CHECK(hv_vcpu_set_reg(c, HV_REG_PRIV, 1) == 0);
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, 25 + 25 * 100);
    snapshot(c, &ex, o);
    guest_fini(&g);
}

TEST(remapped_jump_target_runs_the_new_code)
{
    struct outcome a, b;
    remap_call_target(true, SFENCE_VMA, ADDI(ZERO, ZERO, 0), &a);
    remap_call_target(false, SFENCE_VMA, ADDI(ZERO, ZERO, 0), &b);
    check_same(&a, &b);
}

/* The same with sfence.vma of the remapped page alone, while every call also fences
 * another page: the cached jump survives the unrelated fences, not its own page's. */
TEST(remapped_jump_target_after_a_page_fence)
{
    struct outcome a, b;
    remap_call_target(true, SFENCE_VMA_RS1(S2), SFENCE_VMA_RS1(T4), &a);
    remap_call_target(false, SFENCE_VMA_RS1(S2), SFENCE_VMA_RS1(T4), &b);
    check_same(&a, &b);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A destination register: anything but a0 (buffer base), a1 (loop counter) and s11
 * (the MMIO address); x0 included. */
static unsigned rnd_rd(void)
{
    for (;;) {
        unsigned r = (unsigned)(rnd() % 32);
        if (r != A0 && r != A1 && r != S11)
            return r;
    }
}

/* A compressed integer instruction (register-only forms); 0 when the draw hit a reserved
 * register. */
static uint16_t rnd_rvc(void)
{
    unsigned rd = rnd_rd(), rs2 = 1 + (unsigned)(rnd() % 31);
    unsigned rdp = 8 + (unsigned)(rnd() % 8), rs2p = 8 + (unsigned)(rnd() % 8);
    unsigned imm = (unsigned)(rnd() % 64), f2 = (unsigned)(rnd() % 4);
    unsigned ci = (imm >> 5) << 12 | rd << 7 | (imm & 31) << 2;
    if (rd == 0)
        return 0;
    switch (rnd() % 7) {
    case 0: return (uint16_t)(0x0001 | ci);                   /* c.addi */
    case 1: return (uint16_t)(0x4001 | ci);                   /* c.li */
    case 2: return (uint16_t)(0x2001 | ci);                   /* c.addiw */
    case 3: return (uint16_t)(0x0002 | ci);                   /* c.slli */
    case 4: return (uint16_t)(0x8002 | (rnd() % 2) << 12 | rd << 7 | rs2 << 2); /* mv/add */
    default:
        if (rdp == A0 || rdp == A1)
            return 0;
        /* c.sub/xor/or/and, c.subw/addw */
        return (uint16_t)(0x8c01 | (rnd() % 2 && f2 < 2) << 12 | (rdp - 8) << 7 | f2 << 5 |
                          (rs2p - 8) << 2);
    }
}

struct fuzz_insn {
    uint32_t insn;
    unsigned len;
    unsigned skip; /* a branch: the number of following instructions it jumps over */
};

static struct fuzz_insn rnd_insn(void)
{
    unsigned rd = rnd_rd(), rs1 = (unsigned)(rnd() % 32), rs2 = (unsigned)(rnd() % 32);
    int32_t imm = (int32_t)(rnd() % 4096) - 2048;
    static const uint8_t r_ops[][2] = { /* f7, f3 for OP and OP-32 */
        { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 }, { 0, 4 }, { 0, 5 }, { 0x20, 5 },
        { 0, 6 }, { 0, 7 }, { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 3 }, { 1, 4 }, { 1, 5 },
        { 1, 6 }, { 1, 7 },
    };
    static const uint8_t r32_ops[][2] = {
        { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 5 }, { 0x20, 5 }, { 1, 0 }, { 1, 4 }, { 1, 5 },
        { 1, 6 }, { 1, 7 },
    };
    static const uint8_t branch_f3[] = { 0, 1, 4, 5, 6, 7 };
    switch (rnd() % 12) {
    case 0: case 1: {
        unsigned k = (unsigned)(rnd() % (sizeof(r_ops) / 2));
        return (struct fuzz_insn){ rv_r(r_ops[k][0], rs2, rs1, r_ops[k][1], rd, 0x33), 4, 0 };
    }
    case 2: {
        unsigned k = (unsigned)(rnd() % (sizeof(r32_ops) / 2));
        return (struct fuzz_insn){ rv_r(r32_ops[k][0], rs2, rs1, r32_ops[k][1], rd, 0x3b), 4, 0 };
    }
    case 3: case 4: {
        unsigned f3 = (unsigned)(rnd() % 8);
        if (f3 == 1)
            imm &= 63;
        else if (f3 == 5)
            imm = (imm & 63) | (rnd() % 2 ? 0x400 : 0);
        return (struct fuzz_insn){ rv_i(imm, rs1, f3, rd, 0x13), 4, 0 };
    }
    case 5: {
        unsigned f3 = (unsigned)(rnd() % 3) == 0 ? 0 : rnd() % 2 ? 1 : 5;
        if (f3 == 1)
            imm &= 31;
        else if (f3 == 5)
            imm = (imm & 31) | (rnd() % 2 ? 0x400 : 0);
        return (struct fuzz_insn){ rv_i(imm, rs1, f3, rd, 0x1b), 4, 0 };
    }
    case 6:
        return (struct fuzz_insn){ rv_i(imm, A0, (unsigned)(rnd() % 7), rd, 0x03), 4, 0 };
    case 7:
        return (struct fuzz_insn){ rv_s(imm, rs2, A0, (unsigned)(rnd() % 4), 0x23), 4, 0 };
    case 8:
        return (struct fuzz_insn){ BR(branch_f3[rnd() % 6], rs1, rs2, 0), 4,
                                   1 + (unsigned)(rnd() % 3) };
    case 9: case 10: {
        uint16_t c = rnd_rvc();
        if (c)
            return (struct fuzz_insn){ c, 2, 0 };
    }
    /* fall through */
    default:
        return (struct fuzz_insn){ rnd() % 2 ? LUI(rd, (uint32_t)rnd() & 0xfffff)
                                             : AUIPC(rd, (uint32_t)rnd() & 0xfffff), 4, 0 };
    }
}

/* Emits the body; branches get their offsets once every length is known. */
static void emit_body(struct guest *g, struct fuzz_insn *b, unsigned count)
{
    uint64_t at[count + 1];
    at[0] = g->at;
    for (unsigned i = 0; i < count; i++)
        at[i + 1] = at[i] + b[i].len;
    for (unsigned i = 0; i < count; i++) {
        if (b[i].len == 2) {
            emit16(g, (uint16_t)b[i].insn);
            continue;
        }
        if (b[i].skip) {
            unsigned to = i + 1 + b[i].skip > count ? count : i + 1 + b[i].skip;
            uint32_t insn = b[i].insn;
            b[i].insn = BR((insn >> 12) & 7, (insn >> 15) & 31, (insn >> 20) & 31,
                           (int32_t)(at[to] - at[i]));
        }
        emit(g, b[i].insn);
    }
}

#define FUZZ_BODY 60
#define FUZZ_BUF (RAM_BASE + 0x10000)

static void random_program(uint64_t seed, bool jit, struct outcome *o, uint64_t *mem_hash)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    rng_state = seed;
    for (unsigned i = 1; i < 32; i++)
        hv_vcpu_set_reg(c, HV_REG_X(i), rnd() >> (rnd() % 64));
    hv_vcpu_set_reg(c, HV_REG_X(A0), FUZZ_BUF);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 30);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    uint64_t *buf = guest_ptr(&g, FUZZ_BUF - 4096);
    for (unsigned i = 0; i < 1024; i++)
        buf[i] = rnd();
    g.at = RAM_BASE + 0x800; /* the buffer's page stays apart from the code's */
    uint64_t loop = g.at;
    struct fuzz_insn body[FUZZ_BODY];
    for (unsigned i = 0; i < FUZZ_BODY; i++)
        body[i] = rnd_insn();
    emit_body(&g, body, FUZZ_BODY);
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, (int32_t)(loop - g.at)));
    emit(&g, SD(ZERO, S11, 0));
    hv_vcpu_set_reg(c, HV_REG_PC, loop);
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    snapshot(c, &ex, o);
    *mem_hash = 0;
    for (unsigned i = 0; i < 1024; i++)
        *mem_hash = (*mem_hash ^ buf[i]) * 0x100000001b3ull;
    guest_fini(&g);
}

TEST(random_programs_match_the_interpreter)
{
    for (uint64_t seed = 1; seed <= 300; seed++) {
        struct outcome a = {0}, b = {0}; /* stay zero when a guest cannot be made */
        uint64_t ha = 0, hb = 0;
        random_program(seed * 0x9e3779b97f4a7c15ull, true, &a, &ha);
        random_program(seed * 0x9e3779b97f4a7c15ull, false, &b, &hb);
        int failed = test_current_failed;
        test_current_failed = 0;
        check_same(&a, &b);
        CHECK_EQ_U64(ha, hb);
        if (test_current_failed)
            printf("  seed %" PRIu64 "\n", seed);
        test_current_failed |= failed;
    }
}

/* ---- floating point: compiled FP loads/stores and OP-FP against the interpreter ---- */

#define MS_FS_BITS (3ull << 13)
#define OPC_FP 0x53u
#define FMV_D_X(fd, rs1) rv_r(0x79, 0, rs1, 0, fd, OPC_FP)

/* Awkward FP values: zeros, infinities, NaNs (quiet, signaling, canonical), subnormals,
 * values near rounding boundaries, singles properly and improperly NaN-boxed. */
static uint64_t rnd_fp_value(void)
{
    static const uint64_t d[] = {
        0, 1ull << 63, 0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
        0x7ff4000000000001ull, 0x0000000000000001ull, 0x000fffffffffffffull,
        0x3ff0000000000000ull, 0x3ff0000000000001ull, 0xbfefffffffffffffull,
        0x7fefffffffffffffull, 0x4340000000000001ull, 0x3fe0000000000000ull,
    };
    static const uint32_t f[] = {
        0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7fa00001u, 1, 0x007fffffu,
        0x3f800000u, 0x3f800001u, 0x7f7fffffu, 0x4b000001u, 0xcf000000u, 0x4f800000u,
    };
    switch (rnd() % 6) {
    case 0: return d[rnd() % (sizeof(d) / sizeof(d[0]))];
    case 1: return 0xffffffff00000000ull | f[rnd() % (sizeof(f) / sizeof(f[0]))];
    case 2: return 0xffffffff00000000ull | (uint32_t)rnd();
    case 3: return (uint32_t)rnd(); /* an improperly boxed single */
    case 4: return (rnd() & 0x800fffffffffffffull) | (0x3c0ull + rnd() % 0x80) << 52;
    default: return rnd();
    }
}

/* A random F/D instruction: every OP-FP function, the fused forms, FP loads and stores
 * (compressed included) off a0; rounding modes static RNE..RMM or dynamic. */
static struct fuzz_insn rnd_fp_insn(void)
{
    unsigned fd = (unsigned)(rnd() % 32), fs1 = (unsigned)(rnd() % 32);
    unsigned fs2 = (unsigned)(rnd() % 32), fs3 = (unsigned)(rnd() % 32);
    unsigned xd = rnd_rd(), xs1 = (unsigned)(rnd() % 32), dbl = (unsigned)(rnd() % 2);
    unsigned rm = rnd() % 6 == 0 ? 7 : (unsigned)(rnd() % 5);
    int32_t imm = (int32_t)(rnd() % 4096) - 2048;
    switch (rnd() % 16) {
    case 0: case 1: case 2: /* fadd fsub fmul fdiv */
        return (struct fuzz_insn){ rv_r((unsigned)(rnd() % 4) << 2 | dbl, fs2, fs1, rm, fd,
                                        OPC_FP), 4, 0 };
    case 3: /* fsqrt */
        return (struct fuzz_insn){ rv_r(0x2c | dbl, 0, fs1, rm, fd, OPC_FP), 4, 0 };
    case 4: /* fsgnj/n/x, fmin/fmax */
        return rnd() % 2 ? (struct fuzz_insn){ rv_r(0x10 | dbl, fs2, fs1, rnd() % 3, fd,
                                                    OPC_FP), 4, 0 }
                         : (struct fuzz_insn){ rv_r(0x14 | dbl, fs2, fs1, rnd() % 2, fd,
                                                    OPC_FP), 4, 0 };
    case 5: /* fcvt.s.d / fcvt.d.s */
        return (struct fuzz_insn){ rv_r(0x20 | dbl, !dbl, fs1, rm, fd, OPC_FP), 4, 0 };
    case 6: /* feq flt fle, fclass, fmv.x.w/d: integer results */
        switch (rnd() % 3) {
        case 0: return (struct fuzz_insn){ rv_r(0x50 | dbl, fs2, fs1, rnd() % 3, xd, OPC_FP),
                                           4, 0 };
        case 1: return (struct fuzz_insn){ rv_r(0x70 | dbl, 0, fs1, 1, xd, OPC_FP), 4, 0 };
        default: return (struct fuzz_insn){ rv_r(0x70 | dbl, 0, fs1, 0, xd, OPC_FP), 4, 0 };
        }
    case 7: /* fcvt.{w,wu,l,lu}.fmt and back, fmv.w/d.x */
        switch (rnd() % 3) {
        case 0: return (struct fuzz_insn){ rv_r(0x60 | dbl, rnd() % 4, fs1, rm, xd, OPC_FP),
                                           4, 0 };
        case 1: return (struct fuzz_insn){ rv_r(0x68 | dbl, rnd() % 4, xs1, rm, fd, OPC_FP),
                                           4, 0 };
        default: return (struct fuzz_insn){ rv_r(0x78 | dbl, 0, xs1, 0, fd, OPC_FP), 4, 0 };
        }
    case 8: case 9: /* fmadd fmsub fnmsub fnmadd */
        return (struct fuzz_insn){ fs3 << 27 | dbl << 25 | fs2 << 20 | fs1 << 15 | rm << 12 |
                                   fd << 7 | (0x43u + 4 * (unsigned)(rnd() % 4)), 4, 0 };
    case 10: case 11: /* flw fld */
        return (struct fuzz_insn){ rv_i(imm, A0, 2 + dbl, fd, 0x07), 4, 0 };
    case 12: /* fsw fsd */
        return (struct fuzz_insn){ rv_s(imm, fs2, A0, 2 + dbl, 0x27), 4, 0 };
    case 14: /* csrrw/s/c[i] on fflags, frm, fcsr: frrm, fsflags... (frm values 0-4 mostly) */
        if (rnd() % 2)
            return (struct fuzz_insn){ rv_i((int32_t)(1 + rnd() % 3), (unsigned)(rnd() % 5),
                                            (unsigned[]){ 5, 6, 7 }[rnd() % 3], xd, 0x73), 4, 0 };
        return (struct fuzz_insn){ rv_i((int32_t)(1 + rnd() % 3), xs1,
                                        (unsigned[]){ 1, 2, 3 }[rnd() % 3], xd, 0x73), 4, 0 };
    case 13: { /* c.fld / c.fsd off a0 (x10 = x8 + 2) */
        unsigned off = (unsigned)(rnd() % 32) * 8, r = (unsigned)(rnd() % 8);
        unsigned enc = (off >> 3 & 7) << 10 | 2u << 7 | (off >> 6 & 3) << 5 | r << 2;
        return (struct fuzz_insn){ (rnd() % 2 ? 0xa000u : 0x2000u) | enc, 2, 0 };
    }
    default:
        return rnd_insn();
    }
}

/* A loop of random FP and integer instructions; with fs_off_late, mstatus.FS is turned
 * off while the loop counter is below 5, so that an FP instruction of a compiled block
 * traps (reported by the handler). Compares x, f, fcsr and mstatus. */
static void random_fp_program(uint64_t seed, bool jit, struct outcome *o, uint64_t *fstate)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    rng_state = seed;
    bool fs_off_late = seed % 4 == 0;
    for (unsigned i = 1; i < 32; i++)
        hv_vcpu_set_reg(c, HV_REG_X(i), rnd() >> (rnd() % 64));
    for (unsigned i = 0; i < 32; i++)
        hv_vcpu_set_reg(c, HV_REG_F(i), rnd_fp_value());
    hv_vcpu_set_reg(c, HV_REG_X(A0), FUZZ_BUF);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 30);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x305), HANDLER);
    hv_vcpu_set_reg(c, CSR(0x300), reg(c, CSR(0x300)) | 1ull << 13); /* FS = Initial */
    hv_vcpu_set_reg(c, CSR(0x002), rnd() % 5);                       /* frm */
    emit_handler(&g);
    uint64_t *buf = guest_ptr(&g, FUZZ_BUF - 4096);
    for (unsigned i = 0; i < 1024; i++)
        buf[i] = rnd_fp_value();
    g.at = RAM_BASE + 0x2000;
    uint64_t loop = g.at;
    struct fuzz_insn body[FUZZ_BODY];
    for (unsigned i = 0; i < FUZZ_BODY; i++) {
        body[i] = rnd_fp_insn();
        /* s9/s10 belong to the FS switch */
        unsigned rd = (body[i].insn >> 7) & 31;
        if (fs_off_late && body[i].len == 4 && (rd == S9 || rd == S10))
            body[i].insn = NOP;
    }
    emit_body(&g, body, FUZZ_BODY);
    emit(&g, ADDI(A1, A1, -1));
    if (fs_off_late) {
        emit(&g, rv_i(5, A1, 3, S10, 0x13)); /* sltiu s10, a1, 5 */
        emit(&g, SUB(S10, ZERO, S10));
        emit(&g, LUI(S9, 6));                /* 0x6000: mstatus.FS */
        emit(&g, rv_r(0, S9, S10, 7, S10, 0x33)); /* and */
        emit(&g, CSRRC(ZERO, 0x300, S10));
    }
    emit(&g, BNE(A1, ZERO, (int32_t)(loop - g.at)));
    emit(&g, SD(ZERO, S11, 0));
    hv_vcpu_set_reg(c, HV_REG_PC, loop);
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    snapshot(c, &ex, o);
    o->exit.mmio.data ^= ex.mmio.data; /* mepc when the handler reports a trap */
    uint64_t h = reg(c, CSR(0x300)) * 31 + reg(c, CSR(0x003));
    for (unsigned i = 0; i < 32; i++)
        h = (h ^ reg(c, HV_REG_F(i))) * 0x100000001b3ull;
    for (unsigned i = 0; i < 1024; i++)
        h = (h ^ buf[i]) * 0x100000001b3ull;
    *fstate = h;
    guest_fini(&g);
}

TEST(random_fp_programs_match_the_interpreter)
{
    unsigned trapped = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct outcome a = {0}, b = {0};
        uint64_t ha = 0, hb = 0;
        random_fp_program(seed * 0x2545f4914f6cdd1dull, true, &a, &ha);
        random_fp_program(seed * 0x2545f4914f6cdd1dull, false, &b, &hb);
        int failed = test_current_failed;
        test_current_failed = 0;
        check_same(&a, &b);
        CHECK_EQ_U64(a.exit.mmio.data, b.exit.mmio.data);
        CHECK_EQ_U64(a.exit.mmio.addr, b.exit.mmio.addr);
        CHECK_EQ_U64(ha, hb);
        if (test_current_failed)
            printf("  seed %" PRIu64 "\n", seed);
        test_current_failed |= failed;
        trapped += a.pc >= HANDLER && a.pc < HANDLER + 0x100;
    }
    CHECK(trapped > 0); /* the FS-off cases did trap inside compiled code */
}

/* The end of an edge program (a loop over operand sets, a1 its count): the branch back to
 * loop, the exit, the run of vCPU 0; o and hash get the outcome and the hash of the n
 * result words at out. */
static void run_edges(struct guest *g, uint64_t loop, uint64_t out, unsigned n,
                      struct outcome *o, uint64_t *hash)
{
    emit(g, ADDI(A1, A1, -1));
    emit(g, BNE(A1, ZERO, (int32_t)(loop - g->at)));
    emit(g, SD(ZERO, S11, 0));
    struct hv_exit ex = run(g->cpu[0]);
    CHECK(ex.reason == HV_EXIT_MMIO);
    snapshot(g->cpu[0], &ex, o);
    const uint64_t *res = guest_ptr(g, out);
    *hash = 0;
    for (unsigned i = 0; i < n; i++)
        *hash = (*hash ^ res[i]) * 0x100000001b3ull;
    guest_fini(g);
}

typedef void edge_program(bool jit, unsigned frm, struct outcome *o, uint64_t *hash);

/* An edge program compiled and interpreted, with frm RNE and RTZ: the same outcome and
 * the same results. */
static void edges_match(edge_program *program)
{
    for (unsigned frm = 0; frm < 2; frm++) {
        struct outcome a = {0}, b = {0};
        uint64_t ha = 0, hb = 0;
        program(true, frm, &a, &ha);
        program(false, frm, &b, &hb);
        check_same(&a, &b);
        CHECK_EQ_U64(ha, hb);
    }
}

/* Operands for the inline double arithmetic: both sides of each range limit of its fast
 * path (exponents 62/63, 0x7fc/0x7fd/0x7fe), exact and inexact results, overflow and
 * underflow, zeros, subnormals, infinities, NaNs, negative square roots. */
static uint64_t rnd_edge_double(void)
{
    static const unsigned exps[] = { 0, 1, 62, 63, 64, 0x3fe, 0x3ff, 0x400, 0x7fc, 0x7fd,
                                     0x7fe, 0x7ff };
    uint64_t sign = rnd() % 4 == 0 ? 1ull << 63 : 0;
    uint64_t mant = rnd() % 3 == 0 ? 0 : rnd() % 2 ? rnd() & 0xfffffffffffffull
                                                 : (rnd() & 0xff) << 44;
    if (rnd() % 4 == 0)
        return sign | rnd_fp_value();
    if (rnd() % 2)
        return sign | (uint64_t)exps[rnd() % (sizeof(exps) / sizeof(exps[0]))] << 52 | mant;
    return sign | (0x380ull + rnd() % 0x100) << 52 | mant;
}

/* FADD/FSUB/FMUL/FDIV/FSQRT.D, static RNE and dynamic, each with fflags cleared before
 * and read after, the four fused forms with fflags = NX before (what their inline path
 * needs), and FLE/FLT/FEQ.D of (a, b) and (a, a), over 300 operand triples: the results and flags of every single
 * operation, compiled inline or not, against the interpreter; frm is RNE or RTZ. */
static void fp_arith_edges(bool jit, unsigned frm, struct outcome *o, uint64_t *hash)
{
    enum { PAIRS = 300, OPS = 24 };
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    rng_state = 0x5eed0000u + frm;
    uint64_t in = RAM_BASE + 0x10000, out = RAM_BASE + 0x20000;
    uint64_t *pairs = guest_ptr(&g, in);
    for (unsigned i = 0; i < 2 * PAIRS; i += 2) {
        pairs[i] = rnd_edge_double();
        pairs[i + 1] = rnd_edge_double();
        if (rnd() % 3 == 0) /* the same exponent: sums at the overflow limit */
            pairs[i + 1] = (pairs[i] & 0x7ff0000000000000ull) |
                           (pairs[i + 1] & 0x800fffffffffffffull);
    }
    hv_vcpu_set_reg(c, CSR(0x300), reg(c, CSR(0x300)) | 1ull << 13);
    hv_vcpu_set_reg(c, CSR(0x002), frm);
    hv_vcpu_set_reg(c, HV_REG_X(A0), in);
    hv_vcpu_set_reg(c, HV_REG_X(A2), out);
    hv_vcpu_set_reg(c, HV_REG_X(A1), PAIRS);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    static const uint8_t f7[] = { 0x01, 0x05, 0x09, 0x0d, 0x2d };
    uint64_t loop = g.at;
    emit(&g, FLD(1, A0, 0));
    emit(&g, FLD(2, A0, 8));
    emit(&g, FLD(5, A0, 16)); /* the next pair's first: the addend */
    for (unsigned k = 0; k < OPS; k++) {
        unsigned rm = k % 2 ? 7 : 0;
        if (k < 10) {
            emit(&g, CSRW(0x001, ZERO));
            emit(&g, rv_r(f7[k / 2], f7[k / 2] == 0x2d ? 0 : 2, 1, rm, 3, OPC_FP));
        } else if (k < 18) {
            emit(&g, rv_i(0x001, 1, 5, ZERO, 0x73)); /* csrwi fflags, NX */
            emit(&g, 5u << 27 | 1u << 25 | 2u << 20 | 1u << 15 | rm << 12 | 3u << 7 |
                         (0x43u + 4 * ((k - 10) / 2)));
        } else { /* fle flt feq.d of (f1, f2), then of (f1, f1) */
            emit(&g, CSRW(0x001, ZERO));
            emit(&g, rv_r(0x51, k < 21 ? 2 : 1, 1, (k - 18) % 3, T1, OPC_FP));
            emit(&g, FMV_D_X(3, T1));
        }
        emit(&g, FSD(3, A2, (int32_t)(16 * k)));
        emit(&g, CSRR(T0, 0x001));
        emit(&g, SD(T0, A2, (int32_t)(16 * k + 8)));
    }
    emit(&g, ADDI(A0, A0, 16));
    emit(&g, ADDI(A2, A2, 16 * OPS));
    run_edges(&g, loop, out, 2 * OPS * PAIRS, o, hash);
}

TEST(inline_fp_arithmetic_matches_the_interpreter)
{
    edges_match(fp_arith_edges);
}

/* Operands for the inline single-precision arithmetic and the conversions: singles on
 * both sides of each range limit (exponents 0, 1, 63-65, 0x7e-0x80, 0xfc-0xff), NaN-boxed
 * or (sometimes) not; doubles around the single range and the integer limits; integers
 * of every magnitude. */
static uint64_t rnd_edge_single(void)
{
    static const unsigned exps[] = { 0, 1, 63, 64, 65, 0x7e, 0x7f, 0x80, 0x96, 0x97,
                                     0xfc, 0xfd, 0xfe, 0xff };
    uint32_t sign = rnd() % 4 == 0 ? 1u << 31 : 0;
    uint32_t mant = rnd() % 3 == 0 ? 0 : rnd() % 2 ? (uint32_t)rnd() & 0x7fffff
                                                 : ((uint32_t)rnd() & 0xff) << 15;
    uint32_t f = sign | (uint32_t)(rnd() % 2 ? exps[rnd() % (sizeof(exps) / sizeof(exps[0]))]
                                             : 0x60 + rnd() % 0x40) << 23 | mant;
    if (rnd() % 16 == 0)
        return rnd_fp_value();
    return (rnd() % 24 ? 0xffffffff00000000ull : 0) | f;
}

static uint64_t rnd_edge_convertible(void)
{
    static const unsigned exps[] = { 0x36a, 0x36b, 0x380, 0x381, 0x3ff, 0x41d, 0x41e, 0x41f,
                                     0x433, 0x434, 0x43d, 0x43e, 0x43f, 0x47e, 0x47f, 0x480 };
    uint64_t sign = rnd() % 3 == 0 ? 1ull << 63 : 0;
    uint64_t mant = rnd() % 3 == 0 ? 0 : rnd() % 2 ? rnd() & 0xfffffffffffffull
                                                 : (rnd() & 0xff) << 44;
    if (rnd() % 8 == 0)
        return rnd_edge_double();
    return sign | (uint64_t)exps[rnd() % (sizeof(exps) / sizeof(exps[0]))] << 52 | mant;
}

static uint64_t rnd_edge_int(void)
{
    static const uint64_t v[] = { 0, 1, ~0ull, 0x7fffffffull, 0x80000000ull, 0xffffffff80000000ull,
                                  0x1000001ull, 0xffffffffull, 1ull << 63, (1ull << 63) - 1,
                                  (1ull << 53) + 1, 0x20000000000001ull };
    return rnd() % 3 == 0 ? v[rnd() % (sizeof(v) / sizeof(v[0]))] : rnd() >> (rnd() % 64);
}

/* Each single-precision and conversion instruction the JIT can inline, in RNE, RTZ
 * and dynamic modes, once with fflags cleared and once with NX set (what the inline
 * paths need), over 300 operand sets: results and flags of every single operation
 * against the interpreter; frm is RNE or RTZ. */
static void fp_single_edges(bool jit, unsigned frm, struct outcome *o, uint64_t *hash)
{
    enum { SETS = 300, MAXOPS = 72 };
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    rng_state = 0x51e60000u + frm;
    uint64_t in = RAM_BASE + 0x10000, out = RAM_BASE + 0x40000;
    uint64_t *sets = guest_ptr(&g, in);
    for (unsigned i = 0; i < 4 * SETS; i += 4) {
        sets[i] = rnd_edge_single();
        sets[i + 1] = rnd_edge_single();
        if (rnd() % 3 == 0) /* the same exponent */
            sets[i + 1] = (sets[i + 1] & ~0x7f800000ull) | (sets[i] & 0x7f800000ull);
        sets[i + 2] = rnd_edge_convertible();
        sets[i + 3] = rnd_edge_int();
    }
    uint32_t ops[MAXOPS];
    bool to_x[MAXOPS];
    unsigned nops = 0;
#define OP(insn, x) (ops[nops] = (insn), to_x[nops++] = (x))
    static const unsigned rms[3] = { 0, 1, 7 };
    for (unsigned r = 0; r < 3; r++) {
        unsigned rm = rms[r];
        for (unsigned f = 0; f < 4; f++) /* fadd fsub fmul fdiv.s f3, f1, f2 */
            OP(rv_r(f << 2, 2, 1, rm, 3, OPC_FP), false);
        OP(rv_r(0x2c, 0, 1, rm, 3, OPC_FP), false); /* fsqrt.s */
        if (r != 1)
            for (unsigned k = 0; k < 4; k++) /* the fused forms, f3 = f1 * f2 + f2 */
                OP(2u << 27 | 2u << 20 | 1u << 15 | rm << 12 | 3u << 7 | (0x43u + 4 * k), false);
        OP(rv_r(0x21, 0, 1, rm, 3, OPC_FP), false); /* fcvt.d.s f3, f1 */
        OP(rv_r(0x20, 1, 4, rm, 3, OPC_FP), false); /* fcvt.s.d f3, f4 */
        OP(rv_r(0x60, 0, 1, rm, T1, OPC_FP), true); /* fcvt.w.s */
        OP(rv_r(0x60, 2, 1, rm, T1, OPC_FP), true); /* fcvt.l.s */
        OP(rv_r(0x61, 0, 4, rm, T1, OPC_FP), true); /* fcvt.w.d */
        OP(rv_r(0x61, 2, 4, rm, T1, OPC_FP), true); /* fcvt.l.d */
        for (unsigned k = 0; k < 3; k++) { /* fcvt.s/d.w/wu/l f3, t2 */
            OP(rv_r(0x68, k, T2, rm, 3, OPC_FP), false);
            OP(rv_r(0x69, k, T2, rm, 3, OPC_FP), false);
        }
    }
    for (unsigned k = 0; k < 3; k++) /* fle flt feq.s of (f1, f2), then of (f1, f1) */
        OP(rv_r(0x50, 2, 1, k, T1, OPC_FP), true), OP(rv_r(0x50, 1, 1, k, T1, OPC_FP), true);
#undef OP
    REQUIRE(nops <= MAXOPS);
    hv_vcpu_set_reg(c, CSR(0x300), reg(c, CSR(0x300)) | 1ull << 13);
    hv_vcpu_set_reg(c, CSR(0x002), frm);
    hv_vcpu_set_reg(c, HV_REG_X(A0), in);
    hv_vcpu_set_reg(c, HV_REG_X(A2), out);
    hv_vcpu_set_reg(c, HV_REG_X(A1), SETS);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    uint64_t loop = g.at;
    emit(&g, FLD(1, A0, 0));
    emit(&g, FLD(2, A0, 8));
    emit(&g, FLD(4, A0, 16));
    emit(&g, LD(T2, A0, 24));
    for (unsigned k = 0; k < nops; k++) {
        for (unsigned nx = 0; nx < 2; nx++) {
            emit(&g, rv_i((int32_t)0x001, nx, 5, ZERO, 0x73)); /* csrwi fflags, nx */
            emit(&g, ops[k]);
            emit(&g, to_x[k] ? SD(T1, A2, (int32_t)(16 * nx)) : FSD(3, A2, (int32_t)(16 * nx)));
            emit(&g, CSRR(T0, 0x001));
            emit(&g, SD(T0, A2, (int32_t)(16 * nx + 8)));
        }
        emit(&g, ADDI(A2, A2, 32));
    }
    emit(&g, ADDI(A0, A0, 32));
    run_edges(&g, loop, out, 4 * nops * SETS, o, hash);
}

TEST(inline_single_and_conversions_match_the_interpreter)
{
    edges_match(fp_single_edges);
}

/* Counts the mappings of this process that are writable and executable at once, and those
 * that are executable views of the JIT's code buffer (a memfd named cove-jit). */
static void scan_maps(unsigned *wx, unsigned *jit_code)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char perms[5] = "";
        if (sscanf(line, "%*s %4s", perms) != 1)
            continue;
        bool w = perms[1] == 'w', x = perms[2] == 'x';
        *wx += w && x;
        *jit_code += x && strstr(line, "memfd:cove-jit") != NULL;
    }
    fclose(f);
}

/* W^X: compiled code runs from a view that cannot be written, and nothing the JIT maps
 * (nor anything else in the process) is writable and executable at once. */
TEST(code_buffer_is_never_writable_and_executable)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 2, true) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 1000);
    emit(&g, ADDI(T1, T1, 3));
    emit(&g, ADDI(A1, A1, -1));
    emit(&g, BNE(A1, ZERO, -8));
    emit(&g, SD(T1, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.data, 3000);
    unsigned wx = 0, jit_code = 0;
    scan_maps(&wx, &jit_code);
    CHECK_EQ_U64(wx, 0);
#if defined(__x86_64__)
    CHECK_EQ_U64(jit_code, 2); /* one per vCPU: the test did run compiled code */
#endif
    guest_fini(&g);
    wx = jit_code = 0;
    scan_maps(&wx, &jit_code);
    CHECK_EQ_U64(jit_code, 0); /* both views go with their vCPU */
}

/* counts A1 times by STEP into T1, then stores T1 to MMIO: the exit carries it */
static void emit_counting_loop(struct guest *g, int32_t step)
{
    g->at = RAM_BASE;
    emit(g, ADDI(T1, T1, step));
    emit(g, ADDI(A1, A1, -1));
    emit(g, BNE(A1, ZERO, -8));
    emit(g, SD(T1, S11, 0));
}

static uint64_t count_to_mmio(hv_vcpu *c)
{
    hv_vcpu_set_reg(c, HV_REG_PC, RAM_BASE);
    hv_vcpu_set_reg(c, HV_REG_X(T1), 0);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 1000);
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    return ex.mmio.data;
}

/* An idle vCPU's trim (dcache_trim) gives its decoded pages, entry tables and code back
 * to the host, and a slot entered after it is not cleared again (dcache.c, jit_x86.c: it
 * counts as the mapping's zeros, which is what spares a resumed fork its faults). So a
 * page rewritten while trimmed (no fence.i: nothing of it is cached) must run as
 * rewritten, the same with and without the JIT; and a slot taken by another page without
 * a trim must be cleared as ever. */
static void rewritten_after_trim(bool jit)
{
    struct guest g;
    REQUIRE(guest_init_jit(&g, 1, jit) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    emit_counting_loop(&g, 1);
    CHECK_EQ_U64(count_to_mmio(c), 1000);
    dcache_trim(c);
    emit_counting_loop(&g, 3);
    CHECK_EQ_U64(count_to_mmio(c), 3000);
    dcache_trim(c);
    CHECK_EQ_U64(count_to_mmio(c), 3000); /* the same bytes, entered again after a trim */
    guest_fini(&g);
}

TEST(rewritten_page_after_an_idle_trim_runs_as_rewritten)
{
    rewritten_after_trim(true);
    rewritten_after_trim(false);
}

int main(void)
{
    RUN(trap_and_mmio_exit_mid_block_are_precise);
    RUN(page_fault_mid_block_is_precise);
    RUN(x0_writes_in_compiled_code);
    RUN(self_modifying_code_with_fence_i);
    RUN(fence_i_keeps_unchanged_code_and_sees_rewritten_code);
    RUN(fence_i_epoch_wrap_sees_rewritten_code);
    RUN(store_into_the_running_blocks_page);
    RUN(interrupts_reach_a_tight_compiled_loop);
    RUN(remapped_jump_target_runs_the_new_code);
    RUN(remapped_jump_target_after_a_page_fence);
    RUN(integer_ops_match_the_interpreter);
    RUN(random_programs_match_the_interpreter);
    RUN(random_fp_programs_match_the_interpreter);
    RUN(inline_fp_arithmetic_matches_the_interpreter);
    RUN(inline_single_and_conversions_match_the_interpreter);
    RUN(code_buffer_is_never_writable_and_executable);
    RUN(rewritten_page_after_an_idle_trim_runs_as_rewritten);
    return test_summary();
}
