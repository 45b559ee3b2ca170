#include "test.h"

#include <errno.h>

#include "util/size.h"

TEST(size_suffixes)
{
    uint64_t v;
    CHECK(size_parse("512M", 1, &v) == 0);
    CHECK_EQ_U64(v, 512ull << 20);
    CHECK(size_parse("2G", 1, &v) == 0);
    CHECK_EQ_U64(v, 2ull << 30);
    CHECK(size_parse("2GiB", 1, &v) == 0);
    CHECK_EQ_U64(v, 2ull << 30);
    CHECK(size_parse("4k", 1, &v) == 0);
    CHECK_EQ_U64(v, 4096);
    CHECK(size_parse("100", 1ull << 20, &v) == 0);
    CHECK_EQ_U64(v, 100ull << 20);
}

TEST(size_rejects_garbage)
{
    uint64_t v;
    CHECK(size_parse("", 1, &v) == -EINVAL);
    CHECK(size_parse("abc", 1, &v) == -EINVAL);
    CHECK(size_parse("12X", 1, &v) == -EINVAL);
    CHECK(size_parse("-1G", 1, &v) == -EINVAL);
    CHECK(size_parse("1Gx", 1, &v) == -EINVAL);
    CHECK(size_parse("99999999999T", 1, &v) == -ERANGE);
}

int main(void)
{
    RUN(size_suffixes);
    RUN(size_rejects_garbage);
    return test_summary();
}
