/*
 * ops_resize.c - public bilinear resize (PyTorch align_corners=False, float32
 * index arithmetic): indices/weights computed here, once per call for the
 * columns and per output row for the rows; each source row is interpolated
 * horizontally once (ops_k.interp2 on the column taps: no gathers for an
 * up-sampling) and blended vertically (ops_k.resize_vblend) into every
 * output row that needs it.
 * Every ISA computes bit-identical results (same operation order, no FMA).
 */
#include "ops/ops_internal.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

/* mask[x] = 255 where row[x] > 0, else 0 */
static void threshold_row(const float *restrict row, uint8_t *restrict mask, int n)
{
#pragma omp simd
    for (int x = 0; x < n; x++) mask[x] = row[x] > 0.0f ? 255 : 0;
}

typedef struct {
    const int *i0, *i1;    /* source columns of each output column */
    const float *w0, *w1;  /* their weights */
} col_taps;

/* Output rows [r0, r1): each source row is interpolated horizontally once
 * into one of two slots and reused by every output row that reads it.
 * With mask, each output row goes through a third slot and is stored as
 * its threshold at 0 (mask row stride dst_stride) instead of to dst. */
static void region_rows(const float *src, int sh, int sw, int src_stride, float *dst,
                        uint8_t *mask, int dh, int cols, int dst_stride, float hs,
                        const col_taps *ct, int r0, int r1, float *slots)
{
    float *slot[2] = {slots, slots + cols};
    int tag[2] = {-1, -1};
    for (int oy = r0; oy < r1; oy++) {
        int i0, i1;
        float l0, l1;
        ops_bilinear_index(hs, oy, sh, dh, &i0, &i1, &l0, &l1);
        /* slot a gets row i0 without evicting i1; slot b the other one */
        int a = tag[0] == i0 ? 0 : tag[1] == i0 ? 1 : -1;
        if (a < 0) {
            a = tag[0] == i1 ? 1 : 0;
            ops_k.interp2(slot[a], src + (size_t)i0 * src_stride, sw, ct->i0, ct->i1, ct->w0,
                          ct->w1, cols);
            tag[a] = i0;
        }
        int b = tag[a] == i1 ? a : 1 - a;
        if (tag[b] != i1) {
            ops_k.interp2(slot[b], src + (size_t)i1 * src_stride, sw, ct->i0, ct->i1, ct->w0,
                          ct->w1, cols);
            tag[b] = i1;
        }
        const float *t[2] = {slot[a], slot[b]};
        if (mask) {
            ops_k.resize_vblend(t[0], t[1], l0, l1, slots + 2 * (size_t)cols, cols);
            threshold_row(slots + 2 * (size_t)cols, mask + (size_t)oy * dst_stride, cols);
        } else {
            ops_k.resize_vblend(t[0], t[1], l0, l1, dst + (size_t)oy * dst_stride, cols);
        }
    }
}

static void resize_region(const float *src, int sh, int sw, int src_stride, float *dst,
                          uint8_t *mask, int dh, int dw, int rows, int cols, int dst_stride)
{
    ops_ensure_init();
    if (sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0) return;
    if (rows > dh) rows = dh;
    if (cols > dw) cols = dw;
    if (rows <= 0 || cols <= 0) return;
    const float hs = (float)sh / (float)dh;
    int *ci = malloc(sizeof(int) * 2 * (size_t)cols);
    float *cw = malloc(sizeof(float) * 2 * (size_t)cols);
    if (!ci || !cw) {
        ops_note_oom();
        free(ci);
        free(cw);
        return;
    }
    ops_bilinear_taps(sw, dw, cols, ci, ci + cols, cw, cw + cols);
    const col_taps ct = {ci, ci + cols, cw, cw + cols};
    const int nt = ops_threads_for((double)rows * cols * 4.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const int r0 = (int)((long long)rows * t / n), r1 = (int)((long long)rows * (t + 1) / n);
        float *slots = malloc(sizeof(float) * 3 * (size_t)cols);
        if (slots)
            region_rows(src, sh, sw, src_stride, dst, mask, dh, cols, dst_stride, hs, &ct, r0,
                        r1, slots);
        else
            ops_note_oom();
        free(slots);
    }
    free(ci);
    free(cw);
}

void ops_resize_bilinear_region(const float *src, int sh, int sw, int src_stride,
                                float *dst, int dh, int dw, int rows, int cols,
                                int dst_stride)
{
    resize_region(src, sh, sw, src_stride, dst, NULL, dh, dw, rows, cols, dst_stride);
}

void ops_resize_bilinear_mask(const float *src, int sh, int sw, int src_stride,
                              uint8_t *mask, int dh, int dw)
{
    resize_region(src, sh, sw, src_stride, NULL, mask, dh, dw, dh, dw, dw);
}

OPS_NO_CONTRACT
void ops_bilinear_taps(int in, int out, int n, int *i0, int *i1, float *w0, float *w1)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    const float scale = (float)in / (float)out;
    for (int i = 0; i < n; i++) ops_bilinear_index(scale, i, in, out, &i0[i], &i1[i], &w0[i], &w1[i]);
}

void ops_resize_bilinear(const float *src, int sh, int sw, int src_stride,
                         float *dst, int dh, int dw)
{
    ops_resize_bilinear_region(src, sh, sw, src_stride, dst, dh, dw, dh, dw, dw);
}

void ops_interp_taps(float *dst, const float *src, int sn, const int *i0, const int *i1,
                     const float *w0, const float *w1, int n)
{
    ops_ensure_init();
    if (n > 0) ops_k.interp2(dst, src, sn, i0, i1, w0, w1, n);
}
