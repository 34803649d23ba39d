/*
 * ops_neon.c - AArch64 Advanced SIMD (NEON) row kernels: the vector
 * primitives for 4 float lanes, then the shared kernel bodies of
 * ops_simd_body.h, exported as the table ops_kernels_neon. NEON (with FMA)
 * is part of the AArch64 base ISA, so no target pragma is needed and
 * ops_init() selects this table on every aarch64 CPU.
 *
 * The primitives keep the x86 semantics the bodies were written for:
 * v_min / v_max return the SECOND operand when either is NaN (minps /
 * maxps), which NEON's fmin / fmax do not, so they are built from a
 * compare and a select. Partial loads and stores (v_loadn / v_storen) go
 * through a small stack buffer: they never touch memory past the n lanes.
 * Gathers are lane-by-lane loads.
 *
 * Not here: the ARMv8.2 dot-product (sdot) and half-precision forms for
 * the reduced-precision paths; those would be separate tables selected
 * from getauxval(AT_HWCAP) (HWCAP_ASIMDDP, HWCAP_ASIMDHP), see ops_core.c.
 */
#include "ops/ops_internal.h"

#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_neon.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define W 4
#define PFX(name) neon_##name
#define INL static inline __attribute__((always_inline))
/* 6 x 4 accumulators of gemm_bcast: AArch64 has 32 vector registers */
#define OPS_BC_R 6

typedef float32x4_t vf;
typedef int32x4_t vi;
typedef uint32x4_t vm;

