/*
 * jit_x86.c — translation of decoded guest blocks to x86-64 code (see jit.h).
 *
 * Compiled code runs with rbx = &v->x[16] (every guest register within a disp8), r12 =
 * instructions retired since jit_run() and r13 = the budget; guest registers stay in
 * v->x. Loads and stores inline the software TLB lookup of tlb_hit() and call the C slow
 * paths of mmu.c on a miss, after storing the pc and the instruction length there, so
 * that traps and MMIO exits see exactly what the interpreter would show them.
 *
 * Leaving a block: a taken jump checks the budget and `attention` as run.c does; within
 * the page it then goes through a jmp that jit_chain() patches to the target's code once
 * that exists; to another page (or after JALR) through the jump cache, else jit_lookup().
 * Stale code is never reached: entry tables are reset with their dcache slot, chains
 * never leave the page, the jump cache is invalidated by the generation v->jit_gen, and
 * a full buffer is reset as a whole from C, never while compiled code is on the stack.
 *
 * W^X: the code buffer is one memfd mapped twice at the same offsets, a read-write view
 * that only C writes (emission, chaining) and a read-execute view that alone runs and
 * alone is named by code: jump targets, return addresses, the jump cache, jit_link. The
 * emitter works in executable addresses and writes through rw_alias(). No cache flush
 * is needed: x86 snoops instruction fetch by physical address, so a store through the
 * writable view reaches the executable one, and code is only written from C on the
 * vCPU's own thread and entered afterwards through a jump (the indirect call of
 * jit_run()), which is what the SDM asks of modified code ("Handling Self- and
 * Cross-Modifying Code").
 */
#if defined(__x86_64__)

#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/soft/alu.h"
#include "hv/soft/fpu.h"
#include "hv/soft/jit.h"

#define CODE_SIZE (64u << 20)
#define BLOCK_MAX_INSNS 64
/* Generous bound on the code of one instruction, its slow path and the block's exit
 * (an inline FADD.D with its stub and the block's FS check is about 330). */
#define INSN_MAX_BYTES 448
#define BLOCK_MAX_BYTES ((BLOCK_MAX_INSNS + 2) * INSN_MAX_BYTES)
#define NO_VPAGE 1ull /* never a page address */
#define JC_SIZE 1024u  /* jump cache entries */
#define ENTS_BYTES ((size_t)DCACHE_PAGES * JIT_PAGE_ENTRIES * sizeof(uint32_t))

/* A jump cache entry: valid while gen equals v->jit_gen. */
struct jit_jump {
    uint64_t pc, gen;
    const uint8_t *code;
    uint32_t *ents;
};

