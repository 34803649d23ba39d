/*
 * ops_q8.c - reduced-precision products: weight packing, the threaded
 * drivers of ops_linear_q8 / ops_conv2d_q8, and the portable kernels (what
 * non-x86 builds and MOBILESAM_ISA=scalar run, and what the SIMD kernels of
 * ops_q8_x86.c are checked against). See ops.h for the arithmetic.
 *
 * Packed weights: columns in panels of 16; in a panel, k in groups (4 k in
 * int8, 2 in bfloat16), each group 64 bytes (16 columns x the group's
 * consecutive k), the layout a 4-way u8 x s8 dot product (vpdpbusd) or a
 * 2-way bf16 one (vdpbf16ps) reads as one vector. N and K are padded with
 * zero weights to multiples of 16 and 4.
 */
#include "ops/ops_internal.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define Q8_MR 8      /* rows of a tile */
#define Q8_NP 3      /* panels (of 16 columns) of a tile */
#define Q8_RB 64     /* rows quantized together (a multiple of Q8_MR) */
#define Q8_IM2COL (96 * 1024) /* floats of a per-thread im2col band */

struct ops_q8w {
    int N, K, Kp, Np;  /* Kp = K rounded up to 4, Np = N rounded up to 16 */
    int bf16;          /* 0: int8 weights; 1: bfloat16 (sw = 1, wsum = 0) */
    int8_t *w;         /* Np / 16 panels of Kp * 16 elements (1 or 2 bytes) */
    float *sw, *wsum, *b; /* Np each (zero past N; b zero without bias) */
};

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* bytes of one packed weight or quantized activation */
static size_t elem_bytes(const ops_q8w *q) { return q->bf16 ? 2 : 1; }

static ops_q8w *pack_new(int N, int K, int bf16)
{
    if (N <= 0 || K <= 0) return NULL;
    ops_q8w *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->N = N;
    q->K = K;
    q->Kp = round_up(K, 4);
    q->Np = round_up(N, 16);
    q->bf16 = bf16;
    q->w = calloc((size_t)q->Np * q->Kp, elem_bytes(q));
    q->sw = calloc((size_t)q->Np * 3, sizeof(float));
    if (!q->w || !q->sw) {
        ops_q8w_free(q);
        return NULL;
    }
    q->wsum = q->sw + q->Np;
    q->b = q->wsum + q->Np;
    return q;
}

/* nearbyintf in the default rounding mode (to nearest, ties to even) for
 * |v| < 2^22, without a libm call: adding 1.5 * 2^23 leaves no fraction
 * bits, so the sum is rounded to an integer the FPU's way (no compiler
 * folds (v + c) - c without -ffast-math, which this code is not built
 * with). The caller must not let v's product be contracted into the sum
 * (an FMA would round x * s + c once, not twice): OPS_NO_CONTRACT. */
static inline float round_even(float v)
{
    const float big = 12582912.0f;
    return (v + big) - big;
}

/* Fills q (made by pack_new for w's N, K) with w quantized: rows packed in
 * parallel (a model switching precision packs ~10 MiB of weights at load):
 * independent rows, the same bits. */
OPS_NO_CONTRACT
static void fill_q8(ops_q8w *q, const float *w, const float *b)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    const int N = q->N, K = q->K;
    const size_t ps = (size_t)q->Kp * 16;
    const int nt = ops_threads_for((double)N * K);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *row = w + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = fabsf(row[k]);
            amax = a > amax ? a : amax;
        }
        const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
        const float inv = 1.0f / s;
        int32_t sum = 0;
        int8_t *panel = q->w + (size_t)(n / 16) * ps + (size_t)(n % 16) * 4;
        for (int k = 0; k < K; k++) {
            float v = round_even(row[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            const int8_t wq = (int8_t)v;
            panel[(size_t)(k / 4) * 64 + k % 4] = wq;
            sum += wq;
        }
        q->sw[n] = s;
        q->wsum[n] = (float)sum; /* |sum| <= 127 K: exact in float */
        q->b[n] = b ? b[n] : 0.0f;
    }
}

