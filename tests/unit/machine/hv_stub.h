/*
 * hv_stub.h — a scripted stand-in for the hv contract, for testing the machine without a
 * CPU. Registers are plain storage; hv_vcpu_run() calls the test's script, which fills
 * the exit (and may look at the completion of the previous one).
 */
#ifndef COVE_TEST_HV_STUB_H
#define COVE_TEST_HV_STUB_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"

#define STUB_REGS 0x2000

struct hv_vcpu {
    unsigned id;
    uint64_t regs[STUB_REGS];
    bool irq[16];
    unsigned flushes;
    int kicked;
    unsigned runs;
    struct hv_exit last; /* the exit as the VMM completed it */
};

/* Script for hv_vcpu_run(); NULL makes every run return HV_EXIT_KICK after a short
 * sleep. */
extern int (*stub_run)(hv_vcpu *vcpu, struct hv_exit *exit);
/* A CSR the stub refuses (get and set fail), e.g. stimecmp to model a CPU without Sstc;
 * 0 for none. */
extern unsigned stub_missing_csr;
hv_vcpu *stub_vcpu(unsigned hartid);

#endif
