/*
 * ops_internal.h - private plumbing of the kernels (not part of ops.h).
 *
 * The public kernels in ops.h do argument handling, threading (OpenMP over
 * rows / chunks) and GEMM calls; the innermost loops go through the table
 * `ops_k` of single-threaded "row kernels", filled by ops_init() with the
 * portable C versions (ops_scalar.c) or the AVX2 / AVX-512 ones
 * (ops_avx2.c, ops_avx512.c) or, on AArch64, the NEON ones (ops_neon.c). A SIMD table may leave entries NULL: those
 * fall back to the portable kernel.
 */
#ifndef MOBILESAM_OPS_INTERNAL_H
#define MOBILESAM_OPS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/ops.h"

typedef struct ops_kernels {
    /* element-wise on n floats */
    void (*gelu)(float *x, size_t n);
    void (*relu)(float *x, size_t n);
    void (*add)(float *y, const float *x, size_t n);
    void (*add_to)(float *out, const float *a, const float *b, size_t n);
    /* out = a + b, b in bfloat16 (widened exactly: one rounding, the add) */
    void (*add_bf16_to)(float *out, const float *a, const uint16_t *b, size_t n);
    /* one row of n: y = act(y + b), b may be NULL */
    void (*bias_act)(float *y, const float *b, int n, ops_act act);
    /* one row of C (y may alias x) */
    void (*layernorm)(const float *x, float *y, int C, const float *g,
                      const float *b, float eps);
    /* columns [0, n) of the C-row block t (row stride ld), in place: each
     * value plus bias[row] (bias may be NULL), then, when ln, LayerNorm down
     * each column with per-row g, b (either may be NULL), then act */
    void (*cols_epilogue)(float *t, int C, int ld, int n, const float *bias, int ln,
                          const float *g, const float *b, float eps, ops_act act);
    /* out[p, j] = sum_c h[p*C + c] t[c, j] for p < P, j < n (c ascending);
     * t has C rows of stride ld, out P rows of stride ldo */
    void (*proj_cols)(const float *t, int C, int ld, int n, const float *h, int P,
                      float *out, int ldo);
    /* y[m, n] (+)= sum_k x[m, k] w[n, k] for m < M <= 8, n < N (k
     * ascending within each lane; accumulate: add to y): products with very
     * few rows, where a BLAS spends more time packing w than multiplying */
    void (*gemm_small_m)(const float *x, int ldx, int M, const float *w, int ldw, int N, int K,
                         int accumulate, float *y, int ldy);
    /* C[i, j] (+)= sum_k P[i*ps + k*pk] Q[k*ldq + j] for i < nr, j < ncols
     * (k ascending; accumulate: add to C): a register tile of rows of C,
     * each P element broadcast against a row of Q; nothing is packed */
    void (*gemm_bcast)(const float *P, size_t ps, size_t pk, int nr, const float *Q, size_t ldq,
                       int ncols, int K, int accumulate, float *C, size_t ldc);
    /* one row of n, in place */
    void (*softmax)(float *x, int n);
    /* softmax down the columns [c0, c1) of x (rows x ld), in place */
    void (*softmax_cols)(float *x, int rows, int ld, int c0, int c1);
    /* output rows [oy0, oy1) of a depthwise 3x3 conv, pad 1; wt is the
     * weight REPACKED to (9, C); b may be NULL */
    void (*dwconv3x3)(const float *x, int H, int W, int C, const float *wt,
                      const float *b, int stride, float *y, int oy0, int oy1,
                      ops_act act);
    /* output rows [oy0, oy1) of a dense K x K convolution with few inputs
     * per output (K * K * Cin small): wt is the weight REPACKED to
     * (K * K * Cin, Cout), tap-major; b may be NULL. Each output is its
     * bias plus the in-bounds products in (ky, kx, ci) order. */
    void (*conv_small)(const float *x, int H, int W, int Cin, const float *wt,
                       const float *b, int Cout, int K, int stride, int pad, float *y,
                       int oy0, int oy1, ops_act act);
    /* attention for nq query rows (see ops_attention); bias rows have stride
     * Nk; scratch holds nq * Nk floats */
    void (*attention)(const float *q, int ldq, const float *k, int ldk,
                      const float *v, int ldv, int nq, int Nk, int d,
                      float scale, const float *bias, float *out, int ldo,
                      float *scratch);
    /* bilinear resize, separably: each source row is interpolated
     * horizontally by interp2 (below, on precomputed taps); this is the
     * vertical blend of two such rows, dst = t0 * h0 + t1 * h1 (PyTorch's
     * operation order) */
    void (*resize_vblend)(const float *t0, const float *t1, float h0, float h1,
                          float *dst, int n);
    /* dst[x] = src[i0[x]] * w0[x] + src[i1[x]] * w1[x] for x < n, each
     * product and the sum rounded separately (no FMA); src holds sn floats */
    void (*interp2)(float *dst, const float *src, int sn, const int *i0, const int *i1,
                    const float *w0, const float *w1, int n);
    /* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols */
    void (*transpose)(const float *src, size_t lds, int rows, int cols, float *dst, size_t ldd);
    /* y[2j] = a[j], y[2j + 1] = b[j] for j < n */
    void (*interleave2)(const float *a, const float *b, int n, float *y);
} ops_kernels;