ops_q8w *ops_q8w_pack(const float *w, const float *b, int N, int K)
{
    ops_q8w *q = pack_new(N, K, 0);
    if (q) fill_q8(q, w, b);
    return q;
}

uint16_t ops_bf16_round(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) /* inf stays, NaN stays NaN (quiet) */
        return (uint16_t)(u >> 16 | ((u & 0x7fffffu) ? 0x40u : 0u));
    if ((u & 0x7f800000u) == 0) return (uint16_t)(u >> 16 & 0x8000u); /* subnormal: signed 0 */
    u += 0x7fffu + (u >> 16 & 1u); /* to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

static void fill_bf16(ops_q8w *q, const float *w, const float *b)
{
    const int N = q->N, K = q->K;
    uint16_t *pw = (uint16_t *)(void *)q->w;
    const size_t ps = (size_t)q->Kp * 16;
    const int nt = ops_threads_for((double)N * K);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int n = 0; n < N; n++) {
        uint16_t *panel = pw + (size_t)(n / 16) * ps + (size_t)(n % 16) * 2;
        for (int k = 0; k < K; k++)
            panel[(size_t)(k / 2) * 32 + k % 2] = ops_bf16_round(w[(size_t)n * K + k]);
        q->sw[n] = 1.0f;
        q->b[n] = b ? b[n] : 0.0f;
    }
}

ops_q8w *ops_q8w_pack_bf16(const float *w, const float *b, int N, int K)
{
    ops_q8w *q = pack_new(N, K, 1);
    if (q) fill_bf16(q, w, b);
    return q;
}

int ops_q8w_repack(ops_q8w **q, const float *w, const float *b, int N, int K, int bf16)
{
    bf16 = bf16 != 0;
    if (!*q || (*q)->N != N || (*q)->K != K || (*q)->bf16 != bf16) {
        ops_q8w_free(*q);
        *q = pack_new(N, K, bf16);
        if (!*q) return -1;
    }
    /* rows past N (zero) and the padding past K (zero) are as pack_new left
     * them: only rows < N and k < K are written */
    if (bf16)
        fill_bf16(*q, w, b);
    else
        fill_q8(*q, w, b);
    return 0;
}

int ops_q8w_is_bf16(const ops_q8w *q) { return q && q->bf16; }

void ops_q8w_free(ops_q8w *q)
{
    if (!q) return;
    free(q->w);
    free(q->sw);
    free(q);
}

size_t ops_q8w_bytes(const ops_q8w *q)
{
    return q ? sizeof *q + (size_t)q->Np * q->Kp * elem_bytes(q) + sizeof(float) * 3 * (size_t)q->Np
             : 0;
}

/* ---- portable kernels --------------------------------------------------- */

