/*
 * test_hv_cpu.c — the soft CPU through the hv API: MMIO and SBI exits and their
 * completion, integer semantics, compressed instructions, misaligned accesses, CSRs,
 * traps and delegation, the FPU glue.
 */
#include <errno.h>
#include <unistd.h>

#include "../test.h"
#include "rvasm.h"

/* Runs until an exit that is not a kick; fails the test on an error return. */
static struct hv_exit run(hv_vcpu *c)
{
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    int err = hv_vcpu_run(c, &ex);
    CHECK(err == 0);
    return ex;
}

/* Expects a 4- or 8-byte MMIO store at MMIO_ADDR and returns its value. */
static uint64_t expect_store(hv_vcpu *c, struct hv_exit *ex)
{
    *ex = run(c);
    CHECK(ex->reason == HV_EXIT_MMIO);
    CHECK(ex->mmio.is_write);
    CHECK_EQ_U64(ex->mmio.addr, MMIO_ADDR);
    return ex->mmio.data;
}

static void emit_report(struct guest *g, unsigned reg_id)
{
    emit(g, SD(reg_id, S11, 0));
}

TEST(mmio_load_store_completion)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(T1), 0x1122334455667788ull);
    emit(&g, SW(T1, S11, 8));
    emit(&g, LW(T2, S11, 16));
    emit(&g, LBU(T3, S11, 17));
    emit(&g, LD(ZERO, S11, 24));
    emit(&g, ADDI(T4, ZERO, 7));

    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.addr, MMIO_ADDR + 8);
    CHECK_EQ_U64(ex.mmio.len, 4);
    CHECK_EQ_U64(ex.mmio.data, 0x55667788);
    CHECK_EQ_U64(reg(c, HV_REG_PC), RAM_BASE); /* the store completes on the next run */

    ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && !ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.addr, MMIO_ADDR + 16);
    CHECK_EQ_U64(ex.mmio.len, 4);
    CHECK_EQ_U64(reg(c, HV_REG_PC), RAM_BASE + 4);
    ex.mmio.data = 0x80000001;
    struct hv_exit ex2 = ex;
    CHECK(hv_vcpu_run(c, &ex2) == 0);
    CHECK_EQ_U64(reg(c, HV_REG_X(T2)), 0xffffffff80000001ull); /* lw sign-extends */
    CHECK(ex2.reason == HV_EXIT_MMIO && ex2.mmio.len == 1);
    ex2.mmio.data = 0xfe;
    struct hv_exit ex3 = ex2;
    CHECK(hv_vcpu_run(c, &ex3) == 0);
    CHECK_EQ_U64(reg(c, HV_REG_X(T3)), 0xfe);
    CHECK(ex3.reason == HV_EXIT_MMIO && ex3.mmio.len == 8);
    /* A fault answer turns into a load access fault at the instruction. */
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000); /* mtvec */
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit(&g, SW(T0, S11, 0));
    ex3.mmio.fault = true;
    CHECK(hv_vcpu_run(c, &ex3) == 0);
    CHECK(ex3.reason == HV_EXIT_MMIO && ex3.mmio.is_write);
    CHECK_EQ_U64(ex3.mmio.data, 5);
    CHECK_EQ_U64(reg(c, CSR(0x343)), MMIO_ADDR + 24);
    CHECK_EQ_U64(reg(c, CSR(0x341)), RAM_BASE + 12);
    CHECK_EQ_U64(reg(c, HV_REG_X(T4)), 0); /* the faulting load did not retire */
    guest_fini(&g);
}

