/*
 * common.c - building blocks shared by the network files: tensor lookup with
 * shape checks, BatchNorm folding and convolution weight packing.
 */
#include "model/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

void keyf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static void ctx_fail(wt_ctx *c, const char *fmt, const char *a, const char *b)
{
    if (c->failed) return;
    c->failed = 1;
    snprintf(c->err, c->errlen, fmt, a, b);
}

void wt_ctx_oom(wt_ctx *c)
{
    if (c->failed) return;
    ctx_fail(c, "%s%s", "out of memory", "");
    c->oom = 1;
}

static void shape_str(char *buf, size_t n, int ndim, const int *shape)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %d" : "%d", shape[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
}

/* A checksum only proves the file is what the converter wrote; a crafted
 * (or converted) NaN would turn every output into NaN silently. wt_open
 * notes whether any value is not finite (in its checksum pass); only then
 * is each tensor looked at, to name the one. */
static int all_finite(const float *x, size_t n)
{
    const uint32_t *u = (const uint32_t *)(const void *)x;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (u[i] & 0x7f800000u) + 0x00800000u;
    return !(acc & 0x80000000u);
}

const float *wt_get(wt_ctx *c, const char *name, int ndim, const int *shape)
{
    if (c->failed) return NULL;
    const wt_tensor *t = wt_find(c->f, name);
    if (!t) {
        ctx_fail(c, "weights lack tensor %s (not a %s weight file?)", name,
                 c->f->kind == WT_MODEL_SAM_VIT ? "SAM ViT" : "MobileSAM vit_t");
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[96], got[96];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        char msg[512];
        keyf(msg, sizeof msg, "%s has shape %s, expected %s", name, got, want);
        ctx_fail(c, "weights: %s%s", msg, "");
        return NULL;
    }
    if (c->f->nonfinite && !all_finite(t->data, t->numel)) {
        ctx_fail(c, "weights: %s has NaN or infinite values%s", name, "");
        return NULL;
    }
    return t->data;
}

static const float *get1(wt_ctx *c, const char *prefix, const char *suffix, int n)
{
    char name[256];
    keyf(name, sizeof name, "%s%s", prefix, suffix);
    return wt_get(c, name, 1, &n);
}

void load_linear(wt_ctx *c, linear_t *l, const char *prefix, int in, int out, int bias)
{
    char name[256];
    int shape[2] = {out, in};
    keyf(name, sizeof name, "%s.weight", prefix);
    l->w = wt_get(c, name, 2, shape);
    l->b = bias ? get1(c, prefix, ".bias", out) : NULL;
    l->in = in;
    l->out = out;
}

void load_linear_1x1(wt_ctx *c, linear_t *l, const char *prefix, int in, int out, int bias)
{
    char name[256];
    int shape[4] = {out, in, 1, 1};
    keyf(name, sizeof name, "%s.weight", prefix);
    l->w = wt_get(c, name, 4, shape);
    l->b = bias ? get1(c, prefix, ".bias", out) : NULL;
    l->in = in;
    l->out = out;
}

void load_norm(wt_ctx *c, norm_t *n, const char *prefix, int ch)
{
    n->g = get1(c, prefix, ".weight", ch);
    n->b = get1(c, prefix, ".bias", ch);
    n->c = ch;
}

/* Packs PyTorch (Cout, Cin, K, K) into (Cout, K, K, Cin) for HWC im2col. */
static void pack_dense(const float *src, float *dst, int cout, int cin, int k)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++)
                    dst[(((size_t)o * k + y) * k + x) * cin + i] =
                        src[(((size_t)o * cin + i) * k + y) * k + x];
}

static int conv_alloc(wt_ctx *c, conv_t *cv, int cin, int cout, int k,
                      int stride, int pad, int depthwise)
{
    size_t nw = depthwise ? (size_t)cout * k * k : (size_t)cout * cin * k * k;
    cv->cin = cin;
    cv->cout = cout;
    cv->k = k;
    cv->stride = stride;
    cv->pad = pad;
    cv->depthwise = depthwise;
    cv->w = malloc(sizeof(float) * nw);
    cv->b = calloc((size_t)cout, sizeof(float));
    if (!cv->w || !cv->b) {
        wt_ctx_oom(c);
        return -1;
    }
    return 0;
}