void ops_q8_quant_row_portable(const float *x, int K, int Kp, unsigned char *xq, float *sx,
                               float *mn)
{
    float lo = x[0], hi = x[0];
    for (int k = 1; k < K; k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    const float inv = 1.0f / s;
    for (int k = 0; k < K; k++) {
        float v = nearbyintf((x[k] - lo) * inv);
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        xq[k] = (unsigned char)v;
    }
    for (int k = K; k < Kp; k++) xq[k] = 0;
    *sx = s;
    *mn = lo;
}

static void pt_tile(const unsigned char *xq, size_t ldx, int mr, const signed char *wp, size_t ps,
                    int np, int kg, const float *sx, const float *mn, const float *sw,
                    const float *wsum, const float *b, const float *res, size_t ldr, float *y,
                    size_t ldy, int nc)
{
    for (int r = 0; r < mr; r++)
        for (int n = 0; n < nc; n++) {
            const signed char *col = wp + (size_t)(n / 16) * ps + (size_t)(n % 16) * 4;
            const unsigned char *row = xq + (size_t)r * ldx;
            int32_t acc = 0;
            for (int g = 0; g < kg; g++)
                for (int j = 0; j < 4; j++) acc += (int32_t)row[4 * g + j] * col[(size_t)g * 64 + j];
            float v = fmaf(sw[n], fmaf(sx[r], (float)acc, mn[r] * wsum[n]), b[n]);
            if (res) v += res[(size_t)r * ldr + n];
            y[(size_t)r * ldy + n] = v;
        }
    (void)np;
}

const ops_q8_kernels ops_q8_portable = {ops_q8_quant_row_portable, pt_tile, NULL, NULL};

/* bfloat16: the row rounded to bf16 (xq holds Kp uint16), zeros past K */
static void bf_quant_row(const float *x, int K, int Kp, unsigned char *xq, float *sx, float *mn)
{
    uint16_t *h = (uint16_t *)(void *)xq;
    for (int k = 0; k < K; k++) h[k] = ops_bf16_round(x[k]);
    for (int k = K; k < Kp; k++) h[k] = 0;
    *sx = 1.0f;
    *mn = 0.0f;
}

/* acc += x[2g + 1] w[2g + 1], then += x[2g] w[2g], each product exact in
 * float and each sum rounded (vdpbf16ps as Intel documents it) */
static void bf_tile(const unsigned char *xq, size_t ldx, int mr, const signed char *wp, size_t ps,
                    int np, int kg, const float *sx, const float *mn, const float *sw,
                    const float *wsum, const float *b, const float *res, size_t ldr, float *y,
                    size_t ldy, int nc)
{
    const uint16_t *pw = (const uint16_t *)(const void *)wp;
    for (int r = 0; r < mr; r++)
        for (int n = 0; n < nc; n++) {
            const uint16_t *col = pw + (size_t)(n / 16) * (ps / 2) + (size_t)(n % 16) * 2;
            const uint16_t *row = (const uint16_t *)(const void *)(xq + (size_t)r * ldx);
            float acc = 0.0f;
            for (int g = 0; g < kg; g++) {
                const float p1 = ops_bf16_to_float(row[2 * g + 1]) * ops_bf16_to_float(col[(size_t)g * 32 + 1]);
                const float p0 = ops_bf16_to_float(row[2 * g]) * ops_bf16_to_float(col[(size_t)g * 32]);
                acc += p1;
                acc += p0;
            }
            float v = acc + b[n];
            if (res) v += res[(size_t)r * ldr + n];
            y[(size_t)r * ldy + n] = v;
        }
    (void)np, (void)sx, (void)mn, (void)sw, (void)wsum;
}

static void bf_pack_pair(const float *b0, const float *b1, int N, uint16_t *panel0, size_t ps)
{
    for (int n = 0; n < N; n++) {
        uint16_t *d = panel0 + (size_t)(n / 16) * ps + (size_t)(n % 16) * 2;
        d[0] = ops_bf16_round(b0[n]);
        d[1] = b1 ? ops_bf16_round(b1[n]) : 0;
    }
}

const ops_q8_kernels ops_bf16_portable = {bf_quant_row, bf_tile, NULL, bf_pack_pair};

/* A tile through a 4-row kernel: its row halves and panels, rows < mr and
 * columns < nc stored, res added. */
static void tile_by4(ops_q8_tile4_fn t4, const unsigned char *xq, size_t ldx, int mr,
                     const signed char *wp, size_t ps, int np, int kg, const float *sx,
                     const float *mn, const float *sw, const float *wsum, const float *b,
                     const float *res, size_t ldr, float *y, size_t ldy, int nc)
{
    for (int j = 0; j < np && nc - 16 * j > 0; j++)
        for (int h = 0; h < 2 && h * 4 < mr; h++) {
            const size_t c = (size_t)16 * j;
            float out[4][16];
            t4(xq + (size_t)4 * h * ldx, ldx, wp + (size_t)j * ps, kg, sx + 4 * h, mn + 4 * h,
               sw + c, wsum + c, b + c, out);
            const int rows = mr - 4 * h < 4 ? mr - 4 * h : 4, n = nc - 16 * j < 16 ? nc - 16 * j : 16;
            for (int r = 0; r < rows; r++) {
                float *yr = y + (size_t)(4 * h + r) * ldy + c;
                if (res) {
                    const float *rr = res + (size_t)(4 * h + r) * ldr + c;
                    for (int i = 0; i < n; i++) yr[i] = out[r][i] + rr[i];
                } else
                    memcpy(yr, out[r], sizeof(float) * n);
            }
        }
}

/* ---- dispatch ------------------------------------------------------------ */

static const ops_q8_kernels *kernels_bf16(const char **name)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (ops_current_isa() >= OPS_ISA_AVX512 && ops_cpu_bf16()) {
        if (name) *name = "avx512-bf16";
        return &ops_bf16_avx512;
    }
#endif
    if (name) *name = "portable";
    return &ops_bf16_portable;
}

