/*
 * ops.h - numeric kernels of the engine.
 *
 * A kernel knows nothing of MobileSAM: it sees row-major float32 arrays,
 * shapes and strides. Each kernel has a portable C path and, where it pays,
 * AVX2 / AVX-512 paths chosen at run time (ops_init). Every kernel is tested
 * against a plain loop on random data (tests/test_ops.c).
 *
 * Layout conventions:
 *   - matrices are row-major; "tokens" are (rows, C);
 *   - images/feature maps are HWC (channels fastest);
 *   - conv weights are passed PRE-PACKED as (Cout, kh, kw, Cin) unless noted.
 * Threading: kernels parallelise internally with OpenMP up to
 * ops_get_threads(); GEMMs go to OpenBLAS with the same thread count. Never
 * call a kernel from inside a parallel region.
 */
#ifndef MOBILESAM_OPS_H
#define MOBILESAM_OPS_H

#include <stddef.h>
#include <stdint.h>

/* x86 orders SCALAR < AVX2 < AVX512; AArch64 has SCALAR < NEON (an x86
 * ISA asked for on AArch64, or NEON on x86, clamps to the CPU's best). */
typedef enum { OPS_ISA_SCALAR = 0, OPS_ISA_AVX2 = 1, OPS_ISA_AVX512 = 2, OPS_ISA_NEON = 3 } ops_isa;
typedef enum { OPS_ACT_NONE = 0, OPS_ACT_GELU = 1, OPS_ACT_RELU = 2 } ops_act;

/* Detects the CPU (idempotent, thread-safe enough to call at start-up). */
void ops_init(void);
/* Best ISA the CPU supports / the ISA in use. ops_force_isa clamps to what
 * the CPU supports (tests use it to exercise the portable path). */
ops_isa ops_cpu_isa(void);
ops_isa ops_current_isa(void);
void ops_force_isa(ops_isa isa);
const char *ops_isa_name(ops_isa isa);

/* Reduced-precision products this CPU can run: int8 needs AVX512-VNNI
 * (with AVX-512 BW/VL) or AVX-VNNI, or on AArch64 the dot-product
 * instructions (ARMv8.2 sdot); fp16 needs AVX512-FP16. */
int ops_cpu_int8(void);
int ops_cpu_fp16(void);
/* bfloat16 dot products (vdpbf16ps): AVX512-BF16 with AVX-512 BW/VL.
 * ops_cpu_bf16_fast: they run at twice the float32 FMA rate, as measured
 * on AMD Zen 5 (bf16 530, fp32 265 GFLOP/s per core); taken to be the
 * CPUs with AVX512-BF16 but no AVX512-FP16, since on Sapphire Rapids
 * (which has both) they ran at 0.6x the float32 rate; and not while a
 * lower ISA is forced (MOBILESAM_ISA), which would run the slow portable
 * loop. */
int ops_cpu_bf16(void);
int ops_cpu_bf16_fast(void);

/* The OPENBLAS_CORETYPE value that selects the GEMM kernels this CPU can run,
 * when OpenBLAS fell back to generic ones and the variable is unset; NULL
 * otherwise (see blas_select.c). */
const char *ops_blas_coretype_hint(void);

/* Under a finite address-space or data limit (ulimit -v / -d), OpenBLAS
 * retries a failed allocation of its per-thread work buffer forever, so the
 * buffers are taken up front: if the room for them is there, each of our
 * threads makes them now (a small SGEMM); if not, -1 (the caller reports out
 * of memory instead of hanging). 0 at once without such a limit, or when
 * the current threads already hold theirs. See blas_select.c. */
int ops_blas_reserve(void);

/* n <= 0: number of online cores. The kernels' own OpenMP threads; OpenBLAS
 * is kept single-threaded per call (see ops_gemm.c). */