struct jit {
    uint8_t *rx;         /* the code buffer as it runs: every code address points here */
    uint8_t *rw;         /* the same pages, writable, at the same offsets */
    size_t used;
    size_t start;        /* first byte after the entry and exit code */
    size_t populated;    /* both views are mapped below this offset (populate_ahead) */
    uint8_t *epilogue;   /* adds r12 to instret and returns eax (enum jit_result) */
    uint32_t *ents;      /* DCACHE_PAGES entry tables (ENTS_BYTES, mapped: lazily zero) */
    uint64_t ents_zero[DCACHE_PAGES / 64]; /* slots whose table is still untouched zeros */
    uint64_t vpage[DCACHE_PAGES]; /* virtual page each slot's code was compiled for */
    struct jit_jump jc[JC_SIZE];  /* pc -> code for jumps that leave a page or JALR */
};

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_L = 0xc, CC_GE = 0xd };
/* ModRM reg digits of the 0x81/0x83 group, the shift group and the 0xf7 group. */
enum { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
enum { SH_SHL = 4, SH_SHR = 5, SH_SAR = 7 };
enum { MUL_U = 4, MUL_S = 5 };

#define BASE 128 /* rbx points this far into hv_vcpu */
#define XOFF(r) ((int32_t)(8 * (r)) - BASE)
#define VOFF(f) ((int32_t)offsetof(hv_vcpu, f) - BASE)
#define FPUOFF(m) (VOFF(fpu) + (int32_t)offsetof(struct fpu, m))
#define FOFF(r) (FPUOFF(f) + 8 * (int32_t)(r))
_Static_assert(offsetof(hv_vcpu, x) == 0, "rbx addresses x[] from the start of hv_vcpu");
_Static_assert(sizeof(struct tlb_entry) == 16 && TLB_SIZE == 256, "inline TLB index");
_Static_assert(sizeof(struct jit_jump) == 32, "inline jump cache index");

/* The writable alias of an address in the executable view. */
static uint8_t *rw_alias(const struct jit *j, const uint8_t *rx)
{
    return j->rw + (rx - j->rx);
}

struct asm_buf {
    uint8_t *p; /* the next byte, as an executable address */
    const struct jit *j;
};

static void put_bytes(struct asm_buf *a, const void *bytes, size_t n)
{
    memcpy(rw_alias(a->j, a->p), bytes, n);
    a->p += n;
}

static void put8(struct asm_buf *a, unsigned b)
{
    uint8_t x = (uint8_t)b;
    put_bytes(a, &x, 1);
}

static void put32(struct asm_buf *a, uint32_t x)
{
    put_bytes(a, &x, 4);
}

static void put64(struct asm_buf *a, uint64_t x)
{
    put_bytes(a, &x, 8);
}

static void rex(struct asm_buf *a, bool w, unsigned reg, unsigned rm)
{
    unsigned r = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
    if (r != 0x40)
        put8(a, r);
}

/* Opcodes above 0xff are two bytes (0x0f xx). */
static void opcode(struct asm_buf *a, unsigned op)
{
    if (op > 0xff)
        put8(a, op >> 8);
    put8(a, op & 0xff);
}

/* op reg, [rbx + disp] */
static void op_mem(struct asm_buf *a, bool w, unsigned op, unsigned reg, int32_t disp)
{
    rex(a, w, reg, RBX);
    opcode(a, op);
    if (disp >= -128 && disp < 128) {
        put8(a, 0x40 | (reg & 7) << 3 | RBX);
        put8(a, (uint8_t)disp);
    } else {
        put8(a, 0x80 | (reg & 7) << 3 | RBX);
        put32(a, (uint32_t)disp);
    }
}

/* op reg, rm (both registers) */
static void op_reg(struct asm_buf *a, bool w, unsigned op, unsigned reg, unsigned rm)
{
    rex(a, w, reg, rm);
    opcode(a, op);
    put8(a, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

static void mov_imm(struct asm_buf *a, unsigned reg, uint64_t imm)
{
    if (imm == (uint64_t)(int64_t)(int32_t)imm) {
        rex(a, true, 0, reg);
        put8(a, 0xc7);
        put8(a, 0xc0 | (reg & 7));
        put32(a, (uint32_t)imm);
    } else {
        rex(a, true, 0, reg);
        put8(a, 0xb8 + (reg & 7));
        put64(a, imm);
    }
}

/* mov r32, imm32 (zero-extends) */
static void mov_imm32(struct asm_buf *a, unsigned reg, uint32_t imm)
{
    rex(a, false, 0, reg);
    put8(a, 0xb8 + (reg & 7));
    put32(a, imm);
}

static void alu_imm(struct asm_buf *a, bool w, unsigned digit, unsigned reg, int32_t imm)
{
    rex(a, w, 0, reg);
    if (imm >= -128 && imm < 128) {
        put8(a, 0x83);
        put8(a, 0xc0 | digit << 3 | (reg & 7));
        put8(a, (uint8_t)imm);
    } else {
        put8(a, 0x81);
        put8(a, 0xc0 | digit << 3 | (reg & 7));
        put32(a, (uint32_t)imm);
    }
}

static void shift_imm(struct asm_buf *a, bool w, unsigned digit, unsigned reg, unsigned n)
{
    rex(a, w, 0, reg);
    put8(a, 0xc1);
    put8(a, 0xc0 | digit << 3 | (reg & 7));
    put8(a, n);
}

static void shift_cl(struct asm_buf *a, bool w, unsigned digit, unsigned reg)
{
    rex(a, w, 0, reg);
    put8(a, 0xd3);
    put8(a, 0xc0 | digit << 3 | (reg & 7));
}

static void sext_eax(struct asm_buf *a)
{
    op_reg(a, true, 0x63, RAX, RAX); /* movsxd rax, eax */
}

static uint8_t *jcc32(struct asm_buf *a, unsigned cc)
{
    put8(a, 0x0f);
    put8(a, 0x80 | cc);
    uint8_t *rel = a->p;
    put32(a, 0);
    return rel;
}

static uint8_t *jmp32(struct asm_buf *a)
{
    put8(a, 0xe9);
    uint8_t *rel = a->p;
    put32(a, 0);
    return rel;
}

/* Points the rel32 at rel to target (both executable addresses). */
static void patch(const struct jit *j, uint8_t *rel, const uint8_t *target)
{
    int32_t d = (int32_t)(target - (rel + 4));
    memcpy(rw_alias(j, rel), &d, 4);
}

static void jmp_to(struct asm_buf *a, const uint8_t *target)
{
    patch(a->j, jmp32(a), target);
}

static void call_abs(struct asm_buf *a, const void *fn)
{
    mov_imm(a, RAX, (uint64_t)(uintptr_t)fn);
    put8(a, 0xff);
    put8(a, 0xd0); /* call rax */
}

static void load_x(struct asm_buf *a, unsigned reg, unsigned r)
{
    if (r == 0)
        op_reg(a, false, 0x31, reg, reg); /* x0 reads as zero whatever the array holds */
    else
        op_mem(a, true, 0x8b, reg, XOFF(r));
}

/* Writes to x0 arrive as the sink register 32, whose value nobody reads. */
static void store_x(struct asm_buf *a, unsigned reg, unsigned r)
{
    if (r < 32)
        op_mem(a, true, 0x89, reg, XOFF(r));
}

/* rax = rax OP x[rs2], for the two-operand forms (op r64, r/m64). */
static void alu_rs2(struct asm_buf *a, unsigned op, unsigned rs2)
{
    if (rs2 == 0) {
        load_x(a, RCX, 0);
        op_reg(a, true, op, RAX, RCX);
    } else {
        op_mem(a, true, op, RAX, XOFF(rs2));
    }
}

static void lea_v_rdi(struct asm_buf *a)
{
    op_mem(a, true, 0x8d, RDI, -BASE); /* rdi = v */
}

/* ---- C helpers called from compiled code ---- */

/* Load slow path: desc = size | (rd and LD_ flags) << 8 | length << 16. Returns 1 when a
 * trap was taken or an exit is ready. */
static int jit_load_slow(hv_vcpu *v, uint64_t va, uint32_t desc, uint64_t pc)
{
    unsigned size = desc & 0xff, ld = (desc >> 8) & 0xff;
    uint64_t r = 0;
    v->pc = pc;
    v->ilen = (uint8_t)(desc >> 16);
    if (mem_load_slow(v, va, size, &r, ld))
        return 1;
    if (ld & LD_FP) { /* FLW is NaN-boxed */
        v->fpu.f[ld & 31] = size == 4 ? r | 0xffffffff00000000ull : r;
        return 0;
    }
    if ((ld & LD_SIGN) && size < 8) {
        unsigned sh = 64 - 8 * size;
        r = (uint64_t)((int64_t)(r << sh) >> sh);
    }
    v->x[ld & 63] = r;
    return 0;
}

/* Store and AMO slow paths return 0 to go on, 1 when a trap was taken or an exit is
 * ready, 2 when the instruction retired but a decoded page was dropped (v->pc is then
 * the next instruction). */
static int jit_store_slow(hv_vcpu *v, uint64_t va, uint64_t val, uint32_t desc, uint64_t pc)
{
    unsigned len = desc >> 8;
    v->pc = pc;
    v->ilen = (uint8_t)len;
    if (mem_store_slow(v, va, desc & 0xff, val))
        return 1;
    if (v->code_dirty) {
        v->pc = pc + len;
        return 2;
    }
    return 0;
}

static int jit_amo(hv_vcpu *v, uint32_t insn, uint64_t pc, unsigned len)
{
    v->pc = pc;
    v->ilen = (uint8_t)len;
    if (cpu_amo(v, insn))
        return 1;
    if (v->code_dirty) {
        v->pc = pc + len;
        return 2;
    }
    return 0;
}

/* A floating-point instruction with mstatus.FS = Off, or one the FPU refuses: the
 * generic executor raises the illegal-instruction trap, as in the interpreter. Returns
 * as the store slow path does (2: it retired after all, v->pc is the next one). */
static int jit_fp_generic(hv_vcpu *v, uint64_t pc, unsigned len)
{
    v->pc = pc;
    v->ilen = (uint8_t)len;
    enum step s = cpu_step(v);
    if (s == STEP_TRAP)
        return 1;
    return 2;
}

/* OP-FP and the fused multiply-adds, by the FPU of the interpreter (exact rounding and
 * fflags), without leaving the block. */
static int jit_fp(hv_vcpu *v, uint32_t insn, uint64_t pc)
{
    if (likely(!fs_off(v)) && fpu_exec(&v->fpu, insn, v->x) == FPU_OK) {
        fs_dirty(v);
        return 0;
    }
    return jit_fp_generic(v, pc, 4);
}

static uint64_t h_div(uint64_t a, uint64_t b) { return div64((int64_t)a, (int64_t)b); }
static uint64_t h_divu(uint64_t a, uint64_t b) { return b ? a / b : ~0ull; }
static uint64_t h_rem(uint64_t a, uint64_t b) { return rem64((int64_t)a, (int64_t)b); }
static uint64_t h_remu(uint64_t a, uint64_t b) { return b ? a % b : a; }
static uint64_t h_divw(uint64_t a, uint64_t b) { return divw(a, b); }
static uint64_t h_remw(uint64_t a, uint64_t b) { return remw(a, b); }
static uint64_t h_divuw(uint64_t a, uint64_t b)
{
    return (uint32_t)b ? sext32((uint32_t)a / (uint32_t)b) : ~0ull;
}
static uint64_t h_remuw(uint64_t a, uint64_t b)
{
    return (uint32_t)b ? sext32((uint32_t)a % (uint32_t)b) : sext32(a);
}

static unsigned slot_of(uintptr_t host_page)
{
    return (unsigned)(host_page >> PAGE_SHIFT) & (DCACHE_PAGES - 1);
}

/* The compiled code for v->pc if there is some, for a jump that leaves the page or whose
 * target is only known at run time; entered in the jump cache, which the compiled code
 * looks at first. */
static const uint8_t *jit_lookup(hv_vcpu *v)
{
    struct jit *j = v->jit;
    uint64_t pc = v->pc, vpage = pc & PAGE_MASK;
    uint8_t *h = tlb_hit(v->tlb_x, vpage, 1);
    if (!h)
        return NULL;
    unsigned slot = slot_of((uintptr_t)h);
    if (v->dcache_tag[slot] != ((uintptr_t)h | v->dcache_epoch) || j->vpage[slot] != vpage)
        return NULL;
    uint32_t *ents = j->ents + (size_t)slot * JIT_PAGE_ENTRIES;
    uint32_t e = ents[(pc & (PAGE_SIZE - 1)) >> 1];
    if (e <= JIT_NEVER)
        return NULL;
    v->jit_ents = ents;
    unsigned b = jc_page_bucket(pc);
    v->jc_pages[b / 64] |= 1ull << (b % 64);
    j->jc[(pc >> 1) & (JC_SIZE - 1)] = (struct jit_jump){ pc, v->jit_gen, j->rx + e, ents };
    return j->rx + e;
}

/* ---- block compiler ---- */

enum stub_kind { STUB_LOAD, STUB_STORE, STUB_RESULT, STUB_FS_OFF, STUB_FP };

/* Out-of-line code of a block, emitted after its body. */
struct stub {
    uint8_t *from;   /* rel32 of the jcc that enters the stub */
    uint8_t *more[7]; /* and of more jccs that do (STUB_FP) */
    unsigned nmore;
    uint8_t *resume; /* where the block goes on */
    enum stub_kind kind;
    uint32_t desc;
    unsigned rs2;
    bool fp;         /* STUB_STORE: rs2 names an FP register */
    unsigned count;  /* instructions retired before this one in the block */
    uint64_t pc;
};

struct ctx {
    struct asm_buf a;
    struct jit *j;
    uint64_t fpage;
    struct stub stubs[2 * BLOCK_MAX_INSNS];
    unsigned nstubs;
    bool fs_checked; /* mstatus.FS was found on earlier in the block (nothing the block
                      * runs afterwards can turn it off without leaving it) */
    bool fs_dirty;   /* and set to Dirty */
};

static void exit_continue(struct ctx *c)
{
    op_reg(&c->a, false, 0x31, RAX, RAX); /* eax = JIT_CONTINUE */
    jmp_to(&c->a, c->j->epilogue);
}

static void count(struct asm_buf *a, unsigned n)
{
    if (n)
        alu_imm(a, true, ALU_ADD, R12, (int32_t)n);
}

/* Jumps to `out` when the budget is spent or another thread wants the vCPU. */
static void checks(struct asm_buf *a, uint8_t **out1, uint8_t **out2)
{
    op_reg(a, true, 0x39, R13, R12); /* cmp r12, r13 */
    *out1 = jcc32(a, CC_GE);
    op_mem(a, false, 0x83, 7, VOFF(attention)); /* cmp dword [attention], 0 */
    put8(a, 0);
    *out2 = jcc32(a, CC_NE);
}

/* With v->pc stored: checks, then straight into the target's code if it is compiled:
 * found in the jump cache, or else by jit_lookup(). */
static void exit_lookup(struct ctx *c)
{
    struct asm_buf *a = &c->a;
    uint8_t *out1, *out2;
    checks(a, &out1, &out2);
    op_mem(a, true, 0x8b, RAX, VOFF(pc));
    op_reg(a, false, 0x89, RAX, RCX);                    /* mov ecx, eax */
    alu_imm(a, false, ALU_AND, RCX, (JC_SIZE - 1) << 1);
    shift_imm(a, false, SH_SHL, RCX, 4);                 /* (pc >> 1) * 32 */
    op_mem(a, true, 0x03, RCX, VOFF(jit_jc));
    put8(a, 0x48), put8(a, 0x3b), put8(a, 0x01);         /* cmp rax, [rcx] */
    uint8_t *miss1 = jcc32(a, CC_NE);
    put8(a, 0x48), put8(a, 0x8b), put8(a, 0x51), put8(a, 0x08); /* mov rdx, [rcx + 8] */
    op_mem(a, true, 0x3b, RDX, VOFF(jit_gen));
    uint8_t *miss2 = jcc32(a, CC_NE);
    put8(a, 0x48), put8(a, 0x8b), put8(a, 0x51), put8(a, 0x18); /* mov rdx, [rcx + 24] */
    op_mem(a, true, 0x89, RDX, VOFF(jit_ents));
    put8(a, 0xff), put8(a, 0x61), put8(a, 0x10);         /* jmp [rcx + 16] */
    patch(a->j, miss1, a->p);
    patch(a->j, miss2, a->p);
    lea_v_rdi(a);
    call_abs(a, (const void *)jit_lookup);
    op_reg(a, true, 0x85, RAX, RAX); /* test rax, rax */
    uint8_t *out3 = jcc32(a, CC_E);
    put8(a, 0xff);
    put8(a, 0xe0); /* jmp rax */
    patch(a->j, out1, a->p);
    patch(a->j, out2, a->p);
    patch(a->j, out3, a->p);
    exit_continue(c);
}

/* Leaves the block for a known target, `n` instructions retired in it. A jump (as
 * opposed to falling through) checks the budget and attention first. */
static void exit_to(struct ctx *c, uint64_t target, unsigned n, bool jump)
{
    struct asm_buf *a = &c->a;
    count(a, n);
    if ((target & PAGE_MASK) != c->fpage) {
        mov_imm(a, RAX, target);
        op_mem(a, true, 0x89, RAX, VOFF(pc));
        exit_lookup(c);
        return;
    }
    uint8_t *out1 = NULL, *out2 = NULL;
    if (jump)
        checks(a, &out1, &out2);
    uint8_t *site = jmp32(a); /* jit_chain() points it at the target's code */
    patch(a->j, site, a->p);
    if (jump) {
        patch(a->j, out1, a->p);
        patch(a->j, out2, a->p);
    }
    mov_imm(a, RAX, target);
    op_mem(a, true, 0x89, RAX, VOFF(pc));
    mov_imm(a, RAX, (uint64_t)(uintptr_t)site);
    op_mem(a, true, 0x89, RAX, VOFF(jit_link));
    exit_continue(c);
}

static struct stub *add_stub(struct ctx *c, enum stub_kind kind, uint8_t *from, unsigned n,
                             uint64_t pc)
{
    struct stub *s = &c->stubs[c->nstubs++];
    *s = (struct stub){ .from = from, .kind = kind, .count = n, .pc = pc };
    return s;
}

/* rsi = the guest address; rax/rcx clobbered; on a TLB hit rsi = the host address, on a
 * miss a jump to the returned rel32. */
static uint8_t *emit_tlb(struct asm_buf *a, const struct dinsn *d, unsigned size, bool write)
{
    load_x(a, RSI, d->rs1);
    if (d->imm)
        alu_imm(a, true, ALU_ADD, RSI, d->imm);
    op_reg(a, true, 0x89, RSI, RAX);          /* mov rax, rsi */
    shift_imm(a, true, SH_SHR, RAX, PAGE_SHIFT - 4);
    put8(a, 0x25);                            /* and eax, index mask * 16 */
    put32(a, (TLB_SIZE - 1) << 4);
    op_mem(a, true, 0x03, RAX, write ? VOFF(tlb_w) : VOFF(tlb_r));
    op_reg(a, true, 0x89, RSI, RCX);          /* mov rcx, rsi */
    alu_imm(a, true, ALU_AND, RCX, (int32_t)(PAGE_MASK | (size - 1)));
    put8(a, 0x48), put8(a, 0x3b), put8(a, 0x08); /* cmp rcx, [rax] */
    uint8_t *miss = jcc32(a, CC_NE);
    put8(a, 0x48), put8(a, 0x03), put8(a, 0x70), put8(a, 0x08); /* add rsi, [rax + 8] */
    return miss;
}

static void emit_load(struct ctx *c, const struct dinsn *d, unsigned op, unsigned n,
                      uint64_t pc, unsigned len)
{
    static const uint8_t size_of[] = { 1, 2, 4, 8, 1, 2, 4 };
    static const bool sign_of[] = { true, true, true, false, false, false, false };
    /* movsx/movzx/mov rax, [rsi] */
    static const uint8_t code[][4] = {
        { 0x48, 0x0f, 0xbe, 0x06 }, { 0x48, 0x0f, 0xbf, 0x06 }, { 0x48, 0x63, 0x06 },
        { 0x48, 0x8b, 0x06 }, { 0x0f, 0xb6, 0x06 }, { 0x0f, 0xb7, 0x06 }, { 0x8b, 0x06 },
    };
    static const uint8_t code_len[] = { 4, 4, 3, 3, 3, 3, 2 };
    struct asm_buf *a = &c->a;
    unsigned k = op - OP_LB, size = size_of[k];
    uint8_t *miss = emit_tlb(a, d, size, false);
    for (unsigned i = 0; i < code_len[k]; i++)
        put8(a, code[k][i]);
    store_x(a, RAX, d->rd);
    struct stub *s = add_stub(c, STUB_LOAD, miss, n, pc);
    s->desc = size | (d->rd | (sign_of[k] ? LD_SIGN : 0)) << 8 | len << 16;
    s->resume = a->p;
}

static void emit_store(struct ctx *c, const struct dinsn *d, unsigned op, unsigned n,
                       uint64_t pc, unsigned len)
{
    struct asm_buf *a = &c->a;
    unsigned size = 1u << (op - OP_SB);
    uint8_t *miss = emit_tlb(a, d, size, true);
    load_x(a, RAX, d->rs2);
    if (size == 2)
        put8(a, 0x66);
    if (size == 8)
        put8(a, 0x48);
    put8(a, size == 1 ? 0x88 : 0x89);
    put8(a, 0x06); /* mov [rsi], al/ax/eax/rax */
    struct stub *s = add_stub(c, STUB_STORE, miss, n, pc);
    s->desc = size | len << 8;
    s->rs2 = d->rs2;
    s->resume = a->p;
}

/* An FP load or store needs mstatus.FS on; checked once per block. */
static void emit_fs_check(struct ctx *c, unsigned n, uint64_t pc, unsigned len)
{
    if (c->fs_checked)
        return;
    struct asm_buf *a = &c->a;
    op_mem(a, false, 0xf7, 0, VOFF(mstatus)); /* test dword [mstatus], MS_FS */
    put32(a, (uint32_t)MS_FS);
    struct stub *s = add_stub(c, STUB_FS_OFF, jcc32(a, CC_E), n, pc);
    s->desc = len;
    c->fs_checked = true;
}

static void emit_fs_dirty(struct ctx *c)
{
    if (c->fs_dirty)
        return;
    op_mem(&c->a, false, 0x81, ALU_OR, VOFF(mstatus)); /* or dword [mstatus], MS_FS */
    put32(&c->a, (uint32_t)MS_FS);
    c->fs_dirty = true;
}

static void emit_fload(struct ctx *c, const struct dinsn *d, unsigned op, unsigned n,
                       uint64_t pc, unsigned len)
{
    struct asm_buf *a = &c->a;
    unsigned size = op == OP_FLW ? 4 : 8, rd = d->rd & 31;
    emit_fs_check(c, n, pc, len);
    uint8_t *miss = emit_tlb(a, d, size, false);
    if (size == 4) {
        put8(a, 0x8b), put8(a, 0x06);                    /* mov eax, [rsi] */
        mov_imm(a, RCX, 0xffffffff00000000ull);          /* NaN-boxed */
        op_reg(a, true, 0x09, RCX, RAX);                 /* or rax, rcx */
    } else {
        put8(a, 0x48), put8(a, 0x8b), put8(a, 0x06);     /* mov rax, [rsi] */
    }
    op_mem(a, true, 0x89, RAX, FOFF(rd));
    struct stub *s = add_stub(c, STUB_LOAD, miss, n, pc);
    s->desc = size | (rd | LD_FP) << 8 | len << 16;
    s->resume = a->p;
    emit_fs_dirty(c);
}

static void emit_fstore(struct ctx *c, const struct dinsn *d, unsigned op, unsigned n,
                        uint64_t pc, unsigned len)
{
    struct asm_buf *a = &c->a;
    unsigned size = op == OP_FSW ? 4 : 8;
    emit_fs_check(c, n, pc, len);
    uint8_t *miss = emit_tlb(a, d, size, true);
    op_mem(a, true, 0x8b, RAX, FOFF(d->rs2));
    if (size == 8)
        put8(a, 0x48);
    put8(a, 0x89), put8(a, 0x06);                        /* mov [rsi], eax/rax */
    struct stub *s = add_stub(c, STUB_STORE, miss, n, pc);
    s->desc = size | len << 8;
    s->rs2 = d->rs2;
    s->fp = true;
    s->resume = a->p;
}

#define BYTES(a, ...)                                                                    \
    do {                                                                                 \
        static const uint8_t b_[] = { __VA_ARGS__ };                                     \
        put_bytes(a, b_, sizeof(b_));                                                    \
    } while (0)

/* edx = the biased exponent (and, unless masked, the sign above it) of rax's double. */
static void exp_of_rax(struct asm_buf *a, bool mask)
{
    op_reg(a, true, 0x89, RAX, RDX); /* mov rdx, rax */
    shift_imm(a, true, SH_SHR, RDX, 52);
    if (mask)
        alu_imm(a, false, ALU_AND, RDX, 0x7ff);
}

/* Jumps to the slow path unless edx (an exponent, sign included) is in [63, 0x7fe]:
 * a positive or negative normal of magnitude in [2^-960, DBL_MAX]. */
static void range_check(struct asm_buf *a, uint8_t **slow)
{
    alu_imm(a, false, ALU_SUB, RDX, 63);
    alu_imm(a, false, ALU_CMP, RDX, 0x7fe - 63);
    *slow = jcc32(a, 0x7); /* ja */
}

/* movsd xmmN, f[r] (N < 8) */
static void load_xmm(struct asm_buf *a, unsigned r, unsigned xmm)
{
    BYTES(a, 0xf2, 0x0f, 0x10);
    put8(a, 0x80 | xmm << 3 | RBX);
    put32(a, (uint32_t)FOFF(r));
}

/* The end of an inline FP instruction: mstatus.FS set to Dirty; its slow-path jumps (ns
 * of them, maybe none; taken before anything was written) go to the interpreter's FPU,
 * which comes back after it. */
static void end_fp_inline(struct ctx *c, uint8_t **slow, unsigned ns, uint32_t insn, unsigned n,
                          uint64_t pc)
{
    emit_fs_dirty(c);
    if (ns == 0) /* nothing it can meet needs the FPU */
        return;
    struct stub *s = add_stub(c, STUB_FP, slow[0], n, pc);
    for (unsigned i = 1; i < ns; i++)
        s->more[s->nmore++] = slow[i];
    s->desc = insn;
    s->resume = c->a.p;
}

/*
 * FMADD/FMSUB/FNMSUB/FNMADD.D in round-to-nearest-even, inline, once fflags holds NX
 * (it stays set until the guest clears it: inexact arithmetic is the rule): with a
 * finite normal result of magnitude >= 2^-960 (which needs finite operands) neither NV,
 * DZ, OF nor UF can arise, and NX is already there, so the host's fused operation is all
 * there is to do. Anything else goes to the interpreter's FPU.
 */
static bool emit_fma_inline(struct ctx *c, uint32_t insn, unsigned n, uint64_t pc)
{
    static const uint8_t vfm231sd[4] = { 0xb9, 0xbb, 0xbd, 0xbf }; /* RISC-V order */
    unsigned rm = (insn >> 12) & 7;
    struct asm_buf *a = &c->a;
    uint8_t *slow[4];
    unsigned ns = 0;
    if (((insn >> 25) & 3) != 1 || (rm != 0 && rm != 7))
        return false;
    if (rm == 7) {
        op_mem(a, false, 0x83, ALU_CMP, FPUOFF(frm)); /* cmp dword [frm], 0 */
        put8(a, 0);
        slow[ns++] = jcc32(a, CC_NE);
    }
    op_mem(a, false, 0xf6, 0, FPUOFF(fflags)); /* test byte [fflags], NX */
    put8(a, 1);
    slow[ns++] = jcc32(a, CC_E);
    load_xmm(a, (insn >> 15) & 31, 0);
    load_xmm(a, (insn >> 20) & 31, 1);
    load_xmm(a, insn >> 27, 3);
    BYTES(a, 0xc4, 0xe2, 0xf9); /* vfm...231sd xmm3, xmm0, xmm1 */
    put8(a, vfm231sd[((insn & 0x7f) - 0x43) >> 2]);
    put8(a, 0xd9);
    BYTES(a, 0x66, 0x48, 0x0f, 0x7e, 0xd8); /* movq rax, xmm3 */
    exp_of_rax(a, true);
    range_check(a, &slow[ns++]);
    op_mem(a, true, 0x89, RAX, FOFF((insn >> 7) & 31));
    end_fp_inline(c, slow, ns, insn, n, pc);
    return true;
}

static void emit_setcc(struct asm_buf *a, unsigned cc);

/*
 * The operations that round nothing, inline: FSGNJ/FSGNJN/FSGNJX.D (FMV.D, FNEG.D,
 * FABS.D), FMV.X.D, FMV.D.X, FMV.X.W, FMV.W.X, and FEQ/FLT/FLE.D on ordered operands
 * (no flag can arise; a NaN goes to the interpreter's FPU for NV). Returns false for
 * anything else.
 */
static bool emit_fp_move_inline(struct ctx *c, uint32_t insn, unsigned n, uint64_t pc)
{
    struct asm_buf *a = &c->a;
    unsigned f7 = insn >> 25, f3 = (insn >> 12) & 7, rd = (insn >> 7) & 31;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    if ((insn & 0x7f) != 0x53)
        return false;
    if (f7 == 0x11 && f3 <= 2) { /* fsgnj.d: a ^ ((a ^ b') & sign), b' = b, ~b, or a ^ b */
        op_mem(a, true, 0x8b, RAX, FOFF(rs1));
        if (!(f3 == 0 && rs1 == rs2)) {
            op_mem(a, true, 0x8b, RCX, FOFF(rs2));
            if (f3 == 1)
                op_reg(a, true, 0xf7, 2, RCX); /* not rcx */
            if (f3 != 2)
                op_reg(a, true, 0x31, RAX, RCX); /* xor rcx, rax */
            shift_imm(a, true, SH_SHR, RCX, 63);
            shift_imm(a, true, SH_SHL, RCX, 63);
            op_reg(a, true, 0x31, RCX, RAX); /* xor rax, rcx */
        }
        op_mem(a, true, 0x89, RAX, FOFF(rd));
    } else if (f7 == 0x71 && f3 == 0 && rs2 == 0) { /* fmv.x.d */
        if (rd) {
            op_mem(a, true, 0x8b, RAX, FOFF(rs1));
            store_x(a, RAX, rd);
        }
    } else if (f7 == 0x70 && f3 == 0 && rs2 == 0) { /* fmv.x.w: the low half, sign-extended */
        if (rd) {
            op_mem(a, true, 0x8b, RAX, FOFF(rs1));
            sext_eax(a);
            store_x(a, RAX, rd);
        }
    } else if (f7 == 0x78 && f3 == 0 && rs2 == 0) { /* fmv.w.x: NaN-boxed */
        load_x(a, RAX, rs1);
        op_reg(a, false, 0x89, RAX, RAX); /* mov eax, eax */
        mov_imm(a, RCX, 0xffffffff00000000ull);
        op_reg(a, true, 0x09, RCX, RAX); /* or rax, rcx */
        op_mem(a, true, 0x89, RAX, FOFF(rd));
    } else if (f7 == 0x79 && f3 == 0 && rs2 == 0) { /* fmv.d.x */
        load_x(a, RAX, rs1);
        op_mem(a, true, 0x89, RAX, FOFF(rd));
    } else if (f7 == 0x51 && f3 <= 2) { /* fle flt feq */
        static const uint8_t cc[3] = { 0x6, CC_B, CC_E }; /* be, b, e */
        op_reg(a, false, 0x31, RCX, RCX);
        load_xmm(a, rs1, 0);
        BYTES(a, 0x66, 0x0f, 0x2e, 0x83); /* ucomisd xmm0, [rbx + disp32] */
        put32(a, (uint32_t)FOFF(rs2));
        struct stub *s = add_stub(c, STUB_FP, jcc32(a, 0xa), n, pc); /* jp: unordered */
        s->desc = insn;
        emit_setcc(a, cc[f3]);
        if (rd)
            store_x(a, RCX, rd);
        emit_fs_dirty(c);
        s->resume = a->p;
        return true;
    } else {
        return false;
    }
    emit_fs_dirty(c);
    return true;
}

/*
 * FADD/FSUB/FMUL/FDIV/FSQRT.D in round-to-nearest-even, inline: the quick path of
 * fpu_host.c (quick_rne_d) in host SSE, with the same operand and result ranges (finite,
 * normal, far from overflow and underflow, where NX is the only possible flag) and the
 * same error-free transformations for NX (TwoSum, FMA residuals). Anything else (NaNs,
 * infinities, zeros, subnormals, huge values, frm other than RNE) goes to the slow path,
 * the interpreter's FPU, before anything is written. Returns false when the instruction
 * is not one of these.
 */
static bool emit_fp_inline(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc)
{
    bool fma = __builtin_cpu_supports("fma");
    uint32_t insn = (uint32_t)d->imm;
    unsigned f7 = insn >> 25, rm = (insn >> 12) & 7, rd = (insn >> 7) & 31;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    if ((insn & 0x73) == 0x43 && fma)
        return emit_fma_inline(c, insn, n, pc);
    if ((insn & 0x7f) != 0x53 || (rm != 0 && rm != 7))
        return false;
    bool add = f7 == 0x01 || f7 == 0x05, mul = f7 == 0x09, div = f7 == 0x0d;
    bool sqrt = f7 == 0x2d && rs2 == 0;
    if (!add && !((mul || div || sqrt) && fma))
        return false;
    struct asm_buf *a = &c->a;
    uint8_t *slow[5]; /* at most 4 */
    unsigned ns = 0;
    if (rm == 7) {
        op_mem(a, false, 0x83, ALU_CMP, FPUOFF(frm)); /* cmp dword [frm], 0 */
        put8(a, 0);
        slow[ns++] = jcc32(a, CC_NE);
    }
    op_mem(a, true, 0x8b, RAX, FOFF(rs1));
    if (add) {
        exp_of_rax(a, true);
        alu_imm(a, false, ALU_CMP, RDX, 0x7fd);
        slow[ns++] = jcc32(a, CC_AE);
    } else if (div) {
        exp_of_rax(a, true);
        alu_imm(a, false, ALU_CMP, RDX, 63);
        slow[ns++] = jcc32(a, CC_B);
    } else if (sqrt) {
        exp_of_rax(a, false); /* the sign too: negative operands are out of range */
        range_check(a, &slow[ns++]);
    }
    BYTES(a, 0x66, 0x48, 0x0f, 0x6e, 0xc0); /* movq xmm0, rax */
    if (!sqrt) {
        op_mem(a, true, 0x8b, RAX, FOFF(rs2));
        if (add) {
            exp_of_rax(a, true);
            alu_imm(a, false, ALU_CMP, RDX, 0x7fd);
            slow[ns++] = jcc32(a, CC_AE);
            if (f7 == 0x05)
                BYTES(a, 0x48, 0x0f, 0xba, 0xf8, 0x3f); /* btc rax, 63: a - b = a + -b */
        }
        BYTES(a, 0x66, 0x48, 0x0f, 0x6e, 0xc8); /* movq xmm1, rax */
    }
    /* xmm2 = the result, xmm3 = the error term */
    if (add) {
        BYTES(a, 0x66, 0x0f, 0x28, 0xd0,  /* movapd xmm2, xmm0 */
                 0xf2, 0x0f, 0x58, 0xd1,  /* addsd xmm2, xmm1: r = a + b */
                 0x66, 0x0f, 0x28, 0xe2,  /* movapd xmm4, xmm2 */
                 0xf2, 0x0f, 0x5c, 0xe0,  /* subsd xmm4, xmm0: t = r - a */
                 0x66, 0x0f, 0x28, 0xda,  /* movapd xmm3, xmm2 */
                 0xf2, 0x0f, 0x5c, 0xdc,  /* subsd xmm3, xmm4: r - t */
                 0x66, 0x0f, 0x28, 0xe8,  /* movapd xmm5, xmm0 */
                 0xf2, 0x0f, 0x5c, 0xeb,  /* subsd xmm5, xmm3: a - (r - t) */
                 0xf2, 0x0f, 0x5c, 0xcc,  /* subsd xmm1, xmm4: b - t */
                 0x66, 0x0f, 0x28, 0xdd,  /* movapd xmm3, xmm5 */
                 0xf2, 0x0f, 0x58, 0xd9); /* addsd xmm3, xmm1 */
    } else if (mul) {
        BYTES(a, 0x66, 0x0f, 0x28, 0xd0,  /* movapd xmm2, xmm0 */
                 0xf2, 0x0f, 0x59, 0xd1,  /* mulsd xmm2, xmm1: r = a * b */
                 0x66, 0x0f, 0x28, 0xda,  /* movapd xmm3, xmm2 */
                 0xc4, 0xe2, 0xf9, 0xbb, 0xd9); /* vfmsub231sd xmm3, xmm0, xmm1: a*b - r */
    } else if (div) {
        BYTES(a, 0x66, 0x0f, 0x28, 0xd0,  /* movapd xmm2, xmm0 */
                 0xf2, 0x0f, 0x5e, 0xd1,  /* divsd xmm2, xmm1: r = a / b */
                 0x66, 0x0f, 0x28, 0xd8,  /* movapd xmm3, xmm0 */
                 0xc4, 0xe2, 0xe9, 0xbd, 0xd9); /* vfnmadd231sd xmm3, xmm2, xmm1: a - r*b */
    } else {
        BYTES(a, 0xf2, 0x0f, 0x51, 0xd0,  /* sqrtsd xmm2, xmm0 */
                 0x66, 0x0f, 0x28, 0xd8,  /* movapd xmm3, xmm0 */
                 0xc4, 0xe2, 0xe9, 0xbd, 0xda); /* vfnmadd231sd xmm3, xmm2, xmm2: a - r*r */
    }
    BYTES(a, 0x66, 0x48, 0x0f, 0x7e, 0xd0); /* movq rax, xmm2 */
    if (mul || div) {
        exp_of_rax(a, true);
        range_check(a, &slow[ns++]);
    }
    op_mem(a, true, 0x89, RAX, FOFF(rd));
    BYTES(a, 0x66, 0x0f, 0x57, 0xf6,  /* xorpd xmm6, xmm6 */
             0x66, 0x0f, 0x2e, 0xde); /* ucomisd xmm3, xmm6 */
    uint8_t *exact = jcc32(a, CC_E);
    op_mem(a, false, 0x83, ALU_OR, FPUOFF(fflags)); /* or dword [fflags], NX */
    put8(a, 1);
    patch(a->j, exact, a->p);
    end_fp_inline(c, slow, ns, insn, n, pc);
    return true;
}

/* ---- single precision and conversions, inline ----
 *
 * These rely on one fact of the guest's fflags: NX stays set once anything inexact was
 * computed (inexact arithmetic is the rule), and with the operands and the result safely
 * inside the normal range, no flag other than NX can arise. So with NX already recorded,
 * the host's SSE instruction in round-to-nearest-even (the host's mode: fpu_host.c
 * restores it after any other) is the whole instruction; without it, or with any operand
 * or result outside those ranges, the interpreter's FPU does it (and records NX, so the
 * next time is inline). Operations that are always exact (FCVT.D.S, FCVT.D.W/WU) need
 * no NX. */

/* Jumps to the slow path unless the instruction's rounding is RNE: rm RNE, or DYN with
 * frm RNE. False (nothing emitted) for any other static mode. */
static bool fp_rne(struct asm_buf *a, unsigned rm, uint8_t **slow, unsigned *ns)
{
    if (rm == 7) {
        op_mem(a, false, 0x83, ALU_CMP, FPUOFF(frm)); /* cmp dword [frm], 0 */
        put8(a, 0);
        slow[(*ns)++] = jcc32(a, CC_NE);
        return true;
    }
    return rm == 0;
}

/* Jumps to the slow path unless rm names a valid mode (static, or DYN with a valid frm):
 * for operations that round nothing but still trap on a reserved mode. */
static bool fp_rm_valid(struct asm_buf *a, unsigned rm, uint8_t **slow, unsigned *ns)
{
    if (rm == 7) {
        op_mem(a, false, 0x83, ALU_CMP, FPUOFF(frm)); /* cmp dword [frm], RMM */
        put8(a, 4);
        slow[(*ns)++] = jcc32(a, 0x7); /* ja */
        return true;
    }
    return rm <= 4;
}

/* Jumps to the slow path unless fflags already holds NX. */
static void fp_nx_known(struct asm_buf *a, uint8_t **slow, unsigned *ns)
{
    op_mem(a, false, 0xf6, 0, FPUOFF(fflags)); /* test byte [fflags], NX */
    put8(a, 1);
    slow[(*ns)++] = jcc32(a, CC_E);
}

/* xmmN (N < 8) = the single in f[r]; jumps to the slow path unless it is NaN-boxed (an
 * unboxed value reads as the canonical NaN). Clobbers rax and rdx. */
static void load_single(struct asm_buf *a, unsigned r, unsigned xmm, uint8_t **slow,
                        unsigned *ns)
{
    op_mem(a, true, 0x8b, RAX, FOFF(r));
    op_reg(a, true, 0x89, RAX, RDX); /* mov rdx, rax */
    shift_imm(a, true, SH_SHR, RDX, 32);
    alu_imm(a, false, ALU_CMP, RDX, -1);
    slow[(*ns)++] = jcc32(a, CC_NE);
    put8(a, 0x66), put8(a, 0x0f), put8(a, 0x6e), put8(a, 0xc0 | xmm << 3); /* movd xmmN, eax */
}

/* f[rd] = xmmN's single, NaN-boxed; with check, first a jump to the slow path unless it
 * is a normal of magnitude in [2^-63, FLT_MAX] (a NaN, an infinity, an overflow or an
 * underflow all land outside). Clobbers rax, rcx, rdx. */
static void store_single(struct asm_buf *a, unsigned xmm, unsigned rd, bool check,
                         uint8_t **slow, unsigned *ns)
{
    put8(a, 0x66), put8(a, 0x0f), put8(a, 0x7e), put8(a, 0xc0 | xmm << 3); /* movd eax, xmmN */
    if (check) {
        op_reg(a, false, 0x89, RAX, RDX); /* mov edx, eax */
        shift_imm(a, false, SH_SHR, RDX, 23);
        alu_imm(a, false, ALU_AND, RDX, 0xff);
        alu_imm(a, false, ALU_SUB, RDX, 64);
        alu_imm(a, false, ALU_CMP, RDX, 0xfe - 64);
        slow[(*ns)++] = jcc32(a, 0x7); /* ja */
    }
    mov_imm(a, RCX, 0xffffffff00000000ull);
    op_reg(a, true, 0x09, RCX, RAX); /* or rax, rcx */
    op_mem(a, true, 0x89, RAX, FOFF(rd));
}

/*
 * FADD/FSUB/FMUL/FDIV/FSQRT.S and the four fused forms in RNE with NX known, and
 * FEQ/FLT/FLE.S on ordered operands (no flag can arise), inline. Returns false for
 * anything else.
 */
static bool emit_fp_single_inline(struct ctx *c, uint32_t insn, unsigned n, uint64_t pc)
{
    static const uint8_t arith[4] = { 0x58, 0x5c, 0x59, 0x5e }; /* addss subss mulss divss */
    static const uint8_t vfm231ss[4] = { 0xb9, 0xbb, 0xbd, 0xbf }; /* RISC-V order */
    unsigned f7 = insn >> 25, rm = (insn >> 12) & 7, rd = (insn >> 7) & 31;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    bool fused = (insn & 0x73) == 0x43 && (f7 & 3) == 0;
    bool basic = (insn & 0x7f) == 0x53 && (f7 == 0x00 || f7 == 0x04 || f7 == 0x08 ||
                                           f7 == 0x0c || (f7 == 0x2c && rs2 == 0));
    bool cmp = (insn & 0x7f) == 0x53 && f7 == 0x50 && rm <= 2;
    struct asm_buf *a = &c->a;
    uint8_t *slow[8];
    unsigned ns = 0;
    if (cmp) {
        static const uint8_t cc[3] = { 0x6, CC_B, CC_E }; /* be, b, e */
        op_reg(a, false, 0x31, RCX, RCX); /* xor ecx, ecx */
        load_single(a, rs1, 0, slow, &ns);
        load_single(a, rs2, 1, slow, &ns);
        BYTES(a, 0x0f, 0x2e, 0xc1); /* ucomiss xmm0, xmm1 */
        slow[ns++] = jcc32(a, 0xa); /* jp: unordered */
        emit_setcc(a, cc[rm]);
        if (rd)
            store_x(a, RCX, rd);
        end_fp_inline(c, slow, ns, insn, n, pc);
        return true;
    }
    if ((!fused && !basic) || (fused && !__builtin_cpu_supports("fma")) || (rm != 0 && rm != 7))
        return false;
    fp_rne(a, rm, slow, &ns);
    fp_nx_known(a, slow, &ns);
    load_single(a, rs1, 0, slow, &ns);
    if (fused) {
        load_single(a, rs2, 1, slow, &ns);
        load_single(a, insn >> 27, 2, slow, &ns);
        BYTES(a, 0xc4, 0xe2, 0x79); /* vfm...231ss xmm2, xmm0, xmm1 */
        put8(a, vfm231ss[((insn & 0x7f) - 0x43) >> 2]);
        put8(a, 0xd1);
    } else if (f7 == 0x2c) {
        BYTES(a, 0xf3, 0x0f, 0x51, 0xd0); /* sqrtss xmm2, xmm0 */
    } else {
        load_single(a, rs2, 1, slow, &ns);
        BYTES(a, 0x0f, 0x28, 0xd0); /* movaps xmm2, xmm0 */
        put8(a, 0xf3), put8(a, 0x0f), put8(a, arith[f7 >> 2]), put8(a, 0xd1); /* op xmm2, xmm1 */
    }
    store_single(a, 2, rd, true, slow, &ns);
    end_fp_inline(c, slow, ns, insn, n, pc);
    return true;
}

/*
 * Conversions inline: FCVT.D.S (exact unless NaN), FCVT.S.D (RNE, NX known, a normal
 * result in range), FCVT.D.W/WU (always exact), FCVT.D.L and FCVT.S.W/WU/L (RNE, NX
 * known: only NX can arise), FCVT.W/L.S/D (RTZ, or RNE, with NX known; a NaN or an
 * out-of-range operand gives the host's indefinite integer, which goes to the slow path
 * as does the one value that equals it). Returns false for anything else (the unsigned
 * 64-bit forms, FCVT.WU/LU, other rounding modes).
 */
static bool emit_fp_cvt_inline(struct ctx *c, uint32_t insn, unsigned n, uint64_t pc)
{
    unsigned f7 = insn >> 25, rm = (insn >> 12) & 7, rd = (insn >> 7) & 31;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    bool dbl = f7 & 1;
    struct asm_buf *a = &c->a;
    uint8_t *slow[8];
    unsigned ns = 0;
    if ((insn & 0x7f) != 0x53)
        return false;
    if (f7 == 0x21 && rs2 == 0) { /* fcvt.d.s */
        if (!fp_rm_valid(a, rm, slow, &ns))
            return false;
        load_single(a, rs1, 0, slow, &ns);
        BYTES(a, 0x0f, 0x2e, 0xc0);           /* ucomiss xmm0, xmm0 */
        slow[ns++] = jcc32(a, 0xa);           /* jp: a NaN */
        BYTES(a, 0xf3, 0x0f, 0x5a, 0xc0,      /* cvtss2sd xmm0, xmm0 */
                 0x66, 0x48, 0x0f, 0x7e, 0xc0); /* movq rax, xmm0 */
        op_mem(a, true, 0x89, RAX, FOFF(rd));
    } else if (f7 == 0x20 && rs2 == 1) { /* fcvt.s.d */
        if (!fp_rne(a, rm, slow, &ns))
            return false;
        fp_nx_known(a, slow, &ns);
        load_xmm(a, rs1, 0);
        BYTES(a, 0xf2, 0x0f, 0x5a, 0xd0); /* cvtsd2ss xmm2, xmm0 */
        store_single(a, 2, rd, true, slow, &ns);
    } else if ((f7 == 0x68 || f7 == 0x69) && rs2 <= 2) { /* fcvt.s/d.w/wu/l */
        bool exact = dbl && rs2 <= 1;
        if (exact ? !fp_rm_valid(a, rm, slow, &ns) : !fp_rne(a, rm, slow, &ns))
            return false;
        if (!exact)
            fp_nx_known(a, slow, &ns);
        load_x(a, RAX, rs1);
        if (rs2 == 1)
            op_reg(a, false, 0x89, RAX, RAX); /* mov eax, eax: zero-extended */
        /* cvtsi2ss/sd xmm2, eax (w) or rax (wu, l) */
        put8(a, dbl ? 0xf2 : 0xf3);
        if (rs2)
            put8(a, 0x48);
        BYTES(a, 0x0f, 0x2a, 0xd0);
        if (dbl) {
            BYTES(a, 0x66, 0x48, 0x0f, 0x7e, 0xd0); /* movq rax, xmm2 */
            op_mem(a, true, 0x89, RAX, FOFF(rd));
        } else {
            store_single(a, 2, rd, false, slow, &ns);
        }
    } else if ((f7 == 0x60 || f7 == 0x61) && (rs2 == 0 || rs2 == 2)) { /* fcvt.w/l.s/d */
        bool wide = rs2 == 2;
        if (rm == 1) {
            /* truncation: the instruction says so */
        } else if (!fp_rne(a, rm, slow, &ns)) {
            return false;
        }
        fp_nx_known(a, slow, &ns);
        if (dbl)
            load_xmm(a, rs1, 0);
        else
            load_single(a, rs1, 0, slow, &ns);
        /* cvt(t)ss/sd2si eax/rax, xmm0 */
        put8(a, dbl ? 0xf2 : 0xf3);
        if (wide)
            put8(a, 0x48);
        put8(a, 0x0f), put8(a, rm == 1 ? 0x2c : 0x2d), put8(a, 0xc0);
        if (wide) {
            mov_imm(a, RCX, 1ull << 63);
            op_reg(a, true, 0x39, RCX, RAX); /* cmp rax, rcx */
        } else {
            put8(a, 0x3d); /* cmp eax, imm32 */
            put32(a, 0x80000000u);
        }
        slow[ns++] = jcc32(a, CC_E); /* the indefinite integer */
        if (!wide)
            sext_eax(a);
        if (rd)
            store_x(a, RAX, rd);
    } else {
        return false;
    }
    end_fp_inline(c, slow, ns, insn, n, pc);
    return true;
}

static void emit_fp(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc)
{
    struct asm_buf *a = &c->a;
    emit_fs_check(c, n, pc, 4);
    uint32_t insn = (uint32_t)d->imm;
    if (emit_fp_move_inline(c, insn, n, pc) || emit_fp_inline(c, d, n, pc) ||
        emit_fp_single_inline(c, insn, n, pc) || emit_fp_cvt_inline(c, insn, n, pc))
        return;
    lea_v_rdi(a);
    mov_imm32(a, RSI, (uint32_t)d->imm);
    mov_imm(a, RDX, pc);
    call_abs(a, (const void *)jit_fp);
    op_reg(a, false, 0x85, RAX, RAX); /* test eax, eax */
    struct stub *s = add_stub(c, STUB_RESULT, jcc32(a, CC_NE), n, pc);
    s->resume = a->p;
    c->fs_checked = c->fs_dirty = true; /* it went on: FS is on, and Dirty */
}

/* reg = the value of CSR csr (fpu_csr_read); tmp clobbered for fcsr. */
static void fcsr_value(struct asm_buf *a, unsigned csr, unsigned reg, unsigned tmp)
{
    op_mem(a, false, 0x8b, reg, csr == 0x002 ? FPUOFF(frm) : FPUOFF(fflags));
    alu_imm(a, false, ALU_AND, reg, csr == 0x002 ? 7 : 31);
    if (csr == 0x003) {
        op_mem(a, false, 0x8b, tmp, FPUOFF(frm));
        alu_imm(a, false, ALU_AND, tmp, 7);
        shift_imm(a, false, SH_SHL, tmp, 5);
        op_reg(a, false, 0x09, tmp, reg); /* or reg, tmp */
    }
}

/*
 * CSRRW/S/C[I] on fflags, frm and fcsr (FRFLAGS, FSFLAGS, FRRM, FSRM and their kind: glibc
 * brackets comparisons and square roots with them), inline: fpu_csr_exec in x86. A CSR
 * write ends nothing here: the inline FP paths read frm and fflags when they run.
 */
static void emit_fcsr(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc,
                      unsigned len)
{
    struct asm_buf *a = &c->a;
    uint32_t insn = (uint32_t)d->imm;
    unsigned f3 = (insn >> 12) & 7, csr = insn >> 20;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    bool write = (f3 & 3) == 1 || rs1 != 0;
    emit_fs_check(c, n, pc, len);
    fcsr_value(a, csr, RAX, RDX); /* eax = old */
    if (write) {
        if (f3 & 4)
            mov_imm32(a, RCX, rs1);
        else
            load_x(a, RCX, rs1);
        if ((f3 & 3) == 2) {
            op_reg(a, true, 0x09, RAX, RCX); /* or rcx, rax */
        } else if ((f3 & 3) == 3) {
            op_reg(a, true, 0xf7, 2, RCX);   /* not rcx */
            op_reg(a, true, 0x21, RAX, RCX); /* and rcx, rax */
        }
        /* fpu_csr_write: rcx = the new value */
        if (csr != 0x002) {
            op_reg(a, false, 0x89, RCX, RDX); /* mov edx, ecx */
            alu_imm(a, false, ALU_AND, RDX, 31);
            op_mem(a, false, 0x89, RDX, FPUOFF(fflags));
        }
        if (csr != 0x001) {
            if (csr == 0x003)
                shift_imm(a, false, SH_SHR, RCX, 5);
            alu_imm(a, false, ALU_AND, RCX, 7);
            op_mem(a, false, 0x89, RCX, FPUOFF(frm));
        }
        emit_fs_dirty(c);
    }
    if (rd)
        store_x(a, RAX, rd);
}

static void emit_amo(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc,
                     unsigned len)
{
    struct asm_buf *a = &c->a;
    lea_v_rdi(a);
    mov_imm32(a, RSI, (uint32_t)d->imm);
    mov_imm(a, RDX, pc);
    mov_imm32(a, RCX, len);
    call_abs(a, (const void *)jit_amo);
    op_reg(a, false, 0x85, RAX, RAX); /* test eax, eax */
    struct stub *s = add_stub(c, STUB_RESULT, jcc32(a, CC_NE), n, pc);
    s->resume = a->p;
}

/* eax from a store/AMO helper, nonzero: leave the block (see jit_store_slow). */
static void emit_result_exit(struct ctx *c, unsigned n)
{
    struct asm_buf *a = &c->a;
    count(a, n);
    alu_imm(a, false, ALU_CMP, RAX, 1);
    patch(a->j, jcc32(a, CC_E), c->j->epilogue); /* eax = JIT_STOP */
    count(a, 1);
    exit_continue(c);
}

static void emit_stubs(struct ctx *c)
{
    struct asm_buf *a = &c->a;
    for (unsigned i = 0; i < c->nstubs; i++) {
        struct stub *s = &c->stubs[i];
        patch(a->j, s->from, a->p);
        for (unsigned k = 0; k < s->nmore; k++)
            patch(a->j, s->more[k], a->p);
        if (s->kind == STUB_LOAD) {
            lea_v_rdi(a);
            mov_imm32(a, RDX, s->desc);
            mov_imm(a, RCX, s->pc);
            call_abs(a, (const void *)jit_load_slow);
            op_reg(a, false, 0x85, RAX, RAX);
            patch(a->j, jcc32(a, CC_E), s->resume);
            count(a, s->count);
            jmp_to(a, c->j->epilogue); /* eax = 1 = JIT_STOP */
            continue;
        }
        if (s->kind == STUB_FP) {
            lea_v_rdi(a);
            mov_imm32(a, RSI, s->desc);
            mov_imm(a, RDX, s->pc);
            call_abs(a, (const void *)jit_fp);
            op_reg(a, false, 0x85, RAX, RAX);
            patch(a->j, jcc32(a, CC_E), s->resume);
        }
        if (s->kind == STUB_FS_OFF) {
            lea_v_rdi(a);
            mov_imm(a, RSI, s->pc);
            mov_imm32(a, RDX, s->desc);
            call_abs(a, (const void *)jit_fp_generic);
        }
        if (s->kind == STUB_STORE) {
            lea_v_rdi(a);
            if (s->fp)
                op_mem(a, true, 0x8b, RDX, FOFF(s->rs2));
            else
                load_x(a, RDX, s->rs2);
            mov_imm32(a, RCX, s->desc);
            mov_imm(a, R8, s->pc);
            call_abs(a, (const void *)jit_store_slow);
            op_reg(a, false, 0x85, RAX, RAX);
            patch(a->j, jcc32(a, CC_E), s->resume);
        }
        emit_result_exit(c, s->count);
    }
}

static void emit_branch(struct ctx *c, const struct dinsn *d, unsigned op, unsigned n,
                        uint64_t pc)
{
    static const uint8_t cc_of[] = { CC_E, CC_NE, CC_L, CC_GE, CC_B, CC_AE };
    struct asm_buf *a = &c->a;
    load_x(a, RAX, d->rs1);
    if (d->rs2 == 0)
        op_reg(a, true, 0x85, RAX, RAX); /* test rax, rax */
    else
        op_mem(a, true, 0x3b, RAX, XOFF(d->rs2));
    uint8_t *not_taken = jcc32(a, cc_of[op - OP_BEQ] ^ 1);
    exit_to(c, pc + (uint64_t)(int64_t)d->imm, n + 1, true);
    patch(a->j, not_taken, a->p);
}

static void emit_jalr(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc,
                      unsigned len)
{
    struct asm_buf *a = &c->a;
    load_x(a, RCX, d->rs1);
    if (d->imm)
        alu_imm(a, true, ALU_ADD, RCX, d->imm);
    alu_imm(a, true, ALU_AND, RCX, -2);
    if (d->rd < 32) {
        mov_imm(a, RAX, pc + len);
        store_x(a, RAX, d->rd);
    }
    count(a, n + 1);
    op_mem(a, true, 0x89, RCX, VOFF(pc));
    exit_lookup(c);
}

static void emit_setcc(struct asm_buf *a, unsigned cc)
{
    put8(a, 0x0f);
    put8(a, 0x90 | cc);
    put8(a, 0xc1); /* setcc cl */
}

static uint64_t (*const div_helper[])(uint64_t, uint64_t) = {
    [OP_DIV - OP_DIV] = h_div, [OP_DIVU - OP_DIV] = h_divu,
    [OP_REM - OP_DIV] = h_rem, [OP_REMU - OP_DIV] = h_remu,
};
static uint64_t (*const divw_helper[])(uint64_t, uint64_t) = {
    [OP_DIVW - OP_DIVW] = h_divw, [OP_DIVUW - OP_DIVW] = h_divuw,
    [OP_REMW - OP_DIVW] = h_remw, [OP_REMUW - OP_DIVW] = h_remuw,
};

static void emit_call2(struct asm_buf *a, const struct dinsn *d,
                       uint64_t (*fn)(uint64_t, uint64_t))
{
    load_x(a, RDI, d->rs1);
    load_x(a, RSI, d->rs2);
    call_abs(a, (const void *)fn);
    store_x(a, RAX, d->rd);
}

/* Register-immediate and register-register arithmetic. Returns false for other ops. */
static bool emit_alu(struct ctx *c, const struct dinsn *d, unsigned op, uint64_t pc)
{
    struct asm_buf *a = &c->a;
    int32_t imm = d->imm;
    switch (op) {
    case OP_LUI:
        mov_imm(a, RAX, (uint64_t)(int64_t)imm);
        break;
    case OP_AUIPC:
        mov_imm(a, RAX, pc + (uint64_t)(int64_t)imm);
        break;
    case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI: {
        unsigned digit = op == OP_ADDI ? ALU_ADD : op == OP_XORI ? ALU_XOR
                       : op == OP_ORI ? ALU_OR : ALU_AND;
        load_x(a, RAX, d->rs1);
        if (imm || digit == ALU_AND)
            alu_imm(a, true, digit, RAX, imm);
        break;
    }
    case OP_SLTI: case OP_SLTIU:
        load_x(a, RAX, d->rs1);
        op_reg(a, false, 0x31, RCX, RCX);
        alu_imm(a, true, ALU_CMP, RAX, imm);
        emit_setcc(a, op == OP_SLTI ? CC_L : CC_B);
        store_x(a, RCX, d->rd);
        return true;
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
        load_x(a, RAX, d->rs1);
        shift_imm(a, true, op == OP_SLLI ? SH_SHL : op == OP_SRLI ? SH_SHR : SH_SAR, RAX,
                  (unsigned)imm);
        break;
    case OP_ADDIW:
        load_x(a, RAX, d->rs1);
        if (imm)
            alu_imm(a, false, ALU_ADD, RAX, imm);
        sext_eax(a);
        break;
    case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
        load_x(a, RAX, d->rs1);
        shift_imm(a, false, op == OP_SLLIW ? SH_SHL : op == OP_SRLIW ? SH_SHR : SH_SAR, RAX,
                  (unsigned)imm);
        sext_eax(a);
        break;
    case OP_ADD: case OP_SUB: case OP_XOR: case OP_OR: case OP_AND:
    case OP_ADDW: case OP_SUBW: case OP_MUL: case OP_MULW: {
        unsigned x86 = (op == OP_ADD || op == OP_ADDW) ? 0x03
                     : (op == OP_SUB || op == OP_SUBW) ? 0x2b
                     : op == OP_XOR ? 0x33 : op == OP_OR ? 0x0b : op == OP_AND ? 0x23 : 0x0faf;
        load_x(a, RAX, d->rs1);
        alu_rs2(a, x86, d->rs2);
        if (op == OP_ADDW || op == OP_SUBW || op == OP_MULW)
            sext_eax(a);
        break;
    }
    case OP_SLT: case OP_SLTU:
        load_x(a, RAX, d->rs1);
        op_reg(a, false, 0x31, RCX, RCX);
        alu_rs2(a, 0x3b, d->rs2);
        emit_setcc(a, op == OP_SLT ? CC_L : CC_B);
        store_x(a, RCX, d->rd);
        return true;
    case OP_SLL: case OP_SRL: case OP_SRA: case OP_SLLW: case OP_SRLW: case OP_SRAW: {
        bool w = op == OP_SLL || op == OP_SRL || op == OP_SRA;
        unsigned digit = (op == OP_SLL || op == OP_SLLW) ? SH_SHL
                       : (op == OP_SRL || op == OP_SRLW) ? SH_SHR : SH_SAR;
        load_x(a, RAX, d->rs1);
        load_x(a, RCX, d->rs2);
        shift_cl(a, w, digit, RAX); /* x86 masks the count as RISC-V does */
        if (!w)
            sext_eax(a);
        break;
    }
    case OP_MULH: case OP_MULHU:
        load_x(a, RAX, d->rs1);
        load_x(a, RCX, d->rs2);
        op_reg(a, true, 0xf7, op == OP_MULH ? MUL_S : MUL_U, RCX);
        store_x(a, RDX, d->rd);
        return true;
    case OP_MULHSU:
        /* The unsigned high product, minus rs2 when rs1 is negative. */
        load_x(a, RAX, d->rs1);
        load_x(a, RCX, d->rs2);
        op_reg(a, true, 0x89, RAX, RDI);
        op_reg(a, true, 0xf7, MUL_U, RCX);
        shift_imm(a, true, SH_SAR, RDI, 63);
        op_reg(a, true, 0x21, RCX, RDI); /* and rdi, rcx */
        op_reg(a, true, 0x29, RDI, RDX); /* sub rdx, rdi */
        store_x(a, RDX, d->rd);
        return true;
    case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU:
        emit_call2(a, d, div_helper[op - OP_DIV]);
        return true;
    case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
        emit_call2(a, d, divw_helper[op - OP_DIVW]);
        return true;
    default:
        return false;
    }
    store_x(a, RAX, d->rd);
    return true;
}

static void emit_prologue(struct jit *j)
{
    /* int enter(hv_vcpu *v, code *at, int64_t budget) */
    static const uint8_t enter[] = {
        0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, /* push rbx..r15 */
        0x48, 0x83, 0xec, 0x08,                                     /* sub rsp, 8 */
        0x48, 0x8d, 0x9f, BASE, 0x00, 0x00, 0x00,                   /* lea rbx, [rdi+BASE] */
        0x45, 0x31, 0xe4,                                           /* xor r12d, r12d */
        0x49, 0x89, 0xd5,                                           /* mov r13, rdx */
        0xff, 0xe6,                                                 /* jmp rsi */
    };
    static const uint8_t leave[] = {
        0x48, 0x83, 0xc4, 0x08,                                     /* add rsp, 8 */
        0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, /* pop r15..rbx */
        0xc3,
    };
    struct asm_buf a = { j->rx, j };
    put_bytes(&a, enter, sizeof(enter));
    j->epilogue = a.p;
    op_mem(&a, true, 0x01, R12, VOFF(instret)); /* add [instret], r12 */
    put_bytes(&a, leave, sizeof(leave));
    j->start = (size_t)(a.p - j->rx + 63) & ~(size_t)63;
    j->used = j->start;
}

static void reset_all(hv_vcpu *v)
{
    struct jit *j = v->jit;
    j->used = j->start;
    for (unsigned i = 0; i < DCACHE_PAGES; i++)
        j->vpage[i] = NO_VPAGE;
    v->jit_link = NULL;
    jit_gen_bump(v);
    v->code_dirty = true; /* the running block holds an entry table that is now stale */
}

/* Code is written through rw and run through rx, and a page touched one at a time costs
 * a write fault in one view and a fault in the other: a 4-vCPU boot of the default
 * guest took 5 thousand write faults emitting code alone. Both views of the next
 * POPULATE_CHUNK are mapped with one madvise each when compilation gets near them; on
 * a kernel without MADV_POPULATE_* (before 5.14) the pages simply fault as before. */
#define POPULATE_CHUNK ((size_t)128 << 10)
_Static_assert(CODE_SIZE % POPULATE_CHUNK == 0, "chunks tile the code buffer");

static void populate_ahead(struct jit *j)
{
    size_t need = j->used + BLOCK_MAX_BYTES;
    if (need <= j->populated)
        return;
    size_t from = j->populated > j->used ? j->populated : j->used & ~(size_t)4095;
    size_t to = (need + POPULATE_CHUNK - 1) & ~(POPULATE_CHUNK - 1);
    madvise(j->rw + from, to - from, MADV_POPULATE_WRITE);
    madvise(j->rx + from, to - from, MADV_POPULATE_READ);
    j->populated = to;
}

static bool compilable(unsigned op)
{
    return op >= OP_LUI && op <= OP_FCSR;
}

/* Translates one instruction; returns false when the block ends with it. */
static bool emit_insn(struct ctx *c, const struct dinsn *d, unsigned n, uint64_t pc)
{
    unsigned op = d->op >> 1, len = 2u + ((d->op & 1u) << 1);
    switch (op) {
    case OP_JAL:
        if (d->rd < 32) {
            mov_imm(&c->a, RAX, pc + len);
            store_x(&c->a, RAX, d->rd);
        }
        exit_to(c, pc + (uint64_t)(int64_t)d->imm, n + 1, true);
        return false;
    case OP_JALR:
        emit_jalr(c, d, n, pc, len);
        return false;
    case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
        emit_branch(c, d, op, n, pc);
        return true;
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
        emit_load(c, d, op, n, pc, len);
        return true;
    case OP_SB: case OP_SH: case OP_SW: case OP_SD:
        emit_store(c, d, op, n, pc, len);
        return true;
    case OP_FENCE:
        return true; /* x86 keeps the order that these fences ask for */
    case OP_FENCE_FULL:
        put8(&c->a, 0x0f), put8(&c->a, 0xae), put8(&c->a, 0xf0); /* mfence */
        return true;
    case OP_AMO:
        emit_amo(c, d, n, pc, len);
        return true;
    case OP_FP:
        emit_fp(c, d, n, pc);
        return true;
    case OP_FLW: case OP_FLD:
        emit_fload(c, d, op, n, pc, len);
        return true;
    case OP_FSW: case OP_FSD:
        emit_fstore(c, d, op, n, pc, len);
        return true;
    case OP_FCSR:
        emit_fcsr(c, d, n, pc, len);
        return true;
    default:
        return emit_alu(c, d, op, pc);
    }
}

uint32_t jit_compile(hv_vcpu *v, uint32_t *ents, struct dinsn *dbase, const uint8_t *fhost,
                     uint64_t fpage, unsigned idx)
{
    struct jit *j = v->jit;
    if (CODE_SIZE - j->used < BLOCK_MAX_BYTES) {
        reset_all(v);
        return JIT_NEVER;
    }
    struct ctx *c = malloc(sizeof(*c));
    if (!c) {
        ents[idx] = JIT_NEVER;
        return JIT_NEVER;
    }
    populate_ahead(j);
    c->a = (struct asm_buf){ j->rx + j->used, j };
    c->j = j;
    c->fpage = fpage;
    c->nstubs = 0;
    c->fs_checked = c->fs_dirty = false;
    unsigned i = idx, n = 0;
    for (;;) {
        struct dinsn *d = &dbase[i];
        if (i >= JIT_PAGE_ENTRIES) {
            exit_to(c, fpage + PAGE_SIZE, n, true);
            break;
        }
        if (d->op >> 1 == OP_UNDECODED)
            dcache_decode(v, fhost, i * 2, d);
        if (!compilable(d->op >> 1) || n == BLOCK_MAX_INSNS) {
            if (n == 0) {
                free(c);
                ents[idx] = JIT_NEVER;
                return JIT_NEVER;
            }
            exit_to(c, fpage + i * 2, n, false);
            break;
        }
        if (!emit_insn(c, d, n, fpage + i * 2))
            break;
        n++;
        i += 1 + (d->op & 1);
    }
    emit_stubs(c);
    if ((size_t)(c->a.p - (j->rx + j->used)) > BLOCK_MAX_BYTES)
        abort(); /* INSN_MAX_BYTES is wrong: the buffer's reserve was overrun */
    uint32_t e = (uint32_t)j->used;
    j->used = (size_t)(c->a.p - j->rx + 15) & ~(size_t)15;
    free(c);
    ents[idx] = e;
    return e;
}

enum jit_result jit_run(hv_vcpu *v, uint32_t *ents, uint32_t code, int64_t budget)
{
    typedef int enter_fn(hv_vcpu *, const uint8_t *, int64_t);
    struct jit *j = v->jit;
    v->jit_ents = ents;
    v->jit_link = NULL;
    enter_fn *enter = (enter_fn *)(uintptr_t)j->rx;
    return enter(v, j->rx + code, budget) ? JIT_STOP : JIT_CONTINUE;
}

void jit_chain(hv_vcpu *v)
{
    uint8_t *site = v->jit_link;
    v->jit_link = NULL;
    if (!site)
        return;
    uint32_t e = v->jit_ents[(v->pc & (PAGE_SIZE - 1)) >> 1];
    if (e > JIT_NEVER)
        patch(v->jit, site, v->jit->rx + e);
}

void jit_trim(hv_vcpu *v)
{
    struct jit *j = v->jit;
    if (j->used == j->start)
        return;
    reset_all(v);
    /* Shared memfd pages are freed by punching them out (MADV_REMOVE); the entry
     * tables come back as zero pages, which reset_all's NO_VPAGE clears anyway. */
    size_t keep = (j->start + (size_t)getpagesize() - 1) & ~((size_t)getpagesize() - 1);
    madvise(j->rw + keep, CODE_SIZE - keep, MADV_REMOVE);
    j->populated = keep;
    madvise(j->ents, ENTS_BYTES, MADV_DONTNEED);
    memset(j->ents_zero, 0xff, sizeof j->ents_zero);
}

void jit_page_reset(hv_vcpu *v, unsigned slot)
{
    v->jit->vpage[slot] = NO_VPAGE;
    jit_gen_bump(v);
}

uint32_t *jit_page_entries(hv_vcpu *v, unsigned slot, uint64_t vpage)
{
    struct jit *j = v->jit;
    uint32_t *ents = j->ents + (size_t)slot * JIT_PAGE_ENTRIES;
    if (j->vpage[slot] != vpage) {
        /* A table never used since the mapping (or a trim) is zero already: clearing it
         * would touch both its pages, where the guest's code may use a few entries. */
        uint64_t bit = 1ull << (slot % 64);
        if (j->ents_zero[slot / 64] & bit)
            j->ents_zero[slot / 64] &= ~bit;
        else
            memset(ents, 0, JIT_PAGE_ENTRIES * sizeof(*ents));
        j->vpage[slot] = vpage;
        jit_gen_bump(v);
    }
    return ents;
}

/* Maps the code buffer twice, writable and executable, never both at once: hardened hosts
 * refuse writable executable memory, and it would hand any memory corruption of the VMM
 * a place to put code. Shared mappings of a memfd commit nothing up front; each page is
 * allocated when the emitter first writes it. The fd can go once both views hold the
 * file. Returns false when the host refuses either; the vCPU then interprets. */
static bool map_views(struct jit *j)
{
    int fd = memfd_create("cove-jit", MFD_CLOEXEC);
    if (fd < 0)
        return false;
    j->rw = MAP_FAILED;
    j->rx = MAP_FAILED;
    if (ftruncate(fd, CODE_SIZE) == 0) {
        j->rw = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        j->rx = mmap(NULL, CODE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    }
    close(fd);
    if (j->rw != MAP_FAILED && j->rx != MAP_FAILED) {
        /* helpers forked later must not keep the code buffer alive (as guest RAM) */
        madvise(j->rw, CODE_SIZE, MADV_DONTFORK);
        madvise(j->rx, CODE_SIZE, MADV_DONTFORK);
        return true;
    }
    if (j->rw != MAP_FAILED)
        munmap(j->rw, CODE_SIZE);
    if (j->rx != MAP_FAILED)
        munmap(j->rx, CODE_SIZE);
    return false;
}

int jit_init(hv_vcpu *v)
{
    struct jit *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->ents = mmap(NULL, ENTS_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (j->ents != MAP_FAILED)
        madvise(j->ents, ENTS_BYTES, MADV_DONTFORK); /* as guest RAM (machine.c) */
    if (j->ents == MAP_FAILED || !map_views(j)) {
        if (j->ents != MAP_FAILED)
            munmap(j->ents, ENTS_BYTES);
        free(j);
        return -1;
    }
    memset(j->ents_zero, 0xff, sizeof j->ents_zero);
    emit_prologue(j);
    v->jit = j;
    v->jit_jc = j->jc;
    reset_all(v); /* a nonzero generation: the zeroed jump cache holds no valid entry */
    return 0;
}

void jit_free(hv_vcpu *v)
{
    struct jit *j = v->jit;
    if (!j)
        return;
    munmap(j->rx, CODE_SIZE);
    munmap(j->rw, CODE_SIZE);
    munmap(j->ents, ENTS_BYTES);
    free(j);
    v->jit = NULL;
    v->jit_jc = NULL;
}

#endif
