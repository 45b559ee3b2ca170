/* Unit tests of the board's devices without a CPU: MMIO bus, PLIC, 16550 UART, RTC,
 * SiFive test device. */
#include "test.h"

#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "machine/bus.h"
#include "machine/plic.h"
#include "machine/rtc.h"
#include "machine/sifive_test.h"
#include "machine/uart.h"

/* --- bus ---------------------------------------------------------------------------- */

struct fake_dev {
    uint64_t last_off, last_val;
    unsigned last_len;
};

static int fake_read(void *opaque, uint64_t off, unsigned len, uint64_t *v)
{
    struct fake_dev *d = opaque;
    d->last_off = off;
    d->last_len = len;
    *v = 0x1122334455667788ull;
    return off == 0x10 ? -EIO : 0;
}

static int fake_write(void *opaque, uint64_t off, unsigned len, uint64_t v)
{
    struct fake_dev *d = opaque;
    d->last_off = off;
    d->last_len = len;
    d->last_val = v;
    return 0;
}

static const struct machine_bus_ops fake_ops = {fake_read, fake_write};

TEST(bus_register_rejects_overlap)
{
    struct mmio_bus bus = {0};
    struct fake_dev d = {0};
    CHECK(bus_register(&bus, 0x1000, 0x100, &fake_ops, &d) == 0);
    CHECK(bus_register(&bus, 0x3000, 0x100, &fake_ops, &d) == 0);
    CHECK(bus_register(&bus, 0x10ff, 0x10, &fake_ops, &d) == -EEXIST);
    CHECK(bus_register(&bus, 0x0f00, 0x101, &fake_ops, &d) == -EEXIST);
    CHECK(bus_register(&bus, 0x2000, 0x1001, &fake_ops, &d) == -EEXIST);
    CHECK(bus_register(&bus, 0x2000, 0x1000, &fake_ops, &d) == 0);
    CHECK(bus_register(&bus, 0x5000, 0, &fake_ops, &d) == -EINVAL);
    CHECK(bus_register(&bus, UINT64_MAX - 10, 0x100, &fake_ops, &d) == -EINVAL);
    CHECK_EQ_U64(bus.count, 3);
    CHECK_EQ_U64(bus.regions[1].base, 0x2000);
}

TEST(bus_dispatch_routes_and_faults)
{
    struct mmio_bus bus = {0};
    struct fake_dev a = {0}, b = {0};
    CHECK(bus_register(&bus, 0x1000, 0x100, &fake_ops, &a) == 0);
    CHECK(bus_register(&bus, 0x2000, 0x100, &fake_ops, &b) == 0);
    uint64_t data = 0xdeadbeefcafef00dull;
    bool fault = true;
    bus_dispatch(&bus, 0x2008, 2, true, &data, &fault);
    CHECK(!fault);
    CHECK_EQ_U64(b.last_off, 8);
    CHECK_EQ_U64(b.last_len, 2);
    CHECK_EQ_U64(b.last_val, 0xf00d); /* only the access width reaches the device */
    bus_dispatch(&bus, 0x1004, 4, false, &data, &fault);
    CHECK(!fault);
    CHECK_EQ_U64(data, 0x55667788);
    bus_dispatch(&bus, 0x1800, 4, false, &data, &fault);
    CHECK(fault);
    CHECK_EQ_U64(data, 0);
    bus_dispatch(&bus, 0x10fc, 8, false, &data, &fault); /* straddles the window's end */
    CHECK(fault);
    bus_dispatch(&bus, 0x1010, 4, false, &data, &fault); /* the device refuses */
    CHECK(fault);
}

/* --- PLIC ----------------------------------------------------------------------------- */

struct plic_probe {
    bool level[8];
    unsigned calls;
};

static void plic_probe_out(void *opaque, unsigned ctx, bool level)
{
    struct plic_probe *p = opaque;
    if (ctx < 8)
        p->level[ctx] = level;
    p->calls++;
}

static uint32_t preg(struct plic *p, uint64_t off)
{
    uint64_t v = 0xffffffff;
    CHECK(plic_mmio_read(p, off, 4, &v) == 0);
    return (uint32_t)v;
}

static void pset(struct plic *p, uint64_t off, uint32_t v)
{
    CHECK(plic_mmio_write(p, off, 4, v) == 0);
}

