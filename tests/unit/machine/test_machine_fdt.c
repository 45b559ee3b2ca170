/* The generated device tree, parsed back with libfdt. */
#include "test.h"

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>

#include "machine/fdt.h"
#include "machine/memmap.h"

static uint8_t dtb[0x10000];

static int build(unsigned cpus, const char *bootargs, uint64_t istart, uint64_t iend)
{
    struct board_fdt_params p = {
        .cpus = cpus, .mem_base = 0x80000000, .mem_size = 256ull << 20,
        .bootargs = bootargs, .initrd_start = istart, .initrd_end = iend, .sstc = true,
    };
    for (unsigned i = 0; i < sizeof p.rng_seed; i++)
        p.rng_seed[i] = (uint8_t)i;
    int n = board_fdt_build(&p, dtb, sizeof dtb);
    return n > 0 && fdt_check_header(dtb) == 0 ? n : -1; /* callers REQUIRE a tree */
}

static uint64_t be64_at(const void *p)
{
    fdt64_t v;
    memcpy(&v, p, sizeof v); /* properties are only 4-byte aligned */
    return fdt64_to_cpu(v);
}

static uint32_t be32_at(const void *p, unsigned i)
{
    fdt32_t v;
    memcpy(&v, (const uint8_t *)p + 4 * i, sizeof v);
    return fdt32_to_cpu(v);
}

static void check_reg(const char *path, uint64_t base, uint64_t size)
{
    int node = fdt_path_offset(dtb, path);
    CHECK(node >= 0);
    int len = 0;
    const uint8_t *reg = fdt_getprop(dtb, node, "reg", &len);
    CHECK(reg && len == 16);
    if (reg && len == 16) {
        CHECK_EQ_U64(be64_at(reg), base);
        CHECK_EQ_U64(be64_at(reg + 8), size);
    }
}

static const char *str_prop(const char *path, const char *name)
{
    int node = fdt_path_offset(dtb, path);
    return node < 0 ? NULL : fdt_getprop(dtb, node, name, NULL);
}

static uint32_t u32_prop(const char *path, const char *name)
{
    int node = fdt_path_offset(dtb, path);
    int len = 0;
    const void *p = node < 0 ? NULL : fdt_getprop(dtb, node, name, &len);
    CHECK(p && len == 4);
    return p && len == 4 ? be32_at(p, 0) : 0xdeadbeef;
}

TEST(fdt_one_cpu)
{
    REQUIRE(build(1, "console=ttyS0 quiet", 0x8f000000, 0x8f100000) > 0);
    check_reg("/memory@80000000", 0x80000000, 256ull << 20);
    check_reg("/soc/serial@10000000", 0x10000000, 0x100);
    check_reg("/soc/plic@c000000", 0xc000000, 0x600000);
    check_reg("/soc/clint@2000000", 0x2000000, 0x10000);
    check_reg("/soc/rtc@101000", 0x101000, 0x1000);
    check_reg("/soc/test@100000", 0x100000, 0x1000);
    CHECK_STR(str_prop("/chosen", "bootargs"), "console=ttyS0 quiet");
    CHECK_STR(str_prop("/chosen", "stdout-path"), "/soc/serial@10000000");
    int chosen = fdt_path_offset(dtb, "/chosen");
    int len = 0;
    const void *p = fdt_getprop(dtb, chosen, "linux,initrd-start", &len);
    CHECK(p && len == 8);
    if (p)
        CHECK_EQ_U64(be64_at(p), 0x8f000000);
    p = fdt_getprop(dtb, chosen, "linux,initrd-end", &len);
    CHECK(p && len == 8);
    if (p)
        CHECK_EQ_U64(be64_at(p), 0x8f100000);
    p = fdt_getprop(dtb, chosen, "rng-seed", &len);
    CHECK(p && len == BOARD_RNG_SEED_SIZE);
    CHECK_EQ_U64(u32_prop("/cpus", "timebase-frequency"), 10000000);
    CHECK_STR(str_prop("/cpus/cpu@0", "riscv,isa"), "rv64imafdc_zicsr_zifencei_zicntr_sstc");
    CHECK_STR(str_prop("/cpus/cpu@0", "mmu-type"), "riscv,sv48");
    CHECK_STR(str_prop("/cpus/cpu@0/interrupt-controller", "compatible"), "riscv,cpu-intc");
    CHECK_EQ_U64(u32_prop("/soc/serial@10000000", "interrupts"), 10);
    CHECK_EQ_U64(u32_prop("/soc/serial@10000000", "clock-frequency"), 3686400);
    CHECK_EQ_U64(u32_prop("/soc/rtc@101000", "interrupts"), 11);
    CHECK_STR(str_prop("/soc/serial@10000000", "compatible"), "ns16550a");
    CHECK_STR(str_prop("/soc/rtc@101000", "compatible"), "google,goldfish-rtc");
    CHECK(fdt_path_offset(dtb, "/cpus/cpu@1") < 0);
    CHECK(fdt_node_offset_by_compatible(dtb, -1, "virtio,mmio") < 0); /* no devices yet */
}

