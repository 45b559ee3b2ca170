/*
 * test_hv_fuzz.c — the guest is hostile: random instruction streams in every privilege
 * mode, with random CSR state (paging on, vectored traps, delegation), random MMIO
 * answers and faults, must neither crash nor hang the host. A watchdog thread kicks the
 * vCPU so that the run loop always comes back; the test fails if a run returns an error
 * or the program dies.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "rvasm.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

struct ticker {
    hv_vcpu *c;
    volatile int stop;
};

static void *tick(void *arg)
{
    struct ticker *t = arg;
    while (!t->stop) {
        usleep(1000);
        hv_vcpu_kick(t->c);
    }
    return NULL;
}

/* Two random compressed instructions. */
static uint32_t rvc_like(uint32_t w)
{
    uint32_t a = w & 0xffff, b = w >> 16;
    if ((a & 3) == 3)
        a &= ~1u;
    if ((b & 3) == 3)
        b &= ~2u;
    return a | b << 16;
}

/* Random words, biased towards real opcodes so that decoding gets past the first byte. */
static uint32_t random_insn(void)
{
    static const uint32_t opcodes[] = { 0x03, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27,
                                        0x2f, 0x33, 0x37, 0x3b, 0x43, 0x53, 0x63, 0x67,
                                        0x6f, 0x73 };
    uint32_t w = (uint32_t)rnd();
    switch (rnd() % 4) {
    case 0: return w; /* anything, compressed included */
    case 1: return (w & ~0x7fu) | opcodes[rnd() % (sizeof(opcodes) / sizeof(opcodes[0]))];
    case 2: return rvc_like(w);
    default: return (w & 0xfff00000u) | 0x00002073u | ((w & 31) << 15); /* csrrs x0 */
    }
}

static void fuzz_one(uint64_t seed, bool sbi_exits)
{
    struct guest g;
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
    REQUIRE(guest_init(&g, 1, sbi_exits) == 0);
    hv_vcpu *c = g.cpu[0];
    for (uint64_t off = 0; off < 0x40000; off += 4) {
        uint32_t w = random_insn();
        memcpy(guest_ptr(&g, RAM_BASE + off), &w, 4);
    }
    /* Page tables made of random words: walks must fault cleanly. */
    for (uint64_t off = 0x40000; off < 0x60000; off += 8) {
        uint64_t w = rnd();
        memcpy(guest_ptr(&g, RAM_BASE + off), &w, 8);
    }
    for (unsigned i = 1; i < 32; i++)
        hv_vcpu_set_reg(c, HV_REG_X(i), rnd() % 3 == 0 ? RAM_BASE + (rnd() % RAM_SIZE) : rnd());
    static const unsigned csrs[] = { 0x300, 0x302, 0x303, 0x304, 0x305, 0x105, 0x180,
                                     0x306, 0x30a, 0x106 };
    for (unsigned i = 0; i < sizeof(csrs) / sizeof(csrs[0]); i++) {
        uint64_t val = rnd();
        if (csrs[i] == 0x305 || csrs[i] == 0x105)
            val = RAM_BASE + (rnd() % 0x40000) + (rnd() & 1);
        if (csrs[i] == 0x180)
            val = ((8ull + rnd() % 2) << 60) | ((RAM_BASE + 0x40000 + (rnd() % 32) * 4096) >> 12);
        hv_vcpu_set_reg(c, HV_REG_CSR(csrs[i]), val);
    }
    hv_vcpu_set_reg(c, HV_REG_PRIV, sbi_exits ? 1 : (unsigned[]){ 0, 1, 3 }[rnd() % 3]);
    hv_vcpu_set_reg(c, HV_REG_PC, RAM_BASE + (rnd() % 0x40000 & ~1ull));

    struct ticker t = { .c = c };
    pthread_t th;
    pthread_create(&th, NULL, tick, &t);
    struct hv_exit ex;
    memset(&ex, 0, sizeof(ex));
    for (unsigned i = 0; i < 100; i++) {
        int err = hv_vcpu_run(c, &ex);
        CHECK(err == 0);
        if (err)
            break;
        switch (ex.reason) {
        case HV_EXIT_MMIO:
            CHECK(ex.mmio.len == 1 || ex.mmio.len == 2 || ex.mmio.len == 4 || ex.mmio.len == 8);
            ex.mmio.data = rnd();
            ex.mmio.fault = rnd() % 4 == 0;
            break;
        case HV_EXIT_SBI:
            ex.sbi.ret[0] = rnd();
            ex.sbi.ret[1] = rnd();
            break;
        case HV_EXIT_GUEST_ERROR:
            hv_vcpu_set_reg(c, HV_REG_PC, RAM_BASE + (rnd() % 0x40000 & ~1ull));
            break;
        default:
            break;
        }
        if (rnd() % 16 == 0)
            hv_vcpu_set_irq(c, (unsigned[]){ 1, 3, 9, 11 }[rnd() % 4], rnd() & 1);
        if (rnd() % 32 == 0)
            hv_vcpu_request_flush(c, HV_FLUSH_TLB | HV_FLUSH_ICACHE);
    }
    t.stop = 1;
    pthread_join(th, NULL);
    uint64_t pc = reg(c, HV_REG_PC);
    (void)pc;
    guest_fini(&g);
}

TEST(random_programs_with_firmware)
{
    for (uint64_t seed = 1; seed <= 20; seed++)
        fuzz_one(seed, false);
}

TEST(random_programs_with_sbi_exits)
{
    for (uint64_t seed = 100; seed <= 120; seed++)
        fuzz_one(seed, true);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(300);
    RUN(random_programs_with_firmware);
    RUN(random_programs_with_sbi_exits);
    return test_summary();
}
