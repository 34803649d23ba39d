/*
 * ops_resize.c - public bilinear resize (PyTorch align_corners=False, float32
 * index arithmetic): vertical indices/weights here, rows via ops_k.resize_row.
 * Every ISA computes bit-identical results (same operation order, no FMA).
 */
#include "ops/ops_internal.h"

OPS_NO_CONTRACT
void ops_resize_bilinear_region(const float *src, int sh, int sw, int src_stride,
                                float *dst, int dh, int dw, int rows, int cols,
                                int dst_stride)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    ops_ensure_init();
    if (sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0) return;
    if (rows > dh) rows = dh;
    if (cols > dw) cols = dw;
    if (rows <= 0 || cols <= 0) return;
    const float hs = (float)sh / (float)dh, ws = (float)sw / (float)dw;
    const int nt = ops_threads_for((double)rows * cols * 8.0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int oy = 0; oy < rows; oy++) {
        int i0, i1;
        float l0, l1;
        ops_bilinear_index(hs, oy, sh, dh, &i0, &i1, &l0, &l1);
        ops_k.resize_row(src + (size_t)i0 * src_stride,
                         src + (size_t)i1 * src_stride, l0, l1, sw,
                         dst + (size_t)oy * dst_stride, cols, ws);
    }
}

void ops_resize_bilinear(const float *src, int sh, int sw, int src_stride,
                         float *dst, int dh, int dw)
{
    ops_resize_bilinear_region(src, sh, sw, src_stride, dst, dh, dw, dh, dw, dw);
}
