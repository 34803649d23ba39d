/*
 * ops_scalar.c - portable C row kernels (the reference table of ops_k).
 *
 * Single-threaded; the public wrappers split work across threads. These are
 * also what non-x86 builds and MOBILESAM_ISA=scalar run, and what the SIMD
 * tables are checked against.
 */
#include "ops/ops_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SQRT1_2F 0.70710678118654752440f

/* gelu(x) = 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2); the erfc form
 * keeps full relative precision in the negative tail. */
static void sc_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * erfcf(-v * SQRT1_2F);
    }
}

static void sc_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void sc_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static void sc_add_to(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void sc_add_bf16_to(float *out, const float *a, const uint16_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + ops_bf16_to_float(b[i]);
}

static void sc_bias_act(float *y, const float *b, int n, ops_act act)
{
    if (b)
        for (int i = 0; i < n; i++) y[i] += b[i];
    if (act == OPS_ACT_GELU) sc_gelu(y, (size_t)n);
    else if (act == OPS_ACT_RELU) sc_relu(y, (size_t)n);
}

static void sc_layernorm(const float *x, float *y, int C, const float *g,
                         const float *b, float eps)
{
    double s = 0.0;
    for (int i = 0; i < C; i++) s += x[i];
    const double mean = s / C;
    double v = 0.0;
    for (int i = 0; i < C; i++) {
        double t = x[i] - mean;
        v += t * t;
    }
    v /= C;
    const double rstd = 1.0 / sqrt(v + (double)eps);
    for (int i = 0; i < C; i++) {
        float t = (float)((x[i] - mean) * rstd);
        if (g) t *= g[i];
        if (b) t += b[i];
        y[i] = t;
    }
}

static void sc_cols_epilogue(float *t, int C, int ld, int n, const float *bias, int ln,
                             const float *g, const float *b, float eps, ops_act act)
{
    if (bias)
        for (int r = 0; r < C; r++)
            for (int j = 0; j < n; j++) t[(size_t)r * ld + j] += bias[r];
    if (ln) {
        enum { CH = 64 }; /* columns per pass: statistics on the stack */
        double s[CH], v[CH];
        for (int j0 = 0; j0 < n; j0 += CH) {
            const int m = n - j0 < CH ? n - j0 : CH;
            for (int j = 0; j < m; j++) s[j] = v[j] = 0.0;
            for (int r = 0; r < C; r++)
                for (int j = 0; j < m; j++) s[j] += t[(size_t)r * ld + j0 + j];
            for (int j = 0; j < m; j++) s[j] /= C;
            for (int r = 0; r < C; r++)
                for (int j = 0; j < m; j++) {
                    const double d = t[(size_t)r * ld + j0 + j] - s[j];
                    v[j] += d * d;
                }
            for (int j = 0; j < m; j++) v[j] = 1.0 / sqrt(v[j] / C + (double)eps);
            for (int r = 0; r < C; r++)
                for (int j = 0; j < m; j++) {
                    float *p = t + (size_t)r * ld + j0 + j;
                    float u = (float)((*p - s[j]) * v[j]);
                    if (g) u *= g[r];
                    if (b) u += b[r];
                    *p = u;
                }
        }
    }
    if (act != OPS_ACT_NONE)
        for (int r = 0; r < C; r++) sc_bias_act(t + (size_t)r * ld, NULL, n, act);
}

static void sc_proj_cols(const float *t, int C, int ld, int n, const float *h, int P,
                         float *out, int ldo)
{
    for (int p = 0; p < P; p++) {
        float *o = out + (size_t)p * ldo;
        for (int j = 0; j < n; j++) o[j] = 0.0f;
        for (int c = 0; c < C; c++) {
            const float hc = h[(size_t)p * C + c], *x = t + (size_t)c * ld;
            for (int j = 0; j < n; j++) o[j] += hc * x[j];
        }
    }
}

static void sc_gemm_small_m(const float *x, int ldx, int M, const float *w, int ldw, int N,
                            int K, int acc, float *y, int ldy)
{
    for (int m = 0; m < M && m < 8; m++)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)m * ldx, *wr = w + (size_t)n * ldw;
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += xr[k] * wr[k];
            float *o = y + (size_t)m * ldy + n;
            *o = acc ? *o + s : s;
        }
}

static void sc_gemm_bcast(const float *P, size_t ps, size_t pk, int nr, const float *Q,
                          size_t ldq, int ncols, int K, int acc, float *C, size_t ldc)
{
    for (int i = 0; i < nr; i++) {
        float *c = C + (size_t)i * ldc;
        if (!acc)
            for (int j = 0; j < ncols; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float p = P[(size_t)i * ps + (size_t)k * pk], *q = Q + (size_t)k * ldq;
            for (int j = 0; j < ncols; j++) c[j] += p * q[j];
        }
    }
}

static void sc_softmax(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: avoid NaN from inf - inf */
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        float e = expf(x[i] - mx);
        x[i] = e;
        s += e;
    }
    const float r = 1.0f / s;
    for (int i = 0; i < n; i++) x[i] *= r;
}

