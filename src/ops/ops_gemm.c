/*
 * ops_gemm.c - GEMM-based kernels: ops_gemm, ops_linear (with fused
 * bias / residual / activation epilogue), dense KxK convolution (im2col +
 * GEMM) and the 2x2 stride-2 transposed convolution (GEMM + scatter).
 * The GEMMs themselves are OpenBLAS (cblas_sgemm).
 */
#include "ops/ops_internal.h"

#include <cblas.h>
#include <string.h>

void ops_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta * C (BLAS may reject K = 0 with lda checks) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] =
                    beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
}

/* y[M,N] = act(y + b) row by row, threaded. */
static void bias_act_rows(float *y, int M, int N, const float *b, ops_act act)
{
    if (!b && act == OPS_ACT_NONE) return;
    const double per = act == OPS_ACT_GELU ? 16.0 : 1.0;
    const int nt = ops_threads_for((double)M * N * per);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int i = 0; i < M; i++) ops_k.bias_act(y + (size_t)i * N, b, N, act);
}

void ops_linear(const float *x, int M, int K, const float *w, const float *b,
                int N, float *y, const float *residual, ops_act act)
{
    ops_ensure_init();
    if (M <= 0 || N <= 0) return;
    float beta = 0.0f;
    if (residual) {
        if (residual != y) memcpy(y, residual, sizeof(float) * (size_t)M * N);
        beta = 1.0f;
    }
    ops_gemm(0, 1, M, N, K, 1.0f, x, K, w, K, beta, y, N);
    bias_act_rows(y, M, N, b, act);
}

size_t ops_conv2d_scratch(int H, int W, int Cin, int K, int stride, int pad)
{
    if (K == 1 && stride == 1 && pad == 0) return 0;
    const int Ho = (H + 2 * pad - K) / stride + 1;
    const int Wo = (W + 2 * pad - K) / stride + 1;
    if (Ho <= 0 || Wo <= 0) return 0;
    return (size_t)Ho * Wo * K * K * Cin;
}

void ops_conv2d(const float *x, int H, int W, int Cin, const float *w,
                const float *b, int Cout, int K, int stride, int pad,
                float *y, float *scratch, ops_act act)
{
    ops_ensure_init();
    if (K == 1 && stride == 1 && pad == 0) {
        ops_linear(x, H * W, Cin, w, b, Cout, y, NULL, act);
        return;
    }
    const int Ho = (H + 2 * pad - K) / stride + 1;
    const int Wo = (W + 2 * pad - K) / stride + 1;
    if (Ho <= 0 || Wo <= 0) return;
    const size_t KK = (size_t)K * K * Cin;
    const int nt = ops_threads_for((double)Ho * Wo * KK);
    /* im2col: row (oy, ox) holds the patch in (ky, kx, ci) order */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int oy = 0; oy < Ho; oy++) {
        for (int ox = 0; ox < Wo; ox++) {
            float *row = scratch + ((size_t)oy * Wo + ox) * KK;
            for (int ky = 0; ky < K; ky++) {
                const int iy = oy * stride - pad + ky;
                float *dst = row + (size_t)ky * K * Cin;
                if (iy < 0 || iy >= H) {
                    memset(dst, 0, sizeof(float) * (size_t)K * Cin);
                    continue;
                }
                for (int kx = 0; kx < K; kx++) {
                    const int ix = ox * stride - pad + kx;
                    if (ix < 0 || ix >= W)
                        memset(dst + (size_t)kx * Cin, 0, sizeof(float) * Cin);
                    else
                        memcpy(dst + (size_t)kx * Cin,
                               x + ((size_t)iy * W + ix) * Cin,
                               sizeof(float) * Cin);
                }
            }
        }
    }
    ops_linear(scratch, Ho * Wo, (int)KK, w, b, Cout, y, NULL, act);
}

void ops_conv_transpose2x2(const float *x, int H, int W, int Cin,
                           const float *w, const float *b, int Cout, float *y,
                           float *scratch)
{
    ops_ensure_init();
    const int HW = H * W, N4 = Cout * 4;
    if (HW <= 0 || Cout <= 0) return;
    /* scratch[HW, Cout*4] = x[HW, Cin] . w[Cin, (co, di, dj)] */
    ops_gemm(0, 0, HW, N4, Cin, 1.0f, x, Cin, w, N4, 0.0f, scratch, N4);
    const int nt = ops_threads_for((double)HW * N4);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int i = 0; i < H; i++) {
        for (int di = 0; di < 2; di++) {
            float *yr = y + (size_t)(2 * i + di) * (2 * W) * Cout;
            for (int j = 0; j < W; j++) {
                const float *s = scratch + ((size_t)i * W + j) * N4 + di * 2;
                float *y0 = yr + (size_t)(2 * j) * Cout;
                float *y1 = y0 + Cout;
                for (int co = 0; co < Cout; co++) {
                    const float bb = b ? b[co] : 0.0f;
                    y0[co] = s[co * 4] + bb;
                    y1[co] = s[co * 4 + 1] + bb;
                }
            }
        }
    }
}
