/*
 * ops_simd_body.h - ISA-generic SIMD row kernels, written once against a
 * small set of vector primitives and included by ops_avx2.c (8 lanes) and
 * ops_avx512.c (16 lanes) inside their `#pragma GCC target` regions, and by
 * ops_neon.c (4 lanes, AArch64).
 *
 * The includer defines: W (lanes), PFX(name), INL, the types vf (floats),
 * vi (int32 lanes), vm (lane mask) and the v_* primitives (see ops_avx2.c).
 * Everything here is `static`; only the table built by the includer is
 * exported. No kernel allocates (attention keeps at most 64 KiB of tiles on
 * the stack) and none prints.
 */

/* ---- math ---------------------------------------------------------------- */

/* exp(x), ~1.5 ulp: Cody-Waite reduction by ln2, Cephes expf polynomial.
 * Returns 0 below -87 (exp(-87) = 1.6e-38: results stay normal, as
 * denormals cost a microcode assist per instruction on many x86 cores),
 * +inf above ~88.38, NaN for NaN. */
INL vf v_exp(vf x)
{
    const vf lo = v_set1(-87.0f);
    const vm under = v_lt(x, lo);
    x = v_min(v_set1(88.3762626647949f), x); /* operand order keeps NaN */
    x = v_max(lo, x);
    /* n = round(x / ln2) with the 1.5 * 2^23 trick */
    const vf magic = v_set1(12582912.0f);
    const vf fi = v_fma(x, v_set1(1.44269504088896341f), magic);
    const vf n = v_sub(fi, magic);
    vf r = v_fma(n, v_set1(-0.693359375f), x);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    vf e = v_add(v_fma(p, v_mul(r, r), r), v_set1(1.0f));
    e = v_mul(e, v_pow2i_magic(fi));
    return v_sel(under, v_zero(), e);
}

/* gelu(x) = 0.5 x (1 + erf(z)), z = x / sqrt2, max rel. error ~5e-7 for
 * x >= -5 (checked against double erfc on a dense sweep by test_ops):
 *   every lane |z| < 0.5: 0.5 x erf(z) = (x^2/2) P(x^2/2), P = erf(z)/(sqrt2 z)
 *     minimax, degree 4 in z^2 (rel. err 1.4e-9): the common case for
 *     small activations, a dozen operations;
 *   otherwise, for all lanes at once: gelu = max(x, 0) - a Phi(-a), a = |x|,
 *     Phi(-a) = erfc(a / sqrt2) / 2 = exp(-a^2/2) R(t), t = 1 / (1 + 0.34 a),
 *     R a degree-7 minimax polynomial of the scaled complementary error
 *     function (rel. err 1.6e-7 on a in [0, 6.5], 4.2e-7 in float); a is
 *     clamped to 6.5, where a Phi(-a) < 3e-10; a^2/2 is carried as hi + lo
 *     (FMA) so that exp does not inherit its rounding error, and the result
 *     has no cancellation for x < 0. (One expression for every lane: the
 *     mixed vectors of larger activations no longer evaluate two.)
 * (Coefficients fitted by iteratively reweighted least squares, written
 * with erf(z)/z scaled by 1/sqrt2.) */
INL vf v_gelu(vf x)
{
    const vf xa = v_min(v_set1(6.5f), v_abs(x)); /* NaN stays NaN (second operand) */
    const vf hxa = v_mul(xa, v_set1(0.5f));
    const vf h2 = v_mul(xa, hxa);                /* a^2/2 rounded, <= 21.125 */
    if (!v_any(v_ge(xa, v_set1(0.70710678f)))) {
        /* every |z| < 0.5: 0.5 x erf(z) = (x^2/2) P(x^2/2), P = erf(z)/(sqrt2 z)
         * minimax, degree 4 in z^2 (rel. err 1.4e-9) */
        vf p = v_set1(0.00471798986f * 0.70710678118654752f);
        p = v_fma(p, h2, v_set1(-0.0267571842f * 0.70710678118654752f));
        p = v_fma(p, h2, v_set1(0.112828228f * 0.70710678118654752f));
        p = v_fma(p, h2, v_set1(-0.376126086f * 0.70710678118654752f));
        p = v_fma(p, h2, v_set1(1.12837917f * 0.70710678118654752f));
        return v_fma(h2, p, v_mul(x, v_set1(0.5f)));
    }
    const vf l2 = v_fms(xa, hxa, h2);            /* a^2/2 - h2, exact */
    const vf t = v_recip(v_fma(xa, v_set1(0.34f), v_set1(1.0f)));
    vf q = v_set1(0.0478390642f);
    q = v_fma(q, t, v_set1(-0.213788211f));
    q = v_fma(q, t, v_set1(0.288238049f));
    q = v_fma(q, t, v_set1(-0.0541893877f));
    q = v_fma(q, t, v_set1(0.169579953f));
    q = v_fma(q, t, v_set1(0.125689834f));
    q = v_fma(q, t, v_set1(0.136669874f));
    q = v_fma(q, t, v_set1(-3.91436697e-05f));
    /* exp(-h2), h2 in [0, 21.2]: n = round(-h2 / ln2), r = -h2 - n ln2 */
    const vf magic = v_set1(12582912.0f);
    const vf fi = v_fma(h2, v_set1(-1.44269504088896341f), magic);
    const vf n = v_sub(fi, magic);
    vf r = v_fnms(n, v_set1(0.693359375f), h2);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    /* exp(r), r in [-ln2/2, ln2/2]: degree-6 minimax, relative error 2e-9 */
    vf e = v_set1(0.00138401403f);
    e = v_fma(e, r, v_set1(0.00837582815f));
    e = v_fma(e, r, v_set1(0.0416682251f));
    e = v_fma(e, r, v_set1(0.166664064f));
    e = v_fma(e, r, v_set1(0.499999911f));
    e = v_fma(e, r, v_set1(1.0f));
    e = v_fma(e, r, v_set1(1.0f));
    e = v_mul(e, v_pow2i_magic(fi));
    e = v_fnma(e, l2, e);                        /* exp(-h2 - l2) */
    return v_fnma(xa, v_mul(e, q), v_max(x, v_zero()));
}

INL vf v_act(vf a, ops_act act)
{
    if (act == OPS_ACT_GELU) return v_gelu(a);
    if (act == OPS_ACT_RELU) return v_max(a, v_zero()); /* NaN -> 0, as scalar */
    return a;
}

/* ---- element-wise ---------------------------------------------------------- */

static void PFX(gelu)(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        vf a = v_gelu(v_load(x + i)), b = v_gelu(v_load(x + i + W));
        v_store(x + i, a);
        v_store(x + i + W, b);
    }
    for (; i < n; i += W) {
        int m = (n - i) < W ? (int)(n - i) : W;
        v_storen(x + i, v_gelu(v_loadn(x + i, m)), m);
    }
}

static void PFX(relu)(float *x, size_t n)
{
    size_t i = 0;
    const vf z = v_zero();
    for (; i + W <= n; i += W) v_store(x + i, v_max(v_load(x + i), z));
    if (i < n) {
        int m = (int)(n - i);
        v_storen(x + i, v_max(v_loadn(x + i, m), z), m);
    }
}

static void PFX(add)(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W) v_store(y + i, v_add(v_load(y + i), v_load(x + i)));
    if (i < n) {
        int m = (int)(n - i);
        v_storen(y + i, v_add(v_loadn(y + i, m), v_loadn(x + i, m)), m);
    }
}

