/*
 * relpos_attention.c - multi-head self-attention over a token grid, in
 * windows or globally, with a decomposed relative-position bias (MViTv2 /
 * ViTDet style): the bias between positions i and j is q_i . Rh[yi - yj]
 * + q_i . Rw[xi - xj], two small tables instead of an (N, N) one.
 *
 * Work is cut into (window, head) jobs spread over the threads; inside a
 * job, query rows go in blocks of REL_ROWS, so a thread never holds more
 * than REL_ROWS x N scores: for a global window of 4096 tokens that is
 * 4 MiB instead of a 64 MiB score matrix per head (768 MiB for the 12 heads
 * of vit_b, as the official code holds them). Small windows run the fused
 * attention row kernel with the bias rows expanded beside it; long ones
 * (global) two BLAS GEMMs around a row softmax, the bias added in between,
 * which keeps the keys and values streaming through the BLAS's blocking
 * rather than through a few rows of registers. Keys and values are read in
 * place when the window is the whole, unpadded grid, and gathered into
 * per-thread tiles otherwise.
 */
#include "ops/ops_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define REL_ROWS 256    /* query rows per block */
#define REL_GEMM_N 1024 /* windows of at least this many tokens: BLAS GEMMs */

typedef struct {
    float *q, *k, *v, *o;  /* gathered tiles (windows with padding) */
    float *relh, *relw;    /* REL_ROWS x (2 ws - 1) */
    float *bias, *scores;  /* REL_ROWS x N */
} rel_bufs;

static void bufs_free(rel_bufs *b)
{
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->o);
    free(b->relh);
    free(b->relw);
    free(b->bias);
    free(b->scores);
}

static int bufs_alloc(rel_bufs *b, int N, int d, int ws, int gather, int need_bias)
{
    const size_t nt = (size_t)2 * ws - 1;
    memset(b, 0, sizeof *b);
    if (gather) {
        b->q = malloc(sizeof(float) * (size_t)REL_ROWS * d);
        b->k = malloc(sizeof(float) * (size_t)N * d);
        b->v = malloc(sizeof(float) * (size_t)N * d);
        b->o = malloc(sizeof(float) * (size_t)REL_ROWS * d);
    }
    b->relh = malloc(sizeof(float) * REL_ROWS * nt);
    b->relw = malloc(sizeof(float) * REL_ROWS * nt);
    b->bias = need_bias ? malloc(sizeof(float) * (size_t)REL_ROWS * N) : NULL;
    b->scores = malloc(sizeof(float) * (size_t)REL_ROWS * N);
    if ((gather && (!b->q || !b->k || !b->v || !b->o)) || !b->relh || !b->relw ||
        (need_bias && !b->bias) || !b->scores) {
        bufs_free(b);
        return -1;
    }
    return 0;
}

/* Row of the grid at window-local position n, or NULL for a padded one. */
static const float *grid_row(const float *qkv, int ld, int H, int W, int ws, int wy, int wx,
                             int n)
{
    const int gy = wy * ws + n / ws, gx = wx * ws + n % ws;
    return gy < H && gx < W ? qkv + ((size_t)gy * W + gx) * ld : NULL;
}

/* The bias rows of a block: bias[r][ky * ws + kx] (+)= relh[r][yr - ky + ws - 1]
 * + relw[r][xr - kx + ws - 1], (yr, xr) the window position of row i0 + r;
 * accumulate: added to what bias holds. */
static void expand_bias(const float *relh, const float *relw, int nr, int i0, int ws,
                        float *bias, int accumulate)
{
    const int nt = 2 * ws - 1, N = ws * ws;
    for (int r = 0; r < nr; r++) {
        const int yq = (i0 + r) / ws, xq = (i0 + r) % ws;
        const float *rh = relh + (size_t)r * nt + yq + ws - 1;
        const float *rw = relw + (size_t)r * nt + xq + ws - 1;
        float *brow = bias + (size_t)r * N;
        for (int ky = 0; ky < ws; ky++) {
            const float h = rh[-ky];
            float *b = brow + (size_t)ky * ws;
            if (accumulate)
                for (int kx = 0; kx < ws; kx++) b[kx] += h + rw[-kx];
            else
                for (int kx = 0; kx < ws; kx++) b[kx] = h + rw[-kx];
        }
    }
}