/* Kernels cannot return errors: when one cannot get its scratch memory it
 * leaves its output unwritten and raises a flag, which the caller takes
 * (reads and clears) after a forward pass and reports as out of memory. */
void ops_note_oom(void);
int ops_take_oom(void);

void ops_set_threads(int n);
int ops_get_threads(void);

/* C[M,N] = alpha * op(A) op(B) + beta * C  (cblas_sgemm, row-major). */
void ops_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* Products of a long matrix (n rows, e.g. the 4096 tokens of an image)
 * with a few rows (m <= 64), where a BLAS would spend as long packing the
 * long operand as multiplying; the long operand is streamed in place.
 *   ops_gemm_tall_bt:  Ct[n, mp] = B[n, K] . A[m, K]^T, with the columns
 *                      m..mp-1 zero, mp = m rounded up to 16 (ldc >= mp)
 *   ops_gemm_tall_tn:  C[m, N] = X[n, m]^T . B[n, N]
 * Each output is summed in a fixed order, whatever the thread count. */
void ops_gemm_tall_bt(const float *B, int ldb, int n, int K, const float *A, int lda, int m,
                      float *Ct, int ldc);
/* The same in two steps, for one A against several pieces of B: At (K
 * rows of ops_round16(m) floats) = A^T zero-padded, then the product. */
void ops_pack_tall_a(const float *A, int lda, int m, int K, float *At);
void ops_gemm_tall_bt_packed(const float *B, int ldb, int n, int K, const float *At, int m,
                             float *Ct, int ldc);
void ops_gemm_tall_tn(const float *X, int ldx, int n, int m, const float *B, int ldb, int N,
                      float *C, int ldc);
int ops_round16(int m);
/* Products of a few rows (m <= 64) with a wide matrix, batch of them in one
 * parallel region: for i < batch,
 *   C_i[m, N] = A_i[m, K] . B_i[K, N],  A_i = A + i * sa, B_i = B + i * sb,
 *   C_i = C + i * sc (row strides lda, ldb, ldc),
 * B streamed in place (nothing packed: a BLAS would spend longer packing
 * B than multiplying, e.g. the decoder's 7 x 16 x 4096 per-head products).
 * Each output is summed in order of k, whatever the thread count. */
void ops_gemm_wide(int batch, int m, int N, int K, const float *A, int lda, size_t sa,
                   const float *B, int ldb, size_t sb, float *C, int ldc, size_t sc);

/* Fully connected layer with fused epilogue:
 *   y[M,N] = act(x[M,K] . w[N,K]^T + b[N] + residual[M,N])
 * b and residual may be NULL; residual may alias y (in-place residual add).
 * x must not alias y. */
void ops_linear(const float *x, int M, int K, const float *w, const float *b,
                int N, float *y, const float *residual, ops_act act);

/* ---- int8 products (ops_q8.c) -------------------------------------------
 * y[M,N] = act(x[M,K] . w[N,K]^T + b + residual) with w quantized once
 * (symmetric int8, one scale per output channel: w ~ sw[n] * wq[n,k],
 * wq in [-127, 127]) and x quantized per row as it is used (asymmetric
 * uint8: x ~ mn[m] + sx[m] * xq[m,k], xq in [0, 255], sx = (max - min) /
 * 255), the sums exact in int32 (u8 x s8 dot products: AVX512-VNNI, AVX-VNNI
 * or the portable loop, all giving the same integers), then in float32:
 *   y = sw[n] * (sx[m] * acc[m,n] + mn[m] * wsum[n]) + b[n] (+ residual)
 * with wsum[n] = sum_k wq[n,k]; act is applied after. */
typedef struct ops_q8w ops_q8w;
/* Quantizes and packs w (N, K) and copies b (N or NULL). NULL when out of
 * memory. */
