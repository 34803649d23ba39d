/*
 * ops_q8_x86.c - the int8 kernels of ops_q8.c (see ops_internal.h) for
 * x86: u8 x s8 dot products into int32 with vpdpbusd, as AVX512-VNNI (zmm,
 * a tile of 8 rows x 48 columns in 24 accumulators) and as AVX-VNNI (ymm,
 * for CPUs that have only the VEX form). Each function is compiled for its
 * target; ops_q8.c selects a table only when the CPU reports the features.
 * Also the bfloat16 products (vdpbf16ps, AVX512-BF16), in the same tiles
 * with float32 accumulators.
 * Same integers as the portable loop, and the same float epilogue (fmaf in
 * the same order), so the same bits.
 */
#include "ops/ops_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))

static inline int32_t load4(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- AVX512-VNNI ---------------------------------------------------------- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,fma")
#endif

static void z_quant_row(const float *x, int K, int Kp, unsigned char *xq, float *sx, float *mn)
{
    /* two minima and two maxima: independent chains, so the loop runs at
     * the loads' pace rather than the min/max latency's */
    __m512 lo0 = _mm512_set1_ps(x[0]), hi0 = lo0, lo1 = lo0, hi1 = lo0;
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m512 a = _mm512_loadu_ps(x + k), b = _mm512_loadu_ps(x + k + 16);
        lo0 = _mm512_min_ps(lo0, a);
        hi0 = _mm512_max_ps(hi0, a);
        lo1 = _mm512_min_ps(lo1, b);
        hi1 = _mm512_max_ps(hi1, b);
    }
    for (; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        lo0 = _mm512_mask_min_ps(lo0, m, lo0, v);
        hi0 = _mm512_mask_max_ps(hi0, m, hi0, v);
    }
    const float l = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
    const float h = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
    const float s = h > l ? (h - l) / 255.0f : 1.0f;
    const float inv = 1.0f / s;
    const __m512 vl = _mm512_set1_ps(l), vi = _mm512_set1_ps(inv);
    const __m512i z = _mm512_setzero_si512();
    /* round to nearest even, then [0, 255]: below 0 by max, above 255 by
     * the unsigned saturation of the narrowing store (as the portable
     * loop's clamp) */
    for (k = 0; k + 32 <= K; k += 32) {
        const __m512 a = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k), vl), vi);
        const __m512 b = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k + 16), vl), vi);
        _mm512_mask_cvtusepi32_storeu_epi8(xq + k, 0xffff, _mm512_max_epi32(_mm512_cvtps_epi32(a), z));
        _mm512_mask_cvtusepi32_storeu_epi8(xq + k + 16, 0xffff,
                                           _mm512_max_epi32(_mm512_cvtps_epi32(b), z));
    }
    for (; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        const __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + k), vl), vi);
        _mm512_mask_cvtusepi32_storeu_epi8(xq + k, m, _mm512_max_epi32(_mm512_cvtps_epi32(v), z));
    }
    for (k = K; k < Kp; k++) xq[k] = 0;
    *sx = s;
    *mn = l;
}

/* The accumulators are named variables, not an array: compilers keep an
 * array of 24 vectors on the stack, storing every one at every step.
 * EACH_ROW(M) writes M out for the tile's 8 rows. */
#define EACH_ROW(M)                                                                  \
    do {                                                                             \
        M(0);                                                                        \
        M(1);                                                                        \
        M(2);                                                                        \
        M(3);                                                                        \
        M(4);                                                                        \
        M(5);                                                                        \
        M(6);                                                                        \
        M(7);                                                                        \
    } while (0)
#define Z_ROW(r)                                                                     \
    do {                                                                             \
        const __m512i a = _mm512_set1_epi32(load4(xq + (size_t)(r) * ldx + 4 * (size_t)g)); \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, a, w0);                               \
        if (NP > 1) c##r##1 = _mm512_dpbusd_epi32(c##r##1, a, w1);                   \
        if (NP > 2) c##r##2 = _mm512_dpbusd_epi32(c##r##2, a, w2);                   \
    } while (0)
#define Z_SAVE(r)                                                                    \
    do {                                                                             \
        acc[r][0] = c##r##0;                                                         \
        if (NP > 1) acc[r][1] = c##r##1;                                             \
        if (NP > 2) acc[r][2] = c##r##2;                                             \
    } while (0)

