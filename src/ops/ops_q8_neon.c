/*
 * ops_q8_neon.c - the int8 tile kernel of ops_q8.c (see ops_internal.h) for
 * AArch64 with the ARMv8.2 dot-product instructions (sdot): 4 rows x 16
 * columns in 16 accumulators, each sdot summing 4 products of s8 x s8.
 * sdot has no u8 x s8 form (that is ARMv8.6 usdot), so the uint8
 * activations go in as xq - 128 and 128 * wsum[n] is added back: the same
 * integers as the portable loop, and the same float epilogue (fused
 * multiply-adds in the same order), so the same bits. Compiled for
 * +dotprod; ops_q8.c selects it only when HWCAP_ASIMDDP is set.
 */
#include "ops/ops_internal.h"

#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

/* The 4-byte groups k = 4g..4g+3 of 4 rows, as s8 (xq - 128): lane r. */
static inline int8x16_t rows4(const unsigned char *xq, size_t ldx, int g)
{
    uint32_t v[4];
    for (int r = 0; r < 4; r++) memcpy(&v[r], xq + (size_t)r * ldx + 4 * (size_t)g, 4);
    return vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vld1q_u32(v)), vdupq_n_u8(0x80)));
}

/* 4 rows x one panel (16 columns: 4 accumulators of 4 columns per row) */
static void tile4(const unsigned char *xq, size_t ldx, const signed char *wp, int kg,
                  const float *sx, const float *mn, const float *sw, const float *wsum,
                  const float *b, float out[4][16])
{
    int32x4_t c[4][4];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 4; j++) c[r][j] = vdupq_n_s32(0);
    for (int g = 0; g < kg; g++) {
        const int8_t *w = (const int8_t *)wp + (size_t)g * 64;
        const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32),
                        w3 = vld1q_s8(w + 48);
        const int8x16_t a = rows4(xq, ldx, g);
#define Q8_ROW(r)                                    \
    c[r][0] = vdotq_laneq_s32(c[r][0], w0, a, r);    \
    c[r][1] = vdotq_laneq_s32(c[r][1], w1, a, r);    \
    c[r][2] = vdotq_laneq_s32(c[r][2], w2, a, r);    \
    c[r][3] = vdotq_laneq_s32(c[r][3], w3, a, r)
        Q8_ROW(0);
        Q8_ROW(1);
        Q8_ROW(2);
        Q8_ROW(3);
#undef Q8_ROW
    }
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 4; j++) {
            /* + 128 * wsum: back to the sums of xq * wq (|wsum| < 2^24: exact) */
            const int32x4_t ws = vcvtq_s32_f32(vld1q_f32(wsum + 4 * j));
            const int32x4_t acc = vaddq_s32(c[r][j], vshlq_n_s32(ws, 7));
            const float32x4_t off = vmulq_n_f32(vld1q_f32(wsum + 4 * j), mn[r]);
            float32x4_t v = vfmaq_f32(off, vdupq_n_f32(sx[r]), vcvtq_f32_s32(acc));
            v = vfmaq_f32(vld1q_f32(b + 4 * j), vld1q_f32(sw + 4 * j), v);
            vst1q_f32(out[r] + 4 * j, v);
        }
}

const ops_q8_kernels ops_q8_neon_dot = {ops_q8_quant_row_portable, NULL, tile4, NULL};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif
