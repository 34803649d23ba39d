/*
 * ops_avx512.c - AVX-512 (F/BW/DQ/VL + FMA) row kernels: the vector
 * primitives for 16 float lanes, then the shared kernel bodies of
 * ops_simd_body.h, exported as the table ops_kernels_avx512. The whole file
 * is compiled for that target (`#pragma GCC target`, or clang's
 * `#pragma clang attribute`), so the rest of the
 * library stays baseline x86-64; ops_init() only selects this table when
 * the CPU reports the features.
 */
#include "ops/ops_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define W 16
#define PFX(name) avx512_##name
#define INL static inline __attribute__((always_inline))

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;

INL __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); } /* n in [0,16] */

INL vf v_zero(void) { return _mm512_setzero_ps(); }
INL vf v_set1(float a) { return _mm512_set1_ps(a); }
INL vf v_load(const float *p) { return _mm512_loadu_ps(p); }
INL void v_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
/* n lanes from p (n in [0, W]), the others `fill` */
INL vf v_loadn_fill(const float *p, int n, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p);
}
INL vf v_loadn(const float *p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
INL void v_storen(float *p, vf a, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), a); }
/* W bfloat16 values from p, widened (exact) */
INL vf v_load_bf16(const uint16_t *p)
{
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}
INL vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
INL vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
INL vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
INL vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
/* 1/a to ~1 ulp: 14-bit estimate + one Newton step (a not 0 / inf) */
INL vf v_recip(vf a)
{
    const vf r = _mm512_rcp14_ps(a);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(1.0f)), r);
}
INL vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   /* a*b+c */
INL vf v_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c-a*b */
INL vf v_fms(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }   /* a*b-c */
INL vf v_fnms(vf a, vf b, vf c) { return _mm512_fnmsub_ps(a, b, c); } /* -a*b-c */
/* x86 semantics: if either is NaN the SECOND operand is returned */
INL vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
INL vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
INL vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
INL vf v_abs(vf a) { return _mm512_abs_ps(a); }
INL float v_hsum(vf a) { return _mm512_reduce_add_ps(a); }
INL float v_hmax(vf a) { return _mm512_reduce_max_ps(a); }
INL vm v_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
INL vm v_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
INL int v_any(vm m) { return m != 0; }
INL vf v_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); } /* m ? a : b */
/* 2^n from fi = n + 1.5 * 2^23 (n integral, in [-126, 128]; 128 -> +inf):
 * the low mantissa bits of fi hold n, so (bits(fi) << 23) + (127 << 23). */
INL vf v_pow2i_magic(vf fi)
{
    const vi e = _mm512_slli_epi32(_mm512_castps_si512(fi), 23);
    return _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_set1_epi32(127 << 23)));
}
/* integer lanes (bilinear resize indices) */
INL vi v_iota(void) { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
INL vi v_iset1(int a) { return _mm512_set1_epi32(a); }
INL vf v_i2f(vi a) { return _mm512_cvtepi32_ps(a); }
INL vf v_gather(const float *base, vi idx) { return _mm512_i32gather_ps(idx, base, 4); }
INL vi v_iload(const int *p) { return _mm512_loadu_si512(p); }
INL vi v_iloadn(const int *p, int n) { return _mm512_maskz_loadu_epi32(tail_mask(n), p); }
INL vi v_isub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
/* all lanes of a in [0, lim) (unsigned compare) */
INL int v_iall_below(vi a, int lim)
{
    return _mm512_cmplt_epu32_mask(a, _mm512_set1_epi32(lim)) == 0xFFFF;
}
/* lanes of the 2W-float window (lo, hi) picked by idx in [0, 2W) */
INL vf v_perm2(vf lo, vf hi, vi idx) { return _mm512_permutex2var_ps(lo, idx, hi); }

/* lo = a0 b0 a1 b1 ... a7 b7, hi = a8 b8 ... a15 b15 */
INL void v_zip(vf a, vf b, vf *lo, vf *hi)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(a, il, b);
    *hi = _mm512_permutex2var_ps(a, ih, b);
}

/* in-register 16 x 16 transpose: r[i][c] -> r[c][i] */
INL void v_transpose(vf r[16])
{
    vf t[16];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + k], 128-bit lane L: rows 4i..4i+3 of column 4L + k */
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    _Pragma("GCC unroll 4")
    for (int k = 0; k < 4; k++) {
        t[k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
        t[4 + k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
        t[8 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
    }
    _Pragma("GCC unroll 4")
    for (int k = 0; k < 4; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD);
        r[4 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xDD);
    }
}

#include "ops/ops_simd_body.h"

const ops_kernels ops_kernels_avx512 = {
    .gelu = avx512_gelu,
    .relu = avx512_relu,
    .add = avx512_add,
    .add_to = avx512_add_to,
    .add_bf16_to = avx512_add_bf16_to,
    .bias_act = avx512_bias_act,
    .layernorm = avx512_layernorm,
    .cols_epilogue = avx512_cols_epilogue,
    .proj_cols = avx512_proj_cols,
    .gemm_small_m = avx512_gemm_small_m,
    .gemm_bcast = avx512_gemm_bcast,
    .softmax = avx512_softmax,
    .softmax_cols = avx512_softmax_cols,
    .dwconv3x3 = avx512_dwconv3x3,
    .conv_small = avx512_conv_small,
    .attention = avx512_attention,
    .resize_vblend = avx512_resize_vblend,
    .interp2 = avx512_interp2,
    .transpose = avx512_transpose,
    .interleave2 = avx512_interleave2,
};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else
const ops_kernels ops_kernels_avx512 = {0};
#endif
