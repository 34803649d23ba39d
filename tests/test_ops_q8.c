/*
 * test_ops_q8.c - the int8 products (ops_linear_q8, ops_conv2d_q8) against
 * a plain loop that quantizes and rounds the same way (weights per output
 * channel, activations per row, exact integer sums, the same float
 * epilogue), on awkward shapes, on every kernel path the CPU has (portable,
 * AVX-VNNI, AVX512-VNNI, AArch64 sdot), with 1 and 2 threads; the paths must
 * agree bit for bit. Also checks that the quantized product stays near the float one.
 * The bfloat16 form of the same functions (ops_q8w_pack_bf16) is checked
 * the same way on its paths (portable, AVX512-BF16) against a plain loop
 * of the bf16-rounded products summed in double: within a few units of
 * float32 of the sum of the products' magnitudes (the hardware's order of
 * the float sums is its own), and bit for bit across thread counts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops_ref.h"
#include "testutil.h"

static uint32_t rng = 0x9e3779b9u;

static float *fbuf(size_t n, float lo, float hi) { return tu_fbuf(n, lo, hi, &rng); }

static double act_d(double x, ops_act act) { return ref_act(x, act); }

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

static int g_bf16; /* the pass checks the bfloat16 form */
static double *g_mag; /* ref_bf16: sum of |terms| of each output */

static double bf_d(float v)
{
    const uint32_t u = (uint32_t)ops_bf16_round(v) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The bf16 plain loop: y = act(sum_k bf(x) bf(w) + b (+ res)) in double;
 * g_mag[m, n] = the sum of the terms' magnitudes. Rounding by hand, not
 * through ops_bf16_round's own arithmetic only: it is checked first. */
static void ref_bf16(const float *x, int M, int K, const float *w, const float *b, int N,
                     const float *res, ops_act act, double *R)
{
    free(g_mag);
    g_mag = malloc(sizeof(double) * M * N);
    double *xb = malloc(sizeof(double) * K), *wb = malloc(sizeof(double) * (size_t)N * K);
    for (size_t i = 0; i < (size_t)N * K; i++) wb[i] = bf_d(w[i]);
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) xb[k] = bf_d(x[(size_t)m * K + k]);
        for (int n = 0; n < N; n++) {
            double acc = b ? b[n] : 0.0, mag = fabs(acc);
            for (int k = 0; k < K; k++) {
                const double t = xb[k] * wb[(size_t)n * K + k];
                acc += t;
                mag += fabs(t);
            }
            if (res) {
                acc += res[(size_t)m * N + n];
                mag += fabs(res[(size_t)m * N + n]);
            }
            R[(size_t)m * N + n] = act_d(acc, act);
            g_mag[(size_t)m * N + n] = mag;
        }
    }
    free(xb);
    free(wb);
}

/* to nearest even on a few known values, subnormals to zero */
static void test_bf16_round(void)
{
    static const struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* tie, even below */
        {0x3f818000u, 0x3f82}, /* tie, odd below: up */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0xbf807fffu, 0xbf80}, /* below the tie, negative */
        {0x7f7fffffu, 0x7f80}, /* largest float rounds to inf */
        {0x00400000u, 0x0000}, /* subnormal */
        {0x80400000u, 0x8000}, /* negative subnormal */
        {0x7f800000u, 0x7f80}, /* inf */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float f;
        memcpy(&f, &cases[i].in, 4);
        TU_CHECK(ops_bf16_round(f) == cases[i].out, "bf16 round %#x: %#x, expected %#x",
                 cases[i].in, ops_bf16_round(f), cases[i].out);
    }
    const uint32_t qnan = 0x7fc00001u;
    float f;
    memcpy(&f, &qnan, 4);
    TU_CHECK((ops_bf16_round(f) & 0x7fc0) == 0x7fc0, "bf16 round of a NaN: %#x", ops_bf16_round(f));
}

/* |got - ref| <= tol * max(1, |ref|); in bf16, max(1, the sum of the
 * terms' magnitudes) */