extern ops_kernels ops_k;

/* The int8 product kernels (ops_q8.c; x86 forms in ops_q8_x86.c, AArch64
 * in ops_q8_neon.c).
 *   quant_row: xq[k] = clamp(nearbyint((x[k] - mn) * (1 / sx)), 0, 255)
 *     for k < K, zeros up to Kp, with mn = min x, sx = (max x - mn) / 255
 *     (1 when max == min);
 *   tile: for rows r < 8 of xq (row stride ldx; all 8 readable, the rows
 *     from mr on padding) and the np (1..3) panels of 16 columns at wp
 *     (panel stride ps bytes; kg groups of 4 k, each 16 columns x 4 bytes),
 *     acc = sum_k xq[r, k] wq[n, k] in int32, then for r < mr, n < nc:
 *       y[r, n] = fmaf(sw[n], fmaf(sx[r], (float)acc, mn[r] * wsum[n]), b[n])
 *                 (+ res[r, n] when res; res may alias y)
 *   tile4 (a form with tile NULL): a kernel whose registers hold 4 rows x
 *     16 columns (one panel): out[r][n] for the 4 rows of xq at xq, before
 *     any residual (the rows past a tile's mr are padding, computed and
 *     dropped); ops_q8.c runs it over a tile's row halves and panels.
 * Every form gives the same bits. */
typedef void (*ops_q8_tile4_fn)(const unsigned char *xq, size_t ldx, const signed char *wp,
                                int kg, const float *sx, const float *mn, const float *sw,
                                const float *wsum, const float *b, float out[4][16]);
typedef struct {
    void (*quant_row)(const float *x, int K, int Kp, unsigned char *xq, float *sx, float *mn);
    void (*tile)(const unsigned char *xq, size_t ldx, int mr, const signed char *wp, size_t ps,
                 int np, int kg, const float *sx, const float *mn, const float *sw,
                 const float *wsum, const float *b, const float *res, size_t ldr, float *y,
                 size_t ldy, int nc);
    ops_q8_tile4_fn tile4;
    /* bf16 forms only: rows b0, b1 of a matrix B (N floats each; b1 NULL:
     * zeros) rounded to bf16 as one k pair of the panels of B^T (w[n][k] =
     * B[k][n]): the 16 pairs of panel p at panel0 + p * ps (uint16
     * elements), b0's value first */
    void (*pack_pair)(const float *b0, const float *b1, int N, uint16_t *panel0, size_t ps);
} ops_q8_kernels;
/* The CPU has AVX512-VNNI (width 512, with AVX-512 F/BW/VL) or AVX-VNNI
 * (width 256, with AVX2). */
int ops_cpu_vnni(int width);
extern const ops_q8_kernels ops_q8_portable;
/* y (M, q->N, row stride ldy) = x (M, q->K) . w^T + b in int8 (as
 * ops_linear_q8, no activation), on the calling thread only (for callers
 * that are already parallel). 0, or -1 when out of memory. */
