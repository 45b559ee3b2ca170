/*
 * test.h — the tiny unit-test harness of cove.
 *
 * A test binary defines test functions with TEST(name), lists them in main() with
 * RUN(name), and ends with `return test_summary();`, which prints "N passed, N failed"
 * for tests/run.sh to add up. CHECK* record a failure (with file:line) and go on;
 * REQUIRE records one and ends the test (for setup the rest of the test relies on).
 * test_skip(why) counts something that cannot run here (a missing tool); the summary
 * then reads "N passed, N failed, N skipped", and a binary that ran nothing but skips
 * exits 77, as integration tests do.
 */
#ifndef COVE_TEST_H
#define COVE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_passed __attribute__((unused)), test_failed __attribute__((unused)),
    test_skipped __attribute__((unused)), test_current_failed __attribute__((unused));

#define TEST(name) static void name(void)

#define RUN(name)                                                                         \
    do {                                                                                  \
        test_current_failed = 0;                                                          \
        name();                                                                           \
        if (test_current_failed) {                                                        \
            test_failed++;                                                                \
            printf("FAIL %s\n", #name);                                                   \
        } else {                                                                          \
            test_passed++;                                                                \
            printf("ok   %s\n", #name);                                                   \
        }                                                                                 \
    } while (0)

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            test_current_failed = 1;                                                      \
        }                                                                                 \
    } while (0)

/* In a TEST function only (it returns from it). */
#define REQUIRE(cond)                                                                     \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("  %s:%d: REQUIRE(%s) failed; test stopped\n", __FILE__, __LINE__,     \
                   #cond);                                                                \
            test_current_failed = 1;                                                      \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                \
    do {                                                                                  \
        uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);                                \
        if (va_ != vb_) {                                                                 \
            printf("  %s:%d: %s == %s failed: 0x%" PRIx64 " != 0x%" PRIx64 "\n",          \
                   __FILE__, __LINE__, #a, #b, va_, vb_);                                 \
            test_current_failed = 1;                                                      \
        }                                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                                   \
    do {                                                                                  \
        const char *sa_ = (a), *sb_ = (b);                                                \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                      \
            printf("  %s:%d: \"%s\" == \"%s\" failed\n", __FILE__, __LINE__,             \
                   sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                           \
            test_current_failed = 1;                                                      \
        }                                                                                 \
    } while (0)

static inline void test_skip(const char *why)
{
    printf("skipped: %s\n", why);
    test_skipped++;
}

static inline int test_summary(void)
{
    if (test_skipped) {
        printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
        if (!test_passed && !test_failed)
            return 77;
    } else {
        printf("%d passed, %d failed\n", test_passed, test_failed);
    }
    return test_failed ? 1 : 0;
}

#endif