static double worst_rel(const float *got, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double m = g_bf16 ? g_mag[i] : fabs(ref[i]);
        const double s = m > 1 ? m : 1;
        const double e = fabs(got[i] - ref[i]) / s;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static double g_worst, g_float_err;

/* the form under test: its packing and its plain loop */
static ops_q8w *pack(const float *w, const float *b, int N, int K)
{
    return g_bf16 ? ops_q8w_pack_bf16(w, b, N, K) : ops_q8w_pack(w, b, N, K);
}

static void ref(const float *x, int M, int K, const float *w, const float *b, int N,
                const float *res, ops_act act, double *R)
{
    (g_bf16 ? ref_bf16 : ref_q8)(x, M, K, w, b, N, res, act, R);
}

/* int8: the same integers and the same float epilogue; bf16: float32
 * sums in the hardware's order */
#define TOL (g_bf16 ? 1e-6 : 2e-6)

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
            ref(x, M, K, w, b, N, res ? r : NULL, (ops_act)act, R);
            if (res == 2) { /* aliased: in place */
                memcpy(y, r, sizeof(float) * M * N);
                resid = y;
            }
            ops_q8w *q = pack(w, b, N, K);
            TU_CHECK(q != NULL, "pack %dx%d", N, K);
            ops_linear_q8(x, M, q, y, resid, (ops_act)act);
            char what[96];
            snprintf(what, sizeof what, "linear %dx%dx%d bias%d res%d act%d", M, K, N, bias, res,
                     act);
            const double e = worst_rel(y, R, (size_t)M * N);
            if (e > g_worst) g_worst = e;
            TU_CHECK(e <= TOL, "%s %s: rel err %.3g vs the plain loop", path, what, e);
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
                TU_CHECK(rel < (g_bf16 ? 0.01 : 0.02), "%s %s: %.3g rel. RMS from the float product",
                         path, what, rel);
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
        ref(col, Ho * Wo, KK, w, b, Cout, NULL, OPS_ACT_RELU, R);
        ops_q8w *q = pack(w, b, Cout, KK);
        ops_conv2d_q8(x, H, W, Cin, q, K, st, pad, y, OPS_ACT_RELU);
        char what[64];
        snprintf(what, sizeof what, "conv %dx%dx%d->%d k%d s%d", H, W, Cin, Cout, K, st);
        const double e = worst_rel(y, R, (size_t)Ho * Wo * Cout);
        if (e > g_worst) g_worst = e;
        TU_CHECK(e <= TOL, "%s %s: rel err %.3g vs the plain loop", path, what, e);
        same_bits(y, (size_t)Ho * Wo * Cout, path, what);
        ops_q8w_free(q);
        free(x); free(w); free(b); free(y); free(col); free(R);
    }
}

/* ops_conv_transpose2x2_q8: the int8 product of the packed (4 Cout, Cin)
 * weights (the plain loop above), then the float epilogue of
 * ops_conv_transpose2x2 in double: bias, LayerNorm over the pixel's Cout
 * values, act, projection, into planar sub-pixel planes. */
static void test_convT(const char *path)
{
    /* H, W, Cin, Cout: K and N tails; the last one takes several row bands */
    static const int sz[][4] = {{3, 5, 17, 7}, {16, 16, 32, 16}, {2, 7, 1, 5}, {40, 64, 64, 32}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int v = 0; v < 4; v++) { /* 0: bias; 1: bias, LN, GELU; 2: GELU, projection;
                                         3: as 2 from a planar (CHW) x */
            const int H = sz[s][0], W = sz[s][1], Cin = sz[s][2], Cout = sz[s][3];
            const int ln = v == 1, P = v >= 2 ? 3 : 0, NR = 4 * Cout;
            const ops_act act = v ? OPS_ACT_GELU : OPS_ACT_NONE;
            const size_t npix = (size_t)4 * H * W, nout = npix * (P ? P : Cout);
            float *x = fbuf((size_t)H * W * Cin, -1, 1);
            float *w = fbuf((size_t)Cin * Cout * 4, -0.5f, 0.5f);
            float *wp = malloc(sizeof(float) * (size_t)Cin * NR);
            float *b = v < 2 ? fbuf(Cout, -1, 1) : NULL;
            float *g = ln ? fbuf(Cout, 0.5f, 1.5f) : NULL, *be = ln ? fbuf(Cout, -1, 1) : NULL;
            float *pr = P ? fbuf((size_t)P * Cout, -1, 1) : NULL;
            float *y = fbuf(nout, 0, 1);
            double *Q = malloc(sizeof(double) * H * W * NR), *R = malloc(sizeof(double) * nout);
            double *r = malloc(sizeof(double) * Cout);
            ops_pack_conv_transpose2x2(w, Cin, Cout, wp);
            ref(x, H * W, Cin, wp, NULL, NR, NULL, OPS_ACT_NONE, Q);
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    for (int k = 0; k < 4; k++) { /* packed rows: (di, dj, Cout) */
                        const int di = k / 2, dj = k % 2;
                        const size_t pix = (size_t)(2 * i + di) * 2 * W + 2 * j + dj;
                        for (int co = 0; co < Cout; co++)
                            r[co] = Q[((size_t)i * W + j) * NR + (size_t)k * Cout + co] +
                                    (b ? b[co] : 0);
                        ref_convt_pixel(r, Cout, g, be, act, pr, P, R, npix, pix);
                    }
            ops_q8w *q = pack(wp, NULL, NR, Cin);
            TU_CHECK(q != NULL, "pack %dx%d", NR, Cin);
            float *xp = malloc(sizeof(float) * (size_t)H * W * Cin);
            for (int p = 0; p < H * W; p++)
                for (int c = 0; c < Cin; c++) xp[(size_t)c * H * W + p] = x[(size_t)p * Cin + c];
            ops_conv_transpose2x2_q8(v == 3 ? xp : x, v == 3, H, W, Cin, q, b, Cout, g, be, 1e-6f,
                                     act, pr, P, y);
            free(xp);
            char what[64];
            snprintf(what, sizeof what, "convT %dx%dx%d->%d v%d", H, W, Cin, Cout, v);
            /* in bf16, relative to the value: g_mag is the product's */
            const int bf = g_bf16;
            g_bf16 = 0;
            const double e = worst_rel(y, R, nout);
            g_bf16 = bf;
            TU_CHECK(e <= (v || bf ? 5e-5 : 2e-6), "%s %s: rel err %.3g vs the plain loop", path,
                     what, e);
            if (!v) same_bits(y, nout, path, what); /* GELU is each ISA's own */
            ops_q8w_free(q);
            free(x); free(w); free(wp); free(b); free(g); free(be); free(pr); free(y); free(Q);
            free(R); free(r);
        }
}

/* Every kernel path of the form under test (path_of names the one the
 * forced ISA selects; a portable path past the scalar ISA is the one tested
 * already), with 1 and 2 threads, on the same data. Outputs are compared
 * bit for bit with the first pass's; with fresh_per_path, only across a
 * path's thread counts. Returns the paths tested; *fast counts those that
 * are not the portable loop. */
/* bf16 weights made from B's rows piece by piece (ops_q8w_bf16_rows_t,
 * this path's pack_pair) give the bytes of packing B^T at once
 * (ops_q8w_pack_bf16: ops_bf16_round, tested against the plain loop by
 * test_linear): compared through the products, bit for bit. Shapes: the
 * decoder's (4096 image tokens in pieces of 256, 256 channels, 56 rows),
 * and odd K, N tails, K = 2. */
static void test_bf16_rows_t(const char *path)
{
    static const int sz[][4] = {{56, 4096, 256, 256}, {5, 37, 37, 6}, {1, 2, 16, 2}, {9, 64, 40, 10}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int M = sz[s][0], K = sz[s][1], N = sz[s][2], piece = sz[s][3];
        float *x = fbuf((size_t)M * K, -1, 1.5f), *B = fbuf((size_t)K * N, -2, 2);
        float *Bt = malloc(sizeof(float) * K * N);
        float *y0 = malloc(sizeof(float) * M * N), *y1 = malloc(sizeof(float) * M * N);
        B[3] = 1e-39f; /* a subnormal: zero in bf16 on both */
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) Bt[(size_t)n * K + k] = B[(size_t)k * N + n];
        ops_q8w *ref = ops_q8w_pack_bf16(Bt, NULL, N, K), *q = ops_q8w_new_bf16(N, K);
        TU_CHECK(ref && q, "bf16 rows_t %dx%d: out of memory", K, N);
        if (ref && q) {
            for (int k0 = 0; k0 < K; k0 += piece)
                ops_q8w_bf16_rows_t(q, B + (size_t)k0 * N, (size_t)N, k0, K - k0 < piece ? K - k0 : piece);
            ops_linear_q8(x, M, ref, y0, NULL, OPS_ACT_NONE);
            ops_linear_q8(x, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0,
                     "%s bf16 rows_t %dx%dx%d (pieces of %d): differs from packing B^T", path, M,
                     K, N, piece);
        }
        ops_q8w_free(ref);
        ops_q8w_free(q);
        free(x); free(B); free(Bt); free(y0); free(y1);
    }
}

