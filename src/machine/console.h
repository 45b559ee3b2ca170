/*
 * console.h — the console I/O thread of a machine.
 *
 * It polls console_in_fd and feeds the UART's receive ring, or the virtio console's input
 * pipe (see struct machine), handling the Ctrl-A escape
 * when enabled: Ctrl-A x stops the machine, Ctrl-A Ctrl-A sends one Ctrl-A), and flushes
 * the UART's buffered output a few milliseconds after it was written, so that a prompt
 * without a newline shows up promptly while a stream of output costs few write(2)s.
 * EOF on input only stops reading. The thread ends when the machine stops.
 */
#ifndef COVE_MACHINE_CONSOLE_H
#define COVE_MACHINE_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */
#define CONSOLE_FLUSH_MS 5

int console_start(struct machine *m);
void console_stop(struct machine *m); /* after machine_stop(): joins the thread */

/* Applies the escape rules to bytes read from the terminal and pushes the rest to the
 * UART. Exposed for tests. */
void console_input(struct machine *m, const uint8_t *buf, size_t len);

#endif
