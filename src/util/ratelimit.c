/* Token buckets (ratelimit.h) and the text of a rate limit (cove/config.h). */
#include "util/ratelimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cove/size.h>

#define NS_PER_MS 1000000ull
#define MIN_WAIT_NS NS_PER_MS
#define BUCKET_MAX (1ull << 60) /* tokens: budgets stay far from int64 overflow */

/* --- buckets ------------------------------------------------------------------------------ */

static void bucket_init(struct token_bucket *b, const struct cove_bucket_config *c, uint64_t now)
{
    *b = (struct token_bucket){0};
    if (!c || !c->size || !c->refill_ms)
        return;
    b->size = c->size > BUCKET_MAX ? BUCKET_MAX : c->size;
    b->refill_ns = (uint64_t)c->refill_ms * NS_PER_MS;
    b->budget = (int64_t)b->size;
    b->burst = c->one_time_burst;
    b->last_ns = now;
}

/* Adds the tokens refilled since last_ns (up to size); the time of a fraction of a
 * token carries over. */
static void bucket_refill(struct token_bucket *b, uint64_t now)
{
    if (!b->size || now <= b->last_ns)
        return;
    unsigned __int128 add = (unsigned __int128)(now - b->last_ns) * b->size / b->refill_ns;
    if (add == 0)
        return;
    __int128 v = (__int128)b->budget + (__int128)add;
    if (v >= (__int128)b->size) {
        b->budget = (int64_t)b->size;
        b->last_ns = now;
        return;
    }
    b->budget = (int64_t)v;
    b->last_ns += (uint64_t)(add * b->refill_ns / b->size);
}

/* Whether n tokens can be taken now: the burst and the budget together, or a full bucket
 * for a request larger than the bucket. */
static bool bucket_can(const struct token_bucket *b, uint64_t n)
{
    if (!b->size)
        return true;
    if (n > b->size && b->budget == (int64_t)b->size)
        return true;
    uint64_t have = b->burst + (b->budget > 0 ? (uint64_t)b->budget : 0);
    return have >= n;
}

static void bucket_take(struct token_bucket *b, uint64_t n)
{
    if (!b->size)
        return;
    uint64_t from_burst = n < b->burst ? n : b->burst;
    b->burst -= from_burst;
    n -= from_burst;
    b->budget -= (int64_t)(n > BUCKET_MAX ? BUCKET_MAX : n);
}

/* How long until bucket_can(b, n). */
static uint64_t bucket_wait(const struct token_bucket *b, uint64_t n)
{
    if (bucket_can(b, n))
        return 0;
    __int128 missing = n > b->size ? (__int128)b->size - b->budget /* a full bucket */
                                   : (__int128)n - (__int128)b->burst - b->budget;
    if (missing <= 0)
        return MIN_WAIT_NS;
    unsigned __int128 ns =
        ((unsigned __int128)missing * b->refill_ns + b->size - 1) / b->size;
    return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

void ratelimit_init(struct rate_limiter *rl, const struct cove_rate_limit *cfg, uint64_t now_ns)
{
    bucket_init(&rl->bytes, cfg ? &cfg->bandwidth : NULL, now_ns);
    bucket_init(&rl->ops, cfg ? &cfg->ops : NULL, now_ns);
}

bool ratelimit_active(const struct rate_limiter *rl)
{
    return rl->bytes.size || rl->ops.size;
}

bool ratelimit_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
    bucket_refill(&rl->bytes, now_ns);
    bucket_refill(&rl->ops, now_ns);
    if (!bucket_can(&rl->bytes, bytes) || !bucket_can(&rl->ops, 1))
        return false;
    bucket_take(&rl->bytes, bytes);
    bucket_take(&rl->ops, 1);
    return true;
}

uint64_t ratelimit_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
    bucket_refill(&rl->bytes, now_ns);
    bucket_refill(&rl->ops, now_ns);
    uint64_t a = bucket_wait(&rl->bytes, bytes), b = bucket_wait(&rl->ops, 1);
    uint64_t w = a > b ? a : b;
    return w == 0 ? 0 : w < MIN_WAIT_NS ? MIN_WAIT_NS : w;
}

uint64_t ratelimit_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- text --------------------------------------------------------------------------------- */

static const char forms[] = "use rate=SIZE/TIME (e.g. rate=50M/s), ops=N/TIME (e.g. "
                            "ops=2000/s), burst=SIZE, ops-burst=N; TIME is s, ms, Ns or Nms";

/* "s", "ms", "10s", "250ms" into milliseconds 1..COVE_RATE_MAX_REFILL_MS. */
static int parse_time(const char *t, uint32_t *ms)
{
    char *end;
    unsigned long long n = 1;
    if (*t >= '0' && *t <= '9') {
        errno = 0;
        n = strtoull(t, &end, 10);
        if (errno || n == 0)
            return -EINVAL;
        t = end;
    }
    unsigned long long v = !strcmp(t, "s") ? n * 1000 : !strcmp(t, "ms") ? n : 0;
    if (v == 0 || v > COVE_RATE_MAX_REFILL_MS)
        return -EINVAL;
    *ms = (uint32_t)v;
    return 0;
}