static const ops_q8_kernels *kernels(const char **name)
{
    const ops_isa isa = ops_current_isa();
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa >= OPS_ISA_AVX512 && ops_cpu_vnni(512)) {
        if (name) *name = "avx512-vnni";
        return &ops_q8_avx512vnni;
    }
    if (isa >= OPS_ISA_AVX2 && ops_cpu_vnni(256)) {
        if (name) *name = "avx-vnni";
        return &ops_q8_avxvnni;
    }
#elif defined(__aarch64__) && defined(__GNUC__)
    if (isa >= OPS_ISA_NEON && ops_cpu_int8()) {
        if (name) *name = "neon-dotprod";
        return &ops_q8_neon_dot;
    }
#else
    (void)isa;
#endif
    if (name) *name = "portable";
    return &ops_q8_portable;
}

/* the kernels of the int8 (bf16 0) or bf16 form */
static const ops_q8_kernels *kernels_form(int bf16)
{
    return bf16 ? kernels_bf16(NULL) : kernels(NULL);
}

static const ops_q8_kernels *kernels_for(const ops_q8w *q) { return kernels_form(q->bf16); }

ops_q8w *ops_q8w_new_bf16(int N, int K)
{
    ops_q8w *q = pack_new(N, K, 1);
    if (q)
        for (int n = 0; n < q->Np; n++) q->sw[n] = 1.0f;
    return q;
}

int ops_q8w_reserve_bf16(ops_q8w **q, int N, int K)
{
    if (*q && (*q)->bf16 && (*q)->N == N && (*q)->K == K) {
        memset((*q)->b, 0, sizeof(float) * (size_t)(*q)->Np);
        return 0;
    }
    ops_q8w_free(*q);
    *q = ops_q8w_new_bf16(N, K);
    return *q ? 0 : -1;
}

void ops_q8w_bf16_rows_t(ops_q8w *q, const float *B, size_t ldb, int k0, int nk)
{
    ops_ensure_init();
    if (!q || !q->bf16 || nk <= 0 || k0 < 0 || (k0 & 1) || k0 + nk > q->K) return;
    const ops_q8_kernels *kr = kernels_bf16(NULL);
    uint16_t *w = (uint16_t *)(void *)q->w;
    const size_t ps = (size_t)q->Kp * 16;
    for (int i = 0; i < nk; i += 2)
        kr->pack_pair(B + (size_t)i * ldb, i + 1 < nk ? B + (size_t)(i + 1) * ldb : NULL, q->N,
                      w + (size_t)(k0 + i) / 2 * 32, ps);
}

const char *ops_q8_path(void)
{
    const char *name;
    kernels(&name);
    return name;
}

const char *ops_bf16_path(void)
{
    const char *name;
    kernels_bf16(&name);
    return name;
}

/* Per-thread scratch of a block: Q8_RB quantized rows and their scales. */
typedef struct {
    unsigned char *xq;
    float *sx, *mn;
} q8_scratch;

static int scratch_new(q8_scratch *s, const ops_q8w *q)
{
    s->xq = malloc((size_t)Q8_RB * q->Kp * elem_bytes(q) + 64);
    s->sx = malloc(sizeof(float) * 2 * Q8_RB);
    s->mn = s->sx ? s->sx + Q8_RB : NULL;
    if (s->xq && s->sx) {
        memset(s->sx, 0, sizeof(float) * 2 * Q8_RB);
        return 0;
    }
    free(s->xq);
    free(s->sx);
    return -1;
}