static void PFX(add_to)(float *out, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W) v_store(out + i, v_add(v_load(a + i), v_load(b + i)));
    if (i < n) {
        int m = (int)(n - i);
        v_storen(out + i, v_add(v_loadn(a + i, m), v_loadn(b + i, m)), m);
    }
}

static void PFX(add_bf16_to)(float *out, const float *a, const uint16_t *b, size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W) v_store(out + i, v_add(v_load(a + i), v_load_bf16(b + i)));
    for (; i < n; i++) out[i] = a[i] + ops_bf16_to_float(b[i]);
}

static void PFX(bias_act)(float *y, const float *b, int n, ops_act act)
{
    int i = 0;
    if (b) {
        for (; i + W <= n; i += W) v_store(y + i, v_act(v_add(v_load(y + i), v_load(b + i)), act));
        if (i < n) v_storen(y + i, v_act(v_add(v_loadn(y + i, n - i), v_loadn(b + i, n - i)), act), n - i);
    } else {
        for (; i + W <= n; i += W) v_store(y + i, v_act(v_load(y + i), act));
        if (i < n) v_storen(y + i, v_act(v_loadn(y + i, n - i), act), n - i);
    }
}

/* ---- LayerNorm ------------------------------------------------------------ */

/* Two passes in float with 4 vector accumulators: the mean m, then
 * d = x - m with sum(d) (the rounding error of m) and sum(d^2); output
 * ((x - m) - corr) * rstd * g + b with corr = sum(d)/C. */
static void PFX(layernorm)(const float *x, float *y, int C, const float *g,
                           const float *b, float eps)
{
    vf a0 = v_zero(), a1 = v_zero(), a2 = v_zero(), a3 = v_zero();
    int i = 0;
    for (; i + 4 * W <= C; i += 4 * W) {
        a0 = v_add(a0, v_load(x + i));
        a1 = v_add(a1, v_load(x + i + W));
        a2 = v_add(a2, v_load(x + i + 2 * W));
        a3 = v_add(a3, v_load(x + i + 3 * W));
    }
    for (; i < C; i += W) a0 = v_add(a0, v_loadn(x + i, C - i < W ? C - i : W));
    const float mean = v_hsum(v_add(v_add(a0, a1), v_add(a2, a3))) / (float)C;
    const vf m = v_set1(mean);
    vf s0 = v_zero(), s1 = v_zero(), q0 = v_zero(), q1 = v_zero();
    for (i = 0; i + 2 * W <= C; i += 2 * W) {
        vf d0 = v_sub(v_load(x + i), m), d1 = v_sub(v_load(x + i + W), m);
        s0 = v_add(s0, d0);
        s1 = v_add(s1, d1);
        q0 = v_fma(d0, d0, q0);
        q1 = v_fma(d1, d1, q1);
    }
    for (; i < C; i += W) {
        int n = C - i < W ? C - i : W;
        vf d0 = v_sub(v_loadn_fill(x + i, n, mean), m); /* fill -> d = 0 */
        s0 = v_add(s0, d0);
        q0 = v_fma(d0, d0, q0);
    }
    const float corr = v_hsum(v_add(s0, s1)) / (float)C;
    float var = v_hsum(v_add(q0, q1)) / (float)C - corr * corr;
    if (var < 0.0f) var = 0.0f;
    const float rstd = 1.0f / sqrtf(var + eps);
    const vf vr = v_set1(rstd), vc = v_set1(corr), one = v_set1(1.0f);
    for (i = 0; i < C; i += W) {
        int n = C - i < W ? C - i : W;
        vf t = v_mul(v_sub(v_sub(v_loadn(x + i, n), m), vc), vr);
        vf gg = g ? v_loadn(g + i, n) : one;
        vf bb = b ? v_loadn(b + i, n) : v_zero();
        v_storen(y + i, v_fma(t, gg, bb), n);
    }
}

/* ---- planar (column) epilogues --------------------------------------------- */

/* LayerNorm down W columns at a time, with the two-pass scheme of the row
 * kernel above. */
static void PFX(cols_epilogue)(float *t, int C, int ld, int n, const float *bias, int ln,
                               const float *g, const float *b, float eps, ops_act act)
{
    if (!ln) {
        for (int r = 0; r < C; r++) {
            float *row = t + (size_t)r * ld;
            const vf vb = v_set1(bias ? bias[r] : 0.0f);
            int j = 0;
            for (; j + W <= n; j += W) v_store(row + j, v_act(v_add(v_load(row + j), vb), act));
            if (j < n) v_storen(row + j, v_act(v_add(v_loadn(row + j, n - j), vb), act), n - j);
        }
        return;
    }
    const vf rc = v_set1(1.0f / (float)C);
    for (int j = 0; j < n; j += W) {
        const int m = n - j < W ? n - j : W;
        vf s = v_zero();
        for (int r = 0; r < C; r++)
            s = v_add(s, v_add(v_loadn(t + (size_t)r * ld + j, m), v_set1(bias ? bias[r] : 0.0f)));
        const vf mean = v_mul(s, rc);
        vf sd = v_zero(), q = v_zero();
        for (int r = 0; r < C; r++) {
            vf d = v_sub(v_add(v_loadn(t + (size_t)r * ld + j, m), v_set1(bias ? bias[r] : 0.0f)),
                         mean);
            sd = v_add(sd, d);
            q = v_fma(d, d, q);
        }
        const vf corr = v_mul(sd, rc);
        const vf var = v_max(v_sub(v_mul(q, rc), v_mul(corr, corr)), v_zero());
        const vf rstd = v_div(v_set1(1.0f), v_sqrt(v_add(var, v_set1(eps))));
        for (int r = 0; r < C; r++) {
            float *p = t + (size_t)r * ld + j;
            vf u = v_sub(v_sub(v_add(v_loadn(p, m), v_set1(bias ? bias[r] : 0.0f)), mean), corr);
            u = v_fma(v_mul(u, rstd), v_set1(g ? g[r] : 1.0f), v_set1(b ? b[r] : 0.0f));
            v_storen(p, v_act(u, act), m);
        }
    }
}

/* Up to 4 output rows per pass over t, W columns at a time. */
static void PFX(proj_cols)(const float *t, int C, int ld, int n, const float *h, int P,
                           float *out, int ldo)
{
    for (int p0 = 0; p0 < P; p0 += 4) {
        const int np = P - p0 < 4 ? P - p0 : 4;
        const float *h0 = h + (size_t)p0 * C;
        for (int j = 0; j < n; j += W) {
            const int m = n - j < W ? n - j : W;
            vf a0 = v_zero(), a1 = v_zero(), a2 = v_zero(), a3 = v_zero();
            for (int c = 0; c < C; c++) {
                const vf x = v_loadn(t + (size_t)c * ld + j, m);
                a0 = v_fma(v_set1(h0[c]), x, a0);
                if (np > 1) a1 = v_fma(v_set1(h0[C + c]), x, a1);
                if (np > 2) a2 = v_fma(v_set1(h0[2 * C + c]), x, a2);
                if (np > 3) a3 = v_fma(v_set1(h0[3 * C + c]), x, a3);
            }
            float *o = out + (size_t)p0 * ldo + j;
            v_storen(o, a0, m);
            if (np > 1) v_storen(o + ldo, a1, m);
            if (np > 2) v_storen(o + 2 * (size_t)ldo, a2, m);
            if (np > 3) v_storen(o + 3 * (size_t)ldo, a3, m);
        }
    }
}

