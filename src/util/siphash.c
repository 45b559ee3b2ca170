/* SipHash-2-4 (siphash.h), after the reference description in the SipHash paper. */
#include "util/siphash.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
    uint64_t v0, v1, v2, v3;
};

static void round2(struct sip *s, unsigned rounds)
{
    for (unsigned i = 0; i < rounds; i++) {
        s->v0 += s->v1;
        s->v1 = ROTL(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = ROTL(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = ROTL(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = ROTL(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = ROTL(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = ROTL(s->v2, 32);
    }
}

static void init(struct sip *s, const struct siphash_key *k)
{
    s->v0 = k->k0 ^ 0x736f6d6570736575ull;
    s->v1 = k->k1 ^ 0x646f72616e646f6dull;
    s->v2 = k->k0 ^ 0x6c7967656e657261ull;
    s->v3 = k->k1 ^ 0x7465646279746573ull;
}

static void absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    round2(s, 2);
    s->v0 ^= m;
}

static uint64_t finish(struct sip *s, uint64_t last)
{
    absorb(s, last);
    s->v2 ^= 0xff;
    round2(s, 4);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct sip s;
    init(&s, key);
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8)
        absorb(&s, le64(p + i));
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    return finish(&s, last);
}

uint64_t siphash24_words(const struct siphash_key *key, const uint64_t *words, size_t n)
{
    struct sip s;
    init(&s, key);
    for (size_t i = 0; i < n; i++)
        absorb(&s, __atomic_load_n(&words[i], __ATOMIC_RELAXED));
    return finish(&s, (uint64_t)((n * 8) & 0xff) << 56);
}

static struct siphash_key random_key;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;

static void make_random_key(void)
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof b) {
        /* no getrandom (never on Linux >= 3.17): a key no guest can predict in advance */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x[2] = {(uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32),
                         (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec};
        memcpy(b, x, sizeof b);
    }
    random_key.k0 = le64(b);
    random_key.k1 = le64(b + 8);
}

const struct siphash_key *siphash_key_random(void)
{
    pthread_once(&random_once, make_random_key);
    return &random_key;
}
