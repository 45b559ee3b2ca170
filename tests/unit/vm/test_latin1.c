/* RFB cut text: Latin-1 <-> UTF-8 (src/display/latin1.c), on well-formed and hostile bytes. */
#include <string.h>

#include "../test.h"
#include "display/latin1.h"

static char out[256];

#define CHECK_CONV(fn, in, want)                                                              \
    do {                                                                                      \
        size_t n_ = fn(in, sizeof(in) - 1, out);                                              \
        CHECK_EQ_U64(n_, sizeof(want) - 1);                                                   \
        CHECK(memcmp(out, want, sizeof(want) - 1) == 0);                                      \
    } while (0)

TEST(latin1_to_utf8_all_bytes)
{
    CHECK_CONV(latin1_to_utf8, "plain", "plain");
    CHECK_CONV(latin1_to_utf8, "na\xefve \xff\x80", "na\xc3\xafve \xc3\xbf\xc2\x80");
    /* every byte there and back */
    char all[256], utf8[512], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    size_t n = latin1_to_utf8(all, 256, utf8);
    CHECK_EQ_U64(n, 128 + 2 * 128);
    CHECK_EQ_U64(utf8_to_latin1(utf8, n, back), 256);
    CHECK(memcmp(all, back, 256) == 0);
}

TEST(utf8_to_latin1_beyond_latin1)
{
    CHECK_CONV(utf8_to_latin1, "caf\xc3\xa9", "caf\xe9");
    CHECK_CONV(utf8_to_latin1, "\xe2\x82\xac 5", "? 5");       /* the euro sign */
    CHECK_CONV(utf8_to_latin1, "\xf0\x9f\x98\x80!", "?!");     /* an emoji: one '?' */
}

TEST(utf8_to_latin1_malformed)
{
    CHECK_CONV(utf8_to_latin1, "\xc3", "?");                   /* cut short */
    CHECK_CONV(utf8_to_latin1, "\xc3(", "?(");                 /* bad continuation */
    CHECK_CONV(utf8_to_latin1, "\xc0\xaf", "??");              /* overlong '/' */
    CHECK_CONV(utf8_to_latin1, "\xe0\x80\xaf", "???");         /* overlong, 3 bytes */
    CHECK_CONV(utf8_to_latin1, "\xed\xa0\x80", "???");         /* a surrogate */
    CHECK_CONV(utf8_to_latin1, "\xf4\x90\x80\x80", "????");    /* past U+10FFFF */
    CHECK_CONV(utf8_to_latin1, "\xff\xfe\x80", "???");
}

TEST(utf8_sanitize_keeps_good_replaces_bad)
{
    CHECK_CONV(utf8_sanitize, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK_CONV(utf8_sanitize, "a\xffz", "a\xef\xbf\xbdz");
    CHECK_CONV(utf8_sanitize, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_CONV(utf8_sanitize, "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd");
    /* the worst case fits 3 * n */
    char bad[64], big[3 * 64];
    memset(bad, 0x80, sizeof bad);
    CHECK_EQ_U64(utf8_sanitize(bad, sizeof bad, big), 3 * sizeof bad);
}

int main(void)
{
    RUN(latin1_to_utf8_all_bytes);
    RUN(utf8_to_latin1_beyond_latin1);
    RUN(utf8_to_latin1_malformed);
    RUN(utf8_sanitize_keeps_good_replaces_bad);
    return test_summary();
}
