/*
 * test_ops.c - every kernel of src/ops/ops.h against a plain loop (double
 * accumulation) on random data with awkward shapes, for every ISA the CPU
 * supports and with 1 and 2 threads. Prints the worst error per kernel.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops_ref.h"
#include "testutil.h"

static uint32_t rng = 0x12345678u;
static char ctx[96]; /* "isa/threads" of the current pass */

/* ---- error bookkeeping -------------------------------------------------- */

typedef struct {
    const char *name;
    double worst; /* worst error / tolerance-scale seen */
    double worst_abs;
} kstat;

static kstat stats[32];
static int nstats;

static kstat *stat_of(const char *name)
{
    for (int i = 0; i < nstats; i++)
        if (!strcmp(stats[i].name, name)) return &stats[i];
    stats[nstats].name = name;
    stats[nstats].worst = 0;
    stats[nstats].worst_abs = 0;
    return &stats[nstats++];
}

/* |got - ref| <= tol * max(1, |ref|) for every element. */
static void check_close(const char *name, const char *what, const float *got,
                        const double *ref, size_t n, double tol)
{
    kstat *st = stat_of(name);
    double worst = 0, worst_abs = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fabs(ref[i]) > 1.0 ? fabs(ref[i]) : 1.0;
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= worst_abs)) worst_abs = e;
        double r = e / scale;
        if (!(r <= worst)) {
            worst = r;
            at = i;
        }
    }
    if (!(worst <= st->worst)) st->worst = worst;
    if (worst_abs > st->worst_abs) st->worst_abs = worst_abs;
    TU_CHECK(worst <= tol, "%s [%s] %s: rel err %.3g > %.3g at %zu (got %.9g ref %.9g)",
             name, ctx, what, worst, tol, at, n ? got[at] : 0.0, n ? ref[at] : 0.0);
}

static void check_equal(const char *name, const char *what, const float *got,
                        const float *ref, size_t n)
{
    kstat *st = stat_of(name);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
            if (!bad) first = i;
            bad++;
        }
    double d = tu_max_abs_diff(got, ref, n);
    if (!(d <= st->worst_abs)) st->worst_abs = d;
    TU_CHECK(bad == 0, "%s [%s] %s: %zu of %zu differ bitwise (first %zu: %.9g vs %.9g)",
             name, ctx, what, bad, n, first, n ? got[first] : 0.0f, n ? ref[first] : 0.0f);
}

static float *fbuf(size_t n, float lo, float hi) { return tu_fbuf(n, lo, hi, &rng); }

