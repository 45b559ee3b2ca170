/*
 * jit.h — translation of decoded guest code to host code (x86-64 hosts, jit_x86.c).
 *
 * The interpreter (run.c) stays the reference: it counts executions of jump targets in
 * a per-page entry table and, once one is hot, asks jit_compile() for a block starting
 * there. A block is a straight run of entries of one decoded page (struct dpage); it
 * leaves at the first instruction it cannot translate, at the page end, after a jump,
 * or on a taken branch, always with v->pc and v->instret exact. Compiled code lives as
 * long as its decoded page: the entry tables follow the dcache slot (and the virtual
 * page the code was compiled for, since pcs are baked in), and a full code buffer
 * resets everything at once.
 *
 * Entry table values: below JIT_HOT an execution count, JIT_HOT "compile now",
 * JIT_NEVER "not translatable here", anything above an offset into the code buffer.
 */
#ifndef COVE_HV_SOFT_JIT_H
#define COVE_HV_SOFT_JIT_H

#include "hv/soft/soft.h"

#define JIT_HOT 8u
#define JIT_NEVER (JIT_HOT + 1)
#define JIT_PAGE_ENTRIES (PAGE_SIZE / 2)

/* What jit_run() tells the interpreter. */
enum jit_result {
    JIT_CONTINUE, /* v->pc is the next instruction; budget and attention unchecked */
    JIT_STOP,     /* a trap was taken or an exit is ready: the block ends */
};

#if defined(__x86_64__)

#define JIT_AVAILABLE 1

int jit_init(hv_vcpu *v);
void jit_free(hv_vcpu *v);
/* An idle vCPU gives its compiled code and entry tables back to the host (vcpu.c); the
 * next busy stretch compiles its working set again. Never while compiled code runs. */
void jit_trim(hv_vcpu *v);
/* The dcache slot was given to another page: its entries must go. */
void jit_page_reset(hv_vcpu *v, unsigned slot);
/* The entry table of a dcache slot holding the code of virtual page vpage. */
uint32_t *jit_page_entries(hv_vcpu *v, unsigned slot, uint64_t vpage);
/* Compiles the block at entry idx of the page and records it in ents[idx]; returns the
 * new entry value (JIT_NEVER when nothing can be compiled there). A full code buffer is
 * reset instead, with v->code_dirty set so that the caller drops its entry table. */
uint32_t jit_compile(hv_vcpu *v, uint32_t *ents, struct dinsn *dbase, const uint8_t *fhost,
                     uint64_t fpage, unsigned idx);
/* Runs compiled code (an entry value above JIT_NEVER) with ents as the current page
 * table, for at most about budget instructions. */
enum jit_result jit_run(hv_vcpu *v, uint32_t *ents, uint32_t code, int64_t budget);
/* After JIT_CONTINUE: chains the exit just taken to the code now compiled for v->pc. */
void jit_chain(hv_vcpu *v);

#else

#define JIT_AVAILABLE 0

static inline int jit_init(hv_vcpu *v)
{
    (void)v;
    return 0;
}
static inline void jit_free(hv_vcpu *v)
{
    (void)v;
}
static inline void jit_trim(hv_vcpu *v)
{
    (void)v;
}
static inline void jit_page_reset(hv_vcpu *v, unsigned slot)
{
    (void)v;
    (void)slot;
}
static inline uint32_t *jit_page_entries(hv_vcpu *v, unsigned slot, uint64_t vpage)
{
    (void)v;
    (void)slot;
    (void)vpage;
    return NULL;
}
static inline uint32_t jit_compile(hv_vcpu *v, uint32_t *ents, struct dinsn *dbase,
                                   const uint8_t *fhost, uint64_t fpage, unsigned idx)
{
    (void)v, (void)dbase, (void)fhost, (void)fpage;
    ents[idx] = JIT_NEVER;
    return JIT_NEVER;
}
static inline enum jit_result jit_run(hv_vcpu *v, uint32_t *ents, uint32_t code,
                                      int64_t budget)
{
    (void)v, (void)ents, (void)code, (void)budget;
    return JIT_CONTINUE;
}
static inline void jit_chain(hv_vcpu *v)
{
    (void)v;
}

#endif

#endif