static void scratch_free(q8_scratch *s)
{
    free(s->xq);
    free(s->sx);
}

/* y rows [0, rb) x panels [p0, p1) of act(x . w^T + b + res) from rb
 * quantized rows (xq, row stride ldq bytes, with their scales; the rows up
 * to rb rounded up to Q8_MR readable). */
static void q8_tiles(const ops_q8_kernels *kr, const unsigned char *xq, size_t ldq,
                     const float *sx, const float *mn, int rb, const ops_q8w *q, int p0, int p1,
                     const float *res, float *y, size_t ldy, ops_act act)
{
    const int kg = q->bf16 ? q->Kp / 2 : q->Kp / 4;
    const size_t ps = (size_t)q->Kp * elem_bytes(q) * 16;
    for (int p = p0; p < p1; p += Q8_NP) {
        const int np = p1 - p < Q8_NP ? p1 - p : Q8_NP;
        const int c0 = p * 16;
        int nc = np * 16;
        if (c0 + nc > q->N) nc = q->N - c0;
        for (int t = 0; t < rb; t += Q8_MR) {
            const size_t yr = (size_t)t * ldy;
            const int mr = rb - t < Q8_MR ? rb - t : Q8_MR;
            if (kr->tile)
                kr->tile(xq + (size_t)t * ldq, ldq, mr, q->w + (size_t)p * ps, ps, np, kg, sx + t,
                         mn + t, q->sw + c0, q->wsum + c0, q->b + c0,
                         res ? res + yr + c0 : NULL, ldy, y + yr + c0, ldy, nc);
            else
                tile_by4(kr->tile4, xq + (size_t)t * ldq, ldq, mr, q->w + (size_t)p * ps, ps, np,
                         kg, sx + t, mn + t, q->sw + c0, q->wsum + c0, q->b + c0,
                         res ? res + yr + c0 : NULL, ldy, y + yr + c0, ldy, nc);
        }
    }
    if (act != OPS_ACT_NONE) {
        const int c0 = p0 * 16, c1 = p1 * 16 < q->N ? p1 * 16 : q->N;
        for (int r = 0; r < rb; r++) ops_k.bias_act(y + (size_t)r * ldy + c0, NULL, c1 - c0, act);
    }
}

/* y rows [0, rows) x panels [p0, p1) of act(x . w^T + b + res); x rows of
 * stride ldx, quantized Q8_RB at a time into s. */
static void q8_block(const ops_q8_kernels *kr, const float *x, size_t ldx, int rows,
                     const ops_q8w *q, int p0, int p1, const float *res, float *y, size_t ldy,
                     ops_act act, q8_scratch *s)
{
    const int Kp = q->Kp;
    const size_t ldq = (size_t)Kp * elem_bytes(q);
    for (int r0 = 0; r0 < rows; r0 += Q8_RB) {
        const int rb = rows - r0 < Q8_RB ? rows - r0 : Q8_RB;
        for (int r = 0; r < rb; r++)
            kr->quant_row(x + (size_t)(r0 + r) * ldx, q->K, Kp, s->xq + (size_t)r * ldq, s->sx + r,
                          s->mn + r);
        const int rbp = round_up(rb, Q8_MR);
        if (rbp > rb) memset(s->xq + (size_t)rb * ldq, 0, (size_t)(rbp - rb) * ldq);
        q8_tiles(kr, s->xq, ldq, s->sx, s->mn, rb, q, p0, p1, res ? res + (size_t)r0 * ldy : NULL,
                 y + (size_t)r0 * ldy, ldy, act);
    }
}

/* How a product of M rows is shared out: tasks of Q8_RB rows x `per`
 * panels (col_tasks of them across the row), nt threads. */
typedef struct {
    int per, col_tasks, tasks, nt;
} q8_split;

