/* The unit tests' checks: each CHECK counts a pass or prints the failing line and counts a
 * failure; main() prints "NAME: P passed, F failed" and exits non-zero on any failure. */
#ifndef EDGEAI_TESTS_CHECK_H
#define EDGEAI_TESTS_CHECK_H

#include <stdio.h>

static int g_passed, g_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            g_passed++;                                                                \
        } else {                                                                       \
            g_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                 \
    do {                                                                               \
        const long long va_ = (long long)(a), vb_ = (long long)(b);                    \
        if (va_ == vb_) {                                                              \
            g_passed++;                                                                \
        } else {                                                                       \
            g_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
                    __LINE__, #a, va_, #b, vb_);                                       \
        }                                                                              \
    } while (0)

#endif /* EDGEAI_TESTS_CHECK_H */
