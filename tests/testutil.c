/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mobilesam.h"

/* As the mobilesam command does (src/cli/main.c): when OpenBLAS fell back to
 * its generic kernels on this CPU, run the test again with OPENBLAS_CORETYPE
 * naming the right ones, before main. Same results, faster tests. */
__attribute__((constructor)) static void tu_select_blas_kernels(void)
{
    const char *core = mobilesam_blas_coretype_hint();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    static char buf[8192];
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == 0 || n == sizeof buf - 1) return;
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i < n && argc < 63; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
    argv[argc] = NULL;
    execv("/proc/self/exe", argv);
}

int tu_failures = 0;
int tu_checks = 0;

void tu_fail_msg(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *tu_testdata(void)
{
    const char *p = getenv("MOBILESAM_TESTDATA");
    return (p && *p) ? p : NULL;
}

void tu_skip(const char *why)
{
    printf("SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}

int tu_finish(const char *suite)
{
    printf("%s: %d checks, %d failed\n", suite, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

void tu_rand_fill(float *x, size_t n, float lo, float hi, uint32_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        x[i] = lo + (hi - lo) * (float)((*state >> 8) * (1.0 / 16777216.0));
    }
}

double tu_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

float *tu_fbuf(size_t n, float lo, float hi, uint32_t *state)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    tu_rand_fill(p, n, lo, hi, state);
    return p;
}