INL void z_tile_np(const int NP, const unsigned char *xq, size_t ldx, int mr,
                   const signed char *wp, size_t ps, int kg, const float *sx, const float *mn,
                   const float *sw, const float *wsum, const float *b, const float *res,
                   size_t ldr, float *y, size_t ldy, int nc)
{
    __m512i c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50,
        c51, c52, c60, c61, c62, c70, c71, c72;
    c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 =
        c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = _mm512_setzero_si512();
    const signed char *p0 = wp, *p1 = wp + ps, *p2 = wp + 2 * ps;
    for (int g = 0; g < kg; g++) {
        const __m512i w0 = _mm512_loadu_si512(p0 + (size_t)g * 64);
        const __m512i w1 = NP > 1 ? _mm512_loadu_si512(p1 + (size_t)g * 64) : w0;
        const __m512i w2 = NP > 2 ? _mm512_loadu_si512(p2 + (size_t)g * 64) : w0;
        EACH_ROW(Z_ROW);
    }
    __m512i acc[8][3];
    EACH_ROW(Z_SAVE);
    for (int j = 0; j < NP; j++) {
        const int left = nc - 16 * j;
        if (left <= 0) break;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        const __m512 vsw = _mm512_loadu_ps(sw + 16 * j), vws = _mm512_loadu_ps(wsum + 16 * j),
                     vb = _mm512_loadu_ps(b + 16 * j);
        for (int r = 0; r < mr; r++) {
            const __m512 off = _mm512_mul_ps(_mm512_set1_ps(mn[r]), vws);
            __m512 v = _mm512_fmadd_ps(_mm512_set1_ps(sx[r]), _mm512_cvtepi32_ps(acc[r][j]), off);
            v = _mm512_fmadd_ps(vsw, v, vb);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + (size_t)r * ldr + 16 * j));
            _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16 * j, m, v);
        }
    }
}

static void z_tile(const unsigned char *xq, size_t ldx, int mr, const signed char *wp, size_t ps,
                   int np, int kg, const float *sx, const float *mn, const float *sw,
                   const float *wsum, const float *b, const float *res, size_t ldr, float *y,
                   size_t ldy, int nc)
{
    if (np >= 3)
        z_tile_np(3, xq, ldx, mr, wp, ps, kg, sx, mn, sw, wsum, b, res, ldr, y, ldy, nc);
    else if (np == 2)
        z_tile_np(2, xq, ldx, mr, wp, ps, kg, sx, mn, sw, wsum, b, res, ldr, y, ldy, nc);
    else
        z_tile_np(1, xq, ldx, mr, wp, ps, kg, sx, mn, sw, wsum, b, res, ldr, y, ldy, nc);
}

const ops_q8_kernels ops_q8_avx512vnni = {z_quant_row, z_tile, NULL, NULL};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX512-BF16 ------------------------------------------------------------ */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,fma")
#endif

/* vcvtneps2bf16: to nearest even, subnormals to zero (as ops_bf16_round) */
static void b_quant_row(const float *x, int K, int Kp, unsigned char *xq, float *sx, float *mn)
{
    uint16_t *h = (uint16_t *)(void *)xq;
    int k = 0;
    for (; k + 16 <= K; k += 16)
        _mm256_storeu_si256((__m256i *)(h + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + k)));
    if (k < K) {
        const __mmask16 m = (__mmask16)((1u << (K - k)) - 1u);
        _mm256_mask_storeu_epi16(h + k, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + k)));
    }
    for (k = K; k < Kp; k++) h[k] = 0;
    *sx = 1.0f;
    *mn = 0.0f;
}

#define B_ROW(r)                                                                     \
    do {                                                                             \
        const __m512bh a =                                                           \
            (__m512bh)_mm512_set1_epi32(load4(xq + (size_t)(r) * ldx + 4 * (size_t)g)); \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, a, w0);                                  \
        if (NP > 1) c##r##1 = _mm512_dpbf16_ps(c##r##1, a, w1);                      \
        if (NP > 2) c##r##2 = _mm512_dpbf16_ps(c##r##2, a, w2);                      \
    } while (0)

