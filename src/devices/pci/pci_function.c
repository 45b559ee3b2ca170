#include "devices/pci/pci_function.h"

#include <errno.h>
#include <string.h>

#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_CAP_EXP 0x40
#define PCI_CAP_ID_EXP 0x10
#define PCI_EXP_TYPE_RC_END 0x9 /* Root Complex Integrated Endpoint: on the root bus */
#define PCI_EXP_SIZE 0x3c

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pci_function_init(struct pci_function *f, const struct pci_id *id,
                       const struct pci_function_ops *ops, void *dev)
{
    memset(f, 0, sizeof *f);
    f->ops = ops;
    f->dev = dev;
    pthread_mutex_init(&f->intx_lock, NULL);
    uint8_t *c = f->cfg;
    put16(c + 0x00, id->vendor);
    put16(c + 0x02, id->device);
    put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
    put32(c + 0x08, id->class_code << 8 | id->revision);
    put16(c + 0x2c, id->subsystem_vendor);
    put16(c + 0x2e, id->subsystem);
    c[PCI_CAP_PTR] = PCI_CAP_EXP;
    c[PCI_INTERRUPT_PIN] = 1; /* INTA */
    c[PCI_CAP_EXP] = PCI_CAP_ID_EXP;
    c[PCI_CAP_EXP + 1] = 0; /* the last capability */
    put16(c + PCI_CAP_EXP + 2, 2 | PCI_EXP_TYPE_RC_END << 4); /* capability version 2 */
    /* Device Control (Max Payload/Read Request sizes and the error enables) is the
     * driver's to set; the rest of the capability is read-only zeros. */
    put16(f->wmask + PCI_CAP_EXP + 8, 0x7fff);
    put16(f->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                      PCI_COMMAND_INTX_DISABLE | 0x140 /* parity, SERR */);
    f->wmask[0x0c] = 0xff; /* cache line size */
    f->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

void pci_function_fini(struct pci_function *f)
{
    pthread_mutex_destroy(&f->intx_lock);
}

int pci_function_add_bar(struct pci_function *f, unsigned bar, uint64_t size, bool is64)
{
    if (bar >= PCI_NUM_BARS || (is64 && bar + 1 >= PCI_NUM_BARS) || size < 16 ||
        (size & (size - 1)) || (!is64 && size > (1ull << 31)) || f->bar_size[bar])
        return -EINVAL;
    f->bar_size[bar] = size;
    f->bar64[bar] = is64;
    uint8_t *reg = f->cfg + PCI_BAR0 + 4 * bar;
    put32(reg, is64 ? 0x4 : 0x0); /* memory, 32/64-bit, not prefetchable */
    uint64_t mask = ~(size - 1);
    put32(f->wmask + PCI_BAR0 + 4 * bar, (uint32_t)mask & ~0xfu);
    if (is64)
        put32(f->wmask + PCI_BAR0 + 4 * (bar + 1), (uint32_t)(mask >> 32));
    return 0;
}

bool pci_function_bar_base(const struct pci_function *f, unsigned bar, uint64_t *base)
{
    if (bar >= PCI_NUM_BARS || !f->bar_size[bar] ||
        !(f->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY))
        return false;
    uint64_t addr = get32(f->cfg + PCI_BAR0 + 4 * bar) & ~0xfull;
    if (f->bar64[bar])
        addr |= (uint64_t)get32(f->cfg + PCI_BAR0 + 4 * (bar + 1)) << 32;
    if (addr == 0)
        return false;
    *base = addr;
    return true;
}

bool pci_function_bus_master(const struct pci_function *f)
{
    return __atomic_load_n(&f->cfg[PCI_COMMAND], __ATOMIC_RELAXED) & PCI_COMMAND_MASTER;
}

/* Tells the bridge the pin's level as the function shows it (masked by InterruptDisable);
 * under intx_lock. */
static void update_intx_locked(struct pci_function *f)
{
    bool disabled = f->cfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8);
    bool out = f->intx_pin && !disabled;
    if (out != f->intx_out) {
        f->intx_out = out;
        if (f->set_intx)
            f->set_intx(f->intx_opaque, out);
    }
}

void pci_function_set_intx(struct pci_function *f, bool level)
{
    pthread_mutex_lock(&f->intx_lock);
    f->intx_pin = level;
    update_intx_locked(f);
    pthread_mutex_unlock(&f->intx_lock);
}

static bool aligned_access(unsigned offset, unsigned len)
{
    return (len == 1 || len == 2 || len == 4) && offset % len == 0 &&
           offset + len <= PCI_CONFIG_SIZE;
}

uint32_t pci_function_config_read(struct pci_function *f, unsigned offset, unsigned len)
{
    if (!aligned_access(offset, len))
        return 0xffffffffu;
    if (offset >= PCI_HEADER_SIZE)
        return 0; /* no extended capabilities */
    uint32_t v = 0;
    pthread_mutex_lock(&f->intx_lock);
    for (unsigned i = 0; i < len; i++) {
        uint8_t b = f->cfg[offset + i];
        if (offset + i == PCI_STATUS && f->intx_pin)
            b |= PCI_STATUS_INTERRUPT;
        v |= (uint32_t)b << (8 * i);
    }
    pthread_mutex_unlock(&f->intx_lock);
    return v;
}

void pci_function_config_write(struct pci_function *f, unsigned offset, unsigned len,
                               uint32_t value)
{
    if (!aligned_access(offset, len) || offset >= PCI_HEADER_SIZE)
        return;
    pthread_mutex_lock(&f->intx_lock);
    for (unsigned i = 0; i < len; i++) {
        uint8_t m = f->wmask[offset + i], b = (uint8_t)(value >> (8 * i));
        f->cfg[offset + i] = (uint8_t)((f->cfg[offset + i] & ~m) | (b & m));
    }
    update_intx_locked(f); /* InterruptDisable may have changed */
    pthread_mutex_unlock(&f->intx_lock);
}