#define PRIO(s) (4u * (s))
#define ENABLE(c) (0x2000u + 0x80u * (c))
#define THRESH(c) (0x200000u + 0x1000u * (c))
#define CLAIM(c) (0x200004u + 0x1000u * (c))

TEST(plic_claim_complete_level)
{
    struct plic_probe probe = {0};
    struct plic *p;
    REQUIRE(plic_create(4, plic_probe_out, &probe, &p) == 0);
    pset(p, PRIO(10), 1);
    pset(p, ENABLE(1), 1u << 10);
    CHECK(!probe.level[1]);
    plic_set_level(p, 10, true);
    CHECK(probe.level[1]);
    CHECK(!probe.level[0]); /* context 0 did not enable it */
    CHECK_EQ_U64(preg(p, 0x1000), 1u << 10);
    CHECK_EQ_U64(preg(p, CLAIM(1)), 10);
    CHECK(!probe.level[1]);          /* claimed: no longer pending */
    CHECK_EQ_U64(preg(p, CLAIM(1)), 0);
    pset(p, CLAIM(1), 10);            /* complete with the line still high */
    CHECK(probe.level[1]);           /* level-triggered: pending again */
    CHECK_EQ_U64(preg(p, CLAIM(1)), 10);
    plic_set_level(p, 10, false);
    pset(p, CLAIM(1), 10);
    CHECK(!probe.level[1]);
    CHECK_EQ_U64(preg(p, CLAIM(1)), 0);
    /* A line dropped before the claim withdraws the request. */
    plic_set_level(p, 10, true);
    plic_set_level(p, 10, false);
    CHECK(!probe.level[1]);
    CHECK_EQ_U64(preg(p, 0x1000), 0);
    plic_destroy(p);
}

TEST(plic_priority_and_threshold)
{
    struct plic_probe probe = {0};
    struct plic *p;
    REQUIRE(plic_create(2, plic_probe_out, &probe, &p) == 0);
    pset(p, PRIO(3), 2);
    pset(p, PRIO(5), 6);
    pset(p, PRIO(7), 6);
    pset(p, PRIO(9), 0); /* priority 0 never interrupts */
    CHECK_EQ_U64(preg(p, PRIO(5)), 6);
    pset(p, PRIO(4), 0xff);
    CHECK_EQ_U64(preg(p, PRIO(4)), 7); /* 3 priority bits */
    pset(p, ENABLE(0), (1u << 3) | (1u << 5) | (1u << 7) | (1u << 9) | 1u);
    CHECK_EQ_U64(preg(p, ENABLE(0)), (1u << 3) | (1u << 5) | (1u << 7) | (1u << 9));
    plic_set_level(p, 9, true);
    CHECK(!probe.level[0]);
    plic_set_level(p, 3, true);
    plic_set_level(p, 5, true);
    plic_set_level(p, 7, true);
    CHECK(probe.level[0]);
    pset(p, THRESH(0), 6); /* only priority > 6 gets through: none */
    CHECK(!probe.level[0]);
    CHECK_EQ_U64(preg(p, CLAIM(0)), 0);
    pset(p, THRESH(0), 2);
    CHECK(probe.level[0]);
    CHECK_EQ_U64(preg(p, CLAIM(0)), 5); /* highest priority, lowest id on a tie */
    CHECK_EQ_U64(preg(p, CLAIM(0)), 7);
    CHECK_EQ_U64(preg(p, CLAIM(0)), 0); /* 3 has priority 2 == threshold */
    CHECK(!probe.level[0]);
    /* Completion of a source not enabled for the context is ignored. */
    pset(p, ENABLE(0), 1u << 3);
    pset(p, CLAIM(0), 5);
    CHECK_EQ_U64(preg(p, 0x1000) & (1u << 5), 0);
    plic_destroy(p);
}

TEST(plic_rejects_bad_accesses)
{
    struct plic_probe probe = {0};
    struct plic *p;
    REQUIRE(plic_create(2, plic_probe_out, &probe, &p) == 0);
    uint64_t v;
    CHECK(plic_mmio_read(p, 0x2, 4, &v) < 0);
    CHECK(plic_mmio_read(p, 0x4, 1, &v) < 0);
    CHECK(plic_mmio_write(p, 0x1000, 4, ~0u) == 0); /* pending is read-only */
    CHECK_EQ_U64(preg(p, 0x1000), 0);
    CHECK_EQ_U64(preg(p, CLAIM(5)), 0); /* context past the last one */
    pset(p, THRESH(9), 3);
    CHECK(plic_mmio_write(p, PRIO(1), 8, 3ull | (5ull << 32)) == 0);
    CHECK_EQ_U64(preg(p, PRIO(2)), 5);
    plic_set_level(p, 0, true);
    plic_set_level(p, 500, true);
    CHECK_EQ_U64(probe.calls, 0);
    plic_destroy(p);
}