TEST(sbi_exit_and_completion)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, true) == 0);
    hv_vcpu *c = g.cpu[0];
    CHECK(hv_vcpu_set_reg(c, HV_REG_PRIV, 1) == 0);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A7), 0x54494d45);
    hv_vcpu_set_reg(c, HV_REG_X(A6), 3);
    for (unsigned i = 0; i < 6; i++)
        hv_vcpu_set_reg(c, HV_REG_X(A0 + i), 100 + i);
    emit(&g, ECALL);
    emit_report(&g, A0);
    emit_report(&g, A1);
    emit(&g, ADDI(T0, ZERO, 1)); /* an illegal-in-M-only trap: ecall from S is the SBI */
    emit(&g, MRET);              /* illegal in S, not delegated: guest error */

    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_SBI);
    CHECK_EQ_U64(ex.sbi.ext, 0x54494d45);
    CHECK_EQ_U64(ex.sbi.func, 3);
    CHECK_EQ_U64(ex.sbi.args[0], 100);
    CHECK_EQ_U64(ex.sbi.args[5], 105);
    ex.sbi.ret[0] = 0;
    ex.sbi.ret[1] = 0xabc;
    CHECK(hv_vcpu_run(c, &ex) == 0);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.data == 0);
    CHECK(hv_vcpu_run(c, &ex) == 0);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.data == 0xabc);
    CHECK(hv_vcpu_run(c, &ex) == 0);
    CHECK(ex.reason == HV_EXIT_GUEST_ERROR);
    CHECK_EQ_U64(ex.guest_error.cause, 2);
    CHECK_EQ_U64(ex.guest_error.pc, RAM_BASE + 16);
    CHECK_EQ_U64(ex.guest_error.tval, MRET);
    guest_fini(&g);
}

TEST(integer_semantics)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), (uint64_t)INT64_MIN);
    hv_vcpu_set_reg(c, HV_REG_X(A1), (uint64_t)-1);
    hv_vcpu_set_reg(c, HV_REG_X(A2), 0);
    emit(&g, DIV(T0, A0, A1));  /* overflow: INT64_MIN */
    emit_report(&g, T0);
    emit(&g, REM(T0, A0, A1));  /* 0 */
    emit_report(&g, T0);
    emit(&g, DIV(T0, A0, A2));  /* by zero: -1 */
    emit_report(&g, T0);
    emit(&g, REM(T0, A0, A2));  /* dividend */
    emit_report(&g, T0);
    emit(&g, ADDIW(T0, A1, 0)); /* sext of 0xffffffff */
    emit_report(&g, T0);
    emit(&g, LUI(T0, 0x80000)); /* sign-extended */
    emit_report(&g, T0);
    emit(&g, rv_r(1, A1, A1, 3, T0, 0x33)); /* mulhu(-1,-1) = 0xff..fe */
    emit_report(&g, T0);
    emit(&g, rv_r(1, A1, A0, 1, T0, 0x33)); /* mulh(INT64_MIN, -1) = 0 */
    emit_report(&g, T0);
    emit(&g, rv_r(0x20, A1, A0, 5, T0, 0x3b)); /* sraw(0, 31) */
    emit_report(&g, T0);
    emit(&g, JAL(RA, 8));
    emit(&g, 0); /* skipped */
    emit_report(&g, RA);

    static const uint64_t want[] = { (uint64_t)INT64_MIN, 0, ~0ull, (uint64_t)INT64_MIN,
                                     ~0ull, 0xffffffff80000000ull, 0xfffffffffffffffeull, 0,
                                     0, RAM_BASE + 18 * 4 + 4 };
    struct hv_exit ex;
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t got = expect_store(c, &ex);
        if (got != want[i])
            printf("  case %u\n", i);
        CHECK_EQ_U64(got, want[i]);
    }
    guest_fini(&g);
}

TEST(compressed_instructions)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(SP), RAM_BASE + 0x8000);
    emit16(&g, 0x4515);      /* c.li a0, 5 */
    emit16(&g, 0x0505);      /* c.addi a0, 1 */
    emit16(&g, 0x85aa);      /* c.mv a1, a0 */
    emit16(&g, 0x95aa);      /* c.add a1, a0      -> 12 */
    emit16(&g, 0x058e);      /* c.slli a1, 3      -> 96 */
    emit16(&g, 0xc02e);      /* c.swsp a1, 0(sp) */
    emit16(&g, 0x4602);      /* c.lwsp a2, 0(sp) */
    emit16(&g, 0x8e09);      /* c.sub a2, a0      -> 90 */
    emit16(&g, 0x0030);      /* c.addi4spn a2?: addi a2, sp, 8 -> sp+8 */
    emit16(&g, 0x0001);      /* c.nop */
    emit(&g, SD(A1, S11, 0));
    emit(&g, SD(A2, S11, 0));
    emit16(&g, 0xa011);      /* c.j +4 */
    emit16(&g, 0x0000);      /* illegal, skipped */
    emit16(&g, 0x0000);      /* illegal: traps with tval = 0 */

    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 96);
    CHECK_EQ_U64(expect_store(c, &ex), RAM_BASE + 0x8008);
    CHECK_EQ_U64(reg(c, HV_REG_X(A0)), 6);
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
    emit(&g, 0); /* keep the handler area distinct */
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit_report(&g, T0);
    CHECK_EQ_U64(expect_store(c, &ex), 2);
    CHECK_EQ_U64(reg(c, CSR(0x341)), RAM_BASE + 28 + 4);
    CHECK_EQ_U64(reg(c, CSR(0x343)), 0);
    guest_fini(&g);
}