static double *dbuf(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static double gelu_d(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

static double act_d(double x, ops_act act) { return ref_act(x, act); }

/* ---- GEMM / linear ------------------------------------------------------ */

static void test_gemm(void)
{
    /* the last two are big enough to be split across threads: by rows, then
     * (more columns than rows) by columns */
    static const int sz[][3] = {{17, 33, 67}, {1, 5, 3}, {64, 1, 9}, {40, 70, 129},
                                {300, 50, 130}, {20, 1100, 150}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int M = sz[s][0], N = sz[s][1], K = sz[s][2];
                const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                float *A = fbuf((size_t)(ta ? K : M) * lda, -1, 1);
                float *B = fbuf((size_t)(tb ? N : K) * ldb, -1, 1);
                float *C = fbuf((size_t)M * ldc, -1, 1);
                double *R = dbuf((size_t)M * ldc);
                const float alpha = 0.75f, beta = s % 2 ? 0.0f : -0.5f;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        double acc = 0;
                        if (j < N) {
                            for (int k = 0; k < K; k++) {
                                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                                acc += a * b;
                            }
                            R[(size_t)i * ldc + j] = alpha * acc + beta * C[(size_t)i * ldc + j];
                        } else {
                            R[(size_t)i * ldc + j] = C[(size_t)i * ldc + j]; /* untouched */
                        }
                    }
                ops_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                char what[64];
                snprintf(what, sizeof what, "%dx%dx%d ta%d tb%d", M, N, K, ta, tb);
                check_close("gemm", what, C, R, (size_t)M * ldc, 1e-5);
                free(A); free(B); free(C); free(R);
            }
}

/* The tall-operand products: every row tile / column chunk remainder,
 * m across the 16-column padding, long dimensions over several chunks. */
static void test_gemm_tall(void)
{
    static const int sz[][3] = {{4096, 256, 56}, {1, 3, 1}, {17, 5, 7}, {300, 33, 16},
                                {513, 64, 17}, {100, 256, 64}, {7, 1, 40}, {260, 19, 3}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int n = sz[s][0], K = sz[s][1], m = sz[s][2], mp = ops_round16(m);
        TU_CHECK(mp >= m && mp % 16 == 0 && mp - m < 16, "round16(%d) = %d", m, mp);
        /* Ct = B A^T, ldc = mp + 3 (columns past mp untouched) */
        float *B = fbuf((size_t)n * K, -1, 1), *A = fbuf((size_t)m * (K + 2), -1, 1);
        const int ldc = mp + 3;
        float *Ct = fbuf((size_t)n * ldc, 5, 6), *Ct0 = malloc(sizeof(float) * (size_t)n * ldc);
        memcpy(Ct0, Ct, sizeof(float) * (size_t)n * ldc);
        double *R = dbuf((size_t)n * ldc);
        for (int t = 0; t < n; t++)
            for (int j = 0; j < ldc; j++) {
                double acc = 0;
                if (j < m)
                    for (int k = 0; k < K; k++) acc += (double)B[(size_t)t * K + k] * A[(size_t)j * (K + 2) + k];
                R[(size_t)t * ldc + j] = j < mp ? acc : Ct0[(size_t)t * ldc + j];
            }
        ops_gemm_tall_bt(B, K, n, K, A, K + 2, m, Ct, ldc);
        char what[64];
        snprintf(what, sizeof what, "n%d K%d m%d", n, K, m);
        check_close("gemm_tall_bt", what, Ct, R, (size_t)n * ldc, 2e-5);
        /* C = X^T B2 with X n x m (ld ldc) of weights like a softmax's
         * (columns summing to about 1: the use in attention, and float
         * sums of n terms stay well within the tolerance), B2 n x N (ld N + 1) */
        const int N = K + 5;
        free(Ct);
        Ct = fbuf((size_t)n * ldc, 0, 2.0f / (float)n);
        float *B2 = fbuf((size_t)n * (N + 1), -1, 1), *C = fbuf((size_t)m * N, 7, 8);
        double *R2 = dbuf((size_t)m * N);
        for (int i = 0; i < m; i++)
            for (int c = 0; c < N; c++) {
                double acc = 0;
                for (int t = 0; t < n; t++) acc += (double)Ct[(size_t)t * ldc + i] * B2[(size_t)t * (N + 1) + c];
                R2[(size_t)i * N + c] = acc;
            }
        ops_gemm_tall_tn(Ct, ldc, n, m, B2, N + 1, N, C, N);
        check_close("gemm_tall_tn", what, C, R2, (size_t)m * N, 2e-6); /* one lost term: ~1e-4 */
        free(B); free(A); free(Ct); free(Ct0); free(R); free(B2); free(C); free(R2);
    }
}

/* Batched few-rows x wide products: the decoder's per-head shapes (7 x 16
 * x 4096 both ways), tails of every tile (rows, vectors, lanes), the
 * narrow tile (one vector of columns, more rows than the regular tile:
 * 7, 12, 25 rows, a full vector and a partial one), K = 0. Operands have
 * padded strides; columns past N stay untouched. */
static void test_gemm_wide(void)
{
    /* batch, m, N, K */
    static const int sz[][4] = {{8, 7, 4096, 16}, {8, 7, 16, 4096}, {3, 13, 9, 20},
                                {2, 5, 600, 33},  {1, 1, 1, 1},     {2, 12, 16, 50},
                                {1, 25, 7, 9},    {3, 7, 8, 300},   {2, 4, 70, 0}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int batch = sz[s][0], m = sz[s][1], N = sz[s][2], K = sz[s][3];
        const int lda = K + 3, ldb = N + 2, ldc = N + 5;
        const size_t sa = (size_t)m * lda + 1, sb = (size_t)(K ? K : 1) * ldb + 2,
                     sc = (size_t)m * ldc + 3;
        /* long sums get weights like a softmax's, as in P V */
        const float hi = K > 1000 ? 2.0f / (float)K : 1.0f, lo = K > 1000 ? 0.0f : -1.0f;
        float *A = fbuf(sa * batch, lo, hi), *B = fbuf(sb * batch, -1, 1);
        float *C = fbuf(sc * batch, 5, 6);
        double *R = dbuf(sc * batch);
        for (size_t i = 0; i < sc * batch; i++) R[i] = C[i];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (double)A[b * sa + (size_t)i * lda + k] * B[b * sb + (size_t)k * ldb + j];
                    R[b * sc + (size_t)i * ldc + j] = acc;
                }
        ops_gemm_wide(batch, m, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
        char what[64];
        snprintf(what, sizeof what, "%dx %dx%dx%d", batch, m, N, K);
        check_close("gemm_wide", what, C, R, sc * batch, 2e-5);
        free(A); free(B); free(C); free(R);
    }
}

static void test_linear(void)
{
    /* M, K, N; {300,..} and {20,..} run threaded: row blocks, then split
     * columns; M <= 8 (and the 4-row last block of 260) take the few-rows
     * kernel: every tile shape, K and N tails, column blocks */
    static const int sz[][3] = {{37, 67, 17}, {1, 3, 5}, {5, 1, 3}, {300, 64, 200},
                                {20, 300, 1100}, {2, 37, 13}, {3, 300, 2049}, {7, 256, 2048},
                                {4, 19, 9}, {8, 64, 7}, {6, 17, 600}, {260, 33, 40},
                                {1, 256, 257}, {9, 40, 30}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int bias = 0; bias < 2; bias++)
            for (int res = 0; res < 3; res++) /* none, separate, aliased */
                for (int act = 0; act < 3; act++) {
                    const int M = sz[s][0], K = sz[s][1], N = sz[s][2];
                    float *x = fbuf((size_t)M * K, -1, 1);
                    float *w = fbuf((size_t)N * K, -0.5f, 0.5f);
                    float *b = bias ? fbuf(N, -1, 1) : NULL;
                    float *r = fbuf((size_t)M * N, -2, 2);
                    float *y = fbuf((size_t)M * N, -9, 9);
                    float *r_copy = malloc(sizeof(float) * (size_t)M * N);
                    memcpy(r_copy, r, sizeof(float) * (size_t)M * N);
                    double *R = dbuf((size_t)M * N);
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double acc = 0;
                            for (int k = 0; k < K; k++)
                                acc += (double)x[(size_t)i * K + k] * w[(size_t)j * K + k];
                            if (b) acc += b[j];
                            if (res) acc += r[(size_t)i * N + j];
                            R[(size_t)i * N + j] = act_d(acc, (ops_act)act);
                        }
                    const float *resid = NULL;
                    if (res == 1) resid = r;
                    if (res == 2) {
                        memcpy(y, r, sizeof(float) * (size_t)M * N);
                        resid = y;
                    }
                    ops_linear(x, M, K, w, b, N, y, resid, (ops_act)act);
                    char what[80];
                    snprintf(what, sizeof what, "%dx%dx%d bias%d res%d act%d", M, K, N,
                             bias, res, act);
                    check_close("linear", what, y, R, (size_t)M * N, 2e-5);
                    if (res == 1) check_equal("linear", "residual untouched", r, r_copy,
                                              (size_t)M * N);
                    free(x); free(w); free(b); free(r); free(r_copy); free(y); free(R);
                }
}

/* ---- element-wise ------------------------------------------------------- */