/* --- UART ------------------------------------------------------------------------------ */

struct uart_probe {
    bool irq;
    unsigned notifies;
};

static void uart_probe_irq(void *opaque, bool level) { ((struct uart_probe *)opaque)->irq = level; }
static void uart_probe_notify(void *opaque) { ((struct uart_probe *)opaque)->notifies++; }

static uint8_t ureg(struct uart *u, unsigned off)
{
    uint64_t v = 0xff;
    CHECK(uart_mmio_read(u, off, 1, &v) == 0);
    return (uint8_t)v;
}

static void uset(struct uart *u, unsigned off, uint8_t v) { CHECK(uart_mmio_write(u, off, 1, v) == 0); }

static struct uart *make_uart(struct uart_probe *probe, int fd)
{
    struct uart_config cfg = {fd, uart_probe_irq, probe, uart_probe_notify, probe};
    struct uart *u = NULL;
    return uart_create(&cfg, &u) == 0 ? u : NULL; /* callers REQUIRE a UART */
}

TEST(uart_lsr_and_rx_fifo)
{
    struct uart_probe probe = {0};
    struct uart *u = make_uart(&probe, -1);
    REQUIRE(u);
    CHECK_EQ_U64(ureg(u, 5), 0x60); /* THRE | TEMT, no data */
    CHECK(uart_push_input(u, (const uint8_t *)"ab", 2) == 2);
    CHECK_EQ_U64(ureg(u, 5), 0x61);
    CHECK(!probe.irq); /* ERBFI off */
    uset(u, 1, 0x01);
    CHECK(probe.irq);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x04); /* received data available */
    CHECK_EQ_U64(ureg(u, 0), 'a');
    CHECK(probe.irq);
    CHECK_EQ_U64(ureg(u, 0), 'b');
    CHECK(!probe.irq);
    CHECK_EQ_U64(ureg(u, 5), 0x60);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x01);
    /* FCR: FIFO enable shows in IIR; clearing RX drops received bytes. */
    uset(u, 2, 0x01);
    CHECK_EQ_U64(ureg(u, 2) & 0xc0, 0xc0);
    uart_push_input(u, (const uint8_t *)"xyz", 3);
    uset(u, 2, 0x03);
    CHECK_EQ_U64(ureg(u, 5) & 1, 0);
    CHECK(uart_pop_input(u) == -1);
    CHECK_EQ_U64(uart_rx_space(u), UART_RX_RING);
    uart_destroy(u);
}

TEST(uart_thre_interrupt)
{
    struct uart_probe probe = {0};
    struct uart *u = make_uart(&probe, -1);
    REQUIRE(u);
    /* What Linux's 8250 startup probes: enabling ETBEI with THR empty raises THRE... */
    uset(u, 1, 0x02);
    CHECK(probe.irq);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x02);
    /* ...reading IIR acknowledges it... */
    CHECK(!probe.irq);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x01);
    /* ...and re-enabling raises it again (no UART_BUG_THRE). */
    uset(u, 1, 0x00);
    uset(u, 1, 0x02);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x02);
    /* Writing THR re-arms it (the byte is sent at once). */
    uset(u, 0, 'x');
    CHECK(probe.irq);
    CHECK_EQ_U64(ureg(u, 2) & 0x0f, 0x02);
    uset(u, 1, 0x00);
    CHECK(!probe.irq);
    uart_destroy(u);
}