/* ---- products with few rows -------------------------------------------------- */

/* MB rows of x (rows past M repeat row M-1; they are not stored) times NB
 * rows of w, over K in W-lane steps: MB * NB vector accumulators, each
 * w vector loaded once per MB rows of x, then one horizontal sum each. */
#define SMALL_M_TILE(MB, NB)                                                              \
    static void PFX(small_m_tile_##MB##_##NB)(const float *x, int ldx, int M,               \
                                              const float *w, int ldw, int n0, int K,       \
                                              int acc, float *y, int ldy)                   \
    {                                                                                      \
        vf a[MB][NB];                                                                      \
        const float *xr[MB];                                                               \
        for (int m = 0; m < MB; m++) {                                                     \
            xr[m] = x + (size_t)(m < M ? m : M - 1) * ldx;                                 \
            for (int q = 0; q < NB; q++) a[m][q] = v_zero();                               \
        }                                                                                  \
        const float *wr = w + (size_t)n0 * ldw;                                            \
        int k = 0;                                                                         \
        for (; k + W <= K; k += W) {                                                       \
            vf wv[NB];                                                                     \
            for (int q = 0; q < NB; q++) wv[q] = v_load(wr + (size_t)q * ldw + k);         \
            for (int m = 0; m < MB; m++) {                                                 \
                const vf xv = v_load(xr[m] + k);                                           \
                for (int q = 0; q < NB; q++) a[m][q] = v_fma(xv, wv[q], a[m][q]);          \
            }                                                                              \
        }                                                                                  \
        if (k < K) {                                                                       \
            vf wv[NB];                                                                     \
            for (int q = 0; q < NB; q++) wv[q] = v_loadn(wr + (size_t)q * ldw + k, K - k); \
            for (int m = 0; m < MB; m++) {                                                 \
                const vf xv = v_loadn(xr[m] + k, K - k);                                   \
                for (int q = 0; q < NB; q++) a[m][q] = v_fma(xv, wv[q], a[m][q]);          \
            }                                                                              \
        }                                                                                  \
        for (int m = 0; m < MB && m < M; m++)                                              \
            for (int q = 0; q < NB; q++) {                                                 \
                float *o = y + (size_t)m * ldy + n0 + q;                                   \
                *o = acc ? *o + v_hsum(a[m][q]) : v_hsum(a[m][q]);                         \
            }                                                                              \
    }
SMALL_M_TILE(8, 2)
SMALL_M_TILE(4, 4)
SMALL_M_TILE(2, 6)
SMALL_M_TILE(1, 8)
SMALL_M_TILE(8, 1)
SMALL_M_TILE(4, 1)
SMALL_M_TILE(2, 1)
SMALL_M_TILE(1, 1)
#undef SMALL_M_TILE

static void PFX(gemm_small_m)(const float *x, int ldx, int M, const float *w, int ldw, int N,
                              int K, int acc, float *y, int ldy)
{
    if (M <= 0 || N <= 0) return;
    if (M > 8) M = 8;
    const int nb = M > 4 ? 2 : M > 2 ? 4 : M > 1 ? 6 : 8;
    int n = 0;
    for (; n + nb <= N; n += nb) {
        if (M > 4) PFX(small_m_tile_8_2)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else if (M > 2) PFX(small_m_tile_4_4)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else if (M > 1) PFX(small_m_tile_2_6)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else PFX(small_m_tile_1_8)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
    }
    for (; n < N; n++) {
        if (M > 4) PFX(small_m_tile_8_1)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else if (M > 2) PFX(small_m_tile_4_1)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else if (M > 1) PFX(small_m_tile_2_1)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
        else PFX(small_m_tile_1_1)(x, ldx, M, w, ldw, n, K, acc, y, ldy);
    }
}

/* ---- broadcast GEMM tiles ----------------------------------------------------- */

/* BR rows x BV vectors of C in registers (rows past nr repeat the last one
 * and are not stored); per k, BV loads of Q and BR broadcasts of P. */
#if defined(OPS_BC_R) /* the includer's choice (NEON: 32 registers) */
#define BC_R OPS_BC_R
#elif W == 16
#define BC_R 6
#else
#define BC_R 3
#endif
#define BC_V 4

#define BCAST_TILE(NAME, R, BV, LOAD, STORE)                                               \
    static void PFX(NAME)(const float *P, size_t ps, size_t pk, int nr, const float *Q,    \
                          size_t ldq, int n, int K, int acc, float *C, size_t ldc)         \
    {                                                                                      \
        vf a[R][BV];                                                                       \
        const float *pr[R];                                                                \
        (void)n;                                                                           \
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                              \
            pr[r] = P + (size_t)(r < nr ? r : nr - 1) * ps;                                \
            _Pragma("GCC unroll 8") for (int v = 0; v < BV; v++) a[r][v] =                 \
                acc && r < nr ? LOAD(C + (size_t)r * ldc + v * W) : v_zero();              \
        }                                                                                  \
        for (int k = 0; k < K; k++) {                                                      \
            vf q[BV];                                                                      \
            const float *qk = Q + (size_t)k * ldq;                                         \
            _Pragma("GCC unroll 8") for (int v = 0; v < BV; v++) q[v] = LOAD(qk + v * W);  \
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                          \
                const vf p = v_set1(pr[r][(size_t)k * pk]);                                \
                _Pragma("GCC unroll 8") for (int v = 0; v < BV; v++) a[r][v] =             \
                    v_fma(p, q[v], a[r][v]);                                               \
            }                                                                              \
        }                                                                                  \
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) if (r < nr)                    \
            _Pragma("GCC unroll 8") for (int v = 0; v < BV; v++)                           \
                STORE(C + (size_t)r * ldc + v * W, a[r][v]);                               \
    }
#define BC_LOADN(p) v_loadn((p), n)
#define BC_STOREN(p, x) v_storen((p), (x), n)
BCAST_TILE(bcast_tile_full, BC_R, BC_V, v_load, v_store)
BCAST_TILE(bcast_tile_one, BC_R, 1, v_load, v_store)
BCAST_TILE(bcast_tile_tail, BC_R, 1, BC_LOADN, BC_STOREN)
/* one column vector at most (e.g. a 16-wide attention head against 4096
 * keys): twice the rows per pass, so that B, long and narrow, is read
 * half as often and more FMA chains run side by side */
BCAST_TILE(bcast_tile_narrow, 2 * BC_R, 1, v_load, v_store)
BCAST_TILE(bcast_tile_narrow_tail, 2 * BC_R, 1, BC_LOADN, BC_STOREN)
#undef BCAST_TILE
#undef BC_LOADN
#undef BC_STOREN

