/*
 * ops_gemm.c - GEMM-based kernels: ops_gemm, ops_linear (with fused
 * bias / residual / activation epilogue), dense KxK convolution (banded
 * im2col + GEMM) and the 2x2 stride-2 transposed convolution (GEMM +
 * scatter).
 *
 * Threading: OpenBLAS runs single-threaded inside whichever thread calls it
 * (ops_init sets it so), and the parallelism is ours: each OpenMP thread
 * multiplies its own block of rows and applies the epilogue to it while it
 * is still in cache. One thread system only, so OpenBLAS's workers and
 * ours never compete for the cores, and every output element is computed
 * the same way whatever the thread count.
 */
#include "ops/ops_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 512             /* rows per GEMM + epilogue block, ... */
#define ROW_BLOCK_SMALL_NK 1024   /* ... and when N * K is small (below) */
#define SMALL_NK (1 << 17)        /* N * K of a "small" product: OpenBLAS packs all
                                   * of B per call, which ROW_BLOCK rows do not repay */
#define COL_BLOCK 512             /* columns per block when rows are few */
#define COL_BLOCK_SMALL_M 64      /* ... and for a linear layer on at most SMALL_M
                                   * rows (the BLAS-free path: no packing to repay,
                                   * so small blocks let every thread read its own
                                   * part of w) */
#define SMALL_GEMM (1 << 18)      /* multiply-adds below which one call is best */
#define SMALL_M 32                /* linear layers on so few rows skip the BLAS */
#define IM2COL_FLOATS (192 * 1024) /* per-thread im2col band, ~768 KB */
#define CONV_SMALL_KK 32           /* K * K * Cin up to which ops_conv2d is direct */

/* The blocks a product is cut into depend on its shape only, never on the
 * thread count: OpenBLAS picks different kernels for different block sizes
 * (e.g. its small-matrix path), so this is what keeps results bit-identical
 * whatever the number of threads. Blocks are handed out dynamically, so a
 * thread slowed by another process does not hold the others up. */

static void sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc)
{
    int gated = ops_blas_enter();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
    ops_blas_leave(gated);
}

/* Threads for a product of M*N*K multiply-adds. */
static int gemm_threads(int M, int N, int K)
{
    return ops_threads_for((double)M * N * K / 16.0);
}

/* How C is cut: by blocks of rows, by blocks of columns, or not at all. */
typedef struct {
    int by_rows, size, count;
} gemm_split;

static gemm_split split_for(int M, int N, int K, int blas_free)
{
    gemm_split s = {1, M, 1};
    if ((double)M * N * K < SMALL_GEMM) return s;
    if (M >= ROW_BLOCK || M >= N) {
        const int rb = (double)N * K <= SMALL_NK ? ROW_BLOCK_SMALL_NK : ROW_BLOCK;
        s.size = rb;
        s.count = (M + rb - 1) / rb;
    } else {
        s.by_rows = 0;
        s.size = blas_free ? COL_BLOCK_SMALL_M : COL_BLOCK;
        s.count = (N + s.size - 1) / s.size;
    }
    return s;
}

void ops_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    ops_ensure_init();
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta * C (BLAS may reject K = 0 with lda checks) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] =
                    beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    const gemm_split sp = split_for(M, N, K, 0);
    int nt = gemm_threads(M, N, K);
    if (nt > sp.count) nt = sp.count;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int part = 0; part < sp.count; part++) {
        const int lo = part * sp.size;
        const int hi = lo + sp.size < (sp.by_rows ? M : N) ? lo + sp.size : (sp.by_rows ? M : N);
        if (sp.by_rows) {
            const float *a = trans_a ? A + lo : A + (size_t)lo * lda;
            sgemm(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta,
                  C + (size_t)lo * ldc, ldc);
        } else {
            const float *b = trans_b ? B + (size_t)lo * ldb : B + lo;
            sgemm(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
        }
    }
}

int ops_round16(int m)
{
    return (m + 15) & ~15;
}

#define TALL_ROWS 256 /* rows of the long operand per task / per chunk */
#define TALL_COLS 64  /* output columns per task of ops_gemm_tall_tn */

void ops_pack_tall_a(const float *A, int lda, int m, int K, float *At)
{
    const int mp = ops_round16(m);
    for (int k = 0; k < K; k++) {
        float *row = At + (size_t)k * mp;
        for (int i = 0; i < m; i++) row[i] = A[(size_t)i * lda + k];
        for (int i = m; i < mp; i++) row[i] = 0.0f;
    }
}

void ops_gemm_tall_bt_packed(const float *B, int ldb, int n, int K, const float *At, int m,
                             float *Ct, int ldc)
{
    ops_ensure_init();
    if (n <= 0 || m <= 0) return;
    const int mp = ops_round16(m);
    const int tasks = (n + TALL_ROWS - 1) / TALL_ROWS;
    int nt = gemm_threads(n, mp, K);
    if (nt > tasks) nt = tasks;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int t = 0; t < tasks; t++) {
        const int t0 = t * TALL_ROWS, rows = n - t0 < TALL_ROWS ? n - t0 : TALL_ROWS;
        ops_k.gemm_bcast(B + (size_t)t0 * ldb, (size_t)ldb, 1, rows, At, (size_t)mp, mp, K, 0,
                         Ct + (size_t)t0 * ldc, (size_t)ldc);
    }
}

void ops_gemm_tall_bt(const float *B, int ldb, int n, int K, const float *A, int lda, int m,
                      float *Ct, int ldc)
{
    ops_ensure_init();
    if (n <= 0 || m <= 0) return;
    const int mp = ops_round16(m);
    float *At = malloc(sizeof(float) * ((size_t)K * mp + 1));
    if (!At) { /* out of memory: the BLAS path needs no scratch */
        sgemm(0, 1, n, m, K, 1.0f, B, ldb, A, lda, 0.0f, Ct, ldc);
        for (int t = 0; t < n; t++)
            for (int i = m; i < mp; i++) Ct[(size_t)t * ldc + i] = 0.0f;
        return;
    }
    ops_pack_tall_a(A, lda, m, K, At);
    ops_gemm_tall_bt_packed(B, ldb, n, K, At, m, Ct, ldc);
    free(At);
}

void ops_gemm_tall_tn(const float *X, int ldx, int n, int m, const float *B, int ldb, int N,
                      float *C, int ldc)
{
    ops_ensure_init();
    if (m <= 0 || N <= 0) return;
    if (n <= 0) {
        for (int i = 0; i < m; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    const int tasks = (N + TALL_COLS - 1) / TALL_COLS;
    int nt = gemm_threads(m, N, n);
    if (nt > tasks) nt = tasks;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int t = 0; t < tasks; t++) {
        const int c0 = t * TALL_COLS, cols = N - c0 < TALL_COLS ? N - c0 : TALL_COLS;
        /* chunks of the long dimension, accumulated in order, so that the
         * chunk of B stays in cache while every row tile of C reads it */
        for (int r0 = 0; r0 < n; r0 += TALL_ROWS) {
            const int rows = n - r0 < TALL_ROWS ? n - r0 : TALL_ROWS;
            ops_k.gemm_bcast(X + (size_t)r0 * ldx, 1, (size_t)ldx, m, B + (size_t)r0 * ldb + c0,
                             (size_t)ldb, cols, rows, r0 > 0, C + c0, (size_t)ldc);
        }
    }
}

#define WIDE_COLS 512 /* output columns per task of ops_gemm_wide */

void ops_gemm_wide(int batch, int m, int N, int K, const float *A, int lda, size_t sa,
                   const float *B, int ldb, size_t sb, float *C, int ldc, size_t sc)
{
    ops_ensure_init();
    if (batch <= 0 || m <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < batch; i++)
            for (int r = 0; r < m; r++)
                memset(C + i * sc + (size_t)r * ldc, 0, sizeof(float) * N);
        return;
    }
    const int per = (N + WIDE_COLS - 1) / WIDE_COLS, tasks = batch * per;
    int nt = ops_threads_for((double)batch * m * N * K / 16.0);
    if (nt > tasks) nt = tasks;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int t = 0; t < tasks; t++) {
        const int i = t / per, c0 = (t % per) * WIDE_COLS;
        const int cols = N - c0 < WIDE_COLS ? N - c0 : WIDE_COLS;
        ops_k.gemm_bcast(A + i * sa, (size_t)lda, 1, m, B + i * sb + c0, (size_t)ldb, cols, K,
                         0, C + i * sc + c0, (size_t)ldc);
    }
}

