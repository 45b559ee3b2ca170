#include "machine/sifive_test.h"

int sifive_test_mmio_read(void *opaque, uint64_t offset, unsigned len, uint64_t *value)
{
    *value = 0;
    return 0;
}

int sifive_test_mmio_write(void *opaque, uint64_t offset, unsigned len, uint64_t value)
{
    struct sifive_test *t = opaque;
    /* OpenSBI writes the command as 16 bits, Linux's syscon as 32: take both (the code
     * of a failure only comes with the wider write). */
    if (offset != 0 || len < 2)
        return 0;
    switch (value & 0xffff) {
    case SIFIVE_TEST_PASS: t->action(t->opaque, SIFIVE_TEST_POWEROFF, 0); break;
    case SIFIVE_TEST_FAIL:
        t->action(t->opaque, SIFIVE_TEST_POWEROFF, (unsigned)((value >> 16) & 0xffff));
        break;
    case SIFIVE_TEST_RESET: t->action(t->opaque, SIFIVE_TEST_REBOOT, 0); break;
    default: break;
    }
    return 0;
}