void ops_relpos_attention(const float *qkv, int ld, int k_off, int v_off, int H, int W,
                          int heads, int d, int ws, float scale, const float *rel_h,
                          const float *rel_w, const float *pad_row, float *out, int ldo)
{
    ops_ensure_init();
    if (H <= 0 || W <= 0 || heads <= 0 || d <= 0 || ws <= 0) return;
    const int N = ws * ws, nt = 2 * ws - 1;
    const int nwy = (H + ws - 1) / ws, nwx = (W + ws - 1) / ws;
    const int jobs = nwy * nwx * heads;
    /* The whole grid as one unpadded window: rows are read where they are. */
    const int in_place = H == ws && W == ws;
    int nthreads = ops_threads_for((double)jobs * N * N * (2.0 * d + 8.0));
    if (nthreads > jobs) nthreads = jobs;

#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        rel_bufs b;
        const int ok = bufs_alloc(&b, N, d, ws, !in_place, N < REL_GEMM_N) == 0;
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < jobs; job++) {
            if (!ok) { /* out of memory: the job's outputs are left unwritten */
                ops_note_oom();
                continue;
            }
            const int h = job % heads, win = job / heads;
            const int wy = win / nwx, wx = win % nwx;
            const int qc = h * d, kc = k_off + h * d, vc = v_off + h * d;
            const float *k, *v;
            int ldk;
            if (in_place) {
                k = qkv + kc;
                v = qkv + vc;
                ldk = ld;
            } else {
                for (int n = 0; n < N; n++) {
                    const float *row = grid_row(qkv, ld, H, W, ws, wy, wx, n);
                    if (!row) row = pad_row;
                    if (row) {
                        memcpy(b.k + (size_t)n * d, row + kc, sizeof(float) * d);
                        memcpy(b.v + (size_t)n * d, row + vc, sizeof(float) * d);
                    } else {
                        memset(b.k + (size_t)n * d, 0, sizeof(float) * d);
                        memset(b.v + (size_t)n * d, 0, sizeof(float) * d);
                    }
                }
                k = b.k;
                v = b.v;
                ldk = d;
            }
            for (int i0 = 0; i0 < N; i0 += REL_ROWS) {
                const int nr = N - i0 < REL_ROWS ? N - i0 : REL_ROWS;
                const float *q;
                float *o;
                int ldq, ldoo;
                if (in_place) {
                    q = qkv + (size_t)i0 * ld + qc;
                    ldq = ld;
                    o = out + (size_t)i0 * ldo + qc;
                    ldoo = ldo;
                } else {
                    for (int r = 0; r < nr; r++) {
                        const float *row = grid_row(qkv, ld, H, W, ws, wy, wx, i0 + r);
                        if (!row) row = pad_row;
                        if (row) memcpy(b.q + (size_t)r * d, row + qc, sizeof(float) * d);
                        else memset(b.q + (size_t)r * d, 0, sizeof(float) * d);
                    }
                    q = b.q;
                    ldq = d;
                    o = b.o;
                    ldoo = d;
                }
                /* q . R[t] for every table row t: (nr, 2 ws - 1), unscaled q */
                ops_gemm(0, 1, nr, nt, d, 1.0f, q, ldq, rel_h, d, 0.0f, b.relh, nt);
                ops_gemm(0, 1, nr, nt, d, 1.0f, q, ldq, rel_w, d, 0.0f, b.relw, nt);
                if (N >= REL_GEMM_N) {
                    /* long rows: two GEMMs around the softmax */
                    ops_gemm(0, 1, nr, N, d, scale, q, ldq, k, ldk, 0.0f, b.scores, N);
                    expand_bias(b.relh, b.relw, nr, i0, ws, b.scores, 1);
                    for (int r = 0; r < nr; r++) ops_k.softmax(b.scores + (size_t)r * N, N);
                    ops_gemm(0, 0, nr, d, N, 1.0f, b.scores, N, v, ldk, 0.0f, o, ldoo);
                } else {
                    expand_bias(b.relh, b.relw, nr, i0, ws, b.bias, 0);
                    ops_k.attention(q, ldq, k, ldk, v, ldk, nr, N, d, scale, b.bias, o, ldoo,
                                    b.scores);
                }
                if (!in_place) /* scatter the block's real positions */
                    for (int r = 0; r < nr; r++) {
                        const int n = i0 + r;
                        const int gy = wy * ws + n / ws, gx = wx * ws + n % ws;
                        if (gy < H && gx < W)
                            memcpy(out + ((size_t)gy * W + gx) * ldo + qc, b.o + (size_t)r * d,
                                   sizeof(float) * d);
                    }
            }
        }
        if (ok) bufs_free(&b);
    }
}