INL void b_tile_np(const int NP, const unsigned char *xq, size_t ldx, int mr,
                   const signed char *wp, size_t ps, int kg, const float *b, const float *res,
                   size_t ldr, float *y, size_t ldy, int nc)
{
    __m512 c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50, c51,
        c52, c60, c61, c62, c70, c71, c72;
    c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 =
        c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = _mm512_setzero_ps();
    const signed char *p0 = wp, *p1 = wp + ps, *p2 = wp + 2 * ps;
    for (int g = 0; g < kg; g++) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512(p0 + (size_t)g * 64);
        const __m512bh w1 = NP > 1 ? (__m512bh)_mm512_loadu_si512(p1 + (size_t)g * 64) : w0;
        const __m512bh w2 = NP > 2 ? (__m512bh)_mm512_loadu_si512(p2 + (size_t)g * 64) : w0;
        EACH_ROW(B_ROW);
    }
    __m512 acc[8][3];
    EACH_ROW(Z_SAVE);
    for (int j = 0; j < NP; j++) {
        const int left = nc - 16 * j;
        if (left <= 0) break;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        const __m512 vb = _mm512_loadu_ps(b + 16 * j);
        for (int r = 0; r < mr; r++) {
            __m512 v = _mm512_add_ps(acc[r][j], vb);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + (size_t)r * ldr + 16 * j));
            _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16 * j, m, v);
        }
    }
}

static void b_tile(const unsigned char *xq, size_t ldx, int mr, const signed char *wp, size_t ps,
                   int np, int kg, const float *sx, const float *mn, const float *sw,
                   const float *wsum, const float *b, const float *res, size_t ldr, float *y,
                   size_t ldy, int nc)
{
    (void)sx, (void)mn, (void)sw, (void)wsum;
    if (np >= 3)
        b_tile_np(3, xq, ldx, mr, wp, ps, kg, b, res, ldr, y, ldy, nc);
    else if (np == 2)
        b_tile_np(2, xq, ldx, mr, wp, ps, kg, b, res, ldr, y, ldy, nc);
    else
        b_tile_np(1, xq, ldx, mr, wp, ps, kg, b, res, ldr, y, ldy, nc);
}

/* the two rows' 16 values of a panel converted together (vcvtne2ps2bf16:
 * b0's in the low half) and interleaved by one vpermw */
static void b_pack_pair(const float *b0, const float *b1, int N, uint16_t *panel0, size_t ps)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    for (int n = 0; n < N; n += 16) {
        const int left = N - n;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        const __m512 v0 = _mm512_maskz_loadu_ps(m, b0 + n);
        const __m512 v1 = b1 ? _mm512_maskz_loadu_ps(m, b1 + n) : _mm512_setzero_ps();
        const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
        const __mmask32 m2 = left >= 16 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (2 * left)) - 1u);
        _mm512_mask_storeu_epi16(panel0 + (size_t)(n / 16) * ps, m2, _mm512_permutexvar_epi16(idx, h));
    }
}

const ops_q8_kernels ops_bf16_avx512 = {b_quant_row, b_tile, NULL, b_pack_pair};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX-VNNI (ymm) ------------------------------------------------------- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,avxvnni,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,avxvnni,fma")
#endif

/* 4 rows x one panel (16 columns: two ymm of 8 int32) */
static void y_tile4(const unsigned char *xq, size_t ldx, const signed char *wp, int kg,
                    const float *sx, const float *mn, const float *sw, const float *wsum,
                    const float *b, float out[4][16])
{
    __m256i acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int g = 0; g < kg; g++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)g * 64));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)g * 64 + 32));
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m256i a = _mm256_set1_epi32(load4(xq + (size_t)r * ldx + 4 * (size_t)g));
            acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], a, w0);
            acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], a, w1);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int h = 0; h < 2; h++) {
            const __m256 off = _mm256_mul_ps(_mm256_set1_ps(mn[r]), _mm256_loadu_ps(wsum + 8 * h));
            __m256 v = _mm256_fmadd_ps(_mm256_set1_ps(sx[r]), _mm256_cvtepi32_ps(acc[r][h]), off);
            v = _mm256_fmadd_ps(_mm256_loadu_ps(sw + 8 * h), v, _mm256_loadu_ps(b + 8 * h));
            _mm256_storeu_ps(out[r] + 8 * h, v);
        }
}

const ops_q8_kernels ops_q8_avxvnni = {ops_q8_quant_row_portable, NULL, y_tile4, NULL};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif
