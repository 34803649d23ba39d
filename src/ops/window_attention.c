/*
 * window_attention.c - windowed multi-head self-attention over a token grid.
 *
 * Windows are addressed in place: each (window, head) gathers its q/k/v rows
 * straight from the qkv matrix (or the shared padding row) into a small
 * per-thread tile, so the map is never partitioned or padded in memory.
 */
#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One (window, head): gathers N rows of q, k, v (d each) into tiles. */
static void gather_window(const float *qkv, int H, int W, int ld, int ws, int wy,
                          int wx, int col, int d, const float *pad_row,
                          float *q, float *k, float *v)
{
    int n = 0;
    for (int y = 0; y < ws; y++) {
        int gy = wy * ws + y;
        for (int x = 0; x < ws; x++, n++) {
            int gx = wx * ws + x;
            const float *row = (gy < H && gx < W)
                                   ? qkv + ((size_t)gy * W + gx) * ld + col
                                   : pad_row + col;
            memcpy(q + (size_t)n * d, row, sizeof(float) * d);
            memcpy(k + (size_t)n * d, row + d, sizeof(float) * d);
            memcpy(v + (size_t)n * d, row + 2 * d, sizeof(float) * d);
        }
    }
}

void ops_window_attention(const float *qkv, int H, int W, int heads, int d,
                          int ws, float scale, const float *pad_qkv,
                          const float *bias, float *out)
{
    const int N = ws * ws;
    const int nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws;
    const int ld = heads * 3 * d, ldo = heads * d;
    const int jobs = nwy * nwx * heads;
    const size_t tile = (size_t)N * d;

#pragma omp parallel num_threads(ops_get_threads())
    {
        float *buf = malloc(sizeof(float) * (4 * tile + (size_t)N * N));
        float *q = buf, *k = q + tile, *v = k + tile, *o = v + tile;
        float *scores = o + tile;
#pragma omp for schedule(dynamic, 4)
        for (int job = 0; job < jobs; job++) {
            if (!buf) {
                ops_note_oom();
                continue;
            }
            int h = job % heads, win = job / heads;
            int wy = win / nwx, wx = win % nwx;
            gather_window(qkv, H, W, ld, ws, wy, wx, h * 3 * d, d, pad_qkv, q, k, v);
            ops_attention(q, d, k, d, v, d, N, N, d, scale,
                          bias ? bias + (size_t)h * N * N : NULL, o, d, scores);
            for (int y = 0; y < ws; y++) {
                int gy = wy * ws + y;
                if (gy >= H) break;
                for (int x = 0; x < ws; x++) {
                    int gx = wx * ws + x;
                    if (gx >= W) break;
                    memcpy(out + ((size_t)gy * W + gx) * ldo + h * d,
                           o + (size_t)(y * ws + x) * d, sizeof(float) * d);
                }
            }
        }
        free(buf);
    }
}
