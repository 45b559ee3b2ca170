#include "machine/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "machine/machine.h"
#include "machine/memmap.h"
#include "machine/plic.h"

/* Phandles: hart h's cpu node is 1+2h, its interrupt controller 2+2h; then the PLIC
 * and the test syscon. */
#define PH_CPU(h) (1u + 2u * (h))
#define PH_INTC(h) (2u + 2u * (h))
#define PH_PLIC(n) (2u * (n) + 1u)
#define PH_TEST(n) (2u * (n) + 2u)

/* Accumulates the first libfdt error so that node building reads as a plain sequence. */
struct fdt_writer {
    void *buf;
    int err;
};

static void chk(struct fdt_writer *w, int rc)
{
    if (rc < 0 && !w->err)
        w->err = rc;
}

static void reg64(struct fdt_writer *w, uint64_t base, uint64_t size)
{
    fdt64_t cells[2] = {cpu_to_fdt64(base), cpu_to_fdt64(size)};
    chk(w, fdt_property(w->buf, "reg", cells, sizeof cells));
}

static void begin(struct fdt_writer *w, const char *fmt, uint64_t unit)
{
    char name[64];
    snprintf(name, sizeof name, fmt, (unsigned long long)unit);
    chk(w, fdt_begin_node(w->buf, name));
}

static void end(struct fdt_writer *w) { chk(w, fdt_end_node(w->buf)); }

static void prop_str(struct fdt_writer *w, const char *name, const char *v)
{
    chk(w, fdt_property_string(w->buf, name, v));
}

static void prop_u32(struct fdt_writer *w, const char *name, uint32_t v)
{
    chk(w, fdt_property_u32(w->buf, name, v));
}

/* A stringlist given as one buffer with embedded NULs. */
static void prop_strs(struct fdt_writer *w, const char *name, const char *v, size_t len)
{
    chk(w, fdt_property(w->buf, name, v, (int)len));
}

#define STRS(s) s, sizeof(s)

static void add_cpus(struct fdt_writer *w, const struct board_fdt_params *p)
{
    /* Linux 6.1 reads riscv,isa only (single letters, then "_"-separated multi-letter
     * names, unknown ones ignored); newer kernels prefer the split form. */
    static const char isa_ext[] = "i\0m\0a\0f\0d\0c\0zicsr\0zifencei\0zicntr\0sstc";
    size_t isa_ext_len = p->sstc ? sizeof isa_ext : sizeof isa_ext - sizeof "sstc";
    const char *isa = p->sstc ? "rv64imafdc_zicsr_zifencei_zicntr_sstc"
                              : "rv64imafdc_zicsr_zifencei_zicntr";
    chk(w, fdt_begin_node(w->buf, "cpus"));
    prop_u32(w, "#address-cells", 1);
    prop_u32(w, "#size-cells", 0);
    prop_u32(w, "timebase-frequency", (uint32_t)VIRT_TIMEBASE_HZ);
    for (unsigned h = 0; h < p->cpus; h++) {
        begin(w, "cpu@%llx", h);
        prop_u32(w, "phandle", PH_CPU(h));
        prop_str(w, "device_type", "cpu");
        prop_u32(w, "reg", h);
        prop_str(w, "status", "okay");
        prop_str(w, "compatible", "riscv");
        prop_str(w, "riscv,isa", isa);
        prop_str(w, "riscv,isa-base", "rv64i");
        prop_strs(w, "riscv,isa-extensions", isa_ext, isa_ext_len);
        prop_str(w, "mmu-type", "riscv,sv48");
        chk(w, fdt_begin_node(w->buf, "interrupt-controller"));
        prop_u32(w, "#interrupt-cells", 1);
        chk(w, fdt_property(w->buf, "interrupt-controller", NULL, 0));
        prop_str(w, "compatible", "riscv,cpu-intc");
        prop_u32(w, "phandle", PH_INTC(h));
        end(w);
        end(w);
    }
    chk(w, fdt_begin_node(w->buf, "cpu-map"));
    chk(w, fdt_begin_node(w->buf, "cluster0"));
    for (unsigned h = 0; h < p->cpus; h++) {
        begin(w, "core%llu", h);
        prop_u32(w, "cpu", PH_CPU(h));
        end(w);
    }
    end(w);
    end(w);
    end(w);
}

static void add_chosen(struct fdt_writer *w, const struct board_fdt_params *p)
{
    chk(w, fdt_begin_node(w->buf, "chosen"));
    if (p->bootargs)
        prop_str(w, "bootargs", p->bootargs);
    prop_str(w, "stdout-path", "/soc/serial@10000000");
    if (p->initrd_end > p->initrd_start) {
        chk(w, fdt_property_u64(w->buf, "linux,initrd-start", p->initrd_start));
        chk(w, fdt_property_u64(w->buf, "linux,initrd-end", p->initrd_end));
    }
    chk(w, fdt_property(w->buf, "rng-seed", p->rng_seed, sizeof p->rng_seed));
    end(w);
}

