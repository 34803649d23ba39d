/*
 * ops_simd_body.h - ISA-generic SIMD row kernels, written once against a
 * small set of vector primitives and included by ops_avx2.c (8 lanes) and
 * ops_avx512.c (16 lanes) inside their `#pragma GCC target` regions.
 *
 * The includer defines: W (lanes), PFX(name), INL, the types vf (floats),
 * vi (int32 lanes), vm (lane mask) and the v_* primitives (see ops_avx2.c).
 * Everything here is `static`; only the table built by the includer is
 * exported. No kernel allocates except attention's K^T buffer when it does
 * not fit on the stack, and none prints.
 */

/* ---- math ---------------------------------------------------------------- */

/* exp(x), ~1.5 ulp: Cody-Waite reduction by ln2, Cephes expf polynomial.
 * Returns 0 below ln(FLT_MIN), +inf above ~88.38, NaN for NaN. */
INL vf v_exp(vf x)
{
    const vf lo = v_set1(-87.33654475f);
    const vm under = v_lt(x, lo);
    x = v_min(v_set1(88.3762626647949f), x); /* operand order keeps NaN */
    x = v_max(lo, x);
    const vf n = v_rint(v_mul(x, v_set1(1.44269504088896341f)));
    vf r = v_fma(n, v_set1(-0.693359375f), x);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    vf e = v_add(v_fma(p, v_mul(r, r), r), v_set1(1.0f));
    e = v_mul(e, v_pow2i(n));
    return v_sel(under, v_zero(), e);
}

/* gelu(x) = 0.5 x (1 + erf(z)), z = x / sqrt2, max rel. error ~4e-7 over
 * the whole float range (checked against double erfc on a dense sweep):
 *   |z| < 0.5: erf(z) = z P(z^2), P minimax degree 4 (rel. err 1.4e-9);
 *   |z| >= 0.5: erfc(|z|) = exp(-z^2) t Q(t), t = 1 / (1 + |z|/2), Q minimax
 *     degree 8 on |z| in [0.5, 9.5] (rel. err 7e-9); z^2 = x^2/2 is carried
 *     as hi + lo (FMA) so exp(-z^2) does not inherit the rounding of x^2;
 *     x < 0: gelu = x * erfc/2 (no cancellation), x > 0: x * (1 - erfc/2).
 * (Coefficients fitted by iteratively reweighted least squares.) */