static void test_gelu(void)
{
    /* dense sweep over [-10, 10] plus special magnitudes */
    const size_t n = 2000001 + 12;
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i + 12 < n; i++) x[i] = -10.0f + 20.0f * (float)i / (float)(n - 13);
    const float sp[12] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, 30.0f, -30.0f,
                          1e5f, -1e5f, 3e38f, -3e38f};
    memcpy(x + n - 12, sp, sizeof sp);
    float *y = malloc(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    ops_gelu(y, n);
    kstat *st = stat_of("gelu");
    /* |err| <= 1e-6 max(1, |ref|) everywhere; relative error <= 2e-6 for
     * x >= -5 (further out the float rounding of x/sqrt2 alone moves
     * erfc(-x/sqrt2) by ~2 z^2 2^-24 relative, while the value is < 1e-6) */
    double worst = 0, worst_rel = 0;
    size_t at = 0, at_rel = 0;
    for (size_t i = 0; i < n; i++) {
        double ref = gelu_d(x[i]);
        double e = fabs((double)y[i] - ref);
        double sc = fabs(ref) > 1.0 ? fabs(ref) : 1.0;
        if (!(e / sc <= worst)) { worst = e / sc; at = i; }
        if (x[i] >= -5.0f && fabs(ref) > 1e-30) {
            double r = e / fabs(ref);
            if (!(r <= worst_rel)) { worst_rel = r; at_rel = i; }
        }
    }
    if (worst > st->worst) st->worst = worst;
    if (worst > st->worst_abs) st->worst_abs = worst;
    TU_CHECK(worst <= 1e-6, "gelu [%s]: err %.3g at x=%.9g (got %.9g ref %.9g)", ctx,
             worst, x[at], y[at], gelu_d(x[at]));
    TU_CHECK(worst_rel <= 2e-6, "gelu [%s]: rel err %.3g at x=%.9g (got %.9g ref %.9g)",
             ctx, worst_rel, x[at_rel], y[at_rel], gelu_d(x[at_rel]));
    printf("  gelu [%s]: max err/max(1,|ref|) %.3g (x=%.7g), max rel err (x>=-5) %.3g (x=%.7g)\n",
           ctx, worst, x[at], worst_rel, x[at_rel]);
    /* NaN propagates */
    float nanv[17];
    for (int i = 0; i < 17; i++) nanv[i] = i == 5 ? NAN : 1.0f;
    ops_gelu(nanv, 17);
    TU_CHECK(isnan(nanv[5]) && !isnan(nanv[4]), "gelu [%s]: NaN handling", ctx);
    /* odd lengths */
    for (size_t len = 0; len < 40; len++) {
        float a[40], b[40];
        tu_rand_fill(a, len, -6, 6, &rng);
        memcpy(b, a, sizeof a);
        ops_gelu(a, len);
        double R[40];
        for (size_t i = 0; i < len; i++) R[i] = gelu_d(b[i]);
        check_close("gelu", "short", a, R, len, 1e-6);
    }
    free(x); free(y);
}

static void test_simple_eltwise(void)
{
    static const size_t lens[] = {0, 1, 7, 17, 31, 67, 1000, 200003};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t n = lens[li];
        float *a = fbuf(n, -3, 3), *b = fbuf(n, -3, 3);
        float *y = malloc(sizeof(float) * (n + 1)), *ref = malloc(sizeof(float) * (n + 1));
        char what[32];
        snprintf(what, sizeof what, "n=%zu", n);
        /* relu */
        memcpy(y, a, sizeof(float) * n);
        for (size_t i = 0; i < n; i++) ref[i] = a[i] > 0 ? a[i] : 0.0f;
        ops_relu(y, n);
        check_equal("relu", what, y, ref, n);
        /* add */
        memcpy(y, a, sizeof(float) * n);
        for (size_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
        ops_add(y, b, n);
        check_equal("add", what, y, ref, n);
        /* add_to, also with out aliasing an input */
        ops_add_to(y, b, a, n);
        for (size_t i = 0; i < n; i++) ref[i] = b[i] + a[i];
        check_equal("add_to", what, y, ref, n);
        memcpy(y, a, sizeof(float) * n);
        ops_add_to(y, y, b, n);
        for (size_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
        check_equal("add_to", what, y, ref, n);
        free(a); free(b); free(y); free(ref);
    }
}

/* ---- LayerNorm / softmax ------------------------------------------------- */

static void test_layernorm(void)
{
    static const int sz[][2] = {{5, 3}, {3, 17}, {9, 67}, {7, 1}, {33, 128}, {11, 256},
                                {2049, 64}, {1, 1000}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            const int rows = sz[s][0], C = sz[s][1];
            const size_t n = (size_t)rows * C;
            float *x = fbuf(n, -2, 2);
            if (variant == 3) /* large common offset: tests the two-pass variance */
                for (size_t i = 0; i < n; i++) x[i] = 40.0f + 0.01f * x[i];
            float *g = variant == 1 ? NULL : fbuf(C, 0.5f, 1.5f);
            float *b = variant == 2 ? NULL : fbuf(C, -1, 1);
            float *y = fbuf(n, 0, 1);
            double *R = dbuf(n);
            const float eps = variant == 3 ? 1e-6f : 1e-5f;
            for (int r = 0; r < rows; r++) {
                const float *xr = x + (size_t)r * C;
                double m = 0, v = 0;
                for (int i = 0; i < C; i++) m += xr[i];
                m /= C;
                for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
                v /= C;
                for (int i = 0; i < C; i++) {
                    double t = (xr[i] - m) / sqrt(v + eps);
                    if (g) t *= g[i];
                    if (b) t += b[i];
                    R[(size_t)r * C + i] = t;
                }
            }
            char what[64];
            snprintf(what, sizeof what, "%dx%d v%d", rows, C, variant);
            ops_layernorm(x, y, rows, C, g, b, eps);
            check_close("layernorm", what, y, R, n, 2e-5);
            /* the fused variant: the same y, and yp = y + p */
            float *p = fbuf(n, -3, 3), *yp = fbuf(n, 0, 1), *x2 = fbuf(n, 0, 1);
            double *RP = dbuf(n);
            for (size_t i = 0; i < n; i++) RP[i] = R[i] + p[i];
            memcpy(x2, x, sizeof(float) * n);
            ops_layernorm_add(x, y, rows, C, g, b, eps, p, NULL, yp);
            check_close("layernorm_add y", what, y, R, n, 2e-5);
            check_close("layernorm_add y+p", what, yp, RP, n, 2e-5);
            ops_layernorm_add(x2, x2, rows, C, g, b, eps, p, NULL, yp); /* in place */
            check_close("layernorm_add in place", what, x2, R, n, 2e-5);
            check_close("layernorm_add in place y+p", what, yp, RP, n, 2e-5);
            /* p in bfloat16: yp = y + the float it stands for, one rounding,
             * so the bits of adding that float */
            uint16_t *pb = malloc(sizeof(uint16_t) * n);
            float *pr = fbuf(n, 0, 1), *ypb = fbuf(n, 0, 1);
            for (size_t i = 0; i < n; i++) {
                pb[i] = ops_bf16_round(p[i]);
                const uint32_t u = (uint32_t)pb[i] << 16;
                memcpy(&pr[i], &u, 4);
                RP[i] = R[i] + pr[i];
            }
            memcpy(x2, x, sizeof(float) * n);
            ops_layernorm_add(x2, x2, rows, C, g, b, eps, NULL, pb, ypb);
            check_close("layernorm_add bf16 p y", what, x2, R, n, 2e-5);
            check_close("layernorm_add bf16 p y+p", what, ypb, RP, n, 2e-5);
            ops_layernorm_add(x, y, rows, C, g, b, eps, pr, NULL, yp);
            TU_CHECK(memcmp(yp, ypb, sizeof(float) * n) == 0,
                     "layernorm_add %s: bf16 p differs from adding its float", what);
            free(pb); free(pr); free(ypb);
            free(p); free(yp); free(x2); free(RP);
            ops_layernorm(x, x, rows, C, g, b, eps); /* in place */
            check_close("layernorm", what, x, R, n, 2e-5);
            free(x); free(g); free(b); free(y); free(R);
        }
}

static void softmax_ref(const float *x, double *R, int cols)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < cols; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < cols; i++) s += (R[i] = exp(x[i] - mx));
    for (int i = 0; i < cols; i++) R[i] /= s;
}