TEST(uart_dlab_scratch_loopback)
{
    struct uart_probe probe = {0};
    struct uart *u = make_uart(&probe, -1);
    REQUIRE(u);
    uset(u, 3, 0x83); /* DLAB */
    uset(u, 0, 0x34);
    uset(u, 1, 0x12);
    CHECK_EQ_U64(ureg(u, 0), 0x34);
    CHECK_EQ_U64(ureg(u, 1), 0x12);
    uset(u, 3, 0x03);
    CHECK_EQ_U64(ureg(u, 1), 0); /* IER untouched by the divisor writes */
    CHECK_EQ_U64(ureg(u, 3), 0x03);
    uset(u, 7, 0x5a);
    CHECK_EQ_U64(ureg(u, 7), 0x5a);
    CHECK_EQ_U64(ureg(u, 6) & 0xf0, 0xb0); /* DCD, DSR, CTS */
    uset(u, 4, 0x10 | 0x02);                /* loopback with RTS */
    CHECK_EQ_U64(ureg(u, 6) & 0xf0, 0x10);  /* CTS follows RTS */
    uset(u, 0, 'L');
    CHECK_EQ_U64(ureg(u, 5) & 1, 1);
    CHECK_EQ_U64(ureg(u, 0), 'L');
    CHECK_EQ_U64(probe.notifies, 0); /* nothing went to the output */
    uart_destroy(u);
}

TEST(uart_output_buffering)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    struct uart_probe probe = {0};
    struct uart *u = make_uart(&probe, fds[1]);
    REQUIRE(u);
    char buf[64];
    uset(u, 0, 'h');
    uset(u, 0, 'i');
    CHECK(read(fds[0], buf, sizeof buf) < 0); /* buffered */
    CHECK_EQ_U64(probe.notifies, 1);         /* once, when the buffer became non-empty */
    CHECK(uart_output_pending(u));
    uset(u, 0, '\n');
    CHECK(read(fds[0], buf, sizeof buf) == 3);
    CHECK(memcmp(buf, "hi\n", 3) == 0);
    uart_console_write(u, (const uint8_t *)"sbi", 3);
    uart_flush(u);
    CHECK(!uart_output_pending(u));
    CHECK(read(fds[0], buf, sizeof buf) == 3);
    uart_destroy(u);
    close(fds[0]);
    close(fds[1]);
}

/* --- RTC and test device ----------------------------------------------------------------- */

TEST(rtc_time_latches_high)
{
    struct goldfish_rtc rtc;
    rtc_init(&rtc, NULL, NULL);
    uint64_t lo, hi;
    CHECK(rtc_mmio_read(&rtc, 0x00, 4, &lo) == 0);
    CHECK(rtc_mmio_read(&rtc, 0x04, 4, &hi) == 0);
    uint64_t ns = hi << 32 | lo;
    CHECK(ns > 1600000000ull * 1000000000ull); /* after 2020 */
    /* Setting the clock: high then low. */
    rtc_mmio_write(&rtc, 0x04, 4, 0);
    rtc_mmio_write(&rtc, 0x00, 4, 1000);
    CHECK(rtc_mmio_read(&rtc, 0x00, 4, &lo) == 0);
    CHECK(rtc_mmio_read(&rtc, 0x04, 4, &hi) == 0);
    CHECK_EQ_U64(hi, 0);
    CHECK(lo >= 1000 && lo < 1000 + 1000000000ull);
    rtc_mmio_write(&rtc, 0x08, 4, 0x55);
    rtc_mmio_write(&rtc, 0x0c, 4, 0x66);
    CHECK(rtc_mmio_read(&rtc, 0x0c, 4, &hi) == 0);
    CHECK_EQ_U64(hi, 0x66);
    rtc_fini(&rtc);
}

static atomic_int rtc_level, rtc_raises;

static void rtc_probe_irq(void *opaque, bool level)
{
    if (level && !atomic_exchange(&rtc_level, 1))
        atomic_fetch_add(&rtc_raises, 1);
    if (!level)
        atomic_store(&rtc_level, 0);
}

/* Arms the alarm DELTA_NS after the RTC's current time. */
static void rtc_arm_in(struct goldfish_rtc *rtc, int64_t delta_ns)
{
    uint64_t lo, hi;
    rtc_mmio_read(rtc, 0x00, 4, &lo);
    rtc_mmio_read(rtc, 0x04, 4, &hi);
    uint64_t at = (hi << 32 | lo) + (uint64_t)delta_ns;
    rtc_mmio_write(rtc, 0x0c, 4, at >> 32);
    rtc_mmio_write(rtc, 0x08, 4, (uint32_t)at);
}

static bool rtc_wait_level(int want, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (atomic_load(&rtc_level) == want)
            return true;
        usleep(1000);
    }
    return atomic_load(&rtc_level) == want;
}

