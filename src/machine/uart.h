/*
 * uart.h — a 16550A UART (the "ns16550a" of QEMU virt), byte registers at stride 1.
 *
 * Transmission is instant: THR is always empty again after a write, and the THRE
 * interrupt follows the 16550 rules Linux's 8250 driver probes at startup (raised when
 * THR empties or ETBEI is enabled with THR empty, cleared by reading IIR or writing
 * THR). Output is buffered and written to out_fd at a newline, when the buffer fills,
 * or when the owner calls uart_flush() (the console thread does so within a few ms of
 * the output_pending notification). Received bytes wait in a ring that the console
 * thread fills with uart_push_input(). Thread-safe; the irq callback runs with the UART
 * lock held and may take the PLIC lock (never the other way round).
 */
#ifndef COVE_MACHINE_UART_H
#define COVE_MACHINE_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_RX_RING 4096
#define UART_TX_BUFFER 4096

struct uart_config {
    int out_fd;                                /* -1: output is dropped */
    void (*irq)(void *opaque, bool level);     /* the interrupt line */
    void *irq_opaque;
    void (*output_pending)(void *opaque);      /* buffered output awaits a flush */
    void *notify_opaque;
};

struct uart;

int uart_create(const struct uart_config *cfg, struct uart **out);
void uart_destroy(struct uart *u); /* flushes */

int uart_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int uart_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

/* Console input: how many bytes fit now, and push (returns how many were taken). */
size_t uart_rx_space(struct uart *u);
size_t uart_push_input(struct uart *u, const uint8_t *buf, size_t len);
/* A BREAK on the line: a 0 byte received with LSR.BI set (Linux's magic SysRq prefix
 * on a serial console). -EAGAIN when the receive ring is full. */
int uart_push_break(struct uart *u);
/* For SBI console reads: the next received byte, or -1. */
int uart_pop_input(struct uart *u);

/* For SBI console writes: bytes that bypass the registers but share the output buffer,
 * so UART and SBI output stay in order. */
void uart_console_write(struct uart *u, const uint8_t *buf, size_t len);

void uart_flush(struct uart *u);
bool uart_output_pending(struct uart *u);

/* Save and restore (machine_state.c): registers and the receive ring; output is flushed
 * first. uart_load re-drives the interrupt line; -EINVAL for a malformed state. */
struct state_writer;
struct state_reader;
void uart_save(struct uart *u, struct state_writer *w);
int uart_load(struct uart *u, struct state_reader *r);

#endif