/* Block [r0, r1) x [c0, c1) of y = act(x . w^T + b + residual). */
static void linear_block(const float *x, int K, const float *w, const float *b, int N,
                         float *y, const float *residual, ops_act act, int r0, int r1,
                         int c0, int c1)
{
    const int n = c1 - c0;
    float beta = 0.0f;
    if (residual) {
        if (residual != y)
            for (int i = r0; i < r1; i++)
                memcpy(y + (size_t)i * N + c0, residual + (size_t)i * N + c0, sizeof(float) * n);
        beta = 1.0f;
    }
    if (r1 - r0 <= SMALL_M) {
        /* slices of w small enough to stay in cache while every 8 rows of
         * x pass over them: w is read from memory once */
        const int slice = K >= 4096 ? 16 : 65536 / K;
        for (int j = 0; j < n; j += slice)
            for (int i = r0; i < r1; i += 8)
                ops_k.gemm_small_m(x + (size_t)i * K, K, r1 - i < 8 ? r1 - i : 8,
                                   w + (size_t)(c0 + j) * K, K, n - j < slice ? n - j : slice, K,
                                   beta != 0.0f, y + (size_t)i * N + c0 + j, N);
    } else
        sgemm(0, 1, r1 - r0, n, K, 1.0f, x + (size_t)r0 * K, K, w + (size_t)c0 * K, K, beta,
              y + (size_t)r0 * N + c0, N);
    if (b || act != OPS_ACT_NONE)
        for (int i = r0; i < r1; i++) ops_k.bias_act(y + (size_t)i * N + c0, b ? b + c0 : NULL, n, act);
}

void ops_linear(const float *x, int M, int K, const float *w, const float *b,
                int N, float *y, const float *residual, ops_act act)
{
    ops_ensure_init();
    if (M <= 0 || N <= 0) return;
    const gemm_split sp = split_for(M, N, K, M <= SMALL_M);
    /* on few rows the BLAS-free path is bound by reading w more than by
     * its multiply-adds: a second thread pays off on 4x less work */
    int nt = M <= SMALL_M ? ops_threads_for((double)M * N * K / 4.0) : gemm_threads(M, N, K);
    if (nt > sp.count) nt = sp.count;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int part = 0; part < sp.count; part++) {
        const int lo = part * sp.size;
        if (sp.by_rows)
            linear_block(x, K, w, b, N, y, residual, act, lo, lo + sp.size < M ? lo + sp.size : M,
                         0, N);
        else
            linear_block(x, K, w, b, N, y, residual, act, 0, M, lo,
                         lo + sp.size < N ? lo + sp.size : N);
    }
}

/* im2col of output rows [oy0, oy1): row (oy, ox) holds the patch in
 * (ky, kx, ci) order, zeros where it reaches into the padding. */
void ops_im2col_rows(const float *x, int H, int W, int Cin, int K, int stride, int pad,
                     int Wo, int oy0, int oy1, float *col)
{
    const size_t KK = (size_t)K * K * Cin;
    for (int oy = oy0; oy < oy1; oy++) {
        for (int ox = 0; ox < Wo; ox++) {
            float *row = col + ((size_t)(oy - oy0) * Wo + ox) * KK;
            for (int ky = 0; ky < K; ky++) {
                const int iy = oy * stride - pad + ky;
                float *dst = row + (size_t)ky * K * Cin;
                if (iy < 0 || iy >= H) {
                    memset(dst, 0, sizeof(float) * (size_t)K * Cin);
                    continue;
                }
                /* the in-bounds kx are consecutive pixels, adjacent in HWC:
                 * one copy for them all (K * Cin floats inside the map) */
                const int ix0 = ox * stride - pad;
                int k0 = -ix0, k1 = W - ix0; /* kx in [k0, k1) are inside */
                k0 = k0 < 0 ? 0 : k0 > K ? K : k0;
                k1 = k1 < k0 ? k0 : k1 > K ? K : k1;
                if (k0 > 0) memset(dst, 0, sizeof(float) * Cin * (size_t)k0);
                if (k1 > k0)
                    memcpy(dst + (size_t)k0 * Cin, x + ((size_t)iy * W + ix0 + k0) * Cin,
                           sizeof(float) * Cin * (size_t)(k1 - k0));
                if (k1 < K) memset(dst + (size_t)k1 * Cin, 0, sizeof(float) * Cin * (size_t)(K - k1));
            }
        }
    }
}