ops_q8w *ops_q8w_pack(const float *w, const float *b, int N, int K);
/* The bfloat16 form, which every function below taking an ops_q8w also
 * runs: w rounded once to bf16, x rounded to bf16 as it is used, the
 * products (exact in float32) summed in float32 two k at a time (as
 * vdpbf16ps: acc += x[2g+1] w[2g+1], then += x[2g] w[2g]; AVX512-BF16, or
 * a portable loop in that order on other CPUs, which is slow: callers
 * choose bf16 where ops_cpu_bf16_fast()), then y = acc + b[n] (+
 * residual), act after. Rounding: to nearest even; subnormals to zero. */
ops_q8w *ops_q8w_pack_bf16(const float *w, const float *b, int N, int K);
/* Packs w (N, K) into *q as ops_q8w_pack (bf16 0) or ops_q8w_pack_bf16
 * (bf16 1) would, the same bytes, reusing *q's memory when it was made for
 * the same N, K and form (for a product whose weights change call after
 * call), else freeing it and making a new one. 0, or -1 when out of memory
 * (*q is then NULL). *q may be NULL. */
int ops_q8w_repack(ops_q8w **q, const float *w, const float *b, int N, int K, int bf16);
/* A bfloat16 form of N x K zero weights, zero bias, to be filled by
 * ops_q8w_bf16_rows_t (NULL when out of memory). */
ops_q8w *ops_q8w_new_bf16(int N, int K);
/* Keeps *q when it is a bf16 form of N x K (its bias set back to zero, its
 * weights left for ops_q8w_bf16_rows_t to overwrite), else replaces it
 * with ops_q8w_new_bf16(N, K): for B^T forms remade call after call. 0, or
 * -1 when out of memory (*q is then NULL). *q may be NULL. */
int ops_q8w_reserve_bf16(ops_q8w **q, int N, int K);
/* Makes the bf16 weights w = B^T for products with a long operand B (K rows of N floats):
 * y = x . B through ops_linear_q8(x, q). Writes B's rows [k0, k0 + nk)
 * (B points at row k0, row stride ldb) as w's columns k0.., rounded as
 * ops_q8w_pack_bf16 rounds (the same bytes as packing B^T); k0 even, so
 * that rows can be given piece by piece as they are made. No-op on a q
 * that is not bf16 or not wide enough. */
void ops_q8w_bf16_rows_t(ops_q8w *q, const float *B, size_t ldb, int k0, int nk);
int ops_q8w_is_bf16(const ops_q8w *q);
uint16_t ops_bf16_round(float v);
void ops_q8w_free(ops_q8w *q); /* NULL is a no-op */
size_t ops_q8w_bytes(const ops_q8w *q);
/* Fully connected layer as ops_linear, with q from ops_q8w_pack (N, K match). */
void ops_linear_q8(const float *x, int M, const ops_q8w *q, float *y, const float *residual,
                   ops_act act);
/* Activation rows quantized ahead of the products that read them (an
 * operand several products share, or one made where its rows are in
 * cache): int8 per row as ops_linear_q8 quantizes them, or rounded to bf16
 * (bf16 1), for weights of the same form and K. NULL when out of memory. */
typedef struct ops_q8x ops_q8x;
ops_q8x *ops_q8x_new(int M, int K, int bf16);
void ops_q8x_free(ops_q8x *x); /* NULL is a no-op */
/* Keeps *x when it was made for M, K and this form, else replaces it with
 * a new one (as ops_q8w_repack does for weights). 0, or -1 when out of
 * memory (*x is then NULL). */
int ops_q8x_reserve(ops_q8x **x, int M, int K, int bf16);
/* ops_layernorm_add's rows, with y + p (or y + pb) quantized into rows
 * [r0, r0 + rows) of xq (K == C) instead of stored: y = LN(x) is stored
 * (y may alias x). */
void ops_layernorm_add_q8x(const float *x, float *y, int rows, int C, const float *g,
                           const float *b, float eps, const float *p, const uint16_t *pb,
                           ops_q8x *xq, int r0);
