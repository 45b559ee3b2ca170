/*
 * test_hv_async.c — what crosses threads: kicks, WFI wake-ups (set_irq, ACLINT timer,
 * MSIP IPIs), Sstc timer interrupts, LR/SC and AMOs racing on two vCPU threads.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "rvasm.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct later {
    hv_vcpu *c;
    unsigned delay_ms;
    int what; /* 0: kick, otherwise an irq number to raise */
};

static void *do_later(void *arg)
{
    struct later *l = arg;
    usleep(l->delay_ms * 1000);
    if (l->what == 0)
        hv_vcpu_kick(l->c);
    else
        hv_vcpu_set_irq(l->c, (unsigned)l->what, true);
    return NULL;
}

static struct hv_exit run(hv_vcpu *c)
{
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    CHECK(hv_vcpu_run(c, &ex) == 0);
    return ex;
}

TEST(kick_stops_a_spinning_vcpu)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    emit(&g, JAL(ZERO, 0)); /* j . */
    hv_vcpu_kick(c);        /* before run: the next run returns at once */
    CHECK(run(c).reason == HV_EXIT_KICK);
    struct later l = { c, 30, 0 };
    pthread_t t;
    uint64_t t0 = now_ms();
    pthread_create(&t, NULL, do_later, &l);
    CHECK(run(c).reason == HV_EXIT_KICK);
    uint64_t dt = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK(dt >= 25 && dt < 2000);
    CHECK(hv_vcpu_instret(c) > 1000);
    CHECK_EQ_U64(reg(c, HV_REG_PC), RAM_BASE);
    guest_fini(&g);
}

TEST(kick_ends_a_wfi_wait)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    emit(&g, WFI); /* nothing enabled: would sleep forever */
    emit(&g, JAL(ZERO, -4));
    struct later l = { c, 30, 0 };
    pthread_t t;
    uint64_t t0 = now_ms();
    pthread_create(&t, NULL, do_later, &l);
    CHECK(run(c).reason == HV_EXIT_KICK);
    uint64_t dt = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK(dt >= 25 && dt < 500);
    guest_fini(&g);
}

TEST(wfi_wakes_on_set_irq)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x304), 1u << 11); /* MEIE, but mstatus.MIE = 0 */
    emit(&g, WFI);
    emit(&g, CSRR(T0, 0x344));
    emit(&g, SD(T0, S11, 0));
    struct later l = { c, 40, HV_IRQ_M_EXT };
    pthread_t t;
    uint64_t t0 = now_ms();
    pthread_create(&t, NULL, do_later, &l);
    struct hv_exit ex = run(c);
    uint64_t dt = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK(ex.mmio.data & (1u << 11));
    CHECK(dt >= 35);
    /* Level semantics: lowering the line clears MEIP. */
    hv_vcpu_set_irq(c, HV_IRQ_M_EXT, false);
    CHECK((reg(c, CSR(0x344)) & (1u << 11)) == 0);
    guest_fini(&g);
}

TEST(wfi_wakes_on_aclint_timer)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), ACLINT_BASE + 0x4000);
    hv_vcpu_set_reg(c, CSR(0x304), 1u << 7); /* MTIE */
    emit(&g, CSRR(T1, 0xc01));               /* time */
    emit(&g, LUI(T2, 98));                   /* ~40 ms at 10 MHz */
    emit(&g, ADD(T1, T1, T2));
    emit(&g, SD(T1, A0, 0));                 /* mtimecmp[0] */
    emit(&g, WFI);
    emit(&g, CSRR(T0, 0x344));
    emit(&g, SD(T0, S11, 0));
    emit(&g, LD(T3, A0, 0));                 /* mtimecmp reads back */
    emit(&g, SD(T3, S11, 0));
    uint64_t t0 = now_ms();
    struct hv_exit ex = run(c);
    uint64_t dt = now_ms() - t0;
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK(ex.mmio.data & (1u << 7));
    CHECK(dt >= 35 && dt < 2000);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, reg(c, HV_REG_MTIMECMP));
    CHECK_EQ_U64(ex.mmio.data, reg(c, HV_REG_X(T1)));
    guest_fini(&g);
}