/* "SIZE/TIME" (or "N/TIME" with sizes: false) into a bucket. */
static int parse_bucket(const char *v, bool sizes, struct cove_bucket_config *b)
{
    const char *slash = strchr(v, '/');
    if (!slash || slash == v)
        return -EINVAL;
    char num[64];
    if ((size_t)(slash - v) >= sizeof num)
        return -EINVAL;
    memcpy(num, v, (size_t)(slash - v));
    num[slash - v] = 0;
    uint64_t n;
    if (sizes ? cove_size_parse(num, 1, &n) < 0 : cove_size_parse(num, 1, &n) < 0 ||
                                                      strspn(num, "0123456789") != strlen(num))
        return -EINVAL;
    if (n == 0 || parse_time(slash + 1, &b->refill_ms) < 0)
        return -EINVAL;
    b->size = n;
    return 0;
}

int cove_rate_option_parse(const char *opt, const char *what, struct cove_rate_limit *out,
                           struct cove_error *err)
{
    const char *eq = strchr(opt, '=');
    if (!eq)
        return 0;
    size_t k = (size_t)(eq - opt);
    const char *v = eq + 1;
    uint64_t n;
    if (k == 4 && !strncmp(opt, "rate", 4)) {
        if (parse_bucket(v, true, &out->bandwidth) < 0)
            return cove_error_set(err, -EINVAL, "%s: bad rate '%s'; %s", what, v, forms);
        return 1;
    }
    if (k == 3 && !strncmp(opt, "ops", 3)) {
        if (parse_bucket(v, false, &out->ops) < 0)
            return cove_error_set(err, -EINVAL, "%s: bad ops '%s'; %s", what, v, forms);
        return 1;
    }
    if (k == 5 && !strncmp(opt, "burst", 5)) {
        if (cove_size_parse(v, 1, &n) < 0)
            return cove_error_set(err, -EINVAL, "%s: bad burst '%s' (a size, e.g. 100M); %s",
                                  what, v, forms);
        out->bandwidth.one_time_burst = n;
        return 1;
    }
    if (k == 9 && !strncmp(opt, "ops-burst", 9)) {
        if (cove_size_parse(v, 1, &n) < 0 || strspn(v, "0123456789") != strlen(v))
            return cove_error_set(err, -EINVAL, "%s: bad ops-burst '%s' (a number); %s",
                                  what, v, forms);
        out->ops.one_time_burst = n;
        return 1;
    }
    return 0;
}

int cove_rate_limit_check(const struct cove_rate_limit *r, struct cove_error *err)
{
    const struct cove_bucket_config *b[2] = {&r->bandwidth, &r->ops};
    for (int i = 0; i < 2; i++) {
        if (b[i]->size && (b[i]->refill_ms == 0 || b[i]->refill_ms > COVE_RATE_MAX_REFILL_MS))
            return cove_error_set(err, -EINVAL, "%s refill time must be 1..%u ms",
                                  i ? "ops" : "rate", COVE_RATE_MAX_REFILL_MS);
        if (!b[i]->size && b[i]->one_time_burst)
            return cove_error_set(err, -EINVAL, "a %s burst needs a %s limit",
                                  i ? "ops" : "rate", i ? "ops" : "rate");
    }
    return 0;
}

int cove_rate_limit_parse(char *text, const char *what, struct cove_rate_limit *out,
                          struct cove_error *err)
{
    *out = (struct cove_rate_limit){0};
    if (!strcmp(text, "none"))
        return 0;
    if (!*text)
        return cove_error_set(err, -EINVAL, "%s: empty; %s, or none", what, forms);
    for (char *opt = text; opt;) {
        char *next = strchr(opt, ',');
        if (next)
            *next++ = 0;
        int rc = cove_rate_option_parse(opt, what, out, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return cove_error_set(err, -EINVAL, "%s: unknown option '%s'; %s, or none", what,
                                  opt, forms);
        opt = next;
    }
    struct cove_error why;
    if (cove_rate_limit_check(out, &why) < 0)
        return cove_error_set(err, -EINVAL, "%s: %s", what, why.message);
    return 0;
}

static void size_text(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%" PRIu64, v);
    else
        snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}

static void time_text(uint32_t ms, char *buf, size_t len)
{
    if (ms == 1000)
        snprintf(buf, len, "s");
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%us", ms / 1000);
    else
        snprintf(buf, len, "%ums", ms);
}

const char *cove_rate_limit_text(const struct cove_rate_limit *r, char *buf, size_t len)
{
    char s[32], t[16];
    size_t n = 0;
    buf[0] = 0;
#define ADD(...) n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__)
    if (r->bandwidth.size) {
        size_text(r->bandwidth.size, s, sizeof s);
        time_text(r->bandwidth.refill_ms, t, sizeof t);
        ADD("%srate=%s/%s", n ? "," : "", s, t);
    }
    if (r->ops.size) {
        time_text(r->ops.refill_ms, t, sizeof t);
        ADD("%sops=%" PRIu64 "/%s", n ? "," : "", r->ops.size, t);
    }
    if (r->bandwidth.one_time_burst) {
        size_text(r->bandwidth.one_time_burst, s, sizeof s);
        ADD("%sburst=%s", n ? "," : "", s);
    }
    if (r->ops.one_time_burst)
        ADD("%sops-burst=%" PRIu64, n ? "," : "", r->ops.one_time_burst);
#undef ADD
    if (!n)
        snprintf(buf, len, "none");
    return buf;
}
