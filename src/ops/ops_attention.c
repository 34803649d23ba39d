/*
 * ops_attention.c - public single-head attention: splits query rows across
 * threads (only when the call is big and not already inside a parallel
 * region, as window_attention.c calls it per window from its own threads)
 * around the ops_k.attention row kernel.
 */
#include "ops/ops_internal.h"

#include <omp.h>

void ops_attention(const float *q, int ldq, const float *k, int ldk,
                   const float *v, int ldv, int Nq, int Nk, int d, float scale,
                   const float *bias, float *out, int ldo, float *scratch)
{
    ops_ensure_init();
    if (Nq <= 0 || d <= 0) return;
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