/* S-mode with Sstc: stimecmp raises a delegated supervisor timer interrupt. */
TEST(sstc_timer_interrupt_in_s_mode)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, true) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, CSR(0x30a), 1ull << 63); /* menvcfg.STCE */
    hv_vcpu_set_reg(c, CSR(0x306), 2);          /* mcounteren.TM */
    hv_vcpu_set_reg(c, CSR(0x303), 1u << 5);    /* mideleg STIP */
    hv_vcpu_set_reg(c, CSR(0x104), 1u << 5);    /* sie.STIE */
    hv_vcpu_set_reg(c, CSR(0x100), 1u << 1);    /* sstatus.SIE */
    hv_vcpu_set_reg(c, CSR(0x105), RAM_BASE + 0x1000);
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    emit(&g, CSRR(T1, 0xc01));
    emit(&g, ADDI(T1, T1, 1000));
    emit(&g, CSRW(0x14d, T1)); /* stimecmp */
    emit(&g, JAL(ZERO, 0));    /* spin until the interrupt */
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x142));
    emit(&g, SD(T0, S11, 0));
    emit(&g, CSRR(T0, 0x141));
    emit(&g, SD(T0, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO);
    CHECK_EQ_U64(ex.mmio.data, (1ull << 63) | 5);
    ex = run(c);
    CHECK_EQ_U64(ex.mmio.data, RAM_BASE + 12);
    CHECK(reg(c, CSR(0x144)) & (1u << 5)); /* STIP stays up until stimecmp moves */
    guest_fini(&g);
}

/* A timer moved into the past is taken at the next jump, not after the run loop's next
 * scheduled clock read (TIME_CHECK_INSNS instructions later): an mtimecmp store through
 * the ACLINT (M-mode) and an stimecmp write (S-mode, Sstc) each make the next block read
 * the clock. The loop after the write counts its iterations in s1 until the interrupt. */
TEST(timer_moved_into_the_past_fires_at_once)
{
    for (int sstc = 0; sstc < 2; sstc++) {
        struct guest g;
        REQUIRE(guest_init(&g, 1, sstc) == 0);
        hv_vcpu *c = g.cpu[0];
        hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
        hv_vcpu_set_reg(c, HV_REG_X(A0), ACLINT_BASE + 0x4000);
        if (sstc) {
            hv_vcpu_set_reg(c, CSR(0x30a), 1ull << 63); /* menvcfg.STCE */
            hv_vcpu_set_reg(c, CSR(0x306), 2);          /* mcounteren.TM */
            hv_vcpu_set_reg(c, CSR(0x303), 1u << 5);    /* mideleg STIP */
            hv_vcpu_set_reg(c, CSR(0x104), 1u << 5);    /* sie.STIE */
            hv_vcpu_set_reg(c, CSR(0x100), 1u << 1);    /* sstatus.SIE */
            hv_vcpu_set_reg(c, CSR(0x105), RAM_BASE + 0x1000);
            hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
        } else {
            hv_vcpu_set_reg(c, CSR(0x304), 1u << 7); /* MTIE */
            hv_vcpu_set_reg(c, CSR(0x300), 1u << 3); /* MIE */
            hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
        }
        hv_vcpu_set_reg(c, HV_REG_X(A2), 100000);
        /* A few thousand instructions first, so the run loop's last clock read is behind. */
        emit(&g, ADDI(A2, A2, -1));
        emit(&g, BNE(A2, ZERO, -4));
        if (sstc)
            emit(&g, CSRW(0x14d, ZERO)); /* stimecmp = 0 */
        else
            emit(&g, SD(ZERO, A0, 0));   /* mtimecmp[0] = 0 */
        emit(&g, ADDI(S1, S1, 1));
        emit(&g, JAL(ZERO, -4));
        g.at = RAM_BASE + 0x1000;
        emit(&g, SD(S1, S11, 0));
        struct hv_exit ex = run(c);
        CHECK(ex.reason == HV_EXIT_MMIO);
        CHECK(ex.mmio.data <= 2);
        CHECK_EQ_U64(reg(c, CSR(sstc ? 0x142 : 0x342)), (1ull << 63) | (sstc ? 5 : 7));
        guest_fini(&g);
    }
}

struct runner {
    hv_vcpu *c;
    struct hv_exit ex;
    int err;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    memset(&r->ex, 0, sizeof(r->ex));
    do {
        r->err = hv_vcpu_run(r->c, &r->ex);
    } while (r->err == 0 && r->ex.reason == HV_EXIT_KICK);
    return NULL;
}