TEST(misaligned_ram_access)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t data = RAM_BASE + 0x3000 - 3; /* straddles a page boundary */
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), data);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 0x0102030405060708ull);
    emit(&g, SD(A1, A0, 0));
    emit(&g, LD(T0, A0, 0));
    emit_report(&g, T0);
    emit(&g, LW(T0, A0, 1));
    emit_report(&g, T0);
    emit(&g, LH(T0, A0, 5));
    emit_report(&g, T0);
    emit(&g, SW(A1, S11, 1)); /* misaligned MMIO: access fault */

    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 0x0102030405060708ull);
    CHECK_EQ_U64(expect_store(c, &ex), 0x04050607);
    CHECK_EQ_U64(expect_store(c, &ex), 0x0203);
    uint8_t *p = guest_ptr(&g, data);
    CHECK(p[0] == 0x08 && p[7] == 0x01);
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit_report(&g, T0);
    CHECK_EQ_U64(expect_store(c, &ex), 7);
    CHECK_EQ_U64(reg(c, CSR(0x343)), MMIO_ADDR + 1);
    guest_fini(&g);
}

TEST(csr_rules)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    CHECK_EQ_U64(reg(c, CSR(0x301)), 0x800000000014112dull); /* RV64IMAFDCSU */
    CHECK_EQ_U64(reg(c, CSR(0xf14)), 0);
    hv_vcpu_set_reg(c, CSR(0x300), ~0ull);
    uint64_t ms = reg(c, CSR(0x300));
    CHECK((ms >> 11 & 3) == 3);
    CHECK((ms >> 32 & 15) == 0xa); /* UXL = SXL = 64 */
    CHECK(ms >> 63);               /* SD with FS dirty */
    hv_vcpu_set_reg(c, CSR(0x300), 2ull << 11); /* MPP = 2 is reserved */
    CHECK((reg(c, CSR(0x300)) >> 11 & 3) != 2);
    hv_vcpu_set_reg(c, CSR(0x180), 5ull << 60); /* unsupported satp mode: ignored */
    CHECK_EQ_U64(reg(c, CSR(0x180)), 0);
    hv_vcpu_set_reg(c, CSR(0x3b0), ~0ull);
    CHECK_EQ_U64(reg(c, CSR(0x3b0)), (1ull << 54) - 1);
    uint64_t v;
    CHECK(hv_vcpu_get_reg(c, CSR(0x3a1), &v) < 0); /* odd pmpcfg on RV64 */
    CHECK(hv_vcpu_get_reg(c, CSR(0x7ff), &v) < 0);

    /* Guest: U-mode reading cycle without mcounteren traps; reading an unknown CSR too. */
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
    hv_vcpu_set_reg(c, CSR(0x300), 0);
    emit(&g, CSRR(T0, 0x7ff));
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x343));
    emit_report(&g, T0);
    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 2);
    CHECK_EQ_U64(expect_store(c, &ex), CSRR(T0, 0x7ff));
    guest_fini(&g);
}

