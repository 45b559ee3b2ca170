/*
 * ratelimit.h — token buckets, as Firecracker's RateLimiter (docs/SECURITY.md, "Rate
 * limits"): a device's limiter has a bandwidth bucket (bytes) and an operations bucket
 * (requests or frames), each of `size` tokens refilled evenly over `refill_ms`, with an
 * optional one-time burst of extra tokens spent first. A request takes its bytes and one
 * operation from both at once, or waits. A request larger than a bucket goes through when
 * that bucket is full and leaves it in debt, so that no request waits for ever.
 *
 * Pure arithmetic on a clock the caller gives (nanoseconds, CLOCK_MONOTONIC): no locks,
 * no timers. The device that holds one re-runs its queue after ratelimit_wait_ns.
 */
#ifndef COVE_UTIL_RATELIMIT_H
#define COVE_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <cove/config.h>

struct token_bucket {
    uint64_t size;     /* 0: no limit */
    uint64_t refill_ns;
    int64_t budget;    /* tokens now; negative after an oversized request */
    uint64_t burst;    /* one-time burst tokens left */
    uint64_t last_ns;  /* when budget was last brought up to date */
};

struct rate_limiter {
    struct token_bucket bytes, ops;
};

/* A limiter for cfg (NULL or all zero: no limit), both buckets full at now_ns. */
void ratelimit_init(struct rate_limiter *rl, const struct cove_rate_limit *cfg, uint64_t now_ns);

/* Whether the limiter limits anything. */
bool ratelimit_active(const struct rate_limiter *rl);

/* Takes bytes and one operation when both buckets allow it (true); else takes nothing
 * (false) and the caller waits ratelimit_wait_ns. */
bool ratelimit_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/* How long until ratelimit_consume of bytes can succeed (at least 1 ms, 0 when it can now). */
uint64_t ratelimit_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ratelimit_now_ns(void);

#endif