static void PFX(gemm_bcast)(const float *P, size_t ps, size_t pk, int nr, const float *Q,
                            size_t ldq, int ncols, int K, int acc, float *C, size_t ldc)
{
    if (ncols <= W && nr > BC_R) {
        for (int i = 0; i < nr; i += 2 * BC_R) {
            const int rows = nr - i < 2 * BC_R ? nr - i : 2 * BC_R;
            if (ncols == W)
                PFX(bcast_tile_narrow)(P + (size_t)i * ps, ps, pk, rows, Q, ldq, W, K, acc,
                                       C + (size_t)i * ldc, ldc);
            else
                PFX(bcast_tile_narrow_tail)(P + (size_t)i * ps, ps, pk, rows, Q, ldq, ncols, K,
                                            acc, C + (size_t)i * ldc, ldc);
        }
        return;
    }
    for (int i = 0; i < nr; i += BC_R) {
        const int rows = nr - i < BC_R ? nr - i : BC_R;
        const float *Pi = P + (size_t)i * ps;
        float *Ci = C + (size_t)i * ldc;
        int j = 0;
        for (; j + BC_V * W <= ncols; j += BC_V * W)
            PFX(bcast_tile_full)(Pi, ps, pk, rows, Q + j, ldq, W, K, acc, Ci + j, ldc);
        for (; j + W <= ncols; j += W)
            PFX(bcast_tile_one)(Pi, ps, pk, rows, Q + j, ldq, W, K, acc, Ci + j, ldc);
        if (j < ncols)
            PFX(bcast_tile_tail)(Pi, ps, pk, rows, Q + j, ldq, ncols - j, K, acc, Ci + j, ldc);
    }
}
#undef BC_R
#undef BC_V

/* ---- softmax ---------------------------------------------------------------- */

/* x[i] = exp(x[i] - max); returns the sum. */
INL float softmax_exp(float *x, int n)
{
    vf mx0 = v_set1(-INFINITY), mx1 = mx0;
    int i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        mx0 = v_max(mx0, v_load(x + i));
        mx1 = v_max(mx1, v_load(x + i + W));
    }
    for (; i < n; i += W) mx0 = v_max(mx0, v_loadn_fill(x + i, n - i < W ? n - i : W, -INFINITY));
    float mx = v_hmax(v_max(mx0, mx1));
    if (mx == -INFINITY) mx = 0.0f;
    const vf m = v_set1(mx);
    vf s0 = v_zero(), s1 = v_zero();
    for (i = 0; i + 2 * W <= n; i += 2 * W) {
        vf e0 = v_exp(v_sub(v_load(x + i), m)), e1 = v_exp(v_sub(v_load(x + i + W), m));
        v_store(x + i, e0);
        v_store(x + i + W, e1);
        s0 = v_add(s0, e0);
        s1 = v_add(s1, e1);
    }
    for (; i < n; i += W) {
        int k = n - i < W ? n - i : W;
        vf e0 = v_exp(v_sub(v_loadn_fill(x + i, k, -INFINITY), m));
        v_storen(x + i, e0, k);
        s0 = v_add(s0, e0);
    }
    return v_hsum(v_add(s0, s1));
}

static void PFX(softmax)(float *x, int n)
{
    const vf r = v_set1(1.0f / softmax_exp(x, n));
    int i = 0;
    for (; i + W <= n; i += W) v_store(x + i, v_mul(v_load(x + i), r));
    if (i < n) v_storen(x + i, v_mul(v_loadn(x + i, n - i), r), n - i);
}

/* Softmax down columns, W columns per step: every step is element-wise
 * across the lanes, so short columns (e.g. 4096 queries over 7 keys) cost
 * no horizontal reductions. */
static void PFX(softmax_cols)(float *x, int rows, int ld, int c0, int c1)
{
    const vf one = v_set1(1.0f);
    for (int j = c0; j < c1; j += W) {
        const int n = c1 - j < W ? c1 - j : W;
        vf mx = v_set1(-INFINITY);
        for (int i = 0; i < rows; i++) mx = v_max(mx, v_loadn_fill(x + (size_t)i * ld + j, n, -INFINITY));
        mx = v_sel(v_lt(mx, v_set1(-FLT_MAX)), v_zero(), mx); /* all -inf: subtract 0 */
        vf s = v_zero();
        for (int i = 0; i < rows; i++) {
            float *p = x + (size_t)i * ld + j;
            vf e = v_exp(v_sub(v_loadn(p, n), mx));
            v_storen(p, e, n);
            s = v_add(s, e);
        }
        const vf r = v_div(one, s);
        for (int i = 0; i < rows; i++) {
            float *p = x + (size_t)i * ld + j;
            v_storen(p, v_mul(v_loadn(p, n), r), n);
        }
    }
}

/* ---- depthwise 3x3 ------------------------------------------------------------ */

#define DW_TILE 16 /* output pixels per weight load */

/* A hint to fetch the line of channels c.. of pixel px of a row, when the
 * pixel lies in it (no pointer past the row is formed). */
INL void dw_prefetch(const float *row, int px, int W_, int C, int c)
{
    if (px < W_) __builtin_prefetch(row + (size_t)px * C + c);
}

/* the activations of two neighbouring outputs a, e, stored at yp, yp + C */
INL void dw_put2(float *yp, int C, const int full, int nc, vf a, vf e, ops_act act)
{
    a = v_act(a, act);
    e = v_act(e, act);
    if (full) {
        v_store(yp, a);
        v_store(yp + C, e);
    } else {
        v_storen(yp, a, nc);
        v_storen(yp + C, e, nc);
    }
}

INL vf dw_ld(const float *p, const int full, int nc)
{
    return full ? v_load(p) : v_loadn(p, nc);
}

/* One kernel row: taps kx = 0..2 at input columns ix .. ix + 2 (ix + 1 is
 * always inside; `left` / `right` say whether ix / ix + 2 are). */
INL vf dw_row(const float *row, int ix, int C, int c, int nc, const int full, vf w0,
              vf w1, vf w2, int left, int right)
{
    const float *p = row + (size_t)(ix + 1) * C + c; /* centre tap */
    vf a = v_mul(w1, dw_ld(p, full, nc));
    if (left) a = v_fma(w0, dw_ld(p - C, full, nc), a);
    if (right) a = v_fma(w2, dw_ld(p + C, full, nc), a);
    return a;
}

/* Output pixels [ox0, ox1) of one row for the channel lanes [c, c + nc),
 * the 9 weights and the bias held in registers. */