static void test_softmax(void)
{
    static const int sz[][2] = {{3, 1}, {5, 7}, {49, 49}, {9, 67}, {2, 4096}, {600, 196},
                                {1, 17}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int rows = sz[s][0], cols = sz[s][1];
        const size_t n = (size_t)rows * cols;
        float *x = fbuf(n, -20, 20);
        if (s == 6) x[3] = -INFINITY; /* masked entry */
        if (s == 3) x[5] = -200.0f;   /* deep underflow */
        double *R = dbuf(n);
        for (int r = 0; r < rows; r++) softmax_ref(x + (size_t)r * cols, R + (size_t)r * cols, cols);
        ops_softmax_rows(x, rows, cols);
        char what[32];
        snprintf(what, sizeof what, "%dx%d", rows, cols);
        check_close("softmax", what, x, R, n, 2e-6);
        free(x); free(R);
    }
    /* down the columns: the same reference on each column */
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int rows = sz[s][1], cols = sz[s][0] * 3 + 300; /* several column tasks */
        const size_t n = (size_t)rows * cols;
        float *x = fbuf(n, -20, 20), *col = malloc(sizeof(float) * rows);
        if (s == 6 && rows > 3) x[3 * cols + 1] = -INFINITY;
        double *R = dbuf(n), *rc = dbuf(rows);
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < rows; r++) col[r] = x[(size_t)r * cols + c];
            softmax_ref(col, rc, rows);
            for (int r = 0; r < rows; r++) R[(size_t)r * cols + c] = rc[r];
        }
        ops_softmax_cols(x, rows, cols);
        char what[32];
        snprintf(what, sizeof what, "cols %dx%d", rows, cols);
        check_close("softmax", what, x, R, n, 2e-6);
        free(x); free(col); free(R); free(rc);
    }
}

/* ---- convolutions --------------------------------------------------------- */

static void test_dwconv(void)
{
    static const int sz[][3] = {{5, 7, 3}, {1, 1, 17}, {8, 9, 67}, {1, 13, 16},
                                {13, 1, 33}, {32, 32, 64}, {6, 6, 1}, {4, 5, 320}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int stride = 1; stride <= 2; stride++)
            for (int variant = 0; variant < 3; variant++) {
                const int H = sz[s][0], W = sz[s][1], C = sz[s][2];
                const int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
                const ops_act act = (ops_act)variant;
                float *x = fbuf((size_t)H * W * C, -1, 1);
                float *w = fbuf((size_t)C * 9, -1, 1);
                float *b = variant == 1 ? NULL : fbuf(C, -1, 1);
                float *y = fbuf((size_t)Ho * Wo * C, 0, 1);
                double *R = dbuf((size_t)Ho * Wo * C);
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++)
                        for (int c = 0; c < C; c++) {
                            double acc = b ? b[c] : 0;
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    int iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    acc += (double)w[c * 9 + ky * 3 + kx] *
                                           x[((size_t)iy * W + ix) * C + c];
                                }
                            R[((size_t)oy * Wo + ox) * C + c] = act_d(acc, act);
                        }
                ops_dwconv3x3(x, H, W, C, w, b, stride, y, act);
                char what[64];
                snprintf(what, sizeof what, "%dx%dx%d s%d v%d", H, W, C, stride, variant);
                check_close("dwconv3x3", what, y, R, (size_t)Ho * Wo * C, 1e-5);
                free(x); free(w); free(b); free(y); free(R);
            }
}

static void test_conv2d(void)
{
    /* H, W, Cin, Cout, K, stride, pad */
    static const int sz[][7] = {{7, 9, 3, 17, 3, 2, 1}, {5, 5, 4, 8, 1, 1, 0},
                                 {6, 7, 5, 3, 2, 2, 0}, {16, 16, 3, 16, 3, 2, 1},
                                 {8, 8, 6, 5, 1, 2, 0}, {1, 1, 3, 4, 3, 1, 1},
                                 {9, 4, 67, 7, 3, 1, 1}, {10, 11, 2, 3, 5, 3, 2},
                                 /* several im2col bands, uneven last band */
                                 {70, 64, 32, 16, 3, 1, 1}, {67, 129, 8, 12, 3, 2, 1},
                                 /* the direct kernel (K * K * Cin <= 32): whole
                                  * and partial blocks of 4 pixels and of
                                  * channel vectors, 2x2 mask convolutions */
                                 {33, 70, 3, 32, 3, 2, 1}, {9, 23, 3, 40, 3, 1, 1},
                                 {20, 24, 1, 4, 2, 2, 0}, {12, 14, 4, 16, 2, 2, 0},
                                 {11, 13, 2, 33, 4, 2, 1}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int variant = 0; variant < 2; variant++) {
            const int H = sz[s][0], W = sz[s][1], Cin = sz[s][2], Cout = sz[s][3];
            const int K = sz[s][4], st = sz[s][5], pad = sz[s][6];
            const int Ho = (H + 2 * pad - K) / st + 1, Wo = (W + 2 * pad - K) / st + 1;
            const ops_act act = variant ? OPS_ACT_GELU : OPS_ACT_NONE;
            float *x = fbuf((size_t)H * W * Cin, -1, 1);
            float *w = fbuf((size_t)Cout * K * K * Cin, -0.5f, 0.5f);
            float *b = variant ? fbuf(Cout, -1, 1) : NULL;
            float *y = fbuf((size_t)Ho * Wo * Cout, 0, 1);
            double *R = dbuf((size_t)Ho * Wo * Cout);
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    for (int co = 0; co < Cout; co++) {
                        double acc = b ? b[co] : 0;
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * st - pad + ky, ix = ox * st - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                for (int ci = 0; ci < Cin; ci++)
                                    acc += (double)w[(((size_t)co * K + ky) * K + kx) * Cin + ci] *
                                           x[((size_t)iy * W + ix) * Cin + ci];
                            }
                        R[((size_t)oy * Wo + ox) * Cout + co] = act_d(acc, act);
                    }
            ops_conv2d(x, H, W, Cin, w, b, Cout, K, st, pad, y, act);
            char what[64];
            snprintf(what, sizeof what, "%dx%dx%d->%d k%d s%d p%d", H, W, Cin, Cout, K, st, pad);
            check_close("conv2d", what, y, R, (size_t)Ho * Wo * Cout, 2e-5);
            free(x); free(w); free(b); free(y); free(R);
        }
}