/* Column j of x: the same steps as sc_softmax on that column. */
static void sc_softmax_cols(float *x, int rows, int ld, int c0, int c1)
{
    for (int j = c0; j < c1; j++) {
        float mx = -INFINITY;
        for (int i = 0; i < rows; i++) mx = x[(size_t)i * ld + j] > mx ? x[(size_t)i * ld + j] : mx;
        if (mx == -INFINITY) mx = 0.0f;
        float s = 0.0f;
        for (int i = 0; i < rows; i++) {
            float e = expf(x[(size_t)i * ld + j] - mx);
            x[(size_t)i * ld + j] = e;
            s += e;
        }
        const float r = 1.0f / s;
        for (int i = 0; i < rows; i++) x[(size_t)i * ld + j] *= r;
    }
}

static void sc_dwconv3x3(const float *x, int H, int W, int C, const float *wt,
                         const float *b, int stride, float *y, int oy0, int oy1,
                         ops_act act)
{
    const int Wo = (W - 1) / stride + 1;
    for (int oy = oy0; oy < oy1; oy++) {
        float *yr = y + (size_t)oy * Wo * C;
        for (int ox = 0; ox < Wo; ox++) {
            float *yp = yr + (size_t)ox * C;
            for (int c = 0; c < C; c++) yp[c] = b ? b[c] : 0.0f;
            for (int ky = 0; ky < 3; ky++) {
                int iy = oy * stride - 1 + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < 3; kx++) {
                    int ix = ox * stride - 1 + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *xp = x + ((size_t)iy * W + ix) * C;
                    const float *wp = wt + (size_t)(ky * 3 + kx) * C;
                    for (int c = 0; c < C; c++) yp[c] += wp[c] * xp[c];
                }
            }
            if (act != OPS_ACT_NONE) sc_bias_act(yp, NULL, C, act);
        }
    }
}

static void sc_conv_small(const float *x, int H, int W, int Cin, const float *wt,
                          const float *b, int Cout, int K, int stride, int pad, float *y,
                          int oy0, int oy1, ops_act act)
{
    const int Wo = (W + 2 * pad - K) / stride + 1;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *yp = y + ((size_t)oy * Wo + ox) * Cout;
            for (int co = 0; co < Cout; co++) yp[co] = b ? b[co] : 0.0f;
            for (int ky = 0; ky < K; ky++) {
                const int iy = oy * stride - pad + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < K; kx++) {
                    const int ix = ox * stride - pad + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *xp = x + ((size_t)iy * W + ix) * Cin;
                    const float *wp = wt + (size_t)(ky * K + kx) * Cin * Cout;
                    for (int ci = 0; ci < Cin; ci++)
                        for (int co = 0; co < Cout; co++)
                            yp[co] += xp[ci] * wp[(size_t)ci * Cout + co];
                }
            }
            if (act != OPS_ACT_NONE) sc_bias_act(yp, NULL, Cout, act);
        }
}

static void sc_attention(const float *q, int ldq, const float *k, int ldk,
                         const float *v, int ldv, int nq, int Nk, int d,
                         float scale, const float *bias, float *out, int ldo,
                         float *scratch)
{
    for (int i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * ldq;
        float *s = scratch + (size_t)i * Nk;
        for (int j = 0; j < Nk; j++) {
            const float *kj = k + (size_t)j * ldk;
            float acc = 0.0f;
            for (int t = 0; t < d; t++) acc += qi[t] * kj[t];
            s[j] = acc * scale;
            if (bias) s[j] += bias[(size_t)i * Nk + j];
        }
        sc_softmax(s, Nk);
        float *oi = out + (size_t)i * ldo;
        for (int t = 0; t < d; t++) oi[t] = 0.0f;
        for (int j = 0; j < Nk; j++) {
            const float *vj = v + (size_t)j * ldv;
            const float p = s[j];
            for (int t = 0; t < d; t++) oi[t] += p * vj[t];
        }
    }
}

/* Kept free of FMA contraction so that every ISA gives identical bits. */
OPS_NO_CONTRACT
static void sc_resize_vblend(const float *t0, const float *t1, float h0, float h1,
                             float *dst, int n)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    for (int i = 0; i < n; i++) dst[i] = t0[i] * h0 + t1[i] * h1;
}

static void sc_interleave2(const float *a, const float *b, int n, float *y)
{
    for (int j = 0; j < n; j++) {
        y[2 * j] = a[j];
        y[2 * j + 1] = b[j];
    }
}

static void sc_transpose(const float *src, size_t lds, int rows, int cols, float *dst,
                         size_t ldd)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

OPS_NO_CONTRACT
static void sc_interp2(float *dst, const float *src, int sn, const int *i0, const int *i1,
                       const float *w0, const float *w1, int n)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    (void)sn;
    for (int x = 0; x < n; x++) {
        const float a = src[i0[x]] * w0[x], b = src[i1[x]] * w1[x];
        dst[x] = a + b;
    }
}

const ops_kernels ops_kernels_scalar = {
    .gelu = sc_gelu,
    .relu = sc_relu,
    .add = sc_add,
    .add_to = sc_add_to,
    .add_bf16_to = sc_add_bf16_to,
    .bias_act = sc_bias_act,
    .layernorm = sc_layernorm,
    .cols_epilogue = sc_cols_epilogue,
    .proj_cols = sc_proj_cols,
    .gemm_small_m = sc_gemm_small_m,
    .gemm_bcast = sc_gemm_bcast,
    .softmax = sc_softmax,
    .softmax_cols = sc_softmax_cols,
    .dwconv3x3 = sc_dwconv3x3,
    .conv_small = sc_conv_small,
    .attention = sc_attention,
    .resize_vblend = sc_resize_vblend,
    .interp2 = sc_interp2,
    .transpose = sc_transpose,
    .interleave2 = sc_interleave2,
};
