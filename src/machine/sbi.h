/*
 * sbi.h — the Supervisor Binary Interface, implemented in the VMM for direct boot
 * (hv's sbi_exits): SBI v2.0 BASE, TIME, IPI, RFENCE, HSM, SRST, DBCN and the legacy
 * v0.1 calls.
 *
 * Everything the guest passes is checked: hart ids and masks (SBI_ERR_INVALID_PARAM),
 * memory buffers through guest_ram (SBI_ERR_INVALID_ADDRESS). Remote fences are
 * requested with hv_vcpu_request_flush() and take effect before the target hart's next
 * instruction, so they are complete for every hart that has run an instruction since
 * the call returned; harts that are stopped or blocked in WFI flush when they resume.
 */
#ifndef COVE_MACHINE_SBI_H
#define COVE_MACHINE_SBI_H

#include "hv/hv.h"
#include "machine/machine_internal.h"

#define SBI_SUCCESS 0
#define SBI_ERR_FAILED (-1)
#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_INVALID_PARAM (-3)
#define SBI_ERR_DENIED (-4)
#define SBI_ERR_INVALID_ADDRESS (-5)
#define SBI_ERR_ALREADY_AVAILABLE (-6)
#define SBI_ERR_ALREADY_STARTED (-7)
#define SBI_ERR_ALREADY_STOPPED (-8)

#define SBI_EXT_BASE 0x10
#define SBI_EXT_TIME 0x54494D45
#define SBI_EXT_IPI 0x735049
#define SBI_EXT_RFENCE 0x52464E43
#define SBI_EXT_HSM 0x48534D
#define SBI_EXT_SRST 0x53525354
#define SBI_EXT_DBCN 0x4442434E

#define SBI_SPEC_VERSION ((2u << 24) | 0u) /* v2.0 */
#define SBI_IMPL_ID_COVE 0x636f7665       /* "cove": not in the SBI registry */
#define SBI_IMPL_VERSION 1

#define CSR_SATP 0x180
#define CSR_STIMECMP 0x14D

enum sbi_next {
    SBI_NEXT_CONTINUE,     /* the return values are in exit->sbi.ret */
    SBI_NEXT_HART_STOPPED, /* HSM hart_stop: the hart waits for hart_start */
    SBI_NEXT_RESUME,       /* the hart's registers were set (non-retentive suspend) */
    SBI_NEXT_MACHINE_STOP, /* SRST: machine_stop() was called */
};

enum sbi_next sbi_handle(struct machine *m, struct hart *h, struct hv_exit *exit);

/* Puts a hart in S-mode at pc with a0 = hartid, a1 = arg, satp = 0 (HSM start, resume). */
int hart_enter_supervisor(struct hart *h, uint64_t pc, uint64_t arg);

#endif