/* U-mode code faults; medeleg sends illegal instructions to S, not breakpoints. */
TEST(trap_delegation)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x302), 1u << 2);                /* medeleg: illegal */
    hv_vcpu_set_reg(c, CSR(0x105), RAM_BASE + 0x2000);      /* stvec */
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x3000);      /* mtvec */
    hv_vcpu_set_reg(c, CSR(0x300), (1ull << 13) | (1ull << 1)); /* FS initial, SIE */
    hv_vcpu_set_reg(c, CSR(0x341), RAM_BASE + 0x100);       /* mepc */
    emit(&g, MRET); /* MPP = U: to U at 0x100 */
    g.at = RAM_BASE + 0x100;
    emit(&g, CSRR(T0, 0x100)); /* sstatus from U: illegal -> S */
    emit(&g, EBREAK);          /* breakpoint -> M */
    g.at = RAM_BASE + 0x2000;
    emit(&g, CSRR(T0, 0x142)); /* scause */
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x141)); /* sepc */
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x100)); /* sstatus: SPP = U, SPIE = old SIE, SIE = 0 */
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x141));
    emit(&g, ADDI(T0, T0, 4));
    emit(&g, CSRW(0x141, T0));
    emit(&g, SRET);
    g.at = RAM_BASE + 0x3000;
    emit(&g, CSRR(T0, 0x342));
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x300));
    emit_report(&g, T0);

    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 2);
    CHECK_EQ_U64(expect_store(c, &ex), RAM_BASE + 0x100);
    uint64_t ss = expect_store(c, &ex);
    CHECK((ss & (1u << 8)) == 0 && (ss & (1u << 5)) && !(ss & 2));
    CHECK_EQ_U64(reg(c, HV_REG_PRIV), 1);
    CHECK_EQ_U64(expect_store(c, &ex), 3);
    CHECK_EQ_U64(reg(c, HV_REG_PRIV), 3);
    uint64_t ms = expect_store(c, &ex);
    CHECK_EQ_U64((ms >> 11) & 3, 0); /* MPP = U */
    CHECK_EQ_U64(reg(c, CSR(0x341)), RAM_BASE + 0x104);
    CHECK_EQ_U64(reg(c, CSR(0x343)), RAM_BASE + 0x104); /* ebreak: tval = pc */
    guest_fini(&g);
}

TEST(fpu_glue)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), RAM_BASE + 0x4000);
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
    uint32_t one = 0x3f800000; /* 1.0f */
    memcpy(guest_ptr(&g, RAM_BASE + 0x4000), &one, 4);
    emit(&g, FLW(1, A0, 0));   /* FS = Off: illegal */
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit_report(&g, T0);
    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 2);

    hv_vcpu_set_reg(c, CSR(0x300), 1ull << 13); /* FS = Initial */
    hv_vcpu_set_reg(c, HV_REG_PC, RAM_BASE + 0x200);
    g.at = RAM_BASE + 0x200;
    emit(&g, FLW(1, A0, 0));
    emit(&g, rv_r(0, 1, 1, 7, 2, 0x53));  /* fadd.s f2, f1, f1 (dyn rm) */
    emit(&g, FSD(2, A0, 8));
    emit(&g, LD(T0, A0, 8));
    emit_report(&g, T0);
    emit(&g, CSRR(T0, 0x300));
    emit_report(&g, T0);
    CHECK_EQ_U64(expect_store(c, &ex), 0xffffffff40000000ull); /* NaN-boxed 2.0f */
    CHECK_EQ_U64((expect_store(c, &ex) >> 13) & 3, 3);         /* FS = Dirty */
    CHECK_EQ_U64(reg(c, HV_REG_F(1)), 0xffffffff3f800000ull);
    guest_fini(&g);
}

/* Several interrupts pending: MEI wins over MSI, and a vectored mtvec sends it to
 * base + 4 * cause. Then MSI, after MEI is lowered. */
TEST(interrupt_priority_and_vectoring)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t base = RAM_BASE + 0x1000;
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x305), base | 1);
    hv_vcpu_set_reg(c, CSR(0x304), (1u << 3) | (1u << 11));
    hv_vcpu_set_irq(c, HV_IRQ_M_SOFT, true);
    hv_vcpu_set_irq(c, HV_IRQ_M_EXT, true);
    emit(&g, CSRRSI(ZERO, 0x300, 8)); /* mstatus.MIE = 1: both become takeable */
    emit(&g, JAL(ZERO, 0));
    for (unsigned cause = 3; cause <= 11; cause += 8) {
        g.at = base + 4 * cause;
        emit(&g, CSRR(T0, 0x342));
        emit(&g, SD(T0, S11, 0));
        emit(&g, MRET);
    }
    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), (1ull << 63) | 11);
    CHECK_EQ_U64(reg(c, CSR(0x341)), RAM_BASE + 4); /* interrupted the spin loop */
    hv_vcpu_set_irq(c, HV_IRQ_M_EXT, false);
    CHECK_EQ_U64(expect_store(c, &ex), (1ull << 63) | 3);
    guest_fini(&g);
}