/* ops_linear_q8 on xq's rows [r0, r0 + M) (y, residual: M rows of q->N):
 * the same bits as ops_linear_q8 on the float rows xq was made from.
 * Nothing is done when xq and q differ in form or K. */
void ops_linear_q8x(const ops_q8x *xq, int r0, int M, const ops_q8w *q, float *y,
                    const float *residual, ops_act act);
/* Dense KxK convolution as ops_conv2d, q packed from the (Cout, K, K, Cin)
 * weights as an (Cout, K*K*Cin) matrix: one activation scale per output
 * pixel's patch. */
void ops_conv2d_q8(const float *x, int H, int W, int Cin, const ops_q8w *q, int K, int stride,
                   int pad, float *y, ops_act act);
/* The activation quantizer and the int32 tile kernel in use: "avx512-vnni",
 * "avx-vnni" or "portable" (follows ops_force_isa: scalar -> portable). */
const char *ops_q8_path(void);
/* The same for bfloat16: "avx512-bf16" or "portable". */
const char *ops_bf16_path(void);

/* Element-wise. */
void ops_gelu(float *x, size_t n);          /* exact erf GELU */
void ops_relu(float *x, size_t n);
void ops_add(float *y, const float *x, size_t n);          /* y += x */
void ops_add_to(float *out, const float *a, const float *b, size_t n); /* out = a + b */

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (SIMD blocks). */
void ops_transpose(const float *src, size_t lds, int rows, int cols, float *dst, size_t ldd);
/* y[2j] = a[j], y[2j + 1] = b[j] for j < n (SIMD). */
void ops_interleave2(const float *a, const float *b, int n, float *y);

/* Two-tap interpolation along a row, as a bilinear resize's horizontal
 * pass with precomputed taps: dst[x] = src[i0[x]] * w0[x] + src[i1[x]] *
 * w1[x] for x < n, the products and the sum each rounded (no FMA), so the
 * bits do not depend on the instruction set. src holds sn floats; every
 * index must be in [0, sn). Single-threaded (a row kernel). */
void ops_interp_taps(float *dst, const float *src, int sn, const int *i0, const int *i1,
                     const float *w0, const float *w1, int n);

/* Row LayerNorm over the last dim C: y = (x - mean) / sqrt(var + eps) * g + b
 * (biased variance). y may alias x. Also serves as LayerNorm2d on HWC maps. */
void ops_layernorm(const float *x, float *y, int rows, int C, const float *g,
                   const float *b, float eps);
/* The same, and yp = y + p in the same pass over each row (while the row is
 * in cache); with p NULL, yp = y + pb, pb in bfloat16 (ops_bf16_round's
 * form: half the bytes to read, where yp is then quantized anyway). y may
 * alias x; yp must alias neither. */
void ops_layernorm_add(const float *x, float *y, int rows, int C, const float *g,
                       const float *b, float eps, const float *p, const uint16_t *pb, float *yp);

/* In-place softmax down each column of x[rows, cols]. */
void ops_softmax_cols(float *x, int rows, int cols);

/* In-place row softmax of x[rows, cols]. */
void ops_softmax_rows(float *x, int rows, int cols);

/* Depthwise 3x3 convolution, zero padding 1, on an HWC map:
 *   y[Ho,Wo,C], Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1
 * w is (C, 9) in PyTorch order (ky*3+kx) for channel c; b is (C) or NULL.
 * Then act. x and y must not alias. */
void ops_dwconv3x3(const float *x, int H, int W, int C, const float *w,
                   const float *b, int stride, float *y, ops_act act);

/* Dense KxK convolution on HWC maps via im2col + GEMM:
 *   y[Ho,Wo,Cout], Ho = (H + 2*pad - K) / stride + 1 (same for W)
 * w is PRE-PACKED (Cout, K, K, Cin); b is (Cout) or NULL; then act.
 * Works in bands of output rows with a small per-thread im2col buffer. */