static void test_convT(void)
{
    /* the last three take several row bands */
    static const int sz[][4] = {{3, 5, 17, 7}, {1, 1, 3, 2}, {16, 16, 32, 16}, {2, 7, 1, 5},
                                {33, 64, 16, 200}, {9, 300, 5, 64}, {40, 128, 64, 32}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int variant = 0; variant < 10; variant++) {
            /* v%5: 0 bias; 1 +LN; 2 +LN+GELU; 3 GELU; 4 +GELU+projection;
             * v>=5: the same on a planar (CHW) input; projections to 1 or
             * 3 (v4) and 6 (v9) channels */
            const int H = sz[s][0], W = sz[s][1], Cin = sz[s][2], Cout = sz[s][3];
            const int vv = variant % 5, planar = variant >= 5;
            const int bias = vv != 0, ln = vv == 1 || vv == 2;
            const ops_act act = vv >= 2 ? OPS_ACT_GELU : OPS_ACT_NONE;
            const int P = vv == 4 ? (planar ? 6 : (s & 1) ? 1 : 3) : 0;
            const size_t npix = (size_t)4 * H * W, nout = npix * (P ? P : Cout);
            float *x = fbuf((size_t)H * W * Cin, -1, 1);
            float *w = fbuf((size_t)Cin * Cout * 4, -1, 1);
            float *wp = malloc(sizeof(float) * (size_t)Cin * Cout * 4);
            float *b = bias ? fbuf(Cout, -1, 1) : NULL;
            float *g = ln ? fbuf(Cout, 0.5f, 1.5f) : NULL, *be = ln ? fbuf(Cout, -1, 1) : NULL;
            float *pr = P ? fbuf((size_t)P * Cout, -1, 1) : NULL;
            float *xin = x;
            if (planar) { /* the same map, stored channel-major */
                xin = malloc(sizeof(float) * (size_t)H * W * Cin);
                for (int p = 0; p < H * W; p++)
                    for (int c = 0; c < Cin; c++) xin[(size_t)c * H * W + p] = x[(size_t)p * Cin + c];
            }
            float *y = fbuf(nout, 0, 1);
            double *R = dbuf(nout), *r = dbuf((size_t)Cout);
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    for (int di = 0; di < 2; di++)
                        for (int dj = 0; dj < 2; dj++) {
                            const size_t pix = (size_t)(2 * i + di) * 2 * W + 2 * j + dj;
                            for (int co = 0; co < Cout; co++) {
                                double acc = b ? b[co] : 0;
                                for (int ci = 0; ci < Cin; ci++)
                                    acc += (double)x[((size_t)i * W + j) * Cin + ci] *
                                           w[(((size_t)ci * Cout + co) * 2 + di) * 2 + dj];
                                r[co] = acc;
                            }
                            ref_convt_pixel(r, Cout, ln ? g : NULL, be, act, pr, P, R, npix,
                                            pix);
                        }
            ops_pack_conv_transpose2x2(w, Cin, Cout, wp);
            ops_conv_transpose2x2(xin, planar, H, W, Cin, wp, b, Cout, g, be, 1e-6f, act, pr, P, y);
            char what[64];
            snprintf(what, sizeof what, "%dx%dx%d->%d v%d", H, W, Cin, Cout, variant);
            check_close("conv_transpose2x2", what, y, R, nout, ln || P ? 5e-5 : 1e-5);
            if (planar) free(xin);
            free(x); free(w); free(wp); free(b); free(g); free(be); free(pr); free(y); free(R);
            free(r);
        }
}

/* ---- attention ------------------------------------------------------------ */

static void test_attention(void)
{
    /* Nq, Nk, d, padding of the row strides, bias */
    static const int sz[][5] = {{49, 49, 32, 0, 1}, {196, 196, 32, 0, 1}, {7, 4096, 16, 0, 0},
                                {4096, 7, 16, 0, 0}, {1, 1, 1, 0, 0}, {3, 17, 67, 5, 1},
                                {13, 5, 8, 3, 0}, {64, 64, 16, 16, 1}, {5, 33, 24, 1, 1},
                                {100, 49, 32, 96, 0}, {37, 9, 20, 3, 1}, {20, 17, 40, 1, 1},
                                {9, 1500, 24, 5, 1}, {6, 300, 130, 2, 1}, {5, 3, 70, 0, 1}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int Nq = sz[s][0], Nk = sz[s][1], d = sz[s][2], pad = sz[s][3];
        const int ldq = d + pad, ldk = d + 2 * pad, ldv = d + pad + 1, ldo = d + 3 * pad;
        float *q = fbuf((size_t)Nq * ldq, -1, 1);
        float *k = fbuf((size_t)Nk * ldk, -1, 1);
        float *v = fbuf((size_t)Nk * ldv, -1, 1);
        float *bias = sz[s][4] ? fbuf((size_t)Nq * Nk, -2, 2) : NULL;
        float *out = fbuf((size_t)Nq * ldo, -7, 7);
        float *scratch = fbuf((size_t)Nq * Nk, 0, 1);
        double *R = dbuf((size_t)Nq * ldo), *p = dbuf(Nk);
        const float scale = 1.0f / sqrtf((float)d) * 2.0f;
        for (int i = 0; i < Nq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < Nk; j++) {
                double acc = 0;
                for (int t = 0; t < d; t++)
                    acc += (double)q[(size_t)i * ldq + t] * k[(size_t)j * ldk + t];
                acc *= scale;
                if (bias) acc += bias[(size_t)i * Nk + j];
                p[j] = acc;
                if (acc > mx) mx = acc;
            }
            for (int j = 0; j < Nk; j++) sum += (p[j] = exp(p[j] - mx));
            for (int t = 0; t < ldo; t++) {
                if (t >= d) {
                    R[(size_t)i * ldo + t] = out[(size_t)i * ldo + t]; /* untouched */
                    continue;
                }
                double acc = 0;
                for (int j = 0; j < Nk; j++) acc += p[j] * v[(size_t)j * ldv + t];
                R[(size_t)i * ldo + t] = acc / sum;
            }
        }
        ops_attention(q, ldq, k, ldk, v, ldv, Nq, Nk, d, scale, bias, out, ldo, scratch);
        char what[64];
        snprintf(what, sizeof what, "%dx%dx%d ld+%d bias%d", Nq, Nk, d, pad, sz[s][4]);
        check_close("attention", what, out, R, (size_t)Nq * ldo, 2e-5);
        free(q); free(k); free(v); free(bias); free(out); free(scratch); free(R); free(p);
    }
    /* several heads side by side: each head equals a single-head call on its
     * columns (checked against ops_attention, itself checked above) */
    static const int mh[][4] = {{7, 4096, 8, 16}, {4096, 7, 8, 16}, {70, 130, 3, 24},
                                {5, 9, 2, 130}};
    for (size_t s = 0; s < sizeof mh / sizeof mh[0]; s++) {
        const int Nq = mh[s][0], Nk = mh[s][1], H = mh[s][2], d = mh[s][3], ld = H * d + 3;
        float *q = fbuf((size_t)Nq * ld, -1, 1), *k = fbuf((size_t)Nk * ld, -1, 1);
        float *v = fbuf((size_t)Nk * ld, -1, 1);
        float *out = fbuf((size_t)Nq * ld, -7, 7), *ref = malloc(sizeof(float) * (size_t)Nq * ld);
        float *scratch = fbuf((size_t)Nq * Nk, 0, 1);
        memcpy(ref, out, sizeof(float) * (size_t)Nq * ld);
        const float scale = 0.3f;
        for (int h = 0; h < H; h++)
            ops_attention(q + h * d, ld, k + h * d, ld, v + h * d, ld, Nq, Nk, d, scale, NULL,
                          ref + h * d, ld, scratch);
        ops_attention_heads(q, ld, k, ld, v, ld, Nq, Nk, H, d, scale, out, ld);
        double *R = dbuf((size_t)Nq * ld);
        for (size_t i = 0; i < (size_t)Nq * ld; i++) R[i] = ref[i];
        char what[64];
        snprintf(what, sizeof what, "heads %dx%dx%dx%d", Nq, Nk, H, d);
        check_close("attention", what, out, R, (size_t)Nq * ld, 1e-6);
        free(q); free(k); free(v); free(out); free(ref); free(scratch); free(R);
    }
}