/* Activations quantized ahead (ops_q8x, made in pieces by
 * ops_layernorm_add_q8x) give the bits ops_linear_q8 gives on
 * ops_layernorm_add's y + p: products on row ranges (tails of 8 and 64
 * rows), with residual and activation; y itself is ops_layernorm_add's; a
 * form mismatch writes nothing. */
static void test_q8x(const char *path)
{
    static const int sz[][3] = {{4096, 256, 64}, {37, 67, 17}, {130, 40, 50}, {9, 3, 5}};
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
        const int M = sz[s][0], K = sz[s][1], N = sz[s][2];
        float *x = fbuf((size_t)M * K, -1, 1.5f), *w = fbuf((size_t)N * K, -0.5f, 0.5f);
        float *b = fbuf(N, -1, 1), *r = fbuf((size_t)M * N, -2, 2), *pe = fbuf((size_t)M * K, -1, 1);
        float *g = fbuf(K, 0.5f, 1.5f), *be = fbuf(K, -0.2f, 0.2f);
        float *y0 = malloc(sizeof(float) * M * N), *y1 = malloc(sizeof(float) * M * N);
        float *ln0 = malloc(sizeof(float) * M * K), *ln1 = malloc(sizeof(float) * M * K);
        float *lp0 = malloc(sizeof(float) * M * K);
        ops_q8w *q = pack(w, b, N, K);
        ops_q8x *xq = ops_q8x_new(M, K, g_bf16);
        TU_CHECK(q && xq, "q8x %dx%d: out of memory", M, K);
        if (q && xq) {
            /* LayerNorm + p, quantized in pieces of 29 rows */
            memcpy(ln1, x, sizeof(float) * M * K);
            ops_layernorm_add(x, ln0, M, K, g, be, 1e-5f, pe, NULL, lp0);
            for (int r0 = 0; r0 < M; r0 += 29) {
                const size_t o = (size_t)r0 * K;
                ops_layernorm_add_q8x(ln1 + o, ln1 + o, M - r0 < 29 ? M - r0 : 29, K, g, be, 1e-5f,
                                      pe + o, NULL, xq, r0);
            }
            TU_CHECK(memcmp(ln0, ln1, sizeof(float) * M * K) == 0, "%s q8x LayerNorm %dx%d: y differs", path, M, K);
            const int a = M > 70 ? 3 : 0, n = M > 70 ? M - 70 : M; /* a row range */
            ops_linear_q8(lp0 + (size_t)a * K, n, q, y0, r, OPS_ACT_RELU);
            ops_linear_q8x(xq, a, n, q, y1, r, OPS_ACT_RELU);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * n * N) == 0,
                     "%s q8x %dx%dx%d rows [%d, %d): differs from ops_linear_q8 on y + p", path, M,
                     K, N, a, a + n);
            ops_linear_q8(lp0, M, q, y0, NULL, OPS_ACT_NONE);
            ops_linear_q8x(xq, 0, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0,
                     "%s q8x LayerNorm %dx%d: quantized y + p differs", path, M, K);
            /* p in bf16: the bits of quantizing ops_layernorm_add's y + pb */
            uint16_t *pb = malloc(sizeof(uint16_t) * M * K);
            for (size_t i = 0; i < (size_t)M * K; i++) pb[i] = ops_bf16_round(pe[i]);
            ops_layernorm_add(x, ln0, M, K, g, be, 1e-5f, NULL, pb, lp0);
            memcpy(ln1, x, sizeof(float) * M * K);
            for (int r0 = 0; r0 < M; r0 += 29) {
                const size_t o = (size_t)r0 * K;
                ops_layernorm_add_q8x(ln1 + o, ln1 + o, M - r0 < 29 ? M - r0 : 29, K, g, be, 1e-5f,
                                      NULL, pb + o, xq, r0);
            }
            TU_CHECK(memcmp(ln0, ln1, sizeof(float) * M * K) == 0, "%s q8x bf16 p LayerNorm %dx%d: y differs", path, M, K);
            ops_linear_q8(lp0, M, q, y0, NULL, OPS_ACT_NONE);
            ops_linear_q8x(xq, 0, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0,
                     "%s q8x LayerNorm %dx%d: quantized y + pb differs", path, M, K);
            free(pb);
            /* the other form: nothing written */
            ops_q8x *other = ops_q8x_new(M, K, !g_bf16);
            memcpy(y1, y0, sizeof(float) * M * N);
            ops_linear_q8x(other, 0, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0, "%s q8x: a form mismatch wrote y", path);
            ops_q8x_free(other);
        }
        ops_q8w_free(q);
        ops_q8x_free(xq);
        free(x); free(w); free(b); free(r); free(pe); free(g); free(be);
        free(y0); free(y1); free(ln0); free(ln1); free(lp0);
    }
}