TEST(msip_ipi_wakes_other_hart)
{
    struct guest g;
    REQUIRE(guest_init(&g, 2, false) == 0);
    hv_vcpu *c0 = g.cpu[0], *c1 = g.cpu[1];
    /* hart 1: wfi, then report mip; hart 0: wait a little, write msip[1] = 1. */
    hv_vcpu_set_reg(c1, HV_REG_PC, RAM_BASE + 0x100);
    hv_vcpu_set_reg(c1, CSR(0x304), 1u << 3); /* MSIE */
    hv_vcpu_set_reg(c1, HV_REG_X(S11), MMIO_ADDR);
    g.at = RAM_BASE + 0x100;
    emit(&g, WFI);
    emit(&g, CSRR(T0, 0x344));
    emit(&g, SD(T0, S11, 0));
    hv_vcpu_set_reg(c0, HV_REG_X(A0), ACLINT_BASE + 4);
    hv_vcpu_set_reg(c0, HV_REG_X(A1), 1);
    hv_vcpu_set_reg(c0, HV_REG_X(A2), 2000000);
    hv_vcpu_set_reg(c0, HV_REG_X(S11), MMIO_ADDR + 8);
    g.at = RAM_BASE;
    emit(&g, ADDI(A2, A2, -1)); /* a delay loop so that hart 1 is asleep first */
    emit(&g, BNE(A2, ZERO, -4));
    emit(&g, SW(A1, A0, 0));
    emit(&g, LW(T0, A0, 0));
    emit(&g, SD(T0, S11, 0));
    struct runner r1 = { .c = c1 };
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &r1);
    struct hv_exit ex = run(c0);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.data == 1);
    pthread_join(t, NULL);
    CHECK(r1.err == 0);
    CHECK(r1.ex.reason == HV_EXIT_MMIO && r1.ex.mmio.addr == MMIO_ADDR);
    CHECK(r1.ex.mmio.data & (1u << 3));
    guest_fini(&g);
}

static void *run_once_thread(void *arg)
{
    struct runner *r = arg;
    memset(&r->ex, 0, sizeof(r->ex));
    r->err = hv_vcpu_run(r->c, &r->ex);
    return NULL;
}

/* OpenSBI parks a hart in `while (state != START) wfi();` with MSIE set and MIE clear; an
 * IPI left pending makes each WFI return at once, a spin that took a host core while the
 * boot hart loaded the kernel. After a few dozen such WFIs the hart sleeps as WFI would
 * (at most 1 ms, or until a wake), so the loop still ends when the flag is set, with or
 * without an IPI, and an interrupt enabled meanwhile is still taken. */
TEST(wfi_with_a_masked_pending_interrupt_does_not_spin)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t flag = RAM_BASE + 0x8000;
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(A0), flag);
    hv_vcpu_set_reg(c, CSR(0x304), 1u << 3); /* MSIE; mstatus.MIE = 0 */
    hv_vcpu_set_irq(c, HV_IRQ_M_SOFT, true);
    emit(&g, ADDI(S1, S1, 1)); /* loop: */
    emit(&g, WFI);
    emit(&g, LD(T0, A0, 0));
    emit(&g, BEQ(T0, ZERO, -12));
    emit(&g, SD(S1, S11, 0));
    struct runner r = { .c = c };
    pthread_t t;
    uint64_t t0 = now_ms();
    pthread_create(&t, NULL, run_once_thread, &r);
    usleep(200 * 1000);
    __atomic_store_n((uint64_t *)guest_ptr(&g, flag), 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    uint64_t dt = now_ms() - t0;
    CHECK(r.err == 0 && r.ex.reason == HV_EXIT_MMIO);
    /* Spinning, a WFI loop turns tens of thousands of times a second on any host; sleeping,
     * at most 65 times per ms slept. */
    CHECK(r.ex.mmio.data >= 1);
    CHECK(r.ex.mmio.data <= 70 * (dt + 2));
    CHECK(r.ex.mmio.data < 20000);
    CHECK(dt < 5000);
    guest_fini(&g);
}

/* A flush request from another thread is in effect when hv_vcpu_request_flush returns:
 * the VMM rewrites a PTE under a running hart, and afterwards the hart only ever sees
 * the new page. */