/* ---- attention with decomposed relative position -------------------------- */

/* ops_relpos_attention against a plain double loop: the grid padded to
 * windows by hand (padded rows = pad_row, or zeros), every (window, head)
 * attended over its N keys with the full bias. Small windows with padding
 * (gathered; the fused row kernel), whole-grid windows read in place (d = 80
 * as vit_h; 1024 tokens of d = 64: the GEMM path, 4 row blocks), and
 * padded windows of 1024 tokens (gathered, GEMM path). */
static void test_relpos_attention(void)
{
    /* H, W, heads, d, ws, with a pad row */
    static const int sz[][6] = {{10, 10, 2, 8, 4, 1}, {9, 7, 3, 16, 4, 0}, {20, 20, 2, 8, 14, 1},
                                {12, 12, 2, 80, 12, 0}, {32, 32, 1, 64, 32, 0},
                                {40, 36, 1, 8, 32, 1}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int H = sz[s][0], W = sz[s][1], heads = sz[s][2], d = sz[s][3], ws = sz[s][4];
        const int C = heads * d, ld = 3 * C + 5, ldo = C + 3, nt = 2 * ws - 1, N = ws * ws;
        float *qkv = fbuf((size_t)H * W * ld, -1, 1);
        float *pad = sz[s][5] ? fbuf((size_t)ld, -1, 1) : NULL;
        float *rh = fbuf((size_t)nt * d, -0.5f, 0.5f), *rw = fbuf((size_t)nt * d, -0.5f, 0.5f);
        float *out = fbuf((size_t)H * W * ldo, -7, 7);
        double *R = dbuf((size_t)H * W * ldo), *p = dbuf(N);
        const float scale = 1.0f / sqrtf((float)d);
        for (size_t i = 0; i < (size_t)H * W * ldo; i++) R[i] = out[i]; /* untouched columns */
        static const float zeros[4096];
        for (int wy = 0; wy * ws < H; wy++)
            for (int wx = 0; wx * ws < W; wx++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < N; i++) {
                        const int yi = i / ws, xi = i % ws;
                        const int gy = wy * ws + yi, gx = wx * ws + xi;
                        if (gy >= H || gx >= W) continue;
                        const float *qi = qkv + ((size_t)gy * W + gx) * ld + h * d;
                        double mx = -INFINITY, sum = 0;
                        for (int j = 0; j < N; j++) {
                            const int yj = j / ws, xj = j % ws;
                            const int hy = wy * ws + yj, hx = wx * ws + xj;
                            const float *row = hy < H && hx < W
                                                   ? qkv + ((size_t)hy * W + hx) * ld
                                                   : (pad ? pad : zeros);
                            double acc = 0, bh = 0, bw = 0;
                            for (int t = 0; t < d; t++) {
                                acc += (double)qi[t] * row[C + h * d + t];
                                bh += (double)qi[t] * rh[(size_t)(yi - yj + ws - 1) * d + t];
                                bw += (double)qi[t] * rw[(size_t)(xi - xj + ws - 1) * d + t];
                            }
                            p[j] = acc * scale + bh + bw;
                            if (p[j] > mx) mx = p[j];
                        }
                        for (int j = 0; j < N; j++) sum += (p[j] = exp(p[j] - mx));
                        for (int t = 0; t < d; t++) {
                            double acc = 0;
                            for (int j = 0; j < N; j++) {
                                const int hy = wy * ws + j / ws, hx = wx * ws + j % ws;
                                const float *row = hy < H && hx < W
                                                       ? qkv + ((size_t)hy * W + hx) * ld
                                                       : (pad ? pad : zeros);
                                acc += p[j] * row[2 * C + h * d + t];
                            }
                            R[((size_t)gy * W + gx) * ldo + h * d + t] = acc / sum;
                        }
                    }
        ops_relpos_attention(qkv, ld, C, 2 * C, H, W, heads, d, ws, scale, rh, rw, pad, out, ldo);
        char what[64];
        snprintf(what, sizeof what, "%dx%d heads %d d %d ws %d pad%d", H, W, heads, d, ws,
                 sz[s][5]);
        check_close("relpos_attention", what, out, R, (size_t)H * W * ldo, 2e-5);
        free(qkv); free(pad); free(rh); free(rw); free(out); free(R); free(p);
    }
}

/* ---- bilinear resize --------------------------------------------------------- */

/* PyTorch's CPU formula, float32, written out independently of the library
 * (no FMA contraction, whatever the build flags). */