static int run_paths(const char *label, const char *(*path_of)(void), int fresh_per_path,
                     int *fast)
{
    int paths = 0;
    *fast = 0;
    for (int isa = OPS_ISA_SCALAR; isa <= OPS_ISA_NEON; isa++) {
        ops_force_isa((ops_isa)isa);
        if (ops_current_isa() != (ops_isa)isa) continue;
        const char *path = path_of();
        if (isa > OPS_ISA_SCALAR && !strcmp(path, "portable")) continue; /* tested already */
        paths++;
        *fast += strcmp(path, "portable") != 0;
        if (fresh_per_path)
            for (int i = 0; i < 64; i++) {
                free(g_first[i]);
                g_first[i] = NULL;
            }
        for (int nt = 1; nt <= 2; nt++) {
            ops_set_threads(nt);
            printf("pass %s%s/%dt (isa %s)\n", label, path, nt, ops_isa_name((ops_isa)isa));
            g_case = 0;
            rng = 0x9e3779b9u; /* the same data on every pass */
            test_linear(path);
            test_conv(path);
            test_convT(path);
            if (g_bf16) test_bf16_rows_t(path);
            test_q8x(path);
        }
    }
    return paths;
}

/* ---- attention in bfloat16 --------------------------------------------------
 * ops_attention_bf16 against a plain loop in double: scores from the
 * bf16-rounded q, k (times scale, plus bias), the softmax, the
 * probabilities rounded to bf16 as the kernel rounds its float ones, times
 * the bf16-rounded v. Within 1e-5 of the sum of the terms' magnitudes;
 * where a probability lies so near a bf16 rounding boundary that the
 * kernel's float value may round the other way, that term may also be off
 * by one bf16 unit (2^-7 of it). A dropped term, or P v in float32
 * instead of bf16, is off by far more. */
static double g_att_worst;

static void check_attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v,
                                 int ldv, int Nq, int Nk, int d, float scale, const float *bias,
                                 const float *out, int ldo, const char *what)
{
    double *p = malloc(sizeof(double) * Nk), *pb = malloc(sizeof(double) * Nk);
    int *amb = malloc(sizeof(int) * Nk);
    for (int i = 0; i < Nq; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < Nk; j++) {
            double acc = 0;
            for (int t = 0; t < d; t++) acc += bf_d(q[(size_t)i * ldq + t]) * bf_d(k[(size_t)j * ldk + t]);
            p[j] = acc * scale + (bias ? bias[(size_t)i * Nk + j] : 0.0);
            mx = p[j] > mx ? p[j] : mx;
        }
        for (int j = 0; j < Nk; j++) sum += (p[j] = exp(p[j] - mx));
        for (int j = 0; j < Nk; j++) {
            p[j] /= sum;
            pb[j] = bf_d((float)p[j]);
            amb[j] = bf_d((float)(p[j] * (1 + 3e-5))) != bf_d((float)(p[j] * (1 - 3e-5)));
        }
        for (int c = 0; c < d; c++) {
            double ref = 0, mag = 0, slack = 0;
            for (int j = 0; j < Nk; j++) {
                const double vb = bf_d(v[(size_t)j * ldv + c]);
                ref += pb[j] * vb;
                mag += fabs(pb[j] * vb);
                if (amb[j]) slack += ldexp(p[j] * fabs(vb), -7);
            }
            const double got = out[(size_t)i * ldo + c];
            const double err = fabs(got - ref) - slack, rel = err / (mag > 1e-30 ? mag : 1e-30);
            if (!(rel <= g_att_worst)) g_att_worst = rel > 0 ? rel : 0;
            TU_CHECK(rel <= 1e-5, "%s: out[%d][%d] = %.9g, plain loop %.9g (magnitude %.3g)", what,
                     i, c, got, ref, mag);
            if (!(rel <= 1e-5)) goto done;
        }
    }