void ops_conv2d(const float *x, int H, int W, int Cin, const float *w,
                const float *b, int Cout, int K, int stride, int pad,
                float *y, ops_act act);

/* Transposed convolution, kernel 2, stride 2, with a fused epilogue and a
 * planar (channel-major) output:
 *   z[co, 2i+di, 2j+dj] = b[co] + sum_ci x[i,j,ci] w[ci,co,di,dj]
 * then, per output pixel, an optional LayerNorm over the Cout channels
 * (ln_g non-NULL; ln_b may be NULL; eps) and act; then, when proj is
 * given, a 1x1 projection to P channels:
 *   y[p, Y, X] = sum_co proj[p*Cout + co] z'[co, Y, X]
 * y is planar: Cout planes (P with proj) of 2H x 2W floats. x is H x W x Cin,
 * HWC (x_planar = 0) or planar CHW (x_planar = 1). w is PRE-PACKED by
 * ops_pack_conv_transpose2x2 as (di, dj, Cout, Cin). Works in bands of
 * input rows, each multiplied (one GEMM), finished and projected while in
 * cache: with proj, the Cout-channel map is never stored. */
void ops_pack_conv_transpose2x2(const float *w_pytorch, int Cin, int Cout, float *packed);
void ops_conv_transpose2x2(const float *x, int x_planar, int H, int W, int Cin,
                           const float *w, const float *b, int Cout, const float *ln_g,
                           const float *ln_b, float eps, ops_act act, const float *proj,
                           int P, float *y);
/* The same with the product in int8 or bf16 (see ops_linear_q8): q from
 * ops_q8w_pack(packed, NULL, 4 * Cout, Cin) or ops_q8w_pack_bf16, `packed`
 * being the output of ops_pack_conv_transpose2x2; b is added in float32 by
 * the epilogue. One activation scale per input pixel (a planar x is turned
 * into pixel rows band by band). */
void ops_conv_transpose2x2_q8(const float *x, int x_planar, int H, int W, int Cin,
                              const ops_q8w *q, const float *b, int Cout, const float *ln_g,
                              const float *ln_b, float eps, ops_act act, const float *proj, int P,
                              float *y);

/* One attention head: out[Nq, d] = softmax(q k^T * scale + bias) v
 *   q: Nq rows of d floats, row stride ldq; k, v: Nk rows, strides ldk, ldv;
 *   bias: (Nq, Nk) row-major or NULL; out: row stride ldo.
 * scratch holds Nq * Nk floats. */
void ops_attention(const float *q, int ldq, const float *k, int ldk,
                   const float *v, int ldv, int Nq, int Nk, int d, float scale,
                   const float *bias, float *out, int ldo, float *scratch);

/* The same head with both products in bfloat16: q, k, v and the softmax's
 * probabilities rounded to bf16 (to nearest even, subnormals to zero), the
 * products exact in float32, each dot product summed in float32 two terms
 * at a time, pairs (2g, 2g + 1) of its index (the dimension for q k^T, the
 * key for P v), the odd term first, as vdpbf16ps sums them; the scores
 * times scale plus bias and the softmax in float32 (as ops_softmax_rows).
 * AVX512-BF16 for d <= 32 and Nk <= 256 (callers choose it where
 * ops_cpu_bf16_fast()), else a portable loop in that order. Single
 * threaded; scratch as ops_attention. */
void ops_attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v,
                        int ldv, int Nq, int Nk, int d, float scale, const float *bias,
                        float *out, int ldo, float *scratch);
/* "avx512-bf16" or "portable": the path ops_attention_bf16 takes for Nk, d */
const char *ops_attention_bf16_path(int Nk, int d);

/* Multi-head attention without bias: head h reads columns [h*d, (h+1)*d)
 * of q, k, v and writes the same columns of out; all heads and blocks of
 * query rows share one parallel region. */