TEST(remote_tlb_flush_takes_effect)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t root = RAM_BASE + 0x10000, l1 = RAM_BASE + 0x11000, l0 = RAM_BASE + 0x12000;
    uint64_t page0 = RAM_BASE + 0x20000, page1 = RAM_BASE + 0x21000;
    uint64_t slot = RAM_BASE + 0x30000;
    uint64_t *pt = guest_ptr(&g, root);
    pt[1] = (l1 >> 12) << 10 | 1;
    pt[2] = (RAM_BASE >> 12) << 10 | 0xcf; /* V R W X A D, 1 GiB identity */
    ((uint64_t *)guest_ptr(&g, l1))[0] = (l0 >> 12) << 10 | 1;
    uint64_t *leaf = guest_ptr(&g, l0);
    leaf[0] = (page0 >> 12) << 10 | 0xc3; /* V R A D */
    *(uint64_t *)guest_ptr(&g, page0) = 1;
    *(uint64_t *)guest_ptr(&g, page1) = 2;
    hv_vcpu_set_reg(c, CSR(0x180), (8ull << 60) | (root >> 12));
    hv_vcpu_set_reg(c, HV_REG_PRIV, 1);
    hv_vcpu_set_reg(c, HV_REG_X(A0), 0x40000000);
    hv_vcpu_set_reg(c, HV_REG_X(A1), slot);
    emit(&g, LD(T1, A0, 0));
    emit(&g, SD(T1, A1, 0));
    emit(&g, JAL(ZERO, -8));

    struct runner r = { .c = c };
    pthread_t t;
    pthread_create(&t, NULL, run_once_thread, &r);
    volatile uint64_t *result = guest_ptr(&g, slot);
    uint64_t t0 = now_ms();
    while (*result != 1 && now_ms() - t0 < 2000)
        ;
    CHECK_EQ_U64(*result, 1);
    __atomic_store_n(&leaf[0], (page1 >> 12) << 10 | 0xc3, __ATOMIC_SEQ_CST);
    hv_vcpu_request_flush(c, HV_FLUSH_TLB);
    *result = 0;
    /* Whenever the hart next stores (a loaded machine, a sanitizer build: not within a
     * fixed few ms), it is the new page's value. */
    t0 = now_ms();
    while (*result == 0 && now_ms() - t0 < 2000)
        ;
    CHECK_EQ_U64(*result, 2);
    hv_vcpu_kick(c);
    pthread_join(t, NULL);
    CHECK(r.err == 0 && r.ex.reason == HV_EXIT_KICK);
    guest_fini(&g);
}

/* Spin-wait hints (pause, and Linux's cpu_relax `div rd, rs1, x0`) end the block after
 * a few dozen and the vCPU yields its host thread: the loop still runs exactly, the div
 * still writes -1, and nothing is retired twice or skipped. */
TEST(spin_wait_hints_run_exactly)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    hv_vcpu_set_reg(c, HV_REG_X(A2), 1000);
    hv_vcpu_set_reg(c, HV_REG_X(T3), 5);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    emit(&g, DIV(T2, T3, ZERO));
    emit(&g, PAUSE);
    emit(&g, ADDI(A2, A2, -1));
    emit(&g, BNE(A2, ZERO, -12));
    emit(&g, SD(T2, S11, 0));
    struct hv_exit ex = run(c);
    CHECK(ex.reason == HV_EXIT_MMIO && ex.mmio.is_write && ex.mmio.addr == MMIO_ADDR);
    CHECK_EQ_U64(ex.mmio.data, ~0ull);
    CHECK_EQ_U64(hv_vcpu_instret(c), 4000); /* the store retires when completed */
    uint64_t v;
    hv_vcpu_get_reg(c, HV_REG_X(T3), &v);
    CHECK_EQ_U64(v, 5);
    hv_vcpu_get_reg(c, HV_REG_X(A2), &v);
    CHECK_EQ_U64(v, 0);
    guest_fini(&g);
}

static void *run_pinned_thread(void *arg)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one); /* best effort */
    return run_thread(arg);
}

/* Two vCPU threads on one host core: hart 0 spins with cpu_relax on a flag that hart 1
 * sets after a delay loop. The spinner yields, the setter runs, both finish. */
TEST(spin_wait_on_one_host_core)
{
    struct guest g;
    REQUIRE(guest_init(&g, 2, false) == 0);
    uint64_t flag = RAM_BASE + 0x8000;
    hv_vcpu *c0 = g.cpu[0], *c1 = g.cpu[1];
    hv_vcpu_set_reg(c0, HV_REG_X(A0), flag);
    hv_vcpu_set_reg(c0, HV_REG_X(S11), MMIO_ADDR);
    emit(&g, LD(T0, A0, 0));       /* loop: */
    emit(&g, BNE(T0, ZERO, 12));   /* -> done */
    emit(&g, DIV(T2, T2, ZERO));
    emit(&g, JAL(ZERO, -12));      /* -> loop */
    emit(&g, SD(T0, S11, 0));      /* done: */
    g.at = RAM_BASE + 0x100;
    hv_vcpu_set_reg(c1, HV_REG_PC, RAM_BASE + 0x100);
    hv_vcpu_set_reg(c1, HV_REG_X(A0), flag);
    hv_vcpu_set_reg(c1, HV_REG_X(A1), 42);
    hv_vcpu_set_reg(c1, HV_REG_X(A2), 100000);
    hv_vcpu_set_reg(c1, HV_REG_X(S11), MMIO_ADDR + 8);
    emit(&g, ADDI(A2, A2, -1));
    emit(&g, BNE(A2, ZERO, -4));
    emit(&g, SD(A1, A0, 0));
    emit(&g, SD(A1, S11, 0));
    struct runner r[2] = { { .c = c0 }, { .c = c1 } };
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, run_pinned_thread, &r[i]);
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].err == 0 && r[i].ex.reason == HV_EXIT_MMIO);
        CHECK_EQ_U64(r[i].ex.mmio.data, 42);
    }
    guest_fini(&g);
}

