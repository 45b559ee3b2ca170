#include "machine/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/state_format.h"

enum {
    REG_RBR_THR_DLL = 0, REG_IER_DLM = 1, REG_IIR_FCR = 2, REG_LCR = 3,
    REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct uart {
    pthread_mutex_t lock;
    struct uart_config cfg;
    uint8_t ier, lcr, mcr, fcr, scr, dll, dlm, msr;
    bool thr_ipending;
    bool irq_level;
    bool output_error_logged;
    uint8_t rx[UART_RX_RING];
    bool rx_break[UART_RX_RING]; /* the byte is a BREAK condition (a 0 with LSR.BI) */
    size_t rx_head, rx_count;
    uint8_t tx[UART_TX_BUFFER];
    size_t tx_len;
};

int uart_create(const struct uart_config *cfg, struct uart **out)
{
    struct uart *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    pthread_mutex_init(&u->lock, NULL);
    u->cfg = *cfg;
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS; /* a terminal is always attached */
    u->dll = 12; /* 9600 baud at 1.8432 MHz: what firmware expects before it programs it */
    u->lcr = 0x03;
    *out = u;
    return 0;
}

static void flush_locked(struct uart *u)
{
    size_t done = 0;
    while (done < u->tx_len && u->cfg.out_fd >= 0) {
        ssize_t n = write(u->cfg.out_fd, u->tx + done, u->tx_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* A closed terminal must not stop the guest: the console output is lost. */
            if (!u->output_error_logged)
                log_debug("console output dropped: %s", n < 0 ? strerror(errno) : "EOF");
            u->output_error_logged = true;
            break;
        }
        done += (size_t)n;
    }
    u->tx_len = 0;
}

void uart_destroy(struct uart *u)
{
    if (!u)
        return;
    uart_flush(u);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static uint8_t lsr(const struct uart *u)
{
    /* BI stays with the byte it came with: Linux reads LSR, then RBR, per byte. */
    uint8_t bi = u->rx_count && u->rx_break[u->rx_head] ? LSR_BI : 0;
    return (u->rx_count ? LSR_DR : 0) | bi | LSR_THRE | LSR_TEMT;
}

static uint8_t iir(const struct uart *u)
{
    if ((u->ier & IER_RDI) && u->rx_count)
        return IIR_RDI;
    if ((u->ier & IER_THRI) && u->thr_ipending)
        return IIR_THRI;
    if ((u->ier & IER_MSI) && (u->msr & 0x0f))
        return IIR_MSI;
    return IIR_NO_INT; /* IER_RLSI never fires: no overrun or framing errors here */
}

static void update_irq(struct uart *u)
{
    bool level = !(iir(u) & IIR_NO_INT);
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->cfg.irq)
            u->cfg.irq(u->cfg.irq_opaque, level);
    }
}

static size_t rx_push_locked(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    while (n < len && u->rx_count < UART_RX_RING) {
        size_t at = (u->rx_head + u->rx_count) % UART_RX_RING;
        u->rx[at] = buf[n++];
        u->rx_break[at] = false;
        u->rx_count++;
    }
    return n;
}

static int rx_pop_locked(struct uart *u)
{
    if (!u->rx_count)
        return -1;
    uint8_t c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_RX_RING;
    u->rx_count--;
    return c;
}

static void tx_byte_locked(struct uart *u, uint8_t c)
{
    bool was_empty = u->tx_len == 0;
    u->tx[u->tx_len++] = c;
    if (c == '\n' || u->tx_len == UART_TX_BUFFER)
        flush_locked(u);
    else if (was_empty && u->cfg.output_pending)
        u->cfg.output_pending(u->cfg.notify_opaque);
}

/* Loopback wires MCR's outputs to MSR's inputs (DTR->DSR, RTS->CTS, OUT1->RI,
 * OUT2->DCD); the delta bits record changes as a real 16550 does. */
static void update_msr(struct uart *u)
{
    uint8_t lines = MSR_DCD | MSR_DSR | MSR_CTS;
    if (u->mcr & MCR_LOOP)
        lines = (uint8_t)(((u->mcr & 0x01) ? MSR_DSR : 0) | ((u->mcr & 0x02) ? MSR_CTS : 0) |
                          ((u->mcr & 0x04) ? MSR_RI : 0) | ((u->mcr & 0x08) ? MSR_DCD : 0));
    uint8_t old = u->msr & 0xf0;
    uint8_t changed = old ^ lines;
    uint8_t delta = (uint8_t)((changed >> 4) & 0x0b);
    if ((old & MSR_RI) && !(lines & MSR_RI))
        delta |= 0x04; /* TERI: trailing edge of RI */
    u->msr = (uint8_t)(lines | (u->msr & 0x0f) | delta);
}