INL void dw_span(const float *r0, const float *r1, const float *r2, int W_, int C, int c,
                 int nc, const int full, const float *wt, const float *b, int stride,
                 float *yr, int ox0, int ox1, ops_act act)
{
    const size_t C9 = (size_t)C;
    const vf k0 = dw_ld(wt + c, full, nc), k1 = dw_ld(wt + C9 + c, full, nc),
             k2 = dw_ld(wt + 2 * C9 + c, full, nc), k3 = dw_ld(wt + 3 * C9 + c, full, nc),
             k4 = dw_ld(wt + 4 * C9 + c, full, nc), k5 = dw_ld(wt + 5 * C9 + c, full, nc),
             k6 = dw_ld(wt + 6 * C9 + c, full, nc), k7 = dw_ld(wt + 7 * C9 + c, full, nc),
             k8 = dw_ld(wt + 8 * C9 + c, full, nc);
    const vf bias = b ? dw_ld(b + c, full, nc) : v_zero();
    for (int ox = ox0; ox < ox1;) {
        if (stride == 1 && ox > 0 && ox + 1 < ox1 && ox + 2 < W_) {
            /* interior pair (stride 1): 4 loads per kernel row give two outputs */
            vf a = bias, e = bias;
#define DW_PAIR_ROW(row, w0, w1, w2)                                                   \
            if (row) {                                                                 \
                const float *p = row + (size_t)ox * C + c;                             \
                const vf x0 = dw_ld(p - C, full, nc), x1 = dw_ld(p, full, nc);         \
                const vf x2 = dw_ld(p + C, full, nc), x3 = dw_ld(p + 2 * C, full, nc); \
                a = v_fma(w0, x0, a);                                                  \
                e = v_fma(w0, x1, e);                                                  \
                a = v_fma(w1, x1, a);                                                  \
                e = v_fma(w1, x2, e);                                                  \
                a = v_fma(w2, x2, a);                                                  \
                e = v_fma(w2, x3, e);                                                  \
            }
            if (r2) { /* the row read for the first time: the next tile's lines */
                dw_prefetch(r2, ox + DW_TILE, W_, C, c);
                dw_prefetch(r2, ox + DW_TILE + 1, W_, C, c);
            }
            DW_PAIR_ROW(r0, k0, k1, k2)
            DW_PAIR_ROW(r1, k3, k4, k5)
            DW_PAIR_ROW(r2, k6, k7, k8)
#undef DW_PAIR_ROW
            dw_put2(yr + (size_t)ox * C + c, C, full, nc, a, e, act);
            ox += 2;
            continue;
        }
        if (stride == 2 && ox > 0 && ox + 1 < ox1 && 2 * ox + 3 < W_) {
            /* interior pair (stride 2): 5 loads per kernel row give two
             * outputs; rows r1 and r2 are read for the first time */
            vf a = bias, e = bias;
            const int ix = 2 * ox - 1;
            for (int u = 0; u < 4; u++) {
                dw_prefetch(r1, ix + 2 * DW_TILE + u, W_, C, c);
                if (r2) dw_prefetch(r2, ix + 2 * DW_TILE + u, W_, C, c);
            }
#define DW_PAIR2_ROW(row, w0, w1, w2)                                                  \
            if (row) {                                                                 \
                const float *p = row + (size_t)ix * C + c;                             \
                const vf x0 = dw_ld(p, full, nc), x1 = dw_ld(p + C, full, nc);         \
                const vf x2 = dw_ld(p + 2 * C, full, nc);                              \
                const vf x3 = dw_ld(p + 3 * C, full, nc), x4 = dw_ld(p + 4 * C, full, nc); \
                a = v_fma(w0, x0, a);                                                  \
                e = v_fma(w0, x2, e);                                                  \
                a = v_fma(w1, x1, a);                                                  \
                e = v_fma(w1, x3, e);                                                  \
                a = v_fma(w2, x2, a);                                                  \
                e = v_fma(w2, x4, e);                                                  \
            }
            DW_PAIR2_ROW(r0, k0, k1, k2)
            DW_PAIR2_ROW(r1, k3, k4, k5)
            DW_PAIR2_ROW(r2, k6, k7, k8)
#undef DW_PAIR2_ROW
            dw_put2(yr + (size_t)ox * C + c, C, full, nc, a, e, act);
            ox += 2;
            continue;
        }
        const int ix = ox * stride - 1;
        const int left = ix >= 0, right = ix + 2 < W_;
        vf a0 = v_zero(), a1 = v_zero(), a2 = v_zero();
        if (r0) a0 = dw_row(r0, ix, C, c, nc, full, k0, k1, k2, left, right);
        if (r1) a1 = dw_row(r1, ix, C, c, nc, full, k3, k4, k5, left, right);
        if (r2) a2 = dw_row(r2, ix, C, c, nc, full, k6, k7, k8, left, right);
        const vf r = v_act(v_add(v_add(bias, a0), v_add(a1, a2)), act);
        float *yp = yr + (size_t)ox * C + c;
        if (full) v_store(yp, r);
        else v_storen(yp, r, nc);
        ox++;
    }
}

static void PFX(dwconv3x3)(const float *x, int H, int W_, int C, const float *wt,
                           const float *b, int stride, float *y, int oy0, int oy1,
                           ops_act act)
{
    const int Wo = (W_ - 1) / stride + 1;
    for (int oy = oy0; oy < oy1; oy++) {
        const int iy = oy * stride - 1; /* iy + 1 is always inside */
        const float *r1 = x + (size_t)(iy + 1) * W_ * C;
        const float *r0 = iy >= 0 ? r1 - (size_t)W_ * C : NULL;
        const float *r2 = iy + 2 < H ? r1 + (size_t)W_ * C : NULL;
        float *yr = y + (size_t)oy * Wo * C;
        for (int ox0 = 0; ox0 < Wo; ox0 += DW_TILE) {
            const int ox1 = ox0 + DW_TILE < Wo ? ox0 + DW_TILE : Wo;
            int c = 0;
            for (; c + W <= C; c += W)
                dw_span(r0, r1, r2, W_, C, c, W, 1, wt, b, stride, yr, ox0, ox1, act);
            if (c < C) dw_span(r0, r1, r2, W_, C, c, C - c, 0, wt, b, stride, yr, ox0, ox1, act);
        }
    }
}

/* ---- dense convolution with few inputs per output ------------------------------- */

#define CS_PX 4 /* output pixels per block */
#define CS_NV 2 /* vectors of output channels per pass */

/* One block of np <= CS_PX output pixels of row oy from column ox, output
 * channels [c0, c0 + nv vectors), the last vector holding nlast lanes.
 * `inside`: every tap of every pixel is in bounds (no checks). The sums
 * are FMAs in (ky, kx, ci) order. */
INL void cs_block(const float *x, int H, int W_, int Cin, const float *wt, const float *b,
                  int Cout, int K, int stride, int pad, float *y, int Wo, int oy, int ox,
                  int np, int c0, const int nv, int nlast, const int inside, ops_act act)
{
    vf acc[CS_PX][CS_NV], wv[CS_NV];
    _Pragma("GCC unroll 2")
    for (int u = 0; u < CS_NV; u++) {
        wv[u] = v_zero();
        _Pragma("GCC unroll 4")
        for (int p = 0; p < CS_PX; p++) acc[p][u] = v_zero();
    }
    _Pragma("GCC unroll 2")
    for (int u = 0; u < nv; u++) {
        const int n = u == nv - 1 ? nlast : W;
        const vf bv = b ? (n == W ? v_load(b + c0 + u * W) : v_loadn(b + c0 + u * W, n))
                        : v_zero();
        _Pragma("GCC unroll 4")
        for (int p = 0; p < CS_PX; p++) acc[p][u] = bv;
    }
    for (int ky = 0; ky < K; ky++) {
        const int iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= H) continue;
        const float *xr = x + (size_t)iy * W_ * Cin;
        for (int kx = 0; kx < K; kx++) {
            const float *wk = wt + (size_t)(ky * K + kx) * Cin * Cout + c0;
            for (int ci = 0; ci < Cin; ci++) {
                _Pragma("GCC unroll 2")
                for (int u = 0; u < nv; u++) {
                    const float *wp = wk + (size_t)ci * Cout + u * W;
                    wv[u] = u == nv - 1 && nlast < W ? v_loadn(wp, nlast) : v_load(wp);
                }
                _Pragma("GCC unroll 4")
                for (int p = 0; p < CS_PX; p++) {
                    if (p >= np) break;
                    const int ix = (ox + p) * stride - pad + kx;
                    if (!inside && (ix < 0 || ix >= W_)) continue;
                    const vf xb = v_set1(xr[(size_t)ix * Cin + ci]);
                    _Pragma("GCC unroll 2")
                    for (int u = 0; u < nv; u++) acc[p][u] = v_fma(xb, wv[u], acc[p][u]);
                }
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int p = 0; p < CS_PX; p++) {
        if (p >= np) break;
        float *yp = y + ((size_t)oy * Wo + ox + p) * Cout + c0;
        _Pragma("GCC unroll 2")
        for (int u = 0; u < nv; u++) {
            const vf r = v_act(acc[p][u], act);
            if (u == nv - 1 && nlast < W) v_storen(yp + u * W, r, nlast);
            else v_store(yp + u * W, r);
        }
    }
}

static void PFX(conv_small)(const float *x, int H, int W_, int Cin, const float *wt,
                            const float *b, int Cout, int K, int stride, int pad, float *y,
                            int oy0, int oy1, ops_act act)
{
    const int Wo = (W_ + 2 * pad - K) / stride + 1;
    for (int oy = oy0; oy < oy1; oy++)
        for (int c0 = 0; c0 < Cout; c0 += CS_NV * W) {
            const int left = Cout - c0;
            const int nv = left >= CS_NV * W ? CS_NV : (left + W - 1) / W;
            const int nlast = left - (nv - 1) * W < W ? left - (nv - 1) * W : W;
            for (int ox = 0; ox < Wo; ox += CS_PX) {
                const int np = Wo - ox < CS_PX ? Wo - ox : CS_PX;
                const int inside = ox * stride - pad >= 0 &&
                                   (ox + np - 1) * stride - pad + K - 1 < W_;
                if (inside && np == CS_PX && nv == CS_NV)
                    cs_block(x, H, W_, Cin, wt, b, Cout, K, stride, pad, y, Wo, oy, ox, CS_PX,
                             c0, CS_NV, nlast, 1, act);
                else if (inside && np == CS_PX)
                    cs_block(x, H, W_, Cin, wt, b, Cout, K, stride, pad, y, Wo, oy, ox, CS_PX,
                             c0, nv, nlast, 1, act);
                else
                    cs_block(x, H, W_, Cin, wt, b, Cout, K, stride, pad, y, Wo, oy, ox, np,
                             c0, nv, nlast, 0, act);
            }
        }
}

/* ---- attention -------------------------------------------------------------- */

/* Scores are computed against K^T (d x keys, built with in-register W x W
 * transposes) so that each FMA covers W keys for one broadcast q element:
 * blocks of ATT_R query rows x ATT_NV key vectors stay in registers. The
 * softmax is left unnormalised and 1/sum is applied to the P V result.
 * Small problems keep everything on the stack with score rows padded to
 * whole vectors; long key sequences are processed in chunks of keys with
 * the score rows in the caller's scratch. */
#define ATT_R 4            /* query rows per block */
#define ATT_NV 4           /* key vectors per QK block (W * ATT_NV keys) */
#define ATT_KT_STACK 8192  /* floats of K^T kept on the stack */
#define ATT_S_STACK 8192   /* floats of score rows kept on the stack */

/* dst[c * ldd + i] = src[i * lds + c] for c < ncols (<= W), i < W; rows
 * i >= nrows read as zeros. Writes ncols whole vectors. */
INL void tr_block(const float *src, int lds, int nrows, int ncols, float *dst, int ldd)
{
    vf r[W];
    _Pragma("GCC unroll 16")
    for (int i = 0; i < W; i++)
        r[i] = i >= nrows ? v_zero()
                          : (ncols == W ? v_load(src + (size_t)i * lds)
                                        : v_loadn(src + (size_t)i * lds, ncols));
    v_transpose(r);
    _Pragma("GCC unroll 16")
    for (int c = 0; c < W; c++)
        if (c < ncols) v_store(dst + (size_t)c * ldd, r[c]);
}

/* kt[t * ldkt + j] = k[(j0 + j) * ldk + t] for j < round_up(nj, W) (zeros
 * past nj), t < d. */
static void kt_build(const float *k, int ldk, int j0, int nj, int d, float *kt, int ldkt)
{
    for (int jb = 0; jb < nj; jb += W)
        for (int t0 = 0; t0 < d; t0 += W)
            tr_block(k + (size_t)(j0 + jb) * ldk + t0, ldk, nj - jb < W ? nj - jb : W,
                     d - t0 < W ? d - t0 : W, kt + (size_t)t0 * ldkt + jb, ldkt);
}

/* scores s_r[jg .. jg + nv*W) = (q_r . k_j) * scale (+ bias) for ATT_R
 * rows, from K^T columns jl.. (row pointers may repeat in a partial block;
 * only `nr` rows are stored). Padded rows get whole-vector stores with
 * -inf past Nk; others a masked store for the last partial vector. */
INL void att_qk(const float *const qr[ATT_R], const float *kt, int ldkt, int d, int jl,
                int jg, const int nv, float scale, const float *const br[ATT_R],
                float *const sr[ATT_R], int nr, int Nk, int padded)
{
    vf acc[ATT_R][ATT_NV];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < ATT_R; r++)
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++) acc[r][u] = v_zero();
    const float *kp = kt + jl;
    for (int t = 0; t < d; t++, kp += ldkt) {
        vf kv[ATT_NV];
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++) kv[u] = v_load(kp + u * W);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < ATT_R; r++) {
            const vf qb = v_set1(qr[r][t]);
            _Pragma("GCC unroll 4")
            for (int u = 0; u < nv; u++) acc[r][u] = v_fma(qb, kv[u], acc[r][u]);
        }
    }
    const vf vs = v_set1(scale);
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++)
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++) {
            const int col = jg + u * W;
            if (col >= Nk) { /* only reached with padded rows */
                v_store(sr[r] + col, v_set1(-INFINITY));
                continue;
            }
            const int n = Nk - col < W ? Nk - col : W;
            vf s = v_mul(acc[r][u], vs);
            if (br[r]) s = v_add(s, n == W ? v_load(br[r] + col) : v_loadn(br[r] + col, n));
            if (n == W) {
                v_store(sr[r] + col, s);
            } else if (padded) { /* a masked store would stall the loads that follow */
                v_store(sr[r] + col, v_sel(v_lt(v_i2f(v_iota()), v_set1((float)n)), s,
                                           v_set1(-INFINITY)));
            } else {
                v_storen(sr[r] + col, s, n);
            }
        }
}

/* all key vectors [jl, jl + nkv*W) of K^T for one block of rows */
INL void att_qk_all(const float *const qr[ATT_R], const float *kt, int ldkt, int d, int jl,
                    int jg, int nkv, float scale, const float *const br[ATT_R],
                    float *const sr[ATT_R], int nr, int Nk, int padded)
{
    int u = 0;
    for (; u + ATT_NV <= nkv; u += ATT_NV)
        att_qk(qr, kt, ldkt, d, jl + u * W, jg + u * W, ATT_NV, scale, br, sr, nr, Nk, padded);
    switch (nkv - u) {
    case 3: att_qk(qr, kt, ldkt, d, jl + u * W, jg + u * W, 3, scale, br, sr, nr, Nk, padded); break;
    case 2: att_qk(qr, kt, ldkt, d, jl + u * W, jg + u * W, 2, scale, br, sr, nr, Nk, padded); break;
    case 1: att_qk(qr, kt, ldkt, d, jl + u * W, jg + u * W, 1, scale, br, sr, nr, Nk, padded); break;
    default: break;
    }
}

