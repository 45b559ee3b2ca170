/*
 * plic.h — the RISC-V Platform-Level Interrupt Controller (SiFive layout, as on QEMU
 * virt): per-source priority and level-triggered gateway, per-context enables,
 * threshold and claim/complete.
 *
 * Context 2h is hart h's M-mode, context 2h+1 its S-mode. Whenever a context's
 * external-interrupt output changes, the PLIC calls the output callback with the lock
 * held, so the callback must not call back into the PLIC. All functions are thread-safe:
 * vCPU threads (MMIO) and device threads (plic_set_level) use the PLIC at once.
 */
#ifndef COVE_MACHINE_PLIC_H
#define COVE_MACHINE_PLIC_H

#include <stdbool.h>
#include <stdint.h>

#define PLIC_NDEV 95          /* sources 1..95 (0 means "no interrupt") */
#define PLIC_PRIORITY_MASK 7u /* 3 priority bits, as QEMU's virt PLIC */

struct plic;
typedef void (*plic_output_fn)(void *opaque, unsigned context, bool level);

int plic_create(unsigned contexts, plic_output_fn output, void *opaque, struct plic **out);
void plic_destroy(struct plic *p);

/* A device's interrupt line; level-triggered: a source stays pending (or becomes
 * pending again after completion) while its line is high. */
void plic_set_level(struct plic *p, unsigned source, bool level);

/* MMIO callbacks (struct machine_bus_ops shape); opaque is the struct plic. */
int plic_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value);
int plic_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value);

/* Save and restore (machine_state.c): every register and line. plic_load re-drives the
 * context outputs; -EINVAL for a state of another layout. */
struct state_writer;
struct state_reader;
void plic_save(struct plic *p, struct state_writer *w);
int plic_load(struct plic *p, struct state_reader *r);

#endif
