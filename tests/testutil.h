/* testutil.h - tiny assertion helpers shared by the C tests. */
#ifndef MOBILESAM_TESTUTIL_H
#define MOBILESAM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

extern int tu_failures;
extern int tu_checks;

#define TU_CHECK(cond, ...)                                             \
    do {                                                                \
        tu_checks++;                                                    \
        if (!(cond)) {                                                  \
            tu_failures++;                                              \
            tu_fail_msg(__FILE__, __LINE__, __VA_ARGS__);               \
        }                                                               \
    } while (0)

void tu_fail_msg(const char *file, int line, const char *fmt, ...);
/* Path of the fixture pack from MOBILESAM_TESTDATA, or NULL. */
const char *tu_testdata(void);
/* Prints why and exits 77 (ctest: skipped). */
void tu_skip(const char *why);
/* Prints "N passed, N failed" summary; returns the exit code. */
int tu_finish(const char *suite);
/* Deterministic uniform random floats in [lo, hi). */
void tu_rand_fill(float *x, size_t n, float lo, float hi, uint32_t *state);
/* A new buffer of n such floats (exits when out of memory). */
float *tu_fbuf(size_t n, float lo, float hi, uint32_t *state);
/* Max |a - b| over n. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);

#endif