/* out_r[c .. c + nv*W) = inv_r * sum_j p_r[j] v_j[c ..], last vector nlast lanes */
INL void att_pv(const float *const pr[ATT_R], const float *v, int ldv, int Nk, int c,
                const int nv, int nlast, const float inv[ATT_R], float *const orow[ATT_R],
                int nr)
{
    vf acc[ATT_R][2];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < ATT_R; r++)
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++) acc[r][u] = v_zero();
    const float *vp = v + c;
    for (int j = 0; j < Nk; j++, vp += ldv) {
        vf vv[2];
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++)
            vv[u] = (u == nv - 1) ? v_loadn(vp + u * W, nlast) : v_load(vp + u * W);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < ATT_R; r++) {
            const vf pb = v_set1(pr[r][j]);
            _Pragma("GCC unroll 4")
            for (int u = 0; u < nv; u++) acc[r][u] = v_fma(pb, vv[u], acc[r][u]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) {
        const vf s = v_set1(inv[r]);
        _Pragma("GCC unroll 4")
        for (int u = 0; u < nv; u++) {
            float *o = orow[r] + c + u * W;
            if (u == nv - 1) v_storen(o, v_mul(acc[r][u], s), nlast);
            else v_store(o, v_mul(acc[r][u], s));
        }
    }
}

/* softmax (unnormalised) and P V for one block of rows */
INL void att_finish(float *const sr[ATT_R], int nsm, const float *v, int ldv, int Nk, int d,
                    float *const orow[ATT_R], int nr)
{
    float inv[ATT_R];
    for (int r = 0; r < nr; r++) inv[r] = 1.0f / softmax_exp(sr[r], nsm);
    for (int r = nr; r < ATT_R; r++) inv[r] = inv[0];
    const float *const *pr = (const float *const *)sr;
    int c = 0;
    for (; c + 2 * W <= d; c += 2 * W) att_pv(pr, v, ldv, Nk, c, 2, W, inv, orow, nr);
    if (d - c > W) att_pv(pr, v, ldv, Nk, c, 2, d - c - W, inv, orow, nr);
    else if (d - c > 0) att_pv(pr, v, ldv, Nk, c, 1, d - c, inv, orow, nr);
}

/* row pointers of the block starting at i0 (a partial block repeats row i0) */
INL int att_rows(int i0, int nq, const float *q, int ldq, const float *bias, int Nk,
                 float *out, int ldo, const float *qr[ATT_R], const float *br[ATT_R],
                 float *orow[ATT_R])
{
    const int nr = nq - i0 < ATT_R ? nq - i0 : ATT_R;
    for (int r = 0; r < ATT_R; r++) {
        const int i = i0 + (r < nr ? r : 0);
        qr[r] = q + (size_t)i * ldq;
        br[r] = bias ? bias + (size_t)i * Nk : NULL;
        orow[r] = out + (size_t)i * ldo;
    }
    return nr;
}

/* Few keys (the decoder's image -> token attention, Nk ~ 7): lanes run over
 * W query rows instead, so no lane is wasted on padding and the softmax needs
 * no horizontal reductions. Q, the bias block and the output are moved
 * through W x W transposes. Needs Nk <= ATT_SMALL_NK and d <= ATT_SMALL_D. */
#define ATT_SMALL_NK (2 * W)
#define ATT_SMALL_D 64

__attribute__((noinline)) static void att_small_nk(const float *q, int ldq, const float *k, int ldk, const float *v,
                         int ldv, int nq, int Nk, int d, float scale, const float *bias,
                         float *out, int ldo)
{
    float qt[ATT_SMALL_D * W], ot[ATT_SMALL_D * W], bt[ATT_SMALL_NK * W], tmp[W * W];
    vf s[ATT_SMALL_NK];
    const vf vs = v_set1(scale);
    for (int i0 = 0; i0 < nq; i0 += W) {
        const int nr = nq - i0 < W ? nq - i0 : W;
        for (int t0 = 0; t0 < d; t0 += W)
            tr_block(q + (size_t)i0 * ldq + t0, ldq, nr, d - t0 < W ? d - t0 : W,
                     qt + (size_t)t0 * W, W);
        if (bias)
            for (int j0 = 0; j0 < Nk; j0 += W)
                tr_block(bias + (size_t)i0 * Nk + j0, Nk, nr, Nk - j0 < W ? Nk - j0 : W,
                         bt + (size_t)j0 * W, W);
        /* scores, lanes = rows */
        vf mx = v_set1(-INFINITY);
        for (int j = 0; j < Nk; j++) {
            const float *kj = k + (size_t)j * ldk;
            vf a0 = v_zero(), a1 = v_zero();
            int t = 0;
            for (; t + 2 <= d; t += 2) {
                a0 = v_fma(v_load(qt + (size_t)t * W), v_set1(kj[t]), a0);
                a1 = v_fma(v_load(qt + (size_t)(t + 1) * W), v_set1(kj[t + 1]), a1);
            }
            if (t < d) a0 = v_fma(v_load(qt + (size_t)t * W), v_set1(kj[t]), a0);
            vf sj = v_mul(v_add(a0, a1), vs);
            if (bias) sj = v_add(sj, v_load(bt + (size_t)j * W));
            s[j] = sj;
            mx = v_max(mx, sj);
        }
        /* all -inf rows: as the scalar softmax, subtract 0 instead */
        mx = v_sel(v_lt(mx, v_set1(-FLT_MAX)), v_zero(), mx);
        vf sum = v_zero();
        for (int j = 0; j < Nk; j++) {
            s[j] = v_exp(v_sub(s[j], mx));
            sum = v_add(sum, s[j]);
        }
        const vf inv = v_div(v_set1(1.0f), sum);
        /* out^T[c] = inv * sum_j p_j v_j[c] */
        for (int c = 0; c < d; c++) {
            vf a0 = v_zero(), a1 = v_zero();
            int j = 0;
            for (; j + 2 <= Nk; j += 2) {
                a0 = v_fma(s[j], v_set1(v[(size_t)j * ldv + c]), a0);
                a1 = v_fma(s[j + 1], v_set1(v[(size_t)(j + 1) * ldv + c]), a1);
            }
            if (j < Nk) a0 = v_fma(s[j], v_set1(v[(size_t)j * ldv + c]), a0);
            v_store(ot + (size_t)c * W, v_mul(v_add(a0, a1), inv));
        }
        for (int c0 = 0; c0 < d; c0 += W) {
            const int nc = d - c0 < W ? d - c0 : W;
            tr_block(ot + (size_t)c0 * W, W, nc, W, tmp, W);
            for (int r = 0; r < nr; r++) {
                float *o = out + (size_t)(i0 + r) * ldo + c0;
                if (nc == W) v_store(o, v_load(tmp + (size_t)r * W));
                else v_storen(o, v_load(tmp + (size_t)r * W), nc);
            }
        }
    }
}