/* The decoded-instruction cache never runs stale code: a store by the hart itself
 * invalidates, and so does an HV_FLUSH_ICACHE request after the VMM rewrote code. */
TEST(code_modification_is_seen)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A1), RAM_BASE);
    hv_vcpu_set_reg(c, HV_REG_X(T1), ADDI(A0, ZERO, 2));
    emit(&g, ADDI(A0, ZERO, 1));
    emit(&g, SD(A0, S11, 0));
    emit(&g, SW(T1, A1, 0)); /* patch the first instruction */
    emit(&g, JAL(ZERO, -12));
    struct hv_exit ex;
    CHECK_EQ_U64(expect_store(c, &ex), 1);
    CHECK_EQ_U64(expect_store(c, &ex), 2);

    uint32_t patch = ADDI(A0, ZERO, 3);
    memcpy(guest_ptr(&g, RAM_BASE), &patch, 4);
    memcpy(guest_ptr(&g, RAM_BASE + 8), &(uint32_t){ NOP }, 4);
    hv_vcpu_request_flush(c, HV_FLUSH_ICACHE);
    CHECK_EQ_U64(expect_store(c, &ex), 3);
    guest_fini(&g);
}

/* hv_vcpu_get_state/set_state: not while an exit waits for its completion; a state moved
 * to a vCPU of another VM (with the same memory) goes on exactly where it was. */
static void emit_state_program(struct guest *g)
{
    emit(g, ADDI(T4, ZERO, 7));
    emit(g, SD(T4, S11, 0));
    emit(g, ADDI(T4, T4, 1));
    emit(g, SD(T4, S11, 8));
}

TEST(vcpu_state_moves_between_vms)
{
    struct guest a, b;
    REQUIRE(guest_init(&a, 1, false) == 0);
    REQUIRE(guest_init(&b, 1, false) == 0);
    emit_state_program(&a);
    emit_state_program(&b);
    hv_vcpu_set_reg(a.cpu[0], HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(a.cpu[0], HV_REG_CSR(0x340), 0xfeedull); /* mscratch */
    hv_vcpu_set_reg(a.cpu[0], HV_REG_F(3), 0x4000000000000000ull);
    struct hv_exit ex = run(a.cpu[0]);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.data, 7);
    struct hv_vcpu_state s;
    CHECK(hv_vcpu_get_state(a.cpu[0], &s) == -EBUSY); /* the store is not complete */
    hv_vcpu_kick(a.cpu[0]);
    ex = run(a.cpu[0]);
    CHECK(ex.reason == HV_EXIT_KICK);
    REQUIRE(hv_vcpu_get_state(a.cpu[0], &s) == 0);
    CHECK_EQ_U64(s.pc, RAM_BASE + 8);
    CHECK_EQ_U64(s.priv, 3);

    REQUIRE(hv_vcpu_set_state(b.cpu[0], &s) == 0);
    CHECK_EQ_U64(reg(b.cpu[0], HV_REG_CSR(0x340)), 0xfeed);
    CHECK_EQ_U64(reg(b.cpu[0], HV_REG_F(3)), 0x4000000000000000ull);
    ex = run(b.cpu[0]);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write);
    CHECK_EQ_U64(ex.mmio.addr, MMIO_ADDR + 8);
    CHECK_EQ_U64(ex.mmio.data, 8);

    s.priv = 2; /* no such privilege level */
    CHECK(hv_vcpu_set_state(b.cpu[0], &s) == -EINVAL);
    guest_fini(&a);
    guest_fini(&b);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60); /* a hung CPU fails the binary instead of hanging the suite */
    RUN(mmio_load_store_completion);
    RUN(vcpu_state_moves_between_vms);
    RUN(sbi_exit_and_completion);
    RUN(integer_semantics);
    RUN(compressed_instructions);
    RUN(misaligned_ram_access);
    RUN(csr_rules);
    RUN(trap_delegation);
    RUN(fpu_glue);
    RUN(code_modification_is_seen);
    RUN(interrupt_priority_and_vectoring);
    return test_summary();
}
