/*
 * ops_dwconv.c - public depthwise 3x3 convolution (HWC, pad 1, stride 1/2):
 * repacks the (C, 9) weights to (9, C) so every ISA vectorises over channels,
 * then splits output rows across threads.
 */
#include "ops/ops_internal.h"

#include <omp.h>
#include <stdlib.h>

void ops_dwconv3x3(const float *x, int H, int W, int C, const float *w,
                   const float *b, int stride, float *y, ops_act act)
{
    ops_ensure_init();
    if (H <= 0 || W <= 0 || C <= 0) return;
    if (stride < 1) stride = 1;
    const int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
    float stackbuf[9 * 512];
    float *wt = (C <= 512) ? stackbuf : malloc(sizeof(float) * 9 * (size_t)C);
    if (!wt) { /* out of memory: y is left unwritten */
        ops_note_oom();
        return;
    }
    for (int c = 0; c < C; c++)
        for (int t = 0; t < 9; t++) wt[(size_t)t * C + c] = w[(size_t)c * 9 + t];
    const int nt = ops_threads_for((double)Ho * Wo * C * 9.0);
    if (nt <= 1) {
        ops_k.dwconv3x3(x, H, W, C, wt, b, stride, y, 0, Ho, act);
    } else {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), n = omp_get_num_threads();
            const int r0 = (int)((long)Ho * t / n), r1 = (int)((long)Ho * (t + 1) / n);
            if (r1 > r0) ops_k.dwconv3x3(x, H, W, C, wt, b, stride, y, r0, r1, act);
        }
    }
    if (wt != stackbuf) free(wt);
}
