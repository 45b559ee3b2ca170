/*
 * fpu.h — the F and D extensions of the soft CPU, as a pure function of register state.
 *
 * fpu_exec() executes one floating-point computational instruction (major opcodes
 * OP-FP 0x53, FMADD 0x43, FMSUB 0x47, FNMSUB 0x4b, FNMADD 0x4f) on struct fpu and the
 * integer register file. Loads and stores (FLW/FLD/FSW/FSD and their compressed forms)
 * are done by the CPU core, which NaN-boxes single-precision loads itself. The core
 * checks mstatus.FS != Off before calling and sets FS = Dirty after FPU_OK.
 *
 * Semantics follow the RISC-V unprivileged spec (chapters F and D): IEEE 754-2008
 * results for every rounding mode (RNE, RTZ, RDN, RUP, RMM; dynamic = frm), exception
 * flags accumulated in fflags (NV, DZ, OF, UF, NX), the canonical NaN for every
 * NaN-producing operation, NaN-boxing of singles (an improperly boxed single reads as
 * the canonical NaN), fmin/fmax per IEEE 754-2019 minimumNumber/maximumNumber with
 * -0 < +0, saturating float->int conversions (NaN converts to the maximum), fclass.
 */
#ifndef COVE_HV_SOFT_FPU_H
#define COVE_HV_SOFT_FPU_H

#include <stdbool.h>
#include <stdint.h>

struct fpu {
    uint64_t f[32];
    uint32_t fflags; /* bits 4..0: NV DZ OF UF NX */
    uint32_t frm;    /* 0..7 as written by the guest (5,6,7 are invalid as a dynamic mode) */
};

#define FPU_OK 0
#define FPU_ILLEGAL (-1) /* reserved encoding or invalid rounding mode: illegal instruction */

/* x: the integer registers; x[0] must read 0 and fpu_exec never writes x[0]. */
int fpu_exec(struct fpu *fpu, uint32_t insn, uint64_t x[32]);

/* The CSRs fflags (0x001), frm (0x002) and fcsr (0x003): their value, and a write. */
uint64_t fpu_csr_read(const struct fpu *fpu, unsigned csr);
void fpu_csr_write(struct fpu *fpu, unsigned csr, uint64_t val);

/* Whether insn (major opcode SYSTEM) is CSRRW/S/C[I] on fflags, frm or fcsr. */
bool fpu_csr_valid(uint32_t insn);

/* Executes such an instruction (mstatus.FS must be on: the caller checks); returns
 * whether it wrote the CSR (the caller sets FS to Dirty). Never writes x[0]. The fast
 * path of the generic CSR instruction (exec.c), with the same reads and writes. */
bool fpu_csr_exec(struct fpu *fpu, uint32_t insn, uint64_t x[32]);

#endif
