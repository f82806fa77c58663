/* A minimal unit-test harness: CHECK records a result, unit_done() prints
 * "N passed, N failed" and gives the exit status for automake. */
#ifndef HR_UNIT_H
#define HR_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            unit_passed++;                                                               \
        } else {                                                                         \
            unit_failed++;                                                               \
            printf("FAIL: %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
        }                                                                                \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                 \
        if (a_ && b_ && strcmp(a_, b_) == 0) {                                           \
            unit_passed++;                                                               \
        } else {                                                                         \
            unit_failed++;                                                               \
            printf("FAIL: %s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a,   \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                              \
        }                                                                                \
    } while (0)

static inline int unit_done(void)
{
    printf("%d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

#endif
