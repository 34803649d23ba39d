/*
 * ops_avx2.c - AVX2 + FMA row kernels: the vector primitives for 8 float
 * lanes, then the shared kernel bodies of ops_simd_body.h, exported as the
 * table ops_kernels_avx2. The whole file is compiled for that target with
 * `#pragma GCC target`, so the rest of the library stays baseline x86-64;
 * ops_init() only selects this table when the CPU reports AVX2 and FMA.
 */
#include "ops/ops_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define W 8
#define PFX(name) avx2_##name
#define INL static inline __attribute__((always_inline))

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm;

INL __m256i tail_mask(int n) /* lanes < n set, n in [0, 8] */
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INL vf v_zero(void) { return _mm256_setzero_ps(); }
INL vf v_set1(float a) { return _mm256_set1_ps(a); }
INL vf v_load(const float *p) { return _mm256_loadu_ps(p); }
INL void v_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
INL vf v_loadn(const float *p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
INL vf v_loadn_fill(const float *p, int n, float fill)
{
    __m256i m = tail_mask(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
INL void v_storen(float *p, vf a, int n) { _mm256_maskstore_ps(p, tail_mask(n), a); }
/* W bfloat16 values from p, widened (exact) */
INL vf v_load_bf16(const uint16_t *p)
{
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}
INL vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
INL vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
INL vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
INL vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
/* 1/a (the 12-bit rcpps + Newton is not accurate enough here) */
INL vf v_recip(vf a) { return _mm256_div_ps(_mm256_set1_ps(1.0f), a); }
INL vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
INL vf v_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
INL vf v_fms(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
INL vf v_fnms(vf a, vf b, vf c) { return _mm256_fnmsub_ps(a, b, c); } /* -a*b-c */
INL vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
INL vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
INL vf v_sqrt(vf a) { return _mm256_sqrt_ps(a); }
INL vf v_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
INL float v_hsum(vf a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
INL float v_hmax(vf a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
INL vm v_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
INL vm v_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
INL int v_any(vm m) { return _mm256_movemask_ps(m) != 0; }
INL vf v_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
/* 2^n from fi = n + 1.5 * 2^23 (n integral, in [-126, 128]; 128 -> +inf):
 * the low mantissa bits of fi hold n, so (bits(fi) << 23) + (127 << 23). */
INL vf v_pow2i_magic(vf fi)
{
    const vi e = _mm256_slli_epi32(_mm256_castps_si256(fi), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(127 << 23)));
}
INL vi v_iota(void) { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
INL vi v_iset1(int a) { return _mm256_set1_epi32(a); }
INL vf v_i2f(vi a) { return _mm256_cvtepi32_ps(a); }
INL vf v_gather(const float *base, vi idx) { return _mm256_i32gather_ps(base, idx, 4); }
INL vi v_iload(const int *p) { return _mm256_loadu_si256((const __m256i *)p); }
INL vi v_iloadn(const int *p, int n) { return _mm256_maskload_epi32(p, tail_mask(n)); }
INL vi v_isub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
/* all lanes of a in [0, lim) (lim > 0) */
INL int v_iall_below(vi a, int lim)
{
    const __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), a),
                                        _mm256_cmpgt_epi32(a, _mm256_set1_epi32(lim - 1)));
    return _mm256_testz_si256(bad, bad);
}
/* lanes of the 2W-float window (lo, hi) picked by idx in [0, 2W) */
INL vf v_perm2(vf lo, vf hi, vi idx)
{
    const vf a = _mm256_permutevar8x32_ps(lo, idx), b = _mm256_permutevar8x32_ps(hi, idx);
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* lo = a0 b0 a1 b1 a2 b2 a3 b3, hi = a4 b4 ... a7 b7 */
INL void v_zip(vf a, vf b, vf *lo, vf *hi)
{
    const vf l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}

/* in-register 8 x 8 transpose: r[i][c] -> r[c][i] */
INL void v_transpose(vf r[8])
{
    vf t[8];
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + k], 128-bit lane L: rows 4i..4i+3 of column 4L + k */
    _Pragma("GCC unroll 2")
    for (int i = 0; i < 2; i++) {
        r[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    _Pragma("GCC unroll 4")
    for (int k = 0; k < 4; k++) {
        t[k] = _mm256_permute2f128_ps(r[k], r[4 + k], 0x20);
        t[4 + k] = _mm256_permute2f128_ps(r[k], r[4 + k], 0x31);
    }
    _Pragma("GCC unroll 8")
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

#include "ops/ops_simd_body.h"

const ops_kernels ops_kernels_avx2 = {
    .gelu = avx2_gelu,
    .relu = avx2_relu,
    .add = avx2_add,
    .add_to = avx2_add_to,
    .add_bf16_to = avx2_add_bf16_to,
    .bias_act = avx2_bias_act,
    .layernorm = avx2_layernorm,
    .cols_epilogue = avx2_cols_epilogue,
    .proj_cols = avx2_proj_cols,
    .gemm_small_m = avx2_gemm_small_m,
    .gemm_bcast = avx2_gemm_bcast,
    .softmax = avx2_softmax,
    .softmax_cols = avx2_softmax_cols,
    .dwconv3x3 = avx2_dwconv3x3,
    .conv_small = avx2_conv_small,
    .attention = avx2_attention,
    .resize_vblend = avx2_resize_vblend,
    .interp2 = avx2_interp2,
    .transpose = avx2_transpose,
    .interleave2 = avx2_interleave2,
};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else
const ops_kernels ops_kernels_avx2 = {0};
#endif
