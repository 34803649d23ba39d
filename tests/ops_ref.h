/* ops_ref.h - plain double-precision references shared by the kernel tests
 * (test_ops.c, test_ops_q8.c). Header-only: each test links testutil.c
 * alone. */
#ifndef MOBILESAM_OPS_REF_H
#define MOBILESAM_OPS_REF_H

#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

static inline double ref_act(double x, ops_act act)
{
    if (act == OPS_ACT_GELU) return 0.5 * x * erfc(-x / sqrt(2.0));
    if (act == OPS_ACT_RELU) return x > 0 ? x : 0;
    return x;
}

/* The epilogue of ops_conv_transpose2x2 on one output pixel's Cout values
 * r (bias already added): LayerNorm over them when g is given (eps 1e-6),
 * act, then either the Cout planes or, with P > 0, the projection pr
 * (P, Cout); written to R's planes of npix values at pix. r is
 * overwritten. */
static inline void ref_convt_pixel(double *r, int Cout, const float *g, const float *be,
                                   ops_act act, const float *pr, int P, double *R, size_t npix,
                                   size_t pix)
{
    if (g) {
        double m = 0, v = 0;
        for (int co = 0; co < Cout; co++) m += r[co];
        m /= Cout;
        for (int co = 0; co < Cout; co++) v += (r[co] - m) * (r[co] - m);
        v /= Cout;
        for (int co = 0; co < Cout; co++) r[co] = (r[co] - m) / sqrt(v + 1e-6) * g[co] + be[co];
    }
    for (int co = 0; co < Cout; co++) r[co] = ref_act(r[co], act);
    if (!P)
        for (int co = 0; co < Cout; co++) R[co * npix + pix] = r[co];
    for (int p = 0; p < P; p++) {
        double acc = 0;
        for (int co = 0; co < Cout; co++) acc += pr[(size_t)p * Cout + co] * r[co];
        R[p * npix + pix] = acc;
    }
}

#endif