done:
    free(p);
    free(pb);
    free(amb);
}

static void test_attention_bf16_shapes(void)
{
    /* Nq, Nk, d, bias, extra stride: the window shapes (49, 196 keys of
     * 32), odd and partial sizes, and shapes past the SIMD kernel's limits */
    static const int shapes[][5] = {{49, 49, 32, 1, 0},  {196, 196, 32, 1, 3}, {13, 7, 5, 0, 1},
                                    {9, 33, 31, 1, 0},   {17, 1, 32, 0, 0},    {3, 300, 32, 1, 0},
                                    {5, 17, 40, 0, 2},   {1, 256, 32, 1, 0},   {8, 64, 16, 1, 5}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int Nq = shapes[c][0], Nk = shapes[c][1], d = shapes[c][2];
        const int ld = d + shapes[c][4];
        float *q = fbuf((size_t)Nq * ld, -2, 2), *k = fbuf((size_t)Nk * ld, -2, 2);
        float *v = fbuf((size_t)Nk * ld, -3, 3);
        float *bias = shapes[c][3] ? fbuf((size_t)Nq * Nk, -1.5f, 1.5f) : NULL;
        float *out = fbuf((size_t)Nq * ld, 0, 0), *scratch = fbuf((size_t)Nq * Nk, 0, 0);
        char what[96];
        snprintf(what, sizeof what, "attention bf16 %s %dx%dx%d", ops_attention_bf16_path(Nk, d),
                 Nq, Nk, d);
        ops_attention_bf16(q, ld, k, ld, v, ld, Nq, Nk, d, 1.0f / sqrtf((float)d), bias, out, ld,
                           scratch);
        check_attention_bf16(q, ld, k, ld, v, ld, Nq, Nk, d, 1.0f / sqrtf((float)d), bias, out, ld,
                             what);
        free(q), free(k), free(v), free(bias), free(out), free(scratch);
    }
    /* no keys: NaN rows, as ops_attention */
    float one = 1.0f, o[2] = {0, 0};
    ops_attention_bf16(&one, 1, &one, 1, &one, 1, 2, 0, 1, 1.0f, NULL, o, 1, NULL);
    TU_CHECK(isnan(o[0]) && isnan(o[1]), "attention bf16 over no keys: %g %g, expected NaN", o[0],
             o[1]);
}

/* ops_window_attention with bf16 = 1: each window (padded positions taking
 * pad_qkv) through the same plain loop. A 15 x 10 grid in 7 x 7 windows
 * (partial windows on both edges), 3 heads of 32 with a bias. */