static q8_split q8_split_for(int M, const ops_q8w *q)
{
    const int panels = q->Np / 16;
    const int row_tasks = (M + Q8_RB - 1) / Q8_RB;
    int nt = ops_threads_for((double)M * q->N * q->K / 64.0);
    /* few rows: also cut the columns, in groups of whole tiles */
    int col_tasks = 1;
    if (nt > 1 && row_tasks < 2 * nt) {
        col_tasks = (panels + Q8_NP - 1) / Q8_NP;
        if (col_tasks > 2 * nt) col_tasks = 2 * nt;
    }
    const int per = ((panels + col_tasks - 1) / col_tasks + Q8_NP - 1) / Q8_NP * Q8_NP;
    col_tasks = (panels + per - 1) / per;
    q8_split sp = {per, col_tasks, row_tasks * col_tasks, nt};
    if (sp.nt > sp.tasks) sp.nt = sp.tasks;
    return sp;
}

void ops_linear_q8(const float *x, int M, const ops_q8w *q, float *y, const float *residual,
                   ops_act act)
{
    ops_ensure_init();
    if (M <= 0 || !q) return;
    const ops_q8_kernels *kr = kernels_for(q);
    const int panels = q->Np / 16;
    const q8_split sp = q8_split_for(M, q);
    const int per = sp.per, col_tasks = sp.col_tasks, tasks = sp.tasks, nt = sp.nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        q8_scratch s;
        const int ok = scratch_new(&s, q) == 0;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            if (!ok) { /* out of memory: the block is left unwritten */
                ops_note_oom();
                continue;
            }
            const int r0 = (t / col_tasks) * Q8_RB, p0 = (t % col_tasks) * per;
            const int rows = M - r0 < Q8_RB ? M - r0 : Q8_RB;
            const int p1 = p0 + per < panels ? p0 + per : panels;
            q8_block(kr, x + (size_t)r0 * q->K, (size_t)q->K, rows, q, p0, p1,
                     residual ? residual + (size_t)r0 * q->N : NULL, y + (size_t)r0 * q->N,
                     (size_t)q->N, act, &s);
        }
        if (ok) scratch_free(&s);
    }
}

/* ---- activations quantized ahead of their products ----------------------- */

struct ops_q8x {
    int M, K, Kp, bf16;
    size_t ldq;          /* bytes per row */
    unsigned char *xq;   /* M rows rounded up to Q8_MR (+ slack), zero at first */
    float *sx, *mn;      /* as many */
};

ops_q8x *ops_q8x_new(int M, int K, int bf16)
{
    if (M <= 0 || K <= 0) return NULL;
    ops_q8x *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->M = M;
    x->K = K;
    x->Kp = round_up(K, 4);
    x->bf16 = bf16 != 0;
    x->ldq = (size_t)x->Kp * (x->bf16 ? 2 : 1);
    const size_t rows = (size_t)round_up(M, Q8_MR);
    x->xq = calloc(1, rows * x->ldq + 64);
    x->sx = calloc(2 * rows, sizeof(float));
    if (!x->xq || !x->sx) {
        ops_q8x_free(x);
        return NULL;
    }
    x->mn = x->sx + rows;
    return x;
}

void ops_q8x_free(ops_q8x *x)
{
    if (!x) return;
    free(x->xq);
    free(x->sx);
    free(x);
}

int ops_q8x_reserve(ops_q8x **x, int M, int K, int bf16)
{
    if (*x && (*x)->M == M && (*x)->K == K && (*x)->bf16 == (bf16 != 0)) return 0;
    ops_q8x_free(*x);
    *x = ops_q8x_new(M, K, bf16);
    return *x ? 0 : -1;
}