#if defined(__clang__)
#define NO_CONTRACT
#else
#define NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#endif
NO_CONTRACT
static void resize_ref(const float *src, int sh, int sw, int ss, float *dst, int dh, int dw)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    const float hs = (float)sh / (float)dh, wsc = (float)sw / (float)dw;
    for (int oy = 0; oy < dh; oy++) {
        int y0 = oy, y1 = oy;
        float a0 = 1.0f, a1 = 0.0f;
        if (sh != dh) {
            float r = hs * ((float)oy + 0.5f) - 0.5f;
            if (r < 0) r = 0;
            y0 = (int)floorf(r);
            if (y0 > sh - 1) y0 = sh - 1;
            a1 = fminf(fmaxf(r - (float)y0, 0.0f), 1.0f);
            y1 = y0 + (y0 < sh - 1);
            a0 = 1.0f - a1;
        }
        for (int ox = 0; ox < dw; ox++) {
            int x0 = ox, x1 = ox;
            float b0 = 1.0f, b1 = 0.0f;
            if (sw != dw) {
                float r = wsc * ((float)ox + 0.5f) - 0.5f;
                if (r < 0) r = 0;
                x0 = (int)floorf(r);
                if (x0 > sw - 1) x0 = sw - 1;
                b1 = fminf(fmaxf(r - (float)x0, 0.0f), 1.0f);
                x1 = x0 + (x0 < sw - 1);
                b0 = 1.0f - b1;
            }
            const float *r0 = src + (size_t)y0 * ss, *r1 = src + (size_t)y1 * ss;
            float t0 = r0[x0] * b0;
            t0 = t0 + r0[x1] * b1;
            float t1 = r1[x0] * b0;
            t1 = t1 + r1[x1] * b1;
            float u = t0 * a0;
            dst[(size_t)oy * dw + ox] = u + t1 * a1;
        }
    }
}

/* ops_interp_taps: bit-exact against products and sum each rounded once
 * (built in double: float * float is exact there, and so is the sum of
 * the two rounded products at these magnitudes); taps of up- and
 * down-sampling (window and gather paths), identity, and shuffled ones. */
NO_CONTRACT /* the reference's products and sum too (aarch64 GCC fuses them) */
static void test_interp_taps(void)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    static const int cfg[][2] = {{256, 768}, {768, 810}, {1024, 500}, {37, 37}, {5, 200}, {300, 17}, {9, 9}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0] + 1; c++) {
        const int shuffled = c == sizeof cfg / sizeof cfg[0];
        const int sn = shuffled ? 50 : cfg[c][0], n = shuffled ? 333 : cfg[c][1];
        int *i0 = malloc(sizeof(int) * n), *i1 = malloc(sizeof(int) * n);
        float *w0 = fbuf(n, 0, 1), *w1 = fbuf(n, 0, 1), *src = fbuf(sn, -4, 4);
        float *dst = fbuf(n, 0, 1), *ref = malloc(sizeof(float) * n);
        for (int x = 0; x < n; x++) {
            if (shuffled) {
                i0[x] = (x * 37) % sn;
                i1[x] = (x * 11 + 5) % sn;
            } else {
                /* PyTorch's taps (align_corners=False), computed in double */
                double sx = ((double)x + 0.5) * sn / n - 0.5;
                if (sx < 0) sx = 0;
                int j = (int)sx;
                if (j > sn - 1) j = sn - 1;
                i0[x] = j;
                i1[x] = j < sn - 1 ? j + 1 : j;
                w1[x] = (float)(sx - j);
                w0[x] = 1.0f - w1[x];
            }
            const float a = (float)((double)src[i0[x]] * w0[x]);
            const float b = (float)((double)src[i1[x]] * w1[x]);
            ref[x] = (float)((double)a + (double)b);
        }
        ops_interp_taps(dst, src, sn, i0, i1, w0, w1, n);
        char what[48];
        snprintf(what, sizeof what, "%d->%d%s", sn, n, shuffled ? " shuffled" : "");
        check_equal("interp_taps", what, dst, ref, (size_t)n);
        free(i0); free(i1); free(w0); free(w1); free(src); free(dst); free(ref);
    }
}

/* ops_transpose against the plain loop, exactly: whole SIMD blocks, edges
 * on both sides, strides wider than the matrix */
static void test_transpose(void)
{
    static const int sh[][2] = {{1, 1},    {16, 16}, {33, 17},   {5, 40},  {64, 256},
                                {256, 64}, {7, 3},   {4096, 128}, {200, 33}, {61, 50}};
    for (size_t c = 0; c < sizeof sh / sizeof sh[0]; c++) {
        const int rows = sh[c][0], cols = sh[c][1];
        const size_t lds = (size_t)cols + 3, ldd = (size_t)rows + 5;
        float *src = fbuf((size_t)rows * lds, -1, 1), *dst = fbuf((size_t)cols * ldd, 7, 8);
        float *ref = malloc(sizeof(float) * cols * ldd);
        memcpy(ref, dst, sizeof(float) * cols * ldd); /* the gaps are left alone */
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) ref[(size_t)k * ldd + r] = src[(size_t)r * lds + k];
        ops_transpose(src, lds, rows, cols, dst, ldd);
        char what[48];
        snprintf(what, sizeof what, "%dx%d", rows, cols);
        check_equal("transpose", what, dst, ref, (size_t)cols * ldd);
        free(src); free(dst); free(ref);
    }
}

/* ops_interleave2 against the plain loop, exactly (tails of every width) */
static void test_interleave2(void)
{
    static const int ns[] = {1, 3, 4, 8, 16, 17, 31, 64, 100};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        const int n = ns[c];
        float *a = fbuf(n, -1, 1), *b = fbuf(n, -1, 1), *y = fbuf(2 * (size_t)n + 3, 7, 8);
        float *ref = malloc(sizeof(float) * (2 * (size_t)n + 3));
        memcpy(ref, y, sizeof(float) * (2 * (size_t)n + 3)); /* past 2n: untouched */
        for (int j = 0; j < n; j++) {
            ref[2 * j] = a[j];
            ref[2 * j + 1] = b[j];
        }
        ops_interleave2(a, b, n, y);
        char what[32];
        snprintf(what, sizeof what, "n %d", n);
        check_equal("interleave2", what, y, ref, 2 * (size_t)n + 3);
        free(a); free(b); free(y); free(ref);
    }
}