TEST(rtc_alarm_interrupt)
{
    struct goldfish_rtc rtc;
    uint64_t v;
    atomic_store(&rtc_level, 0);
    atomic_store(&rtc_raises, 0);
    rtc_init(&rtc, rtc_probe_irq, NULL);
    rtc_mmio_write(&rtc, 0x10, 4, 1); /* IRQ_ENABLED */
    /* in the future: armed, then fires on its own */
    rtc_arm_in(&rtc, 50 * 1000000ll);
    CHECK(rtc_mmio_read(&rtc, 0x18, 4, &v) == 0);
    CHECK_EQ_U64(v, 1); /* ALARM_STATUS */
    CHECK_EQ_U64(atomic_load(&rtc_level), 0);
    CHECK(rtc_wait_level(1, 2000));
    CHECK(rtc_mmio_read(&rtc, 0x18, 4, &v) == 0);
    CHECK_EQ_U64(v, 0);
    rtc_mmio_write(&rtc, 0x1c, 4, 1); /* CLEAR_INTERRUPT */
    CHECK_EQ_U64(atomic_load(&rtc_level), 0);
    /* in the past: fires at once */
    rtc_arm_in(&rtc, -1000000000ll);
    CHECK_EQ_U64(atomic_load(&rtc_level), 1);
    rtc_mmio_write(&rtc, 0x1c, 4, 1);
    /* pending while disabled: raised when enabled */
    rtc_mmio_write(&rtc, 0x10, 4, 0);
    rtc_arm_in(&rtc, 0);
    CHECK_EQ_U64(atomic_load(&rtc_level), 0);
    rtc_mmio_write(&rtc, 0x10, 4, 1);
    CHECK_EQ_U64(atomic_load(&rtc_level), 1);
    rtc_mmio_write(&rtc, 0x1c, 4, 1);
    /* CLEAR_ALARM disarms */
    int before = atomic_load(&rtc_raises);
    rtc_arm_in(&rtc, 30 * 1000000ll);
    rtc_mmio_write(&rtc, 0x14, 4, 1);
    CHECK(rtc_mmio_read(&rtc, 0x18, 4, &v) == 0);
    CHECK_EQ_U64(v, 0);
    usleep(100 * 1000);
    CHECK_EQ_U64(atomic_load(&rtc_raises), before);
    rtc_fini(&rtc);
}

struct test_probe {
    int what;
    unsigned code;
};

static void test_probe_action(void *opaque, enum sifive_test_action what, unsigned code)
{
    struct test_probe *t = opaque;
    t->what = (int)what;
    t->code = code;
}

TEST(sifive_test_actions)
{
    struct test_probe probe = {0};
    struct sifive_test t = {test_probe_action, &probe};
    sifive_test_mmio_write(&t, 0, 4, 0x1234);
    CHECK_EQ_U64(probe.what, 0);
    sifive_test_mmio_write(&t, 0, 4, 0x5555);
    CHECK_EQ_U64(probe.what, SIFIVE_TEST_POWEROFF);
    sifive_test_mmio_write(&t, 0, 4, 0x7777);
    CHECK_EQ_U64(probe.what, SIFIVE_TEST_REBOOT);
    probe.what = 0;
    sifive_test_mmio_write(&t, 0, 1, 0x55); /* too narrow to be a command */
    CHECK_EQ_U64(probe.what, 0);
    sifive_test_mmio_write(&t, 0, 2, 0x5555); /* OpenSBI's writew */
    CHECK_EQ_U64(probe.what, SIFIVE_TEST_POWEROFF);
    sifive_test_mmio_write(&t, 0, 4, 0x3333 | (42u << 16));
    CHECK_EQ_U64(probe.what, SIFIVE_TEST_POWEROFF);
    CHECK_EQ_U64(probe.code, 42);
}

int main(void)
{
    RUN(bus_register_rejects_overlap);
    RUN(bus_dispatch_routes_and_faults);
    RUN(plic_claim_complete_level);
    RUN(plic_priority_and_threshold);
    RUN(plic_rejects_bad_accesses);
    RUN(uart_lsr_and_rx_fifo);
    RUN(uart_thre_interrupt);
    RUN(uart_dlab_scratch_loopback);
    RUN(uart_output_buffering);
    RUN(rtc_time_latches_high);
    RUN(rtc_alarm_interrupt);
    RUN(sifive_test_actions);
    return test_summary();
}
