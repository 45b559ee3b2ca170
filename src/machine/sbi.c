#include "machine/sbi.h"

#include <inttypes.h>

#include "machine/uart.h"
#include "util/log.h"

#define SBI_LEGACY_SET_TIMER 0
#define SBI_LEGACY_PUTCHAR 1
#define SBI_LEGACY_GETCHAR 2
#define SBI_LEGACY_CLEAR_IPI 3
#define SBI_LEGACY_SEND_IPI 4
#define SBI_LEGACY_FENCE_I 5
#define SBI_LEGACY_SFENCE_VMA 6
#define SBI_LEGACY_SFENCE_VMA_ASID 7
#define SBI_LEGACY_SHUTDOWN 8

#define HSM_SUSPEND_RETENTIVE 0x00000000u
#define HSM_SUSPEND_NON_RETENTIVE 0x80000000u

#define DBCN_MAX_CHUNK 4096u /* bytes per call; the guest loops on partial writes */

struct sbi_ret {
    int64_t error;
    uint64_t value;
};

static struct sbi_ret ok(uint64_t value) { return (struct sbi_ret){SBI_SUCCESS, value}; }
static struct sbi_ret fail(int64_t error) { return (struct sbi_ret){error, 0}; }

/* --- hart masks ------------------------------------------------------------------ */

/* Resolves (mask, base) to a set of harts; -1 as base means every hart. */
static int64_t hart_set(const struct machine *m, uint64_t mask, uint64_t base, uint32_t *set)
{
    if (base == UINT64_MAX) {
        *set = m->ncpus == 32 ? UINT32_MAX : (1u << m->ncpus) - 1;
        return SBI_SUCCESS;
    }
    *set = 0;
    for (unsigned bit = 0; bit < 64 && mask >> bit; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        if (base >= m->ncpus || bit >= m->ncpus - base)
            return SBI_ERR_INVALID_PARAM;
        *set |= 1u << (base + bit);
    }
    return SBI_SUCCESS;
}

static void send_ipis(struct machine *m, uint32_t set)
{
    for (unsigned i = 0; i < m->ncpus; i++)
        if (set & (1u << i))
            hv_vcpu_set_irq(m->harts[i].vcpu, HV_IRQ_S_SOFT, true);
}

static void request_flushes(struct machine *m, uint32_t set, unsigned what)
{
    for (unsigned i = 0; i < m->ncpus; i++)
        if (set & (1u << i))
            hv_vcpu_request_flush(m->harts[i].vcpu, what);
}

/* --- legacy v0.1: its hart mask is a pointer to a guest virtual address ------------- */

/* Translates a supervisor virtual address through the hart's page tables (Sv39/48/57)
 * reading PTEs through guest_ram only. Returns false when unmapped or invalid. */
static bool translate(struct machine *m, struct hart *h, uint64_t va, uint64_t *pa)
{
    uint64_t satp;
    if (hv_vcpu_get_reg(h->vcpu, HV_REG_CSR(CSR_SATP), &satp) < 0)
        return false;
    unsigned mode = (unsigned)(satp >> 60), levels;
    switch (mode) {
    case 0: *pa = va; return true;
    case 8: levels = 3; break;
    case 9: levels = 4; break;
    case 10: levels = 5; break;
    default: return false;
    }
    uint64_t table = (satp & ((1ull << 44) - 1)) << 12;
    for (int level = (int)levels - 1; level >= 0; level--) {
        uint64_t idx = (va >> (12 + 9 * level)) & 0x1ff;
        const uint8_t *p = guest_ram_ptr(&m->ram, table + idx * 8, 8);
        if (!p)
            return false;
        uint64_t pte = 0;
        for (int b = 7; b >= 0; b--)
            pte = pte << 8 | p[b];
        if (!(pte & 1) || ((pte & 6) == 4))
            return false; /* invalid, or W without R */
        uint64_t ppn = (pte >> 10) & ((1ull << 44) - 1);
        if (pte & 0xa) { /* R or X: a leaf, possibly a superpage */
            uint64_t off_mask = (1ull << (12 + 9 * level)) - 1;
            *pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
            return true;
        }
        table = ppn << 12;
    }
    return false;
}

static int64_t legacy_hart_set(struct machine *m, struct hart *h, uint64_t mask_va, uint32_t *set)
{
    if (mask_va == 0) /* as BBL: no mask means every hart */
        return hart_set(m, 0, UINT64_MAX, set);
    uint64_t pa;
    const uint8_t *p;
    if (mask_va % 8 || !translate(m, h, mask_va, &pa) || !(p = guest_ram_ptr(&m->ram, pa, 8)))
        return SBI_ERR_INVALID_ADDRESS;
    uint64_t mask = 0;
    for (int b = 7; b >= 0; b--)
        mask = mask << 8 | p[b];
    return hart_set(m, mask, 0, set);
}

