/* Token buckets and the rate limit's text (src/util/ratelimit.c). */
#include "test.h"

#include <errno.h>

#include <cove/config.h>

#include "util/ratelimit.h"

#define MS 1000000ull
#define S 1000000000ull

static struct cove_rate_limit bw(uint64_t size, uint32_t ms)
{
    return (struct cove_rate_limit){.bandwidth = {size, ms, 0}};
}

TEST(unlimited_takes_everything)
{
    struct rate_limiter rl;
    ratelimit_init(&rl, NULL, 0);
    CHECK(!ratelimit_active(&rl));
    for (int i = 0; i < 1000; i++)
        CHECK(ratelimit_consume(&rl, 1ull << 30, 0));
    CHECK_EQ_U64(ratelimit_wait_ns(&rl, 1ull << 40, 0), 0);
}

/* 1 MiB per second: 16 requests of 64 KiB empty the bucket; the next waits 1/16 s. */
TEST(bandwidth_bucket_refills_evenly)
{
    struct cove_rate_limit c = bw(1 << 20, 1000);
    struct rate_limiter rl;
    uint64_t t = 5 * S;
    ratelimit_init(&rl, &c, t);
    CHECK(ratelimit_active(&rl));
    for (int i = 0; i < 16; i++)
        CHECK(ratelimit_consume(&rl, 64 << 10, t));
    CHECK(!ratelimit_consume(&rl, 64 << 10, t));
    uint64_t w = ratelimit_wait_ns(&rl, 64 << 10, t);
    CHECK(w >= 62 * MS && w <= 63 * MS);
    CHECK(!ratelimit_consume(&rl, 64 << 10, t + w - 2 * MS));
    CHECK(ratelimit_consume(&rl, 64 << 10, t + w));
    /* over 10 s of steady demand, about 10 MiB go through (plus the full bucket) */
    uint64_t moved = 0, now = t + w;
    for (uint64_t ms = 0; ms < 10000; ms++, now += MS)
        while (ratelimit_consume(&rl, 4096, now))
            moved += 4096;
    CHECK(moved >= (10ull << 20) - (64 << 10) && moved <= (10ull << 20) + (64 << 10));
}

TEST(ops_bucket_counts_requests)
{
    struct cove_rate_limit c = {.ops = {100, 1000, 0}};
    struct rate_limiter rl;
    ratelimit_init(&rl, &c, 0);
    int n = 0;
    while (ratelimit_consume(&rl, 1 << 20, 0))
        n++;
    CHECK(n == 100);
    uint64_t w = ratelimit_wait_ns(&rl, 0, 0);
    CHECK(w >= 10 * MS - 1 && w <= 10 * MS + 1);
    CHECK(ratelimit_consume(&rl, 0, 10 * MS));
}

/* Both buckets or neither: a request the ops bucket refuses takes no bytes. */
TEST(both_buckets_or_neither)
{
    struct cove_rate_limit c = {.bandwidth = {1000, 1000, 0}, .ops = {1, 1000, 0}};
    struct rate_limiter rl;
    ratelimit_init(&rl, &c, 0);
    CHECK(ratelimit_consume(&rl, 10, 0));
    CHECK(!ratelimit_consume(&rl, 10, 0)); /* no op left */
    CHECK(rl.bytes.budget == 990);
}

/* A request larger than the bucket passes when the bucket is full, then the debt is paid. */
TEST(oversized_request_goes_into_debt)
{
    struct cove_rate_limit c = bw(1000, 1000);
    struct rate_limiter rl;
    ratelimit_init(&rl, &c, 0);
    CHECK(ratelimit_consume(&rl, 3000, 0));
    CHECK(!ratelimit_consume(&rl, 1, 0));
    uint64_t w = ratelimit_wait_ns(&rl, 1, 0);
    CHECK(w >= 2 * S && w <= 2 * S + 2 * MS); /* 2000 of debt plus one token */
    CHECK(!ratelimit_consume(&rl, 3000, 2 * S)); /* not yet full again */
    CHECK(ratelimit_consume(&rl, 3000, 3 * S));
}

