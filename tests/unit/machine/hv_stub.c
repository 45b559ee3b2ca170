#include "hv_stub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int (*stub_run)(hv_vcpu *vcpu, struct hv_exit *exit);
unsigned stub_missing_csr;

struct hv_vm {
    hv_vcpu *vcpus[HV_MAX_VCPUS];
};

static struct hv_vm *the_vm;

hv_vcpu *stub_vcpu(unsigned hartid)
{
    return the_vm && hartid < HV_MAX_VCPUS ? the_vm->vcpus[hartid] : NULL;
}

int hv_vm_create(const struct hv_vm_config *cfg, hv_vm **out)
{
    if (!cfg->max_vcpus || cfg->max_vcpus > HV_MAX_VCPUS)
        return -EINVAL;
    *out = the_vm = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void hv_vm_destroy(hv_vm *vm)
{
    if (vm == the_vm)
        the_vm = NULL;
    free(vm);
}

int hv_vm_map(hv_vm *vm, void *host, uint64_t gpa, uint64_t size, unsigned flags) { return 0; }
uint64_t hv_vm_get_time(hv_vm *vm) { return 0; }
void hv_vm_set_time(hv_vm *vm, uint64_t ticks) {}

int hv_vcpu_create(hv_vm *vm, unsigned hartid, hv_vcpu **out)
{
    hv_vcpu *v = calloc(1, sizeof *v);
    if (!v)
        return -ENOMEM;
    v->id = hartid;
    v->regs[HV_REG_PRIV] = 3;
    v->regs[HV_REG_CSR(0xf14)] = hartid;
    vm->vcpus[hartid] = v;
    *out = v;
    return 0;
}

void hv_vcpu_destroy(hv_vcpu *vcpu)
{
    if (the_vm && vcpu)
        the_vm->vcpus[vcpu->id] = NULL;
    free(vcpu);
}

void hv_vcpu_reset(hv_vcpu *vcpu) {}

int hv_vcpu_run(hv_vcpu *vcpu, struct hv_exit *exit)
{
    if (vcpu->runs++)
        vcpu->last = *exit;
    if (__atomic_exchange_n(&vcpu->kicked, 0, __ATOMIC_SEQ_CST)) {
        exit->reason = HV_EXIT_KICK;
        return 0;
    }
    if (stub_run)
        return stub_run(vcpu, exit);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    exit->reason = HV_EXIT_KICK;
    return 0;
}

void hv_vcpu_kick(hv_vcpu *vcpu) { __atomic_store_n(&vcpu->kicked, 1, __ATOMIC_SEQ_CST); }

int hv_vcpu_set_irq(hv_vcpu *vcpu, unsigned irq, bool level)
{
    if (irq >= 16)
        return -EINVAL;
    vcpu->irq[irq] = level;
    return 0;
}

void hv_vcpu_request_flush(hv_vcpu *vcpu, unsigned what) { vcpu->flushes |= what; }

static bool reg_ok(unsigned id)
{
    if (id >= STUB_REGS)
        return false;
    return !(stub_missing_csr && id == HV_REG_CSR(stub_missing_csr));
}

int hv_vcpu_get_reg(hv_vcpu *vcpu, unsigned id, uint64_t *value)
{
    if (!reg_ok(id))
        return -EINVAL;
    *value = id == HV_REG_X(0) ? 0 : vcpu->regs[id];
    return 0;
}

int hv_vcpu_set_reg(hv_vcpu *vcpu, unsigned id, uint64_t value)
{
    if (!reg_ok(id))
        return -EINVAL;
    vcpu->regs[id] = value;
    return 0;
}

uint64_t hv_vcpu_instret(hv_vcpu *vcpu) { return vcpu->runs; }

int hv_vcpu_get_state(hv_vcpu *vcpu, struct hv_vcpu_state *out)
{
    memset(out, 0, sizeof *out);
    return vcpu ? 0 : -EINVAL;
}

int hv_vcpu_set_state(hv_vcpu *vcpu, const struct hv_vcpu_state *in)
{
    return vcpu && in ? 0 : -EINVAL;
}
