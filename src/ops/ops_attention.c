/*
 * ops_attention.c - public single-head attention.
 *
 * Runs the ops_k.attention row kernel (register-blocked SIMD kernels for
 * d <= 128, which beat two cblas GEMMs around a softmax at every shape of
 * the model, 3-4x on the decoder's 7 x 4096 x 16), split over query rows
 * across threads when big enough and not already inside a parallel region
 * (window_attention.c calls it per window from its own threads). Heads
 * wider than 128 go through two GEMMs around a row softmax in `scratch`.
 */
#include "ops/ops_internal.h"

#include <omp.h>

/* head width above which the GEMM formulation is used */
#define ATT_DIRECT_MAX_D 128

static void attention_gemm(const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, int Nq, int Nk, int d,
                           float scale, const float *bias, float *out, int ldo,
                           float *scratch)
{
    ops_gemm(0, 1, Nq, Nk, d, scale, q, ldq, k, ldk, 0.0f, scratch, Nk);
    if (bias) ops_add(scratch, bias, (size_t)Nq * Nk);
    ops_softmax_rows(scratch, Nq, Nk);
    ops_gemm(0, 0, Nq, d, Nk, 1.0f, scratch, Nk, v, ldv, 0.0f, out, ldo);
}

void ops_attention(const float *q, int ldq, const float *k, int ldk,
                   const float *v, int ldv, int Nq, int Nk, int d, float scale,
                   const float *bias, float *out, int ldo, float *scratch)
{
    ops_ensure_init();
    if (Nq <= 0 || d <= 0) return;
    if (d > ATT_DIRECT_MAX_D && Nk > 0 && !omp_in_parallel()) {
        attention_gemm(q, ldq, k, ldk, v, ldv, Nq, Nk, d, scale, bias, out, ldo, scratch);
        return;
    }
    const int nt = ops_threads_for((double)Nq * Nk * (2.0 * d + 8.0));
    if (nt <= 1) {
        ops_k.attention(q, ldq, k, ldk, v, ldv, Nq, Nk, d, scale, bias, out,
                        ldo, scratch);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const int r0 = (int)((long)Nq * t / n), r1 = (int)((long)Nq * (t + 1) / n);
        if (r1 > r0)
            ops_k.attention(q + (size_t)r0 * ldq, ldq, k, ldk, v, ldv, r1 - r0,
                            Nk, d, scale, bias ? bias + (size_t)r0 * Nk : NULL,
                            out + (size_t)r0 * ldo, ldo,
                            scratch + (size_t)r0 * Nk);
    }
}