void ops_layernorm_add_q8x(const float *x, float *y, int rows, int C, const float *g,
                           const float *b, float eps, const float *p, const uint16_t *pb,
                           ops_q8x *xq, int r0)
{
    ops_ensure_init();
    if (rows <= 0 || !xq || xq->K != C || r0 < 0 || r0 + rows > xq->M) return;
    const ops_q8_kernels *kr = kernels_form(xq->bf16);
    const int nt = ops_threads_for((double)rows * C * 5.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *t = malloc(sizeof(float) * (size_t)C); /* y + p, one row, in L1 */
        if (!t) ops_note_oom();
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            if (!t) continue;
            const size_t o = (size_t)r * C;
            ops_k.layernorm(x + o, y + o, C, g, b, eps);
            ops_add_p_row(t, y + o, p ? p + o : NULL, pb ? pb + o : NULL, (size_t)C);
            kr->quant_row(t, C, xq->Kp, xq->xq + (size_t)(r0 + r) * xq->ldq, xq->sx + r0 + r,
                          xq->mn + r0 + r);
        }
        free(t);
    }
}

void ops_linear_q8x(const ops_q8x *xq, int r0, int M, const ops_q8w *q, float *y,
                    const float *residual, ops_act act)
{
    ops_ensure_init();
    if (M <= 0 || !q || !xq || xq->bf16 != q->bf16 || xq->K != q->K || r0 < 0 ||
        r0 + M > xq->M)
        return;
    const ops_q8_kernels *kr = kernels_for(q);
    const int panels = q->Np / 16;
    const q8_split sp = q8_split_for(M, q);
    const int per = sp.per, col_tasks = sp.col_tasks, tasks = sp.tasks, nt = sp.nt;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int t = 0; t < tasks; t++) {
        const int a = (t / col_tasks) * Q8_RB, p0 = (t % col_tasks) * per;
        const int rows = M - a < Q8_RB ? M - a : Q8_RB;
        const int p1 = p0 + per < panels ? p0 + per : panels;
        const size_t r = (size_t)(r0 + a);
        q8_tiles(kr, xq->xq + r * xq->ldq, xq->ldq, xq->sx + r, xq->mn + r, rows, q, p0, p1,
                 residual ? residual + (size_t)a * q->N : NULL, y + (size_t)a * q->N,
                 (size_t)q->N, act);
    }
}

int ops_q8_rows(const float *x, int M, const ops_q8w *q, float *y, size_t ldy)
{
    if (M <= 0) return 0;
    q8_scratch s;
    if (scratch_new(&s, q)) return -1;
    q8_block(kernels_for(q), x, (size_t)q->K, M, q, 0, q->Np / 16, NULL, y, ldy, OPS_ACT_NONE, &s);
    scratch_free(&s);
    return 0;
}

void ops_conv2d_q8(const float *x, int H, int W, int Cin, const ops_q8w *q, int K, int stride,
                   int pad, float *y, ops_act act)
{
    ops_ensure_init();
    if (!q) return;
    if (K == 1 && stride == 1 && pad == 0) {
        ops_linear_q8(x, H * W, q, y, NULL, act);
        return;
    }
    const int Ho = (H + 2 * pad - K) / stride + 1, Wo = (W + 2 * pad - K) / stride + 1;
    if (Ho <= 0 || Wo <= 0) return;
    const ops_q8_kernels *kr = kernels_for(q);
    const size_t KK = (size_t)K * K * Cin;
    int band = (int)(Q8_IM2COL / ((size_t)Wo * KK));
    if (band < 1) band = 1;
    const int bands = (Ho + band - 1) / band;
    int nt = ops_threads_for((double)Ho * Wo * KK * q->N / 64.0);
    if (nt > bands) nt = bands;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        q8_scratch s;
        float *col = malloc(sizeof(float) * (size_t)band * Wo * KK);
        const int ok = col && scratch_new(&s, q) == 0;
#pragma omp for schedule(dynamic, 1)
        for (int bi = 0; bi < bands; bi++) {
            if (!ok) {
                ops_note_oom();
                continue;
            }
            const int oy0 = bi * band, oy1 = oy0 + band < Ho ? oy0 + band : Ho;
            ops_im2col_rows(x, H, W, Cin, K, stride, pad, Wo, oy0, oy1, col);
            q8_block(kr, col, KK, (oy1 - oy0) * Wo, q, 0, q->Np / 16, NULL,
                     y + (size_t)oy0 * Wo * q->N, (size_t)q->N, act, &s);
        }
        if (ok) scratch_free(&s);
        free(col);
    }
}