INL vf v_gelu(vf x)
{
    const vf half = v_set1(0.5f);
    const vf h = v_mul(x, half);
    const vf zs = v_mul(x, v_set1(0.70710678118654752440f));
    const vf z = v_abs(zs);
    /* small |z| */
    const vf s = v_mul(zs, zs);
    vf p = v_set1(0.00471798986f);
    p = v_fma(p, s, v_set1(-0.0267571842f));
    p = v_fma(p, s, v_set1(0.112828228f));
    p = v_fma(p, s, v_set1(-0.376126086f));
    p = v_fma(p, s, v_set1(1.12837917f));
    const vf ga = v_fma(h, v_mul(zs, p), h);
    const vm big = v_ge(z, half);
    if (!v_any(big)) return ga;
    /* large |z| */
    const vf zc = v_min(v_set1(9.5f), z);
    const vf xa = v_min(v_set1(13.4f), v_abs(x));
    const vf one = v_set1(1.0f);
    const vf t = v_div(one, v_fma(half, zc, one));
    vf q = v_set1(-0.0631714754f);
    q = v_fma(q, t, v_set1(0.303899449f));
    q = v_fma(q, t, v_set1(-0.524849987f));
    q = v_fma(q, t, v_set1(0.317769721f));
    q = v_fma(q, t, v_set1(-0.0514084019f));
    q = v_fma(q, t, v_set1(0.212052912f));
    q = v_fma(q, t, v_set1(0.241014174f));
    q = v_fma(q, t, v_set1(0.282626595f));
    q = v_fma(q, t, v_set1(0.282073953f));
    const vf x2h = v_mul(xa, xa);
    const vf x2l = v_fms(xa, xa, x2h);
    vf e = v_exp(v_mul(x2h, v_set1(-0.5f)));
    e = v_fnma(e, v_mul(x2l, half), e); /* exp(-hi/2 - lo/2) ~ e (1 - lo/2) */
    const vf herfc = v_mul(v_mul(e, v_mul(t, q)), half); /* erfc(|z|) / 2 */
    const vf f = v_sel(v_lt(x, v_zero()), herfc, v_sub(one, herfc));
    return v_sel(big, v_mul(x, f), ga);
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

/* ---- depthwise 3x3 ------------------------------------------------------------ */

#define DW_TILE 16 /* output pixels per weight load */

INL vf dw_ld(const float *p, const int full, int nc)
{
    return full ? v_load(p) : v_loadn(p, nc);
}

/* One kernel row: taps kx = 0..2 at input columns ix .. ix + 2 (ix + 1 is
 * always inside; `left` / `right` say whether ix / ix + 2 are). */
INL vf dw_row(const float *row, int ix, int C, int c, int nc, const int full, vf w0,
              vf w1, vf w2, int left, int right)
{
    const float *p = row + (ptrdiff_t)ix * C + c;
    vf a = v_mul(w1, dw_ld(p + C, full, nc));
    if (left) a = v_fma(w0, dw_ld(p, full, nc), a);
    if (right) a = v_fma(w2, dw_ld(p + 2 * C, full, nc), a);
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
    for (int ox = ox0; ox < ox1; ox++) {
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

/* ---- attention -------------------------------------------------------------- */

#define ATT_R 4            /* query rows per block */
#define ATT_NV 4           /* key vectors per QK block (W * ATT_NV keys) */
#define ATT_KT_STACK 8192  /* floats of K^T kept on the stack */

/* scores s[r][j0 .. j0 + nv*W) = (q_r . k_j) * scale (+ bias) for ATT_R rows
 * (row pointers may repeat for a partial block; only `nr` rows are stored). */
INL void att_qk(const float *const qr[ATT_R], const float *kt, int Nkp, int d, int j0,
                const int nv, float scale, const float *const br[ATT_R], float *const sr[ATT_R],
                int nr, int Nk)
{
    vf acc[ATT_R][ATT_NV];
    for (int r = 0; r < ATT_R; r++)
        for (int u = 0; u < nv; u++) acc[r][u] = v_zero();
    const float *kp = kt + j0;
    for (int t = 0; t < d; t++, kp += Nkp) {
        vf kv[ATT_NV];
        for (int u = 0; u < nv; u++) kv[u] = v_load(kp + u * W);
        for (int r = 0; r < ATT_R; r++) {
            const vf qb = v_set1(qr[r][t]);
            for (int u = 0; u < nv; u++) acc[r][u] = v_fma(qb, kv[u], acc[r][u]);
        }
    }
    const vf vs = v_set1(scale);
    for (int r = 0; r < nr; r++)
        for (int u = 0; u < nv; u++) {
            const int col = j0 + u * W;
            if (col >= Nk) break;
            const int n = Nk - col < W ? Nk - col : W;
            vf s = v_mul(acc[r][u], vs);
            if (br[r]) s = v_add(s, n == W ? v_load(br[r] + col) : v_loadn(br[r] + col, n));
            if (n == W) v_store(sr[r] + col, s);
            else v_storen(sr[r] + col, s, n);
        }
}

/* out_r[c .. c + 2W) = inv_r * sum_j p_r[j] v_j[c ..], last vector nlast lanes */
INL void att_pv(const float *const pr[ATT_R], const float *v, int ldv, int Nk, int c,
                const int nv, int nlast, const float inv[ATT_R], float *const orow[ATT_R],
                int nr)
{
    vf acc[ATT_R][2];
    for (int r = 0; r < ATT_R; r++)
        for (int u = 0; u < nv; u++) acc[r][u] = v_zero();
    const float *vp = v + c;
    for (int j = 0; j < Nk; j++, vp += ldv) {
        vf vv[2];
        for (int u = 0; u < nv; u++)
            vv[u] = (u == nv - 1) ? v_loadn(vp + u * W, nlast) : v_load(vp + u * W);
        for (int r = 0; r < ATT_R; r++) {
            const vf pb = v_set1(pr[r][j]);
            for (int u = 0; u < nv; u++) acc[r][u] = v_fma(pb, vv[u], acc[r][u]);
        }
    }
    for (int r = 0; r < nr; r++) {
        const vf s = v_set1(inv[r]);
        for (int u = 0; u < nv; u++) {
            float *o = orow[r] + c + u * W;
            if (u == nv - 1) v_storen(o, v_mul(acc[r][u], s), nlast);
            else v_store(o, v_mul(acc[r][u], s));
        }
    }
}

static void PFX(attention)(const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, int nq, int Nk, int d, float scale,
                           const float *bias, float *out, int ldo, float *scratch)
{
    if (Nk <= 0) { /* softmax over nothing: PyTorch gives NaN rows */
        for (int i = 0; i < nq; i++)
            for (int t = 0; t < d; t++) out[(size_t)i * ldo + t] = NAN;
        return;
    }
    /* K^T, columns padded with zeros to a multiple of W */
    const int Nkp = (Nk + W - 1) / W * W;
    float kt_stack[ATT_KT_STACK];
    float *kt = kt_stack;
    if ((size_t)d * Nkp > ATT_KT_STACK) {
        kt = malloc(sizeof(float) * (size_t)d * Nkp);
        if (!kt) {
            ops_kernels_scalar.attention(q, ldq, k, ldk, v, ldv, nq, Nk, d, scale, bias,
                                         out, ldo, scratch);
            return;
        }
    }
    for (int t = 0; t < d; t++)
        for (int j = Nk; j < Nkp; j++) kt[(size_t)t * Nkp + j] = 0.0f;
    for (int j = 0; j < Nk; j++) {
        const float *kr = k + (size_t)j * ldk;
        for (int t = 0; t < d; t++) kt[(size_t)t * Nkp + j] = kr[t];
    }

    for (int i0 = 0; i0 < nq; i0 += ATT_R) {
        const int nr = nq - i0 < ATT_R ? nq - i0 : ATT_R;
        const float *qr[ATT_R], *br[ATT_R];
        float *sr[ATT_R], *orow[ATT_R];
        float inv[ATT_R];
        for (int r = 0; r < ATT_R; r++) {
            const int i = i0 + (r < nr ? r : 0); /* repeat row 0 in a partial block */
            qr[r] = q + (size_t)i * ldq;
            br[r] = bias ? bias + (size_t)i * Nk : NULL;
            sr[r] = scratch + (size_t)i * Nk;
            orow[r] = out + (size_t)i * ldo;
        }
        /* scores */
        int j0 = 0;
        for (; j0 + ATT_NV * W <= Nkp; j0 += ATT_NV * W)
            att_qk(qr, kt, Nkp, d, j0, ATT_NV, scale, br, sr, nr, Nk);
        switch ((Nkp - j0) / W) {
        case 3: att_qk(qr, kt, Nkp, d, j0, 3, scale, br, sr, nr, Nk); break;
        case 2: att_qk(qr, kt, Nkp, d, j0, 2, scale, br, sr, nr, Nk); break;
        case 1: att_qk(qr, kt, Nkp, d, j0, 1, scale, br, sr, nr, Nk); break;
        default: break;
        }
        /* unnormalised softmax; 1/sum folded into the output */
        for (int r = 0; r < nr; r++) inv[r] = 1.0f / softmax_exp(sr[r], Nk);
        for (int r = nr; r < ATT_R; r++) inv[r] = inv[0];
        /* P V */
        int c = 0;
        for (; c + 2 * W <= d; c += 2 * W) att_pv((const float *const *)sr, v, ldv, Nk, c, 2, W, inv, orow, nr);
        if (d - c > W) att_pv((const float *const *)sr, v, ldv, Nk, c, 2, d - c - W, inv, orow, nr);
        else if (d - c > 0) att_pv((const float *const *)sr, v, ldv, Nk, c, 1, d - c, inv, orow, nr);
    }
    if (kt != kt_stack) free(kt);
}

/* ---- bilinear resize ---------------------------------------------------------- */

/* Same float operations, in the same order, as sc_resize_row (ops_scalar.c),
 * with FMA contraction off: bit-identical results. */
__attribute__((optimize("fp-contract=off")))
static void PFX(resize_row)(const float *r0, const float *r1, float h0, float h1,
                            int sw, float *dst, int dw, float ws)
{
    const vf vh0 = v_set1(h0), vh1 = v_set1(h1), zero = v_zero(), one = v_set1(1.0f);
    if (sw == dw) {
        for (int o = 0; o < dw; o += W) {
            const int n = dw - o < W ? dw - o : W;
            const vf a = v_loadn(r0 + o, n), c = v_loadn(r1 + o, n);
            const vf t0 = v_add(v_mul(a, one), v_mul(a, zero));
            const vf t1 = v_add(v_mul(c, one), v_mul(c, zero));
            v_storen(dst + o, v_add(v_mul(t0, vh0), v_mul(t1, vh1)), n);
        }
        return;
    }
    const vf vws = v_set1(ws), half = v_set1(0.5f);
    const vi lim = v_iset1(sw - 1);
    vi ox = v_iota();
    for (int o = 0; o < dw; o += W, ox = v_iadd(ox, v_iset1(W))) {
        vf src = v_sub(v_mul(vws, v_add(v_i2f(ox), half)), half);
        src = v_sel(v_lt(src, zero), zero, src);
        const vi j = v_imin(v_f2i_trunc(src), lim); /* all lanes stay in [0, sw-1] */
        vf lam = v_sub(src, v_i2f(j));
        lam = v_sel(v_lt(lam, zero), zero, lam);
        lam = v_sel(v_lt(one, lam), one, lam);
        const vi j1 = v_inc_if_lt(j, lim);
        const vf w0 = v_sub(one, lam);
        const vf t0 = v_add(v_mul(v_gather(r0, j), w0), v_mul(v_gather(r0, j1), lam));
        const vf t1 = v_add(v_mul(v_gather(r1, j), w0), v_mul(v_gather(r1, j1), lam));
        const vf res = v_add(v_mul(t0, vh0), v_mul(t1, vh1));
        if (o + W <= dw) v_store(dst + o, res);
        else v_storen(dst + o, res, dw - o);
    }
}