void ops_conv2d(const float *x, int H, int W, int Cin, const float *w,
                const float *b, int Cout, int K, int stride, int pad,
                float *y, ops_act act)
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
    if (KK <= CONV_SMALL_KK) {
        /* few products per output (an RGB patch embedding, the mask
         * input's 2x2 convolutions): a direct kernel over output channels;
         * a GEMM of 27 columns spent its time packing and on the im2col */
        float *wt = malloc(sizeof(float) * KK * (size_t)Cout);
        if (!wt) {
            ops_note_oom();
            return;
        }
        for (int co = 0; co < Cout; co++)
            for (size_t k = 0; k < KK; k++) wt[k * Cout + co] = w[(size_t)co * KK + k];
        const int nt = ops_threads_for((double)Ho * Wo * KK * Cout);
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), n = omp_get_num_threads();
            const int r0 = (int)((long)Ho * t / n), r1 = (int)((long)Ho * (t + 1) / n);
            if (r1 > r0)
                ops_k.conv_small(x, H, W, Cin, wt, b, Cout, K, stride, pad, y, r0, r1, act);
        }
        free(wt);
        return;
    }
    /* bands of output rows small enough for a per-thread im2col buffer */
    int band = (int)(IM2COL_FLOATS / ((size_t)Wo * KK));
    if (band < 1) band = 1;
    const int bands = (Ho + band - 1) / band;
    int nt = ops_threads_for((double)Ho * Wo * KK * Cout / 16.0);
    if (nt > bands) nt = bands;
#pragma omp parallel num_threads(nt)
    {
        float *col = malloc(sizeof(float) * (size_t)band * Wo * KK);
#pragma omp for schedule(dynamic, 1)
        for (int bi = 0; bi < bands; bi++) {
            if (!col) { /* out of memory: the band is left unwritten */
                ops_note_oom();
                continue;
            }
            int oy0 = bi * band, oy1 = oy0 + band < Ho ? oy0 + band : Ho;
            ops_im2col_rows(x, H, W, Cin, K, stride, pad, Wo, oy0, oy1, col);
            float *yb = y + (size_t)oy0 * Wo * Cout;
            const int rows = (oy1 - oy0) * Wo;
            sgemm(0, 1, rows, Cout, (int)KK, 1.0f, col, (int)KK, w, (int)KK, 0.0f, yb, Cout);
            if (b || act != OPS_ACT_NONE)
                for (int i = 0; i < rows; i++) ops_k.bias_act(yb + (size_t)i * Cout, b, Cout, act);
        }
        free(col);
    }
}

void ops_pack_conv_transpose2x2(const float *w, int Cin, int Cout, float *packed)
{
    /* (Cin, Cout, di, dj) -> (di, dj, Cout, Cin): row (k, co) of the
     * band GEMM's left operand */
    for (int k = 0; k < 4; k++)
        for (int co = 0; co < Cout; co++)
            for (int ci = 0; ci < Cin; ci++)
                packed[((size_t)k * Cout + co) * Cin + ci] = w[((size_t)ci * Cout + co) * 4 + k];
}

#define CONVT_TILE_FLOATS (128 * 1024) /* per-thread band tile, 512 KiB */

typedef struct {
    const float *x;
    int x_planar, H, W, Cin;
    const float *w, *b;
    int Cout;
    const float *ln_g, *ln_b;
    float eps;
    ops_act act;
    const float *proj;
    int P;
    float *y;
    const ops_q8w *q; /* int8 product (x HWC) instead of w */
} convt_args;

/* Input rows [i0, i1): T[(k, co), pixel] = w . x^T for the band (one GEMM),
 * the epilogue down T's columns, the projection into E, and the scatter of
 * the four sub-pixel planes into the output rows 2i + di. */
/* Row stride of a band's tile: the band's pixels plus 16 floats, so that
 * the rows a column walk touches (strides of 2 or 4 KiB otherwise) do not
 * all fall into the same few L1 sets. */
static int convt_ld(int W, int rows)
{
    return rows * W + 16;
}

