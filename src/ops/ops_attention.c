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
#include <stdlib.h>

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

void ops_attention_heads(const float *q, int ldq, const float *k, int ldk, const float *v,
                         int ldv, int Nq, int Nk, int heads, int d, float scale, float *out,
                         int ldo)
{
    ops_ensure_init();
    if (Nq <= 0 || d <= 0 || heads <= 0) return;
    if (d > ATT_DIRECT_MAX_D) { /* wide heads: the GEMM formulation, head by head */
        float *sc = malloc(sizeof(float) * (size_t)Nq * (Nk > 0 ? Nk : 1));
        if (!sc) ops_note_oom();
        for (int h = 0; sc && h < heads; h++)
            attention_gemm(q + (size_t)h * d, ldq, k + (size_t)h * d, ldk, v + (size_t)h * d,
                           ldv, Nq, Nk, d, scale, NULL, out + (size_t)h * d, ldo, sc);
        free(sc);
        return;
    }
    /* jobs: (head, block of query rows), all in one parallel region */
    const int rows = Nq < 64 ? Nq : 64, blocks = (Nq + rows - 1) / rows;
    const int jobs = heads * blocks;
    int nt = ops_threads_for((double)heads * Nq * Nk * (2.0 * d + 8.0));
    if (nt > jobs) nt = jobs;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *scratch = malloc(sizeof(float) * (size_t)rows * (Nk > 0 ? Nk : 1));
#pragma omp for schedule(dynamic, 1)
        for (int j = 0; j < jobs; j++) {
            if (!scratch) { /* out of memory: the job's rows are left unwritten */
                ops_note_oom();
                continue;
            }
            const int h = j / blocks, r0 = (j % blocks) * rows;
            const int n = Nq - r0 < rows ? Nq - r0 : rows;
            ops_k.attention(q + (size_t)r0 * ldq + (size_t)h * d, ldq, k + (size_t)h * d, ldk,
                            v + (size_t)h * d, ldv, n, Nk, d, scale, NULL,
                            out + (size_t)r0 * ldo + (size_t)h * d, ldo, scratch);
        }
        free(scratch);
    }
}
