/*
 * attention_bf16.c - one attention head with its two products in bfloat16
 * (see ops_attention_bf16 in ops.h): q, k, v and the softmax's
 * probabilities rounded to bf16, the products exact in float32 and summed
 * two at a time as vdpbf16ps sums them. AVX512-BF16 kernel for heads up to
 * BA_MAX_D wide and BA_MAX_K keys (window attention: 49 or 196 keys of 32
 * dimensions), a portable loop in the same order for the rest and for
 * other CPUs.
 */
#include "ops/ops_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define BA_MAX_D 32  /* widest head of the SIMD kernel */
#define BA_MAX_K 256 /* most keys of the SIMD kernel */

static float bf(float x) { return ops_bf16_to_float(ops_bf16_round(x)); }

/* scratch: Nk floats (a row of scores) */
static void attention_bf16_portable(const float *const *qr, const float *const *kr,
                                    const float *const *vr, int Nq, int Nk, int d, float scale,
                                    const float *bias, float *const *outr, float *s)
{
    for (int i = 0; i < Nq; i++) {
        const float *qi = qr[i];
        for (int j = 0; j < Nk; j++) {
            const float *kj = kr[j];
            float acc = 0.0f; /* pairs (2g, 2g + 1), the odd one first */
            for (int t = 0; t < d; t += 2) {
                if (t + 1 < d) acc += bf(qi[t + 1]) * bf(kj[t + 1]);
                acc += bf(qi[t]) * bf(kj[t]);
            }
            s[j] = acc * scale + (bias ? bias[(size_t)i * Nk + j] : 0.0f);
        }
        ops_k.softmax(s, Nk);
        for (int c = 0; c < d; c++) {
            float acc = 0.0f;
            for (int j = 0; j < Nk; j += 2) {
                if (j + 1 < Nk) acc += bf(s[j + 1]) * bf(vr[j + 1][c]);
                acc += bf(s[j]) * bf(vr[j][c]);
            }
            outr[i][c] = acc;
        }
    }
}

/* ---- AVX512-BF16 ------------------------------------------------------------ */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,fma")
#endif

#define BA_R 8 /* query rows per block */

static __mmask16 ba_mask(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* 32 floats (n valid, zeros past) as 16 bf16 pairs (2g, 2g + 1) */
static inline __m512i ba_pairs(const float *x, int n)
{
    const __m512 lo = _mm512_maskz_loadu_ps(ba_mask(n), x);
    const __m512 hi = n > 16 ? _mm512_maskz_loadu_ps(ba_mask(n - 16), x + 16) : _mm512_setzero_ps();
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* bf16 pairs (a[c], b[c]) of two 16-float vectors */
static inline __m512i ba_zip(__m512 a, __m512 b)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17,
                                         1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/* acc[r][u] = sum over g < n of the pair a[r][g] times the 16 pairs
 * b[g * ldb + 16 u ..]: BA_R rows x 32 columns, both products' tile */
static inline void ba_tile(const uint32_t *const a[BA_R], const uint32_t *b, size_t ldb, int n,
                           __m512 acc[BA_R][2])
{
    for (int r = 0; r < BA_R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int g = 0; g < n; g++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)g * ldb);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)g * ldb + 16);
#pragma GCC unroll 8
        for (int r = 0; r < BA_R; r++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r][g]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
        }
    }
}

/* Scores of BA_R rows (pairs qp[r]) against 32 keys [j, j + 32) of K^T in
 * pairs (kp: dp rows of ldk uint32), times scale, plus bias; -inf past Nk.
 * Only rows < nr are stored. */
static inline void ba_qk(const uint32_t *const qp[BA_R], int dp, const uint32_t *kp, int ldk,
                         int j, float scale, const float *const br[BA_R], float *const sr[BA_R],
                         int nr, int Nk)
{
    __m512 acc[BA_R][2];
    ba_tile(qp, kp + j, (size_t)ldk, dp, acc);
    const __m512 vs = _mm512_set1_ps(scale);
    for (int r = 0; r < nr; r++)
        for (int u = 0; u < 2; u++) {
            const int col = j + 16 * u;
            const __mmask16 m = ba_mask(Nk - col > 0 ? Nk - col : 0);
            __m512 s = _mm512_mul_ps(acc[r][u], vs);
            if (br[r]) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, br[r] + col));
            _mm512_storeu_ps(sr[r] + col, _mm512_mask_blend_ps(m, _mm512_set1_ps(-INFINITY), s));
        }
}

/* out rows += P V for columns [c, c + 32): pp[r] the bf16 pairs of row r's
 * probabilities, vp the pairs of V rows (kp2 rows of ldv uint32) */
static inline void ba_pv(const uint32_t *const pp[BA_R], int kp2, const uint32_t *vp, int ldv,
                         int c, int d, float *const orow[BA_R], int nr)
{
    __m512 acc[BA_R][2];
    ba_tile(pp, vp + c, (size_t)ldv, kp2, acc);
    for (int r = 0; r < nr; r++)
        for (int u = 0; u < 2; u++) {
            const int col = c + 16 * u;
            if (col < d) _mm512_mask_storeu_ps(orow[r] + col, ba_mask(d - col), acc[r][u]);
        }
}

static void attention_bf16_avx512(const float *const *qr, const float *const *kr,
                                  const float *const *vr, int Nq, int Nk, int d, float scale,
                                  const float *bias, float *const *outr)
{
    const int dp = (d + 1) / 2, Nkp = (Nk + 31) / 32 * 32, kp2 = (Nk + 1) / 2;
    const int dv = (d + 31) / 32 * 32; /* V pair rows: whole 32-column blocks */
    uint32_t kb[BA_MAX_K * BA_MAX_D / 2];           /* K's rows in pairs, (Nkp, 16) */
    uint32_t kp[BA_MAX_D / 2 * BA_MAX_K];           /* their transpose, (dp, Nkp) */
    uint32_t vp[BA_MAX_K / 2 * BA_MAX_D];           /* V's pairs of rows, (kp2, dv) */
    float s[BA_R][BA_MAX_K];
    uint32_t pp[BA_R][BA_MAX_K / 2];
    uint32_t qp[BA_R][BA_MAX_D / 2];

    for (int j = 0; j < Nkp; j++)
        _mm512_storeu_si512(kb + (size_t)j * 16, j < Nk ? ba_pairs(kr[j], d) : _mm512_setzero_si512());
    /* moved as 32-bit lanes: the float transpose moves bits */
    ops_k.transpose((const float *)(const void *)kb, 16, Nkp, dp, (float *)(void *)kp, (size_t)Nkp);
    for (int h = 0; h < kp2; h++) {
        const float *v0 = vr[2 * h], *v1 = 2 * h + 1 < Nk ? vr[2 * h + 1] : NULL;
        for (int c = 0; c < dv; c += 16) {
            const __mmask16 m = ba_mask(d - c > 0 ? d - c : 0);
            const __m512 a = _mm512_maskz_loadu_ps(m, v0 + c);
            const __m512 b = v1 ? _mm512_maskz_loadu_ps(m, v1 + c) : _mm512_setzero_ps();
            _mm512_storeu_si512(vp + (size_t)h * dv + c, ba_zip(a, b));
        }
    }

    for (int i0 = 0; i0 < Nq; i0 += BA_R) {
        const int nr = Nq - i0 < BA_R ? Nq - i0 : BA_R;
        const float *br[BA_R];
        float *sr[BA_R], *orow[BA_R];
        const uint32_t *ppr[BA_R], *qpr[BA_R];
        for (int r = 0; r < BA_R; r++) {
            const int i = i0 + (r < nr ? r : 0);
            _mm512_storeu_si512(qp[r], ba_pairs(qr[i], d));
            br[r] = bias ? bias + (size_t)i * Nk : NULL;
            sr[r] = s[r];
            orow[r] = outr[i];
            ppr[r] = pp[r];
            qpr[r] = qp[r];
        }
        for (int j = 0; j < Nkp; j += 32) ba_qk(qpr, dp, kp, Nkp, j, scale, br, sr, nr, Nk);
        for (int r = 0; r < nr; r++) {
            ops_k.softmax(s[r], Nk);
            for (int j = Nk; j < Nkp; j++) s[r][j] = 0.0f;
            for (int j = 0; j < Nkp; j += 32)
                _mm512_storeu_si512(pp[r] + j / 2, ba_pairs(s[r] + j, 32));
        }
        for (int r = nr; r < BA_R; r++) ppr[r] = pp[0];
        for (int c = 0; c < dv; c += 32) ba_pv(ppr, kp2, vp, dv, c, d, orow, nr);
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

static int use_simd(int Nk, int d)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return ops_current_isa() >= OPS_ISA_AVX512 && ops_cpu_bf16() && d <= BA_MAX_D &&
           Nk <= BA_MAX_K;
#else
    (void)Nk, (void)d;
    return 0;
#endif
}

const char *ops_attention_bf16_path(int Nk, int d)
{
    ops_ensure_init();
    return use_simd(Nk, d) ? "avx512-bf16" : "portable";
}

void ops_attention_bf16_rows(const float *const *qr, const float *const *kr,
                             const float *const *vr, int Nq, int Nk, int d, float scale,
                             const float *bias, float *const *outr, float *scratch)
{
    ops_ensure_init();
    if (Nq <= 0 || d <= 0) return;
    if (Nk <= 0) { /* softmax over nothing: NaN rows, as ops_attention */
        for (int i = 0; i < Nq; i++)
            for (int t = 0; t < d; t++) outr[i][t] = NAN;
        return;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (use_simd(Nk, d)) {
        attention_bf16_avx512(qr, kr, vr, Nq, Nk, d, scale, bias, outr);
        return;
    }
#endif
    attention_bf16_portable(qr, kr, vr, Nq, Nk, d, scale, bias, outr, scratch);
}

void ops_attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v,
                        int ldv, int Nq, int Nk, int d, float scale, const float *bias,
                        float *out, int ldo, float *scratch)
{
    if (Nq <= 0 || d <= 0) return;
    const int nk = Nk > 0 ? Nk : 0;
    const float **p = malloc(sizeof *p * ((size_t)Nq + 2 * (size_t)nk));
    float **outr = malloc(sizeof *outr * (size_t)Nq);
    if (!p || !outr) { /* out of memory: out is left unwritten */
        free(p);
        free(outr);
        ops_note_oom();
        return;
    }
    const float **qr = p, **kr = p + Nq, **vr = kr + nk;
    for (int i = 0; i < Nq; i++) {
        qr[i] = q + (size_t)i * ldq;
        outr[i] = out + (size_t)i * ldo;
    }
    for (int j = 0; j < nk; j++) {
        kr[j] = k + (size_t)j * ldk;
        vr[j] = v + (size_t)j * ldv;
    }
    ops_attention_bf16_rows(qr, kr, vr, Nq, Nk, d, scale, bias, outr, scratch);
    free(p);
    free(outr);
}