static int set_timer(struct hart *h, uint64_t when)
{
    int rc = hv_vcpu_set_reg(h->vcpu, HV_REG_CSR(CSR_STIMECMP), when);
    if (rc < 0)
        log_debug("hart %u: cannot write stimecmp (%d)", h->id, rc);
    return rc;
}

static bool handle_legacy(struct machine *m, struct hart *h, struct hv_exit *e, enum sbi_next *next)
{
    const uint64_t *a = e->sbi.args;
    int64_t r = 0;
    uint32_t set;
    switch (e->sbi.ext) {
    case SBI_LEGACY_SET_TIMER: r = set_timer(h, a[0]) < 0 ? SBI_ERR_FAILED : 0; break;
    case SBI_LEGACY_PUTCHAR: {
        uint8_t c = (uint8_t)a[0];
        uart_console_write(m->uart, &c, 1);
        break;
    }
    case SBI_LEGACY_GETCHAR: r = uart_pop_input(m->uart); break;
    case SBI_LEGACY_CLEAR_IPI: hv_vcpu_set_irq(h->vcpu, HV_IRQ_S_SOFT, false); break;
    case SBI_LEGACY_SEND_IPI:
        r = legacy_hart_set(m, h, a[0], &set);
        if (r == 0)
            send_ipis(m, set);
        break;
    case SBI_LEGACY_FENCE_I:
    case SBI_LEGACY_SFENCE_VMA:
    case SBI_LEGACY_SFENCE_VMA_ASID:
        r = legacy_hart_set(m, h, a[0], &set);
        if (r == 0)
            request_flushes(m, set, e->sbi.ext == SBI_LEGACY_FENCE_I ? HV_FLUSH_ICACHE : HV_FLUSH_TLB);
        break;
    case SBI_LEGACY_SHUTDOWN:
        machine_stop(m, MACHINE_STOP_POWEROFF);
        *next = SBI_NEXT_MACHINE_STOP;
        break;
    default: return false;
    }
    /* Legacy calls return one value in a0 and leave a1 alone. */
    e->sbi.ret[0] = (uint64_t)r;
    e->sbi.ret[1] = a[1];
    return true;
}

/* --- v0.2+ extensions ---------------------------------------------------------------- */

static bool extension_present(uint64_t ext)
{
    switch (ext) {
    case SBI_EXT_BASE: case SBI_EXT_TIME: case SBI_EXT_IPI: case SBI_EXT_RFENCE:
    case SBI_EXT_HSM: case SBI_EXT_SRST: case SBI_EXT_DBCN:
        return true;
    default:
        return ext <= SBI_LEGACY_SHUTDOWN;
    }
}

