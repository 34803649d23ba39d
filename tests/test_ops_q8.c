/*
 * test_ops_q8.c - the int8 products (ops_linear_q8, ops_conv2d_q8) against
 * a plain loop that quantizes and rounds the same way (weights per output
 * channel, activations per row, exact integer sums, the same float
 * epilogue), on awkward shapes, on every kernel path the CPU has (portable,
 * AVX-VNNI, AVX512-VNNI, AArch64 sdot), with 1 and 2 threads; the paths must
 * agree bit for bit. Also checks that the quantized product stays near the float one.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "testutil.h"

static uint32_t rng = 0x9e3779b9u;

static float *fbuf(size_t n, float lo, float hi) { return tu_fbuf(n, lo, hi, &rng); }

static double act_d(double x, ops_act act)
{
    if (act == OPS_ACT_GELU) return 0.5 * x * erfc(-x / sqrt(2.0));
    if (act == OPS_ACT_RELU) return x > 0 ? x : 0;
    return x;
}

/* The plain loop: y[m, n] = act(sw (sx acc + mn wsum) + b (+ res)). */
static void ref_q8(const float *x, int M, int K, const float *w, const float *b, int N,
                   const float *res, ops_act act, double *R)
{
    int8_t *wq = malloc((size_t)N * K);
    float *sw = malloc(sizeof(float) * N), *wsum = malloc(sizeof(float) * N);
    for (int n = 0; n < N; n++) {
        float amax = 0;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(w[(size_t)n * K + k]));
        sw[n] = amax > 0 ? amax / 127.0f : 1.0f;
        const float inv = 1.0f / sw[n];
        long s = 0;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(w[(size_t)n * K + k] * inv);
            wq[(size_t)n * K + k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            s += wq[(size_t)n * K + k];
        }
        wsum[n] = (float)s;
    }
    uint8_t *xq = malloc(K);
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        float lo = xr[0], hi = xr[0];
        for (int k = 1; k < K; k++) {
            lo = fminf(lo, xr[k]);
            hi = fmaxf(hi, xr[k]);
        }
        const float sx = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / sx;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf((xr[k] - lo) * inv);
            xq[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k = 0; k < K; k++) acc += (int64_t)xq[k] * wq[(size_t)n * K + k];
            float v = fmaf(sw[n], fmaf(sx, (float)acc, lo * wsum[n]), b ? b[n] : 0.0f);
            if (res) v += res[(size_t)m * N + n];
            R[(size_t)m * N + n] = act_d(v, act);
        }
    }
    free(wq);
    free(sw);
    free(wsum);
    free(xq);
}