static void test_window_attention_bf16(void)
{
    const int H = 15, W = 10, heads = 3, d = 32, ws = 7, N = ws * ws, ld = heads * 3 * d;
    float *qkv = fbuf((size_t)H * W * ld, -2, 2), *pad = fbuf((size_t)ld, -1, 1);
    float *bias = fbuf((size_t)heads * N * N, -1, 1), *out = fbuf((size_t)H * W * heads * d, 0, 0);
    float *win = fbuf((size_t)N * ld, 0, 0), *wout = fbuf((size_t)N * heads * d, 0, 0);
    ops_window_attention(qkv, H, W, heads, d, ws, 0.25f, pad, bias, out, 1);
    for (int wy = 0; wy < (H + ws - 1) / ws; wy++)
        for (int wx = 0; wx < (W + ws - 1) / ws; wx++) {
            for (int n = 0; n < N; n++) {
                const int y = wy * ws + n / ws, x = wx * ws + n % ws;
                memcpy(win + (size_t)n * ld, y < H && x < W ? qkv + ((size_t)y * W + x) * ld : pad,
                       sizeof(float) * ld);
            }
            /* the window's outputs, padded positions as zeros (not checked
             * against anything: the plain loop below takes only real rows) */
            memset(wout, 0, sizeof(float) * N * heads * d);
            int rows[64], nr = 0;
            for (int n = 0; n < N; n++) {
                const int y = wy * ws + n / ws, x = wx * ws + n % ws;
                if (y < H && x < W) {
                    memcpy(wout + (size_t)nr * heads * d, out + ((size_t)y * W + x) * heads * d,
                           sizeof(float) * heads * d);
                    rows[nr++] = n;
                }
            }
            for (int h = 0; h < heads; h++)
                for (int r = 0; r < nr; r++) {
                    char what[64];
                    snprintf(what, sizeof what, "window attention bf16 (%d,%d) head %d", wy, wx, h);
                    check_attention_bf16(win + (size_t)rows[r] * ld + h * 3 * d, ld,
                                         win + h * 3 * d + d, ld, win + h * 3 * d + 2 * d, ld, 1,
                                         N, d, 0.25f, bias + (size_t)h * N * N + (size_t)rows[r] * N,
                                         wout + (size_t)r * heads * d + h * d, heads * d, what);
                }
        }
    free(qkv), free(pad), free(bias), free(out), free(win), free(wout);
}

static void test_attention_bf16(void)
{
    int fast = 0;
    for (int isa = OPS_ISA_SCALAR; isa <= OPS_ISA_NEON; isa++) {
        ops_force_isa((ops_isa)isa);
        if (ops_current_isa() != (ops_isa)isa) continue;
        const char *path = ops_attention_bf16_path(49, 32);
        if (isa > OPS_ISA_SCALAR && !strcmp(path, "portable")) continue; /* tested already */
        fast += strcmp(path, "portable") != 0;
        printf("pass attention bf16 %s (isa %s)\n", path, ops_isa_name((ops_isa)isa));
        rng = 0x2545f491u;
        for (int nt = 1; nt <= 2; nt++) {
            ops_set_threads(nt);
            test_attention_bf16_shapes();
            test_window_attention_bf16();
        }
    }
    TU_CHECK(!ops_cpu_bf16() || fast > 0, "the CPU has bf16 dot products, no attention kernel for "
                                          "them ran");
    printf("attention bf16: worst error vs the plain loop: %.3g of the terms' magnitude\n",
           g_att_worst);
}

/* ops_q8w_reserve_bf16 then ops_q8w_bf16_rows_t over all K gives what
 * packing B^T without bias gives: into NULL, into a bf16 form of the same
 * shape (kept: the same pointer, its old weights and bias leaving no
 * trace), of another K, and into the int8 form of the same shape (both
 * replaced: the products show the new shape and form). Compared through the products, bit for bit. */
static void test_reserve_bf16(void)
{
    static const int sz[][2] = {{57, 256}, {57, 256}, {49, 256}, {49, 256}};
    const int M = 37;
    float *wb = fbuf((size_t)256 * 57, -1, 1), *bb = fbuf(256, -1, 1);
    ops_q8w *q = NULL;
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        const int K = sz[i][0], N = sz[i][1];
        if (i == 1) { /* a bf16 form with other weights and a bias */
            ops_q8w_free(q);
            q = ops_q8w_pack_bf16(wb, bb, N, K);
        }
        if (i == 3) { /* the int8 form of the same shape */
            ops_q8w_free(q);
            q = ops_q8w_pack(wb, bb, N, 49);
        }
        const ops_q8w *before = q;
        float *x = fbuf((size_t)M * K, -1, 1.5f), *B = fbuf((size_t)K * N, -2, 2);
        float *Bt = malloc(sizeof(float) * K * N);
        float *y0 = malloc(sizeof(float) * M * N), *y1 = malloc(sizeof(float) * M * N);
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) Bt[(size_t)n * K + k] = B[(size_t)k * N + n];
        ops_q8w *ref = ops_q8w_pack_bf16(Bt, NULL, N, K);
        TU_CHECK(ref && ops_q8w_reserve_bf16(&q, N, K) == 0, "reserve %dx%d: out of memory", N, K);
        if (ref && q) {
            /* (a replacement may land at the freed address: only keeping is checked) */
            if (i == 1) TU_CHECK(q == before, "reserve %zu: the same shape was not kept", i);
            TU_CHECK(ops_q8w_is_bf16(q), "reserve %zu: not bf16", i);
            ops_q8w_bf16_rows_t(q, B, (size_t)N, 0, K);
            ops_linear_q8(x, M, ref, y0, NULL, OPS_ACT_NONE);
            ops_linear_q8(x, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0,
                     "reserve %zu (%dx%d): differs from packing B^T", i, N, K);
        }
        ops_q8w_free(ref);
        free(x); free(B); free(Bt); free(y0); free(y1);
    }
    ops_q8w_free(q);
    free(wb);
    free(bb);
}