/* interrupts-extended for a per-hart device: <intc(h) irq_a intc(h) irq_b> for each h. */
static void per_hart_irqs(struct fdt_writer *w, unsigned cpus, uint32_t irq_a, uint32_t irq_b)
{
    fdt32_t cells[MACHINE_FDT_MAX_CPUS * 4];
    for (unsigned h = 0; h < cpus; h++) {
        cells[4 * h + 0] = cpu_to_fdt32(PH_INTC(h));
        cells[4 * h + 1] = cpu_to_fdt32(irq_a);
        cells[4 * h + 2] = cpu_to_fdt32(PH_INTC(h));
        cells[4 * h + 3] = cpu_to_fdt32(irq_b);
    }
    chk(w, fdt_property(w->buf, "interrupts-extended", cells, (int)(cpus * 4 * sizeof cells[0])));
}

/* The PCIe host bridge as QEMU virt describes its gpex: ECAM for buses 0..255, the 32-bit
 * memory window mapped 1:1, and INTx of slot s pin p on PLIC source 32 + (s + p - 1) % 4
 * (the mask keeps the slot's low two bits and the pin). */
static void add_pcie(struct fdt_writer *w, uint32_t plic)
{
    begin(w, "pci@%llx", VIRT_PCIE_ECAM_BASE);
    prop_str(w, "compatible", "pci-host-ecam-generic");
    prop_str(w, "device_type", "pci");
    prop_u32(w, "#address-cells", 3);
    prop_u32(w, "#size-cells", 2);
    prop_u32(w, "#interrupt-cells", 1);
    prop_u32(w, "linux,pci-domain", 0);
    chk(w, fdt_property(w->buf, "dma-coherent", NULL, 0));
    uint32_t last_bus = (uint32_t)(VIRT_PCIE_ECAM_SIZE >> 20) - 1;
    fdt32_t bus_range[2] = {cpu_to_fdt32(0), cpu_to_fdt32(last_bus)};
    chk(w, fdt_property(w->buf, "bus-range", bus_range, sizeof bus_range));
    reg64(w, VIRT_PCIE_ECAM_BASE, VIRT_PCIE_ECAM_SIZE);
    fdt32_t ranges[7] = {
        cpu_to_fdt32(0x02000000), /* 32-bit memory space */
        cpu_to_fdt32(VIRT_PCIE_MMIO_BASE >> 32), cpu_to_fdt32((uint32_t)VIRT_PCIE_MMIO_BASE),
        cpu_to_fdt32(VIRT_PCIE_MMIO_BASE >> 32), cpu_to_fdt32((uint32_t)VIRT_PCIE_MMIO_BASE),
        cpu_to_fdt32(VIRT_PCIE_MMIO_SIZE >> 32), cpu_to_fdt32((uint32_t)VIRT_PCIE_MMIO_SIZE),
    };
    chk(w, fdt_property(w->buf, "ranges", ranges, sizeof ranges));
    fdt32_t map[4 * 4 * 6];
    unsigned k = 0;
    for (uint32_t slot = 0; slot < 4; slot++)
        for (uint32_t pin = 1; pin <= 4; pin++) {
            map[k++] = cpu_to_fdt32(slot << 11);
            map[k++] = 0;
            map[k++] = 0;
            map[k++] = cpu_to_fdt32(pin);
            map[k++] = cpu_to_fdt32(plic);
            map[k++] = cpu_to_fdt32(VIRT_IRQ_PCIE_FIRST + (slot + pin - 1) % 4);
        }
    chk(w, fdt_property(w->buf, "interrupt-map", map, sizeof map));
    fdt32_t mask[4] = {cpu_to_fdt32(0x1800), 0, 0, cpu_to_fdt32(7)};
    chk(w, fdt_property(w->buf, "interrupt-map-mask", mask, sizeof mask));
    end(w);
}

