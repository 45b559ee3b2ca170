#include "machine/pcie_host.h"

#include <errno.h>
#include <string.h>

#include "machine/memmap.h"

void pcie_host_init(struct pcie_host *h, pcie_irq_fn set_irq, void *irq_opaque)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->irq_lock, NULL);
    h->set_irq = set_irq;
    h->irq_opaque = irq_opaque;
}

void pcie_host_fini(struct pcie_host *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->irq_lock);
}

/* A function's INTA changed: lines are shared (wired-OR), so count the holders. */
static void intx_changed(void *opaque, bool level)
{
    struct pcie_intx *x = opaque;
    struct pcie_host *h = x->host;
    unsigned line = x->slot % 4;
    pthread_mutex_lock(&h->irq_lock);
    unsigned before = h->line_count[line];
    h->line_count[line] = level ? before + 1 : before - 1;
    if ((before == 0) != (h->line_count[line] == 0))
        h->set_irq(h->irq_opaque, VIRT_IRQ_PCIE_FIRST + line, level);
    pthread_mutex_unlock(&h->irq_lock);
}

int pcie_host_plug(struct pcie_host *h, struct pci_function *f, unsigned *slot_out)
{
    for (unsigned s = 1; s <= PCIE_MAX_DEVICES; s++) {
        if (h->slot[s])
            continue;
        h->intx[s] = (struct pcie_intx){h, s};
        f->set_intx = intx_changed;
        f->intx_opaque = &h->intx[s];
        f->cfg[0x3c] = (uint8_t)(VIRT_IRQ_PCIE_FIRST + s % 4); /* Interrupt Line, a hint */
        h->slot[s] = f;
        if (slot_out)
            *slot_out = s;
        return 0;
    }
    return -ENOSPC;
}

/* ECAM: bus << 20 | device << 15 | function << 12 | register. Absent functions read as
 * all ones (what Linux's scan expects), writes to them are dropped. */
static struct pci_function *ecam_function(struct pcie_host *h, uint64_t offset)
{
    unsigned bus = (unsigned)(offset >> 20), dev = (offset >> 15) & 31, fn = (offset >> 12) & 7;
    if (bus != 0 || fn != 0 || dev > PCIE_MAX_DEVICES)
        return NULL;
    return h->slot[dev];
}

int pcie_host_ecam_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    struct pcie_host *h = opaque;
    pthread_mutex_lock(&h->lock);
    struct pci_function *f = ecam_function(h, offset);
    uint64_t ones = len >= 8 ? ~0ull : (1ull << (8 * len)) - 1;
    *value = f ? pci_function_config_read(f, offset & 0xfff, len) & ones : ones;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

int pcie_host_ecam_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct pcie_host *h = opaque;
    pthread_mutex_lock(&h->lock);
    struct pci_function *f = ecam_function(h, offset);
    if (f)
        pci_function_config_write(f, offset & 0xfff, len, (uint32_t)value);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* The function and BAR an access at guest address addr of len bytes falls in, whole. */
static struct pci_function *bar_at(struct pcie_host *h, uint64_t addr, unsigned len,
                                   unsigned *bar, uint64_t *off)
{
    struct pci_function *hit = NULL;
    pthread_mutex_lock(&h->lock);
    for (unsigned s = 1; s <= PCIE_MAX_DEVICES && !hit; s++) {
        struct pci_function *f = h->slot[s];
        for (unsigned b = 0; f && b < PCI_NUM_BARS; b++) {
            uint64_t base;
            if (!pci_function_bar_base(f, b, &base) || addr < base ||
                addr - base > f->bar_size[b] - len)
                continue;
            hit = f;
            *bar = b;
            *off = addr - base;
            break;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return hit;
}

int pcie_host_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    unsigned bar;
    uint64_t off;
    struct pci_function *f = bar_at(opaque, VIRT_PCIE_MMIO_BASE + offset, len, &bar, &off);
    if (!f)
        return -ENXIO;
    return f->ops->bar_read(f->dev, bar, off, len, value);
}

int pcie_host_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    unsigned bar;
    uint64_t off;
    struct pci_function *f = bar_at(opaque, VIRT_PCIE_MMIO_BASE + offset, len, &bar, &off);
    if (!f)
        return -ENXIO;
    return f->ops->bar_write(f->dev, bar, off, len, value);
}