static void test_resize(void)
{
    /* sh, sw, stride pad, dh, dw */
    static const int sz[][5] = {{256, 256, 0, 1024, 1024}, {7, 5, 3, 13, 3}, {1, 1, 0, 4, 4},
                                {4, 4, 0, 1, 1}, {5, 6, 2, 5, 6}, {1024, 1024, 0, 683, 1023},
                                {3, 50, 0, 7, 17}, {17, 1, 1, 3, 37}, {256, 256, 0, 1500, 2001}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int sh = sz[s][0], sw = sz[s][1], ss = sw + sz[s][2], dh = sz[s][3], dw = sz[s][4];
        float *src = fbuf((size_t)sh * ss, -10, 10);
        float *dst = fbuf((size_t)dh * dw, 0, 1), *ref = malloc(sizeof(float) * (size_t)dh * dw);
        resize_ref(src, sh, sw, ss, ref, dh, dw);
        ops_resize_bilinear(src, sh, sw, ss, dst, dh, dw);
        char what[64];
        snprintf(what, sizeof what, "%dx%d->%dx%d", sh, sw, dh, dw);
        check_equal("resize_bilinear", what, dst, ref, (size_t)dh * dw);
        free(src); free(dst); free(ref);
    }
    /* the sign as a mask: 255 exactly where the float resize is > 0 (zeros
     * and negative zeros in the source: 0 is not > 0) */
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int sh = sz[s][0], sw = sz[s][1], ss = sw + sz[s][2], dh = sz[s][3], dw = sz[s][4];
        float *src = fbuf((size_t)sh * ss, -10, 10);
        for (size_t i = 0; i < (size_t)sh * ss; i += 7) src[i] = (i / 7) % 2 ? 0.0f : -0.0f;
        float *ref = malloc(sizeof(float) * (size_t)dh * dw);
        uint8_t *mask = malloc((size_t)dh * dw);
        memset(mask, 77, (size_t)dh * dw);
        resize_ref(src, sh, sw, ss, ref, dh, dw);
        ops_resize_bilinear_mask(src, sh, sw, ss, mask, dh, dw);
        size_t bad = 0, at = 0;
        for (size_t i = 0; i < (size_t)dh * dw; i++)
            if (mask[i] != (ref[i] > 0.0f ? 255 : 0) && !bad++) at = i;
        TU_CHECK(bad == 0, "resize_bilinear_mask [%s] %dx%d->%dx%d: %zu pixels differ, first "
                 "at %zu (got %d, resized %.9g)", ctx, sh, sw, dh, dw, bad, at, mask[at], ref[at]);
        free(src); free(ref); free(mask);
    }
    /* regions: the top-left rows x cols of a dh x dw resize, equal to the
     * same part of the full resize (incl. cols == source width) */
    static const int rg[][6] = {{256, 256, 1024, 1024, 576, 1024}, {256, 256, 1024, 1024, 1024, 256},
                                {7, 5, 13, 9, 4, 5}, {3, 3, 12, 12, 1, 1}};
    for (size_t s = 0; s < sizeof rg / sizeof rg[0]; s++) {
        const int sh = rg[s][0], sw = rg[s][1], dh = rg[s][2], dw = rg[s][3];
        const int rows = rg[s][4], cols = rg[s][5];
        float *src = fbuf((size_t)sh * sw, -10, 10);
        float *full = malloc(sizeof(float) * (size_t)dh * dw);
        float *dst = fbuf((size_t)rows * cols, 0, 1), *ref = malloc(sizeof(float) * (size_t)rows * cols);
        resize_ref(src, sh, sw, sw, full, dh, dw);
        for (int y = 0; y < rows; y++)
            memcpy(ref + (size_t)y * cols, full + (size_t)y * dw, sizeof(float) * cols);
        ops_resize_bilinear_region(src, sh, sw, sw, dst, dh, dw, rows, cols, cols);
        char what[64];
        snprintf(what, sizeof what, "%dx%d->%dx%d [%dx%d]", sh, sw, dh, dw, rows, cols);
        check_equal("resize_bilinear", what, dst, ref, (size_t)rows * cols);
        free(src); free(full); free(dst); free(ref);
    }
}

/* -------------------------------------------------------------------------- */

int main(void)
{
    /* the env override is read once, at the first kernel call */
    setenv("MOBILESAM_ISA", "scalar", 1);
    ops_init();
    TU_CHECK(ops_current_isa() == OPS_ISA_SCALAR, "MOBILESAM_ISA=scalar ignored: %s",
             ops_isa_name(ops_current_isa()));
    const ops_isa cpu = ops_cpu_isa();
    printf("cpu isa: %s\n", ops_isa_name(cpu));
    ops_force_isa(OPS_ISA_AVX512);
    TU_CHECK(ops_current_isa() == cpu, "force_isa(avx512) should clamp to %s, got %s",
             ops_isa_name(cpu), ops_isa_name(ops_current_isa()));
    ops_force_isa(OPS_ISA_NEON);
    TU_CHECK(ops_current_isa() == cpu, "force_isa(neon) should clamp to %s, got %s",
             ops_isa_name(cpu), ops_isa_name(ops_current_isa()));

    /* OMP_THREAD_LIMIT=1 (the emulated AArch64 run: OpenMP threads spin
     * forever under qemu-user) keeps to the 1-thread passes */
    const char *limit = getenv("OMP_THREAD_LIMIT");
    const int max_nt = limit && atoi(limit) == 1 ? 1 : 2;
    if (max_nt == 1) printf("OMP_THREAD_LIMIT=1: 1-thread passes only\n");
    int simd_passes = 0;
    for (int isa = OPS_ISA_SCALAR; isa <= OPS_ISA_NEON; isa++) {
        ops_force_isa((ops_isa)isa);
        if (ops_current_isa() != (ops_isa)isa) {
            printf("isa %s: not supported by this CPU, skipped\n", ops_isa_name((ops_isa)isa));
            continue;
        }
        if (isa != OPS_ISA_SCALAR) simd_passes++;
        for (int nt = 1; nt <= max_nt; nt++) {
            ops_set_threads(nt);
            TU_CHECK(ops_get_threads() == nt, "ops_get_threads %d != %d", ops_get_threads(), nt);
            snprintf(ctx, sizeof ctx, "%s/%dt", ops_isa_name((ops_isa)isa), nt);
            printf("pass %s\n", ctx);
            test_gemm();
            test_linear();
            test_gemm_tall();
            test_gemm_wide();
            test_gelu();
            test_simple_eltwise();
            test_layernorm();
            test_softmax();
            test_dwconv();
            test_conv2d();
            test_convT();
            test_attention();
            test_relpos_attention();
            test_resize();
            test_interp_taps();
            test_transpose();
            test_interleave2();
        }
    }
    ops_set_threads(0);
    TU_CHECK(ops_get_threads() >= 1, "default threads");
    /* a SIMD table was tested wherever the CPU has one */
    TU_CHECK(cpu == OPS_ISA_SCALAR || simd_passes > 0, "no pass ran the %s kernels",
             ops_isa_name(cpu));

    printf("%-20s %14s %14s\n", "kernel", "max err/scale", "max abs err");
    for (int i = 0; i < nstats; i++)
        printf("%-20s %14.3g %14.3g\n", stats[i].name, stats[i].worst, stats[i].worst_abs);
    return tu_finish("test_ops");
}