static void add_soc(struct fdt_writer *w, const struct board_fdt_params *p)
{
    unsigned n = p->cpus;
    chk(w, fdt_begin_node(w->buf, "soc"));
    prop_u32(w, "#address-cells", 2);
    prop_u32(w, "#size-cells", 2);
    prop_str(w, "compatible", "simple-bus");
    chk(w, fdt_property(w->buf, "ranges", NULL, 0));

    begin(w, "rtc@%llx", VIRT_RTC_BASE);
    prop_u32(w, "interrupts", VIRT_IRQ_RTC);
    prop_u32(w, "interrupt-parent", PH_PLIC(n));
    reg64(w, VIRT_RTC_BASE, VIRT_RTC_SIZE);
    prop_str(w, "compatible", "google,goldfish-rtc");
    end(w);

    /* Linux's pvpanic-mmio driver writes PANICKED here from its panic notifier. */
    begin(w, "panic@%llx", VIRT_PVPANIC_BASE);
    reg64(w, VIRT_PVPANIC_BASE, VIRT_PVPANIC_SIZE);
    prop_str(w, "compatible", "qemu,pvpanic-mmio");
    end(w);

    begin(w, "serial@%llx", VIRT_UART_BASE);
    prop_u32(w, "interrupts", VIRT_IRQ_UART);
    prop_u32(w, "interrupt-parent", PH_PLIC(n));
    prop_u32(w, "clock-frequency", VIRT_UART_CLOCK_HZ);
    reg64(w, VIRT_UART_BASE, VIRT_UART_SIZE);
    prop_str(w, "compatible", "ns16550a");
    end(w);

    begin(w, "test@%llx", VIRT_TEST_BASE);
    prop_u32(w, "phandle", PH_TEST(n));
    reg64(w, VIRT_TEST_BASE, VIRT_TEST_SIZE);
    prop_strs(w, "compatible", STRS("sifive,test1\0sifive,test0\0syscon"));
    end(w);

    /* QEMU virt's slots from the highest down, then the extra ones: Linux probes in this
     * order, so the extra slot's device comes after every other one. */
    for (unsigned k = 0; k < MACHINE_VIRTIO_SLOTS; k++) {
        unsigned s = k < MACHINE_MAX_VIRTIO ? MACHINE_MAX_VIRTIO - 1 - k : k;
        if (!(p->virtio_slots & (1u << s)))
            continue;
        uint64_t base = VIRT_VIRTIO_BASE + s * VIRT_VIRTIO_SIZE;
        begin(w, "virtio_mmio@%llx", base);
        prop_u32(w, "interrupts", virt_virtio_irq(s));
        prop_u32(w, "interrupt-parent", PH_PLIC(n));
        reg64(w, base, VIRT_VIRTIO_SIZE);
        prop_str(w, "compatible", "virtio,mmio");
        end(w);
    }

    if (p->pcie)
        add_pcie(w, PH_PLIC(n));

    begin(w, "plic@%llx", VIRT_PLIC_BASE);
    prop_u32(w, "phandle", PH_PLIC(n));
    prop_u32(w, "riscv,ndev", PLIC_NDEV);
    reg64(w, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
    per_hart_irqs(w, n, 11, 9); /* M and S external: contexts 2h and 2h+1 */
    chk(w, fdt_property(w->buf, "interrupt-controller", NULL, 0));
    prop_strs(w, "compatible", STRS("sifive,plic-1.0.0\0riscv,plic0"));
    prop_u32(w, "#address-cells", 0);
    prop_u32(w, "#interrupt-cells", 1);
    end(w);

    begin(w, "clint@%llx", VIRT_CLINT_BASE);
    per_hart_irqs(w, n, 3, 7); /* M software and M timer */
    reg64(w, VIRT_CLINT_BASE, VIRT_CLINT_SIZE);
    prop_strs(w, "compatible", STRS("sifive,clint0\0riscv,clint0"));
    end(w);

    end(w);
}

static void add_syscon(struct fdt_writer *w, const char *node, const char *compat,
                       uint32_t value, unsigned cpus)
{
    chk(w, fdt_begin_node(w->buf, node));
    prop_u32(w, "value", value);
    prop_u32(w, "offset", 0);
    prop_u32(w, "regmap", PH_TEST(cpus));
    prop_str(w, "compatible", compat);
    end(w);
}

int board_fdt_build(const struct board_fdt_params *p, void *buf, size_t bufsize)
{
    if (!p->cpus || p->cpus > MACHINE_FDT_MAX_CPUS || bufsize > INT32_MAX)
        return -EINVAL;
    struct fdt_writer w = {buf, 0};
    chk(&w, fdt_create(buf, (int)bufsize));
    chk(&w, fdt_finish_reservemap(buf));
    chk(&w, fdt_begin_node(buf, ""));
    prop_u32(&w, "#address-cells", 2);
    prop_u32(&w, "#size-cells", 2);
    prop_str(&w, "compatible", "riscv-virtio");
    prop_str(&w, "model", "riscv-virtio,cove");

    add_chosen(&w, p);
    add_syscon(&w, "poweroff", "syscon-poweroff", 0x5555, p->cpus);
    add_syscon(&w, "reboot", "syscon-reboot", 0x7777, p->cpus);
    begin(&w, "memory@%llx", p->mem_base);
    prop_str(&w, "device_type", "memory");
    reg64(&w, p->mem_base, p->mem_size);
    end(&w);
    add_cpus(&w, p);
    add_soc(&w, p);

    end(&w);
    chk(&w, fdt_finish(buf));
    if (w.err)
        return w.err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
    return (int)fdt_totalsize(buf);
}