static uint8_t reg_read(struct uart *u, unsigned reg)
{
    switch (reg) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB)
            return u->dll;
        return (uint8_t)(rx_pop_locked(u) & 0xff);
    case REG_IER_DLM:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case REG_IIR_FCR: {
        uint8_t v = iir(u);
        if (v == IIR_THRI)
            u->thr_ipending = false; /* reading IIR acknowledges THRE */
        return (uint8_t)(v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0));
    }
    case REG_LCR: return u->lcr;
    case REG_MCR: return u->mcr;
    case REG_LSR: return lsr(u);
    case REG_MSR: {
        uint8_t v = u->msr;
        u->msr &= 0xf0;
        return v;
    }
    case REG_SCR: return u->scr;
    default: return 0;
    }
}

static void reg_write(struct uart *u, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
        } else {
            u->thr_ipending = false;
            if (u->mcr & MCR_LOOP)
                rx_push_locked(u, &v, 1);
            else
                tx_byte_locked(u, v);
            u->thr_ipending = true; /* transmitted at once: THR is empty again */
        }
        break;
    case REG_IER_DLM:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            uint8_t changed = (u->ier ^ v) & 0x0f;
            u->ier = v & 0x0f;
            if (changed & IER_THRI)
                u->thr_ipending = (u->ier & IER_THRI) != 0; /* THR is always empty */
        }
        break;
    case REG_IIR_FCR:
        if (v & FCR_CLEAR_RX)
            u->rx_count = 0;
        u->fcr = v & 0xc9; /* enable, DMA mode and trigger level are kept */
        break;
    case REG_LCR: u->lcr = v; break;
    case REG_MCR:
        u->mcr = v & 0x1f;
        update_msr(u);
        break;
    case REG_SCR: u->scr = v; break;
    default: break; /* LSR and MSR are read-only */
    }
}

int uart_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    *value = offset < 8 ? reg_read(u, (unsigned)offset) : 0;
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

int uart_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    if (offset < 8)
        reg_write(u, (unsigned)offset, (uint8_t)value);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

size_t uart_rx_space(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = UART_RX_RING - u->rx_count;
    pthread_mutex_unlock(&u->lock);
    return n;
}

size_t uart_push_input(struct uart *u, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&u->lock);
    size_t n = rx_push_locked(u, buf, len);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

int uart_push_break(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    int rc = -EAGAIN;
    if (u->rx_count < UART_RX_RING) {
        size_t at = (u->rx_head + u->rx_count) % UART_RX_RING;
        u->rx[at] = 0;
        u->rx_break[at] = true;
        u->rx_count++;
        rc = 0;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return rc;
}

int uart_pop_input(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    int c = rx_pop_locked(u);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return c;
}

void uart_console_write(struct uart *u, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < len; i++)
        tx_byte_locked(u, buf[i]);
    pthread_mutex_unlock(&u->lock);
}

void uart_flush(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    flush_locked(u);
    pthread_mutex_unlock(&u->lock);
}

bool uart_output_pending(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    bool pending = u->tx_len != 0;
    pthread_mutex_unlock(&u->lock);
    return pending;
}

/* --- save and restore ---------------------------------------------------------------- */

void uart_save(struct uart *u, struct state_writer *w)
{
    pthread_mutex_lock(&u->lock);
    flush_locked(u);
    const uint8_t regs[] = {u->ier, u->lcr, u->mcr, u->fcr, u->scr, u->dll, u->dlm, u->msr,
                            u->thr_ipending};
    state_put_bytes(w, regs, sizeof regs);
    state_put_u32(w, (uint32_t)u->rx_count);
    for (size_t i = 0; i < u->rx_count; i++) {
        size_t at = (u->rx_head + i) % UART_RX_RING;
        state_put_u8(w, u->rx[at]);
        state_put_u8(w, u->rx_break[at]);
    }
    pthread_mutex_unlock(&u->lock);
}

int uart_load(struct uart *u, struct state_reader *r)
{
    uint8_t regs[9];
    state_get_bytes(r, regs, sizeof regs);
    uint32_t n = state_get_u32(r);
    if (n > UART_RX_RING)
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    u->ier = regs[0] & 0x0f;
    u->lcr = regs[1], u->mcr = regs[2] & 0x1f, u->fcr = regs[3], u->scr = regs[4];
    u->dll = regs[5], u->dlm = regs[6], u->msr = regs[7], u->thr_ipending = regs[8] != 0;
    u->rx_head = 0;
    u->rx_count = n;
    for (uint32_t i = 0; i < n; i++) {
        u->rx[i] = state_get_u8(r);
        u->rx_break[i] = state_get_u8(r) != 0;
    }
    u->irq_level = !u->irq_level; /* so that update_irq drives the line either way */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return state_reader_done(r) ? 0 : -EINVAL;
}