static void convt_band(const convt_args *a, int i0, int i1, float *T, float *E)
{
    const int W = a->W, Cout = a->Cout, nb = (i1 - i0) * W, ld = convt_ld(a->W, (i1 - i0));
    if (a->q) {
        /* the int8 rows (pixel, 4 Cout) go through E's room (T's size more
         * in int8, see convt_run) into T's columns; a planar x is first
         * turned into the band's pixel rows, in the room after that */
        float *Y = a->proj ? E + (size_t)ld * a->P * 4 : E;
        const float *X = a->x + (size_t)i0 * W * a->Cin;
        if (a->x_planar) {
            float *Xr = Y + (size_t)ld * 4 * Cout;
            ops_k.transpose(a->x + (size_t)i0 * W, (size_t)a->H * W, a->Cin, nb, Xr,
                            (size_t)a->Cin);
            X = Xr;
        }
        if (ops_q8_rows(X, nb, a->q, Y, (size_t)4 * Cout)) {
            ops_note_oom();
            return;
        }
        ops_k.transpose(Y, (size_t)4 * Cout, nb, 4 * Cout, T, (size_t)ld);
    } else if (a->x_planar)
        sgemm(0, 0, 4 * Cout, nb, a->Cin, 1.0f, a->w, a->Cin, a->x + (size_t)i0 * W,
              a->H * W, 0.0f, T, ld);
    else
        sgemm(0, 1, 4 * Cout, nb, a->Cin, 1.0f, a->w, a->Cin, a->x + (size_t)i0 * W * a->Cin,
              a->Cin, 0.0f, T, ld);
    const int planes = a->proj ? a->P : Cout;
    const float *S = a->proj ? E : T;
    for (int k = 0; k < 4; k++) {
        float *Tk = T + (size_t)k * Cout * ld;
        ops_k.cols_epilogue(Tk, Cout, ld, nb, a->b, a->ln_g != NULL, a->ln_g, a->ln_b, a->eps,
                            a->act);
        if (a->proj) ops_k.proj_cols(Tk, Cout, ld, nb, a->proj, a->P, E + (size_t)k * a->P * ld, ld);
    }
    const size_t plane = (size_t)4 * a->H * W;
    for (int c = 0; c < planes; c++)
        for (int i = i0; i < i1; i++)
            for (int di = 0; di < 2; di++) {
                const float *s0 = S + ((size_t)(2 * di) * planes + c) * ld + (size_t)(i - i0) * W;
                const float *s1 = S + ((size_t)(2 * di + 1) * planes + c) * ld + (size_t)(i - i0) * W;
                ops_k.interleave2(s0, s1, W, a->y + c * plane + (size_t)(2 * i + di) * 2 * W);
            }
}

static void convt_run(const convt_args *a)
{
    const int H = a->H, W = a->W, Cout = a->Cout;
    /* bands of input rows, sized by shape only (same bits for any thread
     * count); T holds 4 * Cout rows of the band's pixels, E the projection
     * (and, in int8, the product's rows before they are transposed) */
    int band = (int)(CONVT_TILE_FLOATS / ((size_t)W * Cout * 4));
    if (band < 1) band = 1;
    if (band > H) band = H;
    const int bands = (H + band - 1) / band;
    const size_t ldt = (size_t)convt_ld(W, band);
    const size_t tfl = ldt * Cout * 4,
                 efl = (a->proj ? ldt * a->P * 4 : 0) + (a->q ? tfl : 0) +
                       (a->q && a->x_planar ? ldt * a->Cin : 0);
    int nt = ops_threads_for((double)H * W * a->Cin * Cout * 4 / 16.0);
    if (nt > bands) nt = bands;
#pragma omp parallel num_threads(nt)
    {
        float *T = malloc(sizeof(float) * (tfl + efl));
#pragma omp for schedule(dynamic, 1)
        for (int bi = 0; bi < bands; bi++) {
            if (!T) { /* out of memory: the band is left unwritten */
                ops_note_oom();
                continue;
            }
            int i0 = bi * band, i1 = i0 + band < H ? i0 + band : H;
            convt_band(a, i0, i1, T, T + tfl);
        }
        free(T);
    }
}

void ops_conv_transpose2x2(const float *x, int x_planar, int H, int W, int Cin,
                           const float *w, const float *b, int Cout, const float *ln_g,
                           const float *ln_b, float eps, ops_act act, const float *proj,
                           int P, float *y)
{
    ops_ensure_init();
    if (H <= 0 || W <= 0 || Cout <= 0 || (proj && P <= 0)) return;
    const convt_args a = {x, x_planar, H, W, Cin, w, b, Cout, ln_g, ln_b, eps, act, proj, P, y,
                          NULL};
    convt_run(&a);
}

void ops_conv_transpose2x2_q8(const float *x, int x_planar, int H, int W, int Cin,
                              const ops_q8w *q, const float *b, int Cout, const float *ln_g,
                              const float *ln_b, float eps, ops_act act, const float *proj, int P,
                              float *y)
{
    ops_ensure_init();
    if (H <= 0 || W <= 0 || Cout <= 0 || (proj && P <= 0) || !q) return;
    const convt_args a = {x, x_planar, H, W, Cin, NULL, b, Cout, ln_g, ln_b, eps, act, proj, P,
                          y, q};
    convt_run(&a);
}
