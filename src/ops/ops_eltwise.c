/*
 * ops_eltwise.c - public element-wise, LayerNorm and softmax kernels:
 * argument handling and OpenMP splitting around the ops_k row kernels.
 */
#include "ops/ops_internal.h"

#define CHUNK 16384 /* floats per parallel work item (multiple of 16) */

#define FOR_CHUNKS(n, work_per_elem, BODY)                                    \
    do {                                                                      \
        const size_t n_ = (n);                                                \
        const long nchunk_ = (long)((n_ + CHUNK - 1) / CHUNK);                \
        const int nt_ = ops_threads_for((double)n_ * (work_per_elem));        \
        if (nt_ <= 1) {                                                       \
            const size_t lo = 0, len = n_;                                    \
            BODY;                                                             \
        } else {                                                              \
            _Pragma("omp parallel for num_threads(nt_) schedule(static)")     \
            for (long c_ = 0; c_ < nchunk_; c_++) {                           \
                const size_t lo = (size_t)c_ * CHUNK;                         \
                const size_t len = (n_ - lo) < CHUNK ? (n_ - lo) : CHUNK;     \
                BODY;                                                         \
            }                                                                 \
        }                                                                     \
    } while (0)

void ops_gelu(float *x, size_t n)
{
    ops_ensure_init();
    FOR_CHUNKS(n, 16.0, ops_k.gelu(x + lo, len));
}

void ops_relu(float *x, size_t n)
{
    ops_ensure_init();
    FOR_CHUNKS(n, 1.0, ops_k.relu(x + lo, len));
}

void ops_add(float *y, const float *x, size_t n)
{
    ops_ensure_init();
    FOR_CHUNKS(n, 1.0, ops_k.add(y + lo, x + lo, len));
}

void ops_add_to(float *out, const float *a, const float *b, size_t n)
{
    ops_ensure_init();
    FOR_CHUNKS(n, 1.0, ops_k.add_to(out + lo, a + lo, b + lo, len));
}

void ops_layernorm(const float *x, float *y, int rows, int C, const float *g,
                   const float *b, float eps)
{
    ops_ensure_init();
    if (rows <= 0 || C <= 0) return;
    const int nt = ops_threads_for((double)rows * C * 4.0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int r = 0; r < rows; r++)
        ops_k.layernorm(x + (size_t)r * C, y + (size_t)r * C, C, g, b, eps);
}

void ops_layernorm_add(const float *x, float *y, int rows, int C, const float *g,
                       const float *b, float eps, const float *p, const uint16_t *pb, float *yp)
{
    ops_ensure_init();
    if (rows <= 0 || C <= 0) return;
    const int nt = ops_threads_for((double)rows * C * 5.0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int r = 0; r < rows; r++) {
        const size_t o = (size_t)r * C;
        ops_k.layernorm(x + o, y + o, C, g, b, eps);
        ops_add_p_row(yp + o, y + o, p ? p + o : NULL, pb ? pb + o : NULL, (size_t)C);
    }
}

void ops_softmax_cols(float *x, int rows, int cols)
{
    ops_ensure_init();
    if (rows <= 0 || cols <= 0) return;
    /* columns per task: independent, so any split gives the same bits;
     * about 16K values per task, in whole vectors (a tall, narrow matrix
     * such as the decoder's 4096 x 64 scores is still shared out) */
    int chunk = (16384 / rows) & ~15;
    if (chunk < 16) chunk = 16;
    if (chunk > 256) chunk = 256;
    const int tasks = (cols + chunk - 1) / chunk;
    int nt = ops_threads_for((double)rows * cols * 8.0);
    if (nt > tasks) nt = tasks;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < tasks; t++) {
        int c0 = t * chunk, c1 = c0 + chunk < cols ? c0 + chunk : cols;
        ops_k.softmax_cols(x, rows, cols, c0, c1);
    }
}

void ops_softmax_rows(float *x, int rows, int cols)
{
    ops_ensure_init();
    if (rows <= 0 || cols <= 0) return;
    const int nt = ops_threads_for((double)rows * cols * 8.0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int r = 0; r < rows; r++) ops_k.softmax(x + (size_t)r * cols, cols);
}

void ops_transpose(const float *src, size_t lds, int rows, int cols, float *dst, size_t ldd)
{
    ops_ensure_init();
    if (rows <= 0 || cols <= 0) return;
    /* bands of source rows (multiples of 64) across threads */
    int nt = ops_threads_for((double)rows * cols);
    const int bands = (rows + 63) / 64;
    if (nt > bands) nt = bands;
    if (nt <= 1) {
        ops_k.transpose(src, lds, rows, cols, dst, ldd);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < nt; b++) {
        const int r0 = (int)((long)bands * b / nt) * 64, r1 = (int)((long)bands * (b + 1) / nt) * 64;
        const int n = (r1 < rows ? r1 : rows) - r0;
        if (n > 0) ops_k.transpose(src + (size_t)r0 * lds, lds, n, cols, dst + r0, ldd);
    }
}

void ops_interleave2(const float *a, const float *b, int n, float *y)
{
    ops_ensure_init();
    if (n > 0) ops_k.interleave2(a, b, n, y);
}