TEST(one_time_burst_spent_first)
{
    struct cove_rate_limit c = {.bandwidth = {1000, 1000, 5000}};
    struct rate_limiter rl;
    ratelimit_init(&rl, &c, 0);
    CHECK(ratelimit_consume(&rl, 5500, 0)); /* burst 5000 + 500 of the bucket */
    CHECK(ratelimit_consume(&rl, 500, 0));
    CHECK(!ratelimit_consume(&rl, 1, 0));
    CHECK(ratelimit_consume(&rl, 1000, 1 * S)); /* the burst does not come back */
    CHECK(!ratelimit_consume(&rl, 1, 1 * S));
}

TEST(text_parses_and_prints)
{
    struct cove_rate_limit r;
    struct cove_error err;
    char t[] = "rate=50M/s,ops=2000/s,burst=1G,ops-burst=500", buf[COVE_RATE_TEXT_MAX];
    REQUIRE(cove_rate_limit_parse(t, "--net-rate", &r, &err) == 0);
    CHECK_EQ_U64(r.bandwidth.size, 50ull << 20);
    CHECK(r.bandwidth.refill_ms == 1000);
    CHECK_EQ_U64(r.bandwidth.one_time_burst, 1ull << 30);
    CHECK_EQ_U64(r.ops.size, 2000);
    CHECK_EQ_U64(r.ops.one_time_burst, 500);
    CHECK_STR(cove_rate_limit_text(&r, buf, sizeof buf),
              "rate=50M/s,ops=2000/s,burst=1G,ops-burst=500");
    char t2[] = "rate=5M/100ms";
    REQUIRE(cove_rate_limit_parse(t2, "x", &r, &err) == 0);
    CHECK(r.bandwidth.refill_ms == 100 && r.ops.size == 0);
    CHECK_STR(cove_rate_limit_text(&r, buf, sizeof buf), "rate=5M/100ms");
    char t3[] = "ops=10/2s";
    REQUIRE(cove_rate_limit_parse(t3, "x", &r, &err) == 0);
    CHECK_STR(cove_rate_limit_text(&r, buf, sizeof buf), "ops=10/2s");
    char t4[] = "none";
    REQUIRE(cove_rate_limit_parse(t4, "x", &r, &err) == 0);
    CHECK(!cove_rate_limit_on(&r));
    CHECK_STR(cove_rate_limit_text(&r, buf, sizeof buf), "none");
}

TEST(text_rejects_garbage)
{
    static const char *const bad[] = {"", "rate=50M", "rate=/s", "rate=0/s", "rate=50M/h",
                                      "rate=50M/0ms", "ops=2k/s", "ops=1.5/s", "burst=10M",
                                      "speed=1/s", "rate=1M/s,bogus", "rate=1M/9999999s",
                                      "ops=-1/s", "ops-burst=x,ops=1/s"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[64];
        struct cove_rate_limit r;
        struct cove_error err = {0};
        snprintf(t, sizeof t, "%s", bad[i]);
        int rc = cove_rate_limit_parse(t, "--net-rate", &r, &err);
        if (rc != -EINVAL)
            printf("  accepted '%s'\n", bad[i]);
        CHECK(rc == -EINVAL);
        CHECK(strstr(err.message, "--net-rate") != NULL);
    }
}

int main(void)
{
    RUN(unlimited_takes_everything);
    RUN(bandwidth_bucket_refills_evenly);
    RUN(ops_bucket_counts_requests);
    RUN(both_buckets_or_neither);
    RUN(oversized_request_goes_into_debt);
    RUN(one_time_burst_spent_first);
    RUN(text_parses_and_prints);
    RUN(text_rejects_garbage);
    return test_summary();
}
