#include "test.h"

#include <errno.h>

#include <cove/size.h>


TEST(size_suffixes)
{
    uint64_t v;
    CHECK(cove_size_parse("512M", 1, &v) == 0);
    CHECK_EQ_U64(v, 512ull << 20);
    CHECK(cove_size_parse("2G", 1, &v) == 0);
    CHECK_EQ_U64(v, 2ull << 30);
    CHECK(cove_size_parse("2GiB", 1, &v) == 0);
    CHECK_EQ_U64(v, 2ull << 30);
    CHECK(cove_size_parse("4k", 1, &v) == 0);
    CHECK_EQ_U64(v, 4096);
    CHECK(cove_size_parse("100", 1ull << 20, &v) == 0);
    CHECK_EQ_U64(v, 100ull << 20);
}

TEST(size_rejects_garbage)
{
    uint64_t v;
    CHECK(cove_size_parse("", 1, &v) == -EINVAL);
    CHECK(cove_size_parse("abc", 1, &v) == -EINVAL);
    CHECK(cove_size_parse("12X", 1, &v) == -EINVAL);
    CHECK(cove_size_parse("-1G", 1, &v) == -EINVAL);
    CHECK(cove_size_parse("1Gx", 1, &v) == -EINVAL);
    CHECK(cove_size_parse("99999999999T", 1, &v) == -ERANGE);
}

TEST(size_formats)
{
    char b[32];
    cove_size_format(512, b, sizeof b);
    CHECK_STR(b, "512 bytes");
    cove_size_format(8ull << 30, b, sizeof b);
    CHECK_STR(b, "8 GiB");
    cove_size_format(3ull << 29, b, sizeof b);
    CHECK_STR(b, "1.5 GiB");
    cove_size_format((1ull << 20) + 1, b, sizeof b);
    CHECK_STR(b, "1.0 MiB");
    cove_size_format_short(4096, b, sizeof b);
    CHECK_STR(b, "4.0K");
    cove_size_format_short(8ull << 30, b, sizeof b);
    CHECK_STR(b, "8.0G");
    cove_size_format_short(300ull << 20, b, sizeof b);
    CHECK_STR(b, "300M");
    cove_size_format_short(12, b, sizeof b);
    CHECK_STR(b, "12B");
}

int main(void)
{
    RUN(size_suffixes);
    RUN(size_rejects_garbage);
    RUN(size_formats);
    return test_summary();
}