void load_conv_bn(wt_ctx *c, conv_t *cv, const char *prefix, int cin, int cout,
                  int k, int stride, int pad, int depthwise)
{
    char name[256];
    int wshape[4] = {cout, depthwise ? 1 : cin, k, k};
    keyf(name, sizeof name, "%s.c.weight", prefix);
    const float *w = wt_get(c, name, 4, wshape);
    keyf(name, sizeof name, "%s.bn", prefix);
    const float *g = get1(c, name, ".weight", cout);
    const float *b = get1(c, name, ".bias", cout);
    const float *mean = get1(c, name, ".running_mean", cout);
    const float *var = get1(c, name, ".running_var", cout);
    if (c->failed || conv_alloc(c, cv, cin, cout, k, stride, pad, depthwise)) return;
    size_t per_out = depthwise ? (size_t)k * k : (size_t)cin * k * k;
    float *tmp = depthwise ? cv->w : malloc(sizeof(float) * per_out * cout);
    if (!tmp) {
        wt_ctx_oom(c);
        return;
    }
    for (int o = 0; o < cout; o++) {
        /* eval-mode BN: (y - mean) / sqrt(var + eps) * g + b, folded */
        float s = g[o] / sqrtf(var[o] + 1e-5f);
        for (size_t i = 0; i < per_out; i++) tmp[o * per_out + i] = w[o * per_out + i] * s;
        cv->b[o] = b[o] - mean[o] * s;
    }
    if (!depthwise) {
        pack_dense(tmp, cv->w, cout, cin, k);
        free(tmp);
    }
}

void load_conv(wt_ctx *c, conv_t *cv, const char *prefix, int cin, int cout,
               int k, int stride, int pad, int bias)
{
    char name[256];
    int wshape[4] = {cout, cin, k, k};
    keyf(name, sizeof name, "%s.weight", prefix);
    const float *w = wt_get(c, name, 4, wshape);
    const float *b = bias ? get1(c, prefix, ".bias", cout) : NULL;
    if (c->failed || conv_alloc(c, cv, cin, cout, k, stride, pad, 0)) return;
    pack_dense(w, cv->w, cout, cin, k);
    if (b) memcpy(cv->b, b, sizeof(float) * cout);
}

void conv_free(conv_t *cv)
{
    free(cv->w);
    free(cv->b);
    ops_q8w_free(cv->q);
    cv->w = cv->b = NULL;
    cv->q = NULL;
}

void linear_forward(const linear_t *l, const float *x, int M, float *y, const float *res,
                    int act)
{
    if (l->q)
        ops_linear_q8(x, M, l->q, y, res, (ops_act)act);
    else
        ops_linear(x, M, l->in, l->w, l->b, l->out, y, res, (ops_act)act);
}

void conv1x1_forward(const conv_t *cv, const float *x, int M, float *y, const float *res,
                     int act)
{
    if (cv->q)
        ops_linear_q8(x, M, cv->q, y, res, (ops_act)act);
    else
        ops_linear(x, M, cv->cin, cv->w, cv->b, cv->cout, y, res, (ops_act)act);
}

void conv_forward(const conv_t *cv, const float *x, int H, int W, float *y, int act)
{
    if (cv->q)
        ops_conv2d_q8(x, H, W, cv->cin, cv->q, cv->k, cv->stride, cv->pad, y, (ops_act)act);
    else if (cv->depthwise)
        ops_dwconv3x3(x, H, W, cv->cin, cv->w, cv->b, cv->stride, y, (ops_act)act);
    else
        ops_conv2d(x, H, W, cv->cin, cv->w, cv->b, cv->cout, cv->k, cv->stride,
                   cv->pad, y, (ops_act)act);
}

float *enc_ws_get(enc_ws *w, int slot, size_t n)
{
    if (w->cap[slot] < n) {
        free(w->buf[slot]);
        w->buf[slot] = malloc(sizeof(float) * n);
        w->cap[slot] = w->buf[slot] ? n : 0;
    }
    return w->buf[slot];
}

void enc_ws_free(enc_ws *w)
{
    for (int i = 0; i < ENC_WS_SLOTS; i++) free(w->buf[i]);
    memset(w, 0, sizeof *w);
}
