#include "test.h"

#include <errno.h>

#include <cove/size.h>

#include "util/siphash.h"

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

/* The SipHash paper's test vector (appendix A), a second one from the reference
 * implementation's table (64 bytes), and the word variant agreeing with the bytes one. */
TEST(siphash_vectors)
{
    struct siphash_key k = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t m[64];
    for (unsigned i = 0; i < sizeof m; i++)
        m[i] = (uint8_t)i;
    CHECK_EQ_U64(siphash24(&k, m, 15), 0xa129ca6149be45e5ull);
    CHECK_EQ_U64(siphash24(&k, m, 0), 0x726fdb47dd0e0e31ull);
    uint64_t w[8];
    memcpy(w, m, sizeof w);
    for (unsigned n = 0; n <= 8; n++)
        CHECK_EQ_U64(siphash24_words(&k, w, n), siphash24(&k, m, 8 * n));
    struct siphash_key other = {k.k0 ^ 1, k.k1};
    CHECK(siphash24(&other, m, 64) != siphash24(&k, m, 64));
    const struct siphash_key *r = siphash_key_random();
    CHECK(r == siphash_key_random() && (r->k0 | r->k1) != 0);
}

int main(void)
{
    RUN(size_suffixes);
    RUN(siphash_vectors);
    RUN(size_rejects_garbage);
    RUN(size_formats);
    return test_summary();
}