static struct sbi_ret handle_base(struct hart *h, uint64_t func, const uint64_t *a)
{
    static const unsigned id_csrs[] = {0xf11, 0xf12, 0xf13}; /* mvendorid, marchid, mimpid */
    switch (func) {
    case 0: return ok(SBI_SPEC_VERSION);
    case 1: return ok(SBI_IMPL_ID_COVE);
    case 2: return ok(SBI_IMPL_VERSION);
    case 3: return ok(extension_present(a[0]) ? 1 : 0);
    case 4: case 5: case 6: {
        uint64_t v = 0;
        if (hv_vcpu_get_reg(h->vcpu, HV_REG_CSR(id_csrs[func - 4]), &v) < 0)
            v = 0;
        return ok(v);
    }
    default: return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static struct sbi_ret handle_rfence(struct machine *m, uint64_t func, const uint64_t *a)
{
    uint32_t set;
    if (func > 2)
        return fail(SBI_ERR_NOT_SUPPORTED); /* the hypervisor fences: no H extension */
    int64_t r = hart_set(m, a[0], a[1], &set);
    if (r)
        return fail(r);
    /* A ranged sfence.vma flushes everything: correct, and cheap next to the exit. */
    request_flushes(m, set, func == 0 ? HV_FLUSH_ICACHE : HV_FLUSH_TLB);
    return ok(0);
}

static bool valid_entry(const struct machine *m, uint64_t addr)
{
    return addr % 2 == 0 && guest_ram_contains(&m->ram, addr, 4);
}

static struct sbi_ret hsm_start(struct machine *m, uint64_t hartid, uint64_t addr, uint64_t arg)
{
    if (hartid >= m->ncpus)
        return fail(SBI_ERR_INVALID_PARAM);
    if (!valid_entry(m, addr))
        return fail(SBI_ERR_INVALID_ADDRESS);
    struct hart *t = &m->harts[hartid];
    pthread_mutex_lock(&m->hsm_lock);
    int64_t r = SBI_SUCCESS;
    if (t->state != HART_STOPPED) {
        r = SBI_ERR_ALREADY_AVAILABLE;
    } else {
        t->state = HART_START_PENDING;
        t->start_addr = addr;
        t->start_arg = arg;
    }
    pthread_mutex_unlock(&m->hsm_lock);
    if (r == SBI_SUCCESS)
        machine_hsm_notify(m);
    return r ? fail(r) : ok(0);
}

static struct sbi_ret handle_hsm(struct machine *m, struct hart *h, uint64_t func,
                                 const uint64_t *a, enum sbi_next *next)
{
    switch (func) {
    case 0: return hsm_start(m, a[0], a[1], a[2]);
    case 1:
        pthread_mutex_lock(&m->hsm_lock);
        h->state = HART_STOPPED;
        pthread_mutex_unlock(&m->hsm_lock);
        *next = SBI_NEXT_HART_STOPPED;
        return ok(0);
    case 2: {
        if (a[0] >= m->ncpus)
            return fail(SBI_ERR_INVALID_PARAM);
        pthread_mutex_lock(&m->hsm_lock);
        enum hart_state s = m->harts[a[0]].state;
        pthread_mutex_unlock(&m->hsm_lock);
        return ok((uint64_t)s);
    }
    case 3: {
        uint32_t type = (uint32_t)a[0];
        if (a[0] != type)
            return fail(SBI_ERR_INVALID_PARAM);
        if (type == HSM_SUSPEND_RETENTIVE)
            return ok(0); /* a wake-up may come at any time; this one comes at once */
        if (type != HSM_SUSPEND_NON_RETENTIVE)
            return fail(SBI_ERR_INVALID_PARAM);
        if (!valid_entry(m, a[1]))
            return fail(SBI_ERR_INVALID_ADDRESS);
        if (hart_enter_supervisor(h, a[1], a[2]) < 0)
            return fail(SBI_ERR_FAILED);
        *next = SBI_NEXT_RESUME;
        return ok(0);
    }
    default: return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static struct sbi_ret handle_srst(struct machine *m, uint64_t func, const uint64_t *a,
                                  enum sbi_next *next)
{
    if (func != 0)
        return fail(SBI_ERR_NOT_SUPPORTED);
    if (a[0] > 2 || a[0] != (uint32_t)a[0] || a[1] != (uint32_t)a[1])
        return fail(SBI_ERR_INVALID_PARAM);
    if (a[1] == 1)
        log_warn("guest reports a system failure and resets");
    machine_stop(m, a[0] == 0 ? MACHINE_STOP_POWEROFF : MACHINE_STOP_REBOOT);
    *next = SBI_NEXT_MACHINE_STOP;
    return ok(0);
}

static struct sbi_ret handle_dbcn(struct machine *m, uint64_t func, const uint64_t *a)
{
    if (func == 2) {
        uint8_t c = (uint8_t)a[0];
        uart_console_write(m->uart, &c, 1);
        return ok(0);
    }
    if (func > 1)
        return fail(SBI_ERR_NOT_SUPPORTED);
    /* On RV64 the whole address is in base_lo; a set base_hi lies beyond any DRAM. */
    uint64_t len = a[0] > DBCN_MAX_CHUNK ? DBCN_MAX_CHUNK : a[0];
    uint8_t *buf = guest_ram_ptr(&m->ram, a[1], len);
    if (a[2] != 0 || !buf)
        return fail(SBI_ERR_INVALID_ADDRESS);
    if (func == 0) {
        uart_console_write(m->uart, buf, len);
        return ok(len);
    }
    uint64_t n = 0;
    int c;
    while (n < len && (c = uart_pop_input(m->uart)) >= 0)
        buf[n++] = (uint8_t)c;
    return ok(n);
}

enum sbi_next sbi_handle(struct machine *m, struct hart *h, struct hv_exit *e)
{
    enum sbi_next next = SBI_NEXT_CONTINUE;
    if (handle_legacy(m, h, e, &next))
        return next;
    const uint64_t *a = e->sbi.args;
    uint64_t func = e->sbi.func;
    struct sbi_ret r;
    uint32_t set;
    switch (e->sbi.ext) {
    case SBI_EXT_BASE: r = handle_base(h, func, a); break;
    case SBI_EXT_TIME:
        r = func != 0 ? fail(SBI_ERR_NOT_SUPPORTED)
                      : set_timer(h, a[0]) < 0 ? fail(SBI_ERR_FAILED) : ok(0);
        break;
    case SBI_EXT_IPI:
        if (func != 0) {
            r = fail(SBI_ERR_NOT_SUPPORTED);
        } else {
            int64_t err = hart_set(m, a[0], a[1], &set);
            if (!err)
                send_ipis(m, set);
            r = err ? fail(err) : ok(0);
        }
        break;
    case SBI_EXT_RFENCE: r = handle_rfence(m, func, a); break;
    case SBI_EXT_HSM: r = handle_hsm(m, h, func, a, &next); break;
    case SBI_EXT_SRST: r = handle_srst(m, func, a, &next); break;
    case SBI_EXT_DBCN: r = handle_dbcn(m, func, a); break;
    default:
        log_debug("hart %u: unsupported SBI call ext 0x%" PRIx64 " func %" PRIu64, h->id,
                  e->sbi.ext, func);
        r = fail(SBI_ERR_NOT_SUPPORTED);
        break;
    }
    e->sbi.ret[0] = (uint64_t)r.error;
    e->sbi.ret[1] = r.value;
    return next;
}