/* ops_q8w_repack gives what a fresh pack gives: into a pack of the same
 * shape and form (its memory reused; the old weights leave no trace), of
 * another shape, of the other form, and into NULL. Compared through the
 * products, bit for bit. */
static void test_repack(void)
{
    static const int sz[][2] = {{56, 256}, {56, 256}, {64, 256}, {13, 37}, {64, 256}, {64, 256}};
    const int M = 37;
    ops_q8w *q = NULL;
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        const int N = sz[i][0], K = sz[i][1], bf16 = i == 4;
        float *x = fbuf((size_t)M * K, -1, 1.5f), *w = fbuf((size_t)N * K, -0.5f, 0.5f);
        float *b = i == 2 ? NULL : fbuf(N, -1, 1);
        float *y0 = malloc(sizeof(float) * M * N), *y1 = malloc(sizeof(float) * M * N);
        ops_q8w *fresh = bf16 ? ops_q8w_pack_bf16(w, b, N, K) : ops_q8w_pack(w, b, N, K);
        TU_CHECK(fresh && ops_q8w_repack(&q, w, b, N, K, bf16) == 0, "repack %dx%d: out of memory",
                 N, K);
        if (fresh && q) {
            TU_CHECK(ops_q8w_is_bf16(q) == bf16 && ops_q8w_bytes(q) == ops_q8w_bytes(fresh),
                     "repack %zu: form or size differs", i);
            ops_linear_q8(x, M, fresh, y0, NULL, OPS_ACT_NONE);
            ops_linear_q8(x, M, q, y1, NULL, OPS_ACT_NONE);
            TU_CHECK(memcmp(y0, y1, sizeof(float) * M * N) == 0,
                     "repack %zu (%dx%d%s): differs from a fresh pack", i, N, K,
                     bf16 ? " bf16" : "");
        }
        ops_q8w_free(fresh);
        free(x); free(w); free(b); free(y0); free(y1);
    }
    ops_q8w_free(q);
}

int main(void)
{
    ops_init();
    int fast;
    const int paths = run_paths("", ops_q8_path, 0, &fast);
    printf("int8 paths tested: %d (this CPU %s)\n", paths,
           ops_cpu_int8() ? "has int8 dot products" : "has no int8 dot products: portable path only");
    TU_CHECK(!ops_cpu_int8() || fast > 0, "the CPU has int8 dot products, no kernel for them ran");
    printf("worst rel. error vs the plain loop: %.3g; worst rel. RMS vs float: %.3g\n", g_worst,
           g_float_err);

    /* bfloat16: each path bit for bit across thread counts only */
    test_bf16_round();
    g_bf16 = 1;
    g_worst = g_float_err = 0;
    int bfast;
    const int bpaths = run_paths("bf16 ", ops_bf16_path, 1, &bfast);
    printf("bf16 paths tested: %d (this CPU %s)\n", bpaths,
           ops_cpu_bf16() ? "has bf16 dot products" : "has no bf16 dot products: portable path only");
    TU_CHECK(!ops_cpu_bf16() || bfast > 0, "the CPU has bf16 dot products, no kernel for them ran");
    printf("bf16: worst error vs the plain loop: %.3g of the terms' magnitude; worst rel. RMS vs "
           "float: %.3g\n",
           g_worst, g_float_err);
    test_attention_bf16();
    test_repack();
    test_reserve_bf16();
    return tu_finish("test_ops_q8");
}