INL vf v_zero(void) { return vdupq_n_f32(0.0f); }
INL vf v_set1(float a) { return vdupq_n_f32(a); }
INL vf v_load(const float *p) { return vld1q_f32(p); }
INL void v_store(float *p, vf a) { vst1q_f32(p, a); }
/* n lanes from p (n in [0, W]), the others `fill` */
INL vf v_loadn_fill(const float *p, int n, float fill)
{
    float b[W] = {fill, fill, fill, fill};
    for (int i = 0; i < n; i++) b[i] = p[i];
    return vld1q_f32(b);
}
INL vf v_loadn(const float *p, int n) { return v_loadn_fill(p, n, 0.0f); }
INL void v_storen(float *p, vf a, int n)
{
    float b[W];
    vst1q_f32(b, a);
    for (int i = 0; i < n; i++) p[i] = b[i];
}
/* W bfloat16 values from p, widened (exact) */
INL vf v_load_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
INL vf v_add(vf a, vf b) { return vaddq_f32(a, b); }
INL vf v_sub(vf a, vf b) { return vsubq_f32(a, b); }
INL vf v_mul(vf a, vf b) { return vmulq_f32(a, b); }
INL vf v_div(vf a, vf b) { return vdivq_f32(a, b); }
INL vf v_recip(vf a) { return vdivq_f32(vdupq_n_f32(1.0f), a); }
INL vf v_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }             /* a*b+c */
INL vf v_fnma(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); }            /* c-a*b */
INL vf v_fms(vf a, vf b, vf c) { return vnegq_f32(vfmsq_f32(c, a, b)); }  /* a*b-c */
INL vf v_fnms(vf a, vf b, vf c) { return vnegq_f32(vfmaq_f32(c, a, b)); } /* -a*b-c */
/* x86 semantics: if either is NaN the SECOND operand is returned */
INL vf v_min(vf a, vf b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
INL vf v_max(vf a, vf b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
INL vf v_sqrt(vf a) { return vsqrtq_f32(a); }
INL vf v_abs(vf a) { return vabsq_f32(a); }
INL float v_hsum(vf a) { return vaddvq_f32(a); }
INL float v_hmax(vf a) { return vmaxvq_f32(a); }
INL vm v_lt(vf a, vf b) { return vcltq_f32(a, b); }
INL vm v_ge(vf a, vf b) { return vcgeq_f32(a, b); }
INL int v_any(vm m) { return vmaxvq_u32(m) != 0; }
INL vf v_sel(vm m, vf a, vf b) { return vbslq_f32(m, a, b); } /* m ? a : b */
/* 2^n from fi = n + 1.5 * 2^23 (n integral, in [-126, 128]; 128 -> +inf):
 * the low mantissa bits of fi hold n, so (bits(fi) << 23) + (127 << 23). */
INL vf v_pow2i_magic(vf fi)
{
    const vi e = vshlq_n_s32(vreinterpretq_s32_f32(fi), 23);
    return vreinterpretq_f32_s32(vaddq_s32(e, vdupq_n_s32(127 << 23)));
}
/* integer lanes (bilinear resize indices) */
INL vi v_iota(void)
{
    static const int32_t io[W] = {0, 1, 2, 3};
    return vld1q_s32(io);
}
INL vi v_iset1(int a) { return vdupq_n_s32(a); }
INL vf v_i2f(vi a) { return vcvtq_f32_s32(a); }
INL vf v_gather(const float *base, vi idx)
{
    int32_t i[W];
    vst1q_s32(i, idx);
    const float b[W] = {base[i[0]], base[i[1]], base[i[2]], base[i[3]]};
    return vld1q_f32(b);
}
INL vi v_iload(const int *p) { return vld1q_s32(p); }
INL vi v_iloadn(const int *p, int n)
{
    int32_t b[W] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) b[i] = p[i];
    return vld1q_s32(b);
}
INL vi v_isub(vi a, vi b) { return vsubq_s32(a, b); }
/* all lanes of a in [0, lim) (unsigned compare) */
INL int v_iall_below(vi a, int lim)
{
    return vminvq_u32(vcltq_u32(vreinterpretq_u32_s32(a), vdupq_n_u32((uint32_t)lim))) != 0;
}
/* lanes of the 2W-float window (lo, hi) picked by idx in [0, 2W): a byte
 * table look-up over the 32 bytes of the window */
INL vf v_perm2(vf lo, vf hi, vi idx)
{
    const uint8x16x2_t tab = {{vreinterpretq_u8_f32(lo), vreinterpretq_u8_f32(hi)}};
    /* byte index of lane i: 4 * idx[i] + (0, 1, 2, 3) */
    const uint32x4_t b4 = vshlq_n_u32(vreinterpretq_u32_s32(idx), 2);
    const uint32x4_t rep = vmulq_n_u32(b4, 0x01010101u);
    const uint8x16_t bidx = vaddq_u8(vreinterpretq_u8_u32(rep),
                                     vreinterpretq_u8_u32(vdupq_n_u32(0x03020100u)));
    return vreinterpretq_f32_u8(vqtbl2q_u8(tab, bidx));
}

/* lo = a0 b0 a1 b1, hi = a2 b2 a3 b3 */
INL void v_zip(vf a, vf b, vf *lo, vf *hi)
{
    *lo = vzip1q_f32(a, b);
    *hi = vzip2q_f32(a, b);
}

/* in-register 4 x 4 transpose: r[i][c] -> r[c][i] */
INL void v_transpose(vf r[4])
{
    const vf t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    const vf t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

#include "ops/ops_simd_body.h"

const ops_kernels ops_kernels_neon = {
    .gelu = neon_gelu,
    .relu = neon_relu,
    .add = neon_add,
    .add_to = neon_add_to,
    .add_bf16_to = neon_add_bf16_to,
    .bias_act = neon_bias_act,
    .layernorm = neon_layernorm,
    .cols_epilogue = neon_cols_epilogue,
    .proj_cols = neon_proj_cols,
    .gemm_small_m = neon_gemm_small_m,
    .gemm_bcast = neon_gemm_bcast,
    .softmax = neon_softmax,
    .softmax_cols = neon_softmax_cols,
    .dwconv3x3 = neon_dwconv3x3,
    .conv_small = neon_conv_small,
    .attention = neon_attention,
    .resize_vblend = neon_resize_vblend,
    .interp2 = neon_interp2,
    .transpose = neon_transpose,
    .interleave2 = neon_interleave2,
};

#else
const ops_kernels ops_kernels_neon = {0};
#endif