#define ITERATIONS 200000

TEST(atomics_across_two_vcpus)
{
    struct guest g;
    REQUIRE(guest_init(&g, 2, false) == 0);
    uint64_t counters = RAM_BASE + 0x8000;
    emit(&g, AMOADD_W(ZERO, A0, A2));
    emit(&g, LR_D(T0, A1));
    emit(&g, ADDI(T0, T0, 1));
    emit(&g, SC_D(T1, A1, T0));
    emit(&g, BNE(T1, ZERO, -12));
    emit(&g, ADDI(A3, A3, -1));
    emit(&g, BNE(A3, ZERO, -24));
    emit(&g, SD(ZERO, S11, 0));
    struct runner r[2];
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++) {
        hv_vcpu *c = g.cpu[i];
        hv_vcpu_set_reg(c, HV_REG_X(A0), counters);
        hv_vcpu_set_reg(c, HV_REG_X(A1), counters + 8);
        hv_vcpu_set_reg(c, HV_REG_X(A2), 1);
        hv_vcpu_set_reg(c, HV_REG_X(A3), ITERATIONS);
        hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
        r[i] = (struct runner){ .c = c };
        pthread_create(&t[i], NULL, run_thread, &r[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].err == 0 && r[i].ex.reason == HV_EXIT_MMIO);
    }
    uint32_t w;
    uint64_t d;
    memcpy(&w, guest_ptr(&g, counters), 4);
    memcpy(&d, guest_ptr(&g, counters + 8), 8);
    CHECK_EQ_U64(w, 2 * ITERATIONS);
    CHECK_EQ_U64(d, 2 * ITERATIONS);
    guest_fini(&g);
}

TEST(amo_results_and_faults)
{
    struct guest g;
    REQUIRE(guest_init(&g, 1, false) == 0);
    hv_vcpu *c = g.cpu[0];
    uint64_t data = RAM_BASE + 0x8000;
    int32_t init = -5;
    memcpy(guest_ptr(&g, data), &init, 4);
    hv_vcpu_set_reg(c, HV_REG_X(A0), data);
    hv_vcpu_set_reg(c, HV_REG_X(A1), 3);
    hv_vcpu_set_reg(c, HV_REG_X(A2), MMIO_ADDR);
    hv_vcpu_set_reg(c, HV_REG_X(S11), MMIO_ADDR);
    hv_vcpu_set_reg(c, CSR(0x305), RAM_BASE + 0x1000);
    emit(&g, AMOMAX_W(T0, A0, A1)); /* old -5 (sign-extended), new 3 */
    emit(&g, SD(T0, S11, 0));
    emit(&g, LW(T0, A0, 0));
    emit(&g, SD(T0, S11, 0));
    emit(&g, SC_W(T1, A0, A1));     /* no reservation: fails */
    emit(&g, SD(T1, S11, 0));
    emit(&g, AMOSWAP_W(T0, A2, A1)); /* AMO to MMIO: store access fault */
    g.at = RAM_BASE + 0x1000;
    emit(&g, CSRR(T0, 0x342));
    emit(&g, SD(T0, S11, 0));
    CHECK_EQ_U64(run(c).mmio.data, (uint64_t)-5);
    CHECK_EQ_U64(run(c).mmio.data, 3);
    CHECK_EQ_U64(run(c).mmio.data, 1);
    CHECK_EQ_U64(run(c).mmio.data, 7);
    guest_fini(&g);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(120);
    RUN(kick_stops_a_spinning_vcpu);
    RUN(kick_ends_a_wfi_wait);
    RUN(wfi_wakes_on_set_irq);
    RUN(wfi_wakes_on_aclint_timer);
    RUN(sstc_timer_interrupt_in_s_mode);
    RUN(timer_moved_into_the_past_fires_at_once);
    RUN(wfi_with_a_masked_pending_interrupt_does_not_spin);
    RUN(msip_ipi_wakes_other_hart);
    RUN(atomics_across_two_vcpus);
    RUN(spin_wait_hints_run_exactly);
    RUN(spin_wait_on_one_host_core);
    RUN(remote_tlb_flush_takes_effect);
    RUN(amo_results_and_faults);
    return test_summary();
}
