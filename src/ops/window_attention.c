/*
 * window_attention.c - windowed multi-head self-attention over a token grid.
 *
 * Windows are addressed in place: each job (a window, with all its heads or
 * one) gathers its qkv rows straight from the qkv matrix (or the shared
 * padding row) into a small per-thread tile, one copy per token, so the
 * map is never partitioned or padded in memory. In bfloat16 not even that:
 * the kernel converts each token's q, k and v from where they are.
 */
#include "ops/ops_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One job: the window's rows of the heads [h0, h0 + hc), whose q, k, v
 * columns are adjacent in a qkv row ([h0 * 3d, (h0 + hc) * 3d)), gathered
 * into a tile of N rows of hc * 3d floats: one copy per token. */
static void gather_window(const float *qkv, int H, int W, int ld, int ws, int wy, int wx,
                          int col, int width, const float *pad_row, float *tile)
{
    int n = 0;
    for (int y = 0; y < ws; y++) {
        int gy = wy * ws + y;
        for (int x = 0; x < ws; x++, n++) {
            int gx = wx * ws + x;
            const float *row = (gy < H && gx < W) ? qkv + ((size_t)gy * W + gx) * ld + col
                                                  : pad_row + col;
            memcpy(tile + (size_t)n * width, row, sizeof(float) * width);
        }
    }
}

/* Query rows of window row wy: its rows down to the grid's last one (the
 * outputs of padded rows below it are dropped; padded positions are still
 * keys). */
static int window_queries(int H, int ws, int wy)
{
    return (H - wy * ws < ws ? H - wy * ws : ws) * ws;
}

/* bf16: no gather; the kernel reads each token's q, k, v where they are
 * and writes its output row in place (padded positions: the pad row, and
 * a scratch row for the output). Jobs (window, head). */
static void bf16_windows(const float *qkv, int H, int W, int heads, int d, int ws, float scale,
                         const float *pad_qkv, const float *bias, float *out)
{
    const int N = ws * ws, nwx = (W + ws - 1) / ws, nwy = (H + ws - 1) / ws;
    const int ld = heads * 3 * d, ldo = heads * d, jobs = nwy * nwx * heads;
#pragma omp parallel num_threads(ops_get_threads())
    {
        /* rows q, k, v, out: 4 N pointers; scratch: N scores, d outputs */
        void *buf = malloc(sizeof(float *) * 4 * (size_t)N + sizeof(float) * ((size_t)N + d));
        const float **qr = buf, **kr = NULL, **vr = NULL;
        float **outr = NULL, *scratch = NULL;
        if (buf) {
            kr = qr + N;
            vr = kr + N;
            outr = (float **)(void *)(vr + N);
            scratch = (float *)(void *)(outr + N);
        }
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < jobs; job++) {
            if (!buf) {
                ops_note_oom();
                continue;
            }
            const int h = job % heads, win = job / heads, wy = win / nwx, wx = win % nwx;
            for (int n = 0; n < N; n++) {
                const int gy = wy * ws + n / ws, gx = wx * ws + n % ws;
                const int in = gy < H && gx < W;
                const float *row = (in ? qkv + ((size_t)gy * W + gx) * ld : pad_qkv) + h * 3 * d;
                qr[n] = row;
                kr[n] = row + d;
                vr[n] = row + 2 * d;
                outr[n] = in ? out + ((size_t)gy * W + gx) * ldo + h * d : scratch + N;
            }
            ops_attention_bf16_rows(qr, kr, vr, window_queries(H, ws, wy), N, d, scale,
                                    bias ? bias + (size_t)h * N * N : NULL, outr, scratch);
        }
        free(buf);
    }
}

void ops_window_attention(const float *qkv, int H, int W, int heads, int d,
                          int ws, float scale, const float *pad_qkv,
                          const float *bias, float *out, int bf16)
{
    const int N = ws * ws;
    const int nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws;
    const int ld = heads * 3 * d, ldo = heads * d;
    /* jobs: (window, all heads) when there are windows enough to share
     * out, else (window, head); chosen by shape, so the same bits for any
     * thread count (each head's arithmetic is the same either way) */
    const int windows = nwy * nwx, hc = windows >= 16 ? heads : 1, hjobs = heads / hc;
    const int jobs = windows * hjobs, tw = hc * 3 * d, ow = hc * d;

    if (bf16) {
        bf16_windows(qkv, H, W, heads, d, ws, scale, pad_qkv, bias, out);
        return;
    }
#pragma omp parallel num_threads(ops_get_threads())
    {
        float *buf = malloc(sizeof(float) * ((size_t)N * (tw + ow) + (size_t)N * N));
        float *tile = buf, *o = tile + (size_t)N * tw, *scores = o + (size_t)N * ow;
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < jobs; job++) {
            if (!buf) {
                ops_note_oom();
                continue;
            }
            const int h0 = (job % hjobs) * hc, win = job / hjobs;
            const int wy = win / nwx, wx = win % nwx;
            gather_window(qkv, H, W, ld, ws, wy, wx, h0 * 3 * d, tw, pad_qkv, tile);
            const int nq = window_queries(H, ws, wy);
            for (int j = 0; j < hc; j++) {
                const float *q = tile + (size_t)j * 3 * d;
                ops_attention(q, tw, q + d, tw, q + 2 * d, tw, nq, N, d, scale,
                              bias ? bias + (size_t)(h0 + j) * N * N : NULL, o + (size_t)j * d, ow,
                              scores);
            }
            for (int y = 0; y < ws; y++) {
                int gy = wy * ws + y;
                if (gy >= H) break;
                for (int x = 0; x < ws; x++) {
                    int gx = wx * ws + x;
                    if (gx >= W) break;
                    memcpy(out + ((size_t)gy * W + gx) * ldo + h0 * d,
                           o + (size_t)(y * ws + x) * ow, sizeof(float) * ow);
                }
            }
        }
        free(buf);
    }
}
