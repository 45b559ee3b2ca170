/*
 * vm.c — the soft backend's VM: memory slots, guest time and the in-hv ACLINT.
 *
 * Guest time is the host's CLOCK_MONOTONIC scaled to timebase_hz with a fixed-point
 * multiplier (no division on the hot path) plus an offset that hv_vm_set_time moves.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "hv/soft/jit.h"
#include "hv/soft/soft.h"

#define ACLINT_SIZE 0x10000ull
#define ACLINT_MSIP 0x0
#define ACLINT_MTIMECMP 0x4000
#define ACLINT_MTIME 0xbff8

int hv_vm_create(const struct hv_vm_config *cfg, hv_vm **out)
{
    if (!cfg || !out || cfg->max_vcpus < 1 || cfg->max_vcpus > HV_MAX_VCPUS ||
        cfg->timebase_hz == 0 || cfg->timebase_hz > 1000000000ull)
        return -EINVAL;
    if (cfg->aclint_base & (ACLINT_SIZE - 1))
        return -EINVAL;
    hv_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->cfg = *cfg;
    vm->rvc_table = rvc_table_create();
    if (!vm->rvc_table) {
        free(vm);
        return -ENOMEM;
    }
    const char *jit = getenv("COVE_JIT");
    vm->jit = JIT_AVAILABLE && !(jit && strcmp(jit, "0") == 0);
    vm->time_mult = (uint64_t)(((unsigned __int128)cfg->timebase_hz << 32) / 1000000000ull);
    for (unsigned i = 0; i < HV_MAX_VCPUS; i++)
        atomic_store(&vm->mtimecmp[i], ~0ull);
    *out = vm;
    return 0;
}

void hv_vm_destroy(hv_vm *vm)
{
    if (!vm)
        return;
    free(vm->rvc_table);
    free(vm);
}

int hv_vm_map(hv_vm *vm, void *host, uint64_t gpa, uint64_t size, unsigned flags)
{
    if (!vm || !host || size == 0 || (gpa | size) & (PAGE_SIZE - 1) ||
        ((uintptr_t)host & (PAGE_SIZE - 1)) || gpa + size < gpa)
        return -EINVAL;
    if (vm->nslots == MAX_SLOTS)
        return -ENOSPC;
    for (unsigned i = 0; i < vm->nslots; i++) {
        const struct mem_slot *s = &vm->slots[i];
        if (gpa < s->gpa + s->size && s->gpa < gpa + size)
            return -EEXIST;
    }
    if (vm->cfg.aclint_base && gpa < vm->cfg.aclint_base + ACLINT_SIZE &&
        vm->cfg.aclint_base < gpa + size)
        return -EEXIST;
    vm->slots[vm->nslots++] = (struct mem_slot){ gpa, size, host, flags };
    return 0;
}

uint8_t *vm_ram(hv_vm *vm, uint64_t pa, uint64_t len, unsigned need)
{
    for (unsigned i = 0; i < vm->nslots; i++) {
        const struct mem_slot *s = &vm->slots[i];
        if (pa - s->gpa < s->size && len <= s->size - (pa - s->gpa))
            return (s->flags & need) == need ? s->host + (pa - s->gpa) : NULL;
    }
    return NULL;
}

static uint64_t host_ticks(const hv_vm *vm)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return (uint64_t)(((unsigned __int128)ns * vm->time_mult) >> 32);
}

uint64_t vm_time(hv_vm *vm)
{
    return host_ticks(vm) + (uint64_t)atomic_load_explicit(&vm->time_offset,
                                                           memory_order_relaxed);
}

uint64_t hv_vm_get_time(hv_vm *vm)
{
    return vm_time(vm);
}

void hv_vm_set_time(hv_vm *vm, uint64_t ticks)
{
    atomic_store(&vm->time_offset, (int64_t)(ticks - host_ticks(vm)));
    /* Deadlines of sleeping harts moved: let them recompute. */
    for (unsigned i = 0; i < HV_MAX_VCPUS; i++) {
        hv_vcpu *v = atomic_load(&vm->vcpus[i]);
        if (v)
            vcpu_timer_moved(v);
    }
}

bool vm_is_aclint(hv_vm *vm, uint64_t pa)
{
    return vm->cfg.aclint_base && pa - vm->cfg.aclint_base < ACLINT_SIZE;
}

/* A 32-bit access to half of a 64-bit register. */
static uint64_t part_read(uint64_t reg, uint64_t off, unsigned size)
{
    return size == 8 ? reg : (uint32_t)(reg >> ((off & 4) * 8));
}

static uint64_t part_write(uint64_t reg, uint64_t off, unsigned size, uint64_t val)
{
    if (size == 8)
        return val;
    unsigned sh = (off & 4) * 8;
    return (reg & ~(0xffffffffull << sh)) | ((val & 0xffffffffull) << sh);
}

int aclint_read(hv_vm *vm, uint64_t off, unsigned size, uint64_t *val)
{
    unsigned n = vm->cfg.max_vcpus;
    *val = 0;
    if (size != 4 && size != 8)
        return -EINVAL;
    if (off < ACLINT_MSIP + 4ull * n) {
        hv_vcpu *v = atomic_load(&vm->vcpus[off / 4]);
        if (size == 4 && v)
            *val = (atomic_load(&v->irq_level) >> IRQ_MSI) & 1;
    } else if (off >= ACLINT_MTIMECMP && off < ACLINT_MTIMECMP + 8ull * n) {
        unsigned h = (unsigned)(off - ACLINT_MTIMECMP) / 8;
        *val = part_read(atomic_load(&vm->mtimecmp[h]), off, size);
    } else if (off >= ACLINT_MTIME && off < ACLINT_MTIME + 8) {
        *val = part_read(vm_time(vm), off, size);
    }
    return 0;
}

int aclint_write(hv_vm *vm, uint64_t off, unsigned size, uint64_t val)
{
    unsigned n = vm->cfg.max_vcpus;
    if (size != 4 && size != 8)
        return -EINVAL;
    if (off < ACLINT_MSIP + 4ull * n) {
        hv_vcpu *v = atomic_load(&vm->vcpus[off / 4]);
        if (size == 4 && v)
            hv_vcpu_set_irq(v, HV_IRQ_M_SOFT, val & 1);
    } else if (off >= ACLINT_MTIMECMP && off < ACLINT_MTIMECMP + 8ull * n) {
        unsigned h = (unsigned)(off - ACLINT_MTIMECMP) / 8;
        uint64_t old = atomic_load(&vm->mtimecmp[h]);
        atomic_store(&vm->mtimecmp[h], part_write(old, off, size, val));
        hv_vcpu *v = atomic_load(&vm->vcpus[h]);
        if (v)
            vcpu_timer_moved(v);
    }
    /* mtime is read-only here: guests that write it get no effect. */
    return 0;
}