static void PFX(attention)(const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, int nq, int Nk, int d, float scale,
                           const float *bias, float *out, int ldo, float *scratch)
{
    if (Nk <= 0) { /* softmax over nothing: NaN rows, as PyTorch */
        for (int i = 0; i < nq; i++)
            for (int t = 0; t < d; t++) out[(size_t)i * ldo + t] = NAN;
        return;
    }
    if (Nk <= ATT_SMALL_NK && d <= ATT_SMALL_D) {
        att_small_nk(q, ldq, k, ldk, v, ldv, nq, Nk, d, scale, bias, out, ldo);
        return;
    }
    /* keys per K^T chunk: a multiple of ATT_NV * W */
    const int kc_max = ATT_KT_STACK / d / (ATT_NV * W) * (ATT_NV * W);
    if (kc_max == 0) { /* d > 128: not a shape of this model */
        ops_kernels_scalar.attention(q, ldq, k, ldk, v, ldv, nq, Nk, d, scale, bias, out,
                                     ldo, scratch);
        return;
    }
    float kt[ATT_KT_STACK];
    const float *qr[ATT_R], *br[ATT_R];
    float *sr[ATT_R], *orow[ATT_R];
    const int Nkp = (Nk + W - 1) / W * W;

    if (Nkp <= kc_max && ATT_R * Nkp <= ATT_S_STACK) {
        /* everything on the stack; one pass per block of rows */
        float s_stack[ATT_S_STACK];
        kt_build(k, ldk, 0, Nk, d, kt, Nkp);
        for (int r = 0; r < ATT_R; r++) sr[r] = s_stack + (size_t)r * Nkp;
        for (int i0 = 0; i0 < nq; i0 += ATT_R) {
            const int nr = att_rows(i0, nq, q, ldq, bias, Nk, out, ldo, qr, br, orow);
            att_qk_all(qr, kt, Nkp, d, 0, 0, Nkp / W, scale, br, sr, nr, Nk, 1);
            att_finish(sr, Nkp, v, ldv, Nk, d, orow, nr);
        }
        return;
    }
    /* long rows: scores of all rows into scratch, one chunk of keys at a time */
    for (int kc = 0; kc < Nk; kc += kc_max) {
        const int nj = Nk - kc < kc_max ? Nk - kc : kc_max;
        const int njp = (nj + W - 1) / W * W;
        kt_build(k, ldk, kc, nj, d, kt, njp);
        for (int i0 = 0; i0 < nq; i0 += ATT_R) {
            const int nr = att_rows(i0, nq, q, ldq, bias, Nk, out, ldo, qr, br, orow);
            for (int r = 0; r < ATT_R; r++)
                sr[r] = scratch + (size_t)(i0 + (r < nr ? r : 0)) * Nk;
            att_qk_all(qr, kt, njp, d, 0, kc, njp / W, scale, br, sr, nr, Nk, 0);
        }
    }
    for (int i0 = 0; i0 < nq; i0 += ATT_R) {
        const int nr = att_rows(i0, nq, q, ldq, bias, Nk, out, ldo, qr, br, orow);
        for (int r = 0; r < ATT_R; r++) sr[r] = scratch + (size_t)(i0 + (r < nr ? r : 0)) * Nk;
        att_finish(sr, Nk, v, ldv, Nk, d, orow, nr);
    }
}

/* ---- bilinear resize ---------------------------------------------------------- */

/* Same float operations, in the same order, as sc_resize_vblend
 * (ops_scalar.c), with FMA contraction off: bit-identical results. */
OPS_NO_CONTRACT
static void PFX(resize_vblend)(const float *t0, const float *t1, float h0, float h1,
                               float *dst, int n)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    const vf vh0 = v_set1(h0), vh1 = v_set1(h1);
    for (int o = 0; o < n; o += W) {
        const int k = n - o < W ? n - o : W;
        const vf a = v_loadn(t0 + o, k), c = v_loadn(t1 + o, k);
        v_storen(dst + o, v_add(v_mul(a, vh0), v_mul(c, vh1)), k);
    }
}

/* Blocks of W outputs whose source indices fit a 2W-float window (any
 * up-sampling) read it with two loads and permute it; others gather. */
OPS_NO_CONTRACT
static void PFX(interp2)(float *dst, const float *src, int sn, const int *i0, const int *i1,
                         const float *w0, const float *w1, int n)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    for (int x = 0; x < n; x += W) {
        const int m = n - x < W ? n - x : W;
        const vi a = m == W ? v_iload(i0 + x) : v_iloadn(i0 + x, m);
        const vi b = m == W ? v_iload(i1 + x) : v_iloadn(i1 + x, m);
        const int base = i0[x];
        const vi ra = v_isub(a, v_iset1(base)), rb = v_isub(b, v_iset1(base));
        vf va, vb;
        if (m == W && v_iall_below(ra, 2 * W) && v_iall_below(rb, 2 * W)) {
            const int left = sn - base; /* >= 1 */
            const vf lo = left >= W ? v_load(src + base) : v_loadn(src + base, left);
            const vf hi = left >= 2 * W ? v_load(src + base + W)
                        : left > W  ? v_loadn(src + base + W, left - W)
                                    : v_zero();
            va = v_perm2(lo, hi, ra);
            vb = v_perm2(lo, hi, rb);
        } else { /* tail lanes index 0, a valid element */
            va = v_gather(src, a);
            vb = v_gather(src, b);
        }
        const vf fa = m == W ? v_load(w0 + x) : v_loadn(w0 + x, m);
        const vf fb = m == W ? v_load(w1 + x) : v_loadn(w1 + x, m);
        const vf r = v_add(v_mul(va, fa), v_mul(vb, fb));
        if (m == W) v_store(dst + x, r);
        else v_storen(dst + x, r, m);
    }
}

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: W x W blocks
 * through registers, the edges element by element */
static void PFX(transpose)(const float *src, size_t lds, int rows, int cols, float *dst,
                           size_t ldd)
{
    /* W x W blocks; 4 blocks down the source at a time, so that each
     * destination row gets 4 W contiguous floats before the next (its
     * rows may be a power-of-two stride apart: a line each would thrash
     * one cache set) */
    int r0 = 0;
    while (r0 + W <= rows) {
        const int nb = (rows - r0) / W < 4 ? (rows - r0) / W : 4;
        int c0 = 0;
        for (; c0 + W <= cols; c0 += W)
            for (int b = 0; b < nb; b++) {
                const int rb = r0 + b * W;
                vf t[W];
                _Pragma("GCC unroll 16")
                for (int i = 0; i < W; i++) t[i] = v_load(src + (size_t)(rb + i) * lds + c0);
                v_transpose(t);
                _Pragma("GCC unroll 16")
                for (int i = 0; i < W; i++) v_store(dst + (size_t)(c0 + i) * ldd + rb, t[i]);
            }
        for (; c0 < cols; c0++)
            for (int i = 0; i < nb * W; i++)
                dst[(size_t)c0 * ldd + r0 + i] = src[(size_t)(r0 + i) * lds + c0];
        r0 += nb * W;
    }
    for (; r0 < rows; r0++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r0] = src[(size_t)r0 * lds + c];
}

/* y[2j] = a[j], y[2j + 1] = b[j] for j < n */
static void PFX(interleave2)(const float *a, const float *b, int n, float *y)
{
    int j = 0;
    for (; j + W <= n; j += W) {
        vf lo, hi;
        v_zip(v_load(a + j), v_load(b + j), &lo, &hi);
        v_store(y + 2 * j, lo);
        v_store(y + 2 * j + W, hi);
    }
    for (; j < n; j++) {
        y[2 * j] = a[j];
        y[2 * j + 1] = b[j];
    }
}