int ops_q8_rows(const float *x, int M, const struct ops_q8w *q, float *y, size_t ldy);
void ops_q8_quant_row_portable(const float *x, int K, int Kp, unsigned char *xq, float *sx,
                               float *mn);
/* The bfloat16 forms (same table; sx, mn, sw, wsum unused): quant_row
 * rounds to bf16 (xq holds Kp uint16), tile sums kg groups of 2 k (panel
 * stride ps bytes) in float32, y = acc + b (+ res). */
extern const ops_q8_kernels ops_bf16_portable;
extern const ops_q8_kernels ops_bf16_avx512; /* AVX512-BF16 (ops_q8_x86.c) */
extern const ops_q8_kernels ops_q8_avx512vnni; /* defined when the compiler targets them */
extern const ops_q8_kernels ops_q8_avxvnni;
extern const ops_q8_kernels ops_q8_neon_dot; /* AArch64 (ops_q8_neon.c) */

/* im2col of the output rows [oy0, oy1) of a KxK convolution (ops_conv2d,
 * ops_conv2d_q8): row (oy, ox) holds the patch in (ky, kx, ci) order, zeros
 * where it reaches into the padding. */
void ops_im2col_rows(const float *x, int H, int W, int Cin, int K, int stride, int pad, int Wo,
                     int oy0, int oy1, float *col);

/* Lazily runs ops_init() the first time any kernel is used. */
void ops_ensure_init(void);
/* ops_attention_bf16 on rows given by pointers: query i at qr[i], key and
 * value j at kr[j], vr[j], output i to outr[i] (d floats each); bias
 * (Nq, Nk) row-major or NULL; scratch: Nk floats. */
void ops_attention_bf16_rows(const float *const *qr, const float *const *kr,
                             const float *const *vr, int Nq, int Nk, int d, float scale,
                             const float *bias, float *const *outr, float *scratch);
/* Around every OpenBLAS call: under a memory limit, when fewer work buffers
 * could be made than there are threads, lets no more calls than buffers run
 * at once (see ops_blas_reserve in blas_select.c). Else nothing. */
int ops_blas_enter(void);
void ops_blas_leave(int entered);

/* The tables (ops_avx2.c / ops_avx512.c / ops_neon.c only define theirs
 * when the compiler can target those ISAs; elsewhere they are all NULL). */
extern const ops_kernels ops_kernels_scalar;
extern const ops_kernels ops_kernels_avx2;
extern const ops_kernels ops_kernels_avx512;
extern const ops_kernels ops_kernels_neon;

/* Number of threads to use for `work` units of roughly one flop / float
 * each: 1 below a threshold or inside a parallel region. */
int ops_threads_for(double work);

/* No FMA contraction in the function it marks (bit-exact bilinear resize;
 * clang takes `#pragma STDC FP_CONTRACT OFF` in the body instead). */
#if defined(__clang__)
#define OPS_NO_CONTRACT
#else
#define OPS_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#endif

/* The float a bfloat16 (its upper 16 bits) stands for. */
static inline float ops_bf16_to_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* out = a + p, or with p NULL a + pb (pb in bfloat16): n floats, through
 * the row kernels (ops_layernorm_add and its quantizing twin) */
static inline void ops_add_p_row(float *out, const float *a, const float *p, const uint16_t *pb,
                                 size_t n)
{
    if (p)
        ops_k.add_to(out, a, p, n);
    else
        ops_k.add_bf16_to(out, a, pb, n);
}

/* Bilinear source index / weight for output index i (PyTorch
 * compute_source_index_and_lambda, align_corners=False, float32). */
OPS_NO_CONTRACT
static inline void ops_bilinear_index(float scale, int i, int in, int out,
                                      int *i0, int *i1, float *l0, float *l1)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    if (in == out) {
        *i0 = *i1 = i;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    float src = scale * ((float)i + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int j = (int)src; /* src >= 0: truncation == floor */
    if (j > in - 1) j = in - 1;
    float lam = src - (float)j;
    if (lam < 0.0f) lam = 0.0f;
    if (lam > 1.0f) lam = 1.0f;
    *i0 = j;
    *i1 = j + ((j < in - 1) ? 1 : 0);
    *l1 = lam;
    *l0 = 1.0f - lam;
}

#endif