TEST(fdt_four_cpus_interrupt_wiring)
{
    REQUIRE(build(4, NULL, 0, 0) > 0);
    CHECK(str_prop("/chosen", "bootargs") == NULL);
    CHECK(fdt_getprop(dtb, fdt_path_offset(dtb, "/chosen"), "linux,initrd-start", NULL) == NULL);
    int plic = fdt_node_offset_by_compatible(dtb, -1, "riscv,plic0");
    CHECK(plic >= 0);
    uint32_t plic_ph = fdt_get_phandle(dtb, plic);
    CHECK(plic_ph != 0);
    CHECK_EQ_U64(u32_prop("/soc/serial@10000000", "interrupt-parent"), plic_ph);
    CHECK_EQ_U64(u32_prop("/soc/plic@c000000", "riscv,ndev"), 95);
    int len = 0;
    const void *ie = fdt_getprop(dtb, plic, "interrupts-extended", &len);
    CHECK(ie && len == 4 * 4 * 4);
    const void *ce = fdt_getprop(dtb, fdt_path_offset(dtb, "/soc/clint@2000000"),
                                 "interrupts-extended", &len);
    CHECK(ce && len == 4 * 4 * 4);
    for (unsigned h = 0; h < 4 && ie && ce; h++) {
        char path[64];
        snprintf(path, sizeof path, "/cpus/cpu@%u/interrupt-controller", h);
        int intc = fdt_path_offset(dtb, path);
        CHECK(intc >= 0);
        uint32_t ph = fdt_get_phandle(dtb, intc);
        /* PLIC contexts 2h (M external, 11) and 2h+1 (S external, 9). */
        CHECK_EQ_U64(be32_at(ie, 4 * h + 0), ph);
        CHECK_EQ_U64(be32_at(ie, 4 * h + 1), 11);
        CHECK_EQ_U64(be32_at(ie, 4 * h + 2), ph);
        CHECK_EQ_U64(be32_at(ie, 4 * h + 3), 9);
        CHECK_EQ_U64(be32_at(ce, 4 * h + 1), 3);
        CHECK_EQ_U64(be32_at(ce, 4 * h + 3), 7);
        snprintf(path, sizeof path, "/cpus/cpu@%u", h);
        CHECK_EQ_U64(u32_prop(path, "reg"), h);
        snprintf(path, sizeof path, "/cpus/cpu-map/cluster0/core%u", h);
        int cpu = fdt_node_offset_by_phandle(dtb, u32_prop(path, "cpu"));
        snprintf(path, sizeof path, "/cpus/cpu@%u", h);
        CHECK(cpu >= 0 && cpu == fdt_path_offset(dtb, path));
    }
    /* The syscon nodes point at the test device. */
    int test = fdt_node_offset_by_compatible(dtb, -1, "sifive,test0");
    CHECK(test >= 0);
    CHECK_EQ_U64(u32_prop("/poweroff", "regmap"), fdt_get_phandle(dtb, test));
    CHECK_EQ_U64(u32_prop("/poweroff", "value"), 0x5555);
    CHECK_EQ_U64(u32_prop("/reboot", "value"), 0x7777);
    CHECK(fdt_node_offset_by_compatible(dtb, -1, "syscon") == test);
}

TEST(fdt_without_sstc_and_with_virtio)
{
    struct board_fdt_params p = {.cpus = 2, .mem_base = 0x80000000, .mem_size = 64ull << 20,
                                 .virtio_slots = 0x105};
    CHECK(board_fdt_build(&p, dtb, sizeof dtb) > 0);
    CHECK_STR(str_prop("/cpus/cpu@1", "riscv,isa"), "rv64imafdc_zicsr_zifencei_zicntr");
    check_reg("/soc/virtio_mmio@10001000", 0x10001000, 0x1000);
    check_reg("/soc/virtio_mmio@10003000", 0x10003000, 0x1000);
    CHECK(fdt_path_offset(dtb, "/soc/virtio_mmio@10002000") < 0);
    CHECK_EQ_U64(u32_prop("/soc/virtio_mmio@10003000", "interrupts"), 3);
    /* the extra slot (the display's mouse): past QEMU virt's eight, PLIC source 12, and
     * after them in the tree (Linux probes in tree order) */
    check_reg("/soc/virtio_mmio@10009000", 0x10009000, 0x1000);
    CHECK_EQ_U64(u32_prop("/soc/virtio_mmio@10009000", "interrupts"), 12);
    CHECK(fdt_path_offset(dtb, "/soc/virtio_mmio@10009000") >
          fdt_path_offset(dtb, "/soc/virtio_mmio@10001000"));
}

