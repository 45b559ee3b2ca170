/* A block attachment lent to a machine (src/backends/block_borrow.c): it passes every
 * operation on, has the lender's size and flags, and closing it leaves the lender open
 * and its data there, as a run's disks across guest reboots. */
#include <stdlib.h>

#include "backends/block.h"
#include "test.h"

TEST(borrowed_passes_on_and_close_keeps_the_lender)
{
    struct block_attachment *disk, *lent;
    REQUIRE(block_mem_create(1 << 20, false, &disk) == 0);
    REQUIRE(block_borrow(disk, &lent) == 0);
    CHECK_EQ_U64(lent->size, disk->size);
    CHECK(!lent->read_only);
    char out[512], in[512];
    memset(out, 0xa5, sizeof out);
    struct iovec w = {out, sizeof out};
    CHECK(lent->ops->writev(lent, &w, 1, 4096) == 0);
    CHECK(lent->ops->flush(lent) == 0);
    block_close(lent);
    /* the lender still has it, and a second loan sees it too */
    memset(in, 0, sizeof in);
    struct iovec r = {in, sizeof in};
    CHECK(disk->ops->readv(disk, &r, 1, 4096) == 0);
    CHECK(memcmp(in, out, sizeof in) == 0);
    REQUIRE(block_borrow(disk, &lent) == 0);
    CHECK(lent->ops->write_zeroes(lent, 4096, 512, false) == 0);
    memset(in, 0xff, sizeof in);
    r = (struct iovec){in, sizeof in};
    CHECK(lent->ops->readv(lent, &r, 1, 4096) == 0);
    CHECK(in[0] == 0 && in[511] == 0);
    block_close(lent);
    block_close(disk);
}

TEST(borrowed_read_only_stays_read_only)
{
    struct block_attachment *disk, *lent;
    REQUIRE(block_mem_create(1 << 20, true, &disk) == 0);
    REQUIRE(block_borrow(disk, &lent) == 0);
    CHECK(lent->read_only);
    block_close(lent);
    block_close(disk);
}

int main(void)
{
    RUN(borrowed_passes_on_and_close_keeps_the_lender);
    RUN(borrowed_read_only_stays_read_only);
    return test_summary();
}