/* |got - ref| <= tol * max(1, |ref|) */
static double worst_rel(const float *got, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double s = fabs(ref[i]) > 1 ? fabs(ref[i]) : 1;
        const double e = fabs(got[i] - ref[i]) / s;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static double g_worst, g_float_err;

/* Output of the first path, which the other paths must equal bit for bit. */
static float *g_first[64];
static int g_case;

static void same_bits(const float *y, size_t n, const char *path, const char *what)
{
    if (g_case >= 64) return;
    if (!g_first[g_case]) {
        g_first[g_case] = malloc(sizeof(float) * n);
        memcpy(g_first[g_case], y, sizeof(float) * n);
    } else {
        TU_CHECK(memcmp(g_first[g_case], y, sizeof(float) * n) == 0,
                 "%s %s: differs bitwise from the first path", path, what);
    }
    g_case++;
}

static void test_linear(const char *path)
{
    /* M, K, N: K and N tails, row tails of 8 and 64, few-row column splits */
    static const int sz[][3] = {{37, 67, 17}, {1, 3, 5}, {5, 1, 3}, {300, 64, 200},
                                {20, 300, 1100}, {2, 37, 13}, {64, 160, 48}, {130, 1280, 320},
                                {9, 40, 30}, {4096 + 3, 32, 16}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int v = 0; v < 4; v++) {
            /* 0: bias, GELU; 1: separate residual; 2: in-place residual, bias,
             * ReLU; 3: bias only (also compared with the float product) */
            const int M = sz[s][0], K = sz[s][1], N = sz[s][2];
            const int bias = v != 1, res = v == 3 ? 0 : v;
            const int act = v == 0 ? OPS_ACT_GELU : v == 2 ? OPS_ACT_RELU : OPS_ACT_NONE;
            float *x = fbuf((size_t)M * K, -1, 1.5f);
            float *w = fbuf((size_t)N * K, -0.5f, 0.5f);
            if (s == 1) memset(w, 0, sizeof(float) * N * K); /* all-zero rows: scale 1 */
            if (s == 2) for (int i = 0; i < M * K; i++) x[i] = 0.25f; /* max == min */
            float *b = bias ? fbuf(N, -1, 1) : NULL;
            float *r = fbuf((size_t)M * N, -2, 2);
            float *y = fbuf((size_t)M * N, -9, 9);
            double *R = malloc(sizeof(double) * M * N), *F = malloc(sizeof(double) * M * N);
            const float *resid = res == 1 ? r : NULL;
            ref_q8(x, M, K, w, b, N, res ? r : NULL, (ops_act)act, R);
            if (res == 2) { /* aliased: in place */
                memcpy(y, r, sizeof(float) * M * N);
                resid = y;
            }
            ops_q8w *q = ops_q8w_pack(w, b, N, K);
            TU_CHECK(q != NULL, "pack %dx%d", N, K);
            ops_linear_q8(x, M, q, y, resid, (ops_act)act);
            char what[96];
            snprintf(what, sizeof what, "linear %dx%dx%d bias%d res%d act%d", M, K, N, bias, res,
                     act);
            const double e = worst_rel(y, R, (size_t)M * N);
            if (e > g_worst) g_worst = e;
            TU_CHECK(e <= 2e-6, "%s %s: rel err %.3g vs the plain loop", path, what, e);
            /* the GELU of each ISA's table is its own (test_ops checks it) */
            if (act != OPS_ACT_GELU) same_bits(y, (size_t)M * N, path, what);
            /* near the float product: the error is a small part of its size */
            if (res == 0 && act == OPS_ACT_NONE && K >= 32) {
                double num = 0, den = 0;
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        double a = b ? b[n] : 0;
                        for (int k = 0; k < K; k++) a += (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
                        F[(size_t)m * N + n] = a;
                        num += (a - y[(size_t)m * N + n]) * (a - y[(size_t)m * N + n]);
                        den += a * a;
                    }
                const double rel = sqrt(num / den);
                if (rel > g_float_err) g_float_err = rel;
                TU_CHECK(rel < 0.02, "%s %s: %.3g rel. RMS from the float product", path, what, rel);
            }
            ops_q8w_free(q);
            free(x); free(w); free(b); free(r); free(y); free(R); free(F);
        }
}

static void test_conv(const char *path)
{
    static const int cs[][6] = {/* H, W, Cin, Cout, K, stride */
                                {17, 13, 3, 16, 3, 2}, {9, 11, 32, 40, 3, 1}, {8, 8, 5, 7, 1, 1},
                                {20, 6, 16, 33, 3, 2}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const int H = cs[c][0], W = cs[c][1], Cin = cs[c][2], Cout = cs[c][3], K = cs[c][4],
                  st = cs[c][5], pad = K / 2;
        const int Ho = (H + 2 * pad - K) / st + 1, Wo = (W + 2 * pad - K) / st + 1;
        const int KK = K * K * Cin;
        float *x = fbuf((size_t)H * W * Cin, -1, 1), *w = fbuf((size_t)Cout * KK, -0.3f, 0.3f);
        float *b = fbuf(Cout, -1, 1), *y = fbuf((size_t)Ho * Wo * Cout, -9, 9);
        float *col = calloc((size_t)Ho * Wo * KK, sizeof(float));
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        const int iy = oy * st - pad + ky, ix = ox * st - pad + kx;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                        memcpy(col + ((size_t)(oy * Wo + ox) * KK) + (size_t)(ky * K + kx) * Cin,
                               x + ((size_t)iy * W + ix) * Cin, sizeof(float) * Cin);
                    }
        double *R = malloc(sizeof(double) * Ho * Wo * Cout);
        ref_q8(col, Ho * Wo, KK, w, b, Cout, NULL, OPS_ACT_RELU, R);
        ops_q8w *q = ops_q8w_pack(w, b, Cout, KK);
        ops_conv2d_q8(x, H, W, Cin, q, K, st, pad, y, OPS_ACT_RELU);
        char what[64];
        snprintf(what, sizeof what, "conv %dx%dx%d->%d k%d s%d", H, W, Cin, Cout, K, st);
        const double e = worst_rel(y, R, (size_t)Ho * Wo * Cout);
        if (e > g_worst) g_worst = e;
        TU_CHECK(e <= 2e-6, "%s %s: rel err %.3g vs the plain loop", path, what, e);
        same_bits(y, (size_t)Ho * Wo * Cout, path, what);
        ops_q8w_free(q);
        free(x); free(w); free(b); free(y); free(col); free(R);
    }
}

int main(void)
{
    ops_init();
    int paths = 0, fast = 0;
    for (int isa = OPS_ISA_SCALAR; isa <= OPS_ISA_NEON; isa++) {
        ops_force_isa((ops_isa)isa);
        if (ops_current_isa() != (ops_isa)isa) continue;
        const char *path = ops_q8_path();
        if (isa > OPS_ISA_SCALAR && !strcmp(path, "portable")) continue; /* tested already */
        paths++;
        fast += strcmp(path, "portable") != 0;
        for (int nt = 1; nt <= 2; nt++) {
            ops_set_threads(nt);
            printf("pass %s/%dt (isa %s)\n", path, nt, ops_isa_name((ops_isa)isa));
            g_case = 0;
            rng = 0x9e3779b9u; /* the same data on every pass */
            test_linear(path);
            test_conv(path);
        }
    }
    printf("int8 paths tested: %d (this CPU %s)\n", paths,
           ops_cpu_int8() ? "has int8 dot products" : "has no int8 dot products: portable path only");
    TU_CHECK(!ops_cpu_int8() || fast > 0, "the CPU has int8 dot products, no kernel for them ran");
    printf("worst rel. error vs the plain loop: %.3g; worst rel. RMS vs float: %.3g\n", g_worst,
           g_float_err);
    return tu_finish("test_ops_q8");
}