void ops_attention_heads(const float *q, int ldq, const float *k, int ldk, const float *v,
                         int ldv, int Nq, int Nk, int heads, int d, float scale, float *out,
                         int ldo);

/* Bilinear resize of one float plane, align_corners=False, no antialiasing,
 * exactly as torch.nn.functional.interpolate(mode="bilinear") on CPU
 * (source index = (dst + 0.5) * in/out - 0.5, clamped at 0; computed in
 * float32). src is (sh, sw) with row stride src_stride; dst is (dh, dw). */
void ops_resize_bilinear(const float *src, int sh, int sw, int src_stride,
                         float *dst, int dh, int dw);
/* The same resize, computing only its top-left rows x cols (e.g. the crop
 * that follows it), into dst with row stride dst_stride. */
void ops_resize_bilinear_region(const float *src, int sh, int sw, int src_stride,
                                float *dst, int dh, int dw, int rows, int cols,
                                int dst_stride);
/* The taps of such a resize from `in` to `out` samples along one axis, for
 * outputs i < n: out[i] = src[i0[i]] * w0[i] + src[i1[i]] * w1[i] (the
 * form ops_interp_taps applies). */
void ops_bilinear_taps(int in, int out, int n, int *i0, int *i1, float *w0, float *w1);
/* The resize's sign as a mask: mask[y * dw + x] = 255 where the resized
 * value is > 0, else 0 (the same values as ops_resize_bilinear, never
 * stored as floats). */
void ops_resize_bilinear_mask(const float *src, int sh, int sw, int src_stride,
                              uint8_t *mask, int dh, int dw);

/* Windowed multi-head self-attention (Swin / TinyViT style) over an H x W
 * token grid, without copying the map into windows:
 *   qkv: (H*W, heads*3*d), per head h the 3*d columns from h*3*d are q, k, v;
 *   the grid is zero-padded at bottom/right to multiples of ws, and padded
 *   positions take `pad_qkv` (heads*3*d floats) as their q/k/v row (they do
 *   take part as keys and values); bias: (heads, N, N), N = ws*ws, or NULL;
 *   out: (H*W, heads*d), head h in columns h*d. Outputs at padded positions
 *   are dropped. scores = q k^T * scale + bias, row softmax, times v.
 * bf16: each head as ops_attention_bf16 (else ops_attention). */
void ops_window_attention(const float *qkv, int H, int W, int heads, int d,
                          int ws, float scale, const float *pad_qkv,
                          const float *bias, float *out, int bf16);

/* Multi-head self-attention over an H x W token grid with a decomposed
 * relative-position bias (MViTv2 / ViTDet / SAM ViT), in ws x ws windows
 * (ws = H = W: one global window):
 *   score[i, j] = scale * q_i . k_j + q_i . rel_h[yi - yj + ws - 1]
 *                                   + q_i . rel_w[xi - xj + ws - 1]
 * with (y, x) positions inside the window and q unscaled in the bias
 * terms; row softmax over the window's N = ws * ws keys, times v.
 *   qkv: rows of ld floats, one per grid position (row-major); head h
 *        reads q from column h*d, k from k_off + h*d, v from v_off + h*d;
 *   the grid is padded at the bottom / right to multiples of ws, and padded
 *   positions take pad_row (ld floats; NULL: zeros) as their qkv row: they
 *   are keys and values like any other (no mask), their outputs dropped;
 *   rel_h, rel_w: (2 ws - 1, d), shared by the heads;
 *   out: (H*W) rows of stride ldo, head h in columns h*d.
 * Never holds a whole N x N score matrix: query rows go in blocks of 256
 * (scratch per thread: 256 x N floats, twice that for N < 1024). */
void ops_relpos_attention(const float *qkv, int ld, int k_off, int v_off, int H, int W,
                          int heads, int d, int ws, float scale, const float *rel_h,
                          const float *rel_w, const float *pad_row, float *out, int ldo);

#endif