/* The PCIe host bridge only when asked for, in QEMU virt's shape: ECAM, the 32-bit window
 * 1:1, INTx swizzled onto PLIC sources 32..35. */
TEST(fdt_pcie)
{
    struct board_fdt_params p = {.cpus = 1, .mem_base = 0x80000000, .mem_size = 64ull << 20};
    REQUIRE(board_fdt_build(&p, dtb, sizeof dtb) > 0);
    CHECK(fdt_node_offset_by_compatible(dtb, -1, "pci-host-ecam-generic") < 0);
    p.pcie = true;
    REQUIRE(board_fdt_build(&p, dtb, sizeof dtb) > 0);
    const char *pci = "/soc/pci@30000000";
    check_reg(pci, VIRT_PCIE_ECAM_BASE, VIRT_PCIE_ECAM_SIZE);
    CHECK_STR(str_prop(pci, "compatible"), "pci-host-ecam-generic");
    CHECK_STR(str_prop(pci, "device_type"), "pci");
    CHECK_EQ_U64(u32_prop(pci, "#address-cells"), 3);
    int node = fdt_path_offset(dtb, pci), len = 0;
    const void *v = fdt_getprop(dtb, node, "bus-range", &len);
    REQUIRE(v && len == 8);
    CHECK_EQ_U64(be32_at(v, 1), 255);
    v = fdt_getprop(dtb, node, "ranges", &len);
    REQUIRE(v && len == 28);
    CHECK_EQ_U64(be32_at(v, 0), 0x02000000);
    CHECK_EQ_U64(be32_at(v, 2), VIRT_PCIE_MMIO_BASE);
    CHECK_EQ_U64(be32_at(v, 4), VIRT_PCIE_MMIO_BASE);
    CHECK_EQ_U64(be32_at(v, 6), VIRT_PCIE_MMIO_SIZE);
    const void *map = fdt_getprop(dtb, node, "interrupt-map", &len);
    REQUIRE(map && len == 16 * 6 * 4);
    int plic = fdt_node_offset_by_compatible(dtb, -1, "riscv,plic0");
    /* slot 1, INTA -> 33; slot 3, INTB -> 32 */
    CHECK_EQ_U64(be32_at(map, 4 * 6 + 0), 1 << 11);
    CHECK_EQ_U64(be32_at(map, 4 * 6 + 3), 1);
    CHECK_EQ_U64(be32_at(map, 4 * 6 + 4), fdt_get_phandle(dtb, plic));
    CHECK_EQ_U64(be32_at(map, 4 * 6 + 5), 33);
    CHECK_EQ_U64(be32_at(map, 13 * 6 + 5), 32);
    v = fdt_getprop(dtb, node, "interrupt-map-mask", &len);
    REQUIRE(v && len == 16);
    CHECK_EQ_U64(be32_at(v, 0), 0x1800);
    CHECK_EQ_U64(be32_at(v, 3), 7);
}

TEST(fdt_errors)
{
    struct board_fdt_params p = {.cpus = 0, .mem_base = 0x80000000, .mem_size = 64ull << 20};
    CHECK(board_fdt_build(&p, dtb, sizeof dtb) == -EINVAL);
    p.cpus = 33;
    CHECK(board_fdt_build(&p, dtb, sizeof dtb) == -EINVAL);
    p.cpus = 32;
    CHECK(board_fdt_build(&p, dtb, 512) == -ENOSPC);
    int n = board_fdt_build(&p, dtb, sizeof dtb);
    CHECK(n > 0 && n < (int)VIRT_FDT_MAX_SIZE - 4096); /* room left for OpenSBI's fixups */
}

int main(void)
{
    RUN(fdt_one_cpu);
    RUN(fdt_four_cpus_interrupt_wiring);
    RUN(fdt_without_sstc_and_with_virtio);
    RUN(fdt_pcie);
    RUN(fdt_errors);
    return test_summary();
}
